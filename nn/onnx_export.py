"""Trained models leave as ONNX files: ``export_onnx`` writes a model's evaluation-mode forward pass.

ONNX is the exchange format that runtimes read (ONNX Runtime, and through
it C++, C#, Java, phones and web pages). ``export_onnx`` runs the model
once on example inputs while recording every operation
(``autodiff.recording``, the same recording ``autodiff.compile`` writes its
programs from), then writes the recorded graph as an ONNX model:

- its inputs are the example inputs (``input``, or ``input0``, ``input1``,
  ... unless named), their first axis the batch (see below);
- the parameters and buffers the forward pass read are initializers under
  their ``state_dict`` names (``fc1.weight``), and so are the constants it
  made (``autodiff.arange``, a number multiplying a tensor);
- each recorded operation becomes one ONNX operator, or a few, as the
  table ``ONNX_FORMS`` says (keyed by the primitive itself, not by its
  name, so that a user's ``autodiff.Function`` called "relu" is never
  taken for ReLU); values are named after the layer that made them
  (``conv1/Conv``);
- its outputs are the tensors the model returned (``output``, or
  ``output0``, ... unless named), nested tuples and lists flattened in
  order; a None among them is left out.

The file uses ONNX opset 18 (ONNX Runtime 1.14 and later). Where ONNX
Runtime lacks a float64 kernel, a float64 model is written with other
operators that compute the same: a convolution as one matrix product of
the image's windows (as ``nn.conv2d`` computes it), erf (GELU's) as the
series ``nn.erf`` evaluates. (Older runtimes lack more: ONNX Runtime 1.23
has no float64 Cos, and its optimiser fuses a float64 MatMul after a
Transpose into an operator it has no float64 kernel for; with
``graph_optimization_level`` at ``ORT_ENABLE_BASIC`` it runs that.) The recurrent layers' primitives, which run a
whole sequence, are written unrolled: each step's matrix product, gates and
state update as the operators they are, for the example's sequence length.

**The batch axis.** With ``dynamic_batch`` (the default) the exported
model takes any batch size. Settings recorded with the example's batch
size (the target shape of a reshape, a zero initial state made inside
forward) must then follow the input's: the model is recorded a second
time on one more example (the first repeated), and every size that
differs between the two recordings is written as a multiple of the
input's batch size, computed in the file (``Shape``, ``Mul``, ``Concat``;
in a reshape's target, 0 where the input has the same length at that axis
and ONNX copies it, else a single such length as -1). A length that is no
whole number of batches (``x[1:]`` of the batch, a boolean mask's
selection) is left to the operators to work out as they run, and refused
where a shape in the file would have to hold it; a model whose graph
changes with the batch size in any other way is refused with
``ExportError``.

**Refused**, with nothing written: an operation with no ONNX form
(``ExportError`` naming it and the layer that ran it); a forward pass
whose graph depends on the numbers it computes (``autodiff.CompileError``,
as ``autodiff.compile`` refuses it). The file is replaced atomically, as
``nn.save`` replaces its files: a failed export leaves no file and leaves
an old one whole.

``onnx`` is needed to write the file (``pip install onnx``), and
``onnxruntime`` to run it; neither is needed by anything else here.
``pip install -e ".[onnx]"`` in this checkout installs both.

>>> import numpy as np, onnxruntime
>>> import autodiff
>>> from autodiff import nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.LogSoftmax(dim=1))
>>> nn.export_onnx(model, autodiff.zeros(2, 4), "model.onnx")
>>> session = onnxruntime.InferenceSession("model.onnx")
>>> x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)   # five rows: any batch size
>>> (theirs,) = session.run(None, {"input": x})
>>> bool(np.allclose(theirs, model(autodiff.tensor(x)).numpy(), rtol=1e-5, atol=1e-6))
True
"""

import math
import os

import numpy as np

import autodiff.primitives as P
from autodiff import Tensor, __version__, no_grad
from autodiff.graph import topological_order
from autodiff.recording import record

from .conv import CONV2D, MAX_POOL2D
from .erf import _ERF_IS_ONE, _ERF_TAYLOR, _SCALED_ERFC, ERF
from .layers import EMBEDDING, LINEAR
from .module import Module
from .recurrent import LSTM_NODE, RNN_TANH
from .serialization import _write_atomically

OPSET = 18
IR_VERSION = 8  # the oldest that opset 18 allows, so that older runtimes read the file
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


class ExportError(ValueError):
    """A model that cannot be written as ONNX: an operation with no ONNX form, or a graph that changes with the batch."""


def export_onnx(model, example_inputs, path, input_names=None, output_names=None, dynamic_batch=True):
    """Write ``model``'s evaluation-mode forward pass on ``example_inputs`` to ``path`` as an ONNX model.

    ``example_inputs``: a Tensor (or numpy array), or a tuple or list of
    them, the model's positional arguments. ``input_names`` and
    ``output_names`` name the file's inputs and outputs (by default
    ``input``/``output``, numbered when there are several). With
    ``dynamic_batch`` the first axis of every input is the batch, of any
    size in the file (the inputs must agree on it); without, the file
    takes the example's shapes only. The model is run in evaluation mode
    (``model.eval()``: dropout passes its input on, batch normalisation
    uses its running statistics), and every module's ``training`` flag is
    restored afterwards. See the module's docstring for what is written
    and what is refused.
    """
    onnx = _import_onnx()
    if not isinstance(model, Module):
        raise TypeError(f"export_onnx exports an nn.Module, got {type(model).__name__}")
    path = os.fspath(path)
    inputs = _as_inputs(example_inputs)
    input_names = _names(input_names, len(inputs), "input")
    first = _Trace(model, inputs)
    for node in first.order:
        if node.primitive not in ONNX_FORMS:
            raise _refusal(node, first)
    output_names = _names(output_names, len(first.outputs), "output")
    if set(input_names) & set(output_names):
        shared = sorted(set(input_names) & set(output_names))
        raise ValueError(f"export_onnx: {shared} would name both an input and an output")
    batch = None
    if dynamic_batch:
        batch = _BatchSizes(first, _Trace(model, _one_more_example(inputs)), inputs)
    writer = _GraphWriter(onnx, model, first, batch, input_names, output_names)
    proto = writer.model()
    onnx.checker.check_model(proto, full_check=True)
    _write_atomically(path, proto.SerializeToString)


