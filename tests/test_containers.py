"""ModuleList, ModuleDict and Identity: PyTorch's parameter names and behaviour, checked against PyTorch."""

import numpy as np
import pytest

import autodiff
from autodiff import nn


def linears(*sizes):
    return [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]


# -- the same structure in both libraries gives the same state dict -----------------------------


def build_net(lib):
    """A model written once and built with either library's ``nn`` (ours or ``torch.nn``)."""

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.blocks = lib.ModuleList([lib.Linear(3, 5), lib.Linear(5, 5)])
            self.blocks.append(lib.Linear(5, 4))
            self.blocks.insert(1, lib.Identity())
            self.blocks.extend([lib.Tanh()])
            self.heads = lib.ModuleDict({"score": lib.Linear(4, 2)})
            self.heads.update([("gate", lib.Sequential(lib.Identity(), lib.Linear(4, 1), lib.Sigmoid()))])
            self.heads["extra"] = lib.ModuleList([lib.Linear(4, 4)])

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            x = self.heads["extra"][0](x)
            return self.heads["score"](x) * self.heads["gate"](x)

    return Net()


def test_a_model_with_containers_has_pytorchs_state_dict_names_and_outputs(torch, rng):
    theirs = build_net(torch.nn).to(torch.float64)
    ours = build_net(nn).to(autodiff.float64)
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    ours.load_state_dict(state)
    x = rng.normal(size=(6, 3))
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(autodiff.tensor(x)).data, expected, rtol=1e-12, atol=1e-14)


def test_deleting_and_inserting_renumber_as_pytorch_does(torch):
    def names(lib):
        modules = lib.ModuleList([lib.Linear(2, 2) for _ in range(4)])
        del modules[1]
        modules.insert(2, lib.Linear(2, 3))
        modules.insert(len(modules), lib.Linear(3, 2))
        del modules[0:1]
        modules[-1] = lib.Linear(3, 1)
        return [(name, tuple(p.shape)) for name, p in modules.named_parameters()]

    assert names(nn) == names(torch.nn)


# -- ModuleList ------------------------------------------------------------------------------


