"""autodiff.Function: your own operation with PyTorch's protocol, checked against torch.autograd.Function.

Each Function below is written once, against a library ``lib`` that is
either ``autodiff`` or ``torch`` (``definitions(lib)``): both spell the
operations these use alike, so the same class bodies run under both, and
values, gradients, second derivatives, what ``backward`` receives,
``needs_input_grad``, non-differentiable outputs and version errors are
compared. Functions on Values, which PyTorch lacks, are checked against
finite differences and the derivatives worked out by hand.
"""

import inspect
import re
import types
from pathlib import Path

import numpy as np
import pytest

import autodiff
from autodiff import Tensor, Value
from autodiff.function import FunctionNode
from explore_graphs import page_data
from needs_dot import needs_dot


def definitions(lib):
    """The test's Functions, subclassing ``lib.autograd.Function`` (lib: autodiff or torch)."""
    Function = lib.autograd.Function
    once_differentiable = lib.autograd.function.once_differentiable

    class Cube(Function):
        """x³;  dL/dx = 3x²·g, written with the library's operations (so differentiable again)."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            ctx.save_for_forward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * grad

        @staticmethod
        def jvp(ctx, tangent):
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * tangent

    class ScaledProduct(Function):
        """x·y·scale with a number ``scale``; records needs_input_grad, returns None for the number."""

        seen_needs = []

        @staticmethod
        def forward(ctx, x, y, scale):
            ScaledProduct.seen_needs.append(ctx.needs_input_grad)
            ctx.save_for_backward(x, y)
            ctx.scale = scale
            return x * y * scale

        @staticmethod
        def backward(ctx, grad):
            x, y = ctx.saved_tensors
            return grad * y * ctx.scale, grad * x * ctx.scale, None

    class SinProduct(Function):
        """Two outputs, u = sin(x)·y and v = x·y², from two inputs; records the gradients backward receives.

        dL/dx = gu·cos(x)·y + gv·y²,  dL/dy = gu·sin(x) + gv·2xy.
        """

        received = []

        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            ctx.save_for_forward(x, y)
            return x.sin() * y, x * y ** 2

        @staticmethod
        def backward(ctx, grad_u, grad_v):
            SinProduct.received.append((grad_u, grad_v))
            x, y = ctx.saved_tensors
            return grad_u * x.cos() * y + grad_v * y ** 2, grad_u * x.sin() + grad_v * 2 * x * y

        @staticmethod
        def jvp(ctx, tangent_x, tangent_y):
            x, y = ctx.saved_tensors
            return (tangent_x * x.cos() * y + tangent_y * x.sin(),
                    tangent_x * y ** 2 + tangent_y * 2 * x * y)

    class SinProductUnmaterialized(Function):
        """SinProduct with ``set_materialize_grads(False)``: None, not zeros, for an output without a gradient."""

        received = []

        @staticmethod
        def forward(ctx, x, y):
            ctx.set_materialize_grads(False)
            ctx.save_for_backward(x, y)
            return x.sin() * y, x * y ** 2

        @staticmethod
        def backward(ctx, grad_u, grad_v):
            SinProductUnmaterialized.received.append((grad_u, grad_v))
            x, y = ctx.saved_tensors
            grad_x, grad_y = 0, 0
            if grad_u is not None:
                grad_x, grad_y = grad_u * x.cos() * y, grad_u * x.sin()
            if grad_v is not None:
                grad_x, grad_y = grad_x + grad_v * y ** 2, grad_y + grad_v * 2 * x * y
            return grad_x, grad_y

    class MaxAndIndex(Function):
        """The largest element and its index; the index is marked non-differentiable."""

        received = []

        @staticmethod
        def forward(ctx, x):
            index = x.argmax()
            ctx.mark_non_differentiable(index)
            ctx.save_for_backward(index)
            ctx.shape = x.shape
            return x.max(), index

        @staticmethod
        def backward(ctx, grad_max, grad_index):
            MaxAndIndex.received.append(grad_index)
            (index,) = ctx.saved_tensors
            grad = lib.zeros(ctx.shape, dtype=grad_max.dtype)
            grad[index] = grad_max
            return grad

    class Exp(Function):
        """eˣ, saving its output: backward reads the output, so a second derivative goes through it."""

        @staticmethod
        def forward(ctx, x):
            out = x.exp()
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, grad):
            (out,) = ctx.saved_tensors
            return grad * out

    class OnceSquare(Function):
        """x² with a backward marked once_differentiable."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    class OnceSplit(Function):
        """(x², 3x) with a backward marked once_differentiable."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x, 3 * x

        @staticmethod
        @once_differentiable
        def backward(ctx, grad_square, grad_triple):
            (x,) = ctx.saved_tensors
            return 2 * x * grad_square + 3 * grad_triple

    class SpreadGradient(Function):
        """2x, whose backward returns the gradient repeated along a new first axis: it is summed back, as PyTorch does."""

        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return (grad * 2).expand(3, *grad.shape) / 3

    class ProductIgnoringFirst(Function):
        """x·y whose backward gives no gradient to x (None)."""

        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, grad):
            return None, grad

    class Softsign(Function):
        """x / (1 + |x|) in PyTorch's newer spelling: forward without ctx, and setup_context."""

        @staticmethod
        def forward(x):
            return x / (1 + x.abs())

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad / (1 + x.abs()) ** 2

    return types.SimpleNamespace(**{name: value for name, value in locals().items() if isinstance(value, type)})


