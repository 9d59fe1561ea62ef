"""Optimisers and learning-rate schedules: trajectories against torch.optim, param groups, state dicts."""

import copy
import importlib.util
import itertools
import math

import numpy as np
import pytest

import nn
from autodiff import Tensor, Value
from nn import optim

STEPS = 50

# (our class and torch's name, keyword arguments shared by both): every setting of every optimiser
CONFIGS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict()),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.03, momentum=0.8, weight_decay=0.2, nesterov=True)),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.005, maximize=True, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.4))),  # 1 - beta1 above 0.5: the other branch of lerp
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, betas=(0.85, 0.95), weight_decay=0.3)),
    ("AdamW", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.003, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.003, momentum=0.9)),
    ("RMSprop", dict(lr=0.003, centered=True)),
    ("RMSprop", dict(lr=0.003, centered=True, momentum=0.8, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.003, alpha=0.45, momentum=0.3)),
    ("RMSprop", dict(lr=0.002, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.2, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, eps=1e-3, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4)),
    ("Adadelta", dict(lr=0.5, weight_decay=0.1)),
    ("Adadelta", dict(rho=0.3, maximize=True)),
]
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kwargs.items()) for name, kwargs in CONFIGS]


# -- the problems: the same loss written for both engines ------------------------


def mlp_problem(seed=0):
    """Starting weights of a 3-4-2 tanh network and a batch to regress, in float64."""
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


def assert_same_trajectory(ours, theirs, rtol=1e-10):
    assert len(ours) == len(theirs)
    for step, (mine, expected) in enumerate(zip(ours, theirs)):
        for i, (a, b) in enumerate(zip(mine, expected)):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12, err_msg=f"step {step + 1}, parameter {i}")


def ours_mlp(weights):
    return [Tensor(w, requires_grad=True) for w in weights]


def torch_mlp(torch, weights):
    return [torch.tensor(w, requires_grad=True) for w in weights]


def detach(p):
    return p.detach().numpy()


def data(p):
    return p.data


# -- trajectories against torch.optim ----------------------------------------------


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_tensor_trajectory_matches_torch(torch, name, kwargs):
    weights, x, y = mlp_problem()
    params = ours_mlp(weights)
    ours = train(getattr(optim, name)(params, **kwargs), params, lambda: mlp_loss(params, x, y), data)

    tparams = torch_mlp(torch, weights)
    tx, ty = torch.tensor(x), torch.tensor(y)
    theirs = train(getattr(torch.optim, name)(tparams, **kwargs), tparams, lambda: mlp_loss(tparams, tx, ty), detach)
    assert_same_trajectory(ours, theirs)
    assert not np.allclose(ours[-1][0], weights[0])


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_value_trajectory_matches_torch(torch, name, kwargs):
    params = [Value(x) for x in VALUE_START]
    ours = train(getattr(optim, name)(params, **kwargs), params, lambda: value_loss(*params), data)

    tparams = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in VALUE_START]
    toptimizer = getattr(torch.optim, name)(tparams, **kwargs)

    def zero_gradient_for_the_unused(step):
        # a Value always has a gradient (0.0 when unused); torch would skip a None one
        tparams[3].grad = torch.zeros_like(tparams[3])

    theirs = train(toptimizer, tparams, lambda: torch_value_loss(torch, *tparams), detach,
                   before_step=zero_gradient_for_the_unused)
    assert_same_trajectory(ours, theirs)


def test_float32_tensors_follow_torch_in_float32(torch):
    weights, x, y = mlp_problem(seed=4)
    weights32 = [w.astype(np.float32) for w in weights]
    for name, kwargs in [("SGD", dict(lr=0.05, momentum=0.9)), ("Adam", dict(lr=0.01)), ("RMSprop", dict(lr=0.003)),
                         ("Adagrad", dict(lr=0.1)), ("Adadelta", dict())]:
        params = ours_mlp(weights32)
        x32, y32 = x.astype(np.float32), y.astype(np.float32)
        ours = train(getattr(optim, name)(params, **kwargs), params, lambda: mlp_loss(params, x32, y32), data, steps=20)
        assert all(a.dtype == np.float32 for a in (p.data for p in params))
        tparams = torch_mlp(torch, weights32)
        tx, ty = torch.tensor(x32), torch.tensor(y32)
        theirs = train(getattr(torch.optim, name)(tparams, **kwargs), tparams,
                       lambda: mlp_loss(tparams, tx, ty), detach, steps=20)
        assert_same_trajectory(ours, theirs, rtol=1e-4)