def _import_onnx():
    try:
        import onnx
        import onnx.checker
        import onnx.helper
        import onnx.numpy_helper
    except ImportError as error:
        raise ImportError(
            'exporting to ONNX needs the onnx package: pip install onnx (and onnxruntime to run the file; '
            'pip install -e ".[onnx]" in this checkout installs both)'
        ) from error
    return onnx


def _as_inputs(example_inputs):
    items = list(example_inputs) if isinstance(example_inputs, (tuple, list)) else [example_inputs]
    if not items:
        raise ValueError("export_onnx needs at least one example input")
    inputs = []
    for position, item in enumerate(items):
        if isinstance(item, np.ndarray):
            item = Tensor(item)
        if not isinstance(item, Tensor):
            raise TypeError(
                f"export_onnx: example input {position} is a {type(item).__name__}; the inputs of an ONNX model "
                "are Tensors (or numpy arrays)"
            )
        inputs.append(item.detach())  # a leaf of the recorded graph, even if it was computed with gradients
    return inputs


def _names(names, count, stem):
    if names is None:
        return [stem] if count == 1 else [f"{stem}{k}" for k in range(count)]
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != count or len(set(names)) != count or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"export_onnx: {stem}_names must be {count} different non-empty strings, got {names!r}")
    return names


def _one_more_example(inputs):
    """The example inputs with their first example repeated at the end: one more along the batch axis."""
    sizes = {x.data.shape[0] if x.data.ndim else None for x in inputs}
    if None in sizes or len(sizes) != 1 or 0 in sizes:
        raise ValueError(
            "export_onnx with dynamic_batch needs every example input to have the same batch size (at least 1) "
            f"along its first axis, got shapes {[x.data.shape for x in inputs]}; pass dynamic_batch=False for "
            "fixed shapes"
        )
    return [Tensor(np.concatenate([x.data, x.data[:1]])) for x in inputs]


# -- one recorded call ---------------------------------------------------------------------------------


class _Trace:
    """The model's forward pass on ``inputs``, recorded in evaluation mode: outputs, operations in order, leaves."""

    def __init__(self, model, inputs):
        flags = [(module, module.training) for module in model.modules()]
        model.eval()
        try:
            with no_grad():  # every operation then goes through the recording, which notes its layer
                result, self.recording = record(model, tuple(inputs), {}, inputs)
        finally:
            for module, training in flags:
                module.training = training
        self.module_names = {id(module): name for name, module in model.named_modules()}
        self.inputs = inputs
        self.outputs = _output_tensors(result)
        if not self.outputs:
            raise ExportError("export_onnx: the model returned no Tensor")
        self.order, self.leaves = _forward_order(self.outputs)
        self.selected = _selected_by_masks(self.order, self.recording)

    def layer_name(self, node):
        """The dotted name of the layer whose forward made ``node`` ("" for the model itself, or outside it)."""
        layer = self.recording.layer(node)
        return "" if layer is None else self.module_names.get(id(layer), "")

    def where(self, node):
        """``in layer 'fc1' (Linear)``: the layer whose forward made ``node``."""
        layer = self.recording.layer(node)
        if layer is None:
            return "outside the model's layers"
        name = self.module_names.get(id(layer))
        if name:
            return f"in layer {name!r} ({type(layer).__name__})"
        return f"in the forward of the model itself ({type(layer).__name__})"


def _output_tensors(result):
    """The Tensors in ``result`` (a Tensor, or tuples and lists of them), in order; None left out."""
    tensors, stack = [], [result]
    while stack:
        item = stack.pop()
        if isinstance(item, Tensor):
            tensors.append(item)
        elif isinstance(item, (tuple, list)):
            stack.extend(reversed(item))
        elif item is not None:
            raise TypeError(
                f"export_onnx: the model returned a {type(item).__name__}; an ONNX model's outputs are Tensors "
                "(a model of scalar Values, such as nn.MLP, has no ONNX form)"
            )
    return tensors


def _forward_order(outputs):
    """The operations below ``outputs`` in an order of the forward pass, and the leaves they read, each once."""
    order, placed = [], set()
    for output in outputs:
        for node in (topological_order(output) if output.children else ()):
            if id(node) not in placed:
                placed.add(id(node))
                order.append(node)
    leaves, seen = [], set()
    for leaf in [child for node in order for child in node.children] + list(outputs):
        if not leaf.children and id(leaf) not in seen:
            seen.add(id(leaf))
            leaves.append(leaf)
    return order, leaves


def _selected_by_masks(order, recording):
    """The ids of the nodes computed from a selection by a boolean mask computed from the inputs
    (``x[x > 0]``): their lengths depend on the numbers, not only on the batch."""
    selected = set()
    for node in order:
        masks = node.children[1:] if node.primitive is P.GATHER else ()
        if any(m.data.dtype == np.bool_ and recording.depends_on_outside(m) for m in masks) or \
                any(id(child) in selected for child in node.children):
            selected.add(id(node))
    return selected


def _refusal(node, trace):
    """The ExportError for an operation that has no ONNX form."""
    if node.primitive.random:
        reason = ("it draws random numbers at every call; an ONNX model computes the same numbers every time "
                  "(call the layer with training=False, or leave it out of the exported forward)")
    else:
        reason = "ONNX_FORMS in nn/onnx_export.py lists the operations that have one"
    return ExportError(f"export_onnx: the operation {node.primitive.name!r} {trace.where(node)} has no ONNX form: "
                       f"{reason}")


# -- which sizes follow the batch ------------------------------------------------------------------------

# settings that hold a shape or sizes along an axis: they follow the batch where the result's shape does
_SIZE_SETTINGS = {P.RESHAPE: ("shape",), P.BROADCAST_TO: ("shape",), P.CONCATENATE: ("bounds",)}


