"""``Tensor``: an n-dimensional node of a computation graph, over a numpy array.

This module holds the tensor's data and its part in backward; the
differentiable operations themselves live in ``functions``.

For a tensor node, the local derivative of each input is a
vector-Jacobian product (VJP): a function that takes dL/d(out), an array of
the output's shape, and returns dL/d(input). Broadcasting in the forward
pass means the returned array may have the output's shape rather than the
input's; ``_accumulate`` sums it back down to the input's shape, so that no
operation has to undo broadcasting itself.

Dtype policy: Python numbers and lists become ``get_default_dtype()``
(float32, as in PyTorch; change it with ``set_default_dtype``); numpy
arrays keep their dtype. Numbers, arrays and integer or boolean tensors
combined with a floating-point Tensor take the Tensor's dtype, so float32
work stays float32. Only floating-point tensors can require gradients.

Gradient arrays of intermediate nodes may be shared between nodes (an
addition hands the same array to both of its inputs), so nothing writes
into them. A leaf's gradient is different: an array of its own, added to
in place and, when large, reused from one step to the next (see
``_accumulate``).
"""

import sys

import numpy as np

from .graph import backward, grad_mode

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_default_dtype = _FLOAT_DTYPES[0]


def set_default_dtype(dtype):
    """Set the dtype of Tensors made from Python numbers and lists: float32 (the default) or float64."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"the default dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


def get_default_dtype():
    """The dtype of Tensors made from Python numbers and lists."""
    return _default_dtype


def _read_only_one(dtype):
    one = np.ones((), dtype=dtype)
    one.flags.writeable = False
    return one


# The seed of backward() on one element: shared, so nothing may write into it.
_ONE = {dtype: _read_only_one(dtype) for dtype in _FLOAT_DTYPES}


class BackwardError(RuntimeError, ValueError):
    """``backward()`` was called in a way that cannot define a gradient."""


class Tensor:
    """A node holding ``data`` (a numpy array) and, after backward, ``grad``.

    ``Tensor(data, requires_grad=False, dtype=None)`` copies ``data``.
    Results of operations on tensors that require gradients require them
    too, and remember their ``children`` (the input tensors), ``op`` and
    ``vjps`` (one vector-Jacobian product per input).
    """

    __slots__ = (
        "data", "grad", "_requires_grad", "label", "op", "children", "vjps", "_grad_buffer", "_version", "__weakref__",
    )
    # numpy defers to Tensor's reflected operators (array + Tensor -> Tensor)
    __array_ufunc__ = None
    _EMPTY_GRAD = None

    def __init__(self, data, requires_grad=False, dtype=None, label=""):
        if isinstance(data, Tensor):
            data = data.data
        if dtype is not None:
            array = np.array(data, dtype=dtype)
        elif isinstance(data, (np.ndarray, np.generic)):
            array = np.array(data)
        else:
            array = np.array(data)
            if array.dtype.kind == "f":
                array = array.astype(_default_dtype, copy=False)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"Tensor holds numbers, got an array of dtype {array.dtype}")
        self.data = array
        self.grad = None
        self.label = label
        self.op = ""
        self.children = ()
        self.vjps = ()
        self._grad_buffer = None
        self._version = 0
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_()

    @property
    def requires_grad(self):
        """Whether backward computes this tensor's gradient (settable on leaves of a floating dtype)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, requires_grad):
        self.requires_grad_(requires_grad)

    def requires_grad_(self, requires_grad=True):
        """Mark this leaf as one whose gradient backward should compute (or, with False, not); returns it."""
        if self.children:
            raise RuntimeError(
                f"requires_grad can only be changed on a leaf tensor, this one is the result of {self.op!r}; "
                "use detach() for a copy outside the graph"
            )
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, this one is {self.data.dtype}"
            )
        self._requires_grad = bool(requires_grad)
        return self

    @staticmethod
    def _result(data, op, children, vjps):
        """A new node ``op(*children) = data``; ``vjps[i]`` maps dL/d(out) to dL/d(children[i])."""
        out = Tensor.__new__(Tensor)
        # numpy returns scalars, not 0-d arrays, from ufuncs on 0-d arrays
        out.data = data if type(data) is np.ndarray else np.asarray(data)
        out.grad = None
        out.label = ""
        out._grad_buffer = None
        out._version = 0
        if grad_mode.enabled:
            for child in children:
                if child._requires_grad:
                    out._requires_grad = True
                    out.op = op
                    out.children = children
                    out.vjps = vjps
                    return out
        out._requires_grad = False
        out.op = ""
        out.children = ()
        out.vjps = ()
        return out

    @staticmethod
    def _constant(array):
        """A leaf around ``array`` as it is: no copy, no gradient."""
        out = Tensor.__new__(Tensor)
        out.data = array
        out.grad = None
        out._requires_grad = False
        out.label = ""
        out.op = ""
        out.children = ()
        out.vjps = ()
        out._grad_buffer = None
        out._version = 0
        return out

    def _bump_version(self):
        """Record that ``data`` was changed in place, so a backward that saved the old data refuses to run."""
        self._version += 1

    # -- what it holds ---------------------------------------------------

    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def item(self):
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor of one element, this one has shape {self.shape}")
        return self.data.item()

    def numpy(self):
        """The data array itself (not a copy)."""
        return self.data

    def detach(self):
        """A new leaf sharing this tensor's data, outside the graph."""
        return Tensor._constant(self.data)

    @property
    def T(self):
        """The axes reversed: the matrix transpose for 2-D."""
        return F.transpose(self)

    def __bool__(self):
        return bool(self.data)

    __hash__ = object.__hash__

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="Tensor(", threshold=20, edgeitems=3)
        extras = ""
        if self.data.dtype != _default_dtype:
            extras += f", dtype={self.data.dtype}"
        if self.op:
            extras += f", op={self.op!r}"
        elif self._requires_grad:
            extras += ", requires_grad=True"
        if self.label:
            extras += f", label={self.label!r}"
        return f"Tensor({body}{extras})"

    # -- gradients -------------------------------------------------------

    def backward(self, grad=None):
        """Fill in d(self)/d(x) for every x below this tensor, weighted by ``grad``.

        ``grad`` is dL/d(self), of this tensor's shape; it may be omitted
        for a tensor of one element (it is then 1). Leaf gradients add up
        across calls.
        """
        if not self._requires_grad:
            raise BackwardError(
                "backward() on a tensor that does not require gradients: "
                "none of its inputs has requires_grad=True, or it was computed under no_grad"
            )
        data = self.data
        if grad is None:
            if data.size != 1:
                raise BackwardError(
                    f"backward() without a gradient needs a one-element tensor, this one has shape "
                    f"{data.shape}; pass grad=, an array of shape {data.shape}"
                )
            seed = _ONE[data.dtype]
            if data.ndim:
                seed = seed.reshape(data.shape)
        else:
            seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=data.dtype)
            if seed.shape != data.shape:
                raise ValueError(
                    f"gradient of shape {seed.shape} does not match the tensor's shape {data.shape}"
                )
        backward(self, seed)

    @staticmethod
    def _chain_rule(nodes):
        for node in nodes:
            grad = node.grad
            for child, vjp in zip(node.children, node.vjps):
                if child._requires_grad:
                    child._accumulate(vjp(grad))

    def _accumulate(self, grad):
        """Add ``grad`` (of this tensor's shape, or one that broadcasting made from it) into ``self.grad``.

        An intermediate node takes the array it is given, or a new sum.

        A leaf's gradient is an array no other node shares, so that users
        may change it in place (clipping, say). As PyTorch does, a leaf
        takes over a freshly made array that nothing else refers to, and
        copies any other; later gradients are added in place while nothing
        outside refers to the leaf's array. A large gradient is also kept
        when ``grad`` is reset to None (``zero_grad``) and filled again at
        the next backward, unless something outside still refers to it:
        freeing it would hand its pages back to the system and fault them
        in again at every step, which costs more than the copy.
        """
        data = self.data
        if type(grad) is not np.ndarray:
            grad = np.asarray(grad)
        if grad.shape != data.shape:
            grad = unbroadcast(grad, data.shape)
        if grad.dtype != data.dtype:
            grad = grad.astype(data.dtype)
        current = self.grad
        if self.children:
            self.grad = grad if current is None else current + grad
            return
        buffer = self._grad_buffer
        # The reference counts below are exact only while no other local name refers to these arrays.
        if current is None:
            if (buffer is not None and buffer.nbytes >= KEPT_GRAD_BYTES
                    and sys.getrefcount(buffer) == _KEPT_BUFFER_REFERENCES
                    and buffer.shape == data.shape and buffer.dtype == data.dtype):
                buffer[...] = grad
                self.grad = buffer
                return
            if sys.getrefcount(grad) != _FRESH_ARGUMENT_REFERENCES or grad.base is not None:
                grad = grad.copy()  # shared with another node, the caller, or a view of another array
        elif current is buffer and sys.getrefcount(buffer) == _GRAD_BUFFER_REFERENCES:
            buffer += grad
            return
        else:
            grad = current + grad
        self.grad = self._grad_buffer = grad


