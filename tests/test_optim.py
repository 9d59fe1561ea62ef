"""Optimisers and learning-rate schedules: trajectories against torch.optim, step by step."""

import itertools
import math

import numpy as np
import pytest

import nn
from autodiff import Tensor, Value
from nn import optim

STEPS = 20

# (our class, torch's class name, keyword arguments shared by both)
CONFIGS = [
    (optim.SGD, "SGD", dict(lr=0.05)),
    (optim.SGD, "SGD", dict(lr=0.05, momentum=0.9)),
    (optim.SGD, "SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    (optim.SGD, "SGD", dict(lr=0.05, weight_decay=0.1)),
    (optim.SGD, "SGD", dict(lr=0.03, momentum=0.8, weight_decay=0.2, nesterov=True)),
    (optim.Adam, "Adam", dict(lr=0.01)),
    (optim.Adam, "Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    (optim.Adam, "Adam", dict(lr=0.01, weight_decay=0.1)),
    (optim.AdamW, "AdamW", dict(lr=0.01)),
    (optim.AdamW, "AdamW", dict(lr=0.02, betas=(0.85, 0.95), weight_decay=0.3)),
]
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kwargs.items()) for _, name, kwargs in CONFIGS]


# -- the problems: the same loss written for both engines ------------------------


def mlp_problem(seed=0):
    """Starting weights of a 3-4-2 tanh network and a batch to regress."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(2, 4)), rng.normal(size=2)]
    return weights, rng.normal(size=(8, 3)), rng.normal(size=(8, 2))


def mlp_loss(params, x, y):
    """Mean squared error of the network; works on our Tensors and on torch tensors alike."""
    w1, b1, w2, b2 = params
    out = (x @ w1.T + b1).tanh() @ w2.T + b2
    return ((out - y) ** 2).mean()


VALUE_START = [0.3, -0.8, 1.2, 0.5]


def value_loss(a, b, c, unused):
    """A bumpy function of scalars; ``unused`` gets no gradient, so only weight decay moves it."""
    return (a - 1) ** 2 + 3 * (b - a * a) ** 2 + (c * a - 0.5) ** 2 + (b * c).tanh()


def torch_value_loss(torch, a, b, c, unused):
    return (a - 1) ** 2 + 3 * (b - a * a) ** 2 + (c * a - 0.5) ** 2 + torch.tanh(b * c)


def train(optimizer, params, loss, snapshot, steps=STEPS, before_step=None):
    """Run ``steps`` steps; return the parameters after each, as lists of arrays."""
    history = []
    for step in range(steps):
        optimizer.zero_grad()
        loss().backward()
        if before_step is not None:
            before_step(step)
        optimizer.step()
        history.append([np.array(snapshot(p), dtype=np.float64) for p in params])
    return history


def assert_same_trajectory(ours, theirs):
    assert len(ours) == len(theirs)
    for step, (mine, expected) in enumerate(zip(ours, theirs)):
        for i, (a, b) in enumerate(zip(mine, expected)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"step {step + 1}, parameter {i}")


def torch_mlp_run(torch, torch_name, kwargs, weights, x, y, steps=STEPS):
    params = [torch.tensor(w, requires_grad=True) for w in weights]
    optimizer = getattr(torch.optim, torch_name)(params, **kwargs)
    tx, ty = torch.tensor(x), torch.tensor(y)
    return params, optimizer, lambda: mlp_loss(params, tx, ty)


# -- trajectories against torch.optim ----------------------------------------------


@pytest.mark.parametrize("cls, torch_name, kwargs", CONFIGS, ids=IDS)
def test_tensor_trajectory_matches_torch(torch, cls, torch_name, kwargs):
    weights, x, y = mlp_problem()
    params = [Tensor(w, requires_grad=True) for w in weights]
    ours = train(cls(params, **kwargs), params, lambda: mlp_loss(params, x, y), lambda p: p.data)

    tparams, toptimizer, tloss = torch_mlp_run(torch, torch_name, kwargs, weights, x, y)
    theirs = train(toptimizer, tparams, tloss, lambda p: p.detach().numpy())
    assert_same_trajectory(ours, theirs)


@pytest.mark.parametrize("cls, torch_name, kwargs", CONFIGS, ids=IDS)
def test_value_trajectory_matches_torch(torch, cls, torch_name, kwargs):
    params = [Value(x) for x in VALUE_START]
    ours = train(cls(params, **kwargs), params, lambda: value_loss(*params), lambda p: p.data)

    tparams = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in VALUE_START]
    toptimizer = getattr(torch.optim, torch_name)(tparams, **kwargs)

    def zero_gradient_for_the_unused(step):
        # a Value always has a gradient (0.0 when unused); torch would skip a None one
        tparams[3].grad = torch.zeros_like(tparams[3])

    theirs = train(toptimizer, tparams, lambda: torch_value_loss(torch, *tparams),
                   lambda p: p.detach().numpy(), before_step=zero_gradient_for_the_unused)
    assert_same_trajectory(ours, theirs)
    if kwargs.get("weight_decay"):
        assert params[3].data != VALUE_START[3]


def test_values_and_tensors_in_one_optimizer_match_torch(torch):
    weights, x, y = mlp_problem()
    tensors = [Tensor(w, requires_grad=True) for w in weights]
    values = [Value(v) for v in VALUE_START[:3]]
    mixed = [values[0], tensors[0], values[1], *tensors[1:], values[2]]
    ours = train(optim.Adam(mixed, lr=0.01, weight_decay=0.05), mixed,
                 lambda: _SumOfLosses(mlp_loss(tensors, x, y), value_loss(*values, None)),
                 lambda p: p.data)

    ttensors = [torch.tensor(w, requires_grad=True) for w in weights]
    tvalues = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in VALUE_START[:3]]
    tmixed = [tvalues[0], ttensors[0], tvalues[1], *ttensors[1:], tvalues[2]]
    tx, ty = torch.tensor(x), torch.tensor(y)
    theirs = train(torch.optim.Adam(tmixed, lr=0.01, weight_decay=0.05), tmixed,
                   lambda: mlp_loss(ttensors, tx, ty) + torch_value_loss(torch, *tvalues, None),
                   lambda p: p.detach().numpy())
    assert_same_trajectory(ours, theirs)


class _SumOfLosses:
    """A Tensor loss and a Value loss from separate engines, backpropagated one after the other."""

    def __init__(self, *losses):
        self.losses = losses

    def backward(self):
        for loss in self.losses:
            loss.backward()


# -- what a step does and does not touch -------------------------------------------


def test_tensor_updates_happen_in_place_and_keep_the_dtype():
    p = Tensor(np.array([1.0, -2.0], dtype=np.float32), requires_grad=True)
    alias = p.data
    optimizer = optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    optimizer.step()
    assert p.data is alias and p.data.dtype == np.float32
    np.testing.assert_allclose(alias, [0.9, -1.9], rtol=1e-6)


def test_value_updates_keep_a_float_and_record_no_graph():
    v = Value(2.0)
    optimizer = optim.SGD([v], lr=0.25, momentum=0.5)
    (v * v).backward()
    optimizer.step()
    assert type(v.data) is float and v.data == 1.0
    assert v.op == "" and v.children == ()


@pytest.mark.parametrize("cls, kwargs", [
    (optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.5)),
    (optim.AdamW, dict(lr=0.1, weight_decay=0.5)),
], ids=["SGD", "AdamW"])
def test_frozen_tensors_are_left_alone(cls, kwargs):
    weights, x, y = mlp_problem()
    params = [Tensor(w, requires_grad=True) for w in weights]
    params[0].requires_grad = False  # frozen: no gradient reaches it
    optimizer = cls(params, **kwargs)
    for _ in range(3):
        optimizer.zero_grad()
        mlp_loss(params, x, y).backward()
        params[3].grad = None  # a parameter that got no gradient this step
        optimizer.step()
    np.testing.assert_array_equal(params[0].data, weights[0])
    np.testing.assert_array_equal(params[3].data, weights[3])
    assert not np.allclose(params[1].data, weights[1])


def test_a_parameter_that_starts_late_counts_its_own_adam_steps_as_torch_does(torch):
    # b gets no gradient for the first 5 steps, so its first update is its own step 1
    start = [np.array([1.5, -0.5]), np.array([0.7])]

    def loss_using_b_after_5_steps(a, b, steps):
        loss = (a * a).sum()
        return loss + (b * a).sum() if next(steps) > 5 else loss

    params = [Tensor(s, requires_grad=True) for s in start]
    our_steps = itertools.count(1)
    ours = train(optim.Adam(params, lr=0.1), params,
                 lambda: loss_using_b_after_5_steps(*params, our_steps), lambda p: p.data)

    tparams = [torch.tensor(s, requires_grad=True) for s in start]
    torch_steps = itertools.count(1)
    theirs = train(torch.optim.Adam(tparams, lr=0.1), tparams,
                   lambda: loss_using_b_after_5_steps(*tparams, torch_steps), lambda p: p.detach().numpy())
    assert_same_trajectory(ours, theirs)
    np.testing.assert_array_equal(ours[4][1], start[1])
    assert ours[5][1] != start[1]


def test_zero_grad_resets_values_to_zero_and_tensors_to_none():
    v, t = Value(1.0), Tensor([1.0, 2.0], requires_grad=True)
    (v * 3).backward()
    (t * 3).sum().backward()
    optimizer = optim.SGD([v, t], lr=0.1)
    optimizer.zero_grad()
    assert v.grad == 0.0 and t.grad is None


def test_lr_is_a_public_attribute_the_next_step_uses():
    v = Value(1.0)
    optimizer = optim.SGD([v], lr=0.1)
    optimizer.lr = 0.5
    v.grad = 1.0
    optimizer.step()
    assert v.data == 0.5


@pytest.mark.parametrize("make, error, message", [
    (lambda: optim.SGD([], lr=0.1), ValueError, "empty list"),
    (lambda: optim.SGD([Value(1.0)], lr=-0.1), ValueError, "learning rate must be at least 0"),
    (lambda: optim.SGD([Value(1.0)], lr=0.1, nesterov=True), ValueError, "Nesterov momentum needs momentum"),
    (lambda: optim.SGD([Value(1.0)], lr=0.1, momentum=-0.5), ValueError, "momentum must be at least 0"),
    (lambda: optim.Adam([Value(1.0)], weight_decay=-1), ValueError, "weight_decay must be at least 0"),
    (lambda: optim.Adam([Value(1.0)], betas=(0.9, 1.0)), ValueError, r"betas\[1\] must lie in \[0, 1\)"),
    (lambda: optim.AdamW([Value(1.0)], eps=-1e-8), ValueError, "eps must be at least 0"),
    (lambda: optim.SGD(nn.MLP(2, [1]), lr=0.1), TypeError, r"model.parameters\(\)"),
    (lambda: optim.SGD(Tensor([1.0], requires_grad=True), lr=0.1), TypeError, "single Tensor"),
    (lambda: optim.SGD([Value(1.0), 2.0], lr=0.1), TypeError, "parameter 1 is a float"),
    (lambda: optim.SGD([v := Value(1.0), v], lr=0.1), ValueError, "parameter 1 appears more than once"),
])
def test_bad_settings_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_an_mlp_on_values_learns_with_adam():
    nn.manual_seed(0)
    model = nn.MLP(2, [8, 1])
    xs = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    ys = [-1, 1, 1, -1]  # xor
    optimizer = optim.Adam(model.parameters(), lr=0.05)

    def loss():
        return nn.hinge_loss([model(x) for x in xs], ys)

    first = loss().data
    for _ in range(200):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert loss().data < first
    assert nn.accuracy([model(x) for x in xs], ys) == 1.0


# -- learning-rate schedules ------------------------------------------------------


SCHEDULES = [
    (optim.StepLR, "StepLR", dict(step_size=3, gamma=0.5)),
    (optim.StepLR, "StepLR", dict(step_size=1)),
    (optim.CosineAnnealingLR, "CosineAnnealingLR", dict(T_max=10)),
    (optim.CosineAnnealingLR, "CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    (optim.LambdaLR, "LambdaLR", dict(lr_lambda=lambda epoch: 0.95**epoch)),
    (optim.LambdaLR, "LambdaLR", dict(lr_lambda=lambda epoch: 1 / (1 + epoch))),
]


@pytest.mark.parametrize("cls, torch_name, kwargs", SCHEDULES, ids=[f"{s[1]}-{i}" for i, s in enumerate(SCHEDULES)])
def test_schedule_matches_torch(torch, cls, torch_name, kwargs):
    optimizer = optim.SGD([Value(1.0)], lr=0.1)
    schedule = cls(optimizer, **kwargs)
    tparam = torch.zeros(1, requires_grad=True)
    toptimizer = torch.optim.SGD([tparam], lr=0.1)
    tschedule = getattr(torch.optim.lr_scheduler, torch_name)(toptimizer, **kwargs)
    for epoch in range(30):  # past T_max, where the cosine climbs back
        assert optimizer.lr == pytest.approx(toptimizer.param_groups[0]["lr"], rel=1e-12, abs=1e-15), epoch
        assert schedule.get_last_lr() == pytest.approx(tschedule.get_last_lr(), rel=1e-12, abs=1e-15)
        optimizer.step()
        toptimizer.step()
        schedule.step()
        tschedule.step()


def test_training_with_a_schedule_matches_torch(torch):
    weights, x, y = mlp_problem(seed=3)
    params = [Tensor(w, requires_grad=True) for w in weights]
    optimizer = optim.SGD(params, lr=0.1, momentum=0.9)
    schedule = optim.CosineAnnealingLR(optimizer, T_max=STEPS)
    ours = train(optimizer, params, lambda: mlp_loss(params, x, y), lambda p: p.data,
                 before_step=lambda step: step and schedule.step())

    tparams, toptimizer, tloss = torch_mlp_run(torch, "SGD", dict(lr=0.1, momentum=0.9), weights, x, y)
    tschedule = torch.optim.lr_scheduler.CosineAnnealingLR(toptimizer, T_max=STEPS)
    theirs = train(toptimizer, tparams, tloss, lambda p: p.detach().numpy(),
                   before_step=lambda step: step and tschedule.step())
    assert_same_trajectory(ours, theirs)
    assert optimizer.lr == pytest.approx(0.1 * (1 + math.cos(math.pi * (STEPS - 1) / STEPS)) / 2)


@pytest.mark.parametrize("make, error, message", [
    (lambda o: optim.StepLR(o, step_size=0), ValueError, "step_size must be a positive integer"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be positive"),
    (lambda o: optim.LambdaLR(o, lr_lambda=0.5), TypeError, "lr_lambda must be a function"),
    (lambda o: optim.StepLR(object(), step_size=2), TypeError, "needs an optimiser"),
])
def test_bad_schedules_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make(optim.SGD([Value(1.0)], lr=0.1))
