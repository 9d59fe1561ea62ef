"""Grad mode: whether new operations record the graph backward needs, per thread.

As in PyTorch, each thread has its own mode, and every new thread starts
with recording on: ``no_grad`` in an evaluation thread never cuts the graph
a training thread is building.

``no_grad``, ``enable_grad`` and ``set_grad_enabled`` are context managers
and decorators. Each entry saves the mode it replaces on a stack of the
current thread and each exit restores it, so one object may be entered
recursively, or by several threads at once, and every exit restores what
its own entry replaced. Used as a decorator, each call of the function is
one entry and one exit; on a generator function, as in PyTorch, each
resumption of the generator is one: its body runs in the decorator's mode,
while the code that consumes it between two ``yield``s keeps its own.
``no_grad`` and ``enable_grad`` decorate with or without parentheses
(``@no_grad`` or ``@no_grad()``).

``detect_anomaly`` switches, the same way, a check of every gradient that
backward computes.
"""

import functools
import inspect
import threading


class _ThreadMode(threading.local):
    """The mode of the current thread; a new thread starts from these class defaults."""

    enabled = True
    check_finite = False
    recording = None  # the Recording of autodiff.compile, while one records a call in this thread

    def __init__(self):
        self.saved = []  # what each open context replaced, innermost last


grad_mode = _ThreadMode()


def is_grad_enabled():
    """True unless the current thread is inside ``no_grad`` (or ``set_grad_enabled(False)``).

    >>> import autodiff
    >>> with autodiff.no_grad():
    ...     autodiff.is_grad_enabled()
    False
    """
    return grad_mode.enabled


class _ModeContext:
    """Sets one per-thread setting on entry and restores the one it replaced on exit."""

    setting = "enabled"

    def __init__(self, value):
        self._value = bool(value)

    def __enter__(self):
        grad_mode.saved.append(getattr(grad_mode, self.setting))
        setattr(grad_mode, self.setting, self._value)
        return self

    def __exit__(self, *exc_info):
        setattr(grad_mode, self.setting, grad_mode.saved.pop())
        return False

    def __call__(self, function):
        """Decorate ``function``: each call (each resumption of a generator) runs in a context of its own."""
        if inspect.isgeneratorfunction(function):
            return _each_resumption_in(self._fresh, function)

        @functools.wraps(function)
        def in_context(*args, **kwargs):
            with self._fresh():
                return function(*args, **kwargs)

        return in_context

    def _fresh(self):
        return type(self)()


class _BareDecorator(_ModeContext):
    """A mode without arguments, which also decorates bare: ``@no_grad`` as ``@no_grad()``, as in PyTorch."""

    def __new__(cls, function=None):
        if function is None:
            return super().__new__(cls)
        if not callable(function):
            raise TypeError(f"{cls.__name__}() takes no arguments, or a function to decorate; got {function!r}")
        return cls()(function)


def _each_resumption_in(context, generator_function):
    """``generator_function`` whose body runs inside a new ``context()`` each time it is resumed.

    The generator is driven by hand so that every ``send``, ``throw`` and
    ``close`` is wrapped, and the consumer between two ``yield``s runs
    outside the context, in its own mode.
    """

    @functools.wraps(generator_function)
    def resumed_in_context(*args, **kwargs):
        generator = generator_function(*args, **kwargs)
        try:
            with context():
                response = generator.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with context():
                        generator.close()
                    raise
                except BaseException as error:
                    with context():
                        response = generator.throw(error)
                else:
                    with context():
                        response = generator.send(request)
        except StopIteration as stop:
            return stop.value

    return resumed_in_context


class no_grad(_BareDecorator):
    """Context manager and decorator under which no graph is recorded (in this thread).

    Results computed inside have no children and cannot be differentiated,
    which saves the time and memory of recording them (evaluation, weight
    updates, finite differences). In-place updates of parameters are
    allowed only here:

    >>> from autodiff import Tensor, no_grad
    >>> w = Tensor([1.0, 2.0], requires_grad=True)
    >>> (w * w).sum().backward()
    >>> with no_grad():
    ...     w -= 0.25 * w.grad
    >>> w
    Tensor([0.5, 1. ], requires_grad=True)
    """

    def __init__(self, function=None):
        super().__init__(False)


class enable_grad(_BareDecorator):
    """Context manager and decorator that records the graph again inside ``no_grad`` (in this thread).

    >>> import autodiff
    >>> with autodiff.no_grad():
    ...     with autodiff.enable_grad():
    ...         autodiff.is_grad_enabled()
    True
    """

    def __init__(self, function=None):
        super().__init__(True)


class set_grad_enabled(_ModeContext):
    """Switch recording on or off in this thread: at once when called, as PyTorch does.

    ``set_grad_enabled(False)`` on its own line turns recording off until
    ``set_grad_enabled(True)``; as a context manager it restores the earlier
    mode on exit, and as a decorator it applies to each call only.

    >>> import autodiff
    >>> with autodiff.set_grad_enabled(False):
    ...     autodiff.is_grad_enabled()
    False
    >>> autodiff.is_grad_enabled()
    True
    """

    def __init__(self, mode):
        super().__init__(mode)
        self._replaced = grad_mode.enabled
        grad_mode.enabled = self._value

    def __enter__(self):
        # the mode was switched when this object was made; exit restores what was there before that
        grad_mode.saved.append(self._replaced)
        return self

    def __call__(self, function):
        grad_mode.enabled = self._replaced  # decorating must not switch the mode of the decorating thread
        return super().__call__(function)

    def _fresh(self):
        return set_grad_enabled(self._value)


class detect_anomaly(_ModeContext):
    """Context manager and decorator that checks every gradient backward computes (in this thread).

    The first operation whose backward step produces a NaN or an infinity
    raises ``FloatingPointError`` naming that operation. Off by default: the
    check reads every gradient once more.

    >>> import numpy as np
    >>> from autodiff import Tensor
    >>> x = Tensor([0.0, 4.0], requires_grad=True)
    >>> with detect_anomaly(), np.errstate(divide="ignore"):  # d√x/dx = 1/(2√x) is inf at 0
    ...     x.sqrt().sum().backward()
    Traceback (most recent call last):
    FloatingPointError: backward of 'sqrt' produced a non-finite gradient for its input 0 ...
    """

    setting = "check_finite"

    def __init__(self):
        super().__init__(True)
