"""Optimisers: how parameters move, given their gradients.

Each optimiser has the name, arguments, defaults and update rule of its
``torch.optim`` namesake, so that the same starting weights and gradients
give the same trajectory:

- ``SGD``: gradient descent, optionally with momentum (a running sum of
  past gradients that keeps the step going in a consistent direction) and
  Nesterov momentum (the gradient looked up one momentum step ahead).
- ``Adam``: a step per element scaled by running averages of the gradient
  and of its square, so every parameter moves at about the learning rate
  whatever its gradient's scale. ``AdamW``: Adam with the weight decay
  applied to the weights directly (decoupled), as Loshchilov and Hutter
  propose.
- ``RMSprop``: the gradient divided by the root of a running average of
  its square (Hinton's lecture 6e).
- ``Adagrad``: the gradient divided by the root of the sum of all its past
  squares, so often-updated elements slow down (Duchi et al.).
- ``Adadelta``: steps whose size is the ratio of the running root mean
  squares of past steps and of gradients, so the units match (Zeiler).

**Param groups.** ``optimizer.param_groups`` is a list of dicts, each with
``"params"`` (its parameters) and every setting (``"lr"``, ``"momentum"``,
...). A constructor given a list of dicts makes one group per dict, the
keyword arguments filling in what a dict leaves out, as in PyTorch::

    SGD([{"params": body.parameters()}, {"params": head.parameters(), "lr": 1e-3}], lr=1e-2, momentum=0.9)

Every step reads the settings from the groups, so a schedule or the user
may change them between steps. ``optimizer.lr`` reads and sets the one
group's learning rate; with several groups it is ambiguous and raises.

**State.** ``state_dict()`` returns ``{"state": {index: {name: array}},
"param_groups": [{settings..., "params": [index, ...]}]}``, the layout of
``torch.optim``: parameters are numbered across the groups in order, and a
parameter appears in ``"state"`` once the optimiser keeps something for it
(``"step"`` as a 0-d float64 array, the rest as arrays of the parameter's
shape, all copies). ``load_state_dict`` checks all of it against this
optimiser's parameters before changing anything, and training resumed from
it follows the uninterrupted run exactly.

**Parameters** may be Tensors, Values, or both. A Tensor's array is
updated in place by numpy (other references to it stay valid, and its
version counter moves on, so a graph recorded before the step refuses a
later backward); the gradient is never written into. A Tensor with
``requires_grad=False`` or no ``grad`` is skipped, as PyTorch skips it,
which is how layers are frozen. The Values of a group are updated together
as one float64 vector (a Value always has a gradient, 0.0 at rest, so they
all step together); in ``state_dict`` each appears with 0-d arrays of its
own.

Schedules for the learning rate are in ``lr_scheduler``.
"""

import functools
import numbers

import numpy as np

from autodiff.graph import Node
from autodiff.recording import check_outside_recording

from ..module import Module
from ..parameter import parameter_list, values_and_tensors

# Settings that torch.optim keeps in its groups to choose an implementation (devices, kernels), which
# do not change the arithmetic; a state dict from PyTorch carries them, and loading it leaves them out.
TORCH_IMPLEMENTATION_SETTINGS = ("foreach", "fused", "capturable", "differentiable", "param_names")