class _BatchSizes:
    """Which axes of each value of the first recording follow the batch size, from two recordings that differ in it.

    An axis follows the batch when its length differs between the two: it
    is then the batch size times a whole number c, the same in both
    (``axes(node)`` maps each such axis to its c), or some other length
    that the operators work out as they run (c is None: the batch less one,
    a boolean mask's selection), which no shape written into the file may
    hold. A constant made inside forward whose shape follows the batch
    must be filled with one number (a zero initial state) or count along
    its batch axis (``np.arange`` of the batch, as ``max(dim)`` indexes
    with): ``made`` maps it to ("fill", number) or ("count", axis).
    """

    def __init__(self, first, second, inputs):
        self.first_size = inputs[0].data.shape[0]
        self.second_size = self.first_size + 1
        self.trace = first
        self.following = {}
        self.made = {}  # id of a constant made inside forward whose shape follows the batch to how it is made
        if len(first.outputs) != len(second.outputs) or len(first.order) != len(second.order) or \
                len(first.leaves) != len(second.leaves):
            raise self._changes("the model runs other operations")
        positions = {}
        for k, (a, b) in enumerate(zip(first.leaves, second.leaves)):
            positions[id(a)] = ("leaf", k)
            self._pair_leaf(a, b, first, second)
        second_positions = {id(b): ("leaf", k) for k, b in enumerate(second.leaves)}
        for k, (a, b) in enumerate(zip(first.order, second.order)):
            positions[id(a)] = ("node", k)
            second_positions[id(b)] = ("node", k)
            if a.primitive is not b.primitive or len(a.children) != len(b.children) or \
                    [positions.get(id(c)) for c in a.children] != [second_positions.get(id(c)) for c in b.children]:
                raise self._changes(f"its operations are connected otherwise (at {_described(a, first)})")
            self._compare_settings(a, b)
            self._note_axes(a, b)
        for a, b in zip(first.outputs, second.outputs):
            if positions.get(id(a)) != second_positions.get(id(b)):
                raise self._changes("it returns other values")

    def axes(self, node):
        return self.following.get(id(node), {})

    def _changes(self, how):
        return ExportError(
            f"export_onnx: the model's graph changes with the batch size ({self.first_size} and "
            f"{self.second_size} examples): {how}; export it with dynamic_batch=False for the example's shapes"
        )

    def _pair_leaf(self, a, b, first, second):
        arguments = {id(x): k for k, x in enumerate(first.inputs)}
        second_arguments = {id(x): k for k, x in enumerate(second.inputs)}
        if id(a) in arguments or id(b) in second_arguments:
            if arguments.get(id(a)) != second_arguments.get(id(b)):
                raise self._changes("it reads its inputs otherwise")
            self._note_axes(a, b)
        elif id(a) in first.recording.made:
            if id(b) not in second.recording.made:
                raise self._changes("it reads other tensors")
            self._note_axes(a, b)
            if a.data.shape == b.data.shape:
                if not np.array_equal(a.data, b.data, equal_nan=a.data.dtype.kind in "fc"):
                    raise self._changes(f"a constant made inside forward ({_described(a, first)}) holds other numbers")
            else:
                self.made[id(a)] = self._made_how(a, b, first)
        elif a is not b:
            raise self._changes("it reads other parameters")

    def _made_how(self, a, b, trace):
        values = np.unique(np.concatenate([a.data.ravel(), b.data.ravel()]))
        if len(values) == 1:
            return "fill", values[0]
        axes = self.axes(a)
        if len(axes) == 1 and set(axes.values()) == {1}:
            (axis,) = axes
            if all(np.array_equal(x.data, np.broadcast_to(_counting(x.data.shape, axis), x.data.shape)) for x in (a, b)):
                return "count", axis
        raise self._changes(
            f"a constant made inside forward ({_described(a, trace)}) has the batch's size and holds numbers other "
            "than one number throughout or a count along the batch"
        )

    def _compare_settings(self, a, b):
        sizes = _SIZE_SETTINGS.get(a.primitive, ())
        skipped = set(a.primitive.saves) | set(sizes)
        settings_a = {k: v for k, v in a.params.items() if k not in skipped}
        settings_b = {k: v for k, v in b.params.items() if k not in skipped}
        if not _same_settings(settings_a, settings_b):
            raise self._changes(f"the settings of {_described(a, self.trace)} change")

    def _note_axes(self, a, b):
        shape_a, shape_b = a.data.shape, b.data.shape
        if len(shape_a) != len(shape_b):
            raise self._changes(f"the result of {_described(a, self.trace)} has another number of axes")
        axes = {}
        for axis, (m, n) in enumerate(zip(shape_a, shape_b)):
            if m == n:
                continue
            c, remainder = divmod(m, self.first_size)
            whole = not remainder and c >= 1 and n == c * self.second_size and id(a) not in self.trace.selected
            # else a length ONNX works out as it runs (x[1:] of the batch, a mask's selection), which no
            # shape written into the file may hold
            axes[axis] = c if whole else None
        if axes:
            self.following[id(a)] = axes


def _counting(shape, axis):
    """0, 1, ..., shape[axis] - 1 along ``axis``, of length 1 along the others."""
    return np.arange(shape[axis]).reshape([n if k == axis else 1 for k, n in enumerate(shape)])


def _same_settings(a, b):
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and np.array_equal(x, y)):
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


def _described(node, trace):
    """``'reshape' in layer 'fc1' (Linear)``: a node's operation and the layer whose forward made it."""
    what = repr(node.primitive.name) if node.primitive is not None else "a constant"
    return f"{what} {trace.where(node)}"


# -- writing the graph -------------------------------------------------------------------------------------


