"""PyTorch's spellings that ports reach for: each against PyTorch, values and gradients."""

import copy
import importlib
import pickle
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

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


def test_module_double_float_and_cpu_port_by_renaming(torch):
    """``model.double()`` before gradcheck, ``model.float()`` after, ``model.cpu()``: in place, as in PyTorch."""
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    twin.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in model.state_dict().items()})
    weight = model[0].weight
    assert model.double() is model and model[0].weight is weight
    twin.double()
    for (name, ours), (_, theirs) in zip(model.state_dict().items(), twin.state_dict().items()):
        assert ours.dtype == theirs.numpy().dtype, name  # the running statistics too; the batch count stays int64
    x = np.random.default_rng(0).normal(size=(5, 3))
    out, expected = model(Tensor(x)), twin(torch.from_numpy(x))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    assert autodiff.gradcheck(lambda inputs: model(inputs).sum(), Tensor(x, requires_grad=True))
    assert model.float() is model and model[0].weight.dtype == np.float32 and model[1].running_mean.dtype == np.float32
    assert model.cpu() is model


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


# -- sin, cos, masked_fill, tril, triu: values and gradients against PyTorch, in float64 ------------------

matrices = hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4)
any_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def with_specials(rng, shape, fraction=0.2):
    """Standard normal numbers with nan, inf and -inf scattered among them."""
    data = rng.standard_normal(shape)
    specials = rng.choice([np.nan, np.inf, -np.inf], size=shape)
    return np.where(rng.random(shape) < fraction, specials, data)


def against_torch(torch, ours, theirs, data, upstream, *, leaves=()):
    """ours(x) and theirs(t) on ``data``, then both gradients under ``upstream``; nan where PyTorch has nan."""
    x, t = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    extra = [(Tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)) for v in leaves]
    out, reference = ours(x, *[e for e, _ in extra]), theirs(t, *[e for _, e in extra])
    assert out.shape == tuple(reference.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.data, reference.detach().numpy(), rtol=1e-12, atol=1e-15, equal_nan=True)
    upstream = np.broadcast_to(upstream, out.shape)
    out.backward(upstream)
    reference.backward(torch.from_numpy(np.array(upstream)))
    for ours_leaf, their_leaf in [(x, t), *extra]:
        np.testing.assert_allclose(ours_leaf.grad, their_leaf.grad.numpy(), rtol=1e-12, atol=1e-15, equal_nan=True)


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_and_cos_match_pytorch_with_nan_and_inf(torch, name):
    @settings(max_examples=40)
    @given(any_shapes, st.integers(0, 2**32 - 1))
    def check(shape, seed):
        rng = np.random.default_rng(seed)
        data, upstream = with_specials(rng, shape), with_specials(rng, shape)
        with np.errstate(invalid="ignore"):
            against_torch(torch, lambda x: getattr(x, name)(), lambda t: getattr(t, name)(), data, upstream)
            against_torch(torch, getattr(autodiff, name), getattr(torch, name), data, upstream)

    check()


@pytest.mark.parametrize("name", ["sin", "cos", "masked_fill", "tril", "triu"])
def test_the_new_operations_match_finite_differences(name):
    rng = np.random.default_rng(4)
    operation = {
        "sin": lambda x: x.sin(), "cos": lambda x: x.cos(),
        "masked_fill": lambda x: x.masked_fill(Tensor(np.array([[True, False, False], [False, True, False]])), -2.0),
        "tril": lambda x: autodiff.tril(x, 1) * x, "triu": lambda x: autodiff.triu(x, -1) * x,
    }[name]
    for shape in ([(), (4,), (2, 3)] if name in ("sin", "cos") else [(2, 3)]):
        x = Tensor(rng.standard_normal(shape), requires_grad=True)
        weights = Tensor(rng.standard_normal(shape))
        assert autodiff.gradcheck(lambda x: (operation(x) * weights).sum(), (x,))


