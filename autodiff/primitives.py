"""The table of primitive operations: each one's forward pass and its rules, written once.

Every operation of both engines that is not composed of others is
defined here (``Primitive``, in ``primitive.py``, says what each part
means). Read a row as micrograd's ``engine.py`` reads: the forward pass,
then beside it, for each input, how the gradient flows back to it:

    MUL:  out = a * b;   dL/da = b · g,   dL/db = a · g        (g = dL/d(out))

Each rule is a vector-Jacobian product: for an elementwise operation it is
the local derivative times g; for the rest the docstring states the map.
A rule may return an array of the broadcast output's shape: the tensor
engine sums it back to the input's shape, so no rule undoes broadcasting
itself. Rules compute in the dtype of g and of the arrays they read, so a
float32 graph has float32 gradients (Python numbers in the formulas are
"weak" in numpy's promotion rules and never widen an array).

The arithmetic and the elementwise functions serve the scalar engine too
(``Value``): its forward pass and rules run on Python floats.

Where a derivative is undefined or infinite, the rules give what PyTorch
gives: relu's slope is 0 at 0, |x|'s is 0 at 0, and a masked gradient
stays 0 even where g is infinite or NaN (``where``, not a product with 0).
"""

import math
import operator

import numpy as np

from .primitive import INPUTS, OUTPUT, Primitive

BOTH = INPUTS | OUTPUT


def _passes(xp, g, out, *inputs, **params):
    return g


# -- arithmetic: both engines ------------------------------------------------------------------

ADD = Primitive(
    "+", lambda xp, a, b: a + b,
    (lambda xp, g, out, a, b: g,
     lambda xp, g, out, a, b: g),
    linear=True, reads=0, doc="a + b;  dL/da = g,  dL/db = g.",
)

SUB = Primitive(
    "-", lambda xp, a, b: a - b,
    (lambda xp, g, out, a, b: g,
     lambda xp, g, out, a, b: -g),
    linear=True, reads=0, doc="a - b;  dL/da = g,  dL/db = -g.",
)

MUL = Primitive(
    "*", lambda xp, a, b: a * b,
    (lambda xp, g, out, a, b: b * g,
     lambda xp, g, out, a, b: a * g),
    elementwise=True, fresh=True, doc="a * b;  dL/da = b · g,  dL/db = a · g.",
)

DIV = Primitive(
    "/", lambda xp, a, b: a / b,
    (lambda xp, g, out, a, b: g / b,
     lambda xp, g, out, a, b: -g * a / (b * b)),
    elementwise=True, fresh=True, doc="a / b;  dL/da = g / b,  dL/db = -g · a / b².",
)

NEG = Primitive(
    "neg", lambda xp, a: -a,
    (lambda xp, g, out, a: -g,),
    linear=True, reads=0, fresh=True, doc="-a;  dL/da = -g.",
)


def _power_base_rule(xp, g, out, a, b):
    # a zero exponent makes a**b constant in a, even where a**(b-1) is infinite
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(xp.equal(b, 0), 0.0, b * xp.power(a, b - 1) * g)


def _power_exponent_rule(xp, g, out, a, b):
    # 0**b does not move with b >= 0, though ln 0 is -inf; g multiplies that 0, as in PyTorch (inf · 0 is nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return g * xp.where(xp.equal(a, 0) & (b >= 0), 0.0, out * xp.log(a))


POW = Primitive(
    "**", lambda xp, a, b: xp.power(a, b),
    (_power_base_rule, _power_exponent_rule),
    elementwise=True, reads=BOTH, fresh=True,
    doc="""a ** b;  dL/da = b · a**(b-1) · g,  dL/db = a**b · ln(a) · g.

    As in PyTorch, dL/da is 0 where b == 0 and dL/db is 0 where a == 0 and
    b >= 0 (there a**b does not move), and a negative base with a
    fractional exponent is nan.""",
)


def _number_power(xp, a, p):
    """a ** p for a number p as PyTorch computes it: a ** 0.5 as √a and a ** -0.5 as 1 / √a (nan at -inf,
    where pow gives inf and 0)."""
    if p == 0.5:
        return xp.sqrt(a)
    if p == -0.5:
        return 1 / xp.sqrt(a)
    return xp.power(a, p)


