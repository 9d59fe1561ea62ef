"""``nn.export_onnx``: every layer and Tensor operation a model records round-trips through ONNX Runtime.

Each model is exported on an example batch, checked by onnx's checker, and
run in ONNX Runtime on the example and on other batch sizes; the outputs
must equal ours to 1e-5 (float32) or 1e-10 (float64) of the output's
largest magnitude, and integer or boolean outputs exactly. The tests skip
without onnx and onnxruntime (``AUTODIFF_REQUIRE_ONNX`` makes them fail
instead, as CI does).
"""

import math
import os

import numpy as np
import pytest

import autodiff
from autodiff import CompileError, Function, Tensor
from autodiff import functions as AF
from autodiff import nn
from nn.onnx_export import ExportError

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}
DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def seeded():
    nn.manual_seed(0)


def assert_same(theirs, ours, dtype, what=""):
    """ONNX Runtime's output equals ours: exactly for integers and booleans, else to the dtype's tolerance
    relative to the output's largest magnitude."""
    assert theirs.shape == ours.shape, f"{what}: shape {theirs.shape}, ours {ours.shape}"
    assert theirs.dtype == ours.dtype, f"{what}: dtype {theirs.dtype}, ours {ours.dtype}"
    if ours.dtype.kind not in "fc":
        np.testing.assert_array_equal(theirs, ours, err_msg=what)
        return
    finite = np.isfinite(ours)
    np.testing.assert_array_equal(np.isfinite(theirs), finite, err_msg=f"{what}: infinities or NaNs differ")
    np.testing.assert_array_equal(theirs[~finite], ours[~finite], err_msg=f"{what}: infinities or NaNs differ")
    scale = max(float(np.abs(ours[finite]).max(initial=0.0)), 1e-30)
    tolerance = TOLERANCE[dtype]
    np.testing.assert_allclose(theirs, ours, rtol=tolerance, atol=tolerance * scale, err_msg=what)


def session(onnxruntime, path, dtype):
    """ONNX Runtime's session of the file at ``path``.

    Older releases lack some float64 kernels, though the file is valid ONNX
    (1.23: Cos, and the fused matrix product its optimiser makes of MatMul
    after Transpose). A float64 model such a runtime cannot run is run with
    its basic optimisations only (no fusions), and skipped, naming the
    runtime's version and what it lacks, where even that fails.
    """
    not_implemented = onnxruntime.capi.onnxruntime_pybind11_state.NotImplemented
    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except not_implemented:
        if dtype != np.float64:
            raise
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except not_implemented as error:
        pytest.skip(f"ONNX Runtime {onnxruntime.__version__} has no float64 kernel for this model: "
                    f"{str(error).splitlines()[0][:300]}")


def flat_outputs(result):
    if isinstance(result, Tensor):
        return [result.numpy()]
    return [array for item in result if item is not None for array in flat_outputs(item)]


def round_trip(onnxruntime, tmp_path, model, make_inputs, dtype, batches=(3, 1, 6), **options):
    """Export ``model`` on ``make_inputs(batches[0])``, then run each batch size in ONNX Runtime and here."""
    path = tmp_path / "model.onnx"
    nn.export_onnx(model, make_inputs(batches[0]), path, **options)
    runtime = session(onnxruntime, path, dtype)
    names = [i.name for i in runtime.get_inputs()]
    model.eval()
    for batch in batches:
        inputs = make_inputs(batch)
        with autodiff.no_grad():
            ours = flat_outputs(model(*inputs) if isinstance(inputs, tuple) else model(inputs))
        feed = inputs if isinstance(inputs, tuple) else (inputs,)
        theirs = runtime.run(None, {name: x.numpy() for name, x in zip(names, feed)})
        assert len(theirs) == len(ours)
        for k, (a, b) in enumerate(zip(theirs, ours)):
            assert_same(a, b, dtype, f"output {k} at batch {batch}")
    return path


