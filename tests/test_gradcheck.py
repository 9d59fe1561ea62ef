"""gradcheck on Tensors: it passes correct gradients, catches wrong ones, and names what it checked."""

import re

import numpy as np
import pytest

from autodiff import GradcheckError, Primitive, Tensor, gradcheck

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


def test_bad_inputs_and_outputs_are_refused():
    with pytest.raises(TypeError, match="float64.*input 0 is float32"):
        gradcheck(lambda a: a.sum(), (Tensor(np.ones(2, dtype=np.float32), requires_grad=True),))
    with pytest.raises(ValueError, match="input 0 does not require gradients"):
        gradcheck(lambda a: a.sum(), (Tensor(np.ones(2)),))
    with pytest.raises(ValueError, match=r"one element.*shape \(2,\)"):
        gradcheck(lambda a: a * 2, (Tensor(np.ones(2), requires_grad=True),))
    with pytest.raises(TypeError, match="ndarray"):
        gradcheck(lambda a: a.sum(), (np.ones(2),))
