"""Recurrent layers over sequences shaped (batch, seq, feature) (or (seq, batch, feature): ``batch_first=False``),
with PyTorch's parameter layout.

A recurrent layer carries a state from one step of the sequence to the
next, using the same weights at every step:

- ``RNN``: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh).
- ``LSTM``: adds a cell state c_t that gates update additively,
  c_t = f c_{t-1} + i g, so gradients can travel many steps back without
  vanishing (see ``lstm``).

The input's part, x_t W_ihᵀ + b_ih + b_hh, does not depend on the state,
so it is computed for all steps in one matrix product; only h_{t-1} W_hhᵀ
is left inside the loop over time.

Each layer runs its whole sequence as one node of the graph, a primitive
whose forward pass loops over time in numpy and whose backward loops back
through time (BPTT) once, handing each input its part. Recorded step by
step, the graph would slice the input once per step, and each slice's
backward would spread a gradient the size of the whole sequence. They have
first derivatives (``once_differentiable``). Sequences are time-major
inside, (T, B, features), so that each step reads and writes one
contiguous block.
"""

import math

import numpy as np

from autodiff import Primitive, Tensor, from_numpy, no_grad
from autodiff.tensor import as_tensor

from . import init
from .layers import linear, parameter
from .module import Module


def _check_recurrent(name, x_proj, states, weight_hh, gates):
    hidden = weight_hh.shape[-1]
    if weight_hh.shape != (gates * hidden, hidden) or x_proj.ndim != 3 or x_proj.shape[2] != gates * hidden:
        raise ValueError(
            f"{name}: projected input of shape {x_proj.shape} does not fit weight_hh of shape {weight_hh.shape}; "
            f"expected (seq, batch, {gates * hidden})"
        )
    for state in states:
        if state.shape != (x_proj.shape[1], hidden):
            raise ValueError(
                f"{name}: initial state of shape {state.shape} does not fit input of shape {x_proj.shape}; "
                f"expected (batch, hidden) = {(x_proj.shape[1], hidden)}"
            )


def _rnn_tanh_forward(xp, x_proj, h0, weight_hh):
    steps, batch, hidden = x_proj.shape
    hs = np.empty((steps + 1, batch, hidden), dtype=np.result_type(x_proj, weight_hh))
    hs[0] = h0
    for t in range(steps):
        np.tanh(x_proj[t] + hs[t] @ weight_hh.T, out=hs[t + 1])
    return hs[1:], hs


def _rnn_tanh_backward(xp, g, out, x_proj, h0, weight_hh, *, hs, needs):
    """Back through time, with dh the gradient reaching h_t (from the output at t and from step t+1):
    dz_t = dh (1 - h_t²),  dh_{t-1} = dz_t W_hh."""
    steps, batch, hidden = x_proj.shape
    slopes = 1 - hs[1:] * hs[1:]
    dz = np.empty_like(slopes)
    dh = np.zeros((batch, hidden), dtype=dz.dtype)
    for t in reversed(range(steps)):
        np.multiply(g[t] + dh, slopes[t], out=dz[t])
        dh = dz[t] @ weight_hh
    dw = dz.reshape(-1, hidden).T @ hs[:-1].reshape(-1, hidden) if needs[2] else None
    return dz, dh, dw


RNN_TANH = Primitive(
    "rnn_tanh", _rnn_tanh_forward, vjp_all=_rnn_tanh_backward, saves=("hs",), once_differentiable=True,
    doc="an Elman RNN over a whole sequence, as one node; see ``rnn_tanh``.",
)


def rnn_tanh(x_proj, h0, weight_hh):
    """An Elman RNN over a sequence, as one node: h_t = tanh(x_proj[t] + h_{t-1} W_hhᵀ).

    ``x_proj`` (T, B, H) is the input's projection x W_ihᵀ + b_ih + b_hh,
    computed for every step at once; h0 (B, H), weight_hh (H, H). Returns
    the hidden states h_1..h_T, shape (T, B, H).

    Backward through time, with dh the gradient reaching h_t (from the
    output at t and from step t+1):  dz_t = dh (1 - h_t²),  dh_{t-1} = dz_t W_hh;
    dL/dx_proj[t] = dz_t,  dL/dW_hh = Σ_t dz_tᵀ h_{t-1},  dL/dh0 = dh_0.
    """
    h0 = as_tensor(h0, weight_hh)
    _check_recurrent("rnn_tanh", x_proj.data, (h0.data,), weight_hh.data, 1)
    return Tensor.apply_primitive(RNN_TANH, (x_proj, h0, weight_hh))


