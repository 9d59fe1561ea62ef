"""Random Tensor programs against PyTorch: every leaf's gradient, after every backward call.

A program, drawn by hypothesis, is:

- leaves that require gradients, of shapes that broadcast together (0-d and size-1 axes often);
- a sequence of operations, the Tensor rows of the shared table (``op_table.OPS``), each applied
  to earlier results or leaves (so a result
  feeds several later operations: a DAG, not a tree) and to numpy arrays, Python numbers,
  constant Tensors or fresh leaves, on either side;
- a scalar loss that weighs every result no later step uses, and a random selection of the others;
- one to three ``backward()`` calls, on the same graph or a rebuilt one, with references to
  leaf gradients kept (``kept = x.grad``) and some gradients reset (``x.grad = None``) between calls.

After every backward call each leaf's ``grad`` must be PyTorch's (float64): an ``np.ndarray`` of
the leaf's shape and dtype (0-d included, never a numpy scalar), or None where PyTorch has None.
Each program runs in float64 (tight tolerance) and in float32 (loose tolerance); its numbers are
multiples of 1/16, exact in both. A third of the programs hold special values: about a quarter of
the numbers of leaves, constants and loss weights (the upstream gradients) are NaN, ±inf, 0 or a
copy of another (a tie), and results may be NaN or infinite; NaN must stand exactly where PyTorch
has NaN, and infinities where it has the same infinity.

A program is text, so the lines that ran are the lines a failure prints: a script to paste into
a file and run (from tests/), with PyTorch's translation beside it. Adding an operation is one row
of the table: its ``str.format`` templates of our spelling and PyTorch's, its operands' domains and its
signature, whose drawer here (``DRAWERS``) picks operands and settings that fit.

CI runs a bounded, derandomized set. A longer run by hand, with fresh random examples each time:

    AUTODIFF_FUZZ_EXAMPLES=3000 python -m pytest tests/test_fuzz.py -q -k program

(3000 programs of any operations in each dtype, and 75 featuring each operation.)
"""

import contextlib
import math
import os
import re
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autodiff
from autodiff import Tensor
from op_table import (
    ANY, CHOICE, MATMUL, ONE, PIECES, POSITIVE, SIXTEEN, STACKED, TENSOR, TWO, Arg, Case, booleans, literal, rows,
    scope,
)

