"""The operations of neural-network layers, under ``torch.nn.functional``'s names.

Most are primitives: each could be composed from ``autodiff`` operations,
but as one node with its own vector-Jacobian products it costs one graph
node instead of several, and its backward can use the cheapest numpy
calls. The normalisations and GELU are composed from Tensor operations
(their gradients then need no code of their own), and the losses are
those of ``nn.losses``.

Derivatives of derivatives (``backward(create_graph=True)``,
``autodiff.grad(..., create_graph=True)``, ``autodiff.hvp``,
``autodiff.hessian``): the primitives here whose rules are written
against the array namespace ``xp`` can be differentiated again: linear,
erf (and so gelu), dropout, embedding, and the losses cross_entropy,
nll_loss, mse_loss, l1_penalty and l2_penalty. These have first
derivatives only, and a backward with ``create_graph`` (or forward mode,
``autodiff.jvp``) that reaches one raises ``NotImplementedError`` naming
it: conv2d, max_pool2d, rnn_tanh and lstm (so ``nn.Conv2d``,
``nn.MaxPool2d``, ``nn.RNN`` and ``nn.LSTM``), and binary_cross_entropy.
"""

import math

import numpy as np

from autodiff import Tensor
from autodiff.tensor import as_tensor

from .losses import binary_cross_entropy, cross_entropy, l1_loss, mse_loss, nll_loss
from .rng import generator

__all__ = [
    "relu", "tanh", "sigmoid", "gelu", "erf", "softmax", "log_softmax",
    "linear", "conv2d", "max_pool2d", "dropout", "embedding", "layer_norm", "batch_norm",
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy", "one_hot",
]


# -- activations -----------------------------------------------------------------


def relu(x):
    """max(x, 0), elementwise.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.relu(autodiff.tensor([-1.0, 2.0]))
    Tensor([0., 2.])
    """
    return as_tensor(x).relu()


def tanh(x):
    """tanh x, elementwise.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.tanh(autodiff.tensor([0.0, 1.0])).numpy().round(4)
    array([0.    , 0.7616], dtype=float32)
    """
    return as_tensor(x).tanh()


def sigmoid(x):
    """1 / (1 + e⁻ˣ), elementwise.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.sigmoid(autodiff.tensor([0.0]))
    Tensor([0.5])
    """
    return as_tensor(x).sigmoid()


def softmax(x, dim):
    """e^x / Σ e^x along ``dim``, computed stably.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.softmax(autodiff.tensor([1000.0, 1000.0, 1000.0, 1000.0]), dim=0)    # no overflow
    Tensor([0.25, 0.25, 0.25, 0.25])
    """
    return as_tensor(x).softmax(axis=dim)


def log_softmax(x, dim):
    """x - logsumexp(x) along ``dim``, computed stably.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.log_softmax(autodiff.tensor([[0.0, 0.0]]), dim=1).numpy().round(4)    # log ½
    array([[-0.6931, -0.6931]], dtype=float32)
    """
    return as_tensor(x).log_softmax(axis=dim)


# erf by a Taylor series where it converges fast (|z| <= 1) and as 1 - e^(-z²) G(z) beyond, G = e^(z²) erfc(z)
# smooth and slowly varying; from |z| = 6 on, erf(z) rounds to ±1 in float64.
_TAYLOR_DEGREE = 18
# erf(z) / z = 2/√π Σ_n (-1)ⁿ z²ⁿ / (n! (2n+1)); the last term kept is below 1e-17 at |z| = 1
_ERF_TAYLOR = [2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(_TAYLOR_DEGREE + 1)]
_ERF_IS_ONE = 6.0
_ERFC_DEGREE = 26


def _chebyshev_interpolant(f, degree):
    """Coefficients c_k of Σ c_k T_k(u) equal to f at the degree + 1 Chebyshev points of [-1, 1].

    Written out as a cosine sum (numpy's ``chebinterpolate`` builds T_k by
    recurrence and is 10x less accurate at this degree).
    """
    n = degree + 1
    theta = np.pi * (np.arange(n) + 0.5) / n
    coefficients = np.cos(np.outer(np.arange(n), theta)) @ f(np.cos(theta)) * (2 / n)
    coefficients[0] /= 2
    return coefficients


