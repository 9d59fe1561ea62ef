"""Datasets and batches, as ``torch.utils.data`` has them: ``Dataset``, ``TensorDataset``, ``DataLoader``.

A dataset is anything with ``len(dataset)`` and ``dataset[i]`` (one
sample). ``DataLoader`` cuts the indices 0..n-1 into batches of
``batch_size`` (the last one shorter unless ``drop_last``), in order or,
with ``shuffle=True``, in the order of a permutation drawn afresh for each
pass, and gives each batch as Tensors.

The order is PyTorch's for the same permutation: batch k holds samples
``permutation[k·batch_size : (k+1)·batch_size]``. The permutation itself
is ``generator.permutation(n)`` of a ``numpy.random.Generator``: the one
given as ``generator=``, else autodiff's default generator (which
``autodiff.manual_seed`` seeds). It is drawn when a pass asks for its
first batch, so one generator gives the same sequence of epochs each time
it starts from the same seed; the numbers are numpy's, not PyTorch's.

Samples are put together as PyTorch's default collation does: a batch of
arrays or Tensors becomes one Tensor with a new first axis; of Python
floats a float64 Tensor, of ints an int64 one, of bools a bool one; of
tuples or lists a list with one batch per position; of dicts a dict with
one batch per key; strings stay a list. A ``TensorDataset`` skips the
per-sample work: each batch is one indexing of each array.
"""

import numbers

import numpy as np

from autodiff import Tensor
from autodiff.random import generator_or_default
from autodiff.tensor import numbers_of


class Dataset:
    """A collection of samples: subclasses define ``__len__`` and ``__getitem__(index)``, one sample each."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")


class TensorDataset(Dataset):
    """Samples taken from the same row of several arrays: ``dataset[i]`` is ``(a[i], b[i], ...)``.

    Each of ``arrays`` is a Tensor or a numpy array (anything else is
    made one), all of the same length along the first axis. The arrays
    are kept as they are, not copied (so a change to them shows in later
    batches, as in PyTorch); each batch is a copy.

    >>> import numpy as np
    >>> from nn.data import TensorDataset
    >>> data = TensorDataset(np.arange(10.0).reshape(5, 2), np.array([0, 1, 0, 1, 1]))
    >>> len(data), data[1]
    (5, (Tensor([2., 3.], dtype=float64), Tensor(1, dtype=int64)))
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self._arrays = tuple(_array_of(a, i) for i, a in enumerate(arrays))
        lengths = [len(a) for a in self._arrays]
        if len(set(lengths)) > 1:
            raise ValueError(f"the arrays of a TensorDataset must have the same length, got lengths {lengths}")

    @property
    def tensors(self):
        """The arrays, each as a Tensor (a copy)."""
        return tuple(Tensor(a) for a in self._arrays)

    def __getitem__(self, index):
        return tuple(Tensor(a[index]) for a in self._arrays)

    def __len__(self):
        return len(self._arrays[0])

    def _batch(self, indices):
        """One batch: each array indexed once (``indices`` a slice or an integer array)."""
        return [Tensor(a[indices]) for a in self._arrays]


class DataLoader:
    """Batches of a dataset, one pass per ``for batch in loader``; ``len(loader)`` is the number of batches.

    See the module's docstring for the order of the samples and how a
    batch is put together.

    >>> import numpy as np
    >>> from nn.data import DataLoader, TensorDataset
    >>> loader = DataLoader(TensorDataset(np.zeros((5, 2)), np.arange(5)), batch_size=2)
    >>> len(loader), [(x.shape, y.tolist()) for x, y in loader]      # the last batch is short
    (3, [((2, 2), [0, 1]), ((2, 2), [2, 3]), ((1, 2), [4])])
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"a DataLoader needs a dataset with __len__ and __getitem__, got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        generator_or_default(generator)  # a wrong kind of generator is refused now, not at the first pass
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = generator

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = generator_or_default(self.generator).permutation(n) if self.shuffle else None
        stop = n - n % self.batch_size if self.drop_last else n
        fast = isinstance(self.dataset, TensorDataset)
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, n)
            indices = slice(start, end) if order is None else order[start:end]
            if fast:
                yield self.dataset._batch(indices)
            else:
                positions = range(start, end) if order is None else indices.tolist()
                yield collate([self.dataset[i] for i in positions])

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


def collate(samples):
    """A list of samples as one batch, the way PyTorch's ``default_collate`` puts them together."""
    first = samples[0]
    if isinstance(first, Tensor):
        arrays = [numbers_of(s) for s in samples]
        if any(array.shape != arrays[0].shape for array in arrays):
            shapes = sorted({array.shape for array in arrays}, key=str)
            raise ValueError(f"the samples of a batch must have one shape to be stacked, got {shapes}")
        return Tensor(np.stack(arrays))
    if isinstance(first, (np.ndarray, np.generic)):
        return Tensor(np.stack([np.asarray(s) for s in samples]))
    if isinstance(first, (str, bytes)):
        return list(samples)
    if isinstance(first, bool):
        return Tensor(np.array(samples, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return Tensor(np.array(samples, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return Tensor(np.array(samples, dtype=np.float64))
    if isinstance(first, dict):
        for s in samples:
            if not (isinstance(s, dict) and s.keys() == first.keys()):
                raise ValueError(f"the samples of a batch are dicts with different keys: {list(first)} and {list(s)}")
        return {key: collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        lengths = {len(s) for s in samples}
        if len(lengths) > 1:
            raise ValueError(f"the samples of a batch are sequences of different lengths {sorted(lengths)}")
        return [collate(list(column)) for column in zip(*samples)]
    raise TypeError(
        f"cannot put samples of type {type(first).__name__} into a batch: a sample may be an array, a Tensor, "
        "a number, a string, or a tuple, list or dict of those"
    )


def _array_of(x, position):
    array = numbers_of(x)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"array {position} of a TensorDataset holds {array.dtype}, not numbers")
    if array.ndim == 0:
        raise ValueError(f"array {position} of a TensorDataset is 0-d; each needs a first axis to index")
    return array
