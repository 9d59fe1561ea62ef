"""``Function``: your own operation, with PyTorch's protocol (``torch.autograd.Function``).

Subclass ``Function`` and write two static methods:

- ``forward(ctx, *args, **kwargs)`` computes the result from the
  arguments as given (Tensors, Values or any Python object). It runs
  without recording a graph and returns a Tensor or a Value, or a tuple of
  them (several outputs). What backward will need goes on ``ctx``:
  ``ctx.save_for_backward(*tensors)`` for inputs or outputs, any other
  attribute for anything else.
- ``backward(ctx, *grads)`` gets one gradient per output of ``forward``,
  gₖ = dL/d(outputₖ), and returns one per argument of ``forward``,

      dL/d(argument) = Σₖ gₖ · d(outputₖ)/d(argument)

  (a vector-Jacobian product), or None where there is none. Written with
  the engine's operations it is differentiable again
  (``create_graph=True``, ``autodiff.grad``).

``MyFunction.apply(*args)`` runs it and returns what ``forward`` returned,
now part of the graph. An optional ``jvp(ctx, *tangents)`` serves forward
mode (``autodiff.jvp``): one tangent per argument of ``forward`` in (None
where it has none), dOutput = Σ d(output)/d(argument) · tangent out, one
per output. PyTorch's newer spelling, ``forward(*args)`` without ``ctx``
plus ``setup_context(ctx, inputs, output)``, works too.

What ``ctx`` offers, as in PyTorch: ``save_for_backward`` and
``saved_tensors`` (which refuses a tensor changed in place since the
forward pass), ``needs_input_grad`` (per argument: is its gradient
wanted?), ``mark_non_differentiable`` (outputs without a gradient, such as
indices: backward receives zeros for them), ``set_materialize_grads(False)``
(None instead of zeros for outputs that got no gradient) and
``save_for_forward`` (what ``jvp`` reads as ``saved_tensors``).

How the engine records it:

- One output: one node, named after the class, whose rule calls
  ``backward``. It is a primitive like ``*`` or ``exp``, so backward,
  ``create_graph``, traces and pictures treat it as they treat those.
- Several outputs: ``backward`` must be called once, with every output's
  gradient, but the backward driver (``graph.run_backward``) walks nodes,
  and each output is a node of its own. So the application is a node too,
  a ``FunctionNode`` hidden between the arguments (its children) and the
  outputs: each output is a node whose one child is the FunctionNode (op
  ``[k]``, output k of it). Output k passes its gradient on in slot k of
  an ``OutputGradients`` tuple, which adds slot by slot; the driver adds
  up what the outputs send, and reaches the FunctionNode only after every
  output that the loss depends on, so by then every slot that will be
  filled is. The FunctionNode then calls ``backward`` once, with zeros (or
  None) in the slots of outputs that got no gradient.
"""

import functools
import inspect
from numbers import Real

import numpy as np

from . import numpy_ops, operators
from .factories import from_numpy
from .graph import Node
from .mode import enable_grad, grad_mode, no_grad
from .primitive import Primitive
from .symbolic import Expression, NotWritable
from .tensor import Tensor, unbroadcast
from .value import Value

# The namespaces of plain backward (on arrays, on floats): there a rule's g is a number, not a node.
_PLAIN = (numpy_ops, operators)


