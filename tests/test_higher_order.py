"""Derivatives of derivatives and forward mode, against PyTorch in float64 (to 1e-9) and finite differences.

- Values: first, second and third derivatives, mixed partials included, through each Value row of the
  shared table (``op_table.OPS``);
- Tensors: gradient, Hessian-vector product and a third-order contraction through each Tensor row of the
  table on its cases (0-d and size-1 axes, broadcasting, matmul in every arrangement), compositions
  beyond one operation, and ``nn.functional``'s layers and losses;
- ``backward(create_graph=True)``: gradients that are graphs, accumulated as PyTorch accumulates them;
- a WGAN-GP critic and generator trained for several steps to PyTorch's weights;
- gradcheck of gradients: the finite differences of the first derivative against the second;
- ``jvp``, ``hvp`` and ``hessian`` against ``torch.func``; the operations that stay first-order refuse,
  naming themselves; random programs (hypothesis) through both orders.

Derivatives an output does not depend on are 0 in both engines: each differentiated output gets
``+ 0 * x.sum()`` for every input x, which leaves every number as it is and makes the dependence explicit
(PyTorch's ``allow_unused``).
"""

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autodiff
import nn
from autodiff import Tensor, Value
from op_table import ANY, BY_NAME, MATMUL, ONE, TENSOR, TWO, VALUE, Case, cases, function, rows, seeded, suited_operands

RTOL = ATOL = 1e-9


def assert_close(ours, theirs, what, rtol=RTOL):
    ours = np.asarray(ours.data if isinstance(ours, (Tensor, Value)) else ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, PyTorch {theirs.shape}"
    scale = max(1.0, float(np.abs(theirs).max(initial=0)))
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=ATOL * scale, err_msg=what)


def anchored(out, inputs):
    """``out`` + 0·Σx for every input x: the same number, depending on every input."""
    for x in inputs:
        out = out + (x * 0).sum() if not isinstance(x, Value) else out + x * 0
    return out


def ours_derivatives(out, inputs, create_graph=True):
    return list(autodiff.grad(anchored(out, inputs), inputs, create_graph=create_graph))


def torch_derivatives(torch, out, inputs, create_graph=True):
    return list(torch.autograd.grad(anchored(out, inputs), inputs, create_graph=create_graph))


# -- Values: every operation, to the third derivative -------------------------------------------


VALUE_ROWS = rows(VALUE)


def value_function(op, side, torch=None):
    """f(x, y) = op(x) · x · y, or op(x, y) · x · y: every partial derivative to the third order goes through op."""
    fn = function(op, side, op.takes.arity, torch=torch)
    return lambda x, y: fn(*(x, y)[:op.takes.arity]) * x * y


def value_point(op):
    """A point (x, y), each coordinate from the domain of the operand it feeds."""
    rng = seeded("point", op)
    return tuple(float(op.domain(k).draw(rng, ())) for k in range(2))


def all_partials(derivatives, f, inputs):
    """[f, ∂f/∂xᵢ, ∂²f/∂xᵢ∂xⱼ, ∂³f/∂xᵢ∂xⱼ∂xₖ] by repeated differentiation, in (i, j, k) order."""
    orders = [[f]]
    for _ in range(3):
        orders.append([d for out in orders[-1] for d in derivatives(out, inputs)])
    return orders


@pytest.mark.torch
@pytest.mark.parametrize("op", VALUE_ROWS, ids=str)
def test_value_derivatives_to_third_order_match_pytorch(torch, op):
    point = value_point(op)
    x, y = Value(point[0]), Value(point[1])
    tx, ty = (torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in point)
    ours = all_partials(ours_derivatives, value_function(op, "ours")(x, y), [x, y])
    theirs = all_partials(
        lambda o, i: torch_derivatives(torch, o, i), value_function(op, "theirs", torch)(tx, ty), [tx, ty]
    )
    for order, (mine, reference) in enumerate(zip(ours, theirs)):
        for k, (a, b) in enumerate(zip(mine, reference)):
            assert isinstance(a, Value)
            assert_close(a.data, b.item(), f"{op} at {point}: derivative {k} of order {order}")


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")  # PyTorch's note on reference cycles
def test_value_backward_create_graph_accumulates_as_pytorch(torch):
    """``backward(create_graph=True)`` leaves a Value graph in ``grad``; differentiating it adds to it."""
    x, y = Value(0.8), Value(-0.6)
    tx, ty = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.8, -0.6))
    for a, b in ((x, y), (tx, ty)):
        ((a * b).tanh() * a * a).backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.children, "the gradient is a node of a graph"
    assert_close(x.grad.data, tx.grad.item(), "first derivative")
    first_x = x.grad
    first_x.backward()  # d/dx and d/dy of ∂f/∂x, added to the gradients held
    tx.grad.backward()
    assert_close(x.grad.data, tx.grad.item(), "x.grad after the second backward")
    assert_close(y.grad.data, ty.grad.item(), "y.grad after the second backward")


@pytest.mark.torch
def test_value_grad_outputs_that_are_nodes_stay_in_the_graph(torch):
    x, s = Value(0.3), Value(2.0)
    (gx,) = autodiff.grad(x.tanh() * x, x, grad_outputs=s, create_graph=True)
    tx, ts = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.3, 2.0))
    (tgx,) = torch.autograd.grad(tx.tanh() * tx, tx, grad_outputs=ts, create_graph=True)
    for ours, theirs in zip(autodiff.grad(gx, [x, s]), torch.autograd.grad(tgx, [tx, ts])):
        assert_close(ours, theirs.item(), "derivative of a gradient in its seed")


