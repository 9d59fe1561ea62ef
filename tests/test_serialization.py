"""Weights on disk: safetensors round trips, exchange with PyTorch, and every way a file can be wrong."""

import json
import os
import pickle
import sys

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
], ids=["empty", "short", "truncated-data", "truncated-header", "random", "text", "json-list", "bad-json",
        "unknown-dtype", "wrong-size", "no-shape", "overlapping"])
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
def test_a_parameter_that_cannot_be_saved_leaves_the_old_file(existing_file):
    path, contents = existing_file
    model = two_layer(1)
    model[2].bias = Tensor(np.zeros(2, dtype=np.longdouble))
    with pytest.raises(TypeError, match=r"model.safetensors: parameter '2.bias' has dtype float128"):
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
        return HalfWritingFile(opened) if "x" in mode else opened

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
    with pytest.raises(ImportError, match=r'pip install "autodiff\[weights\]"'):
        nn.save(two_layer(0), tmp_path / "model.safetensors")
    with pytest.raises(ImportError, match=r'pip install "autodiff\[weights\]"'):
        nn.load(two_layer(0), tmp_path / "model.safetensors")
    assert os.listdir(tmp_path) == []