_LONG_RUN = "AUTODIFF_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("AUTODIFF_FUZZ_EXAMPLES", "100"))
EXAMPLES_PER_OPERATION = max(3, EXAMPLES // 40)
MAX_OPERATIONS = 8
MAX_NDIM, MAX_SIZE, MAX_MAGNITUDE = 4, 200, 1e3
# (rtol, atol relative to the largest |gradient|) of our dtype against PyTorch float64
TOLERANCE = {np.float64: (1e-9, 1e-9), np.float32: (2e-3, 2e-3)}


# -- arguments: one spelling for us, one for PyTorch (``op_table.Arg``) ---------------------------------


def number(value):
    """A Python number as an operand: the same text on both sides; its ``value`` an array, for its shape."""
    return Arg(repr(value), repr(value), np.asarray(value))


def array(values):
    """A numpy array of floats (a float64 tensor for PyTorch)."""
    return Arg(f"np.array({values.tolist()!r})", f"torch.tensor({values.tolist()!r}, dtype=torch.float64)", values)


def constant(values):
    """A Tensor that requires no gradient, in the program's dtype."""
    return Arg(
        f"Tensor(np.array({values.tolist()!r}), dtype=DTYPE)",
        f"torch.tensor({values.tolist()!r}, dtype=torch.float64)",
        values,
    )


NUMBERS = (-2, -1.5, -0.5, 0.25, 0.5, 1.5, 2, 3.0)


SPECIAL_VALUES = (math.nan, math.inf, -math.inf, 0.0)


def draw_values(draw, shape, domain=ANY, special=False):
    """Values of ``shape`` in ``domain``, multiples of 1/16 (exact in float32 too).

    With ``special``, about a quarter of the elements are NaN, ±inf, 0 or a copy of another element (a tie).
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = domain.draw(rng, shape, sixteenths=True)
    if special and values.size:
        flat = values.reshape(-1)
        for k in np.flatnonzero(rng.random(flat.size) < 0.25):
            choice = rng.integers(len(SPECIAL_VALUES) + 1)
            flat[k] = SPECIAL_VALUES[choice] if choice < len(SPECIAL_VALUES) else flat[rng.integers(flat.size)]
        values = flat.reshape(shape)
    return values


def broadcastable(shape_a, shape_b):
    try:
        np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        return False
    return True


def shapes_meeting(shape):
    """Shapes that broadcast with ``shape``, sometimes with one more axis."""
    return hnp.broadcastable_shapes(
        shape, min_dims=0, max_dims=max(len(shape), min(MAX_NDIM, len(shape) + 1)), min_side=1, max_side=3,
    )


# -- the program being drawn -----------------------------------------------------------------------


class Program:
    """Leaves, steps ``name = expression`` and the actions after them, in our spelling and PyTorch's.

    While it is drawn, PyTorch computes every step's value (float64), so that the next operation
    can choose operands of fitting shapes and values.
    """

    def __init__(self, torch, special=False):
        self.torch = torch
        self.special = special  # NaN, infinities, zeros and ties among the numbers
        self.leaves = {}  # name: float64 values
        self.steps = []  # (name, ours, theirs)
        self.values = {}  # name: PyTorch's value of every leaf and step
        self.scope = {**scope("theirs", torch), "nan": math.nan, "inf": math.inf}
        self.loss = None  # (ours, theirs)
        self.actions = []  # statements after the forward pass, the same on both sides but for backward

    def new_leaf(self, values):
        name = f"x{len(self.leaves)}"
        self.leaves[name] = values
        self.values[name] = values
        self.scope[name] = self.torch.tensor(values, dtype=self.torch.float64)
        return Arg(name, name, values)

    def fits(self, domain):
        """Whether values suit ``domain``: in a program of special values, exact zeros do too (a pole of
        1/x at exactly 0 gives inf in both libraries; it is the numbers close to it that round apart)."""
        return lambda values: domain.accepts(values, zero=self.special)

    def pick(self, draw, accepts=ANY.accepts):
        """An earlier leaf or result whose value ``accepts`` takes, or None when there is none."""
        # newest first, so that operations tend to chain, and shrinking prefers the latest result
        names = [name for name, value in reversed(self.values.items()) if accepts(value)]
        if not names:
            return None
        name = draw(st.sampled_from(names))
        return Arg(name, name, self.values[name])

    def add_step(self, op, ours, theirs):
        """Compute ``theirs`` with PyTorch; keep the step unless its result is empty or huge (or, in a program
        without special values, not finite).

        A step PyTorch refuses is a mistake of the drawer, except for a row PyTorch refuses now and
        then (a ``view`` that would need a copy): that step is left out.
        """
        with self.torch.no_grad():
            try:
                value = eval(theirs, self.scope).numpy()
            except RuntimeError:
                if op.refused_sometimes:
                    return
                raise
            except Exception as error:
                raise AssertionError(f"the fuzzer drew an operation PyTorch refuses: {theirs}") from error
        finite = np.isfinite(value)
        if (value.size == 0 or value.size > MAX_SIZE or value.ndim > MAX_NDIM
                or not (self.special or finite.all()) or np.abs(value[finite]).max(initial=0) > MAX_MAGNITUDE):
            return
        name = f"t{len(self.steps)}"
        self.steps.append((name, ours, theirs))
        self.values[name] = value
        self.scope[name] = self.torch.from_numpy(value)

    def __repr__(self):
        return f"<a program of {len(self.leaves)} leaves and {len(self.steps)} steps: the failure prints it>"

    def header(self, side, dtype=None):
        """The leaves and ``def forward()``, in our spelling (side 0) or PyTorch's (side 1)."""
        if side == 0:
            lines = ["import numpy as np", "import autodiff", "import nn", "from autodiff import Tensor", "",
                     f"DTYPE = np.{dtype.__name__}", "nan, inf = float('nan'), float('inf')"]
            leaf = "Tensor(np.array({!r}), dtype=DTYPE, requires_grad=True)"
        else:
            # the table's PyTorch helpers (an RNN step by step), from tests/
            lines = ["import torch", "from op_table import scope", 'globals().update(scope("theirs", torch))',
                     "nan, inf = float('nan'), float('inf')", ""]
            leaf = "torch.tensor({!r}, dtype=torch.float64, requires_grad=True)"
        lines += [f"{name} = {leaf.format(values.tolist())}" for name, values in self.leaves.items()]
        lines += ["", "", "def forward():"]
        lines += [f"    {step[0]} = {step[1 + side]}" for step in self.steps]
        lines += [f"    return {self.loss[side]}", "", ""]
        return "\n".join(lines)

    def script(self, side, dtype=None, upto=None):
        """The whole program, through action ``upto`` (all of them when None), as a script to run."""
        return self.header(side, dtype) + "\n" + "\n".join(action[side] for action in self.actions[:upto]) + "\n"


# -- drawers: from the program so far, the arguments of one row of the table (None: nothing fits) --------------


def operand(draw, program, shape, domain):
    """Something that broadcasts with ``shape``: an earlier result, a fresh leaf, a constant Tensor, an array or a number."""
    kind = draw(st.sampled_from(["result", "leaf", "constant", "array", "number"]))
    if kind == "result":
        fits = program.fits(domain)
        found = program.pick(draw, lambda v: broadcastable(v.shape, shape) and fits(v))
        if found is not None:
            return found
        kind = "array"
    if kind == "number":
        numbers = NUMBERS + (SPECIAL_VALUES if program.special else ())
        return number(draw(st.sampled_from([n for n in numbers if program.fits(domain)(np.asarray(n))])))
    values = draw_values(draw, draw(shapes_meeting(shape)), domain, program.special)
    return {"leaf": program.new_leaf, "constant": constant, "array": array}[kind](values)


def vetted(op, operands, settings=()):
    """``operands`` and ``settings`` if ``op`` accepts them (its ``vet``), else None."""
    case = Case(tuple(np.shape(a.value) for a in operands), tuple(settings))
    return None if not op.suits(case, [a.value for a in operands]) else [*operands, *settings]


def one_operand(draw, program, op):
    """An earlier result in the row's domain, and settings its signature draws for that shape."""
    node = program.pick(draw, program.fits(op.domain(0)))
    if node is None:
        return None
    fitting = st.just(()) if op.takes.settings is None else op.takes.settings(node.value.shape)
    return None if fitting is None else vetted(op, [node], draw(fitting))


def two_operands(draw, program, op):
    """One operand from the program; the other, on a drawn side, of any kind."""
    left, right = op.domains
    ours_on_left = draw(st.booleans())
    node = program.pick(draw, program.fits(left if ours_on_left else right))
    if node is None:
        return None
    other = operand(draw, program, node.value.shape, right if ours_on_left else left)
    return vetted(op, [node, other] if ours_on_left else [other, node])


def matmul_result_shape(a, b):
    try:
        return np.matmul(np.zeros(a), np.zeros(b)).shape
    except ValueError:
        return None


def matmul_operands(draw, program, op):
    """A result with at least one axis, and a partner whose shape makes a valid product on a drawn side."""
    node = program.pick(draw, lambda v: v.ndim >= 1)
    if node is None:
        return None
    shape = node.value.shape
    ours_on_left = draw(st.booleans())
    fits = (lambda v: matmul_result_shape(shape, v.shape) is not None) if ours_on_left else (
        lambda v: matmul_result_shape(v.shape, shape) is not None
    )
    kind = draw(st.sampled_from(["result", "leaf", "constant", "array"]))
    other = program.pick(draw, lambda v: v.ndim >= 1 and fits(v)) if kind == "result" else None
    if other is None:
        n = shape[-1] if ours_on_left else shape[-2] if len(shape) >= 2 else shape[0]
        batch = shape[:-2]
        free = draw(st.integers(1, 3))
        partner = draw(st.sampled_from([(n,), (n, free) if ours_on_left else (free, n), batch + ((n, free) if ours_on_left else (free, n))]))
        values = draw_values(draw, partner, special=program.special)
        other = {"result": array, "leaf": program.new_leaf, "constant": constant, "array": array}[kind](values)
    return [node, other] if ours_on_left else [other, node]


def pieces(draw, program, op):
    """Pieces to concatenate (or stack, for STACKED): the first a result, the rest reused or new, and the axis."""
    new_axis = op.takes is STACKED
    first = program.pick(draw, lambda v: v.ndim >= (0 if new_axis else 1))
    if first is None:
        return None
    shape, ndim = first.value.shape, first.value.ndim
    axis = draw(st.integers(-ndim - 1, ndim) if new_axis else st.integers(-ndim, ndim - 1))
    found_pieces = [first]
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["same", "result", "leaf", "constant", "array"]))
        if kind == "same":
            found_pieces.append(first)
            continue
        piece_shape = shape
        if not new_axis:
            piece_shape = shape[: axis % ndim] + (draw(st.integers(1, 3)),) + shape[axis % ndim + 1:]
        found = program.pick(draw, lambda v: v.shape == piece_shape) if kind == "result" else None
        if found is None:
            values = draw_values(draw, piece_shape, special=program.special)
            found = {"result": array, "leaf": program.new_leaf, "constant": constant, "array": array}[kind](values)
        found_pieces.append(found)
    order = draw(st.permutations(range(len(found_pieces))))
    return [found_pieces[i] for i in order] + [literal(axis)]