def _lstm_forward(XP, h0, c0, W):
    """The LSTM recurrence on numpy arrays; returns gates (T, B, 4H) = [i, f, g, o] after their
    nonlinearities, the hidden and cell states stacked (2, T+1, B, H) from h0 and c0 on, and tanh
    of the cell states (T, B, H).

    All four gates come from one tanh per step: tanh for the cell candidate
    g, and σ(a) = (1 + tanh(a/2)) / 2 for i, f and o, with the halving
    folded into the weights and inputs once. (tanh costs numpy half what
    exp does, and the sigmoids need no division.)
    """
    steps, batch, four_hidden = XP.shape
    hidden = four_hidden // 4
    dtype = np.result_type(XP, W)
    gates = np.empty((steps, batch, four_hidden), dtype=dtype)
    states = np.empty((2, steps + 1, batch, hidden), dtype=dtype)
    hs, cs = states
    tanh_cs = np.empty((steps, batch, hidden), dtype=dtype)
    hs[0], cs[0] = h0, c0
    # per column of the gates: i, f, o = 0.5 tanh(0.5 a) + 0.5;  g = 1 tanh(1 a) + 0
    scale = np.repeat(np.array([0.5, 0.5, 1, 0.5], dtype=dtype), hidden)
    shift = np.repeat(np.array([0.5, 0.5, 0, 0.5], dtype=dtype), hidden)
    scaled_w_transposed = W.T * scale
    np.multiply(XP, scale, out=gates)
    for t in range(steps):
        z = gates[t]
        z += hs[t] @ scaled_w_transposed
        np.tanh(z, out=z)
        z *= scale
        z += shift
        i, f, g, o = z[:, :hidden], z[:, hidden : 2 * hidden], z[:, 2 * hidden : 3 * hidden], z[:, 3 * hidden :]
        np.multiply(f, cs[t], out=cs[t + 1])
        cs[t + 1] += i * g
        np.tanh(cs[t + 1], out=tanh_cs[t])
        np.multiply(o, tanh_cs[t], out=hs[t + 1])
    return gates, states, tanh_cs


def lstm_gates(x_proj, h0, c0, weight_hh):
    """The gate activations of an LSTM over a sequence, numpy in and out: (T, B, 4H) = [i, f, g, o]."""
    _check_recurrent("lstm_gates", x_proj, (h0, c0), weight_hh, 4)
    return _lstm_forward(x_proj, h0, c0, weight_hh)[0]


def _lstm_node_forward(xp, x_proj, h0, c0, weight_hh):
    gates, states, tanh_cs = _lstm_forward(x_proj, h0, c0, weight_hh)
    return states[:, 1:], gates, states, tanh_cs


def _lstm_backward(xp, g, out, x_proj, h0, c0, weight_hh, *, gates, states, tanh_cs, needs):
    """Back through time, with dh and dc the gradients reaching h_t and c_t (see ``lstm``)."""
    steps, batch, four_hidden = x_proj.shape
    hidden = four_hidden // 4
    hs, cs = states
    i, f, cell, o = (gates[..., k * hidden : (k + 1) * hidden] for k in range(4))
    # dz = [dc, dc, dc, dh] * local: all but dc and dh known before the loop
    slopes = gates * (1 - gates)
    slopes[..., 2 * hidden : 3 * hidden] = 1 - cell * cell
    local = np.concatenate([cell, cs[:-1], i, tanh_cs], axis=-1)
    local *= slopes
    h_to_c = o * (1 - tanh_cs * tanh_cs)
    dz = np.empty_like(local)
    dh = np.zeros((batch, hidden), dtype=dz.dtype)
    dc = np.zeros_like(dh)
    through_h = np.empty_like(dh)
    forget = np.ascontiguousarray(f)  # read once per step: numpy walks contiguous rows faster
    cell_outputs_used = g[1].any()  # usually only the hidden states feed the loss
    for t in reversed(range(steps)):
        dh += g[0, t]
        np.multiply(dh, h_to_c[t], out=through_h)
        dc += through_h
        if cell_outputs_used:
            dc += g[1, t]
        np.concatenate((dc, dc, dc, dh), axis=1, out=dz[t])
        dz[t] *= local[t]
        dh = dz[t] @ weight_hh
        dc *= forget[t]
    dw = dz.reshape(-1, four_hidden).T @ hs[:-1].reshape(-1, hidden) if needs[3] else None
    return dz, dh, dc, dw


