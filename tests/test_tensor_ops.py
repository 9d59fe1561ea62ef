"""Every Tensor operation against PyTorch (values and gradients, random upstream gradients) and finite differences."""

import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autodiff
from autodiff import numpy_ops
from autodiff import Tensor, gradcheck

RTOL, ATOL = 1e-9, 1e-12
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2**32 - 1)


def sample(rng, shape, domain="any"):
    """Random float64 values of ``shape`` where the operation is smooth and PyTorch agrees on the derivative."""
    x = rng.standard_normal(shape)
    if domain == "positive":
        return np.abs(x) + 0.5
    if domain == "away_from_zero":
        return x + np.where(x >= 0, 0.3, -0.3)
    if domain == "away_from_half":  # clip's corners at ±0.5
        return np.where(np.abs(np.abs(x) - 0.5) < 0.05, x * 1.3, x)
    return x


def compare_with_torch(torch, ours, theirs, arrays, rng):
    """Values of ours(*tensors) and theirs(*torch tensors), then both gradients under one random upstream gradient."""
    inputs = [Tensor(a, requires_grad=True) for a in arrays]
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = ours(*inputs)
    torch_out = theirs(*torch_inputs)
    assert out.shape == tuple(torch_out.shape)
    np.testing.assert_allclose(out.data, torch_out.detach().numpy(), rtol=RTOL, atol=ATOL)
    upstream = np.asarray(rng.standard_normal(out.shape))
    out.backward(upstream)
    torch_out.backward(torch.from_numpy(upstream))
    for position, (x, t) in enumerate(zip(inputs, torch_inputs)):
        assert x.grad is not None, f"input {position} received no gradient"
        assert x.grad.shape == x.shape
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"input {position}")


def weighted_sum(fn, rng, out_shape):
    """A scalar function of fn's output whose gradient is a random upstream gradient, for gradcheck."""
    weights = Tensor(rng.standard_normal(out_shape), dtype=np.float64)
    return lambda *xs: (fn(*xs) * weights).sum()


def check_finite_differences(fn, arrays, rng):
    inputs = [Tensor(a, requires_grad=True) for a in arrays]
    with autodiff.no_grad():
        out_shape = fn(*inputs).shape
    assert gradcheck(weighted_sum(fn, rng, out_shape), inputs)


# -- elementwise and other one-input operations ----------------------------------

# name: (ours, PyTorch's, domain of the input)
UNARY = {
    "neg": (lambda a: -a, lambda a: -a, "any"),
    "exp": (lambda a: a.exp(), lambda a: a.exp(), "any"),
    "log": (lambda a: a.log(), lambda a: a.log(), "positive"),
    "sqrt": (lambda a: a.sqrt(), lambda a: a.sqrt(), "positive"),
    "abs": (lambda a: a.abs(), lambda a: a.abs(), "away_from_zero"),
    "abs builtin": (lambda a: abs(a), lambda a: abs(a), "away_from_zero"),
    "abs function": (lambda a: autodiff.abs(a), lambda a: a.abs(), "away_from_zero"),
    "sin": (lambda a: a.sin(), lambda a: a.sin(), "any"),
    "cos": (lambda a: a.cos(), lambda a: a.cos(), "any"),
    "sin function": (lambda a: autodiff.sin(3 * a), lambda a: (3 * a).sin(), "any"),
    "cos function": (lambda a: autodiff.cos(3 * a), lambda a: (3 * a).cos(), "any"),
    "tanh": (lambda a: a.tanh(), lambda a: a.tanh(), "any"),
    "relu": (lambda a: a.relu(), lambda a: a.relu(), "away_from_zero"),
    "sigmoid": (lambda a: a.sigmoid(), lambda a: a.sigmoid(), "any"),
    "clip": (lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5), "away_from_half"),
    "clip_low": (lambda a: a.clip(-0.5), lambda a: a.clamp(min=-0.5), "away_from_half"),
    "clip_high": (lambda a: a.clip(high=0.5), lambda a: a.clamp(max=0.5), "away_from_half"),
    "square": (lambda a: a**2, lambda a: a**2, "any"),
    "cube": (lambda a: a**3, lambda a: a**3, "any"),
    "pow_half": (lambda a: a**0.5, lambda a: a**0.5, "positive"),
    "reciprocal": (lambda a: a**-1, lambda a: a**-1, "away_from_zero"),
    "pow_zero": (lambda a: a**0, lambda a: a**0, "any"),
    "number_plus": (lambda a: 2.5 + a, lambda a: 2.5 + a, "any"),
    "number_minus": (lambda a: 2.5 - a, lambda a: 2.5 - a, "any"),
    "number_times": (lambda a: 2.5 * a, lambda a: 2.5 * a, "any"),
    "number_over": (lambda a: 2.5 / a, lambda a: 2.5 / a, "away_from_zero"),
    "number_power": (lambda a: 2.5**a, lambda a: 2.5**a, "any"),
    "minus_number": (lambda a: a - 2.5, lambda a: a - 2.5, "any"),
    "over_number": (lambda a: a / 2.5, lambda a: a / 2.5, "any"),
    "sum": (lambda a: a.sum(), lambda a: a.sum(), "any"),
    "mean": (lambda a: a.mean(), lambda a: a.mean(), "any"),
    "max": (lambda a: a.max(), lambda a: a.amax(), "any"),
    "min": (lambda a: a.min(), lambda a: a.amin(), "any"),
    "logsumexp": (lambda a: a.logsumexp(), lambda a: a.reshape(-1).logsumexp(0), "any"),
    "flatten": (lambda a: a.flatten(), lambda a: a.flatten(), "any"),
    "T": (lambda a: a.T, lambda a: a.permute(tuple(reversed(range(a.ndim)))), "any"),
    "transpose": (lambda a: a.transpose(), lambda a: a.permute(tuple(reversed(range(a.ndim)))), "any"),
}


