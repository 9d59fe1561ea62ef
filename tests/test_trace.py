"""trace_backward: the same gradients as backward, and each step's numbers and text."""

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autodiff import BackwardError, Tensor, Value, trace_backward
from autodiff.viz.nodes import format_number
from autodiff import operators
from autodiff.viz.trace import NOT_COMPUTED, GraphChangedSinceForward, changed_since_forward, share_formula
from op_table import VALUE, function, rows, seeded

VALUE_ROWS = rows(VALUE)


def micrograd_neuron():
    leaves = {"x1": Value(2.0, label="x1"), "x2": Value(0.0, label="x2"), "w1": Value(-3.0, label="w1"),
              "w2": Value(1.0, label="w2"), "b": Value(6.8813735870195432, label="b")}
    x1w1 = leaves["x1"] * leaves["w1"]
    x1w1.label = "x1w1"
    n = x1w1 + leaves["x2"] * leaves["w2"] + leaves["b"]
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o, leaves


def build(program, inputs):
    """The Values ``program`` computes: each instruction applies a row of the table to earlier results.

    An instruction whose operands lie outside the row's domain (a logarithm of a negative number) is left out.
    """
    values = [Value(x, label=f"v{i}") for i, x in enumerate(inputs)]
    for name, *positions in program:
        op = next(op for op in VALUE_ROWS if op.name == name)
        operands = [values[p % len(values)] for p in positions[:op.takes.arity]]
        if all(op.domain(k).accepts(x.data) for k, x in enumerate(operands)):
            values.append(function(op, "ours", op.takes.arity)(*operands))
    return values


instructions = st.lists(
    st.tuples(st.sampled_from([op.name for op in VALUE_ROWS]), st.integers(0, 50), st.integers(0, 50)),
    min_size=1, max_size=12,
)
numbers = st.lists(st.floats(-2, 2, allow_nan=False), min_size=1, max_size=4)


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


@given(instructions, numbers)
def test_the_traced_gradients_are_exactly_backwards_and_only_stored_when_asked(program, inputs):
    shown = build(program, inputs)
    trace = trace_backward(shown[-1])
    assert all(v.grad == 0.0 for v in shown)  # a trace only shows
    stored = build(program, inputs)
    trace_backward(stored[-1], store=True)
    reference = build(program, inputs)
    reference[-1].backward()
    for node, kept, r in zip(shown, stored, reference):
        assert same(kept.grad, r.grad)
        assert same(trace.grads.get(node, 0.0), r.grad)


@given(instructions, numbers)
def test_every_step_adds_the_share_its_text_computes(program, inputs):
    values = build(program, inputs)
    trace = trace_backward(values[-1])
    assert trace[0].kind == "seed" and trace[0].grad_after == 1.0
    for step in trace[1:]:
        assert step.local == step.node.local_grads[step.position]
        if step.kind == "chain":
            # the text's formula, its names replaced by the numbers of the forward pass, is the share exactly
            formula = step.text.split(" += ", 1)[1].split(" = ")[0]
            share = _evaluate(formula, _numbers_of(step.node, trace.names, step.upstream))
            assert share == step.contribution or (math.isnan(share) and math.isnan(step.contribution))
        before = 0.0 if step.grad_before is NOT_COMPUTED else step.grad_before
        assert step.grad_after == before + step.contribution or math.isnan(step.grad_after)
    chain = [s for s in trace if s.kind == "chain"]
    assert len(chain) == sum(len(v.children) for v in {id(v): v for v in _nodes(values[-1])}.values())


def _nodes(root):
    seen, stack, found = set(), [root], []
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            found.append(node)
            stack.extend(node.children)
    return found


