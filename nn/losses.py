"""Losses: one number that says how wrong a model's outputs are, and penalties on its weights.

Training lowers the loss by gradient descent, so each loss is
differentiable in the model's outputs. Losses average over the batch by
default, so the step size does not depend on the batch size; as in
PyTorch, ``reduction="sum"`` adds the per-example losses up instead and
``reduction="none"`` returns them one by one.

- ``mse_loss``: mean squared error, for regression.
- ``l1_loss``: mean absolute error, for regression robust to outliers.
- ``binary_cross_entropy``: the negative log-likelihood of 0/1 targets
  under predicted probabilities, for two classes.
- ``cross_entropy``: the negative log-likelihood of integer class labels
  under softmax(logits), for any number of classes.
- ``nll_loss``: the same from log-probabilities (the output of
  ``log_softmax``), so ``nll_loss(log_softmax(x, 1), y)`` is
  ``cross_entropy(x, y)``.
- ``hinge_loss``: the max-margin loss of a support vector machine, for
  labels -1 and +1.
- ``l1_penalty`` and ``l2_penalty``: the size of the weights, added to a
  loss to keep them small (regularisation).

Predictions are Tensors, or, for ``mse_loss`` and ``hinge_loss``, lists of
Values (the result is then a Value). Targets and labels may be Tensors,
numpy arrays or lists.
"""

import numpy as np

from autodiff import Primitive, Tensor, Value
from autodiff.tensor import as_tensor, numbers_of

from .parameter import values_and_tensors

# PyTorch clamps the logarithms in binary cross-entropy at -100, so that a
# probability of exactly 0 or 1 costs 100 rather than infinity.
LOG_FLOOR = -100.0
# ... and keeps the gradient's denominator p(1 - p) at least this large.
BCE_EPSILON = 1e-12


# -- converting inputs ---------------------------------------------------------


def _holds_values(x):
    """Whether ``x`` is a Value or a list or tuple holding at least one Value (the scalar engine's losses then)."""
    values, _ = values_and_tensors(x if isinstance(x, (list, tuple)) else (x,))
    return bool(values)


def _as_value_list(x):
    """A Value, or a list or tuple of Values and numbers, as a list."""
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _as_array(x):
    """The numbers in ``x`` (a Tensor, a Value, a numpy array, or nested lists of numbers and Values)."""
    array = numbers_of(x)
    if array.dtype == object:  # Values among numbers
        array = np.vectorize(lambda v: numbers_of(v).item(), otypes=[np.float64])(array)
    return array


def _check_same_shape(name, what, shape, other_what, other_shape):
    if tuple(shape) != tuple(other_shape):
        raise ValueError(
            f"{name}: {what} of shape {tuple(shape)} and {other_what} of shape {tuple(other_shape)} differ"
        )


def _sign_labels(name, labels):
    """``labels`` as an array, checked to hold only -1 and +1."""
    y = _as_array(labels)
    wrong = (y != 1) & (y != -1)
    if wrong.any():
        raise ValueError(
            f"{name}: labels must be -1 or +1, got {y[wrong].flat[0].item()!r}"
            " (for labels in {0, 1}, pass 2 * labels - 1)"
        )
    return y


REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(name, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduced(losses, reduction):
    """Per-example losses (a Tensor) averaged, summed or left as they are."""
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


def _reduced_values(name, losses, reduction):
    """Per-example losses (Values) averaged or summed into one Value, or left as a list."""
    if reduction == "none":
        return losses
    if not losses:
        raise ValueError(f"{name}: no examples to {reduction} over")
    total = Value.sum(losses)
    return total * (1.0 / len(losses)) if reduction == "mean" else total


def _reduced_array(per_example, reduction):
    """Per-example losses (an array) averaged, summed or left as they are."""
    if reduction == "none":
        return per_example
    total = np.add.reduce(per_example, None)
    return total if reduction == "sum" else total / per_example.size


def _scale(reduction, count):
    """The factor each of ``count`` per-example losses carries into the reduced loss: 1/n for a mean."""
    return 1 / count if reduction == "mean" else 1


# -- losses --------------------------------------------------------------------


def mse_loss(pred, target, reduction="mean"):
    """Mean squared error: L = (1/n) Σ (pred - target)²;  dL/dpred = 2 (pred - target) / n.

    ``pred`` is a Tensor (``target`` of the same shape; a Tensor result) or a
    Value or list of Values (a Value result, or a list for ``reduction="none"``).

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.mse_loss(autodiff.tensor([1.0, 2.0]), autodiff.tensor([0.0, 0.0]))    # (1 + 4) / 2
    Tensor(2.5)
    """
    _check_reduction("mse_loss", reduction)
    if _holds_values(pred):
        preds = _as_value_list(pred)
        targets = _as_value_list(target) if _holds_values(target) else _as_array(target).reshape(-1).tolist()
        _check_same_shape("mse_loss", "prediction", (len(preds),), "target", (len(targets),))
        return _reduced_values("mse_loss", [(p - t) ** 2 for p, t in zip(preds, targets)], reduction)
    pred = as_tensor(pred)
    target = as_tensor(target, pred)
    _check_same_shape("mse_loss", "prediction", pred.shape, "target", target.shape)
    return _reduced((pred - target) ** 2, reduction)


def l1_loss(pred, target, reduction="mean"):
    """Mean absolute error: L = (1/n) Σ |pred - target|;  dL/dpred = sign(pred - target) / n (0 where equal, as PyTorch).

    ``pred`` is a Tensor and ``target`` a Tensor, array or list of the same shape.
    """
    _check_reduction("l1_loss", reduction)
    if _holds_values(pred):
        raise TypeError("l1_loss takes Tensors, not Values (for Values, mse_loss or hinge_loss)")
    pred = as_tensor(pred)
    target = as_tensor(target, pred)
    _check_same_shape("l1_loss", "prediction", pred.shape, "target", target.shape)
    return _reduced((pred - target).abs(), reduction)


def binary_cross_entropy(prob, target, reduction="mean"):
    """L = -(1/n) Σ [t ln p + (1 - t) ln(1 - p)] for probabilities p in [0, 1] and targets t.

    Each logarithm is clamped at -100, as PyTorch does, so p = 0 or p = 1
    gives a finite loss. One node, with the gradients PyTorch uses:

        dL/dp = g (p - t) / max(p (1 - p), 1e-12) / n,
        dL/dt = g (ln(1 - p) - ln p) / n   (the clamped logarithms),

    with n = 1 for ``reduction="sum"`` and g per element for ``"none"``.

    >>> import autodiff
    >>> from autodiff import nn
    >>> round(nn.binary_cross_entropy(autodiff.tensor([0.5, 0.9]), autodiff.tensor([1.0, 0.0])).item(), 4)
    1.4979
    """
    _check_reduction("binary_cross_entropy", reduction)
    prob = as_tensor(prob)
    target = as_tensor(target, prob)
    _check_same_shape("binary_cross_entropy", "probabilities", prob.shape, "target", target.shape)
    low, high = prob.data.min(), prob.data.max()
    if not (low >= 0 and high <= 1):  # NaN fails both
        raise ValueError(
            f"binary_cross_entropy: probabilities must lie in [0, 1], got values from {low} to {high}"
            " (for raw scores, apply sigmoid first)"
        )
    return Tensor.apply_primitive(BINARY_CROSS_ENTROPY, (prob, target), {"reduction": reduction})


def _binary_cross_entropy_forward(xp, prob, target, *, reduction):
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(prob), LOG_FLOOR)
        log_not_p = np.maximum(np.log1p(-prob), LOG_FLOOR)
    log_odds = log_p - log_not_p
    # -[t ln p + (1 - t) ln(1 - p)] = -[ln(1 - p) + t (ln p - ln(1 - p))]
    return _reduced_array(np.asarray(-(target * log_odds + log_not_p)), reduction), log_odds


def _binary_cross_entropy_backward(xp, g, out, prob, target, *, reduction, log_odds, needs):
    scale = _scale(reduction, prob.size)
    prob_grad = (prob - target) * (g * scale) / np.maximum(prob * (1 - prob), BCE_EPSILON) if needs[0] else None
    return prob_grad, log_odds * (g * -scale) if needs[1] else None


BINARY_CROSS_ENTROPY = Primitive(
    "binary_cross_entropy", _binary_cross_entropy_forward, vjp_all=_binary_cross_entropy_backward,
    saves=("log_odds",), once_differentiable=True,
    doc="-[t ln p + (1 - t) ln(1 - p)], reduced; see ``binary_cross_entropy``.",
)


