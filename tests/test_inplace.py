"""In-place operations on Tensors, and the version check that keeps them from giving a wrong gradient.

The in-place operations: ``+= -= *= /=``, ``add_``, ``sub_``, ``mul_``, ``div_``, ``zero_()``,
``fill_(x)``, ``copy_(src)``, ``clamp_(low, high)`` and item assignment ``t[index] = value``.
They change the data where it lies and return the same Tensor. On a tensor that requires
gradients they are allowed only under ``no_grad``; outside it they raise ``RuntimeError``, as does
one that would write a value requiring gradients into a tensor that does not (the graph could
not record it: its gradient would be lost without a word).

A tensor an operation saved for its backward (an input of ``*``, an output of ``exp``, a view of
either, or the base of such a view) carries a version; changing it in place makes that backward
raise ``RuntimeError`` naming the operation, as PyTorch's version counter does. Those cases run
on PyTorch too (the ``lib`` fixture), so that the expectations are PyTorch's behaviour.
"""

import re
from contextlib import nullcontext
from types import SimpleNamespace

import numpy as np
import pytest

import autodiff
from autodiff import Tensor, no_grad

# -- the operations, as functions of (target, operand) that return what the statement leaves in the name --


def add_assign(t, y):
    t += y
    return t


def sub_assign(t, y):
    t -= y
    return t


def mul_assign(t, y):
    t *= y
    return t


def div_assign(t, y):
    t /= y
    return t


def set_item(index):
    def assign(t, y):
        t[index] = y
        return t
    return assign


# name: (do it, what numpy makes of (data, operand)); the operand broadcasts into the target
ARITHMETIC = {
    "+=": (add_assign, np.add),
    "-=": (sub_assign, np.subtract),
    "*=": (mul_assign, np.multiply),
    "/=": (div_assign, np.divide),
    "add_": (lambda t, y: t.add_(y), np.add),
    "sub_": (lambda t, y: t.sub_(y), np.subtract),
    "mul_": (lambda t, y: t.mul_(y), np.multiply),
    "div_": (lambda t, y: t.div_(y), np.divide),
}
# an out-of-place form, as the contract's "loss = loss + term", that the error message should suggest
OUT_OF_PLACE = re.compile(r"(\w+) = \1 [-+*/] \w+")
REFUSED_WITH_ADVICE = {"+=", "-=", "*=", "/=", "add_", "sub_", "mul_", "div_"}


def expected_set_item(index):
    def expected(data, y):
        out = data.copy()
        out[index] = y
        return out
    return expected


OTHERS = {
    "zero_": (lambda t, y: t.zero_(), lambda data, y: np.zeros_like(data)),
    "fill_": (lambda t, y: t.fill_(2.5), lambda data, y: np.full_like(data, 2.5)),
    "copy_": (lambda t, y: t.copy_(y if isinstance(y, Tensor) else Tensor(y)), lambda data, y: np.broadcast_to(y, data.shape)),
    "clamp_": (lambda t, y: t.clamp_(-0.5, 0.5), lambda data, y: np.clip(data, -0.5, 0.5)),
    "t[1] = y": (set_item(1), expected_set_item(1)),
    "t[:, 1:] = y": (set_item((slice(None), slice(1, None))), expected_set_item((slice(None), slice(1, None)))),
    "t[[1, 0]] = y": (set_item(np.array([1, 0])), expected_set_item(np.array([1, 0]))),
    "t[mask] = y": (set_item(np.array([True, False])), expected_set_item(np.array([True, False]))),
}
ALL = {**ARITHMETIC, **OTHERS}


def operand_for(name, kind, rng, dtype=np.float64):
    """An operand of ``kind`` for operation ``name`` on a (2, 3) target, away from 0 (it may divide)."""
    if name.startswith("t[") and name != "t[1] = y":
        shape = {"t[:, 1:] = y": (2, 2), "t[[1, 0]] = y": (2, 3), "t[mask] = y": (1, 3)}[name]
    else:
        shape = (3,)  # broadcasts into (2, 3), and fits t[1]
    values = (rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)).astype(dtype)
    if kind == "number":
        return 1.5
    if kind == "array":
        return values
    return Tensor(values)


