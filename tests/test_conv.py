"""Conv2d and MaxPool2d: against PyTorch and finite differences, names, summary, and a CNN that learns."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff
import nn
from autodiff import Tensor, gradcheck
from nn.functional import conv2d, max_pool2d


# parameters built in these tests are float64 (PyTorch comparisons need the digits), from one seed
pytestmark = pytest.mark.usefixtures("float64_and_seeded")


def assert_close(ours, theirs):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-10)


sizes = st.integers(1, 3)
pairs = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))


def as_pair(v):
    return v if isinstance(v, tuple) else (v, v)


def laid_out(images, channels_last):
    """The NCHW ``images`` as they are, or the same values lying channels-last in memory (an NCHW view)."""
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) if channels_last else images


def leaf(images, channels_last):
    """A leaf Tensor requiring gradients of the NCHW ``images``, laid out in memory as ``laid_out`` lays them."""
    return autodiff.from_numpy(laid_out(images, channels_last)).requires_grad_()  # Tensor() would copy it in order


# -- Conv2d -------------------------------------------------------------------------


def test_conv2d_matches_pytorch_in_output_and_every_gradient(torch):
    @settings(max_examples=40)
    @given(
        batch=sizes, channels=sizes, out_channels=sizes, kernel=pairs, stride=pairs,
        padding=st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2))),
        extra=st.tuples(st.integers(0, 4), st.integers(0, 4)), bias=st.booleans(), seed=st.integers(0, 2**31 - 1),
        layouts=st.tuples(st.booleans(), st.booleans()),
    )
    def check(batch, channels, out_channels, kernel, stride, padding, extra, bias, seed, layouts):
        # the image is at least as large as the kernel, so there is always an output
        height, width = as_pair(kernel)[0] + extra[0], as_pair(kernel)[1] + extra[1]
        ours = nn.Conv2d(channels, out_channels, kernel, stride=stride, padding=padding, bias=bias)
        theirs = torch.nn.Conv2d(channels, out_channels, kernel, stride=stride, padding=padding, bias=bias).double()
        theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(batch, channels, height, width))
        x_ours, x_theirs = leaf(x, layouts[0]), torch.tensor(x, requires_grad=True)

        out, expected = ours(x_ours), theirs(x_theirs)
        assert out.shape == tuple(expected.shape)
        assert out.is_contiguous(), "PyTorch's result is C-contiguous: view() of it works"
        assert_close(out.data, expected)
        upstream = rng.normal(size=out.shape)
        out.backward(laid_out(upstream, layouts[1]))
        expected.backward(torch.tensor(upstream))
        assert_close(x_ours.grad, x_theirs.grad)
        assert_close(ours.weight.grad, theirs.weight.grad)
        if bias:
            assert_close(ours.bias.grad, theirs.bias.grad)

    check()


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), ((2, 1), (0, 2))])
def test_conv2d_passes_gradcheck(stride, padding):
    rng = np.random.default_rng(1)
    x = Tensor(rng.normal(size=(2, 3, 5, 6)), requires_grad=True)
    w = Tensor(rng.normal(size=(4, 3, 3, 2)), requires_grad=True)
    b = Tensor(rng.normal(size=(4,)), requires_grad=True)
    weights = Tensor(rng.normal(size=conv2d(x, w, b, stride, padding).shape))
    assert gradcheck(lambda x, w, b: (conv2d(x, w, b, stride, padding) * weights).sum(), (x, w, b))


def test_conv2d_default_initialisation_bound_uses_the_whole_receptive_field():
    layer = nn.Conv2d(16, 64, 5)
    bound = 1 / math.sqrt(16 * 5 * 5)
    assert layer.weight.shape == (64, 16, 5, 5) and layer.bias.shape == (64,)
    assert layer.weight.data.max() <= bound and layer.weight.data.max() > 0.99 * bound
    assert layer.weight.data.var() == pytest.approx(bound**2 / 3, rel=0.05)
    assert np.abs(layer.bias.data).max() <= bound


def test_conv2d_keeps_float32():
    autodiff.set_default_dtype(np.float32)
    layer = nn.Conv2d(1, 2, 3)
    out = layer(np.ones((1, 1, 4, 4)))
    assert out.dtype == np.float32


def test_conv2d_names_both_shapes_when_the_channels_do_not_match():
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 8\).*\(4, 1, 3, 3\)"):
        nn.Conv2d(1, 4, 3)(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"\(8, 8\)"):
        nn.Conv2d(1, 4, 3)(np.zeros((8, 8)))


def test_a_kernel_larger_than_the_padded_input_is_refused():
    with pytest.raises(ValueError, match=r"kernel of \(5, 5\).*\(1, 1, 3, 3\)"):
        nn.Conv2d(1, 1, 5)(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        nn.Conv2d(1, 1, (1, 2, 3))


# -- MaxPool2d ----------------------------------------------------------------------------


def test_max_pool2d_matches_pytorch_in_output_and_gradient(torch):
    @settings(max_examples=40)
    @given(batch=sizes, channels=sizes, kernel=pairs, stride=st.one_of(st.none(), pairs),
           extra=st.tuples(st.integers(0, 5), st.integers(0, 5)), seed=st.integers(0, 2**31 - 1),
           layouts=st.tuples(st.booleans(), st.booleans()))
    def check(batch, channels, kernel, stride, extra, seed, layouts):
        height, width = as_pair(kernel)[0] + extra[0], as_pair(kernel)[1] + extra[1]
        x = np.random.default_rng(seed).normal(size=(batch, channels, height, width))  # no ties
        x_ours, x_theirs = leaf(x, layouts[0]), torch.tensor(x, requires_grad=True)
        out = nn.MaxPool2d(kernel, stride)(x_ours)
        expected = torch.nn.MaxPool2d(kernel, stride)(x_theirs)
        assert out.shape == tuple(expected.shape)
        assert out.is_contiguous(), "PyTorch's result is C-contiguous: view() of it works"
        assert_close(out.data, expected)
        upstream = np.random.default_rng(seed + 1).normal(size=out.shape)
        out.backward(laid_out(upstream, layouts[1]))
        expected.backward(torch.tensor(upstream))
        assert_close(x_ours.grad, x_theirs.grad)

    check()


@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 1), (2, 3), ((2, 3), (1, 2))])
def test_max_pool2d_passes_gradcheck(kernel, stride):
    rng = np.random.default_rng(2)
    x = Tensor(rng.permutation(2 * 2 * 6 * 7).reshape(2, 2, 6, 7) / 10.0, requires_grad=True)  # distinct values
    weights = Tensor(rng.normal(size=max_pool2d(x, kernel, stride).shape))
    assert gradcheck(lambda x: (max_pool2d(x, kernel, stride) * weights).sum(), (x,), eps=1e-4)


def test_ties_send_the_gradient_to_the_first_maximum_as_pytorch_does(torch):
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0], [2.0, 3.0, 1.0]]]])
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    nn.MaxPool2d(2, 1)(x_ours).sum().backward()
    torch.nn.MaxPool2d(2, 1)(x_theirs).sum().backward()
    np.testing.assert_array_equal(x_ours.grad, x_theirs.grad.numpy())
    assert x_ours.grad.sum() == 4  # one element per window


def test_a_nan_in_a_window_is_its_maximum_as_in_pytorch(torch):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 2, 3] = np.nan
    np.testing.assert_array_equal(nn.MaxPool2d(2)(Tensor(x)).data, torch.nn.MaxPool2d(2)(torch.tensor(x)).numpy())


def test_max_pool2d_needs_images():
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        nn.MaxPool2d(2)(Tensor(np.ones((3, 4))))
    with pytest.raises(ValueError, match=r"kernel of \(3, 3\).*\(1, 1, 2, 2\)"):
        nn.MaxPool2d(3)(Tensor(np.ones((1, 1, 2, 2))))


# -- a small CNN ----------------------------------------------------------------------------


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 2 * 2, 2),
    )


def test_cnn_names_match_pytorch_state_dict_keys_and_outputs_agree(torch):
    ours = small_cnn()
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 2 * 2, 2),
    ).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(3).normal(size=(5, 1, 8, 8))
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(x_ours), theirs(x_theirs)
    assert_close(out.data, expected)
    upstream = np.random.default_rng(4).normal(size=out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert_close(x_ours.grad, x_theirs.grad)
    for name, p in theirs.named_parameters():
        assert_close(dict(ours.named_parameters())[name].grad, p.grad)


def test_summary_shows_each_layers_output_shape_and_parameter_counts():
    text = small_cnn().summary(np.zeros((3, 1, 8, 8)))
    rows = {line.split()[0]: line.split() for line in text.splitlines()[2:9]}
    assert rows["0"][1:] == ["Conv2d", "(3,", "4,", "8,", "8)", "36", "4"]
    assert rows["1"][1:] == ["ReLU", "(3,", "4,", "8,", "8)", "0", "0"]
    assert rows["2"][1:] == ["MaxPool2d", "(3,", "4,", "4,", "4)", "0", "0"]
    assert rows["3"][1:] == ["Conv2d", "(3,", "8,", "2,", "2)", "288", "8"]
    assert rows["5"][1:] == ["Flatten", "(3,", "32)", "0", "0"]
    assert rows["6"][1:] == ["Linear", "(3,", "2)", "64", "2"]
    assert text.splitlines()[-1] == "402 parameters (388 weights, 14 biases)"


def bars(n, rng):
    """8x8 images with one horizontal (label 0) or vertical (label 1) bar, plus noise."""
    images = rng.normal(0, 0.2, size=(n, 1, 8, 8))
    labels = rng.integers(0, 2, size=n)
    where = rng.integers(0, 8, size=n)
    for k in range(n):
        if labels[k]:
            images[k, 0, :, where[k]] += 1
        else:
            images[k, 0, where[k], :] += 1
    return images, labels


def test_a_small_cnn_learns_to_tell_horizontal_from_vertical_bars():
    rng = np.random.default_rng(5)
    train_x, train_y = bars(256, rng)
    test_x, test_y = bars(200, rng)
    model = small_cnn()
    assert nn.accuracy(model(test_x), test_y) < 0.8
    optimizer = nn.optim.Adam(model.parameters(), lr=0.02)
    for step in range(60):
        batch = slice(64 * (step % 4), 64 * (step % 4 + 1))
        loss = nn.cross_entropy(model(train_x[batch]), train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert nn.accuracy(model(test_x), test_y) > 0.95