class FunctionCtx:
    """``ctx``: what ``forward`` leaves for ``backward`` (and ``jvp``), as in PyTorch.

    ``needs_input_grad`` says, for each argument of ``forward``, whether
    its gradient is wanted (a Tensor that requires gradients, or a Value);
    ``save_for_backward`` keeps tensors (or Values), ``saved_tensors``
    gives them back and refuses if one was changed in place since;
    ``mark_non_differentiable`` marks outputs that have no gradient
    (indices); ``set_materialize_grads(False)`` makes backward receive
    None, not zeros, for outputs that got no gradient. Any other attribute
    may be set freely.
    """

    def __init__(self, function, needs_input_grad):
        self._function = function
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._saved = ()
        self._saved_versions = ()
        self._saved_for_forward = None
        self._non_differentiable = ()
        self._reading_for_jvp = False
        # While a create_graph backward runs: id of each output forward returned -> its node in the graph,
        # so that a saved output is differentiated as the node it is, not as a constant.
        self._output_nodes = None
        # Set by apply once forward has run:
        self._engine = None  # Tensor or Value
        self._outputs = ()  # what forward returned, as a tuple
        self._differentiable = ()  # for each output, whether it has a gradient
        self._positions = ()  # the positions of forward's arguments that are nodes
        self._count = 0  # how many positional arguments forward took

    def save_for_backward(self, *tensors):
        """Keep ``tensors`` (inputs or outputs of ``forward``, or None) for ``backward``."""
        self._saved = self._checked_to_save(tensors, "save_for_backward")
        self._saved_versions = tuple(_version_of(tensor) for tensor in tensors)

    def save_for_forward(self, *tensors):
        """Keep ``tensors`` for ``jvp``, which reads them as ``saved_tensors``."""
        self._saved_for_forward = (self._checked_to_save(tensors, "save_for_forward"),
                                   tuple(_version_of(tensor) for tensor in tensors))

    def _checked_to_save(self, tensors, method):
        for position, tensor in enumerate(tensors):
            if tensor is not None and not isinstance(tensor, Node):
                raise TypeError(
                    f"{self._function.__name__}: {method} takes Tensors, Values or None, got a "
                    f"{type(tensor).__name__} at position {position}; keep other objects as attributes of ctx"
                )
        return tensors

    @property
    def saved_tensors(self):
        """What ``save_for_backward`` kept (in ``jvp``: ``save_for_forward``); RuntimeError if one changed since."""
        saved, versions = self._saved, self._saved_versions
        if self._reading_for_jvp and self._saved_for_forward is not None:
            saved, versions = self._saved_for_forward
        for position, (tensor, version) in enumerate(zip(saved, versions)):
            if _version_of(tensor) != version:
                raise RuntimeError(
                    f"a tensor that {self._function.__name__} saved for its backward (position {position}) was "
                    f"changed in place after the forward pass (version {_version_of(tensor)}, expected {version}), "
                    "so its gradient would be wrong; change a copy instead, or run the forward pass again"
                )
        nodes = self._output_nodes
        if nodes is None:
            return saved
        return tuple(nodes.get(id(tensor), tensor) for tensor in saved)

    def mark_non_differentiable(self, *outputs):
        """Mark outputs of ``forward`` that have no gradient: they come back outside the graph, and
        ``backward`` receives zeros for them."""
        self._non_differentiable = self._non_differentiable + outputs

    def set_materialize_grads(self, value):
        """With False, ``backward`` receives None for an output whose gradient was not computed (else zeros)."""
        self.materialize_grads = bool(value)


def _version_of(tensor):
    return None if tensor is None else tensor._version_now()


class Function:
    """Your own operation: subclass it, write ``forward`` and ``backward``, call ``apply``.

    >>> import autodiff
    >>> class Cube(autodiff.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         (x,) = ctx.saved_tensors
    ...         return 3 * x ** 2 * grad
    >>> x = autodiff.tensor([1.0, 2.0], requires_grad=True)
    >>> y = Cube.apply(x)
    >>> y.op
    'Cube'
    >>> y.sum().backward()
    >>> x.grad
    array([ 3., 12.], dtype=float32)
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function defines forward(ctx, *args) as a @staticmethod")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context(ctx, inputs, output) goes with a forward(*args) that takes no ctx")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("a Function defines backward(ctx, *grads) as a @staticmethod")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` on ``args`` and record it in the graph; returns what ``forward`` returned.

        The outputs are new nodes sharing the data of ``forward``'s: one
        output is a node named after this class; several hang from one
        ``FunctionNode`` named after it (see the module's docstring).
        """
        result, ctx = _run_forward(cls, args, kwargs)
        inputs = tuple(args[position] for position in ctx._positions)
        engine, outputs, differentiable = ctx._engine, ctx._outputs, ctx._differentiable
        several = isinstance(result, tuple)
        if not (grad_mode.enabled and any(_wants_grad(x) for x in inputs)) and grad_mode.recording is None:
            # nothing to record: forward's own results, outside any graph (while compile or export records a
            # call, the node is kept all the same: forward may have computed from the numbers directly)
            return result
        if not several:
            params = {"arguments": (args, kwargs), "ctx": ctx}
            return engine._record_function(result, _primitive_of(cls), inputs, params) \
                if differentiable[0] else _outside_graph(engine, result, inputs)
        node = FunctionNode(ctx, inputs)
        return tuple(
            _output_of(node, position) if differentiable[position] else _outside_graph(engine, output, inputs)
            for position, output in enumerate(outputs)
        )


