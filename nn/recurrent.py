"""Recurrent layers over sequences shaped (batch, seq, feature), with PyTorch's parameter layout.

A recurrent layer carries a state from one step of the sequence to the
next, using the same weights at every step:

- ``RNN``: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh).
- ``LSTM``: adds a cell state c_t that gates update additively,
  c_t = f c_{t-1} + i g, so gradients can travel many steps back without
  vanishing (see ``nn.functional.lstm``).

The input's part, x_t W_ihᵀ + b_ih + b_hh, does not depend on the state,
so it is computed for all steps in one matrix product; only h_{t-1} W_hhᵀ
is left inside the loop over time.
"""

import math

import numpy as np

from autodiff import Tensor, no_grad
from autodiff.tensor import as_tensor

from . import functional as F
from . import init
from .layers import parameter
from .module import Module


class _Recurrent(Module):
    """Parameters laid out as PyTorch's ``weight_ih_l0`` etc.: ``gates`` blocks of hidden_size rows."""

    gates = 1

    def __init__(self, input_size, hidden_size):
        self.input_size, self.hidden_size = input_size, hidden_size
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
            raise ValueError(
                f"{type(self).__name__}: input of shape {tuple(x.shape)} does not fit weight_ih of shape "
                f"{self.weight_ih.shape}; expected (batch, seq, {self.input_size})"
            )
        batch, steps, _ = x.shape
        # a 2-D copy, so that BLAS does one matrix product rather than numpy one per step of a 3-D view
        time_major = x.transpose(1, 0, 2).reshape(steps * batch, self.input_size)
        projected = F.linear(time_major, self.weight_ih, self.bias_ih + self.bias_hh)
        return projected.reshape(steps, batch, -1)

    def _initial(self, state, batch):
        """An initial state as given (a Tensor or array of shape (batch, hidden)), or zeros."""
        if state is None:
            return Tensor._constant(np.zeros((batch, self.hidden_size), dtype=self.weight_hh.dtype))
        return as_tensor(state, self.weight_hh)

    def __repr__(self):
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"


class RNN(_Recurrent):
    """Elman RNN with tanh: ``rnn(x, h0=None)`` returns (output, h_n).

    x (batch, seq, input_size); output (batch, seq, hidden_size) holds h_1..h_T;
    h_n = h_T (batch, hidden_size).

    >>> import autodiff
    >>> from autodiff import nn
    >>> output, h_n = nn.RNN(3, 5)(autodiff.zeros(2, 7, 3))    # 2 sequences of 7 steps
    >>> output.shape, h_n.shape
    ((2, 7, 5), (2, 5))
    """

    def forward(self, x, h0=None):
        x_proj = self._input_projection(x)
        hs = F.rnn_tanh(x_proj, self._initial(h0, x_proj.shape[1]), self.weight_hh)
        return hs.transpose(1, 0, 2), hs[-1]


class LSTM(_Recurrent):
    """Long short-term memory: ``lstm(x, state=None)`` returns (output, (h_n, c_n)).

    x (batch, seq, input_size); ``state`` an optional pair (h0, c0), each
    (batch, hidden_size). output (batch, seq, hidden_size) holds h_1..h_T.
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
        states = F.lstm(x_proj, *self._initial_pair(state, x_proj.shape[1]), self.weight_hh)
        return states[0].transpose(1, 0, 2), (states[0, -1], states[1, -1])

    def gate_activations(self, x, state=None):
        """What each gate does over a sequence: {"input", "forget", "cell", "output"} to numpy arrays
        (batch, seq, hidden), the values after the sigmoid (tanh for the cell candidate)."""
        with no_grad():
            x_proj = self._input_projection(x)
            h0, c0 = self._initial_pair(state, x_proj.shape[1])
            gates = F.lstm_gates(x_proj.data, h0.data, c0.data, self.weight_hh.data).transpose(1, 0, 2)
        hidden = self.hidden_size
        return {name: gates[..., k * hidden : (k + 1) * hidden] for k, name in enumerate(self.GATE_NAMES)}
