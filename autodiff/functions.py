"""The differentiable operations on Tensors.

Each primitive computes its forward result with numpy and hands
``Tensor._result`` one vector-Jacobian product (VJP) per input: a function
from g = dL/d(out) to dL/d(input). For an elementwise function f, the VJP is
g * f'(x); for the rest, the docstring states the rule. A VJP may return an
array of the broadcast output's shape: ``Tensor._accumulate`` sums it back
to the input's shape. The VJPs close over numpy arrays, never over the
output node, so a graph holds no reference cycles.

Every VJP computes in the dtype of g and of the arrays it closes over, so
a float32 graph has float32 gradients: Python numbers in the formulas are
"weak" in numpy's promotion rules and never widen an array.

Composite operations (subtraction's reflection, ``softmax``, ``stack``,
``flatten``, ...) are written in terms of the primitives and need no
backward code of their own.
"""

import numpy as np

from .tensor import Tensor, as_tensor

_result = Tensor._result


def _identity(g):
    return g


def _broadcast_error(op, x, y):
    return ValueError(f"{op}: shapes {x.shape} and {y.shape} cannot be broadcast together")


# -- arithmetic, with numpy broadcasting ----------------------------------


def _operands(a, b):
    """``a`` (a Tensor) and ``b`` (a Tensor, array or number) as Tensors of one kind.

    Numbers, arrays and integer or boolean tensors meeting a floating-point
    tensor take its dtype, so float32 work is never widened to float64.
    """
    if type(b) is not Tensor or (b.data.dtype.kind != "f" and a.data.dtype.kind == "f"):
        return a, as_tensor(b, a)
    if a.data.dtype.kind != "f" and b.data.dtype.kind == "f":
        return as_tensor(a, b), b
    return a, b


def add(a, b):
    """a + b;  dL/da = g,  dL/db = g."""
    a, b = _operands(a, b)
    try:
        out = a.data + b.data
    except ValueError:
        raise _broadcast_error("+", a.data, b.data) from None
    return _result(out, "+", (a, b), (_identity, _identity))


def sub(a, b):
    """a - b;  dL/da = g,  dL/db = -g."""
    a, b = _operands(a, b)
    try:
        out = a.data - b.data
    except ValueError:
        raise _broadcast_error("-", a.data, b.data) from None
    return _result(out, "-", (a, b), (_identity, np.negative))


def mul(a, b):
    """a * b;  dL/da = g * b,  dL/db = g * a."""
    a, b = _operands(a, b)
    x, y = a.data, b.data
    try:
        out = x * y
    except ValueError:
        raise _broadcast_error("*", x, y) from None
    return _result(out, "*", (a, b), (lambda g: g * y, lambda g: g * x))


def div(a, b):
    """a / b;  dL/da = g / b,  dL/db = -g * a / b**2."""
    a, b = _operands(a, b)
    x, y = a.data, b.data
    try:
        out = x / y
    except ValueError:
        raise _broadcast_error("/", x, y) from None
    return _result(out, "/", (a, b), (lambda g: g / y, lambda g: -g * x / (y * y)))


def neg(a):
    """-a;  dL/da = -g."""
    return _result(-a.data, "neg", (a,), (np.negative,))


def pow(a, b):
    """a ** b;  dL/da = g * b * a**(b-1),  dL/db = g * a**b * ln(a).

    As in PyTorch, dL/db is 0 where a == 0 and b >= 0 (there a**b does not
    move with b), dL/da is 0 where b == 0, and a negative base with a
    fractional exponent is nan.
    """
    if not isinstance(b, (Tensor, np.ndarray)):
        # a constant exponent needs no second derivative rule
        x = a.data
        p = float(b)
        if p == 0:
            return _result(np.ones_like(x), "**0", (a,), (np.zeros_like,))
        # a Python number never widens the array's dtype; a numpy scalar could
        out = x ** (b if isinstance(b, int) else p)
        return _result(out, f"**{p:g}", (a,), (lambda g: g * (p * x ** (p - 1)),))
    a, b = _operands(a, b)
    x, y = a.data, b.data
    try:
        out = x**y
    except ValueError:
        raise _broadcast_error("**", x, y) from None

    def base_vjp(g):
        # a zero exponent makes a**b constant in a, even where a**(b-1) is infinite
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(y == 0, 0, y * x ** (y - 1))
        return g * slope

    def exponent_vjp(g):
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where((x == 0) & (y >= 0), 0, out * np.log(x))
        return g * slope

    return _result(out, "**", (a, b), (base_vjp, exponent_vjp))