def _run_forward(cls, args, kwargs):
    """``cls.forward`` run on ``args`` without recording: its result, and the ``ctx`` it filled in."""
    separate_setup = _definition_checked(cls)
    positions = tuple(position for position, arg in enumerate(args) if isinstance(arg, Node))
    engine = _engine_of(cls, tuple(args[position] for position in positions), kwargs)
    ctx = FunctionCtx(cls, tuple(_wants_grad(arg) for arg in args))
    with no_grad():
        if separate_setup:
            result = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, result)
        else:
            result = cls.forward(ctx, *args, **kwargs)
    several = isinstance(result, tuple)
    outputs = result if several else (result,)
    engine = _outputs_checked(cls, outputs, engine, several)
    ctx._engine, ctx._outputs, ctx._differentiable = engine, outputs, _differentiable(ctx, engine, outputs)
    ctx._positions, ctx._count = positions, len(args)
    return result, ctx


def _wants_grad(arg):
    """Whether ``arg``'s gradient is wanted: a Tensor that requires gradients, or any Value (they all may)."""
    return isinstance(arg, Node) and arg._requires_grad


def _definition_checked(cls):
    """Whether ``cls`` uses ``setup_context``; refuses a forward or backward that is not a static method."""
    checked = cls.__dict__.get("_uses_setup_context")
    if checked is not None:
        return checked
    for name in ("forward", "backward", "setup_context", "jvp"):
        method = inspect.getattr_static(cls, name, None)
        if method is not None and not isinstance(method, staticmethod):
            raise TypeError(
                f"{cls.__name__}.{name} must be a @staticmethod ({name}(ctx, ...)), as in PyTorch"
            )
    if cls.forward is Function.forward:
        raise NotImplementedError(f"{cls.__name__} defines no forward: write @staticmethod forward(ctx, *args)")
    cls._uses_setup_context = uses = cls.setup_context is not Function.setup_context
    return uses


def _engine_of(cls, inputs, kwargs):
    """Tensor or Value, whichever the node arguments ``inputs`` are (None: none); refuses a mix and nodes by keyword."""
    for name, value in kwargs.items():
        if isinstance(value, Node):
            raise TypeError(
                f"{cls.__name__}.apply: the keyword argument {name} is a {type(value).__name__}; pass Tensors "
                "and Values positionally, so that backward can return their gradients"
            )
    engines = {type(arg) for arg in inputs}
    if len(engines) > 1:
        raise TypeError(f"{cls.__name__}.apply: Values and Tensors do not mix; use Tensors throughout")
    return engines.pop() if engines else None


def _outputs_checked(cls, outputs, engine, several):
    """The engine of ``forward``'s outputs; refuses anything that is not a node of the arguments' engine."""
    if several and not outputs:
        raise TypeError(f"{cls.__name__}.forward returned an empty tuple; return a Tensor or a Value, or a tuple of them")
    for position, output in enumerate(outputs):
        where = f" (output {position})" if several else ""
        if not isinstance(output, Node):
            raise TypeError(
                f"{cls.__name__}.forward returned a {type(output).__name__}{where}; it must return Tensors or "
                "Values (keep other results as attributes of ctx)"
            )
        if engine is None:
            engine = type(output)
        elif type(output) is not engine:
            raise TypeError(
                f"{cls.__name__}.forward returned a {type(output).__name__}{where} for {engine.__name__} arguments"
            )
    return engine


