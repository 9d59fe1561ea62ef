"""``autodiff.compile`` against eager, operation by operation: the same numbers to the last bit, and each refusal.

A compiled call runs the program written from the recorded graph; where it
runs the same numpy calls in the same order as the eager function, its
results, the ``.grad`` that ``backward()`` leaves and what ``autodiff.grad``
returns are equal to eager's exactly (``np.array_equal``, dtypes too). Every
differential test records on one set of numbers and compares on another, so
a program that kept a number of the recorded call (a mask, a saved state)
fails it. The models, training loops and threads are in
``test_compile_models.py``.
"""

import functools
import inspect
import random
import re
import threading
import warnings

import numpy as np
import pytest

import autodiff
import nn
from autodiff import CompileError, Tensor, Value
from autodiff import functions as AF
from autodiff import numpy_ops
from autodiff.primitive import Primitive
from nn import functional as F
from op_table import TENSOR, VALUE, cases, function, rows, seeded, suited_operands

DTYPES = [np.float64, np.float32]


# -- comparing ---------------------------------------------------------------------------------------------


def same(a, b):
    """Equal to the last bit, in the same dtype (NaNs where NaNs)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def flat_nodes(result):
    """The Tensors and Values of a result (a node, or tuples, lists and dicts of them), in order."""
    if isinstance(result, (Tensor, Value)):
        return [result]
    if isinstance(result, dict):
        return [n for v in result.values() for n in flat_nodes(v)]
    if isinstance(result, (list, tuple)):
        return [n for v in result for n in flat_nodes(v)]
    return []


class Arguments:
    """Arguments of one shape, made afresh from a seed: floats needing gradients, positive ones, labels."""

    def __init__(self, specs, dtype):
        self.specs, self.dtype = specs, dtype

    def make(self, seed):
        rng = np.random.default_rng(seed)
        made = []
        for spec in self.specs:
            kind, shape = (spec if isinstance(spec[0], str) else ("normal", spec))
            if kind == "labels":
                count, classes = shape
                made.append(Tensor(rng.integers(0, classes, count)))
                continue
            numbers = {
                "normal": lambda: rng.normal(size=shape),
                "positive": lambda: rng.uniform(0.5, 2.0, size=shape),
                "probability": lambda: rng.uniform(0.05, 0.95, size=shape),
                "bits": lambda: (rng.random(shape) > 0.5).astype(np.float64),
            }[kind]()
            made.append(Tensor(numbers.astype(self.dtype), requires_grad=kind != "bits"))
        return made


def cotangents(outputs, seed):
    """A fixed random weighting for each floating output, so each output's gradient is not all ones."""
    rng = np.random.default_rng(seed)
    return [Tensor(rng.normal(size=o.shape).astype(o.dtype)) if o.dtype.kind == "f" else None for o in outputs]


def test_outputs_need_gradients_where_eager_outputs_do():
    compiled = autodiff.compile(_partly_without_grad)
    arguments = Arguments([(3, 4), (3, 4)], np.float64)
    compiled(*arguments.make(1))
    expected = [o.requires_grad for o in _partly_without_grad(*arguments.make(2))]
    assert expected == [True, False, False, False]
    assert [o.requires_grad for o in compiled(*arguments.make(2))] == expected


def run_and_differentiate(fn, arguments, seed):
    """fn on fresh arguments: its outputs' data, each argument's .grad after backward of Σ output · weight, and
    what autodiff.grad gives for the outputs with those weights.

    Each output's term is differentiated on its own, one after the other: a compiled call has a backward
    program per output, so a loss summing several outputs adds their shares in another order than eager
    (test_a_loss_of_several_outputs_gets_the_gradients_to_rounding).
    """
    args = arguments.make(seed)
    autodiff.manual_seed(seed)
    outputs = flat_nodes(fn(*args))
    weights = cotangents(outputs, seed + 1000)
    datas = [o.data.copy() for o in outputs]
    terms = [(o * w).sum() for o, w in zip(outputs, weights) if w is not None and o.requires_grad]
    wanted = [a for a in args if a.requires_grad]
    differentiable = [(o, w.data) for o, w in zip(outputs, weights) if w is not None and o.requires_grad]
    grads_by_function = []
    if differentiable:
        grads_by_function = [None if g is None else np.asarray(g).copy() for g in autodiff.grad(
            [o for o, _ in differentiable], wanted, grad_outputs=[w for _, w in differentiable])]
    for term in terms:
        term.backward()
    return datas, [None if a.grad is None else a.grad.copy() for a in wanted], grads_by_function


def assert_compiled_equals_eager(fn, arguments, recorded_seed=1, compared_seeds=(2, 3)):
    """fn compiled, recorded on one set of numbers, then run on others: every number equal to eager's."""
    compiled = autodiff.compile(fn)
    run_and_differentiate(compiled, arguments, recorded_seed)
    for seed in compared_seeds:
        eager = run_and_differentiate(fn, arguments, seed)
        program = run_and_differentiate(compiled, arguments, seed)
        for what, expected, got in zip(("outputs", ".grad", "autodiff.grad"), eager, program):
            assert len(expected) == len(got)
            for k, (e, g) in enumerate(zip(expected, got)):
                assert (e is None) == (g is None), f"{what}[{k}]: None in one run only"
                if e is not None:
                    assert same(e, g), f"{what}[{k}] differs from eager (seed {seed}):\n{e}\n{g}"
    return compiled


# -- the operations -------------------------------------------------------------------------------------------

ROWS = np.array([0, 2, 0])
COLUMNS = np.array([1, 0, 3])

def _partly_without_grad(a, b):
    with autodiff.no_grad():
        scale = (a * b).sum()  # a number computed from the inputs that passes no gradient back
        quiet = a.exp()
    return (a * b * scale).tanh(), quiet, (a * b).detach(), a.argmax(1)


def _two_draws(a, b, combine):
    first = F.dropout(a, 0.5)
    second = F.dropout(b, 0.5)
    return combine(first, second)