def _power_rule(xp, g, out, a, *, exponent):
    if exponent == 0:
        return xp.zeros_like(a)  # a**0 is 1 for every a: no slope, even where a**-1 is infinite
    if exponent >= 1 and float(exponent).is_integer():
        return exponent * _number_power(xp, a, exponent - 1) * g  # a whole power: no division by 0, no root
    with np.errstate(divide="ignore", invalid="ignore"):
        return exponent * _number_power(xp, a, exponent - 1) * g


POWER = Primitive(
    "**", lambda xp, a, *, exponent: _number_power(xp, a, exponent),
    (_power_rule,),
    elementwise=True, fresh=True, display=lambda params: f"**{params['exponent']:g}",
    doc="a ** p for a number p;  dL/da = p · a**(p-1) · g (0 for p = 0).",
)


# -- elementwise functions: both engines ------------------------------------------------------

EXP = Primitive(
    "exp", lambda xp, a: xp.exp(a),
    (lambda xp, g, out, a: out * g,),
    elementwise=True, reads=OUTPUT, fresh=True,
    doc="""exp(a) = e**a;  dL/da = exp(a) · g.

    >>> from autodiff import Tensor
    >>> [round(v, 4) for v in Tensor([0.0, 1.0]).exp().tolist()]
    [1.0, 2.7183]
    """,
)

LOG = Primitive(
    "log", lambda xp, a: xp.log(a),
    (lambda xp, g, out, a: g / a,),
    elementwise=True, fresh=True,
    doc="""ln a;  dL/da = g / a.

    >>> from autodiff import Tensor
    >>> [round(v, 4) for v in Tensor([1.0, 2.0]).log().tolist()]
    [0.0, 0.6931]
    """,
)


def _sqrt_rule(xp, g, out, a):
    with np.errstate(divide="ignore"):
        return g / (2 * out)


SQRT = Primitive(
    "sqrt", lambda xp, a: xp.sqrt(a),
    (_sqrt_rule,),
    elementwise=True, reads=OUTPUT, fresh=True,
    doc="""√a;  dL/da = g / (2√a).

    >>> from autodiff import Tensor
    >>> Tensor([4.0, 9.0]).sqrt().tolist()
    [2.0, 3.0]
    """,
)

TANH = Primitive(
    "tanh", lambda xp, a: xp.tanh(a),
    (lambda xp, g, out, a: (1 - out ** 2) * g,),
    elementwise=True, reads=OUTPUT, fresh=True,
    doc="""tanh a;  dL/da = (1 - tanh²a) · g.

    >>> from autodiff import Tensor
    >>> [round(v, 4) for v in Tensor([0.0, 1.0]).tanh().tolist()]
    [0.0, 0.7616]
    """,
)

SIGMOID = Primitive(
    "sigmoid", lambda xp, a: xp.sigmoid(a),
    (lambda xp, g, out, a: out * (1 - out) * g,),
    elementwise=True, reads=OUTPUT, fresh=True,
    doc="""σ(a) = 1 / (1 + e**-a);  dL/da = σ(a)(1 - σ(a)) · g.

    >>> from autodiff import Tensor
    >>> [round(v, 4) for v in Tensor([0.0, 2.0]).sigmoid().tolist()]
    [0.5, 0.8808]
    """,
)

RELU = Primitive(
    "ReLU", lambda xp, a: xp.maximum(a, 0.0),
    (lambda xp, g, out, a: xp.where(a <= 0, 0.0, g),),
    elementwise=True, fresh=True,
    doc="""max(a, 0);  dL/da = g where a > 0, else 0 (and g where a is NaN, as in PyTorch).

    >>> from autodiff import Tensor
    >>> Tensor([-1.0, 0.0, 2.0]).relu().tolist()
    [0.0, 0.0, 2.0]
    """,
)

ABS = Primitive(
    "abs", lambda xp, a: xp.abs(a),
    (lambda xp, g, out, a: xp.sign(a) * g,),
    elementwise=True, fresh=True,
    doc="""|a|;  dL/da = sign(a) · g, 0 at a = 0 and at NaN as in PyTorch.

    >>> from autodiff import Tensor
    >>> Tensor([-1.5, 0.0, 2.0]).abs().tolist()
    [1.5, 0.0, 2.0]
    """,
)