# -- Tensors: every primitive, to a third-order contraction ---------------------------------------

def ours_namespace():
    return SimpleNamespace(
        const=Tensor, index=lambda values: np.asarray(values),
        cat=lambda ts, dim: autodiff.cat(ts, dim=dim),
        amax=lambda a, dim, keepdim: a.max(axis=dim, keepdims=keepdim),
    )


def torch_namespace(torch):
    return SimpleNamespace(
        const=torch.tensor, index=lambda values: torch.tensor(np.asarray(values)),
        cat=lambda ts, dim: torch.cat(ts, dim=dim),
        amax=lambda a, dim, keepdim: a.amax(dim=() if dim is None else dim, keepdim=keepdim),
    )


# compositions beyond one operation: a node reused, constants, ties, operations without a derivative
COMPOSITIONS = {
    "mul reused": ([(2, 3)], lambda M, a: a * a * a),
    "pow sum": ([(2, 1, 3)], lambda M, a: a ** 3 + a ** 2 + a ** 1.0),
    "pow zero times a": ([(3,)], lambda M, a: a ** 0 * a),
    "matmul reused": ([(3, 3)], lambda M, a: a @ a @ a),
    "matmul with a constant": ([(3, 4)], lambda M, a: M.const(np.linspace(-1, 1, 8).reshape(4, 2)) @ a.T.T[:, :2].T),
    "clip both": ([(2, 3)], lambda M, a: a.clip(-0.1, 0.1) * a + a.clip(-2.0, 2.0).exp()),
    "sign and comparisons": ([(2, 3)], lambda M, a: a * a.sign() * (a > 0.5) + a * (a <= 0.5) * (a != 0.25)),
    "max with ties": ([(2, 3)], lambda M, a: M.amax(M.cat([a, a[:, :1]], 1), 1, False)),
    "getitem integer arrays": ([(4, 3)], lambda M, a: a[M.index([0, 2, 0, 3])] * a[M.index([1, 1]), M.index([2, 0])].sum()),
}


def _tensor_cases():
    """(id, make(side, torch) -> a function of the inputs, input values, row or None): rows' cases, compositions."""
    for op in rows(TENSOR, second_order=True):
        for case in cases(op, most=4):
            def make(side, torch=None, op=op, case=case):
                return function(op, side, len(case.shapes), case.settings, torch)

            yield f"{op}-{case}", make, suited_operands(op, case, seeded("higher", op, case)), op
    for name, (shapes, fn) in COMPOSITIONS.items():
        def make(side, torch=None, fn=fn):
            namespace = ours_namespace() if side == "ours" else torch_namespace(torch)
            return lambda *xs: fn(namespace, *xs)

        rng = seeded("higher", name)
        yield name, make, [ANY.draw(rng, shape) for shape in shapes], None


TENSOR_CASES = list(_tensor_cases())
TENSOR_IDS = [case[0] for case in TENSOR_CASES]


def three_orders(derivatives, out, leaves, weights, make):
    """The gradient of L = Σ W·out + W₂·out² + W₃·out³, the Hessian-vector product ∇⟨∇L, v⟩, then ∇⟨H·v, u⟩.

    The cube gives even an operation linear in its inputs (a reshape, a sum) a third derivative.
    """
    w, w2, w3, vs, us = weights
    loss = (out * make(w) + out * out * make(w2) + out * out * out * make(w3)).sum()
    gradient = derivatives(loss, leaves)
    hv = derivatives(sum((g * make(v)).sum() for g, v in zip(gradient, vs)), leaves)
    third = derivatives(sum((h * make(u)).sum() for h, u in zip(hv, us)), leaves)
    return gradient, hv, third


def rtol_of(op):
    return 1e-6 if op is not None and op.rounds else RTOL  # a float32 step rounds, in the same places in both


@pytest.mark.torch
@pytest.mark.parametrize("name, make, values, op", TENSOR_CASES, ids=TENSOR_IDS)
def test_tensor_derivatives_to_third_order_match_pytorch(torch, name, make, values, op):
    rng = seeded("weights", name)
    leaves = [Tensor(v, requires_grad=True) for v in values]
    twins = [torch.tensor(v, requires_grad=True) for v in values]
    out = make("ours")(*leaves)
    twin_out = make("theirs", torch)(*twins)
    assert_close(out, twin_out.detach().numpy(), f"{name}: forward")
    weights = (rng.standard_normal(out.shape), rng.standard_normal(out.shape), rng.standard_normal(out.shape) / 4,
               [rng.standard_normal(v.shape) for v in values], [rng.standard_normal(v.shape) for v in values])
    ours = three_orders(ours_derivatives, out, leaves, weights, Tensor)
    theirs = three_orders(lambda o, i: torch_derivatives(torch, o, i), twin_out, twins, weights, torch.tensor)
    rtol = rtol_of(op)
    for order, (mine, reference) in enumerate(zip(ours, theirs), start=1):
        for position, (a, b) in enumerate(zip(mine, reference)):
            assert isinstance(a, Tensor) and a.dtype == np.float64 and a.shape == values[position].shape
            assert_close(a, b.detach().numpy(), f"{name}: order {order}, input {position}", rtol)


