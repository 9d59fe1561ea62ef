"""Optimisers and learning-rate schedules, as ``torch.optim`` and ``torch.optim.lr_scheduler``.

- ``optimizers``: ``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``Adadelta``, with param groups
  and state dicts;
- ``lr_scheduler``: ``StepLR``, ``CosineAnnealingLR``, ``LambdaLR``, ``ReduceLROnPlateau``.

Both are reachable from here, as in PyTorch (``nn.optim.SGD``, ``nn.optim.lr_scheduler.StepLR``).
"""

from . import lr_scheduler
from .lr_scheduler import CosineAnnealingLR, LambdaLR, LRScheduler, ReduceLROnPlateau, StepLR
from .optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
    "lr_scheduler", "LRScheduler", "StepLR", "CosineAnnealingLR", "LambdaLR", "ReduceLROnPlateau",
]
