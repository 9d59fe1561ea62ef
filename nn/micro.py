"""Neurons, layers and multi-layer perceptrons on scalar Values, as in micrograd.

A neuron with n inputs holds n weights and one bias (n + 1 parameters)
and computes act(w1·x1 + ... + wn·xn + b). A layer is neurons side by side
that see the same inputs; an MLP is layers one after another, the last
one linear so that its outputs can be any real number.
"""

import math
import random

from autodiff import Value
from autodiff.value import as_value

from .init import he_std, xavier_std
from .module import Module

ACTIVATIONS = {"relu": Value.relu, "tanh": Value.tanh, "sigmoid": Value.sigmoid}


def initial_weights(init, fan_in, fan_out=1):
    """``fan_in`` starting weights drawn with Python's ``random`` by the scheme named ``init``.

    "uniform": U(-1, 1), micrograd's choice; "he" (or "he_normal"): N(0, 2/fan_in), for ReLU;
    "he_uniform"; "xavier" (or "xavier_uniform"): U(±√(6/(fan_in+fan_out))), for tanh and
    sigmoid; "xavier_normal".
    """
    if init == "uniform":
        return [random.uniform(-1, 1) for _ in range(fan_in)]
    if init in ("he", "he_normal"):
        return [random.gauss(0.0, he_std(fan_in)) for _ in range(fan_in)]
    if init == "he_uniform":
        bound = math.sqrt(3.0) * he_std(fan_in)
        return [random.uniform(-bound, bound) for _ in range(fan_in)]
    if init in ("xavier", "xavier_uniform"):
        bound = math.sqrt(3.0) * xavier_std(fan_in, fan_out)
        return [random.uniform(-bound, bound) for _ in range(fan_in)]
    if init == "xavier_normal":
        return [random.gauss(0.0, xavier_std(fan_in, fan_out)) for _ in range(fan_in)]
    raise ValueError(
        f"unknown init {init!r}: choose uniform, he, he_normal, he_uniform, xavier, xavier_uniform or xavier_normal"
    )


def _activation(nonlin):
    if nonlin is True:
        return Value.relu
    if nonlin is False or nonlin is None:
        return None
    if nonlin in ACTIVATIONS:
        return ACTIVATIONS[nonlin]
    raise ValueError(f"unknown nonlinearity {nonlin!r}: choose True (relu), False (linear), 'relu', 'tanh' or 'sigmoid'")


def _as_inputs(x, nin):
    """The inputs as a list of Values and numbers, checked against the expected count."""
    inputs = [x] if isinstance(x, (Value, int, float)) else list(x)
    if len(inputs) != nin:
        raise ValueError(f"expected {nin} inputs, got {len(inputs)}")
    return inputs


class Neuron(Module):
    """act(Σ wi·xi + b): ReLU when ``nonlin`` is True (micrograd), none when False, or 'tanh'/'sigmoid'.

    The weighted sum is one node of the graph (``Value.linear``), whose
    local derivatives are the inputs (for the weights), the weights (for
    the inputs) and 1 (for the bias): the same gradients as micrograd's
    chain of products and sums, with a fifth of the nodes to build and walk.

    >>> from autodiff import Value, nn
    >>> n = nn.Neuron(2)
    >>> n.w = [Value(1.0), Value(-2.0)]            # b is 0.0
    >>> n([3.0, 1.0]).data, n([1.0, 1.0]).data     # relu(3 - 2), relu(1 - 2)
    (1.0, 0.0)
    """

    def __init__(self, nin, nonlin=True, init="uniform", fan_out=1):
        self.w = [Value(w) for w in initial_weights(init, nin, fan_out)]
        self.b = Value(0.0)
        self.nonlin = nonlin
        self._activation = _activation(nonlin)

    def forward(self, x):
        act = Value.linear(self.w, x if type(x) is list else _as_inputs(x, len(self.w)), self.b)
        return self._activation(act) if self._activation else act

    def __repr__(self):
        kind = {True: "ReLU", False: "Linear", None: "Linear"}.get(self.nonlin, str(self.nonlin).capitalize())
        return f"{kind}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons reading the same ``nin`` inputs; returns a Value when ``nout`` is 1, else a list.

    >>> from autodiff import nn
    >>> layer = nn.Layer(3, 2)
    >>> len(layer([1.0, 2.0, 3.0])), layer.num_parameters()    # 2 neurons of 3 weights and a bias
    (2, 8)
    """

    _summary_row = True

    def __init__(self, nin, nout, nonlin=True, init="uniform"):
        self.neurons = [Neuron(nin, nonlin, init, fan_out=nout) for _ in range(nout)]

    def forward(self, x):
        # numbers become Values once here, so that the neurons share one graph node per input
        x = [as_value(v) for v in _as_inputs(x, len(self.neurons[0].w))]
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def __repr__(self):
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """Layers of sizes ``nouts`` after ``nin`` inputs; hidden layers use ``nonlin``, the last is linear.

    >>> from autodiff import nn
    >>> model = nn.MLP(3, [4, 4, 1])      # micrograd's network: 16 + 20 + 5 parameters
    >>> type(model([2.0, 3.0, -1.0])).__name__, model.num_parameters()
    ('Value', 41)
    """

    def __init__(self, nin, nouts, nonlin=True, init="uniform"):
        sizes = [nin] + list(nouts)
        self.layers = [
            Layer(sizes[i], sizes[i + 1], nonlin=nonlin if i != len(nouts) - 1 else False, init=init)
            for i in range(len(nouts))
        ]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
