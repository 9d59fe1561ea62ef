"""Bad input to the Tensor engine is refused with a clear error naming what was wrong."""

import contextlib
import operator
import re

import numpy as np
import pytest

import autodiff
from autodiff import BackwardError, Tensor


def both_shapes(first, second):
    """A pattern matching a message that names ``first`` and then ``second``."""
    return re.escape(str(first)) + ".*" + re.escape(str(second))


OPERATORS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}


@pytest.mark.parametrize("symbol", OPERATORS)
def test_shapes_that_do_not_broadcast_are_named(symbol):
    apply = OPERATORS[symbol]
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = np.ones((4,))
    with pytest.raises(ValueError, match=both_shapes((2, 3), (4,))):
        apply(x, y)
    # a reflected comparison (y < x runs x > y) names them the other way round
    with pytest.raises(ValueError, match=both_shapes((4,), (2, 3)) + "|" + both_shapes((2, 3), (4,))):
        apply(y, x)


def test_where_names_every_shape_that_does_not_broadcast():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\).*\(4,\)"):
        autodiff.where(np.ones(2, dtype=bool), Tensor(np.ones(3)), Tensor(np.ones(4)))


@pytest.mark.parametrize("shape_a, shape_b, problem", [
    ((2, 3), (4, 5), "inner dimensions 3 and 4"),
    ((3,), (4,), "inner dimensions 3 and 4"),
    ((2, 3), (2,), "inner dimensions 3 and 2"),
    ((2, 2, 3), (5, 3, 4), "batch dimensions"),
])
def test_matmul_names_both_shapes_and_the_problem(shape_a, shape_b, problem):
    a, b = Tensor(np.ones(shape_a), requires_grad=True), Tensor(np.ones(shape_b))
    with pytest.raises(ValueError, match=both_shapes(shape_a, shape_b) + ".*" + problem):
        a @ b


def test_matmul_refuses_zero_dimensional_operands():
    with pytest.raises(ValueError, match=r"\(\) and \(3,\).*at least one dimension"):
        Tensor(2.0) @ Tensor(np.ones(3))


def test_backward_without_a_gradient_needs_one_element():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(BackwardError, match=r"one-element.*\(2, 3\)"):
        (x * 2).backward()
    assert issubclass(BackwardError, RuntimeError) and issubclass(BackwardError, ValueError)
    (x * 2).sum().backward()  # one element: fine
    (x[0:1, 0:1] * 2).backward()  # one element of shape (1, 1): fine
    assert x.grad[0, 0] == 4.0


@pytest.mark.parametrize("wrong", [(3, 2), (6,), (2, 3, 1), (1, 3), ()])
def test_a_gradient_of_the_wrong_shape_is_refused_naming_both(wrong):
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=both_shapes(wrong, (2, 3))):
        (x * 2).backward(np.ones(wrong))
    with pytest.raises(ValueError, match=both_shapes(wrong, (2, 3))):
        (x * 2).backward(Tensor(np.ones(wrong)))
    assert x.grad is None


def test_backward_through_nothing_that_requires_gradients_says_so():
    with pytest.raises(BackwardError, match="does not require gradients"):
        Tensor(np.ones(3)).sum().backward()
    x = Tensor(np.ones(3), requires_grad=True)
    with autodiff.no_grad():
        y = (x * 2).sum()
    with pytest.raises(BackwardError, match="no_grad"):
        y.backward()


@pytest.mark.parametrize("data", [np.array([1, 2]), np.array([True, False]), [1, 2], 3])
def test_integer_and_boolean_tensors_never_require_gradients(data):
    with pytest.raises(TypeError, match="only float32 and float64 tensors can require gradients"):
        Tensor(data, requires_grad=True)
    t = Tensor(data)
    with pytest.raises(TypeError, match="float32 and float64"):
        t.requires_grad_()
    with pytest.raises(TypeError, match="float32 and float64"):
        t.requires_grad = True
    assert not t.requires_grad
    t.requires_grad = False  # asking for no gradient is always fine


def test_requires_grad_changes_only_on_leaves():
    x = Tensor(np.ones(2), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"leaf.*'\*'.*detach"):
        y.requires_grad = False
    x.requires_grad = False
    assert not (x * 2).requires_grad


@pytest.mark.parametrize("data", [np.array(["a"]), np.array([1 + 2j]), [None], {"a": 1}])
def test_tensors_hold_numbers(data):
    with pytest.raises(TypeError, match="Tensor holds real numbers"):
        Tensor(data)


def test_shape_operations_name_the_shapes():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=both_shapes((2, 3), (4, 2))):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=both_shapes((0, 0), (2, 3))):
        x.transpose(0, 0)
    with pytest.raises(ValueError, match=r"axis 2 is out of range.*2 dimensions"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match=r"axis -3 is out of range"):
        x.max(axis=(0, -3))
    with pytest.raises(ValueError, match=r"axis -2 appears twice in \(0, -2\)"):
        x.sum(axis=(0, -2))
    with pytest.raises(ValueError, match=r"\(2, 3\), \(2, 2\) along axis 0"):
        autodiff.concatenate([x, Tensor(np.ones((2, 2)))], axis=0)
    with pytest.raises(ValueError, match=r"one shape.*\(2, 3\), \(3, 2\)"):
        autodiff.stack([x, Tensor(np.ones((3, 2)))])
    with pytest.raises(ValueError, match="at least one"):
        autodiff.concatenate([])
    with pytest.raises(ValueError, match="empty tensor of shape"):
        Tensor(np.ones((0, 3))).max()
    with pytest.raises(ValueError, match="one element.*\\(2, 3\\)"):
        x.item()
    with pytest.raises(ValueError, match="bound"):
        x.clip()


def test_detect_anomaly_names_the_operation_that_made_a_nan_or_inf():
    x = Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # the infinities are the point
        with autodiff.detect_anomaly(), pytest.raises(FloatingPointError, match=r"'sqrt'.*input 0"):
            (x.sqrt() * 2).sum().backward()
        x.grad = None
        with autodiff.detect_anomaly(), pytest.raises(FloatingPointError, match=r"'log'"):
            (x.log() * 0 + x).sum().backward()
        # the check is opt-in: without it the infinity simply flows into x.grad
        x.grad = None
        (x.sqrt() * 2).sum().backward()
    assert np.isinf(x.grad[0])


def test_detect_anomaly_passes_finite_gradients_through_unchanged():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    grads = []
    for check in (False, True):
        x = Tensor(a, requires_grad=True)
        with autodiff.detect_anomaly() if check else contextlib.nullcontext():
            (x.tanh() @ x.T).logsumexp(axis=1).sum().backward()
        grads.append(x.grad)
    np.testing.assert_array_equal(grads[0], grads[1])

