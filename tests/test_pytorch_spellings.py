"""PyTorch's spellings that ports reach for: each against PyTorch, values and gradients."""

import numpy as np
import pytest

import autodiff
import nn
import nn.functional as F
from autodiff import Tensor


@pytest.mark.parametrize("shape, dim", [((3, 4), None), ((3, 4), 1), ((2, 1, 5), (0, 2)), ((5,), 0), ((1, 3), 0)])
@pytest.mark.parametrize("name, kwargs", [
    ("var", {}), ("std", {}), ("var", {"unbiased": False}), ("std", {"correction": 0}),
    ("var", {"keepdim": True}),
])
def test_var_and_std_match_pytorch(torch, shape, dim, name, kwargs):
    rng = np.random.default_rng(7)
    data = rng.standard_normal(shape)
    x, t = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    ours = getattr(x, name)(dim, **kwargs)
    theirs = getattr(t, name)(dim, **kwargs)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, equal_nan=True)
    upstream = rng.standard_normal(ours.shape)
    ours.backward(upstream)
    theirs.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("size, dim", [(2, 0), (3, 1), ([1, 3], 1), ([2, 1], 0)])
def test_split_matches_pytorch(torch, size, dim):
    data = np.arange(12.0).reshape(3, 4)
    x, t = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    ours, theirs = x.split(size, dim), t.split(size, dim)
    assert [p.shape for p in ours] == [tuple(p.shape) for p in theirs]
    sum(((k + 1) * p).sum() for k, p in enumerate(ours)).backward()
    sum(((k + 1) * p).sum() for k, p in enumerate(theirs)).backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_clone_t_long_nelement_and_top_level_functions(torch):
    data = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]])
    x, t = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    copy = x.clone()
    assert copy.data is not x.data and copy.op == "clone"
    (copy * copy).sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * data)
    assert x.t().shape == tuple(t.t().shape) and x.nelement() == t.nelement()
    assert x.long().dtype == np.int64 and not x.long().requires_grad
    np.testing.assert_array_equal(x.long().data, t.long().numpy())
    for name in ("tanh", "exp", "sigmoid", "relu", "abs"):
        np.testing.assert_allclose(getattr(autodiff, name)(x).data, getattr(torch, name)(t).detach().numpy())
    assert autodiff.sum(x).item() == pytest.approx(torch.sum(t).item())


def test_to_and_devices_port_by_renaming():
    device = autodiff.device("cpu")
    x = autodiff.randn(2, 3)
    assert x.to(device) is x and x.device == device and str(device) == "cpu"
    assert x.to(autodiff.float64).dtype == np.float64 and x.to("cpu", dtype=autodiff.double).dtype == np.float64
    with pytest.raises(ValueError, match="CPU only.*cuda"):
        x.to("cuda")
    model = nn.Linear(3, 2)
    weight = model.weight
    assert model.to(device) is model and model.to(autodiff.float64) is model
    assert model.weight is weight and weight.dtype == np.float64  # changed in place, as in PyTorch
    assert model(autodiff.randn(4, 3).double()).dtype == np.float64


def test_the_lr_scheduler_module_imports_as_in_pytorch():
    from nn.optim.lr_scheduler import ReduceLROnPlateau, StepLR

    assert StepLR is nn.optim.StepLR and ReduceLROnPlateau is nn.optim.lr_scheduler.ReduceLROnPlateau


def test_factories_linspace_randperm_and_multinomial(torch):
    np.testing.assert_allclose(autodiff.linspace(-1, 2, 7).data, torch.linspace(-1, 2, 7).numpy())
    assert sorted(autodiff.randperm(10).tolist()) == list(range(10))
    autodiff.manual_seed(3)
    weights = autodiff.tensor([[0.0, 1.0, 3.0], [5.0, 0.0, 0.0]])
    draws = autodiff.multinomial(weights, 2000, replacement=True)
    assert draws.shape == (2, 2000) and draws.dtype == np.int64
    assert set(draws.data[1].tolist()) == {0}
    assert abs((draws.data[0] == 2).mean() - 0.75) < 0.04  # 3 / (1 + 3)
    once = autodiff.multinomial(autodiff.tensor([1.0, 1.0, 1.0]), 3)
    assert sorted(once.tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="cannot draw 4 of 3"):
        autodiff.multinomial(autodiff.tensor([1.0, 1.0, 1.0]), 4)


def test_one_hot_matches_pytorch(torch):
    labels = np.array([[0, 2], [1, 1]])
    np.testing.assert_array_equal(F.one_hot(Tensor(labels), 4).data,
                                  torch.nn.functional.one_hot(torch.from_numpy(labels), 4).numpy())
    assert F.one_hot(Tensor(labels)).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="label 2 does not fit"):
        F.one_hot(Tensor(labels), 2)
