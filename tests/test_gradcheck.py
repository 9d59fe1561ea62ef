"""gradcheck on Tensors: it passes correct gradients, catches wrong ones, and names what it checked."""

import re

import numpy as np
import pytest

import autodiff
from autodiff import Function, GradcheckError, Primitive, Tensor, Value, gradcheck, gradgradcheck

# a**2 whose rule forgets the factor 2: dL/da = a · g
BAD_SQUARE = Primitive("bad_square", lambda xp, a: a * a, (lambda xp, g, out, a: a * g,))


def square_with_wrong_slope(a):
    return BAD_SQUARE(a)


def _off_by_one_at(xp, g, out, a, *, element):
    grad = 2 * a * g
    grad[element] += 1.0
    return grad


# a**2 with the right rule everywhere except at ``element``, where it is off by one
SQUARE_WRONG_AT_ONE_ELEMENT = Primitive("square", lambda xp, a, *, element: a * a, (_off_by_one_at,))


def square_wrong_at_one_element(a, element):
    return SQUARE_WRONG_AT_ONE_ELEMENT(a, element=element)


def test_correct_gradients_of_several_broadcast_inputs_pass():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 2)), requires_grad=True)
    b = Tensor(rng.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda x, w, b: ((x @ w + b).tanh() ** 2).mean(), (x, w, b)) is True


def test_a_wrong_vjp_is_caught_with_the_input_element_and_both_numbers():
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True, label="x")
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda a: square_with_wrong_slope(a).sum(), [x])
    message = str(caught.value)
    assert "input 0 ('x')" in message and "element (0, 0)" in message
    assert re.search(r"backward gives 1\.0\d*, finite differences give 2\.0", message)  # plain numbers, no np.float64(...)


def test_an_error_at_a_single_element_is_found_and_named():
    x = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 1 at element \(1,\)"):
        gradcheck(lambda a, b: (a * 2).sum() + square_wrong_at_one_element(b, 1).sum(), (x, y))


def test_a_wrong_vjp_in_a_float32_style_formula_is_not_hidden_by_the_tolerance():
    # off by 1e-3 relative: more than rtol=1e-4 allows
    x = Tensor(np.array([2.0]), requires_grad=True)
    scaled = Primitive("scale", lambda xp, a: a * 3, (lambda xp, g, out, a: 3.003 * g,))
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: scaled(a).sum(), (x,), rtol=1e-4)
    assert gradcheck(lambda a: scaled(a).sum(), (x,), rtol=1e-2)


def test_large_inputs_are_checked_at_a_sample_of_elements():
    calls = []

    def fn(a):
        calls.append(1)
        return (a * a).sum()

    x = Tensor(np.random.default_rng(1).standard_normal(500), requires_grad=True)
    assert gradcheck(fn, (x,), max_elements=7)
    assert len(calls) == 1 + 2 * 7  # one backward pass, two evaluations per sampled element
    calls.clear()
    assert gradcheck(fn, (Tensor(np.ones(5), requires_grad=True),), max_elements=7)
    assert len(calls) == 1 + 2 * 5  # small inputs: every element


def test_sampling_finds_an_error_that_covers_many_elements():
    x = Tensor(np.random.default_rng(2).standard_normal(2000) + 3, requires_grad=True)
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: square_with_wrong_slope(a).sum(), (x,), max_elements=20)


def test_inputs_gradients_and_data_are_left_as_they_were():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.grad = np.array([7.0, 8.0])
    data = x.data.copy()
    assert gradcheck(lambda a: (a**3).sum(), (x,))
    np.testing.assert_array_equal(x.grad, [7.0, 8.0])
    np.testing.assert_array_equal(x.data, data)
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: square_with_wrong_slope(a).sum(), (x,))
    np.testing.assert_array_equal(x.grad, [7.0, 8.0])
    np.testing.assert_array_equal(x.data, data)


def test_one_node_given_alone_is_one_input_as_in_pytorch(torch):
    """``gradcheck(fn, x)``: x is the input, not a sequence of its rows; a wrong gradient is still caught."""
    x = Tensor(np.array([[1.0, 2.0], [3.0, -1.0]]), requires_grad=True)
    assert gradcheck(lambda a: (a @ a).tanh().sum(), x)
    assert torch.autograd.gradcheck(lambda a: (a @ a).tanh().sum(), torch.tensor(x.data, requires_grad=True))
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda a: square_with_wrong_slope(a).sum(), x)
    assert gradgradcheck(lambda a: (a * a * a).sum(), x)
    assert gradcheck(lambda v: v * v.exp(), Value(0.5))


def test_bad_inputs_and_outputs_are_refused():
    with pytest.raises(TypeError, match="float64.*input 0 is float32"):
        gradcheck(lambda a: a.sum(), (Tensor(np.ones(2, dtype=np.float32), requires_grad=True),))
    with pytest.raises(ValueError, match="input 0 does not require gradients"):
        gradcheck(lambda a: a.sum(), (Tensor(np.ones(2)),))
    with pytest.raises(ValueError, match=r"one element.*shape \(2,\)"):
        gradcheck(lambda a: a * 2, (Tensor(np.ones(2), requires_grad=True),))
    with pytest.raises(TypeError, match="ndarray"):
        gradcheck(lambda a: a.sum(), (np.ones(2),))


