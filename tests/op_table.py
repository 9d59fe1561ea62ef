"""The operations the tests put through their paces: one row each, shared by every test that walks operations.

A row (``Op``) says

- how our program calls the operation and how PyTorch's does: ``str.format``
  templates over the operands ``{0}, {1}, ...`` and then the settings
  (``"{0}.sum(axis={1}, keepdims={2})"`` beside ``"{0}.sum(dim={1}, keepdim={2})"``);
- where each operand may lie (``Domain``): clear of the kinks and poles where
  finite differences fail and libraries may pick different one-sided
  derivatives;
- what it takes (``Signature``): how its operands' shapes relate, which
  settings it draws (an axis, a shape, an index), and the fixed cases the
  deterministic tests run (0-d and size-1 axes among them);
- which engines have it (Tensor, Value), and whether it has second
  derivatives and a forward mode.

The tests that read it:

- ``test_tensor_ops``: values and gradients against PyTorch under a random
  upstream gradient, finite differences in float64, float32 graphs;
- ``test_value``: the scalar engine's rows against PyTorch and finite differences;
- ``test_higher_order``: second and third derivatives against PyTorch,
  gradcheck of gradients, ``jvp`` against ``torch.func``, first-order
  operations refusing, random programs;
- ``test_trace``: traces of random Value programs, and each rule's formula;
- ``test_fuzz``: random programs against PyTorch.

Adding an operation of a kind already here is one row of ``OPS``.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autodiff
import nn
from autodiff import Tensor, Value

# -- what the two programs write ------------------------------------------------------------------


@dataclass
class Arg:
    """One argument as our program and PyTorch's write it, and what it stands for (an operand's values, an axis)."""

    ours: str
    theirs: str
    value: object = None


def literal(value):
    """A number, an axis, a tuple, True or None: the same text on both sides."""
    return Arg(repr(value), repr(value), value)


def booleans(values):
    """A boolean array (a condition, a mask): a numpy array for us, a bool tensor for PyTorch."""
    return Arg(f"np.array({values.tolist()!r})", f"torch.tensor({values.tolist()!r})", values)


def integers(values):
    """An integer array (an index)."""
    return Arg(f"np.array({values.tolist()!r})", f"torch.tensor({values.tolist()!r})", values)


def listing(args):
    """A Python list of arguments."""
    return Arg("[" + ", ".join(a.ours for a in args) + "]", "[" + ", ".join(a.theirs for a in args) + "]",
               [a.value for a in args])


def axes(axis, ndim):
    """An axis, a tuple of axes or None (every axis), which PyTorch spells as the tuple of every dimension."""
    return Arg(repr(axis), repr(tuple(range(ndim)) if axis is None else axis), axis)


def index(parts):
    """An index: ints, slices, None, ... and integer or boolean arrays, written the same on both sides."""
    def spell(part, side):
        if isinstance(part, slice):
            text = ("" if part.start is None else str(part.start)) + ":" + ("" if part.stop is None else str(part.stop))
            return text + ("" if part.step is None else f":{part.step}")
        if part is Ellipsis:
            return "..."
        if isinstance(part, np.ndarray):
            return getattr(booleans(part) if part.dtype == np.bool_ else integers(part), side)
        return repr(part)

    if not parts:
        return Arg("()", "()", ())
    return Arg(*(", ".join(spell(p, side) for p in parts) for side in ("ours", "theirs")), tuple(parts))


# -- where operands may lie -------------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    """Values an operand may take: ``draw`` makes new ones, ``accepts`` vets the result of an earlier step.

    ``draw(rng, shape)`` gives float64 values; with ``sixteenths``, multiples of 1/16 (exact in float32 too).
    ``accepts`` judges the finite elements only: an infinity or a NaN gives the same result in any library.
    """

    name: str
    draws: Callable
    vets: Callable = lambda v: True

    def draw(self, rng, shape, sixteenths=False):
        values = self.draws(rng, shape)
        if sixteenths:
            values = np.round(values * 16) / 16
        return np.asarray(values, dtype=np.float64)

    def accepts(self, values, zero=False):
        """Whether every finite element of ``values`` lies in the domain (or, with ``zero``, is exactly 0)."""
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if zero:
            values = values[values != 0]
        return bool(self.vets(values))

    def __repr__(self):
        return self.name


def _uniform(low, high, both_signs=False):
    def draws(rng, shape):
        values = rng.uniform(low, high, shape)
        return values * rng.choice([-1.0, 1.0], shape) if both_signs else values

    return draws


ANY = Domain("ANY", _uniform(-2, 2))
POSITIVE = Domain("POSITIVE", _uniform(0.25, 2), lambda v: (v > 0.1).all())  # log, sqrt, fractional powers
NONZERO = Domain("NONZERO", _uniform(0.25, 2, both_signs=True), lambda v: (np.abs(v) > 0.1).all())  # 1/x
# relu and abs: exactly 0 is fine (both libraries take the slope 0 there), close to 0 is not
KINK_AT_ZERO = Domain("KINK_AT_ZERO", _uniform(0.25, 2, both_signs=True), lambda v: ((v == 0) | (np.abs(v) > 1e-2)).all())
BELOW_FOUR = Domain("BELOW_FOUR", _uniform(-2, 2), lambda v: (v < 4).all())  # exp of it stays moderate


def away_from(*points):
    """Clear of ``points`` (clip's bounds) by 0.2 when drawn; an earlier result exactly at one is fine too."""
    def draws(rng, shape):
        values = rng.uniform(-2, 2, shape)
        for p in points:
            near = np.abs(values - p) < 0.2
            values = np.where(near, p + np.where(values >= p, 0.25, -0.25), values)
        return values

    def vets(values):
        return all(((values == p) | (np.abs(values - p) > 1e-2)).all() for p in points)

    return Domain(f"away_from{points}", draws, vets)


# -- what an operation takes ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Case:
    """Operands of ``shapes`` and the ``settings`` (Args), for one run of an operation."""

    shapes: tuple
    settings: tuple = ()
    name: str = ""

    def __str__(self):
        return self.name or "-".join(map(str, self.shapes)) + ("|" + ",".join(a.ours for a in self.settings)
                                                              if self.settings else "")


@dataclass(frozen=True, eq=False)
class Signature:
    """How an operation's operands relate and which settings it takes.

    - ``cases``: the fixed cases of the deterministic tests;
    - ``random``: a hypothesis strategy of cases (shapes with 0-d and size-1 axes);
    - ``settings(shape)``: for a one-operand operation, a strategy of settings that fit
      an operand of ``shape``, or None where none fits (the fuzzer's and the random
      programs' way to apply it to an earlier result);
    - ``listed``: the operands go in as one list (concatenate, stack).
    """

    name: str
    cases: tuple
    random: object
    settings: Callable = None
    listed: bool = False

    @property
    def arity(self):
        """How many operands its fixed cases take (the first case's count, for a listed operation)."""
        return len(self.cases[0].shapes)

    def arguments(self, operands, settings):
        """The ``str.format`` arguments of a row's templates: the operands (as one list where ``listed``), then the settings."""
        return ([listing(operands)] if self.listed else list(operands)) + list(settings)

    def __repr__(self):
        return self.name


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def _one_operand(name, cases, settings=None):
    """A signature of one operand of any shape, with ``settings(shape)`` drawing what it takes."""
    if settings is None:
        random = SHAPES.map(lambda shape: Case((shape,)))
    else:
        random = SHAPES.filter(lambda shape: settings(shape) is not None).flatmap(
            lambda shape: settings(shape).map(lambda drawn: Case((shape,), drawn)))
    return Signature(name, tuple(cases), random, settings)


def _fixed(shapes_and_settings):
    return tuple(Case(tuple(shapes), tuple(settings)) for shapes, settings in shapes_and_settings)


# the first cases are the telling ones (0-d, size-1 axes, broadcasting): tests that run few take those
ONE = _one_operand("ONE", _fixed([((shape,), ()) for shape in [(), (2, 1, 3), (1,), (3,), (2, 3)]]))

TWO = Signature(
    "TWO",
    _fixed([(pair, ()) for pair in [((), ()), ((3, 1), (4,)), ((2, 1, 3), (1, 3)), ((1,), ()), ((2, 3), (3,)),
                                    ((2, 1), (1, 3)), ((3,), (2, 3)), ((), (2, 3)), ((2, 3), (2, 3))]]),
    hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3).map(
        lambda drawn: Case(tuple(drawn.input_shapes))),
)