# (name, function, arguments): every primitive of autodiff.primitives and of nn is reached by one of these
# (test_every_primitive_is_compiled_by_a_case)
CASES = [
    ("add broadcast", lambda a, b: a + b, [(3, 4), (4,)]),
    ("add a number", lambda a: 2.5 + a, [(3, 4)]),
    ("sub", lambda a, b: a - b, [(3, 4), (3, 1)]),
    ("mul", lambda a, b: a * b, [(3, 4), (3, 4)]),
    ("mul reused", lambda a: a * a + a.exp() * a, [(3, 4)]),
    ("div", lambda a, b: a / b, [(3, 4), ("positive", (3, 4))]),
    ("neg", lambda a: -a, [(3, 4)]),
    ("pow by a number", lambda a: a ** 3 + a ** -1.5 * 0 + abs(a) ** 0.5, [(3, 4)]),
    ("pow by a tensor", lambda a, b: a ** b, [("positive", (3, 4)), (3, 4)]),
    ("number to a tensor power", lambda a: 2.0 ** a, [(3, 4)]),
    ("exp log sqrt", lambda a: a.exp() + a.log() + a.sqrt(), [("positive", (3, 4))]),
    ("log2 log10", lambda a: a.log2() * a.log10(), [("positive", (3, 4))]),
    ("tanh sigmoid relu", lambda a: a.tanh() * a.sigmoid() + a.relu(), [(3, 4)]),
    ("abs sin cos", lambda a: abs(a) + a.sin() * a.cos(), [(3, 4)]),
    ("clip", lambda a: a.clip(-0.5, 0.7), [(3, 4)]),
    ("std var", lambda a: a.std(1) + a.var(0).sum(), [(3, 4)]),
    ("cast between floats", lambda a: AF.cast(a, np.float32) * 2, [(3, 4)]),
    ("clone", lambda a: autodiff.clone(a) * a, [(3, 4)]),
    ("where", lambda a, b: autodiff.where(a > b, a, b * 2), [(3, 4), (3, 4)]),
    ("sum", lambda a: a.sum(axis=1, keepdims=True) * a + a.sum(), [(3, 4)]),
    ("mean", lambda a: a.mean(0) + a.mean(), [(3, 4)]),
    ("max and min with indices", lambda a: (a.max(1), a.min(dim=0)), [(3, 4)]),
    ("max of all", lambda a: a.max() - a.min(), [(3, 4)]),
    ("logsumexp", lambda a: a.logsumexp(1), [(3, 4)]),
    ("softmax log_softmax", lambda a: a.softmax(1) * a.log_softmax(-1), [(3, 4)]),
    ("reshape view flatten", lambda a: a.reshape(4, 6)[1:].view(18) + a.flatten()[:18], [(2, 3, 4)]),
    ("squeeze unsqueeze", lambda a: a.unsqueeze(0).squeeze(0) * a[:, :1], [(3, 4)]),
    ("permute transpose", lambda a: (a.permute(2, 0, 1).transpose(0, 1) + a.swapaxes(1, 2)) * a.T.sum(),
     [(2, 3, 4)]),
    ("broadcast_to", lambda a: AF.broadcast_to(a, (3, 4)) * 2, [(4,)]),
    ("index by slices", lambda a: a[1:, ::2] * a[0, 1], [(3, 4)]),
    ("index by an array", lambda a: a[ROWS] * 2, [(3, 4)]),
    ("gather", lambda a: a[np.arange(3), COLUMNS], [(3, 4)]),
    ("index by a mask", lambda a: a[a.detach() > 0] * 3, [(3, 4)]),
    ("unindex", lambda a: AF.unindex(a, (slice(1, 4),), (5, 4)) * 2, [(3, 4)]),
    ("ungather", lambda a: AF.ungather(a, (ROWS,), (5, 4)) * 2, [(3, 4)]),
    ("cat stack split", lambda a, b: [autodiff.cat([a, b], dim=0), autodiff.stack([a, a], 1), *a.split(2, 1)],
     [(3, 4), (2, 4)]),
    ("matmul", lambda a, b: a @ b, [(3, 4), (4, 5)]),
    ("matmul batched", lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    ("matmul by a vector", lambda a, b: (a @ b, b @ b), [(3, 4), (4,)]),
    ("masked_fill tril triu", lambda a: autodiff.tril(a).masked_fill(a > 0.5, -1.0) + autodiff.triu(a, 1),
     [(4, 4)]),
    ("masked_fill -inf then softmax",
     lambda a: a.masked_fill(autodiff.tril(autodiff.ones(4, 4)) == 0, float("-inf")).softmax(-1), [(4, 4)]),
    ("comparisons as outputs", lambda a, b: (a < b, a <= b, a > b, a >= b, a == b, a != b), [(3, 4), (3, 4)]),
    ("and or xor", lambda a, b: autodiff.where(((a > 0) & (b > 0)) | ((a < 0) ^ (b < 1)), a, b), [(3, 4), (3, 4)]),
    ("not sign isnan isfinite", lambda a: (~(a > 0), a.sign() * a, AF.isnan(a), AF.isfinite(a)), [(3, 4)]),
    ("integer results", lambda a: (a.argmax(1), a.argmin(), a.long(), (a * 10).int() + 1), [(3, 4)]),
    ("detach", lambda a: a * a.detach(), [(3, 4)]),
    ("no_grad inside", _partly_without_grad, [(3, 4), (3, 4)]),
    ("linear", lambda x, w, b: F.linear(x, w, b), [(5, 3), (4, 3), (4,)]),
    ("dropout", lambda a: F.dropout(a, 0.4), [(6, 5)]),
    # a program draws in the order eager drew, whichever way the graph is walked
    ("two dropouts, summed in order", lambda a, b: _two_draws(a, b, lambda p, q: p * 2 + q), [(6, 5), (6, 5)]),
    ("two dropouts, summed backwards", lambda a, b: _two_draws(a, b, lambda p, q: q * 2 + p), [(6, 5), (6, 5)]),
    ("embedding", lambda i, w: F.embedding(i, w), [("labels", (7, 5)), (5, 3)]),
    ("erf gelu", lambda a: F.erf(a) + F.gelu(a), [(3, 4)]),
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, padding=1), [(2, 2, 5, 5), (3, 2, 3, 3), (3,)]),
    ("conv2d strided", lambda x, w: F.conv2d(x, w, stride=2), [(1, 2, 7, 7), (2, 2, 3, 3)]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2), [(2, 3, 6, 6)]),
    ("rnn_tanh", lambda x, h, w: F.rnn_tanh(x, h, w), [(4, 2, 3), (2, 3), (3, 3)]),
    ("lstm", lambda x, h, c, w: F.lstm(x, h, c, w), [(4, 2, 8), (2, 2), (2, 2), (8, 2)]),
    ("binary_cross_entropy", lambda a, t: F.binary_cross_entropy(a.sigmoid(), t), [(3, 4), ("bits", (3, 4))]),
    ("cross_entropy", lambda a, y: F.cross_entropy(a, y), [(5, 4), ("labels", (5, 4))]),
    ("nll_loss", lambda a, y: F.nll_loss(a.log_softmax(1), y), [(5, 4), ("labels", (5, 4))]),
    ("mse l1", lambda a, b: F.mse_loss(a, b) + F.l1_loss(a, b), [(3, 4), (3, 4)]),
    ("penalties", lambda a, b: nn.l1_penalty([a, b]) + nn.l2_penalty([a, b]), [(3, 4), (4,)]),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    ("an argument twice", lambda a: a * a.exp().sum(0) / (a.abs() + 1), [(3, 4)]),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, fn, specs", CASES, ids=[case[0] for case in CASES])
def test_compiled_operation_equals_eager_to_the_last_bit(name, fn, specs, dtype):
    with np.errstate(all="ignore"):  # -inf in the masked softmax's scores
        assert_compiled_equals_eager(fn, Arguments(specs, dtype))