class Optimizer:
    """Param groups, the state kept between steps, and the loop that applies an update rule.

    Subclasses define ``defaults`` (their settings), ``_check_settings``,
    ``_state_names(group)`` (what the state of one parameter holds with
    these settings; ``_state_kinds`` lists what it may hold with any) and
    ``_update(p, g, state, group)``: change the array ``p`` in place given
    its gradient ``g`` (never written into: it stays what backward
    computed) and ``state``, the dict kept for that array, which
    ``_initial_state`` makes. A setting switched on between steps (amsgrad,
    say) starts its part of the state then.
    """

    # whether the state of a parameter is made when it joins (Adagrad), rather than at its first step
    _state_from_the_start = False

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self._tensor_states = {}  # Tensor -> its state
        self._value_vectors = []  # one _ValueVector per group
        for group in _groups_given(params):
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group: a dict with ``"params"`` and any settings; the rest come from ``defaults``."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group is a dict with 'params', got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a param group needs 'params', the list of its parameters")
        group = {**self.defaults, **param_group}
        group["params"] = _parameter_list(param_group["params"])
        where = f"param group {len(self.param_groups)}"
        self._check_settings(group, where)
        taken = {id(p) for other in self.param_groups for p in other["params"]}
        for i, p in enumerate(group["params"]):
            if id(p) in taken:
                raise ValueError(f"{where}: parameter {i} is in an earlier param group too")
        values, tensors = values_and_tensors(group["params"])
        vector = _ValueVector(values)
        if self._state_from_the_start:
            for p in tensors:
                self._tensor_states[p] = self._initial_state(p.data, group)
            if vector.values:
                vector.state = self._initial_state(vector.gather_data(), group)
        self.param_groups.append(group)
        self._value_vectors.append(vector)

    @property
    def lr(self):
        """The learning rate when there is one param group (else read ``param_groups[i]["lr"]``)."""
        return self._only_group("read")["lr"]

    @lr.setter
    def lr(self, lr):
        self._only_group("set")["lr"] = _at_least_zero("learning rate", lr)

    def _only_group(self, verb):
        if len(self.param_groups) != 1:
            raise AttributeError(
                f"optimizer.lr is ambiguous with {len(self.param_groups)} param groups: "
                f"{verb} optimizer.param_groups[i]['lr'] instead"
            )
        return self.param_groups[0]

    def step(self, closure=None):
        """Update every parameter that has a gradient, once; returns ``closure()`` when given (it recomputes the loss)."""
        check_outside_recording(f"{type(self).__name__}.step()")
        loss = None if closure is None else closure()
        for number, (group, vector) in enumerate(zip(self.param_groups, self._value_vectors)):
            values, tensors = values_and_tensors(group["params"])
            for p in tensors:
                grad = p.grad
                if grad is not None and p.requires_grad:
                    state = self._tensor_states.get(p)
                    if state is None:
                        state = self._tensor_states[p] = self._initial_state(p.data, group)
                    self._update(p.data, grad, state, group)
                    p._bump_version()
            if values or vector.values:
                self._step_values(group, vector, number)
        return loss

    def _step_values(self, group, vector, number):
        vector.check(group, number)
        if not vector.values:
            return
        data = vector.gather_data()
        grad = np.fromiter((v.grad for v in vector.values), dtype=np.float64, count=len(vector.values))
        if not vector.state:
            vector.state = self._initial_state(data, group)
        self._update(data, grad, vector.state, group)
        for v, x in zip(vector.values, data.tolist()):
            v.data = x

    def zero_grad(self, set_to_none=True):
        """Reset the gradients: a Value's to 0.0; a Tensor's to None (or, with ``set_to_none=False``, to zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                p._reset_grad(set_to_none)

    # -- state dicts -------------------------------------------------------

    def state_dict(self):
        """The settings and state in ``torch.optim``'s layout (copies; see the module's docstring)."""
        state, groups, index = {}, [], 0
        for number, (group, vector) in enumerate(zip(self.param_groups, self._value_vectors)):
            vector.check(group, number)
            indices = []
            position_of = {id(v): position for position, v in enumerate(vector.values)}  # among the group's Values
            for p in group["params"]:
                position = position_of.get(id(p))
                if position is None:
                    own = self._tensor_states.get(p)
                    if own:
                        state[index] = {name: _exported(value) for name, value in own.items()}
                elif vector.state:
                    state[index] = {name: _exported(value, position) for name, value in vector.state.items()}
                indices.append(index)
                index += 1
            settings = {name: value for name, value in group.items() if name != "params"}
            groups.append({**settings, "params": indices})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Take the settings and state of ``state_dict`` (as ``state_dict()`` returns it, or PyTorch's).

        Parameters are matched by position: the i-th parameter of each
        saved group is this optimiser's i-th of the same group. Everything
        is checked first (the number of groups and of their parameters, each
        setting, every state name, shape and dtype); on any error nothing
        changes. Arrays are copied, in each parameter's dtype.
        """
        saved_groups, saved_state = _layout_of(state_dict)
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"the state dict has {len(saved_groups)} param groups, this optimiser has {len(self.param_groups)}"
            )
        groups, owners = [], {}
        for number, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            where = f"param group {number}"
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{where} of the state dict has {len(saved['params'])} parameters, this optimiser's has "
                    f"{len(group['params'])}"
                )
            settings = {name: value for name, value in saved.items()
                        if name != "params" and name not in TORCH_IMPLEMENTATION_SETTINGS}
            loaded = {**self.defaults, **settings, "params": group["params"]}
            self._check_settings(loaded, f"{where} of the state dict")
            groups.append(loaded)
            for index, p in zip(saved["params"], group["params"]):
                owners[_index(index)] = (p, loaded)
        unknown = [index for index in saved_state if _index(index) not in owners]
        if unknown:
            raise ValueError(f"the state dict has state for parameters {unknown}, which no param group lists")
        states = {_index(index): entry for index, entry in saved_state.items() if entry}

        tensor_states, vectors = {}, []
        for number, group in enumerate(groups):
            index_of = {id(p): index for index, (p, owner) in owners.items() if owner is group}
            values, _ = values_and_tensors(group["params"])
            value_ids = {id(v) for v in values}
            value_states = []
            for p in group["params"]:
                entry = states.get(index_of[id(p)])
                where = f"the state of parameter {index_of[id(p)]} (param group {number})"
                numbers = np.asarray(p.data)  # a Value's: 0-d float64
                entry = entry and self._checked_state(entry, numbers.shape, numbers.dtype, group, where)
                if id(p) in value_ids:
                    value_states.append(entry)
                elif entry is not None:
                    tensor_states[p] = entry
            vectors.append(_ValueVector.from_states(values, value_states, number))

        for group, loaded in zip(self.param_groups, groups):
            group.clear()
            group.update(loaded)
        self._tensor_states = tensor_states
        self._value_vectors = vectors

    def _checked_state(self, entry, shape, dtype, group, where):
        """The state ``entry`` of one parameter, checked against this optimiser and copied in ``dtype``."""
        if not isinstance(entry, dict):
            raise TypeError(f"{where} must be a dict of name to array, got {type(entry).__name__}")
        names = [name for name, value in entry.items() if value is not None]
        missing = [name for name in self._state_names(group) if name not in names]
        unexpected = [name for name in names if name not in self._state_kinds]
        if missing or unexpected:
            raise ValueError(
                f"{where} does not fit {type(self).__name__} with these settings: it lacks {missing or 'nothing'}, "
                f"and has {unexpected or 'nothing'} too many"
            )
        checked = {}
        for name in names:
            array = np.asarray(entry[name])
            if array.dtype.kind not in "fiu":
                raise TypeError(f"{where}: {name!r} must hold real numbers, got dtype {array.dtype}")
            if name == "step":
                if array.shape != () or not (np.isfinite(array) and array >= 0 and array == np.round(array)):
                    raise ValueError(f"{where}: 'step' must be one whole number at least 0, got {entry[name]!r}")
                checked[name] = float(array)
            else:
                if array.shape != shape:
                    raise ValueError(f"{where}: {name!r} has shape {array.shape}, the parameter has shape {shape}")
                checked[name] = np.array(array, dtype=dtype)
        return checked

    def _initial_state(self, p, group):
        """The state of the array ``p`` before its first step (the names of ``_state_names``)."""
        zeros = {name: np.zeros_like(p) for name in self._state_names(group) if name != "step"}
        return {"step": 0.0, **zeros} if "step" in self._state_names(group) else zeros

    def __repr__(self):
        groups = "; ".join(
            f"group {i}: {len(group['params'])} parameters, "
            + ", ".join(f"{name}={value!r}" for name, value in group.items() if name != "params")
            for i, group in enumerate(self.param_groups)
        )
        return f"{type(self).__name__}({groups})"


