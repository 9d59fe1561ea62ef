"""An operation added at run time through the public way, ``autodiff.Primitive``, gets everything the built-in ones have.

``sinh`` is written once, as a user would: its forward pass and its one rule, with
the functions every namespace has (``xp.exp``). From that single definition both
engines compute it and its gradient (against PyTorch's ``torch.sinh`` and finite
differences in float64), differentiate the gradient again (second and third
derivatives), push tangents through it (``jvp``), keep float32 work in float32,
and show it by name with its rule in the trace, in ``draw_dot`` and on the
``explore`` page.
"""

import math

import numpy as np
import pytest

import autodiff
from autodiff import Tensor, Value, trace_backward
from explore_graphs import page_data
from needs_dot import needs_dot

SINH = autodiff.Primitive(
    "sinh",
    lambda xp, a: (xp.exp(a) - xp.exp(-a)) / 2,
    (lambda xp, g, out, a: (xp.exp(a) + xp.exp(-a)) / 2 * g,),
    elementwise=True, fresh=True,
    doc="sinh a = (e**a - e**-a) / 2;  dL/da = cosh(a) · g = (e**a + e**-a) / 2 · g.",
)

POINTS = np.array([[-1.25, 0.0, 0.5], [2.0, -0.25, 1.5]])
RTOL = 1e-12


def test_the_definition_is_the_documented_one():
    assert SINH.name == "sinh" and "cosh(a)" in SINH.__doc__
    assert autodiff.Primitive is autodiff.primitive.Primitive


@pytest.mark.parametrize("engine", [Value, Tensor], ids=["Value", "Tensor"])
def test_a_primitive_set_on_an_engine_is_a_method(monkeypatch, engine):
    monkeypatch.setattr(engine, "sinh", SINH, raising=False)
    assert engine.sinh is SINH
    x = engine(0.75) if engine is Value else Tensor(np.array([0.75, -0.5]), requires_grad=True)
    out = x.sinh()
    assert out.op == "sinh" and out.children == (x,)
    (out if engine is Value else out.sum()).backward()
    np.testing.assert_allclose(x.grad, np.cosh(x.data), rtol=RTOL)


@pytest.mark.parametrize("shape", [(), (1,), (2, 3)], ids=str)
def test_tensor_values_and_gradients_match_torch_and_finite_differences(torch, shape):
    values = POINTS.reshape(-1)[:int(np.prod(shape))].reshape(shape)
    rng = np.random.default_rng(0)
    upstream = rng.standard_normal(shape)
    x = Tensor(values, requires_grad=True)
    out = SINH(x)
    assert out.op == "sinh" and out.children == (x,)
    out.backward(upstream)
    twin = torch.tensor(values, requires_grad=True)
    twin_out = torch.sinh(twin)
    twin_out.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(out.data, twin_out.detach().numpy(), rtol=RTOL)
    np.testing.assert_allclose(x.grad, twin.grad.numpy(), rtol=RTOL)
    weights = Tensor(rng.standard_normal(shape))
    assert autodiff.gradcheck(lambda a: (SINH(a) * weights).sum(), [Tensor(values, requires_grad=True)])


def test_tensor_second_and_third_derivatives_match_torch(torch):
    rng = np.random.default_rng(1)
    v, u = rng.standard_normal(POINTS.shape), rng.standard_normal(POINTS.shape)
    x = Tensor(POINTS, requires_grad=True)
    twin = torch.tensor(POINTS, requires_grad=True)
    orders = []
    for lib, leaf, make in ((autodiff, x, Tensor), (torch.autograd, twin, torch.tensor)):
        loss = (SINH(leaf * leaf) if lib is autodiff else torch.sinh(leaf * leaf)).sum()
        (first,) = lib.grad(loss, [leaf], create_graph=True)
        (second,) = lib.grad((first * make(v)).sum(), [leaf], create_graph=True)  # H·v
        (third,) = lib.grad((second * make(u)).sum(), [leaf])
        orders.append([np.asarray(d.data if lib is autodiff else d.detach().numpy()) for d in (first, second, third)])
    for k, (ours, theirs) in enumerate(zip(*orders), start=1):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, err_msg=f"order {k}")


def test_tensor_gradient_passes_gradcheck_itself():
    """Finite differences of the gradient against its own backward: the rule is differentiable."""
    rng = np.random.default_rng(2)
    v = rng.standard_normal(POINTS.shape)

    @autodiff.enable_grad()  # gradcheck takes its differences under no_grad; the gradient needs a graph
    def directional_derivative(a):
        (g,) = autodiff.grad((SINH(a) * a).sum(), [a], create_graph=True)
        return (g * Tensor(v)).sum()

    assert autodiff.gradcheck(directional_derivative, [Tensor(POINTS, requires_grad=True)], atol=1e-6, rtol=1e-5)