def _scaled_erfc_points(u):
    """e^(z²) erfc(z) for z = 1 + (u + 1)(6 - 1)/2, from the math library's erfc (accurate to 1 ulp)."""
    z = 1 + (u + 1) * (_ERF_IS_ONE - 1) / 2
    return np.array([math.exp(v * v) * math.erfc(v) for v in z.tolist()])


# max error 5 ulp against 40-digit mpmath over [-7, 7], a 4x smaller denominator of tiny arguments included
_SCALED_ERFC = _chebyshev_interpolant(_scaled_erfc_points, _ERFC_DEGREE)


def _chebyshev_sum(u, coefficients):
    """Σ c_k T_k(u) by Clenshaw's recurrence b_k = c_k + 2u b_(k+1) - b_(k+2), in three arrays."""
    twice = 2 * u
    b1, b2, b0 = np.zeros_like(u), np.zeros_like(u), np.empty_like(u)
    for c in coefficients[:0:-1]:
        np.multiply(twice, b1, out=b0)
        b0 -= b2
        b0 += c
        b1, b2, b0 = b0, b1, b2
    np.multiply(u, b1, out=b0)
    b0 -= b2
    b0 += coefficients[0]
    return b0


def _erf_array(z):
    """erf of a float64 array, accurate to a few units in the last place; NaN stays NaN."""
    a = np.abs(z)
    out = np.full_like(a, np.nan)
    small = a <= 1
    s = a[small]
    t = s * s
    series = np.full_like(t, _ERF_TAYLOR[-1])
    for c in _ERF_TAYLOR[-2::-1]:  # Horner
        series *= t
        series += c
    out[small] = s * series
    middle = (a > 1) & (a < _ERF_IS_ONE)
    m = a[middle]
    out[middle] = 1 - np.exp(-m * m) * _chebyshev_sum((m - 1) * (2 / (_ERF_IS_ONE - 1)) - 1, _SCALED_ERFC)
    out[a >= _ERF_IS_ONE] = 1
    return np.copysign(out, z, out=out)


def erf(x):
    """The error function erf(x) = 2/√π ∫₀ˣ e^(-t²) dt, elementwise;  dL/dx = g · 2/√π e^(-x²).

    Computed in float64 (float32 results rounded from it).
    """
    x = as_tensor(x)
    X = x.data
    if X.dtype.kind != "f":
        raise TypeError(f"erf needs a floating-point tensor, got dtype {X.dtype}")
    wide = X.astype(np.float64, copy=False)
    out = _erf_array(wide).astype(X.dtype, copy=False)
    return Tensor._record(out, "erf", (x,), (_erf_vjp,))


def _erf_vjp(xp, g, out, x):
    return g * (2 / math.sqrt(math.pi) * xp.exp(-x * x))


def gelu(x, approximate="none"):
    """Gaussian error linear unit, x Φ(x) with Φ the standard normal CDF, as PyTorch computes it.

    "none" (the default): x · ½ (1 + erf(x/√2)), exact. "tanh": the
    approximation x · ½ (1 + tanh(√(2/π) (x + 0.044715 x³))). Composed of
    Tensor operations, so the gradient follows from theirs.
    """
    x = as_tensor(x)
    if approximate == "none":
        return x * 0.5 * (erf(x * (1 / math.sqrt(2))) + 1)
    if approximate == "tanh":
        return x * 0.5 * (((x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)).tanh() + 1)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def linear(x, weight, bias=None):
    """x @ weight.T + bias, for x of shape (..., in), weight (out, in), bias (out,).

    With g = dL/d(out) of shape (..., out):  dL/dx = g @ weight,
    dL/dweight = Σ over leading axes of gᵀ x,  dL/dbias = Σ over leading axes of g.
    Each rule is written against the array namespace ``xp``, so the
    gradient can be differentiated again (``create_graph``).

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.linear(autodiff.ones(5, 3), autodiff.ones(2, 3), autodiff.tensor([0.5, -0.5]))[0]
    Tensor([3.5, 2.5])
    """
    x = as_tensor(x, weight)
    X, W = x.data, weight.data
    if X.shape[-1:] != W.shape[1:]:
        raise ValueError(f"linear: input of shape {X.shape} does not fit a weight of shape {W.shape} (out, in)")
    out = X @ W.T
    if bias is None:
        return Tensor._record(out, "linear", (x, weight), _LINEAR_VJPS[:2])
    out += bias.data
    return Tensor._record(out, "linear", (x, weight, bias), _LINEAR_VJPS)


