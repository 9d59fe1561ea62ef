"""Ports: programs written for micrograd and for PyTorch run here with only their names changed.

Each micrograd program below is written once, in micrograd's idiom (its
lecture notebooks' graph drawing through ``_prev`` and ``_op``, the moons
training loop), and receives its names from an "import cell":
``micrograd_imports`` or ``autodiff_imports``, which differ only in their
import lines. Where the ``micrograd`` package is installed (the benchmarks
extra pins 0.1.0) both runs are compared number for number.

The makemore lesson's program is written as for PyTorch with ``torch``
renamed; ``demos.makemore.in_pytorch`` runs its code under PyTorch's names,
and both are compared step by step (the MNIST example's port has its own
test file, tests/test_pytorch_port_lesson.py).
"""

import random
import sys
import types

import numpy as np
import pytest
from graphviz import Digraph

import autodiff
from autodiff import BackwardError
from demos import makemore


def autodiff_imports():
    from autodiff import Value
    from nn import MLP, Layer, Neuron

    return types.SimpleNamespace(Value=Value, Neuron=Neuron, Layer=Layer, MLP=MLP)


def micrograd_imports():
    micrograd = pytest.importorskip("micrograd", reason="pip install micrograd==0.1.0 to compare with micrograd")
    from micrograd.engine import Value
    from micrograd.nn import MLP, Layer, Neuron

    assert micrograd  # the package itself, imported only to skip without it
    return types.SimpleNamespace(Value=Value, Neuron=Neuron, Layer=Layer, MLP=MLP)


# -- the programs, as a micrograd user writes them ------------------------------


def trace(root):
    """Every node and edge below ``root``, walked through ``_prev`` as micrograd's notebook does."""
    nodes, edges = set(), set()

    def build(v):
        if v not in nodes:
            nodes.add(v)
            for child in v._prev:
                edges.add((child, v))
                build(child)

    build(root)
    return nodes, edges


def draw_dot(root, rankdir="LR"):
    """micrograd's picture: a record per Value (data, grad), an oval per operation, read from ``_op``."""
    nodes, edges = trace(root)
    dot = Digraph(format="svg", graph_attr={"rankdir": rankdir})
    for n in nodes:
        uid = str(id(n))
        dot.node(name=uid, label="{ data %.4f | grad %.4f }" % (n.data, n.grad), shape="record")
        if n._op:
            dot.node(name=uid + n._op, label=n._op)
            dot.edge(uid + n._op, uid)
    for n1, n2 in edges:
        dot.edge(str(id(n1)), str(id(n2)) + n2._op)
    return dot


def moons_notebook(engine, steps):
    """micrograd's moons demo: build an MLP(2, [16, 16, 1]) and train it full batch; the log and the model."""
    from sklearn.datasets import make_moons

    Value, MLP = engine.Value, engine.MLP
    np.random.seed(1337)
    random.seed(1337)
    X, y = make_moons(n_samples=100, noise=0.1)
    y = y * 2 - 1
    model = MLP(2, [16, 16, 1])

    def loss():
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        alpha = 1e-4
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
        return total_loss, sum(accuracy) / len(accuracy)

    log = []
    for k in range(steps):
        total_loss, acc = loss()
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        log.append((total_loss.data, acc))
    return log, model