class _ValueVector:
    """The Values of one param group, updated as one float64 vector, and their state as vectors.

    ``state`` is empty until the first step; ``"step"`` in it is one
    number, since the Values of a group always step together.
    """

    def __init__(self, values, state=None):
        self.values = values
        self.state = state or {}

    @classmethod
    def from_states(cls, values, states, group_number):
        """The vector of ``values`` from one loaded state (or None) per Value; all or none must have one."""
        present = [state is not None for state in states]
        if not any(present):
            return cls(values)
        if not all(present):
            raise ValueError(
                f"param group {group_number}: some of its Values have optimiser state and some do not; "
                "the Values of a group step together, so all or none must"
            )
        if any(state.keys() != states[0].keys() for state in states):
            raise ValueError(
                f"param group {group_number}: its Values hold different kinds of optimiser state "
                f"{sorted({tuple(state) for state in states})}; the Values of a group step together, so they must match"
            )
        steps = {state["step"] for state in states if "step" in state}
        if len(steps) > 1:
            raise ValueError(
                f"param group {group_number}: its Values have different step counts {sorted(steps)}; "
                "the Values of a group step together, so they must share one"
            )
        vectors = {
            name: np.array([float(state[name]) for state in states]) for name in states[0] if name != "step"
        }
        if steps:
            vectors["step"] = steps.pop()
        return cls(values, vectors)

    def check(self, group, number):
        """Refuse to go on if the group's Values are no longer those this state belongs to."""
        values, _ = values_and_tensors(group["params"])
        if len(values) == len(self.values) and all(a is b for a, b in zip(values, self.values)):
            return
        if self.state:
            raise RuntimeError(
                f"the Values of param group {number} changed since the optimiser's state was made for them; "
                "make a new optimiser for the new parameters"
            )
        self.values = values

    def gather_data(self):
        return np.fromiter((v.data for v in self.values), dtype=np.float64, count=len(self.values))


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    With weight decay λ, momentum μ, dampening τ and learning rate η, each step does

        g ← -g                                  (when maximize)
        g ← g + λ p
        b ← g at the first step, then μ b + (1 - τ) g     (when μ > 0)
        g ← g + μ b with Nesterov, else b                 (when μ > 0)
        p ← p - η g

    >>> from autodiff import Value
    >>> from nn import optim
    >>> p = Value(3.0)
    >>> opt = optim.SGD([p], lr=0.1)
    >>> (p * p).backward(); opt.step(); p.data      # 3 - 0.1 · 2·3
    2.4
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_settings(self, group, where):
        _check_numbers(group, where, lr="learning rate", momentum="momentum", dampening="dampening",
                       weight_decay="weight_decay")
        _check_flags(group, where, "nesterov", "maximize")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{where}: Nesterov momentum needs momentum > 0 and dampening 0")

    _state_kinds = ("momentum_buffer",)

    def _state_names(self, group):
        return ("momentum_buffer",) if group["momentum"] else ()

    def _initial_state(self, p, group):
        return {}  # the momentum buffer starts as the first gradient

    def _update(self, p, g, state, group):
        momentum, dampening, weight_decay = group["momentum"], group["dampening"], group["weight_decay"]
        if group["maximize"]:
            g = -g
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = np.array(g)
            else:
                buffer *= momentum
                buffer += g if dampening == 0 else (1 - dampening) * g
            g = g + momentum * buffer if group["nesterov"] else buffer
        p -= group["lr"] * g


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``; weight decay λ is added to the gradient (L2 regularisation).

    At step t, with β₁, β₂, ε and learning rate η,

        g ← -g                              (when maximize)
        g ← g + λ p                         (p ← p (1 - η λ) instead, with decoupled_weight_decay)
        m ← β₁ m + (1 - β₁) g              (running mean of the gradient)
        v ← β₂ v + (1 - β₂) g²             (running mean of its square)
        v̂ ← max(v̂, v) with amsgrad, else v
        p ← p - η / (1 - β₁ᵗ) · m / (√v̂ / √(1 - β₂ᵗ) + ε)

    m and v start at 0, so early on they are too small; the factors
    1 / (1 - βᵗ) (bias corrections) make up for it. The state of a
    parameter: ``step`` (t), ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with
    amsgrad, ``max_exp_avg_sq`` (the largest v so far).

    >>> import autodiff
    >>> from nn import optim
    >>> w = autodiff.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.numpy().round(4)        # the first step moves each element by η against its gradient's sign
    array([ 0.9, -1.9], dtype=float32)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_settings(self, group, where):
        _check_numbers(group, where, lr="learning rate", eps="eps", weight_decay="weight_decay")
        _check_flags(group, where, "amsgrad", "maximize", "decoupled_weight_decay")
        betas = group["betas"]
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ValueError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            if not (isinstance(beta, numbers.Real) and 0.0 <= beta < 1.0):
                raise ValueError(f"{where}: betas[{i}] must lie in [0, 1), got {beta!r}")
        group["betas"] = (float(betas[0]), float(betas[1]))

    _state_kinds = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def _state_names(self, group):
        names = ("step", "exp_avg", "exp_avg_sq")
        return names + ("max_exp_avg_sq",) if group["amsgrad"] else names

    def _update(self, p, g, state, group):
        lr, weight_decay, (beta1, beta2) = group["lr"], group["weight_decay"], group["betas"]
        if group["maximize"]:
            g = -g
        state["step"] += 1
        t = state["step"]
        if weight_decay:
            if group["decoupled_weight_decay"]:
                p *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * p
        mean, mean_square = state["exp_avg"], state["exp_avg_sq"]
        _lerp(mean, g, 1 - beta1)
        mean_square *= beta2
        mean_square += (1 - beta2) * g * g
        if group["amsgrad"]:
            if "max_exp_avg_sq" in state:
                np.maximum(state["max_exp_avg_sq"], mean_square, out=state["max_exp_avg_sq"])
            else:
                state["max_exp_avg_sq"] = mean_square.copy()
            mean_square = state["max_exp_avg_sq"]
        denominator = np.sqrt(mean_square) / (1 - beta2**t) ** 0.5 + group["eps"]
        p -= (lr / (1 - beta1**t)) * mean / denominator


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Before the Adam step (which then sees the plain gradient),

        p ← p - η λ p,

    so the decay shrinks every weight by the same factor, however large
    its gradients are; in ``Adam`` the decay would be divided by √v too.

    >>> import autodiff
    >>> from nn import optim
    >>> w = autodiff.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * 0).sum().backward(); opt.step()      # a zero gradient: only the decay, p · (1 - 0.1 · 0.5)
    >>> w.numpy().round(4)
    array([ 0.95, -1.9 ], dtype=float32)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    With smoothing α, ε, weight decay λ, momentum μ and learning rate η,

        g ← -g                               (when maximize)
        g ← g + λ p
        v ← α v + (1 - α) g²                (running mean of the squared gradient)
        a ← α a + (1 - α) g, s ← √(v - a²)  with centered (the running variance), else s ← √v
        b ← μ b + g / (s + ε), p ← p - η b  with momentum μ > 0,
        else p ← p - η g / (s + ε)

    State: ``step``, ``square_avg`` (v), ``momentum_buffer`` (b, when
    μ > 0), ``grad_avg`` (a, when centered).

    >>> from autodiff import Value
    >>> from nn import optim
    >>> p = Value(3.0)
    >>> opt = optim.RMSprop([p], lr=0.01)
    >>> (p * p).backward(); opt.step(); round(p.data, 4)    # v = 0.01 g², so the step is η g / (0.1 |g|) = 10 η
    2.9
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, *,
                 maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_settings(self, group, where):
        _check_numbers(group, where, lr="learning rate", alpha="alpha", eps="eps", weight_decay="weight_decay",
                       momentum="momentum")
        _check_flags(group, where, "centered", "maximize")

    _state_kinds = ("step", "square_avg", "momentum_buffer", "grad_avg")

    def _state_names(self, group):
        names = ("step", "square_avg")
        if group["momentum"] > 0:
            names += ("momentum_buffer",)
        return names + ("grad_avg",) if group["centered"] else names

    def _update(self, p, g, state, group):
        alpha, weight_decay, momentum = group["alpha"], group["weight_decay"], group["momentum"]
        if group["maximize"]:
            g = -g
        state["step"] += 1
        if weight_decay:
            g = g + weight_decay * p
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * g * g
        if group["centered"]:
            if "grad_avg" not in state:
                state["grad_avg"] = np.zeros_like(p)
            grad_avg = state["grad_avg"]
            _lerp(grad_avg, g, 1 - alpha)
            average = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            average = np.sqrt(square_avg)
        average += group["eps"]
        if momentum > 0:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(p)
            buffer = state["momentum_buffer"]
            buffer *= momentum
            buffer += g / average
            p -= group["lr"] * buffer
        else:
            p -= group["lr"] * g / average


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``.

    At step t, with learning-rate decay δ, weight decay λ, ε and learning rate η,

        g ← -g                          (when maximize)
        g ← g + λ p
        s ← s + g²                      (the sum of every squared gradient so far)
        p ← p - η / (1 + (t - 1) δ) · g / (√s + ε)

    s starts at ``initial_accumulator_value``. State: ``step``, ``sum``
    (s), made when a parameter joins the optimiser, as PyTorch does.

    >>> from autodiff import Value
    >>> from nn import optim
    >>> p = Value(3.0)
    >>> opt = optim.Adagrad([p], lr=0.1)
    >>> (p * p).backward(); opt.step(); round(p.data, 4)    # s = g², so the first step is η
    2.9
    """

    _state_from_the_start = True

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 *, maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def _check_settings(self, group, where):
        _check_numbers(group, where, lr="learning rate", lr_decay="lr_decay", eps="eps",
                       weight_decay="weight_decay", initial_accumulator_value="initial_accumulator_value")
        _check_flags(group, where, "maximize")

    _state_kinds = ("step", "sum")

    def _state_names(self, group):
        return self._state_kinds

    def _initial_state(self, p, group):
        return {"step": 0.0, "sum": np.full_like(p, group["initial_accumulator_value"])}

    def _update(self, p, g, state, group):
        weight_decay = group["weight_decay"]
        state["step"] += 1
        if group["maximize"]:
            g = -g
        if weight_decay:
            g = g + weight_decay * p
        rate = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        total = state["sum"]
        total += g * g
        p -= rate * g / (np.sqrt(total) + group["eps"])


class Adadelta(Optimizer):
    """Adadelta, as ``torch.optim.Adadelta``.

    With smoothing ρ, ε, weight decay λ and learning rate η (1.0 by default),

        g ← -g                                  (when maximize)
        g ← g + λ p
        v ← ρ v + (1 - ρ) g²                   (running mean of the squared gradient)
        Δ ← √(u + ε) / √(v + ε) · g            (u: running mean of the squared steps)
        u ← ρ u + (1 - ρ) Δ²
        p ← p - η Δ

    State: ``step``, ``square_avg`` (v), ``acc_delta`` (u).

    >>> from autodiff import Value
    >>> from nn import optim
    >>> p = Value(3.0)
    >>> opt = optim.Adadelta([p])
    >>> (p * p).backward(); opt.step(); round(p.data, 4)    # u = 0: Δ = √ε / √(0.1 · 36 + ε) · 6
    2.9968
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, maximize=False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_settings(self, group, where):
        _check_numbers(group, where, lr="learning rate", eps="eps", weight_decay="weight_decay")
        _check_flags(group, where, "maximize")
        if not (isinstance(group["rho"], numbers.Real) and 0.0 <= group["rho"] <= 1.0):
            raise ValueError(f"{where}: rho must lie in [0, 1], got {group['rho']!r}")
        group["rho"] = float(group["rho"])

    _state_kinds = ("step", "square_avg", "acc_delta")

    def _state_names(self, group):
        return self._state_kinds

    def _update(self, p, g, state, group):
        rho, eps, weight_decay = group["rho"], group["eps"], group["weight_decay"]
        state["step"] += 1
        if group["maximize"]:
            g = -g
        if weight_decay:
            g = g + weight_decay * p
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= rho
        square_avg += (1 - rho) * g * g
        delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        p -= group["lr"] * delta