def start(rng, requires_grad=False, dtype=np.float64):
    """A (2, 3) tensor with values outside [-0.5, 0.5] too, so that clamp_ changes it."""
    return Tensor(rng.uniform(-2, 2, (2, 3)).astype(dtype), requires_grad=requires_grad)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# -- what they do ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["number", "array", "tensor"])
@pytest.mark.parametrize("name", list(ALL))
def test_in_place_changes_the_data_where_it_lies_and_returns_the_same_tensor(name, kind, rng):
    do, expected = ALL[name]
    t = start(rng)
    y = operand_for(name, kind, rng)
    before = t.data.copy()
    array = t.numpy()  # what a user holds: in place means it sees the change
    result = do(t, y)
    assert result is t, f"{name} returned a new object, not the tensor it changed"
    want = expected(before, y.data if isinstance(y, Tensor) else y)
    np.testing.assert_allclose(t.data, want, rtol=1e-15)
    np.testing.assert_allclose(array, want, rtol=1e-15, err_msg=f"{name} replaced the data array instead of changing it")
    assert t.shape == (2, 3) and not t.requires_grad


@pytest.mark.parametrize("name", list(ALL))
def test_in_place_keeps_the_dtype_of_a_float32_tensor(name, rng):
    do, expected = ALL[name]
    t = start(rng, dtype=np.float32)
    y = operand_for(name, "array", rng, dtype=np.float64)
    want = expected(t.data.astype(np.float64), y)
    do(t, y)
    assert t.dtype == np.float32
    np.testing.assert_allclose(t.data, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(ALL))
def test_in_place_on_a_leaf_requiring_grad_works_under_no_grad(name, rng):
    do, expected = ALL[name]
    w = start(rng, requires_grad=True)
    y = operand_for(name, "tensor", rng)
    before = w.data.copy()
    with no_grad():
        result = do(w, y)
    assert result is w
    np.testing.assert_allclose(w.data, expected(before, y.data), rtol=1e-15)
    assert w.requires_grad, "the parameter no longer requires gradients after an update under no_grad"
    assert w.grad is None
    (w * w).sum().backward()  # still a leaf of new graphs
    np.testing.assert_allclose(w.grad, 2 * w.data, rtol=1e-15)


@pytest.mark.parametrize("name", list(ALL))
def test_in_place_on_a_leaf_requiring_grad_outside_no_grad_raises_and_changes_nothing(name, rng):
    do, _ = ALL[name]
    w = start(rng, requires_grad=True)
    y = operand_for(name, "tensor", rng)
    before = w.data.copy()
    with pytest.raises(RuntimeError) as raised:
        do(w, y)
    np.testing.assert_array_equal(w.data, before)
    if name in REFUSED_WITH_ADVICE:
        assert OUT_OF_PLACE.search(str(raised.value)), (
            f"the message does not suggest the out-of-place form (as 'loss = loss + term'): {raised.value}"
        )


@pytest.mark.parametrize("name", list(ALL))
def test_in_place_on_a_result_requiring_grad_outside_no_grad_raises(name, rng):
    do, _ = ALL[name]
    w = start(rng, requires_grad=True)
    h = w * 2.0
    before = h.data.copy()
    with pytest.raises(RuntimeError):
        do(h, operand_for(name, "number", rng))
    np.testing.assert_array_equal(h.data, before)


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("zero_", "fill_", "clamp_")])
def test_writing_a_value_that_requires_grad_into_a_tensor_that_does_not_raises(name, rng):
    """Outside no_grad, it could not be recorded: the value's gradient would be lost silently."""
    do, expected = ALL[name]
    target = start(rng)
    w = Tensor(operand_for(name, "array", rng), requires_grad=True)
    value = w * 1.0
    before = target.data.copy()
    with pytest.raises(RuntimeError):
        do(target, value)
    np.testing.assert_array_equal(target.data, before)
    with no_grad():  # nothing is recorded there, so it is allowed
        result = do(target, value)
    assert result is target and not target.requires_grad
    np.testing.assert_allclose(target.data, expected(before, w.data), rtol=1e-15)