def _differentiable(ctx, engine, outputs):
    """For each output, whether it has a gradient: not marked non-differentiable, and (a Tensor) floating-point."""
    marked = ctx._non_differentiable
    for tensor in marked:
        if not any(tensor is output for output in outputs):
            raise ValueError(
                f"{ctx._function.__name__}: mark_non_differentiable was given a {type(tensor).__name__} "
                "that forward did not return; mark outputs only"
            )
    return [
        not any(output is tensor for tensor in marked) and (engine is Value or output.dtype.kind == "f")
        for output in outputs
    ]


def _outside_graph(engine, output, inputs):
    """A non-differentiable output as it is, or, if it is an argument or in a graph, a copy of it outside any."""
    if engine is Value:
        return Value(output.data) if any(output is x for x in inputs) or output.children else output
    return output.detach() if output.requires_grad else output


# -- one output: a primitive whose rule calls backward ---------------------------------------------


def _primitive_of(cls):
    """The primitive through which the engine runs ``cls`` when it has one output: made once per class."""
    primitive = cls.__dict__.get("_primitive")
    if primitive is None:
        primitive = Primitive(
            cls.__name__, functools.partial(_forward_again, cls), vjp_all=_function_rule, jvp=_function_tangent,
            saves=("ctx",), reads=0, doc=cls.__doc__,
        )
        primitive.function = cls
        cls._primitive = primitive
    return primitive


def _forward_again(cls, xp, *inputs, arguments):
    """``cls.forward`` on new numbers for its node arguments, the others as in ``arguments``: (data, ctx).

    What a compiled program runs at every call (``autodiff.compile``), as
    ``apply`` ran it the first time.
    """
    args, kwargs = arguments
    args = list(args)
    for position, number in zip([p for p, arg in enumerate(args) if isinstance(arg, Node)], inputs):
        args[position] = args[position]._new_leaf(number)
    result, ctx = _run_forward(cls, tuple(args), kwargs)
    return result.data, ctx


def _function_rule(xp, g, out, *inputs, ctx, needs, arguments=None):
    """The rule of a one-output Function's node: ``backward(ctx, g)``, one share per node argument.

    In plain backward g, out and the inputs are numbers (floats or
    arrays); under create_graph they are nodes, and ``out`` is the node
    itself (what a saved output stands for).
    """
    if isinstance(g, Expression):
        raise NotWritable("a Function's backward is Python code of its own: it is called, not written out")
    create_graph = xp not in _PLAIN
    upstream = g if create_graph else _as_node(ctx._engine, g)
    output_nodes = {id(ctx._outputs[0]): out} if create_graph else None
    return _call_backward(ctx, (upstream,), inputs, needs, create_graph, output_nodes)


def _function_tangent(xp, tangents, out, *inputs, ctx, arguments=None):
    """Forward mode through a one-output Function: its ``jvp``."""
    (tangent,) = _call_jvp(ctx, tangents)
    return tangent


# -- several outputs: a hidden node of the application -----------------------------------------------


class OutputGradients(tuple):
    """One gradient per output of a Function with several, None where an output sent none yet.

    Output k sends its gradient in slot k (None in the others); ``+``
    adds two of them slot by slot, so the backward driver, which adds up
    what every user of a node sends it, gathers the outputs' gradients.
    """

    __slots__ = ()

    @classmethod
    def single(cls, position, count, g):
        return cls(g if k == position else None for k in range(count))

    def __add__(self, other):
        return OutputGradients(
            mine if theirs is None else theirs if mine is None else mine + theirs for mine, theirs in zip(self, other)
        )


def _output_rule(xp, g, out, application, *, position, count):
    if isinstance(g, Expression):
        raise NotWritable("an output of a Function with several passes its gradient on in its slot")
    return OutputGradients.single(position, count, g)