def lecture_by_hand(engine, by_hand=True):
    """The lecture's neuron, and a + a * a (whose two uses of a add up), backpropagated as the notebook does
    before it writes backward(): each root's grad set to 1.0, then _backward() on every node in the reversed
    order of its own topological sort. Or, without ``by_hand``, with backward(). The leaves' gradients."""
    Value = engine.Value
    x1, x2, w1, w2 = Value(2.0), Value(0.0), Value(-3.0), Value(1.0)
    b = Value(6.8813735870195432)
    n = x1 * w1 + x2 * w2 + b
    o = (n * 2) ** 2 + n.relu()  # the package's micrograd has no tanh or exp
    a = Value(3.0)
    s = a + a * a
    if not by_hand:
        o.backward()
        s.backward()
        return [v.grad for v in (x1, x2, w1, w2, b, a)]
    topo, visited = [], set()

    def build_topo(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build_topo(child)
            topo.append(v)

    build_topo(o)
    build_topo(s)
    o.grad = s.grad = 1.0
    for node in reversed(topo):
        node._backward()
    return [v.grad for v in (x1, x2, w1, w2, b, a)]


# -- the checks ------------------------------------------------------------------


def expression(engine):
    """A small expression in micrograd's operations, after backward: the root and the leaves."""
    Value = engine.Value
    a, b = Value(2.0), Value(-3.0)
    c = a * b + a**2
    d = (c / 4 - b).relu()
    e = d * d + 1
    e.backward()
    return e, (a, b)


def test_micrograd_draw_dot_walks_our_values_through_prev_and_op():
    root, leaves = expression(autodiff_imports())
    nodes, edges = trace(root)
    assert set(leaves) <= nodes
    assert all(child in nodes and parent in nodes for child, parent in edges)
    assert {n._op for n in nodes} >= {"", "*", "+", "ReLU"}
    source = draw_dot(root).source
    # one record per node, one oval per operation, one edge per operation plus one per child
    assert source.count("shape=record") == len(nodes)
    operations = [n for n in nodes if n._op]
    assert len(edges) == sum(len(n._prev) for n in nodes)
    assert source.count("->") == len(operations) + len(edges)
    for leaf in leaves:
        assert "{ data %.4f | grad %.4f }" % (leaf.data, leaf.grad) in source


def test_micrograd_expression_gives_micrograd_values_and_gradients():
    # micrograd spells a / b as a * b**-1 and a - b as a + (-b), so its graph has more nodes; the numbers agree
    (ours, our_leaves), (theirs, their_leaves) = expression(autodiff_imports()), expression(micrograd_imports())
    assert ours.data == theirs.data
    assert [v.grad for v in our_leaves] == [v.grad for v in their_leaves]
    assert len(trace(ours)[0]) <= len(trace(theirs)[0])


def test_micrograd_expression_names_its_operations_as_micrograd_does():
    # micrograd has no "/" or "-" node (it rewrites them), nor tanh or exp: compare the operations both make
    def ops(engine):
        a, b = engine.Value(2.0), engine.Value(-3.0)
        return [(a * b)._op, (a + b)._op, (a ** 2)._op, a.relu()._op, b.relu()._op]

    assert ops(autodiff_imports()) == ops(micrograd_imports()) == ["*", "+", "**2", "ReLU", "ReLU"]


def test_the_lectures_backward_by_hand_gives_backwards_gradients_and_micrograds():
    ours = lecture_by_hand(autodiff_imports())
    assert ours == lecture_by_hand(autodiff_imports(), by_hand=False)
    assert ours[-1] == 7.0  # d(a + a·a)/da = 1 + 2a
    assert ours == lecture_by_hand(micrograd_imports())


def test_backward_by_hand_on_a_leaf_does_nothing_and_on_a_value_built_by_hand_refuses():
    Value = autodiff_imports().Value
    a, b = Value(2.0), Value(3.0)
    a.grad = 5.0
    a._backward()
    assert (a.grad, b.grad) == (5.0, 0.0)
    handmade = Value(6.0, (a, b), "*")
    handmade.grad = 1.0
    with pytest.raises(BackwardError, match="by hand"):
        handmade._backward()
    assert (a.grad, b.grad) == (5.0, 0.0)


def test_a_value_built_by_hand_draws_and_refuses_backward():
    Value = autodiff_imports().Value
    a, b = Value(2.0), Value(3.0)
    c = Value(6.0, (a, b), "*")
    assert c._prev == {a, b} and c._op == "*"
    assert draw_dot(c).source.count("shape=record") == 3
    with pytest.raises(BackwardError, match="by hand"):
        c.backward()


def test_micrograd_neuron_draws_through_prev():
    engine = autodiff_imports()
    random.seed(1)
    n = engine.Neuron(2)
    x = [engine.Value(1.0), engine.Value(-2.0)]
    y = n(x)
    y.backward()
    nodes, _ = trace(y)
    assert set(x) <= nodes and set(n.parameters()) <= nodes
    assert draw_dot(y).source.count("shape=record") == len(nodes)


@pytest.fixture(scope="module")
def our_moons():
    """Our run of the moons notebook, 20 steps (micrograd's pace is ten times slower, so it runs fewer)."""
    pytest.importorskip("sklearn", reason="the moons notebook draws its data with scikit-learn (pip install it)")
    return moons_notebook(autodiff_imports(), steps=20)


@pytest.mark.slow
def test_moons_notebook_runs_unchanged_and_learns(our_moons):
    log, model = our_moons
    assert len(model.parameters()) == 337
    losses, accuracies = zip(*log)
    assert losses[-1] < 0.25 * losses[0]
    assert accuracies[0] == 0.5 and accuracies[-1] >= 0.9


@pytest.mark.slow
def test_moons_notebook_matches_micrograd_step_for_step(our_moons):
    ours, _ = our_moons
    theirs, their_model = moons_notebook(micrograd_imports(), steps=3)
    _, our_model = moons_notebook(autodiff_imports(), steps=3)
    assert [acc for _, acc in ours[:3]] == [acc for _, acc in theirs]
    np.testing.assert_allclose([loss for loss, _ in ours[:3]], [loss for loss, _ in theirs], rtol=1e-13, atol=0)
    np.testing.assert_allclose(
        [p.data for p in our_model.parameters()], [p.data for p in their_model.parameters()], rtol=0, atol=1e-13
    )


# -- makemore's character MLP, written for PyTorch with torch renamed autodiff -------------


def test_makemore_words_are_generated_the_same_each_time_and_spelt_by_the_rules():
    words = makemore.make_words(500, seed=3)
    assert words == makemore.make_words(500, seed=3) and len(set(words)) == 500
    assert all(makemore.is_a_word(w) for w in words)
    assert not any(makemore.is_a_word(w) for w in ["", "a", "bb", "xa", "brkan", "ta.", "tab"])


@pytest.mark.slow
def test_makemore_lesson_runs_quick(tmp_path, matplotlib):
    results = makemore.main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "makemore.png").is_file()
    assert results["valid"]["trained"] > 2 * results["valid"]["frequencies"]


