"""RNN and LSTM: against PyTorch with copied weights, finite differences, gate activations, and learning."""

import math

import numpy as np
import pytest

import autodiff
import nn
from autodiff import Tensor, gradcheck


# parameters built in these tests are float64 (PyTorch comparisons need the digits), from one seed
pytestmark = pytest.mark.usefixtures("float64_and_seeded")


def assert_close(ours, theirs):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11)


def torch_twin(torch, ours):
    """The same layer in PyTorch (one layer, the same batch_first), weights copied: ``weight_ih`` -> ``weight_ih_l0``."""
    kind = {nn.RNN: torch.nn.RNN, nn.LSTM: torch.nn.LSTM}[type(ours)]
    theirs = kind(ours.input_size, ours.hidden_size, batch_first=ours.batch_first).double()
    theirs.load_state_dict({f"{name}_l0": torch.tensor(a) for name, a in ours.state_dict().items()})
    return theirs


LAYERS = [nn.RNN, nn.LSTM]


@pytest.mark.parametrize("layer", LAYERS)
def test_parameters_are_laid_out_as_in_pytorch(torch, layer):
    ours = layer(3, 5)
    theirs = torch_twin(torch, ours)
    assert [f"{n}_l0" for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for name, p in theirs.named_parameters():
        assert dict(ours.named_parameters())[name[:-3]].shape == tuple(p.shape)
    # and back: PyTorch's own initial weights give PyTorch's outputs in ours
    fresh = torch_twin(torch, layer(3, 5))
    torch.manual_seed(0)
    fresh.reset_parameters()
    ours.load_state_dict({n[:-3]: p.detach().numpy() for n, p in fresh.named_parameters()})
    x = np.random.default_rng(0).normal(size=(2, 4, 3))
    assert_close(ours(x)[0].data, fresh(torch.tensor(x))[0])


@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_major"])
@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("given_state", [False, True])
def test_outputs_and_every_gradient_match_pytorch(torch, layer, given_state, batch_first):
    batch, steps, features, hidden = 3, 7, 4, 5
    ours = layer(features, hidden, batch_first=batch_first)
    theirs = torch_twin(torch, ours)
    rng = np.random.default_rng(1)
    layout = (batch, steps) if batch_first else (steps, batch)
    x = rng.normal(size=(*layout, features))
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    is_lstm = layer is nn.LSTM
    states = [rng.normal(size=(batch, hidden)) for _ in range(2 if is_lstm else 1)]
    states_ours = [Tensor(s, requires_grad=True) for s in states]
    states_theirs = [torch.tensor(s[None], requires_grad=True) for s in states]  # PyTorch: (layers, batch, hidden)

    if is_lstm:
        output, (h_n, c_n) = ours(x_ours, tuple(states_ours) if given_state else None)
        expected, (h_t, c_t) = theirs(x_theirs, tuple(states_theirs) if given_state else None)
        finals, expected_finals = [h_n, c_n], [h_t[0], c_t[0]]
    else:
        output, h_n = ours(x_ours, states_ours[0] if given_state else None)
        expected, h_t = theirs(x_theirs, states_theirs[0] if given_state else None)
        finals, expected_finals = [h_n], [h_t[0]]

    assert output.shape == (*layout, hidden) and all(f.shape == (batch, hidden) for f in finals)
    assert_close(output.data, expected)
    for final, expected_final in zip(finals, expected_finals):
        assert_close(final.data, expected_final)

    # a loss that weighs every output and final state at random
    weights = [rng.normal(size=t.shape) for t in [output, *finals]]
    loss = sum(((t * w).sum() for t, w in zip([output, *finals], weights)), Tensor(0.0))
    expected_loss = sum((t * torch.tensor(w)).sum() for t, w in zip([expected, *expected_finals], weights))
    loss.backward()
    expected_loss.backward()
    assert_close(x_ours.grad, x_theirs.grad)
    for name, p in theirs.named_parameters():
        assert_close(dict(ours.named_parameters())[name[:-3]].grad, p.grad)
    if given_state:
        for s_ours, s_theirs in zip(states_ours, states_theirs):
            assert_close(s_ours.grad, s_theirs.grad[0])


@pytest.mark.parametrize("layer", LAYERS)
def test_recurrent_layers_pass_gradcheck(layer):
    module = layer(3, 4)
    rng = np.random.default_rng(2)
    x = Tensor(rng.normal(size=(2, 5, 3)), requires_grad=True)
    h0 = Tensor(rng.normal(size=(2, 4)), requires_grad=True)
    c0 = Tensor(rng.normal(size=(2, 4)), requires_grad=True)
    weights = Tensor(rng.normal(size=(2, 5, 4)))

    def loss(x, h0, c0, *params):
        if layer is nn.LSTM:
            output, (h_n, c_n) = module(x, (h0, c0))
            return (output * weights).sum() + (h_n * c_n).sum()
        output, h_n = module(x, h0)
        return (output * weights).sum() + (h_n * h_n).sum()

    inputs = (x, h0, c0, *module.parameters()) if layer is nn.LSTM else (x, h0, *module.parameters())
    if layer is nn.RNN:
        assert gradcheck(lambda x, h0, *params: loss(x, h0, None, *params), inputs)
    else:
        assert gradcheck(loss, inputs)


@pytest.mark.parametrize("layer", LAYERS)
def test_backward_twice_through_one_graph_adds_up(layer):
    module = layer(2, 3)
    x = Tensor(np.random.default_rng(3).normal(size=(2, 4, 2)), requires_grad=True)
    output = module(x)[0]
    output.sum().backward()
    once = x.grad.copy(), module.weight_hh.grad.copy()
    (output * 2).sum().backward()  # a different upstream gradient through the same recurrent node
    np.testing.assert_allclose(x.grad, 3 * once[0])
    np.testing.assert_allclose(module.weight_hh.grad, 3 * once[1])


@pytest.mark.parametrize("layer", LAYERS)
def test_default_initialisation_is_uniform_within_one_over_root_hidden(layer):
    module = layer(30, 100)
    bound = 1 / math.sqrt(100)
    for name, p in module.named_parameters():
        assert p.dtype == np.float64
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.95 * bound, name
    assert module.weight_hh.data.var() == pytest.approx(bound**2 / 3, rel=0.05)


@pytest.mark.parametrize("layer", LAYERS)
def test_bad_shapes_name_both(layer):
    module = layer(3, 4)
    with pytest.raises(ValueError, match=r"\(2, 5, 6\).*weight_ih of shape \((4|16), 3\)"):
        module(np.zeros((2, 5, 6)))
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        module(np.zeros((5, 3)))
    wrong_state = Tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 4\)"):
        module(np.zeros((2, 5, 3)), (wrong_state, wrong_state) if layer is nn.LSTM else wrong_state)