def _output_tangent(xp, tangents, out, application, *, position, count):
    (tangent,) = tangents
    return None if tangent is None else tangent[position]


OUTPUT = Primitive(
    "output", lambda xp, outputs, *, position, count: outputs[position], vjps=(_output_rule,),
    jvp=_output_tangent, reads=0, display=lambda params: f"[{params['position']}]",
    doc="Output k of a Function with several outputs: its gradient goes on in slot k of the Function's node.",
)


def _output_of(node, position):
    """Output ``position`` of the Function whose application is ``node``, as a node of the graph."""
    ctx = node.ctx
    return ctx._engine._record_function(
        ctx._outputs[position], OUTPUT, (node,), {"position": position, "count": len(ctx._outputs)}
    )


class FunctionNode(Node):
    """One application of a Function with several outputs: the node between its arguments and its outputs.

    ``children`` are the arguments of ``forward`` that are nodes; each
    output is a node whose only child is this one. ``data`` is the tuple
    of the outputs' data, ``op`` the Function's name, and the gradient
    this node receives is an ``OutputGradients``: one per output. Its
    chain rule calls ``backward`` once with all of them.
    """

    __slots__ = ("ctx", "children", "data", "grad", "op", "label", "__weakref__")
    _fresh = False  # the shares are the user's tensors: never added into in place
    _requires_grad = True  # the outputs are recorded only if some argument requires gradients
    _data_kind = "outputs"

    def __init__(self, ctx, inputs):
        self.ctx = ctx
        self.children = inputs
        self.data = tuple(output.data for output in ctx._outputs)
        self.grad = None
        self.op = ctx._function.__name__
        self.label = ""

    @property
    def local_grads(self):
        """No number per input: with several outputs, d(outputs)/d(input) is one per output (see ``backward``)."""
        return (None,) * len(self.children)

    def _pullback(self, g, create_graph):
        ctx = self.ctx
        engine = ctx._engine
        grads = []
        for output, grad in zip(ctx._outputs, g):
            if grad is None:
                # zeros of the output's shape and dtype, a constant
                grad = output._new_leaf(np.zeros_like(output.data)) if ctx.materialize_grads else None
            elif not create_graph:
                grad = _as_node(engine, grad)
            grads.append(grad)
        needs = [child._requires_grad for child in self.children]
        output_nodes = None
        if create_graph:
            saved = {id(tensor) for tensor in ctx._saved}
            output_nodes = {id(output): _output_of(self, position) for position, output in enumerate(ctx._outputs)
                            if id(output) in saved and ctx._differentiable[position]}
        return _call_backward(ctx, grads, self.children, needs, create_graph, output_nodes)

    def _tangent(self, tangents):
        return tuple(_call_jvp(self.ctx, tangents))

    def _written_share(self, position, g, name_of):
        raise NotWritable(f"{self.op}.backward is Python code of its own: it is called, not written out")

    def _store_grad(self, g, owned, accumulate):
        self.grad = g

    def __repr__(self):
        return f"FunctionNode({self.op}, {len(self.data)} outputs)"


# -- calling backward and jvp, and checking what they return ----------------------------------------


def _call_backward(ctx, grads, inputs, needs, create_graph, output_nodes):
    """``backward(ctx, *grads)``, checked: one share for each node argument (None where none is needed).

    ``inputs`` are the node arguments (or, in plain backward, their
    numbers). The shares are numbers in plain backward, nodes under
    create_graph (where a ``once_differentiable`` backward's shares refuse
    to be differentiated again).
    """
    cls = ctx._function
    backward = cls.backward
    if backward is Function.backward:
        raise NotImplementedError(f"{cls.__name__} defines no backward: write @staticmethod backward(ctx, *grads)")
    once = getattr(backward, "once_differentiable", False)
    ctx._output_nodes = output_nodes
    try:
        with enable_grad() if create_graph and not once else no_grad():
            returned = backward(ctx, *grads)
    finally:
        ctx._output_nodes = None
    returned = _one_per_argument(ctx, returned)
    shares = []
    for node_position, argument in enumerate(ctx._positions):
        grad = returned[argument]
        if grad is None or not needs[node_position]:
            shares.append(None)
            continue
        share = _checked_gradient(ctx, grad, argument, inputs[node_position], create_graph)
        if create_graph and once:
            share = _refusing_second_derivative(cls, share, (*grads, *inputs))
        shares.append(share)
    return shares


