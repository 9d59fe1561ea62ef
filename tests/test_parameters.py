"""What a module's parameters and buffers are: nn.Parameter, leaves that require gradients, Values,
registered buffers; and how state dicts carry them."""

import numpy as np
import pytest

import autodiff
import nn
from autodiff import Tensor, Value, no_grad


# parameters built in these tests are float64 (PyTorch comparisons need the digits), from one seed
pytestmark = pytest.mark.usefixtures("float64_and_seeded")


# -- nn.Parameter ---------------------------------------------------------------------


def test_a_parameter_is_a_tensor_that_requires_gradients_and_copies_its_data():
    array = np.arange(6.0).reshape(2, 3)
    p = nn.Parameter(array)
    assert isinstance(p, Tensor) and p.requires_grad and p.shape == (2, 3) and p.dtype == np.float64
    array[0, 0] = 100.0
    assert p.data[0, 0] == 0.0
    frozen = nn.Parameter(np.ones(2), requires_grad=False)
    assert isinstance(frozen, nn.Parameter) and not frozen.requires_grad
    assert repr(p).startswith("Parameter containing:\nTensor(")
    assert nn.Parameter(Tensor([1.0, 2.0])).dtype == np.float64  # the default dtype of this test


def test_an_integer_parameter_cannot_require_gradients():
    with pytest.raises(TypeError, match="can require gradients"):
        nn.Parameter(np.arange(3))
    assert not nn.Parameter(np.arange(3), requires_grad=False).requires_grad


def test_operations_on_parameters_give_plain_tensors_with_gradients(torch):
    rng = np.random.default_rng(0)
    w, b, x = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(5, 4))
    W, B = nn.Parameter(w), nn.Parameter(b)
    out = ((x @ W.T + B).tanh() * W.sum() - B[0] / 2 + 1.0 - np.ones(3) * B).sum()
    assert type(out) is Tensor and out.requires_grad
    out.backward()
    Wt, Bt = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    expected = ((torch.tensor(x) @ Wt.T + Bt).tanh() * Wt.sum() - Bt[0] / 2 + 1.0 - torch.ones(3) * Bt).sum()
    expected.backward()
    np.testing.assert_allclose(out.item(), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(W.grad, Wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(B.grad, Bt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_parameter_meets_an_integer_tensor_in_its_own_dtype():
    autodiff.set_default_dtype(np.float32)
    p = nn.Parameter([1.0, 2.0])
    counts = Tensor(np.array([1, 2], dtype=np.int64))
    assert (p * counts).dtype == np.float32
    assert (counts * Tensor([1.0, 2.0])).dtype == np.float32


def test_an_integer_tensor_on_the_left_of_a_parameter_takes_its_dtype():
    # needs the core's operands check by isinstance, not `type(b) is Tensor` (fixed in the core redesign)
    autodiff.set_default_dtype(np.float32)
    counts = Tensor(np.array([1, 2], dtype=np.int64))
    assert (counts * nn.Parameter([1.0, 2.0])).dtype == np.float32


# -- which attributes are parameters -----------------------------------------------------


class Masked(nn.Module):
    """A layer with a constant mask, a scale that is a plain leaf requiring gradients, and a cached activation."""

    def __init__(self):
        self.linear = nn.Linear(3, 3)
        self.mask = Tensor(np.tril(np.ones((3, 3))))
        self.scale = Tensor(np.ones(3), requires_grad=True)
        self.last_hidden = None

    def forward(self, x):
        hidden = nn.functional.linear(x, self.linear.weight * self.mask, self.linear.bias)
        self.last_hidden = hidden
        return hidden * self.scale


def test_masks_and_cached_activations_are_not_parameters():
    model = Masked()
    out = model(Tensor(np.ones((2, 3)), requires_grad=True))
    assert model.last_hidden.requires_grad and model.last_hidden.children  # a result, kept as an attribute
    names = [name for name, _ in model.named_parameters()]
    assert names == ["scale", "linear.weight", "linear.bias"]
    assert list(model.state_dict()) == names
    assert model.num_parameters() == 3 + 9 + 3
    out.sum().backward()
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    optimizer.step()
    np.testing.assert_array_equal(model.mask.data, np.tril(np.ones((3, 3))))


def test_a_leaf_tensor_that_stops_requiring_gradients_stops_being_a_parameter_but_a_frozen_parameter_stays():
    model = Masked()
    model.scale.requires_grad_(False)
    model.linear.weight.requires_grad_(False)
    assert [name for name, _ in model.named_parameters()] == ["linear.weight", "linear.bias"]
    assert list(model.state_dict()) == ["linear.weight", "linear.bias"]


def test_a_value_computed_in_forward_is_not_a_parameter_but_leaf_values_are():
    class Scalar(nn.Module):
        def __init__(self):
            self.w = Value(0.5)
            self._offset = Value(1.0)

        def forward(self, x):
            self.cached = self.w * x + self._offset
            return self.cached

    model = Scalar()
    model(2.0).backward()
    assert [name for name, _ in model.named_parameters()] == ["w", "_offset"]
    assert model.w.grad == 2.0 and model._offset.grad == 1.0


def test_private_submodules_and_parameters_are_found_and_trained():
    class Net(nn.Module):
        def __init__(self):
            self._encoder = nn.Linear(2, 4)
            self._layers = [nn.Linear(4, 4)]
            self._temperature = nn.Parameter(np.array(2.0))
            self.head = nn.Linear(4, 1)

        def forward(self, x):
            return self.head(self._layers[0](self._encoder(x).relu()).relu()) / self._temperature

    model = Net()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["_temperature", "_encoder.weight", "_encoder.bias", "_layers.0.weight", "_layers.0.bias",
                     "head.weight", "head.bias"]
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    x = np.random.default_rng(1).normal(size=(8, 2))
    for _ in range(3):
        optimizer.zero_grad()
        (model(x) ** 2).mean().backward()
        optimizer.step()
    changed = [name for name, p in model.named_parameters() if not np.array_equal(p.data, before[name])]
    assert changed == names


def test_frozen_parameters_stay_in_the_state_dict_and_the_optimiser_leaves_them(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    model[0].requires_grad_(False)
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.num_parameters() == 6 + 3 + 3 + 1
    frozen = model[0].weight.data.copy()
    optimizer = nn.optim.Adam(model.parameters(), lr=0.1)
    model(np.ones((4, 2))).sum().backward()
    optimizer.step()
    np.testing.assert_array_equal(model[0].weight.data, frozen)
    assert model[0].weight.grad is None
    copy = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    copy.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(copy[0].weight.data, frozen)


def test_every_layer_holds_its_weights_as_parameters():
    layers = [nn.Linear(2, 3), nn.Conv2d(1, 2, 3), nn.RNN(2, 3), nn.LSTM(2, 3), nn.Embedding(4, 2),
              nn.LayerNorm(3), nn.BatchNorm1d(3), nn.BatchNorm2d(3)]
    for layer in layers:
        params = layer.parameters()
        assert params and all(isinstance(p, nn.Parameter) for p in params), type(layer).__name__


def test_an_object_held_under_two_names_is_found_once_under_the_first_as_in_pytorch(torch):
    def build(module_class, linear):
        class Tied(module_class):
            def __init__(self):
                super().__init__()
                self.first = linear(2, 2)
                self.second = self.first
                self.third = linear(2, 2)
                self.third.weight = self.first.weight
                self.weight = self.first.weight

        return Tied()

    ours, theirs = build(nn.Module, nn.Linear), build(torch.nn.Module, torch.nn.Linear)
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    assert [name for name, _ in ours.named_modules()] == [name for name, _ in theirs.named_modules()]


def test_sequential_shows_and_counts_each_layer_once():
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    assert [name for name, _ in model.named_modules()] == ["", "0", "1", "2"]
    assert [name for name, _ in model.named_children()] == ["0", "1", "2"]
    assert repr(model).count("Linear(") == 2
    assert model.children() == list(model) and model.modules()[1:] == list(model)


def test_apply_visits_submodules_first_as_pytorch_does(torch):
    ours = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh(), nn.Linear(3, 1)))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Linear(3, 1)))
    visited_ours, visited_theirs = [], []
    assert ours.apply(lambda m: visited_ours.append(type(m).__name__)) is ours
    theirs.apply(lambda m: visited_theirs.append(type(m).__name__))
    assert visited_ours == visited_theirs