MATMUL_SHAPES = [
    ((2, 3), (3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,)),
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)),
    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((1, 2, 3), (5, 3, 4)),
]
MATMUL = Signature("MATMUL", _fixed([(pair, ()) for pair in MATMUL_SHAPES]),
                   st.sampled_from(MATMUL_SHAPES).map(lambda pair: Case(pair)))


def _axes_settings(shape):
    ndim = len(shape)
    choices = [st.none()]
    if ndim:
        choices += [st.integers(-ndim, ndim - 1),
                    st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)]
    return st.tuples(st.one_of(choices), st.booleans()).map(lambda drawn: (axes(drawn[0], ndim), literal(drawn[1])))


AXES = _one_operand("AXES", [
    Case(((2, 3, 4),), (axes(axis, 3), literal(keep)))
    for axis, keep in [(None, False), (0, True), (-1, False), ((0, 2), False), ((1,), True)]
] + [Case(((),), (axes(None, 0), literal(False))), Case(((1, 3),), (axes((0, 1), 2), literal(True))),
     Case(((2, 1, 4),), (axes((0, 2), 3), literal(True)))], _axes_settings)


def _axis_settings(shape):
    ndim = max(len(shape), 1)
    return st.integers(-ndim, ndim - 1).map(lambda axis: (literal(axis),))


AXIS = _one_operand("AXIS", _fixed([(((3, 4),), (literal(0),)), (((3, 4),), (literal(-1),)),
                                    (((2, 3, 4),), (literal(1),)), (((1, 4),), (literal(0),)),
                                    (((2, 3, 1),), (literal(1),)), (((),), (literal(0),))]), _axis_settings)


def _axis_and_keep_settings(shape):
    return st.tuples(_axis_settings(shape), st.booleans()).map(lambda drawn: (*drawn[0], literal(drawn[1])))