def matmul(a, b):
    """a @ b for 1-D, 2-D and batched operands, as numpy's matmul.

    For 2-D operands: dL/da = g @ b.T,  dL/db = a.T @ g. A 1-D operand is
    treated as a row (on the left) or a column (on the right) whose extra
    axis is removed from the result; batch axes broadcast, and
    ``_accumulate`` sums the gradient over the batch axes an operand lacks.
    """
    a, b = _operands(a, b)
    x, y = a.data, b.data
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"matmul of shapes {x.shape} and {y.shape}: operands need at least one dimension")
    try:
        out = x @ y
    except ValueError:
        inner = x.shape[-1], y.shape[-2] if y.ndim > 1 else y.shape[0]
        problem = "inner dimensions {} and {} differ".format(*inner) if inner[0] != inner[1] else (
            "batch dimensions cannot be broadcast together"
        )
        raise ValueError(f"matmul of shapes {x.shape} and {y.shape}: {problem}") from None
    if x.ndim == 2 and y.ndim == 2:
        return _result(out, "@", (a, b), (lambda g: g @ y.T, lambda g: x.T @ g))
    # Give 1-D operands their missing axis back, so every case is a (batched) 2-D product.
    x2 = x[None, :] if x.ndim == 1 else x
    y2 = y[:, None] if y.ndim == 1 else y

    def as_2d(g):
        if y.ndim == 1:
            g = g[..., None]
        if x.ndim == 1:
            g = g[..., None, :]
        return g

    def x_vjp(g):
        grad = as_2d(g) @ np.swapaxes(y2, -1, -2)
        return grad[..., 0, :] if x.ndim == 1 else grad

    def y_vjp(g):
        grad = np.swapaxes(x2, -1, -2) @ as_2d(g)
        return grad[..., 0] if y.ndim == 1 else grad

    return _result(out, "@", (a, b), (x_vjp, y_vjp))


def radd(a, b):
    return add(as_tensor(b, a), a)


def rsub(a, b):
    return sub(as_tensor(b, a), a)


def rmul(a, b):
    return mul(as_tensor(b, a), a)


def rdiv(a, b):
    return div(as_tensor(b, a), a)


def rpow(a, b):
    return pow(as_tensor(b, a), a)


def rmatmul(a, b):
    return matmul(as_tensor(b, a), a)


# -- elementwise functions -------------------------------------------------


def exp(a):
    """e**a;  dL/da = g * e**a."""
    out = np.exp(a.data)
    return _result(out, "exp", (a,), (lambda g: g * out,))


def log(a):
    """ln a;  dL/da = g / a."""
    x = a.data
    return _result(np.log(x), "log", (a,), (lambda g: g / x,))


def sqrt(a):
    """√a;  dL/da = g / (2√a)."""
    out = np.sqrt(a.data)
    return _result(out, "sqrt", (a,), (lambda g: g / (2 * out),))


def abs(a):
    """|a|;  dL/da = g * sign(a), which is 0 at a = 0 as in PyTorch."""
    x = a.data
    return _result(np.abs(x), "abs", (a,), (lambda g: g * np.sign(x),))


def tanh(a):
    """tanh a;  dL/da = g * (1 - tanh(a)**2)."""
    out = np.tanh(a.data)
    return _result(out, "tanh", (a,), (lambda g: g * (1 - out * out),))


def relu(a):
    """max(a, 0);  dL/da = g where a > 0, else 0."""
    x = a.data
    zero = np.zeros((), x.dtype)  # numpy meets a 0-d array of the same dtype faster than the number 0
    out = np.maximum(x, zero)
    return _result(out, "relu", (a,), (lambda g: g * (out > zero),))


