"""nn.utils.clip_grad_norm_ against torch.nn.utils.clip_grad_norm_."""

import math

import numpy as np
import pytest

import nn
from autodiff import Tensor, Value
from nn.utils import clip_grad_norm_

SHAPES = [(3, 4), (), (1,), (2, 1, 3), (5,)]


def gradients(seed, dtype, scale=1.0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=shape) * scale).astype(dtype) for shape in SHAPES]


def ours_with(grads):
    params = [Tensor(np.zeros(g.shape, dtype=g.dtype), requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.copy()
    return params


def theirs_with(torch, grads):
    params = [torch.zeros(g.shape, dtype=getattr(torch, str(g.dtype)), requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)
    return params


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 1e-6)])
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 1e6])
def test_clipping_matches_torch(torch, dtype, rtol, norm_type, max_norm):
    grads = gradients(int(max_norm * 10) % 7, dtype, scale=2.0)
    params, tparams = ours_with(grads), theirs_with(torch, grads)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    their_total = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert isinstance(total, Tensor) and total.shape == () and total.dtype == dtype
    np.testing.assert_allclose(total.data, their_total.numpy(), rtol=rtol)
    for p, tp in zip(params, tparams):
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=rtol, atol=1e-30)
    clipped = sum(np.sum(np.abs(p.grad.astype(np.float64)) ** norm_type) for p in params) ** (1 / norm_type) \
        if norm_type != math.inf else max(np.abs(p.grad).max() for p in params)
    assert clipped <= max_norm * (1 + 1e-5) or max_norm > total.item()


def test_gradients_are_scaled_in_place_and_missing_ones_skipped(torch):
    grads = gradients(1, np.float64)
    params = ours_with(grads)
    arrays = [p.grad for p in params]
    params[1].grad = None
    frozen = Tensor(np.ones(2), requires_grad=False)
    total = clip_grad_norm_([*params, frozen], 0.5)
    assert all(p.grad is a for p, a in zip(params, arrays) if p.grad is not None) and params[1].grad is None
    expected = math.sqrt(sum(float(np.sum(g * g)) for i, g in enumerate(grads) if i != 1))
    assert total.item() == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(params[0].grad, grads[0] * 0.5 / (expected + 1e-6), rtol=1e-14)


def test_values_and_a_single_tensor_are_accepted(torch):
    values = [Value(0.0), Value(0.0), Value(0.0)]
    for v, g in zip(values, [3.0, -4.0, 12.0]):
        v.grad = g
    total = clip_grad_norm_(values, 1.3)
    assert total.item() == 13.0 and total.dtype == np.float64
    assert [v.grad for v in values] == pytest.approx([3 * 1.3 / (13 + 1e-6), -4 * 1.3 / (13 + 1e-6),
                                                      12 * 1.3 / (13 + 1e-6)], rel=1e-15)
    assert all(type(v.grad) is float for v in values)
    single = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    single.grad = np.array([3.0, 4.0])
    tsingle = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
    tsingle.grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    assert clip_grad_norm_(single, 1.0).item() == torch.nn.utils.clip_grad_norm_(tsingle, 1.0).item() == 5.0
    np.testing.assert_array_equal(single.grad, tsingle.grad.numpy())


def test_no_gradients_give_a_zero_norm():
    assert clip_grad_norm_([Tensor([1.0], requires_grad=True)], 1.0).item() == 0.0
    assert clip_grad_norm_([], 1.0).item() == 0.0


def test_a_nonfinite_norm_raises_only_when_asked(torch):
    p = Tensor(np.zeros(2), requires_grad=True)
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match=r"total 2.0-norm of the gradients is inf.*error_if_nonfinite=False"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad, [np.inf, 1.0])
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as in PyTorch
        total = clip_grad_norm_([p], 1.0)
    tp = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    tp.grad = torch.tensor([np.inf, 1.0], dtype=torch.float64)
    assert total.item() == torch.nn.utils.clip_grad_norm_([tp], 1.0).item() == math.inf
    np.testing.assert_array_equal(p.grad, tp.grad.numpy())


def test_module_parameters_clip_through_nn_utils():
    nn.manual_seed(0)
    model = nn.Linear(3, 2)
    (model(np.ones((4, 3), dtype=np.float32)) ** 2).sum().backward()
    before = math.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in model.parameters()))
    total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.25)
    assert total.item() == pytest.approx(before, rel=1e-6)
    after = math.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in model.parameters()))
    assert after == pytest.approx(0.25, rel=1e-5)


@pytest.mark.parametrize("call, error, message", [
    (lambda: clip_grad_norm_([1.0], 1.0), TypeError, "parameter 0 is a float"),
    (lambda: clip_grad_norm_([], "big"), TypeError, "max_norm must be a number"),
    (lambda: clip_grad_norm_([], 1.0, norm_type=float("nan")), ValueError, "norm_type must not be NaN"),
])
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