def test_sgd_step_under_no_grad_updates_the_parameter_everywhere_it_is_held(torch):
    """``with no_grad(): p -= lr * p.grad``, three steps, as in PyTorch tutorials: same numbers as PyTorch."""
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((8, 3)), rng.standard_normal(8)
    w0, b0 = rng.standard_normal(3), np.array(0.25)
    w, b = Tensor(w0, requires_grad=True), Tensor(b0, requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    tb = torch.tensor(b0, requires_grad=True)
    params, by_name = [w, b], {"w": w, "b": b}
    for _ in range(3):
        loss = (((Tensor(x) @ w + b) - target) ** 2).mean()
        tloss = (((torch.from_numpy(x) @ tw + tb) - torch.from_numpy(target)) ** 2).mean()
        loss.backward()
        tloss.backward()
        with no_grad():
            for p in params:
                p -= 0.1 * p.grad
                p.grad = None
        with torch.no_grad():
            for p in (tw, tb):
                p -= 0.1 * p.grad
                p.grad = None
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(by_name["b"].data, tb.detach().numpy(), rtol=1e-12)
    assert w.requires_grad and b.requires_grad


def test_item_assignment_under_no_grad_on_a_parameter():
    """PyTorch users write ``with no_grad(): w[0] = 0``; it changes w, and outside no_grad it raises."""
    w = Tensor(np.arange(1.0, 4.0), requires_grad=True)
    with no_grad():
        w[0] = 0
    np.testing.assert_array_equal(w.data, [0.0, 2.0, 3.0])
    with pytest.raises(RuntimeError):
        w[1] = 5.0
    np.testing.assert_array_equal(w.data, [0.0, 2.0, 3.0])


# -- the version check: a tensor saved for backward, changed in place ----------------------------------


@pytest.fixture(params=["autodiff", "torch"])
def lib(request):
    if request.param == "torch":
        torch = request.getfixturevalue("torch")
        return SimpleNamespace(
            name="torch", no_grad=torch.no_grad,
            tensor=lambda values, requires_grad=False: torch.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad),
            grad=lambda t: t.grad.numpy(),
        )
    return SimpleNamespace(
        name="autodiff", no_grad=autodiff.no_grad,
        tensor=lambda values, requires_grad=False: Tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad),
        grad=lambda t: t.grad,
    )


def plus_equal(t):
    t += 0.5


def minus_equal(t):
    t -= 0.5


def times_equal(t):
    t *= 3.0


def divide_equal(t):
    t /= 4.0


def set_first(t):
    t[0] = 9.0


# changes of a tensor in place, each one that changes its values (given values in [1, 2])
CHANGES = {
    "+=": plus_equal, "-=": minus_equal, "*=": times_equal, "/=": divide_equal,
    "add_": lambda t: t.add_(0.5), "sub_": lambda t: t.sub_(0.5), "mul_": lambda t: t.mul_(3.0),
    "div_": lambda t: t.div_(4.0), "zero_": lambda t: t.zero_(), "fill_": lambda t: t.fill_(7.0),
    "copy_": lambda t: t.copy_(t * 0.0 - 1.0), "clamp_": lambda t: t.clamp_(-0.5, 0.5), "t[0] = 9": set_first,
}

X = [1.25, 1.5, 1.75]  # the values of x, a tensor that requires no gradient

