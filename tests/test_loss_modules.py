"""The loss modules (CrossEntropyLoss, NLLLoss, MSELoss, BCELoss, L1Loss) and l1_loss: values and gradients
against PyTorch's modules in float64, finite differences, and the errors of bad input."""

import numpy as np
import pytest

import autodiff
from autodiff import nn

REDUCTIONS = ["mean", "sum", "none"]
# shapes of elementwise losses: 0-d, size-1 axes, and larger
SHAPES = [(), (1,), (4,), (1, 3), (3, 1, 2), (2, 3, 4)]


def backward_both(torch, ours, theirs, rng):
    """Backward through both losses with the same gradient (random for reduction "none"), twice: grads add up."""
    g = rng.normal(size=ours.shape)
    for _ in range(2):
        ours.backward(autodiff.tensor(g))
        theirs.backward(torch.from_numpy(g), retain_graph=True)


def assert_close(ours, theirs):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


def leaf_pair(torch, array):
    return autodiff.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "BCELoss"])
def test_elementwise_losses_match_pytorch_in_value_and_both_gradients(torch, rng, name, shape, reduction):
    if name == "BCELoss":
        pred_array, target_array = rng.uniform(0.05, 0.95, size=shape), rng.uniform(0, 1, size=shape)
    else:
        pred_array, target_array = rng.normal(size=shape), rng.normal(size=shape)
    pred, their_pred = leaf_pair(torch, pred_array)
    target, their_target = leaf_pair(torch, target_array)
    ours = getattr(nn, name)(reduction=reduction)(pred, target)
    theirs = getattr(torch.nn, name)(reduction=reduction)(their_pred, their_target)
    assert ours.shape == tuple(theirs.shape)
    assert_close(ours.data, theirs)
    backward_both(torch, ours, theirs, rng)
    assert_close(pred.grad, their_pred.grad)
    assert_close(target.grad, their_target.grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("batch, classes", [(1, 1), (1, 4), (5, 1), (6, 3)])
@pytest.mark.parametrize("name", ["CrossEntropyLoss", "NLLLoss"])
def test_class_losses_match_pytorch_in_value_and_gradient(torch, rng, name, batch, classes, reduction):
    scores = rng.normal(size=(batch, classes))
    if name == "NLLLoss":
        scores = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    labels = rng.integers(0, classes, size=batch)
    x, their_x = leaf_pair(torch, scores)
    ours = getattr(nn, name)(reduction=reduction)(x, labels)
    theirs = getattr(torch.nn, name)(reduction=reduction)(their_x, torch.from_numpy(labels))
    assert ours.shape == tuple(theirs.shape)
    assert_close(ours.data, theirs)
    backward_both(torch, ours, theirs, rng)
    assert_close(x.grad, their_x.grad)


def test_a_port_of_log_softmax_and_nll_loss_equals_cross_entropy_loss(torch, rng):
    logits, labels = rng.normal(size=(4, 5)), rng.integers(0, 5, size=4)
    x = autodiff.tensor(logits, requires_grad=True)
    criterion = nn.NLLLoss()
    loss = criterion(nn.LogSoftmax(dim=1)(x), autodiff.tensor(labels))
    loss.backward()
    expected = torch.nn.CrossEntropyLoss()(torch.from_numpy(logits), torch.from_numpy(labels))
    assert_close(loss.data, expected)
    grad = x.grad
    x.grad = None
    nn.CrossEntropyLoss()(x, labels).backward()
    np.testing.assert_allclose(grad, x.grad, rtol=1e-12, atol=1e-14)


def test_the_same_tensor_as_prediction_and_target(torch, rng):
    array = rng.normal(size=(3, 2))
    x, their_x = leaf_pair(torch, array)
    ours = nn.L1Loss()(x * 2, x) + nn.MSELoss(reduction="sum")(x, x * 0.5)
    theirs = torch.nn.L1Loss()(their_x * 2, their_x) + torch.nn.MSELoss(reduction="sum")(their_x, their_x * 0.5)
    assert_close(ours.data, theirs)
    ours.backward()
    theirs.backward()
    assert_close(x.grad, their_x.grad)


def test_l1_loss_gradient_is_zero_where_prediction_equals_target(torch):
    array = np.array([1.0, -2.0, 0.5])
    pred, their_pred = leaf_pair(torch, array)
    nn.l1_loss(pred, array.copy(), reduction="sum").backward()
    torch.nn.functional.l1_loss(their_pred, torch.from_numpy(array.copy()), reduction="sum").backward()
    assert_close(pred.grad, their_pred.grad)
    np.testing.assert_array_equal(pred.grad, np.zeros(3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_loss_gradients_match_finite_differences(rng, reduction):
    pred = autodiff.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    target = autodiff.tensor(pred.data + rng.choice([-1, 1], size=(2, 3)) * rng.uniform(0.1, 1, size=(2, 3)),
                             requires_grad=True)  # every difference at least 0.1 from the kink at 0
    weights = rng.normal(size=(2, 3))

    def loss(p, t):
        out = nn.L1Loss(reduction=reduction)(p, t)
        return (out * weights).sum() if reduction == "none" else out

    assert autodiff.gradcheck(loss, (pred, target))


def test_loss_modules_hold_no_parameters_and_show_their_reduction():
    assert nn.CrossEntropyLoss().parameters() == [] and nn.CrossEntropyLoss().reduction == "mean"
    assert repr(nn.MSELoss()) == "MSELoss()" and repr(nn.L1Loss(reduction="sum")) == "L1Loss(reduction='sum')"


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["CrossEntropyLoss", "NLLLoss", "MSELoss", "BCELoss", "L1Loss"])
def test_an_unknown_reduction_is_refused_when_the_module_is_built(name):
    with pytest.raises(ValueError, match=f"{name}: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        getattr(nn, name)(reduction="avg")


def test_pytorchs_unsupported_arguments_are_refused_never_ignored():
    with pytest.raises(TypeError, match="weight"):
        nn.CrossEntropyLoss(weight=autodiff.ones(3))
    with pytest.raises(TypeError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=0.1)
    with pytest.raises(TypeError):
        nn.MSELoss(None, None, "sum")  # PyTorch's positional size_average, reduce, reduction


def test_bad_inputs_raise_errors_that_name_the_problem():
    with pytest.raises(ValueError, match=r"l1_loss: prediction of shape \(2, 3\) and target of shape \(3,\) differ"):
        nn.L1Loss()(autodiff.zeros(2, 3), np.zeros(3))
    with pytest.raises(ValueError, match=r"mse_loss: prediction of shape \(2,\) and target of shape \(3,\)"):
        nn.MSELoss()(autodiff.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="probabilities must lie in"):
        nn.BCELoss()(autodiff.tensor([0.5, 1.5]), np.zeros(2))
    with pytest.raises(TypeError, match="labels must be integers"):
        nn.CrossEntropyLoss()(autodiff.zeros(2, 3), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        nn.NLLLoss()(autodiff.zeros(2, 3), np.array([0, 3]))
    with pytest.raises(TypeError, match="l1_loss takes Tensors, not Values"):
        nn.l1_loss([autodiff.Value(1.0)], [0.0])
    with pytest.raises(ValueError, match="l1_loss: reduction"):
        nn.l1_loss(autodiff.zeros(2), np.zeros(2), reduction="mena")
