"""Convolution and pooling on NCHW images (batch, channels, height, width): the layers and their primitives.

Images are (N, C, H, W), as in PyTorch, and both operations hand back
C-contiguous NCHW arrays, as PyTorch's do, so that ``view()`` of a result
works (the MNIST example's ``x.view(-1, 320)``). Inside, a convolution
reads its input channels-last, (N, H, W, C): every window is then runs of
C contiguous numbers, where the NCHW order would make them kw (2 or 3)
long. Its matrix products, one per image, come out one output channel per
row: in NCHW order.

Both are primitives whose forward pass and backward are numpy kernels
(``once_differentiable``): they have first derivatives, and
``create_graph`` or forward mode through them refuses, naming them.
"""

import numpy as np

from autodiff import Primitive, Tensor
from autodiff.tensor import as_tensor

from .layers import initialise, parameter
from .module import Module


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
    """The channels-last ``x`` (N, H, W, C) with ``padding`` rows and columns of zeros on each side, laid out
    channels-last in memory (a copy of an NCHW array seen channels-last)."""
    ph, pw = padding
    if ph == pw == 0:
        return np.ascontiguousarray(x)
    n, h, w, c = x.shape
    padded = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    padded[:, ph : ph + h, pw : pw + w] = x
    return padded


# conv2d works on a few images at a time: a chunk's window matrix (its im2col) stays in the
# processor's cache, where the whole batch's (42 MB for the second layer of PyTorch's MNIST example)
# would go through memory: written, read by the product, kept and read again by backward, and, above
# glibc's largest heap block, faulted in afresh at every step. A chunk holds about this many bytes.
CONV_CHUNK_BYTES = 2 * 1024 * 1024