# How an operation saves a tensor. Each builds (loss, what is changed in place, the operation's
# names as our message may spell it); `changed` may be a view of what was saved, or its base.
SAVED = {
    "input of *": lambda lib, w, x: ((x * w).sum(), x, ("*", "mul")),
    "input of @": lambda lib, w, x: ((x @ w), x, ("@", "matmul")),
    "divisor of /": lambda lib, w, x: ((w / x).sum(), x, ("/", "div")),
    "output of exp": lambda lib, w, x: (lambda y: (y.sum(), y, ("exp",)))(w.exp()),
    "output of tanh": lambda lib, w, x: (lambda y: (y.sum(), y, ("tanh",)))(w.tanh()),
    "output of sigmoid": lambda lib, w, x: (lambda y: (y.sum(), y, ("sigmoid",)))(w.sigmoid()),
    "a parameter in w * w": lambda lib, w, x: ((w * w).sum(), w, ("*", "mul")),
    "slice of the base": lambda lib, w, x: (lambda base: ((base[:3] * w).sum(), base, ("*", "mul")))(
        lib.tensor([1.25, 1.5, 1.75, 6.0])),
    "reshape of the base": lambda lib, w, x: (lambda base: ((base.reshape(3, 1) * w).sum(), base, ("*", "mul")))(
        lib.tensor([1.25, 1.5, 1.75])),
    "transpose of the base": lambda lib, w, x: (lambda base: ((base.T * w).sum(), base, ("*", "mul")))(
        lib.tensor([[1.25, 1.5, 1.75]])),
    "base, changed through a slice": lambda lib, w, x: (lambda base: ((base * w).sum(), base[1:], ("*", "mul")))(
        lib.tensor([1.25, 1.5, 1.75])),
    "base, changed through a reshape": lambda lib, w, x: (lambda base: ((base * w).sum(), base.reshape(3, 1), ("*", "mul")))(
        lib.tensor([1.25, 1.5, 1.75])),
    "base, changed through a transpose": lambda lib, w, x: (lambda base: ((base * w).sum(), base.T, ("*", "mul")))(
        lib.tensor([[1.25, 1.5, 1.75]])),
}


@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("saved", list(SAVED))
def test_changing_a_saved_tensor_in_place_makes_backward_raise_naming_the_operation(lib, saved, change):
    w = lib.tensor([1.0, 1.5, 2.0], requires_grad=True)
    x = lib.tensor(X)
    loss, changed, names = SAVED[saved](lib, w, x)
    with lib.no_grad() if changed.requires_grad else nullcontext():
        CHANGES[change](changed)
    with pytest.raises(RuntimeError) as raised:
        loss.backward()
    if lib.name == "autodiff":
        message = str(raised.value).lower()
        assert any(n in message for n in names), f"the message names none of {names}: {raised.value}"


# Operations that save nothing their backward needs: a change in place afterwards is harmless.
# Each builds (loss, what is changed in place, dloss/dw for w = [1, 1.5, 2] and x = X).
UNSAVED = {
    "input of +": lambda lib, w, x: ((x + w).sum(), x, np.ones(3)),
    "input of -": lambda lib, w, x: ((w - x).sum(), x, np.ones(3)),
    "output of +": lambda lib, w, x: (lambda y: (y.sum(), y, np.ones(3)))(w + x),
    "output of *, summed": lambda lib, w, x: (lambda y: (y.sum(), y, np.array(X)))(w * x),
    "base of a slice added": lambda lib, w, x: ((x[0:2] + w[1:]).sum(), x, np.array([0.0, 1.0, 1.0])),
    "reshape of an input of +": lambda lib, w, x: (lambda v: ((v + w).sum(), v, np.ones(3)))(x.reshape(3)),
}


@pytest.mark.parametrize("change", ["+=", "mul_", "t[0] = 9"])
@pytest.mark.parametrize("unsaved", list(UNSAVED))
def test_changing_a_tensor_no_backward_needs_does_not_raise(lib, unsaved, change):
    w = lib.tensor([1.0, 1.5, 2.0], requires_grad=True)
    x = lib.tensor(X)
    loss, changed, want = UNSAVED[unsaved](lib, w, x)
    with lib.no_grad() if changed.requires_grad else nullcontext():
        CHANGES[change](changed)
    loss.backward()
    np.testing.assert_allclose(lib.grad(w), want)


# -- writes through views reach the tensor they view (issue 20, 1) ------------------------------------------


def _set(index, value):
    return lambda t: t.__setitem__(index, value)


