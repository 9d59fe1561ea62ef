"""The namespace ``xp`` for Python floats: the scalar engine's forward passes and gradients.

A ``Value`` computes every primitive (``autodiff.primitives``) with
Python's own float arithmetic and these functions, whose names are those
of the namespaces for arrays (``numpy_ops``) and for nodes. Python's
``math`` raises where IEEE 754 arithmetic (numpy's, PyTorch's) gives an
infinity or a NaN (``math.log(0)``, ``math.exp(1000)``); these functions
give the IEEE result instead. Python's operators raise too (``1 / 0``,
``10.0 ** 400``): the scalar engine then computes that one operation again
with numpy's float64 scalars, which follow IEEE (``Value._apply``).
"""

import math

import numpy as np

inf = math.inf
nan = math.nan


def exp(x):
    """e ** x, with inf on overflow."""
    try:
        return math.exp(x)
    except OverflowError:
        return inf


def log(x):
    """Natural logarithm: -inf at 0 and nan below 0, as in IEEE arithmetic."""
    if x > 0:
        return math.log(x)
    if x == 0:
        return -inf
    return nan


def sqrt(x):
    """√x: nan below 0, as in IEEE arithmetic."""
    return math.sqrt(x) if x >= 0 else nan


def tanh(x):
    return math.tanh(x)


def sigmoid(x):
    """1 / (1 + e ** -x), computed without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = exp(x)
    return z / (1.0 + z)


def sin(x):
    """sin x: nan at ±inf, as in IEEE arithmetic."""
    return math.sin(x) if math.isfinite(x) else nan


def cos(x):
    """cos x: nan at ±inf, as in IEEE arithmetic."""
    return math.cos(x) if math.isfinite(x) else nan


def abs(x):  # noqa: A001 (numpy's name, as in the other namespaces)
    return math.fabs(x)


def sign(x):
    """-1.0, 0.0 or 1.0 by the sign of x, and 0.0 for nan, as PyTorch's sign (so |x|'s slope at nan is 0, as there)."""
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return 0.0


def maximum(a, b):
    """The larger of a and b; nan if either is nan (numpy's ``maximum``)."""
    if a != a or b != b:
        return nan
    return a if a >= b else b


def power(a, b):
    """a ** b; nan for a finite negative base with a fractional exponent, ±inf on overflow or 0 ** negative.

    (-inf) ** b follows IEEE pow, as numpy and PyTorch do: inf for b > 0 (b not an odd integer), 0 for b < 0.
    """
    if -inf < a < 0 and math.isfinite(b) and not float(b).is_integer():
        return nan
    try:
        return float(a ** b)
    except (ZeroDivisionError, OverflowError):
        # |result| too large, or 0 ** negative: an infinity whose sign is
        # negative only for a negative base (or -0.0) and an odd exponent
        negative_base = math.copysign(1.0, a) < 0
        odd_exponent = float(b).is_integer() and int(b) % 2 == 1
        return -inf if negative_base and odd_exponent else inf


def where(condition, a, b):
    """a if ``condition`` else b: numpy's ``where`` on one number."""
    return a if condition else b


def equal(a, b):
    """a == b, numpy's ``equal`` on one number."""
    return a == b


def zeros_like(x):
    return 0.0


def vdot(a, b):
    """a · b: numpy's ``vdot`` (the sum of the elementwise products) on one number."""
    return a * b


def __getattr__(name):
    """Any other function of floats numpy has as a ufunc (``sinh``, ``arctan2``): numpy's, on float64
    scalars, which give IEEE's infinities and NaNs where ``math`` would raise. A new primitive's forward
    and rules may call it as ``xp.sinh`` without a line here."""
    ufunc = getattr(np, name, None)
    if not isinstance(ufunc, np.ufunc) or "d" * ufunc.nin + "->d" not in ufunc.types:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def on_floats(*numbers):
        with np.errstate(all="ignore"):
            return float(ufunc(*numbers))

    on_floats.__name__ = on_floats.__qualname__ = name
    on_floats.__doc__ = f"numpy's {name} on floats."
    return on_floats