def test_masked_fill_with_a_tensor_value_matches_finite_differences():
    rng = np.random.default_rng(5)
    mask = Tensor(rng.random((3, 4)) < 0.5)
    weights = Tensor(rng.standard_normal((3, 4)))
    inputs = (Tensor(rng.standard_normal((3, 4)), requires_grad=True), Tensor(np.float64(0.7), requires_grad=True))
    assert autodiff.gradcheck(lambda x, v: (x.masked_fill(mask, v * v) * weights).sum(), inputs)


def test_masked_fill_matches_pytorch_with_broadcasting_nan_and_inf(torch):
    @settings(max_examples=60)
    @given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
           st.integers(0, 2**32 - 1), st.sampled_from([0.5, -np.inf, np.inf, np.nan, -3]))
    def check(shapes, seed, value):
        rng = np.random.default_rng(seed)
        data_shape, mask_shape = shapes.input_shapes
        data, mask = with_specials(rng, data_shape), np.asarray(rng.random(mask_shape) < 0.5)
        upstream = with_specials(rng, shapes.result_shape)
        torch_mask = torch.from_numpy(mask)
        against_torch(torch, lambda x: x.masked_fill(Tensor(mask), value),
                      lambda t: t.masked_fill(torch_mask, value), data, upstream)
        # the value as a 0-d tensor that requires gradients: it receives the sum of g where the mask holds
        against_torch(torch, lambda x, v: x.masked_fill(mask, v * 2.0), lambda t, v: t.masked_fill(torch_mask, v * 2.0),
                      data, upstream, leaves=[np.array(value, dtype=np.float64)])

    check()


def test_masked_fill_keeps_the_dtype_copies_the_mask_and_refuses_what_pytorch_refuses(torch):
    x = autodiff.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    mask = np.array([[True, False], [False, False]])
    out = x.masked_fill(mask, float("-inf"))
    assert out.dtype == np.float32 and out.data[0, 0] == -np.inf
    mask[:] = True  # changed after the forward pass: the gradient is that of the mask as it was
    out.softmax(dim=-1).sum().backward()
    assert x.grad[0, 0] == 0.0
    np.testing.assert_array_equal(
        autodiff.tensor([1, 2]).masked_fill(np.array([True, False]), 2.7).data,
        torch.tensor([1, 2]).masked_fill(torch.tensor([True, False]), 2.7).numpy(),
    )
    with pytest.raises(TypeError, match="boolean mask.*int64"):
        x.masked_fill(np.array([[1, 0], [0, 0]]), 0.0)
    with pytest.raises(ValueError, match="0-d tensor.*shape \\(2,\\)"):
        x.masked_fill(mask, autodiff.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="mask of shape \\(3,\\) does not broadcast with shape \\(2, 2\\)"):
        x.masked_fill(np.array([True, False, True]), 0.0)
    with pytest.raises(ValueError, match="-inf cannot be stored in a tensor of dtype int64"):
        autodiff.tensor([1, 2]).masked_fill(np.array([True, False]), float("-inf"))
    with pytest.raises(TypeError, match="value must be a number or a 0-d tensor, got str"):
        x.masked_fill(mask, "1")


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_tril_and_triu_match_pytorch_with_nan_and_inf(torch, name):
    @settings(max_examples=60)
    @given(matrices, st.integers(-5, 5), st.integers(0, 2**32 - 1))
    def check(shape, diagonal, seed):
        rng = np.random.default_rng(seed)
        data, upstream = with_specials(rng, shape), with_specials(rng, shape)
        against_torch(torch, lambda x: getattr(autodiff, name)(x, diagonal),
                      lambda t: getattr(torch, name)(t, diagonal), data, upstream)
        against_torch(torch, lambda x: getattr(x, name)(diagonal=diagonal),
                      lambda t: getattr(t, name)(diagonal=diagonal), data, upstream)

    check()