FIRST_CASES = [case for k, case in enumerate(TENSOR_CASES)
               if (case[3] is None or not case[3].rounds) and (k == 0 or case[3] is None or TENSOR_CASES[k - 1][3] is not case[3])]


@pytest.mark.parametrize("name, make, values, op", FIRST_CASES, ids=[case[0] for case in FIRST_CASES])
def test_gradients_of_every_primitive_pass_gradcheck(name, make, values, op):
    """Finite differences of the first derivative (computed in float64) against its own backward: each row's first case."""
    rng = seeded("gradcheck", name)
    fn = make("ours")
    leaves = [Tensor(v, requires_grad=True) for v in values]
    vs = [rng.standard_normal(v.shape) for v in values]
    w = None

    def directional_derivative(*xs):
        nonlocal w
        out = fn(*xs)
        if w is None:
            w = rng.standard_normal(out.shape)
        gradient = ours_derivatives((out * out * w).sum() + (out * w).sum(), list(xs))
        return anchored(sum((g * v).sum() for g, v in zip(gradient, vs)), xs)  # a constant gradient: zero slopes

    assert autodiff.gradcheck(directional_derivative, leaves, atol=1e-6, rtol=1e-5)


def test_gradcheck_of_value_gradients():
    x, y = Value(0.7), Value(1.3)

    def second(x, y):
        f = value_function(BY_NAME["linear"], "ours")(x, y) * value_function(BY_NAME["log"], "ours")(x, y)
        gx, gy = ours_derivatives(f, [x, y])
        return gx * 0.3 - gy * 1.7

    assert autodiff.gradcheck(second, [x, y], atol=1e-6, rtol=1e-5)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")  # PyTorch's note on reference cycles
def test_tensor_backward_create_graph_accumulates_as_pytorch(torch):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    x, w = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    for p, q in ((x, w), (tx, tw)):
        ((p @ q).tanh() ** 2).sum().backward(create_graph=True)
    assert isinstance(x.grad, Tensor) and x.grad.requires_grad
    assert_close(x.grad, tx.grad.detach().numpy(), "x.grad")
    (x.grad * x.grad).sum().backward()
    (tx.grad * tx.grad).sum().backward()
    assert_close(x.grad, tx.grad.detach().numpy(), "x.grad after the second backward")
    assert_close(w.grad, tw.grad.detach().numpy(), "w.grad after the second backward")


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_grad_outputs_that_are_nodes_stay_in_the_graph(torch, dtype):
    rng = np.random.default_rng(6)
    a, s = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    x, u = Tensor(a, requires_grad=True, dtype=dtype), Tensor(s, requires_grad=True, dtype=dtype)
    tx, tu = (torch.tensor(v.astype(dtype), requires_grad=True) for v in (a, s))
    (gx,) = autodiff.grad(x.tanh() * x, x, grad_outputs=u, create_graph=True)
    (tgx,) = torch.autograd.grad(tx.tanh() * tx, tx, grad_outputs=tu, create_graph=True)
    rtol = 1e-9 if dtype == np.float64 else 1e-5
    for ours, theirs in zip(autodiff.grad((gx * gx).sum(), [x, u]), torch.autograd.grad((tgx * tgx).sum(), [tx, tu])):
        assert ours.dtype == dtype
        assert_close(ours, theirs.numpy(), "derivative of a gradient in its seed", rtol)


def test_first_order_backward_leaves_arrays_and_create_graph_leaves_tensors():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    (x * x).sum().backward()
    assert type(x.grad) is np.ndarray
    y = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    (y * y).sum().backward(create_graph=True)
    assert isinstance(y.grad, Tensor) and y.grad.requires_grad
    np.testing.assert_array_equal(y.grad.data, [1.0, -2.0])


# -- the layers and losses of nn.functional ---------------------------------------------------------


def mlp(F, x, w1, b1, w2, b2):
    return F.linear(F.linear(x, w1, b1).tanh(), w2, b2)