def test_values_and_tensors_in_one_optimizer_match_torch(torch):
    weights, x, y = mlp_problem()
    tensors = ours_mlp(weights)
    values = [Value(v) for v in VALUE_START[:3]]
    mixed = [values[0], tensors[0], values[1], *tensors[1:], values[2]]
    ours = train(optim.Adam(mixed, lr=0.01, weight_decay=0.05), mixed,
                 lambda: _SumOfLosses(mlp_loss(tensors, x, y), value_loss(*values, None)), data)

    ttensors = torch_mlp(torch, weights)
    tvalues = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in VALUE_START[:3]]
    tmixed = [tvalues[0], ttensors[0], tvalues[1], *ttensors[1:], tvalues[2]]
    tx, ty = torch.tensor(x), torch.tensor(y)
    theirs = train(torch.optim.Adam(tmixed, lr=0.01, weight_decay=0.05), tmixed,
                   lambda: mlp_loss(ttensors, tx, ty) + torch_value_loss(torch, *tvalues, None), detach)
    assert_same_trajectory(ours, theirs)


class _SumOfLosses:
    """A Tensor loss and a Value loss from separate engines, backpropagated one after the other."""

    def __init__(self, *losses):
        self.losses = losses

    def backward(self):
        for loss in self.losses:
            loss.backward()


# -- param groups ------------------------------------------------------------------


def grouped(params, values=()):
    """Three groups with their own settings: the first layer, the second, and any Values."""
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": 0.003, "momentum": 0.5}]
    if values:
        groups.append({"params": list(values), "lr": 0.02, "weight_decay": 0.1})
    return groups


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.2, centered=True)),
])
def test_param_groups_with_their_own_settings_match_torch(torch, name, kwargs):
    weights, x, y = mlp_problem(seed=1)
    params = ours_mlp(weights)
    optimizer = getattr(optim, name)(grouped(params), **kwargs)
    assert [g["lr"] for g in optimizer.param_groups] == [kwargs["lr"], 0.003]
    ours = train(optimizer, params, lambda: mlp_loss(params, x, y), data)

    tparams = torch_mlp(torch, weights)
    tx, ty = torch.tensor(x), torch.tensor(y)
    toptimizer = getattr(torch.optim, name)(grouped(tparams), **kwargs)
    theirs = train(toptimizer, tparams, lambda: mlp_loss(tparams, tx, ty), detach)
    assert_same_trajectory(ours, theirs)


def test_settings_changed_between_steps_are_used_as_in_torch(torch):
    weights, x, y = mlp_problem(seed=2)

    def change(optimizer):
        def before_step(step):
            if step == 10:
                optimizer.param_groups[0]["lr"] = 0.001
                optimizer.param_groups[1]["betas"] = (0.5, 0.9)
            if step == 20:
                optimizer.param_groups[1]["weight_decay"] = 0.3
                optimizer.param_groups[0]["maximize"] = True
        return before_step

    params = ours_mlp(weights)
    optimizer = optim.Adam([{"params": params[:2]}, {"params": params[2:]}], lr=0.01)
    ours = train(optimizer, params, lambda: mlp_loss(params, x, y), data, before_step=change(optimizer))
    tparams = torch_mlp(torch, weights)
    tx, ty = torch.tensor(x), torch.tensor(y)
    toptimizer = torch.optim.Adam([{"params": tparams[:2]}, {"params": tparams[2:]}], lr=0.01)
    theirs = train(toptimizer, tparams, lambda: mlp_loss(tparams, tx, ty), detach, before_step=change(toptimizer))
    assert_same_trajectory(ours, theirs)


@pytest.mark.parametrize("name, switch", [("Adam", "amsgrad"), ("RMSprop", "centered"), ("RMSprop", "momentum")])
def test_a_setting_switched_on_between_steps_starts_its_state_then(name, switch):
    weights, x, y = mlp_problem(seed=2)
    params = ours_mlp(weights)
    optimizer = getattr(optim, name)(params, lr=0.01)
    train(optimizer, params, lambda: mlp_loss(params, x, y), data, steps=3)
    optimizer.param_groups[0][switch] = 0.9 if switch == "momentum" else True
    train(optimizer, params, lambda: mlp_loss(params, x, y), data, steps=3)
    fresh = getattr(optim, name)(ours_mlp(weights), lr=0.01)
    fresh.load_state_dict(optimizer.state_dict())
    assert fresh.state_dict()["state"][0].keys() == optimizer.state_dict()["state"][0].keys()


def test_add_param_group_matches_torch(torch):
    weights, x, y = mlp_problem(seed=3)

    def run(params, make, snapshot, loss):
        optimizer = make(params[:2])
        history = train(optimizer, params, loss, snapshot, steps=5)
        optimizer.add_param_group({"params": params[2:], "lr": 0.02, "nesterov": True})
        return history + train(optimizer, params, loss, snapshot, steps=10)

    params = ours_mlp(weights)
    ours = run(params, lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), data, lambda: mlp_loss(params, x, y))
    tparams = torch_mlp(torch, weights)
    tx, ty = torch.tensor(x), torch.tensor(y)
    theirs = run(tparams, lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), detach,
                 lambda: mlp_loss(tparams, tx, ty))
    assert_same_trajectory(ours, theirs)
    np.testing.assert_array_equal(ours[4][3], weights[3])