def normal(*shape, dtype=np.float32, seed=None):
    rng = np.random.default_rng(seed if seed is not None else math.prod(shape))
    return Tensor(rng.normal(size=shape).astype(dtype))


def in_dtype(model, dtype):
    return model.to(dtype=dtype)


class Lambda(nn.Module):
    """A module whose forward is the function given: a way to export any expression."""

    def __init__(self, fn):
        self.fn = fn

    def forward(self, *inputs):
        return self.fn(*inputs)


# -- the layers ----------------------------------------------------------------------------------------


LAYERS = {
    "Linear": (lambda: nn.Linear(5, 3), (5,)),
    "Linear on (batch, seq, features)": (lambda: nn.Linear(5, 3), (4, 5)),
    "Linear without bias": (lambda: nn.Linear(5, 3, bias=False), (5,)),
    "ReLU": (nn.ReLU, (7,)),
    "Tanh": (nn.Tanh, (7,)),
    "Sigmoid": (nn.Sigmoid, (7,)),
    "GELU": (nn.GELU, (7,)),
    "GELU tanh": (lambda: nn.GELU(approximate="tanh"), (7,)),
    "Softmax": (lambda: nn.Softmax(dim=1), (7,)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-1), (2, 7)),
    "Flatten": (nn.Flatten, (2, 3, 4)),
    "Dropout in eval": (lambda: nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 2)), (4,)),
    "Identity": (nn.Identity, (4,)),
    "Sequential": (lambda: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)),
                   (4,)),
    "LayerNorm": (lambda: nn.LayerNorm(6), (3, 6)),
    "LayerNorm over two axes": (lambda: nn.LayerNorm((3, 6)), (3, 6)),
    "Conv2d": (lambda: nn.Conv2d(2, 4, 3), (2, 7, 6)),
    "Conv2d padded and strided, no bias": (lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 2), bias=False),
                                           (2, 7, 6)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (2, 6, 8)),
    "MaxPool2d overlapping": (lambda: nn.MaxPool2d(3, stride=1), (2, 5, 5)),
    "CNN": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1),
                                  nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 2 * 2, 10)), (1, 8, 8)),
    # the MNIST example's x.view(x.size(0), -1): a view of max_pool2d's result, whatever the batch
    "CNN with view": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2),
                                            Lambda(lambda x: x.view(x.size(0), -1)), nn.Linear(4 * 3 * 3, 5)),
                      (1, 8, 8)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", LAYERS)