LAYER_CASES = {
    # name: (shapes of the inputs, fn(F, lib, *inputs) -> scalar loss), F nn.functional or torch's
    "linear": ([(5, 3), (4, 3), (4,)], lambda F, L, x, w, b: (F.linear(x, w, b).tanh() ** 2).sum()),
    "linear batched, no bias": ([(2, 5, 3), (4, 3)], lambda F, L, x, w: (F.linear(x, w) ** 3).sum()),
    "linear on a vector": ([(3,), (4, 3), (4,)], lambda F, L, x, w, b: F.linear(x, w, b).exp().sum()),
    "mlp with cross_entropy": ([(6, 3), (5, 3), (5,), (4, 5), (4,)],
                               lambda F, L, x, *p: F.cross_entropy(mlp(F, x, *p), L.labels)),
    "cross_entropy sum": ([(6, 4)], lambda F, L, x: F.cross_entropy(x * x, L.labels, reduction="sum")),
    "cross_entropy none": ([(6, 4)],
                           lambda F, L, x: (F.cross_entropy(x.tanh() * 3, L.labels, reduction="none") ** 2).sum()),
    "nll_loss of log_softmax": ([(6, 4)], lambda F, L, x: F.nll_loss(F.log_softmax(x * x, 1), L.labels)),
    "nll_loss none": ([(6, 4)], lambda F, L, x: (F.nll_loss(x.tanh(), L.labels, reduction="none") ** 2).mean()),
    "mse_loss": ([(6, 4), (6, 4)], lambda F, L, x, t: F.mse_loss(x.tanh(), t)),
    "softmax and log_softmax": ([(3, 4)], lambda F, L, x: (F.softmax(x, 1) * F.log_softmax(x, 0)).sum()),
    "relu, sigmoid, tanh": ([(3, 4)], lambda F, L, x: (F.relu(x) * F.sigmoid(x) + F.tanh(x) ** 3).sum()),
    "gelu exact": ([(3, 4)], lambda F, L, x: (F.gelu(x) * x).sum()),
    "gelu tanh": ([(3, 4)], lambda F, L, x: (F.gelu(x, approximate="tanh") * x).sum()),
    "layer_norm": ([(3, 4), (4,), (4,)], lambda F, L, x, w, b: (F.layer_norm(x, (4,), w, b) ** 3).sum()),
    "batch_norm training": ([(5, 3), (3,), (3,)],
                            lambda F, L, x, w, b: (F.batch_norm(x, None, None, w, b, training=True) ** 3).sum()),
    "embedding": ([(5, 3)], lambda F, L, w: (F.embedding(L.tokens, w) ** 3).sum()),
    "embedding with padding": ([(5, 3)], lambda F, L, w: (F.embedding(L.tokens, w, padding_idx=2) ** 3).sum()),
}
LABELS = np.array([0, 3, 1, 1, 2, 0])
TOKENS = np.array([[0, 2, 4], [2, 2, 1]])


@pytest.mark.torch
@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_layer_hessian_vector_products_match_pytorch(torch, name):
    shapes, fn = LAYER_CASES[name]
    rng = np.random.default_rng(len(name))
    values = [rng.standard_normal(shape) for shape in shapes]
    vs = [rng.standard_normal(shape) for shape in shapes]
    leaves = [Tensor(v, requires_grad=True) for v in values]
    twins = [torch.tensor(v, requires_grad=True) for v in values]
    ours_lib = SimpleNamespace(labels=LABELS, tokens=TOKENS)
    torch_lib = SimpleNamespace(labels=torch.tensor(LABELS), tokens=torch.tensor(TOKENS))
    loss, twin_loss = fn(nn.functional, ours_lib, *leaves), fn(torch.nn.functional, torch_lib, *twins)
    assert_close(loss, twin_loss.item(), f"{name}: loss")
    gradient = ours_derivatives(loss, leaves)
    twin_gradient = torch_derivatives(torch, twin_loss, twins)
    hv = ours_derivatives(sum((g * Tensor(v)).sum() for g, v in zip(gradient, vs)), leaves, create_graph=False)
    twin_inner = sum((g * torch.tensor(v)).sum() for g, v in zip(twin_gradient, vs))
    twin_hv = torch_derivatives(torch, twin_inner, twins, create_graph=False)
    for position in range(len(leaves)):
        assert_close(gradient[position], twin_gradient[position].detach().numpy(), f"{name}: gradient {position}")
        assert_close(hv[position], twin_hv[position].numpy(), f"{name}: Hessian-vector product {position}")


@pytest.mark.torch
def test_layers_of_a_sequential_model_have_pytorch_hessian_vector_products(torch):
    autodiff.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 4))
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    twin = torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.LayerNorm(8),
        torch.nn.Linear(8, 4),
    ).double()
    twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(8)
    x, labels = rng.standard_normal((6, 3)), np.array([0, 3, 1, 2, 2, 0])
    params, twin_params = model.parameters(), list(twin.parameters())
    loss = nn.cross_entropy(model(Tensor(x)), labels)
    twin_loss = torch.nn.functional.cross_entropy(twin(torch.tensor(x)), torch.tensor(labels))
    vs = [rng.standard_normal(p.shape) for p in params]
    gradient = autodiff.grad(loss, params, create_graph=True)
    hv = autodiff.grad(sum((g * Tensor(v)).sum() for g, v in zip(gradient, vs)), params)
    twin_gradient = torch.autograd.grad(twin_loss, twin_params, create_graph=True)
    twin_hv = torch.autograd.grad(sum((g * torch.tensor(v)).sum() for g, v in zip(twin_gradient, vs)), twin_params)
    for k, (a, b) in enumerate(zip(hv, twin_hv)):
        assert_close(a, b.numpy(), f"parameter {k}")
    assert all(p.grad is None for p in params), "autodiff.grad leaves every .grad untouched"