AXIS_KEEP = _one_operand("AXIS_KEEP", _fixed([
    (((2, 3, 4),), (literal(1), literal(False))), (((3, 1),), (literal(0), literal(True))),
    (((4,),), (literal(0), literal(False))), (((),), (literal(0), literal(True))),
]), _axis_and_keep_settings)


def _prime_factors(n):
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors


@st.composite
def shapes_of_size(draw, size, max_ndim=4):
    """A shape of ``size`` elements, with size-1 axes."""
    ndim = draw(st.integers(0 if size == 1 else 1, max_ndim))
    shape = [1] * ndim
    for factor in _prime_factors(size):
        shape[draw(st.integers(0, ndim - 1))] *= factor
    return tuple(shape)


@st.composite
def _new_shape(draw, shape):
    """A new shape of the same size, perhaps with one -1."""
    new = list(draw(shapes_of_size(int(np.prod(shape)))))
    if new and draw(st.booleans()):
        new[draw(st.integers(0, len(new) - 1))] = -1
    return (literal(tuple(new)),)


RESHAPE = _one_operand("RESHAPE", _fixed([
    (((2, 3, 4),), (literal((4, 6)),)), (((2, 3, 4),), (literal((3, -1)),)), (((),), (literal((1, 1)),)),
    (((2, 3),), (literal((3, 2)),)), (((2, 3, 4),), (literal((4, 1, 6)),)),
]), lambda shape: _new_shape(shape))


def zeros_of(shape):
    """A constant of ``shape`` (for ``view_as``)."""
    return Arg(f"Tensor(np.zeros({shape!r}))", f"torch.zeros({shape!r})", np.zeros(shape))


LIKE = _one_operand("LIKE", _fixed([(((2, 3),), (zeros_of((3, 2)),)), (((2, 3, 4),), (zeros_of((6, 1, 4)),)),
                                    (((),), (zeros_of((1,)),))]),
                    lambda shape: shapes_of_size(int(np.prod(shape))).map(lambda new: (zeros_of(new),)))

PERMUTATION = _one_operand("PERMUTATION", _fixed([
    (((2, 3, 4),), (literal((2, 0, 1)),)), (((2, 3, 4),), (Arg("(1, -1, 0)", "(1, 2, 0)"),)),
    (((2, 3),), (literal((1, 0)),)), (((2, 3),), (literal((0, 1)),)), (((),), (literal(()),)),
]), lambda shape: st.permutations(range(len(shape))).map(lambda axes_: (literal(tuple(axes_)),)))

NEW_AXIS = _one_operand("NEW_AXIS", _fixed([
    (((2, 3),), (literal(1),)), (((2, 3),), (literal(0),)), (((),), (literal(0),)), (((3,),), (literal(-1),)),
]), lambda shape: st.integers(-len(shape) - 1, len(shape)).map(lambda axis: (literal(axis),)))


@st.composite
def _dim_range(draw, shape):
    ndim = max(len(shape), 1)
    start = draw(st.integers(-ndim, ndim - 1))
    last = draw(st.integers(start % ndim, ndim - 1))
    return literal(start), literal(last - ndim if draw(st.booleans()) else last)


DIM_RANGE = _one_operand("DIM_RANGE", _fixed([
    (((2, 3, 4),), (literal(1), literal(2))), (((2, 3, 1),), (literal(0), literal(-1))),
    (((2, 3, 4),), (literal(0), literal(1))), (((),), (literal(0), literal(-1))),
]), lambda shape: _dim_range(shape))

SWAP = _one_operand("SWAP", _fixed([
    (((2, 3, 4),), (literal(0), literal(2))), (((2, 3),), (literal(0), literal(1))),
    (((3,),), (literal(0), literal(-1))), (((2, 1, 3),), (literal(-1), literal(1))),
]), lambda shape: None if not shape else st.tuples(
    *[st.integers(-len(shape), len(shape) - 1)] * 2).map(lambda pair: tuple(map(literal, pair))))


@st.composite
def _bigger_shape(draw, shape):
    """A shape ``shape`` broadcasts to: its axes of length 1 grown, perhaps with new leading axes."""
    grown = tuple(draw(st.integers(1, 3)) if n == 1 else n for n in shape)
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=max(0, 3 - len(shape)))))
    return (literal(lead + grown),)


EXPAND = _one_operand("EXPAND", _fixed([
    (((3, 1),), (literal((2, 3, 4)),)), (((),), (literal((2,)),)), (((1, 3),), (literal((2, 3)),)),
]), lambda shape: _bigger_shape(shape))


@st.composite
def _index(draw, shape):
    """An index of ints, slices, None, ... and at most one integer array or boolean mask."""
    if not shape:
        return (index([draw(st.sampled_from([None, Ellipsis]))]),)
    if draw(st.integers(0, 5)) == 0:  # a mask of the whole shape
        return (index([draw(hnp.arrays(np.bool_, shape))]),)
    parts, advanced = [], False
    kept_axes = draw(st.integers(1, len(shape)))
    for n in shape[:kept_axes]:
        if draw(st.integers(0, 4)) == 0:
            parts.append(None)
        kinds = ["slice", "all", "int"] if not advanced else ["slice", "all"]
        if not advanced and not any(isinstance(p, int) for p in parts):
            kinds += ["array", "mask"]
        kind = draw(st.sampled_from(kinds))
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            bound = st.one_of(st.none(), st.integers(-n - 1, n + 1))
            parts.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2]))))
        elif kind == "all":
            parts.append(slice(None))
        elif kind == "array":
            parts.append(np.array(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4))))
            advanced = True
        else:
            parts.append(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))))
            advanced = True
    if kept_axes < len(shape) and draw(st.booleans()):
        parts.append(Ellipsis)
    return (index(parts),)


