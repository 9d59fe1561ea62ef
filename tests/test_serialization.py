"""Weights on disk: safetensors round trips, optimiser state, exchange with PyTorch, every way a file can be wrong."""

import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest

import nn
from autodiff import Tensor, get_default_dtype, set_default_dtype
from nn import serialization
from nn.module import StateDictError
from nn.serialization import WeightsFileError

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def two_layer(seed, dtype=np.float32):
    """Linear(3, 4) - Tanh - Linear(4, 2) with weights drawn from ``seed``, in ``dtype``."""
    nn.manual_seed(seed)
    previous = get_default_dtype()
    set_default_dtype(dtype)
    try:
        return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    finally:
        set_default_dtype(previous)


def torch_two_layer(torch):
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))


def assert_same_state(state, other_state):
    assert state.keys() == other_state.keys()
    for name in state:
        assert state[name].dtype == other_state[name].dtype, name
        np.testing.assert_array_equal(state[name], other_state[name], err_msg=name)


def write_safetensors(path, arrays):
    safetensors_numpy.save_file(arrays, str(path))
    return path


# -- round trips -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_tensor_model_round_trips(tmp_path, dtype):
    model, fresh = two_layer(0, dtype), two_layer(1, dtype)
    nn.save(model, tmp_path / "model.safetensors")
    assert nn.load(fresh, tmp_path / "model.safetensors") is fresh
    assert_same_state(fresh.state_dict(), model.state_dict())
    x = np.random.default_rng(2).normal(size=(5, 3)).astype(dtype)
    np.testing.assert_array_equal(fresh(x).data, model(x).data)


def test_loading_copies_into_the_existing_arrays(tmp_path):
    model, fresh = two_layer(0), two_layer(1)
    weight = fresh[0].weight.data
    nn.save(model, tmp_path / "model.safetensors")
    nn.load(fresh, str(tmp_path / "model.safetensors"))
    assert fresh[0].weight.data is weight
    np.testing.assert_array_equal(weight, model[0].weight.data)


def test_an_mlp_on_values_round_trips(tmp_path):
    nn.manual_seed(0)
    model = nn.MLP(3, [4, 4, 1])
    nn.manual_seed(1)
    fresh = nn.MLP(3, [4, 4, 1])
    nn.save(model, tmp_path / "mlp.safetensors")
    nn.load(fresh, tmp_path / "mlp.safetensors")
    assert [p.data for p in fresh.parameters()] == [p.data for p in model.parameters()]
    assert all(type(p.data) is float for p in fresh.parameters())
    assert fresh([0.5, -1.0, 2.0]).data == model([0.5, -1.0, 2.0]).data


def test_the_file_is_safetensors_as_specified(tmp_path):
    model = two_layer(0)
    path = tmp_path / "model.safetensors"
    nn.save(model, path)
    contents = path.read_bytes()
    header_length = int.from_bytes(contents[:8], "little")
    header = json.loads(contents[8:8 + header_length])
    data = contents[8 + header_length:]
    header.pop("__metadata__", None)
    assert header.keys() == model.state_dict().keys()
    for name, array in model.state_dict().items():
        entry = header[name]
        assert entry["dtype"] == "F32" and entry["shape"] == list(array.shape)
        begin, end = entry["data_offsets"]
        np.testing.assert_array_equal(np.frombuffer(data[begin:end], dtype="<f4").reshape(array.shape), array)


def test_saving_leaves_no_temporary_file_and_replaces_an_old_one(tmp_path):
    path = tmp_path / "model.safetensors"
    nn.save(two_layer(0), path)
    nn.save(two_layer(1), path)
    assert os.listdir(tmp_path) == ["model.safetensors"]
    loaded = nn.load(two_layer(2), path)
    assert_same_state(loaded.state_dict(), two_layer(1).state_dict())


# -- exchange with PyTorch ----------------------------------------------------------