SIN = Primitive(
    "sin", lambda xp, a: xp.sin(a),
    (lambda xp, g, out, a: xp.cos(a) * g,),
    elementwise=True, fresh=True,
    doc="""sin a;  dL/da = cos(a) · g.

    >>> from autodiff import Tensor
    >>> Tensor([0.0]).sin().tolist()
    [0.0]
    """,
)

COS = Primitive(
    "cos", lambda xp, a: xp.cos(a),
    (lambda xp, g, out, a: -xp.sin(a) * g,),
    elementwise=True, fresh=True,
    doc="""cos a;  dL/da = -sin(a) · g.

    >>> from autodiff import Tensor
    >>> Tensor([0.0]).cos().tolist()
    [1.0]
    """,
)


SINH = Primitive(
    "sinh", lambda xp, a: xp.sinh(a),
    (lambda xp, g, out, a: xp.cosh(a) * g,),
    elementwise=True, fresh=True, doc="sinh a = (e**a - e**-a) / 2;  dL/da = cosh(a) · g.",
)

COSH = Primitive(
    "cosh", lambda xp, a: xp.cosh(a),
    (lambda xp, g, out, a: xp.sinh(a) * g,),
    elementwise=True, fresh=True, doc="cosh a = (e**a + e**-a) / 2;  dL/da = sinh(a) · g.",
)


class ElementwiseMethods:
    """The elementwise functions offered by name, beyond those ``Value`` and ``Tensor`` write out themselves.

    Each is a method of both engines (``x.sinh()``, as a primitive stored in a class is a method), a
    function of the package (``autodiff.sinh``) and a function of every namespace a rule is written in
    (``xp.sinh``), so that another rule may use it. A new elementwise function is a primitive defined
    above and one line here.
    """

    __slots__ = ()  # Value's and Tensor's own slots stay the only ones

    sinh = SINH
    cosh = COSH


# name to primitive: what autodiff.<name>, autodiff.functions.<name> and a Value's xp.<name> are
NAMED = {name: value for name, value in vars(ElementwiseMethods).items() if isinstance(value, Primitive)}


# -- elementwise functions of tensors -----------------------------------------------------------


def _clip_rule(xp, g, out, a, *, low, high):
    if low is None:
        inside = a <= high
    elif high is None:
        inside = a >= low
    else:
        inside = (a >= low) & (a <= high)
    return xp.where(inside, g, 0.0)


CLIP = Primitive(
    "clip", lambda xp, a, *, low, high: xp.clip(a, low, high),
    (_clip_rule,),
    elementwise=True, fresh=True,
    doc="a limited to [low, high] (either may be None);  dL/da = g where low <= a <= high, else 0.",
)

def _std_rule(xp, g, out, variance):
    with np.errstate(invalid="ignore"):  # 0 / 0 where the deviation is 0, which where() replaces
        return xp.where(xp.equal(out, 0), 0.0, _sqrt_rule(xp, g, out, variance))


STD = Primitive(
    "std", lambda xp, variance: xp.sqrt(variance),
    (_std_rule,),
    elementwise=True, reads=OUTPUT, fresh=True,
    doc="√v of a variance v;  dL/dv = g / (2√v), taken as 0 where v = 0, as PyTorch takes it for std.",
)

CAST = Primitive(
    "cast", lambda xp, a, *, dtype: a.astype(dtype),
    (_passes,),
    linear=True, reads=0, doc="a in another floating-point dtype;  dL/da = g (backward casts it back).",
)

CLONE = Primitive(
    "clone", lambda xp, a: a.copy(),
    (_passes,),
    linear=True, reads=0, doc="a copy of a with memory of its own;  dL/da = g.",
)

WHERE = Primitive(
    "where", lambda xp, condition, a, b: xp.where(condition, a, b),
    (None,
     lambda xp, g, out, condition, a, b: xp.where(condition, g, 0.0),
     lambda xp, g, out, condition, a, b: xp.where(condition, 0.0, g)),
    linear=True, fresh=True,
    doc="a where ``condition`` holds, else b;  dL/da = g where it holds, dL/db = g elsewhere.",
)