# What a PyTorch user writes under no_grad to change a parameter through a view of it (or of a copy).
WRITES_THROUGH_VIEWS = {
    "w[0].fill_(7)": lambda w: w[0].fill_(7.0),
    "w[0, 1].zero_()": lambda w: w[0, 1].zero_(),
    "w[1].add_(5)": lambda w: w[1].add_(5.0),
    "w[1, 2].mul_(3)": lambda w: w[1, 2].mul_(3.0),
    "w[0][1] = 9": lambda w: _set(1, 9.0)(w[0]),
    "w[0] += 1": lambda w: _set(0, w[0].__iadd__(1.0))(w),
    "w[:, 1].mul_(2)": lambda w: w[:, 1].mul_(2.0),
    "w[..., 0].clamp_(2, 3)": lambda w: w[..., 0].clamp_(2.0, 3.0),
    "w[None][0, 1, 2] = 8": lambda w: _set((0, 1, 2), 8.0)(w[None]),
    "w[0].copy_(w[1] * 0 + 1)": lambda w: w[0].copy_(w[1] * 0.0 + 1.0),
    "w.T[2].fill_(0)": lambda w: w.T[2].fill_(0.0),
    "w.t()[0, 0] = 5": lambda w: _set((0, 0), 5.0)(w.t()),
    "w.permute(1, 0)[0, 1] = 5": lambda w: _set((0, 1), 5.0)(w.permute(1, 0)),
    "w.view(-1)[0] = 100": lambda w: _set(0, 100.0)(w.view(-1)),
    "w.view(3, 2).fill_(1)": lambda w: w.view(3, 2).fill_(1.0),
    "w.reshape(-1)[0] = 100": lambda w: _set(0, 100.0)(w.reshape(-1)),
    "w.T.reshape(-1)[0] = 100 (a copy)": lambda w: _set(0, 100.0)(w.T.reshape(-1)),
    "w.flatten()[1] = 100": lambda w: _set(1, 100.0)(w.flatten()),
    "w.unsqueeze(0)[0, 0, 0] = 5": lambda w: _set((0, 0, 0), 5.0)(w.unsqueeze(0)),
    "w[[0]].fill_(0) (a copy)": lambda w: w[[0]].fill_(0.0),
    "w.detach()[0, 0] = 5": lambda w: _set((0, 0), 5.0)(w.detach()),
    "w.contiguous()[0, 0] = 5": lambda w: _set((0, 0), 5.0)(w.contiguous()),
    "w.T.contiguous()[0, 0] = 5 (a copy)": lambda w: _set((0, 0), 5.0)(w.T.contiguous()),
}


@pytest.mark.parametrize("write", list(WRITES_THROUGH_VIEWS))
def test_writes_through_views_change_the_base_as_in_pytorch(lib, write):
    w = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    with lib.no_grad():
        WRITES_THROUGH_VIEWS[write](w)
    expected = {  # PyTorch's results (the lib fixture runs this test on PyTorch too)
        "w[0].fill_(7)": [[7, 7, 7], [4, 5, 6]], "w[0, 1].zero_()": [[1, 0, 3], [4, 5, 6]],
        "w[1].add_(5)": [[1, 2, 3], [9, 10, 11]], "w[1, 2].mul_(3)": [[1, 2, 3], [4, 5, 18]],
        "w[0][1] = 9": [[1, 9, 3], [4, 5, 6]], "w[0] += 1": [[2, 3, 4], [4, 5, 6]],
        "w[:, 1].mul_(2)": [[1, 4, 3], [4, 10, 6]], "w[..., 0].clamp_(2, 3)": [[2, 2, 3], [3, 5, 6]],
        "w[None][0, 1, 2] = 8": [[1, 2, 3], [4, 5, 8]], "w[0].copy_(w[1] * 0 + 1)": [[1, 1, 1], [4, 5, 6]],
        "w.T[2].fill_(0)": [[1, 2, 0], [4, 5, 0]], "w.t()[0, 0] = 5": [[5, 2, 3], [4, 5, 6]],
        "w.permute(1, 0)[0, 1] = 5": [[1, 2, 3], [5, 5, 6]], "w.view(-1)[0] = 100": [[100, 2, 3], [4, 5, 6]],
        "w.view(3, 2).fill_(1)": [[1, 1, 1], [1, 1, 1]], "w.reshape(-1)[0] = 100": [[100, 2, 3], [4, 5, 6]],
        "w.T.reshape(-1)[0] = 100 (a copy)": [[1, 2, 3], [4, 5, 6]], "w.flatten()[1] = 100": [[1, 100, 3], [4, 5, 6]],
        "w.unsqueeze(0)[0, 0, 0] = 5": [[5, 2, 3], [4, 5, 6]], "w[[0]].fill_(0) (a copy)": [[1, 2, 3], [4, 5, 6]],
        "w.detach()[0, 0] = 5": [[5, 2, 3], [4, 5, 6]], "w.contiguous()[0, 0] = 5": [[5, 2, 3], [4, 5, 6]],
        "w.T.contiguous()[0, 0] = 5 (a copy)": [[1, 2, 3], [4, 5, 6]],
    }[write]
    np.testing.assert_array_equal(w.detach().numpy(), np.array(expected, dtype=np.float64))