class RowArguments:
    """A row of the shared operation table's first case: operands from its domains, afresh from a seed."""

    def __init__(self, op, case, dtype):
        self.op, self.case, self.dtype = op, case, dtype

    def make(self, seed):
        operands = suited_operands(self.op, self.case, seeded("compile", self.op, self.case, seed))
        return [Tensor(values.astype(self.dtype), requires_grad=True) for values in operands]


def row_function(op, case):
    return function(op, "ours", len(case.shapes), case.settings)


@pytest.mark.parametrize("op", rows(TENSOR), ids=str)
def test_each_row_of_the_operation_table_compiles_to_eager_numbers(op):
    """A new operation is one row of tests/op_table.py: this compiles it, as the other tests differentiate it."""
    (case,) = cases(op, most=1)
    with np.errstate(all="ignore"):
        assert_compiled_equals_eager(row_function(op, case), RowArguments(op, case, np.float64))


def _primitives_of(module):
    return {value for value in vars(module).values() if isinstance(value, Primitive)}


def test_every_primitive_is_compiled_by_a_case():
    import nn.conv
    import nn.erf
    import nn.layers
    import nn.losses
    import nn.recurrent
    from autodiff import primitives

    table = set().union(*map(_primitives_of, (primitives, nn.layers, nn.erf, nn.conv, nn.recurrent, nn.losses)))
    scalar_only = {primitives.VALUE_LINEAR, primitives.VALUE_SUM}  # Values: test_compiled_values_*
    reached = set()
    calls = [(fn, Arguments(specs, np.float64)) for _, fn, specs in CASES]
    calls += [(row_function(op, case), RowArguments(op, case, np.float64))
              for op in rows(TENSOR) for case in cases(op, most=1)]
    for fn, arguments in calls:
        compiled = autodiff.compile(fn)
        with np.errstate(all="ignore"):
            result = compiled(*arguments.make(0))  # the recorded call: every operation a node
        stack = flat_nodes(result)
        while stack:
            node = stack.pop()
            if node.primitive is not None:
                reached.add(node.primitive)
            stack.extend(node.children)
    missing = sorted(p.name for p in table - scalar_only - reached)
    assert not missing, f"no row of tests/op_table.py nor case of CASES here compiles {missing}: add one"


# -- Values -------------------------------------------------------------------------------------------------


def value_cases():
    return [
        ("arithmetic", lambda a, b: (a * b + a / b - b ** 2) * (2 - a) ** 3),
        ("functions", lambda a, b: a.exp() + b.tanh() * a.sigmoid() + (a * b).relu() + abs(b).log() + a.sin()),
        ("reused", lambda a, b: (a * a).tanh() * a + b / (1 + a * a)),
        ("power of a Value", lambda a, b: abs(a) ** b + 2 ** b),
    ]


@pytest.mark.parametrize("name, fn", value_cases(), ids=[case[0] for case in value_cases()])
def test_compiled_values_equal_eager_to_the_last_bit(name, fn):
    def run(f, a_number, b_number):
        a, b = Value(a_number), Value(b_number)
        out = f(a, b)
        out.backward()
        return out.data, a.grad, b.grad

    compiled = autodiff.compile(fn)
    run(compiled, 0.3, -1.7)
    for numbers in [(1.25, 0.5), (-0.75, 2.5), (2.0, -0.3)]:
        expected = run(fn, *numbers)
        assert run(compiled, *numbers) == expected  # floats compare exactly


@pytest.mark.parametrize("op", rows(VALUE), ids=str)
def test_each_value_row_of_the_operation_table_compiles_to_eager_numbers(op):
    fn = function(op, "ours", op.takes.arity)

    def run(f, numbers):
        inputs = [Value(float(x)) for x in numbers]
        out = f(*inputs)
        out.backward()
        return out.data, [x.grad for x in inputs]

    compiled = autodiff.compile(fn)
    run(compiled, [0.25 + k for k in range(op.takes.arity)])
    for seed in (1, 2):
        rng = seeded("compile value", op, seed)
        numbers = [op.domain(k).draw(rng, ()) for k in range(op.takes.arity)]
        assert run(compiled, numbers) == run(fn, numbers)  # floats compare exactly


def test_a_compiled_value_program_is_straight_line_arithmetic_on_floats():
    compiled = autodiff.compile(lambda a, b: (a * b + 1).tanh())
    compiled(Value(1.0), Value(2.0))
    source = compiled.source()
    assert "mul1 = a * b" in source and "tanh(add1)" in source
    assert "np." not in source  # floats, not arrays


# -- what a call is: the signature ----------------------------------------------------------------------------


class Counted:
    """A function that counts the calls that ran it (the recording ones): compiled calls of a program do not."""

    def __init__(self, fn):
        self.fn, self.runs = fn, 0
        self.__name__ = "counted"

    def __call__(self, *args, **kwargs):
        self.runs += 1
        return self.fn(*args, **kwargs)


def test_a_new_shape_records_again_and_an_old_one_reuses_its_program():
    w = Tensor(np.linspace(-1, 1, 3), requires_grad=True)
    fn = Counted(lambda x: (x * w).tanh().sum(0))
    compiled = autodiff.compile(fn)
    rng = np.random.default_rng(0)
    for rows, runs in [(4, 1), (4, 1), (7, 2), (4, 2), (7, 2), (1, 3)]:
        x = rng.normal(size=(rows, 3))
        w.grad = None
        compiled(Tensor(x)).sum().backward()
        got = w.grad.copy()
        w.grad = None
        expected = fn.fn(Tensor(x))
        expected.sum().backward()
        assert fn.runs == runs
        assert same(compiled(Tensor(x)).data, expected.data) and same(got, w.grad)


def test_dtype_and_requires_grad_of_the_arguments_are_part_of_the_signature():
    fn = Counted(lambda x: (x * 3).exp())
    compiled = autodiff.compile(fn)
    compiled(Tensor(np.ones(2)))
    compiled(Tensor(np.ones(2, dtype=np.float32)))
    assert fn.runs == 2
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    compiled(x).sum().backward()
    assert fn.runs == 3 and same(x.grad, 3 * np.exp(np.array([1.5, -3.0])))


def test_other_arguments_count_by_equality_and_type():
    fn = Counted(lambda x, scale, shift=0: x * scale + shift)
    compiled = autodiff.compile(fn)
    x = Tensor(np.arange(3))  # integers: x * 1 and x * 1.0 differ in dtype
    assert compiled(x, 2).tolist() == [0, 2, 4]
    assert compiled(x, 2).tolist() == [0, 2, 4] and fn.runs == 1
    assert compiled(x, 3).tolist() == [0, 3, 6] and fn.runs == 2
    assert compiled(x, 3, shift=1).tolist() == [1, 4, 7] and fn.runs == 3
    assert compiled(x, 1).dtype == np.int64
    one_float = compiled(x, 1.0)
    assert one_float.dtype == np.float64 and same(one_float.data, np.arange(3.0))
    assert compiled(x, scale=1.0).dtype == np.float64