def test_each_layer_round_trips_through_onnx_runtime(onnxruntime, tmp_path, name, dtype):
    make, features = LAYERS[name]
    model = in_dtype(make(), dtype)
    with autodiff.no_grad():  # parameters away from their initial values: no bias is zero, no scale one
        for parameter in model.parameters():
            parameter.data += np.random.default_rng(1).normal(size=parameter.shape).astype(parameter.dtype) * 0.1
    round_trip(onnxruntime, tmp_path, model, lambda batch: normal(batch, *features, dtype=dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_gelu_matches_over_the_whole_range_of_erf(onnxruntime, tmp_path, dtype):
    # erf's three pieces (series below 1, the interpolated tail below 6, 1 beyond) and both signs
    values = np.concatenate([np.linspace(-9, 9, 721), [0.0, -0.0, 1.0, -1.0, 6.0, -6.0, 1e-300, 40.0]]).astype(dtype)
    round_trip(onnxruntime, tmp_path, nn.GELU(), lambda batch: Tensor(np.tile(values, (batch, 1))), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("norm, features", [(nn.BatchNorm1d, (4,)), (nn.BatchNorm1d, (4, 5)), (nn.BatchNorm2d, (4, 3, 3))])
def test_batch_norm_exports_its_running_statistics_and_the_training_flags_are_restored(
        onnxruntime, tmp_path, norm, features, dtype):
    model = in_dtype(nn.Sequential(norm(4), nn.ReLU()), dtype)
    for seed in range(3):  # running statistics away from 0 and 1
        model(normal(8, *features, dtype=dtype, seed=seed) * 3 + 1)
    assert model[0].running_mean.data.any()
    model.train()
    model[1].eval()  # flags of every sort, each of which must come back
    path = tmp_path / "norm.onnx"
    nn.export_onnx(model, normal(5, *features, dtype=dtype), path)
    assert model.training and model[0].training and not model[1].training
    before = model[0].running_mean.data.copy()
    round_trip(onnxruntime, tmp_path, model, lambda batch: normal(batch, *features, dtype=dtype), dtype)
    np.testing.assert_array_equal(model[0].running_mean.data, before)  # exporting did not train


def test_the_initializers_are_the_parameters_and_buffers_by_their_state_names(onnxruntime, tmp_path):
    import onnx
    from onnx import numpy_helper

    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    nn.export_onnx(model, normal(2, 4), tmp_path / "m.onnx")
    stored = {i.name: numpy_helper.to_array(i) for i in onnx.load(tmp_path / "m.onnx").graph.initializer}
    for name, array in model.state_dict().items():
        if name != "1.num_batches_tracked":  # not read by the forward pass
            np.testing.assert_array_equal(stored[name], array)
    assert "1.num_batches_tracked" not in stored


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_embedding_round_trips_with_integer_inputs(onnxruntime, tmp_path, dtype):
    model = in_dtype(nn.Sequential(nn.Embedding(11, 4, padding_idx=0), nn.Flatten(), nn.Linear(12, 2)), dtype)

    def indices(batch):
        return Tensor(np.random.default_rng(batch).integers(0, 11, size=(batch, 3)))

    round_trip(onnxruntime, tmp_path, model, indices, dtype)


# -- recurrent layers ------------------------------------------------------------------------------------


class LastState(nn.Module):
    """A recurrent layer and a linear read-out of its outputs and final state."""

    def __init__(self, layer):
        self.layer = layer
        self.head = nn.Linear(layer.hidden_size, 2)

    def forward(self, x):
        output, state = self.layer(x)
        return self.head(output), state


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("layer", [nn.RNN, nn.LSTM])
def test_recurrent_layers_round_trip_unrolled(onnxruntime, tmp_path, layer, dtype):
    model = in_dtype(LastState(layer(3, 5)), dtype)
    round_trip(onnxruntime, tmp_path, model, lambda batch: normal(batch, 7, 3, dtype=dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_an_lstm_given_its_initial_state_takes_it_as_inputs(onnxruntime, tmp_path, dtype):
    model = in_dtype(nn.LSTM(3, 4), dtype)

    def inputs(batch):
        return normal(batch, 6, 3, dtype=dtype), (normal(batch, 4, dtype=dtype), normal(batch, 4, dtype=dtype, seed=9))

    path = tmp_path / "lstm.onnx"
    x, (h0, c0) = inputs(2)

    class WithState(nn.Module):
        def __init__(self):
            self.lstm = model

        def forward(self, x, h0, c0):
            return self.lstm(x, (h0, c0))

    wrapper = WithState()
    nn.export_onnx(wrapper, (x, h0, c0), path, input_names=["x", "h0", "c0"], output_names=["y", "h", "c"])
    runtime = session(onnxruntime, path, dtype)
    assert [i.name for i in runtime.get_inputs()] == ["x", "h0", "c0"]
    assert [o.name for o in runtime.get_outputs()] == ["y", "h", "c"]
    for batch in (2, 5):
        x, (h0, c0) = inputs(batch)
        theirs = runtime.run(None, {"x": x.numpy(), "h0": h0.numpy(), "c0": c0.numpy()})
        for a, b in zip(theirs, flat_outputs(wrapper(x, h0, c0))):
            assert_same(a, b, dtype)


# -- attention -----------------------------------------------------------------------------------------


class Head(nn.Module):
    """One head of causal self-attention, as the transformer lesson writes it."""

    def __init__(self, n_embd, head_size, block_size):
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", autodiff.tril(autodiff.ones(block_size, block_size)))
        self.dropout = nn.Dropout(0.1)

    def forward(self, x):
        B, T, C = x.shape
        k = self.key(x)
        q = self.query(x)
        scores = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
        scores = scores.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        weights = self.dropout(nn.functional.softmax(scores, dim=-1))
        return weights @ self.value(x)


class Block(nn.Module):
    """Multi-head attention and a feed-forward layer, each after a LayerNorm on a residual path."""

    def __init__(self, n_embd, n_head, block_size):
        self.heads = nn.ModuleList([Head(n_embd, n_embd // n_head, block_size) for _ in range(n_head)])
        self.proj = nn.Linear(n_embd, n_embd)
        self.ffwd = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(), nn.Linear(4 * n_embd, n_embd),
                                  nn.Dropout(0.1))
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.proj(autodiff.cat([h(self.ln1(x)) for h in self.heads], dim=-1))
        return x + self.ffwd(self.ln2(x))


class TinyGPT(nn.Module):
    """Token and position embeddings, two blocks, a last LayerNorm and the next character's scores."""

    def __init__(self, vocab=13, n_embd=8, block_size=6):
        self.tokens = nn.Embedding(vocab, n_embd)
        self.positions = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleDict({"first": Block(n_embd, 2, block_size), "second": Block(n_embd, 2, block_size)})
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = self.tokens(idx) + self.positions(autodiff.arange(T))
        for block in self.blocks.values():
            x = block(x)
        return self.lm_head(self.ln_f(x)), None  # as the lesson's model: logits and no loss


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_the_attention_block_round_trips(onnxruntime, tmp_path, dtype):
    model = in_dtype(Block(8, 2, block_size=6), dtype)
    round_trip(onnxruntime, tmp_path, model, lambda batch: normal(batch, 5, 8, dtype=dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_a_small_gpt_round_trips(onnxruntime, tmp_path, dtype):
    model = in_dtype(TinyGPT(), dtype)

    def indices(batch):
        return Tensor(np.random.default_rng(batch).integers(0, 13, size=(batch, 6)))

    round_trip(onnxruntime, tmp_path, model, indices, dtype)


# -- the generic Tensor operations ----------------------------------------------------------------------

MATRIX = np.random.default_rng(7).normal(size=(4, 5))
VECTOR = np.random.default_rng(8).normal(size=4)

OPERATIONS = {
    "+ - * /": lambda x: (x + 1.5) * x - x / (x.abs() + 1) - 2,
    "** of tensors": lambda x: (x.abs() + 0.5) ** (x * 0.5),
    "** of a number": lambda x: x ** 2 + (x.abs() + 0.1) ** 0.5 + x ** 3 - (x.abs() + 1) ** -1.5,
    "neg exp log sqrt": lambda x: -x.exp() + (x.abs() + 0.5).log() + (x * x + 1).sqrt(),
    "log2 log10": lambda x: (x.abs() + 0.5).log2() + (x.abs() + 0.5).log10(),
    "tanh sigmoid relu abs sign": lambda x: x.tanh() + x.sigmoid() + x.relu() + abs(x) + x.sign(),
    "sin cos": lambda x: (3 * x).sin() * x.cos(),
    "clip": lambda x: x.clip(-0.5, 0.5) + x.clip(low=0.0) + x.clamp(max=0.2),
    "cast": lambda x: (x.double() * 3, x.float(), (x * 4).long(), x.int(), x.bool()),
    "where": lambda x: autodiff.where(x > 0, x, x * 0.1),
    "masked_fill, tril, triu": lambda x: autodiff.tril(x) + autodiff.triu(x, 1).masked_fill(x > 0.5, -1.0),
    "masked_fill with -inf": lambda x: x.masked_fill(x < 0, float("-inf")).softmax(-1),
    "sum mean": lambda x: (x.sum(dim=1), x.mean(dim=(1, 2)), x.sum(), x.mean(), x.sum(dim=-1, keepdim=True)),
    "sum over no axes": lambda x: x.sum(dim=()),
    "max min with indices": lambda x: (*x.max(dim=2), *x.min(dim=1, keepdim=True), x.max(), x.min()),
    "argmax argmin": lambda x: (x.argmax(dim=1), x.argmin(), x.argmax(dim=2, keepdim=True), x.argmax(keepdim=True)),
    "logsumexp": lambda x: ((x * 300).logsumexp(dim=-1), x.logsumexp()),
    "softmax log_softmax": lambda x: (x.softmax(dim=1), x.log_softmax(dim=-1)),
    "var std": lambda x: (x.var(dim=2), x.std(dim=1, correction=0), x.var(dim=0), x.var(), x.var(dim=(0, 2), correction=2)),
    "reshape view flatten": lambda x: (x.reshape(x.shape[0], 12) * 2, x.view(-1, 4), x.flatten(1), x.flatten()),
    "squeeze unsqueeze": lambda x: x.unsqueeze(1).unsqueeze(-1).squeeze(1) + 1,
    "transpose permute": lambda x: (x.transpose(1, 2), x.permute(2, 0, 1), x.swapaxes(0, 2)),
    "broadcast_to expand": lambda x: (x[:, :1, :].expand(x.shape[0], 3, 4) + x,
                                      AF.broadcast_to(autodiff.tensor(VECTOR, dtype=x.dtype), x.shape) * x),
    "ints and slices": lambda x: (x[:, 1], x[:, ::-1], x[..., 1:3], x[:, None, 0, ::2], x[-1], x[:, -1, -2:],
                                  x[:, 2:0:-1, 3]),
    "one integer array": lambda x: (x[:, [2, 0, 2]], x[..., autodiff.tensor([3, -1])], x[np.array([0, -1])]),
    "a boolean mask": lambda x: (x[x > 0], x[:, np.array([True, False, True])], x[x[:, :, 0] > 0]),
    "integer arrays together": lambda x: (x[[0, 1, 1], [2, 0, 1]], x[np.array([[0], [1]]), np.array([2, 0, 1])]),
    "concatenate stack split": lambda x: (autodiff.cat([x, x * 2], dim=2), autodiff.stack([x, -x], dim=1),
                                          *x.split(2, dim=2)),
    "matmul": lambda x: (x @ x.transpose(1, 2), x @ autodiff.tensor(MATRIX, dtype=x.dtype),
                         x @ autodiff.tensor(VECTOR, dtype=x.dtype), autodiff.tensor(MATRIX[:3, :3], dtype=x.dtype) @ x),
    "comparisons and logic": lambda x: ((x > 0) & (x < 1) | ~(x == 0), x != 0.5, (x >= 0.5) ^ (x <= -0.5)),
    "isnan isfinite": lambda x: (AF.isnan((x - 0.5).sqrt()), AF.isfinite(1 / x.relu())),
    "clone detach": lambda x: x.clone() + x.detach(),
    "contiguous": lambda x: (x.transpose(1, 2).contiguous().view(x.shape[0], -1), x.contiguous() * 2),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaNs and infinities on purpose, compared as numbers
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", OPERATIONS)
def test_each_tensor_operation_round_trips(onnxruntime, tmp_path, name, dtype):
    model = Lambda(OPERATIONS[name])
    round_trip(onnxruntime, tmp_path, model, lambda batch: normal(batch, 3, 4, dtype=dtype), dtype, batches=(3, 2, 6))


def models_under_test():
    """(model, example inputs) for every model the round trips above export."""
    for name, (make, features) in LAYERS.items():
        yield make(), normal(2, *features)
    for fn in OPERATIONS.values():
        yield Lambda(fn), normal(2, 3, 4)
    yield nn.Embedding(11, 4), Tensor(np.arange(6).reshape(2, 3))
    yield nn.Sequential(nn.BatchNorm1d(4)), normal(2, 4)
    for layer in (nn.RNN, nn.LSTM):
        yield LastState(layer(3, 5)), normal(2, 7, 3)
    yield TinyGPT(), Tensor(np.arange(12).reshape(2, 6) % 13)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_every_row_of_the_table_is_exported_by_a_round_trip_above():
    from nn.onnx_export import ONNX_FORMS, _Trace

    met = {node.primitive for model, inputs in models_under_test() for node in _Trace(model, [inputs]).order}
    untried = [primitive.name for primitive in ONNX_FORMS if primitive not in met]
    assert not untried, f"no round trip exports {untried}"


# -- the batch axis -----------------------------------------------------------------------------------------


def test_without_dynamic_batch_the_file_takes_the_example_shapes_only(onnxruntime, tmp_path):
    model = nn.Sequential(nn.Linear(4, 2), nn.Flatten())
    nn.export_onnx(model, normal(3, 4), tmp_path / "fixed.onnx", dynamic_batch=False)
    runtime = session(onnxruntime, tmp_path / "fixed.onnx", np.float32)
    assert runtime.get_inputs()[0].shape == [3, 4]
    (theirs,) = runtime.run(None, {"input": normal(3, 4).numpy()})
    assert_same(theirs, model(normal(3, 4)).numpy(), np.float32)
    with pytest.raises(Exception, match="[Ii]nvalid|[Dd]imension|[Gg]ot"):
        runtime.run(None, {"input": normal(5, 4).numpy()})


def test_a_batch_of_one_exports_for_any_batch(onnxruntime, tmp_path):
    model = LAYERS["CNN"][0]()
    round_trip(onnxruntime, tmp_path, model, lambda batch: normal(batch, 1, 8, 8), np.float32, batches=(1, 4, 9))


def test_the_batch_axis_is_named_in_the_file(onnxruntime, tmp_path):
    import onnx

    nn.export_onnx(nn.Linear(4, 2), normal(3, 4), tmp_path / "m.onnx")
    graph = onnx.load(tmp_path / "m.onnx").graph
    for value in (graph.input[0], graph.output[0]):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"


def test_a_graph_that_changes_with_the_batch_size_is_refused_unless_fixed(onnxruntime, tmp_path):
    model = Lambda(lambda x: x[: x.shape[0] - 1] * 2)  # a slice whose bound is the batch size
    with pytest.raises(ExportError, match="changes with the batch size.*'getitem'.*dynamic_batch=False"):
        nn.export_onnx(model, normal(3, 4), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    round_trip(onnxruntime, tmp_path, model, lambda batch: normal(batch, 4), np.float32, batches=(3,),
               dynamic_batch=False)


def test_a_length_that_is_not_a_whole_number_of_batches_is_computed_as_it_runs(onnxruntime, tmp_path):
    model = Lambda(lambda x: (x[1:] * 2, x[1:].sum(dim=0)))
    round_trip(onnxruntime, tmp_path, model, lambda batch: normal(batch, 4), np.float32, batches=(3, 2, 7))
    with pytest.raises(ExportError, match="a shape in the forward of the model itself .*not a whole number of batches"):
        nn.export_onnx(Lambda(lambda x: x[1:].reshape(-1, 2)), normal(3, 4), tmp_path / "m.onnx")


@pytest.mark.parametrize("dynamic_batch", [True, False])
def test_a_shape_recorded_from_a_masks_selection_is_refused(onnxruntime, tmp_path, dynamic_batch):
    model = Lambda(lambda x: x[x > 0].reshape(-1, 1) * 2)
    with pytest.raises(ExportError, match="'reshape' .* boolean mask's selection"):
        nn.export_onnx(model, normal(3, 4), tmp_path / "m.onnx", dynamic_batch=dynamic_batch)
    # a mask of its own, not computed from the inputs, selects as many every time
    fixed = Lambda(lambda x: x[:, np.array([True, False, True])].reshape(x.shape[0], 8))
    round_trip(onnxruntime, tmp_path, fixed, lambda batch: normal(batch, 3, 4), np.float32,
               **({} if dynamic_batch else {"batches": (3,), "dynamic_batch": False}))


def test_inputs_of_different_batch_sizes_are_refused_for_a_dynamic_batch(onnxruntime, tmp_path):
    model = Lambda(lambda x, y: x.sum() + y.sum())
    with pytest.raises(ValueError, match=r"same batch size.*\(3, 4\), \(2, 4\).*dynamic_batch=False"):
        nn.export_onnx(model, (normal(3, 4), normal(2, 4)), tmp_path / "m.onnx")


# -- what is refused ---------------------------------------------------------------------------------------


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return Tensor(x.data ** 3)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g


class Cubes(nn.Module):
    def forward(self, x):
        return Cube.apply(x)


class WithCubes(nn.Module):
    def __init__(self):
        self.first = nn.Linear(3, 3)
        self.rest = nn.ModuleList([nn.ReLU(), Cubes()])

    def forward(self, x):
        x = self.first(x)
        for layer in self.rest:
            x = layer(x)
        return x


def test_an_operation_without_an_onnx_form_is_refused_naming_it_and_its_layer(onnxruntime, tmp_path):
    model = WithCubes()
    with pytest.raises(ExportError, match=r"'Cube' in layer 'rest\.1' \(Cubes\) has no ONNX form"):
        nn.export_onnx(model, normal(2, 3), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_dropout_forced_on_is_refused_as_random(onnxruntime, tmp_path):
    model = Lambda(lambda x: nn.functional.dropout(x, 0.5, training=True))
    with pytest.raises(ExportError, match=r"'dropout' in the forward of the model itself \(Lambda\).*random"):
        nn.export_onnx(model, normal(2, 3), tmp_path / "m.onnx")


def test_a_forward_pass_that_reads_its_numbers_is_refused_as_compile_refuses_it(onnxruntime, tmp_path):
    def forward(x):
        return x * 2 if x.sum() > 0 else x  # the graph depends on the sign of the sum

    path = tmp_path / "m.onnx"
    path.write_bytes(b"the old file")
    with pytest.raises(CompileError, match=r"test_onnx_export\.py:\d+"):
        nn.export_onnx(Lambda(forward), normal(2, 3), path)
    assert path.read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_a_failed_export_leaves_an_old_file_whole_and_a_good_one_replaces_it(onnxruntime, tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"the old file")
    os.chmod(path, 0o640)
    with pytest.raises(ExportError):
        nn.export_onnx(Cubes(), normal(2, 3), path)
    assert path.read_bytes() == b"the old file"
    nn.export_onnx(nn.Linear(3, 1), normal(2, 3), path)
    assert path.read_bytes().startswith(b"\x08")  # an ONNX ModelProto: field 1, ir_version
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_a_model_of_values_or_a_function_is_refused(onnxruntime, tmp_path):
    with pytest.raises(TypeError, match="returned a Value.*nn.MLP"):
        nn.export_onnx(Lambda(lambda x: autodiff.Value(2.0) * 3), normal(2), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="exports an nn.Module"):
        nn.export_onnx(lambda x: x, normal(2), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="example input 1 is a float"):
        nn.export_onnx(Lambda(lambda x, y: x * y), (normal(2), 2.0), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="output_names must be 2 different"):
        nn.export_onnx(Lambda(lambda x: (x, x * 2)), normal(2, 2), tmp_path / "m.onnx", output_names=["y"])
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_an_input_or_given_twice_gets_its_own_name(onnxruntime, tmp_path):
    model = Lambda(lambda x: (x, x * 2, x * 2))
    round_trip(onnxruntime, tmp_path, model, lambda batch: normal(batch, 2), np.float32)


def test_without_onnx_the_export_says_what_to_install(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match="pip install onnx"):
        nn.export_onnx(nn.Linear(2, 1), normal(2, 2), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