def test_tensor_jvp_and_hvp_match_torch_func(torch):
    tangent = np.linspace(-1, 1, POINTS.size).reshape(POINTS.shape)
    out, slope = autodiff.jvp(SINH, Tensor(POINTS), tangent)
    twin_out, twin_slope = torch.func.jvp(torch.sinh, (torch.tensor(POINTS),), (torch.tensor(tangent),))
    np.testing.assert_allclose(out.data, twin_out.numpy(), rtol=RTOL)
    np.testing.assert_allclose(slope.data, twin_slope.numpy(), rtol=RTOL)
    _, hv = autodiff.hvp(lambda a: SINH(a).sum(), Tensor(POINTS), Tensor(tangent))
    np.testing.assert_allclose(hv.data, np.sinh(POINTS) * tangent, rtol=RTOL)  # d²/da² sinh a = sinh a


def test_float32_stays_float32(torch):
    x = Tensor(POINTS.astype(np.float32), requires_grad=True)
    out = SINH(x)
    out.backward(np.ones(POINTS.shape, dtype=np.float32))
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
    twin = torch.tensor(POINTS.astype(np.float32), requires_grad=True)
    torch.sinh(twin).sum().backward()
    np.testing.assert_allclose(x.grad, twin.grad.numpy(), rtol=2e-6)


@pytest.mark.parametrize("point", [-1.25, 0.0, 0.75, 2.0])
def test_value_derivatives_to_third_order_match_torch_and_finite_differences(torch, point):
    x = Value(point)
    twin = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    ours, theirs = [SINH(x * x) * x], [torch.sinh(twin * twin) * twin]
    for _ in range(3):
        (d,) = autodiff.grad(ours[-1], [x], create_graph=True)
        (twin_d,) = torch.autograd.grad(theirs[-1], [twin], create_graph=True)
        ours.append(d)
        theirs.append(twin_d)
    for order, (a, b) in enumerate(zip(ours, theirs)):
        assert isinstance(a, Value)
        assert a.data == pytest.approx(b.item(), rel=1e-10, abs=1e-12), f"order {order}"
    assert autodiff.gradcheck(SINH, [Value(point)])


def test_value_jvp_and_local_gradient():
    out, slope = autodiff.jvp(SINH, Value(0.75), 2.0)
    assert out.data == pytest.approx(math.sinh(0.75), rel=RTOL)
    assert slope.data == pytest.approx(2.0 * math.cosh(0.75), rel=RTOL)
    assert SINH(Value(0.75)).local_grads == pytest.approx((math.cosh(0.75),), rel=RTOL)
    assert autodiff.hessian(SINH, Value(0.75)).data == pytest.approx(math.sinh(0.75), rel=RTOL)


def test_the_trace_writes_the_rule_in_the_nodes_names():
    x = Value(0.5, label="x")
    trace = trace_backward(SINH(x), store=True)
    (step,) = [s for s in trace if s.kind == "chain"]
    assert step.text.startswith("x.grad += (exp(x.data) + exp(-x.data)) / 2 * sinh1.grad = ")
    assert x.grad == pytest.approx(math.cosh(0.5), rel=RTOL)
    t = Tensor(np.array([0.5, -1.0]), requires_grad=True, label="t")
    trace = trace_backward(SINH(t).sum(), store=True)
    step = next(s for s in trace if s.kind == "chain" and s.target is t)
    assert step.text.startswith("t.grad += (np.exp(t.data) + np.exp(-t.data)) / 2 * sinh1.grad  ->  ")
    np.testing.assert_allclose(t.grad, np.cosh([0.5, -1.0]), rtol=RTOL)


@pytest.mark.parametrize("engine", ["Value", "Tensor"])
def test_draw_dot_names_it(engine):
    x = Value(0.5, label="x") if engine == "Value" else Tensor(np.array([0.5, -1.0]), requires_grad=True, label="x")
    root = SINH(x) if engine == "Value" else SINH(x).sum()
    source = autodiff.draw_dot(root).source
    assert "label=sinh " in source and "sinh1" in source


@needs_dot
@pytest.mark.parametrize("engine", ["Value", "Tensor"])
def test_explore_steps_through_it(tmp_path, engine):
    x = Value(0.5, label="x") if engine == "Value" else Tensor(np.array([0.5, -1.0]), requires_grad=True, label="x")
    root = SINH(x * 2.0) if engine == "Value" else SINH(x * 2.0).sum()
    data = page_data(autodiff.explore(root, tmp_path / "sinh.html").html)
    assert "sinh" in [node["op"] for node in data["nodes"]]
    texts = [step["text"] for step in data["steps"]]
    assert any(text.startswith("mul1.grad += (") and "exp(-mul1.data)) / 2 * sinh1.grad" in text for text in texts)