OURS = definitions(autodiff)


@pytest.fixture
def theirs(torch):
    return definitions(torch)


def pair(torch, array, requires_grad=True):
    """The same float64 numbers as our Tensor and as torch's."""
    array = np.asarray(array, dtype=np.float64)
    return Tensor(array, requires_grad=requires_grad), torch.tensor(array, requires_grad=requires_grad)


def assert_close(ours, theirs, **tolerance):
    ours = ours.data if isinstance(ours, Tensor) else ours
    np.testing.assert_allclose(ours, theirs.detach().numpy(), **(tolerance or {"rtol": 1e-12, "atol": 1e-12}))


def sample(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape)


# -- one output -----------------------------------------------------------------------------------


def test_one_output_agrees_with_torch_on_values_and_gradients(torch, theirs):
    x, tx = pair(torch, sample(0, 2, 3))
    y = OURS.Cube.apply(x)
    ty = theirs.Cube.apply(tx)
    assert_close(y, ty)
    assert y.op == "Cube" and y.requires_grad
    weights = sample(1, 2, 3)
    (y * Tensor(weights)).sum().backward()
    (ty * torch.tensor(weights)).sum().backward()
    assert_close(x.grad, tx.grad)
    assert autodiff.gradcheck(lambda x: (OURS.Cube.apply(x) * Tensor(weights)).sum(), [Tensor(x.data, requires_grad=True)])


def test_the_newer_spelling_with_setup_context_agrees_with_torch(torch, theirs):
    x, tx = pair(torch, sample(2, 5))
    y, ty = OURS.Softsign.apply(x), theirs.Softsign.apply(tx)
    assert_close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    assert_close(x.grad, tx.grad)


def test_needs_input_grad_and_a_number_argument_agree_with_torch(torch, theirs):
    OURS.ScaledProduct.seen_needs.clear()
    theirs.ScaledProduct.seen_needs.clear()
    (x, tx), (y, ty) = pair(torch, sample(3, 4)), pair(torch, sample(4, 4), requires_grad=False)
    out, tout = OURS.ScaledProduct.apply(x, y, 2.5), theirs.ScaledProduct.apply(tx, ty, 2.5)
    with autodiff.no_grad(), torch.no_grad():
        OURS.ScaledProduct.apply(x, y, 2.5)
        theirs.ScaledProduct.apply(tx, ty, 2.5)
    assert OURS.ScaledProduct.seen_needs == theirs.ScaledProduct.seen_needs == [(True, False, False)] * 2
    out.sum().backward()
    tout.sum().backward()
    assert_close(out, tout)
    assert_close(x.grad, tx.grad)
    assert y.grad is None and ty.grad is None


def test_a_function_of_values_gets_needs_input_grad_and_gradients():
    OURS.ScaledProduct.seen_needs.clear()
    x, y = Value(1.5), Value(-2.0)
    out = OURS.ScaledProduct.apply(x, y, 3.0)
    assert out.data == 1.5 * -2.0 * 3.0 and out.op == "ScaledProduct"
    assert OURS.ScaledProduct.seen_needs == [(True, True, False)]
    (out * out).backward()
    assert (x.grad, y.grad) == (2 * out.data * -2.0 * 3.0, 2 * out.data * 1.5 * 3.0)
    assert autodiff.gradcheck(lambda x, y: OURS.ScaledProduct.apply(x, y, 3.0).tanh(), [Value(0.3), Value(-0.7)])