def test_penalties_are_differentiable_twice():
    rng = np.random.default_rng(9)
    w = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    v = Tensor(rng.standard_normal(3), requires_grad=True)
    penalty = nn.l2_penalty([w, v]) * nn.l1_penalty([w, v])
    gw, gv = autodiff.grad(penalty, [w, v], create_graph=True)
    l1, l2 = np.abs(w.data).sum() + np.abs(v.data).sum(), (w.data ** 2).sum() + (v.data ** 2).sum()
    np.testing.assert_allclose(gw.data, 2 * w.data * l1 + l2 * np.sign(w.data), rtol=1e-12)
    (hw,) = autodiff.grad(gw.sum(), [w])
    # d/dw_k of Σ_j (2 w_j l1 + l2 sign w_j) = 2 l1 + 2 Σ_j w_j · sign w_k + 2 w_k · Σ_j sign w_j
    expected = 2 * l1 + 2 * w.data.sum() * np.sign(w.data) + 2 * w.data * np.sign(w.data).sum()
    np.testing.assert_allclose(hw, expected, rtol=1e-12)
    x, y = Value(0.5), Value(-2.0)
    value_penalty = nn.l2_penalty([x, y]) * x
    (gx,) = autodiff.grad(value_penalty, [x], create_graph=True)
    assert_close(autodiff.grad(gx, [x])[0], 6 * 0.5, "d²/dx² of (x² + y²)·x")
    # d/dy of (|x| + |y|)·y = sign(y)·y + |x| + |y|
    assert_close(autodiff.grad(nn.l1_penalty([x, y]) * y, [y], create_graph=True)[0].data, 2.0 + 2.5, "l1")


def test_dropout_is_differentiable_twice():
    nn.manual_seed(3)
    x = Tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    out = nn.functional.dropout(x, p=0.5)
    mask = out.data / x.data  # 0 or 2 per element
    (g,) = autodiff.grad((out ** 3).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.data, 3 * mask ** 3 * x.data ** 2, rtol=1e-12)
    (h,) = autodiff.grad(g.sum(), [x])
    np.testing.assert_allclose(h, 6 * mask ** 3 * x.data, rtol=1e-12)


@pytest.mark.parametrize("op", rows(TENSOR, second_order=False), ids=str)
def test_first_order_ops_refuse_create_graph_and_forward_mode_naming_themselves(op):
    (case,) = cases(op)[:1]
    fn = function(op, "ours", len(case.shapes), case.settings)
    loss_of = lambda *xs: fn(*xs).sum()  # noqa: E731
    x = Tensor(np.linspace(-1, 1, 16).reshape(case.shapes[0]), requires_grad=True)
    loss = loss_of(x)
    assert autodiff.grad(loss, x)[0].shape == x.shape  # first derivatives are there
    with pytest.raises(NotImplementedError, match=rf"'{op.node}' has first derivatives only"):
        autodiff.grad(loss, x, create_graph=True)
    with pytest.raises(NotImplementedError, match=rf"'{op.node}' has first derivatives only"):
        autodiff.jvp(loss_of, x, np.ones(x.shape))
    with pytest.raises(NotImplementedError, match=rf"'{op.node}'"):
        autodiff.hvp(loss_of, x, np.ones(x.shape))


# -- a gradient penalty (WGAN-GP) trained to PyTorch's weights ---------------------------------------


def wgan_gp(lib, critic, generator, critic_optimizer, generator_optimizer, real, noise, mix, steps, penalty=10.0):
    """Alternate two critic steps and one generator step.

    The critic's loss is Wasserstein's plus the penalty λ (‖∇ₓ D(x̂)‖ - 1)², x̂ between real and fake.
    """
    for step in range(steps):
        for k in range(2):
            fake = lib.detach(generator(lib.tensor(noise[step, k])))
            real_batch = lib.tensor(real[step, k])
            between = lib.leaf(lib.value(real_batch) * mix[step, k] + lib.value(fake) * (1 - mix[step, k]))
            (slopes,) = lib.grad(critic(between).sum(), between, create_graph=True)
            norms = ((slopes * slopes).sum(1) + 1e-12).sqrt()
            loss = critic(fake).mean() - critic(real_batch).mean() + penalty * ((norms - 1) ** 2).mean()
            critic_optimizer.zero_grad()
            loss.backward()
            critic_optimizer.step()
        generator_loss = -critic(generator(lib.tensor(noise[step, 2]))).mean()
        generator_optimizer.zero_grad()
        generator_loss.backward()
        generator_optimizer.step()


@pytest.mark.torch
def test_wgan_gp_trains_to_pytorch_weights(torch):
    autodiff.manual_seed(1)
    critic = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    generator = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    twins = []
    for model in (critic, generator):
        for p in model.parameters():
            p.data = p.data.astype(np.float64)
        twin = torch.nn.Sequential(*[
            torch.nn.Linear(m.in_features, m.out_features) if isinstance(m, nn.Linear) else torch.nn.Tanh()
            for m in model
        ]).double()
        twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
        twins.append(twin)
    starts = [{k: v.copy() for k, v in model.state_dict().items()} for model in (critic, generator)]
    rng = np.random.default_rng(10)
    steps = 6
    real = rng.standard_normal((steps, 2, 16, 2)) * 0.5 + np.array([2.0, -1.0])
    noise, mix = rng.standard_normal((steps, 3, 16, 3)), rng.uniform(size=(steps, 2, 16, 1))
    ours = SimpleNamespace(tensor=Tensor, detach=lambda t: t.detach(), value=lambda t: t.data,
                           leaf=lambda a: Tensor(a, requires_grad=True), grad=autodiff.grad)
    theirs = SimpleNamespace(tensor=torch.tensor, detach=lambda t: t.detach(), value=lambda t: t.numpy(),
                             leaf=lambda a: torch.tensor(a, requires_grad=True), grad=torch.autograd.grad)
    wgan_gp(ours, critic, generator, nn.optim.Adam(critic.parameters(), lr=1e-2, betas=(0.5, 0.9)),
            nn.optim.Adam(generator.parameters(), lr=1e-2, betas=(0.5, 0.9)), real, noise, mix, steps)
    wgan_gp(theirs, *twins, torch.optim.Adam(twins[0].parameters(), lr=1e-2, betas=(0.5, 0.9)),
            torch.optim.Adam(twins[1].parameters(), lr=1e-2, betas=(0.5, 0.9)), real, noise, mix, steps)
    for model, twin, start in zip((critic, generator), twins, starts):
        assert model.state_dict().keys() == twin.state_dict().keys()
        for name, p in twin.state_dict().items():
            # the critic's last bias cancels in D(fake) - D(real) and the penalty: the only one that stays
            stays = model is critic and name == "4.bias"
            moved = np.abs(p.numpy() - start[name]).max() > 1e-3
            assert stays or moved, f"{name} did not move: the test would prove nothing"
            assert_close(model.state_dict()[name], p.numpy(), f"{name} after {steps} steps")


