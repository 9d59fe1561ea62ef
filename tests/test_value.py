"""The scalar engine: every operation against finite differences and PyTorch, and the graph's bookkeeping.

The operations are the Value rows of the shared table (``op_table.OPS``).
"""

import gc
import math
import weakref

import numpy as np
import pytest

import autodiff
from hypothesis import given
from hypothesis import strategies as st

from autodiff import GradcheckError, Value, detect_anomaly, gradcheck, no_grad
from op_table import VALUE, function, rows

VALUE_ROWS = rows(VALUE)


def points(op):
    """A float for each operand of ``op``, drawn from its domain."""
    return st.tuples(*[
        st.integers(0, 2**32 - 1).map(lambda seed, domain=op.domain(k): float(domain.draw(np.random.default_rng(seed), ())))
        for k in range(op.takes.arity)
    ])


@pytest.mark.parametrize("op", VALUE_ROWS, ids=str)
def test_operations_match_finite_differences(op):
    fn = function(op, "ours", op.takes.arity)

    @given(points(op))
    def check(numbers):
        assert gradcheck(fn, [Value(x) for x in numbers])

    check()


@pytest.mark.parametrize("op", VALUE_ROWS, ids=str)
def test_operations_match_torch(torch, op):
    ours, theirs = function(op, "ours", op.takes.arity), function(op, "theirs", op.takes.arity, torch=torch)

    @given(points(op))
    def check(numbers):
        values = [Value(x) for x in numbers]
        out = ours(*values)
        assert isinstance(out, Value) and (op.node is None or out.op == op.node), out.op
        out.backward()
        twins = [_torch_scalar(torch, x) for x in numbers]
        twin_out = theirs(*twins)
        twin_out.backward()
        assert out.data == pytest.approx(twin_out.item(), rel=1e-12, abs=1e-12)
        for k, (v, t) in enumerate(zip(values, twins)):
            assert v.grad == pytest.approx(t.grad.item(), rel=1e-9, abs=1e-12), f"operand {k}"

    check()


def _torch_scalar(torch, x):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize(
    "base, exponent",
    [(-8.0, 1 / 3), (-2.0, 0.5), (-2.0, 3.0), (0.0, 2.0), (0.0, 0.0), (0.0, -1.0), (2.0, 0.0), (-0.5, 2.0)],
)
def test_power_edge_cases_match_torch(torch, base, exponent):
    """Negative bases with fractional exponents are NaN; zero bases follow PyTorch's gradient rules."""
    a, b = Value(base), Value(exponent)
    out = a**b
    out.backward()
    ta, tb = _torch_scalar(torch, base), _torch_scalar(torch, exponent)
    tout = ta**tb
    tout.backward()
    for ours, theirs in ((out.data, tout.item()), (a.grad, ta.grad.item()), (b.grad, tb.grad.item())):
        assert ours == pytest.approx(theirs, nan_ok=True)


@pytest.mark.parametrize("x", [-2.0, 0.0, 3.0])
def test_log_outside_its_domain_matches_torch(torch, x):
    """PyTorch gives nan for log of a negative number and -inf at 0, with gradient 1/x; so do we."""
    v = Value(x)
    out = v.log()
    out.backward()
    t = _torch_scalar(torch, x)
    tout = torch.log(t)
    tout.backward()
    assert out.data == pytest.approx(tout.item(), nan_ok=True)
    assert v.grad == pytest.approx(t.grad.item(), nan_ok=True)


@pytest.mark.parametrize("numerator, denominator", [(1.0, 0.0), (-1.0, 0.0), (0.0, 0.0)])
def test_division_by_zero_matches_torch(torch, numerator, denominator):
    a, b = Value(numerator), Value(denominator)
    out = a / b
    out.backward()
    ta, tb = _torch_scalar(torch, numerator), _torch_scalar(torch, denominator)
    tout = ta / tb
    tout.backward()
    for ours, theirs in ((out.data, tout.item()), (a.grad, ta.grad.item()), (b.grad, tb.grad.item())):
        assert ours == pytest.approx(theirs, nan_ok=True)


@pytest.mark.parametrize("name, x", [
    *[(name, x) for name in ("abs", "sin", "cos") for x in (0.0, -0.0, math.inf, -math.inf, -2.0)],
    ("sin", math.nan), ("cos", math.nan),
])
def test_abs_sin_and_cos_at_their_corners_match_torch(torch, name, x):
    """|x| has slope 0 at 0, as PyTorch's sign; sin and cos of ±inf are nan, slope nan."""
    v = Value(x)
    out = getattr(v, name)()
    out.backward()
    t = _torch_scalar(torch, x)
    tout = getattr(torch, name)(t)
    tout.backward()
    assert out.data == pytest.approx(tout.item(), nan_ok=True)
    assert v.grad == pytest.approx(t.grad.item(), nan_ok=True)


def test_exp_overflows_to_infinity_as_torch_does(torch):
    out = Value(1000.0).exp()
    assert out.data == math.inf == torch.exp(torch.tensor(1000.0, dtype=torch.float64)).item()