LSTM_NODE = Primitive(
    "lstm", _lstm_node_forward, vjp_all=_lstm_backward, saves=("gates", "states", "tanh_cs"),
    once_differentiable=True, doc="a long short-term memory layer over a whole sequence, as one node; see ``lstm``.",
)


def lstm(x_proj, h0, c0, weight_hh):
    """A long short-term memory layer over a sequence, as one node.

    ``x_proj`` (T, B, 4H) is the input's projection x W_ihᵀ + b_ih + b_hh,
    computed for every step at once; h0, c0 (B, H); weight_hh (4H, H), its
    rows in PyTorch's gate order input, forget, cell, output. At step t,

        [zi, zf, zg, zo] = x_proj[t] + h_{t-1} W_hhᵀ
        i = σ(zi), f = σ(zf), g = tanh(zg), o = σ(zo)
        c_t = f c_{t-1} + i g,   h_t = o tanh(c_t).

    Returns the states stacked, shape (2, T, B, H): [0] the hidden states
    h_1..h_T, [1] the cell states c_1..c_T.

    Backward through time, with dh and dc the gradients reaching h_t and c_t
    (from the outputs at t and from step t+1):

        dc ← dc + dh o (1 - tanh² c_t)
        dzi = dc g i(1-i),  dzf = dc c_{t-1} f(1-f),  dzg = dc i (1-g²),  dzo = dh tanh(c_t) o(1-o)
        dh_{t-1} = dz W_hh,   dc_{t-1} = dc f;

    dL/dx_proj[t] = dz_t,  dL/dW_hh = Σ_t dz_tᵀ h_{t-1},  dL/dh0, dL/dc0 what reaches step 0.
    """
    h0, c0 = as_tensor(h0, weight_hh), as_tensor(c0, weight_hh)
    _check_recurrent("lstm", x_proj.data, (h0.data, c0.data), weight_hh.data, 4)
    return Tensor.apply_primitive(LSTM_NODE, (x_proj, h0, c0, weight_hh))


class _Recurrent(Module):
    """Parameters laid out as PyTorch's ``weight_ih_l0`` etc.: ``gates`` blocks of hidden_size rows.

    ``batch_first`` (True here; PyTorch's default is False) says whether
    inputs and outputs are (batch, seq, feature) or, with False, (seq,
    batch, feature), as PyTorch's layers take them by default. States are
    (batch, hidden) either way.
    """

    gates = 1

    def __init__(self, input_size, hidden_size, *, batch_first=True):
        self.input_size, self.hidden_size = input_size, hidden_size
        if not isinstance(batch_first, bool):
            raise TypeError(f"{type(self).__name__}: batch_first must be True or False, got {batch_first!r}")
        self.batch_first = batch_first
        rows = self.gates * hidden_size
        self.weight_ih = parameter(rows, input_size)
        self.weight_hh = parameter(rows, hidden_size)
        self.bias_ih = parameter(rows)
        self.bias_hh = parameter(rows)
        # PyTorch's default for every recurrent parameter: U(-1/√hidden, 1/√hidden)
        bound = 1 / math.sqrt(hidden_size)
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            init.uniform_(p, -bound, bound)

    def _input_projection(self, x):
        """x W_ihᵀ + b_ih + b_hh for every step at once, time-major: shape (seq, batch, gates · hidden)."""
        x = as_tensor(x, self.weight_ih)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            layout = "batch, seq" if self.batch_first else "seq, batch"
            raise ValueError(
                f"{type(self).__name__}: input of shape {tuple(x.shape)} does not fit weight_ih of shape "
                f"{self.weight_ih.shape}; expected ({layout}, {self.input_size})"
            )
        if self.batch_first:
            batch, steps, _ = x.shape
            x = x.transpose(1, 0, 2)
        else:
            steps, batch, _ = x.shape
        # a 2-D copy, so that BLAS does one matrix product rather than numpy one per step of a 3-D view
        time_major = x.reshape(steps * batch, self.input_size)
        projected = linear(time_major, self.weight_ih, self.bias_ih + self.bias_hh)
        return projected.reshape(steps, batch, -1)

    def _initial(self, state, batch):
        """An initial state as given (a Tensor or array of shape (batch, hidden)), or zeros."""
        if state is None:
            return from_numpy(np.zeros((batch, self.hidden_size), dtype=self.weight_hh.dtype))
        return as_tensor(state, self.weight_hh)

    def _in_layout(self, time_major):
        """An output computed time-major (seq, batch, ...), in the layout of this layer's inputs."""
        return time_major.transpose(1, 0, 2) if self.batch_first else time_major

    def __repr__(self):
        layout = "" if self.batch_first else ", batch_first=False"
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{layout})"