# -- forward mode and the second-derivative helpers against torch.func ------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("name, make, values, op", TENSOR_CASES, ids=TENSOR_IDS)
def test_jvp_through_every_primitive_matches_torch_func(torch, name, make, values, op):
    rng = seeded("tangents", name)
    tangents = [rng.standard_normal(v.shape) for v in values]
    out, slope = autodiff.jvp(make("ours"), tuple(Tensor(v) for v in values), tuple(tangents))
    twin_out, twin_slope = torch.func.jvp(
        make("theirs", torch), tuple(torch.tensor(v) for v in values), tuple(torch.tensor(t) for t in tangents)
    )
    rtol = rtol_of(op)
    assert_close(out, twin_out.numpy(), f"{name}: value")
    assert isinstance(slope, Tensor) and not slope.requires_grad
    assert_close(slope, twin_slope.numpy(), f"{name}: J·t", rtol)


@pytest.mark.torch
@pytest.mark.parametrize("op", VALUE_ROWS, ids=str)
def test_jvp_of_value_functions_matches_torch_func(torch, op):
    x, y = value_point(op)
    out, slope = autodiff.jvp(value_function(op, "ours"), (Value(x), Value(y)), (0.25, Value(-1.5)))
    scalar = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    twin_out, twin_slope = torch.func.jvp(
        value_function(op, "theirs", torch), (scalar(x), scalar(y)), (scalar(0.25), scalar(-1.5))
    )
    assert isinstance(out, Value) and isinstance(slope, Value) and not slope.children
    assert_close(out.data, twin_out.item(), f"{op}: value")
    assert_close(slope.data, twin_slope.item(), f"{op}: J·t")


@pytest.mark.torch
def test_jvp_of_layers_and_several_outputs_matches_torch_func(torch):
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    t = [rng.standard_normal(a.shape) for a in (x, w, b)]

    def f(F, x, w, b):
        h = F.linear(x, w, b)
        labels = LABELS[:5] if F is nn.functional else torch.tensor(LABELS[:5])
        return F.log_softmax(h.tanh(), 1), F.cross_entropy(h, labels)

    outs, slopes = autodiff.jvp(lambda *a: f(nn.functional, *a), tuple(Tensor(a) for a in (x, w, b)), tuple(t))
    twin_outs, twin_slopes = torch.func.jvp(
        lambda *a: f(torch.nn.functional, *a), tuple(torch.tensor(a) for a in (x, w, b)),
        tuple(torch.tensor(a) for a in t),
    )
    assert isinstance(outs, tuple) and len(slopes) == 2
    for ours, theirs in zip(outs + slopes, twin_outs + twin_slopes):
        assert_close(ours, theirs.numpy(), "output or tangent")


def test_jvp_carries_tangents_only_from_the_primals():
    """A leaf that f makes itself (a weight) has no tangent; an output that does not depend on the primals has 0."""
    w = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    out, slope = autodiff.jvp(lambda x: (x * w, w * 2), Tensor(np.array([1.0, 1.0])), np.array([1.0, -1.0]))
    np.testing.assert_array_equal(slope[0].data, [2.0, -3.0])
    np.testing.assert_array_equal(slope[1].data, [0.0, 0.0])
    assert w.grad is None


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(), (1,), (3,), (2, 2), (1, 3, 1)], ids=str)
def test_hessian_and_hvp_match_torch_func(torch, shape):
    rng = np.random.default_rng(12)
    x, v = rng.standard_normal(shape), rng.standard_normal(shape)
    a = rng.standard_normal(shape)

    def f(x, const):
        return ((x * const(a)).tanh() * x.exp()).sum() + (x * x).sum() ** 2

    h = autodiff.hessian(lambda x: f(x, Tensor), Tensor(x))
    twin_h = torch.func.hessian(lambda x: f(x, torch.tensor))(torch.tensor(x))
    assert isinstance(h, Tensor) and h.shape == shape + shape
    assert_close(h, twin_h.numpy(), "hessian")
    out, hv = autodiff.hvp(lambda x: f(x, Tensor), Tensor(x), Tensor(v))
    _, twin_hv = torch.func.jvp(torch.func.grad(lambda x: f(x, torch.tensor)), (torch.tensor(x),), (torch.tensor(v),))
    assert_close(out, f(torch.tensor(x), torch.tensor).item(), "f(x)")
    assert_close(hv, twin_hv.numpy(), "H·v")
    assert_close(hv, (h.data.reshape(x.size, x.size) @ v.reshape(-1)).reshape(shape), "H·v = hessian @ v")


