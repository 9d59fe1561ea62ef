"""``Tensor``: an n-dimensional node of a computation graph, over a numpy array.

This module holds the tensor's data, its gradient, its in-place
operations and its part in backward; the differentiable operations
themselves live in ``functions`` (each Tensor method below hands over to
the function of the same name there, and shares its docstring: ``a`` in
``functions.softmax(a, dim)``'s text is ``x`` in ``x.softmax(dim)``).

For a tensor node, the local derivative of each input is a
vector-Jacobian product (VJP): a function that takes g = dL/d(out), an
array of the output's shape, and returns dL/d(input). Broadcasting in the
forward pass means the returned array may have the output's shape rather
than the input's; ``_pullback`` sums it back down to the input's shape, so
that no operation has to undo broadcasting itself.

Gradients: ``grad`` is None until a backward reaches the tensor, then a
numpy array of the tensor's shape and dtype (0-d included), or a Tensor
after ``backward(create_graph=True)``. A leaf's gradient is an array no
other node shares (a copy, where backward's result was shared), so users
may change it in place; a later backward replaces it by a new sum and
never writes into an array it has handed out. Gradients of intermediate
nodes may be arrays shared with other nodes: read them, do not write into
them.

In-place operations (``+=``, ``add_``, ``zero_``, ``t[i] = x``, ...) change
``data`` and count a *version*. A tensor that requires gradients may be
changed in place only under ``no_grad`` (a weight update). An operation
that saved a tensor for its backward remembers the tensor's version, and
its backward raises ``RuntimeError`` if the version moved on since: the
data it would use is no longer the data of the forward pass. A view
(``reshape``, ``transpose``, basic indexing, ``detach``) shares the version
of the tensor it views, since the two share memory. Writing into
``t.data`` (a plain numpy array) directly is not counted: like PyTorch's
``.data``, it is the way around the checks.

Dtype policy: Python numbers and lists become ``get_default_dtype()``
(float32, as in PyTorch; change it with ``set_default_dtype``); numpy
arrays keep their dtype. Numbers, arrays and integer or boolean tensors
combined with a floating-point Tensor take the Tensor's dtype, so float32
work stays float32. Only float32 and float64 tensors can require gradients.
"""

import numpy as np

from .graph import BackwardError, Node, run_backward
from .memory import keep_freed_memory_once
from .mode import enable_grad, grad_mode
from .primitive import INPUTS, OUTPUT
from .primitives import ElementwiseMethods
from .recording import check_conversion, check_in_place, check_no_new_leaf, check_outside_recording
from .symbolic import ARRAYS, leaf

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_default_dtype = _FLOAT_DTYPES[0]

# An operation without settings: one shared, empty mapping (nothing ever writes into it).
_NO_PARAMS = {}


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


def _documented_by(name):
    """Mark a Tensor method whose docstring is that of ``functions.<name>``, the function it hands over to.

    The text (the math, PyTorch's meaning, the examples) is written once,
    there or, for a primitive such as ``exp``, in its definition; ``a`` in
    it is the tensor the method is called on. A marked method that writes a
    docstring of its own is refused: the text would be written twice.
    """

    def mark(method):
        if method.__doc__ is not None:
            raise TypeError(
                f"Tensor.{method.__name__} takes its docstring from functions.{name}: write the text there"
            )
        method.documented_by = name
        return method

    return mark


def _take_documentation(functions):
    """Give each Tensor method marked ``_documented_by(name)`` the docstring of ``functions[name]``.

    ``functions`` (the namespace of that module) calls it once it is
    complete: the two modules import each other, so only then, whichever
    was imported first, are both whole.
    """
    for method in vars(Tensor).values():
        name = getattr(method, "documented_by", None)
        if name is not None:
            method.__doc__ = functions[name].__doc__


def _read_only_one(dtype):
    one = np.ones((), dtype=dtype)
    one.flags.writeable = False
    return one


# The seed of backward() on one element: shared, so nothing may write into it.
_ONE = {dtype: _read_only_one(dtype) for dtype in _FLOAT_DTYPES}


