"""Recording one call of a function: every operation it runs, and what it read from outside.

``autodiff.compile`` turns a function into a program, and ``nn.export_onnx``
a model into an ONNX graph, from one eager call recorded here. Ordinarily
the engines keep a node's inputs only when a gradient will flow through it;
while recording (``record``), every operation on Tensors keeps its
primitive, its settings and its inputs, whether gradients flow or not
(``x > 0`` of an input, a cast, an index computed from data), so the graph
holds the whole computation.

A recorded graph is the function only if nothing in it depends on the
numbers in a way the graph cannot show, and the function does nothing
besides its tensor operations that a program would have to repeat. These
are refused with ``CompileError``, naming the user's file and line where
there is one:

- turning a tensor that depends on an argument, a parameter or a random
  draw into a Python value (``bool``, ``float``, ``int``, ``item()``,
  ``tolist()``, ``numpy()``; a comparison of such a Value): the code after
  it may have branched on the number;
- changing a tensor in place (``+=``, ``t[i] = x``, ``add_``, running
  statistics): the recorded operations read what the tensor held before;
- a training step (``backward()``, an optimiser's ``step()``,
  ``zero_grad()``, a gradient set, weights loaded) or ``manual_seed``: it
  would happen at the recorded call only;
- a draw from numpy's global generator or Python's ``random``: the graph
  would hold this call's numbers.

Tensors made while recording from Python or numpy data (``autodiff.tensor``,
``zeros``, a number meeting a Tensor) are constants of the graph; every
other leaf it reads is an argument (given to the call) or a parameter (read
anew at every call).

The recording also knows which module's ``forward`` was running when each
node was made (``Recording.layer``), so that an operation an exporter
cannot write can be traced back to the layer that ran it.
"""

import operator
import os
import random
import sys

import numpy as np

from .mode import grad_mode


class CompileError(RuntimeError):
    """A function cannot be compiled (or exported): its graph would depend on the numbers it computes."""


class Recording:
    """What one call left: the Tensors and Values made while it ran, the modules it ran, in which mode."""

    def __init__(self, arguments):
        self.arguments = {id(node): node for node in arguments}
        self.made = {}  # id to node: every node made while recording (kept alive, so ids stay unique)
        self.modules = {}  # id to (module, its training flag when it ran)
        self.attributes = {}  # id of a module that ran to its attributes (name to snapshot) when it started
        self.running = []  # the modules whose forward is running, innermost last
        self.layers = {}  # id of a node made while a module ran to that module (the innermost)

    def recorded(self, out, definition, children, params):
        """``out`` as a node of ``definition`` over ``children`` that needs no gradient, kept for the graph."""
        out._requires_grad = False
        out.op = definition.name if definition.display is None else definition.display(params)
        out.children = children
        out._definition = definition
        out._params = params
        out._fresh = definition.fresh
        out._saved = None
        self.made_here(out)
        return out

    def made_here(self, node):
        """Note that ``node`` (a constant leaf, or a result) was made while recording, and in which module."""
        self.made[id(node)] = node
        if self.running:
            self.layers[id(node)] = self.running[-1]

    def ran(self, module):
        if id(module) not in self.modules:
            self.modules[id(module)] = (module, module.training)
            # before its forward runs, to tell what forward changes itself (a count of its calls) from the rest
            self.attributes[id(module)] = {name: snapshot(value) for name, value in vars(module).items()}

    def enter(self, module):
        """``module``'s forward starts: the nodes made until ``leave`` belong to it (or to a module it calls)."""
        self.ran(module)
        self.running.append(module)

    def leave(self):
        self.running.pop()

    def layer(self, node):
        """The innermost module whose forward was running when ``node`` was made here, or None.

        Nodes that need a gradient are made by the engine outside the
        recording, so they are not noted: under ``no_grad`` (as
        ``nn.export_onnx`` records) every node is.
        """
        return self.layers.get(id(node))

    def depends_on_outside(self, node):
        """Whether ``node`` is, or was computed from, what differs from call to call: an argument, a parameter
        (a leaf not made here) or a random draw (which a program draws anew)."""
        stack, seen = [node], set()
        while stack:
            current = stack.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            if not current.children:
                if id(current) in self.arguments or id(current) not in self.made:
                    return True
                primitive = current.primitive
                if primitive is not None and primitive.random:
                    return True
                continue
            stack.extend(current.children)
        return False


def record(fn, args, kwargs, arguments):
    """``fn(*args, **kwargs)`` run in this thread with every operation recorded; returns (result, Recording).

    ``arguments`` are the Tensors and Values among the arguments.
    """
    if grad_mode.recording is not None:
        raise CompileError("a compiled function was called while another one is being recorded in this thread")
    recording = Recording(arguments)
    draws = _global_draws()
    grad_mode.recording = recording
    try:
        result = fn(*args, **kwargs)
    finally:
        grad_mode.recording = None
    if _global_draws() != draws:
        raise CompileError(
            f"{getattr(fn, '__name__', type(fn).__name__)} drew random numbers from numpy's global generator "
            "(np.random.permutation, np.random.rand...) or Python's random module: the graph holds the numbers of "
            "this call, so every later call would get the same ones (the same batch, the same noise). Draw with "
            "autodiff's own (autodiff.randperm, autodiff.randn, autodiff.randint), which a program draws anew at "
            "every call, or draw outside and pass the result in as an argument"
        )
    return result, recording


