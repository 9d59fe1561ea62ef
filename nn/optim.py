"""Optimisers: how parameters move, given their gradients; and schedules for the learning rate.

Each optimiser follows the update rule of its ``torch.optim`` namesake, so
that the same starting weights and gradients give the same trajectory:

- ``SGD``: plain gradient descent, optionally with momentum (a running
  sum of past gradients that keeps the step going in a consistent
  direction) and Nesterov momentum (the gradient looked up one momentum
  step ahead).
- ``Adam``: a step per element scaled by running averages of the
  gradient and of its square, so every parameter moves at about the
  learning rate whatever its gradient's scale.
- ``AdamW``: Adam with the weight decay taken out of the gradient and
  applied to the weights directly (decoupled), as Loshchilov and Hutter
  propose.

Parameters may be Tensors, Values, or both in one list. Updates happen in
place, outside the graph: a Tensor's array is modified by numpy in-place
operations (other references to it stay valid), a Value's ``data`` float
is replaced. A Tensor with ``requires_grad=False`` or no ``grad`` is left
alone, which is how layers are frozen; a Value always updates (its
``grad`` is a number, 0.0 at rest).

The Values are updated together as one numpy vector (their data and
gradients are gathered, updated, and written back), so the rules below
are written once, for arrays.

Schedules (``StepLR``, ``CosineAnnealingLR``, ``LambdaLR``) set the
public ``optimizer.lr`` each time their ``step()`` is called, usually once
per epoch, with the values ``torch.optim.lr_scheduler`` gives.
"""

import math

import numpy as np

from autodiff import Tensor, Value

from .module import Module