MASK = np.random.default_rng(11).random((4, 5, 3)) > 0.5
INDICES = {
    "int": [1],
    "negative_int": [-1],
    "slice": [slice(1, 3)],
    "step": [slice(None, None, 2)],
    "int_then_slice": [2, slice(1, None)],
    "ellipsis": [Ellipsis, 0],
    "none": [None, slice(None), 1],
    "none_inside": [slice(None), None, slice(1, 4)],
    "int_array": [np.array([0, 2, 3])],
    "repeated_int_array": [np.array([0, 2, 0, 0])],
    "repeated_pairs": [np.array([0, 1, 0]), np.array([4, 2, 4])],
    "int_array_2d": [np.array([[0, 1], [1, 1]])],
    "int_array_with_slice": [1, np.array([0, 0, 4]), slice(None)],
    "int_array_after_ellipsis": [Ellipsis, np.array([2, 2])],
    "mask": [MASK],
    "mask_of_first_axis": [np.array([True, False, True, True])],
    "mask_with_int": [slice(None), np.array([True, False, True, False, True]), 1],
}
INDEX = _one_operand("INDEX", [Case(((4, 5, 3),), (index(parts),), name) for name, parts in INDICES.items()]
                     + [Case(((),), (index([None]),), "zero_d_none")], lambda shape: _index(shape))


def _pieces_cases(new_axis):
    if new_axis:
        return _fixed([(((2, 3),) * 3, (literal(axis),)) for axis in (0, 1, 2, -1)] + [(((), ()), (literal(0),))])
    return _fixed([(((2, 3), (1, 3), (3, 3)), (literal(0),)), (((2, 3), (2, 1), (2, 2)), (literal(1),)),
                   (((2, 3), (2, 1), (2, 2)), (literal(-1),)), (((3,), (2,)), (literal(0),))])


@st.composite
def _pieces(draw, new_axis):
    shape = draw(hnp.array_shapes(min_dims=0 if new_axis else 1, max_dims=3, min_side=1, max_side=3))
    ndim = len(shape)
    axis = draw(st.integers(-ndim - 1, ndim) if new_axis else st.integers(-ndim, ndim - 1))
    shapes = [shape]
    for _ in range(draw(st.integers(0, 2))):
        if new_axis:
            shapes.append(shape)
        else:
            shapes.append(shape[: axis % ndim] + (draw(st.integers(1, 3)),) + shape[axis % ndim + 1:])
    return Case(tuple(shapes), (literal(axis),))


PIECES = Signature("PIECES", _pieces_cases(False), _pieces(False), listed=True)
STACKED = Signature("STACKED", _pieces_cases(True), _pieces(True), listed=True)

CONDITION = np.array([True, False, True])
CONDITION_2D = np.array([[True, False, True], [False, False, True]])


@st.composite
def _choice(draw):
    drawn = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3))
    condition_shape, *shapes = drawn.input_shapes
    return Case(tuple(shapes), (booleans(draw(hnp.arrays(np.bool_, condition_shape))),))


CHOICE = Signature("CHOICE", (Case(((2, 3), (3,)), (booleans(CONDITION),)),
                              Case(((), (1, 3)), (booleans(CONDITION_2D),)),
                              Case(((3,), ()), (booleans(np.array(True)),))), _choice())


@st.composite
def _mask_for(draw, shape):
    """A boolean mask that broadcasts to ``shape`` without growing it."""
    mask_shape = draw(hnp.broadcastable_shapes(shape, min_dims=0, max_dims=len(shape), min_side=1, max_side=3))
    return (booleans(draw(hnp.arrays(np.bool_, mask_shape))),)


MASKED = _one_operand("MASKED", _fixed([(((2, 3),), (booleans(CONDITION_2D),)), (((2, 3),), (booleans(CONDITION),)),
                                        (((),), (booleans(np.array(False)),))]), lambda shape: _mask_for(shape))

SIXTEEN = Signature("SIXTEEN", (Case(((16,),)),), st.just(Case(((16,),))))  # the operand is reshaped to 4x4


# -- the rows ------------------------------------------------------------------------------------------

TENSOR, VALUE = "Tensor", "Value"
BOTH = frozenset({TENSOR, VALUE})


