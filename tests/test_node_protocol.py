"""The node protocol beyond backward: what forward mode, gradcheck, pictures and nn ask of a Value or a Tensor.

Each question has one answer per engine (``graph.Node`` documents them); these tests hold each answer to
what its callers relied on when they asked the engine's type instead.
"""

import numpy as np
import pytest

import autodiff
import nn
from autodiff import CompileError, Tensor, Value
from autodiff.graph import node_or_refuse
from autodiff.primitives import MUL
from autodiff.tensor import numbers_of
from nn import optim
from nn.parameter import parameter_list, values_and_tensors


def test_a_direction_takes_the_form_of_the_nodes_tangents():
    x = Tensor(np.zeros((2, 3), dtype=np.float32))
    direction = x._as_tangent([[1, 2, 3], [4, 5, 6]], "jvp: tangent 0")
    assert type(direction) is np.ndarray and direction.dtype == np.float32 and direction.shape == (2, 3)
    assert x._as_tangent(Tensor(np.ones((2, 3))), "t").dtype == np.float32
    with pytest.raises(ValueError, match=r"jvp: tangent 0 has shape \(3,\), its input has shape \(2, 3\)"):
        x._as_tangent(np.ones(3), "jvp: tangent 0")
    v = Value(1.0)
    assert v._as_tangent(2, "t") == 2.0 and type(v._as_tangent(2, "t")) is float
    assert v._as_tangent(Value(-3.0), "t") == -3.0
    with pytest.raises(TypeError, match="hvp: vector 0 is a list; a Value's direction is a number or a Value"):
        v._as_tangent([1.0], "hvp: vector 0")


def test_a_new_leaf_is_of_the_nodes_engine_and_dtype_and_owns_its_numbers():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    numbers = np.array([1.0, 2.0, 3.0])  # float64
    leaf = x._new_leaf(numbers, requires_grad=True)
    assert type(leaf) is Tensor and leaf.dtype == np.float32 and leaf.requires_grad and not leaf.children
    numbers[0] = 9.0
    assert leaf.tolist() == [1.0, 2.0, 3.0]  # a copy
    assert not x._new_leaf(numbers).requires_grad
    v = Value(2.0)
    assert type(v._new_leaf(np.array([[4.5]]))) is Value and v._new_leaf(np.float32(4.5)).data == 4.5
    with pytest.raises(ValueError):
        v._new_leaf(np.ones(2))  # a Value holds one number


def test_detach_gives_a_leaf_outside_the_graph_and_compile_refuses_a_detached_value_of_the_inputs():
    a = Value(2.0)
    b = a * 3
    d = b.detach()
    assert d.data == 6.0 and d.children == () and d is not b
    (d * a).backward()
    assert a.grad == 6.0  # d is a constant: only the direct use of a counts
    with pytest.raises(CompileError, match=r"detach\(\)"):
        autodiff.compile(lambda x: (x * 2).detach() * x)(Value(1.0))


def test_local_grads_are_numbers_for_a_value_and_none_for_a_tensor():
    a, b = Value(2.0), Value(-3.0)
    assert (a * b).local_grads == (-3.0, 2.0)
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert (x * x).local_grads == (None, None)
    assert x.local_grads == ()


def test_the_data_kind_says_how_pictures_show_a_node():
    assert Value(1.0)._data_kind == "number"
    assert Tensor([1.0])._data_kind == "array"
    assert nn.Parameter([1.0])._data_kind == "array"


def test_requires_grad_is_a_tensors_flag_and_always_true_for_a_value():
    assert Value(1.0)._requires_grad
    assert not Tensor([1.0])._requires_grad
    x = Tensor([1.0], requires_grad=True)
    assert (x * 2)._requires_grad
    with autodiff.no_grad():
        assert not (x * 2)._requires_grad