@pytest.mark.parametrize("name", UNARY)
def test_one_input_operations_match_torch(torch, name):
    ours, theirs, domain = UNARY[name]

    @settings(max_examples=25)
    @given(shapes, seeds)
    def check(shape, seed):
        rng = np.random.default_rng(seed)
        compare_with_torch(torch, ours, theirs, [sample(rng, shape, domain)], rng)

    check()


@pytest.mark.parametrize("name", UNARY)
def test_one_input_operations_match_finite_differences(name):
    ours, _, domain = UNARY[name]
    rng = np.random.default_rng(0)
    for shape in [(), (3,), (2, 3)]:
        check_finite_differences(ours, [sample(rng, shape, domain)], rng)


# -- two inputs, broadcasting, numbers and arrays on either side ----------------------

BINARY = {
    "add": (lambda a, b: a + b, "any", "any"),
    "sub": (lambda a, b: a - b, "any", "any"),
    "mul": (lambda a, b: a * b, "any", "any"),
    "div": (lambda a, b: a / b, "any", "away_from_zero"),
    "pow": (lambda a, b: a**b, "positive", "any"),
}


@pytest.mark.parametrize("name", BINARY)
def test_binary_operations_broadcast_like_torch(torch, name):
    op, domain_a, domain_b = BINARY[name]

    @settings(max_examples=30)
    @given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3), seeds)
    def check(shapes, seed):
        rng = np.random.default_rng(seed)
        a, b = (sample(rng, s, d) for s, d in zip(shapes.input_shapes, (domain_a, domain_b)))
        compare_with_torch(torch, op, op, [a, b], rng)

    check()


@pytest.mark.parametrize("name", BINARY)
def test_binary_operations_match_finite_differences(name):
    op, domain_a, domain_b = BINARY[name]
    rng = np.random.default_rng(1)
    for shape_a, shape_b in [((), ()), ((2, 3), (3,)), ((2, 1), (1, 3)), ((3,), (2, 3))]:
        check_finite_differences(op, [sample(rng, shape_a, domain_a), sample(rng, shape_b, domain_b)], rng)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("side", ["left", "right"])
def test_arrays_and_numbers_on_either_side_match_torch(torch, name, side):
    op, domain_a, domain_b = BINARY[name]
    rng = np.random.default_rng(2)
    tensor_domain, constant_domain = (domain_a, domain_b) if side == "left" else (domain_b, domain_a)
    x = sample(rng, (2, 3), tensor_domain)
    for constant in (sample(rng, (3,), constant_domain), float(sample(rng, (), constant_domain))):
        torch_constant = torch.from_numpy(constant) if isinstance(constant, np.ndarray) else constant
        if side == "left":
            ours, theirs = (lambda t: op(t, constant)), (lambda t: op(t, torch_constant))
        else:
            ours, theirs = (lambda t: op(constant, t)), (lambda t: op(torch_constant, t))
        compare_with_torch(torch, ours, theirs, [x], rng)