def _lerp(start, end, weight):
    """start ← start + weight (end - start), in place, rounded as PyTorch's ``lerp_`` rounds it.

    For a weight of 0.5 or more it computes end - (end - start)(1 - weight),
    which is exact at weight 1.
    """
    if weight < 0.5:
        start += weight * (end - start)
    else:
        np.subtract(end, (end - start) * (1 - weight), out=start)


def _groups_given(params):
    """The param groups of an optimiser's first argument: a list of parameters, or of dicts."""
    if isinstance(params, Module):
        raise TypeError("optimisers take a list of parameters: pass model.parameters(), not the model")
    if isinstance(params, Node):
        raise TypeError(f"optimisers take a list of parameters, got a single {type(params).__name__}; wrap it in [ ]")
    if isinstance(params, dict):
        raise TypeError("optimisers take a list of parameters or a list of param-group dicts, got one dict; wrap it in [ ]")
    params = _ordered(params, "the optimiser's parameters")
    if not params:
        raise ValueError("the optimiser got an empty list of parameters")
    dicts = [isinstance(p, dict) for p in params]
    if all(dicts):
        return params
    if any(dicts):
        raise TypeError("the optimiser got a list mixing parameters and param-group dicts; give one kind")
    return [{"params": params}]


def _parameter_list(params):
    """The parameters of one group as a list, each a leaf (a Tensor or a Value), each once."""
    params = parameter_list(params, functools.partial(_ordered, what="a param group's 'params'"))
    seen = set()
    for i, p in enumerate(params):
        if p.children:
            raise ValueError(
                f"parameter {i} is the result of {p.op!r}, not a leaf: an optimiser updates leaves "
                "(use .detach() and requires_grad_() for a new one)"
            )
        if id(p) in seen:
            raise ValueError(f"parameter {i} appears more than once in the list")
        seen.add(id(p))
    return params


