"""Watching a network train: per-layer weight and gradient norms, weight snapshots, dead ReLUs.

For a layer with weights W (all its weight parameters together, biases
left out), each step records

    ‖W‖ = sqrt(Σ w²)   and   ‖∂L/∂W‖ = sqrt(Σ (∂L/∂w)²),

the first showing how far the weights travel, the second how hard the
loss pulls on them (vanishing or exploding gradients show up here first).
A ReLU unit is dead on a batch when its output is 0 for every example:
its gradient is 0 too, so it no longer learns.

Recording reads ``data`` and ``grad`` only (one numpy reduction per
Tensor parameter, one pass over the numbers of a layer of Values), builds
no graph, and costs little next to the step it watches.
"""

import math

import numpy as np

from autodiff.tensor import numbers_of

from .parameter import values_and_tensors

__all__ = ["TrainingMonitor", "layer_parameters", "as_float"]


def layer_parameters(model):
    """(layer name, [(parameter name, parameter), ...]) in order, grouped as ``Module.summary`` groups rows.

    A layer is a module without submodules, or one that counts as a
    single layer (an ``nn.Layer`` of neurons); a container's own
    parameters form a layer under the container's name. The whole model,
    when it is one layer, is named "(model)".

    >>> import nn
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> [(layer, [name for name, _ in named]) for layer, named in layer_parameters(model)]
    [('0', ['0.weight', '0.bias']), ('2', ['2.weight', '2.bias'])]
    """
    modules = dict(model.named_modules())

    def below(name, prefix):
        return prefix == "" or name.startswith(prefix + ".")

    parents = {name for name in modules for other in modules if other != name and below(other, name)}
    units = [name for name, module in modules.items() if name not in parents or module._summary_row]
    units = [name for name in units if not any(other != name and below(name, other) for other in units)]
    groups = {}
    for name, parameter in model.named_parameters():
        owner = max((u for u in units if below(name, u)), key=len, default=None)
        if owner is None:
            owner = max((m for m in modules if below(name, m)), key=len)
        groups.setdefault(owner or "(model)", []).append((name, parameter))
    return list(groups.items())


class TrainingMonitor:
    """Call ``record(...)`` once per training step, after backward and before the gradients are reset.

    ``histogram_steps``: the steps at which to keep a copy of every
    layer's weights (for ``nn.plots.weight_histograms``).

    Afterwards: ``steps``, ``loss`` and ``accuracy`` (lists, None where not
    given), ``weight_norms`` and ``grad_norms`` (layer name to a list, one
    number per step; nan where a Tensor had no gradient yet),
    ``weight_snapshots`` (step to layer name to an array of its weights),
    ``dead_units`` (activation name to a list of (step, dead, units)) and
    ``layer_titles`` (layer name to what the pictures call it: its name in
    the model, its type and, for a dense layer, its sizes).

    >>> import nn
    >>> from autodiff import Tensor
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    >>> monitor = TrainingMonitor(model)
    >>> x = Tensor([[1.0, 2.0, 3.0]])
    >>> loss = model(x).sum()
    >>> loss.backward()
    >>> monitor.record(loss=loss)
    >>> monitor.layer_titles
    {'0': '0: Linear 3→4', '2': '2: Linear 4→2'}
    >>> len(monitor.grad_norms["0"]), monitor.grad_norms["0"][0] > 0
    (1, True)
    """

    def __init__(self, model, histogram_steps=()):
        weights = {id(w) for w in model.weights()}
        modules = dict(model.named_modules())
        self._layers = []
        self.layer_titles = {}
        for layer, named in layer_parameters(model):
            kept = [p for _, p in named if id(p) in weights]
            if kept:
                values, tensors = values_and_tensors(kept)
                self._layers.append((layer, tensors, values))
                self.layer_titles[layer] = _title(layer, modules.get("" if layer == "(model)" else layer))
        self.histogram_steps = set(histogram_steps)
        self.steps, self.loss, self.accuracy = [], [], []
        self.weight_norms = {layer: [] for layer, _, _ in self._layers}
        self.grad_norms = {layer: [] for layer, _, _ in self._layers}
        self.weight_snapshots = {}
        self.dead_units = {}

    def record(self, step=None, loss=None, accuracy=None, activations=None):
        """Record this step's norms (and loss, accuracy, weights, dead units where asked).

        ``activations``: name to the outputs of a ReLU layer on this batch,
        an array or Tensor of shape (batch, units) or a list of lists of Values.
        """
        step = len(self.steps) if step is None else step
        self.steps.append(step)
        self.loss.append(None if loss is None else as_float(loss))
        self.accuracy.append(None if accuracy is None else as_float(accuracy))
        for layer, tensors, values in self._layers:
            squares = sum(float(np.vdot(t.data, t.data)) for t in tensors) + math.fsum(v.data * v.data for v in values)
            grads = [t.grad for t in tensors]
            if any(g is None for g in grads):
                grad_squares = math.nan
            else:
                grad_squares = sum(float(np.vdot(g, g)) for g in grads) + math.fsum(v.grad * v.grad for v in values)
            self.weight_norms[layer].append(math.sqrt(squares))
            self.grad_norms[layer].append(math.sqrt(grad_squares))
        if step in self.histogram_steps:
            self.weight_snapshots[step] = {
                layer: np.concatenate([t.data.ravel() for t in tensors] + [np.array([v.data for v in values])])
                for layer, tensors, values in self._layers
            }
        for name, outputs in (activations or {}).items():
            array = _as_array(outputs)
            if array.ndim != 2:
                raise ValueError(f"activations {name!r} should have shape (batch, units), got shape {array.shape}")
            dead = int(np.count_nonzero((array <= 0).all(axis=0)))
            self.dead_units.setdefault(name, []).append((step, dead, array.shape[1]))


def _title(name, module):
    """"0: Linear 64→10": a layer's name in the model, its type, and its sizes where it has them."""
    if module is None:
        return name
    sizes = ""
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        sizes = f" {module.in_features}→{module.out_features}"
    return f"{name}: {type(module).__name__}{sizes}"


def as_float(x):
    """A loss or metric as a Python float, whether a number, a Value or a one-element Tensor.

    >>> from autodiff import Tensor, Value
    >>> as_float(Value(0.5)), as_float(Tensor([0.25])), as_float(1)
    (0.5, 0.25, 1.0)
    """
    numbers = numbers_of(x)
    if numbers.size != 1:
        raise ValueError(f"a loss or metric is one number, got {numbers.size} numbers of shape {numbers.shape}")
    return float(numbers.item())


def _as_array(outputs):
    if isinstance(outputs, (list, tuple)):  # rows of Values or numbers
        return np.array([[as_float(v) for v in row] for row in outputs])
    return numbers_of(outputs)
