"""Scalar functions on Python floats with IEEE 754 results instead of exceptions.

Python's ``math`` raises where floating-point arithmetic (and so numpy and
PyTorch) gives an infinity or a NaN: ``1 / 0``, ``math.log(0)``,
``math.exp(1000)``, ``(-8) ** (1/3)``. The scalar engine uses these
versions so that a Value computes what a PyTorch scalar computes.

The module is also the namespace in which a Value's local derivatives
(its *slopes*) are computed on plain numbers; ``value.VALUE_MATH`` has the
same functions on Values, for derivatives that are themselves graphs.
"""

import math

inf = math.inf
nan = math.nan


def divide(a, b):
    """a / b, with a / 0 = ±inf and 0 / 0 = nan."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or math.isnan(a):
            return nan
        return math.copysign(inf, a) * math.copysign(1.0, b)


def power(a, b):
    """a ** b; nan for a negative base with a fractional exponent, ±inf on overflow or 0 ** negative."""
    if a < 0 and math.isfinite(b) and not float(b).is_integer():
        return nan
    try:
        return float(a ** b)
    except (ZeroDivisionError, OverflowError):
        # |result| too large, or 0 ** negative: an infinity whose sign is
        # negative only for a negative base (or -0.0) and an odd exponent
        negative_base = math.copysign(1.0, a) < 0
        odd_exponent = float(b).is_integer() and int(b) % 2 == 1
        return -inf if negative_base and odd_exponent else inf


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


def sigmoid(x):
    """1 / (1 + e ** -x), computed without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def sin(x):
    """sin x, nan at ±inf (where ``math.sin`` raises)."""
    return math.sin(x) if math.isfinite(x) else nan


def cos(x):
    """cos x, nan at ±inf (where ``math.cos`` raises)."""
    return math.cos(x) if math.isfinite(x) else nan


def sign(x):
    """-1.0, 0.0 or 1.0 by the sign of x: the slope of |x|; 0.0 at 0 and at nan, as PyTorch's sign."""
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return 0.0


def number(x):
    """``x`` itself: slopes written for Values and for numbers read a node's number through this."""
    return x


def step(x):
    """1 where x > 0, else 0: the slope of max(x, 0)."""
    return 1.0 if x > 0 else 0.0
