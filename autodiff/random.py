"""The one source of random numbers that ``manual_seed`` seeds, as ``torch.random`` is in PyTorch.

``default_generator`` is a ``numpy.random.Generator`` (PCG64). Everything
random in the project draws from it unless given a generator of its own:
the factories (``randn``, ``rand``, ``randint``), ``nn.init``, dropout and
the shuffling of ``nn.data.DataLoader``. Micrograd's neurons (``nn.Neuron``)
draw from Python's ``random`` module instead, as micrograd does, so
``manual_seed`` seeds that too.

``manual_seed`` reseeds the same Generator object rather than replacing
it, so code holding a reference to it keeps drawing from the seeded stream.
"""

import random as _python_random

import numpy as np

from .recording import check_outside_recording


class Generator(np.random.Generator):
    """A ``numpy.random.Generator`` (PCG64) that can also be seeded the way PyTorch's is.

    ``autodiff.Generator().manual_seed(2147483647)`` ports
    ``torch.Generator().manual_seed(2147483647)``; it may be passed as
    ``generator=`` wherever a numpy Generator is taken (its numbers are
    numpy's, not PyTorch's).
    """

    def __init__(self):
        super().__init__(np.random.PCG64())

    def manual_seed(self, seed):
        """Reseed in place, to draw what ``numpy.random.default_rng(seed)`` would; returns this generator.

        As in PyTorch, a negative seed counts from 2⁶⁴ (``-1`` is 2⁶⁴ - 1).
        """
        check_outside_recording("manual_seed")  # a program draws on from the stream at every call
        self.bit_generator.state = np.random.PCG64(_checked_seed(seed)).state
        return self


default_generator = Generator()


def manual_seed(seed):
    """Seed every source of randomness: ``default_generator`` and Python's ``random``; returns the generator.

    The same seed gives the same numbers again:

    >>> import autodiff
    >>> _ = manual_seed(0); first = autodiff.rand(3).tolist()
    >>> _ = manual_seed(0); autodiff.rand(3).tolist() == first
    True
    """
    seed = _checked_seed(seed)
    default_generator.manual_seed(seed)  # refused while recording, before anything is seeded
    _python_random.seed(seed)
    return default_generator


def _checked_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed takes an integer, got {type(seed).__name__} {seed!r}")
    seed = int(seed)
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"a seed must lie in [-2**63, 2**64), got {seed}")
    return seed % 2**64


def generator_or_default(generator):
    """``generator`` itself if given (it must be a ``numpy.random.Generator``), else ``default_generator``."""
    if generator is None:
        return default_generator
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"generator must be a numpy.random.Generator (numpy.random.default_rng(seed)), "
            f"got {type(generator).__name__}"
        )
    return generator
