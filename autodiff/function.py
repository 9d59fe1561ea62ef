"""``Function``: your own operation, with PyTorch's protocol (``torch.autograd.Function``).

Subclass ``Function`` and write two static methods:

- ``forward(ctx, *args, **kwargs)`` computes the result from the
  arguments as given (Tensors, Values or any Python object). It runs
  without recording a graph; what backward will need goes on ``ctx``:
  ``ctx.save_for_backward(*tensors)`` for inputs or outputs, any other
  attribute for anything else.
- ``backward(ctx, *grads)`` gets one gradient per output, dL/d(output),
  and returns one per argument of ``forward``, dL/d(argument), or None
  where there is none. Written with the engine's operations, it is
  differentiable again (``create_graph=True``).

``MyFunction.apply(*args)`` runs it and records one node, named after the
class, in the graph. An optional ``jvp(ctx, *tangents)`` serves forward
mode (``autodiff.jvp``).

Inside, a Function is one more primitive of the engine (its rule calls
``backward``), so backward, traces, pictures and ``compile`` treat it as
they treat ``*`` or ``exp``.
"""

import functools

import numpy as np

from . import numpy_ops, operators
from .graph import Node
from .mode import enable_grad, no_grad
from .primitive import Primitive
from .symbolic import Expression, NotWritable
from .tensor import Tensor
from .value import Value

_FIRST_ORDER = (numpy_ops, operators)  # the namespaces of plain backward, on arrays and on floats


class FunctionCtx:
    """``ctx``: what ``forward`` leaves for ``backward``, as in PyTorch.

    ``needs_input_grad`` says, for each argument of ``forward``, whether
    its gradient is wanted; ``save_for_backward`` keeps tensors (or
    Values), ``saved_tensors`` gives them back, and refuses if one was
    changed in place since; ``mark_non_differentiable`` marks outputs that
    have no gradient (indices); ``set_materialize_grads(False)`` makes
    backward receive None, not zeros, for outputs that got no gradient.
    """

    def __init__(self, function, needs_input_grad):
        self._function = function
        self.needs_input_grad = needs_input_grad
        self._saved = ()
        self._saved_versions = ()
        self._non_differentiable = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors):
        """Keep ``tensors`` (inputs or outputs of ``forward``, or None) for ``backward``."""
        for position, tensor in enumerate(tensors):
            if tensor is not None and not isinstance(tensor, Node):
                raise TypeError(
                    f"{self._function.__name__}: save_for_backward takes Tensors, Values or None, got a "
                    f"{type(tensor).__name__} at position {position}; keep other objects as attributes of ctx"
                )
        self._saved = tensors
        self._saved_versions = tuple(_version_of(tensor) for tensor in tensors)

    @property
    def saved_tensors(self):
        """What ``save_for_backward`` kept; RuntimeError if one was changed in place since."""
        for position, (tensor, version) in enumerate(zip(self._saved, self._saved_versions)):
            if _version_of(tensor) != version:
                raise RuntimeError(
                    f"a tensor that {self._function.__name__} saved for its backward (position {position}) was "
                    f"changed in place after the forward pass (version {_version_of(tensor)}, expected {version}), "
                    "so its gradient would be wrong; change a copy instead, or run the forward pass again"
                )
        return self._saved

    def mark_non_differentiable(self, *outputs):
        """Mark outputs of ``forward`` that have no gradient (their backward receives zeros)."""
        self._non_differentiable = self._non_differentiable + outputs

    def set_materialize_grads(self, value):
        """With False, ``backward`` receives None for an output whose gradient was not computed."""
        self.materialize_grads = bool(value)