def chosen(draw, program, op):
    """Two operands that broadcast together, one of them a result, and a boolean condition that broadcasts with both."""
    node = program.pick(draw)
    other = operand(draw, program, node.value.shape, ANY)
    condition = draw(hnp.arrays(np.bool_, draw(shapes_meeting(np.broadcast_shapes(node.value.shape, other.value.shape)))))
    pair = [node, other] if draw(st.booleans()) else [other, node]
    return pair + [booleans(condition)]


def sixteen(draw, program, op):
    """An earlier result of 16 elements (which the row reshapes), else a new leaf of 16."""
    found = program.pick(draw, lambda v: v.size == 16)
    return [found if found is not None else program.new_leaf(draw_values(draw, (16,), op.domain(0), program.special))]


DRAWERS = {ONE: one_operand, TWO: two_operands, MATMUL: matmul_operands, PIECES: pieces, STACKED: pieces,
           CHOICE: chosen, SIXTEEN: sixteen}
OPS = rows(TENSOR)


def draw_arguments(draw, program, op):
    """The operands and settings of ``op`` (Args), drawn from the program so far; None when nothing fits."""
    return DRAWERS.get(op.takes, one_operand)(draw, program, op)


# -- drawing a whole program -----------------------------------------------------------------------

BACKWARD = "loss.backward()"