def test_pow_edge_cases_match_torch(torch):
    base = np.array([0.0, 0.0, 2.0, -2.0, -2.0, 0.0])
    exponent = np.array([2.0, 0.0, 0.0, 2.0, 3.0, -1.0])
    rng = np.random.default_rng(3)
    inputs = [Tensor(base, requires_grad=True), Tensor(exponent, requires_grad=True)]
    torch_inputs = [torch.tensor(base, requires_grad=True), torch.tensor(exponent, requires_grad=True)]
    with np.errstate(divide="ignore"):  # 0 ** -1 is inf, as in torch
        out = inputs[0] ** inputs[1]
    torch_out = torch_inputs[0] ** torch_inputs[1]
    np.testing.assert_array_equal(out.data, torch_out.detach().numpy())
    upstream = rng.standard_normal(base.shape)
    out.backward(upstream)
    torch_out.backward(torch.from_numpy(upstream))
    for x, t in zip(inputs, torch_inputs):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=RTOL, equal_nan=True)


# -- matrix products -------------------------------------------------------------

MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((1, 2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (4, 3, 2)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,)),
]


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES)
def test_matmul_matches_torch_and_finite_differences(torch, shape_a, shape_b):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    compare_with_torch(torch, lambda x, y: x @ y, lambda x, y: x @ y, [a, b], rng)
    check_finite_differences(lambda x, y: x @ y, [a, b], rng)


def test_matmul_with_arrays_on_either_side_matches_torch(torch):
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    compare_with_torch(torch, lambda t: t @ w, lambda t: t @ torch.from_numpy(w), [x], rng)
    compare_with_torch(torch, lambda t: x @ t, lambda t: torch.from_numpy(x) @ t, [w], rng)


# -- reductions and the softmax family along axes ----------------------------------

REDUCTIONS = {
    "sum": (lambda a, axis, keep: a.sum(axis=axis, keepdims=keep), lambda a, dim, keep: a.sum(dim=dim, keepdim=keep)),
    "mean": (lambda a, axis, keep: a.mean(axis=axis, keepdims=keep), lambda a, dim, keep: a.mean(dim=dim, keepdim=keep)),
    "max": (lambda a, axis, keep: a.max(axis=axis, keepdims=keep), lambda a, dim, keep: a.amax(dim=dim, keepdim=keep)),
    "min": (lambda a, axis, keep: a.min(axis=axis, keepdims=keep), lambda a, dim, keep: a.amin(dim=dim, keepdim=keep)),
    "logsumexp": (
        lambda a, axis, keep: a.logsumexp(axis=axis, keepdims=keep),
        lambda a, dim, keep: a.logsumexp(dim=dim, keepdim=keep),
    ),
}