class RNN(_Recurrent):
    """Elman RNN with tanh: ``rnn(x, h0=None)`` returns (output, h_n).

    x (batch, seq, input_size); output (batch, seq, hidden_size) holds h_1..h_T;
    h_n = h_T (batch, hidden_size). With ``batch_first=False``, x and output
    are (seq, batch, ·), as PyTorch's default.

    >>> import autodiff
    >>> from autodiff import nn
    >>> output, h_n = nn.RNN(3, 5)(autodiff.zeros(2, 7, 3))    # 2 sequences of 7 steps
    >>> output.shape, h_n.shape
    ((2, 7, 5), (2, 5))
    """

    def forward(self, x, h0=None):
        x_proj = self._input_projection(x)
        hs = rnn_tanh(x_proj, self._initial(h0, x_proj.shape[1]), self.weight_hh)
        return self._in_layout(hs), hs[-1]


class LSTM(_Recurrent):
    """Long short-term memory: ``lstm(x, state=None)`` returns (output, (h_n, c_n)).

    x (batch, seq, input_size); ``state`` an optional pair (h0, c0), each
    (batch, hidden_size). output (batch, seq, hidden_size) holds h_1..h_T.
    With ``batch_first=False``, x and output are (seq, batch, ·), as
    PyTorch's default.
    The four gate blocks of every weight and bias are stacked in PyTorch's
    order: input, forget, cell, output.

    >>> import autodiff
    >>> from autodiff import nn
    >>> lstm = nn.LSTM(3, 5)
    >>> output, (h_n, c_n) = lstm(autodiff.zeros(2, 7, 3))
    >>> output.shape, c_n.shape, lstm.weight_ih.shape     # 4 gates of 5 rows
    ((2, 7, 5), (2, 5), (20, 3))
    """

    gates = 4
    GATE_NAMES = ("input", "forget", "cell", "output")

    def _initial_pair(self, state, batch):
        h0, c0 = (None, None) if state is None else state
        return self._initial(h0, batch), self._initial(c0, batch)

    def forward(self, x, state=None):
        x_proj = self._input_projection(x)
        states = lstm(x_proj, *self._initial_pair(state, x_proj.shape[1]), self.weight_hh)
        return self._in_layout(states[0]), (states[0, -1], states[1, -1])

    def gate_activations(self, x, state=None):
        """What each gate does over a sequence: {"input", "forget", "cell", "output"} to numpy arrays
        in the layout of the inputs ((batch, seq, hidden) by default), the values after the sigmoid (tanh for
        the cell candidate)."""
        with no_grad():
            x_proj = self._input_projection(x)
            h0, c0 = self._initial_pair(state, x_proj.shape[1])
            gates = lstm_gates(x_proj.data, h0.data, c0.data, self.weight_hh.data)
            gates = gates.transpose(1, 0, 2) if self.batch_first else gates
        hidden = self.hidden_size
        return {name: gates[..., k * hidden : (k + 1) * hidden] for k, name in enumerate(self.GATE_NAMES)}