class _ConvGeometry:
    """Where a convolution's windows lie: the padded channels-last input, its windows and its chunks of images."""

    def __init__(self, X, W, stride, padding):
        out_channels, channels, kh, kw = W.shape
        self.kernel = kh, kw
        self.stride, self.padding = stride, padding
        self.padded = _pad(X.transpose(0, 2, 3, 1), padding)
        self.out_size = _output_size(self.padded.shape[1:3], self.kernel, stride, "conv2d", X.shape)
        self.windows = _windows(self.padded, self.kernel, stride, self.out_size)
        self.window_size = kh * kw * channels
        self.positions = self.out_size[0] * self.out_size[1]
        self.dtype = np.result_type(X, W)
        images = max(1, CONV_CHUNK_BYTES // (self.positions * self.window_size * self.dtype.itemsize))
        self.chunks = [slice(start, start + images) for start in range(0, X.shape[0], images)]

    def window_rows(self, chunk):
        """The windows of a chunk's images, one flattened window per row (a copy): (images, OH·OW, kh·kw·C)."""
        return self.windows[chunk].reshape(-1, self.positions, self.window_size)


def _conv2d_forward(xp, x, weight, bias=None, *, stride, padding):
    geometry = _ConvGeometry(x, weight, stride, padding)
    out_channels = weight.shape[0]
    kernels = weight.transpose(0, 2, 3, 1).reshape(out_channels, geometry.window_size)
    out = np.empty((x.shape[0], out_channels, *geometry.out_size), dtype=geometry.dtype)
    for chunk in geometry.chunks:
        # each image's kernels times its windows: one output channel per row, as NCHW lays them out
        channels_out = out[chunk].reshape(-1, out_channels, geometry.positions)
        np.matmul(kernels, geometry.window_rows(chunk).transpose(0, 2, 1), out=channels_out)
        if bias is not None:
            channels_out += bias[:, None]
    return out, geometry


def _conv2d_backward(xp, g, out, x, weight, bias=None, *, stride, padding, geometry, needs):
    """The three gradients, with G_n = dL/d(out) of image n as an (O, OH·OW) matrix, one row per output channel:

        dL/dweight = Σ_n G_n · windows_n,   dL/dbias = Σ_{n,p,q} g,
        dL/dxpad[n, p·s_h + i, q·s_w + j, :] += G_n[:, (p, q)]ᵀ · weight[:, :, i, j]  for each offset (i, j).
    """
    out_channels, channels, kh, kw = weight.shape
    g = g.reshape(g.shape[0], out_channels, geometry.positions)  # a copy only where g is not in NCHW order
    grad = np.zeros(geometry.padded.shape, dtype=geometry.dtype) if needs[0] else None
    total = np.zeros((out_channels, geometry.window_size), dtype=geometry.dtype) if needs[1] else None
    # one (O, C) matrix per kernel offset: the input gradient is kh·kw products of Gᵀ with them, each
    # added where its offset reads; one product with all kernels at once would write a window-sized
    # matrix (rows, kh·kw·C) to fold back, which takes longer than the products themselves
    offset_kernels = np.ascontiguousarray(weight.transpose(2, 3, 0, 1))
    for chunk in geometry.chunks:
        G = g[chunk]
        if needs[0]:
            _fold_into(
                grad[chunk],
                lambda i, j: (G.transpose(0, 2, 1) @ offset_kernels[i, j]).reshape(-1, *geometry.out_size, channels),
                geometry.kernel, stride, geometry.out_size,
            )
        if needs[1]:
            total += (G @ geometry.window_rows(chunk)).sum(axis=0)
    x_grad = weight_grad = bias_grad = None
    if needs[0]:
        ph, pw = padding
        # in NCHW order, as the results: the layers before read it in that order (a pooling's backward)
        x_grad = np.ascontiguousarray(grad[:, ph : ph + x.shape[2], pw : pw + x.shape[3]].transpose(0, 3, 1, 2))
    if needs[1]:
        weight_grad = total.reshape(out_channels, kh, kw, channels).transpose(0, 3, 1, 2)
    if bias is not None and needs[2]:
        bias_grad = g.sum(axis=(0, 2))
    return (x_grad, weight_grad, bias_grad)[:3 if bias is not None else 2]


CONV2D = Primitive(
    "conv2d", _conv2d_forward, vjp_all=_conv2d_backward, saves=("geometry",), once_differentiable=True,
    doc="2-D cross-correlation of NCHW images (what deep learning calls convolution); see ``conv2d``.",
)


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation (what deep learning calls convolution), NCHW.

    For x (N, C, H, W), weight (O, C, kh, kw) and bias (O,):

        out[n, o, p, q] = bias[o] + Σ_{c,i,j} weight[o, c, i, j] · xpad[n, c, p·s_h + i, q·s_w + j],

    of shape (N, O, OH, OW) with OH = (H + 2·pad_h - kh) // s_h + 1 (OW alike).
    Computed as matrix products (im2col), a few images at a time: the
    kernels, flattened to rows of kh·kw·C numbers, times each image's
    windows flattened in the same order, one window per column. With G_n =
    dL/d(out) of image n as an (O, OH·OW) matrix to match, one row per
    output channel:

        dL/dweight = Σ_n G_n · windows_n,   dL/dbias = Σ_{n,p,q} g,
        dL/dxpad[n, p·s_h + i, q·s_w + j, :] += G_n[:, (p, q)]ᵀ · weight[:, :, i, j]  for each offset (i, j).

    The result is C-contiguous, as PyTorch's: ``view()`` of it works.

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
    params = {"stride": as_pair(stride, "stride"), "padding": as_pair(padding, "padding")}
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Tensor.apply_primitive(CONV2D, inputs, params)


def _max_pool2d_forward(xp, x, *, kernel, stride):
    out_size = _output_size(x.shape[2:], kernel, stride, "max_pool2d", x.shape)
    windows = _windows(x.transpose(0, 2, 3, 1), kernel, stride, out_size)
    # each kernel offset's element of every window, in NCHW order: gathered once, so that the passes below
    # each run as one loop over contiguous numbers, not one per row of OW (a few) numbers
    offsets = [np.ascontiguousarray(windows[:, :, :, i, j].transpose(0, 3, 1, 2))
               for i in range(kernel[0]) for j in range(kernel[1])]
    out = offsets[0].copy()  # C-contiguous, as PyTorch's result: view() of it works
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
    return out, choice


def _max_pool2d_backward(xp, g, out, x, *, kernel, stride, choice, needs):
    """dL/dx: g at the element each window's maximum came from, 0 elsewhere; summed where windows overlap."""
    x_grad = np.zeros(x.shape, dtype=g.dtype)
    out_size = choice.shape[2:]

    def came_from(i, j):
        # g where the maximum came from offset (i, j), as in PyTorch; elsewhere 0, even where g is inf or NaN
        return np.where(choice == i * kernel[1] + j, g, 0)

    if stride[0] < kernel[0] or stride[1] < kernel[1]:
        # seen channels-last, as _fold_into walks them: the sums land in x_grad
        _fold_into(x_grad.transpose(0, 2, 3, 1), lambda i, j: came_from(i, j).transpose(0, 2, 3, 1),
                   kernel, stride, out_size)
    else:
        # windows that do not overlap reach each input element at most once: write it in place
        (sh, sw), (out_h, out_w) = stride, out_size
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                x_grad[:, :, i : i + sh * out_h : sh, j : j + sw * out_w : sw] = came_from(i, j)
    return (x_grad,)


MAX_POOL2D = Primitive(
    "max_pool2d", _max_pool2d_forward, vjp_all=_max_pool2d_backward, saves=("choice",), once_differentiable=True,
    doc="the largest element of each window of NCHW images; see ``max_pool2d``.",
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
    kernel = as_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else as_pair(stride, "stride")
    if x.data.ndim != 4:
        raise ValueError(f"max_pool2d: input must have shape (batch, channels, height, width), got shape {x.shape}")
    return Tensor.apply_primitive(MAX_POOL2D, (x,), {"kernel": kernel, "stride": stride})


class Conv2d(Module):
    """2-D convolution: ``weight`` (out_channels, in_channels, kh, kw), ``bias`` (out_channels,).

    Each output channel slides its kernel over the (zero-padded) input and
    sums in_channels · kh · kw products per position; see ``conv2d``.
    ``kernel_size``, ``stride`` and ``padding`` are ints or (height, width)
    pairs. ``init`` is None (PyTorch's default, U(±1/√fan_in) with fan_in =
    in_channels · kh · kw) or a name from ``nn.layers.WEIGHT_INITS``.

    >>> import autodiff
    >>> from autodiff import nn
    >>> conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)     # padding 1 keeps 28 × 28
    >>> conv(autodiff.zeros(2, 3, 28, 28)).shape, conv.weight.shape
    ((2, 8, 28, 28), (8, 3, 3, 3))
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, init=None):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = as_pair(stride, "stride")
        self.padding = as_pair(padding, "padding")
        self.weight = parameter(out_channels, in_channels, *self.kernel_size)
        self.bias = parameter(out_channels) if bias else None
        initialise(self.weight, self.bias, init)

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def __repr__(self):
        return (
            f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding})"
        )


class MaxPool2d(Module):
    """The maximum of each kernel_size window, moving by ``stride`` (by default, kernel_size: no overlap).

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.MaxPool2d(2)(autodiff.arange(16.0).reshape(1, 1, 4, 4))
    Tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride")

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride)

    def __repr__(self):
        return f"MaxPool2d(kernel_size={self.kernel_size}, stride={self.stride})"