@st.composite
def shapes_and_axes(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    axis = draw(st.one_of(
        st.none(), st.integers(-ndim, ndim - 1), hnp.valid_tuple_axes(ndim, min_size=1),
    ))
    return shape, axis


@pytest.mark.parametrize("name", REDUCTIONS)
def test_reductions_along_axes_match_torch(torch, name):
    ours, theirs = REDUCTIONS[name]

    @settings(max_examples=40)
    @given(shapes_and_axes(), st.booleans(), seeds)
    def check(shape_and_axis, keepdims, seed):
        shape, axis = shape_and_axis
        dim = tuple(range(len(shape))) if axis is None else axis
        rng = np.random.default_rng(seed)
        compare_with_torch(
            torch, lambda a: ours(a, axis, keepdims), lambda a: theirs(a, dim, keepdims), [sample(rng, shape)], rng
        )

    check()


@pytest.mark.parametrize("name", REDUCTIONS)
def test_reductions_along_axes_match_finite_differences(name):
    ours, _ = REDUCTIONS[name]
    rng = np.random.default_rng(6)
    for axis, keepdims in [(None, False), (0, True), (-1, False), ((0, 2), False), ((1,), True)]:
        check_finite_differences(lambda a: ours(a, axis, keepdims), [sample(rng, (2, 3, 4))], rng)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_along_any_axis_matches_torch(torch, name):
    @settings(max_examples=40)
    @given(shapes_and_axes().filter(lambda s: isinstance(s[1], int)), seeds)
    def check(shape_and_axis, seed):
        shape, axis = shape_and_axis
        rng = np.random.default_rng(seed)
        compare_with_torch(
            torch, lambda a: getattr(a, name)(axis=axis), lambda a: getattr(torch, name)(a, dim=axis),
            [sample(rng, shape) * 3], rng,
        )

    check()
    rng = np.random.default_rng(7)
    for axis in (0, 1, -1):
        check_finite_differences(lambda a: getattr(a, name)(axis=axis), [sample(rng, (3, 4))], rng)


def test_max_and_min_share_the_gradient_among_ties_like_amax(torch):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    rng = np.random.default_rng(8)
    for axis in (None, 1, 0):
        dim = (0, 1) if axis is None else axis
        compare_with_torch(torch, lambda a: a.max(axis=axis), lambda a: a.amax(dim=dim), [x], rng)
        compare_with_torch(torch, lambda a: a.min(axis=axis), lambda a: a.amin(dim=dim), [x], rng)


def test_softmax_family_is_finite_at_large_inputs(torch):
    x = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -1001.0]])
    rng = np.random.default_rng(9)
    for name in ("softmax", "log_softmax"):
        compare_with_torch(torch, lambda a: getattr(a, name)(axis=1), lambda a: getattr(torch, name)(a, dim=1), [x], rng)
    compare_with_torch(torch, lambda a: a.logsumexp(axis=1), lambda a: a.logsumexp(dim=1), [x], rng)
    for dtype in (np.float32, np.float64):
        a = Tensor(x, dtype=dtype, requires_grad=True)
        outputs = [a.softmax(axis=1), a.log_softmax(axis=1), a.logsumexp(axis=1), a.logsumexp()]
        sum(((out * out).sum() for out in outputs), Tensor(0.0, dtype=dtype)).backward()
        assert all(np.isfinite(out.data).all() for out in outputs)
        assert np.isfinite(a.grad).all()


def test_logsumexp_of_minus_infinity_is_minus_infinity(torch):
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    ours = Tensor(x).logsumexp(axis=1)
    np.testing.assert_array_equal(ours.data, torch.tensor(x).logsumexp(dim=1).numpy())


def test_argmax_matches_numpy_and_has_no_gradient():
    x = Tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]]), requires_grad=True)
    assert x.argmax().item() == 3
    np.testing.assert_array_equal(x.argmax(axis=1).data, [1, 0])
    np.testing.assert_array_equal(x.argmax(axis=0).data, [1, 0, 1])
    assert not x.argmax(axis=1).requires_grad
    assert x.argmax(axis=1).dtype.kind == "i"


# -- shape: reshape, transpose, indexing --------------------------------------------

SHAPE_OPS = {
    "reshape": (lambda a: a.reshape(4, 6), lambda a: a.reshape(4, 6)),
    "reshape_tuple": (lambda a: a.reshape((3, -1)), lambda a: a.reshape(3, -1)),
    "transpose_axes": (lambda a: a.transpose(2, 0, 1), lambda a: a.permute(2, 0, 1)),
    "transpose_tuple": (lambda a: a.transpose((1, -1, 0)), lambda a: a.permute(1, 2, 0)),
    "T": (lambda a: a.T, lambda a: a.permute(2, 1, 0)),
    "flatten": (lambda a: a.flatten(), lambda a: a.flatten()),
}


@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_operations_match_torch_and_finite_differences(torch, name):
    ours, theirs = SHAPE_OPS[name]
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 4))
    compare_with_torch(torch, ours, theirs, [x], rng)
    check_finite_differences(ours, [x], rng)


MASK = np.random.default_rng(11).random((4, 5, 3)) > 0.5
INDICES = {
    "int": 1,
    "negative_int": -1,
    "slice": slice(1, 3),
    "step": slice(None, None, 2),
    "int_then_slice": (2, slice(1, None)),
    "ellipsis": (Ellipsis, 0),
    "none": (None, slice(None), 1),
    "none_inside": (slice(None), None, slice(1, 4)),
    "int_array": [0, 2, 3],
    "repeated_int_array": [0, 2, 0, 0],
    "repeated_pairs": ([0, 1, 0], [4, 2, 4]),
    "int_array_2d": np.array([[0, 1], [1, 1]]),
    "int_array_with_slice": (1, [0, 0, 4], slice(None)),
    "int_array_after_ellipsis": (Ellipsis, [2, 2]),
    "mask": MASK,
    "mask_of_first_axis": np.array([True, False, True, True]),
    "mask_with_int": (slice(None), np.array([True, False, True, False, True]), 1),
}