def test_numpy_arguments_count_by_their_bytes():
    fn = Counted(lambda x, index: x[index] * 2)
    compiled = autodiff.compile(fn)
    x = Tensor(np.arange(5.0))
    assert compiled(x, np.array([0, 1])).tolist() == [0.0, 2.0]
    assert compiled(x, np.array([3, 4])).tolist() == [6.0, 8.0]
    assert compiled(x, np.array([0, 1])).tolist() == [0.0, 2.0] and fn.runs == 2


def test_an_argument_new_at_every_call_keeps_memory_bounded_and_says_why_it_records_again(monkeypatch):
    """numpy batches passed as they are: each call records anew, a bounded number of programs is kept, and
    one warning says to pass Tensors; every result is still eager's."""
    from autodiff import compiler

    monkeypatch.setattr(compiler, "KEPT_SIGNATURES", 3)
    w = Tensor(np.array([0.5, -2.0]), requires_grad=True)
    fn = Counted(lambda x: (Tensor(x) * w).tanh().sum())
    compiled = autodiff.compile(fn)
    rng = np.random.default_rng(1)
    batches = [rng.normal(size=2) for _ in range(6)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k, batch in enumerate(batches):
            w.grad = None
            compiled(batch).backward()
            got = w.grad.copy()
            w.grad = None
            (Tensor(batch) * w).tanh().sum().backward()
            assert same(got, w.grad)
            assert len(compiled._programs) == min(k + 1, 3)
    assert fn.runs == 6
    messages = [str(warning.message) for warning in caught if issubclass(warning.category, RuntimeWarning)]
    assert len(messages) == 1 and "compile(counted)" in messages[0] and "Pass arrays as Tensors" in messages[0]
    assert caught[0].filename == __file__  # it points at the caller's line
    compiled(batches[-1])
    assert fn.runs == 6  # a kept signature runs its program
    compiled(batches[0])
    assert fn.runs == 7  # the first one recorded was forgotten first


def test_one_tensor_given_twice_is_not_two_tensors():
    fn = Counted(lambda a, b: a * 2 + b)
    compiled = autodiff.compile(fn)
    x = Tensor([1.0, 2.0])
    assert compiled(x, x).tolist() == [3.0, 6.0]
    assert compiled(Tensor([1.0, 2.0]), Tensor([10.0, 20.0])).tolist() == [12.0, 24.0]
    assert compiled(x, x).tolist() == [3.0, 6.0] and fn.runs == 2


def test_an_argument_computed_before_the_call_is_read_as_given():
    p = Tensor([1.0, 2.0], requires_grad=True)
    compiled = autodiff.compile(lambda x: x * 3)
    compiled(p * 2)
    q = Tensor([5.0, -1.0], requires_grad=True)
    out = compiled(q * 2)
    assert out.tolist() == [30.0, -6.0]
    out.sum().backward()  # on through the caller's graph: d(6q)/dq
    assert q.grad.tolist() == [6.0, 6.0] and p.grad is None


def test_grad_mode_is_part_of_the_signature():
    w = Tensor(np.array([0.5, -2.0]), requires_grad=True)
    fn = Counted(lambda x: (x * w).sigmoid())
    compiled = autodiff.compile(fn)
    x = Tensor(np.array([1.0, 3.0]))
    with autodiff.no_grad():
        quiet = compiled(x)
        quiet_again = compiled(x)
    assert not quiet.requires_grad and not quiet_again.requires_grad and fn.runs == 1
    loud = compiled(x)
    assert loud.requires_grad and fn.runs == 2
    loud = compiled(x)
    loud.sum().backward()
    expected = fn.fn(x)
    assert same(quiet_again.data, expected.data) and same(loud.data, expected.data)
    s = expected.data
    assert np.allclose(w.grad, s * (1 - s) * x.data)


def test_a_changed_default_dtype_records_again():
    fn = Counted(lambda x: x * autodiff.tensor([2.0, 3.0]))
    compiled = autodiff.compile(fn)
    previous = autodiff.get_default_dtype()
    x = Tensor(np.ones(2, dtype=np.float32))
    try:
        autodiff.set_default_dtype(np.float32)
        assert compiled(x).dtype == np.float32
        autodiff.set_default_dtype(np.float64)
        assert compiled(x).dtype == np.float64 and fn.runs == 2
    finally:
        autodiff.set_default_dtype(previous)


def test_tensors_made_inside_from_python_or_numpy_data_are_constants_of_the_program():
    table = np.array([1.0, 2.0, 3.0])
    fn = Counted(lambda x: x * autodiff.tensor(table) + autodiff.tensor([0.5, 0.5, 0.5], dtype=np.float64))
    compiled = autodiff.compile(fn)
    compiled(Tensor(np.ones(3)))
    assert "a constant made inside counted" in compiled.source()
    table[:] = 100.0  # read when the program was made, not at every call
    assert compiled(Tensor(np.ones(3))).tolist() == [1.5, 2.5, 3.5] and fn.runs == 1


def test_a_constant_handed_out_is_a_copy_each_call():
    compiled = autodiff.compile(lambda x: (autodiff.tensor([1.0, 2.0]), autodiff.tensor([[3.0, 4.0]]).T, x + 1))
    compiled(Tensor([0.0]))
    first, column, _ = compiled(Tensor([0.0]))
    first += 10
    column += 10
    second, column_again, _ = compiled(Tensor([0.0]))
    assert second.tolist() == [1.0, 2.0] and column_again.tolist() == [[3.0], [4.0]]


LOSSES_READING_A_GLOBAL = {
    "directly": "def loss(x):\n    return ((x * W) ** 2).sum()\n",
    "in a comprehension": "def loss(x):\n    return sum([(x[i] * W[i]) ** 2 for i in range(2)])\n",
}


@pytest.mark.parametrize("where", list(LOSSES_READING_A_GLOBAL))
def test_a_name_bound_to_a_new_tensor_is_read_anew(where):
    # W = W - lr * W.grad outside the function, the way a loop without an optimiser updates its weights
    namespace = {"autodiff": autodiff}
    exec("W = autodiff.tensor([1.0, -1.0], requires_grad=True)\n" + LOSSES_READING_A_GLOBAL[where], namespace)
    compiled = autodiff.compile(namespace["loss"])
    x = Tensor([2.0, 3.0])
    for _ in range(3):
        W = namespace["W"]
        out = compiled(x)
        assert same(out.data, namespace["loss"](x).data)
        out.backward()
        assert W.grad is not None, "the gradient went to a tensor the function no longer reads"
        namespace["W"] = Tensor(W.data - 0.01 * W.grad, requires_grad=True)


def test_a_closure_variable_bound_anew_is_read_anew():
    w = Tensor([1.0, 2.0])

    def scaled(x):
        return x * w

    compiled = autodiff.compile(scaled)
    compiled(Tensor([1.0, 1.0]))
    w = Tensor([5.0, 7.0])  # noqa: F841 (read by scaled)
    assert compiled(Tensor([1.0, 1.0])).tolist() == [5.0, 7.0]


SETTING = 2.0  # a global number that test_a_global_number_or_dict_set_anew_records_again changes
SETTINGS = {"shift": 0.0}


def test_a_global_number_or_dict_set_anew_records_again():
    global SETTING

    def shifted(x):
        return x * SETTING + SETTINGS["shift"]

    compiled = autodiff.compile(shifted)
    try:
        assert compiled(Tensor([1.0, 2.0])).tolist() == [2.0, 4.0]
        SETTING = 3.0
        assert compiled(Tensor([1.0, 2.0])).tolist() == [3.0, 6.0]
        SETTINGS["shift"] = 1.0  # changed in place
        assert compiled(Tensor([1.0, 2.0])).tolist() == [4.0, 7.0]
    finally:
        SETTING, SETTINGS["shift"] = 2.0, 0.0


class ScaledLayer(nn.Module):
    """A layer whose forward reads the global SETTING."""

    def __init__(self):
        self.linear = nn.Linear(2, 1)

    def forward(self, x):
        return self.linear(x) * SETTING


class ScaledCall:
    """A callable object whose ``__call__`` reads the global SETTING."""

    def __call__(self, x):
        return x * SETTING


def scaled_by_the_setting(x, shift=0.0):
    return x * SETTING + shift


def wrapped(fn):
    """A decorator, written as decorators usually are."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("make", [ScaledLayer, ScaledCall, lambda: functools.partial(scaled_by_the_setting, shift=1.0),
                                  lambda: wrapped(scaled_by_the_setting)],
                         ids=["module", "callable object", "partial", "decorated"])
def test_a_global_that_a_modules_forward_or_an_objects_call_reads_is_watched_as_a_functions_is(make):
    """And one read by the function that a functools.partial or a functools.wraps decorator runs."""
    global SETTING
    fn = make()
    compiled = autodiff.compile(fn)
    x = Tensor([[1.0, 2.0]])
    try:
        assert same(compiled(x).data, fn(x).data)
        SETTING = 3.0
        assert same(compiled(x).data, fn(x).data)
    finally:
        SETTING = 2.0


def test_a_compiled_module_names_its_arguments_as_its_forward_does():
    compiled = autodiff.compile(ScaledLayer())
    compiled(Tensor([[1.0, 2.0]]))
    assert "def forward(x, linear_weight, linear_bias):" in compiled.source()


MASK = np.array([1.0, 0.0])  # a global array that test_a_global_array_bound_anew_records_again rebinds


def test_a_global_array_bound_anew_records_again():
    """An array made into a tensor inside is a constant of the program: binding its name anew is seen (a change
    in place is not, as design.md says: changing data is passed as an argument)."""
    global MASK
    compiled = autodiff.compile(lambda x: x * Tensor(MASK))
    try:
        assert compiled(Tensor([2.0, 3.0])).tolist() == [2.0, 0.0]
        MASK = np.array([0.0, 1.0])
        assert compiled(Tensor([2.0, 3.0])).tolist() == [0.0, 3.0]
    finally:
        MASK = np.array([1.0, 0.0])


class Tempered(nn.Module):
    """A layer with a plain number among its attributes, as a softmax temperature or a dropout rate is."""

    def __init__(self):
        self.linear = nn.Linear(3, 2)
        self.temperature = 1.0

    def forward(self, x):
        return (self.linear(x) / self.temperature).softmax(1)


def test_a_module_setting_or_layer_set_anew_records_again_and_each_kept_program_still_runs():
    model = Tempered()
    fn = Counted(lambda x: model(x).log().sum())
    compiled = autodiff.compile(fn)
    x = Tensor(np.random.default_rng(2).normal(size=(4, 3)))

    def gradients(function):
        model.linear.weight.grad = model.linear.bias.grad = None
        function(x).backward()
        return model.linear.weight.grad.copy(), model.linear.bias.grad.copy()

    for temperature, runs in [(1.0, 1), (0.5, 2), (1.0, 2), (0.5, 2), (0.25, 3)]:
        model.temperature = temperature
        got, expected = gradients(compiled), gradients(fn.fn)
        assert fn.runs == runs, temperature
        assert all(same(a, b) for a, b in zip(got, expected)), temperature
    model.linear = nn.Linear(3, 2)  # a new layer: the recorded one's weights must no longer be read
    got, expected = gradients(compiled), gradients(fn.fn)
    assert fn.runs == 4 and all(same(a, b) for a, b in zip(got, expected))


def test_a_setting_changed_at_every_call_keeps_a_bounded_number_of_programs_and_says_why(monkeypatch):
    from autodiff import compiler

    monkeypatch.setattr(compiler, "KEPT_PER_SIGNATURE", 2)
    model = Tempered()
    compiled = autodiff.compile(lambda x: model(x).sum())
    x = Tensor(np.random.default_rng(3).normal(size=(2, 3)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(5):
            model.temperature = 1.0 + k  # annealed at every step
            assert same(compiled(x).data, model(x).sum().data)
            assert len(compiled._programs[next(iter(compiled._programs))]) == min(k + 1, 2)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "a setting changed at every step" in messages[0]


def test_what_the_function_changes_itself_is_its_own_state_and_does_not_make_it_record_again():
    """A count of calls kept in a module, in a closure variable, or in a list the function appends to changes
    while recording: it is the function's own state, which the program does not repeat and does not compare,
    so later calls run the program (as they would count the recordings)."""

    class CountsCalls(nn.Module):
        def __init__(self):
            self.calls = 0
            self.scale = 2.0

        def forward(self, x):
            self.calls += 1
            return x * self.scale

    module = CountsCalls()
    runs, appended = 0, []

    def fn(x):
        nonlocal runs
        runs += 1
        appended.append(1)
        return module(x) + 1

    compiled = autodiff.compile(fn)
    for _ in range(3):
        assert compiled(Tensor([1.0])).tolist() == [3.0]
    assert (module.calls, runs, len(appended)) == (1, 1, 1)
    module.scale = 3.0  # a setting changed from outside still makes the call record again
    assert compiled(Tensor([1.0])).tolist() == [4.0]
    assert (module.calls, runs, len(appended)) == (2, 2, 2)


# -- outputs -------------------------------------------------------------------------------------------------


def test_results_keep_their_structure():
    compiled = autodiff.compile(lambda x: {"pair": (x * 2, [x + 1]), "nothing": None, "max": x.max(0)})
    x = Tensor(np.array([[1.0, 5.0], [4.0, 2.0]]))
    compiled(x)
    result = compiled(x)
    assert result["nothing"] is None
    assert result["pair"][0].tolist() == [[2.0, 10.0], [8.0, 4.0]] and result["pair"][1][0].tolist()[0] == [2.0, 6.0]
    assert result["max"].values.tolist() == [4.0, 5.0] and result["max"].indices.tolist() == [1, 0]


def micrograd_demo_loss(model, points, labels):
    """The loss of micrograd's demo notebook, as written there: the loss, and the accuracy counted from .data."""
    scores = [model([Value(a), Value(b)]) for a, b in points]
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(labels, scores)]
    total_loss = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())
    accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(labels, scores)]
    return total_loss, sum(accuracy) / len(accuracy)