def test_tril_refuses_fewer_than_two_dimensions_as_pytorch_does(torch):
    for shape in [(), (3,)]:
        with pytest.raises(RuntimeError, match="at least 2 dimensions"):
            torch.tril(torch.ones(shape))
        with pytest.raises(ValueError, match=rf"tril needs a tensor of at least 2 dimensions.*shape {re.escape(str(shape))}"):
            autodiff.tril(autodiff.ones(shape))
    buffer = autodiff.tril(autodiff.ones(4, 4))
    assert buffer.dtype == np.float32 and buffer.tolist() == torch.tril(torch.ones(4, 4)).tolist()
    integers = autodiff.tensor([[1, 2], [3, 4]])
    for name in ("tril", "triu"):
        ours, theirs = getattr(autodiff, name)(integers), getattr(torch, name)(torch.tensor([[1, 2], [3, 4]]))
        assert ours.dtype == np.int64 and ours.tolist() == theirs.tolist()


def test_top_level_functions_take_values_and_refuse_what_is_neither_by_name(torch):
    for name in ("abs", "exp", "tanh", "relu", "sigmoid", "sin", "cos", "sqrt"):
        v, t = autodiff.Value(0.7), torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
        out, reference = getattr(autodiff, name)(v), getattr(torch, name)(t)
        out.backward()
        reference.backward()
        assert out.data == pytest.approx(reference.item(), rel=1e-14) and out.children == (v,)
        assert v.grad == pytest.approx(t.grad.item(), rel=1e-14)
    for name, argument in [("exp", 2.0), ("abs", None), ("sin", "x")]:
        with pytest.raises(TypeError, match=rf"{name}: no input is a Value or a Tensor"):
            getattr(autodiff, name)(argument)


def test_builtin_abs_on_tensors_and_values_matches_pytorch(torch):
    data = np.array([-2.0, -0.0, 0.0, 1.5, -np.inf])
    x, t = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    out, reference = abs(x), abs(t)
    np.testing.assert_array_equal(out.data, reference.detach().numpy())
    assert out.op == "abs"
    for number in data:
        v, s = autodiff.Value(number), torch.tensor(number, requires_grad=True)
        abs(v).backward()
        abs(s).backward()
        assert abs(v).data == pytest.approx(abs(s).item(), nan_ok=True)
        assert v.grad == s.grad.item(), number  # sign(x), and 0 at 0


# -- size, format specs, from_numpy, backward's arguments, assigning .grad --------------------------------


def test_size_is_numpys_element_count_and_pytorchs_size_method(torch):
    data = np.zeros((2, 1, 3))
    x, t = Tensor(data), torch.tensor(data)
    assert x.size == data.size == t.numel() == 6 and isinstance(x.size, int)
    assert x.size() == tuple(t.size()) == (2, 1, 3)
    for dim in range(-3, 3):
        assert x.size(dim) == t.size(dim) == x.size(dim=dim)
    # the int behaves as the int it is: arithmetic, comparison, hashing, formatting, indexing, pickling
    count = x.size
    assert count + 1 == 7 and 2 * count == 12 and count // 4 == 1 and -count == -6 and count < 7
    assert hash(count) == hash(6) and {count: "six"}[6] == "six" and f"{count:03d}" == "006" and str(count) == "6"
    assert np.zeros(count).shape == (6,) and list(range(count)) == list(range(6)) and [0] * count == [0] * 6
    assert type(pickle.loads(pickle.dumps(count))) is int and type(copy.deepcopy(count)) is int
    assert Tensor(np.zeros(())).size == 1 and Tensor(np.zeros(())).size() == () == tuple(torch.zeros(()).size())
    for dim in (3, -4):
        with pytest.raises(IndexError):
            t.size(dim)
        with pytest.raises(IndexError, match=f"dimension {dim} is out of range for a tensor of shape"):
            x.size(dim)
    with pytest.raises(TypeError, match="one integer dimension"):
        x.size(1.0)


