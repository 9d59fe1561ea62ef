"""Linear, Sequential, the activation layers, Flatten and Dropout: against PyTorch and finite differences."""

import gc
import math
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff
import nn
from autodiff import Tensor, gradcheck


# parameters built in these tests are float64 (PyTorch comparisons need the digits), from one seed
pytestmark = pytest.mark.usefixtures("float64_and_seeded")


def torch_state(torch, module):
    return {name: torch.tensor(array) for name, array in module.state_dict().items()}


def assert_close(ours, theirs, atol=1e-10):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=atol)


# -- Linear -----------------------------------------------------------------------


def test_linear_matches_pytorch_with_any_leading_dimensions(torch):
    @settings(max_examples=20)
    @given(
        leading=st.lists(st.integers(1, 4), min_size=1, max_size=3),
        sizes=st.tuples(st.integers(1, 6), st.integers(1, 6)),
        bias=st.booleans(),
        seed=st.integers(0, 2**31 - 1),
    )
    def check(leading, sizes, bias, seed):
        in_features, out_features = sizes
        ours = nn.Linear(in_features, out_features, bias=bias)
        theirs = torch.nn.Linear(in_features, out_features, bias=bias).double()
        theirs.load_state_dict(torch_state(torch, ours))
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(*leading, in_features))
        upstream = rng.normal(size=(*leading, out_features))
        x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

        out = ours(x_ours)
        expected = theirs(x_theirs)
        out.backward(upstream)
        expected.backward(torch.tensor(upstream))

        assert out.shape == tuple(expected.shape)
        assert_close(out.data, expected)
        assert_close(x_ours.grad, x_theirs.grad)
        assert_close(ours.weight.grad, theirs.weight.grad)
        if bias:
            assert_close(ours.bias.grad, theirs.bias.grad)
        else:
            assert ours.bias is None and [n for n, _ in ours.named_parameters()] == ["weight"]

    check()


def test_linear_passes_gradcheck():
    layer = nn.Linear(4, 3)
    x = Tensor(np.random.default_rng(1).normal(size=(2, 5, 4)), requires_grad=True)
    assert gradcheck(lambda x, w, b: (nn.functional.linear(x, w, b) ** 2).sum(), (x, layer.weight, layer.bias))


def test_linear_default_initialisation_is_uniform_within_one_over_root_fan_in():
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = layer.weight.data
    assert w.dtype == np.float64 and w.shape == (300, 400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.var() == pytest.approx(bound**2 / 3, rel=0.03)
    assert np.abs(layer.bias.data).max() <= bound and layer.bias.data.std() > bound / 3


def test_layers_take_the_default_dtype():
    autodiff.set_default_dtype(np.float32)
    layer = nn.Linear(3, 2)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert layer(np.ones((1, 3))).dtype == np.float32


@pytest.mark.parametrize(
    "scheme, std",
    [("he", math.sqrt(2 / 500)), ("he_uniform", math.sqrt(2 / 500)),
     ("xavier", math.sqrt(2 / 800)), ("xavier_normal", math.sqrt(2 / 800))],
)
def test_a_named_init_sets_the_weight_scale_and_zero_biases(scheme, std):
    layer = nn.Linear(500, 300, init=scheme)
    assert layer.weight.data.std() == pytest.approx(std, rel=0.03)
    assert not layer.bias.data.any()


def test_an_unknown_init_name_is_refused():
    with pytest.raises(ValueError, match="unknown init 'kaiming'"):
        nn.Linear(2, 2, init="kaiming")


def test_linear_names_both_shapes_when_the_feature_size_is_wrong():
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(3, 4\)"):
        nn.Linear(4, 3)(np.ones((2, 5)))


# -- Sequential ---------------------------------------------------------------------


def make_mlp():
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2), nn.Sigmoid())


def test_sequential_names_match_pytorch_state_dict_keys_and_weights_move_between_them(torch):
    ours = make_mlp()
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.ReLU(),
        torch.nn.Linear(8, 2), torch.nn.Sigmoid(),
    ).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({name: t.numpy() for name, t in theirs.state_dict().items()})
    x = np.random.default_rng(2).normal(size=(5, 3))
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(x_ours), theirs(x_theirs)
    assert_close(out.data, expected)
    upstream = np.random.default_rng(3).normal(size=(5, 2))
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert_close(x_ours.grad, x_theirs.grad)
    for name, p in theirs.named_parameters():
        assert_close(dict(ours.named_parameters())[name].grad, p.grad)


def test_sequential_indexes_counts_and_iterates_like_a_list():
    model = make_mlp()
    assert len(model) == 6
    assert isinstance(model[0], nn.Linear) and isinstance(model[-1], nn.Sigmoid)
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear", "ReLU", "Linear", "Sigmoid"]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is model[0]
    assert head(np.zeros((1, 3))).shape == (1, 8)
    with pytest.raises(IndexError):
        model[6]


def test_sequential_refuses_what_is_not_a_module():
    with pytest.raises(TypeError, match="argument 1 is ufunc"):
        nn.Sequential(nn.ReLU(), np.tanh)


def test_sequential_layers_cannot_be_swapped_behind_its_back():
    model = make_mlp()
    first = model[0]
    with pytest.raises(AttributeError, match="layer 0.*new Sequential"):
        setattr(model, "0", nn.Linear(3, 8))
    assert model[0] is first and dict(model.named_parameters())["0.weight"] is first.weight
    model.note = "other attributes are fine"
    assert model.note == "other attributes are fine"