def test_resetting_a_gradient_leaves_what_each_engine_holds_at_rest():
    v = Value(1.0)
    (v * v).backward()
    v._reset_grad()
    assert v.grad == 0.0 and type(v.grad) is float
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x._reset_grad(set_to_none=False)
    assert x.grad.tolist() == [0.0, 0.0] and x.grad.dtype == x.dtype
    x._reset_grad()
    assert x.grad is None
    x._reset_grad(set_to_none=False)
    assert x.grad is None  # no gradient to zero


def test_loading_numbers_counts_an_in_place_change_for_a_tensor_only():
    x = Tensor([1.0, 2.0], requires_grad=True)
    held = x.data
    y = (x * x).sum()
    before = x._version_now()
    x._load_numbers(np.array([3.0, 4.0], dtype=np.float32))
    assert x._version_now() == before + 1 and held.tolist() == [3.0, 4.0]  # in place: holders see it
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()
    v = Value(1.0)
    w = v * v
    v._load_numbers(np.array(5.0))
    assert v.data == 5.0 and v._version_now() is None
    w.backward()
    assert v.grad == 2.0  # the node kept the number of its forward pass


def test_apply_primitive_is_the_engines_public_way_to_apply_a_primitive():
    a, b = Value(2.0), Value(5.0)
    assert Value.apply_primitive(MUL, (a, b)).data == 10.0
    x = Tensor([1.0, 2.0], requires_grad=True)
    out = Tensor.apply_primitive(MUL, (x, x))
    assert out.op == "*" and out.children == (x, x)
    out.sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_numbers_of_reads_a_node_or_anything_numpy_reads():
    t = Tensor([1.0, 2.0])
    assert numbers_of(t) is t.data
    assert numbers_of(Value(2.5)).shape == () and numbers_of(Value(2.5)).dtype == np.float64
    assert numbers_of([1, 2]).tolist() == [1, 2]


def test_node_or_refuse_names_what_it_got():
    x = Value(1.0)
    assert node_or_refuse(x, "unused") is x
    with pytest.raises(TypeError, match="input 0 is a float"):
        node_or_refuse(1.0, "input 0 is a float")


def test_nn_tells_values_from_tensors_in_one_place():
    v, w = Value(1.0), Value(2.0)
    t, p = Tensor([1.0]), nn.Parameter([2.0])
    values, tensors = values_and_tensors([t, v, p, w])  # compared by identity: Tensors compare elementwise
    assert [id(x) for x in values] == [id(v), id(w)] and [id(x) for x in tensors] == [id(t), id(p)]
    assert parameter_list(v) == [v]
    assert [id(x) for x in parameter_list((t, v))] == [id(t), id(v)]
    with pytest.raises(TypeError, match="parameter 1 is a float, not a Tensor or a Value"):
        parameter_list([v, 1.0])


def test_an_optimiser_refuses_a_computed_value_as_it_refuses_a_computed_tensor():
    a = Value(1.0)
    with pytest.raises(ValueError, match=r"parameter 0 is the result of '\*', not a leaf"):
        optim.SGD([a * 2], lr=0.1)
    with pytest.raises(ValueError, match=r"not a leaf"):
        optim.SGD([Tensor([1.0], requires_grad=True) * 2], lr=0.1)


def test_loading_a_values_state_takes_a_float64_number_as_state_dict_gives_it():
    model = nn.Neuron(2)
    state = model.state_dict()
    assert all(array.shape == () and array.dtype == np.float64 for array in state.values())
    model.load_state_dict({name: array + 1 for name, array in state.items()})
    assert [p.data for p in model.parameters()] == [float(array + 1) for array in state.values()]
    with pytest.raises(ValueError, match="'b': expected dtype float64, got dtype int64"):
        model.load_state_dict({**state, "b": np.array(1)})
    with pytest.raises(ValueError, match=r"'b': expected shape \(\), got shape \(1,\)"):
        model.load_state_dict({**state, "b": np.ones(1)})