# -- reductions ---------------------------------------------------------------------------------


def kept_shape(shape, axes):
    """``shape`` with the reduced ``axes`` kept as length 1 (all of them when ``axes`` is None)."""
    if axes is None:
        return (1,) * len(shape)
    return tuple([1 if i in axes else n for i, n in enumerate(shape)])


def reduced_shape(shape, axes):
    """``shape`` without the reduced ``axes`` (nothing left when ``axes`` is None)."""
    return () if axes is None else tuple([n for i, n in enumerate(shape) if i not in axes])


def count_of(shape, axes):
    """How many elements each result of a reduction over ``axes`` of ``shape`` takes in."""
    return math.prod(shape if axes is None else [shape[i] for i in axes])


SUM = Primitive(
    "sum", lambda xp, a, *, axes, keepdims, dtype=None: xp.add.reduce(a, axis=axes, keepdims=keepdims, dtype=dtype),
    (lambda xp, g, out, a, *, axes, keepdims, dtype=None:
        xp.broadcast_to(g.reshape(kept_shape(a.shape, axes)), a.shape),),
    linear=True, reads=0, fresh=True, doc="Σ a over ``axes``;  dL/da = g repeated along the summed axes.",
)

def _mean(xp, a, *, axes, keepdims):
    total = xp.add.reduce(a, axis=axes, keepdims=keepdims)
    count = count_of(a.shape, axes)
    return total / count if count else total * math.nan  # the mean of no elements is 0 / 0 = nan, as in PyTorch


def _mean_rule(xp, g, out, a, *, axes, keepdims):
    count = count_of(a.shape, axes) or 1  # no elements: g is spread over none of them
    return xp.broadcast_to(g.reshape(kept_shape(a.shape, axes)) / count, a.shape)


MEAN = Primitive(
    "mean", _mean,
    (_mean_rule,),
    linear=True, reads=0, fresh=True,
    doc="the mean over ``axes``, Σ a / n;  dL/da = g / n repeated along the averaged axes.",
)


def _variance(xp, a, *, axes, keepdims, correction):
    centred = a - _mean(xp, a, axes=axes, keepdims=True)
    total = xp.add.reduce(centred * centred, axis=axes, keepdims=keepdims)
    with np.errstate(divide="ignore", invalid="ignore"):  # n <= correction: x / 0, as in PyTorch
        return total / max(count_of(a.shape, axes) - correction, 0)


def _variance_rule(xp, g, out, a, *, axes, keepdims, correction):
    kept = kept_shape(a.shape, axes)
    count = count_of(a.shape, axes)
    denominator = max(count - correction, 0)
    centred = a - a.sum(axis=axes, keepdims=True) / (count or 1)
    return (2 / denominator if denominator else math.inf) * centred * g.reshape(kept)


VAR = Primitive(
    "var", _variance,
    (_variance_rule,),
    fresh=True,
    doc="""Σ (a - mean)² / (n - correction) over ``axes``;  dL/da = 2 (a - mean) / (n - correction) · g.

    One rule, as PyTorch's: the mean's own share, Σ over the axes of -2 (a - mean) / (n - c) · g / n,
    is 0 (the deviations sum to 0), so it is left out; composed of its steps, an infinite element would
    send NaN through it to every other.""",
)


def _extremum_rule(xp, g, out, a, *, axes, keepdims):
    peak = out.reshape(kept_shape(a.shape, axes))
    if axes is None:
        # the whole tensor: g shared among the elements equal to the result (its NaNs, if it is NaN), 0 elsewhere
        attains = xp.where(xp.isnan(peak), xp.isnan(a), xp.equal(a, peak))
        return xp.where(attains, g.reshape(peak.shape) / attains.sum(dtype=g.dtype), 0.0)
    # along axes: as PyTorch's amax and amin, g / (number of ties) times the elements that attain it
    # (a slice holding NaN attains nothing: its gradient is NaN, as PyTorch's)
    attains = xp.equal(a, peak)
    with np.errstate(divide="ignore", invalid="ignore"):
        return g.reshape(peak.shape) / attains.sum(axis=axes, keepdims=True, dtype=g.dtype) * attains