def _one_per_argument(ctx, returned):
    """``backward``'s result as one entry per argument of forward (a single one may come bare), or an error."""
    name, count = ctx._function.__name__, ctx._count
    if not isinstance(returned, (tuple, list)):
        returned = (returned,)
    if len(returned) < count or any(grad is not None for grad in returned[count:]):
        raise TypeError(
            f"{name}.backward returned {len(returned)} gradients, but forward took {count} "
            "arguments: return one per argument (None where there is none)"
        )
    for argument, grad in enumerate(returned[:count]):
        if grad is not None and argument not in ctx._positions:
            raise TypeError(
                f"{name}.backward returned a gradient for argument {argument} of forward, which is not a "
                "Tensor or a Value: return None there"
            )
    return tuple(returned[:count])


def _checked_gradient(ctx, grad, argument, target, create_graph):
    """``grad``, which backward returned for argument ``argument`` (``target``), in the form the engine wants.

    A Tensor's gradient must have its dtype, and its shape or one it
    broadcasts to (then it is summed down, as PyTorch does). The result is
    a node under create_graph, else an array or a float.
    """
    name = ctx._function.__name__
    if ctx._engine is Value:
        if isinstance(grad, Value):
            return grad if create_graph else grad.data
        if isinstance(grad, Real) and not isinstance(grad, bool):
            return Value(float(grad)) if create_graph else float(grad)
        raise TypeError(
            f"{name}.backward returned a {type(grad).__name__} for argument {argument}, a Value: "
            "return a Value or a number"
        )
    if not isinstance(grad, Tensor):
        raise TypeError(
            f"{name}.backward returned a {type(grad).__name__} for argument {argument}, a Tensor: return a Tensor"
        )
    if grad.dtype != target.dtype:
        raise TypeError(
            f"{name}.backward returned a gradient of dtype {grad.dtype} for argument {argument}, which has dtype "
            f"{target.dtype}; convert it (grad.to({target.dtype}))"
        )
    shape = target.shape
    if grad.shape != shape:
        try:
            fits = np.broadcast_shapes(grad.shape, shape) == grad.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"{name}.backward returned a gradient of shape {grad.shape} for argument {argument}, which has "
                f"shape {shape}"
            )
    if create_graph:
        return grad if grad.shape == shape else unbroadcast(grad, shape)
    return grad.data if grad.shape == shape else np.asarray(unbroadcast(grad.data, shape))


def _call_jvp(ctx, tangents):
    """``jvp(ctx, *tangents)`` from the tangents of the node arguments, checked: one tangent (numbers) per output."""
    cls = ctx._function
    jvp = getattr(cls, "jvp", None)
    if jvp is None:
        raise NotImplementedError(
            f"{cls.__name__} has no jvp: forward mode (autodiff.jvp) cannot pass through it; "
            f"define @staticmethod jvp(ctx, *tangents) on {cls.__name__}"
        )
    by_argument = [None] * ctx._count
    for node_position, argument in enumerate(ctx._positions):
        tangent = tangents[node_position]
        by_argument[argument] = None if tangent is None else _as_node(ctx._engine, tangent)
    ctx._reading_for_jvp = True
    try:
        with no_grad():
            returned = jvp(ctx, *by_argument)
    finally:
        ctx._reading_for_jvp = False
    outputs = ctx._outputs
    if not isinstance(returned, (tuple, list)):
        returned = (returned,)
    if len(returned) != len(outputs):
        raise TypeError(
            f"{cls.__name__}.jvp returned {len(returned)} tangents, but forward returned {len(outputs)} outputs: "
            "return one per output"
        )
    return [None if tangent is None else _checked_tangent(ctx, tangent, position, output)
            for position, (tangent, output) in enumerate(zip(returned, outputs))]