def torch_index(torch, index):
    parts = index if isinstance(index, tuple) else (index,)
    converted = tuple(torch.from_numpy(p) if isinstance(p, np.ndarray) else p for p in parts)
    return converted if isinstance(index, tuple) else converted[0]


@pytest.mark.parametrize("name", INDICES)
def test_indexing_matches_torch_and_finite_differences(torch, name):
    index = INDICES[name]
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 5, 3))
    compare_with_torch(torch, lambda a: a[index], lambda a: a[torch_index(torch, index)], [x], rng)
    check_finite_differences(lambda a: a[index], [x], rng)


def test_repeated_indices_accumulate_their_gradients():
    x = Tensor(np.arange(4.0), requires_grad=True)
    x[[1, 1, 3, 1]].sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 3.0, 0.0, 1.0])


def test_tensors_work_as_indices(torch):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 3))
    rows = Tensor(np.array([3, 0, 3]))
    compare_with_torch(torch, lambda a: a[rows], lambda a: a[torch.tensor([3, 0, 3])], [x], rng)
    compare_with_torch(torch, lambda a: a[a > 0], lambda a: a[a > 0], [x], rng)


def test_an_empty_index_list_selects_nothing():
    x = Tensor(np.ones((3, 2)), requires_grad=True)
    out = x[[]]
    assert out.shape == (0, 2)
    out.backward(np.zeros((0, 2)))
    np.testing.assert_array_equal(x.grad, np.zeros((3, 2)))


# -- joining and choosing ----------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_matches_torch_and_finite_differences(torch, axis):
    rng = np.random.default_rng(14)
    shapes = [(2, 3), (2, 1), (2, 2)] if axis != 0 else [(2, 3), (1, 3), (3, 3)]
    arrays = [rng.standard_normal(s) for s in shapes]
    compare_with_torch(
        torch, lambda *ts: autodiff.concatenate(ts, axis=axis), lambda *ts: torch.cat(ts, dim=axis), arrays, rng
    )
    check_finite_differences(lambda *ts: autodiff.concatenate(ts, axis=axis), arrays, rng)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack_matches_torch_and_finite_differences(torch, axis):
    rng = np.random.default_rng(15)
    arrays = [rng.standard_normal((2, 3)) for _ in range(3)]
    compare_with_torch(
        torch, lambda *ts: autodiff.stack(ts, axis=axis), lambda *ts: torch.stack(ts, dim=axis), arrays, rng
    )
    check_finite_differences(lambda *ts: autodiff.stack(ts, axis=axis), arrays, rng)


def test_where_broadcasts_like_torch_and_matches_finite_differences(torch):
    rng = np.random.default_rng(16)
    condition = rng.random((2, 3)) > 0.5
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3,))
    compare_with_torch(
        torch, lambda x, y: autodiff.where(condition, x, y),
        lambda x, y: torch.where(torch.from_numpy(condition), x, y), [a, b], rng,
    )
    check_finite_differences(lambda x, y: autodiff.where(Tensor(condition), x, y), [a, b], rng)


def test_where_takes_numbers_on_either_side(torch):
    rng = np.random.default_rng(17)
    x = rng.standard_normal((2, 3))
    compare_with_torch(torch, lambda t: autodiff.where(t > 0, t, 0.5), lambda t: torch.where(t > 0, t, 0.5), [x], rng)
    compare_with_torch(torch, lambda t: autodiff.where(t > 0, -1.0, t), lambda t: torch.where(t > 0, -1.0, t), [x], rng)
    out = autodiff.where(np.array([True, False]), 1.0, 2.0)
    np.testing.assert_array_equal(out.data, [1.0, 2.0])
    assert out.dtype == autodiff.get_default_dtype()


# -- comparisons, conversions, small things ------------------------------------------


COMPARISONS = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal, "!=": np.not_equal,
}
COMPARISON_OPERATORS = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}