def sigmoid(a):
    """σ(a) = 1 / (1 + e**-a);  dL/da = g * σ(a)(1 - σ(a)).

    For very negative a, e**-a overflows to inf and 1 / (1 + inf) is 0, the
    right limit; just before that, 1 / (1 + e**-a) is still the quotient of
    two accurate numbers, so tiny results keep their relative precision.
    """
    with np.errstate(over="ignore"):
        out = 1 / (1 + np.exp(-a.data))
    return _result(out, "sigmoid", (a,), (lambda g: g * (out * (1 - out)),))


def clip(a, low=None, high=None):
    """a limited to [low, high] (either may be None);  dL/da = g where low <= a <= high, else 0."""
    x = a.data
    if low is None and high is None:
        raise ValueError("clip needs a lower bound, an upper bound, or both")
    out = np.clip(x, low, high)
    if low is None:
        inside = x <= high
    elif high is None:
        inside = x >= low
    else:
        inside = (x >= low) & (x <= high)
    return _result(out, "clip", (a,), (lambda g: g * inside,))


# -- reductions ------------------------------------------------------------


def _reduced_axes(axis, ndim):
    """``axis`` (an int or a tuple, negatives allowed) as a sorted tuple of non-negative axes; None stays None."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    normalized = set()
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise ValueError(f"axis {ax} is out of range for a tensor of {ndim} dimensions")
        if int(ax) % ndim in normalized:
            raise ValueError(f"axis {ax} appears twice in {axis}")
        normalized.add(int(ax) % ndim)
    return tuple(sorted(normalized))


def _kept_shape(shape, axes):
    """``shape`` with the reduced ``axes`` kept as length 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _spread(g, kept_shape, shape):
    """g, reduced along some axes, repeated along them to ``shape`` (a fresh array).

    ``kept_shape`` is g's shape with the reduced axes put back as length 1,
    or None when g already broadcasts to ``shape``.
    """
    grad = np.empty(shape, dtype=g.dtype)
    grad[...] = g if kept_shape is None else g.reshape(kept_shape)
    return grad


def sum(a, axis=None, keepdims=False):
    """Sum over ``axis``;  dL/da = g repeated along the summed axes."""
    x = a.data
    axes = _reduced_axes(axis, x.ndim)
    shape = x.shape
    kept = None if keepdims or axes is None else _kept_shape(shape, axes)
    # np.add.reduce is ndarray.sum without its Python wrapper, which costs as much again on small arrays
    out = np.add.reduce(x, axis=axes, keepdims=keepdims)
    return _result(out, "sum", (a,), (lambda g: _spread(g, kept, shape),))


def mean(a, axis=None, keepdims=False):
    """Mean over ``axis``: the sum divided by the count n;  dL/da = g / n repeated along the averaged axes."""
    x = a.data
    axes = _reduced_axes(axis, x.ndim)
    shape = x.shape
    count = x.size if axes is None else int(np.prod([shape[i] for i in axes]))
    kept = None if keepdims or axes is None else _kept_shape(shape, axes)
    out = np.add.reduce(x, axis=axes, keepdims=keepdims) / count
    return _result(out, "mean", (a,), (lambda g: _spread(g / count, kept, shape),))


def _keep_or_drop(out_kept, axes, keepdims):
    """A reduction computed with keepdims=True, with the reduced axes dropped unless they are to be kept."""
    if keepdims:
        return out_kept
    return out_kept.reshape(()) if axes is None else out_kept.squeeze(axis=axes)


def _extremum(a, axis, keepdims, reduce, name):
    """max or min over ``axis``; g goes to the elements that attain it, shared equally among ties."""
    x = a.data
    if x.size == 0:
        raise ValueError(f"{name}() of an empty tensor of shape {x.shape}")
    axes = _reduced_axes(axis, x.ndim)
    out = reduce(x, axis=axes, keepdims=True)

    def vjp(g):
        attains = x == out
        ties = attains.sum(axis=axes, keepdims=True, dtype=x.dtype)
        return attains * (g.reshape(out.shape) / ties)

    return _result(_keep_or_drop(out, axes, keepdims), name, (a,), (vjp,))