AMAX = Primitive(
    "max", lambda xp, a, *, axes, keepdims: xp.max(a, axis=axes, keepdims=keepdims),
    (_extremum_rule,),
    reads=BOTH, fresh=True, doc="the largest elements over ``axes``;  dL/da = g shared among the elements that attain it.",
)

AMIN = Primitive(
    "min", lambda xp, a, *, axes, keepdims: xp.min(a, axis=axes, keepdims=keepdims),
    (_extremum_rule,),
    reads=BOTH, fresh=True, doc="the smallest elements over ``axes``;  dL/da = g shared among the elements that attain it.",
)


def _logsumexp(xp, a, *, axes, keepdims):
    shift = xp.max(a, axis=axes, keepdims=True, initial=-math.inf)  # no elements: ln 0 = -inf, as in PyTorch
    # a row of -inf (or one holding +inf) is not shifted: its result is -inf (or +inf) as it stands
    shift = xp.where(xp.isfinite(shift), shift, 0.0)
    with np.errstate(divide="ignore"):
        out = shift + xp.log(xp.add.reduce(xp.exp(a - shift), axis=axes, keepdims=True))
    return out if keepdims else out.reshape(reduced_shape(a.shape, axes))


LOGSUMEXP = Primitive(
    "logsumexp", _logsumexp,
    (lambda xp, g, out, a, *, axes, keepdims:
        g.reshape(kept_shape(a.shape, axes)) * xp.exp(a - out.reshape(kept_shape(a.shape, axes))),),
    jvp=lambda xp, tangents, out, a, *, axes, keepdims:
        (xp.exp(a - out.reshape(kept_shape(a.shape, axes))) * tangents[0]).sum(axis=axes, keepdims=keepdims),
    reads=BOTH, fresh=True,
    doc="ln Σ e**a over ``axes``, shifted by the maximum so it never overflows;  dL/da = softmax(a) · g.",
)


def _log_softmax(xp, a, *, axis):
    shifted = a - xp.max(a, axis=axis, keepdims=True)
    return shifted - xp.log(xp.add.reduce(xp.exp(shifted), axis=axis, keepdims=True))


LOG_SOFTMAX = Primitive(
    "log_softmax", _log_softmax,
    (lambda xp, g, out, a, *, axis: g - xp.exp(out) * g.sum(axis=axis, keepdims=True),),
    jvp=lambda xp, tangents, out, a, *, axis: tangents[0] - (xp.exp(out) * tangents[0]).sum(axis=axis, keepdims=True),
    reads=OUTPUT, fresh=True,
    doc="a - logsumexp(a) along ``axis``, shifted by the maximum;  dL/da = g - softmax(a) · Σ g.",
)


# -- shape: the same numbers, moved ---------------------------------------------------------------

RESHAPE = Primitive(
    "reshape", lambda xp, a, *, shape: a.reshape(shape),
    (lambda xp, g, out, a, *, shape: g.reshape(a.shape),),
    linear=True, reads=0, view=True, doc="the same elements in a new shape;  dL/da = g in a's shape.",
)

PERMUTE = Primitive(
    "transpose", lambda xp, a, *, dims, inverse: a.transpose(dims),
    (lambda xp, g, out, a, *, dims, inverse: g.transpose(inverse),),
    linear=True, reads=0, view=True, doc="the axes in the order ``dims``;  dL/da = g with the inverse permutation.",
)

BROADCAST_TO = Primitive(
    "broadcast_to", lambda xp, a, *, shape: xp.broadcast_to(a, shape),
    (_passes,),
    linear=True, reads=0,
    doc="a repeated along the axes where it has length 1 (or lacks) to ``shape``;  dL/da = g summed over them.",
)

INDEX = Primitive(
    "getitem", lambda xp, a, *, index: a[index],
    (lambda xp, g, out, a, *, index: xp.unindex(g, index, a.shape),),
    linear=True, reads=0, view=True, fresh=True,
    doc="a[index] with ints, slices, None and ...: a view;  dL/da = g at the selected elements, 0 elsewhere.",
)

