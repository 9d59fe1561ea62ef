"""conv2d works on a few images at a time: every chunking gives PyTorch's output and gradients.

tests/test_conv.py checks conv2d on batches small enough to be one chunk;
here ``CONV_CHUNK_BYTES`` is lowered so that the same batches split into
chunks of one image, of several images, and chunks that do not divide the
batch evenly.
"""

import numpy as np
import pytest

import nn
import nn.functional as F
from nn import conv as conv_module
from autodiff import Tensor, gradcheck


# parameters built in these tests are float64 (PyTorch comparisons need the digits), from one seed
pytestmark = pytest.mark.usefixtures("float64_and_seeded")


def chunk_bytes_for(images, out_h, out_w, window_size, itemsize=8):
    """The chunk budget that puts exactly ``images`` images in a chunk."""
    return images * out_h * out_w * window_size * itemsize


@pytest.mark.parametrize("images", [1, 2, 3, 7])
@pytest.mark.parametrize("stride, padding, bias", [(1, 0, True), (2, 1, False), ((1, 2), (2, 0), True)])
def test_conv2d_matches_pytorch_whatever_the_chunks(torch, monkeypatch, images, stride, padding, bias):
    batch, channels, out_channels, kernel, size = 7, 3, 4, (3, 2), (9, 8)
    ours = nn.Conv2d(channels, out_channels, kernel, stride=stride, padding=padding, bias=bias)
    theirs = torch.nn.Conv2d(channels, out_channels, kernel, stride=stride, padding=padding, bias=bias).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(images)
    x = rng.normal(size=(batch, channels, *size))
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    expected = theirs(x_theirs)
    out_h, out_w = expected.shape[2:]
    monkeypatch.setattr(conv_module, "CONV_CHUNK_BYTES", chunk_bytes_for(images, out_h, out_w, channels * kernel[0] * kernel[1]))

    out = ours(x_ours)
    upstream = rng.normal(size=out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x_ours.grad, x_theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    if bias:
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv2d_in_chunks_of_one_image_passes_gradcheck(monkeypatch):
    monkeypatch.setattr(conv_module, "CONV_CHUNK_BYTES", 1)  # below one image's windows: one image per chunk
    rng = np.random.default_rng(3)
    x = Tensor(rng.normal(size=(3, 2, 5, 4)), requires_grad=True)
    weight = Tensor(rng.normal(size=(3, 2, 2, 2)), requires_grad=True)
    bias = Tensor(rng.normal(size=3), requires_grad=True)
    upstream = rng.normal(size=(3, 3, 6, 3))  # height 5 + 2 - 2 + 1, width 4 - 2 + 1
    assert gradcheck(lambda x, w, b: (F.conv2d(x, w, b, 1, (1, 0)) * upstream).sum(), (x, weight, bias))


def test_a_float32_batch_in_chunks_stays_float32(monkeypatch):
    monkeypatch.setattr(conv_module, "CONV_CHUNK_BYTES", 1)
    conv = nn.Conv2d(2, 3, 3)
    conv.weight.data = conv.weight.data.astype(np.float32)
    conv.bias.data = conv.bias.data.astype(np.float32)
    x = Tensor(np.random.default_rng(0).normal(size=(4, 2, 6, 6)).astype(np.float32), requires_grad=True)
    out = conv(x)
    out.sum().backward()
    assert out.dtype == x.grad.dtype == conv.weight.grad.dtype == np.float32