@dataclass(frozen=True, eq=False)
class Op:
    """One operation, as the tests call it.

    - ``name``: the row's id;
    - ``ours``, ``theirs``: our spelling and PyTorch's (``theirs`` None: the same; or a function of the
      settings' values giving the template, where PyTorch spells some settings another way);
    - ``domains``: where each operand may lie;
    - ``takes``: the ``Signature``;
    - ``engines``: ``TENSOR``, ``VALUE`` or both;
    - ``node``: the op name its result node shows (pictures, traces), where the test checks it;
    - ``vet(shapes, values, settings)``: whether a case suits it beyond the domains (None: all do);
      ``values`` may be None when only the shapes are known;
    - ``casts``: the result has another dtype than the operands;
    - ``rounds``: the operation rounds to float32 on the way (compare loosely, no finite differences);
    - ``second_order``, ``jvp``: whether it has second derivatives and forward mode;
    - ``refused_sometimes``: PyTorch refuses some operands (``view`` of a tensor whose layout needs a
      copy, probabilities that are NaN): where it does, random programs leave the step out (tests of
      their own check that we refuse too).
    """

    name: str
    ours: str
    theirs: str = None
    domains: tuple = (ANY,)
    takes: Signature = ONE
    engines: frozenset = frozenset({TENSOR})
    node: str = None
    vet: Callable = None
    casts: bool = False
    rounds: bool = False
    second_order: bool = True
    jvp: bool = True
    refused_sometimes: bool = False

    def spelled(self, side, operands, settings=()):
        """The call as text: ``side`` "ours" or "theirs", ``operands`` and ``settings`` Args."""
        template = self.ours if side == "ours" or self.theirs is None else self.theirs
        if callable(template):
            template = template(*[a.value for a in settings])
        return template.format(*[getattr(a, side) for a in self.takes.arguments(operands, settings)])

    def domain(self, position):
        """The domain of operand ``position`` (a listed operation's pieces share the first)."""
        return self.domains[min(position, len(self.domains) - 1)]

    def suits(self, case, values=None):
        return self.vet is None or self.vet(case.shapes, values, [a.value for a in case.settings])

    def __repr__(self):
        return self.name


def _at_least_two_dims(shapes, values, settings):
    return len(shapes[0]) >= 2


def _reduces_two_or_more(shapes, values, settings):
    """var and std divide by n - 1: every reduction takes in at least two elements."""
    shape, axis = shapes[0], settings[0]
    reduced = range(len(shape)) if axis is None else [axis] if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in reduced])) >= 2


def _near_ties(extremum):
    """Vets max/min's operand: within a reduced slice, no element comes near the extremum without attaining it.

    Near ties would let float32 rounding choose another element than float64 does; exact ties are
    fine (amax shares g among them in both libraries, and max(dim) sends it to the first of them).
    """
    def vet(shapes, values, settings):
        if values is None:
            return True
        a = np.asarray(values[0], dtype=np.float64)
        axis = settings[0]
        if isinstance(axis, int) and a.ndim == 0:
            a, axis = a.reshape(1), 0
        with np.errstate(invalid="ignore"):
            top = extremum(a, axis=axis, keepdims=True)
            near = np.abs(a - top) <= 1e-3 * (1 + np.abs(top))
        return bool((~near | (a == top)).all())

    return vet


def _max_or_amax(name):
    """PyTorch's spelling of our ``max(axis=..., keepdims=...)`` (``name`` "max" or "min"): over given axes it
    is ``amax`` (a slice holding NaN has the gradient NaN); over all of them (axis None) it is ``max()``,
    which shares g among the NaNs it found."""
    def template(axis, keepdims):
        if axis is None:
            return "{0}.%s()%s" % (name, ".reshape([1] * {0}.ndim)" if keepdims else "")
        return "{0}.a%s(dim={1}, keepdim={2})" % name

    return template


def _clear_of_ties(extremum):
    """As ``_near_ties`` for a reduction of the whole operand."""
    vet_all = _near_ties(extremum)
    return lambda shapes, values, settings: vet_all(shapes, values, [None])