@st.composite
def programs(draw, torch, featured=None):
    """A whole program; with ``featured`` (an Op), one that applies it at least once."""
    program = Program(torch, special=draw(st.integers(0, 2)) == 0)  # a third of the programs
    base = draw(hnp.array_shapes(min_dims=draw(st.integers(0, 3)), max_dims=3, min_side=1, max_side=3))
    for _ in range(draw(st.integers(1, 3))):
        shape = draw(hnp.broadcastable_shapes(base, min_dims=0, max_dims=len(base), min_side=1, max_side=3))
        program.new_leaf(draw_values(draw, shape, draw(st.sampled_from([ANY, POSITIVE])), program.special))
    operations = draw(st.integers(2, MAX_OPERATIONS))
    featured_from = draw(st.integers(0, operations - 1))  # the featured op is tried from this step on until it applies
    featured_done = featured is None
    for position in range(operations):
        op = featured if not featured_done and position >= featured_from else draw(st.sampled_from(OPS))
        args = draw_arguments(draw, program, op)
        if args is not None:
            steps = len(program.steps)
            operands = len(args) - len(op.takes.cases[0].settings)
            program.add_step(op, op.spelled("ours", args[:operands], args[operands:]),
                             op.spelled("theirs", args[:operands], args[operands:]))
            featured_done = featured_done or (op is featured and len(program.steps) > steps)
    assume(featured_done)
    used = set(re.findall(r"\b[xt]\d+\b", " ".join(ours for _, ours, _ in program.steps)))
    sinks = [name for name, _, _ in program.steps if name not in used] or [next(iter(program.leaves))]
    weighed = sinks + [name for name in program.values if name not in sinks and draw(st.booleans())]
    # the weights are the upstream gradients: infinite or NaN ones too, in a program of special values
    terms = [(name, array(draw_values(draw, program.values[name].shape, special=program.special))) for name in weighed]
    program.loss = tuple(
        " + ".join(f"({name} * {(w.ours, w.theirs)[side]}).sum()" for name, w in terms) for side in (0, 1)
    )

    rebuild = draw(st.booleans())
    program.actions = [("loss = forward()",) * 2, (BACKWARD, "loss.backward(retain_graph=True)")]
    for call in range(draw(st.integers(0, 2))):
        for name in program.leaves:
            what = draw(st.sampled_from(["", "keep", "reset", "keep and reset"]))
            if "keep" in what:
                program.actions.append((f"kept_{name}_{call} = {name}.grad",) * 2)
            if "reset" in what:
                program.actions.append((f"{name}.grad = None",) * 2)
        if rebuild:
            program.actions.append(("loss = forward()",) * 2)
        program.actions.append(program.actions[1])
    return program