def test_register_parameter_takes_a_parameter_or_none():
    layer = nn.Linear(2, 2, bias=False)
    layer.register_parameter("extra", nn.Parameter(np.zeros(2)))
    layer.register_parameter("nothing", None)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "extra"]
    with pytest.raises(TypeError, match="'plain'.*nn.Parameter"):
        layer.register_parameter("plain", Tensor(np.zeros(2)))


# -- buffers ----------------------------------------------------------------------------------


class Counting(nn.Module):
    """A linear layer that keeps a running mean of its inputs and a step count, as buffers."""

    def __init__(self):
        self.linear = nn.Linear(2, 2)
        self.register_buffer("running_mean", Tensor(np.zeros(2)))
        self.register_buffer("steps", Tensor(np.array(0)))
        self.register_buffer("scratch", Tensor(np.zeros(2)), persistent=False)

    def forward(self, x):
        with no_grad():
            self.running_mean = self.running_mean * 0.9 + x.mean(axis=0) * 0.1
            self.steps = self.steps + 1
        return self.linear(x)


def test_buffers_are_saved_but_are_not_parameters():
    model = nn.Sequential(Counting(), nn.Tanh())
    assert [name for name, _ in model.named_parameters()] == ["0.linear.weight", "0.linear.bias"]
    assert [name for name, _ in model.named_buffers()] == ["0.running_mean", "0.steps", "0.scratch"]
    assert model.buffers()[0] is model[0].running_mean
    assert list(model.state_dict()) == ["0.running_mean", "0.steps", "0.linear.weight", "0.linear.bias"]
    x = Tensor(np.random.default_rng(2).normal(size=(5, 2)))
    model(x).sum().backward()
    # a new Tensor assigned to a buffer's name is still the buffer
    assert model[0].steps.item() == 1 and model.state_dict()["0.steps"] == 1
    np.testing.assert_allclose(model.state_dict()["0.running_mean"], 0.1 * x.data.mean(axis=0))
    running = model[0].running_mean.data.copy()
    optimizer = nn.optim.SGD(model.parameters(), lr=1.0)
    optimizer.step()
    np.testing.assert_array_equal(model[0].running_mean.data, running)