@pytest.mark.parametrize("symbol", COMPARISONS)
def test_comparisons_match_numpy_without_gradient(symbol):
    rng = np.random.default_rng(18)
    a = np.round(rng.standard_normal((2, 3)))
    b = np.round(rng.standard_normal((3,)))
    x = Tensor(a, requires_grad=True)
    compare, apply = COMPARISONS[symbol], COMPARISON_OPERATORS[symbol]
    for other, expected in ((Tensor(b), compare(a, b)), (b, compare(a, b)), (0.0, compare(a, 0.0))):
        out = apply(x, other)
        assert out.dtype == np.bool_
        assert not out.requires_grad and out.children == ()
        np.testing.assert_array_equal(out.data, expected)
    np.testing.assert_array_equal(apply(b, x).data, compare(b, a))


def test_detach_item_and_numpy():
    x = Tensor(np.array([[2.0]]), requires_grad=True)
    y = x * 3
    d = y.detach()
    assert not d.requires_grad and d.children == ()
    assert d.data is y.data
    assert y.item() == 6.0 and isinstance(y.item(), float)
    assert y.numpy() is y.data
    assert len(Tensor(np.zeros((4, 2)))) == 4


def test_tensor_copies_its_data():
    array = np.array([1.0, 2.0])
    t = Tensor(array)
    array[0] = 5.0
    assert t.data[0] == 1.0


def test_repr_is_readable():
    assert repr(Tensor([1.0, 2.0])) == "Tensor([1., 2.])"
    assert repr(Tensor([1.0, 2.0], requires_grad=True)) == "Tensor([1., 2.], requires_grad=True)"
    assert repr(Tensor(np.array([1, 2]))) == "Tensor([1, 2], dtype=int64)"
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True, label="x")
    assert repr(x * x) == "Tensor([1., 4.], dtype=float64, op='*')"
    assert repr(x) == "Tensor([1., 2.], dtype=float64, requires_grad=True, label='x')"
    long = repr(Tensor(np.arange(100.0)))
    assert "..." in long and len(long) < 120


def test_diamond_and_reused_tensors_add_up_like_torch(torch):
    rng = np.random.default_rng(19)

    def diamond(a, b):
        c = a * b
        return (c.exp() + c * a - b.tanh() * c).sum(axis=0)

    compare_with_torch(torch, diamond, diamond, [rng.standard_normal((3, 2)), rng.standard_normal((2,))], rng)


def test_leaf_gradients_add_up_across_calls_and_intermediates_are_recomputed():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x
    z = y.sum()
    z.backward()
    z.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])