@pytest.mark.parametrize("result", [
    "micrograd's demo", "a count", "a flag", "an array"])
def test_a_python_value_in_the_result_is_refused_naming_where_it_is(result):
    """Eager computes it anew at every call; a program would hand out the recorded call's value. micrograd's demo
    loss returned a compiled accuracy that stayed at its first value while the model learnt."""
    model = nn.MLP(2, [4, 1])
    fn, place = {
        "micrograd's demo": (lambda: micrograd_demo_loss(model, [(0.5, 1.0), (-1.0, 0.2)], [1, -1]), r"\[1\]"),
        "a count": (lambda: {"loss": model([1.0, 2.0]), "steps": 3}, r"\['steps'\]"),
        "a flag": (lambda: [model([1.0, 2.0]), (True,)], r"\[1\]\[0\]"),
        "an array": (lambda: (model([1.0, 2.0]), np.zeros(2)), r"\[1\]"),
    }[result]
    with pytest.raises(CompileError, match=f"returned a .* as the result{place}: .*Return Tensors and Values only"):
        autodiff.compile(fn)()


def test_each_output_backpropagates_on_its_own_as_eager():
    w = Tensor(np.array([0.3, -0.6, 0.9]), requires_grad=True)

    def two(x):
        h = (x * w).tanh()
        return h.sum(), (h * h).mean()

    compiled = autodiff.compile(two)
    compiled(Tensor(np.ones(3)))
    grads = []
    for fn in (two, compiled):
        w.grad = None
        first, second = fn(Tensor(np.array([1.0, -2.0, 0.5])))
        second.backward()
        first.backward()
        grads.append(w.grad.copy())
    assert same(*grads)