class _GraphWriter:
    """Builds the ONNX graph of one trace: initializers, operators, inputs and outputs, every value named once."""

    def __init__(self, onnx, model, trace, batch, input_names, output_names):
        self.onnx, self.helper = onnx, onnx.helper
        self.model_name = type(model).__name__
        self.trace, self.batch = trace, batch
        self.input_names, self.output_names = input_names, output_names
        self.state_names = {}
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if tensor is not None:
                self.state_names.setdefault(id(tensor), name)
        self.nodes, self.initializers = [], []
        self.values = {}  # id of a recorded node to the name of its value in the graph
        self.producers = {}  # value name to the ONNX node that writes it
        self.taken = set(input_names) | set(output_names)
        self.counts = {}
        self.prefix = ""
        self.current = None  # the recorded node being written, for messages
        self._batch_size = None
        self._int64_constants = {}
        self._casts = {}  # (value name, dtype) to the name of its cast

    # -- names and small pieces

    def fresh(self, stem):
        """A value name not used yet: ``stem`` itself, or ``stem`` numbered."""
        if stem not in self.taken:
            self.taken.add(stem)
            return stem
        number = self.counts.get(stem, 1)
        while f"{stem}_{number}" in self.taken:
            number += 1
        self.counts[stem] = number + 1
        self.taken.add(f"{stem}_{number}")
        return f"{stem}_{number}"

    def add(self, op_type, inputs, outputs=1, **attributes):
        """Append the operator ``op_type`` on the values ``inputs`` ("" for an input left out); its output name(s)."""
        names = [self.fresh(f"{self.prefix}{op_type}") for _ in range(outputs)]
        node = self.helper.make_node(op_type, list(inputs), names, name=names[0], **attributes)
        self.nodes.append(node)
        for name in names:
            self.producers[name] = node
        return names[0] if outputs == 1 else names

    def constant(self, array, stem="constant"):
        """An initializer holding ``array``; its name."""
        name = self.fresh(f"{self.prefix}{stem}")
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def int64s(self, values):
        """A 1-D int64 initializer of ``values`` (one per distinct list)."""
        key = tuple(int(v) for v in values)
        if key not in self._int64_constants:
            saved, self.prefix = self.prefix, ""
            self._int64_constants[key] = self.constant(np.array(key, dtype=np.int64), "sizes")
            self.prefix = saved
        return self._int64_constants[key]

    def scalar(self, value, dtype):
        return self.constant(np.array(value, dtype=dtype), "scalar")

    def batch_size(self):
        """The batch size of this run, a 1-D int64 of one element read from the first input's shape."""
        if self._batch_size is None:
            saved, self.prefix = self.prefix, ""
            self._batch_size = self.add("Shape", [self.input_names[0]], start=0, end=1)
            self.prefix = saved
        return self._batch_size

    def shape(self, shape, batch_axes, inferred=False):
        """A 1-D int64 value holding ``shape``, its ``batch_axes`` (axis to c) as c times this run's batch size.

        With ``inferred`` (a reshape's target), a single such axis is written -1.
        """
        if not batch_axes:
            return self.int64s(shape)
        _refuse_varying(self, batch_axes)
        if inferred and len(batch_axes) == 1 and 0 not in shape:
            return self.int64s([-1 if axis in batch_axes else n for axis, n in enumerate(shape)])
        pieces, run = [], []
        for axis, n in enumerate(shape):
            if axis not in batch_axes:
                run.append(n)
                continue
            if run:
                pieces.append(self.int64s(run))
                run = []
            c = batch_axes[axis]
            pieces.append(self.batch_size() if c == 1 else self.add("Mul", [self.batch_size(), self.int64s([c])]))
        if run:
            pieces.append(self.int64s(run))
        return pieces[0] if len(pieces) == 1 else self.add("Concat", pieces, axis=0)

    def batch_axes(self, node):
        return self.batch.axes(node) if self.batch is not None else {}

    def value(self, node, dtype=None):
        """The name of ``node``'s value, cast to ``dtype`` first where it has another dtype (once per dtype)."""
        name = self.values[id(node)]
        if dtype is None or np.dtype(dtype) == node.data.dtype:
            return name
        key = (name, np.dtype(dtype))
        if key not in self._casts:
            self._casts[key] = self.cast(name, dtype)
        return self._casts[key]

    def cast(self, name, dtype):
        """A new value: ``name`` cast to ``dtype``."""
        return self.add("Cast", [name], to=self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    def inputs(self, node, dtype=None):
        """The names of ``node``'s inputs, each in ``dtype`` (by default the result's)."""
        dtype = node.data.dtype if dtype is None else dtype
        return [self.value(child, dtype) for child in node.children]

    # -- the whole model

    def model(self):
        trace = self.trace
        for position, node in enumerate(trace.inputs):
            self.values[id(node)] = self.input_names[position]
        wanted = self._output_values()
        for node in trace.leaves:
            if id(node) not in self.values:
                self.values[id(node)] = self._leaf(node)
        for node in trace.order:
            form = ONNX_FORMS[node.primitive]
            layer = trace.layer_name(node)
            self.prefix = f"{layer}/" if layer else ""
            self.current = node
            result = form(self, node)
            self.prefix = ""
            if id(node) in wanted:
                result = self._renamed(result, wanted[id(node)])
            self.values[id(node)] = result
        outputs = []
        for tensor, name in zip(trace.outputs, self.output_names):
            if self.values[id(tensor)] != name:
                self.nodes.append(self.helper.make_node("Identity", [self.values[id(tensor)]], [name], name=name))
            outputs.append(self._value_info(name, tensor, self.batch_axes(tensor)))
        inputs = [self._value_info(name, node, {0: 1} if self.batch is not None else {})
                  for name, node in zip(self.input_names, trace.inputs)]
        graph = self.helper.make_graph(self.nodes, self.model_name, inputs, outputs, self.initializers)
        return self.helper.make_model(
            graph, opset_imports=[self.helper.make_opsetid("", OPSET)], producer_name="autodiff",
            producer_version=__version__, ir_version=IR_VERSION,
        )

    def _output_values(self):
        """Which recorded nodes write an output directly (the first time each appears): id to the output's name."""
        wanted = {}
        for tensor, name in zip(self.trace.outputs, self.output_names):
            if tensor.children and id(tensor) not in wanted:
                wanted[id(tensor)] = name
        return wanted

    def _renamed(self, value, name):
        node = self.producers.pop(value)
        node.output[list(node.output).index(value)] = name
        if node.name == value:
            node.name = name
        self.producers[name] = node
        return name

    def _leaf(self, node):
        trace = self.trace
        if id(node) in self.state_names:
            name = self.fresh(self.state_names[id(node)])
            self.initializers.append(self.onnx.numpy_helper.from_array(node.data, name))
            return name
        layer = trace.layer_name(node)
        self.prefix = f"{layer}/" if layer else ""
        self.current = node
        try:
            how = self.batch.made.get(id(node)) if self.batch is not None else None
            if how is None:
                return self.constant(node.data, "constant" if id(node) in trace.recording.made else "tensor")
            shape = self.shape(node.data.shape, self.batch_axes(node))
            if how[0] == "fill":
                fill = self.onnx.numpy_helper.from_array(np.array([how[1]], dtype=node.data.dtype))
                return self.add("ConstantOfShape", [shape], value=fill)
            axis = how[1]
            count = self.add("Range", [self.scalar(0, np.int64), self.add("Squeeze", [self.batch_size()]),
                                       self.scalar(1, np.int64)])
            along = self.add("Reshape", [count, self.int64s([-1 if k == axis else 1 for k in range(node.data.ndim)])])
            return self.cast(self.add("Expand", [along, shape]), node.data.dtype)
        finally:
            self.prefix = ""

    def _value_info(self, name, node, batch_axes):
        varies = id(node) in self.trace.selected
        dims = [("batch" if batch_axes[axis] == 1 else None) if axis in batch_axes else None if varies else n
                for axis, n in enumerate(node.data.shape)]
        return self.helper.make_tensor_value_info(
            name, self.helper.np_dtype_to_tensor_dtype(node.data.dtype), dims)


# -- the forms: how each primitive is written ----------------------------------------------------------------
#
# A form takes the writer and a recorded node and returns the name of the node's value. Inputs are
# cast to the dtype numpy computed the result in, as numpy promotes them.


def _same(op_type):
    """One ONNX operator of the same meaning on the inputs (in the result's dtype)."""
    def form(w, node):
        return w.add(op_type, w.inputs(node))
    return form


def _test(op_type):
    """One ONNX operator that tests its input's elements (booleans out)."""
    def form(w, node):
        return w.add(op_type, [w.value(child) for child in node.children])
    return form


def _compared(op_type, negated=False):
    """A comparison on the inputs in their common dtype: booleans (``!=`` as Not of Equal)."""
    def form(w, node):
        out = w.add(op_type, w.inputs(node, np.result_type(*[child.data.dtype for child in node.children])))
        return w.add("Not", [out]) if negated else out
    return form


def _logical(op_type):
    def form(w, node):
        return w.add(op_type, w.inputs(node, np.bool_))
    return form


def _power(w, node):
    (x,) = w.inputs(node)
    return w.add("Pow", [x, w.scalar(node.params["exponent"], node.data.dtype)])


def _clip(w, node):
    (x,) = w.inputs(node)
    low, high = node.params["low"], node.params["high"]
    bounds = ["" if b is None else w.scalar(b, node.data.dtype) for b in (low, high)]
    return w.add("Clip", [x, *bounds])


def _cast(w, node):
    (x,) = node.children
    return w.cast(w.value(x), node.data.dtype)


def _where(w, node):
    condition, a, b = node.children
    return w.add("Where", [w.value(condition, np.bool_), w.value(a, node.data.dtype), w.value(b, node.data.dtype)])


def _reduction(op_type):
    """ONNX's reduction over the same axes (all of them for None), the input first cast to the result's dtype."""
    def form(w, node):
        (x,) = w.inputs(node)
        axes, keepdims = node.params["axes"], node.params["keepdims"]
        if axes is not None and len(axes) == 0:
            return w.add("Identity", [x])
        inputs = [x] if axes is None else [x, w.int64s(axes)]
        return w.add(op_type, inputs, keepdims=int(keepdims))
    return form


def _variance(w, node):
    """Σ (x - mean)² / (n - correction) over the axes; n counted in the graph (Size of x over Size of the mean),
    so that a variance over the batch axis follows the batch."""
    (x,) = w.inputs(node)
    axes, keepdims, correction = node.params["axes"], node.params["keepdims"], node.params["correction"]
    axes_input = [] if axes is None else [w.int64s(axes)]
    if axes is not None and len(axes) == 0:  # ONNX reduces every axis when given none: here nothing is reduced
        deviation = w.add("Sub", [x, x])
        return w.add("Div", [w.add("Mul", [deviation, deviation]), w.scalar(max(1 - correction, 0), node.data.dtype)])
    mean = w.add("ReduceMean", [x, *axes_input], keepdims=1)
    deviation = w.add("Sub", [x, mean])
    squares = w.add("Mul", [deviation, deviation])
    if correction == 0:
        return w.add("ReduceMean", [squares, *axes_input], keepdims=int(keepdims))
    count = w.add("Div", [w.cast(w.add("Size", [x]), node.data.dtype), w.cast(w.add("Size", [mean]), node.data.dtype)])
    denominator = w.add("Max", [w.add("Sub", [count, w.scalar(correction, node.data.dtype)]),
                                w.scalar(0, node.data.dtype)])
    return w.add("Div", [w.add("ReduceSum", [squares, *axes_input], keepdims=int(keepdims)), denominator])


def _log_softmax(w, node):
    return w.add("LogSoftmax", w.inputs(node), axis=node.params["axis"])


def _arg_extremum(op_type):
    """ArgMax or ArgMin along an axis (the first of equals, as numpy); over the flattened tensor for None."""
    def form(w, node):
        (x,) = node.children
        axis, keepdims = node.params["axis"], node.params["keepdims"]
        if axis is not None:
            return w.add(op_type, [w.value(x)], axis=axis, keepdims=int(keepdims), select_last_index=0)
        flat = w.add("Reshape", [w.value(x), w.int64s([-1])])
        index = w.add(op_type, [flat], axis=0, keepdims=int(keepdims), select_last_index=0)
        return w.add("Reshape", [index, w.int64s(node.data.shape)]) if keepdims else index
    return form


def _is_finite(w, node):
    x = w.value(node.children[0])
    return w.add("Not", [w.add("Or", [w.add("IsNaN", [x]), w.add("IsInf", [x])])])


def _refuse_varying(w, batch_axes):
    if None in batch_axes.values():
        raise ExportError(
            f"export_onnx: a shape {w.trace.where(w.current)} holds a length that is not a whole number of batches "
            "(the batch less one, a boolean mask's selection), which the file cannot compute; export with "
            "dynamic_batch=False for the example's shapes"
        )


def _selection_shape_refused(w, node):
    """A shape setting recorded after a boolean mask's selection holds the numbers' count: refused."""
    if id(node) in w.trace.selected:
        raise ExportError(
            f"export_onnx: the shape of {node.primitive.name!r} {w.trace.where(node)} was recorded from a boolean "
            "mask's selection, whose length depends on the numbers: the file could not follow it"
        )


def _reshape(w, node):
    """Reshape to the recorded shape; a length that follows the batch as 0 where the input has the same one
    at the same axis (ONNX copies it, and its shape inference keeps the batch's name), else as -1."""
    _selection_shape_refused(w, node)
    (x,) = node.children
    shape, following, given = node.params["shape"], w.batch_axes(node), w.batch_axes(x)
    if 0 in shape:  # a 0 is then a length of its own, and no length may be inferred
        return w.add("Reshape", [w.value(x), w.shape(shape, following)], allowzero=1)
    copied = {axis for axis, c in following.items() if c is not None and given.get(axis) == c}
    target = [0 if axis in copied else n for axis, n in enumerate(shape)]
    rest = {axis: c for axis, c in following.items() if axis not in copied}
    if len(rest) > 1:
        return w.add("Reshape", [w.value(x), w.shape(shape, following)])
    if rest:
        _refuse_varying(w, rest)
        (axis,) = rest
        target[axis] = -1
    return w.add("Reshape", [w.value(x), w.int64s(target)])


def _transpose(w, node):
    return w.add("Transpose", [w.value(node.children[0])], perm=list(node.params["dims"]))


def _broadcast_to(w, node):
    _selection_shape_refused(w, node)
    return w.add("Expand", [w.value(node.children[0]), w.shape(node.params["shape"], w.batch_axes(node))])


def _concatenate(w, node):
    return w.add("Concat", w.inputs(node), axis=node.params["axis"])


def _without_ellipsis(parts, ndim, consumed):
    """The index ``parts`` with its Ellipsis (if any) replaced by as many full slices as it stands for, the
    other parts taking ``consumed`` axes."""
    expanded = []
    for part in parts:
        if part is Ellipsis:
            expanded.extend([slice(None)] * (ndim - consumed))
        else:
            expanded.append(part)
    return expanded


def _slice_bounds(part):
    """A Python slice as ONNX Slice's start, end and step (an omitted bound as far as the axis goes)."""
    step = 1 if part.step is None else part.step
    if step > 0:
        return (0 if part.start is None else part.start), (INT64_MAX if part.stop is None else part.stop), step
    return (INT64_MAX if part.start is None else part.start), (INT64_MIN if part.stop is None else part.stop), step


def _basic_index(w, node):
    """x[ints, slices, None, ...]: one Slice of every axis the index narrows, a Squeeze of the axes an int
    picks, an Unsqueeze for each None."""
    (x,) = node.children
    parts = node.params["index"]
    parts = _without_ellipsis(parts, x.data.ndim, sum(part is not None and part is not Ellipsis for part in parts))
    starts, ends, steps, axes, picked, new = [], [], [], [], [], []
    axis = out_axis = 0
    for part in parts:
        if isinstance(part, bool):
            raise _unwritable_index(w, node, f"numpy reads the boolean {part} as a mask, which ONNX's Slice cannot")
        if part is None:
            new.append(out_axis)
            out_axis += 1
            continue
        if isinstance(part, slice):
            if part != slice(None):
                start, end, step = _slice_bounds(part)
                starts.append(start), ends.append(end), steps.append(step), axes.append(axis)
            out_axis += 1
        else:  # an int: the one element there, its axis then dropped
            starts.append(part), ends.append(INT64_MAX if part == -1 else part + 1), steps.append(1)
            axes.append(axis), picked.append(axis)
        axis += 1
    out = w.value(x)
    if axes:
        out = w.add("Slice", [out, w.int64s(starts), w.int64s(ends), w.int64s(axes), w.int64s(steps)])
    if picked:
        out = w.add("Squeeze", [out, w.int64s(picked)])
    if new:
        out = w.add("Unsqueeze", [out, w.int64s(new)])
    return out if out != w.value(x) else w.add("Identity", [out])


def _advanced_index(w, node):
    """x[...] with index arrays: one integer array among full slices (Gather along its axis); one boolean mask
    over the leading axes or along one axis (Compress); integer arrays over the leading axes (GatherND)."""
    x, *arrays = node.children
    widths = iter([array.data.ndim if array.data.dtype == np.bool_ else 1 for array in arrays])
    layout = node.params["layout"]
    consumed = sum(next(widths) if part is P.ARRAY else 1 for part in layout if part is not None and part is not Ellipsis)
    layout = _without_ellipsis(layout, x.data.ndim, consumed)
    positions = [k for k, part in enumerate(layout) if part is P.ARRAY]
    if not all(part is P.ARRAY or part == slice(None) for part in layout):
        raise _unwritable_index(w, node, "its index mixes arrays with narrowing slices, ints or None")
    kinds = {array.data.dtype.kind for array in arrays}
    if len(arrays) == 1 and kinds <= set("iu"):
        return w.add("Gather", [w.value(x), w.value(arrays[0])], axis=positions[0])
    if len(arrays) == 1 and kinds == {"b"}:
        (mask,) = arrays
        if mask.data.ndim == 1:
            return w.add("Compress", [w.value(x), w.value(mask)], axis=positions[0])
        if positions[0] == 0:
            # the axes under the mask made one, as the mask itself is flattened
            masked = mask.data.ndim
            flat_shape = (math.prod(x.data.shape[:masked]), *x.data.shape[masked:])
            following = w.batch_axes(x)
            under_mask = [axis for axis in following if axis < masked]
            if len(under_mask) > 1 or None in [following[axis] for axis in under_mask]:
                raise _unwritable_index(w, node, "its mask spans axes that follow the batch otherwise than once")
            flat_axes = {axis - masked + 1: c for axis, c in following.items() if axis >= masked}
            if under_mask:
                flat_axes[0] = flat_shape[0] // w.batch.first_size
            flat = w.add("Reshape", [w.value(x), w.shape(flat_shape, flat_axes, inferred=True)])
            return w.add("Compress", [flat, w.add("Reshape", [w.value(mask), w.int64s([-1])])], axis=0)
    if kinds <= set("iu") and positions == list(range(len(arrays))):
        # numpy broadcasts the arrays to one shape S; GatherND reads x at the stacked indices, shape S + rest
        picked = node.data.ndim - (x.data.ndim - len(arrays))
        shape = w.shape(node.data.shape[:picked], {a: c for a, c in w.batch_axes(node).items() if a < picked})
        columns = [w.add("Unsqueeze", [w.add("Expand", [w.value(array, np.int64), shape]), w.int64s([-1])])
                   for array in arrays]
        return w.add("GatherND", [w.value(x), w.add("Concat", columns, axis=-1)])
    raise _unwritable_index(w, node, "this combination of index arrays has no ONNX form here")


def _unwritable_index(w, node, why):
    return ExportError(
        f"export_onnx: an index {w.trace.where(node)}: {why}; index with one array at a time among full slices"
    )


# -- nn's primitives


def _linear(w, node):
    """x @ weightᵀ + bias: Gemm for a matrix x, else MatMul with the transposed weight and Add."""
    x, *_ = node.children
    names = w.inputs(node)
    if x.data.ndim == 2:
        return w.add("Gemm", names, transB=1)
    out = w.add("MatMul", [names[0], w.add("Transpose", [names[1]])])
    return w.add("Add", [out, names[2]]) if len(names) == 3 else out


def _erf(w, node):
    (x,) = w.inputs(node)
    if node.data.dtype != np.float64:
        return w.add("Erf", [x])
    return _erf_as_series(w, x, node.data.dtype)


def _erf_as_series(w, z, dtype):
    """erf in float64 as ``nn.erf`` computes it (ONNX Runtime has no float64 Erf): the Taylor series for
    |z| <= 1, 1 - e^(-z²) G(z) with G's Chebyshev series by Clenshaw's recurrence up to 6, 1 beyond."""
    def number(value):
        return w.scalar(value, dtype)

    a = w.add("Abs", [z])
    t = w.add("Mul", [a, a])
    series = number(_ERF_TAYLOR[-1])
    for c in _ERF_TAYLOR[-2::-1]:  # Horner
        series = w.add("Add", [w.add("Mul", [series, t]), number(c)])
    small = w.add("Mul", [a, series])
    u = w.add("Sub", [w.add("Mul", [w.add("Sub", [a, number(1.0)]), number(2 / (_ERF_IS_ONE - 1))]), number(1.0)])
    twice = w.add("Mul", [u, number(2.0)])
    b1, b2 = number(0.0), number(0.0)
    for c in _SCALED_ERFC[:0:-1]:  # b_k = c_k + 2u b_(k+1) - b_(k+2)
        b1, b2 = w.add("Add", [w.add("Sub", [w.add("Mul", [twice, b1]), b2]), number(c)]), b1
    scaled_erfc = w.add("Add", [w.add("Sub", [w.add("Mul", [u, b1]), b2]), number(_SCALED_ERFC[0])])
    middle = w.add("Sub", [number(1.0), w.add("Mul", [w.add("Exp", [w.add("Neg", [t])]), scaled_erfc])])
    # a NaN fails both tests and takes the middle branch, whose arithmetic keeps it NaN
    magnitude = w.add("Where", [w.add("LessOrEqual", [a, number(1.0)]), small,
                                w.add("Where", [w.add("GreaterOrEqual", [a, number(_ERF_IS_ONE)]), number(1.0), middle])])
    return w.add("Where", [w.add("Less", [z, number(0.0)]), w.add("Neg", [magnitude]), magnitude])


def _conv2d(w, node):
    """Conv with the same strides and zero padding; in float64 (which ONNX Runtime's Conv lacks), the windows
    as rows times the kernels as columns, as ``nn.conv2d`` computes it."""
    x, weight, *bias = node.children
    stride, (ph, pw) = node.params["stride"], node.params["padding"]
    names = w.inputs(node)
    kernel = list(weight.data.shape[2:])
    if node.data.dtype != np.float64:
        return w.add("Conv", names, kernel_shape=kernel, strides=list(stride), pads=[ph, pw, ph, pw])
    out_channels, channels, kh, kw = weight.data.shape
    _, _, out_h, out_w = node.data.shape
    image = names[0]
    if ph or pw:
        image = w.add("Pad", [image, w.int64s([0, 0, ph, pw, 0, 0, ph, pw])])
    # one (N, C, OH, OW) slice per kernel offset (i, j); joined along the channels in the order (i, j, c)
    offsets = [w.add("Slice", [image, w.int64s([i, j]), w.int64s([i + stride[0] * (out_h - 1) + 1,
                                                                  j + stride[1] * (out_w - 1) + 1]),
                               w.int64s([2, 3]), w.int64s(list(stride))])
               for i in range(kh) for j in range(kw)]
    windows = w.add("Transpose", [w.add("Concat", offsets, axis=1)], perm=[0, 2, 3, 1])  # (N, OH, OW, kh·kw·C)
    kernels = w.add("Reshape", [w.add("Transpose", [names[1]], perm=[0, 2, 3, 1]),
                                w.int64s([out_channels, kh * kw * channels])])
    out = w.add("MatMul", [windows, w.add("Transpose", [kernels], perm=[1, 0])])
    if bias:
        out = w.add("Add", [out, names[2]])
    return w.add("Transpose", [out], perm=[0, 3, 1, 2])


def _max_pool2d(w, node):
    return w.add("MaxPool", w.inputs(node), kernel_shape=list(node.params["kernel"]),
                 strides=list(node.params["stride"]))


def _embedding(w, node):
    weight, indices = node.children
    return w.add("Gather", [w.value(weight), w.value(indices)], axis=0)


def _steps(w, x_proj, steps):
    """Step t of the time-major ``x_proj`` (T, B, ·), for t = 0 .. steps - 1."""
    return [w.add("Gather", [x_proj, w.constant(np.array(t, dtype=np.int64), "step")], axis=0)
            for t in range(steps)]


def _stacked(w, states):
    """States (B, H) of each step stacked along a new first axis: (T, B, H)."""
    return w.add("Concat", [w.add("Unsqueeze", [s, w.int64s([0])]) for s in states], axis=0)


def _rnn_tanh(w, node):
    """Unrolled: h_t = tanh(x_proj[t] + h_{t-1} W_hhᵀ) for t = 1..T; the h_t stacked."""
    x_proj, h, weight_hh = w.inputs(node)
    recurrent = w.add("Transpose", [weight_hh], perm=[1, 0])
    states = []
    for x_t in _steps(w, x_proj, node.children[0].data.shape[0]):
        h = w.add("Tanh", [w.add("Add", [x_t, w.add("MatMul", [h, recurrent])])])
        states.append(h)
    return _stacked(w, states)


def _lstm(w, node):
    """Unrolled: [zi, zf, zg, zo] = x_proj[t] + h_{t-1} W_hhᵀ; c_t = σ(zf) c_{t-1} + σ(zi) tanh(zg),
    h_t = σ(zo) tanh(c_t); the h_t and the c_t stacked, (2, T, B, H)."""
    x_proj, h, c, weight_hh = w.inputs(node)
    recurrent = w.add("Transpose", [weight_hh], perm=[1, 0])
    hs, cs = [], []
    for x_t in _steps(w, x_proj, node.children[0].data.shape[0]):
        z = w.add("Add", [x_t, w.add("MatMul", [h, recurrent])])
        zi, zf, zg, zo = w.add("Split", [z], outputs=4, axis=1, num_outputs=4)
        c = w.add("Add", [w.add("Mul", [w.add("Sigmoid", [zf]), c]),
                          w.add("Mul", [w.add("Sigmoid", [zi]), w.add("Tanh", [zg])])])
        h = w.add("Mul", [w.add("Sigmoid", [zo]), w.add("Tanh", [c])])
        hs.append(h)
        cs.append(c)
    return w.add("Concat", [w.add("Unsqueeze", [_stacked(w, hs), w.int64s([0])]),
                            w.add("Unsqueeze", [_stacked(w, cs), w.int64s([0])])], axis=0)


ONNX_FORMS = {
    # arithmetic and elementwise functions: one ONNX operator each
    P.ADD: _same("Add"),
    P.SUB: _same("Sub"),
    P.MUL: _same("Mul"),
    P.DIV: _same("Div"),
    P.POW: _same("Pow"),
    P.POWER: _power,
    P.NEG: _same("Neg"),
    P.EXP: _same("Exp"),
    P.LOG: _same("Log"),
    P.SQRT: _same("Sqrt"),
    P.STD: _same("Sqrt"),
    P.TANH: _same("Tanh"),
    P.SIGMOID: _same("Sigmoid"),
    P.RELU: _same("Relu"),
    P.ABS: _same("Abs"),
    P.SIN: _same("Sin"),
    P.COS: _same("Cos"),
    P.SIGN: _same("Sign"),
    P.CLIP: _clip,
    P.CAST: _cast,
    P.CONVERT: _cast,
    P.CLONE: _same("Identity"),
    P.DETACH: _same("Identity"),
    P.WHERE: _where,
    # reductions
    P.SUM: _reduction("ReduceSum"),
    P.MEAN: _reduction("ReduceMean"),
    P.AMAX: _reduction("ReduceMax"),
    P.AMIN: _reduction("ReduceMin"),
    P.LOGSUMEXP: _reduction("ReduceLogSumExp"),
    P.VAR: _variance,
    P.LOG_SOFTMAX: _log_softmax,
    P.ARGMAX: _arg_extremum("ArgMax"),
    P.ARGMIN: _arg_extremum("ArgMin"),
    # shapes and indexing
    P.RESHAPE: _reshape,
    P.PERMUTE: _transpose,
    P.BROADCAST_TO: _broadcast_to,
    P.INDEX: _basic_index,
    P.GATHER: _advanced_index,
    P.CONCATENATE: _concatenate,
    P.MATMUL: _same("MatMul"),
    # comparisons and logic: booleans
    P.LESS: _compared("Less"),
    P.LESS_EQUAL: _compared("LessOrEqual"),
    P.GREATER: _compared("Greater"),
    P.GREATER_EQUAL: _compared("GreaterOrEqual"),
    P.EQUAL: _compared("Equal"),
    P.NOT_EQUAL: _compared("Equal", negated=True),
    P.LOGICAL_AND: _logical("And"),
    P.LOGICAL_OR: _logical("Or"),
    P.LOGICAL_XOR: _logical("Xor"),
    P.LOGICAL_NOT: _logical("Not"),
    P.ISNAN: _test("IsNaN"),
    P.ISFINITE: _is_finite,
    # nn's layers
    LINEAR: _linear,
    ERF: _erf,
    CONV2D: _conv2d,
    MAX_POOL2D: _max_pool2d,
    EMBEDDING: _embedding,
    RNN_TANH: _rnn_tanh,
    LSTM_NODE: _lstm,
}