def _checked_tangent(ctx, tangent, position, output):
    """A tangent ``jvp`` returned for output ``position`` as numbers, or an error if it does not fit the output."""
    name = ctx._function.__name__
    if type(tangent) is not ctx._engine and not (ctx._engine is Value and isinstance(tangent, Real)):
        raise TypeError(
            f"{name}.jvp returned a {type(tangent).__name__} for output {position}, a {ctx._engine.__name__}"
        )
    if ctx._engine is Value:
        return float(tangent.data if type(tangent) is Value else tangent)
    if tangent.shape != output.shape or tangent.dtype != output.dtype:
        raise TypeError(
            f"{name}.jvp returned a tangent of shape {tangent.shape} and dtype {tangent.dtype} for output "
            f"{position}, which has shape {output.shape} and dtype {output.dtype}"
        )
    return tangent.data


def _as_node(engine, g):
    """A gradient or tangent the engine holds (an array or a float) as the node ``backward`` expects.

    An array may be one the engine shares with other nodes: ``backward``
    sees it read-only, so that changing it in place raises instead of
    corrupting another gradient.
    """
    if engine is Value:
        return Value(float(g))
    array = np.asarray(g).view()
    array.flags.writeable = False
    return from_numpy(array)


# -- once_differentiable ---------------------------------------------------------------------------


def once_differentiable(backward):
    """Mark a Function's ``backward`` as computable but not differentiable again (as PyTorch's decorator).

    ``backward`` then runs without recording. Under ``create_graph`` the
    gradient is still computed, but it hangs from a node that refuses to
    be differentiated, naming the Function: a second derivative, ``hvp``,
    ``hessian`` or a gradient penalty through it raises, never returns 0.

    >>> import autodiff
    >>> class Square(autodiff.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     @autodiff.once_differentiable
    ...     def backward(ctx, grad):
    ...         (x,) = ctx.saved_tensors
    ...         return 2 * x * grad
    >>> x = autodiff.Value(3.0)
    >>> (dx,) = autodiff.grad(Square.apply(x), x, create_graph=True)
    >>> dx.data
    6.0
    >>> autodiff.grad(dx, x)
    Traceback (most recent call last):
    RuntimeError: Square.backward is marked @once_differentiable: its gradient cannot be differentiated again ...
    """

    @functools.wraps(backward)
    def marked(ctx, *grads):
        return backward(ctx, *grads)

    marked.once_differentiable = True
    return marked


def _refusing_second_derivative(cls, grad, sources):
    """``grad`` as the result of a node whose rule raises, naming ``cls``: the gradient of a once-differentiable backward.

    The node hangs below ``sources`` (the upstream gradients, None where
    an output had none, and the Function's arguments), so differentiating
    ``grad`` in any of them reaches it.
    """
    inputs = (grad, *[source for source in sources if source is not None])
    return type(grad).apply_primitive(_ONCE_DIFFERENTIABLE, inputs, {"function": cls})


def _refuse_second_derivative(xp, g, out, *inputs, function, needs):
    message = (
        f"{function.__name__}.backward is marked @once_differentiable: its gradient cannot be differentiated "
        "again (a second derivative, hvp, hessian or gradient penalty through it); write backward with the "
        "engine's operations, without the decorator, to differentiate it"
    )
    if isinstance(g, Expression):
        raise NotWritable(message)
    raise RuntimeError(message)


_ONCE_DIFFERENTIABLE = Primitive(
    "once_differentiable", lambda xp, grad, *sources, function: grad, vjp_all=_refuse_second_derivative, reads=0,
    display=lambda params: f"{params['function'].__name__}Backward",
    doc="The gradient a once-differentiable backward computed; differentiating it raises.",
)