def test_a_format_spec_formats_a_one_element_tensor_as_its_number(torch):
    loss = autodiff.tensor(1.234567)
    assert f"{loss:.4f}" == f"{torch.tensor(1.234567):.4f}" == "1.2346"
    assert f"{autodiff.tensor([[0.5]]):>6.2f}" == "  0.50" and f"{autodiff.tensor([3]):d}" == "3"
    assert f"{loss}" == str(loss) and format(autodiff.tensor([1.0, 2.0])) == str(autodiff.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"format spec '.2f' needs a one-element tensor, this one has shape \(2,\)"):
        f"{autodiff.tensor([1.0, 2.0]):.2f}"


def test_from_numpy_shares_memory_as_pytorchs_does(torch):
    for dtype in (np.float32, np.float64, np.int64, np.bool_):
        array = np.arange(6).reshape(2, 3).astype(dtype)
        ours, theirs = autodiff.from_numpy(array), torch.from_numpy(array)
        assert ours.dtype == array.dtype and str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        assert np.shares_memory(ours.data, array)
    array = np.arange(4.0)
    x = autodiff.from_numpy(array)
    array[0] = 10.0
    assert x.tolist() == [10.0, 1.0, 2.0, 3.0]
    x.add_(1.0)
    assert array.tolist() == [11.0, 2.0, 3.0, 4.0]
    strided = np.arange(12.0).reshape(3, 4)[:, ::2]
    np.testing.assert_array_equal(autodiff.from_numpy(strided).data, torch.from_numpy(strided).numpy())
    x.requires_grad_()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * array)
    with pytest.raises(TypeError, match="from_numpy takes a numpy array, got list"):
        autodiff.from_numpy([1.0, 2.0])


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")  # torch's, not ours
def test_numpy_reads_a_tensor_as_its_array_as_it_reads_pytorchs(torch):
    values = [[1.5, -2.0], [0.0, 3.25]]
    ours, theirs = autodiff.tensor(values), torch.tensor(values)
    for convert in (np.asarray, np.array, lambda t: np.asarray(t, dtype=np.float64)):
        got, expected = convert(ours), convert(theirs)
        assert type(got) is type(expected) and np.asarray(got).dtype == np.asarray(expected).dtype
        np.testing.assert_array_equal(got, expected)
    assert np.asarray(ours) is ours.data  # the same memory, as from PyTorch's CPU tensors
    copied = np.array(ours)
    copied[0, 0] = 7.0
    assert ours.tolist() == values
    np.testing.assert_array_equal(np.asarray([autodiff.tensor(1.0), autodiff.tensor(2.0)]), [1.0, 2.0])
    with pytest.raises(ValueError, match="float32 tensor cannot be read as float64 without a copy"):
        ours.__array__(np.float64, copy=False)


def test_numpy_reading_a_tensor_computed_from_the_inputs_is_refused_by_compile():
    def branchy(x):
        return x * 2 if np.asarray(x * 3).sum() > 0 else x

    with pytest.raises(autodiff.CompileError, match=r"numpy.asarray\(\).*test_pytorch_spellings.py"):
        autodiff.compile(branchy)(autodiff.tensor([1.0]))


def test_backward_takes_pytorchs_arguments_and_keeps_the_graph(torch):
    for lib, make in ((autodiff, lambda v: autodiff.tensor(v, requires_grad=True)),
                      (torch, lambda v: torch.tensor(v, requires_grad=True))):
        x = make([1.0, 2.0])
        y = (x * x).sum()
        y.backward(None, True)  # gradient, retain_graph, as PyTorch orders them
        y.backward(retain_graph=None)
        assert np.asarray(x.grad).tolist() == [4.0, 8.0]
        x.grad = None
        z = (x * x * x).sum()
        z.backward(retain_graph=True, create_graph=True)
        first = x.grad
        assert first.requires_grad and first.tolist() == [3.0, 12.0]
    v = autodiff.Value(3.0)
    w = v * v
    w.backward(None, True)
    w.backward(retain_graph=False)
    assert v.grad == 12.0
    v.grad = 0.0
    (v * v * v).backward(retain_graph=True, create_graph=True)
    assert isinstance(v.grad, autodiff.Value) and v.grad.data == 27.0