def test_the_neuron_trace_reads_as_the_chain_rule():
    o, leaves = micrograd_neuron()
    trace = trace_backward(o, store=True)
    by_target = {step.target.label: step for step in trace if step.kind == "chain" and step.target.label}
    dn = 1 - o.data**2  # do/dn = 1 - tanh(n)², one half here
    assert math.isclose(dn, 0.5)
    x1 = by_target["x1"]
    assert x1.upstream == by_target["x1w1"].grad_after
    assert x1.local == leaves["w1"].data
    assert x1.text == (f"x1.grad += w1.data * x1w1.grad = {format_number(-3.0)} * {format_number(dn)}"
                       f" = {format_number(-3.0 * dn)}")
    assert by_target["n"].text.startswith("n.grad += (1 - o.data**2) * o.grad = ")
    assert trace[0].text.startswith("o.grad = 1.0")
    assert [leaves[name].grad for name in ("x1", "x2", "w1", "w2", "b")] == pytest.approx(
        [-3.0 * dn, 1.0 * dn, 2.0 * dn, 0.0, dn])
    lines = str(trace).splitlines()
    assert len(lines) == len(trace) and lines[0].lstrip().startswith("1. o.grad")


def test_the_trace_matches_finite_differences():
    o, leaves = micrograd_neuron()
    trace_backward(o, store=True)
    for name, leaf in leaves.items():
        h = 1e-6
        values = {k: v.data for k, v in leaves.items()}
        up = micrograd_neuron_at({**values, name: values[name] + h})
        down = micrograd_neuron_at({**values, name: values[name] - h})
        assert leaf.grad == pytest.approx((up - down) / (2 * h), abs=1e-7)


def micrograd_neuron_at(values):
    return math.tanh(values["x1"] * values["w1"] + values["x2"] * values["w2"] + values["b"])


def test_a_square_shows_both_shares_and_their_sum():
    x = Value(3.0, label="x")
    trace = trace_backward(x * x)
    assert [step.kind for step in trace] == ["seed", "chain", "chain", "accumulate"]
    assert [step.position for step in trace[1:3]] == [0, 1]
    assert trace[3].text == "x.grad = 3.0 + 3.0 = 6.0"
    assert trace.grads[x] == 6.0 and x.grad == 0.0


def test_a_node_labelled_with_an_expression_is_bracketed_where_its_grad_is_read():
    x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    product = x * w
    product.label = "x*w"
    trace = trace_backward(product.tanh())
    assert trace[1].text.startswith("(x*w).grad += (1 - tanh1.data**2) * tanh1.grad")
    assert trace[2].text.startswith("x.grad += w.data * (x*w).grad")


def test_a_node_used_by_two_operations_accumulates():
    a, b = Value(2.0, label="a"), Value(-4.0, label="b")
    out = a * b + a.exp()
    trace = trace_backward(out, store=True)
    accumulated = [step for step in trace if step.kind == "accumulate"]
    assert len(accumulated) == 1 and accumulated[0].target is a
    assert accumulated[0].grad_after == a.grad == pytest.approx(-4.0 + math.exp(2.0))
    first, second = [step for step in trace if step.kind == "chain" and step.target is a]
    assert accumulated[0].grad_before == first.grad_after and accumulated[0].contribution == second.contribution


def test_a_leaf_gradient_left_from_before_is_added_to_visibly_when_stored():
    x = Value(1.5, label="x")
    x.grad = 2.0
    trace = trace_backward(x * 4.0, store=True)
    assert [step.kind for step in trace] == ["seed", "chain", "accumulate", "chain"]
    assert trace[2].text == "x.grad = 2.0 + 4.0 = 6.0" and x.grad == 6.0
    assert str(trace).startswith("(the leaves already held gradients")


def test_a_trace_that_only_shows_gives_this_passs_own_gradients_and_says_backward_would_add():
    x = Value(1.5, label="x")
    x.grad = 2.0
    trace = trace_backward(x * 4.0)
    assert [step.kind for step in trace] == ["seed", "chain", "chain"]
    assert trace.grads[x] == 4.0 and x.grad == 2.0
    assert trace.before(x) is NOT_COMPUTED
    assert "backward() would add to them" in trace.note
    assert trace_backward(Value(1.0) * 2.0).note == ""


