"""The random numbers behind initialisation and dropout: autodiff's seeded generator.

``nn.manual_seed`` is ``autodiff.manual_seed``: one seed for the factories,
initialisation (``nn.init`` on Tensors, Python's ``random`` for Value
neurons), dropout and DataLoader shuffling.
"""

from autodiff.random import default_generator, manual_seed

__all__ = ["manual_seed", "generator"]


def generator():
    """The numpy generator that initialisation and dropout draw from (``autodiff.random.default_generator``)."""
    return default_generator
