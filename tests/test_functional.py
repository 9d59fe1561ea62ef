"""nn.functional under PyTorch's names: activations, erf and GELU, softmax, embedding, the normalisations
and the losses' reductions, against PyTorch (float64 to 1e-10, float32 to 1e-5) and finite differences."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
from autodiff import Tensor, Value, gradcheck
from nn import functional as F

seeds = st.integers(0, 2**31 - 1)
shapes = st.lists(st.integers(1, 4), min_size=0, max_size=4).map(tuple)  # 0-d and size-1 axes included
DTYPES = [np.float64, np.float32]
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


# parameters built in these tests are float64 (PyTorch comparisons need the digits), from one seed
pytestmark = pytest.mark.usefixtures("float64_and_seeded")


def assert_close(ours, theirs, dtype=np.float64):
    """``ours`` has ``dtype`` and is within its tolerance of ``theirs`` (which may be computed more precisely)."""
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = ours.data if isinstance(ours, Tensor) else np.asarray(ours)
    assert ours.dtype == dtype and ours.shape == theirs.shape
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


def compare(torch, ours, theirs, arrays, dtype, kwargs_ours=(), kwargs_theirs=None, seed=0):
    """ours(*tensors) and theirs(*torch tensors): values and the gradient of every input, for one upstream gradient.

    In float32, PyTorch computes from the same float32 numbers in float64: our float32 results must be
    within 1e-5 of the exact ones (PyTorch's own float32 results can be further off where the problem is
    ill-conditioned, as layer_norm of two nearly equal numbers).
    """
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    out = ours(*xs, **dict(kwargs_ours))
    expected = theirs(*ts, **dict(kwargs_ours if kwargs_theirs is None else kwargs_theirs))
    assert_close(out, expected, dtype)
    upstream = np.random.default_rng(seed).normal(size=out.shape).astype(dtype)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream.astype(np.float64)))
    for x, t in zip(xs, ts):
        assert_close(x.grad, t.grad, dtype)


# -- activations -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "gelu", "gelu_tanh"])
def test_activations_match_pytorch(torch, name, dtype):
    ours = getattr(F, name.removesuffix("_tanh"))
    theirs = getattr(torch.nn.functional, name.removesuffix("_tanh"))
    kwargs = {"approximate": "tanh"} if name.endswith("_tanh") else {}

    @settings(max_examples=15)
    @given(shapes, seeds)
    def check(shape, seed):
        x = np.random.default_rng(seed).normal(size=shape) * 3
        compare(torch, ours, theirs, [x], dtype, kwargs, seed=seed)

    check()


def test_activations_take_arrays_and_keep_the_graph_off_for_constants():
    out = F.relu(np.array([-1.0, 2.0]))
    assert isinstance(out, Tensor) and not out.requires_grad
    np.testing.assert_array_equal(out.data, [0.0, 2.0])


def test_erf_matches_pytorch_to_a_few_units_in_the_last_place(torch):
    x = np.concatenate([
        np.linspace(-9, 9, 200_001), np.geomspace(1e-300, 9, 2000), -np.geomspace(1e-300, 9, 2000),
        [0.0, -0.0, 1.0, -1.0, 6.0, -6.0, 5.9999999999, np.inf, -np.inf, 1e308],
    ])
    ours = F.erf(Tensor(x)).data
    expected = torch.erf(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours, expected, rtol=8 * np.finfo(np.float64).eps, atol=0)
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(expected))  # erf(-0.0) is -0.0
    assert np.isnan(F.erf(Tensor([np.nan])).data).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_erf_gradient_matches_pytorch(torch, dtype):
    x = np.random.default_rng(1).normal(size=(4, 5)) * 2
    compare(torch, F.erf, torch.erf, [x], dtype)
    assert F.erf(Tensor(np.ones(3, dtype=np.float32))).dtype == np.float32


def test_erf_refuses_integers():
    with pytest.raises(TypeError, match="floating-point.*int64"):
        F.erf(Tensor(np.arange(3)))


def test_gelu_matches_pytorch_to_1e_12_over_a_wide_range(torch):
    x = np.linspace(-12, 12, 100_001)
    xt = torch.tensor(x, requires_grad=True)
    ours = Tensor(x, requires_grad=True)
    out, expected = nn.GELU()(ours), torch.nn.GELU()(xt)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(ours.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_gelu_and_erf_pass_gradcheck():
    x = Tensor(np.random.default_rng(2).normal(size=(3, 4)) * 2, requires_grad=True)
    assert gradcheck(lambda x: (F.gelu(x) * F.erf(x)).sum(), (x,))
    assert gradcheck(lambda x: F.gelu(x, approximate="tanh").sum(), (x,))


def test_gelu_refuses_an_unknown_approximation():
    with pytest.raises(ValueError, match="'none' or 'tanh'.*'fast'"):
        F.gelu(Tensor([1.0]), approximate="fast")
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        nn.GELU("fast")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax_along_any_dim_match_pytorch(torch, name, dtype):
    @settings(max_examples=15)
    @given(st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), st.data(), seeds)
    def check(shape, data, seed):
        dim = data.draw(st.integers(-len(shape), len(shape) - 1))
        x = np.random.default_rng(seed).normal(size=shape) * 5
        compare(torch, getattr(F, name), getattr(torch.nn.functional, name), [x], dtype, {"dim": dim}, seed=seed)
        layer = {"softmax": nn.Softmax, "log_softmax": nn.LogSoftmax}[name](dim)
        np.testing.assert_array_equal(layer(Tensor(x)).data, getattr(F, name)(Tensor(x), dim).data)

    check()


def test_softmax_layers_need_a_dim():
    with pytest.raises(TypeError):
        nn.Softmax()
    assert repr(nn.LogSoftmax(1)) == "LogSoftmax(dim=1)"


# -- embedding ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_matches_pytorch_with_repeated_indices(torch, dtype):
    @settings(max_examples=15)
    @given(shapes, st.integers(1, 5), st.integers(1, 4), st.sampled_from([None, 0, -1]), seeds)
    def check(index_shape, rows, dim, padding_idx, seed):
        rng = np.random.default_rng(seed)
        weight = rng.normal(size=(rows, dim)).astype(dtype)
        index = rng.integers(0, rows, size=index_shape)
        padding = None if padding_idx is None else padding_idx % rows
        w, wt = Tensor(weight, requires_grad=True), torch.tensor(weight, requires_grad=True)
        out = F.embedding(index, w, padding)
        expected = torch.nn.functional.embedding(torch.tensor(index), wt, padding)
        assert_close(out, expected, dtype)
        upstream = rng.normal(size=out.shape).astype(dtype)
        out.backward(upstream)
        expected.backward(torch.tensor(upstream))
        assert_close(w.grad, wt.grad, dtype)

    check()


def test_embedding_takes_index_tensors_and_lists_and_refuses_bad_indices():
    weight = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    np.testing.assert_array_equal(F.embedding(Tensor(np.array([2, 0])), weight).data, [[4, 5], [0, 1]])
    np.testing.assert_array_equal(F.embedding([[1]], weight).data, [[[2, 3]]])
    with pytest.raises(IndexError, match="index 3 is out of range for 3 embeddings"):
        F.embedding([0, 3], weight)
    with pytest.raises(IndexError, match="index -1"):
        F.embedding([-1], weight)
    with pytest.raises(TypeError, match="integers.*float64"):
        F.embedding(np.array([0.0]), weight)


def test_embedding_gradcheck():
    weight = Tensor(np.random.default_rng(3).normal(size=(4, 3)), requires_grad=True)
    assert gradcheck(lambda w: (F.embedding([[0, 3], [3, 3]], w) ** 2).sum(), (weight,))


# -- layer_norm and batch_norm -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_matches_pytorch(torch, dtype):
    @settings(max_examples=20)
    @given(st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), st.data(), st.booleans(), seeds)
    def check(shape, data, affine, seed):
        k = data.draw(st.integers(1, len(shape)))
        normalized = shape[len(shape) - k:]
        rng = np.random.default_rng(seed)
        arrays = [rng.normal(size=shape) * 3 + 1]
        if affine:
            arrays += [rng.normal(size=normalized), rng.normal(size=normalized)]

        def ours(x, *wb):
            return F.layer_norm(x, normalized, *wb, eps=1e-5)

        def theirs(x, *wb):
            return torch.nn.functional.layer_norm(x, normalized, *wb, eps=1e-5)

        compare(torch, ours, theirs, arrays, dtype, seed=seed)

    check()


def test_layer_norm_gradcheck_and_shape_errors():
    rng = np.random.default_rng(4)
    x = Tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    w, b = Tensor(rng.normal(size=4), requires_grad=True), Tensor(rng.normal(size=4), requires_grad=True)
    assert gradcheck(lambda x, w, b: (F.layer_norm(x, 4, w, b) ** 3).sum(), (x, w, b))
    with pytest.raises(ValueError, match=r"\(2, 3, 4\) does not end in normalized_shape \(3,\)"):
        F.layer_norm(x, 3)
    with pytest.raises(ValueError, match=r"weight of shape \(3,\) does not match normalized_shape \(4,\)"):
        F.layer_norm(x, 4, Tensor(np.ones(3)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_pytorch_and_updates_the_running_statistics_in_place(torch, training, dtype):
    @settings(max_examples=20)
    @given(st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple), st.integers(1, 4), st.integers(2, 4),
           st.booleans(), seeds)
    def check(spatial, channels, batch, affine, seed):
        rng = np.random.default_rng(seed)
        shape = (batch, channels, *spatial)
        arrays = [rng.normal(size=shape) * 2 + 1]
        if affine:
            arrays += [rng.normal(size=channels), rng.normal(size=channels)]
        stats = rng.normal(size=channels), rng.uniform(0.5, 2, size=channels)
        ours_stats = [Tensor(s.astype(dtype)) for s in stats]
        their_stats = [torch.tensor(s.astype(dtype).astype(np.float64)) for s in stats]
        held = ours_stats[0].data  # updated in place: holders of the array see it

        def ours(x, *wb):
            return F.batch_norm(x, *ours_stats, *wb, training=training, momentum=0.3, eps=1e-4)

        def theirs(x, *wb):
            return torch.nn.functional.batch_norm(x, *their_stats, *wb, training=training, momentum=0.3, eps=1e-4)

        compare(torch, ours, theirs, arrays, dtype, seed=seed)
        for mine, expected in zip(ours_stats, their_stats):
            assert_close(mine, expected, dtype)
        assert ours_stats[0].data is held

    check()


def test_batch_norm_gradcheck_in_training():
    rng = np.random.default_rng(5)
    x = Tensor(rng.normal(size=(3, 2, 2)), requires_grad=True)
    w, b = Tensor(rng.normal(size=2), requires_grad=True), Tensor(rng.normal(size=2), requires_grad=True)
    assert gradcheck(lambda x, w, b: (F.batch_norm(x, None, None, w, b, training=True) ** 3).sum(), (x, w, b))


def test_batch_norm_refuses_one_value_per_channel_in_training_and_mismatched_shapes():
    with pytest.raises(ValueError, match=r"more than one value per channel.*\(1, 3\)"):
        F.batch_norm(Tensor(np.ones((1, 3))), None, None, training=True)
    with pytest.raises(ValueError, match=r"running_mean of shape \(2,\) does not fit input of shape \(4, 3\)"):
        F.batch_norm(Tensor(np.ones((4, 3))), Tensor(np.zeros(2)), Tensor(np.ones(3)))
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        F.batch_norm(Tensor(np.ones((4, 3))), None, None, training=False)


# -- losses' reductions ------------------------------------------------------------------------


def loss_inputs(name, rng, n, c):
    if name in ("cross_entropy", "nll_loss"):
        x = rng.normal(size=(n, c)) * 3
        if name == "nll_loss":
            x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
        return [x], rng.integers(0, c, size=n)
    if name == "binary_cross_entropy":
        return [rng.uniform(0.01, 0.99, size=(n, c)), rng.uniform(0, 1, size=(n, c))], None
    return [rng.normal(size=(n, c)), rng.normal(size=(n, c))], None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy"])
def test_losses_reduce_as_pytorch_does(torch, name, reduction, dtype):
    @settings(max_examples=10)
    @given(st.integers(1, 5), st.integers(1, 4), seeds)
    def check(n, c, seed):
        arrays, labels = loss_inputs(name, np.random.default_rng(seed), n, c)
        extra_ours = () if labels is None else (labels,)
        extra_theirs = () if labels is None else (torch.tensor(labels),)
        compare(torch, lambda *xs: getattr(F, name)(*xs, *extra_ours, reduction=reduction),
                lambda *ts: getattr(torch.nn.functional, name)(*ts, *extra_theirs, reduction=reduction),
                arrays, dtype, seed=seed)

    check()
    assert getattr(F, name) is getattr(nn, name)


def test_nll_loss_of_log_softmax_is_cross_entropy():
    rng = np.random.default_rng(6)
    x = Tensor(rng.normal(size=(5, 4)), requires_grad=True)
    y = rng.integers(0, 4, size=5)
    for reduction in ("mean", "sum", "none"):
        np.testing.assert_allclose(F.nll_loss(F.log_softmax(x, 1), y, reduction=reduction).data,
                                   F.cross_entropy(x, y, reduction=reduction).data, rtol=1e-13)
    assert gradcheck(lambda x: F.nll_loss(F.log_softmax(x, dim=1), y, reduction="sum"), (x,))


def test_hinge_and_value_losses_reduce_too():
    scores, labels = np.array([0.5, -2.0, 1.5]), np.array([1, 1, -1])
    per_example = np.maximum(0, 1 - labels * scores)
    for reduction, expected in [("mean", per_example.mean()), ("sum", per_example.sum()), ("none", per_example)]:
        np.testing.assert_allclose(nn.hinge_loss(Tensor(scores), labels, reduction=reduction).data, expected)
        from_values = nn.hinge_loss([Value(s) for s in scores], labels, reduction=reduction)
        got = [v.data for v in from_values] if reduction == "none" else from_values.data
        np.testing.assert_allclose(got, expected)
    squared = nn.mse_loss([Value(1.0), Value(3.0)], [0.0, 1.0], reduction="none")
    assert [v.data for v in squared] == [1.0, 4.0]
    assert nn.mse_loss([Value(1.0), Value(3.0)], [0.0, 1.0], reduction="sum").data == 5.0


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy", "hinge_loss"])
def test_an_unknown_reduction_is_refused(name):
    with pytest.raises(ValueError, match=f"{name}: reduction must be 'mean', 'sum' or 'none', got 'average'"):
        getattr(nn, name)(Tensor(np.full((2, 2), 0.5)), np.ones((2, 2)), reduction="average")


def test_nll_loss_names_bad_labels():
    with pytest.raises(ValueError, match="nll_loss: label 4 is out of range for 3 classes"):
        F.nll_loss(Tensor(np.zeros((2, 3))), [0, 4])
    with pytest.raises(TypeError, match="nll_loss: labels must be integers"):
        F.nll_loss(Tensor(np.zeros((2, 3))), [0.0, 1.0])