@pytest.mark.parametrize("layer", LAYERS)
def test_time_major_is_batch_first_transposed_and_says_so(layer):
    batch_first = layer(3, 4)
    time_major = layer(3, 4, batch_first=False)
    time_major.load_state_dict(batch_first.state_dict())
    x = np.random.default_rng(6).normal(size=(2, 5, 3))
    np.testing.assert_array_equal(time_major(x.transpose(1, 0, 2))[0].data, batch_first(x)[0].data.transpose(1, 0, 2))
    assert repr(time_major) == f"{layer.__name__}(3, 4, batch_first=False)" and repr(batch_first) == f"{layer.__name__}(3, 4)"
    with pytest.raises(ValueError, match=r"expected \(seq, batch, 3\)"):
        time_major(np.zeros((2, 5, 6)))
    with pytest.raises(TypeError, match="batch_first must be True or False, got 0"):
        layer(3, 4, batch_first=0)
    if layer is nn.LSTM:
        gates = time_major.gate_activations(x.transpose(1, 0, 2))
        np.testing.assert_array_equal(gates["forget"], batch_first.gate_activations(x)["forget"].transpose(1, 0, 2))


def test_float32_in_float32_out():
    autodiff.set_default_dtype(np.float32)
    output, (h_n, c_n) = nn.LSTM(3, 4)(np.ones((2, 5, 3), dtype=np.float32))
    assert output.dtype == h_n.dtype == c_n.dtype == np.float32


def test_a_long_sequence_needs_no_recursion():
    output, (h_n, _) = nn.LSTM(2, 3)(Tensor(np.ones((1, 3000, 2)), requires_grad=True))
    output.sum().backward()
    assert np.isfinite(h_n.data).all()


# -- gate activations -------------------------------------------------------------------


def test_gate_activations_rebuild_the_states_pytorch_computes(torch):
    lstm = nn.LSTM(3, 4)
    x = np.random.default_rng(4).normal(size=(2, 6, 3))
    h0, c0 = np.random.default_rng(5).normal(size=(2, 2, 4))
    gates = lstm.gate_activations(x, (h0, c0))
    assert list(gates) == ["input", "forget", "cell", "output"]
    assert all(g.shape == (2, 6, 4) for g in gates.values())
    for name in ("input", "forget", "output"):
        assert ((gates[name] > 0) & (gates[name] < 1)).all()
    assert (np.abs(gates["cell"]) < 1).all()
    # c_t = f c_{t-1} + i g and h_t = o tanh(c_t), step by step, give PyTorch's outputs
    expected, _ = torch_twin(torch, lstm)(torch.tensor(x), (torch.tensor(h0[None]), torch.tensor(c0[None])))
    c = c0
    for t in range(6):
        c = gates["forget"][:, t] * c + gates["input"][:, t] * gates["cell"][:, t]
        assert_close(gates["output"][:, t] * np.tanh(c), expected[:, t])


# -- learning ------------------------------------------------------------------------


class FirstSymbol(nn.Module):
    """Reads a sequence of one-hot symbols and guesses the first one from the final state."""

    def __init__(self, symbols, hidden):
        self.lstm = nn.LSTM(symbols, hidden)
        self.head = nn.Linear(hidden, symbols)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n)


def first_symbol_task(n, symbols, steps, rng):
    sequence = rng.integers(0, symbols, size=(n, steps))
    return np.eye(symbols)[sequence], sequence[:, 0]


def test_an_lstm_learns_to_recall_the_first_symbol_of_a_sequence():
    symbols, steps = 4, 8
    rng = np.random.default_rng(6)
    test_x, test_y = first_symbol_task(500, symbols, steps, rng)
    model = FirstSymbol(symbols, 16)
    assert nn.accuracy(model(test_x), test_y) < 0.5
    optimizer = nn.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(200):
        x, y = first_symbol_task(64, symbols, steps, rng)
        loss = nn.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # the last symbol alone gives a quarter right: only memory gets near all of them
    assert nn.accuracy(model(test_x), test_y) > 0.95
