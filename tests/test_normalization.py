"""LayerNorm, BatchNorm1d/2d and Embedding as layers: PyTorch's names, defaults and buffers, running statistics
over several training steps, and weights loaded from a PyTorch state_dict giving PyTorch's outputs."""

import numpy as np
import pytest

import autodiff
import nn
from autodiff import Tensor


# parameters built in these tests are float64 (PyTorch comparisons need the digits), from one seed
pytestmark = pytest.mark.usefixtures("float64_and_seeded")


def assert_close(ours, theirs, tol=1e-10):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = ours.data if isinstance(ours, Tensor) else np.asarray(ours)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


def load_from_torch(ours, theirs):
    ours.load_state_dict({name: t.numpy() for name, t in theirs.state_dict().items()})


# -- LayerNorm ---------------------------------------------------------------------------


def test_layer_norm_has_pytorchs_parameters_and_defaults(torch):
    ours, theirs = nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4)).double()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    for name, tensor in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name], tensor.numpy())
    assert ours.eps == theirs.eps == 1e-5
    assert list(nn.LayerNorm(3, bias=False).state_dict()) == ["weight"]
    assert nn.LayerNorm(3, elementwise_affine=False).parameters() == []


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_loaded_from_pytorch_gives_its_outputs_and_gradients(torch, affine):
    theirs = torch.nn.LayerNorm([4, 5], eps=1e-3, elementwise_affine=affine).double()
    if affine:
        with torch.no_grad():
            theirs.weight.normal_()
            theirs.bias.normal_()
    ours = nn.LayerNorm([4, 5], eps=1e-3, elementwise_affine=affine)
    load_from_torch(ours, theirs)
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)) * 4
    upstream = np.random.default_rng(1).normal(size=x.shape)
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(x_ours), theirs(x_theirs)
    assert_close(out, expected)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert_close(x_ours.grad, x_theirs.grad)
    for name, p in theirs.named_parameters():
        assert_close(dict(ours.named_parameters())[name].grad, p.grad)


# -- BatchNorm ---------------------------------------------------------------------------


def batch_norms(torch, kind, channels, **kwargs):
    ours = getattr(nn, kind)(channels, **kwargs)
    theirs = getattr(torch.nn, kind)(channels, **kwargs).double()
    return ours, theirs


@pytest.mark.parametrize("kind, shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                         ("BatchNorm2d", (2, 3, 4, 5)), ("BatchNorm2d", (3, 1, 1, 2))])
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batch_norm_trains_and_tracks_running_statistics_as_pytorch_does(torch, kind, shape, momentum):
    channels = shape[1]
    ours, theirs = batch_norms(torch, kind, channels, momentum=momentum)
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    load_from_torch(ours, theirs)
    optimizer = nn.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    their_optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(2)
    for step in range(5):
        x = rng.normal(size=shape) * (step + 1) + step
        upstream = rng.normal(size=shape)
        x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, expected = ours(x_ours), theirs(x_theirs)
        assert_close(out, expected)
        optimizer.zero_grad()
        their_optimizer.zero_grad()
        out.backward(upstream)
        expected.backward(torch.tensor(upstream))
        assert_close(x_ours.grad, x_theirs.grad)
        optimizer.step()
        their_optimizer.step()
        for name, tensor in theirs.state_dict().items():
            assert_close(ours.state_dict()[name], tensor.numpy())
    assert ours.num_batches_tracked.item() == 5 and ours.num_batches_tracked.dtype == np.int64
    ours.eval()
    theirs.eval()
    x = rng.normal(size=shape)
    assert_close(ours(Tensor(x)), theirs(torch.tensor(x)))


@pytest.mark.parametrize("kind, shape", [("BatchNorm1d", (5, 4)), ("BatchNorm2d", (2, 4, 3, 3))])
def test_batch_norm_loaded_from_pytorch_gives_its_outputs_in_eval_mode(torch, kind, shape):
    ours, theirs = batch_norms(torch, kind, 4, eps=1e-3)
    rng = np.random.default_rng(3)
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
        for _ in range(3):  # running statistics away from their initial values
            theirs(torch.tensor(rng.normal(size=shape) * 3 + 2))
    theirs.eval()
    load_from_torch(ours, theirs)
    ours.eval()
    x = rng.normal(size=shape)
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(x_ours), theirs(x_theirs)
    assert_close(out, expected)
    out.sum().backward()
    expected.sum().backward()
    assert_close(x_ours.grad, x_theirs.grad)
    assert_close(ours.weight.grad, theirs.weight.grad)


def test_batch_norm_names_buffers_and_defaults_as_pytorch(torch):
    ours, theirs = batch_norms(torch, "BatchNorm2d", 3)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]
    for name, tensor in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name], tensor.numpy())
        assert ours.state_dict()[name].dtype == tensor.numpy().dtype
    assert (ours.eps, ours.momentum) == (theirs.eps, theirs.momentum) == (1e-5, 0.1)


def test_batch_norm_without_running_statistics_or_affine_matches_pytorch(torch):
    ours, theirs = batch_norms(torch, "BatchNorm1d", 3, affine=False, track_running_stats=False)
    assert ours.parameters() == [] and ours.buffers() == [] and ours.state_dict() == {}
    x = np.random.default_rng(4).normal(size=(4, 3))
    for mode in (True, False):  # evaluation, too, normalises by the batch's statistics
        ours.train(mode)
        theirs.train(mode)
        assert_close(ours(Tensor(x)), theirs(torch.tensor(x)))