def test_adagrad_makes_the_state_of_a_parameter_when_it_joins_as_torch_does(torch):
    a, b = Tensor(np.ones(2), requires_grad=True), Value(1.0)
    optimizer = optim.Adagrad([a], initial_accumulator_value=0.25)
    optimizer.add_param_group({"params": [b], "initial_accumulator_value": 0.5})
    state = optimizer.state_dict()["state"]
    assert state[0]["step"] == 0.0 and state[1]["step"] == 0.0
    np.testing.assert_array_equal(state[0]["sum"], [0.25, 0.25])
    assert state[1]["sum"] == 0.5
    ta = torch.ones(2, dtype=torch.float64, requires_grad=True)
    their_state = torch.optim.Adagrad([ta], initial_accumulator_value=0.25).state_dict()["state"]
    assert list(their_state[0]) == list(state[0])


def test_lr_reads_and_sets_the_only_group_and_is_ambiguous_with_several():
    v = Value(1.0)
    optimizer = optim.SGD([v], lr=0.1)
    optimizer.lr = 0.5
    assert optimizer.param_groups[0]["lr"] == 0.5
    v.grad = 1.0
    optimizer.step()
    assert v.data == 0.5
    two = optim.SGD([{"params": [Value(1.0)]}, {"params": [Value(2.0)], "lr": 0.2}], lr=0.1)
    with pytest.raises(AttributeError, match=r"ambiguous with 2 param groups.*param_groups\[i\]\['lr'\]"):
        two.lr
    with pytest.raises(AttributeError, match="ambiguous"):
        two.lr = 0.3
    assert [g["lr"] for g in two.param_groups] == [0.1, 0.2]


def test_group_dicts_keep_extra_keys_and_settings_fill_from_the_defaults():
    a, b = Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)
    optimizer = optim.Adam([{"params": [a], "name": "body"}, {"params": b, "betas": [0.5, 0.6]}], lr=0.1)
    first, second = optimizer.param_groups
    assert first["name"] == "body" and first["betas"] == (0.9, 0.999) and first["lr"] == 0.1
    assert second["params"] == [b] and second["betas"] == (0.5, 0.6) and second["amsgrad"] is False


# -- what a step does and does not touch -------------------------------------------


def test_tensor_updates_happen_in_place_keep_the_dtype_and_count_a_version(monkeypatch):
    p = Tensor(np.array([1.0, -2.0], dtype=np.float32), requires_grad=True)
    alias = p.data
    optimizer = optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    gradient = p.grad.copy()
    bumped = []
    real_bump = Tensor._bump_version
    monkeypatch.setattr(Tensor, "_bump_version", lambda self: (bumped.append(self), real_bump(self)))
    optimizer.step()
    assert p.data is alias and p.data.dtype == np.float32
    assert bumped == [p]
    np.testing.assert_allclose(alias, [0.9, -1.9], rtol=1e-6)
    np.testing.assert_array_equal(p.grad, gradient)  # the gradient is read, never written


@pytest.mark.skipif(importlib.util.find_spec("autodiff.mode") is None,
                    reason="backward checks versions from the core redesign on (autodiff.mode)")
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad", "Adadelta"])
def test_a_graph_recorded_before_a_step_refuses_a_later_backward(name):
    p = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    stale = (p * p).sum()
    optimizer = getattr(optim, name)([p])
    (p * 3).sum().backward()
    optimizer.step()
    with pytest.raises(RuntimeError, match="changed in place"):
        stale.backward()


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_a_step_never_writes_into_the_gradient(name, kwargs):
    weights, x, y = mlp_problem()
    params = ours_mlp(weights)
    optimizer = getattr(optim, name)(params, **kwargs)
    for _ in range(3):
        optimizer.zero_grad()
        mlp_loss(params, x, y).backward()
        gradients = [p.grad.copy() for p in params]
        optimizer.step()
        for p, g in zip(params, gradients):
            np.testing.assert_array_equal(p.grad, g)


def test_value_updates_keep_a_float_and_record_no_graph():
    v = Value(2.0)
    optimizer = optim.SGD([v], lr=0.25, momentum=0.5)
    (v * v).backward()
    optimizer.step()
    assert type(v.data) is float and v.data == 1.0
    assert v.op == "" and v.children == ()


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.5)),
    ("AdamW", dict(lr=0.1, weight_decay=0.5)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.5)),
], ids=["SGD", "AdamW", "Adagrad"])
def test_frozen_tensors_are_left_alone(name, kwargs):
    weights, x, y = mlp_problem()
    params = ours_mlp(weights)
    params[0].requires_grad = False  # frozen: no gradient reaches it
    optimizer = getattr(optim, name)(params, **kwargs)
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
    ours = train(optim.Adam(params, lr=0.1), params, lambda: loss_using_b_after_5_steps(*params, our_steps), data)

    tparams = [torch.tensor(s, requires_grad=True) for s in start]
    torch_steps = itertools.count(1)
    theirs = train(torch.optim.Adam(tparams, lr=0.1), tparams,
                   lambda: loss_using_b_after_5_steps(*tparams, torch_steps), detach)
    assert_same_trajectory(ours, theirs)
    np.testing.assert_array_equal(ours[4][1], start[1])
    assert ours[5][1] != start[1]


