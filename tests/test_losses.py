"""Losses, penalties and accuracy: values and gradients against PyTorch and finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autodiff import Tensor, Value, gradcheck, no_grad

batches = st.integers(min_value=1, max_value=6)
seeds = st.integers(min_value=0, max_value=2**31 - 1)


def leaf(array):
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def torch_leaf(torch, array):
    return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


# -- mse_loss ------------------------------------------------------------------


def test_mse_matches_torch_in_value_and_both_gradients(torch):
    @given(batches, st.integers(1, 4), seeds)
    def check(n, k, seed):
        rng = np.random.default_rng(seed)
        pred, target = rng.normal(size=(n, k)), rng.normal(size=(n, k))
        p, t = leaf(pred), leaf(target)
        loss = nn.mse_loss(p, t)
        loss.backward()
        tp, tt = torch_leaf(torch, pred), torch_leaf(torch, target)
        expected = torch.nn.functional.mse_loss(tp, tt)
        expected.backward()
        np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-12)
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-12, atol=1e-15)

    check()


def test_mse_gradcheck(rng):
    assert gradcheck(nn.mse_loss, (leaf(rng.normal(size=(4, 3))), leaf(rng.normal(size=(4, 3)))))


def test_mse_takes_numpy_and_list_targets_in_the_prediction_dtype(rng):
    pred = Tensor(rng.normal(size=3).astype(np.float32), requires_grad=True)
    from_list = nn.mse_loss(pred, [1, 2, 3])
    from_array = nn.mse_loss(pred, np.array([1.0, 2.0, 3.0]))
    expected = np.mean((pred.data.astype(np.float64) - [1, 2, 3]) ** 2)
    assert from_list.dtype == np.float32
    np.testing.assert_allclose(from_list.item(), expected, rtol=1e-6)
    np.testing.assert_allclose(from_array.item(), expected, rtol=1e-6)


def test_mse_on_values_matches_the_tensor_loss(rng):
    pred, target = rng.normal(size=5), rng.normal(size=5)
    values = [Value(x) for x in pred]
    loss = nn.mse_loss(values, target)
    loss.backward()
    tensor = leaf(pred)
    tensor_loss = nn.mse_loss(tensor, target)
    tensor_loss.backward()
    assert isinstance(loss, Value)
    np.testing.assert_allclose(loss.data, tensor_loss.item(), rtol=1e-12)
    np.testing.assert_allclose([v.grad for v in values], tensor.grad, rtol=1e-12)


def test_mse_on_a_single_value():
    v = Value(3.0)
    loss = nn.mse_loss(v, 1.0)
    loss.backward()
    assert loss.data == 4.0 and v.grad == 4.0


@pytest.mark.parametrize("pred_shape, target_shape", [((4, 1), (4,)), ((3,), (4,)), ((2, 3), (3, 2))])
def test_mse_refuses_different_shapes_naming_both(pred_shape, target_shape):
    with pytest.raises(ValueError, match=rf"{pred_shape}.*{target_shape}".replace("(", r"\(").replace(")", r"\)")):
        nn.mse_loss(leaf(np.zeros(pred_shape)), np.zeros(target_shape))


def test_mse_on_values_refuses_a_different_count():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        nn.mse_loss([Value(1.0), Value(2.0)], [1.0, 2.0, 3.0])


# -- binary_cross_entropy --------------------------------------------------------


def test_bce_matches_torch_in_value_and_both_gradients(torch):
    @given(batches, seeds)
    def check(n, seed):
        rng = np.random.default_rng(seed)
        prob, target = rng.uniform(0.02, 0.98, size=(n, 2)), rng.uniform(0, 1, size=(n, 2))
        p, t = leaf(prob), leaf(target)
        loss = nn.binary_cross_entropy(p, t)
        loss.backward()
        tp, tt = torch_leaf(torch, prob), torch_leaf(torch, target)
        expected = torch.nn.functional.binary_cross_entropy(tp, tt)
        expected.backward()
        np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-12)
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-10)

    check()


def test_bce_gradcheck(rng):
    prob = leaf(rng.uniform(0.05, 0.95, size=6))
    target = leaf(rng.uniform(0, 1, size=6))
    assert gradcheck(nn.binary_cross_entropy, (prob, target))


def test_bce_at_probabilities_0_and_1_is_finite_and_matches_torch(torch):
    # confident and right, confident and wrong, and probabilities below the clamp and next to 1
    prob = np.array([0.0, 1.0, 0.0, 1.0, 1e-300, 1e-45, 1 - 1e-16, 0.5])
    target = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    p = leaf(prob)
    loss = nn.binary_cross_entropy(p, target)
    loss.backward()
    tp = torch_leaf(torch, prob)
    expected = torch.nn.functional.binary_cross_entropy(tp, torch.tensor(target))
    expected.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(p.grad))
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-12)
    # PyTorch's floor 1e-12 on p(1 - p) is a float32 constant, 4e-9 away from ours in relative terms
    np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-8)


def test_bce_of_one_probability_matches_torch(torch):
    p = leaf(np.array(0.3))
    loss = nn.binary_cross_entropy(p, np.array(1.0))
    loss.backward()
    tp = torch_leaf(torch, np.array(0.3))
    torch.nn.functional.binary_cross_entropy(tp, torch.tensor(1.0, dtype=torch.float64)).backward()
    assert loss.item() == pytest.approx(-np.log(0.3), rel=1e-12)
    np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12)


def test_bce_refuses_nan_probabilities():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nn.binary_cross_entropy(leaf([0.5, np.nan]), [1.0, 0.0])


def test_bce_of_a_certain_wrong_answer_costs_100_per_element():
    loss = nn.binary_cross_entropy(leaf([0.0, 1.0]), [1.0, 0.0])
    assert loss.item() == pytest.approx(100.0)


def test_bce_refuses_values_outside_0_1():
    with pytest.raises(ValueError, match=r"\[0, 1\].*sigmoid"):
        nn.binary_cross_entropy(leaf([0.5, 1.5]), [1.0, 0.0])
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        nn.binary_cross_entropy(leaf([0.5, 0.5]), [1.0, 0.0, 1.0])


# -- cross_entropy ---------------------------------------------------------------


def test_cross_entropy_matches_torch(torch):
    @given(batches, st.integers(1, 7), st.sampled_from([0.1, 1.0, 10.0, 100.0]), seeds)
    def check(n, classes, scale, seed):
        rng = np.random.default_rng(seed)
        logits, labels = rng.normal(size=(n, classes)) * scale, rng.integers(0, classes, size=n)
        x = leaf(logits)
        loss = nn.cross_entropy(x, labels)
        loss.backward()
        tx = torch_leaf(torch, logits)
        expected = torch.nn.functional.cross_entropy(tx, torch.tensor(labels))
        expected.backward()
        np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-14)

    check()


def test_cross_entropy_gradcheck(rng):
    assert gradcheck(lambda x: nn.cross_entropy(x, np.array([2, 0, 1, 2])), (leaf(rng.normal(size=(4, 3))),))


def test_cross_entropy_is_one_node_over_the_logits(rng):
    x = leaf(rng.normal(size=(3, 4)))
    loss = nn.cross_entropy(x, [0, 1, 2])
    assert loss.op == "cross_entropy" and loss.children[0] is x
    labels = loss.children[1]  # an input without a gradient: an in-place change to it is caught like any other's
    assert labels.tolist() == [0, 1, 2] and not labels.requires_grad


def test_cross_entropy_at_logits_of_1000_is_finite_and_matches_torch(torch):
    logits = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, -1000.0], [-1000.0, 1000.0, 999.0]])
    labels = np.array([2, 0, 2])
    x = leaf(logits)
    loss = nn.cross_entropy(x, labels)
    loss.backward()
    tx = torch_leaf(torch, logits)
    expected = torch.nn.functional.cross_entropy(tx, torch.tensor(labels))
    expected.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-300)


def test_cross_entropy_keeps_float32_and_accepts_label_tensors_and_lists(rng):
    logits = Tensor(rng.normal(size=(3, 4)).astype(np.float32), requires_grad=True)
    from_tensor = nn.cross_entropy(logits, Tensor(np.array([1, 3, 0])))
    from_list = nn.cross_entropy(logits, [1, 3, 0])
    from_list.backward()
    assert from_tensor.dtype == np.float32 and logits.grad.dtype == np.float32
    assert from_tensor.item() == from_list.item()
    # each row of softmax - onehot sums to zero
    np.testing.assert_allclose(logits.grad.sum(axis=1), 0, atol=1e-7)


def test_cross_entropy_without_grad_records_nothing(rng):
    x = leaf(rng.normal(size=(2, 3)))
    with no_grad():
        loss = nn.cross_entropy(x, [0, 1])
    assert not loss.requires_grad and loss.children == ()


@pytest.mark.parametrize("labels, message", [
    ([0, 3], r"label 3 is out of range for 3 classes"),
    ([-1, 0], r"label -1 is out of range"),
    (np.array([0.0, 1.0]), r"labels must be integers.*float64"),
    ([0, 1, 2], r"\(3,\).*\(2,\)"),
])
def test_cross_entropy_refuses_bad_labels(labels, message):
    with pytest.raises((ValueError, TypeError), match=message):
        nn.cross_entropy(leaf(np.zeros((2, 3))), labels)


def test_cross_entropy_refuses_logits_that_are_not_2d():
    with pytest.raises(ValueError, match=r"\(batch, classes\).*\(3,\)"):
        nn.cross_entropy(leaf(np.zeros(3)), [0])


# -- hinge_loss ------------------------------------------------------------------


def _torch_hinge(torch, scores, labels):
    return torch.relu(1 - torch.tensor(labels, dtype=torch.float64) * scores).mean()


def test_hinge_matches_torch(torch):
    @given(batches, seeds)
    def check(n, seed):
        rng = np.random.default_rng(seed)
        scores, labels = rng.normal(size=n) * 2, rng.choice([-1, 1], size=n)
        s = leaf(scores)
        loss = nn.hinge_loss(s, labels)
        loss.backward()
        ts = torch_leaf(torch, scores)
        expected = _torch_hinge(torch, ts, labels)
        expected.backward()
        np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-12)
        np.testing.assert_allclose(s.grad, ts.grad.numpy(), rtol=1e-12)

    check()


def test_hinge_gradcheck_away_from_the_kink():
    scores = leaf([0.5, -0.3, 2.0, -1.7, 0.2])
    assert gradcheck(lambda s: nn.hinge_loss(s, [1, 1, 1, -1, -1]), (scores,))


def test_hinge_on_values_matches_the_tensor_loss(rng):
    scores, labels = rng.normal(size=6), rng.choice([-1, 1], size=6)
    values = [Value(x) for x in scores]
    loss = nn.hinge_loss(values, labels)
    loss.backward()
    tensor = leaf(scores)
    tensor_loss = nn.hinge_loss(tensor, Tensor(labels))
    tensor_loss.backward()
    assert isinstance(loss, Value)
    np.testing.assert_allclose(loss.data, tensor_loss.item(), rtol=1e-12)
    np.testing.assert_allclose([v.grad for v in values], tensor.grad, rtol=1e-12)


def test_hinge_counts_only_margins_short_of_one():
    # y*s = 2 (no cost), 0.5 (cost 0.5), -1 (cost 2)
    loss = nn.hinge_loss(leaf([2.0, 0.5, 1.0]), [1, 1, -1])
    assert loss.item() == pytest.approx(2.5 / 3)


def test_hinge_refuses_0_1_labels_and_different_shapes():
    with pytest.raises(ValueError, match=r"-1 or \+1, got 0.*2 \* labels - 1"):
        nn.hinge_loss(leaf([1.0, 2.0]), [0, 1])
    with pytest.raises(ValueError, match=r"\(2, 1\).*\(2,\)"):
        nn.hinge_loss(leaf([[1.0], [2.0]]), [1, -1])
    with pytest.raises(ValueError, match=r"\(1,\).*\(2,\)"):
        nn.hinge_loss([Value(1.0)], [1, -1])


# -- penalties -------------------------------------------------------------------


@pytest.mark.parametrize("penalty, torch_penalty", [
    (nn.l1_penalty, lambda ps: sum(p.abs().sum() for p in ps)),
    (nn.l2_penalty, lambda ps: sum((p * p).sum() for p in ps)),
], ids=["l1", "l2"])
def test_penalty_on_tensors_matches_torch(torch, rng, penalty, torch_penalty):
    arrays = [rng.normal(size=(3, 2)), rng.normal(size=4), np.array([0.0, 1.0])]
    params = [leaf(a) for a in arrays]
    total = penalty(params)
    total.backward()
    torch_params = [torch_leaf(torch, a) for a in arrays]
    expected = torch_penalty(torch_params)
    expected.backward()
    assert isinstance(total, Tensor)
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-12)
    for p, tp in zip(params, torch_params):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("penalty, torch_penalty", [
    (nn.l1_penalty, lambda ps: sum(p.abs() for p in ps)),
    (nn.l2_penalty, lambda ps: sum(p * p for p in ps)),
], ids=["l1", "l2"])
def test_penalty_on_values_matches_torch_as_one_node(torch, penalty, torch_penalty):
    numbers = [0.5, -1.5, 2.0, 0.0, -0.25]
    values = [Value(x) for x in numbers]
    total = penalty(values)
    total.backward()
    torch_params = [torch_leaf(torch, x) for x in numbers]
    expected = torch_penalty(torch_params)
    expected.backward()
    assert isinstance(total, Value) and total.children == tuple(values)
    assert total.data == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose([v.grad for v in values], [p.grad.item() for p in torch_params], rtol=1e-12)


@pytest.mark.parametrize("penalty", [nn.l1_penalty, nn.l2_penalty], ids=["l1", "l2"])
def test_penalty_gradcheck(rng, penalty):
    assert gradcheck(lambda a, b: penalty([a, b]), (leaf(rng.normal(size=(2, 3))), leaf(rng.normal(size=3))))
    assert gradcheck(lambda a, b: penalty([a, b]), (Value(0.7), Value(-1.3)))


def test_penalty_of_a_model_s_weights_leaves_biases_out():
    model = nn.MLP(2, [3, 1])
    total = nn.l2_penalty(model.weights())
    total.backward()
    assert total.data == pytest.approx(sum(w.data**2 for w in model.weights()))
    assert all(b.grad == 0.0 for b in model.biases())


def test_penalties_refuse_empty_and_mixed_lists():
    with pytest.raises(ValueError, match="no parameters"):
        nn.l1_penalty([])
    with pytest.raises(TypeError, match="all Values or all Tensors"):
        nn.l2_penalty([Value(1.0), leaf([1.0])])


# -- accuracy --------------------------------------------------------------------


def test_accuracy_of_2d_scores_takes_the_argmax_of_each_row():
    scores = np.array([[0.1, 0.7, 0.2], [2.0, -1.0, 0.0], [0.0, 0.0, 3.0], [5.0, 6.0, 1.0]])
    # predictions 1, 0, 2, 1
    assert nn.accuracy(scores, [1, 0, 0, 1]) == 0.75
    assert nn.accuracy(Tensor(scores), Tensor(np.array([1, 0, 2, 1]))) == 1.0


def test_accuracy_of_a_score_column_reads_it_as_1d():
    assert nn.accuracy(np.array([[0.8], [-0.2], [0.3]]), [1, -1, -1]) == pytest.approx(2 / 3)


def test_accuracy_of_integer_predictions_compares_them_directly():
    assert nn.accuracy(np.array([2, 0, 1, 1]), np.array([2, 1, 1, 0])) == 0.5
    assert nn.accuracy([3, 3], [3, 3]) == 1.0


def test_accuracy_with_plus_minus_one_labels_uses_the_sign():
    # 0.2 > 0 is +1, -0.1 is -1, 0.9 is +1 (wrong), 0.0 counts as -1
    assert nn.accuracy([0.2, -0.1, 0.9, 0.0], [1, -1, -1, -1]) == 0.75


def test_accuracy_with_0_1_labels_thresholds_probabilities_at_a_half():
    # 0.2 is 0, 0.6 is 1, 0.4 is 0 (wrong), 0.5 is 0
    assert nn.accuracy(np.array([0.2, 0.6, 0.4, 0.5]), np.array([0, 1, 1, 0])) == 0.75


def test_accuracy_of_values_from_the_two_moons_kind_of_model():
    scores = [Value(1.3), Value(-0.4), Value(0.1)]
    assert nn.accuracy(scores, np.array([1, -1, -1])) == pytest.approx(2 / 3)
    rows = [[Value(0.1), Value(0.9)], [Value(0.8), Value(0.2)]]
    assert nn.accuracy(rows, [1, 1]) == 0.5


def test_accuracy_returns_a_python_float():
    assert type(nn.accuracy(np.array([1, 0]), np.array([1, 0]))) is float


def test_accuracy_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        nn.accuracy([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"\{-1, \+1\}.*\{0, 1\}"):
        nn.accuracy([0.5, 1.5, 2.5], [0, 1, 2])
    with pytest.raises(ValueError, match="no examples"):
        nn.accuracy(np.zeros(0, dtype=int), np.zeros(0, dtype=int))