def test_the_optimiser_never_touches_running_statistics():
    layer = nn.BatchNorm1d(2)
    assert all(p is not layer.running_mean and p is not layer.running_var for p in layer.parameters())
    layer(Tensor(np.random.default_rng(5).normal(size=(4, 2)))).sum().backward()
    running = layer.running_mean.data.copy()
    nn.optim.Adam(layer.parameters(), lr=1.0).step()
    np.testing.assert_array_equal(layer.running_mean.data, running)


def test_batch_norm_evaluation_does_not_move_running_statistics():
    layer = nn.BatchNorm2d(2).eval()
    layer(Tensor(np.random.default_rng(6).normal(size=(2, 2, 3, 3))))
    np.testing.assert_array_equal(layer.running_mean.data, [0, 0])
    np.testing.assert_array_equal(layer.running_var.data, [1, 1])
    assert layer.num_batches_tracked.item() == 0


def test_batch_norm_refuses_inputs_of_the_wrong_rank_or_one_value_per_channel():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4-D input, got shape \(2, 3\)"):
        nn.BatchNorm2d(3)(Tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2-D or 3-D input"):
        nn.BatchNorm1d(3)(Tensor(np.ones((2, 3, 1, 1))))
    with pytest.raises(ValueError, match="more than one value per channel"):
        nn.BatchNorm1d(3)(Tensor(np.ones((1, 3))))


def test_batch_norm_keeps_float32():
    autodiff.set_default_dtype(np.float32)
    layer = nn.BatchNorm1d(2)
    out = layer(Tensor(np.random.default_rng(7).normal(size=(4, 2)).astype(np.float32)))
    assert out.dtype == layer.running_mean.dtype == layer.running_var.dtype == np.float32


def test_a_network_with_batch_norm_round_trips_through_a_state_dict(torch):
    def build(torch_nn):
        return torch_nn.Sequential(torch_nn.Linear(3, 4), torch_nn.BatchNorm1d(4), torch_nn.ReLU(),
                                   torch_nn.Linear(4, 2), torch_nn.LayerNorm(2))

    ours, theirs = build(nn), build(torch.nn).double()
    rng = np.random.default_rng(8)
    with torch.no_grad():
        for _ in range(2):
            theirs(torch.tensor(rng.normal(size=(8, 3))))
    load_from_torch(ours, theirs)
    copy = build(nn)
    copy.load_state_dict(ours.state_dict())
    for model in (ours, copy, theirs):
        model.eval()
    x = rng.normal(size=(5, 3))
    assert_close(ours(Tensor(x)), theirs(torch.tensor(x)))
    assert_close(copy(Tensor(x)), theirs(torch.tensor(x)))


# -- Embedding, GELU, Softmax, LogSoftmax as layers -------------------------------------------


def test_embedding_layer_matches_pytorch_loaded_from_its_state_dict(torch):
    theirs = torch.nn.Embedding(7, 3, padding_idx=2).double()
    ours = nn.Embedding(7, 3, padding_idx=2)
    assert list(ours.state_dict()) == ["weight"] and ours.weight.shape == (7, 3)
    assert not ours.weight.data[2].any()
    load_from_torch(ours, theirs)
    index = np.array([[0, 2, 6], [2, 2, 1]])
    out, expected = ours(index), theirs(torch.tensor(index))
    assert_close(out, expected)
    upstream = np.random.default_rng(9).normal(size=out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert_close(ours.weight.grad, theirs.weight.grad)


def test_embedding_starts_standard_normal():
    weight = nn.Embedding(1000, 50).weight.data
    assert abs(weight.mean()) < 0.01 and weight.std() == pytest.approx(1.0, rel=0.02)
    with pytest.raises(ValueError, match="padding_idx 5 is out of range for 5 embeddings"):
        nn.Embedding(5, 2, padding_idx=5)
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4


def test_makemore_style_character_mlp_matches_pytorch(torch):
    """C[X] with an embedding, flattened, through tanh and a linear head, cross-entropy; one SGD step."""
    vocab, dim, context, hidden = 27, 4, 3, 20

    def build(torch_nn):
        return torch_nn.Sequential(torch_nn.Embedding(vocab, dim), torch_nn.Flatten(),
                                   torch_nn.Linear(context * dim, hidden), torch_nn.BatchNorm1d(hidden),
                                   torch_nn.Tanh(), torch_nn.Linear(hidden, vocab))

    ours, theirs = build(nn), build(torch.nn).double()
    load_from_torch(ours, theirs)
    rng = np.random.default_rng(10)
    optimizer = nn.optim.SGD(ours.parameters(), lr=0.1)
    their_optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for _ in range(3):
        X, Y = rng.integers(0, vocab, size=(32, context)), rng.integers(0, vocab, size=32)
        loss = nn.functional.cross_entropy(ours(X), Y)
        expected = torch.nn.functional.cross_entropy(theirs(torch.tensor(X)), torch.tensor(Y))
        assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
        optimizer.zero_grad()
        their_optimizer.zero_grad()
        loss.backward()
        expected.backward()
        optimizer.step()
        their_optimizer.step()
    for name, tensor in theirs.state_dict().items():
        assert_close(ours.state_dict()[name], tensor.numpy())


@pytest.mark.parametrize("layer", ["GELU", "Softmax", "LogSoftmax"])
def test_activation_layers_match_pytorch(torch, layer):
    args = () if layer == "GELU" else (1,)
    x = np.random.default_rng(11).normal(size=(3, 4, 2)) * 3
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = getattr(nn, layer)(*args)(x_ours), getattr(torch.nn, layer)(*args)(x_theirs)
    assert_close(out, expected)
    upstream = np.random.default_rng(12).normal(size=x.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert_close(x_ours.grad, x_theirs.grad)
    assert getattr(nn, layer)(*args).parameters() == []
