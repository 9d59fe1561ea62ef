"""Grad mode per thread and per call: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``detect_anomaly``.

Threads here take turns through ``threading.Event``s (never sleeps), so each test runs one exact
interleaving: a thread's step runs only when the other thread has finished its own and handed over.
Tests of PyTorch's semantics run on PyTorch too (the ``lib`` fixture), so that they state what
PyTorch does, not what we believe it does.
"""

import threading
from types import SimpleNamespace

import numpy as np
import pytest

import autodiff
from autodiff import Tensor

TIMEOUT = 30  # seconds a thread waits for its turn before the test fails (a hang means a failed handover)
STEPS = 50


class Turns:
    """Threads that take turns by name: ``wait(me)`` blocks until someone calls ``give(me)``."""

    def __init__(self, *names, first):
        self._events = {name: threading.Event() for name in names}
        self._events[first].set()
        self._aborted = False
        _all_turns.append(self)

    def wait(self, name):
        if not self._events[name].wait(TIMEOUT):
            raise AssertionError(f"thread {name!r} waited {TIMEOUT} s for its turn")
        if self._aborted:
            raise AssertionError(f"thread {name!r} stopped: another thread failed")
        self._events[name].clear()

    def give(self, name):
        self._events[name].set()

    def abort(self):
        """Wake every waiting thread, to stop: one thread failed and will never hand its turn on."""
        self._aborted = True
        for event in self._events.values():
            event.set()


_all_turns = []  # made by the current test, aborted when one of its threads fails


def run_threads(*functions):
    """Run each function in a new thread, wait for all, and re-raise the first exception one of them raised."""
    errors = []

    def guarded(function):
        try:
            function()
        except BaseException as error:  # noqa: BLE001 -- handed to the main thread
            errors.append(error)
            for turns in _all_turns:
                turns.abort()

    threads = [threading.Thread(target=guarded, args=(f,)) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 4)
        assert not thread.is_alive(), "a thread did not finish"
    if errors:
        raise errors[0]


@pytest.fixture(params=["autodiff", "torch"])
def lib(request):
    """The grad-mode functions of autodiff, or of PyTorch, and a leaf that requires gradients.

    autodiff's names are looked up at each call, so that a missing one fails the test that uses it.
    """
    if request.param == "torch":
        torch = request.getfixturevalue("torch")
        return SimpleNamespace(
            no_grad=torch.no_grad, enable_grad=torch.enable_grad, set_grad_enabled=torch.set_grad_enabled,
            bare_no_grad=torch.no_grad, bare_enable_grad=torch.enable_grad,
            is_grad_enabled=torch.is_grad_enabled,
            leaf=lambda: torch.ones(3, dtype=torch.float64, requires_grad=True),
            grad=lambda t: t.grad.numpy(),
        )
    return SimpleNamespace(
        no_grad=lambda: autodiff.no_grad(),
        enable_grad=lambda: autodiff.enable_grad(),
        set_grad_enabled=lambda mode: autodiff.set_grad_enabled(mode),
        bare_no_grad=lambda function: autodiff.no_grad(function),
        bare_enable_grad=lambda function: autodiff.enable_grad(function),
        is_grad_enabled=lambda: autodiff.is_grad_enabled(),
        leaf=lambda: Tensor(np.ones(3), requires_grad=True),
        grad=lambda t: t.grad,
    )


@pytest.fixture(autouse=True)
def main_thread_left_enabled():
    """Every test must leave recording on in the main thread; if one does not, switch it back for the next tests."""
    yield
    _all_turns.clear()
    if not autodiff.is_grad_enabled():
        autodiff.set_grad_enabled(True)
        pytest.fail("the test left grad mode disabled in the main thread")


def records(w):
    """Whether an operation on ``w`` made now, in this thread, is recorded for backward."""
    return (w * 2.0).requires_grad


# -- threads ----------------------------------------------------------------------------------------


def test_no_grad_in_an_evaluation_thread_never_cuts_the_graph_of_a_training_thread(lib):
    w = lib.leaf()
    turns = Turns("train", "eval", first="eval")
    trained, evaluated = [], []

    def train():
        for _ in range(STEPS):
            turns.wait("train")
            loss = (w * 3.0).sum()
            trained.append((loss.requires_grad, lib.is_grad_enabled()))
            loss.backward()
            turns.give("eval")

    def evaluate():
        turns.wait("eval")
        with lib.no_grad():
            turns.give("train")  # every training step runs while this thread is inside no_grad
            for _ in range(STEPS):
                turns.wait("eval")
                evaluated.append((records(w), lib.is_grad_enabled()))
                turns.give("train")
        evaluated.append(("after", lib.is_grad_enabled()))

    run_threads(train, evaluate)
    assert trained == [(True, True)] * STEPS, f"{trained.count((True, True))} of {STEPS} training steps recorded a graph"
    assert evaluated == [(False, False)] * STEPS + [("after", True)]
    np.testing.assert_array_equal(lib.grad(w), np.full(3, 3.0 * STEPS))
    assert lib.is_grad_enabled()


