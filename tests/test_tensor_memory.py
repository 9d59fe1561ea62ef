"""Memory: graphs freed by reference counting alone, flat peaks over many steps, leaf gradient buffers reused safely."""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

from autodiff import Tensor

# a gradient array larger than 128 KiB, the size from which glibc maps memory straight from the system
LARGE = 128 * 1024 // 8 + 1


@pytest.fixture
def collector_off():
    """Python's cyclic garbage collector off for the test: only reference counting frees memory."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


class TinyMLP:
    """Two layers and a softmax cross-entropy, written with Tensor operations only."""

    def __init__(self, sizes=(20, 32, 5), batch=16, seed=0):
        rng = np.random.default_rng(seed)
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            self.params.append(Tensor(rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in), requires_grad=True))
            self.params.append(Tensor(np.zeros(fan_out), requires_grad=True))
        self.x = Tensor(rng.standard_normal((batch, sizes[0])))
        self.labels = rng.integers(0, sizes[-1], batch)

    def loss(self):
        w1, b1, w2, b2 = self.params
        hidden = (self.x @ w1 + b1).relu()
        log_probs = (hidden @ w2 + b2).log_softmax(axis=1)
        return -log_probs[np.arange(len(self.labels)), self.labels].mean()

    def step(self, learning_rate=0.1):
        for p in self.params:
            p.grad = None
        loss = self.loss()
        loss.backward()
        for p in self.params:
            p.data -= learning_rate * p.grad
        return loss.item()


def test_an_intermediate_dies_with_its_output_without_the_collector(collector_off):
    x = Tensor(np.ones((3, 4)), requires_grad=True)
    w = Tensor(np.ones((4, 2)), requires_grad=True)
    hidden = (x @ w).tanh()
    loss = (hidden * hidden).sum()
    probe = weakref.ref(hidden)
    loss.backward()
    del hidden
    assert probe() is not None  # the graph still holds it through loss
    del loss
    assert probe() is None
    assert x.grad is not None and w.grad is not None


def test_training_steps_leave_no_reference_cycles(collector_off):
    model = TinyMLP()
    model.step()
    probes = []
    for _ in range(5):
        loss = model.loss()
        probes.append(weakref.ref(loss))
        loss.backward()
        del loss
    assert all(probe() is None for probe in probes)
    assert gc.collect() == 0


@pytest.mark.parametrize("collector", ["on", "off"])
def test_peak_memory_does_not_grow_over_many_steps(collector):
    model = TinyMLP(sizes=(64, 128, 10), batch=64)
    was_enabled = gc.isenabled()
    if collector == "off":
        gc.disable()
    tracemalloc.start()
    try:
        peaks = []
        for _ in range(6):
            tracemalloc.reset_peak()
            for _ in range(50):
                model.step()
            peaks.append(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
        if was_enabled:
            gc.enable()
    # after the first steps (which create the leaf gradient buffers), the peak stays put
    assert max(peaks[2:]) <= peaks[1] * 1.02 + 4096, peaks


@pytest.mark.parametrize("size", [2, LARGE])
def test_a_gradient_the_user_kept_is_never_overwritten(size):
    x = Tensor(np.ones(size), requires_grad=True)
    (x * x).sum().backward()
    kept = x.grad
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(kept, np.full(size, 2.0))
    np.testing.assert_array_equal(x.grad, np.full(size, 3.0))
    assert x.grad is not kept


@pytest.mark.parametrize("size", [2, LARGE])
def test_a_view_of_the_gradient_the_user_kept_is_never_overwritten(size):
    x = Tensor(np.ones(size), requires_grad=True)
    (x * x).sum().backward()
    view = x.grad[:1]
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(view, [2.0])


def test_gradients_add_up_without_writing_into_an_array_handed_out():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    kept = x.grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(kept, [4.0, 8.0])
    np.testing.assert_array_equal(x.grad, [6.0, 12.0])


def test_leaves_never_share_a_gradient_array_with_each_other_or_with_the_graph():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    total = a + b
    total.backward(np.array([1.0, 1.0]))
    assert a.grad is not b.grad and a.grad is not total.grad
    a.grad *= 10  # users may scale a gradient in place (clipping)
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    np.testing.assert_array_equal(total.grad, [1.0, 1.0])


def test_a_leaf_never_holds_a_view_of_another_nodes_gradient():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    flat = x.reshape(6)
    doubled = flat * 2
    doubled.backward(np.ones(6))
    x.grad[0, 0] = 100.0
    np.testing.assert_array_equal(flat.grad, np.full(6, 2.0))


def test_the_seed_given_to_backward_is_not_taken_over():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seed = np.array([5.0, 6.0])
    x.backward(seed)
    seed[:] = 0
    np.testing.assert_array_equal(x.grad, [5.0, 6.0])
    (x * 1.0).backward(seed)
    np.testing.assert_array_equal(x.grad, [5.0, 6.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_of_a_one_element_leaf_gives_it_a_gradient_of_its_own(dtype):
    # backward() seeds every one-element tensor from one shared array of ones
    x = Tensor(np.array([2.0], dtype=dtype), requires_grad=True)
    x.backward()
    x.grad += 1
    y = Tensor(np.array(3.0, dtype=dtype), requires_grad=True)
    y.backward()
    assert x.grad.dtype == y.grad.dtype == dtype
    np.testing.assert_array_equal(x.grad, [2.0])
    np.testing.assert_array_equal(y.grad, 1.0)


def test_a_leaf_whose_data_changes_shape_gets_a_fresh_gradient():
    x = Tensor(np.ones(2), requires_grad=True)
    x.sum().backward()
    x.grad = None
    x.data = np.ones(3)
    x.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])