def test_grad_takes_retain_graph_and_allow_unused_as_pytorchs_does(torch):
    results = []
    for lib, make in ((autodiff, lambda v: autodiff.tensor(v, requires_grad=True)),
                      (torch, lambda v: torch.tensor(v, requires_grad=True))):
        grad = lib.autograd.grad
        x, unused = make([0.5, -1.5]), make([2.0])
        y = (x.tanh() * x).sum()
        (first,) = grad(y, x, retain_graph=True, create_graph=True)
        second = grad(first.sum(), [x, unused], retain_graph=True, allow_unused=True)
        assert second[1] is None
        results.append([np.asarray(first.detach()), np.asarray(second[0])])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    with pytest.raises(ValueError, match=r"input 1 .*not part of the graph.*allow_unused=True"):
        x = autodiff.tensor([1.0], requires_grad=True)
        autodiff.grad((x * x).sum(), [x, autodiff.tensor([1.0], requires_grad=True)])


def test_assigning_a_gradient_is_checked_as_pytorch_checks_it(torch):
    x, t = autodiff.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    for number in (0.0, 0):
        with pytest.raises(TypeError):
            t.grad = number
        with pytest.raises(TypeError, match=f"a gradient is None, a numpy array or a Tensor, got {type(number).__name__}"):
            x.grad = number
    with pytest.raises(RuntimeError, match="dtype 'double'"):
        t.grad = torch.zeros(2, dtype=torch.float64)
    for wrong in (np.zeros(2), autodiff.zeros(2, dtype=np.float64), np.zeros(2, dtype=np.int64)):
        with pytest.raises(TypeError, match="a gradient of dtype .* for a tensor of dtype float32"):
            x.grad = wrong
    with pytest.raises(ValueError, match=r"a gradient of shape \(3,\) for a tensor of shape \(2,\)"):
        x.grad = np.zeros(3, dtype=np.float32)
    scalar = autodiff.tensor(1.0, requires_grad=True)
    with pytest.raises(TypeError):
        scalar.grad = 0.0  # never a float64 0-d gradient on a float32 tensor
    x.grad = np.zeros(2, dtype=np.float32)
    (x * 3).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 3.0]
    x.grad = None
    assert x.grad is None


# -- autodiff.nn is the package nn, whatever the order of the imports --------------------------------------


@pytest.mark.parametrize("program", [
    "import autodiff.nn; import nn; assert autodiff.nn is nn",
    "import autodiff.nn.functional as F; import nn.functional; assert F is nn.functional",
    "from autodiff.nn import functional; import nn; assert functional is nn.functional",
    "import nn; import autodiff.nn as a; assert a is nn and a.Linear is nn.layers.Linear",
    "import autodiff; assert autodiff.nn.Linear is __import__('nn').Linear",
    "from autodiff import nn; import autodiff.nn.optim.lr_scheduler as s; assert s is nn.optim.lr_scheduler",
    "import autodiff, sys; assert 'nn' not in sys.modules and 'autodiff.nn' not in sys.modules",
])
def test_autodiff_nn_and_its_modules_are_nns_own_in_a_fresh_interpreter(program):
    """Each order of imports in a new interpreter: one module object under both names, no second copy."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", program], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_module_of_nn_is_reachable_as_a_module_of_autodiff_nn():
    import autodiff.nn

    names = [info.name for info in pkgutil.walk_packages(nn.__path__, prefix="nn.")]
    assert "nn.functional" in names and "nn.optim.lr_scheduler" in names
    for name in names:
        assert importlib.import_module(f"autodiff.{name}") is importlib.import_module(name), name
    assert autodiff.nn is nn