def test_overlapping_no_grad_blocks_in_two_threads_a_leaving_first(lib):
    """a enters, b enters, a leaves while b is inside, b leaves: each thread's mode is its own throughout."""
    w = lib.leaf()
    turns = Turns("a", "b", first="a")
    seen = {}

    def a():
        turns.wait("a")
        with lib.no_grad():
            seen["a inside"] = (lib.is_grad_enabled(), records(w))
            turns.give("b")
            turns.wait("a")
        seen["a left, b inside"] = (lib.is_grad_enabled(), records(w))
        turns.give("b")

    def b():
        turns.wait("b")
        with lib.no_grad():
            seen["b inside"] = (lib.is_grad_enabled(), records(w))
            turns.give("a")
            turns.wait("b")
            seen["b inside, a left"] = (lib.is_grad_enabled(), records(w))
        seen["b left"] = (lib.is_grad_enabled(), records(w))

    run_threads(a, b)
    assert seen == {
        "a inside": (False, False), "b inside": (False, False), "a left, b inside": (True, True),
        "b inside, a left": (False, False), "b left": (True, True),
    }
    assert lib.is_grad_enabled() and records(w)


def test_overlapping_no_grad_blocks_in_two_threads_b_leaving_first(lib):
    """a enters, b enters and leaves while a is inside, then a leaves."""
    w = lib.leaf()
    turns = Turns("a", "b", first="a")
    seen = {}

    def a():
        turns.wait("a")
        with lib.no_grad():
            seen["a inside"] = (lib.is_grad_enabled(), records(w))
            turns.give("b")
            turns.wait("a")
            seen["a inside, b left"] = (lib.is_grad_enabled(), records(w))
        seen["a left"] = (lib.is_grad_enabled(), records(w))

    def b():
        turns.wait("b")
        with lib.no_grad():
            seen["b inside"] = (lib.is_grad_enabled(), records(w))
        seen["b left, a inside"] = (lib.is_grad_enabled(), records(w))
        turns.give("a")

    run_threads(a, b)
    assert seen == {
        "a inside": (False, False), "b inside": (False, False), "b left, a inside": (True, True),
        "a inside, b left": (False, False), "a left": (True, True),
    }
    assert lib.is_grad_enabled() and records(w)


def test_one_no_grad_object_entered_by_two_threads_at_once(lib):
    """The same context object, entered in one thread and then in another before the first leaves."""
    w = lib.leaf()
    block = lib.no_grad()
    turns = Turns("a", "b", first="a")
    seen = {}

    def a():
        turns.wait("a")
        with block:
            turns.give("b")
            turns.wait("a")
            seen["a inside"] = lib.is_grad_enabled()
        seen["a after"] = (lib.is_grad_enabled(), records(w))
        turns.give("b")

    def b():
        turns.wait("b")
        with block:
            turns.give("a")
            turns.wait("b")
            seen["b inside, a gone"] = lib.is_grad_enabled()
        seen["b after"] = (lib.is_grad_enabled(), records(w))

    run_threads(a, b)
    assert seen == {
        "a inside": False, "a after": (True, True), "b inside, a gone": False, "b after": (True, True),
    }


def test_a_new_thread_starts_with_grad_enabled(lib):
    w = lib.leaf()
    seen = []

    def child():
        seen.append((lib.is_grad_enabled(), records(w)))

    with lib.no_grad():
        run_threads(child)
    with lib.set_grad_enabled(False):
        run_threads(child)

    def parent_without_grad():
        with lib.no_grad():
            run_threads(child)

    run_threads(parent_without_grad)
    assert seen == [(True, True)] * 3


def test_set_grad_enabled_called_in_one_thread_leaves_the_other_alone(lib):
    w = lib.leaf()
    turns = Turns("a", "b", first="a")
    seen = {}

    def a():
        turns.wait("a")
        lib.set_grad_enabled(False)
        turns.give("b")
        turns.wait("a")
        seen["a, switched off"] = (lib.is_grad_enabled(), records(w))
        lib.set_grad_enabled(True)
        seen["a, switched on"] = (lib.is_grad_enabled(), records(w))

    def b():
        turns.wait("b")
        seen["b, while a is off"] = (lib.is_grad_enabled(), records(w))
        turns.give("a")

    run_threads(a, b)
    assert seen == {"a, switched off": (False, False), "a, switched on": (True, True), "b, while a is off": (True, True)}


# -- decorators: each call is one entry and one exit ----------------------------------------------------