@pytest.mark.slow
def test_makemore_lesson_says_it_skipped_pytorch_when_torch_is_missing(tmp_path, monkeypatch, capsys, matplotlib):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    results = makemore.main(["--quick", "--out", str(tmp_path)])
    assert "PyTorch is not installed: skipped" in capsys.readouterr().out and "pytorch_gap" not in results


@pytest.fixture
def default_dtype():
    """Restores both engines' default dtypes after a test that changes them."""
    ours = autodiff.get_default_dtype()
    yield
    autodiff.set_default_dtype(ours)
    if sys.modules.get("torch") is not None:
        sys.modules["torch"].set_default_dtype(sys.modules["torch"].float32)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_makemore_program_matches_pytorch_step_by_step(torch, default_dtype, dtype, tolerance):
    theirs = makemore.in_pytorch(torch)
    autodiff.set_default_dtype(dtype)
    torch.set_default_dtype({np.float32: torch.float32, np.float64: torch.float64}[dtype])
    words = makemore.make_words(1000)
    stoi, itos = makemore.vocabulary(words)
    sizes = len(stoi), makemore.BLOCK_SIZE, makemore.N_EMBD, makemore.N_HIDDEN
    autodiff.manual_seed(1)
    model = makemore.MLP(*sizes)
    twin = theirs.MLP(*sizes)
    assert isinstance(twin, torch.nn.Module)
    twin.load_state_dict({name: torch.from_numpy(array) for name, array in model.state_dict().items()})
    (Xtr, Ytr), (Xdev, Ydev) = makemore.splits(words, stoi, makemore.in_this_project())
    (Xt, Yt), (Xtd, Ytd) = makemore.splits(words, stoi, theirs)
    steps = 40
    batches = makemore.batch_rows(len(Xtr), steps)
    quiet = lambda *lines: None  # noqa: E731
    ours = makemore.train(model, Xtr, Ytr, batches, steps, log=quiet)
    their = theirs.train(twin, Xt, Yt, torch.from_numpy(batches), steps, log=quiet)
    np.testing.assert_allclose(ours, their, rtol=tolerance, atol=0)
    assert ours[-1] < ours[0]
    assert makemore.split_loss(model, Xdev, Ydev) == pytest.approx(theirs.split_loss(twin, Xtd, Ytd), rel=tolerance)
    their_state = twin.state_dict()
    for name, array in model.state_dict().items():
        assert array.dtype == dtype
        expected = their_state[name].numpy()
        np.testing.assert_allclose(array, expected, rtol=0, atol=tolerance * np.abs(expected).max(), err_msg=name)
    words = makemore.samples(makemore.sample, model, itos, 5, seed=0)
    assert words == makemore.samples(theirs.sample, twin, itos, 5, seed=0)
    assert len(set(words)) > 1