# -- running both programs and comparing ---------------------------------------------------------


def run_torch(program, torch):
    """PyTorch's loss and leaf gradients (copies, or None) after each action."""
    scope = {}
    exec(program.header(1), scope)
    after = []
    for _, theirs in program.actions:
        exec(theirs, scope)
        after.append((
            scope["loss"].item(),
            {name: None if scope[name].grad is None else scope[name].grad.numpy().copy() for name in program.leaves},
        ))
    return after


def agree(got, want, rtol, atol):
    """NaN exactly where PyTorch has NaN, the same infinities, and the finite numbers close
    (``atol`` relative to the largest finite |number|)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    finite = np.isfinite(want)
    if not np.array_equal(np.isnan(got), np.isnan(want)) or not np.array_equal(got[np.isinf(want)], want[np.isinf(want)]):
        return False
    scale = max(1.0, float(np.abs(want[finite]).max(initial=0)))
    return bool(np.isfinite(got[finite]).all()) and np.allclose(got[finite], want[finite], rtol=rtol, atol=atol * scale)


def check_program(program, dtype, torch):
    expected = run_torch(program, torch)
    rtol, atol = TOLERANCE[dtype]
    scope = {}

    def failure(problem, upto):
        return AssertionError(
            f"{problem}\n\n# ---- the program (autodiff, {dtype.__name__}), through the failing statement ----\n"
            f"{program.script(0, dtype, upto)}\n# ---- PyTorch ----\n{program.script(1)}"
        )

    def quiet():
        # numpy warns of each NaN and infinity it meets (PyTorch does not): a program of special values meets many
        return np.errstate(all="ignore") if program.special else contextlib.nullcontext()

    try:
        with quiet():
            exec(program.header(0, dtype), scope)
    except Exception as error:
        raise failure(f"building the leaves or forward raised {error!r}", 0) from error
    for position, (ours, _) in enumerate(program.actions):
        upto = position + 1
        try:
            with quiet():
                exec(ours, scope)
        except Exception as error:
            raise failure(f"{ours!r} raised {error!r}", upto) from error
        if ours != BACKWARD:
            continue
        loss, grads = expected[position]
        ours_loss = scope["loss"].item()
        if not agree(ours_loss, loss, rtol, atol):
            raise failure(f"loss is {ours_loss!r}, PyTorch has {loss!r}", upto)
        for name, want in grads.items():
            got = scope[name].grad
            where = f"after statement {upto} ({ours!r}), {name}.grad"
            if want is None:
                if got is not None:
                    raise failure(f"{where} is {got!r}, PyTorch has None", upto)
                continue
            if type(got) is not np.ndarray:
                raise failure(f"{where} is {got!r} of type {type(got).__name__}, not an np.ndarray", upto)
            if got.shape != want.shape or got.dtype != dtype:
                raise failure(f"{where} has shape {got.shape} and dtype {got.dtype}, the leaf {want.shape} and {np.dtype(dtype)}", upto)
            if not agree(got, want, rtol, atol):
                raise failure(f"{where} is\n{got!r}\nPyTorch has\n{want!r}", upto)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@settings(
    max_examples=EXAMPLES, derandomize=not _LONG_RUN, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_random_program_gradients_match_pytorch(torch, dtype, data):
    check_program(data.draw(programs(torch)), dtype, torch)


@pytest.mark.torch
@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@settings(
    max_examples=EXAMPLES_PER_OPERATION, derandomize=not _LONG_RUN, deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
    ],
)
@given(data=st.data())
def test_random_programs_featuring_each_operation(torch, op, data):
    """Every operation in every run: the programs above draw each one only now and then."""
    dtype = data.draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    check_program(data.draw(programs(torch, featured=op)), dtype, torch)


# -- the reproductions of issue 11: a 0-d leaf receiving a gradient more than once ------------------------


def assert_grad_like(leaf, expected):
    """``leaf.grad`` is an ``np.ndarray`` of the leaf's shape and dtype (never a numpy scalar) holding ``expected``."""
    grad = leaf.grad
    assert type(grad) is np.ndarray, f"grad is {grad!r} of type {type(grad).__name__}, not an np.ndarray"
    assert grad.shape == leaf.shape and grad.dtype == leaf.dtype
    np.testing.assert_allclose(grad, np.asarray(expected, dtype=np.float64), rtol=1e-6)