def test_zero_grad_resets_values_to_zero_and_tensors_to_none_or_zeros():
    v, t = Value(1.0), Tensor([1.0, 2.0], requires_grad=True)
    (v * 3).backward()
    (t * 3).sum().backward()
    optimizer = optim.SGD([v, t], lr=0.1)
    optimizer.zero_grad(set_to_none=False)
    assert v.grad == 0.0
    np.testing.assert_array_equal(t.grad, [0.0, 0.0])
    (t * 3).sum().backward()
    np.testing.assert_array_equal(t.grad, [3.0, 3.0])
    optimizer.zero_grad()
    assert v.grad == 0.0 and t.grad is None


def test_step_returns_what_the_closure_returns(torch):
    weights, x, y = mlp_problem()
    params = ours_mlp(weights)
    optimizer = optim.SGD(params, lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = mlp_loss(params, x, y)
        loss.backward()
        return loss

    first = optimizer.step(closure)
    assert first.item() > optimizer.step(closure).item()


@pytest.mark.parametrize("make, error, message", [
    (lambda: optim.SGD([], lr=0.1), ValueError, "empty list"),
    (lambda: optim.SGD([Value(1.0)], lr=-0.1), ValueError, "learning rate must be at least 0"),
    (lambda: optim.SGD([Value(1.0)], lr="fast"), TypeError, "learning rate must be a number"),
    (lambda: optim.SGD([Value(1.0)], lr=0.1, nesterov=True), ValueError, "Nesterov momentum needs momentum > 0"),
    (lambda: optim.SGD([Value(1.0)], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "and dampening 0"),
    (lambda: optim.SGD([Value(1.0)], lr=0.1, momentum=-0.5), ValueError, "momentum must be at least 0"),
    (lambda: optim.SGD([Value(1.0)], maximize=1), TypeError, "maximize must be True or False"),
    (lambda: optim.Adam([Value(1.0)], weight_decay=-1), ValueError, "weight_decay must be at least 0"),
    (lambda: optim.Adam([Value(1.0)], betas=(0.9, 1.0)), ValueError, r"betas\[1\] must lie in \[0, 1\)"),
    (lambda: optim.Adam([Value(1.0)], betas=0.9), ValueError, r"betas must be a pair"),
    (lambda: optim.AdamW([Value(1.0)], eps=-1e-8), ValueError, "eps must be at least 0"),
    (lambda: optim.RMSprop([Value(1.0)], alpha=-0.1), ValueError, "alpha must be at least 0"),
    (lambda: optim.Adagrad([Value(1.0)], lr_decay=-0.1), ValueError, "lr_decay must be at least 0"),
    (lambda: optim.Adagrad([Value(1.0)], initial_accumulator_value=-1), ValueError,
     "initial_accumulator_value must be at least 0"),
    (lambda: optim.Adadelta([Value(1.0)], rho=1.5), ValueError, r"rho must lie in \[0, 1\]"),
    (lambda: optim.SGD(nn.MLP(2, [1]), lr=0.1), TypeError, r"model.parameters\(\)"),
    (lambda: optim.SGD(Tensor([1.0], requires_grad=True), lr=0.1), TypeError, "single Tensor"),
    (lambda: optim.SGD({Value(1.0)}, lr=0.1), TypeError, "not a set"),
    (lambda: optim.SGD([Value(1.0), 2.0], lr=0.1), TypeError, "parameter 1 is a float"),
    (lambda: optim.SGD([v := Value(1.0), v], lr=0.1), ValueError, "parameter 1 appears more than once"),
    (lambda: optim.SGD([{"params": [v := Value(1.0)]}, {"params": [v]}], lr=0.1), ValueError,
     "param group 1: parameter 0 is in an earlier param group too"),
    (lambda: optim.SGD([{"params": [Value(1.0)]}, Value(2.0)], lr=0.1), TypeError, "mixing parameters and"),
    (lambda: optim.SGD([{"lr": 0.1}], lr=0.1), ValueError, "needs 'params'"),
    (lambda: optim.SGD([{"params": [Value(1.0)], "lr": -1}], lr=0.1), ValueError,
     "param group 0: learning rate must be at least 0"),
    (lambda: optim.SGD([Tensor([1.0], requires_grad=True) * 2], lr=0.1), ValueError, r"result of '\*'.*not a leaf"),
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


# -- state dicts -------------------------------------------------------------------


def resumed_equals_uninterrupted(name, kwargs, params_of, loss_of, snapshot, first=10, then=15):
    """Train first + then steps; and first steps, a state dict, a fresh optimiser loaded with it, then steps."""
    params = params_of()
    optimizer = getattr(optim, name)(grouped_or_plain(params, name), **kwargs)
    uninterrupted = train(optimizer, params, loss_of(params), snapshot, steps=first + then)

    params = params_of()
    optimizer = getattr(optim, name)(grouped_or_plain(params, name), **kwargs)
    train(optimizer, params, loss_of(params), snapshot, steps=first)
    saved = optimizer.state_dict()
    weights = [copy.deepcopy(p.data) for p in params]
    for _ in range(3):  # the saved state is a copy: stepping on changes nothing in it
        optimizer.step()

    params = params_of()
    for p, w in zip(params, weights):
        if isinstance(p, Value):
            p.data = w
        else:
            p.data[...] = w
    fresh = getattr(optim, name)(grouped_or_plain(params, name), **kwargs)
    fresh.load_state_dict(saved)
    resumed = train(fresh, params, loss_of(params), snapshot, steps=then)
    for step, (a, b) in enumerate(zip(resumed, uninterrupted[first:])):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y, err_msg=f"step {first + step + 1}")


def grouped_or_plain(params, name):
    """Two groups with different learning rates (the second's parameters, the rest)."""
    return [{"params": params[:1]}, {"params": params[1:], "lr": 0.004}]


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_a_resumed_run_follows_the_uninterrupted_one_exactly(name, kwargs):
    weights, x, y = mlp_problem(seed=5)
    resumed_equals_uninterrupted(name, kwargs, lambda: ours_mlp(weights),
                                 lambda params: lambda: mlp_loss(params, x, y), data)


@pytest.mark.parametrize("name, kwargs", CONFIGS[::3], ids=IDS[::3])
def test_a_resumed_run_of_values_follows_the_uninterrupted_one_exactly(name, kwargs):
    resumed_equals_uninterrupted(name, kwargs, lambda: [Value(x) for x in VALUE_START],
                                 lambda params: lambda: value_loss(*params), data)


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_the_state_dict_has_torch_layout_and_values(torch, name, kwargs):
    weights, x, y = mlp_problem(seed=6)
    params = ours_mlp(weights)
    optimizer = getattr(optim, name)(grouped_or_plain(params, name), **kwargs)
    tparams = torch_mlp(torch, weights)
    toptimizer = getattr(torch.optim, name)(grouped_or_plain(tparams, name), **kwargs)
    # before any step only Adagrad has state
    assert optimizer.state_dict()["state"].keys() == toptimizer.state_dict()["state"].keys()
    tx, ty = torch.tensor(x), torch.tensor(y)
    params[2].requires_grad = False  # no state for a parameter that never stepped
    tparams[2].requires_grad = False
    train(optimizer, params, lambda: mlp_loss(params, x, y), data, steps=7)
    train(toptimizer, tparams, lambda: mlp_loss(tparams, tx, ty), detach, steps=7)
    ours_state, their_state = optimizer.state_dict(), toptimizer.state_dict()

    assert len(ours_state["param_groups"]) == len(their_state["param_groups"]) == 2
    for group, their_group in zip(ours_state["param_groups"], their_state["param_groups"]):
        assert group["params"] == their_group["params"]
        for setting, value in group.items():
            assert setting in their_group, setting
            assert value == pytest.approx(their_group[setting]), setting
    assert ours_state["state"].keys() == their_state["state"].keys()
    assert set(ours_state["state"]) == (set() if name == "SGD" and not kwargs.get("momentum")
                                        else {0, 1, 2, 3} if name == "Adagrad" else {0, 1, 3})
    for index, state in ours_state["state"].items():
        their_entry = their_state["state"][index]
        assert list(state) == list(their_entry)
        for key, array in state.items():
            assert isinstance(array, np.ndarray)
            np.testing.assert_allclose(array, their_entry[key].numpy(), rtol=1e-10, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("name, kwargs", CONFIGS[::2], ids=IDS[::2])
def test_state_dicts_move_between_torch_and_here(torch, name, kwargs):
    """Our state dict loaded into torch.optim, and torch's into ours: both go on as the uninterrupted run."""
    weights, x, y = mlp_problem(seed=7)
    tx, ty = torch.tensor(x), torch.tensor(y)
    params = ours_mlp(weights)
    optimizer = getattr(optim, name)(grouped_or_plain(params, name), **kwargs)
    train(optimizer, params, lambda: mlp_loss(params, x, y), data, steps=6)
    tparams = torch_mlp(torch, weights)
    toptimizer = getattr(torch.optim, name)(grouped_or_plain(tparams, name), **kwargs)
    train(toptimizer, tparams, lambda: mlp_loss(tparams, tx, ty), detach, steps=6)

    # ours -> torch
    saved = optimizer.state_dict()
    as_torch = {"param_groups": saved["param_groups"],
                "state": {i: {k: torch.tensor(v) for k, v in s.items()} for i, s in saved["state"].items()}}
    tcopy = [torch.tensor(p.data, requires_grad=True) for p in params]
    toptimizer_from_ours = getattr(torch.optim, name)(grouped_or_plain(tcopy, name), **kwargs)
    toptimizer_from_ours.load_state_dict(as_torch)
    # torch -> ours
    their_saved = toptimizer.state_dict()
    our_copy = [Tensor(p.detach().numpy(), requires_grad=True) for p in tparams]
    optimizer_from_theirs = getattr(optim, name)(grouped_or_plain(our_copy, name), **kwargs)
    optimizer_from_theirs.load_state_dict(their_saved)

    ours = train(optimizer, params, lambda: mlp_loss(params, x, y), data, steps=10)
    theirs = train(toptimizer_from_ours, tcopy, lambda: mlp_loss(tcopy, tx, ty), detach, steps=10)
    assert_same_trajectory(ours, theirs)
    from_theirs = train(optimizer_from_theirs, our_copy, lambda: mlp_loss(our_copy, x, y), data, steps=10)
    torch_on = train(toptimizer, tparams, lambda: mlp_loss(tparams, tx, ty), detach, steps=10)
    assert_same_trajectory(from_theirs, torch_on)
    assert "foreach" not in optimizer_from_theirs.param_groups[0]  # torch's implementation choices are left out


def test_loading_restores_the_settings_and_the_state_is_copied_in_the_parameter_dtype():
    a = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    optimizer = optim.Adam([a], lr=0.1, betas=(0.5, 0.6))
    (a * a).sum().backward()
    optimizer.step()
    saved = optimizer.state_dict()
    assert saved["state"][0]["step"].dtype == np.float64 and saved["state"][0]["step"] == 1.0
    assert saved["state"][0]["exp_avg"].dtype == np.float32
    saved["state"][0]["exp_avg"] = saved["state"][0]["exp_avg"].astype(np.float64)
    fresh = optim.Adam([a])
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.1 and fresh.param_groups[0]["betas"] == (0.5, 0.6)
    assert fresh.param_groups[0]["params"][0] is a
    restored = fresh.state_dict()["state"][0]
    assert restored["exp_avg"].dtype == np.float32
    saved["state"][0]["exp_avg"][...] = 99.0  # the loaded state is a copy
    assert fresh.state_dict()["state"][0]["exp_avg"][0] != 99.0


def _adam_state_dict():
    a, b = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    optimizer = optim.Adam([a, b], lr=0.1)
    ((a * b).sum()).backward()
    optimizer.step()
    return optimizer.state_dict()


def _changed(change):
    saved = _adam_state_dict()
    change(saved)
    return saved


@pytest.mark.parametrize("state_dict, error, message", [
    ({"state": {}}, TypeError, "a dict with 'state' and 'param_groups'"),
    (_changed(lambda s: s["param_groups"].append({"params": [], "lr": 0.1})), ValueError,
     "the state dict has 2 param groups, this optimiser has 1"),
    (_changed(lambda s: s["param_groups"][0]["params"].pop()), ValueError,
     "param group 0 of the state dict has 1 parameters, this optimiser's has 2"),
    (_changed(lambda s: s["state"][0].update(exp_avg=np.zeros((3, 2)))), ValueError,
     r"parameter 0 \(param group 0\): 'exp_avg' has shape \(3, 2\), the parameter has shape \(2, 3\)"),
    (_changed(lambda s: s["state"][1].pop("exp_avg_sq")), ValueError, r"lacks \['exp_avg_sq'\]"),
    (_changed(lambda s: s["state"][1].update(momentum_buffer=np.zeros(3))), ValueError,
     r"has \['momentum_buffer'\] too many"),
    (_changed(lambda s: s["param_groups"][0].update(amsgrad=True)), ValueError, r"lacks \['max_exp_avg_sq'\]"),
    (_changed(lambda s: s["state"][1].update(step=np.array(-2.0))), ValueError, "'step' must be one whole number"),
    (_changed(lambda s: s["state"][1].update(exp_avg=np.array(["a", "b", "c"]))), TypeError, "real numbers"),
    (_changed(lambda s: s["state"].update({7: s["state"][0]})), ValueError, r"state for parameters \[7\]"),
    (_changed(lambda s: s["param_groups"][0].update(lr=-1.0)), ValueError,
     "param group 0 of the state dict: learning rate must be at least 0"),
], ids=["layout", "groups", "params", "shape", "missing", "extra", "amsgrad", "step", "dtype", "index", "setting"])
def test_a_state_dict_that_does_not_fit_is_refused_and_changes_nothing(state_dict, error, message):
    a, b = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    optimizer = optim.Adam([a, b], lr=0.5)
    (a * b).sum().backward()
    optimizer.step()
    before = optimizer.state_dict()
    with pytest.raises(error, match=message):
        optimizer.load_state_dict(state_dict)
    after = optimizer.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for index in before["state"]:
        for key in before["state"][index]:
            np.testing.assert_array_equal(after["state"][index][key], before["state"][index][key])


def test_values_of_one_group_share_their_state_or_the_load_says_why():
    values = [Value(1.0), Value(2.0)]
    optimizer = optim.Adam(values, lr=0.1)
    (values[0] * values[1]).backward()
    optimizer.step()
    saved = optimizer.state_dict()
    assert saved["state"][1]["exp_avg"].shape == ()
    partial = copy.deepcopy(saved)
    del partial["state"][1]
    with pytest.raises(ValueError, match="some of its Values have optimiser state and some do not"):
        optim.Adam([Value(1.0), Value(2.0)]).load_state_dict(partial)
    uneven = copy.deepcopy(saved)
    uneven["state"][1]["step"] = np.array(4.0)
    with pytest.raises(ValueError, match=r"different step counts \[1.0, 4.0\]"):
        optim.Adam([Value(1.0), Value(2.0)]).load_state_dict(uneven)


def test_values_added_to_a_group_later_are_updated():
    optimizer = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.5)
    late = Value(3.0)
    optimizer.param_groups[0]["params"].append(late)
    late.grad = 2.0
    optimizer.step()
    assert late.data == 2.0


def test_replacing_the_values_of_a_group_after_steps_is_refused():
    optimizer = optim.SGD([Value(1.0)], lr=0.1, momentum=0.9)
    optimizer.param_groups[0]["params"][0].grad = 1.0
    optimizer.step()
    optimizer.param_groups[0]["params"] = [Value(5.0)]
    with pytest.raises(RuntimeError, match="the Values of param group 0 changed"):
        optimizer.step()


# -- learning-rate schedules ------------------------------------------------------


SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=1)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.95**epoch)),
    ("LambdaLR", dict(lr_lambda=[lambda epoch: 1 / (1 + epoch), lambda epoch: 0.5 ** (epoch % 4)])),
]