def max(a, axis=None, keepdims=False):
    """Largest element over ``axis``;  dL/da = g at the maximum (split evenly among ties, as torch.amax)."""
    return _extremum(a, axis, keepdims, np.max, "max")


def min(a, axis=None, keepdims=False):
    """Smallest element over ``axis``;  dL/da = g at the minimum (split evenly among ties, as torch.amin)."""
    return _extremum(a, axis, keepdims, np.min, "min")


def argmax(a, axis=None):
    """Index of the largest element (of the flattened tensor when ``axis`` is None); not differentiable."""
    return Tensor._constant(np.asarray(np.argmax(a.data, axis=axis)))


def logsumexp(a, axis=None, keepdims=False):
    """ln Σ e**a over ``axis``, shifted by the maximum so it never overflows;  dL/da = g * softmax(a)."""
    x = a.data
    axes = _reduced_axes(axis, x.ndim)
    shift = x.max(axis=axes, keepdims=True)
    # a row of -inf (or one holding +inf) is not shifted: its result is -inf (or +inf) as it stands
    shift = np.where(np.isfinite(shift), shift, 0)
    with np.errstate(divide="ignore"):
        out = shift + np.log(np.exp(x - shift).sum(axis=axes, keepdims=True))
    return _result(
        _keep_or_drop(out, axes, keepdims), "logsumexp", (a,),
        (lambda g: g.reshape(out.shape) * np.exp(x - out),),
    )


def log_softmax(a, axis=-1):
    """a - logsumexp(a) along ``axis``, shifted by the maximum;  dL/da = g - softmax(a) * Σ g."""
    x = a.data
    shifted = x - x.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return _result(
        out, "log_softmax", (a,),
        (lambda g: g - np.exp(out) * g.sum(axis=axis, keepdims=True),),
    )


def softmax(a, axis=-1):
    """e**a / Σ e**a along ``axis``, as exp(log_softmax(a)), stable for large inputs."""
    return exp(log_softmax(a, axis))


# -- shape -----------------------------------------------------------------


def reshape(a, *shape):
    """The same elements in a new shape (one entry may be -1);  dL/da = g in a's shape."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    x = a.data
    try:
        out = x.reshape(shape)
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {x.shape} into shape {shape}") from None
    original = x.shape
    return _result(out, "reshape", (a,), (lambda g: g.reshape(original),))


def transpose(a, *axes):
    """Axes permuted (reversed when none are given);  dL/da = g with the inverse permutation."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    x = a.data
    if not axes:
        axes = tuple(reversed(range(x.ndim)))
    try:
        out = x.transpose(axes)
    except ValueError:
        raise ValueError(f"transpose axes {axes} are not a permutation of the axes of shape {x.shape}") from None
    inverse = tuple(int(i) for i in np.argsort([ax % x.ndim for ax in axes]))
    return _result(out, "transpose", (a,), (lambda g: g.transpose(inverse),))


def flatten(a):
    """All elements in one dimension."""
    return reshape(a, -1)


def _plain_index(index):
    """``index`` with Tensors and lists replaced by arrays, and whether it uses integer arrays."""
    parts = index if isinstance(index, tuple) else (index,)
    plain = []
    gathers = False
    for part in parts:
        if isinstance(part, Tensor):
            part = part.data
        elif isinstance(part, list):
            part = np.asarray(part) if part else np.empty(0, dtype=np.intp)
        if isinstance(part, np.ndarray) and part.dtype.kind in "iu":
            gathers = True
        plain.append(part)
    return (tuple(plain) if isinstance(index, tuple) else plain[0]), gathers


def getitem(a, index):
    """a[index] with ints, slices, None, ..., integer arrays and boolean masks.

    dL/da is zero except at the selected elements, which receive g; an
    element selected several times by integer arrays receives the sum.
    """
    index, gathers = _plain_index(index)
    out = a.data[index]
    shape = a.data.shape

    def vjp(g):
        grad = np.zeros(shape, dtype=g.dtype)
        if gathers:
            np.add.at(grad, index, g)
        else:
            grad[index] = g
        return grad

    return _result(out, "getitem", (a,), (vjp,))