@pytest.mark.torch
def test_zero_d_leaf_with_a_broadcast_contribution_and_a_direct_one(torch):
    x = Tensor(2.0, requires_grad=True)
    (x * Tensor([3.0]) + x).backward(np.ones(1))
    tx = torch.tensor(2.0, requires_grad=True)
    (tx * torch.tensor([3.0]) + tx).backward(torch.ones(1))
    assert_grad_like(x, tx.grad.numpy())


@pytest.mark.torch
def test_zero_d_leaf_over_two_backward_calls_through_slices(torch):
    t = Tensor(1.0, requires_grad=True)
    xb = Tensor([0.0, 1, 2, 3])
    (xb[:2] * t).sum().backward()
    (xb[2:] * t).sum().backward()
    tt = torch.tensor(1.0, requires_grad=True)
    txb = torch.tensor([0.0, 1, 2, 3])
    (txb[:2] * tt).sum().backward()
    (txb[2:] * tt).sum().backward()
    assert_grad_like(t, tt.grad.numpy())


@pytest.mark.torch
def test_zero_d_leaf_backward_on_itself_with_its_grad_kept(torch):
    v = Tensor(1.0, requires_grad=True)
    v.backward()
    keep = v.grad  # a reference the user holds must not break accumulation
    for _ in range(3):
        v.backward()
    del keep
    tv = torch.tensor(1.0, requires_grad=True)
    for _ in range(4):
        tv.backward()
    assert_grad_like(v, tv.grad.numpy())


# The sweep: a 0-d leaf x meets an operand y of shape (1,), (3,), (1, 1) or (2, 3) through
# + - * / ** or where; y is a tensor requiring gradients (x op y), a constant tensor (y op x) or a numpy
# array (array op x); then a second contribution reaches x. 6 * 4 * 3 * 3 = 216 cases, each against PyTorch.
SWEEP_OPS = {
    "+": lambda a, b, where: a + b,
    "-": lambda a, b, where: a - b,
    "*": lambda a, b, where: a * b,
    "/": lambda a, b, where: a / b,
    "**": lambda a, b, where: a ** b,
    "where": lambda a, b, where: where(a, b),
}
SWEEP_SHAPES = [(1,), (3,), (1, 1), (2, 3)]
SWEEP_OPERANDS = ["tensor requiring grad", "constant tensor", "numpy array"]
SECOND_CONTRIBUTIONS = ["x again in the same expression", "a second backward", "a second graph"]


