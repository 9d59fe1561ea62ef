"""Neurons, layers and MLPs on Values, and the Module machinery they rely on."""

import math
import random
import statistics

import numpy as np
import pytest

import nn
from autodiff import Value


@pytest.fixture(autouse=True)
def seeded():
    nn.manual_seed(0)


def test_parameter_counts_follow_from_the_sizes():
    # a neuron with n inputs has n weights and one bias
    assert nn.Neuron(2).num_parameters() == 3
    model = nn.MLP(2, [16, 16, 1])
    assert model.num_parameters() == (2 + 1) * 16 + (16 + 1) * 16 + (16 + 1) * 1 == 337
    assert len(model.weights()) == 2 * 16 + 16 * 16 + 16
    assert len(model.biases()) == 16 + 16 + 1
    assert len(model.parameters()) == 337
    assert len({id(p) for p in model.parameters()}) == 337


def test_dotted_names_lead_to_the_parameters():
    model = nn.MLP(2, [3, 1])
    names = dict(model.named_parameters())
    assert names["layers.0.neurons.2.w.1"] is model.layers[0].neurons[2].w[1]
    assert names["layers.1.neurons.0.b"] is model.layers[1].neurons[0].b
    assert list(names)[:3] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1", "layers.0.neurons.0.b"]


def test_a_hidden_layer_of_width_one_works():
    model = nn.MLP(2, [16, 1, 1])
    out = model([0.5, -1.0])
    assert isinstance(out, Value)
    out.backward()
    assert any(p.grad != 0.0 for p in model.parameters())


def test_layers_return_a_value_for_one_output_and_a_list_otherwise():
    assert isinstance(nn.Layer(3, 1)([1.0, 2.0, 3.0]), Value)
    outs = nn.Layer(3, 4)([1.0, 2.0, 3.0])
    assert isinstance(outs, list) and len(outs) == 4


def test_the_neurons_of_a_layer_share_one_node_per_input():
    outs = nn.Layer(2, 3)([0.5, -1.0])
    inputs = [out.children[0].children[2:4] for out in outs]  # relu(w·x+b): w0, w1, x0, x1, b
    assert all(x is y for x, y in zip(inputs[0], inputs[1]))
    assert all(x is y for x, y in zip(inputs[0], inputs[2]))
    assert [x.data for x in inputs[0]] == [0.5, -1.0]


def test_micrograd_default_initialisation_is_uniform_and_biases_start_at_zero():
    random.seed(7)
    neuron = nn.Neuron(1000)
    ws = [w.data for w in neuron.w]
    assert -1 <= min(ws) < -0.95 and 0.95 < max(ws) <= 1
    assert neuron.b.data == 0.0


@pytest.mark.parametrize(
    "init, expected_std",
    [
        ("he", math.sqrt(2 / 400)),
        ("he_uniform", math.sqrt(2 / 400)),
        ("xavier", math.sqrt(2 / (400 + 100))),
        ("xavier_normal", math.sqrt(2 / (400 + 100))),
    ],
)
def test_named_initialisations_have_their_standard_deviation(init, expected_std):
    layer = nn.Layer(400, 100, init=init)
    ws = [w.data for w in layer.weights()]
    assert statistics.fmean(ws) == pytest.approx(0.0, abs=0.05 * expected_std * 10)
    assert statistics.pstdev(ws) == pytest.approx(expected_std, rel=0.03)


def test_unknown_initialisation_and_activation_are_refused():
    with pytest.raises(ValueError, match="unknown init 'glorot'"):
        nn.Neuron(3, init="glorot")
    with pytest.raises(ValueError, match="unknown nonlinearity 'gelu'"):
        nn.Neuron(3, nonlin="gelu")


def test_wrong_number_of_inputs_is_refused():
    with pytest.raises(ValueError, match="expected 3 inputs, got 2"):
        nn.Layer(3, 2)([1.0, 2.0])