UNINDEX = Primitive(
    "unindex", lambda xp, g, *, index, shape: xp.unindex(g, index, shape),
    (lambda xp, G, out, g, *, index, shape: G[index],),
    linear=True, reads=0,
    doc="zeros of ``shape`` holding g at ``index``: what getitem sends back;  dL/dg = G[index].",
)


def full_index(layout, arrays):
    """The index ``layout`` describes, each ``ARRAY`` in it replaced by the next of ``arrays``."""
    arrays = iter(arrays)
    return tuple([next(arrays) if part is ARRAY else part for part in layout])


class _ArrayPlace:
    """Marks, in the layout of an advanced index, where an index array (an input) goes."""

    def __repr__(self):
        return "ARRAY"


ARRAY = _ArrayPlace()


def _gather_rule(xp, g, out, a, *arrays, layout, repeats, position):
    if position:
        return None  # an index has no derivative
    index = full_index(layout, arrays)
    return xp.ungather(g, index, a.shape) if repeats else xp.unindex(g, index, a.shape)


def _gather(xp, a, *arrays, layout, repeats):
    out = a[full_index(layout, arrays)]
    # numpy lays out an index array after a slice or an int in its own order; PyTorch's result, as every
    # new result, is in order (C-contiguous), so that view() of it works there and must work here
    return out if out.flags.c_contiguous else out.copy()


GATHER = Primitive(
    "getitem", _gather,
    vjp_each=_gather_rule,
    linear=True, fresh=True, has_derivative=lambda position: position == 0,
    doc="""a[index] with integer arrays or boolean masks among its parts (the arrays are inputs).

    dL/da is zero except at the selected elements, which receive g; an
    element selected several times receives the sum.""",
)

UNGATHER = Primitive(
    "ungather", lambda xp, g, *arrays, layout, shape: xp.ungather(g, full_index(layout, arrays), shape),
    vjp_each=lambda xp, G, out, g, *arrays, layout, shape, position:
        None if position else G[full_index(layout, arrays)],
    linear=True, fresh=True, has_derivative=lambda position: position == 0,
    doc="zeros of ``shape`` with g added at an index that may repeat elements;  dL/dg = G[index].",
)


def _slice_of_input(xp, g, out, *inputs, axis, bounds, position):
    return g[(slice(None),) * axis + (slice(bounds[position], bounds[position + 1]),)]


CONCATENATE = Primitive(
    "concatenate", lambda xp, *inputs, axis, bounds: xp.concatenate(inputs, axis=axis),
    vjp_each=_slice_of_input,
    linear=True, reads=0, doc="the inputs joined along ``axis``;  each input's gradient is its slice of g.",
)


# -- matrix products ------------------------------------------------------------------------------


def _matmul_left_rule(xp, g, out, a, b):
    if a.ndim == 2 and b.ndim == 2:
        return g @ b.T
    if a.ndim == 1 and b.ndim == 1:
        return g * b
    # a 1-D operand is a row (on the left) or a column (on the right) whose axis the result lacks: give it back
    right = b[None, :] if b.ndim == 1 else xp.swapaxes(b, -1, -2)
    upstream = g[..., None] if b.ndim == 1 else g
    if a.ndim == 1:
        return (upstream[..., None, :] @ right)[..., 0, :]
    return upstream @ right


def _matmul_right_rule(xp, g, out, a, b):
    if a.ndim == 2 and b.ndim == 2:
        return a.T @ g
    if a.ndim == 1 and b.ndim == 1:
        return a * g
    left = a[:, None] if a.ndim == 1 else xp.swapaxes(a, -1, -2)
    upstream = g[..., None, :] if a.ndim == 1 else g
    if b.ndim == 1:
        return (left @ upstream[..., None])[..., 0]
    return left @ upstream


def _matmul_tangent(xp, tangents, out, a, b):
    ta, tb = tangents
    left = None if ta is None else ta @ b
    right = None if tb is None else a @ tb
    return right if left is None else left if right is None else left + right


MATMUL = Primitive(
    "@", lambda xp, a, b: a @ b,
    (_matmul_left_rule, _matmul_right_rule),
    jvp=_matmul_tangent, fresh=True,
    doc="""a @ b for 1-D, 2-D and batched operands, as numpy's matmul.

    For 2-D operands: dL/da = g @ bᵀ,  dL/db = aᵀ @ g. A 1-D operand is a
    row (on the left) or a column (on the right) whose extra axis the
    result lacks; batch axes broadcast, and backward sums the gradient
    over the batch axes an operand lacks.""",
)