def two_group_sgd(make_params, sgd):
    return sgd([{"params": make_params()}, {"params": make_params(), "lr": 0.03}], lr=0.1)


@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=[f"{s[0]}-{i}" for i, s in enumerate(SCHEDULES)])
def test_schedule_matches_torch_in_every_group(torch, name, kwargs):
    optimizer = two_group_sgd(lambda: [Value(1.0)], optim.SGD)
    schedule = getattr(optim, name)(optimizer, **kwargs)
    toptimizer = two_group_sgd(lambda: [torch.zeros(1, requires_grad=True)], torch.optim.SGD)
    tschedule = getattr(torch.optim.lr_scheduler, name)(toptimizer, **kwargs)
    for epoch in range(30):  # past T_max, where the cosine climbs back
        rates = [group["lr"] for group in optimizer.param_groups]
        assert rates == [group["lr"] for group in toptimizer.param_groups], epoch
        assert schedule.get_last_lr() == tschedule.get_last_lr() == rates
        if epoch == 12:  # a rate changed by hand: chained schedules carry on from it, as torch's do
            optimizer.param_groups[1]["lr"] = toptimizer.param_groups[1]["lr"] = 0.07
        optimizer.step()
        toptimizer.step()
        schedule.step()
        tschedule.step()


def test_training_with_a_schedule_matches_torch(torch):
    weights, x, y = mlp_problem(seed=3)
    params = ours_mlp(weights)
    optimizer = optim.SGD(params, lr=0.1, momentum=0.9)
    schedule = optim.CosineAnnealingLR(optimizer, T_max=STEPS)
    ours = train(optimizer, params, lambda: mlp_loss(params, x, y), data,
                 before_step=lambda step: step and schedule.step())

    tparams = torch_mlp(torch, weights)
    tx, ty = torch.tensor(x), torch.tensor(y)
    toptimizer = torch.optim.SGD(tparams, lr=0.1, momentum=0.9)
    tschedule = torch.optim.lr_scheduler.CosineAnnealingLR(toptimizer, T_max=STEPS)
    theirs = train(toptimizer, tparams, lambda: mlp_loss(tparams, tx, ty), detach,
                   before_step=lambda step: step and tschedule.step())
    assert_same_trajectory(ours, theirs)
    assert optimizer.lr == pytest.approx(0.1 * (1 + math.cos(math.pi * (STEPS - 1) / STEPS)) / 2)