# -- functions that compute a gradient themselves, and second derivatives ------------------------------

# cos with the right value and a wrong slope: its rule says d(cos a)/da = +sin a, where the truth is -sin a
COS_WITH_WRONG_SLOPE = Primitive(
    "cos", lambda xp, a: xp.cos(a), (lambda xp, g, out, a: xp.sin(a) * g,), elementwise=True,
)


class SineWithWrongCurvature(Function):
    """sin, whose backward is right (cos a · g) but is computed by an op whose own derivative is wrong."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * COS_WITH_WRONG_SLOPE(x)


def gradient_penalty(f):
    """x ↦ |∇f(x)|², with the gradient computed by autodiff.grad inside, as a gradient penalty is."""

    def penalty(*xs):
        (gradient,) = autodiff.grad(f(*xs), xs[0], create_graph=True)
        return (gradient * gradient).sum() if isinstance(gradient, Tensor) else gradient * gradient

    return penalty


def test_a_function_that_calls_grad_inside_is_checked():
    # before, the finite differences ran under no_grad, where autodiff.grad has no graph to go back through
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True, label="x")
    penalty = gradient_penalty(lambda x: (x.tanh() ** 2).sum())
    assert gradcheck(penalty, [x]) is True
    assert gradcheck(gradient_penalty(lambda a: a.tanh() * a.exp()), [Value(0.3)]) is True


def test_a_penalty_written_with_backward_and_x_grad_is_checked_and_grads_are_left_alone():
    # each run of fn starts from cleared gradients, so a fn that calls backward itself sees the same each time
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    x.grad = np.array([7.0, 8.0])
    data = x.data.copy()

    def penalty(x):
        (x.exp() * x).sum().backward(create_graph=True)
        return (x.grad ** 2).sum()

    assert gradcheck(penalty, [x]) and gradgradcheck(penalty, [x])
    np.testing.assert_array_equal(x.grad, [7.0, 8.0])
    np.testing.assert_array_equal(x.data, data)


def test_gradcheck_records_even_when_called_under_no_grad():
    x = Tensor(np.array([0.5, 2.0]), requires_grad=True)
    with autodiff.no_grad():
        assert gradcheck(gradient_penalty(lambda x: (x ** 3).sum()), [x])
        assert gradcheck(lambda x: (x * x).sum(), [x])
        assert not autodiff.is_grad_enabled()


def test_a_wrong_second_derivative_passes_first_order_and_is_caught_and_named():
    x = Tensor(np.array([0.4, 1.3, -2.0]), requires_grad=True, label="x")
    f = lambda x: SineWithWrongCurvature.apply(x).sum()  # noqa: E731
    assert gradcheck(f, [x])  # first order: backward's numbers are right

    with pytest.raises(GradcheckError) as caught:
        gradgradcheck(f, [x])
    error = caught.value
    assert "second derivatives" in str(error) and "input 0 ('x') at element (0,)" in str(error)
    assert error.input == 0 and error.element == (0,)
    # d/dx of cos(x)·v: backward says +sin(x)·v, finite differences find -sin(x)·v
    assert error.analytic == pytest.approx(-error.numerical, rel=1e-5) and abs(error.analytic) > 1e-3
    assert f"backward gives {error.analytic!r}, finite differences give {error.numerical!r}" in str(error)

    with pytest.raises(GradcheckError, match=r"gradient of input 0 \('x'\) at element \(0,\)") as caught:
        gradcheck(gradient_penalty(f), [x])  # the same mistake, met in a gradient penalty
    assert caught.value.analytic == pytest.approx(-caught.value.numerical, rel=1e-5)


def test_a_wrong_second_derivative_of_a_value_is_named():
    # a Function on Values: its backward at first order gets the numbers the node kept from the forward pass
    assert gradcheck(lambda b: SineWithWrongCurvature.apply(b), [Value(1.0)])
    with pytest.raises(GradcheckError, match=r"second derivatives .* of input 1 \('b'\) at its value") as caught:
        gradgradcheck(lambda a, b: a * 2 + SineWithWrongCurvature.apply(b),
                      [Value(0.5, label="a"), Value(1.0, label="b")])
    assert caught.value.element is None and caught.value.input == 1


def test_second_derivatives_of_correct_operations_pass_mixed_and_unused_inputs_included():
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    unused = Tensor(rng.standard_normal(4), requires_grad=True)
    assert gradgradcheck(lambda x, w, u: ((x @ w).tanh() * (x @ w).sigmoid()).sum() + x.exp().log_softmax(1).mean(),
                         (x, w, unused))
    assert gradgradcheck(lambda a, b: a.exp() * b.sin() / (1 + a * a), [Value(0.3), Value(-1.1)])


def test_an_operation_with_first_derivatives_only_is_refused_by_name():
    first_order_only = Primitive("numpy_square", lambda xp, a: a * a, (lambda xp, g, out, a: 2 * a * g,),
                                 once_differentiable=True)
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert gradcheck(lambda x: first_order_only(x).sum(), [x])
    with pytest.raises(NotImplementedError, match="'numpy_square' has first derivatives only"):
        gradgradcheck(lambda x: first_order_only(x).sum(), [x])