OPS = [
    # -- arithmetic, with broadcasting, and numbers on either side
    Op("add", "{0} + {1}", takes=TWO, domains=(ANY, ANY), engines=BOTH, node="+"),
    Op("sub", "{0} - {1}", takes=TWO, domains=(ANY, ANY), engines=BOTH, node="-"),
    Op("mul", "{0} * {1}", takes=TWO, domains=(ANY, ANY), engines=BOTH, node="*"),
    Op("div", "{0} / {1}", takes=TWO, domains=(ANY, NONZERO), engines=BOTH, node="/"),
    Op("pow", "{0} ** {1}", takes=TWO, domains=(POSITIVE, ANY), engines=BOTH, node="**"),
    Op("neg", "-{0}", engines=BOTH, node="neg"),
    Op("number_plus", "2.5 + {0}", engines=BOTH, node="+"),
    Op("plus_number", "{0} + 2.5", engines=BOTH, node="+"),
    Op("number_minus", "2.5 - {0}", engines=BOTH, node="-"),
    Op("minus_number", "{0} - 2.5", engines=BOTH, node="-"),
    Op("number_times", "2.5 * {0}", engines=BOTH, node="*"),
    Op("times_number", "{0} * 2.5", engines=BOTH, node="*"),
    Op("number_over", "2.5 / {0}", domains=(NONZERO,), engines=BOTH, node="/"),
    Op("over_number", "{0} / 2.5", engines=BOTH, node="/"),
    Op("number_power", "2.5 ** {0}", engines=BOTH, node="**"),
    # -- a power by a number: a setting of the operation, not an input
    Op("square", "{0} ** 2", engines=BOTH, node="**2"),
    Op("cube", "{0} ** 3", engines=BOTH, node="**3"),
    Op("pow_zero", "{0} ** 0", engines=BOTH, node="**0"),
    Op("pow_one", "{0} ** 1.0", engines=BOTH, node="**1"),
    Op("reciprocal", "{0} ** -1", domains=(NONZERO,), engines=BOTH, node="**-1"),
    Op("pow_half", "{0} ** 0.5", domains=(POSITIVE,), engines=BOTH, node="**0.5"),
    Op("pow_minus_half", "{0} ** -0.5", domains=(POSITIVE,), engines=BOTH, node="**-0.5"),
    Op("pow_three_halves", "{0} ** 1.5", domains=(POSITIVE,), engines=BOTH, node="**1.5"),
    Op("pow_five_halves", "{0} ** 2.5", domains=(POSITIVE,), engines=BOTH, node="**2.5"),
    Op("pow_minus_three_halves", "{0} ** -1.5", domains=(POSITIVE,), engines=BOTH, node="**-1.5"),
    Op("pow_method", "{0}.pow(3)"),
    # -- elementwise functions
    Op("exp", "{0}.exp()", domains=(BELOW_FOUR,), engines=BOTH, node="exp"),
    Op("exp_function", "autodiff.exp({0})", "torch.exp({0})", domains=(BELOW_FOUR,), engines=BOTH, node="exp"),
    Op("log", "{0}.log()", domains=(POSITIVE,), engines=BOTH, node="log"),
    Op("log2", "{0}.log2()", domains=(POSITIVE,)),
    Op("log10", "{0}.log10()", domains=(POSITIVE,)),
    Op("sqrt", "{0}.sqrt()", domains=(POSITIVE,), engines=BOTH, node="sqrt"),
    Op("abs", "{0}.abs()", domains=(KINK_AT_ZERO,), engines=BOTH, node="abs"),
    Op("tanh", "{0}.tanh()", engines=BOTH, node="tanh"),
    Op("sigmoid", "{0}.sigmoid()", engines=BOTH, node="sigmoid"),
    Op("relu", "{0}.relu()", domains=(KINK_AT_ZERO,), engines=BOTH, node="ReLU"),
    Op("relu_function", "autodiff.relu({0})", "torch.relu({0})", domains=(KINK_AT_ZERO,), engines=BOTH, node="ReLU"),
    Op("sin", "{0}.sin()", engines=BOTH, node="sin"),
    Op("cos", "{0}.cos()", engines=BOTH, node="cos"),
    Op("sinh", "{0}.sinh()", domains=(BELOW_FOUR,), engines=BOTH, node="sinh"),
    Op("cosh_function", "autodiff.cosh({0})", "torch.cosh({0})", domains=(BELOW_FOUR,), engines=BOTH, node="cosh"),
    Op("clip", "{0}.clip(-0.5, 0.5)", "{0}.clamp(-0.5, 0.5)", domains=(away_from(-0.5, 0.5),), node="clip"),
    Op("clip_low", "{0}.clip(-1.0)", "{0}.clamp(min=-1.0)", domains=(away_from(-1.0),), node="clip"),
    Op("clip_high", "{0}.clip(None, 0.75)", "{0}.clamp(max=0.75)", domains=(away_from(0.75),), node="clip"),
    Op("clamp", "{0}.clamp(0.25, 1.5)", domains=(away_from(0.25, 1.5),), node="clip"),
    Op("double", "{0}.double()", casts=True),
    Op("float_then_double", "{0}.float().double()", casts=True, rounds=True),
    # -- reductions
    Op("sum", "{0}.sum(axis={1}, keepdims={2})", "{0}.sum(dim={1}, keepdim={2})", takes=AXES, node="sum"),
    Op("sum_dim", "{0}.sum(dim={1}, keepdim={2})", takes=AXES),
    Op("sum_all", "{0}.sum()"),
    Op("mean", "{0}.mean(axis={1}, keepdims={2})", "{0}.mean(dim={1}, keepdim={2})", takes=AXES, node="mean"),
    Op("mean_dim", "{0}.mean(dim={1}, keepdim={2})", takes=AXES),
    Op("mean_all", "{0}.mean()"),
    Op("max", "{0}.max(axis={1}, keepdims={2})", _max_or_amax("max"), takes=AXES, node="max",
       vet=_near_ties(np.max)),
    Op("min", "{0}.min(axis={1}, keepdims={2})", _max_or_amax("min"), takes=AXES, node="min",
       vet=_near_ties(np.min)),
    Op("max_all", "{0}.max()", vet=_clear_of_ties(np.max)),
    Op("min_all", "{0}.min()", vet=_clear_of_ties(np.min)),
    Op("max_dim", "{0}.max({1}, keepdim={2}).values", takes=AXIS_KEEP, vet=_near_ties(np.max)),
    Op("min_dim", "{0}.min(dim={1}, keepdim={2}).values", takes=AXIS_KEEP, vet=_near_ties(np.min)),
    Op("logsumexp", "{0}.logsumexp(axis={1}, keepdims={2})", "{0}.logsumexp(dim={1}, keepdim={2})", takes=AXES,
       node="logsumexp"),
    Op("logsumexp_dim", "{0}.logsumexp(dim={1}, keepdim={2})", takes=AXES),
    Op("logsumexp_all", "{0}.logsumexp()", "{0}.reshape(-1).logsumexp(0)"),
    Op("var", "{0}.var(dim={1}, keepdim={2})", takes=AXES, vet=_reduces_two_or_more),
    Op("std", "{0}.std(dim={1}, keepdim={2})", takes=AXES, vet=_reduces_two_or_more),
    Op("softmax", "{0}.softmax(axis={1})", "{0}.softmax(dim={1})", takes=AXIS),
    Op("softmax_dim", "{0}.softmax(dim={1})", takes=AXIS),
    Op("softmax_function", "autodiff.softmax({0}, dim={1})", "torch.softmax({0}, dim={1})", takes=AXIS),
    Op("log_softmax", "{0}.log_softmax(axis={1})", "{0}.log_softmax(dim={1})", takes=AXIS, node="log_softmax"),
    Op("log_softmax_dim", "{0}.log_softmax(dim={1})", takes=AXIS),
    # -- matrix products
    Op("matmul", "{0} @ {1}", takes=MATMUL, domains=(ANY, ANY), node="@"),
    Op("matmul_function", "autodiff.matmul({0}, {1})", "torch.matmul({0}, {1})", takes=MATMUL, domains=(ANY, ANY)),
    # -- shape: the same numbers, moved
    Op("reshape", "{0}.reshape({1})", takes=RESHAPE, node="reshape"),
    Op("view", "{0}.view({1})", takes=RESHAPE, refused_sometimes=True),
    Op("view_as", "{0}.view_as({1})", takes=LIKE, refused_sometimes=True),
    Op("transpose", "{0}.transpose({1})", "{0}.permute({1})", takes=PERMUTATION, node="transpose"),
    Op("permute", "{0}.permute({1})", takes=PERMUTATION),
    Op("transpose_all", "{0}.transpose()", "{0}.permute(tuple(reversed(range({0}.ndim))))"),
    Op("T", "{0}.T", "{0}.permute(tuple(reversed(range({0}.ndim))))"),
    Op("swapaxes", "{0}.swapaxes({1}, {2})", takes=SWAP),
    Op("flatten", "{0}.flatten()"),
    Op("flatten_dims", "{0}.flatten({1}, {2})", takes=DIM_RANGE),
    Op("unsqueeze", "{0}.unsqueeze({1})", takes=NEW_AXIS),
    Op("squeeze", "{0}.squeeze()"),
    Op("squeeze_dim", "{0}.squeeze({1})", takes=AXIS),
    Op("expand", "{0}.expand({1})", takes=EXPAND),
    Op("getitem", "{0}[{1}]", takes=INDEX, node="getitem"),
    Op("concatenate", "autodiff.concatenate({0}, axis={1})", "torch.cat({0}, dim={1})", takes=PIECES,
       node="concatenate"),
    Op("cat", "autodiff.cat({0}, dim={1})", "torch.cat({0}, dim={1})", takes=PIECES),
    Op("stack", "autodiff.stack({0}, axis={1})", "torch.stack({0}, dim={1})", takes=STACKED),
    Op("stack_dim", "autodiff.stack({0}, dim={1})", "torch.stack({0}, dim={1})", takes=STACKED),
    # -- choosing
    Op("where", "autodiff.where({2}, {0}, {1})", "torch.where({2}, {0}, {1})", takes=CHOICE, domains=(ANY, ANY),
       node="where"),
    Op("where_tensor_condition", "autodiff.where(Tensor({2}), {0}, {1})", "torch.where({2}, {0}, {1})", takes=CHOICE,
       domains=(ANY, ANY)),
    Op("masked_fill", "{0}.masked_fill({1}, 0.5)", takes=MASKED),
    Op("tril", "autodiff.tril({0})", "torch.tril({0})", vet=_at_least_two_dims),
    Op("triu", "autodiff.triu({0}, 1)", "torch.triu({0}, 1)", vet=_at_least_two_dims),
    # -- the scalar engine's own: many inputs in one node
    Op("linear", "Value.linear([{0}, {1}], [{1}, {0}], {0})", "{0} * {1} + {1} * {0} + {0}", takes=TWO,
       domains=(ANY, ANY), engines=frozenset({VALUE}), node="w·x+b"),
    Op("value_sum", "Value.sum([{0}, {1}, {0}])", "{0} + {1} + {0}", takes=TWO, domains=(ANY, ANY),
       engines=frozenset({VALUE}), node="sum"),
    # -- nn's operations whose rules are numpy alone: first derivatives only. lstm's result, the states from
    # step 1 on, is a slice of those from step 0: flattened here, so that a random program's view() of it
    # tests its derivatives, not that layout (test_inplace checks view() after the layers)
    Op("conv2d", "nn.functional.conv2d({0}.reshape(1, 1, 4, 4), Tensor(np.ones((2, 1, 2, 2)), dtype={0}.dtype))",
       "torch.nn.functional.conv2d({0}.reshape(1, 1, 4, 4), torch.ones((2, 1, 2, 2), dtype={0}.dtype))",
       takes=SIXTEEN, second_order=False, jvp=False, node="conv2d"),
    Op("max_pool2d", "nn.functional.max_pool2d({0}.reshape(1, 1, 4, 4), 2)",
       "torch.nn.functional.max_pool2d({0}.reshape(1, 1, 4, 4), 2)", takes=SIXTEEN, second_order=False, jvp=False,
       node="max_pool2d"),
    Op("rnn_tanh", "nn.functional.rnn_tanh({0}.reshape(2, 2, 4), Tensor(np.zeros((2, 4)), dtype={0}.dtype), "
       "Tensor(np.eye(4) / 2, dtype={0}.dtype))", "rnn_tanh({0}.reshape(2, 2, 4), torch.eye(4, dtype={0}.dtype) / 2)",
       takes=SIXTEEN, second_order=False, jvp=False, node="rnn_tanh"),
    Op("lstm", "nn.functional.lstm({0}.reshape(4, 1, 4), Tensor(np.zeros((1, 1)), dtype={0}.dtype), "
       "Tensor(np.zeros((1, 1)), dtype={0}.dtype), Tensor(np.ones((4, 1)) / 2, dtype={0}.dtype)).flatten()",
       "lstm({0}.reshape(4, 1, 4), torch.ones((4, 1), dtype={0}.dtype) / 2).flatten()",
       takes=SIXTEEN, second_order=False, jvp=False, node="lstm"),
    Op("binary_cross_entropy", "nn.binary_cross_entropy({0}.reshape(16).sigmoid(), np.ones((16,)))",
       "torch.nn.functional.binary_cross_entropy({0}.reshape(16).sigmoid(), torch.ones(16, dtype={0}.dtype))",
       takes=SIXTEEN, second_order=False, jvp=False, node="binary_cross_entropy", refused_sometimes=True),
]
BY_NAME = {op.name: op for op in OPS}
assert len(BY_NAME) == len(OPS), "two rows share a name"