def test_module_list_indexing_slices_and_iteration():
    layers = linears(2, 3, 4, 5, 6)
    modules = nn.ModuleList(layers)
    assert len(modules) == 4 and list(modules) == layers
    assert modules[0] is layers[0] and modules[-1] is layers[-1] and modules[-4] is layers[0]
    assert modules[np.int64(2)] is layers[2]
    head = modules[1:3]
    assert isinstance(head, nn.ModuleList) and list(head) == layers[1:3]
    assert [name for name, _ in head.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert list(modules[::-1]) == layers[::-1]
    assert len(nn.ModuleList()) == 0 and list(nn.ModuleList()) == []


def test_module_list_append_extend_insert_return_and_place():
    a, b, c, d = linears(1, 2, 3, 4, 5)
    modules = nn.ModuleList()
    assert modules.append(a) is modules
    assert modules.extend(iter([c, d])) is modules  # any iterable, a generator too
    modules.insert(1, b)
    assert list(modules) == [a, b, c, d]
    assert modules.parameters() == [a.weight, a.bias, b.weight, b.bias, c.weight, c.bias, d.weight, d.bias]
    modules.extend(nn.Sequential(nn.ReLU()))
    assert isinstance(modules[-1], nn.ReLU)


def test_module_list_insert_places_as_list_insert_does():
    # PyTorch's insert misnumbers a negative index or one past the end; here both mean what they mean for a list
    layers = linears(1, 2, 3, 4)
    for index in (-1, -2, -10, 0, 2, 3, 10):
        modules, expected = nn.ModuleList(layers), list(layers)
        new = nn.Tanh()
        modules.insert(index, new)
        expected.insert(index, new)
        assert list(modules) == expected
        assert [name for name, _ in modules.named_modules()][1:] == [str(i) for i in range(4)]


def test_a_module_in_a_list_twice_is_one_parameter_set():
    layer = nn.Linear(2, 2)
    modules = nn.ModuleList([layer, layer])
    assert len(modules) == 2 and modules.parameters() == [layer.weight, layer.bias]


def test_module_list_train_eval_and_to_reach_its_members():
    modules = nn.ModuleList([nn.Dropout(0.5), nn.Linear(2, 2)])
    modules.eval()
    assert not modules[0].training
    modules.to(autodiff.float64)
    assert modules[1].weight.dtype == np.float64


def test_module_list_has_no_forward():
    with pytest.raises(NotImplementedError, match="ModuleList"):
        nn.ModuleList([nn.ReLU()])(autodiff.ones(2))


def test_module_list_refuses_what_is_not_a_module_and_changes_nothing():
    layer = nn.Linear(2, 2)
    modules = nn.ModuleList([layer])
    with pytest.raises(TypeError, match="element 1 .* is ufunc"):
        modules.extend([nn.ReLU(), np.tanh])
    with pytest.raises(TypeError, match="appended object is int"):
        modules.append(3)
    with pytest.raises(TypeError, match="inserted object is str"):
        modules.insert(0, "relu")
    with pytest.raises(TypeError, match="index 0 is list"):
        modules[0] = [nn.ReLU()]
    with pytest.raises(TypeError, match="iterable of Modules, got Linear"):
        modules.extend(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="element 0 .* is int"):
        nn.ModuleList([1])
    assert list(modules) == [layer]


def test_module_list_bad_indices_name_the_index_and_the_length():
    modules = nn.ModuleList(linears(1, 2, 3))
    for index in (2, -3):
        with pytest.raises(IndexError, match=f"index {index} is out of range for a ModuleList of 2"):
            modules[index]
    with pytest.raises(IndexError, match="index 5"):
        del modules[5]
    with pytest.raises(TypeError, match="integers or slices, not str"):
        modules["0"]
    with pytest.raises(TypeError, match="one module at a time"):
        modules[0:1] = [nn.ReLU()]
    assert len(modules) == 2


# -- ModuleDict ------------------------------------------------------------------------------


def test_module_dict_mapping_interface():
    a, b, c = linears(1, 2, 3, 4)
    modules = nn.ModuleDict({"b": b, "a": a})
    assert len(modules) == 2 and list(modules) == ["b", "a"]  # insertion order, as PyTorch keeps it
    assert list(modules.keys()) == ["b", "a"] and list(modules.values()) == [b, a]
    assert list(modules.items()) == [("b", b), ("a", a)]
    assert "a" in modules and "c" not in modules and modules["a"] is a
    modules.update(nn.ModuleDict({"c": c}))
    modules.update([("a", c)])  # replacing keeps the key's place
    assert list(modules.items()) == [("b", b), ("a", c), ("c", c)]
    assert [name for name, _ in modules.named_parameters()] == ["b.weight", "b.bias", "a.weight", "a.bias"]
    assert modules.pop("b") is b and list(modules) == ["a", "c"]
    del modules["a"]
    assert list(modules) == ["c"] and modules.parameters() == [c.weight, c.bias]


def test_module_dict_keys_may_be_the_names_of_its_methods():
    layer = nn.Linear(2, 2)
    modules = nn.ModuleDict({"update": layer, "training": nn.ReLU()})
    assert modules["update"] is layer and callable(modules.update) and modules.training is True
    assert list(modules.state_dict()) == ["update.weight", "update.bias"]


def test_module_dict_refuses_bad_keys_and_values_and_changes_nothing():
    layer = nn.Linear(2, 2)
    modules = nn.ModuleDict({"keep": layer})
    with pytest.raises(KeyError, match=r"'missing'.*keys: 'keep'"):
        modules["missing"]
    with pytest.raises(KeyError, match="'gone'"):
        del modules["gone"]
    with pytest.raises(KeyError, match="without '.'.*'a.b'"):
        modules.update({"fine": nn.ReLU(), "a.b": nn.ReLU()})
    with pytest.raises(KeyError, match="non-empty"):
        modules[""] = nn.ReLU()
    with pytest.raises(TypeError, match="keys are strings, got int"):
        modules.update({1: nn.ReLU()})
    with pytest.raises(TypeError, match="key 'x' is float"):
        modules["x"] = 1.5
    with pytest.raises(ValueError, match="element 1 is not a .key, module. pair"):
        modules.update([("ok", nn.ReLU()), ("a", nn.ReLU(), "extra")])
    with pytest.raises(TypeError, match="mapping or an iterable"):
        nn.ModuleDict(nn.Linear(1, 1))
    assert list(modules.items()) == [("keep", layer)]


def test_module_dict_loads_a_pytorch_state_dict(torch, rng):
    theirs = torch.nn.ModuleDict({"enc": torch.nn.Linear(3, 4), "dec": torch.nn.Linear(4, 3)}).double()
    ours = nn.ModuleDict({"enc": nn.Linear(3, 4), "dec": nn.Linear(4, 3)}).to(autodiff.float64)
    ours.load_state_dict(theirs.state_dict())
    x = rng.normal(size=(2, 3))
    expected = theirs["dec"](theirs["enc"](torch.from_numpy(x))).detach().numpy()
    np.testing.assert_allclose(ours["dec"](ours["enc"](autodiff.tensor(x))).data, expected, rtol=1e-12, atol=1e-14)


# -- Identity --------------------------------------------------------------------------------


def test_identity_returns_its_input_and_passes_gradients():
    x = autodiff.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    identity = nn.Identity(54, unused_argument="ignored, as PyTorch ignores it")
    assert identity(x) is x and identity.parameters() == []
    (identity(x) * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))
