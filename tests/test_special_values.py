"""NaN, infinities, zeros, ties and empty tensors, as PyTorch has them (issue 20, items 3, 4 and 7).

Where a derivative is undefined, infinite or meets a NaN, both libraries still give one number,
and a silent difference there is still a silent wrong answer: each case here runs on PyTorch too,
and NaN positions must agree exactly. The random programs of ``test_fuzz`` draw such values as well.
"""

import itertools
import math

import numpy as np
import pytest

import autodiff
import nn
from autodiff import Tensor, Value
from op_table import ONE, TENSOR, TWO, VALUE, function, rows

NAN, INF = math.nan, math.inf
POINTS = [NAN, INF, -INF, 0.0, 1.0, -1.0, 0.5, -2.0, 3.0]
PAIRS = list(itertools.product([NAN, INF, -INF, 0.0, 1.0, -2.0, 0.5], repeat=2))
UPSTREAM = [1.0, INF, NAN]


def assert_same(ours, theirs, what):
    """Equal to 1e-9, with NaN exactly where PyTorch has NaN and the same infinities."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, PyTorch {theirs.shape}"
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=f"{what}: NaN positions\n{ours}\n{theirs}")
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=0, equal_nan=True, err_msg=what)


def elementwise_rows(engine):
    """The rows of ``engine`` that act on single numbers: one or two operands of any shape, no vet."""
    return [op for op in rows(engine) if (op.takes is ONE and op.vet is None) or op.takes is TWO]


@pytest.mark.parametrize("engine", [TENSOR, VALUE])
def test_every_elementwise_row_at_nan_infinities_and_zero_matches_pytorch(torch, engine):
    """Each row at NaN, ±inf, 0 and ordinary numbers, under upstream gradients 1, inf and NaN."""
    for op in elementwise_rows(engine):
        arity = op.takes.arity
        ours_fn, theirs_fn = function(op, "ours", arity), function(op, "theirs", arity, torch=torch)
        for numbers in (PAIRS if arity == 2 else [(x,) for x in POINTS]):
            for g in UPSTREAM:
                what = f"{engine} {op}{numbers} under g = {g}"
                with np.errstate(all="ignore"):
                    leaves = [Value(x) if engine == VALUE else Tensor(np.array(x), requires_grad=True) for x in numbers]
                    out = ours_fn(*leaves)
                    out.backward(g if engine == VALUE else np.full(out.shape, g))
                twins = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in numbers]
                twin_out = theirs_fn(*twins)
                twin_out.backward(torch.full(twin_out.shape, g, dtype=torch.float64))
                assert_same(out.data, twin_out.detach().numpy(), f"{what}: value")
                for k, (leaf, twin) in enumerate(zip(leaves, twins)):
                    assert_same(leaf.grad, twin.grad.numpy(), f"{what}: gradient of operand {k}")


def run_both(torch, ours, theirs, values, upstream=None):
    """ours(Tensor) and theirs(torch tensor) of ``values``, backward under ``upstream`` (ones): both values and grads."""
    x = Tensor(np.array(values, dtype=np.float64), requires_grad=True)
    twin = torch.tensor(np.array(values, dtype=np.float64), requires_grad=True)
    with np.errstate(all="ignore"):
        out = ours(x)
        out.backward(np.ones(out.shape) if upstream is None else np.array(upstream, dtype=np.float64))
    twin_out = theirs(twin)
    twin_out.backward(torch.ones(twin_out.shape, dtype=torch.float64) if upstream is None
                      else torch.tensor(upstream, dtype=torch.float64))
    assert_same(out.data, twin_out.detach().numpy(), "value")
    assert_same(x.grad, twin.grad.numpy(), "gradient")


# -- max(dim) and min(dim): the gradient goes to the index they return (item 3) -------------------------

TIES = [
    [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]],
    [[3.0, 1.0, 3.0], [0.0, -1.0, 0.0]],
    [[1.0, NAN, 3.0], [NAN, 2.0, NAN]],
    [[-INF, -INF, -INF], [INF, 1.0, INF]],
]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("values", TIES, ids=["ties", "ties at the ends", "nan", "infinities"])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_along_a_dim_send_the_gradient_to_the_index_they_return(torch, name, values, dim, keepdim):
    x = Tensor(np.array(values), requires_grad=True)
    twin = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    found, twin_found = getattr(x, name)(dim, keepdim=keepdim), getattr(twin, name)(dim, keepdim=keepdim)
    np.testing.assert_array_equal(found.indices.data, twin_found.indices.numpy())
    upstream = np.arange(1.0, 1.0 + found.values.size).reshape(found.values.shape)
    found.values.backward(upstream)
    twin_found.values.backward(torch.tensor(upstream))
    assert_same(found.values.data, twin_found.values.detach().numpy(), "values")
    assert_same(x.grad, twin.grad.numpy(), "gradient")


def test_max_of_a_zero_d_tensor_along_its_dim(torch):
    run_both(torch, lambda a: a.max(0).values, lambda a: a.max(0).values, 2.5)
    run_both(torch, lambda a: a.min(-1, keepdim=True).values, lambda a: a.min(-1, keepdim=True).values, NAN)


# -- masked gradients stay 0 whatever reaches them, NaN where PyTorch has NaN (item 4) ----------------------

MASKED = {
    "relu then sqrt at 0": (lambda a: a.relu().sqrt(), lambda a: a.relu().sqrt(), [0.0, -1.0, 4.0], None),
    "relu under inf and nan": (lambda a: a.relu(), lambda a: a.relu(), [-1.0, 0.0, 2.0, NAN], [INF, NAN, INF, INF]),
    "clip then sqrt at the bound": (lambda a: a.clip(0.0, 1.0).sqrt(), lambda a: a.clamp(0.0, 1.0).sqrt(),
                                    [-1.0, 0.0, 0.25, 2.0], None),
    "clip under inf and nan": (lambda a: a.clip(-1.0, 1.0), lambda a: a.clamp(-1.0, 1.0), [-2.0, 0.5, 2.0, NAN],
                               [INF, INF, NAN, INF]),
    "clip low at nan": (lambda a: a.clip(-1.0), lambda a: a.clamp(min=-1.0), [NAN, -2.0, 0.5], None),
    "clip high at nan": (lambda a: a.clip(None, 1.0), lambda a: a.clamp(max=1.0), [NAN, 2.0, 0.5], None),
    "where under inf": (lambda a: autodiff.where(a > 0, a, 0.0), lambda a: torch_where(a > 0, a, 0.0),
                        [-1.0, 2.0, 0.0], [INF, NAN, INF]),
    "abs at nan and 0": (lambda a: a.abs(), lambda a: a.abs(), [NAN, 0.0, -1.0, 2.0], None),
    "abs at nan under inf": (lambda a: a.abs(), lambda a: a.abs(), [NAN, 0.0], [INF, INF]),
    "relu of nan": (lambda a: a.relu(), lambda a: a.relu(), [NAN, -NAN], None),
    "max() with NaN": (lambda a: a.max(), lambda a: a.max(), [1.0, NAN, 3.0, NAN], None),
    "min() with NaN": (lambda a: a.min(), lambda a: a.min(), [[NAN, 1.0], [-2.0, NAN]], None),
    "max() with ties": (lambda a: a.max(), lambda a: a.max(), [[1.0, 3.0], [3.0, 2.0]], None),
    "amax with NaN along a dim": (lambda a: a.max(axis=1), lambda a: a.amax(dim=1), [[1.0, NAN, 3.0], [1.0, 2.0, 2.0]],
                                  None),
    "amax with ties, kept dim": (lambda a: a.max(axis=1, keepdims=True), lambda a: a.amax(dim=1, keepdim=True),
                                 [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], None),
    "amin under inf": (lambda a: a.min(axis=0), lambda a: a.amin(dim=0), [[1.0, 0.0], [1.0, -1.0]], [INF, NAN]),
    "logsumexp with inf": (lambda a: a.logsumexp(), lambda a: a.logsumexp(0), [1.0, INF], None),
    "log_softmax with -inf": (lambda a: a.log_softmax(0), lambda a: a.log_softmax(0), [1.0, -INF], None),
    "pow of -inf by 2.5": (lambda a: a ** 2.5, lambda a: a ** 2.5, [-INF, INF, -1.0], None),
    "pow of -inf by 0.5 and -0.5": (lambda a: a ** 0.5 + a ** -0.5, lambda a: a ** 0.5 + a ** -0.5, [-INF, 4.0], None),
    "0 ** x under inf": (lambda a: 0.0 ** a, lambda a: 0.0 ** a, [0.0, 2.0, -1.0], [INF, NAN, 1.0]),
    "max_pool2d under NaN and inf": (lambda a: nn.functional.max_pool2d(a.reshape(1, 1, 4, 4), 2),
                                     lambda a: torch_functional().max_pool2d(a.reshape(1, 1, 4, 4), 2),
                                     np.arange(16.0) - 5.0, [[[[NAN, 1.0], [INF, -INF]]]]),
    "max_pool2d of NaN and overlapping windows": (lambda a: nn.functional.max_pool2d(a.reshape(1, 1, 4, 4), 2, 1),
                                                  lambda a: torch_functional().max_pool2d(a.reshape(1, 1, 4, 4), 2, 1),
                                                  [NAN, 1.0, 2.0, 0.0] * 4, [[[[1.0, NAN, 2.0]] * 3]]),
    "var with an infinity": (lambda a: a.var(), lambda a: a.var(), [-INF, -0.9375, -1.8125], None),
    "var along a dim with NaN": (lambda a: a.var(0), lambda a: a.var(0), [[NAN, 1.0], [2.0, INF], [0.5, 3.0]], None),
    "std with an infinity": (lambda a: a.std(1, keepdim=True), lambda a: a.std(1, keepdim=True),
                             [[INF, 1.0, 2.0], [1.0, 2.0, 4.0]], None),
}


def torch_functional():
    import torch

    return torch.nn.functional


def torch_where(condition, a, b):
    import torch

    return torch.where(condition, a, b)


@pytest.mark.parametrize("case", list(MASKED))
def test_masked_and_non_finite_gradients_match_pytorch(torch, case):
    ours, theirs, values, upstream = MASKED[case]
    run_both(torch, ours, theirs, values, upstream)


@pytest.mark.parametrize("exponent", [2.5, 1.5, -1.5, -2.5, 0.5, -0.5])
def test_value_powers_of_minus_infinity_match_pytorch(torch, exponent):
    """The issue's ``Value(-inf) ** 2.5``, and its neighbours: PyTorch's numbers, value and gradient."""
    x = Value(-INF)
    out = x ** exponent
    out.backward()
    twin = torch.tensor(-INF, dtype=torch.float64, requires_grad=True)
    twin_out = twin ** exponent
    twin_out.backward()
    assert_same(out.data, twin_out.item(), "value")
    assert_same(x.grad, twin.grad.item(), "gradient")


def test_sign_is_pytorchs_at_nan(torch):
    values = np.array([NAN, -0.0, 0.0, 2.0, -INF])
    np.testing.assert_array_equal(Tensor(values).sign().data, torch.sign(torch.tensor(values)).numpy())


# -- empty tensors: PyTorch's result, or a clear error where PyTorch has none (item 7) ------------------------

EMPTY_REDUCTIONS = {
    "sum": (lambda a: a.sum(), lambda a: a.sum()),
    "sum(0)": (lambda a: a.sum(0), lambda a: a.sum(0)),
    "mean": (lambda a: a.mean(), lambda a: a.mean()),
    "mean(0)": (lambda a: a.mean(0), lambda a: a.mean(0)),
    "mean(-1)": (lambda a: a.mean(-1), lambda a: a.mean(-1)),
    "var": (lambda a: a.var(), lambda a: a.var()),
    "std(0)": (lambda a: a.std(0), lambda a: a.std(0)),
    "logsumexp": (lambda a: a.logsumexp(), lambda a: a.logsumexp(tuple(range(a.ndim)))),
    "logsumexp(0)": (lambda a: a.logsumexp(0), lambda a: a.logsumexp(0)),
    "logsumexp(-1, keepdim)": (lambda a: a.logsumexp(-1, keepdim=True), lambda a: a.logsumexp(-1, keepdim=True)),
    "softmax(0)": (lambda a: a.softmax(0), lambda a: a.softmax(0)),
    "log_softmax(-1)": (lambda a: a.log_softmax(-1), lambda a: a.log_softmax(-1)),
    "max()": (lambda a: a.max(), lambda a: a.max()),
    "min()": (lambda a: a.min(), lambda a: a.min()),
    "amax(0)": (lambda a: a.max(axis=0), lambda a: a.amax(0)),
    "amax(-1)": (lambda a: a.max(axis=-1), lambda a: a.amax(-1)),
    "amin(-1, keepdim)": (lambda a: a.min(axis=-1, keepdims=True), lambda a: a.amin(-1, keepdim=True)),
    "max(0)": (lambda a: a.max(0).values, lambda a: a.max(0).values),
    "min(-1)": (lambda a: a.min(-1).values, lambda a: a.min(-1).values),
    "argmax()": (lambda a: a.argmax(), lambda a: a.argmax()),
    "argmin(0)": (lambda a: a.argmin(0), lambda a: a.argmin(0)),
    "argmax(-1)": (lambda a: a.argmax(-1), lambda a: a.argmax(-1)),
}
# what numpy says where it is handed a reduction over nothing: never to reach a user
NUMPY_MESSAGES = ("zero-size array", "empty sequence", "identity")


@pytest.mark.filterwarnings("ignore:.*degrees of freedom:UserWarning")  # PyTorch's, for var and std of nothing
@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0)], ids=str)
@pytest.mark.parametrize("name", list(EMPTY_REDUCTIONS))
def test_reductions_of_empty_tensors_give_pytorchs_result_or_a_clear_error(torch, name, shape):
    ours, theirs = EMPTY_REDUCTIONS[name]
    twin = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    try:
        twin_out = theirs(twin)
    except (RuntimeError, IndexError):
        with pytest.raises(ValueError) as raised:
            ours(Tensor(np.zeros(shape), requires_grad=True))
        message = str(raised.value)
        function_name = name.split("(")[0].replace("amax", "max").replace("amin", "min")  # our max(axis=) is amax
        assert f"{function_name}()" in message and "empty" in message, message
        assert not any(text in message for text in NUMPY_MESSAGES), message
        return
    x = Tensor(np.zeros(shape), requires_grad=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = ours(x)
    assert_same(out.data, twin_out.detach().numpy(), "value")
    if twin_out.requires_grad:
        with np.errstate(invalid="ignore", divide="ignore"):
            out.backward(np.ones(out.shape))
        twin_out.backward(torch.ones(twin_out.shape, dtype=torch.float64))
        assert_same(x.grad, twin.grad.numpy(), "gradient")