def test_leaves_are_named_by_their_role_never_leaf_and_a_number():
    nn.manual_seed(0)
    model = nn.MLP(2, [1])
    out = (1 - model([1.0, 2.0])).relu()
    text = str(trace_backward(out, model))  # module is the second argument
    assert "layers.0.neurons.0.w.0.grad += x[0].data * linear1.grad" in text
    assert "x[1].grad += layers.0.neurons.0.w.1.data * linear1.grad" in text
    assert "const(1.0).grad += sub1.grad = " in text
    assert "relu1.grad = 1.0" in text
    assert not re.search(r"\bleaf\d", text)
    # without a module nothing tells a weight from a constant: a leaf is named by its value
    assert trace_backward(Value(2.0) * Value(-0.5))[1].text.startswith("leaf(2.0).grad += leaf(-0.5).data")
    x = Tensor(np.ones((3, 2)))
    linear = nn.Linear(2, 1)
    assert "weight.grad += " in str(trace_backward(linear(x).sum(), linear))
    assert any(trace_backward(linear(x).sum(), linear).names[id(node)] == "x" for node in [x])


def test_no_minus_zero_and_vjp_is_explained_where_it_first_appears():
    a, b = Value(-2.0, label="a"), Value(0.0, label="b")
    text = str(trace_backward((a * b).relu() * a))
    assert "-0.0" not in text and "0.0" in text
    w = Tensor(np.array([[1.0, -2.0]]), requires_grad=True, label="w")
    trace = trace_backward((w * 2.0).tanh().sum())
    chain = [step.text for step in trace if step.kind == "chain"]
    assert "vector-Jacobian product" in chain[0] and "d(sum1)/d(tanh1)" in chain[0]  # explained where it appears
    assert all("vector-Jacobian" not in line for line in chain[1:]) and len(chain) == 3


def _moons_like_step(model, point):
    """A forward pass, backward, and an SGD step on every parameter: the loss's graph now lies behind the weights."""
    loss = (1 - model(point)).relu()
    loss.backward()
    for p in model.parameters():
        p.data -= 0.1 * p.grad
    return loss


def test_a_trace_of_a_graph_whose_weights_moved_since_the_forward_pass_says_to_run_it_again():
    nn.manual_seed(3)
    model = nn.MLP(2, [3, 1])
    loss = _moons_like_step(model, [0.5, -1.0])
    assert changed_since_forward(loss)
    before = [p.grad for p in model.parameters()]
    with pytest.raises(GraphChangedSinceForward, match="run the forward pass again"):
        trace_backward(loss, model)
    assert [p.grad for p in model.parameters()] == before  # refused before touching anything
    fresh = (1 - model([0.5, -1.0])).relu()
    assert changed_since_forward(fresh) == [] and len(trace_backward(fresh, model)) > 1


def test_a_trace_of_a_tensor_graph_after_an_optimiser_step_says_to_run_the_forward_pass_again():
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    x = Tensor(np.random.default_rng(0).normal(size=(5, 3)))
    loss = (model(x) ** 2).mean()
    trace_backward(loss, model, store=True)
    optimizer.step()
    with pytest.raises(GraphChangedSinceForward, match=r"optimiser step.*run the forward pass again"):
        trace_backward(loss, model)
    assert len(trace_backward((model(x) ** 2).mean(), model)) > 1


def test_a_change_to_any_input_of_a_value_operation_is_seen():
    # a Value operation keeps the numbers it read: even a bias, which only ever adds, is seen to have moved
    b, x = Value(1.0, label="b"), Value(2.0, label="x")
    total = x + b
    out = total.tanh()
    assert changed_since_forward(out) == []
    b.data = 5.0
    assert changed_since_forward(out) == [total]


@pytest.mark.parametrize("op", VALUE_ROWS, ids=str)
def test_each_share_formula_computes_the_share_backward_sends(op):
    rng = seeded("formula", op)
    operands = [Value(float(op.domain(k).draw(rng, ())), label=f"v{k}") for k in range(op.takes.arity)]
    node = function(op, "ours", op.takes.arity)(*operands)
    assert node.op == op.node
    names = {id(child): f"c{k}" for k, child in enumerate(node.children)}  # numbers in the row are inputs too
    names[id(node)] = "out"
    numbers = {f"c{k}.data": child.data for k, child in enumerate(node.children)}
    numbers.update({"out.data": node.data, "out.grad": 0.25})
    trace = trace_backward(node, grad=0.25)
    for position in range(len(node.children)):
        formula = share_formula(node, position, names)
        step = next(s for s in trace if s.kind == "chain" and s.position == position)
        assert _evaluate(formula, numbers) == step.contribution, formula
        assert step.local == pytest.approx(node.local_grads[position], rel=1e-12)


