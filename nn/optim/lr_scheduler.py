"""Schedules for the learning rate, as ``torch.optim.lr_scheduler``: ``from nn.optim.lr_scheduler import StepLR``.

Each sets ``group["lr"]`` of every param group of its optimiser, with the
values PyTorch's namesake gives: ``StepLR``, ``CosineAnnealingLR`` and
``LambdaLR`` once per ``step()`` (usually once per epoch),
``ReduceLROnPlateau`` when a measured metric stops improving.
"""

import math

from ..monitor import as_float
from .optimizers import Optimizer


class _Schedule:
    """What every schedule shares: the optimiser, the rates set last, and its state dict."""

    _not_saved = ("optimizer",)

    def get_last_lr(self):
        """The learning rate of each param group, as set last."""
        return list(self._last_lr)

    def state_dict(self):
        """Every attribute except the optimiser (and functions, which cannot be saved), as PyTorch's schedules do."""
        return {name: value for name, value in vars(self).items() if name not in self._not_saved}

    def load_state_dict(self, state_dict):
        """Take the attributes of ``state_dict`` (from ``state_dict()`` of the same kind of schedule)."""
        unknown = [name for name in state_dict if name not in vars(self) or name in self._not_saved]
        if unknown:
            raise ValueError(f"{type(self).__name__} has no state named {unknown}")
        vars(self).update(state_dict)