def test_no_grad_decorator_on_a_recursive_function(lib):
    w = lib.leaf()
    inside = []

    @lib.no_grad()
    def countdown(n):
        inside.append((lib.is_grad_enabled(), records(w)))
        if n:
            countdown(n - 1)
        inside.append((lib.is_grad_enabled(), records(w)))  # after the inner call returned

    countdown(4)
    assert inside == [(False, False)] * 10
    assert lib.is_grad_enabled() and records(w)


def test_no_grad_decorator_restores_the_mode_when_the_function_raises(lib):
    @lib.no_grad()
    def fails(n):
        if n:
            fails(n - 1)
        raise KeyError("expected")

    with pytest.raises(KeyError):
        fails(2)
    assert lib.is_grad_enabled()


def test_no_grad_decorated_function_called_by_two_threads_at_once(lib):
    """Two calls of one decorated function overlap: a enters, b enters, a returns, b returns."""
    w = lib.leaf()
    turns = Turns("a", "b", first="a")
    seen = {}

    @lib.no_grad()
    def hold(name, other):
        seen[f"{name} inside"] = lib.is_grad_enabled()
        turns.give(other)
        turns.wait(name)

    def a():
        turns.wait("a")
        hold("a", "b")
        seen["a returned"] = (lib.is_grad_enabled(), records(w))
        turns.give("b")

    def b():
        turns.wait("b")
        hold("b", "a")
        seen["b returned"] = (lib.is_grad_enabled(), records(w))

    run_threads(a, b)
    assert seen == {"a inside": False, "b inside": False, "a returned": (True, True), "b returned": (True, True)}


def test_no_grad_without_parentheses_decorates(lib):
    w = lib.leaf()

    @lib.bare_no_grad
    def evaluate(x):
        return lib.is_grad_enabled(), records(x)

    assert evaluate(w) == (False, False)
    assert lib.is_grad_enabled() and records(w)


def test_enable_grad_without_parentheses_decorates(lib):
    w = lib.leaf()

    @lib.bare_enable_grad
    def train(x):
        return lib.is_grad_enabled(), records(x)

    with lib.no_grad():
        assert train(w) == (True, True)
        assert not lib.is_grad_enabled()


# -- decorated generators: the body in the decorator's mode, the consumer in its own (PyTorch semantics) ----


def test_no_grad_decorated_generator_does_not_record_in_its_body(lib):
    w = lib.leaf()

    @lib.no_grad()
    def batches(n):
        for _ in range(n):
            yield lib.is_grad_enabled(), records(w)
        return "done"

    seen = [(inside, lib.is_grad_enabled(), records(w)) for inside in batches(3)]
    assert seen == [((False, False), True, True)] * 3
    returned = []

    def delegate():
        returned.append((yield from batches(1)))

    assert list(delegate()) == [(False, False)] and returned == ["done"]


def test_bare_no_grad_decorated_generator_does_not_record_in_its_body(lib):
    w = lib.leaf()

    @lib.bare_no_grad
    def steps():
        yield records(w)
        yield records(w)

    assert [(inside, records(w)) for inside in steps()] == [(False, True)] * 2


def test_enable_grad_decorated_generator_records_for_a_consumer_inside_no_grad(lib):
    w = lib.leaf()

    @lib.enable_grad()
    def steps():
        yield records(w)
        yield records(w)

    with lib.no_grad():
        seen = [(inside, records(w)) for inside in steps()]
    assert seen == [(True, False)] * 2


@pytest.mark.parametrize("mode", [False, True])
def test_set_grad_enabled_decorated_generator(lib, mode):
    w = lib.leaf()

    @lib.set_grad_enabled(mode)
    def steps():
        yield records(w)
        yield records(w)

    for outer in (lib.enable_grad, lib.no_grad):
        with outer():
            before = records(w)
            assert [(inside, records(w)) for inside in steps()] == [(mode, before)] * 2
    assert lib.is_grad_enabled()


def test_no_grad_decorated_generator_sees_sent_values_thrown_errors_and_close_in_its_mode(lib):
    w = lib.leaf()
    log = []

    @lib.no_grad()
    def echo():
        try:
            while True:
                try:
                    received = yield records(w)
                    log.append(("sent", received, records(w)))
                except KeyError:
                    log.append(("thrown", records(w)))
        finally:
            log.append(("closed", records(w)))

    generator = echo()
    assert next(generator) is False
    assert generator.send(5) is False and records(w)
    assert generator.throw(KeyError("x")) is False and records(w)
    generator.close()
    assert log == [("sent", 5, False), ("thrown", False), ("closed", False)]
    assert lib.is_grad_enabled() and records(w)


# -- enable_grad and set_grad_enabled (PyTorch semantics) -----------------------------------------------


def test_enable_grad_records_inside_no_grad(lib):
    w = lib.leaf()
    with lib.no_grad():
        with lib.enable_grad():
            assert lib.is_grad_enabled() and records(w)
        assert not lib.is_grad_enabled() and not records(w)
    assert lib.is_grad_enabled()