def _class_scores(name, scores, what):
    """``scores`` as a Tensor of shape (batch, classes), holding at least one of each."""
    scores = as_tensor(scores)
    x = scores.data
    if x.ndim != 2:
        raise ValueError(f"{name}: {what} must have shape (batch, classes), got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name}: {what} of shape {x.shape} hold no examples or no classes")
    return scores


def _class_labels(name, labels, batch, classes):
    """``labels`` as an integer Tensor of shape (batch,), each in [0, classes): the labels' own Tensor, or a copy."""
    y = _as_array(labels)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name}: labels must be integers (class indices), got dtype {y.dtype}")
    _check_same_shape(name, "labels", y.shape, "a batch of scores", (batch,))
    if y.min() < 0 or y.max() >= classes:
        outside = y[(y < 0) | (y >= classes)]
        raise ValueError(
            f"{name}: label {outside[0].item()} is out of range for {classes} classes"
            f" (labels are 0 to {classes - 1})"
        )
    return as_tensor(labels)


def _row_scale(g, scale):
    """The factor each row's gradient carries: g · scale, as a column for per-example g."""
    g = g * scale
    return g[:, None] if g.ndim else g


def cross_entropy(logits, labels, reduction="mean"):
    """Softmax cross-entropy of integer class labels, averaged over the batch.

    For logits x of shape (N, C) and labels y of shape (N,),

        L = (1/N) Σᵢ [logsumexp(xᵢ) - xᵢ,yᵢ],

    with logsumexp shifted by the row maximum so that logits of 1000 do not
    overflow. One node:  dL/dx = g (softmax(x) - onehot(y)) / N (without the
    1/N for ``reduction="sum"``; per row for ``"none"``), which can itself be
    differentiated (``create_graph``).

    >>> import autodiff
    >>> from autodiff import nn
    >>> logits = autodiff.tensor([[0.0, 0.0], [2.0, 0.0]])
    >>> round(nn.cross_entropy(logits, [0, 0]).item(), 4)    # (ln 2 + ln(1 + e⁻²)) / 2
    0.41
    """
    _check_reduction("cross_entropy", reduction)
    logits = _class_scores("cross_entropy", logits, "logits")
    labels = _class_labels("cross_entropy", labels, *logits.shape)
    return Tensor.apply_primitive(CROSS_ENTROPY, (logits, labels), {"reduction": reduction})


def _one_hot(xp, labels, classes):
    """Rows of False with True at each label: (batch, classes)."""
    return xp.equal(labels.reshape(-1, 1), np.arange(classes))


def _cross_entropy_forward(xp, logits, labels, *, reduction):
    shifted = logits - logits.max(axis=1, keepdims=True)
    sums = np.exp(shifted).sum(axis=1)
    return _reduced_array(np.log(sums) - shifted[np.arange(len(logits)), labels], reduction)


CROSS_ENTROPY = Primitive(
    "cross_entropy", _cross_entropy_forward,
    (lambda xp, g, out, logits, labels, *, reduction:
        (xp.softmax(logits, axis=1) - _one_hot(xp, labels, logits.shape[1])) * _row_scale(g, _scale(reduction, len(logits))),
     None),
    fresh=True,
    doc="logsumexp(x) - x[label] per row, reduced;  dL/dx = (softmax(x) - onehot(label)) · g (/ N for a mean).",
)


def nll_loss(log_probs, labels, reduction="mean"):
    """Negative log-likelihood of integer class labels given log-probabilities, averaged over the batch.

    For log_probs z of shape (N, C) (from ``log_softmax``) and labels y of
    shape (N,):  L = -(1/N) Σᵢ zᵢ,yᵢ.  One node:  dL/dz is -g/N at each
    (i, yᵢ) and 0 elsewhere (-g for ``reduction="sum"``, per row for "none").

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.nll_loss(autodiff.tensor([[-0.5, -1.0], [-2.0, -0.25]]), [1, 1])    # (1 + 0.25) / 2
    Tensor(0.625)
    """
    _check_reduction("nll_loss", reduction)
    log_probs = _class_scores("nll_loss", log_probs, "log-probabilities")
    labels = _class_labels("nll_loss", labels, *log_probs.shape)
    return Tensor.apply_primitive(NLL_LOSS, (log_probs, labels), {"reduction": reduction})