class LRScheduler(_Schedule):
    """Sets ``group["lr"]`` of every param group at construction (epoch 0) and at each ``step()``.

    ``base_lrs`` are the groups' rates when the schedule was made, kept in
    each group as ``"initial_lr"`` (as PyTorch keeps them), so that a
    schedule made with ``last_epoch=n`` after ``load_state_dict`` resumes.
    Subclasses define ``_rates()``, the rates of epoch ``last_epoch``.
    """

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"a schedule needs an optimiser, got {type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"last_epoch must be an integer at least -1, got {last_epoch!r}")
        self.optimizer = optimizer
        for number, group in enumerate(optimizer.param_groups):
            if last_epoch != -1 and "initial_lr" not in group:
                raise KeyError(
                    f"param group {number} has no 'initial_lr', which a schedule resumed with last_epoch="
                    f"{last_epoch} needs: load the optimiser's state dict first"
                )
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def step(self):
        """Move to the next epoch and set its learning rates."""
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise RuntimeError(
                f"the optimiser has {len(groups)} param groups, {len(self.base_lrs)} when the schedule was made: "
                "make the schedule after adding every group"
            )
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(groups, self._rates()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _rates(self):
        raise NotImplementedError


class StepLR(LRScheduler):
    """η = η₀ · γ^⌊epoch / step_size⌋: the rate drops by a factor γ every ``step_size`` epochs.

    As in PyTorch, each drop multiplies the group's current rate, so a
    rate changed by hand carries on from where it was set.

    >>> from autodiff import Value
    >>> from nn import optim
    >>> opt = optim.SGD([Value(1.0)], lr=1.0)
    >>> schedule = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> rates = []
    >>> for epoch in range(5):
    ...     rates.append(round(opt.param_groups[0]["lr"], 4)); opt.step(); schedule.step()
    >>> rates
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if isinstance(step_size, bool) or not (isinstance(step_size, int) and step_size >= 1):
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _rates(self):
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]


class CosineAnnealingLR(LRScheduler):
    """η = η_min + (η₀ - η_min)(1 + cos(π · epoch / T_max)) / 2.

    The rate falls from η₀ to η_min along half a cosine over ``T_max``
    epochs (then rises again, as in PyTorch, which does not restart).
    As in PyTorch, each step scales the distance of the current rate from
    η_min by the ratio of consecutive cosine terms,

        η ← η_min + (η - η_min) (1 + cos(π e / T)) / (1 + cos(π (e - 1) / T)),

    which is the formula above for a rate nobody else changes (at the
    bottom, where that ratio is 0/0, it adds (η₀ - η_min)(1 - cos(π / T)) / 2).
    Made with ``last_epoch=n`` to resume, it leaves the rates as loaded.

    >>> from autodiff import Value
    >>> from nn import optim
    >>> opt = optim.SGD([Value(1.0)], lr=1.0)
    >>> schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    >>> rates = []
    >>> for epoch in range(5):
    ...     rates.append(round(opt.param_groups[0]["lr"], 4)); opt.step(); schedule.step()
    >>> rates
    [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if not T_max > 0:
            raise ValueError(f"T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def _rates(self):
        epoch, T, low = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if self._step_count == 1:  # made just now
            return [group["lr"] for group in groups]
        if (epoch - 1 - T) % (2 * T) == 0:
            return [group["lr"] + (base - low) * (1 - math.cos(math.pi / T)) / 2
                    for base, group in zip(self.base_lrs, groups)]
        ratio = (1 + math.cos(math.pi * epoch / T)) / (1 + math.cos(math.pi * (epoch - 1) / T))
        return [ratio * (group["lr"] - low) + low for group in groups]


class LambdaLR(LRScheduler):
    """η = η₀ · lr_lambda(epoch), for any function ``lr_lambda`` of the epoch number.

    ``lr_lambda`` may be one function for every group or a list of one
    per group. The functions are not part of ``state_dict()``.

    >>> from autodiff import Value
    >>> from nn import optim
    >>> opt = optim.SGD([Value(1.0)], lr=1.0)
    >>> schedule = optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.9 ** epoch)
    >>> rates = []
    >>> for epoch in range(4):
    ...     rates.append(round(opt.param_groups[0]["lr"], 4)); opt.step(); schedule.step()
    >>> rates
    [1.0, 0.9, 0.81, 0.729]
    """

    _not_saved = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"a schedule needs an optimiser, got {type(optimizer).__name__}")
        groups = len(optimizer.param_groups)
        functions = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(functions) != groups:
            raise ValueError(f"LambdaLR needs one lr_lambda per param group ({groups}), got {len(functions)}")
        for function in functions:
            if not callable(function):
                raise TypeError(f"lr_lambda must be a function of the epoch, got {type(function).__name__}")
        self.lr_lambdas = functions
        super().__init__(optimizer, last_epoch)

    def _rates(self):
        return [base * function(self.last_epoch) for function, base in zip(self.lr_lambdas, self.base_lrs)]


class ReduceLROnPlateau(_Schedule):
    """Divides the rate when a metric stops improving, as ``torch.optim.lr_scheduler.ReduceLROnPlateau``.

    ``step(metric)`` after each epoch: a metric better than the best so far
    (in ``mode="min"``, below best·(1 - threshold) with
    ``threshold_mode="rel"``, below best - threshold with ``"abs"``; mirrored
    for ``"max"``) resets the count of bad epochs. After more than
    ``patience`` bad epochs in a row, every group's rate becomes
    max(lr · factor, min_lr) (unless that changes it by ``eps`` or less) and
    the next ``cooldown`` epochs count as good.

    >>> from autodiff import Value
    >>> from nn import optim
    >>> opt = optim.SGD([Value(1.0)], lr=1.0)
    >>> schedule = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for loss in [1.0, 0.5, 0.5, 0.5]:      # two epochs without improvement: more than patience
    ...     schedule.step(loss)
    >>> opt.param_groups[0]["lr"]
    0.5
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"a schedule needs an optimiser, got {type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not 0 <= factor < 1:
            raise ValueError(f"factor must lie in [0, 1) (it multiplies the rate), got {factor!r}")
        for name, count in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(count, bool) or not (isinstance(count, int) and count >= 0):
                raise ValueError(f"{name} must be a whole number at least 0, got {count!r}")
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(f"min_lr needs one rate per param group ({groups}), got {len(min_lr)}")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * groups
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def step(self, metrics):
        """Record this epoch's metric (a number, a one-element Tensor or a Value) and lower the rates if it is time."""
        current = _number(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            groups = self.optimizer.param_groups
            if len(groups) != len(self.min_lrs):
                raise RuntimeError(
                    f"the optimiser has {len(groups)} param groups, {len(self.min_lrs)} when the schedule was made: "
                    "set its min_lrs to one rate per group"
                )
            for group, min_lr in zip(groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _is_better(self, current):
        if self.mode == "min":
            bar = self.best * (1 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            return current < bar
        bar = self.best * (1 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold
        return current > bar


def _number(metric):
    try:
        return as_float(metric)
    except (TypeError, ValueError):
        raise TypeError(f"the metric must be a number, a one-element Tensor or a Value, got {metric!r}") from None