def rows(engine=TENSOR, **flags):
    """The rows of ``engine`` whose attributes have the values ``flags`` (``second_order=True``, ...)."""
    return [op for op in OPS if engine in op.engines and all(getattr(op, k) == v for k, v in flags.items())]


def cases(op, most=None):
    """The fixed cases of ``op`` that suit it (the first ``most`` of them, if given)."""
    found = [case for case in op.takes.cases if op.suits(case)]
    assert found, f"{op.name}: no case of {op.takes!r} suits it"
    return found[:most]


# -- the rows as Python functions ----------------------------------------------------------------------


def _rnn_tanh(torch, x_proj, weight_hh):
    """PyTorch's Elman RNN step by step, from a zero state: what ``nn.functional.rnn_tanh`` computes as one node."""
    h = torch.zeros(x_proj.shape[1:], dtype=x_proj.dtype)
    states = []
    for x in x_proj:
        h = (x + h @ weight_hh.T).tanh()
        states.append(h)
    return torch.stack(states)


def _lstm(torch, x_proj, weight_hh):
    """PyTorch's LSTM step by step, from zero states: what ``nn.functional.lstm`` computes as one node."""
    hidden = weight_hh.shape[1]
    h = c = torch.zeros((x_proj.shape[1], hidden), dtype=x_proj.dtype)
    hs, cs = [], []
    for x in x_proj:
        i, f, g, o = (x + h @ weight_hh.T).split(hidden, dim=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        hs.append(h)
        cs.append(c)
    return torch.stack([torch.stack(hs), torch.stack(cs)])


def scope(side, torch=None):
    """The names a row's text may use: ours, or PyTorch's (``torch`` given)."""
    if side == "ours":
        return {"np": np, "autodiff": autodiff, "nn": nn, "Tensor": Tensor, "Value": Value}
    return {"np": np, "torch": torch, "rnn_tanh": lambda *a: _rnn_tanh(torch, *a), "lstm": lambda *a: _lstm(torch, *a)}


@lru_cache(maxsize=None)
def _compiled(text, side, torch):
    return eval(text, scope(side, torch))


def function(op, side, count, settings=(), torch=None):
    """``op`` as a Python function of its ``count`` operands, on our side ("ours") or PyTorch's ("theirs", ``torch``)."""
    names = [f"x{k}" for k in range(count)]
    text = op.spelled(side, [Arg(n, n) for n in names], settings)
    return _compiled(f"lambda {', '.join(names)}: {text}", side, torch)


def draw_operands(op, case, rng, sixteenths=False):
    """float64 values for ``case``'s operands, each from its domain."""
    return [op.domain(k).draw(rng, shape, sixteenths) for k, shape in enumerate(case.shapes)]


def suited_operands(op, case, rng, tries=20):
    """Operands for ``case`` that ``op`` accepts (redrawn while ``vet`` refuses them)."""
    for _ in range(tries):
        values = draw_operands(op, case, rng)
        if op.suits(case, values):
            return values
    raise AssertionError(f"{op.name}: no operands for case {case} in {tries} draws")


def seeded(*parts):
    """A random generator seeded by ``parts`` (names and numbers), the same in every run."""
    return np.random.default_rng([byte for part in parts for byte in str(part).encode()])