# glibc's malloc gives blocks of 128 KiB and more straight from the system, and gives them back when freed.
KEPT_GRAD_BYTES = 128 * 1024


def _count_references():
    """The reference counts ``_accumulate`` sees for arrays that nothing else refers to.

    They include the interpreter's own temporary references, which differ
    between Python versions; measured here once, with the same local names
    as in ``_accumulate``, they make its comparisons exact on any of them.
    """
    leaf = Tensor._constant(np.empty(0))
    leaf._grad_buffer = np.empty(1)

    def kept(self):  # the buffer after zero_grad: only the leaf holds it
        buffer = self._grad_buffer
        return sys.getrefcount(buffer)

    def in_use(self):  # the buffer is the leaf's grad and nothing else holds it
        current = self.grad
        buffer = self._grad_buffer
        return sys.getrefcount(buffer) if current is buffer else None

    def receive(grad):  # as _accumulate receives vjp(g), a temporary
        return sys.getrefcount(grad)

    kept_references = kept(leaf)
    leaf.grad = leaf._grad_buffer
    return kept_references, in_use(leaf), receive(np.empty(1))


_KEPT_BUFFER_REFERENCES, _GRAD_BUFFER_REFERENCES, _FRESH_ARGUMENT_REFERENCES = _count_references()


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting stretched to reach its shape from ``shape``.

    If x of shape ``shape`` was broadcast to y, then dL/dx is dL/dy summed
    over every axis along which x was repeated.
    """
    extra = grad.ndim - len(shape)
    if extra < 0 or any(n != 1 and n != m for n, m in zip(shape, grad.shape[extra:])):
        raise ValueError(f"a gradient of shape {grad.shape} cannot flow into a tensor of shape {shape}")
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(axis for axis, n in enumerate(shape) if n == 1 and grad.shape[axis] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def as_tensor(x, like=None):
    """``x`` itself if it is a Tensor that can meet ``like``, else a constant leaf holding it.

    Numbers, arrays and integer or boolean tensors combined with a
    floating-point tensor ``like`` take its dtype; otherwise Python
    numbers take the default dtype.
    """
    if isinstance(x, Tensor):
        if like is None or x.data.dtype.kind == "f" or like.data.dtype.kind != "f":
            return x
        return Tensor._constant(x.data.astype(like.data.dtype))
    if like is not None and like.data.dtype.kind == "f":
        return Tensor._constant(np.asarray(x, dtype=like.data.dtype))
    array = np.asarray(x)
    if array.dtype.kind == "f" and not isinstance(x, (np.ndarray, np.generic)):
        array = array.astype(_default_dtype)
    return Tensor._constant(array)


# Imported last: the operations need Tensor, and bind themselves to it as methods.
from . import functions as F  # noqa: E402