class Tensor(Node, ElementwiseMethods):
    """A node holding ``data`` (a numpy array) and, after backward, ``grad``.

    ``Tensor(data, requires_grad=False, dtype=None)`` copies ``data``.
    Results of operations on tensors that require gradients require them
    too, and remember their ``children`` (the input tensors) and ``op``.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
    """

    __slots__ = (
        "data", "_grad", "_requires_grad", "label", "op", "children",
        "_definition", "_params", "_fresh", "_saved", "_version", "__weakref__",
    )
    # numpy defers to Tensor's reflected operators (array + Tensor -> Tensor)
    __array_ufunc__ = None
    _data_kind = "array"

    def __init__(self, data, requires_grad=False, dtype=None, label=""):
        if isinstance(data, Tensor):
            data = data.data
        array = _as_number_array(data, dtype, copy=True)
        if grad_mode.recording is not None:
            grad_mode.recording.made_here(self)
        self.data = array
        self._grad = None
        self.label = label
        self.op = ""
        self.children = ()
        self._definition = None
        self._params = None
        self._fresh = False
        self._saved = None
        self._version = [0]
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
            if not self._requires_grad:
                check_no_new_leaf()  # eager made this result a leaf; a recording keeps how it was computed
            raise RuntimeError(
                f"requires_grad can only be changed on a leaf tensor, this one is the result of {self.op!r}; "
                "use detach() for a copy outside the graph"
            )
        if requires_grad and self.data.dtype not in _FLOAT_DTYPES:
            raise TypeError(
                f"only float32 and float64 tensors can require gradients, this one is {self.data.dtype}; "
                "convert it first with .float() or .double()"
            )
        self._requires_grad = bool(requires_grad)
        return self

    @staticmethod
    def _apply(definition, inputs, params=_NO_PARAMS):
        """The primitive ``definition`` applied to the Tensors ``inputs`` with the settings ``params``: a new node.

        The forward pass runs on the inputs' arrays with ``xp = numpy_ops``;
        the node keeps what backward needs (see ``_record``).
        """
        if len(inputs) == 1:  # most operations: called without building a list, the commonest case is the fastest
            result = definition.forward(numpy_ops, inputs[0].data, **params)
        else:
            result = definition.forward(numpy_ops, *[x.data for x in inputs], **params)
        if definition.saves:
            result, *kept = result
            params = {**params, **dict(zip(definition.saves, kept))}
        return Tensor._record(result, definition, tuple(inputs), params)

    apply_primitive = _apply  # the public name: how an operation defined outside the engine makes its node

    @staticmethod
    def _record_function(result, definition, inputs, params):
        """The Tensor a ``Function``'s forward returned, as the node of ``definition`` applied to ``inputs``.

        The node shares the result's memory and count of in-place changes.
        """
        out = Tensor._record(result.data, definition, inputs, params)
        out._version = result._version
        return out

    @staticmethod
    def _coerce_all(inputs):
        """``inputs`` as Tensors: numbers and arrays become constants of the first Tensor's floating dtype."""
        like = next((x for x in inputs if isinstance(x, Tensor)), None)
        return tuple([as_tensor(x, like) for x in inputs])

    @staticmethod
    def _record(data, definition, children, params):
        """A new node ``definition(*children) = data``, remembering what its backward needs when it needs one.

        Only when grad mode is on and an input requires gradients is the
        node part of a graph: then it keeps its inputs, its definition and
        settings, and the versions of the tensors its rules read (checked
        at backward). A result that may view its first input's memory
        (``definition.view``) shares that input's count of in-place changes.
        """
        out = Tensor.__new__(Tensor)
        # numpy returns scalars, not 0-d arrays, from ufuncs on 0-d arrays
        out.data = data if type(data) is np.ndarray else np.asarray(data)
        out._grad = None
        out.label = ""
        out._version = children[0]._version if definition.view else [0]
        if grad_mode.enabled and definition.differentiable:
            for child in children:
                if child._requires_grad:
                    out._requires_grad = True
                    out.op = definition.name if definition.display is None else definition.display(params)
                    out.children = children
                    out._definition = definition
                    out._params = params
                    out._fresh = definition.fresh
                    reads = definition.reads
                    out._saved = _versions(out, children, reads) if reads else None
                    if grad_mode.recording is not None:
                        grad_mode.recording.made_here(out)  # in the order made: a program draws as eager did
                    return out
        recording = grad_mode.recording
        if recording is not None:
            return recording.recorded(out, definition, children, params)
        out._requires_grad = False
        out.op = ""
        out.children = ()
        out._definition = None
        out._params = None
        out._fresh = False
        out._saved = None
        return out

    @staticmethod
    def _constant(array, view_of=None):
        """A leaf around ``array`` as it is: no copy, no gradient."""
        out = Tensor.__new__(Tensor)
        out.data = array if type(array) is np.ndarray else np.asarray(array)
        out._grad = None
        out.label = ""
        out.op = ""
        out.children = ()
        out._definition = None
        out._params = None
        out._fresh = False
        out._saved = None
        out._version = [0] if view_of is None else view_of._version
        out._requires_grad = False
        if grad_mode.recording is not None:
            grad_mode.recording.made_here(out)
        return out

    # -- what it holds ---------------------------------------------------

    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        """numpy's ``size``, the number of elements, which can also be called as PyTorch's ``size()``.

        ``x.size`` is an int (``x.numel()``); ``x.size()`` is the shape and
        ``x.size(dim)`` the length of one dimension, as in PyTorch.

        >>> x = Tensor(np.zeros((2, 3)))
        >>> x.size, x.size(), x.size(-1), x.size == 6
        (6, (2, 3), 3, True)
        """
        data = self.data
        return ElementCount(data.size, data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def numel(self):
        """The number of elements.

        >>> Tensor(np.zeros((2, 3))).numel()
        6
        """
        return self.data.size

    def dim(self):
        """The number of dimensions."""
        return self.data.ndim

    def item(self):
        """The single element as a Python number.

        >>> Tensor([[2.5]]).item()
        2.5
        """
        return self._one_number("item()")

    def _one_number(self, what):
        """The single element as a Python number, for ``what`` (item(), float(), int(), an index)."""
        if self.data.size != 1:
            raise ValueError(f"{what} needs a tensor of one element, this one has shape {self.shape}")
        if grad_mode.recording is not None:
            check_conversion(self, what)
        return self.data.item()

    def tolist(self):
        """The elements as (nested) Python lists of numbers.

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
        """
        if grad_mode.recording is not None:
            check_conversion(self, "tolist()")
        return self.data.tolist()

    def numpy(self):
        """The data array itself (not a copy): writing into it bypasses the version checks.

        >>> Tensor([1.0, 2.0]).numpy()
        array([1., 2.], dtype=float32)
        """
        if grad_mode.recording is not None:
            check_conversion(self, "numpy()")
        return self.data

    def __array__(self, dtype=None, copy=None):
        """The data array, for ``np.asarray(t)``, ``np.array(t)`` and plotting libraries, as PyTorch's CPU
        tensors give it: a view of the same memory unless a ``dtype`` or ``copy=True`` asks for a new one."""
        if grad_mode.recording is not None:
            check_conversion(self, "numpy.asarray()")
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            if copy is False:
                raise ValueError(f"a {self.data.dtype} tensor cannot be read as {np.dtype(dtype)} without a copy")
            return self.data.astype(dtype)
        return self.data

    def detach(self):
        """A new leaf sharing this tensor's data (and its version count), outside the graph.

        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> y = (x * 2).detach()
        >>> y.requires_grad, y.tolist()
        (False, [2.0, 4.0])
        """
        return Tensor._apply(P.DETACH, (self,))

    def __bool__(self):
        if grad_mode.recording is not None:
            check_conversion(self, "bool()")
        return bool(self.data)

    def __float__(self):
        return float(self._one_number("float()"))

    def __int__(self):
        return int(self._one_number("int()"))

    def __index__(self):
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError(f"only a one-element integer tensor can be used as an index, this one is {self.dtype}")
        return int(self._one_number("an index"))

    __hash__ = object.__hash__

    def __format__(self, spec):
        """A format spec (``f"{loss:.4f}"``) formats the single element; without one, the tensor's repr."""
        if not spec:
            return str(self)
        if self.data.size != 1:
            raise TypeError(
                f"format spec {spec!r} needs a one-element tensor, this one has shape {self.shape}: "
                "format its elements one by one, or summarise it first (x.mean().item())"
            )
        return format(self.data.item(), spec)

    def _repr_html_(self):
        from .viz.html import tensor_html  # viz needs this module: imported when Jupyter asks

        return tensor_html(self)

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

    @property
    def grad(self):
        """d(root)/d(self) after ``root.backward()``: an array of this tensor's shape, or None."""
        return self._grad

    @grad.setter
    def grad(self, grad):
        """Set the gradient: None, or an array (a Tensor) of this tensor's shape and dtype, as PyTorch checks it.

        A number is refused, as in PyTorch (``a.grad = 0.``), and so is
        another dtype: a float64 gradient on a float32 tensor would widen
        every update made with it.
        """
        if grad_mode.recording is not None:
            check_outside_recording("setting a gradient")
        if grad is not None:
            if isinstance(grad, np.generic):
                grad = np.asarray(grad)  # a numpy number is a 0-d array with its dtype
            if not isinstance(grad, (np.ndarray, Tensor)):
                raise TypeError(
                    f"a gradient is None, a numpy array or a Tensor, got {type(grad).__name__} {grad!r}: "
                    "write x.grad = None to reset it, or an array such as numpy.zeros_like(x.data)"
                )
            if grad.shape != self.data.shape:
                raise ValueError(f"a gradient of shape {grad.shape} for a tensor of shape {self.data.shape}")
            if grad.dtype != self.data.dtype:
                raise TypeError(
                    f"a gradient of dtype {grad.dtype} for a tensor of dtype {self.data.dtype}: "
                    f"convert it first (grad.astype({self.data.dtype.name}))"
                )
        self._grad = grad

    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Fill in d(self)/d(x) for every x below this tensor, weighted by ``grad``.

        ``grad`` is dL/d(self), of this tensor's shape; it may be omitted
        for a tensor of one element (it is then 1). Leaf gradients add up
        across calls. With ``create_graph`` the gradients are Tensors,
        nodes of a new graph that can be differentiated again.
        ``retain_graph`` is accepted for PyTorch's sake and changes
        nothing: a graph here is never freed by backward, so it can always
        be run through again.

        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> (x * x).backward(grad=[1.0, 10.0])  # d(x²)/dx = 2x, weighted by grad
        >>> x.grad.tolist()
        [2.0, 40.0]
        """
        keep_freed_memory_once()
        run_backward(self, self._backward_seed(grad, create_graph), create_graph=create_graph)

    def _backward_seed(self, grad, create_graph):
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
            seed = _as_number_array(grad.data if isinstance(grad, Tensor) else grad, data.dtype, copy=False)
            if seed.shape != data.shape:
                raise ValueError(
                    f"gradient of shape {seed.shape} does not match the tensor's shape {data.shape}"
                )
            if create_graph and isinstance(grad, Tensor) and grad._requires_grad:
                # a seed that is itself a node stays one: the gradients are differentiable in it too
                return F.cast(grad, data.dtype)
        return Tensor._constant(seed) if create_graph else seed

    def _pullback(self, g, create_graph):
        if self._saved is not None:
            self._check_versions()
        if create_graph:
            return self._pullback_as_graph(g)
        definition = self._definition
        children = self.children
        params = self._params
        out = self.data
        rules = definition.vjps
        if rules is None:
            inputs = [child.data for child in children]
            shares = definition.shares(numpy_ops, g, out, inputs, params, [c._requires_grad for c in children])
        elif params is _NO_PARAMS and len(children) == 2:
            # two inputs and no settings, as arithmetic has: called without a loop, the commonest case is the fastest
            a, b = children
            x, y = a.data, b.data
            shares = (rules[0](numpy_ops, g, out, x, y) if a._requires_grad else None,
                      rules[1](numpy_ops, g, out, x, y) if b._requires_grad else None)
        elif len(children) == 1:  # one input (relu, sum, a power): no loop either
            (a,) = children
            shares = (rules[0](numpy_ops, g, out, a.data, **params) if a._requires_grad else None,)
        else:
            inputs = [child.data for child in children]
            shares = [
                rule(numpy_ops, g, out, *inputs, **params) if child._requires_grad else None
                for child, rule in zip(children, rules)
            ]
        grads = []
        for child, grad in zip(children, shares):
            if grad is not None:
                if type(grad) is not np.ndarray:
                    if isinstance(grad, tuple):
                        # one gradient per output of a node with several (a Function's): that node checks them
                        grads.append(grad)
                        continue
                    grad = np.asarray(grad)
                target = child.data
                if grad.shape != target.shape:
                    grad = np.asarray(unbroadcast(grad, target.shape))
                if grad.dtype is not target.dtype and grad.dtype != target.dtype:  # `is`: the usual case, decided fast
                    grad = grad.astype(target.dtype)
            grads.append(grad)
        return grads

    def _pullback_as_graph(self, g):
        """The shares of backward as Tensors computed by recorded operations (``create_graph``)."""
        definition = self._definition
        children = self.children
        if definition.once_differentiable:
            raise NotImplementedError(
                f"{self.op!r} has first derivatives only: it cannot be part of backward(create_graph=True)"
            )
        needs = [child._requires_grad for child in children]
        shares = definition.shares(F, g, self, children, self._params, needs)
        return [None if share is None else _conformed_node(share, child) for child, share in zip(children, shares)]

    def _written_share(self, position, g, name_of):
        """The rule that sends input ``position`` its share of g, as an expression in the nodes' names.

        ``name_of(node)`` names a node; the expression's leaves are
        ``name.grad`` (g) and ``name.data`` (the arrays), and it carries its
        value: what a trace prints.
        """
        inputs = [leaf(f"{name_of(child)}.data", child.data) for child in self.children]
        rule = self._definition.rule(position, len(inputs))
        name = name_of(self)
        upstream = leaf(f"{name}.grad", np.zeros_like(self.data) if g is None else g)
        share = rule(ARRAYS, upstream, leaf(f"{name}.data", self.data), *inputs, **self._params)
        target = self.children[position].data
        if share.shape != target.shape:
            share = unbroadcast(share, target.shape)  # as backward sums it, the sum written out
        return share if share.dtype == target.dtype else share.astype(target.dtype)

    def _tangent(self, tangents):
        """Forward mode: the tangent of this node (J·t) from its inputs' ``tangents`` (None where an input has none)."""
        if self._saved is not None:
            self._check_versions()
        definition = self._definition
        if definition.once_differentiable:
            raise NotImplementedError(
                f"{self.op!r} has first derivatives only: forward mode (jvp) cannot pass through it"
            )
        out = self.data
        inputs = [child.data for child in self.children]
        tangent = definition.tangent(numpy_ops, tangents, out, inputs, self._params, np.zeros_like)
        if tangent is NotImplemented:
            tangent = self._transposed_rules(tangents)
        if tangent is None:
            return None
        tangent = np.asarray(tangent, dtype=out.dtype)
        return tangent if tangent.shape == out.shape else np.broadcast_to(tangent, out.shape)

    def _transposed_rules(self, tangents):
        """J·t as the gradient in g of Σ ⟨vjp_k(g), t_k⟩, the rules recorded on a cotangent g of the output's shape.

        Every rule is linear in g, so that gradient is exactly J·t (the
        "double-VJP trick", applied to this one node).
        """
        cotangent = Tensor(np.zeros_like(self.data), requires_grad=True)  # any value: the rules are linear in g
        out = Tensor._constant(self.data)
        inputs = [Tensor._constant(child.data) for child in self.children]
        needs = [t is not None for t in tangents]
        with enable_grad():
            shares = self._definition.shares(F, cotangent, out, inputs, self._params, needs)
            total = None
            for share, child, t in zip(shares, self.children, tangents):
                if share is None:
                    continue
                share = _conformed_node(share, child)
                term = (share * Tensor._constant(np.asarray(t, dtype=child.data.dtype))).sum()
                total = term if total is None else total + term
        if total is None or not total._requires_grad:
            return None  # the rules do not depend on g: the operation is constant in the moving inputs
        return run_backward(total, total._backward_seed(None, False), store=False).get(cotangent)

    def _changed_since_forward(self):
        """Whether a tensor this node's backward reads was changed in place since its forward pass."""
        if self._saved is None:
            return False
        try:
            self._check_versions()
        except RuntimeError:
            return True
        return False

    def _check_versions(self):
        reads = self._definition.reads
        tensors = self.children if reads & INPUTS else ()
        if reads & OUTPUT:
            tensors = (*tensors, self)
        for tensor, expected in zip(tensors, self._saved):
            now = tensor._version[0]
            if now != expected:
                raise RuntimeError(
                    f"a tensor that {self.op!r} saved for its backward was changed in place after the "
                    f"forward pass (version {now}, expected {expected}), so its gradient would be wrong; "
                    "change a copy instead (x = x + y, not x += y), or run the forward pass again"
                )

    def _store_grad(self, g, owned, accumulate):
        current = self._grad
        if not accumulate:
            self._grad = g
        elif current is None:
            # a leaf's gradient is an array of its own, which the user may change (clipping, say)
            self._grad = g.copy() if type(g) is np.ndarray and not owned else g
        else:
            # a new array, never a write into one the user may hold (as PyTorch would)
            total = current + g if isinstance(current, Tensor) or type(g) is np.ndarray else g + current
            self._grad = np.asarray(total) if isinstance(total, np.generic) else total

    # -- what forward mode, gradcheck and nn ask of a node (see graph.Node) -

    @property
    def local_grads(self):
        """None for each child: a tensor operation's Jacobian is no number; backward applies it as a vjp."""
        return (None,) * len(self.children)

    def _new_leaf(self, numbers, requires_grad=False):
        """A new leaf holding a copy of ``numbers`` in this tensor's dtype."""
        return Tensor(numbers, requires_grad=requires_grad, dtype=self.data.dtype)

    def _as_tangent(self, t, what):
        """``t`` (an array, a Tensor or numbers) as a direction for this tensor: an array of its shape and dtype."""
        array = np.asarray(t.data if isinstance(t, Tensor) else t)
        if array.shape != self.data.shape:
            raise ValueError(f"{what} has shape {array.shape}, its input has shape {self.data.shape}")
        return array.astype(self.data.dtype, copy=False)

    def _reset_grad(self, set_to_none=True):
        """Forget the gradient: None, or with ``set_to_none=False`` zeros where there was one."""
        if grad_mode.recording is not None:
            check_outside_recording("zero_grad()")
        self._grad = None if set_to_none or self._grad is None else np.zeros_like(self.data)

    def _load_numbers(self, array):
        """Copy ``array`` (of this shape and dtype) into ``data`` in place, and count the change."""
        check_outside_recording("loading numbers into a tensor")
        np.copyto(self.data, array)
        self._bump_version()

    def _version_now(self):
        return self._version[0]

    # -- in place ----------------------------------------------------------

    def _bump_version(self):
        """Record that ``data`` was changed in place, so a backward that saved the old data refuses to run."""
        if grad_mode.recording is not None:
            check_outside_recording("changing a tensor's numbers in place")
        self._version[0] += 1

    def _check_in_place(self, operation, other=None):
        if grad_mode.recording is not None:
            check_in_place(self, operation)
        if not grad_mode.enabled:
            return
        if self._requires_grad:
            raise RuntimeError(
                f"{operation} on a tensor that requires gradients would not be recorded for backward: "
                "write the out-of-place form (loss = loss + term, not loss += term), "
                "or update weights under autodiff.no_grad()"
            )
        if isinstance(other, Tensor) and other._requires_grad:
            raise RuntimeError(
                f"{operation} with an operand that requires gradients cannot be recorded for backward, "
                "so its gradient would be lost: write the out-of-place form (acc = acc + term)"
            )

    def _in_place(self, name, ufunc, other):
        self._check_in_place(name, other)
        value = _operand_array(other, self)
        try:
            ufunc(self.data, value, out=self.data)
        except ValueError:
            raise ValueError(
                f"{name}: an operand of shape {value.shape} cannot change a tensor of shape {self.shape} in place"
            ) from None
        self._bump_version()
        return self

    def add_(self, other, alpha=1):
        """self += alpha * other, in place; returns self.

        >>> Tensor([1.0, 2.0]).add_(Tensor([10.0, 20.0]), alpha=0.5).tolist()
        [6.0, 12.0]
        """
        return self._in_place("add_", np.add, other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1):
        """self -= alpha * other, in place; returns self.

        >>> Tensor([1.0, 2.0]).sub_(Tensor([2.0, 4.0]), alpha=0.5).tolist()
        [0.0, 0.0]
        """
        return self._in_place("sub_", np.subtract, other if alpha == 1 else other * alpha)

    def mul_(self, other):
        """self *= other, in place; returns self.

        >>> Tensor([1.0, 2.0]).mul_(3.0).tolist()
        [3.0, 6.0]
        """
        return self._in_place("mul_", np.multiply, other)

    def div_(self, other):
        """self /= other, in place; returns self.

        >>> Tensor([1.0, 2.0]).div_(2.0).tolist()
        [0.5, 1.0]
        """
        return self._in_place("div_", np.divide, other)

    def __iadd__(self, other):
        return self._in_place("+=", np.add, other)

    def __isub__(self, other):
        return self._in_place("-=", np.subtract, other)

    def __imul__(self, other):
        return self._in_place("*=", np.multiply, other)

    def __itruediv__(self, other):
        return self._in_place("/=", np.divide, other)

    def copy_(self, source):
        """Copy ``source`` (broadcast to this shape) into this tensor's data; returns self.

        >>> Tensor(np.zeros((2, 2))).copy_(Tensor([1.0, 2.0])).tolist()
        [[1.0, 2.0], [1.0, 2.0]]
        """
        return self._in_place("copy_", _assign, source)

    def fill_(self, value):
        """Set every element to ``value``; returns self.

        >>> Tensor([1.0, 2.0]).fill_(7.0).tolist()
        [7.0, 7.0]
        """
        return self._in_place("fill_", _assign, value)

    def zero_(self):
        """Set every element to 0; returns self.

        >>> Tensor([1.0, 2.0]).zero_().tolist()
        [0.0, 0.0]
        """
        return self._in_place("zero_", _assign, 0)

    def clamp_(self, min=None, max=None):
        """Limit every element to [min, max] in place (either may be None); returns self.

        >>> Tensor([-2.0, 0.5, 3.0]).clamp_(min=0.0).tolist()
        [0.0, 0.5, 3.0]
        """
        self._check_in_place("clamp_")
        if min is None and max is None:
            raise ValueError("clamp_ needs a lower bound, an upper bound, or both")
        np.clip(self.data, min, max, out=self.data)
        self._bump_version()
        return self

    def __setitem__(self, index, value):
        self._check_in_place("item assignment", value)
        parts = index if isinstance(index, tuple) else (index,)
        index = tuple([part.data if isinstance(part, Tensor) else part for part in parts])
        self.data[index] = _operand_array(value, self)
        self._bump_version()

    # -- operations, from ``functions`` ----------------------------------------

    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(as_tensor(other, self), self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(as_tensor(other, self), self)

    def __mul__(self, other):
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(as_tensor(other, self), self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(as_tensor(other, self), self)

    def __pow__(self, other):
        return F.pow(self, other)

    def __rpow__(self, other):
        return F.pow(as_tensor(other, self), self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(as_tensor(other, self), self)

    def __neg__(self):
        return F.neg(self)

    def __abs__(self):
        return Tensor._apply(P.ABS, (self,))

    def __getitem__(self, index):
        return F.getitem(self, index)

    def __lt__(self, other):
        return F.lt(self, other)

    def __le__(self, other):
        return F.le(self, other)

    def __gt__(self, other):
        return F.gt(self, other)

    def __ge__(self, other):
        return F.ge(self, other)

    def __eq__(self, other):
        return F.eq(self, other)

    def __ne__(self, other):
        return F.ne(self, other)

    def __and__(self, other):
        return F.logical_and(self, other)

    __rand__ = __and__

    def __or__(self, other):
        return F.logical_or(self, other)

    __ror__ = __or__

    def __xor__(self, other):
        return F.logical_xor(self, other)

    __rxor__ = __xor__

    def __invert__(self):
        return F.logical_not(self)

    @_documented_by("lt")
    def lt(self, other):
        return F.lt(self, other)

    @_documented_by("le")
    def le(self, other):
        return F.le(self, other)

    @_documented_by("gt")
    def gt(self, other):
        return F.gt(self, other)

    @_documented_by("ge")
    def ge(self, other):
        return F.ge(self, other)

    @_documented_by("eq")
    def eq(self, other):
        return F.eq(self, other)

    @_documented_by("ne")
    def ne(self, other):
        return F.ne(self, other)

    @_documented_by("pow")
    def pow(self, exponent):
        return F.pow(self, exponent)

    @_documented_by("exp")
    def exp(self):
        return Tensor._apply(P.EXP, (self,))

    @_documented_by("log")
    def log(self):
        return Tensor._apply(P.LOG, (self,))

    @_documented_by("log2")
    def log2(self):
        return F.log2(self)

    @_documented_by("log10")
    def log10(self):
        return F.log10(self)

    @_documented_by("sqrt")
    def sqrt(self):
        return Tensor._apply(P.SQRT, (self,))

    @_documented_by("abs")
    def abs(self):
        return Tensor._apply(P.ABS, (self,))

    @_documented_by("sign")
    def sign(self):
        return F.sign(self)

    @_documented_by("sin")
    def sin(self):
        return Tensor._apply(P.SIN, (self,))

    @_documented_by("cos")
    def cos(self):
        return Tensor._apply(P.COS, (self,))

    @_documented_by("masked_fill")
    def masked_fill(self, mask, value):
        return F.masked_fill(self, mask, value)

    @_documented_by("tril")
    def tril(self, diagonal=0):
        return F.tril(self, diagonal)

    @_documented_by("triu")
    def triu(self, diagonal=0):
        return F.triu(self, diagonal)

    @_documented_by("tanh")
    def tanh(self):
        return Tensor._apply(P.TANH, (self,))

    @_documented_by("relu")
    def relu(self):
        return Tensor._apply(P.RELU, (self,))

    @_documented_by("sigmoid")
    def sigmoid(self):
        return Tensor._apply(P.SIGMOID, (self,))

    @_documented_by("clip")
    def clip(self, low=None, high=None):
        return F.clip(self, low, high)

    @_documented_by("clip")
    def clamp(self, min=None, max=None):
        return F.clip(self, min, max)

    @_documented_by("sum")
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None):
        return F.sum(self, axis, keepdims, dim=dim, keepdim=keepdim, dtype=dtype)

    @_documented_by("mean")
    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return F.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    @_documented_by("max")
    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return F.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    @_documented_by("min")
    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return F.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    @_documented_by("argmax")
    def argmax(self, dim=None, keepdim=False, *, axis=None):
        return F.argmax(self, dim, keepdim, axis=axis)

    @_documented_by("argmin")
    def argmin(self, dim=None, keepdim=False, *, axis=None):
        return F.argmin(self, dim, keepdim, axis=axis)

    @_documented_by("logsumexp")
    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return F.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)

    @_documented_by("softmax")
    def softmax(self, axis=None, *, dim=None):
        return F.softmax(self, axis, dim=dim)

    @_documented_by("log_softmax")
    def log_softmax(self, axis=None, *, dim=None):
        return F.log_softmax(self, axis, dim=dim)

    @_documented_by("reshape")
    def reshape(self, *shape):
        return F.reshape(self, *shape)

    @_documented_by("view")
    def view(self, *shape):
        return F.view(self, *shape)

    def is_contiguous(self):
        """Whether the elements lie in memory in row-major order (C-contiguous), as ``view`` needs them.

        >>> x = Tensor(np.zeros((2, 3)))
        >>> x.is_contiguous(), x.T.is_contiguous()
        (True, False)
        """
        return bool(self.data.flags.c_contiguous)

    def contiguous(self):
        """This tensor with its elements in row-major order, as PyTorch's ``contiguous``: itself where they
        already are, else a copy laid out so (a ``clone`` in the graph, dL/dself = g).

        >>> x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        >>> x.contiguous() is x, x.T.contiguous().view(-1).tolist()
        (True, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0])
        """
        # clone's copy is numpy's ndarray.copy(), in C order whatever the layout it copies
        return self if self.is_contiguous() else F.clone(self)

    def view_as(self, other):
        """The same elements in the shape of ``other``.

        >>> Tensor([1.0, 2.0, 3.0, 4.0]).view_as(Tensor(np.zeros((2, 2)))).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
        """
        return F.reshape(self, other.shape)

    @_documented_by("transpose")
    def transpose(self, *axes):
        return F.transpose(self, *axes)

    @_documented_by("permute")
    def permute(self, *dims):
        return F.permute(self, *dims)

    @_documented_by("swapaxes")
    def swapaxes(self, axis1, axis2):
        return F.swapaxes(self, axis1, axis2)

    @property
    def T(self):
        """The axes reversed: the matrix transpose for 2-D.

        >>> Tensor([[1.0, 2.0, 3.0]]).T.tolist()
        [[1.0], [2.0], [3.0]]
        """
        return F.transpose(self)

    @_documented_by("flatten")
    def flatten(self, start_dim=0, end_dim=-1):
        return F.flatten(self, start_dim, end_dim)

    @_documented_by("unsqueeze")
    def unsqueeze(self, dim):
        return F.unsqueeze(self, dim)

    @_documented_by("squeeze")
    def squeeze(self, dim=None):
        return F.squeeze(self, dim)

    @_documented_by("broadcast_to")
    def expand(self, *shape):
        return F.broadcast_to(self, *shape)

    def float(self):
        """This tensor in float32 (itself if it already is).

        >>> Tensor(np.array([1, 2])).float().dtype
        dtype('float32')
        """
        return F.cast(self, np.float32)

    def double(self):
        """This tensor in float64 (itself if it already is).

        >>> Tensor([1.0, 2.0]).double().dtype
        dtype('float64')
        """
        return F.cast(self, np.float64)

    def long(self):
        """This tensor in int64, outside the graph."""
        return F.cast(self, np.int64)

    def int(self):
        """This tensor in int32, outside the graph."""
        return F.cast(self, np.int32)

    def bool(self):
        """This tensor as booleans, outside the graph."""
        return F.cast(self, np.bool_)

    def to(self, *args, dtype=None, device=None):
        """This tensor in ``dtype``, on ``device`` (the CPU: the only one), as ``Tensor.to`` in PyTorch."""
        dtype = to_arguments(args, dtype, device)
        return self if dtype is None else F.cast(self, dtype)

    @property
    def device(self):
        """Where the data lives: always the CPU."""
        return Device("cpu")

    def cpu(self):
        """This tensor itself: its data is on the CPU already (PyTorch's ``x.cpu()`` ports unchanged)."""
        return self

    @_documented_by("clone")
    def clone(self):
        return F.clone(self)

    def t(self):
        """The transpose of a matrix (a 0-d or 1-D tensor as it is), PyTorch's ``t()``."""
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor of at most 2 dimensions, this one has shape {self.shape}")
        return F.transpose(self) if self.ndim == 2 else self

    def nelement(self):
        """The number of elements (PyTorch's other name for ``numel``)."""
        return self.data.size

    @_documented_by("var")
    def var(self, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None):
        return F.var(self, dim, correction=correction, keepdim=keepdim, unbiased=unbiased, axis=axis, keepdims=keepdims)

    @_documented_by("std")
    def std(self, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None):
        return F.std(self, dim, correction=correction, keepdim=keepdim, unbiased=unbiased, axis=axis, keepdims=keepdims)

    @_documented_by("split")
    def split(self, split_size_or_sections, dim=0):
        return F.split(self, split_size_or_sections, dim)


class ElementCount(int):
    """The number of elements of a shape, as an int, that also answers PyTorch's ``size()`` and ``size(dim)``.

    numpy names the element count ``size`` and PyTorch the shape method
    ``size()``: this int is the first and, called, the second, so code
    written for either reads the same. Arithmetic on it gives plain ints.
    """

    def __new__(cls, count, shape):
        element_count = super().__new__(cls, count)
        element_count.shape = shape
        return element_count

    def __call__(self, dim=None):
        if dim is None:
            return self.shape
        ndim = len(self.shape)
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"size(dim) takes one integer dimension, got {type(dim).__name__} {dim!r}")
        if not -ndim <= dim < ndim:
            raise IndexError(f"dimension {dim} is out of range for a tensor of shape {self.shape}")
        return self.shape[dim]

    def __reduce__(self):
        return int, (int(self),)  # pickled (and copied) as the plain number it is


class Device:
    """Where a tensor's data lives, as ``torch.device``: here always the CPU, so that ``.to(device)`` ports.

    ``device("cpu")``, ``device("cpu:0")``, ``device("cpu", 0)`` or another
    ``device``; any other device is refused with a ValueError naming it.
    """

    def __init__(self, kind="cpu", index=None):
        if isinstance(kind, Device):
            kind, index = kind.type, kind.index if index is None else index
        if not isinstance(kind, str):
            raise TypeError(f"a device is named by a string such as 'cpu', got {type(kind).__name__} {kind!r}")
        name, colon, number = kind.partition(":")
        if name != "cpu":
            raise ValueError(f"autodiff computes on the CPU only (numpy); there is no device {kind!r}")
        if colon:
            if not number.isdigit() or index is not None:
                raise ValueError(f"{kind!r} is not a device name: write 'cpu' or 'cpu:0'")
            index = int(number)
        self.type = "cpu"
        self.index = index

    def __eq__(self, other):
        return isinstance(other, (Device, str)) and str(other).split(":")[0] == "cpu"

    __hash__ = object.__hash__

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{index})"


