"""Every Tensor operation against PyTorch (values and gradients, random upstream gradients) and finite differences.

The operations are the rows of the shared table (``op_table.OPS``): each on shapes hypothesis draws,
on its fixed cases in float64 against finite differences and in float32 against PyTorch.
"""

import operator

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import autodiff
from autodiff import numpy_ops
from autodiff import Tensor, gradcheck
from op_table import ANY, TENSOR, TWO, Case, cases, draw_operands, function, rows, seeded, suited_operands

RTOL, ATOL = 1e-9, 1e-12
seeds = st.integers(0, 2**32 - 1)
TENSOR_ROWS = rows(TENSOR)


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


def both_sides(op, case, torch):
    count = len(case.shapes)
    return function(op, "ours", count, case.settings), function(op, "theirs", count, case.settings, torch)


# -- every operation of the shared table, on shapes hypothesis draws (0-d and size-1 axes among them) ----


@pytest.mark.parametrize("op", TENSOR_ROWS, ids=str)
def test_operations_match_torch(torch, op):
    @settings(max_examples=12)
    @given(op.takes.random, seeds)
    def check(case, seed):
        assume(op.suits(case))
        rng = np.random.default_rng(seed)
        values = draw_operands(op, case, rng)
        assume(op.suits(case, values))
        compare_with_torch(torch, *both_sides(op, case, torch), values, rng)

    check()


@pytest.mark.parametrize("op", rows(TENSOR, rounds=False), ids=str)
def test_operations_match_finite_differences(op):
    for case in cases(op):
        rng = seeded(op, case)
        fn = function(op, "ours", len(case.shapes), case.settings)
        try:
            check_finite_differences(fn, suited_operands(op, case, rng), rng)
        except AssertionError as error:
            raise AssertionError(f"case {case}: {error}") from error


@pytest.mark.parametrize("op", rows(TENSOR, takes=TWO), ids=str)
@pytest.mark.parametrize("side", ["left", "right"])
def test_arrays_and_numbers_on_either_side_match_torch(torch, op, side):
    ours, theirs = both_sides(op, Case(((), ())), torch)
    rng = seeded(op, side)
    tensor_domain, constant_domain = (op.domains[0], op.domains[1]) if side == "left" else (op.domains[1], op.domains[0])
    x = tensor_domain.draw(rng, (2, 3))
    for constant in (constant_domain.draw(rng, (3,)), float(constant_domain.draw(rng, ()))):
        torch_constant = torch.from_numpy(constant) if isinstance(constant, np.ndarray) else constant
        if side == "left":
            compare_with_torch(torch, lambda t: ours(t, constant), lambda t: theirs(t, torch_constant), [x], rng)
        else:
            compare_with_torch(torch, lambda t: ours(constant, t), lambda t: theirs(torch_constant, t), [x], rng)


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

def test_matmul_with_arrays_on_either_side_matches_torch(torch):
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    compare_with_torch(torch, lambda t: t @ w, lambda t: t @ torch.from_numpy(w), [x], rng)
    compare_with_torch(torch, lambda t: x @ t, lambda t: torch.from_numpy(x) @ t, [w], rng)


# -- reductions and the softmax family along axes ----------------------------------

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
    """(name, [(ours, PyTorch's as a function of (torch, *tensors), input arrays), ...]): each row's cases, and a composite."""
    for op in rows(TENSOR, casts=False):
        runs = []
        for case in cases(op):
            ours = function(op, "ours", len(case.shapes), case.settings)
            theirs = (lambda torch, *ts, op=op, case=case: function(op, "theirs", len(ts), case.settings, torch)(*ts))
            runs.append((str(case), ours, theirs, suited_operands(op, case, seeded("float32", op, case))))
        yield op.name, runs
    pair = [ANY.draw(seeded("composite"), (2, 3)), ANY.draw(seeded("composite", 1), (2, 3))]
    yield "composite", [("", (lambda a, b: ((a * b).tanh() @ b.T).log_softmax(axis=0).mean()),
                         (lambda torch, a, b: ((a * b).tanh() @ b.T).log_softmax(dim=0).mean()), pair)]


FLOAT32_CASES = list(float32_cases())


@pytest.mark.parametrize("name, runs", FLOAT32_CASES, ids=[name for name, _ in FLOAT32_CASES])
def test_float32_graphs_stay_float32_and_match_torch(torch, name, runs):
    rng = np.random.default_rng(21)
    for case, ours, theirs, arrays in runs:
        arrays = [a.astype(np.float32) for a in arrays]
        inputs = [Tensor(a, requires_grad=True) for a in arrays]
        out = ours(*inputs)
        assert out.dtype == np.float32, case
        # every backward function, of every node, computes in float32
        for node in autodiff.graph.topological_order(out):
            assert node.dtype == np.float32, (case, node.op)
            upstream = np.asarray(rng.standard_normal(node.shape), dtype=np.float32)
            for share in _rules_applied(node, upstream):
                assert np.asarray(share).dtype == np.float32, (case, node.op)
        upstream = np.asarray(rng.standard_normal(out.shape), dtype=np.float32)
        out.backward(upstream)
        assert all(x.grad.dtype == np.float32 for x in inputs), case

        torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
        torch_out = theirs(torch, *torch_inputs)
        torch_out.backward(torch.from_numpy(upstream))
        np.testing.assert_allclose(out.data, torch_out.detach().numpy(), rtol=2e-5, atol=1e-6, err_msg=case)
        for x, t in zip(inputs, torch_inputs):
            np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=2e-5, atol=1e-5, err_msg=case)


@pytest.mark.parametrize("name, runs", FLOAT32_CASES, ids=[name for name, _ in FLOAT32_CASES])
def test_rules_declared_fresh_return_arrays_nothing_else_holds(name, runs):
    # backward adds into such arrays in place and leaves keep them without a copy
    rng = np.random.default_rng(5)
    for case, ours, _, arrays in runs:
        out = ours(*[Tensor(a, requires_grad=True) for a in arrays])
        for node in autodiff.graph.topological_order(out):
            if not node._fresh:
                continue
            upstream = rng.standard_normal(node.shape)
            for share in _rules_applied(node, upstream):
                for held in (upstream, node.data, *[child.data for child in node.children]):
                    assert not np.shares_memory(np.asarray(share), held), (case, node.op)


def _rules_applied(node, upstream):
    """What each rule of ``node``'s primitive gives for ``upstream``, for the inputs that require gradients."""
    inputs_data = [child.data for child in node.children]
    needs = [child.requires_grad for child in node.children]
    shares = node._definition.shares(numpy_ops, upstream, node.data, inputs_data, node._params, needs)
    return [share for share in shares if share is not None]
