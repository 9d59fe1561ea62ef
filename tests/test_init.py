"""nn.init: each rule's empirical mean and variance against its formula, and fans as PyTorch computes them."""

import math

import numpy as np
import pytest

import nn
from autodiff import Tensor
from nn import init

# 300 x 200 x 3 x 3 = 540,000 draws: the sample variance is within ~0.5% of the
# true one (its relative standard error is about √(2/n) for a normal, less for a
# uniform), so a 3% tolerance fails only for a wrong formula.
SHAPE = (300, 200, 3, 3)
FAN_IN, FAN_OUT = 200 * 9, 300 * 9


@pytest.fixture(autouse=True)
def seeded():
    nn.manual_seed(0)


def empty(shape=SHAPE, dtype=np.float64):
    return Tensor(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize(
    "fill, mean, variance, bound",
    [
        (lambda t: init.uniform_(t, -2.0, 4.0), 1.0, 6.0**2 / 12, (-2.0, 4.0)),
        (lambda t: init.normal_(t, 0.5, 3.0), 0.5, 9.0, None),
        (lambda t: init.xavier_uniform_(t), 0.0, 2 / (FAN_IN + FAN_OUT), math.sqrt(6 / (FAN_IN + FAN_OUT))),
        (lambda t: init.xavier_uniform_(t, gain=5 / 3), 0.0, (5 / 3) ** 2 * 2 / (FAN_IN + FAN_OUT), None),
        (lambda t: init.xavier_normal_(t), 0.0, 2 / (FAN_IN + FAN_OUT), None),
        (lambda t: init.xavier_normal_(t, gain=2.0), 0.0, 4 * 2 / (FAN_IN + FAN_OUT), None),
        (lambda t: init.he_uniform_(t), 0.0, 2 / FAN_IN, math.sqrt(6 / FAN_IN)),
        (lambda t: init.he_normal_(t), 0.0, 2 / FAN_IN, None),
    ],
    ids=["uniform", "normal", "xavier_uniform", "xavier_uniform_gain", "xavier_normal", "xavier_normal_gain",
         "he_uniform", "he_normal"],
)
def test_each_rule_draws_with_the_mean_and_variance_of_its_formula(fill, mean, variance, bound):
    t = empty()
    assert fill(t) is t  # fills in place and returns the tensor
    values = t.data
    assert values.mean() == pytest.approx(mean, abs=0.01 * math.sqrt(variance))
    assert values.var() == pytest.approx(variance, rel=0.03)
    if bound is not None:
        low, high = (-bound, bound) if isinstance(bound, float) else bound
        assert low <= values.min() < low + 0.01 * (high - low)
        assert high - 0.01 * (high - low) < values.max() <= high


def test_normal_draws_are_bell_shaped_and_uniform_ones_flat():
    normal = init.normal_(empty()).data
    assert np.mean(np.abs(normal) < 1) == pytest.approx(0.6827, abs=0.005)
    uniform = init.uniform_(empty(), 0.0, 1.0).data
    assert np.histogram(uniform, bins=10, range=(0, 1))[0] / uniform.size == pytest.approx([0.1] * 10, abs=0.003)


def test_zeros_clears_every_element():
    t = init.normal_(empty((5, 4)))
    assert init.zeros_(t) is t and not t.data.any()


def test_filling_keeps_the_dtype_and_the_array():
    t = empty((50, 40), dtype=np.float32)
    array = t.data
    init.he_normal_(t)
    assert t.data is array and t.dtype == np.float32 and array.std() > 0


def test_the_seed_makes_draws_repeat():
    nn.manual_seed(11)
    first = init.xavier_normal_(empty((20, 30))).data.copy()
    nn.manual_seed(11)
    np.testing.assert_array_equal(init.xavier_normal_(empty((20, 30))).data, first)


@pytest.mark.parametrize("shape", [(7, 3), (1, 1), (16, 8, 3, 3), (4, 2, 5), (6, 3, 2, 2, 2)])
def test_fans_are_computed_as_pytorch_computes_them(torch, shape):
    assert init.fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        init.fans((5,))
    with pytest.raises(ValueError):
        init.xavier_uniform_(empty((5,)))


def test_he_and_xavier_scales_match_pytorch_kaiming_and_xavier(torch):
    # the same rule in PyTorch: compare the spreads of two large draws
    shape = (256, 128, 3, 3)
    for ours, theirs in [
        (init.he_normal_, lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="relu")),
        (init.he_uniform_, lambda t: torch.nn.init.kaiming_uniform_(t, nonlinearity="relu")),
        (init.xavier_normal_, torch.nn.init.xavier_normal_),
        (init.xavier_uniform_, torch.nn.init.xavier_uniform_),
    ]:
        expected = theirs(torch.empty(shape, dtype=torch.float64)).numpy()
        assert ours(empty(shape)).data.std() == pytest.approx(expected.std(), rel=0.02)


def test_filling_a_weight_that_a_graph_saved_makes_its_backward_refuse():
    weight = Tensor(np.ones((3, 2)), requires_grad=True)
    loss = (weight * weight).sum()
    init.normal_(weight)
    with pytest.raises(RuntimeError, match="changed in place"):
        loss.backward()