def to_arguments(args, dtype=None, device=None):
    """The dtype that ``to(*args, dtype=, device=)`` asks for (None: keep it); any device but the CPU is refused."""
    for arg in args:
        if isinstance(arg, Device) or (isinstance(arg, str) and not _names_a_dtype(arg)):
            device = arg
        else:
            dtype = arg
    if device is not None:
        Device(device)
    return dtype


def _names_a_dtype(name):
    try:
        np.dtype(name)
    except TypeError:
        return False
    return True


def _assign(target, value, out):
    np.copyto(out, value)


def _operand_array(other, target):
    """The numbers of ``other`` for an in-place change of ``target``: read at once, so never copied first."""
    if isinstance(other, Tensor):
        return other.data
    return _as_number_array(other, target.data.dtype if target.data.dtype.kind == "f" else None, copy=False)


def _versions(out, children, reads):
    """The versions, now, of the tensors the rules will read: the inputs, then the output (as ``reads`` says)."""
    if not reads & INPUTS:
        saved = []
    elif len(children) == 1:  # most operations: no loop, the commonest case is the fastest
        saved = [children[0]._version[0]]
    else:
        saved = [child._version[0] for child in children]
    if reads & OUTPUT:
        saved.append(out._version[0])
    return saved


def _as_number_array(data, dtype, copy):
    """``data`` as a numpy array of numbers: Python floats become the default dtype, anything not a number is refused."""
    if data is None:
        raise TypeError("a Tensor holds numbers, got None")
    if isinstance(data, Node):
        raise TypeError(f"Values and Tensors do not mix: got {data!r}; use Tensors throughout")
    from_numpy = isinstance(data, (np.ndarray, np.generic))
    array = np.asarray(data)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"a Tensor holds real numbers, got an array of dtype {array.dtype}")
    if dtype is not None:
        return array.astype(dtype, copy=copy and from_numpy)
    if array.dtype.kind == "f" and not from_numpy:
        return array.astype(_default_dtype, copy=False)
    return array.copy() if copy and from_numpy else array