def test_backward_of_a_leaf_seeds_it():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.backward(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_long_chains_need_no_recursion():
    x = Tensor(np.ones(2), requires_grad=True)
    y = x
    for _ in range(20000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_no_grad_records_nothing_and_restores_afterwards():
    x = Tensor(np.ones(3), requires_grad=True)
    with autodiff.no_grad():
        y = (x * 2).sum()
        assert not autodiff.is_grad_enabled()
        with autodiff.no_grad():
            pass
        assert not autodiff.is_grad_enabled()
    assert autodiff.is_grad_enabled()
    assert not y.requires_grad and y.children == () and y.op == ""

    @autodiff.no_grad()
    def evaluate(t):
        return t * 3

    assert not evaluate(x).requires_grad
    assert (x * 3).requires_grad


def test_constants_stay_out_of_the_graph():
    x = Tensor(np.ones(3), requires_grad=True)
    c = Tensor(np.full(3, 2.0))
    (x * c).sum().backward()
    assert c.grad is None
    assert (c * c).children == ()


# -- float32 all the way: data, every VJP, every gradient ----------------------------


def float32_cases():
    """(name, ours, PyTorch's as a function of (torch, *tensors), input arrays) for the operations above."""
    rng = np.random.default_rng(20)
    for name, (ours, theirs, domain) in UNARY.items():
        yield name, ours, (lambda torch, a, theirs=theirs: theirs(a)), [sample(rng, (2, 3), domain)]
    for name, (op, domain_a, domain_b) in BINARY.items():
        arrays = [sample(rng, (2, 3), domain_a), sample(rng, (3,), domain_b)]
        yield name, op, (lambda torch, a, b, op=op: op(a, b)), arrays
    for name, (ours, theirs) in REDUCTIONS.items():
        for axis in (None, 1, (0, 2)):
            dim = (0, 1, 2) if axis is None else axis
            yield (f"{name}-{axis}", (lambda a, ours=ours, axis=axis: ours(a, axis, False)),
                   (lambda torch, a, theirs=theirs, dim=dim: theirs(a, dim, False)), [sample(rng, (2, 3, 4))])
    for name in ("softmax", "log_softmax"):
        yield (name, (lambda a, name=name: getattr(a, name)(axis=1)),
               (lambda torch, a, name=name: getattr(torch, name)(a, dim=1)), [sample(rng, (2, 3))])
    for name, (ours, theirs) in SHAPE_OPS.items():
        yield name, ours, (lambda torch, a, theirs=theirs: theirs(a)), [sample(rng, (2, 3, 4))]
    for name, index in INDICES.items():
        yield (f"index-{name}", (lambda a, index=index: a[index]),
               (lambda torch, a, index=index: a[torch_index(torch, index)]), [sample(rng, (4, 5, 3))])
    for shape_a, shape_b in MATMUL_SHAPES:
        yield (f"matmul-{shape_a}-{shape_b}", (lambda a, b: a @ b), (lambda torch, a, b: a @ b),
               [sample(rng, shape_a), sample(rng, shape_b)])
    pair = [sample(rng, (2, 3)), sample(rng, (2, 3))]
    yield ("concatenate", (lambda *ts: autodiff.concatenate(ts, axis=1)),
           (lambda torch, *ts: torch.cat(ts, dim=1)), pair)
    yield "stack", (lambda *ts: autodiff.stack(ts, axis=1)), (lambda torch, *ts: torch.stack(ts, dim=1)), pair
    yield "where", (lambda a, b: autodiff.where(a > b, a, b)), (lambda torch, a, b: torch.where(a > b, a, b)), pair
    yield ("composite", (lambda a, b: ((a * b).tanh() @ b.T).log_softmax(axis=0).mean()),
           (lambda torch, a, b: ((a * b).tanh() @ b.T).log_softmax(dim=0).mean()), pair)


FLOAT32_CASES = list(float32_cases())


@pytest.mark.parametrize("name, ours, theirs, arrays", FLOAT32_CASES, ids=[case[0] for case in FLOAT32_CASES])
def test_float32_graphs_stay_float32_and_match_torch(torch, name, ours, theirs, arrays):
    rng = np.random.default_rng(21)
    arrays = [a.astype(np.float32) for a in arrays]
    inputs = [Tensor(a, requires_grad=True) for a in arrays]
    out = ours(*inputs)
    assert out.dtype == np.float32
    # every backward function, of every node, computes in float32
    for node in autodiff.graph.topological_order(out):
        assert node.dtype == np.float32, node.op
        upstream = np.asarray(rng.standard_normal(node.shape), dtype=np.float32)
        for share in _rules_applied(node, upstream):
            assert np.asarray(share).dtype == np.float32, node.op
    upstream = np.asarray(rng.standard_normal(out.shape), dtype=np.float32)
    out.backward(upstream)
    assert all(x.grad.dtype == np.float32 for x in inputs)

    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    torch_out = theirs(torch, *torch_inputs)
    torch_out.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(out.data, torch_out.detach().numpy(), rtol=2e-5, atol=1e-6)
    for x, t in zip(inputs, torch_inputs):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("name, ours, theirs, arrays", FLOAT32_CASES, ids=[case[0] for case in FLOAT32_CASES])
def test_rules_declared_fresh_return_arrays_nothing_else_holds(name, ours, theirs, arrays):
    # backward adds into such arrays in place and leaves keep them without a copy
    rng = np.random.default_rng(5)
    out = ours(*[Tensor(a, requires_grad=True) for a in arrays])
    for node in autodiff.graph.topological_order(out):
        if not node._fresh:
            continue
        upstream = rng.standard_normal(node.shape)
        for share in _rules_applied(node, upstream):
            for held in (upstream, node.data, *[child.data for child in node.children]):
                assert not np.shares_memory(np.asarray(share), held), node.op


def _rules_applied(node, upstream):
    """What each rule of ``node``'s primitive gives for ``upstream``, for the inputs that require gradients."""
    inputs_data = [child.data for child in node.children]
    needs = [child.requires_grad for child in node.children]
    shares = node._definition.shares(numpy_ops, upstream, node.data, inputs_data, node._params, needs)
    return [share for share in shares if share is not None]