# -- activations and Flatten ----------------------------------------------------------


@pytest.mark.parametrize("name", ["ReLU", "Tanh", "Sigmoid"])
def test_activation_layers_match_pytorch(torch, name):
    x = np.random.default_rng(4).normal(size=(3, 4, 5)) * 3
    upstream = np.random.default_rng(5).normal(size=x.shape)
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = getattr(nn, name)()(x_ours), getattr(torch.nn, name)()(x_theirs)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert_close(out.data, expected)
    assert_close(x_ours.grad, x_theirs.grad)


def test_flatten_keeps_the_batch_axis_like_pytorch(torch):
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    x_ours = Tensor(x, requires_grad=True)
    out = nn.Flatten()(x_ours)
    assert_close(out.data, torch.nn.Flatten()(torch.tensor(x)))
    upstream = np.random.default_rng(6).normal(size=(2, 60))
    out.backward(upstream)
    np.testing.assert_array_equal(x_ours.grad, upstream.reshape(x.shape))


def test_flatten_needs_a_batch_axis_and_another():
    with pytest.raises(ValueError, match=r"start_dim 1 is out of range for a tensor of shape \(5,\)"):
        nn.Flatten()(Tensor(np.ones(5)))


@pytest.mark.parametrize("shape, dims", [
    ((2, 3, 4), ()), ((2, 3, 4), (0,)), ((2, 3, 4, 5), (1, 2)), ((2, 3, 4), (0, -2)), ((2, 3), (1, 1)),
    ((2, 1, 3), (-2, -1)), ((4,), (0,)), ((), (0,)), ((), (-1, 0)),
])
def test_flatten_with_start_and_end_dims_matches_pytorch(torch, shape, dims):
    keywords = dict(zip(("start_dim", "end_dim"), dims))
    x = np.random.default_rng(3).normal(size=shape)
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours, theirs = nn.Flatten(*dims), torch.nn.Flatten(**keywords)
    assert repr(ours) == repr(theirs)
    out, expected = ours(x_ours), theirs(x_theirs)
    assert out.shape == tuple(expected.shape)
    assert_close(out.data, expected)
    upstream = np.random.default_rng(4).normal(size=out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert_close(x_ours.grad, x_theirs.grad)


@pytest.mark.parametrize("shape, dims", [((2, 3, 4), (3,)), ((2, 3, 4), (0, 3)), ((2, 3), (-3,)), ((5,), ()),
                                         ((2, 3, 4), (2, 1))])
def test_flatten_refuses_dimensions_pytorch_refuses(torch, shape, dims):
    with pytest.raises((IndexError, RuntimeError)):
        torch.nn.Flatten(*dims)(torch.zeros(shape))
    with pytest.raises(ValueError, match=r"start_dim|end_dim"):
        nn.Flatten(*dims)(Tensor(np.zeros(shape)))


# -- Dropout ----------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeroes_a_fraction_p_and_scales_the_rest_by_one_over_one_minus_p(p):
    layer = nn.Dropout(p)
    x = Tensor(np.full((400, 500), 2.0), requires_grad=True)
    out = layer(x)
    zeroed = out.data == 0
    assert zeroed.mean() == pytest.approx(p, abs=0.005)
    np.testing.assert_allclose(out.data[~zeroed], 2.0 / (1 - p))
    assert out.data.mean() == pytest.approx(2.0, rel=0.02)  # the expectation is kept
    upstream = np.random.default_rng(7).normal(size=x.shape)
    out.backward(upstream)
    np.testing.assert_allclose(x.grad, np.where(zeroed, 0.0, upstream / (1 - p)))


def test_dropout_is_the_identity_in_eval_mode_and_back_on_in_train_mode():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x = np.random.default_rng(8).normal(size=(50, 4))
    model.eval()
    assert not model[1].training
    np.testing.assert_array_equal(model(x).data, model[0](x).data)
    model.train()
    assert (model(x).data == 0).mean() > 0.3


def test_dropout_draws_from_the_seeded_generator():
    x = Tensor(np.ones((20, 20)))
    nn.manual_seed(3)
    first = nn.Dropout(0.5)(x).data
    nn.manual_seed(3)
    np.testing.assert_array_equal(nn.Dropout(0.5)(x).data, first)


def test_dropout_with_p_zero_or_one():
    x = Tensor(np.random.default_rng(9).normal(size=(6, 7)), requires_grad=True)
    assert nn.Dropout(0.0)(x) is x
    out = nn.Dropout(1.0)(x)
    assert not out.data.any() and np.isfinite(out.data).all()
    out.backward(np.ones(x.shape))
    assert not x.grad.any() and np.isfinite(x.grad).all()


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_refuses_a_probability_outside_zero_one(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.functional.dropout(Tensor(np.ones(3)), p)


# -- graphs free themselves ----------------------------------------------------------------


@pytest.mark.parametrize(
    "model, shape",
    [
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Tanh()), (2, 3)),
        (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()), (2, 1, 6, 6)),
        (lambda: nn.RNN(3, 4), (2, 5, 3)),
        (lambda: nn.LSTM(3, 4), (2, 5, 3)),
    ],
    ids=["dense", "conv", "rnn", "lstm"],
)
def test_a_layer_graph_holds_no_reference_cycle(model, shape):
    # freed by reference counting alone, without the cyclic collector
    gc.disable()
    try:
        out = model()(Tensor(np.ones(shape), requires_grad=True))
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()
        node = weakref.ref(out)
        del out
        assert node() is None
    finally:
        gc.enable()
