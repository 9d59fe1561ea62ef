"""Tensors made from scratch, with PyTorch's names, arguments and dtypes.

Shapes may be given as separate integers or as one tuple or list
(``zeros(2, 3)`` or ``zeros((2, 3))``), or as ``size=(2, 3)``. ``dtype=`` takes
a numpy dtype (``numpy.float64``, ``"float32"``, ``numpy.int64``). Without
one, the dtype follows PyTorch's rules: floating-point results take
``get_default_dtype()``; ``arange`` of integers, ``randint`` and ``full``
of an integer give int64, ``full`` of a bool gives bool.

Every factory takes ``device=``, as in PyTorch: ``"cpu"``, ``"cpu:0"``
or ``autodiff.device("cpu")``, the only device there is; any other is
refused with a ValueError naming it, so PyTorch's device lines port
unchanged.

The random factories draw from ``generator`` when one is given (a
``numpy.random.Generator``), else from ``autodiff.random.default_generator``,
which ``manual_seed`` seeds: ``randn`` draws ``Generator.standard_normal``,
``rand`` ``Generator.random`` (uniform on [0, 1)), ``randint``
``Generator.integers``; the numbers are numpy's, not PyTorch's.
"""

import math
import operator

import numpy as np

from .mode import grad_mode
from .primitive import Primitive
from .random import generator_or_default
from .tensor import Device, Tensor, get_default_dtype

# Numbers drawn from a random generator, as an operation with no input: while autodiff.compile records a
# function, a factory's draw is one, so that the program draws anew at every call, from the same generator.
DRAW = Primitive(
    "draw", lambda xp, *, name, draw: draw(), (), random=True, reads=0, display=lambda params: params["name"],
    doc="numbers drawn from a random generator (randn, rand, randint, randperm).",
)


def _drawn(name, draw, requires_grad=False):
    """A Tensor of the numbers ``draw()`` gives: a constant, or, while a compile records, the draw itself."""
    if grad_mode.recording is None or requires_grad:
        return Tensor(draw(), requires_grad=requires_grad)
    return Tensor.apply_primitive(DRAW, (), {"name": name, "draw": draw})