def _as_rows(a):
    """``a`` as a matrix of its last axis: (..., n) -> (rows, n); a matrix as it is."""
    return a if a.ndim == 2 else a.reshape(-1, a.shape[-1])


def _column_sums(xp, g, out, *inputs):
    """Σ of g over every axis but the last, as a matrix-vector product: for a batch of
    100 rows of 16, numpy's sum along axis 0 takes three times as long."""
    rows = _as_rows(g)
    return np.ones(rows.shape[0], dtype=rows.dtype) @ rows


_LINEAR_VJPS = (
    lambda xp, g, out, x, weight, *bias: g @ weight,
    lambda xp, g, out, x, weight, *bias: _as_rows(g).T @ _as_rows(x),
    _column_sums,
)


# -- convolution and pooling -------------------------------------------------
#
# Images are (N, C, H, W) to the user, as in PyTorch. In memory, these
# operations keep them channels-last, (N, H, W, C), and hand back transposed
# views: then every numpy loop below runs along C (and W) contiguously,
# where the NCHW order would make its innermost loops 2 or 3 elements long.


def as_pair(value, name):
    """An int or a pair of ints as a pair (height, width)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _output_size(size, kernel, stride, what, input_shape):
    """Positions of a window of ``kernel`` sliding by ``stride`` over ``size`` (per axis)."""
    positions = tuple((n - k) // s + 1 for n, k, s in zip(size, kernel, stride))
    if min(positions) < 1 or min(stride) < 1:
        raise ValueError(
            f"{what}: a kernel of {kernel} with stride {stride} does not fit an input of shape {input_shape}"
        )
    return positions


def _windows(x, kernel, stride, out_size):
    """A view (N, OH, OW, kh, kw, C) of every window of the channels-last ``x`` (N, H, W, C).

    Window (p, q) starts at row p·stride_h and column q·stride_w; numpy's
    strides let all of them be read without copying a single element.
    """
    n, row, col, c = x.strides
    return np.lib.stride_tricks.as_strided(
        x,
        shape=(x.shape[0], *out_size, *kernel, x.shape[3]),
        strides=(n, row * stride[0], col * stride[1], row, col, c),
        writeable=False,
    )


def _fold_into(grad, window_grad, kernel, stride, out_size):
    """The adjoint of ``_windows``: add the windows' gradients into the channels-last input gradient ``grad``.

    ``window_grad(i, j)`` is the gradient (N, OH, OW, C) of every window's
    element at offset (i, j); an input element covered by several windows
    receives the sum. One addition per kernel offset, each over all windows.
    """
    (sh, sw), (out_h, out_w) = stride, out_size
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            grad[:, i : i + sh * out_h : sh, j : j + sw * out_w : sw] += window_grad(i, j)
    return grad


def _pad(x, padding):
    """The channels-last ``x`` (N, H, W, C) with ``padding`` rows and columns of zeros on each side."""
    ph, pw = padding
    if ph == pw == 0:
        return x
    n, h, w, c = x.shape
    padded = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    padded[:, ph : ph + h, pw : pw + w] = x
    return padded


# conv2d works on a few images at a time: a chunk's window matrix (its im2col) stays in the
# processor's cache, where the whole batch's (42 MB for the second layer of PyTorch's MNIST example)
# would go through memory: written, read by the product, kept and read again by backward, and, above
# glibc's largest heap block, faulted in afresh at every step. A chunk holds about this many bytes.
CONV_CHUNK_BYTES = 2 * 1024 * 1024


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation (what deep learning calls convolution), NCHW.

    For x (N, C, H, W), weight (O, C, kh, kw) and bias (O,):

        out[n, o, p, q] = bias[o] + Σ_{c,i,j} weight[o, c, i, j] · xpad[n, c, p·s_h + i, q·s_w + j],

    of shape (N, O, OH, OW) with OH = (H + 2·pad_h - kh) // s_h + 1 (OW alike).
    Computed as matrix products (im2col), a few images at a time: every
    window, flattened to a row of kh·kw·C numbers, times the kernels
    flattened in the same order. With G = dL/d(out) arranged as rows
    (n, p, q) to match:

        dL/dweight = Gᵀ · windows,   dL/dbias = Σ_{n,p,q} g,
        dL/dxpad[n, p·s_h + i, q·s_w + j, :] += G[n, p, q] · weight[:, :, i, j]  for each offset (i, j).

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.conv2d(autodiff.ones(1, 1, 4, 4), autodiff.ones(1, 1, 3, 3))    # 9 ones per window
    Tensor([[[[9., 9.],
              [9., 9.]]]])
    >>> F.conv2d(autodiff.ones(2, 3, 8, 8), autodiff.ones(4, 3, 3, 3), stride=2, padding=1).shape
    (2, 4, 4, 4)
    """
    x = as_tensor(x, weight)
    X, W = x.data, weight.data
    if X.ndim != 4 or W.ndim != 4 or X.shape[1] != W.shape[1]:
        raise ValueError(
            f"conv2d: input of shape {X.shape} does not fit a weight of shape {W.shape} "
            f"(out_channels, in_channels, kh, kw); the input must be (batch, {W.shape[1]}, height, width)"
        )
    stride, padding = as_pair(stride, "stride"), as_pair(padding, "padding")
    out_channels, channels, kh, kw = W.shape
    batch, _, height, width = X.shape
    padded = _pad(X.transpose(0, 2, 3, 1), padding)
    out_size = _output_size(padded.shape[1:3], (kh, kw), stride, "conv2d", X.shape)
    windows = _windows(padded, (kh, kw), stride, out_size)
    window_size = kh * kw * channels
    dtype = np.result_type(X, W)
    images = max(1, CONV_CHUNK_BYTES // (out_size[0] * out_size[1] * window_size * dtype.itemsize))
    chunks = [slice(start, start + images) for start in range(0, batch, images)]
    kernels = W.transpose(0, 2, 3, 1).reshape(out_channels, window_size)

    def window_rows(chunk):
        """The windows of a chunk's images, one flattened window per row (a copy)."""
        return windows[chunk].reshape(-1, window_size)

    out = np.empty((batch, *out_size, out_channels), dtype=dtype)
    for chunk in chunks:
        rows = out[chunk].reshape(-1, out_channels)
        np.matmul(window_rows(chunk), kernels.T, out=rows)
        if bias is not None:
            rows += bias.data

    # one (O, C) matrix per kernel offset: the input gradient is kh·kw products of G with them, each
    # added where its offset reads; one product with all kernels at once would write a window-sized
    # matrix (rows, kh·kw·C) to fold back, which takes longer than the products themselves
    offset_kernels = np.ascontiguousarray(W.transpose(2, 3, 0, 1))

    def x_vjp(g):
        g = g.transpose(0, 2, 3, 1)
        grad = np.zeros(padded.shape, dtype=dtype)
        for chunk in chunks:
            G = g[chunk].reshape(-1, out_channels)
            _fold_into(
                grad[chunk], lambda i, j: (G @ offset_kernels[i, j]).reshape(-1, *out_size, channels),
                (kh, kw), stride, out_size,
            )
        ph, pw = padding
        return grad[:, ph : ph + height, pw : pw + width].transpose(0, 3, 1, 2)

    def weight_vjp(g):
        g = g.transpose(0, 2, 3, 1)
        total = np.zeros((out_channels, window_size), dtype=dtype)
        for chunk in chunks:
            total += g[chunk].reshape(-1, out_channels).T @ window_rows(chunk)
        return total.reshape(out_channels, kh, kw, channels).transpose(0, 3, 1, 2)

    out = out.transpose(0, 3, 1, 2)
    if bias is None:
        return Tensor._result(out, "conv2d", (x, weight), (x_vjp, weight_vjp))
    return Tensor._result(
        out, "conv2d", (x, weight, bias), (x_vjp, weight_vjp, lambda g: g.sum(axis=(0, 2, 3)))
    )


def max_pool2d(x, kernel_size, stride=None):
    """The largest element of each window, NCHW; ``stride`` defaults to ``kernel_size``.

    out[n, c, p, q] = max_{i,j} x[n, c, p·s_h + i, q·s_w + j]. dL/dx is g at
    the element that gave each window's maximum (the first one, in row-major
    order, when several tie, as PyTorch does) and 0 elsewhere; an element that
    is the maximum of several overlapping windows receives the sum. A NaN in
    a window is its maximum, as in PyTorch.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.max_pool2d(autodiff.arange(16.0).reshape(1, 1, 4, 4), 2)
    Tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    x = as_tensor(x)
    X = x.data
    kernel = as_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else as_pair(stride, "stride")
    if X.ndim != 4:
        raise ValueError(f"max_pool2d: input must have shape (batch, channels, height, width), got shape {X.shape}")
    out_size = _output_size(X.shape[2:], kernel, stride, "max_pool2d", X.shape)
    channels_last = X.transpose(0, 2, 3, 1)
    windows = _windows(channels_last, kernel, stride, out_size)
    offsets = [windows[:, :, :, i, j] for i in range(kernel[0]) for j in range(kernel[1])]
    out = offsets[0].copy()
    for candidate in offsets[1:]:
        np.maximum(out, candidate, out=out)  # a NaN wins, as in PyTorch
    # the offset k = i·kw + j each maximum came from, the first of equals (as PyTorch picks):
    # the number of leading offsets that differ from the maximum
    choice = np.zeros(out.shape, dtype=np.min_scalar_type(len(offsets) - 1))
    differs = np.ones(out.shape, dtype=bool)
    for candidate in offsets[:-1]:
        differs &= candidate != out
        choice += differs
    if np.isnan(out).any():
        # a window holding NaN: PyTorch's maximum is its last NaN (NaN differs even from itself)
        for k, candidate in enumerate(offsets):
            np.copyto(choice, k, where=np.isnan(candidate))

    def vjp(g):
        g = g.transpose(0, 2, 3, 1)
        grad = np.zeros(channels_last.shape, dtype=g.dtype)
        if stride[0] < kernel[0] or stride[1] < kernel[1]:
            _fold_into(grad, lambda i, j: g * (choice == i * kernel[1] + j), kernel, stride, out_size)
        else:
            # windows that do not overlap reach each input element at most once: write it in place
            (sh, sw), (out_h, out_w) = stride, out_size
            for k in range(kernel[0] * kernel[1]):
                i, j = divmod(k, kernel[1])
                np.multiply(g, choice == k, out=grad[:, i : i + sh * out_h : sh, j : j + sw * out_w : sw])
        return grad.transpose(0, 3, 1, 2)

    return Tensor._result(out.transpose(0, 3, 1, 2), "max_pool2d", (x,), (vjp,))


# -- embeddings and normalisation ----------------------------------------------


def one_hot(tensor, num_classes=-1):
    """Integer class labels as rows of 0s with a 1 at each label, int64, as ``F.one_hot``; not differentiable.

    ``num_classes`` -1 takes one more than the largest label.
    """
    labels = np.asarray(tensor.data if isinstance(tensor, Tensor) else tensor)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot takes integer labels, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"one_hot takes labels of at least 0, got {labels.min()}")
    if num_classes == -1:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"one_hot: label {labels.max()} does not fit num_classes={num_classes}")
    return Tensor((labels[..., None] == np.arange(num_classes)).astype(np.int64))


def embedding(indices, weight, padding_idx=None):
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices``: shape indices.shape + (dim,).

    out[..., :] = weight[indices[...], :];  dL/dweight[k] = Σ of g over the
    positions where indices == k (0 for ``padding_idx``, a row never trained).

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.embedding(autodiff.tensor([2, 0]), autodiff.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    Tensor([[2., 2.],
            [0., 0.]])
    """
    index = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    W = weight.data
    if index.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {index.dtype}")
    if W.ndim != 2:
        raise ValueError(f"embedding: weight must have shape (num_embeddings, embedding_dim), got shape {W.shape}")
    if index.size and (index.min() < 0 or index.max() >= len(W)):
        outside = index[(index < 0) | (index >= len(W))].flat[0]
        raise IndexError(f"embedding: index {outside} is out of range for {len(W)} embeddings (0 to {len(W) - 1})")
    rows = index.reshape(-1)
    # the padding row is never trained: its positions send no gradient
    positions = slice(None) if padding_idx is None else rows != padding_idx % len(W)
    rows = rows[positions]

    def weight_vjp(xp, g, out, weight):
        return xp.unindex(g.reshape(-1, W.shape[1])[positions], rows, W.shape, True)

    return Tensor._record(W[index], "embedding", (weight,), (weight_vjp,), reads=0)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Each sample normalised over its last axes (``normalized_shape``), then scaled and shifted:

        out = (x - mean) / √(var + eps) · weight + bias,

    mean and the biased variance var taken over those axes. Composed of
    Tensor operations.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.layer_norm(autodiff.tensor([[1.0, 3.0]]), (2,)).numpy().round(3)    # mean 2, var 1
    array([[-1.,  1.]], dtype=float32)
    """
    x = as_tensor(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end in normalized_shape {shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != shape:
            raise ValueError(f"layer_norm: {name} of shape {p.shape} does not match normalized_shape {shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centred = x - x.mean(axis=axes, keepdims=True)
    out = centred / ((centred * centred).mean(axis=axes, keepdims=True) + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Each channel (axis 1) of x (N, C, ...) normalised, then scaled and shifted:

        out = (x - mean) / √(var + eps) · weight + bias,

    per channel. Training: mean and the biased variance of this batch (over
    every axis but 1), and the running statistics, when given, move
    towards them in place: r ← (1 - momentum) r + momentum · s, the variance
    entering unbiased (· n / (n - 1)), as PyTorch does. Evaluation: the
    running statistics. Composed of Tensor operations.

    >>> import autodiff
    >>> from nn import functional as F
    >>> mean, var = autodiff.zeros(2), autodiff.ones(2)
    >>> F.batch_norm(autodiff.tensor([[1.0, 10.0], [3.0, 30.0]]), mean, var, training=True).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> mean, var    # 0.9 · old + 0.1 · batch (variance unbiased: 2 and 200)
    (Tensor([0.2, 2. ]), Tensor([ 1.1, 20.9]))
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must have shape (batch, channels, ...), got shape {x.shape}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(f"batch_norm: {name} of shape {t.shape} does not fit input of shape {x.shape}"
                             f" ({channels} channels)")
    axes = (0, *range(2, x.ndim))
    per_channel = (1, channels) + (1,) * (x.ndim - 2)
    if training:
        count = x.size // channels
        if count < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, got input of shape {x.shape}")
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        variance = (centred * centred).mean(axis=axes, keepdims=True)
        if running_mean is not None:
            _move_towards(running_mean, mean.data.reshape(channels), momentum)
        if running_var is not None:
            _move_towards(running_var, variance.data.reshape(channels) * (count / (count - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
        centred = x - running_mean.data.reshape(per_channel)
        variance = Tensor._constant(running_var.data.reshape(per_channel))
    out = centred / (variance + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(per_channel)
    if bias is not None:
        out = out + bias.reshape(per_channel)
    return out


def _move_towards(running, batch, momentum):
    """running ← (1 - momentum) running + momentum batch, in place (holders of the Tensor see it)."""
    data = running.data
    data *= 1 - momentum
    data += momentum * batch.astype(data.dtype, copy=False)
    running._bump_version()


# -- regularisation ----------------------------------------------------------


def dropout(x, p=0.5, training=True):
    """Inverted dropout: each element zeroed with probability p, the survivors scaled by 1/(1-p).

    The scaling keeps E[out] = x, so at evaluation (``training=False``)
    dropout is the identity and returns ``x`` itself. dL/dx = g · mask, the
    same zeros and scale. The mask is drawn from ``nn.rng.generator()``.

    >>> import autodiff
    >>> from nn import functional as F
    >>> _ = autodiff.manual_seed(0)
    >>> sorted(set(F.dropout(autodiff.ones(100), p=0.75).tolist()))    # survivors scaled by 1/(1 - 0.75)
    [0.0, 4.0]
    >>> x = autodiff.ones(3)
    >>> F.dropout(x, training=False) is x
    True
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be between 0 and 1, got {p!r}")
    if not training or p == 0:
        return x
    x = as_tensor(x)
    X = x.data
    keep = generator().random(X.shape) >= p
    mask = keep * np.asarray(0 if p == 1 else 1 / (1 - p), dtype=X.dtype)
    return Tensor._record(X * mask, "dropout", (x,), (lambda xp, g, out, x: g * mask,), reads=0)


# -- recurrent networks over a whole sequence ----------------------------------
#
# A recurrent layer applies the same step T times. Recorded step by step, the
# graph would slice the input once per step, and each slice's backward would
# spread a gradient the size of the whole sequence. So each layer is one node:
# the forward pass loops over time in numpy and keeps what backward needs;
# backward loops back through time (BPTT) once and hands each input its part.
# Sequences are time-major here, (T, B, features), so that each step reads
# and writes one contiguous block.


def _shared_backward(backward_through_time, count):
    """``count`` VJPs returning parts 0..count-1 of ``backward_through_time(g)``, which runs once per g.

    The backward driver hands one node's gradient g to each of its VJPs in
    turn: the first call runs back through time and keeps every input's
    part (until the graph is freed), the others read theirs. A later
    backward brings a new g and a new run.
    """
    memo = [None, None]

    def part(k):
        def vjp(g):
            if memo[0] is not g:
                memo[:] = [g, backward_through_time(g)]
            return memo[1][k]

        return vjp

    return tuple(part(k) for k in range(count))


def _check_recurrent(name, x_proj, states, weight_hh, gates):
    hidden = weight_hh.shape[-1]
    if weight_hh.shape != (gates * hidden, hidden) or x_proj.ndim != 3 or x_proj.shape[2] != gates * hidden:
        raise ValueError(
            f"{name}: projected input of shape {x_proj.shape} does not fit weight_hh of shape {weight_hh.shape}; "
            f"expected (seq, batch, {gates * hidden})"
        )
    for state in states:
        if state.shape != (x_proj.shape[1], hidden):
            raise ValueError(
                f"{name}: initial state of shape {state.shape} does not fit input of shape {x_proj.shape}; "
                f"expected (batch, hidden) = {(x_proj.shape[1], hidden)}"
            )


def rnn_tanh(x_proj, h0, weight_hh):
    """An Elman RNN over a sequence, as one node: h_t = tanh(x_proj[t] + h_{t-1} W_hhᵀ).

    ``x_proj`` (T, B, H) is the input's projection x W_ihᵀ + b_ih + b_hh,
    computed for every step at once; h0 (B, H), weight_hh (H, H). Returns
    the hidden states h_1..h_T, shape (T, B, H).

    Backward through time, with dh the gradient reaching h_t (from the
    output at t and from step t+1):  dz_t = dh (1 - h_t²),  dh_{t-1} = dz_t W_hh;
    dL/dx_proj[t] = dz_t,  dL/dW_hh = Σ_t dz_tᵀ h_{t-1},  dL/dh0 = dh_0.
    """
    h0 = as_tensor(h0, weight_hh)
    XP, W = x_proj.data, weight_hh.data
    _check_recurrent("rnn_tanh", XP, (h0.data,), W, 1)
    steps, batch, hidden = XP.shape
    hs = np.empty((steps + 1, batch, hidden), dtype=np.result_type(XP, W))
    hs[0] = h0.data
    for t in range(steps):
        np.tanh(XP[t] + hs[t] @ W.T, out=hs[t + 1])
    slopes = 1 - hs[1:] * hs[1:]

    def backward_through_time(g):
        dz = np.empty_like(slopes)
        dh = np.zeros((batch, hidden), dtype=dz.dtype)
        for t in reversed(range(steps)):
            np.multiply(g[t] + dh, slopes[t], out=dz[t])
            dh = dz[t] @ W
        dw = dz.reshape(-1, hidden).T @ hs[:-1].reshape(-1, hidden)
        return dz, dh, dw

    return Tensor._result(hs[1:], "rnn_tanh", (x_proj, h0, weight_hh), _shared_backward(backward_through_time, 3))


def _lstm_forward(XP, h0, c0, W):
    """The LSTM recurrence on numpy arrays; returns gates (T, B, 4H) = [i, f, g, o] after their
    nonlinearities, the hidden and cell states stacked (2, T+1, B, H) from h0 and c0 on, and tanh
    of the cell states (T, B, H).

    All four gates come from one tanh per step: tanh for the cell candidate
    g, and σ(a) = (1 + tanh(a/2)) / 2 for i, f and o, with the halving
    folded into the weights and inputs once. (tanh costs numpy half what
    exp does, and the sigmoids need no division.)
    """
    steps, batch, four_hidden = XP.shape
    hidden = four_hidden // 4
    dtype = np.result_type(XP, W)
    gates = np.empty((steps, batch, four_hidden), dtype=dtype)
    states = np.empty((2, steps + 1, batch, hidden), dtype=dtype)
    hs, cs = states
    tanh_cs = np.empty((steps, batch, hidden), dtype=dtype)
    hs[0], cs[0] = h0, c0
    # per column of the gates: i, f, o = 0.5 tanh(0.5 a) + 0.5;  g = 1 tanh(1 a) + 0
    scale = np.repeat(np.array([0.5, 0.5, 1, 0.5], dtype=dtype), hidden)
    shift = np.repeat(np.array([0.5, 0.5, 0, 0.5], dtype=dtype), hidden)
    scaled_w_transposed = W.T * scale
    np.multiply(XP, scale, out=gates)
    for t in range(steps):
        z = gates[t]
        z += hs[t] @ scaled_w_transposed
        np.tanh(z, out=z)
        z *= scale
        z += shift
        i, f, g, o = z[:, :hidden], z[:, hidden : 2 * hidden], z[:, 2 * hidden : 3 * hidden], z[:, 3 * hidden :]
        np.multiply(f, cs[t], out=cs[t + 1])
        cs[t + 1] += i * g
        np.tanh(cs[t + 1], out=tanh_cs[t])
        np.multiply(o, tanh_cs[t], out=hs[t + 1])
    return gates, states, tanh_cs


def lstm_gates(x_proj, h0, c0, weight_hh):
    """The gate activations of an LSTM over a sequence, numpy in and out: (T, B, 4H) = [i, f, g, o]."""
    _check_recurrent("lstm_gates", x_proj, (h0, c0), weight_hh, 4)
    return _lstm_forward(x_proj, h0, c0, weight_hh)[0]


def lstm(x_proj, h0, c0, weight_hh):
    """A long short-term memory layer over a sequence, as one node.

    ``x_proj`` (T, B, 4H) is the input's projection x W_ihᵀ + b_ih + b_hh,
    computed for every step at once; h0, c0 (B, H); weight_hh (4H, H), its
    rows in PyTorch's gate order input, forget, cell, output. At step t,

        [zi, zf, zg, zo] = x_proj[t] + h_{t-1} W_hhᵀ
        i = σ(zi), f = σ(zf), g = tanh(zg), o = σ(zo)
        c_t = f c_{t-1} + i g,   h_t = o tanh(c_t).

    Returns the states stacked, shape (2, T, B, H): [0] the hidden states
    h_1..h_T, [1] the cell states c_1..c_T.

    Backward through time, with dh and dc the gradients reaching h_t and c_t
    (from the outputs at t and from step t+1):

        dc ← dc + dh o (1 - tanh² c_t)
        dzi = dc g i(1-i),  dzf = dc c_{t-1} f(1-f),  dzg = dc i (1-g²),  dzo = dh tanh(c_t) o(1-o)
        dh_{t-1} = dz W_hh,   dc_{t-1} = dc f;

    dL/dx_proj[t] = dz_t,  dL/dW_hh = Σ_t dz_tᵀ h_{t-1},  dL/dh0, dL/dc0 what reaches step 0.
    """
    h0, c0 = as_tensor(h0, weight_hh), as_tensor(c0, weight_hh)
    XP, W = x_proj.data, weight_hh.data
    _check_recurrent("lstm", XP, (h0.data, c0.data), W, 4)
    steps, batch, four_hidden = XP.shape
    hidden = four_hidden // 4
    gates, states, tanh_cs = _lstm_forward(XP, h0.data, c0.data, W)
    hs, cs = states

    def backward_through_time(g):
        i, f, cell, o = (gates[..., k * hidden : (k + 1) * hidden] for k in range(4))
        # dz = [dc, dc, dc, dh] * local: all but dc and dh known before the loop
        slopes = gates * (1 - gates)
        slopes[..., 2 * hidden : 3 * hidden] = 1 - cell * cell
        local = np.concatenate([cell, cs[:-1], i, tanh_cs], axis=-1)
        local *= slopes
        h_to_c = o * (1 - tanh_cs * tanh_cs)
        dz = np.empty_like(local)
        dh = np.zeros((batch, hidden), dtype=dz.dtype)
        dc = np.zeros_like(dh)
        through_h = np.empty_like(dh)
        forget = np.ascontiguousarray(f)  # read once per step: numpy walks contiguous rows faster
        cell_outputs_used = g[1].any()  # usually only the hidden states feed the loss
        for t in reversed(range(steps)):
            dh += g[0, t]
            np.multiply(dh, h_to_c[t], out=through_h)
            dc += through_h
            if cell_outputs_used:
                dc += g[1, t]
            np.concatenate((dc, dc, dc, dh), axis=1, out=dz[t])
            dz[t] *= local[t]
            dh = dz[t] @ W
            dc *= forget[t]
        dw = dz.reshape(-1, four_hidden).T @ hs[:-1].reshape(-1, hidden)
        return dz, dh, dc, dw

    return Tensor._result(
        states[:, 1:], "lstm", (x_proj, h0, c0, weight_hh), _shared_backward(backward_through_time, 4)
    )