def sweep_case(lib, op, shape, kind, second):
    """Run one case on ``lib``; return the leaves requiring gradients. Values are positive, as ** needs."""
    rng = np.random.default_rng(11)
    y_values = rng.uniform(0.5, 2.0, shape)
    condition = rng.uniform(size=shape) < 0.5
    x = lib.leaf(np.array(1.5))
    leaves = [x]
    if kind == "tensor requiring grad":
        y = lib.leaf(y_values)
        leaves.append(y)
        a, b = x, y
    elif kind == "constant tensor":
        a, b = lib.constant(y_values), x
    else:
        a, b = lib.array(y_values), x
    out = SWEEP_OPS[op](a, b, lambda p, q: lib.where(condition, p, q))
    if second == "x again in the same expression":
        out = out + x
        out.backward(lib.seed(np.linspace(0.5, 1.5, lib.numel).reshape(lib.out_shape)))
    else:
        loss = out.sum()
        loss.backward(**lib.keep_graph)
        if second == "a second backward":
            loss.backward(**lib.keep_graph)
        else:
            (x * 2.5 + x).backward()
    return leaves


@pytest.mark.torch
@pytest.mark.parametrize("second", SECOND_CONTRIBUTIONS)
@pytest.mark.parametrize("kind", SWEEP_OPERANDS)
@pytest.mark.parametrize("shape", SWEEP_SHAPES, ids=str)
@pytest.mark.parametrize("op", list(SWEEP_OPS))
def test_zero_d_leaf_sweep(torch, op, shape, kind, second):
    ours = SimpleNamespace(
        leaf=lambda v: Tensor(v, requires_grad=True), constant=Tensor, array=lambda v: v,
        where=autodiff.where, seed=lambda v: v, keep_graph={},
    )
    theirs = SimpleNamespace(
        leaf=lambda v: torch.tensor(v, requires_grad=True), constant=torch.tensor, array=torch.tensor,
        where=lambda c, p, q: torch.where(torch.tensor(c), p, q), seed=torch.tensor, keep_graph={"retain_graph": True},
    )
    for lib in (ours, theirs):  # the shape of x op y, for the seed of "x again in the same expression"
        lib.out_shape = shape
        lib.numel = int(np.prod(shape))
    got = sweep_case(ours, op, shape, kind, second)
    want = sweep_case(theirs, op, shape, kind, second)
    for position, (leaf, reference) in enumerate(zip(got, want)):
        grad = leaf.grad
        assert type(grad) is np.ndarray, f"leaf {position}: grad is {grad!r} of type {type(grad).__name__}"
        assert grad.shape == leaf.shape, f"leaf {position}: grad of shape {grad.shape}, leaf {leaf.shape}"
        np.testing.assert_allclose(grad, reference.grad.numpy(), rtol=1e-12, err_msg=f"leaf {position}")


# -- gradients large enough that the engine reuses their arrays between steps -----------------------------


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_large_gradients_accumulate_and_a_reference_kept_across_a_reset_keeps_its_values(torch, dtype):
    """As in PyTorch: gradients add up with a reference held, and after ``grad = None`` the next
    backward makes a new array, never overwriting the one a user kept (say, to compare steps)."""
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((256, 256)).astype(dtype)  # 256 KiB in float32, above the size the engine keeps
    weights = [rng.standard_normal((256, 256)).astype(dtype) for _ in range(4)]
    w = Tensor(w0, requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)

    def step(i):
        (w * weights[i]).sum().backward()
        (tw * torch.from_numpy(weights[i])).sum().backward()

    step(0)
    kept = w.grad
    step(1)
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-6)
    snapshot = kept.copy()
    w.grad = None
    tw.grad = None
    step(2)
    np.testing.assert_array_equal(kept, snapshot, err_msg="the next backward wrote into a gradient the user kept")
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-6)
    w.grad = None
    tw.grad = None
    step(3)
    assert type(w.grad) is np.ndarray and w.grad.dtype == dtype
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-6)