def test_no_graph_is_recorded_under_no_grad_or_without_inputs_that_require_gradients():
    x = Tensor(sample(5, 3), requires_grad=True)
    with autodiff.no_grad():
        y = OURS.Cube.apply(x)
    constant = OURS.Cube.apply(Tensor(sample(5, 3)))
    for out in (y, constant):
        assert not out.requires_grad and out.children == () and out.op == ""
        np.testing.assert_allclose(out.data, x.data ** 3)


def test_a_none_gradient_for_a_computed_argument_is_zero_as_in_torch(torch, theirs):
    x, tx = pair(torch, sample(6, 3))
    out = OURS.ProductIgnoringFirst.apply(x * 2, x)
    tout = theirs.ProductIgnoringFirst.apply(tx * 2, tx)
    out.sum().backward()
    tout.sum().backward()
    assert_close(x.grad, tx.grad)  # only through the second argument: 2x
    leaf, tleaf = pair(torch, sample(7, 3))
    OURS.ProductIgnoringFirst.apply(leaf, Tensor(np.ones(3))).sum().backward()
    theirs.ProductIgnoringFirst.apply(tleaf, torch.ones(3, dtype=torch.float64)).sum().backward()
    assert leaf.grad is None and tleaf.grad is None


def test_a_gradient_that_broadcasts_to_the_input_is_summed_down_as_in_torch(torch, theirs):
    x, tx = pair(torch, sample(8, 2, 3))
    OURS.SpreadGradient.apply(x).sum().backward()
    theirs.SpreadGradient.apply(tx).sum().backward()
    assert_close(x.grad, tx.grad)
    np.testing.assert_allclose(x.grad, np.full((2, 3), 2.0))


# -- several outputs ------------------------------------------------------------------------------


def test_two_outputs_agree_with_torch_and_backward_runs_once(torch, theirs):
    (x, tx), (y, ty) = pair(torch, sample(9, 3)), pair(torch, sample(10, 3))
    OURS.SinProduct.received.clear()
    theirs.SinProduct.received.clear()
    u, v = OURS.SinProduct.apply(x, y)
    tu, tv = theirs.SinProduct.apply(tx, ty)
    assert_close(u, tu)
    assert_close(v, tv)
    assert (u.op, v.op) == ("[0]", "[1]") and u.children == v.children
    (node,) = u.children
    assert isinstance(node, FunctionNode) and node.op == "SinProduct" and node.children == (x, y)
    (u * v + u.exp()).sum().backward()
    (tu * tv + tu.exp()).sum().backward()
    assert len(OURS.SinProduct.received) == len(theirs.SinProduct.received) == 1
    assert_close(x.grad, tx.grad)
    assert_close(y.grad, ty.grad)
    checked = [Tensor(x.data, requires_grad=True), Tensor(y.data, requires_grad=True)]
    assert autodiff.gradcheck(lambda x, y: (lambda u, v: (u * v + u.exp()).sum())(*OURS.SinProduct.apply(x, y)),
                              checked)


@pytest.mark.parametrize("used", [0, 1])
def test_an_output_without_a_gradient_gets_zeros_or_none_as_in_torch(torch, theirs, used):
    for name in ("SinProduct", "SinProductUnmaterialized"):
        ours, their = getattr(OURS, name), getattr(theirs, name)
        ours.received.clear()
        their.received.clear()
        (x, tx), (y, ty) = pair(torch, sample(11, 3)), pair(torch, sample(12, 3))
        (ours.apply(x, y)[used] * 3).sum().backward()
        (their.apply(tx, ty)[used] * 3).sum().backward()
        assert_close(x.grad, tx.grad)
        assert_close(y.grad, ty.grad)
        [(received)], [(their_received)] = ours.received, their.received
        for grad, their_grad in zip(received, their_received):
            assert (grad is None) == (their_grad is None)
            if grad is not None:
                assert_close(grad, their_grad)


def test_a_non_differentiable_output_stays_outside_the_graph_and_backward_gets_zeros_for_it(torch, theirs):
    x, tx = pair(torch, [3.0, 7.0, -1.0, 2.0])
    OURS.MaxAndIndex.received.clear()
    theirs.MaxAndIndex.received.clear()
    largest, index = OURS.MaxAndIndex.apply(x)
    tlargest, tindex = theirs.MaxAndIndex.apply(tx)
    assert (largest.requires_grad, index.requires_grad) == (tlargest.requires_grad, tindex.requires_grad) == (True, False)
    assert index.item() == tindex.item() == 1 and index.children == ()
    (largest * 5).backward()
    (tlargest * 5).backward()
    assert_close(x.grad, tx.grad)
    [grad_index], [their_grad_index] = OURS.MaxAndIndex.received, theirs.MaxAndIndex.received
    assert grad_index.dtype.kind == "i" and their_grad_index.dtype == torch.int64
    assert grad_index.item() == their_grad_index.item() == 0


