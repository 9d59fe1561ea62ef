"""Convolution and pooling layers on NCHW images (batch, channels, height, width)."""

from . import functional as F
from .layers import initialise, parameter
from .module import Module


class Conv2d(Module):
    """2-D convolution: ``weight`` (out_channels, in_channels, kh, kw), ``bias`` (out_channels,).

    Each output channel slides its kernel over the (zero-padded) input and
    sums in_channels · kh · kw products per position; see
    ``nn.functional.conv2d``. ``kernel_size``, ``stride`` and ``padding``
    are ints or (height, width) pairs. ``init`` is None (PyTorch's default,
    U(±1/√fan_in) with fan_in = in_channels · kh · kw) or a name from
    ``nn.layers.WEIGHT_INITS``.

    >>> import autodiff
    >>> from autodiff import nn
    >>> conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)     # padding 1 keeps 28 × 28
    >>> conv(autodiff.zeros(2, 3, 28, 28)).shape, conv.weight.shape
    ((2, 8, 28, 28), (8, 3, 3, 3))
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, init=None):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = F.as_pair(kernel_size, "kernel_size")
        self.stride = F.as_pair(stride, "stride")
        self.padding = F.as_pair(padding, "padding")
        self.weight = parameter(out_channels, in_channels, *self.kernel_size)
        self.bias = parameter(out_channels) if bias else None
        initialise(self.weight, self.bias, init)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

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
        self.kernel_size = F.as_pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else F.as_pair(stride, "stride")

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride)

    def __repr__(self):
        return f"MaxPool2d(kernel_size={self.kernel_size}, stride={self.stride})"
