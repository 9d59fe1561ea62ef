"""A progress bar for long training loops, showing the latest loss and accuracy.

    bar = Progress(range(1000), desc="training")
    for step in bar:
        ...
        bar.show(loss=loss, accuracy=acc)

The bar (tqdm's) appears only where someone can watch it: it is off when
the output is not a terminal (a log file, a test run) or with
``enabled=False``, and without tqdm installed it quietly does nothing
unless asked for with ``enabled=True``. Off, the loop runs as if
unwrapped. tqdm: ``pip install tqdm``.
"""

import sys

from .monitor import as_float

__all__ = ["Progress"]


class Progress:
    """Iterate over ``iterable`` with a progress bar; ``show(loss=..., accuracy=...)`` updates its text.

    ``enabled``: None (the default) shows the bar when tqdm is installed
    and ``file`` (standard error by default) is a terminal; True always
    shows it (and needs tqdm); False never does.

    >>> bar = Progress(range(3), desc="training", enabled=False)
    >>> for step in bar:
    ...     bar.show(loss=1.0 / (step + 1), accuracy=0.5)
    >>> bar.enabled, len(bar)
    (False, 3)
    """

    def __init__(self, iterable, *, total=None, desc=None, enabled=None, file=None):
        file = sys.stderr if file is None else file
        self._bar = None
        self._iterable = iterable
        if enabled is False:
            return
        try:
            from tqdm import tqdm
        except ImportError as error:
            if enabled:
                raise ImportError('progress bars need tqdm: pip install tqdm') from error
            return
        if enabled or _is_terminal(file):
            self._bar = tqdm(iterable, total=total, desc=desc, file=file, dynamic_ncols=True)

    @property
    def enabled(self):
        """Whether a bar is being shown."""
        return self._bar is not None

    def __iter__(self):
        return iter(self._bar if self._bar is not None else self._iterable)

    def __len__(self):
        return len(self._iterable)

    def show(self, loss=None, accuracy=None, **metrics):
        """Put the latest numbers beside the bar: loss to 4 digits, accuracy as a percentage."""
        if self._bar is None:
            return
        shown = {}
        if loss is not None:
            shown["loss"] = f"{as_float(loss):.4g}"
        if accuracy is not None:
            shown["accuracy"] = f"{100 * as_float(accuracy):.1f}%"
        shown.update((name, f"{as_float(value):.4g}") for name, value in metrics.items())
        self._bar.set_postfix(shown, refresh=False)  # drawn at tqdm's next update, not once per step

    def close(self):
        """End the bar early (a loop that breaks out); a loop run to its end closes it itself."""
        if self._bar is not None:
            self._bar.close()


def _is_terminal(file):
    isatty = getattr(file, "isatty", None)
    return bool(isatty and isatty())