def test_an_argument_returned_and_marked_non_differentiable_comes_back_outside_the_graph(torch):
    def marked_identity(lib):
        class MarkedIdentity(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_non_differentiable(x)
                return x

            @staticmethod
            def backward(ctx, grad):
                return grad

        return MarkedIdentity

    x, tx = pair(torch, sample(30, 3))
    out, tout = marked_identity(autodiff).apply(x), marked_identity(torch).apply(tx)
    assert out is not x and not out.requires_grad and not tout.requires_grad
    np.testing.assert_array_equal(out.data, x.data)


def test_several_outputs_of_values():
    x, y = Value(0.5), Value(-1.5)
    OURS.SinProduct.received.clear()
    u, v = OURS.SinProduct.apply(x, y)
    assert (u.data, v.data) == (np.sin(0.5) * -1.5, 0.5 * 2.25)
    (u * v).backward()
    gu, gv = v.data, u.data
    assert x.grad == pytest.approx(gu * np.cos(0.5) * -1.5 + gv * 2.25, rel=1e-14)
    assert y.grad == pytest.approx(gu * np.sin(0.5) + gv * 2 * 0.5 * -1.5, rel=1e-14)
    assert len(OURS.SinProduct.received) == 1
    assert autodiff.gradcheck(lambda x, y: (lambda u, v: (u * v).tanh())(*OURS.SinProduct.apply(x, y)),
                              [Value(0.5), Value(-1.5)])


def test_anomaly_detection_passes_through_several_outputs():
    x, y = Tensor(sample(13, 3), requires_grad=True), Tensor(sample(14, 3), requires_grad=True)
    with autodiff.detect_anomaly():
        u, v = OURS.SinProduct.apply(x, y)
        (u * v).sum().backward()
    reference = [Tensor(x.data, requires_grad=True), Tensor(y.data, requires_grad=True)]
    u, v = OURS.SinProduct.apply(*reference)
    (u * v).sum().backward()
    np.testing.assert_array_equal(x.grad, reference[0].grad)


# -- second derivatives ---------------------------------------------------------------------------


def test_second_derivatives_through_one_output_agree_with_torch(torch, theirs):
    x, tx = pair(torch, sample(15, 4))
    (g,) = autodiff.grad(OURS.Cube.apply(x).sum() * 2, x, create_graph=True)
    (tg,) = torch.autograd.grad(theirs.Cube.apply(tx).sum() * 2, tx, create_graph=True)
    assert_close(g, tg)
    (second,) = autodiff.grad((g * g).sum(), x)
    (their_second,) = torch.autograd.grad((tg * tg).sum(), tx)
    assert_close(second, their_second)
    hessian = autodiff.hessian(lambda x: OURS.Cube.apply(x).sum(), x)
    their_hessian = torch.autograd.functional.hessian(lambda x: theirs.Cube.apply(x).sum(), tx)
    assert_close(hessian, their_hessian)


def test_second_derivatives_through_two_outputs_agree_with_torch(torch, theirs):
    (x, tx), (y, ty) = pair(torch, sample(16, 3)), pair(torch, sample(17, 3))

    def loss(function, x, y):
        u, v = function.apply(x, y)
        return (u * v + u * u).sum()

    gx, gy = autodiff.grad(loss(OURS.SinProduct, x, y), (x, y), create_graph=True)
    tgx, tgy = torch.autograd.grad(loss(theirs.SinProduct, tx, ty), (tx, ty), create_graph=True)
    assert_close(gx, tgx)
    assert_close(gy, tgy)
    penalty = (gx * gx).sum() + (gy * x).sum()
    their_penalty = (tgx * tgx).sum() + (tgy * tx).sum()
    for ours, their in zip(autodiff.grad(penalty, (x, y)), torch.autograd.grad(their_penalty, (tx, ty))):
        assert_close(ours, their)
    xy, txy = pair(torch, np.concatenate([x.data, y.data]))
    hessian = autodiff.hessian(lambda xy: loss(OURS.SinProduct, xy[:3], xy[3:]), xy)
    their_hessian = torch.autograd.functional.hessian(lambda xy: loss(theirs.SinProduct, xy[:3], xy[3:]), txy)
    assert_close(hessian, their_hessian)


def test_a_saved_output_is_differentiated_as_the_output_it_is(torch, theirs):
    x, tx = pair(torch, sample(18, 3))
    (g,) = autodiff.grad(OURS.Exp.apply(x).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(theirs.Exp.apply(tx).sum(), tx, create_graph=True)
    (second,) = autodiff.grad(g.sum(), x)
    (their_second,) = torch.autograd.grad(tg.sum(), tx)
    assert_close(second, their_second)
    np.testing.assert_allclose(second, np.exp(x.data), rtol=1e-15)


def test_second_derivatives_of_values():
    x = Value(0.7)
    (g,) = autodiff.grad(OURS.Cube.apply(x), x, create_graph=True)
    (second,) = autodiff.grad(g, x)
    assert (g.data, second) == pytest.approx((3 * 0.7 ** 2, 6 * 0.7), rel=1e-15)
    x, y = Value(0.5), Value(-1.5)
    u, v = OURS.SinProduct.apply(x, y)
    gx, gy = autodiff.grad(u * v, (x, y), create_graph=True)
    # u·v = x sin(x) y³:  d/dx = y³ (sin x + x cos x),  d²/dx² = y³ (2 cos x - x sin x)
    assert gx.data == pytest.approx(-1.5 ** 3 * (np.sin(0.5) + 0.5 * np.cos(0.5)), rel=1e-14)
    (gxx,) = autodiff.grad(gx, x)
    assert gxx == pytest.approx(-1.5 ** 3 * (2 * np.cos(0.5) - 0.5 * np.sin(0.5)), rel=1e-14)
    assert autodiff.hessian(lambda x: OURS.Exp.apply(x) * 2, Value(0.3)).data == pytest.approx(2 * np.exp(0.3))


# -- once_differentiable ----------------------------------------------------------------------------


def test_once_differentiable_computes_the_gradient_under_create_graph(torch, theirs):
    x, tx = pair(torch, sample(19, 3))
    (g,) = autodiff.grad(OURS.OnceSquare.apply(x * 1).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(theirs.OnceSquare.apply(tx * 1).sum(), tx, create_graph=True)
    assert_close(g, tg)
    plain = Tensor(x.data, requires_grad=True)
    OURS.OnceSquare.apply(plain).sum().backward()
    np.testing.assert_array_equal(plain.grad, 2 * x.data)


@pytest.mark.parametrize("engine", ["tensor", "value"])
@pytest.mark.parametrize("how", ["grad twice", "gradient penalty", "hvp", "hessian", "two outputs"])
def test_differentiating_a_once_differentiable_gradient_again_raises_naming_the_function(engine, how):
    make = (lambda: Tensor(sample(20, 3), requires_grad=True)) if engine == "tensor" else (lambda: Value(0.8))
    total = (lambda out: out.sum()) if engine == "tensor" else (lambda out: out)
    function = "OnceSplit" if how == "two outputs" else "OnceSquare"
    with pytest.raises(RuntimeError, match=f"{function}.backward is marked @once_differentiable"):
        x = make()
        if how == "grad twice":
            (g,) = autodiff.grad(total(OURS.OnceSquare.apply(x)), x, create_graph=True)
            autodiff.grad(total(g), x)
        elif how == "gradient penalty":
            loss = total(OURS.OnceSquare.apply(x * 2))
            (g,) = autodiff.grad(loss, x, create_graph=True)
            (loss + total(g * g)).backward()
        elif how == "hvp":
            autodiff.hvp(lambda x: total(OURS.OnceSquare.apply(x)), x, x.data * 0 + 1)
        elif how == "hessian":
            autodiff.hessian(lambda x: total(OURS.OnceSquare.apply(x)), x)
        else:
            square, triple = OURS.OnceSplit.apply(x)
            (g,) = autodiff.grad(total(square * triple), x, create_graph=True)
            autodiff.grad(total(g), x)


def test_where_torch_raises_or_silently_drops_the_second_derivative_autodiff_raises(torch, theirs):
    x = torch.tensor(sample(20, 3), requires_grad=True)
    # the gradient reaching the Function depends on x: torch raises, as autodiff does
    loss = (theirs.OnceSquare.apply(x * 2) ** 2).sum()
    (g,) = torch.autograd.grad(loss, x, create_graph=True)
    with pytest.raises(RuntimeError, match="marked with @once_differentiable"):
        (loss + (g * g).sum()).backward()
    # it does not (a sum follows): torch's gradient is a constant, and the penalty's gradient silently leaves
    # out d(g·g)/dx; autodiff raises there too (test_differentiating_a_once_differentiable_gradient_again_...)
    loss = theirs.OnceSquare.apply(x * 2).sum()
    (g,) = torch.autograd.grad(loss, x, create_graph=True)
    assert not g.requires_grad
    ours = Tensor(x.detach().numpy(), requires_grad=True)
    (our_g,) = autodiff.grad(OURS.OnceSquare.apply(ours * 2).sum(), ours, create_graph=True)
    assert our_g.requires_grad
    with pytest.raises(RuntimeError, match="OnceSquare.backward is marked @once_differentiable"):
        (our_g * our_g).sum().backward()


# -- saved tensors changed in place ----------------------------------------------------------------


@pytest.mark.parametrize("changed", ["saved input", "saved output", "saved input of two outputs"])
def test_a_saved_tensor_changed_in_place_makes_backward_raise_as_in_torch(torch, theirs, changed):
    def run(lib, functions, x):
        if changed == "saved input":
            out = functions.Cube.apply(x)
            target = x
        elif changed == "saved output":
            out = functions.Exp.apply(x)
            target = out
        else:
            out = functions.SinProduct.apply(x, x * 3)[1]
            target = x
        with lib.no_grad():
            target += 1
        out.sum().backward()

    x, tx = pair(torch, sample(21, 3))
    name = {"saved input": "Cube", "saved output": "Exp", "saved input of two outputs": "SinProduct"}[changed]
    with pytest.raises(RuntimeError, match=f"a tensor that {name} saved for its backward .* changed in place"):
        run(autodiff, OURS, x)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        run(torch, theirs, tx)


def test_the_gradient_backward_receives_cannot_be_changed_in_place():
    class Clobber(autodiff.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            grad[0] = 0.0
            return grad

    x = Tensor(sample(22, 3), requires_grad=True)
    shared = x * 2
    with pytest.raises(ValueError, match="read-only"):
        (Clobber.apply(shared) + shared).sum().backward()


# -- forward mode ---------------------------------------------------------------------------------


def test_jvp_uses_the_functions_jvp_and_agrees_with_torch(torch, theirs):
    import torch.autograd.forward_ad as forward_ad

    (x, tx), (y, ty) = pair(torch, sample(23, 3)), pair(torch, sample(24, 3))
    (t, tt), (s, ts) = pair(torch, sample(25, 3), False), pair(torch, sample(26, 3), False)
    _, cube_tangent = autodiff.jvp(OURS.Cube.apply, (x,), (t,))
    _, (u_tangent, v_tangent) = autodiff.jvp(lambda x, y: OURS.SinProduct.apply(x, y), (x, y), (t, s))
    with forward_ad.dual_level():
        their_cube = forward_ad.unpack_dual(theirs.Cube.apply(forward_ad.make_dual(tx, tt))).tangent
        u, v = theirs.SinProduct.apply(forward_ad.make_dual(tx, tt), forward_ad.make_dual(ty, ts))
        their_u, their_v = forward_ad.unpack_dual(u).tangent, forward_ad.unpack_dual(v).tangent
    assert_close(cube_tangent, their_cube)
    assert_close(u_tangent, their_u)
    assert_close(v_tangent, their_v)
    _, value_tangent = autodiff.jvp(OURS.Cube.apply, (Value(0.5),), (2.0,))
    assert value_tangent.data == pytest.approx(3 * 0.25 * 2.0)


def test_jvp_through_a_function_without_one_raises_naming_it():
    with pytest.raises(NotImplementedError, match="Exp has no jvp"):
        autodiff.jvp(OURS.Exp.apply, (Tensor(sample(27, 2)),), (np.ones(2),))
    with pytest.raises(NotImplementedError, match="MaxAndIndex has no jvp"):
        autodiff.jvp(lambda x: OURS.MaxAndIndex.apply(x)[0], (Tensor(sample(27, 2)),), (np.ones(2),))


# -- wrong input, refused by name ---------------------------------------------------------------------


def function_with(forward, backward):
    """A Function named Faulty with the given forward and backward."""
    return type("Faulty", (autodiff.Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


FLOAT32 = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)


@pytest.mark.parametrize("forward, backward, inputs, error, message", [
    (lambda ctx, x, y: x * y, lambda ctx, g: g, lambda: (FLOAT32, FLOAT32), TypeError,
     r"Faulty.backward returned 1 gradients, but forward took 2 arguments"),
    (lambda ctx, x: x * 2, lambda ctx, g: g.reshape(3, 1), lambda: (FLOAT32,), ValueError,
     r"Faulty.backward returned a gradient of shape \(3, 1\) for argument 0, which has shape \(3,\)"),
    (lambda ctx, x: x * 2, lambda ctx, g: g[:2], lambda: (FLOAT32,), ValueError,
     r"gradient of shape \(2,\) for argument 0, which has shape \(3,\)"),
    (lambda ctx, x: x * 2, lambda ctx, g: g.double(), lambda: (FLOAT32,), TypeError,
     r"Faulty.backward returned a gradient of dtype float64 for argument 0, which has dtype float32"),
    (lambda ctx, x, k: x * k, lambda ctx, g: (g, g), lambda: (FLOAT32, 2.0), TypeError,
     r"Faulty.backward returned a gradient for argument 1 of forward, which is not a Tensor or a Value"),
    (lambda ctx, x: x * 2, lambda ctx, g: g.data, lambda: (FLOAT32,), TypeError,
     r"Faulty.backward returned a ndarray for argument 0, a Tensor"),
    (lambda ctx, x: x * 2, lambda ctx, g: Tensor(1.0), lambda: (Value(2.0),), TypeError,
     r"Faulty.backward returned a Tensor for argument 0, a Value"),
    (lambda ctx, x: 3.0, lambda ctx, g: g, lambda: (FLOAT32,), TypeError,
     r"Faulty.forward returned a float; it must return Tensors or Values"),
    (lambda ctx, x: (x * 2, x.data), lambda ctx, g, h: g, lambda: (FLOAT32,), TypeError,
     r"Faulty.forward returned a ndarray \(output 1\)"),
    (lambda ctx, x: Value(1.0), lambda ctx, g: g, lambda: (FLOAT32,), TypeError,
     r"Faulty.forward returned a Value for Tensor arguments"),
    (lambda ctx, x, y: x, lambda ctx, g: (g, g), lambda: (FLOAT32, Value(1.0)), TypeError,
     r"Faulty.apply: Values and Tensors do not mix"),
])
def test_wrong_input_is_refused_naming_the_function_and_what_is_wrong(forward, backward, inputs, error, message):
    with pytest.raises(error, match=message):
        out = function_with(forward, backward).apply(*inputs())
        out = out[0] if isinstance(out, tuple) else out
        (out.sum() if isinstance(out, Tensor) else out).backward()


def test_other_misuses_are_refused_by_name():
    class NotStatic(autodiff.Function):
        def forward(ctx, x):
            return x

    with pytest.raises(TypeError, match=r"NotStatic.forward must be a @staticmethod"):
        NotStatic.apply(FLOAT32)
    with pytest.raises(TypeError, match="the keyword argument scale is a Tensor; pass Tensors and Values positionally"):
        function_with(lambda ctx, x, scale: x * scale, lambda ctx, g: g).apply(FLOAT32, scale=FLOAT32)

    def marks_an_input(ctx, x):
        ctx.mark_non_differentiable(x)
        return x * 2

    with pytest.raises(ValueError, match="Faulty: mark_non_differentiable was given a Tensor that forward did not return"):
        function_with(marks_an_input, lambda ctx, g: g).apply(FLOAT32)

    def saves_a_number(ctx, x):
        ctx.save_for_backward(x, 2.0)
        return x

    with pytest.raises(TypeError, match="Faulty: save_for_backward takes Tensors, Values or None, got a float at position 1"):
        function_with(saves_a_number, lambda ctx, g: g).apply(FLOAT32)

    class WrongTangent(OURS.Cube):
        @staticmethod
        def jvp(ctx, tangent):
            return tangent[:1]

    with pytest.raises(TypeError, match=r"WrongTangent.jvp returned a tangent of shape \(1,\) .* for output 0, "
                                        r"which has shape \(3,\)"):
        autodiff.jvp(WrongTangent.apply, (FLOAT32,), (np.ones(3, dtype=np.float32),))


# -- pictures, traces and explore name the Function -----------------------------------------------------


def test_draw_dot_and_trace_name_the_function_for_one_and_several_outputs():
    x = Tensor(sample(28, 3), requires_grad=True, label="x")
    u, v = OURS.SinProduct.apply(x, OURS.Cube.apply(x))
    loss = (u * v).sum()
    source = autodiff.draw_dot(loss).source
    assert re.search(r"\[label=Cube ", source) and re.search(r"\[label=SinProduct ", source)
    assert "sinproduct1[0]" in source and "sinproduct1[1]" in source and "2 outputs" in source
    trace = autodiff.trace_backward(loss)
    text = str(trace)
    assert "sinproduct1.grad += vjp of '[0]' for input 0 applied to sinproduct1[0].grad" in text
    assert re.search(r"x.grad \+= vjp of 'SinProduct' for input 0 applied to sinproduct1.grad = \(.*\)", text)
    assert "cube1.grad += vjp of 'SinProduct' for input 1" in text
    assert "x.grad += vjp of 'Cube' for input 0 applied to cube1.grad" in text
    again = Tensor(x.data, requires_grad=True)
    u, v = OURS.SinProduct.apply(again, OURS.Cube.apply(again))
    (u * v).sum().backward()
    np.testing.assert_array_equal(trace.grads[x], again.grad)  # the trace's steps are backward's


def test_a_trace_of_values_through_several_outputs_shows_the_gathered_gradients():
    x = Value(0.5, label="x")
    u, v = OURS.SinProduct.apply(x, Value(2.0, label="y"))
    trace = autodiff.trace_backward(u * v)
    lines = str(trace).splitlines()
    assert any(re.fullmatch(r"\d+\. sinproduct1.grad = \(\S+, None\) \+ \(None, \S+\) = \(\S+, \S+\)", line)
               for line in lines)
    (step,) = [line for line in lines if re.match(r"\d+\. x.grad \+= vjp of 'SinProduct' for input 0", line)]
    assert step.endswith(f"->  {autodiff.viz.nodes.format_number(trace.grads[x])}")
    assert trace.grads[x] == pytest.approx(8.0 * (np.sin(0.5) + 0.5 * np.cos(0.5)), rel=1e-14)  # y³ (sin x + x cos x)


@needs_dot
@pytest.mark.parametrize("engine", ["tensor", "value"])
def test_explore_shows_the_function_as_the_op(tmp_path, engine):
    x = Tensor(sample(29, 2), requires_grad=True) if engine == "tensor" else Value(0.5)
    u, v = OURS.SinProduct.apply(x, OURS.Cube.apply(x))
    loss = u * v
    data = page_data(autodiff.explore(loss.sum() if engine == "tensor" else loss, tmp_path / "page.html").html)
    by_name = {node["name"]: node for node in data["nodes"]}
    assert by_name["cube1"]["op"] == "Cube" and by_name["sinproduct1"]["op"] == "SinProduct"
    assert by_name["sinproduct1[1]"]["op"] == "[1]"
    assert by_name["sinproduct1"]["data"]["text"].startswith("(")
    assert by_name["sinproduct1"]["locals"][0].startswith("vector-Jacobian product of 'SinProduct'")
    assert any(step["text"].startswith("sinproduct1.grad = (") for step in data["steps"])


# -- the namespace, and PyTorch's tutorial program --------------------------------------------------


def test_autograd_holds_pytorchs_names():
    assert autodiff.autograd.Function is autodiff.Function
    assert autodiff.autograd.function.once_differentiable is autodiff.once_differentiable
    assert autodiff.autograd.function.FunctionCtx is autodiff.FunctionCtx is autodiff.autograd.FunctionCtx
    assert autodiff.autograd.grad is autodiff.grad


PORT = Path(__file__).with_name("port_legendre_polynomial.py")
FACTORIES_TAKE_DEVICE = "device" in inspect.signature(autodiff.full).parameters


def run_program(source, capsys):
    """What ``source`` prints, run as a program: (the losses it printed, the four coefficients)."""
    exec(compile(source, str(PORT), "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    losses = [float(line.split()[1]) for line in out.splitlines() if re.fullmatch(r"\d+ \S+", line)]
    numbers = r"(\S+)"
    result = re.search(rf"Result: y = {numbers} \+ {numbers} \* P3\({numbers} \+ {numbers} x\)", out)
    return np.array(losses), np.array([float(n) for n in result.groups()])


@pytest.mark.xfail(not FACTORIES_TAKE_DEVICE, raises=TypeError, strict=True,
                   reason="the factories take device= on branch issue20-corners, not merged here yet")
def test_pytorchs_custom_function_tutorial_runs_by_renaming_alone_and_matches(torch, capsys):
    source = PORT.read_text(encoding="utf-8")
    assert "torch" not in source
    losses, coefficients = run_program(source, capsys)
    their_losses, their_coefficients = run_program(source.replace("autodiff", "torch"), capsys)
    assert len(losses) == len(their_losses) == 20
    assert losses[-1] < losses[0] / 20  # it learns: from 210 to 9
    # float32 sums of 2,000 terms, added in another order: the runs agree to float32's accuracy, not exactly
    np.testing.assert_allclose(losses, their_losses, rtol=2e-5)
    np.testing.assert_allclose(coefficients, their_coefficients, rtol=1e-5, atol=1e-7)
