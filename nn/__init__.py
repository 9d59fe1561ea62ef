"""Neural networks whose weights and biases are learned by gradient descent."""

from . import init, optim
from . import data, datasets, utils
from .losses import binary_cross_entropy, cross_entropy, hinge_loss, l1_loss, l1_penalty, l2_penalty, mse_loss, nll_loss
from .metrics import accuracy
from . import functional
from .conv import Conv2d, MaxPool2d
from .layers import GELU, Dropout, Embedding, Flatten, Linear, LogSoftmax, ReLU, Sequential, Sigmoid, Softmax, Tanh
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .micro import MLP, Layer, Neuron
from .recurrent import LSTM, RNN
from .containers import Identity, ModuleDict, ModuleList
from .loss_modules import BCELoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, StateDictError
from .parameter import Parameter
from .rng import manual_seed
from . import plots
from .monitor import TrainingMonitor
from .progress import Progress
from .serialization import load, save
from .onnx_export import export_onnx

__all__ = ["Module", "StateDictError", "Neuron", "Layer", "MLP", "init", "manual_seed"]
__all__ += [
    "optim", "mse_loss", "binary_cross_entropy", "cross_entropy", "nll_loss", "hinge_loss",
    "l1_penalty", "l2_penalty", "accuracy", "save", "load",
]
__all__ += [
    "functional", "Linear", "Sequential", "ReLU", "Tanh", "Sigmoid", "Flatten", "Dropout",
    "Conv2d", "MaxPool2d", "RNN", "LSTM",
]
__all__ += ["Parameter", "Embedding", "GELU", "Softmax", "LogSoftmax", "LayerNorm", "BatchNorm1d", "BatchNorm2d"]
__all__ += ["plots", "TrainingMonitor", "Progress"]
__all__ += ["data", "utils"]
__all__ += ["l1_loss", "ModuleList", "ModuleDict", "Identity"]
__all__ += ["CrossEntropyLoss", "NLLLoss", "MSELoss", "BCELoss", "L1Loss"]
__all__ += ["export_onnx"]
