"""The core's contract at its edges: bad input refused by name, micrograd's internals, gradients that touch nothing."""

import math

import numpy as np
import pytest

import autodiff
from autodiff import BackwardError, Tensor, Value, no_grad, trace_backward


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_tensors_of_other_float_widths_refuse_gradients_by_name(dtype):
    if np.dtype(dtype) == np.float64:
        pytest.skip("long double is float64 on this platform")
    with pytest.raises(TypeError, match=f"float32 and float64.*{np.dtype(dtype)}"):
        Tensor(np.ones(2, dtype=dtype), requires_grad=True)


@pytest.mark.parametrize("operand, what", [
    (None, "None"),
    (np.array([1 + 2j, 3]), "complex"),
    (np.array([object(), 1.0], dtype=object), "object"),
    ("3", "<U1"),
])
def test_operands_that_are_not_real_numbers_are_refused(operand, what):
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=what):
        x + operand
    with pytest.raises(TypeError, match=what):
        operand * x


def test_values_and_tensors_do_not_mix():
    with pytest.raises(TypeError, match="Values and Tensors do not mix"):
        Tensor([1.0]) + Value(2.0)
    with pytest.raises(TypeError, match="Values and Tensors do not mix"):
        Value(2.0) + Tensor([1.0])


def test_relu_of_nan_is_nan_as_in_pytorch():
    assert math.isnan(Value(math.nan).relu().data)
    assert np.isnan(Tensor([np.nan]).relu().data[0])


@pytest.mark.parametrize("axis", [1.5, "0", [0.0]])
def test_an_axis_that_is_not_an_integer_is_refused(axis):
    with pytest.raises(TypeError, match="axis"):
        Tensor(np.ones((2, 3))).sum(axis=axis)


def test_micrograd_internals_read_as_in_micrograd():
    a, b = Value(2.0), Value(3.0)
    c = a * b
    assert c._prev == {a, b} and c._op == "*"
    assert a._prev == set() and a._op == ""
    with pytest.raises(AttributeError):
        c._op = "+"


def test_a_value_built_by_hand_draws_but_refuses_backward_by_name():
    a, b = Value(2.0), Value(3.0)
    handmade = Value(a.data * b.data, (a, b), "*", label="handmade")
    assert handmade._prev == {a, b}
    with pytest.raises(BackwardError, match="handmade.*by hand"):
        (handmade * 2).backward()
    assert a.grad == 0.0  # nothing half-done


def test_a_label_given_as_micrograds_second_argument_is_refused():
    with pytest.raises(TypeError, match="label="):
        Value(2.0, "x")


def test_grad_leaves_every_grad_as_it_was():
    w = Tensor([1.0, -2.0], requires_grad=True)
    w.grad = np.array([5.0, 5.0], dtype=np.float32)
    x = Value(1.5)
    hidden = w * 3
    (dw,) = autodiff.grad((hidden * hidden).sum(), w)
    np.testing.assert_allclose(dw, 18 * w.data)
    np.testing.assert_array_equal(w.grad, [5.0, 5.0])
    assert hidden.grad is None
    (dx,) = autodiff.grad(x.tanh(), x)
    assert dx == pytest.approx(1 - math.tanh(1.5) ** 2) and x.grad == 0.0


def test_grad_of_an_intermediate_node_and_of_several_outputs():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    y1, y2 = h.sum(), (h * 3).sum()
    (dh,) = autodiff.grad([y1, y2], h, grad_outputs=[None, None])
    np.testing.assert_array_equal(dh, [4.0, 4.0])
    with pytest.raises(ValueError, match="not part of the graph"):
        autodiff.grad(y1, Tensor([1.0], requires_grad=True))


def test_a_trace_changes_no_gradient_unless_it_stores():
    x = Tensor([1.0, 2.0], requires_grad=True)
    x.grad = np.array([7.0, 7.0], dtype=np.float32)
    y = (x * x + x).sum()
    trace = trace_backward(y)
    np.testing.assert_array_equal(x.grad, [7.0, 7.0])
    assert y.grad is None
    np.testing.assert_array_equal(trace.grads[x], [3.0, 5.0])  # this pass alone: 2x + 1
    trace_backward(y, store=True)
    np.testing.assert_array_equal(x.grad, [10.0, 12.0])


def test_a_stored_trace_says_when_leaves_already_held_gradients():
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    out = a * b
    out.backward()
    trace = trace_backward(out, store=True)
    assert str(trace).startswith("(the leaves already held gradients")
    assert a.grad == 6.0  # backward with a record: added, as backward adds
    fresh = Value(2.0) * Value(3.0)
    assert not str(trace_backward(fresh, store=True)).startswith("(")


def test_create_graph_gives_gradients_that_are_nodes(torch):
    x = Tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    y = (x.tanh() * x).sum()
    y.backward(create_graph=True)
    assert isinstance(x.grad, Tensor)
    x.grad.sum().backward()  # d/dx of sum(dy/dx) adds to x.grad, as in PyTorch
    t = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    (t.tanh() * t).sum().backward(create_graph=True)
    t.grad.sum().backward()
    np.testing.assert_allclose(x.grad.data, t.grad.detach().numpy(), rtol=1e-12)


def test_no_grad_results_are_leaves_and_in_place_updates_keep_identity():
    w = Tensor([1.0, 2.0], requires_grad=True)
    alias = w
    with no_grad():
        y = w * 2
        w -= 0.5 * y
    assert not y.requires_grad and alias is w
    np.testing.assert_array_equal(w.data, [0.0, 0.0])


def test_transpose_reads_two_axes_as_pytorch_and_one_tuple_as_numpy(torch):
    data = np.arange(24.0).reshape(2, 3, 4)
    x, t = Tensor(data), torch.tensor(data)
    np.testing.assert_array_equal(x.transpose(0, 2).data, t.transpose(0, 2).numpy())
    np.testing.assert_array_equal(x.transpose((2, 0, 1)).data, np.transpose(data, (2, 0, 1)))
    matrix = Tensor(data[0])
    assert matrix.transpose((0, 1)).shape == (3, 4) and matrix.transpose(1, 0).shape == (4, 3)
    with pytest.raises(ValueError, match="transpose\\(0, 1\\) of a matrix"):
        matrix.transpose(0, 1)
