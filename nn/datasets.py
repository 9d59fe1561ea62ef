"""Small synthetic data sets for lessons, tests and benchmarks, generated with numpy."""

import numpy as np


def make_moons(n_samples=100, noise=0.1, seed=0):
    """Two interleaving half circles: a classic data set no straight line can separate.

    Returns (X, y): X of shape (n_samples, 2), y of n_samples labels in {0, 1}
    (the upper moon is 0). Gaussian noise of standard deviation ``noise`` is
    added to every coordinate.
    """
    rng = np.random.default_rng(seed)
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    upper = np.linspace(0, np.pi, n_upper)
    lower = np.linspace(0, np.pi, n_lower)
    X = np.concatenate([
        np.stack([np.cos(upper), np.sin(upper)], axis=1),
        np.stack([1 - np.cos(lower), 0.5 - np.sin(lower)], axis=1),
    ])
    y = np.concatenate([np.zeros(n_upper, dtype=np.int64), np.ones(n_lower, dtype=np.int64)])
    X += rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(n_samples)
    return X[order], y[order]