def _version_of(tensor):
    return tensor._version[0] if isinstance(tensor, Tensor) else None


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
    def backward(ctx, *grads):
        raise NotImplementedError("a Function defines backward(ctx, *grads) as a @staticmethod")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` on ``args`` and record one node, named after this class, whose backward is ``backward``."""
        nodes = [(position, arg) for position, arg in enumerate(args) if isinstance(arg, Node)]
        ctx = FunctionCtx(cls, tuple(_wants_grad(arg) for arg in args))
        with no_grad():
            result = cls.forward(ctx, *args, **kwargs)
        if isinstance(result, tuple):
            raise NotImplementedError(
                f"{cls.__name__}.forward returned {len(result)} outputs: a Function here returns one Tensor or Value"
            )
        output = _as_output(cls, result, [arg for _, arg in nodes])
        if any(output is marked for marked in ctx._non_differentiable):
            return output
        params = {"ctx": ctx, "positions": tuple(position for position, _ in nodes), "count": len(args)}
        recorded = type(output)._record_function(output, _primitive_of(cls), tuple(arg for _, arg in nodes), params)
        ctx._saved = tuple(recorded if saved is output else saved for saved in ctx._saved)
        return recorded


def _wants_grad(arg):
    if isinstance(arg, Tensor):
        return arg.requires_grad
    return isinstance(arg, Value)


def _as_output(cls, result, inputs):
    if not isinstance(result, Node):
        raise TypeError(
            f"{cls.__name__}.forward returned a {type(result).__name__}; it must return a Tensor or a Value"
        )
    if inputs and type(result) is not type(inputs[0]):
        raise TypeError(
            f"{cls.__name__}.forward returned a {type(result).__name__} for {type(inputs[0]).__name__} inputs"
        )
    return result


def once_differentiable(backward):
    """Mark a Function's ``backward`` as computable but not differentiable again (as PyTorch's decorator).

    Under ``create_graph`` the gradient is still computed, but a node of
    the new graph carries it that refuses to be differentiated, naming
    the Function; plain backward is unchanged.
    """

    @functools.wraps(backward)
    def marked(ctx, *grads):
        return backward(ctx, *grads)

    marked.once_differentiable = True
    return marked


def _primitive_of(cls):
    """The primitive through which the engine runs ``cls``: made once per Function class."""
    primitive = cls.__dict__.get("_primitive")
    if primitive is None:
        primitive = Primitive(
            cls.__name__, _forward_refused(cls), vjp_all=functools.partial(_run_backward, cls),
            jvp=functools.partial(_run_jvp, cls), reads=0, doc=cls.__doc__,
        )
        primitive.function = cls
        cls._primitive = primitive
    return primitive


def _forward_refused(cls):
    def forward(xp, *inputs, **params):
        raise TypeError(f"{cls.__name__} runs through {cls.__name__}.apply, not as a primitive")

    return forward


def _run_backward(cls, xp, g, out, *inputs, ctx, positions, count, needs):
    """``cls.backward(ctx, g)`` as the rule of the Function's node: one share per node input."""
    if isinstance(g, Expression):
        raise NotWritable(f"{cls.__name__}.backward is Python code of its own: it is called, not written out")
    first_order = xp in _FIRST_ORDER
    once = getattr(cls.backward, "once_differentiable", False)
    upstream = _as_node(g, out) if first_order else g
    if first_order or once:
        with no_grad():
            grads = cls.backward(ctx, upstream)
    else:
        with enable_grad():
            grads = cls.backward(ctx, upstream)
    grads = _by_argument(cls, grads, count)
    shares = []
    for node_position, argument in enumerate(positions):
        grad = grads[argument]
        if grad is None or not needs[node_position]:
            shares.append(None)
            continue
        target = inputs[node_position]
        grad = _checked(cls, grad, argument, target, first_order)
        if once and not first_order:
            grad = _refusing_second_derivative(cls, grad, (g, *inputs))
        shares.append(grad)
    for argument, grad in enumerate(grads):
        if grad is not None and argument not in positions:
            raise TypeError(
                f"{cls.__name__}.backward returned a gradient for argument {argument} of forward, "
                "which is not a Tensor or a Value: return None there"
            )
    return tuple(shares)


def _run_jvp(cls, xp, tangents, out, *inputs, ctx, positions, count):
    jvp = getattr(cls, "jvp", None)
    if jvp is None:
        raise NotImplementedError(
            f"{cls.__name__} has no jvp: forward mode (autodiff.jvp) cannot pass through it; "
            f"define @staticmethod jvp(ctx, *tangents) on {cls.__name__}"
        )
    by_argument = [None] * count
    for node_position, argument in enumerate(positions):
        tangent = tangents[node_position]
        by_argument[argument] = None if tangent is None else _as_node(tangent, inputs[node_position])
    with no_grad():
        tangent = jvp(ctx, *by_argument)
    if tangent is None:
        return None
    return tangent.data if isinstance(tangent, Node) else tangent


def _as_node(g, like):
    """A gradient the engine holds (an array or a float) as the node ``backward`` expects."""
    if isinstance(g, Node):
        return g
    if isinstance(like, float) or isinstance(g, float):
        return Value(float(g))
    return Tensor._constant(np.asarray(g))


def _by_argument(cls, grads, count):
    """``backward``'s result as one entry per argument of forward (a single one may come bare)."""
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) < count or any(grad is not None for grad in grads[count:]):
        raise TypeError(
            f"{cls.__name__}.backward returned {len(grads)} gradients, but forward took {count} arguments: "
            "return one per argument (None where there is none)"
        )
    return grads[:count]


def _checked(cls, grad, argument, target, first_order):
    """``grad`` for the input ``target`` in the form backward works with, or an error naming what is wrong."""
    data = grad.data if isinstance(grad, Node) else grad
    if isinstance(target, (Value, float)):  # a Value's input, or its number kept from the forward pass
        if isinstance(grad, Tensor) or np.ndim(data) != 0:
            raise ValueError(f"{cls.__name__}.backward returned a gradient of shape {np.shape(data)} "
                             f"for argument {argument}, a Value")
        return float(data) if first_order else grad
    array = np.asarray(data)
    if array.dtype != target.dtype:
        raise TypeError(
            f"{cls.__name__}.backward returned a gradient of dtype {array.dtype} for argument {argument}, "
            f"which has dtype {target.dtype}"
        )
    if array.shape != target.shape:
        try:
            fits = np.broadcast_shapes(array.shape, target.shape) == array.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"{cls.__name__}.backward returned a gradient of shape {array.shape} for argument {argument}, "
                f"which has shape {target.shape}"
            )
    if first_order:
        return array
    return grad if isinstance(grad, Tensor) else Tensor._constant(array)


def _refusing_second_derivative(cls, grad, sources):
    """``grad`` as a node whose own backward raises: the gradient of a ``once_differentiable`` backward.

    The node hangs below ``sources`` (the upstream gradient and the
    Function's inputs): differentiating ``grad`` in any of them reaches it.
    """
    barrier = Primitive(f"{cls.__name__}Backward", lambda xp, *args: grad.data, vjp_all=_refuse(cls), reads=0)
    return type(grad)._apply(barrier, tuple(source for source in sources if isinstance(source, Node)))


def _refuse(cls):
    def refuse(xp, g, out, *inputs, needs):
        raise RuntimeError(
            f"{cls.__name__}.backward is marked @once_differentiable: its gradient cannot be differentiated again"
        )

    return refuse