def tensor(data, dtype=None, requires_grad=False, *, device=None):
    """A new leaf holding a copy of ``data`` (numbers, nested lists, a numpy array or a Tensor).

    Python floats become ``get_default_dtype()``, Python ints int64 and
    bools bool; numpy arrays and Tensors keep their dtype unless ``dtype``
    is given.

    >>> tensor([[1.0, 2.0]], requires_grad=True)
    Tensor([[1., 2.]], requires_grad=True)
    >>> tensor([1, 2]).dtype, tensor([1.0, 2.0]).dtype, tensor(np.ones(2)).dtype
    (dtype('int64'), dtype('float32'), dtype('float64'))
    """
    _check_device(device)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array):
    """A leaf that shares memory with the numpy ``array``, as ``torch.from_numpy``: no copy, the same dtype.

    Writing into the array changes the tensor and an in-place change of
    the tensor changes the array. Like writing into ``t.data``, a write
    through the array is not counted as an in-place change, so a backward
    that saved the tensor cannot notice it. ``tensor(array)`` makes a copy.

    >>> a = np.array([1.0, 2.0])
    >>> t = from_numpy(a)
    >>> a[0] = -1.0
    >>> t.tolist(), t.dtype
    ([-1.0, 2.0], dtype('float64'))
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy takes a numpy array, got {type(array).__name__}: use autodiff.tensor(...)")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"a Tensor holds real numbers, got an array of dtype {array.dtype}")
    return Tensor._constant(array)


def zeros(*shape, size=None, dtype=None, requires_grad=False, device=None):
    """A tensor of zeros of shape ``size``.

    >>> zeros(2, 3).shape, zeros((2, 3)).shape, zeros(size=(2,)).tolist()
    ((2, 3), (2, 3), [0.0, 0.0])
    """
    return full(_shape(shape, size, "zeros"), 0.0, dtype=_float_or(dtype), requires_grad=requires_grad, device=device)


def ones(*shape, size=None, dtype=None, requires_grad=False, device=None):
    """A tensor of ones of shape ``size``.

    >>> ones(2, dtype=np.float64)
    Tensor([1., 1.], dtype=float64)
    """
    return full(_shape(shape, size, "ones"), 1.0, dtype=_float_or(dtype), requires_grad=requires_grad, device=device)


def full(size, fill_value, dtype=None, requires_grad=False, *, device=None):
    """A tensor of shape ``size`` with every element ``fill_value``.

    Without ``dtype``, a bool fills a bool tensor, an integer an int64 one
    and a float one of ``get_default_dtype()``, as in PyTorch.

    >>> full((2, 2), 7).tolist(), full((2,), 0.5).dtype, full((1,), True).dtype
    ([[7, 7], [7, 7]], dtype('float32'), dtype('bool'))
    """
    _check_device(device)
    if dtype is None:
        if isinstance(fill_value, (bool, np.bool_)):
            dtype = np.bool_
        elif isinstance(fill_value, (int, np.integer)):
            dtype = np.int64
        else:
            dtype = get_default_dtype()
    array = np.full(_shape((size,), None, "full"), fill_value, dtype=dtype)
    return Tensor(array, requires_grad=requires_grad)


def zeros_like(input, dtype=None, requires_grad=False, *, device=None):
    """Zeros of the shape of ``input`` (a Tensor or an array), and of its dtype unless ``dtype`` is given.

    >>> zeros_like(tensor([1, 2, 3])).tolist(), zeros_like(np.ones(3), dtype=np.float32).dtype
    ([0, 0, 0], dtype('float32'))
    """
    shape, own_dtype = _shape_and_dtype_of(input, "zeros_like")
    return full(shape, 0, dtype=own_dtype if dtype is None else dtype, requires_grad=requires_grad, device=device)


def ones_like(input, dtype=None, requires_grad=False, *, device=None):
    """Ones of the shape of ``input`` (a Tensor or an array), and of its dtype unless ``dtype`` is given.

    >>> ones_like(tensor([[0.5, 0.5]])).tolist()
    [[1.0, 1.0]]
    """
    shape, own_dtype = _shape_and_dtype_of(input, "ones_like")
    return full(shape, 1, dtype=own_dtype if dtype is None else dtype, requires_grad=requires_grad, device=device)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, *, device=None):
    """``start, start + step, ...`` up to but not including ``end``; ``arange(n)`` is ``0, 1, ..., n - 1``.

    There are ⌈(end - start) / step⌉ elements, the i-th computed as
    ``start + i · step`` in float64 and then rounded to the dtype (PyTorch
    computes them so too). Without ``dtype`` the result is int64 when
    ``start``, ``end`` and ``step`` are all integers, else
    ``get_default_dtype()``.

    >>> arange(4).tolist(), arange(1.0, 2.0, 0.25).tolist()
    ([0, 1, 2, 3], [1.0, 1.25, 1.5, 1.75])
    """
    _check_device(device)
    if end is None:
        start, end = 0, start
    bounds = {"start": start, "end": end, "step": step}
    for name, x in bounds.items():
        if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
            raise TypeError(f"arange's {name} must be a number, got {type(x).__name__} {x!r}")
        if not math.isfinite(x):
            raise ValueError(f"arange's {name} must be finite, got {x!r}")
    integers = all(isinstance(x, (int, np.integer)) for x in bounds.values())
    if dtype is None:
        dtype = np.int64 if integers else get_default_dtype()
    dtype = np.dtype(dtype)
    if step == 0:
        raise ValueError("arange's step must not be zero")
    if (end - start) * step < 0:
        raise ValueError(f"arange's step {step!r} points away from end {end!r} (start {start!r})")
    if integers:
        count = -((start - end) // step)  # the ceiling, exact for integers of any size
        array = (start + step * np.arange(count, dtype=np.int64)).astype(dtype)
    else:
        if dtype.kind != "f":
            raise TypeError(f"arange with dtype {dtype} needs integer start, end and step, got {start!r}, {end!r}, {step!r}")
        count = math.ceil((end - start) / step)
        array = (float(start) + float(step) * np.arange(count, dtype=np.float64)).astype(dtype)
    return Tensor(array, requires_grad=requires_grad)


def randn(*shape, size=None, generator=None, dtype=None, requires_grad=False, device=None):
    """Samples of the standard normal distribution N(0, 1), of shape ``size``.

    >>> x = randn(2, 3)
    >>> x.shape, x.dtype
    ((2, 3), dtype('float32'))
    """
    _check_device(device)
    shape = _shape(shape, size, "randn")
    dtype = _random_float_dtype(dtype, "randn")
    return _drawn("randn", lambda: generator_or_default(generator).standard_normal(shape, dtype=dtype), requires_grad)


def rand(*shape, size=None, generator=None, dtype=None, requires_grad=False, device=None):
    """Samples of the uniform distribution on [0, 1), of shape ``size``.

    >>> u = rand(1000, dtype=np.float64)
    >>> u.shape, u.dtype, 0 <= u.min().item() and u.max().item() < 1
    ((1000,), dtype('float64'), True)
    """
    _check_device(device)
    shape = _shape(shape, size, "rand")
    dtype = _random_float_dtype(dtype, "rand")
    return _drawn("rand", lambda: generator_or_default(generator).random(shape, dtype=dtype), requires_grad)


def randint(*args, generator=None, dtype=np.int64, requires_grad=False, device=None, **bounds):
    """Integers drawn uniformly from [low, high), of shape ``size``.

    Called as PyTorch calls it: ``randint(high, size)``,
    ``randint(low, high, size)``, or with ``low=``, ``high=``, ``size=``
    (``low`` is 0 unless given).

    >>> r = randint(5, 10, (2, 50))
    >>> r.shape, r.dtype, 5 <= r.min().item() and r.max().item() < 10
    ((2, 50), dtype('int64'), True)
    """
    _check_device(device)
    if len(args) > 3:
        raise TypeError(f"randint takes at most 3 positional arguments (low, high, size), got {len(args)}")
    if len(args) == 3:
        names = ("low", "high", "size")
    elif len(args) == 2:
        names = ("low", "high") if "size" in bounds else ("high", "size")
    else:
        names = ("low",) if "high" in bounds else ("high",)
    for name, value in zip(names, args):
        if name in bounds:
            raise TypeError(f"randint got {name} twice, by position and by keyword")
        bounds[name] = value
    unknown = set(bounds) - {"low", "high", "size"}
    if unknown:
        raise TypeError(f"randint got unexpected keyword arguments {sorted(unknown)}")
    if "high" not in bounds or "size" not in bounds:
        raise TypeError("randint needs high and size: randint(high, size) or randint(low, high, size)")
    low, high = _integer(bounds.get("low", 0), "low"), _integer(bounds["high"], "high")
    if not low < high:
        raise ValueError(f"randint needs low < high, got low={low}, high={high}")
    shape = _shape((bounds["size"],), None, "randint")
    return _drawn("randint", lambda: generator_or_default(generator).integers(low, high, shape, dtype=np.int64).astype(
        dtype, copy=False), requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False, *, device=None):
    """``steps`` numbers evenly spaced from ``start`` to ``end``, both included."""
    _check_device(device)
    steps = _integer(steps, "steps")
    if steps < 0:
        raise ValueError(f"linspace needs steps >= 0, got {steps}")
    array = np.linspace(float(start), float(end), steps).astype(_float_or(dtype))
    return Tensor(array, requires_grad=requires_grad)


def randperm(n, generator=None, dtype=np.int64, *, device=None):
    """The integers 0 .. n-1 in a random order (numpy's permutation, not PyTorch's)."""
    _check_device(device)
    n = _integer(n, "n")
    return _drawn("randperm", lambda: generator_or_default(generator).permutation(n).astype(dtype))


def multinomial(input, num_samples, replacement=False, generator=None):
    """Indices drawn with probabilities proportional to the rows of ``input`` (1-D or 2-D), as int64.

    numpy's draws, so the indices differ from PyTorch's for the same seed;
    their distribution is the same. Without ``replacement`` an index is
    drawn at most once per row.
    """
    input = input if isinstance(input, Tensor) else from_numpy(np.array(input, dtype=np.float64))
    weights = input.data.astype(np.float64, copy=False)
    if weights.ndim not in (1, 2):
        raise ValueError(f"multinomial takes a 1-D or 2-D tensor of weights, got shape {weights.shape}")
    rows = weights.reshape(-1, weights.shape[-1])
    if (rows < 0).any() or not np.isfinite(rows).all() or (rows.sum(axis=1) <= 0).any():
        raise ValueError("multinomial needs weights that are finite, not negative, and not all zero in a row")
    num_samples = _integer(num_samples, "num_samples")
    if not replacement and num_samples > rows.shape[1]:
        raise ValueError(f"multinomial without replacement cannot draw {num_samples} of {rows.shape[1]} categories")
    params = {"num_samples": num_samples, "replacement": replacement, "generator": generator}
    return Tensor.apply_primitive(MULTINOMIAL, (input,), params)


def _multinomial(xp, weights, *, num_samples, replacement, generator):
    weights = weights.astype(np.float64, copy=False)
    rows = weights.reshape(-1, weights.shape[-1])
    rng = generator_or_default(generator)
    drawn = np.stack([
        rng.choice(rows.shape[1], size=num_samples, replace=replacement, p=row / row.sum()) for row in rows
    ])
    return drawn.reshape(*weights.shape[:-1], num_samples).astype(np.int64)


MULTINOMIAL = Primitive(
    "multinomial", _multinomial, (None,), random=True, reads=0,
    doc="indices drawn with probabilities proportional to the rows of the weights: no derivative.",
)


def set_default_device(device):
    """PyTorch's ``set_default_device``: ``"cpu"`` (or None) is accepted, any other device refused naming it.

    The CPU is the only device, so there is nothing to change.
    """
    _check_device(device)


def get_default_device():
    """The device factories make tensors on: the CPU."""
    return Device("cpu")


# -- helpers -----------------------------------------------------------------------


def _check_device(device):
    """Refuse, naming it, any device but the CPU (None means the default, the CPU)."""
    if device is not None:
        Device(device)


def _shape(size, keyword, function):
    """A tuple of non-negative ints from PyTorch's ways of giving a shape.

    ``size`` holds the positional arguments: ``(2, 3)``, ``((2, 3),)`` or
    ``([2, 3],)``; ``keyword`` is ``size=`` (None when not given).
    """
    if keyword is not None:
        if size:
            raise TypeError(f"{function} got a size both by position {size!r} and as size={keyword!r}")
        size = (keyword,)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    elif len(size) == 1 and isinstance(size[0], np.ndarray) and size[0].ndim == 1:
        size = size[0].tolist()
    shape = []
    for n in size:
        if isinstance(n, bool):
            raise TypeError(f"{function}: a size must be a tuple of ints, got {n!r} in {tuple(size)!r}")
        try:
            n = operator.index(n)
        except TypeError:
            raise TypeError(
                f"{function}: a size must be a tuple of ints, got {type(n).__name__} {n!r} in {tuple(size)!r}"
            ) from None
        if n < 0:
            raise ValueError(f"{function}: sizes must be at least 0, got {tuple(size)!r}")
        shape.append(n)
    return tuple(shape)


def _float_or(dtype):
    return get_default_dtype() if dtype is None else dtype


def _random_float_dtype(dtype, function):
    dtype = np.dtype(_float_or(dtype))
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{function} draws float32 or float64, got dtype {dtype}")
    return dtype


def _integer(x, name):
    if isinstance(x, bool):
        raise TypeError(f"randint's {name} must be an integer, got {x!r}")
    try:
        return operator.index(x)
    except TypeError:
        raise TypeError(f"randint's {name} must be an integer, got {type(x).__name__} {x!r}") from None


def _shape_and_dtype_of(input, function):
    if isinstance(input, (Tensor, np.ndarray)):
        return input.shape, input.dtype
    raise TypeError(f"{function} takes a Tensor or a numpy array, got {type(input).__name__}")