def test_a_loss_of_several_outputs_gets_the_gradients_to_rounding():
    # each output's backward program runs on its own and the shares meet at the leaves: the same terms as
    # eager's one pass, added in another order
    def fn(a, b):
        return a @ b, b @ b, (a * b).tanh()

    compiled = autodiff.compile(fn)
    arguments = Arguments([(3, 4), (4,)], np.float64)
    compiled(*arguments.make(1))
    grads = []
    for f in (fn, compiled):
        a, b = arguments.make(2)
        first, second, third = f(a, b)
        (first.sum() * 2 + second + third.mean()).backward()
        grads.append((a.grad, b.grad))
    for eager, program in zip(*grads):
        np.testing.assert_allclose(program, eager, rtol=1e-13, atol=1e-15)


def test_an_output_handed_out_is_never_written_into_by_a_later_call():
    w = Tensor(np.array([0.3, -0.6, 0.9]), requires_grad=True)
    compiled = autodiff.compile(lambda x: (x * w).exp())
    x1, x2 = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True), Tensor(np.full(3, -1.0), requires_grad=True)
    compiled(x1)
    out1 = compiled(x1)
    (g1,) = autodiff.grad(out1.sum(), [x1])
    kept_out, kept_grad = out1.data.copy(), np.asarray(g1).copy()
    out2 = compiled(x2)
    autodiff.grad(out2.sum(), [x2])
    out2.sum().backward()
    assert same(out1.data, kept_out) and same(g1, kept_grad)


def test_in_place_change_after_a_compiled_forward_is_caught_at_backward_as_eager_does():
    w = Tensor(np.ones(3), requires_grad=True)
    compiled = autodiff.compile(lambda x: (x * w).sum())
    compiled(Tensor(np.ones(3)))
    out = compiled(Tensor(np.ones(3)))
    with autodiff.no_grad():
        w -= 0.1
    with pytest.raises(RuntimeError, match="changed in place"):
        out.backward()


# -- refusals ------------------------------------------------------------------------------------------------

CONVERSIONS = {
    "item()": lambda x: x * x.sum().item(),
    "bool()": lambda x: x * 2 if x.sum() > 0 else x,
    "float()": lambda x: x * float(x.sum()),
    "int()": lambda x: x * int(x.sum()),
    "tolist()": lambda x: Tensor(x.tolist()),
    "numpy()": lambda x: Tensor(x.numpy() * 2),
}


@pytest.mark.parametrize("conversion", list(CONVERSIONS))
def test_turning_a_tensor_from_the_inputs_into_a_python_value_is_refused_naming_the_line(conversion):
    fn = CONVERSIONS[conversion]
    line = inspect.getsourcelines(fn)[1]
    with pytest.raises(CompileError) as caught:
        autodiff.compile(fn)(Tensor(np.arange(3.0)))
    message = str(caught.value)
    assert conversion in message.split(" turns")[0]
    assert f"{__file__}:{line}" in message
    assert "autodiff.where" in message


def test_a_python_value_of_a_random_draw_is_refused_and_a_draw_used_as_a_tensor_is_drawn_anew():
    """randperm(n).tolist() inside gave the recorded permutation at every call; as an index it is drawn anew."""
    with pytest.raises(CompileError, match="random draw") as caught:
        autodiff.compile(lambda x: x[autodiff.randperm(3).tolist()])(Tensor(np.arange(3.0)))
    assert __file__ in str(caught.value)
    shuffled = lambda x: x[autodiff.randperm(5)] * autodiff.rand(5)  # noqa: E731
    compiled = autodiff.compile(shuffled)
    x = Tensor(np.arange(5.0))
    compiled(x)
    for seed in range(3):
        autodiff.manual_seed(seed)
        eager = shuffled(x)
        autodiff.manual_seed(seed)
        assert same(compiled(x).data, eager.data)


@pytest.mark.parametrize("draw", ["numpy", "python"])
def test_drawing_from_numpy_or_pythons_global_generator_inside_is_refused(draw):
    """micrograd's demo picks its minibatch with np.random.permutation inside the loss: a program would train on
    the recorded batch at every call."""
    data = np.arange(20.0).reshape(10, 2)

    def loss(w):
        rows = np.random.permutation(10)[:4] if draw == "numpy" else random.sample(range(10), 4)
        return (Tensor(data[rows]) @ w).sum()

    with pytest.raises(CompileError, match="random module") as caught:
        autodiff.compile(loss)(Tensor(np.ones(2), requires_grad=True))
    assert "loss drew random numbers" in str(caught.value) and "autodiff.randperm" in str(caught.value)


def test_a_python_value_of_a_parameter_is_refused_too():
    w = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(CompileError, match="item()"):
        autodiff.compile(lambda x: x * w.sum().item())(Tensor(np.ones(3)))


def test_comparing_values_computed_from_the_inputs_is_refused():
    with pytest.raises(CompileError, match="comparison"):
        autodiff.compile(lambda a: a * 2 if a > 1 else a)(Value(2.0))


def test_values_computed_from_the_inputs_under_no_grad_are_refused_and_constants_kept():
    def from_inputs(a):
        with autodiff.no_grad():
            scale = a * 2
        return a * scale

    with pytest.raises(CompileError, match="no_grad") as caught:
        autodiff.compile(from_inputs)(Value(1.0))
    assert f"{__file__}:{inspect.getsourcelines(from_inputs)[1] + 2}" in str(caught.value)

    def from_constants(a):
        with autodiff.no_grad():
            scale = Value(2.0) * 3
        return a * scale

    compiled = autodiff.compile(from_constants)
    compiled(Value(1.0))
    assert compiled(Value(3.0)).data == 18.0