def test_a_one_dimensional_parameter_changed_element_by_element(lib):
    """The issue's reproduction: w[0].fill_(7) and w[1].add_(5) on a 1-D parameter."""
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with lib.no_grad():
        w[0].fill_(7.0)
        w[1].add_(5.0)
        w[2].zero_()
    np.testing.assert_array_equal(w.detach().numpy(), [7.0, 7.0, 0.0])


@pytest.mark.parametrize("view", ["w.T.view(-1)", "w[:, 1:].view(-1)", "w.T.view(2, 3)", "w.permute(1, 0).view(6)"])
def test_view_refuses_where_it_would_need_a_copy_as_in_pytorch(lib, view):
    w = lib.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])[:, :3]
    with pytest.raises(RuntimeError) as raised:
        eval(view, {"w": w})
    if lib.name == "autodiff":
        assert "reshape()" in str(raised.value)  # names the way out
    np.testing.assert_array_equal(w.detach().numpy(), [[1.0, 2.0, 3.0], [5.0, 6.0, 7.0]])


def test_a_view_of_an_advanced_index_result_works_as_in_pytorch(lib):
    """An index array after a slice or an int gives, in numpy, an array not laid out in order; PyTorch's is."""
    x = lib.tensor(np.arange(60.0).reshape(4, 5, 3))
    for index in ((Ellipsis, np.array([2, 2])), (slice(None), np.array([True, False, True, False, True]), 1)):
        picked = x[index]
        np.testing.assert_array_equal(picked.view(-1).detach().numpy(), np.arange(60.0).reshape(4, 5, 3)[index].ravel())