def test_enable_grad_decorator_records_inside_no_grad_and_restores(lib):
    w = lib.leaf()
    inside = []

    @lib.enable_grad()
    def step(n):
        inside.append((lib.is_grad_enabled(), records(w)))
        if n:
            with lib.no_grad():
                step(n - 1)
        inside.append((lib.is_grad_enabled(), records(w)))

    with lib.no_grad():
        step(2)
        assert not lib.is_grad_enabled() and not records(w)
    assert inside == [(True, True)] * 6
    assert lib.is_grad_enabled()


@pytest.mark.parametrize("mode", [False, True])
def test_set_grad_enabled_as_a_context_manager(lib, mode):
    w = lib.leaf()
    for outer in (lib.enable_grad, lib.no_grad):
        with outer():
            before = lib.is_grad_enabled()
            with lib.set_grad_enabled(mode):
                assert lib.is_grad_enabled() is mode
                assert records(w) is mode
            assert lib.is_grad_enabled() is before
    assert lib.is_grad_enabled()


@pytest.mark.parametrize("mode", [False, True])
def test_set_grad_enabled_as_a_decorator(lib, mode):
    w = lib.leaf()
    inside = []

    @lib.set_grad_enabled(mode)
    def step(n):
        inside.append((lib.is_grad_enabled(), records(w)))
        if n:
            with lib.set_grad_enabled(not mode):
                step(n - 1)
        inside.append((lib.is_grad_enabled(), records(w)))

    assert lib.is_grad_enabled(), "decorating a function must not switch the mode"
    step(2)
    assert inside == [(mode, mode)] * 6
    assert lib.is_grad_enabled()
    with lib.no_grad():
        step(0)
        assert not lib.is_grad_enabled()


def test_set_grad_enabled_called_as_a_function_switches_at_once(lib):
    """As in PyTorch: ``set_grad_enabled(False)`` on its own line turns recording off until switched back."""
    w = lib.leaf()

    def body():
        lib.set_grad_enabled(False)
        off = (lib.is_grad_enabled(), records(w))
        lib.set_grad_enabled(True)
        on = (lib.is_grad_enabled(), records(w))
        with lib.no_grad():
            lib.set_grad_enabled(True)
            inside = lib.is_grad_enabled()
        return off, on, inside, lib.is_grad_enabled()

    outcome = []
    run_threads(lambda: outcome.append(body()))  # in a thread of its own, so a failure cannot leave the main one off
    assert outcome == [((False, False), (True, True), True, True)]


# -- detect_anomaly, per thread and per call (autodiff only: PyTorch's anomaly mode is process-wide) ----


def anomaly_reported():
    """Whether a backward that makes a NaN gradient raises here, i.e. whether this thread is in detect_anomaly."""
    x = Tensor(np.ones(2), requires_grad=True)
    y = x * 2.0
    try:
        y.backward(np.full(2, np.nan))
    except FloatingPointError:
        return True
    return False


def test_anomaly_check_is_off_by_default_and_on_inside_detect_anomaly():
    assert not anomaly_reported()
    with autodiff.detect_anomaly():
        assert anomaly_reported()
    assert not anomaly_reported()


def test_detect_anomaly_in_one_thread_does_not_check_another():
    turns = Turns("a", "b", first="a")
    seen = {}

    def a():
        turns.wait("a")
        with autodiff.detect_anomaly():
            turns.give("b")
            turns.wait("a")
            seen["a inside"] = anomaly_reported()
        turns.give("b")

    def b():
        turns.wait("b")
        seen["b while a is inside"] = anomaly_reported()
        turns.give("a")
        turns.wait("b")
        seen["b after"] = anomaly_reported()

    run_threads(a, b)
    assert seen == {"a inside": True, "b while a is inside": False, "b after": False}


def test_detect_anomaly_decorator_on_a_recursive_function():
    inside = []

    @autodiff.detect_anomaly()
    def countdown(n):
        if n:
            countdown(n - 1)
        inside.append(anomaly_reported())

    countdown(3)
    assert inside == [True] * 4
    assert not anomaly_reported()


def test_detect_anomaly_decorated_function_called_by_two_threads_at_once():
    turns = Turns("a", "b", first="a")
    seen = {}

    @autodiff.detect_anomaly()
    def hold(name, other):
        turns.give(other)
        turns.wait(name)
        seen[f"{name} inside"] = anomaly_reported()

    def a():
        turns.wait("a")
        hold("a", "b")
        seen["a returned"] = anomaly_reported()
        turns.give("b")

    def b():
        turns.wait("b")
        hold("b", "a")
        seen["b returned"] = anomaly_reported()

    run_threads(a, b)
    assert seen == {"a inside": True, "a returned": False, "b inside": True, "b returned": False}