# -- the scalar engine's own: many inputs in one node -----------------------------------------------


def _weighted_sum(xp, *weights_inputs_bias):
    n = len(weights_inputs_bias) // 2
    # Python's sum of the products, from the first on, added to the bias: micrograd's order of additions
    return weights_inputs_bias[-1] + sum(map(operator.mul, weights_inputs_bias[:n], weights_inputs_bias[n:2 * n]))


def _weighted_sum_rules(xp, g, out, *weights_inputs_bias, needs):
    n = len(weights_inputs_bias) // 2
    shares = [x * g for x in weights_inputs_bias[n:2 * n]]  # to the weights: their inputs times g
    shares += [w * g for w in weights_inputs_bias[:n]]  # to the inputs: their weights times g
    shares.append(g)  # to the bias
    return shares


VALUE_LINEAR = Primitive(
    "w·x+b", _weighted_sum, vjp_all=_weighted_sum_rules,
    doc="w1·x1 + ... + wn·xn + b (inputs w1..wn, x1..xn, b);  dL/dwi = xi · g,  dL/dxi = wi · g,  dL/db = g.",
)

VALUE_SUM = Primitive(
    "sum", lambda xp, *values: sum(values),
    vjp_all=lambda xp, g, out, *values, needs: (g,) * len(values),
    linear=True, reads=0, doc="v1 + ... + vn;  dL/dvi = g for every i.",
)


# -- without a derivative: results that are not differentiable, but still computed from their inputs --------
#
# They are primitives all the same, so that a compiled program (``autodiff.compile``) computes them anew
# at every call from its inputs, as it computes everything else.

def _comparison(symbol, compare):
    return Primitive(symbol, compare, (None, None), reads=0, doc=f"a {symbol} b elementwise: booleans, no derivative.")


LESS = _comparison("<", lambda xp, a, b: a < b)
LESS_EQUAL = _comparison("<=", lambda xp, a, b: a <= b)
GREATER = _comparison(">", lambda xp, a, b: a > b)
GREATER_EQUAL = _comparison(">=", lambda xp, a, b: a >= b)
EQUAL = _comparison("==", lambda xp, a, b: xp.equal(a, b))
NOT_EQUAL = _comparison("!=", lambda xp, a, b: xp.not_equal(a, b))
LOGICAL_AND = _comparison("and", lambda xp, a, b: xp.logical_and(a, b))
LOGICAL_OR = _comparison("or", lambda xp, a, b: xp.logical_or(a, b))
LOGICAL_XOR = _comparison("xor", lambda xp, a, b: xp.logical_xor(a, b))

LOGICAL_NOT = Primitive("not", lambda xp, a: xp.logical_not(a), (None,), reads=0, doc="not a, elementwise.")
SIGN = Primitive("sign", lambda xp, a: xp.sign(a), (None,), reads=0,
                 doc="-1, 0 or 1 by the sign of each element; no derivative (it is 0 almost everywhere).")
ISNAN = Primitive("isnan", lambda xp, a: xp.isnan(a), (None,), reads=0, doc="whether each element is NaN.")
ISFINITE = Primitive("isfinite", lambda xp, a: xp.isfinite(a), (None,), reads=0, doc="whether each element is finite.")
CONVERT = Primitive("astype", lambda xp, a, *, dtype: a.astype(dtype), (None,), reads=0,
                    doc="a as integers or booleans: no derivative.")
DETACH = Primitive("detach", lambda xp, a: a, (None,), reads=0, view=True,
                   doc="a itself, outside the graph: its gradient is not passed on.")
ARGMAX = Primitive("argmax", lambda xp, a, *, axis, keepdims: xp.argmax(a, axis=axis, keepdims=keepdims), (None,),
                   reads=0, doc="the index of the largest element along ``axis``.")
ARGMIN = Primitive("argmin", lambda xp, a, *, axis, keepdims: xp.argmin(a, axis=axis, keepdims=keepdims), (None,),
                   reads=0, doc="the index of the smallest element along ``axis``.")
