"""Metrics: how well a model does, in numbers people read (not differentiated)."""

import numpy as np

from .losses import _as_array


def accuracy(scores_or_labels, labels):
    """The fraction of examples whose predicted class equals the label, as a Python float.

    The prediction is read from the first argument by its shape and dtype:

    - 2-D scores of shape (N, C), C > 1: the class with the largest score in
      each row (argmax); an (N, 1) column counts as 1-D scores;
    - 1-D integers (or booleans): predicted labels, compared as they are;
    - 1-D floats with labels in {-1, +1} (some label is -1): the sign of the
      score, +1 when it is above 0 and -1 otherwise (margin classifiers);
    - 1-D floats with labels in {0, 1}: 1 when the score is above 0.5, else 0
      (probabilities). A batch whose labels are all 1 is read this way.

    Either argument may be a Tensor, a numpy array, or a list of numbers or
    of Values.

    >>> import autodiff
    >>> from autodiff import nn
    >>> scores = autodiff.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    >>> nn.accuracy(scores, [1, 0, 0, 0])      # argmax per row: 1, 0, 1, 0
    0.75
    """
    scores = _as_array(scores_or_labels)
    y = _as_array(labels)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if y.ndim != 1 or scores.ndim not in (1, 2) or len(scores) != len(y):
        raise ValueError(
            f"accuracy: predictions of shape {scores.shape} do not fit labels of shape {y.shape}"
            " (expected (N,) or (N, C) predictions for (N,) labels)"
        )
    if len(y) == 0:
        raise ValueError("accuracy: no examples (labels of shape (0,))")
    if scores.ndim == 2:
        predicted = scores.argmax(axis=1)
    elif scores.dtype.kind in "iub":
        predicted = scores
    elif np.all((y == 1) | (y == -1)) and np.any(y == -1):
        predicted = np.where(scores > 0, 1, -1)
    elif np.all((y == 0) | (y == 1)):
        predicted = (scores > 0.5).astype(int)
    else:
        raise ValueError(
            f"accuracy: float scores of shape {scores.shape} need labels in {{-1, +1}} (sign) or {{0, 1}}"
            f" (probability), got labels {np.unique(y)[:5].tolist()}; for more classes pass integer"
            " predictions or 2-D scores"
        )
    return float(np.mean(predicted == y))