@pytest.mark.parametrize("x", [1000.0, -1000.0])
def test_tanh_and_sigmoid_do_not_overflow(x):
    a = Value(x)
    t = a.tanh()
    s = a.sigmoid()
    (t + s).backward()
    assert t.data == math.copysign(1.0, x)
    assert s.data == (1.0 if x > 0 else 0.0)
    assert a.grad == 0.0


def test_non_numbers_are_refused_by_name():
    for bad in ("3", None, [1.0], 1 + 2j):
        with pytest.raises(TypeError, match=type(bad).__name__):
            Value(bad)
    with pytest.raises(TypeError, match="str"):
        Value(1.0) + "2"


def test_children_are_ordered_and_a_square_keeps_both_edges():
    x = Value(3.0, label="x")
    y = Value(4.0)
    assert (x - y).children == (x, y)
    assert (y - x).children == (y, x)
    square = x * x
    assert square.children == (x, x)
    assert square.op == "*"
    square.backward()
    assert x.grad == 6.0


def test_reused_node_and_diamond_gradients_add_up():
    a = Value(2.0)
    b = a * 3.0  # db/da = 3
    c = a + 1.0  # dc/da = 1
    d = b * c  # d = 3a(a + 1): dd/da = 6a + 3 = 15
    d.backward()
    assert a.grad == 15.0
    assert b.grad == c.data and c.grad == b.data


def test_leaf_gradients_add_up_across_calls_and_intermediates_are_recomputed():
    a = Value(2.0)
    b = a * a
    out = b * 3.0
    out.backward()
    out.backward()
    assert a.grad == 2 * (3.0 * 2 * 2.0)
    assert b.grad == 3.0  # this pass's gradient, not the sum of both passes
    a.grad = 0.0
    out.backward()
    assert a.grad == 12.0


def test_backward_of_a_leaf_seeds_it():
    a = Value(5.0)
    a.backward()
    assert a.grad == 1.0


@pytest.mark.slow
def test_million_node_chain_needs_no_recursion():
    x = Value(0.5)
    step = Value(1e-6)
    y = x
    for _ in range(1_000_000):
        y = y + step
    y.backward()
    assert x.grad == 1.0
    assert step.grad == 1_000_000
    assert y.data == pytest.approx(1.5)


def test_graph_is_freed_by_reference_counting():
    gc.disable()
    try:
        x = Value(2.0)
        hidden = (x * 3.0).tanh()
        out = hidden * hidden
        out.backward()
        probe = weakref.ref(hidden)
        del hidden
        assert probe() is not None  # still part of out's graph
        del out
        assert probe() is None  # freed at once: no cycle waits for the collector
    finally:
        gc.enable()


def test_no_grad_records_nothing_and_restores_afterwards():
    a = Value(2.0)
    with no_grad():
        b = (a * 3.0).tanh()
        assert b.children == () and b.op == ""
        with no_grad():
            pass
        c = a + 1.0
        assert c.children == ()
    d = a * 2.0
    assert d.children[0] is a and d.children[1].data == 2.0

    @no_grad()
    def evaluate(v):
        return v * v

    assert evaluate(a).children == ()
    assert (a * a).children == (a, a)

    with pytest.raises(RuntimeError):
        with no_grad():
            raise RuntimeError("escape")
    assert (a + a).children == (a, a)


def test_sum_is_one_node_with_unit_slopes():
    terms = [Value(float(i)) for i in range(5)]
    total = Value.sum(terms + [2.5])
    assert total.data == 12.5
    assert len(total.children) == 6 and total.children[:5] == tuple(terms)
    total.backward()
    assert [t.grad for t in terms] == [1.0] * 5


def test_repr_is_readable():
    a = Value(2.0, label="a")
    assert repr(a) == "Value(data=2, grad=0, label='a')"
    assert repr(a * 3) == "Value(data=6, grad=0, op='*')"


def test_gradcheck_catches_a_wrong_derivative():
    wrong_square = autodiff.Primitive("square", lambda xp, a: a * a, (lambda xp, g, out, a: a * g,))  # should be 2a

    with pytest.raises(GradcheckError, match=r"input 0 \('w'\).*backward gives 1\.5.*finite differences give (3\.0|2\.999)"):
        gradcheck(wrong_square, [Value(1.5, label="w")])


def test_gradcheck_leaves_gradients_as_they_were():
    a = Value(1.0)
    a.grad = 7.0
    assert gradcheck(lambda x: x.tanh() * x, (a,))
    assert a.grad == 7.0


def test_detect_anomaly_names_the_operation():
    x = Value(0.0)
    out = x**0.5 * 2.0  # d√x/dx is infinite at 0
    with detect_anomaly():
        with pytest.raises(FloatingPointError, match=r"'\*\*0\.5'"):
            out.backward()
    out.backward()  # off again: no check


def test_detect_anomaly_blames_only_the_operation_that_made_the_nan():
    x, y = Value(0.0), Value(2.0)
    x.grad = math.nan  # left over from an earlier backward, not made by this one
    with detect_anomaly():
        (x * y + y).backward()  # every local derivative here is finite
    assert math.isnan(x.grad) and y.grad == 1.0
    z = Value(0.0)
    with detect_anomaly(), pytest.raises(FloatingPointError, match=r"'log'.*input 0"):
        (z.log() + x).backward()  # d log z/dz is infinite at 0