def test_weights_saved_here_load_into_pytorch(torch, tmp_path):
    from safetensors.torch import load_file

    model = two_layer(0)
    nn.save(model, tmp_path / "model.safetensors")
    torch_model = torch_two_layer(torch)
    torch_model.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    x = np.random.default_rng(3).normal(size=(6, 3)).astype(np.float32)
    with torch.no_grad():
        expected = torch_model(torch.tensor(x)).numpy()
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-5, atol=1e-6)


def test_weights_saved_by_pytorch_load_here(torch, tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    torch_model = torch_two_layer(torch)
    save_file(torch_model.state_dict(), str(tmp_path / "torch.safetensors"))
    model = nn.load(two_layer(0), tmp_path / "torch.safetensors")
    for name, value in torch_model.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], value.numpy())
    x = np.random.default_rng(4).normal(size=(6, 3)).astype(np.float32)
    with torch.no_grad():
        expected = torch_model(torch.tensor(x)).numpy()
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-5, atol=1e-6)


# -- files that do not fit the model: refused, the model untouched -------------------


@pytest.fixture
def model_and_original():
    model = two_layer(0)
    return model, model.state_dict()


def _state_with(changes=None):
    state = two_layer(5).state_dict()
    for name, value in (changes or {}).items():
        if value is None:
            del state[name]
        else:
            state[name] = value
    return state


@pytest.mark.parametrize("state, error, message", [
    (_state_with({"2.bias": None}), StateDictError, r"missing \['2.bias'\], unexpected nothing"),
    ({**_state_with(), "3.weight": np.zeros(3, np.float32)}, StateDictError,
     r"missing nothing, unexpected \['3.weight'\]"),
    (_state_with({"0.weight": np.zeros((3, 4), np.float32)}), ValueError,
     r"'0.weight': the model has shape \(4, 3\), the file has shape \(3, 4\)"),
    (_state_with({"0.bias": np.zeros(4, np.float64)}), ValueError,
     r"'0.bias': the model has dtype F32, the file has dtype F64"),
], ids=["missing", "extra", "shape", "dtype"])
def test_a_mismatched_file_is_refused_naming_file_and_key(tmp_path, model_and_original, state, error, message):
    model, original = model_and_original
    path = write_safetensors(tmp_path / "other.safetensors", state)
    with pytest.raises(error, match=message) as caught:
        nn.load(model, path)
    assert str(path) in str(caught.value)
    assert_same_state(model.state_dict(), original)


def test_a_value_model_refuses_a_float32_file(tmp_path):
    model = nn.MLP(2, [1])
    state = {name: np.array(0.5, dtype=np.float32) for name in model.state_dict()}
    path = write_safetensors(tmp_path / "f32.safetensors", state)
    before = [p.data for p in model.parameters()]
    with pytest.raises(ValueError, match=r"the model has dtype F64, the file has dtype F32"):
        nn.load(model, path)
    assert [p.data for p in model.parameters()] == before


# -- files that are not safetensors: refused, never unpickled -----------------------


def _saved_bytes():
    return safetensors_numpy.save(two_layer(5).state_dict())


def _header_with(change):
    contents = _saved_bytes()
    length = int.from_bytes(contents[:8], "little")
    header = json.loads(contents[8:8 + length])
    change(header)
    encoded = json.dumps(header).encode()
    return len(encoded).to_bytes(8, "little") + encoded + contents[8 + length:]


def _nested(opening, closing, inside=b"", depth=100_000):
    header = opening * depth + inside + closing * depth
    return len(header).to_bytes(8, "little") + header


def _overlap(header):
    begin = header["0.bias"]["data_offsets"][0]
    header["2.bias"]["data_offsets"] = [begin, begin + 8]