def _like_first_tensor(items):
    """``items`` as Tensors, constants taking the dtype of the first Tensor among them."""
    items = list(items)
    like = next((t for t in items if isinstance(t, Tensor)), None)
    return [as_tensor(t, like) for t in items]


def concatenate(tensors, axis=0):
    """The tensors joined along ``axis``;  each input's gradient is its slice of g."""
    tensors = _like_first_tensor(tensors)
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    arrays = [t.data for t in tensors]
    try:
        out = np.concatenate(arrays, axis=axis)
    except ValueError:
        shapes = ", ".join(str(x.shape) for x in arrays)
        raise ValueError(f"cannot concatenate shapes {shapes} along axis {axis}") from None
    axis = axis % out.ndim
    bounds = np.cumsum([0] + [x.shape[axis] for x in arrays]).tolist()
    vjps = tuple(_slice_vjp(axis, start, stop) for start, stop in zip(bounds[:-1], bounds[1:]))
    return _result(out, "concatenate", tuple(tensors), vjps)


def _slice_vjp(axis, start, stop):
    where = (slice(None),) * axis + (slice(start, stop),)
    return lambda g: g[where]


def stack(tensors, axis=0):
    """The tensors (all of one shape) joined along a new ``axis``."""
    tensors = _like_first_tensor(tensors)
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    shapes = list(dict.fromkeys(t.shape for t in tensors))
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of one shape, got {', '.join(map(str, shapes))}")
    ndim = tensors[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for stacking {ndim - 1}-dimensional tensors")
    axis %= ndim
    shape = tensors[0].shape
    expanded = shape[:axis] + (1,) + shape[axis:]
    return concatenate([reshape(t, expanded) for t in tensors], axis=axis)


def where(condition, a, b):
    """a where ``condition`` holds, else b;  dL/da = g where it holds, dL/db = g elsewhere."""
    chosen = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    chosen = chosen.astype(bool, copy=False)
    if isinstance(a, Tensor):
        a, b = _operands(a, b)
    else:
        b = as_tensor(b)
        b, a = _operands(b, a)
    try:
        out = np.where(chosen, a.data, b.data)
    except ValueError:
        raise ValueError(
            f"where: condition of shape {chosen.shape} and values of shapes {a.shape} and {b.shape} "
            "cannot be broadcast together"
        ) from None
    return _result(
        out, "where", (a, b),
        (lambda g: np.where(chosen, g, 0), lambda g: np.where(chosen, 0, g)),
    )


# -- comparisons: plain boolean tensors, outside the graph ----------------------


def _comparison(compare, symbol):
    def comparison(a, b):
        a, b = _operands(a, b)
        try:
            return Tensor._constant(compare(a.data, b.data))
        except ValueError:
            raise _broadcast_error(symbol, a.data, b.data) from None

    return comparison


# The functions that are also Tensor methods and operators.
METHODS = (
    "exp", "log", "sqrt", "abs", "tanh", "relu", "sigmoid", "clip",
    "sum", "mean", "max", "min", "argmax", "logsumexp", "log_softmax", "softmax",
    "reshape", "transpose", "flatten",
)
OPERATORS = {
    "__add__": add, "__radd__": radd, "__sub__": sub, "__rsub__": rsub,
    "__mul__": mul, "__rmul__": rmul, "__truediv__": div, "__rtruediv__": rdiv,
    "__pow__": pow, "__rpow__": rpow, "__matmul__": matmul, "__rmatmul__": rmatmul,
    "__neg__": neg, "__getitem__": getitem,
    "__lt__": _comparison(np.less, "<"), "__le__": _comparison(np.less_equal, "<="),
    "__gt__": _comparison(np.greater, ">"), "__ge__": _comparison(np.greater_equal, ">="),
    "__eq__": _comparison(np.equal, "=="), "__ne__": _comparison(np.not_equal, "!="),
}

for _name in METHODS:
    setattr(Tensor, _name, globals()[_name])
for _name, _function in OPERATORS.items():
    setattr(Tensor, _name, _function)