def _global_draws():
    """Where numpy's global generator and Python's ``random`` stand: the engine never draws from either, so a
    change while recording is the function's own draw (or another thread's at that moment: then a refusal,
    never a wrong number)."""
    kind, key, position, has_gauss, gauss = np.random.get_state()
    return kind, key.tobytes(), position, has_gauss, gauss, random.getstate()


def check_conversion(node, what):
    """Refuse, while recording, to turn ``node`` into a Python value if it depends on the call's inputs."""
    recording = grad_mode.recording
    if recording is not None and recording.depends_on_outside(node):
        raise CompileError(
            f"{what} turns a tensor computed from the function's inputs or a random draw into a Python value at "
            f"{where_in_user_code()}: the code after it may depend on the number, which a compiled program "
            "cannot follow. Compute with tensors instead (autodiff.where(condition, a, b) for a choice), "
            "or move that code out of the compiled function"
        )


def check_without_graph(out, inputs):
    """A Value computed under no_grad while recording: refused if it depends on the call's inputs, which the
    graph would then not show; a constant of the program if it does not."""
    recording = grad_mode.recording
    if any(recording.depends_on_outside(node) for node in inputs):
        raise CompileError(
            f"an operation on Values under no_grad at {where_in_user_code()} computes a number from the "
            "function's inputs without keeping how: a compiled program cannot compute it again. Leave no_grad "
            "out of the compiled function, or compute that number outside it"
        )
    recording.made_here(out)


def check_outside_recording(what):
    """Refuse ``what`` (backward, an optimiser's step, zero_grad, a reseeding) while recording, before it
    changes anything.

    A program repeats the tensor operations of the recorded call and nothing else: a gradient stored, a
    weight updated, a gradient reset or a generator reseeded inside would happen on the recorded call only,
    and every later call would silently skip it.
    """
    if grad_mode.recording is not None:
        raise CompileError(
            f"{what} at {where_in_user_code()} runs inside a compiled function, whose program repeats only its "
            "tensor operations: it would happen at the first call and never again. Do it outside: compile the "
            "forward pass, and call backward, the optimiser's step and zero_grad on its output "
            "(loss = compiled(x, y); loss.backward(); optimizer.step()). autodiff.grad(..., create_graph=True) "
            "may stay inside: its gradients are tensor operations like any other"
        )


def check_no_new_leaf():
    """Refuse, while recording, ``requires_grad_`` on a computed tensor (``x.detach().requires_grad_()``)."""
    if grad_mode.recording is not None:
        raise CompileError(
            f"requires_grad_ at {where_in_user_code()} makes a new leaf from a tensor computed inside a compiled "
            "function, which its program cannot make anew at each call: pass that input with requires_grad=True "
            "instead (x.requires_grad_() before the call) and take autodiff.grad(..., create_graph=True) with "
            "respect to it inside"
        )


def check_in_place(node, what):
    """Refuse, while recording, an in-place change: the recorded operations read what the tensor held before."""
    if grad_mode.recording is not None:
        raise CompileError(
            f"{what} changes a tensor in place at {where_in_user_code()}, which a compiled program cannot "
            "follow: write the out-of-place form (y = x + 1, not x += 1), or move that code out of the compiled "
            "function (a BatchNorm layer updates its running statistics in place: compile it in eval mode)"
        )


_PACKAGES = tuple(
    os.path.dirname(os.path.abspath(path)) + os.sep
    for path in (__file__, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nn", "x"))
)


def where_in_user_code():
    """``file:line`` of the innermost frame outside autodiff and nn: the user's code that asked."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGES):
        frame = frame.f_back
    if frame is None:
        return "an unknown place"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


# What a compiled program compares by value among the objects its function reads; anything else by identity.
_BY_VALUE = (int, float, complex, bool, str, bytes, type(None))


def snapshot(value):
    """``value`` as a program remembers it, to tell later whether it changed (``unchanged``).

    A list or dict is copied, one level deep (a ModuleList appended to, a
    dict of settings changed in place); anything else is kept itself.
    """
    kind = type(value)
    if kind is list:
        return list(value)
    if kind is dict:
        return dict(value)
    return value


def unchanged(then, now):
    """Whether ``now`` is what the ``snapshot`` ``then`` was: the same object, an equal number or string, or a
    list, tuple or dict holding such items.

    Anything else that is not the same object counts as changed, so an
    object unseen is never taken for the one recorded: at worst the
    function is recorded again.
    """
    if then is now:
        return True
    kind = type(then)
    if kind is not type(now):
        return False
    # the same items, decided without a Python call per item, before equal numbers are looked for
    if kind is list or kind is tuple:
        return len(then) == len(now) and (all(map(operator.is_, then, now)) or all(map(_same_item, then, now)))
    if kind is dict:
        return then.keys() == now.keys() and (all(map(operator.is_, then.values(), now.values()))
                                              or all(_same_item(item, now[key]) for key, item in then.items()))
    return kind in _BY_VALUE and then == now


def _same_item(then, now):
    return then is now or (type(then) is type(now) and type(then) in _BY_VALUE and then == now)