@pytest.mark.parametrize("contents, message", [
    (b"", r"0 bytes, fewer than the 8"),
    (b"\x10\x00", r"2 bytes"),
    (_saved_bytes()[:-5], r"'\d.\w+' ends at byte \d+ of the data, which has only \d+ bytes: the file is trunc"),
    (_saved_bytes()[:40], r"header length \d+ runs past the end of the file \(40 bytes\)"),
    (np.random.default_rng(0).bytes(1000), r"not a safetensors file"),
    (b"hello, this is a text file and not weights at all\n", r"not a safetensors file"),
    ((2).to_bytes(8, "little") + b"[]", r"header is not a JSON object"),
    ((4).to_bytes(8, "little") + b"{x:1", r"header is not JSON"),
    (_header_with(lambda h: h["0.weight"].update(dtype="Q7")), r"'0.weight' has an unknown dtype 'Q7'"),
    (_header_with(lambda h: h["0.weight"].update(shape=[4, 4])),
     r"'0.weight' of shape \(4, 4\) and dtype F32 needs 64 bytes, its data_offsets \[\d+, \d+\] span 48"),
    (_header_with(lambda h: h["0.bias"].pop("shape")), r"'0.bias' lacks dtype, shape or data_offsets"),
    (_header_with(_overlap), r"not a valid safetensors file"),
    (_nested(b"[", b"]"), r"header is JSON nested deeper than it can be read"),
    (_nested(b'{"a":', b"}", b"0"), r"header is JSON nested deeper than it can be read"),
], ids=["empty", "short", "truncated-data", "truncated-header", "random", "text", "json-list", "bad-json",
        "unknown-dtype", "wrong-size", "no-shape", "overlapping",
        "deep-lists", "deep-objects"])
def test_a_broken_file_is_refused_naming_it(tmp_path, model_and_original, contents, message):
    model, original = model_and_original
    path = tmp_path / "broken.safetensors"
    path.write_bytes(contents)
    with pytest.raises(WeightsFileError, match=message) as caught:
        nn.load(model, path)
    assert str(path) in str(caught.value)
    assert_same_state(model.state_dict(), original)


def test_a_torch_save_checkpoint_is_refused(torch, tmp_path, model_and_original):
    model, original = model_and_original
    path = tmp_path / "model.pt"
    torch.save({name: torch.tensor(a) for name, a in original.items()}, path)
    assert path.read_bytes().startswith(b"PK\x03\x04")
    with pytest.raises(WeightsFileError, match=r"model.pt is not a safetensors file.*zip archive.*torch.save"):
        nn.load(model, path)
    assert_same_state(model.state_dict(), original)


unpickled = []


def _record_unpickling():
    unpickled.append(True)


class _Tripwire:
    """An object whose unpickling calls ``_record_unpickling``, as a malicious pickle would run code."""

    def __reduce__(self):
        return _record_unpickling, ()


def test_a_pickle_is_refused_without_being_unpickled(tmp_path, model_and_original):
    model, original = model_and_original
    path = tmp_path / "weights.safetensors"
    path.write_bytes(pickle.dumps(_Tripwire()))
    with pytest.raises(WeightsFileError, match=r"weights.safetensors is not a safetensors file.*looks like a pickle"):
        nn.load(model, path)
    assert unpickled == []
    pickle.loads(path.read_bytes())  # the tripwire works: unpickling would have run it
    assert unpickled == [True]
    assert_same_state(model.state_dict(), original)


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        nn.load(two_layer(0), tmp_path / "absent.safetensors")


# -- saving that fails leaves the old file whole --------------------------------------


@pytest.fixture
def existing_file(tmp_path):
    path = tmp_path / "model.safetensors"
    nn.save(two_layer(0), path)
    return path, path.read_bytes()


def assert_only_the_old_file(path, contents):
    assert os.listdir(path.parent) == [path.name]
    assert path.read_bytes() == contents


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8, reason="long double is float64 on this platform")
def test_a_buffer_that_cannot_be_saved_leaves_the_old_file(existing_file):
    path, contents = existing_file
    model = two_layer(1)
    model[2].register_buffer("extra", Tensor(np.zeros(2, dtype=np.longdouble)))
    with pytest.raises(TypeError, match=r"model.safetensors: '2.extra' has dtype float128"):
        nn.save(model, path)
    assert_only_the_old_file(path, contents)