def test_a_python_value_of_a_constant_made_inside_is_allowed():
    fn = Counted(lambda x: x * autodiff.tensor([1.0, 2.0]).sum().item())
    compiled = autodiff.compile(fn)
    compiled(Tensor([1.0]))
    assert compiled(Tensor([2.0])).tolist() == [6.0] and fn.runs == 1


IN_PLACE = {
    "+=": lambda x: _add_in_place(x * 1),
    "item assignment": lambda x: _assign_item(x * 1),
    "add_": lambda x: (x * 1).add_(1.0),
}


def _add_in_place(t):
    t += 1
    return t


def _assign_item(t):
    t[0] = 5.0
    return t


@pytest.mark.parametrize("change", list(IN_PLACE))
def test_an_in_place_change_while_recording_is_refused(change):
    with pytest.raises(CompileError, match="in place") as caught:
        autodiff.compile(IN_PLACE[change])(Tensor(np.arange(3.0)))
    assert __file__ in str(caught.value)


class _Training:
    """A layer, its optimiser and a gradient already there: what a training step inside a compiled function
    would touch."""

    def __init__(self):
        self.layer = nn.Linear(3, 1)
        self.optimizer = nn.optim.SGD(self.layer.parameters(), lr=0.1)
        self.layer(Tensor(np.ones((2, 3)))).sum().backward()
        self.other_weights = nn.Linear(3, 1).state_dict()

    def loss(self, x):
        return (self.layer(x) ** 2).mean()


OUTSIDE_THE_PROGRAM = {  # what each does, which a program would do at its first call and never again: the name
    # the refusal gives it, and a function doing it
    "backward": ("backward()", lambda t, x: t.loss(x).backward()),
    "optimiser step": ("SGD.step()", lambda t, x: (t.optimizer.step(), t.loss(x))[1]),
    "optimiser zero_grad": ("zero_grad()", lambda t, x: (t.optimizer.zero_grad(), t.loss(x))[1]),
    "module zero_grad": ("zero_grad()", lambda t, x: (t.layer.zero_grad(), t.loss(x))[1]),
    "grad set": ("setting a gradient", lambda t, x: (setattr(t.layer.weight, "grad", None), t.loss(x))[1]),
    "grad": ("a gradient computed without create_graph",
             lambda t, x: autodiff.grad(t.loss(x), [t.layer.weight])[0].sum()),
    "load_state_dict": ("loading numbers", lambda t, x: (t.layer.load_state_dict(t.other_weights), t.loss(x))[1]),
    "manual_seed": ("manual_seed", lambda t, x: (autodiff.manual_seed(0), nn.functional.dropout(t.loss(x), 0.5))[1]),
}


@pytest.mark.parametrize("what", list(OUTSIDE_THE_PROGRAM))
def test_a_training_step_inside_a_compiled_function_is_refused_by_name_and_changes_nothing(what):
    """Before, a compiled step ran backward and the update at the recorded call only, then silently never."""
    training = _Training()
    weights = [p.data.copy() for p in training.layer.parameters()]
    grads = [p.grad.copy() for p in training.layer.parameters()]
    named, does = OUTSIDE_THE_PROGRAM[what]
    with pytest.raises(CompileError, match=re.escape(named)) as caught:
        autodiff.compile(lambda x: does(training, x))(Tensor(np.ones((2, 3))))
    assert __file__ in str(caught.value) and "loss.backward(); optimizer.step()" in str(caught.value)
    assert all(same(p.data, w) for p, w in zip(training.layer.parameters(), weights))
    assert all(same(p.grad, g) for p, g in zip(training.layer.parameters(), grads))


def test_reseeding_inside_a_compiled_function_is_refused_before_it_seeds_anything():
    """Eager draws the same numbers at every call after manual_seed inside; a program would draw on."""
    autodiff.manual_seed(5)
    expected = autodiff.rand(3).tolist()
    autodiff.manual_seed(5)
    with pytest.raises(CompileError, match="manual_seed"):
        autodiff.compile(lambda x: (autodiff.manual_seed(0), x * autodiff.rand(3))[1])(Tensor(np.ones(3)))
    assert autodiff.rand(3).tolist() == expected


def test_backward_by_hand_inside_a_compiled_function_is_refused():
    def loss(a):
        out = a * a
        out.grad = 1.0
        out._backward()
        return out

    with pytest.raises(CompileError, match=r"_backward\(\)"):
        autodiff.compile(loss)(Value(2.0))


def test_zero_grad_of_values_inside_a_compiled_function_is_refused():
    model = nn.MLP(2, [3, 1])

    def loss(x):
        model.zero_grad()
        return model(x)

    with pytest.raises(CompileError, match="zero_grad"):
        autodiff.compile(loss)([Value(1.0), Value(2.0)])


def test_a_gradient_taken_with_create_graph_inside_compiles_as_eager():
    """A gradient penalty: autodiff.grad(..., create_graph=True) is made of recorded operations."""
    nn.manual_seed(0)
    critic = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))

    def loss(x):
        out = critic(x).sum()
        (slope,) = autodiff.grad(out, x, create_graph=True)
        return out + ((slope * slope).sum(1).sqrt() - 1).pow(2).mean()

    compiled = autodiff.compile(loss)
    for seed in range(3):
        x = Tensor(np.random.default_rng(seed).normal(size=(4, 3)), requires_grad=True)
        critic.zero_grad()
        eager = loss(x)
        eager.backward()
        expected = [p.grad for p in critic.parameters()]
        critic.zero_grad()
        out = compiled(x)
        out.backward()
        assert same(out.data, eager.data)
        assert all(same(p.grad, g) for p, g in zip(critic.parameters(), expected))


def test_a_new_leaf_made_from_an_input_inside_is_refused_saying_what_to_pass():
    layer = nn.Linear(3, 1)

    def penalty(x):
        x = x.detach().requires_grad_(True)
        (slope,) = autodiff.grad(layer(x).sum(), x, create_graph=True)
        return (slope * slope).sum()

    penalty(Tensor(np.ones((2, 3)))).backward()  # eager: a leaf of its own
    with pytest.raises(CompileError, match="requires_grad=True") as caught:
        autodiff.compile(penalty)(Tensor(np.ones((2, 3))))
    assert __file__ in str(caught.value)


def test_batch_norm_in_training_mode_is_refused_and_compiles_in_eval_mode():
    layer = nn.BatchNorm1d(3)
    compiled = autodiff.compile(layer)
    x = Tensor(np.random.default_rng(0).normal(size=(4, 3)))
    with pytest.raises(CompileError, match="eval mode"):
        compiled(x)
    layer.eval()
    compiled(x)
    assert same(compiled(x).data, layer(x).data)


