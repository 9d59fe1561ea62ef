"""The random numbers behind initialisation and dropout, seeded in one place."""

import random

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed every source of randomness nn uses: numpy's (Tensor layers, Dropout) and Python's (Value neurons)."""
    global _generator
    _generator = np.random.default_rng(seed)
    random.seed(seed)


def generator():
    """The numpy generator that initialisation and dropout draw from."""
    return _generator
