"""Factories (tensor, zeros, arange, randn, ...) against PyTorch's, and one seed for every random draw."""

import random
import re

import numpy as np
import pytest

import autodiff
import nn
from autodiff import Tensor, get_default_dtype, set_default_dtype


@pytest.fixture
def float64_default():
    previous = get_default_dtype()
    set_default_dtype(np.float64)
    yield
    set_default_dtype(previous)


def torch_dtype_name(t):
    return str(t.dtype).removeprefix("torch.")


def assert_like_torch(ours, theirs):
    assert isinstance(ours, Tensor)
    assert str(ours.dtype) == torch_dtype_name(theirs)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.data, theirs.numpy())


# -- deterministic factories, call by call as PyTorch is called ----------------------


CALLS = [
    "tensor(3.5)", "tensor([1.0, 2.0])", "tensor([[1, 2], [3, 4]])", "tensor([True, False])", "tensor([1, 2.5])",
    "tensor([1, 2], dtype=DTYPE_F64)", "tensor([[0.5]], dtype=DTYPE_F64)", "tensor(7)",
    "zeros(2, 3)", "zeros((2, 3))", "zeros([4])", "zeros(())", "zeros(0)", "zeros(size=(1, 2))",
    "zeros(3, dtype=DTYPE_I64)", "ones(2, 1, 3)", "ones((5,), dtype=DTYPE_F64)", "ones([])",
    "full((2, 3), 1.5)", "full((2,), 7)", "full((2,), True)", "full([3], 2, dtype=DTYPE_F64)", "full((), -1.25)",
    "arange(5)", "arange(2, 9)", "arange(10, 0, -3)", "arange(0, 1, 0.1)", "arange(5.0)", "arange(-1, 1.5, 0.25)",
    "arange(0.1, 0.95, 0.2, dtype=DTYPE_F64)", "arange(1, 2, 0.3)", "arange(3, dtype=DTYPE_F64)", "arange(0)",
    "arange(1.0, -2.0, -0.7)", "arange(0, 3.0000001, 1)",
]


@pytest.mark.parametrize("call", CALLS)
def test_a_factory_gives_what_torch_gives(torch, call):
    ours = eval(call.replace("DTYPE_F64", "np.float64").replace("DTYPE_I64", "np.int64"), {"np": np},
                vars(autodiff))
    theirs = eval(call.replace("DTYPE_F64", "torch.float64").replace("DTYPE_I64", "torch.int64"), {},
                  vars(torch))
    assert_like_torch(ours, theirs)
    assert not ours.requires_grad


# every factory with device=, called as PyTorch's is; the random ones compared by shape and dtype
DEVICE_CALLS = [
    "tensor([1.0, 2.0], device=DEVICE)", "zeros(2, 3, device=DEVICE)", "ones((2,), device=DEVICE)",
    "full((2, 2), 7, device=DEVICE)", "arange(5, device=DEVICE)", "linspace(0, 1, 5, device=DEVICE)",
    "zeros_like(ones(2, 3), device=DEVICE)", "ones_like(zeros(2), device=DEVICE)",
    "tensor([[1, 2]], dtype=DTYPE_I64, device=DEVICE)", "zeros((1, 1), dtype=DTYPE_I64, device=DEVICE)",
]
RANDOM_DEVICE_CALLS = [
    "randn(2, 3, device=DEVICE)", "rand(4, device=DEVICE)", "randint(0, 5, (3,), device=DEVICE)",
    "randint(5, (2, 2), device=DEVICE)", "randperm(6, device=DEVICE)",
]


def _call(namespace, call, device):
    return eval(call.replace("DTYPE_I64", "int64"), {"DEVICE": device}, vars(namespace))  # int64: both name it


@pytest.mark.parametrize("call", DEVICE_CALLS + RANDOM_DEVICE_CALLS)
@pytest.mark.parametrize("device", ["'cpu'", "'cpu:0'", "device('cpu')", "device('cpu', 0)", "None"])
def test_every_factory_takes_the_cpu_as_device_as_torch_does(torch, call, device):
    ours = _call(autodiff, call, eval(device, {}, vars(autodiff)))
    theirs = _call(torch, call, eval(device, {}, vars(torch)))
    if call in DEVICE_CALLS:
        assert_like_torch(ours, theirs)
    else:
        assert ours.shape == tuple(theirs.shape) and str(ours.dtype) == torch_dtype_name(theirs)
    assert ours.device == theirs.device.type == "cpu"


@pytest.mark.parametrize("call", DEVICE_CALLS + RANDOM_DEVICE_CALLS)
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps", "meta"])
def test_every_factory_refuses_another_device_naming_it(call, device):
    with pytest.raises(ValueError, match=f"CPU only.*no device '{device}'"):
        _call(autodiff, call, device)


