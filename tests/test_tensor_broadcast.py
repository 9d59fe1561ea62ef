"""Broadcasting undone in one place, and the dtype policy: float32 by default, no silent float64."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autodiff
from autodiff import Tensor
from autodiff.tensor import unbroadcast

float_dtypes = st.sampled_from([np.float32, np.float64])
operators = st.sampled_from(["+", "-", "*", "/", "**"])
broadcastable = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3)
seeds = st.integers(0, 2**32 - 1)


@pytest.fixture
def default_dtype():
    """Restores the default dtype after a test that changes it."""
    saved = autodiff.get_default_dtype()
    yield
    autodiff.set_default_dtype(saved)


def apply(symbol, a, b):
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b, "**": lambda: a**b}[symbol]()


def test_gradients_of_broadcast_inputs_have_the_inputs_shapes_and_dtype(torch):
    @settings(max_examples=100)
    @given(broadcastable, float_dtypes, operators, seeds)
    def check(shapes, dtype, symbol, seed):
        rng = np.random.default_rng(seed)
        a = np.abs(rng.standard_normal(shapes.input_shapes[0])).astype(dtype) + 0.5
        b = (rng.standard_normal(shapes.input_shapes[1]) + 3).astype(dtype)
        x, y = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
        out = apply(symbol, x, y)
        assert out.shape == shapes.result_shape and out.dtype == dtype
        upstream = np.asarray(rng.standard_normal(out.shape), dtype=dtype)
        out.backward(upstream)
        tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        apply(symbol, tx, ty).backward(torch.from_numpy(upstream))
        tolerance = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
        for ours, theirs, shape in ((x, tx, a.shape), (y, ty, b.shape)):
            assert ours.grad.shape == shape and ours.grad.dtype == dtype
            np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), **tolerance)

    check()


@given(broadcastable)
def test_unbroadcast_sums_over_exactly_the_stretched_axes(shapes):
    shape, target = shapes.input_shapes[0], shapes.result_shape
    summed = unbroadcast(np.ones(target), shape)
    assert summed.shape == shape
    # every element of the input was repeated (output size / input size) times
    repeats = int(np.prod(target)) // int(np.prod(shape))
    np.testing.assert_array_equal(summed, np.full(shape, float(repeats)))


@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=3))
def test_unbroadcast_refuses_shapes_that_do_not_broadcast(shape):
    wrong = shape[:-1] + (shape[-1] + 1,)
    with pytest.raises(ValueError, match=re.escape(str(shape)) + ".*" + re.escape(str(wrong))):
        unbroadcast(np.ones(shape), wrong)


# -- dtype policy ----------------------------------------------------------------------


def test_python_numbers_and_lists_become_float32_by_default():
    assert autodiff.get_default_dtype() == np.float32
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([[1.0, 2.0]]).dtype == np.float32
    assert Tensor([1.0, 2], requires_grad=True).dtype == np.float32
    assert Tensor([1, 2]).dtype == np.int64
    assert Tensor([True, False]).dtype == np.bool_


def test_numpy_arrays_and_scalars_keep_their_dtype_unless_one_is_asked_for():
    assert Tensor(np.zeros(2)).dtype == np.float64
    assert Tensor(np.zeros(2, dtype=np.float32)).dtype == np.float32
    assert Tensor(np.float64(1.0)).dtype == np.float64
    assert Tensor(np.zeros(2), dtype=np.float32).dtype == np.float32
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_set_default_dtype_changes_what_numbers_become(default_dtype):
    autodiff.set_default_dtype(np.float64)
    assert Tensor([1.0]).dtype == np.float64
    assert (Tensor(np.ones(2, dtype=np.float32)) + 1.0).dtype == np.float32
    assert autodiff.where(np.array([True]), 1.0, 2.0).dtype == np.float64
    autodiff.set_default_dtype("float32")
    assert Tensor([1.0]).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int32, np.float16, bool, complex])
def test_the_default_dtype_is_float32_or_float64(default_dtype, dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        autodiff.set_default_dtype(dtype)
    assert autodiff.get_default_dtype() == np.float32


CONSTANTS = {
    "python float": 0.5,
    "python int": 2,
    "float64 array": np.array([0.5, 1.5, 2.5]),
    "int64 array": np.array([1, 2, 3]),
    "bool array": np.array([True, False, True]),
    "float64 scalar": np.float64(0.5),
    "int tensor": Tensor(np.array([1, 2, 3])),
    "bool tensor": Tensor(np.array([True, False, True])),
}


@pytest.mark.parametrize("name", CONSTANTS)
@pytest.mark.parametrize("symbol", ["+", "-", "*", "/", "**"])
def test_constants_meeting_a_float32_tensor_take_its_dtype(name, symbol):
    constant = CONSTANTS[name]
    x = Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True)
    with np.errstate(divide="ignore"):  # dividing by a False
        for out in (apply(symbol, x, constant), apply(symbol, constant, x)):
            assert out.dtype == np.float32, (symbol, name)
            out.sum().backward()
            assert x.grad.dtype == np.float32


def test_constants_meeting_float32_in_matmul_where_and_joins_take_its_dtype():
    x = Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    w = np.ones((2, 2))
    outputs = [
        x @ w, w @ x, autodiff.where(w > 0, x, 0.5), autodiff.where(w > 0, w, x),
        autodiff.concatenate([x, w]), autodiff.stack([w, x]), x[np.array([0, 0])],
    ]
    for out in outputs:
        assert out.dtype == np.float32, out.op


def test_float32_meeting_float64_tensors_promotes_like_torch(torch):
    x = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    y = Tensor(np.ones(2, dtype=np.float64), requires_grad=True)
    out = x * y
    expected = torch.ones(2, dtype=torch.float32) * torch.ones(2, dtype=torch.float64)
    assert out.dtype == np.float64 and expected.dtype == torch.float64
    out.sum().backward()
    assert x.grad.dtype == np.float32 and y.grad.dtype == np.float64


def test_integer_results_never_require_gradients():
    labels = Tensor(np.array([0, 1, 1]))
    x = Tensor(np.ones(3), requires_grad=True)
    assert not (labels + 1).requires_grad
    assert not x.argmax().requires_grad
    assert not (x > 0).requires_grad