def test_create_graph_through_a_compiled_call_raises_naming_compile():
    w = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    compiled = autodiff.compile(lambda x: (x * w).tanh().sum())
    x = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    compiled(x)
    with pytest.raises(NotImplementedError, match="compile"):
        compiled(x).backward(create_graph=True)
    with pytest.raises(NotImplementedError, match="compile"):
        autodiff.grad(compiled(x), [x], create_graph=True)
    with pytest.raises(NotImplementedError, match="compile"):
        autodiff.hvp(compiled, x, Tensor(np.ones(2)))


def test_compile_is_written_as_torch_compile_is():
    """@compile, @compile(fullgraph=True), PyTorch's options accepted, and disable=True giving fn back."""

    @autodiff.compile(fullgraph=True, dynamic=False)
    def doubled(x):
        return (x * 2).sum()

    @autodiff.compile
    def halved(x):
        return (x / 2).sum()

    layer = nn.Linear(2, 1)
    compiled = autodiff.compile(layer, mode="reduce-overhead", backend="inductor", options={})
    x = Tensor(np.array([[1.0, 3.0]]))
    for _ in range(2):
        assert doubled(x).item() == 8.0 and halved(x).item() == 2.0
        assert same(compiled(x).data, layer(x).data)
    assert doubled.source() and halved.source() and compiled.source()
    assert autodiff.compile(layer, disable=True) is layer
    assert autodiff.compile(disable=True)(halved.fn) is halved.fn


def test_calling_a_compiled_function_while_recording_another_is_refused():
    inner = autodiff.compile(lambda x: x * 2)
    with pytest.raises(CompileError, match="being recorded"):
        autodiff.compile(lambda x: inner(x) + 1)(Tensor([1.0]))


def test_a_function_returning_no_node_is_refused():
    with pytest.raises(CompileError, match="no Tensor or Value"):
        autodiff.compile(lambda x: 3)(Tensor([1.0]))


def test_an_argument_calls_cannot_be_told_apart_by_is_refused():
    compiled = autodiff.compile(lambda x, names: x * len(names))
    with pytest.raises(CompileError, match="must be hashable"):
        compiled(Tensor([1.0]), {"a", "b"})
    assert compiled(Tensor([1.0]), ("a", "b")).tolist() == [2.0]


def test_source_before_the_first_call_says_to_call_it():
    with pytest.raises(RuntimeError, match="call it once"):
        autodiff.compile(lambda x: x).source()


def test_a_random_factory_inside_draws_anew_at_every_call_as_eager():
    fn = lambda x: x + autodiff.randn(3)  # noqa: E731
    compiled = autodiff.compile(fn)
    autodiff.manual_seed(0)
    compiled(Tensor(np.zeros(3)))
    autodiff.manual_seed(1)
    got = compiled(Tensor(np.zeros(3))).data
    autodiff.manual_seed(1)
    assert same(got, fn(Tensor(np.zeros(3))).data)


def test_a_users_function_runs_as_one_call_in_the_program():
    class Cube(autodiff.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * grad

    assert_compiled_equals_eager(lambda a: Cube.apply(a * 2), Arguments([(3,)], np.float64))


# -- the program's text ----------------------------------------------------------------------------------------


def test_the_source_is_forward_then_backward_one_commented_line_per_node_named_from_labels_and_modules():
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))

    def loss(x, target):
        error = model(x) - target
        error.label = "error"
        return (error ** 2).mean()

    compiled = autodiff.compile(loss)
    compiled(Tensor(np.ones((4, 2))), Tensor(np.zeros((4, 1))))
    source = compiled.source()
    forward, backward = source.split("def backward_0")
    assert "def forward(x, target, model_0_weight, model_0_bias, model_2_weight, model_2_bias):" in forward
    operations = [line for line in forward.splitlines() if re.match(r"    \w+(, \w+)* = ", line)]
    assert len(operations) == 6  # linear, tanh, linear, -, **2, mean: one line each
    assert all("  # " in line for line in operations), "each line of forward says its operation"
    assert "error = linear2 - target  # - (error)" in forward
    assert "error_grad = " in backward and "model_0_weight_grad = " in backward
    assert backward.index("model_2_weight_grad") < backward.index("model_0_weight_grad")  # the chain rule, in reverse


def test_what_runs_is_the_source():
    w = Tensor(np.array([[0.5, -1.0], [2.0, 0.25]]), requires_grad=True)

    def loss(x):
        return ((x @ w).tanh() ** 2).sum()

    compiled = autodiff.compile(loss)
    x = Tensor(np.array([[1.0, 2.0], [-0.5, 0.3]]))
    compiled(x)
    namespace = {"np": np, "xp": numpy_ops}
    exec(compiled.source(), namespace)  # a program with no constants runs from its text alone
    outputs, saved = namespace["forward"](x.data, w.data)
    (_, w_grad) = namespace["backward_0"](np.float64(1.0), saved)
    w.grad = None
    out = compiled(x)
    out.backward()
    assert same(outputs[0], out.data) and same(w_grad, w.grad)


def test_two_threads_recording_and_running_one_compiled_function_both_get_right_answers():
    w = Tensor(np.linspace(-1.0, 1.0, 4), requires_grad=True)

    def fn(x):
        return (x * w).tanh().sum(1)

    compiled = autodiff.compile(fn)
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(rows, 4)) for rows in (2, 3, 2, 5, 3)]
    expected = []
    for x in inputs:
        xt = Tensor(x, requires_grad=True)
        out = fn(xt)
        expected.append((out.data.copy(), np.asarray(autodiff.grad(out.sum(), [xt])[0]).copy()))
    wrong = []

    def work(offset):
        for repeat in range(60):
            k = (offset + repeat) % len(inputs)
            xt = Tensor(inputs[k], requires_grad=True)
            out = compiled(xt)
            (g,) = autodiff.grad(out.sum(), [xt])
            if not (same(out.data, expected[k][0]) and same(g, expected[k][1])):
                wrong.append((offset, repeat))

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong


def test_the_optimized_source_is_what_runs_the_plain_one_reads_one_line_per_node_and_both_give_eager_numbers():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    loss = lambda x: model(x).sum()  # noqa: E731
    compiled = autodiff.compile(loss)
    x = Tensor(np.random.default_rng(0).normal(size=(5, 3)))
    compiled(x)
    plain, optimized = compiled.source(), compiled.source(optimized=True)
    assert "linear1 = x @ model_0_weight.T + model_0_bias  # linear" in plain and "+=" not in plain
    assert "linear1 = x @ model_0_weight.T\n    linear1 += model_0_bias  # linear" in optimized
    # the plain text, run as it stands, computes what the program that runs computes, to the last bit
    namespace = {"np": np, "xp": autodiff.numpy_ops}
    exec(plain.split("\n\n\ndef backward_0")[0], namespace)  # our own program's text
    outputs, _ = namespace["forward"](x.data, *[p.data for p in model.parameters()])
    assert same(outputs[0], compiled(x).data) and same(outputs[0], loss(x).data)