def test_device_lines_port_unchanged(torch):
    for lib in (autodiff, torch):
        device = "cuda" if lib.cuda.is_available() else "cpu"
        accelerated = lib.accelerator.current_accelerator() if lib.accelerator.is_available() else "cpu"
        assert device == accelerated == "cpu"
        assert lib.accelerator.current_accelerator() is None and lib.cuda.device_count() == 0
        lib.set_default_device("cpu")
        lib.set_default_device(None)
        x = lib.zeros(2, device=device).to(device).cpu()
        assert str(x.device) == "cpu" and x.device == lib.device("cpu")
    assert str(autodiff.device("cpu:0")) == str(torch.device("cpu:0")) == "cpu:0"
    assert repr(autodiff.device("cpu", 0)) == repr(torch.device("cpu", 0))
    assert autodiff.device("cpu").index is torch.device("cpu").index is None
    with pytest.raises(ValueError, match="no device 'cuda'"):
        autodiff.set_default_device("cuda")
    for bad in ("cpu:x", "cpux", "cpu:0:1"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            autodiff.device(bad)


def test_floats_follow_the_default_dtype(torch, float64_default):
    torch.set_default_dtype(torch.float64)
    try:
        for call in ["tensor([1.5])", "zeros(2)", "ones(1)", "full((2,), 0.5)", "arange(0, 1, 0.25)"]:
            assert_like_torch(eval(call, {}, vars(autodiff)), eval(call, {}, vars(torch)))
    finally:
        torch.set_default_dtype(torch.float32)


def test_like_factories_take_shape_and_dtype_from_their_input(torch):
    for array in [np.ones((2, 3), dtype=np.float64), np.arange(4, dtype=np.int64), np.zeros((), dtype=np.float32)]:
        for name in ["zeros_like", "ones_like"]:
            ours = getattr(autodiff, name)(Tensor(array))
            assert_like_torch(ours, getattr(torch, name)(torch.from_numpy(array)))
            assert_like_torch(getattr(autodiff, name)(array), getattr(torch, name)(torch.from_numpy(array)))
    assert autodiff.zeros_like(Tensor([1, 2]), dtype=np.float64).dtype == np.float64


def test_tensor_copies_its_data_and_can_require_gradients():
    source = np.array([1.0, 2.0])
    t = autodiff.tensor(source, requires_grad=True)
    source[0] = 99.0
    assert t.data[0] == 1.0 and t.requires_grad and t.dtype == np.float64
    (t * t).sum().backward()
    np.testing.assert_array_equal(t.grad, [2.0, 4.0])
    for make in [lambda: autodiff.zeros(2, requires_grad=True), lambda: autodiff.ones((2,), requires_grad=True),
                 lambda: autodiff.randn(3, requires_grad=True), lambda: autodiff.arange(0.0, 1.0, 0.5,
                                                                                         requires_grad=True)]:
        made = make()
        assert made.requires_grad and made.children == ()


@pytest.mark.parametrize("make, error, message", [
    (lambda: autodiff.zeros(-1), ValueError, r"zeros: sizes must be at least 0, got \(-1,\)"),
    (lambda: autodiff.ones(2.0), TypeError, r"ones: a size must be a tuple of ints, got float 2.0"),
    (lambda: autodiff.zeros((2, "3")), TypeError, r"got str '3' in \(2, '3'\)"),
    (lambda: autodiff.zeros(True), TypeError, "a size must be a tuple of ints"),
    (lambda: autodiff.arange(0, 10, 0), ValueError, "step must not be zero"),
    (lambda: autodiff.arange(0, 10, -1), ValueError, "points away from end"),
    (lambda: autodiff.arange(0, float("inf")), ValueError, "end must be finite"),
    (lambda: autodiff.arange(0, 1, 0.5, dtype=np.int64), TypeError, "needs integer start, end and step"),
    (lambda: autodiff.arange("5"), TypeError, "end must be a number"),
    (lambda: autodiff.arange(1, "5"), TypeError, "end must be a number, got str"),
    (lambda: autodiff.zeros(2, size=(2,)), TypeError, r"zeros got a size both by position \(2,\) and as size="),
    (lambda: autodiff.zeros(2, dtype=np.int64, requires_grad=True), TypeError, "tensors can require gradients"),
    (lambda: autodiff.zeros_like([1, 2]), TypeError, "zeros_like takes a Tensor or a numpy array, got list"),
    (lambda: autodiff.randn(2, dtype=np.float16), TypeError, "randn draws float32 or float64"),
    (lambda: autodiff.randn(2, generator=np.random.RandomState(0)), TypeError,
     "generator must be a numpy.random.Generator"),
    (lambda: autodiff.randint(5, 5, (2,)), ValueError, "low < high, got low=5, high=5"),
    (lambda: autodiff.randint(5), TypeError, "randint needs high and size"),
    (lambda: autodiff.randint(0.5, (2,)), TypeError, "high must be an integer, got float"),
    (lambda: autodiff.randint(0, 3, (2,), 4), TypeError, "at most 3 positional"),
    (lambda: autodiff.randint(3, (2,), high=4), TypeError, "got high twice"),
    (lambda: autodiff.manual_seed(1.5), TypeError, "manual_seed takes an integer"),
    (lambda: autodiff.manual_seed(2**64), ValueError, "a seed must lie in"),
])
def test_bad_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


# -- random factories and the one seed ---------------------------------------------


@pytest.mark.parametrize("dtype", [None, np.float32, np.float64])
def test_random_factories_draw_numpy_s_numbers_from_the_generator_given(dtype):
    dtype_or_default = np.dtype(dtype or get_default_dtype())
    n = autodiff.randn(2, 3, generator=np.random.default_rng(5), dtype=dtype)
    assert n.shape == (2, 3) and n.dtype == dtype_or_default
    np.testing.assert_array_equal(n.data, np.random.default_rng(5).standard_normal((2, 3), dtype=dtype_or_default))
    u = autodiff.rand((4,), generator=np.random.default_rng(6), dtype=dtype)
    np.testing.assert_array_equal(u.data, np.random.default_rng(6).random(4, dtype=dtype_or_default))
    assert u.dtype == dtype_or_default and np.all((u.data >= 0) & (u.data < 1))


def test_randint_takes_torch_s_ways_of_calling_it(torch):
    g = np.random.default_rng
    calls = {
        "randint(10, (3, 2))": (0, 10, (3, 2)),
        "randint(5, 9, (4,))": (5, 9, (4,)),
        "randint(5, 9, size=(4,))": (5, 9, (4,)),
        "randint(low=-3, high=3, size=[2, 2])": (-3, 3, (2, 2)),
        "randint(high=4, size=(1,))": (0, 4, (1,)),
    }
    for call, (low, high, size) in calls.items():
        ours = eval(call[:-1] + ", generator=g(1))", {"g": g}, vars(autodiff))
        theirs = eval(call, {}, vars(torch))
        assert ours.dtype == np.int64 and ours.shape == tuple(theirs.shape) and str(theirs.dtype) == "torch.int64"
        np.testing.assert_array_equal(ours.data, g(1).integers(low, high, size))
    floats = autodiff.randint(0, 4, (100,), dtype=np.float32, generator=g(2))
    assert floats.dtype == np.float32 and set(floats.data.tolist()) == {0.0, 1.0, 2.0, 3.0}


def everything_random():
    """One draw from each user of the seeded generator (and Python's random, for Value neurons)."""
    dropped = nn.functional.dropout(Tensor(np.ones(50)), 0.5, True).data
    return [
        autodiff.randn(3).data, autodiff.rand(2, 2).data, autodiff.randint(0, 100, (4,)).data,
        nn.init.normal_(Tensor(np.zeros(3)), 0.0, 1.0).data.copy(), dropped,
        nn.Linear(2, 2).weight.data.copy(), [p.data for p in nn.Neuron(3).parameters()],
    ]


def test_manual_seed_seeds_factories_initialisation_dropout_and_neurons():
    assert nn.manual_seed is autodiff.manual_seed
    autodiff.manual_seed(42)
    first = everything_random()
    nn.manual_seed(42)
    second = everything_random()
    autodiff.manual_seed(43)
    third = everything_random()
    for a, b, c in zip(first, second, third):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_manual_seed_gives_numpy_s_stream_for_the_seed_and_keeps_one_generator():
    generator = autodiff.random.default_generator
    assert autodiff.manual_seed(7) is generator
    np.testing.assert_array_equal(generator.standard_normal(5), np.random.default_rng(7).standard_normal(5))
    assert nn.rng.generator() is generator
    autodiff.manual_seed(-1)  # as in PyTorch, negative seeds count from 2**64
    np.testing.assert_array_equal(generator.random(3), np.random.default_rng(2**64 - 1).random(3))
    autodiff.manual_seed(np.int64(3))
    assert random.random() == random.Random(3).random()


def test_a_generator_seeded_the_pytorch_way_draws_numpy_s_stream():
    g = autodiff.Generator().manual_seed(2147483647)
    assert isinstance(g, np.random.Generator)
    expected = np.random.default_rng(2147483647)
    np.testing.assert_array_equal(autodiff.randn((27, 10), generator=g).data,
                                  expected.standard_normal((27, 10), dtype=get_default_dtype()))
    np.testing.assert_array_equal(autodiff.randint(0, 100, (32,), generator=g).data, expected.integers(0, 100, 32))
    assert g.manual_seed(1) is g
    with pytest.raises(TypeError, match="manual_seed takes an integer"):
        g.manual_seed("1")