def test_activations_by_name():
    neuron = nn.Neuron(1, nonlin="tanh")
    neuron.w[0].data = 2.0
    assert neuron([1.0]).data == pytest.approx(math.tanh(2.0))
    linear = nn.Neuron(1, nonlin=False)
    linear.w[0].data = -2.0
    assert linear([1.0]).data == -2.0
    assert nn.Neuron(1)([-5.0]).data >= 0.0


def test_mlp_output_and_gradients_match_torch(torch):
    model = nn.MLP(3, [4, 4, 2])
    x = [0.3, -1.2, 2.0]
    outs = model(x)
    loss = outs[0] * outs[1] + outs[1].tanh()
    loss.backward()

    layers = []
    for layer in model.layers:
        linear = torch.nn.Linear(len(layer.neurons[0].w), len(layer.neurons), dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64))
            linear.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64))
        layers.append(linear)
    h = torch.tensor(x, dtype=torch.float64)
    for i, linear in enumerate(layers):
        h = linear(h)
        if i < len(layers) - 1:
            h = torch.relu(h)
    tloss = h[0] * h[1] + torch.tanh(h[1])
    tloss.backward()

    assert loss.data == pytest.approx(tloss.item(), rel=1e-12)
    for layer, linear in zip(model.layers, layers):
        ours_w = np.array([[w.grad for w in n.w] for n in layer.neurons])
        ours_b = np.array([n.b.grad for n in layer.neurons])
        np.testing.assert_allclose(ours_w, linear.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours_b, linear.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_zero_grad_resets_every_parameter():
    model = nn.MLP(2, [3, 1])
    model([1.0, 2.0]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_train_and_eval_reach_every_submodule():
    model = nn.MLP(2, [3, 1])
    assert model.training and model.layers[0].neurons[0].training
    model.eval()
    assert not model.training and not model.layers[1].neurons[0].training
    model.train()
    assert all(m.training for _, m in model.named_modules())


def test_state_dict_round_trip():
    source = nn.MLP(2, [3, 1])
    target = nn.MLP(2, [3, 1])
    state = source.state_dict()
    assert state["layers.0.neurons.1.w.0"].shape == () and state["layers.0.neurons.1.w.0"].dtype == np.float64
    target.load_state_dict(state)
    assert [p.data for p in target.parameters()] == [p.data for p in source.parameters()]
    state["layers.1.neurons.0.b"][...] = 123.0  # a copy: the model is unaffected
    assert source.layers[1].neurons[0].b.data != 123.0


def test_failed_loads_change_nothing():
    model = nn.MLP(2, [3, 1])
    before = [p.data for p in model.parameters()]
    good = nn.MLP(2, [3, 1]).state_dict()

    missing = dict(good)
    del missing["layers.1.neurons.0.b"]
    with pytest.raises(KeyError, match="missing.*layers.1.neurons.0.b"):
        model.load_state_dict(missing)

    extra = dict(good, **{"layers.2.neurons.0.b": np.array(1.0)})
    with pytest.raises(KeyError, match="unexpected.*layers.2.neurons.0.b"):
        model.load_state_dict(extra)

    wrong_shape = dict(good, **{"layers.1.neurons.0.b": np.zeros(3)})
    with pytest.raises(ValueError, match=r"layers.1.neurons.0.b.*\(\).*\(3,\)"):
        model.load_state_dict(wrong_shape)

    assert [p.data for p in model.parameters()] == before
    model.load_state_dict({"layers.1.neurons.0.b": np.array(0.5)}, strict=False)
    assert model.layers[1].neurons[0].b.data == 0.5


def test_summary_lists_each_layer_with_its_counts():
    text = nn.MLP(2, [16, 16, 1]).summary([0.0, 0.0])
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "type", "output", "shape", "weights", "biases"]
    assert lines[2].split() == ["layers.0", "Layer", "(16,)", "32", "16"]
    assert lines[3].split() == ["layers.1", "Layer", "(16,)", "256", "16"]
    assert lines[4].split() == ["layers.2", "Layer", "()", "16", "1"]
    assert lines[-1] == "337 parameters (304 weights, 33 biases)"