@pytest.mark.torch
def test_hvp_in_several_inputs_matches_pytorch(torch):
    rng = np.random.default_rng(13)
    shapes = [(6, 3), (5, 3), (5,), (4, 5), (4,)]
    values, vs = [rng.standard_normal(s) for s in shapes], [rng.standard_normal(s) for s in shapes]

    def loss(F, labels):
        return lambda x, *p: F.cross_entropy(mlp(F, x, *p), labels)

    out, hv = autodiff.hvp(loss(nn.functional, LABELS), tuple(Tensor(v) for v in values), tuple(vs))
    twin_out, twin_hv = torch.autograd.functional.hvp(
        loss(torch.nn.functional, torch.tensor(LABELS)), tuple(torch.tensor(v) for v in values),
        tuple(torch.tensor(v) for v in vs),
    )
    assert_close(out, twin_out.item(), "loss")
    for k, (a, b) in enumerate(zip(hv, twin_hv)):
        assert_close(a, b.numpy(), f"H·v, input {k}")


@pytest.mark.torch
@pytest.mark.parametrize("op", VALUE_ROWS, ids=str)
def test_value_hessian_and_hvp_match_torch_func(torch, op):
    x, y = value_point(op)
    ours, theirs = value_function(op, "ours"), value_function(op, "theirs", torch)
    h = autodiff.hessian(lambda s: ours(s, s + (y - x)), Value(x))  # along the diagonal through (x, y)
    twin_h = torch.func.hessian(lambda s: theirs(s, s + (y - x)))(torch.tensor(x, dtype=torch.float64))
    assert isinstance(h, Value)
    assert_close(h.data, twin_h.item(), f"{op}: f''")
    out, hv = autodiff.hvp(ours, (Value(x), Value(y)), (Value(1.0), -2.0))
    scalar = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    twin_out, twin_hv = torch.autograd.functional.hvp(theirs, (scalar(x), scalar(y)), (scalar(1.0), scalar(-2.0)))
    assert_close(out.data, twin_out.item(), f"{op}: f")
    for a, b in zip(hv, twin_hv):
        assert isinstance(a, Value)
        assert_close(a.data, b.item(), f"{op}: H·v")


def test_second_derivatives_of_functions_without_curvature_are_zero():
    x = Tensor(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(autodiff.hessian(lambda x: (x * 3.0).sum(), x).data, np.zeros((2, 2)))
    np.testing.assert_array_equal(autodiff.hessian(lambda x: Tensor(np.array(1.0)), x).data, np.zeros((2, 2)))
    assert autodiff.hessian(lambda x: x, Value(2.0)).data == 0.0
    assert autodiff.hvp(lambda x: x * 2.0, Value(2.0), 1.0)[1].data == 0.0
    out, slope = autodiff.jvp(lambda x: Tensor(np.ones(3)), x, np.ones(2))
    np.testing.assert_array_equal(slope.data, np.zeros(3))


def test_forward_helpers_leave_every_grad_and_the_inputs_as_they_were():
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    x.grad = np.array([7.0, 8.0])
    before = x.data.copy()
    autodiff.jvp(lambda x: x.exp(), x, np.ones(2))
    autodiff.hvp(lambda x: (x ** 3).sum(), x, np.ones(2))
    autodiff.hessian(lambda x: (x ** 3).sum(), x)
    np.testing.assert_array_equal(x.grad, [7.0, 8.0])
    np.testing.assert_array_equal(x.data, before)
    with autodiff.no_grad():  # and they work whatever the grad mode
        np.testing.assert_allclose(autodiff.hessian(lambda x: (x ** 3).sum(), x).data, np.diag(6 * before))
        np.testing.assert_allclose(autodiff.hvp(lambda x: (x ** 3).sum(), x, np.ones(2))[1].data, 6 * before)
        np.testing.assert_allclose(autodiff.jvp(lambda x: x ** 3, x, np.ones(2))[1].data, 3 * before ** 2)
        assert autodiff.hvp(lambda x: x ** 3, Value(2.0), 1.0)[1].data == 12.0
        assert autodiff.hessian(lambda x: x ** 3, Value(2.0)).data == 12.0
        assert autodiff.jvp(lambda x: x ** 3, Value(2.0), 1.0)[1].data == 12.0


ONES = Tensor(np.ones(2))


@pytest.mark.parametrize("call, error, message", [
    (lambda: autodiff.jvp(lambda x: x, ONES, np.ones(3)), ValueError,
     r"tangent 0 has shape \(3,\), its input has shape \(2,\)"),
    (lambda: autodiff.jvp(lambda x: x, [ONES], []), ValueError, "1 primals but 0 tangents"),
    (lambda: autodiff.jvp(lambda x: x, np.ones(2), np.ones(2)), TypeError,
     "primal 0 is a ndarray; pass Tensors or Values"),
    (lambda: autodiff.jvp(lambda x: 3.0, Value(1.0), 1.0), TypeError, "f returned a float"),
    (lambda: autodiff.jvp(lambda x: x, Value(1.0), "a"), TypeError, "tangent 0 is a str"),
    (lambda: autodiff.hessian(lambda x: x * 2, ONES), ValueError,
     r"f must return one number, it returned a Tensor of shape \(2,\)"),
    (lambda: autodiff.hessian(lambda x: x, [Value(1.0)]), TypeError, "hessian takes one Tensor or Value"),
    (lambda: autodiff.hvp(lambda x: x.sum(), ONES, np.ones((2, 1))), ValueError, r"vector 0 has shape \(2, 1\)"),
    (lambda: autodiff.hvp(lambda x: x.sum(), Tensor(np.ones(2, dtype=np.int64)), np.ones(2)), TypeError,
     "only float32 and float64"),
])
def test_bad_input_is_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_jvp_refuses_a_tensor_changed_in_place_after_it_was_used():
    def f(x):
        scale = Tensor(np.array([1.0, 2.0]))
        out = x * scale
        scale += 1.0  # a constant changed after the product read it
        return out

    with pytest.raises(RuntimeError, match="changed in place"):
        autodiff.jvp(f, Tensor(np.ones(2)), np.ones(2))


# -- random programs: the second order through compositions (hypothesis) ---------------------------

# rows a program can apply to earlier results: a fixed number of operands, settings fitted to the first one's shape
PROGRAM_OPS = [op for op in rows(TENSOR, second_order=True)
               if not op.takes.listed and (op.takes.settings is not None or op.takes in (ONE, TWO, MATMUL))]


@st.composite
def programs(draw):
    """Leaves of broadcasting shapes, then rows of the table applied to earlier results, as (leaf values, steps, seed)."""
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    base = draw(st.sampled_from([(), (3,), (2, 3), (1, 3), (2, 1)]))
    leaves = []
    for _ in range(draw(st.integers(1, 3))):
        shape = tuple(n if draw(st.booleans()) else 1 for n in base)[draw(st.integers(0, len(base))):]
        leaves.append(rng.uniform(0.3, 1.5, shape) * rng.choice([-1.0, 1.0], shape) if draw(st.booleans())
                      else rng.uniform(0.3, 1.5, shape))
    values = list(leaves)
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(PROGRAM_OPS))
        operands = [draw(st.integers(0, len(values) - 1)) for _ in range(op.takes.arity)]
        arrays = [values[i] for i in operands]
        fitting = st.just(()) if op.takes.settings is None else op.takes.settings(arrays[0].shape)
        if fitting is None:
            continue
        settings = draw(fitting)
        if not op.suits(Case(tuple(a.shape for a in arrays), settings), arrays):
            continue
        if not all(op.domain(k).accepts(a) for k, a in enumerate(arrays)):
            continue
        try:
            with np.errstate(all="ignore"):
                result = function(op, "ours", len(arrays), settings)(*[Tensor(a) for a in arrays]).data
        except (ValueError, IndexError, RuntimeError, TypeError):  # shapes that do not meet
            continue
        if result.size > 50 or not np.isfinite(result).all() or np.abs(result).max() > 1e3:
            continue
        steps.append((op.name, operands, settings))
        values.append(result)
    return leaves, steps, seed