@pytest.mark.parametrize("name, kwargs", SCHEDULES[:4], ids=[f"{s[0]}-{i}" for i, s in enumerate(SCHEDULES[:4])])
def test_a_schedule_resumed_from_state_dicts_follows_the_uninterrupted_one(torch, name, kwargs):
    def rates(optimizer, schedule, epochs):
        out = []
        for _ in range(epochs):
            optimizer.step()
            schedule.step()
            out.append([group["lr"] for group in optimizer.param_groups])
        return out

    optimizer = two_group_sgd(lambda: [Value(1.0)], optim.SGD)
    schedule = getattr(optim, name)(optimizer, **kwargs)
    uninterrupted = rates(optimizer, schedule, 25)

    optimizer = two_group_sgd(lambda: [Value(1.0)], optim.SGD)
    schedule = getattr(optim, name)(optimizer, **kwargs)
    rates(optimizer, schedule, 9)
    saved_optimizer, saved_schedule = optimizer.state_dict(), schedule.state_dict()
    assert all("initial_lr" in group for group in saved_optimizer["param_groups"])

    # PyTorch's order: the schedule first (it sets the rates), then the state dicts
    fresh = two_group_sgd(lambda: [Value(1.0)], optim.SGD)
    resumed_schedule = getattr(optim, name)(fresh, **kwargs)
    fresh.load_state_dict(saved_optimizer)
    resumed_schedule.load_state_dict(saved_schedule)
    assert rates(fresh, resumed_schedule, 16) == uninterrupted[9:]