def test_the_state_dict_orders_parameters_and_buffers_as_pytorch_does(torch):
    ours = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Sequential(nn.LayerNorm(3), nn.BatchNorm1d(3)))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3),
                                 torch.nn.Sequential(torch.nn.LayerNorm(3), torch.nn.BatchNorm1d(3)))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def test_load_state_dict_restores_buffers_too():
    source, target = Counting(), Counting()
    source(Tensor(np.ones((3, 2))))
    source(Tensor(np.ones((3, 2))))
    target.load_state_dict(source.state_dict())
    assert target.steps.item() == 2 and target.steps.dtype == np.int64
    np.testing.assert_array_equal(target.running_mean.data, source.running_mean.data)
    np.testing.assert_array_equal(target.linear.weight.data, source.linear.weight.data)


def test_a_failed_load_changes_neither_parameters_nor_buffers():
    model = Counting()
    before = model.state_dict()
    good = {name: array + 1 for name, array in before.items()}
    for broken, error in [
        ({**good, "steps": np.array(1.5)}, "'steps': expected dtype int64"),
        ({**good, "running_mean": np.zeros(3)}, r"'running_mean': expected shape \(2,\)"),
        ({k: v for k, v in good.items() if k != "steps"}, r"missing \['steps'\]"),
        ({**good, "scratch": np.zeros(2)}, r"unexpected \['scratch'\]"),
    ]:
        with pytest.raises((ValueError, KeyError), match=error):
            model.load_state_dict(broken)
        for name, array in model.state_dict().items():
            np.testing.assert_array_equal(array, before[name])


def test_register_buffer_refuses_what_is_not_a_buffer():
    layer = nn.Linear(2, 2)
    with pytest.raises(KeyError, match="'weight' already exists"):
        layer.register_buffer("weight", Tensor(np.zeros(2)))
    with pytest.raises(TypeError, match="'stats'.*Tensor or None"):
        layer.register_buffer("stats", np.zeros(2))
    with pytest.raises(TypeError, match="Parameter as buffer 'stats'"):
        layer.register_buffer("stats", nn.Parameter(np.zeros(2)))
    with pytest.raises(KeyError, match="without '.'"):
        layer.register_buffer("a.b", Tensor(np.zeros(2)))
    layer.register_buffer("later", None)
    assert layer.buffers() == [] and "later" not in layer.state_dict()
    layer.later = Tensor(np.ones(1))
    assert list(layer.state_dict()) == ["weight", "bias", "later"]


def test_a_buffer_that_requires_gradients_is_still_only_a_buffer():
    layer = nn.Linear(2, 2)
    layer.register_buffer("trace", Tensor(np.zeros(2), requires_grad=True))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert [name for name, _ in layer.named_buffers()] == ["trace"]


# -- state saved before parameters were declared -------------------------------------------


def test_a_state_dict_holding_a_former_constant_says_it_is_no_longer_a_parameter():
    model = Masked()
    old_state = {**model.state_dict(), "mask": np.tril(np.ones((3, 3)))}  # what the old rule saved
    weight = model.linear.weight.data.copy()
    with pytest.raises(nn.StateDictError, match=r"unexpected \['mask'\]; 'mask' is no longer a parameter.*strict=False"):
        model.load_state_dict({name: array + 1 for name, array in old_state.items()})
    np.testing.assert_array_equal(model.linear.weight.data, weight)
    model.load_state_dict({name: array + 1 for name, array in old_state.items()}, strict=False)
    np.testing.assert_array_equal(model.linear.weight.data, weight + 1)
    np.testing.assert_array_equal(model.mask.data, np.tril(np.ones((3, 3))))


def test_a_state_dict_lacking_private_parameters_says_why():
    class Net(nn.Module):
        def __init__(self):
            self._inner = nn.Linear(2, 2)
            self.head = nn.Linear(2, 1)

    model = Net()
    old_state = {name: array for name, array in model.state_dict().items() if not name.startswith("_")}
    with pytest.raises(nn.StateDictError, match=r"missing \['_inner.weight', '_inner.bias'\].*start with '_'"):
        model.load_state_dict(old_state)


def test_summary_counts_parameters_only():
    model = nn.Sequential(Masked(), nn.BatchNorm1d(3))
    text = model.summary()
    assert text.splitlines()[-1] == f"{model.num_parameters()} parameters ({3 + 9 + 3} weights, {3 + 3} biases)"


def test_state_items_are_the_objects_behind_the_state_dict():
    from nn.module import state_items

    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    items = state_items(model)
    assert [name for name, _ in items] == list(model.state_dict())
    assert dict(items)["1.running_var"] is model[1].running_var and dict(items)["0.weight"] is model[0].weight