@pytest.mark.parametrize("failing", ["fsync", "replace"])
@pytest.mark.parametrize("failure", [OSError("No space left"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_a_write_that_fails_leaves_the_old_file(monkeypatch, existing_file, failing, failure):
    path, contents = existing_file

    def fail(*args):
        raise failure

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(type(failure)):
        nn.save(two_layer(1), path)
    monkeypatch.undo()
    assert_only_the_old_file(path, contents)


def test_a_write_cut_short_leaves_the_old_file(monkeypatch, existing_file):
    path, contents = existing_file
    real_open = open

    class HalfWritingFile:
        """Writes half of what it is given, then fails, like a full disk."""

        def __init__(self, file):
            self.file = file

        def write(self, payload):
            self.file.write(payload[: len(payload) // 2])
            raise OSError("No space left on device")

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self.file.close()

    def half_writing_open(file, mode="r", *args, **kwargs):
        opened = real_open(file, mode, *args, **kwargs)
        return HalfWritingFile(opened) if "w" in mode else opened

    monkeypatch.setattr(serialization, "open", half_writing_open, raising=False)
    with pytest.raises(OSError, match="No space left"):
        nn.save(two_layer(1), path)
    monkeypatch.undo()
    assert_only_the_old_file(path, contents)


# -- without the optional dependency -----------------------------------------------


def test_without_safetensors_the_error_says_what_to_install(monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m == "safetensors" or m.startswith("safetensors.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(ImportError, match="pip install safetensors"):
        nn.save(two_layer(0), tmp_path / "model.safetensors")
    with pytest.raises(ImportError, match="pip install safetensors"):
        nn.load(two_layer(0), tmp_path / "model.safetensors")
    assert os.listdir(tmp_path) == []


# -- the optimiser in the same file ------------------------------------------------------

OPTIMIZERS = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.95))),
    ("RMSprop", dict(lr=0.003, momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adadelta", dict(rho=0.8)),
]


def training_setup(name, kwargs, seed=0):
    """A float64 model, an optimiser with two param groups and a schedule, and a step on fixed batches."""
    model = two_layer(seed, np.float64)
    groups = [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": kwargs["lr"] / 2
                                                  if "lr" in kwargs else 0.5}]
    optimizer = getattr(nn.optim, name)(groups, **kwargs)
    schedule = nn.optim.StepLR(optimizer, step_size=4, gamma=0.5)
    rng = np.random.default_rng(10)
    batches = [(rng.normal(size=(6, 3)), rng.normal(size=(6, 2))) for _ in range(20)]

    def step(k):
        optimizer.zero_grad()
        x, y = batches[k]
        nn.mse_loss(model(x), y).backward()
        optimizer.step()
        schedule.step()

    return model, optimizer, schedule, step


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS, ids=[n for n, _ in OPTIMIZERS])
def test_a_run_resumed_from_a_file_follows_the_uninterrupted_one_exactly(tmp_path, name, kwargs):
    model, _, _, step = training_setup(name, kwargs)
    for k in range(20):
        step(k)
    uninterrupted = model.state_dict()

    model, optimizer, schedule, step = training_setup(name, kwargs)
    for k in range(10):
        step(k)
    nn.save(model, tmp_path / "checkpoint.safetensors", optimizer=optimizer)
    saved_schedule = schedule.state_dict()

    fresh, fresh_optimizer, fresh_schedule, fresh_step = training_setup(name, kwargs, seed=1)
    assert nn.load(fresh, tmp_path / "checkpoint.safetensors", optimizer=fresh_optimizer) is fresh
    fresh_schedule.load_state_dict(saved_schedule)
    assert fresh_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    for k in range(10, 20):
        fresh_step(k)
    assert_same_state(fresh.state_dict(), uninterrupted)


def test_without_the_optimiser_a_reload_does_not_follow_the_run(tmp_path):
    """The test above can fail: the same weights and rates with fresh Adam moments end up elsewhere."""
    model, _, _, step = training_setup("Adam", dict(lr=0.01))
    for k in range(20):
        step(k)
    uninterrupted = model.state_dict()
    model, optimizer, schedule, step = training_setup("Adam", dict(lr=0.01))
    for k in range(10):
        step(k)
    nn.save(model, tmp_path / "weights.safetensors")
    fresh, fresh_optimizer, fresh_schedule, fresh_step = training_setup("Adam", dict(lr=0.01), seed=1)
    nn.load(fresh, tmp_path / "weights.safetensors")
    fresh_schedule.load_state_dict(schedule.state_dict())
    for group, trained in zip(fresh_optimizer.param_groups, optimizer.param_groups):
        group["lr"] = trained["lr"]
    for k in range(10, 20):
        fresh_step(k)
    assert not np.allclose(fresh.state_dict()["0.weight"], uninterrupted["0.weight"], rtol=1e-4, atol=0)


def test_an_mlp_on_values_resumes_with_its_optimiser(tmp_path):
    def setup(seed):
        nn.manual_seed(seed)
        model = nn.MLP(2, [4, 1])
        return model, nn.optim.Adam(model.parameters(), lr=0.05)

    xs, ys = [[0.0, 1.0], [1.0, 0.5], [-1.0, 2.0]], [1.0, -1.0, 0.5]

    def step(model, optimizer):
        optimizer.zero_grad()
        sum((model(x) - y) ** 2 for x, y in zip(xs, ys)).backward()
        optimizer.step()

    model, optimizer = setup(0)
    for _ in range(12):
        step(model, optimizer)
    model, optimizer = setup(0)
    for _ in range(6):
        step(model, optimizer)
    nn.save(model, tmp_path / "mlp.safetensors", optimizer=optimizer)
    for _ in range(6):
        step(model, optimizer)
    fresh, fresh_optimizer = setup(1)
    nn.load(fresh, tmp_path / "mlp.safetensors", optimizer=fresh_optimizer)
    for _ in range(6):
        step(fresh, fresh_optimizer)
    assert [p.data for p in fresh.parameters()] == [p.data for p in model.parameters()]


def test_the_optimiser_is_stored_as_specified(tmp_path):
    model, optimizer, _, step = training_setup("Adam", dict(lr=0.01))
    for k in range(3):
        step(k)
    path = tmp_path / "checkpoint.safetensors"
    nn.save(model, path, optimizer=optimizer)
    contents = path.read_bytes()
    header = json.loads(contents[8:8 + int.from_bytes(contents[:8], "little")])
    settings = json.loads(header["__metadata__"]["optimizer"])
    expected = optimizer.state_dict()
    assert settings["class"] == "Adam"
    assert settings["param_groups"] == json.loads(json.dumps(expected["param_groups"]))
    assert settings["param_groups"][1]["params"] == [2, 3] and settings["param_groups"][0]["betas"] == [0.9, 0.999]
    arrays = safetensors_numpy.load_file(str(path))
    optimizer_names = {f"optimizer.state.{i}.{key}" for i, entry in expected["state"].items() for key in entry}
    assert arrays.keys() == model.state_dict().keys() | optimizer_names
    assert arrays["optimizer.state.0.step"].shape == () and arrays["optimizer.state.0.step"] == 3.0
    for index, entry in expected["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(arrays[f"optimizer.state.{index}.{key}"], value)


def test_a_file_with_an_optimiser_loads_into_pytorch_and_here_without_one(torch, tmp_path):
    from safetensors.torch import load_file

    model, optimizer, _, step = training_setup("SGD", dict(lr=0.1, momentum=0.9))
    step(0)
    path = tmp_path / "checkpoint.safetensors"
    nn.save(model, path, optimizer=optimizer)
    fresh = nn.load(two_layer(3, np.float64), path)
    assert_same_state(fresh.state_dict(), model.state_dict())
    weights = {k: v for k, v in load_file(str(path)).items() if not k.startswith("optimizer.")}
    torch_model = torch_two_layer(torch).double()
    torch_model.load_state_dict(weights)


@pytest.fixture
def checkpoint(tmp_path):
    model, optimizer, _, step = training_setup("Adam", dict(lr=0.01))
    for k in range(3):
        step(k)
    path = tmp_path / "checkpoint.safetensors"
    nn.save(model, path, optimizer=optimizer)
    return path


def _model_and_optimizer_untouched(load):
    model, optimizer, _, step = training_setup("Adam", dict(lr=0.02), seed=4)
    step(0)
    model_state, optimizer_state = model.state_dict(), optimizer.state_dict()
    load(model, optimizer)
    assert_same_state(model.state_dict(), model_state)
    after = optimizer.state_dict()
    assert after["param_groups"] == optimizer_state["param_groups"]
    for index, entry in optimizer_state["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(after["state"][index][key], value)


def test_loading_an_optimiser_from_a_file_without_one_is_refused(tmp_path):
    path = tmp_path / "weights.safetensors"
    nn.save(two_layer(0, np.float64), path)

    def load(model, optimizer):
        with pytest.raises(WeightsFileError, match=r"weights.safetensors holds no optimiser state"):
            nn.load(model, path, optimizer=optimizer)

    _model_and_optimizer_untouched(load)


def test_an_optimiser_of_another_class_or_shape_is_refused_leaving_both_untouched(checkpoint):
    def load_into_sgd(model, optimizer):
        sgd = nn.optim.SGD(model.parameters(), lr=0.1)
        with pytest.raises(WeightsFileError, match=r"holds the state of a Adam optimiser, not of a SGD"):
            nn.load(model, checkpoint, optimizer=sgd)

    _model_and_optimizer_untouched(load_into_sgd)

    def load_into_one_group(model, optimizer):
        single = nn.optim.Adam(model.parameters(), lr=0.1)
        with pytest.raises(WeightsFileError, match=r"does not fit Adam: the state dict has 2 param groups"):
            nn.load(model, checkpoint, optimizer=single)

    _model_and_optimizer_untouched(load_into_one_group)


def test_optimiser_settings_nested_too_deep_are_refused_leaving_both_untouched(checkpoint):
    contents = checkpoint.read_bytes()
    length = int.from_bytes(contents[:8], "little")
    header = json.loads(contents[8:8 + length])
    header["__metadata__"]["optimizer"] = "[" * 100_000 + "]" * 100_000
    encoded = json.dumps(header).encode()
    checkpoint.write_bytes(len(encoded).to_bytes(8, "little") + encoded + contents[8 + length:])

    def load(model, optimizer):
        with pytest.raises(WeightsFileError, match=r"optimiser's settings in the metadata are JSON nested deeper"):
            nn.load(model, checkpoint, optimizer=optimizer)

    _model_and_optimizer_untouched(load)


def test_a_model_mismatch_leaves_the_optimiser_untouched_too(checkpoint):
    def load(model, optimizer):
        model[2].register_buffer("counter", Tensor(np.zeros(1)))
        with pytest.raises(StateDictError, match=r"missing \['2.counter'\]"):
            nn.load(model, checkpoint, optimizer=optimizer)
        del model[2]._buffer_names["counter"]
        del model[2].counter

    _model_and_optimizer_untouched(load)


def test_a_model_whose_names_start_with_optimizer(tmp_path):
    class Holder(nn.Module):
        def __init__(self):
            self.optimizer = nn.Linear(2, 2)

    model = Holder()
    path = tmp_path / "holder.safetensors"
    with pytest.raises(ValueError, match=r"the model's own names \['optimizer.weight', 'optimizer.bias'\]"):
        nn.save(model, path, optimizer=nn.optim.SGD(model.parameters(), lr=0.1))
    assert os.listdir(tmp_path) == []
    nn.save(model, path)  # without an optimiser those are model names like any other
    assert_same_state(nn.load(Holder(), path).state_dict(), model.state_dict())


def test_settings_json_cannot_write_are_refused_before_writing(tmp_path):
    model = two_layer(0)
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    optimizer.param_groups[0]["note"] = object()
    with pytest.raises(TypeError, match=r"model.safetensors with the optimiser: its param_groups hold a setting.*obj"):
        nn.save(model, tmp_path / "model.safetensors", optimizer=optimizer)
    optimizer.param_groups[0]["note"] = float("nan")
    with pytest.raises(TypeError, match=r"its param_groups hold a setting"):
        nn.save(model, tmp_path / "model.safetensors", optimizer=optimizer)
    assert os.listdir(tmp_path) == []


def test_numpy_numbers_in_the_settings_are_saved_as_numbers(tmp_path):
    model = two_layer(0)
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    optimizer.param_groups[0]["lr"] = np.float32(0.25)
    optimizer.param_groups[0]["epochs_left"] = np.int64(3)
    nn.save(model, tmp_path / "model.safetensors", optimizer=optimizer)
    fresh = nn.optim.SGD(two_layer(1).parameters(), lr=0.5)
    nn.load(two_layer(1), tmp_path / "model.safetensors", optimizer=fresh)
    assert fresh.param_groups[0]["lr"] == 0.25 and fresh.param_groups[0]["epochs_left"] == 3
    assert fresh.param_groups[0]["momentum"] == 0.9


# -- the paths a save may be given ------------------------------------------------------


def test_saving_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.safetensors"
    nn.save(two_layer(0), target)
    link = tmp_path / "latest.safetensors"
    link.symlink_to(target)
    nn.save(two_layer(1), link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert_same_state(nn.load(two_layer(2), target).state_dict(), two_layer(1).state_dict())
    assert sorted(os.listdir(tmp_path)) == ["latest.safetensors", "real"]
    assert os.listdir(tmp_path / "real") == ["model.safetensors"]
    dangling = tmp_path / "next.safetensors"
    dangling.symlink_to(tmp_path / "real" / "new.safetensors")
    nn.save(two_layer(3), dangling)
    assert dangling.is_symlink() and (tmp_path / "real" / "new.safetensors").is_file()


def test_an_existing_file_keeps_its_permission_bits(tmp_path):
    path = tmp_path / "model.safetensors"
    nn.save(two_layer(0), path)
    os.chmod(path, 0o640)
    nn.save(two_layer(1), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    fresh = tmp_path / "new.safetensors"
    mask = os.umask(0o027)
    try:
        nn.save(two_layer(1), fresh)
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o640


def _save_in_a_thread(path):
    """nn.save(model, path) in a thread, so that a save that blocked (opening a FIFO) fails the test."""
    outcome = {}

    def save():
        try:
            nn.save(two_layer(0), path)
        except Exception as error:  # noqa: BLE001 -- handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=save, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "nn.save blocked"
    return outcome.get("error")


def test_a_folder_is_refused_naming_the_path(tmp_path):
    folder = tmp_path / "model.safetensors"
    folder.mkdir()
    (folder / "inside").write_text("kept")
    error = _save_in_a_thread(folder)
    assert isinstance(error, IsADirectoryError) and str(folder) in str(error) and "folder" in str(error)
    assert os.listdir(folder) == ["inside"] and os.listdir(tmp_path) == ["model.safetensors"]
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        nn.load(two_layer(0), folder)


def test_a_fifo_is_refused_without_blocking_and_kept(tmp_path):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    error = _save_in_a_thread(fifo)
    assert isinstance(error, OSError) and "not a regular file" in str(error) and str(fifo) in str(error)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and os.listdir(tmp_path) == ["model.safetensors"]
    with pytest.raises(WeightsFileError, match=r"model.safetensors: it is not a regular file"):
        nn.load(two_layer(0), fifo)


def test_a_path_that_cannot_be_written_is_refused_naming_it_not_the_temporary_file():
    # /proc refuses new files even to root (CI runs as root); /proc/version is a regular file there
    path = "/proc/version"
    if not os.path.isfile(path):
        pytest.skip("no /proc/version on this system")
    before = open(path).read()
    with pytest.raises(OSError) as caught:
        nn.save(two_layer(0), path)
    message = str(caught.value)
    assert "cannot save /proc/version" in message and "autodiff-tmp" not in message
    assert caught.value.filename == path
    assert open(path).read() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file and folder; the /proc test covers root")
def test_a_read_only_file_or_folder_is_refused_and_kept(tmp_path):
    path = tmp_path / "model.safetensors"
    nn.save(two_layer(0), path)
    contents = path.read_bytes()
    os.chmod(path, 0o444)
    with pytest.raises(PermissionError, match=r"model.safetensors: it is not writable"):
        nn.save(two_layer(1), path)
    assert path.read_bytes() == contents
    os.chmod(path, 0o644)
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(PermissionError, match=r"cannot save .*model.safetensors: cannot create a file") as caught:
            nn.save(two_layer(1), path)
        assert "autodiff-tmp" not in str(caught.value)
    finally:
        os.chmod(tmp_path, 0o755)
    assert_only_the_old_file(path, contents)


def test_a_missing_folder_is_named(tmp_path):
    path = tmp_path / "absent" / "model.safetensors"
    with pytest.raises(FileNotFoundError, match=r"cannot save .*absent/model.safetensors: cannot create a file"):
        nn.save(two_layer(0), path)


KILLED_SAVE = """
import os, signal, sys
sys.path.insert(0, {root!r})
import nn
nn.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)  # killed between writing and renaming
nn.save(model, {path!r})
"""


def test_a_temporary_file_left_by_a_killed_save_is_removed_by_the_next_one(existing_file):
    path, contents = existing_file
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    killed = subprocess.run([sys.executable, "-c", KILLED_SAVE.format(root=root, path=str(path))], timeout=120)
    assert killed.returncode == -signal.SIGKILL
    leftovers = [name for name in os.listdir(path.parent) if name != path.name]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.safetensors.")
    assert leftovers[0].endswith(".autodiff-tmp") and path.read_bytes() == contents
    # the temporary file of a process that is still running is left alone
    alive = path.parent / f".model.safetensors.{os.getppid()}-{'0' * 16}.autodiff-tmp"
    alive.write_bytes(b"another save in progress")
    nn.save(two_layer(1), path)
    assert sorted(os.listdir(path.parent)) == sorted([path.name, alive.name])
    assert_same_state(nn.load(two_layer(2), path).state_dict(), two_layer(1).state_dict())


def test_the_header_length_is_checked_against_the_file_size_before_reading_on(monkeypatch, tmp_path):
    path = tmp_path / "huge-header.safetensors"
    path.write_bytes((2**40).to_bytes(8, "little") + b"{}" + b"\0" * 1000)
    read = []
    real_open = open

    class CountingFile:
        def __init__(self, file):
            self.file = file

        def read(self, size=-1):
            data = self.file.read(size)
            read.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self.file.close()

    monkeypatch.setattr(serialization, "open", lambda *a, **k: CountingFile(real_open(*a, **k)), raising=False)
    with pytest.raises(WeightsFileError, match=r"header length 1099511627776 runs past the end of the file \(1010 b"):
        nn.load(two_layer(0), path)
    assert sum(read) == 8