def _numbers_of(node, names, upstream):
    """``name.data`` of the node and its inputs (as the forward pass left them) and ``name.grad`` of the node."""
    numbers = {f"{names[id(child)]}.data": local_input for child, local_input in zip(node.children, _inputs(node))}
    numbers[f"{names[id(node)]}.data"] = node.data
    numbers[f"{names[id(node)]}.grad"] = upstream
    return numbers


def _inputs(node):
    return [child.data for child in node.children]  # nothing changes data in these programs


def _evaluate(formula, numbers):
    """The number a formula of ``name.data``, ``name.grad``, numbers and the scalar functions stands for."""
    names = sorted(numbers, key=len, reverse=True)
    expression = re.sub("|".join(re.escape(n) for n in names), lambda m: f"({numbers[m.group(0)]!r})", formula)
    expression = expression.replace("(nan)", "nan").replace("(inf)", "inf").replace("(-inf)", "-inf")
    assert re.fullmatch(r"[\d.e()*/+\- ><=&,a-z_]+", expression), expression
    scope = {name: f for name, f in vars(operators).items() if callable(f) and not name.startswith("_")}
    scope.update(nan=math.nan, inf=math.inf, xp=operators)  # xp.sinh: a ufunc of numpy the module lends
    try:
        return float(eval(expression, {"__builtins__": {}}, scope))  # our own formula: numbers and these functions
    except ZeroDivisionError:
        return math.copysign(math.inf, 1.0) if "/" in expression else math.nan


def _affine_loss(x, weight, bias):
    hidden = (x @ weight.T + bias).tanh()
    return (hidden * hidden + hidden).mean()


def test_tensor_traces_leave_backwards_gradients_and_show_shapes():
    rng = np.random.default_rng(0)
    arrays = rng.normal(size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=2)
    traced = [Tensor(arrays[0]), Tensor(arrays[1], requires_grad=True, label="W"),
              Tensor(arrays[2], requires_grad=True, label="bias")]
    trace = trace_backward(_affine_loss(*traced), store=True)
    reference = [Tensor(arrays[0]), Tensor(arrays[1], requires_grad=True), Tensor(arrays[2], requires_grad=True)]
    _affine_loss(*reference).backward()
    assert np.array_equal(traced[1].grad, reference[1].grad)
    assert np.array_equal(traced[2].grad, reference[2].grad)
    assert all(step.target is not traced[0] for step in trace)  # a constant gets no gradient, no step
    for step in trace[1:]:
        assert step.contribution.shape == step.target.shape  # broadcasting undone, as backward does
    bias_step = next(step for step in trace if step.target is traced[2])
    assert np.allclose(bias_step.contribution, bias_step.upstream.sum(axis=0))
    assert bias_step.text.startswith("bias.grad += add1.grad.sum(axis=(0,))  ->  [")  # the broadcast undone
    accumulated = [step for step in trace if step.kind == "accumulate"]
    assert [step.target.op for step in accumulated] == ["tanh", "tanh"]  # hidden is used three times
    for step in accumulated:
        assert np.array_equal(step.grad_after, step.grad_before + step.contribution)


def test_a_tensor_root_needs_a_gradient_unless_it_has_one_element():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(BackwardError, match="pass grad="):
        trace_backward(x * 2.0)
    trace_backward(x * 2.0, store=True, grad=np.array([1.0, 2.0, 3.0]))
    assert np.array_equal(x.grad, [2.0, 4.0, 6.0])
    with pytest.raises(BackwardError):
        trace_backward(Tensor(np.ones(1)) * 2.0)
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        trace_backward(x * 2.0, grad=np.ones(2))


def test_a_very_deep_graph_is_traced_without_recursion():
    x = Value(0.5, label="x")
    y = x
    for _ in range(20_000):
        y = y * 1.0
    trace = trace_backward(y, store=True)
    assert len(trace) == 1 + 2 * 20_000 and x.grad == 1.0