def _ordered(items, what):
    if isinstance(items, (set, frozenset)):
        raise TypeError(f"{what} must be in a fixed order (a list), not a set, so that the state dict's numbering holds")
    try:
        return list(items)
    except TypeError:
        raise TypeError(f"{what} must be a list of parameters, got {type(items).__name__}") from None


def _check_numbers(group, where, **labels):
    """Each named setting a real number at least 0, stored as a float."""
    for name, label in labels.items():
        group[name] = _at_least_zero(label, group[name], where)


def _check_flags(group, where, *names):
    for name in names:
        if not isinstance(group[name], (bool, np.bool_)):
            raise TypeError(f"{where}: {name} must be True or False, got {group[name]!r}")
        group[name] = bool(group[name])


def _at_least_zero(label, x, where=None):
    prefix = f"{where}: " if where else ""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{prefix}{label} must be a number, got {type(x).__name__} {x!r}")
    x = float(x)
    if not x >= 0:
        raise ValueError(f"{prefix}{label} must be at least 0, got {x!r}")
    return x


def _exported(value, position=None):
    """A state entry as ``state_dict`` gives it: an array of its own (a 0-d float64 one for ``step``)."""
    if position is not None and isinstance(value, np.ndarray):
        value = value[position]
    return np.array(value, dtype=np.float64) if isinstance(value, float) else np.array(value)


def _layout_of(state_dict):
    """The groups and state of a state dict, after checking its outer structure."""
    if not (isinstance(state_dict, dict) and {"state", "param_groups"} <= state_dict.keys()):
        raise TypeError("an optimiser state dict is a dict with 'state' and 'param_groups', as state_dict() returns")
    groups, state = state_dict["param_groups"], state_dict["state"]
    if not isinstance(state, dict):
        raise TypeError(f"the state dict's 'state' must be a dict of parameter index to state, got {type(state).__name__}")
    if not (isinstance(groups, (list, tuple)) and all(isinstance(g, dict) and "params" in g for g in groups)):
        raise TypeError("the state dict's 'param_groups' must be a list of dicts, each with 'params'")
    for number, group in enumerate(groups):
        indices = [_index(i) for i in group["params"]]
        if len(set(indices)) != len(indices):
            raise ValueError(f"param group {number} of the state dict lists a parameter index twice")
    return groups, state


def _index(index):
    if isinstance(index, bool) or not isinstance(index, (numbers.Integral, str)):
        raise TypeError(f"parameter indices in a state dict are integers, got {index!r}")
    try:
        return int(index)
    except ValueError:
        raise TypeError(f"parameter indices in a state dict are integers, got {index!r}") from None