NLL_LOSS = Primitive(
    "nll_loss",
    lambda xp, log_probs, labels, *, reduction: _reduced_array(-log_probs[np.arange(len(log_probs)), labels], reduction),
    (lambda xp, g, out, log_probs, labels, *, reduction: xp.where(
        _one_hot(xp, labels, log_probs.shape[1]), -_row_scale(g, _scale(reduction, len(log_probs))), 0.0),
     None),
    fresh=True,
    doc="-z[label] per row, reduced;  dL/dz = -g at each (row, label) (/ N for a mean), 0 elsewhere.",
)


def hinge_loss(scores, labels, reduction="mean"):
    """The max-margin loss: L = (1/n) Σ max(0, 1 - y s) for scores s and labels y in {-1, +1}.

    A score on the right side of zero by a margin of at least 1 costs
    nothing; dL/ds = -y / n where the margin is short, else 0. ``scores`` is
    a Tensor (``labels`` of the same shape; a Tensor result) or a Value or
    list of Values (a Value result, or a list for ``reduction="none"``).

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.hinge_loss(autodiff.tensor([2.0, 0.5, 1.0]), [1, 1, -1])    # (0 + 0.5 + 2) / 3
    Tensor(0.8333333)
    """
    _check_reduction("hinge_loss", reduction)
    y = _sign_labels("hinge_loss", labels)
    if _holds_values(scores):
        scores = _as_value_list(scores)
        _check_same_shape("hinge_loss", "scores", (len(scores),), "labels", y.shape)
        return _reduced_values("hinge_loss", [(1 - s * yi).relu() for s, yi in zip(scores, y.tolist())], reduction)
    scores = as_tensor(scores)
    _check_same_shape("hinge_loss", "scores", scores.shape, "labels", y.shape)
    return _reduced((1 - scores * as_tensor(y, scores)).relu(), reduction)


# -- penalties on the weights --------------------------------------------------


def _parameter_kind(name, params):
    """``params`` as a list, and their engine (Value or Tensor); never empty or mixed."""
    params = list(params)
    if not params:
        raise ValueError(f"{name}: no parameters given")
    values, others = values_and_tensors(params)
    if not others:
        return params, Value
    if not values and all(isinstance(p, Tensor) for p in others):
        return params, Tensor
    kinds = sorted({type(p).__name__ for p in params})
    raise TypeError(f"{name}: parameters must be all Values or all Tensors, got {', '.join(kinds)}")


def _total(a):
    """The sum of an array's elements, or a number itself."""
    return a.sum() if hasattr(a, "sum") else a


L1_PENALTY = Primitive(
    "l1_penalty", lambda xp, *params: sum(_total(xp.abs(p)) for p in params),
    vjp_each=lambda xp, g, out, *params, position: xp.sign(params[position]) * g,
    doc="Σ |w| over every element of every parameter;  dL/dw = sign(w) · g.",
)

L2_PENALTY = Primitive(
    "l2_penalty", lambda xp, *params: sum(_total(p * p) for p in params),
    vjp_each=lambda xp, g, out, *params, position: 2 * params[position] * g,
    doc="Σ w² over every element of every parameter;  dL/dw = 2w · g.",
)


def l1_penalty(params):
    """Σ |w| over every element of every parameter;  d/dw = sign(w) (0 at w = 0, as in PyTorch).

    One node over all the parameters: a Value for Values, a Tensor for Tensors.
    It pushes weights to exactly zero (sparse models).

    >>> from autodiff import Value, nn
    >>> nn.l1_penalty([Value(-2.0), Value(3.0)]).data
    5.0
    """
    params, kind = _parameter_kind("l1_penalty", params)
    return kind.apply_primitive(L1_PENALTY, tuple(params))


def l2_penalty(params):
    """Σ w² over every element of every parameter;  d/dw = 2w.

    One node over all the parameters: a Value for Values, a Tensor for Tensors.
    It shrinks large weights the most (weight decay).

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.l2_penalty([autodiff.tensor([1.0, 2.0]), autodiff.tensor([[3.0]])])    # 1 + 4 + 9
    Tensor(14.)
    """
    params, kind = _parameter_kind("l2_penalty", params)
    return kind.apply_primitive(L2_PENALTY, tuple(params))