class Optimizer:
    """The parameters, the learning rate ``lr``, and the state kept between steps.

    Subclasses define ``_update(p, g, state)``: change the array ``p`` in
    place given its gradient ``g`` (never written into: it stays what
    backward computed, for the user to read) and ``state``, a dict the
    optimiser keeps for that array.
    """

    def __init__(self, params, lr):
        self.params = _parameter_list(params)
        self.lr = _non_negative("learning rate", lr)
        self._tensors = [p for p in self.params if isinstance(p, Tensor)]
        self._values = [p for p in self.params if isinstance(p, Value)]
        self._tensor_states = [{} for _ in self._tensors]
        self._value_state = {}

    def step(self):
        """Update every parameter that has a gradient, once."""
        for p, state in zip(self._tensors, self._tensor_states):
            if p.requires_grad and p.grad is not None:
                self._update(p.data, p.grad, state)
        if self._values:
            count = len(self._values)
            data = np.fromiter((v.data for v in self._values), dtype=np.float64, count=count)
            grad = np.fromiter((v.grad for v in self._values), dtype=np.float64, count=count)
            self._update(data, grad, self._value_state)
            for v, x in zip(self._values, data.tolist()):
                v.data = x

    def zero_grad(self):
        """Reset the gradients: a Value's to 0.0, a Tensor's to None."""
        for p in self.params:
            p.grad = 0.0 if isinstance(p, Value) else None

    def _update(self, p, g, state):
        raise NotImplementedError

    def __repr__(self):
        settings = ", ".join(f"{name}={value!r}" for name, value in self._settings().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD`` (no dampening).

    With weight decay λ, momentum μ and learning rate η, each step does

        g ← g + λ p
        b ← g at the first step, then μ b + g     (when μ > 0)
        g ← g + μ b with Nesterov, else b         (when μ > 0)
        p ← p - η g
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        self.momentum = _non_negative("momentum", momentum)
        self.weight_decay = _non_negative("weight_decay", weight_decay)
        if nesterov and self.momentum == 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _update(self, p, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = np.array(g)
            else:
                buffer *= self.momentum
                buffer += g
            g = g + self.momentum * buffer if self.nesterov else buffer
        p -= self.lr * g

    def _settings(self):
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay,
                "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``; weight decay λ is added to the gradient (L2 regularisation).

    At step t, with β₁, β₂, ε and learning rate η,

        g ← g + λ p
        m ← β₁ m + (1 - β₁) g              (running mean of the gradient)
        v ← β₂ v + (1 - β₂) g²             (running mean of its square)
        p ← p - η / (1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + ε)

    m and v start at 0, so early on they are too small; the factors
    1 / (1 - βᵗ) (bias corrections) make up for it.
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        beta1, beta2 = betas
        for i, beta in enumerate((beta1, beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"betas[{i}] must lie in [0, 1), got {beta!r}")
        self.betas = (float(beta1), float(beta2))
        self.eps = _non_negative("eps", eps)
        self.weight_decay = _non_negative("weight_decay", weight_decay)

    def _update(self, p, g, state):
        beta1, beta2 = self.betas
        if not state:
            state["step"] = 0
            state["mean"] = np.zeros_like(p)
            state["mean_square"] = np.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        if self.weight_decay:
            if self._decoupled:
                p *= 1 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * p
        mean, mean_square = state["mean"], state["mean_square"]
        mean *= beta1
        mean += (1 - beta1) * g
        mean_square *= beta2
        mean_square += (1 - beta2) * (g * g)
        denominator = np.sqrt(mean_square) / math.sqrt(1 - beta2**t) + self.eps
        p -= (self.lr / (1 - beta1**t)) * mean / denominator

    def _settings(self):
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Before the Adam step (which then sees the plain gradient),

        p ← p - η λ p,

    so the decay shrinks every weight by the same factor, however large
    its gradients are; in ``Adam`` the decay would be divided by √v too.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


def _parameter_list(params):
    if isinstance(params, Module):
        raise TypeError("optimisers take a list of parameters: pass model.parameters(), not the model")
    if isinstance(params, (Tensor, Value)):
        raise TypeError(f"optimisers take a list of parameters, got a single {type(params).__name__}; wrap it in [ ]")
    params = list(params)
    if not params:
        raise ValueError("the optimiser got an empty list of parameters")
    seen = set()
    for i, p in enumerate(params):
        if not isinstance(p, (Tensor, Value)):
            raise TypeError(f"parameter {i} is a {type(p).__name__}, not a Tensor or a Value")
        if id(p) in seen:
            raise ValueError(f"parameter {i} appears more than once in the list")
        seen.add(id(p))
    return params


def _non_negative(name, x):
    x = float(x)
    if not x >= 0:
        raise ValueError(f"{name} must be at least 0, got {x!r}")
    return x


# -- learning-rate schedules ---------------------------------------------------


class LRScheduler:
    """Sets ``optimizer.lr`` to ``lr_at(epoch)`` at construction (epoch 0) and at every ``step()``.

    ``base_lr`` is the optimiser's learning rate when the schedule was made.
    """

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"a schedule needs an optimiser, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        optimizer.lr = self.lr_at(0)

    def step(self):
        """Move to the next epoch and set its learning rate."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self):
        """The learning rate set last, in a list as PyTorch returns it (one entry per group)."""
        return [self.optimizer.lr]

    def lr_at(self, epoch):
        raise NotImplementedError


class StepLR(LRScheduler):
    """η = η₀ · γ^⌊epoch / step_size⌋: the rate drops by a factor γ every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if not (isinstance(step_size, int) and step_size >= 1):
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """η = η_min + (η₀ - η_min)(1 + cos(π · epoch / T_max)) / 2.

    The rate falls from η₀ to η_min along half a cosine over ``T_max``
    epochs (then rises again, as in PyTorch, which does not restart).
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if not T_max > 0:
            raise ValueError(f"T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def lr_at(self, epoch):
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LambdaLR(LRScheduler):
    """η = η₀ · lr_lambda(epoch), for any function ``lr_lambda`` of the epoch number."""

    def __init__(self, optimizer, lr_lambda):
        if not callable(lr_lambda):
            raise TypeError(f"lr_lambda must be a function of the epoch, got {type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def lr_at(self, epoch):
        return self.base_lr * self.lr_lambda(epoch)