PLATEAUS = [
    dict(),
    dict(mode="max", factor=0.5, patience=2),
    dict(patience=1, threshold=0.1, threshold_mode="abs", cooldown=2),
    dict(mode="max", patience=0, threshold=0.05, threshold_mode="abs", min_lr=[0.01, 0.005]),
    dict(patience=1, factor=0.5, min_lr=0.02, eps=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAUS, ids=[str(i) for i in range(len(PLATEAUS))])
def test_reduce_lr_on_plateau_matches_torch(torch, kwargs):
    optimizer = two_group_sgd(lambda: [Value(1.0)], optim.SGD)
    schedule = optim.ReduceLROnPlateau(optimizer, **kwargs)
    toptimizer = two_group_sgd(lambda: [torch.zeros(1, requires_grad=True)], torch.optim.SGD)
    tschedule = torch.optim.lr_scheduler.ReduceLROnPlateau(toptimizer, **kwargs)
    metrics = np.random.default_rng(0).normal(size=60).cumsum() * 0.1 + np.linspace(3, 0, 60)
    changes = 0
    for epoch, metric in enumerate(metrics):
        before = schedule.get_last_lr()
        given = Tensor(metric) if epoch % 3 == 0 else Value(float(metric)) if epoch % 3 == 1 else float(metric)
        schedule.step(given)
        tschedule.step(float(metric))
        assert schedule.get_last_lr() == tschedule.get_last_lr(), epoch
        assert [g["lr"] for g in optimizer.param_groups] == [g["lr"] for g in toptimizer.param_groups]
        assert (schedule.best, schedule.num_bad_epochs) == (tschedule.best, tschedule.num_bad_epochs)
        changes += schedule.get_last_lr() != before
    assert changes > 0


@pytest.mark.parametrize("make, error, message", [
    (lambda o: optim.StepLR(o, step_size=0), ValueError, "step_size must be a positive integer"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be positive"),
    (lambda o: optim.LambdaLR(o, lr_lambda=0.5), TypeError, "lr_lambda must be a function"),
    (lambda o: optim.LambdaLR(o, lr_lambda=[abs, abs]), ValueError, r"one lr_lambda per param group \(1\), got 2"),
    (lambda o: optim.StepLR(object(), step_size=2), TypeError, "needs an optimiser"),
    (lambda o: optim.StepLR(o, step_size=2, last_epoch=4), KeyError, "no 'initial_lr'"),
    (lambda o: optim.ReduceLROnPlateau(o, factor=1.0), ValueError, r"factor must lie in \[0, 1\)"),
    (lambda o: optim.ReduceLROnPlateau(o, mode="lowest"), ValueError, "mode must be 'min' or 'max'"),
    (lambda o: optim.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold_mode must be 'rel' or 'abs'"),
    (lambda o: optim.ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), ValueError, r"one rate per param group \(1\)"),
    (lambda o: optim.ReduceLROnPlateau(o).step("bad"), TypeError, "the metric must be a number"),
    (lambda o: optim.StepLR(o, step_size=2).load_state_dict({"gamma": 1, "speed": 2}), ValueError,
     r"has no state named \['speed'\]"),
    (lambda o: (s := optim.StepLR(o, step_size=2), o.add_param_group({"params": [Value(2.0)]}), s.step()),
     RuntimeError, "the optimiser has 2 param groups, 1 when the schedule was made"),
])
def test_bad_schedules_raise_clear_errors(make, error, message):
    optimizer = optim.SGD([Value(1.0)], lr=0.1)
    with pytest.raises(error, match=message):
        make(optimizer)
