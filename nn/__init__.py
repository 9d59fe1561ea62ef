"""Neural networks whose weights and biases are learned by gradient descent."""

from . import init
from .micro import MLP, Layer, Neuron
from .module import Module, StateDictError
from .rng import manual_seed

__all__ = ["Module", "StateDictError", "Neuron", "Layer", "MLP", "init", "manual_seed"]