def _conformed_node(grad, child):
    """A gradient made under create_graph as a Tensor of the child's shape and dtype."""
    if not isinstance(grad, Tensor):
        if isinstance(grad, tuple):
            return grad  # one gradient per output of a node with several (a Function's): that node checks them
        grad = Tensor._constant(np.asarray(grad))
    if grad.shape != child.shape:
        grad = unbroadcast(grad, child.shape)
    if grad.dtype != child.dtype:
        grad = F.cast(grad, child.dtype)
    return grad


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting stretched to reach its shape from ``shape``.

    If x of shape ``shape`` was broadcast to y, then dL/dx is dL/dy summed
    over every axis along which x was repeated. Works on arrays and on
    Tensors (where the sum is itself recorded).
    """
    extra = grad.ndim - len(shape)
    if extra < 0 or any([n != 1 and n != m for n, m in zip(shape, grad.shape[extra:])]):
        raise ValueError(f"a gradient of shape {grad.shape} cannot flow into a tensor of shape {shape}")
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple([axis for axis, n in enumerate(shape) if n == 1 and grad.shape[axis] != 1])
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def as_tensor(x, like=None):
    """``x`` itself if it is a Tensor that can meet ``like``, else a constant leaf holding it.

    Numbers, arrays and integer or boolean tensors combined with a
    floating-point tensor ``like`` take its dtype; otherwise Python
    numbers take the default dtype. A numpy array is copied, so that
    changing it later cannot change a gradient computed from it.
    """
    if isinstance(x, Tensor):
        if like is None or x.data.dtype.kind == "f" or like.data.dtype.kind != "f":
            return x
        return Tensor._constant(x.data.astype(like.data.dtype))
    if like is not None and like.data.dtype.kind == "f":
        return Tensor._constant(_as_number_array(x, like.data.dtype, copy=True))
    return Tensor._constant(_as_number_array(x, None, copy=True))


def numbers_of(x):
    """The numbers ``x`` holds, as a numpy array: a node's data (a Tensor's array itself, a Value's number
    as a 0-d float64 array), anything else (numbers, lists, arrays) as ``numpy.asarray`` reads it."""
    return np.asarray(x.data if isinstance(x, Node) else x)


# Imported last: they need Tensor.
from . import functions as F  # noqa: E402
from . import numpy_ops  # noqa: E402
from . import primitives as P  # noqa: E402