def run_program(side, torch, leaves, steps):
    nodes = list(leaves)
    for name, operands, settings in steps:
        nodes.append(function(BY_NAME[name], side, len(operands), settings, torch)(*[nodes[i] for i in operands]))
    return nodes


@pytest.mark.torch
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(program=programs())
def test_random_programs_have_pytorch_hessian_vector_products(torch, program):
    values, steps, seed = program
    rng = np.random.default_rng(seed + 1)
    ours = run_program("ours", None, [Tensor(v, requires_grad=True) for v in values], steps)
    theirs = run_program("theirs", torch, [torch.tensor(v, requires_grad=True) for v in values], steps)
    weights = [rng.standard_normal(node.shape) for node in ours]  # every result weighs in the loss
    loss = sum((node * node * Tensor(w)).sum() for node, w in zip(ours, weights))
    twin_loss = sum((node * node * torch.tensor(w)).sum() for node, w in zip(theirs, weights))
    leaves, twins = ours[:len(values)], theirs[:len(values)]
    vs = [rng.standard_normal(v.shape) for v in values]
    gradient, twin_gradient = ours_derivatives(loss, leaves), torch_derivatives(torch, twin_loss, twins)
    hv = ours_derivatives(sum((g * Tensor(v)).sum() for g, v in zip(gradient, vs)), leaves, False)
    twin_inner = sum((g * torch.tensor(v)).sum() for g, v in zip(twin_gradient, vs))
    twin_hv = torch_derivatives(torch, twin_inner, twins, False)
    program_text = f"leaves of shapes {[v.shape for v in values]}, steps {[(n, o, [a.ours for a in s]) for n, o, s in steps]}"
    for k in range(len(leaves)):
        assert_close(gradient[k], twin_gradient[k].detach().numpy(), f"{program_text}: gradient {k}")
        assert_close(hv[k], twin_hv[k].numpy(), f"{program_text}: H·v {k}")
    _, slope = autodiff.jvp(lambda *xs: run_program("ours", None, list(xs), steps)[-1],
                            tuple(Tensor(v) for v in values), tuple(vs))
    _, twin_slope = torch.func.jvp(lambda *xs: run_program("theirs", torch, list(xs), steps)[-1],
                                   tuple(torch.tensor(v) for v in values), tuple(torch.tensor(v) for v in vs))
    assert_close(slope, twin_slope.numpy(), f"{program_text}: J·t of the last result")