# expressions of w, a (2, 3, 4) tensor, whose results are or are not laid out in row-major order
LAYOUTS = ["w", "w[1]", "w[:, 1:]", "w[..., ::2]", "w.transpose(0, 2)", "w.permute(1, 2, 0)", "w[0].T",
           "w[:1].transpose(0, 1)", "w.unsqueeze(1)", "w[:, :, 1:2].transpose(1, 2)", "w.flatten(1)", "w.reshape(4, 6).T"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_is_contiguous_says_what_pytorch_says(lib, layout):
    w = lib.tensor(np.arange(24.0).reshape(2, 3, 4))
    ours = eval(layout, {"w": w}).is_contiguous()
    assert isinstance(ours, bool)
    expected = {"w": True, "w[1]": True, "w[:, 1:]": False, "w[..., ::2]": False, "w.transpose(0, 2)": False,
                "w.permute(1, 2, 0)": False, "w[0].T": False, "w[:1].transpose(0, 1)": True,
                "w.unsqueeze(1)": True, "w[:, :, 1:2].transpose(1, 2)": False, "w.flatten(1)": True,
                "w.reshape(4, 6).T": False}[layout]  # PyTorch's answers (the lib fixture asks PyTorch too)
    assert ours is expected


@pytest.mark.parametrize("layout", LAYOUTS)
def test_contiguous_gives_what_view_needs_with_the_values_and_gradient_of_pytorch(lib, layout):
    w = lib.tensor(np.arange(24.0).reshape(2, 3, 4) ** 1.5, requires_grad=True)
    part = eval(layout, {"w": w})
    laid_out = part.contiguous()
    assert laid_out.is_contiguous()
    assert (laid_out is part) == part.is_contiguous()  # itself where already in order, as in PyTorch
    flat = laid_out.view(-1)
    np.testing.assert_array_equal(flat.detach().numpy(), part.detach().numpy().ravel())
    weights = np.random.default_rng(3).standard_normal(flat.shape)
    (flat * lib.tensor(weights)).sum().backward()
    # each weight lands on the element of w it multiplied: the same expression of w's flat indices says which
    came_from = eval(layout, {"w": lib.tensor(np.arange(24.0).reshape(2, 3, 4))}).detach().numpy().astype(int)
    expected = np.zeros(24)
    np.add.at(expected, came_from.ravel(), weights)
    np.testing.assert_array_equal(lib.grad(w), expected.reshape(w.shape))


def test_contiguous_passes_gradcheck():
    w = Tensor(np.random.default_rng(4).standard_normal((3, 4, 2)), requires_grad=True)
    weights = np.arange(12.0)
    assert autodiff.gradcheck(lambda w: (w.permute(2, 0, 1).contiguous().view(2, -1).tanh() * weights).sum(), (w,))


def layer_pair(torch, case):
    """(ours, theirs, the input's shape): the layer(s) of ``case`` in both engines with the same weights, each a
    function of an input giving the results a program views (an output, and a recurrent layer's final states)."""
    import nn

    if case.startswith("conv2d"):
        weight = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
        pooled = case != "conv2d"

        def model(F, tensor):
            def run(x):
                y = F.conv2d(x, tensor(weight))
                return [F.max_pool2d(F.relu(y), 2) if pooled else y]
            return run

        return model(nn.functional, Tensor), model(torch.nn.functional, torch.tensor), (2, 3, 6, 6)
    ours = {"nn.RNN": nn.RNN, "nn.LSTM": nn.LSTM}[case](3, 4)
    theirs = {"nn.RNN": torch.nn.RNN, "nn.LSTM": torch.nn.LSTM}[case](3, 4, batch_first=True).double()
    theirs.load_state_dict({f"{name}_l0": torch.tensor(a) for name, a in ours.state_dict().items()})

    def results(layer):
        def run(x):
            output, state = layer(x)
            return [output, *(state if isinstance(state, tuple) else (state,))]
        return run

    return results(ours), results(theirs), (5, 2, 3)


# conv2d then view: a DCGAN discriminator's output.view(-1, 1); after relu and max_pool2d: the MNIST example's
# x.view(-1, 320); a recurrent layer's output and final states (here, as PyTorch's with batch_first=True)
LAID_OUT_OTHERWISE = ["conv2d", "conv2d, relu, max_pool2d", "nn.RNN", "nn.LSTM"]


@pytest.mark.usefixtures("float64_and_seeded")
@pytest.mark.parametrize("case", LAID_OUT_OTHERWISE)
def test_a_view_of_a_layers_result_works_as_in_pytorch(torch, case):
    """These layers compute in their own layout (im2col, time-major) and hand back results laid out as
    PyTorch's: view() works where PyTorch's does, sharing memory, and refuses where PyTorch's refuses (a
    batch_first output is the time-major one transposed, in PyTorch too), where contiguous() then gives what
    view() needs; the values and the gradient through either are PyTorch's."""
    ours, theirs, shape = layer_pair(torch, case)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    loss_ours, loss_theirs = Tensor(0.0), torch.tensor(0.0, dtype=torch.float64)
    for result, expected in zip(ours(x_ours), theirs(x_theirs), strict=True):
        assert result.is_contiguous() == expected.is_contiguous()
        if not expected.is_contiguous():
            for refused in (result, expected):
                with pytest.raises(RuntimeError):
                    refused.view(shape[0], -1)
            result, expected = result.contiguous(), expected.contiguous()
        flat, expected_flat = result.view(shape[0], -1), expected.view(shape[0], -1)
        assert np.shares_memory(flat.data, result.data)
        np.testing.assert_allclose(flat.data, expected_flat.detach().numpy(), rtol=1e-10, atol=1e-12)
        weights = rng.standard_normal(flat.shape)
        loss_ours = loss_ours + (flat * Tensor(weights)).sum()
        loss_theirs = loss_theirs + (expected_flat * torch.tensor(weights)).sum()
    loss_ours.backward()
    loss_theirs.backward()
    np.testing.assert_allclose(x_ours.grad, x_theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


# -- arrays a backward reads: index arrays, masks, conditions (issue 20, 2) ----------------------------------

# Each builds (loss, an array the operation reads, changed in place after the forward pass).
READ_ARRAYS = {
    "an index tensor": lambda lib, w: (lambda idx: ((w[idx] * lib.tensor([1.0, 2.0])).sum(), idx))(lib.long([0, 2])),
    "a pair of index tensors": lambda lib, w: (lambda i, j: ((w.reshape(3, 1)[i, j] * 2.0).sum(), i))(
        lib.long([0, 2]), lib.long([0, 0])),
    "a boolean mask tensor": lambda lib, w: (lambda m: ((w[m] * lib.tensor([1.0, 2.0])).sum(), m))(
        lib.bool([True, False, True])),
    "a where condition": lambda lib, w: (lambda c: (lib.where(c, w, 0.0).sum(), c))(lib.bool([True, False, True])),
    "a masked_fill mask": lambda lib, w: (lambda m: ((w.masked_fill(m, 0.0) * w).sum(), m))(
        lib.bool([True, False, True])),
}


@pytest.fixture
def lib_with_arrays(lib, request):
    if lib.name == "torch":
        torch = request.getfixturevalue("torch")
        lib.long = lambda values: torch.tensor(values)
        lib.bool = lambda values: torch.tensor(values)
        lib.where = torch.where
    else:
        lib.long = lambda values: Tensor(np.array(values))
        lib.bool = lambda values: Tensor(np.array(values))
        lib.where = autodiff.where
    return lib


@pytest.mark.parametrize("read", list(READ_ARRAYS))
def test_changing_an_index_mask_or_condition_after_the_forward_pass_makes_backward_raise(lib_with_arrays, read):
    lib = lib_with_arrays
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss, array = READ_ARRAYS[read](lib, w)
    array[0] = array[1]  # a new index (2 for 0), or a flipped mask
    with pytest.raises(RuntimeError) as raised:
        loss.backward()
    if lib.name == "autodiff":
        assert "changed in place after the forward pass" in str(raised.value)


# numpy arrays as index, mask and condition: what the forward pass read is kept, so a later change
# cannot reach the gradient (PyTorch reads a numpy index without copying it, and its gradient moves)
NUMPY_READS = {
    "an index array": (lambda w, a: (w[a] * Tensor([1.0, 2.0])).sum(), np.array([0, 2]), [1.0, 0.0, 2.0]),
    "an index list": (lambda w, a: (w[a] * Tensor([1.0, 2.0])).sum(), [0, 2], [1.0, 0.0, 2.0]),
    "a boolean mask": (lambda w, a: (w[a] * Tensor([1.0, 2.0])).sum(), np.array([True, False, True]), [1.0, 0.0, 2.0]),
    "a where condition": (lambda w, a: autodiff.where(a, w * Tensor([1.0, 2.0, 3.0]), 0.0).sum(),
                          np.array([True, False, True]), [1.0, 0.0, 3.0]),
    "a masked_fill mask": (lambda w, a: (w.masked_fill(a, 0.0) * Tensor([1.0, 2.0, 3.0])).sum(),
                           np.array([True, False, False]), [0.0, 2.0, 3.0]),
    "an index of unindex": (lambda w, a: (autodiff.functions.unindex(w, (a,), (4,)) * Tensor([1.0, 2.0, 3.0, 4.0])).sum(),
                            np.array([0, 1, 3]), [1.0, 2.0, 4.0]),
}


@pytest.mark.parametrize("read", list(NUMPY_READS))
def test_a_numpy_index_mask_or_condition_changed_after_the_forward_pass_leaves_the_gradient(read):
    build, array, want = NUMPY_READS[read]
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = build(w, array)
    if isinstance(array, list):
        array[0] = 1
    else:
        array[...] = array[::-1].copy()
    loss.backward()
    np.testing.assert_array_equal(w.grad, want)
