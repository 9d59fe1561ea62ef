"""A progress bar for long training loops, showing the latest loss and accuracy.

    bar = Progress(range(1000), desc="training")
    for step in bar:
        ...
        bar.show(loss=loss, accuracy=acc)

On a terminal the bar is tqdm's. Where the output goes to a file or a
pipe (a log, a CI run), or tqdm is not installed, a bar would only fill
the file with redrawn lines, so a plain line is written instead at each
quarter of the loop (``training: 500/1000 (50%), loss 0.1234``), and a
long run can be followed in its log. ``enabled=False`` writes nothing;
off, the loop runs as if unwrapped. tqdm: ``pip install tqdm``.
"""

import sys

from .monitor import as_float

__all__ = ["Progress"]

# where a loop that is not watched on a terminal reports: after these fractions of its steps
MILESTONES = (0.25, 0.5, 0.75, 1.0)


class Progress:
    """Iterate over ``iterable`` showing progress; ``show(loss=..., accuracy=...)`` updates the numbers shown.

    ``enabled``: None (the default) shows tqdm's bar when tqdm is installed
    and ``file`` (standard error by default) is a terminal, and otherwise
    writes a line to ``file`` after each quarter of the steps (when their
    number is known: ``len(iterable)`` or ``total``); True always shows the
    bar (and needs tqdm); False writes nothing.

    >>> import io
    >>> log = io.StringIO()
    >>> bar = Progress(range(4), desc="training", file=log)
    >>> for step in bar:
    ...     bar.show(loss=1.0 / (step + 1))
    >>> print(log.getvalue(), end="")
    training: 1/4 (25%), loss 1
    training: 2/4 (50%), loss 0.5
    training: 3/4 (75%), loss 0.3333
    training: 4/4 (100%), loss 0.25
    >>> Progress(range(3), enabled=False).enabled
    False
    """

    def __init__(self, iterable, *, total=None, desc=None, enabled=None, file=None):
        self._file = sys.stderr if file is None else file
        self._bar = None
        self._iterable = iterable
        self._desc = desc
        self._total = total if total is not None else _length(iterable)
        self._shown = {}
        self._lines = False
        if enabled is False:
            return
        try:
            from tqdm import tqdm
        except ImportError as error:
            if enabled:
                raise ImportError('progress bars need tqdm: pip install tqdm') from error
            self._lines = True
            return
        if enabled or _is_terminal(self._file):
            self._bar = tqdm(iterable, total=total, desc=desc, file=self._file, dynamic_ncols=True)
        else:
            self._lines = True

    @property
    def enabled(self):
        """Whether a bar is being shown."""
        return self._bar is not None

    def __iter__(self):
        if self._bar is not None:
            return iter(self._bar)
        if self._lines and self._total:
            return self._reporting()
        return iter(self._iterable)

    def _reporting(self):
        """The items of the iterable, a line written once the loop's body has run for each milestone."""
        marks = sorted({max(1, round(fraction * self._total)) for fraction in MILESTONES})
        for done, item in enumerate(self._iterable, start=1):
            yield item
            if marks and done == marks[0]:
                marks.pop(0)
                self._write_line(done)

    def _write_line(self, done):
        numbers = "".join(f", {name} {value}" for name, value in self._shown.items())
        prefix = f"{self._desc}: " if self._desc else ""
        self._file.write(f"{prefix}{done}/{self._total} ({done / self._total:.0%}){numbers}\n")
        self._file.flush()

    def __len__(self):
        return len(self._iterable)

    def show(self, loss=None, accuracy=None, **metrics):
        """Put the latest numbers beside the bar (or in the next line): loss to 4 digits, accuracy as a percentage."""
        if self._bar is None and not self._lines:
            return
        shown = {}
        if loss is not None:
            shown["loss"] = f"{as_float(loss):.4g}"
        if accuracy is not None:
            shown["accuracy"] = f"{100 * as_float(accuracy):.1f}%"
        shown.update((name, f"{as_float(value):.4g}") for name, value in metrics.items())
        if self._bar is not None:
            self._bar.set_postfix(shown, refresh=False)  # drawn at tqdm's next update, not once per step
        else:
            self._shown = shown

    def close(self):
        """End the bar early (a loop that breaks out); a loop run to its end closes it itself."""
        if self._bar is not None:
            self._bar.close()


def _length(iterable):
    try:
        return len(iterable)
    except TypeError:
        return None


def _is_terminal(file):
    isatty = getattr(file, "isatty", None)
    return bool(isatty and isatty())
