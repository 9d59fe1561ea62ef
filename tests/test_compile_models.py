"""``autodiff.compile`` on whole models and training loops: the same numbers as eager, to the last bit.

The layers (MLP, CNN, RNN, LSTM, Embedding, LayerNorm, an attention block
with a causal mask and dropout), each compiled with its loss; then what may
change between calls: the dropout draw, ``eval()``/``train()``, the batch
size, an optimiser's step, ``load_state_dict``; then threads, and
micrograd's MLP of Values. Each run records on one batch and compares on
others.
"""

import threading

import numpy as np
import pytest

import autodiff
import nn
from autodiff import Tensor, Value
from nn import functional as F

DTYPES = [np.float64, np.float32]


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    """Layers' parameters (and Tensors made from numbers) in this dtype, nn seeded."""
    previous = autodiff.get_default_dtype()
    autodiff.set_default_dtype(request.param)
    nn.manual_seed(0)
    yield request.param
    autodiff.set_default_dtype(previous)


class Head(nn.Module):
    """One head of causal self-attention, as the transformer lesson writes it: tril mask, softmax, dropout."""

    def __init__(self, width, size, context, dropout):
        self.key = nn.Linear(width, size, bias=False)
        self.query = nn.Linear(width, size, bias=False)
        self.value = nn.Linear(width, size, bias=False)
        self.register_buffer("tril", autodiff.tril(autodiff.ones(context, context)))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        _, steps, _ = x.shape
        k, q = self.key(x), self.query(x)
        scores = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
        scores = scores.masked_fill(self.tril[:steps, :steps] == 0, float("-inf"))
        return self.dropout(F.softmax(scores, dim=-1)) @ self.value(x)


class Block(nn.Module):
    """Two heads side by side and a feed-forward layer, each on a residual path after a LayerNorm."""

    def __init__(self, width=8, heads=2, context=6, dropout=0.2):
        self.heads = nn.ModuleList([Head(width, width // heads, context, dropout) for _ in range(heads)])
        self.proj = nn.Linear(width, width)
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.ffwd = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width),
                                  nn.Dropout(dropout))

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.proj(autodiff.cat([head(h) for head in self.heads], dim=-1))
        return x + self.ffwd(self.ln2(x))


def batches(shape, count, dtype, seed=0, labels=None):
    """``count`` batches of inputs of ``shape`` (and integer labels below ``labels``), as numpy arrays."""
    rng = np.random.default_rng(seed)
    made = []
    for _ in range(count):
        x = rng.normal(size=shape).astype(dtype)
        made.append((x, rng.integers(0, labels, shape[0])) if labels else (x,))
    return made


def step_numbers(loss_fn, model, batch, seed):
    """loss_fn on the batch after manual_seed(seed), then backward: the loss, the input's and each parameter's .grad."""
    model.zero_grad()
    autodiff.manual_seed(seed)
    x = Tensor(batch[0], requires_grad=batch[0].dtype.kind == "f")
    loss = loss_fn(x, *[Tensor(b) for b in batch[1:]])
    loss.backward()
    return [loss.data.copy(), None if x.grad is None else x.grad.copy()] + [
        None if p.grad is None else p.grad.copy() for p in model.parameters()]


def assert_steps_equal(loss_fn, model, data, compiled=None):
    """The first batch recorded, every other batch compared: loss and gradients equal to eager's, with the
    dropout draws of a different seed at each batch."""
    compiled = compiled or autodiff.compile(loss_fn)
    step_numbers(compiled, model, data[0], seed=100)
    for k, batch in enumerate(data[1:]):
        eager = step_numbers(loss_fn, model, batch, seed=k)
        program = step_numbers(compiled, model, batch, seed=k)
        names = ["loss", "input"] + [name for name, _ in model.named_parameters()]
        for name, e, p in zip(names, eager, program):
            assert (e is None) == (p is None), name
            assert e is None or same(e, p), f"{name} differs from eager at batch {k + 1}"
    return compiled


# -- layers --------------------------------------------------------------------------------------------------


def test_mlp(dtype):
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4))
    assert_steps_equal(lambda x, y: F.cross_entropy(model(x), y), model, batches((8, 3), 3, dtype, labels=4))


def test_cnn(dtype):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 2 * 2, 3))
    assert_steps_equal(lambda x, y: F.cross_entropy(model(x), y), model, batches((3, 1, 8, 8), 3, dtype, labels=3))


def test_cnn_that_views_its_pooled_images_as_the_mnist_example(dtype):
    conv, head = nn.Conv2d(1, 4, 3), nn.Linear(4 * 3 * 3, 3)
    model = nn.ModuleList([conv, head])

    def loss(x, y):
        x = F.max_pool2d(F.relu(conv(x)), 2)
        return F.cross_entropy(head(x.view(x.size(0), -1)), y)

    assert_steps_equal(loss, model, batches((3, 1, 8, 8), 3, dtype, labels=3))


def test_outputs_of_a_program_can_be_viewed_as_eager_ones(dtype):
    conv = nn.Conv2d(2, 3, 3, padding=1)
    lstm = nn.LSTM(4, 5)
    program = autodiff.compile(lambda images, sequences: (F.max_pool2d(conv(images), 2), conv(images),
                                                        *lstm(sequences)[1], lstm(sequences)[0].contiguous()))
    rng = np.random.default_rng(0)
    for batch in (2, 2):  # the first call records, the second runs the program
        images = Tensor(rng.normal(size=(batch, 2, 4, 4)).astype(dtype))
        sequences = Tensor(rng.normal(size=(batch, 3, 4)).astype(dtype))
        for result in program(images, sequences):
            assert result.is_contiguous()
            assert np.shares_memory(result.view(batch, -1).data, result.data)


@pytest.mark.parametrize("layer", ["RNN", "LSTM"])
def test_recurrent(dtype, layer):
    recurrent = getattr(nn, layer)(3, 5)
    head = nn.Linear(5, 2)
    model = nn.ModuleList([recurrent, head])

    def loss(x):
        outputs, _ = recurrent(x)
        return (head(outputs[-1]) ** 2).mean()

    assert_steps_equal(loss, model, batches((6, 4, 3), 3, dtype))


def test_embedding_and_layer_norm(dtype):
    embedding, norm, head = nn.Embedding(10, 6), nn.LayerNorm(6), nn.Linear(6, 10)
    model = nn.ModuleList([embedding, norm, head])

    def loss(indices, targets):
        return F.cross_entropy(head(norm(embedding(indices)).tanh()).reshape(-1, 10), targets.reshape(-1))

    rng = np.random.default_rng(0)
    data = [(rng.integers(0, 10, (4, 3)), rng.integers(0, 10, (4, 3))) for _ in range(3)]
    assert_steps_equal(loss, model, data)


def test_attention_block_with_causal_mask_and_dropout(dtype):
    block = Block()
    with np.errstate(invalid="ignore"):
        assert_steps_equal(lambda x: (block(x) ** 2).mean(), block, batches((2, 6, 8), 3, dtype))


def test_gpt_of_the_transformer_lesson_where_it_exists(dtype):
    gpt = pytest.importorskip("demos.gpt", reason="the transformer lesson (demos/gpt.py) is not in this checkout")
    model = gpt.GPTLanguageModel(vocab_size=11, block_size=6, n_embd=8, n_head=2, n_layer=2, dropout=0.2)
    rng = np.random.default_rng(0)
    data = [(rng.integers(0, 11, (2, 6)), rng.integers(0, 11, (2, 6))) for _ in range(3)]
    with np.errstate(invalid="ignore"):
        assert_steps_equal(lambda idx, targets: model(idx, targets)[1], model, data)


# -- what changes between calls -------------------------------------------------------------------------------


def test_the_same_seed_draws_the_same_dropout_masks_compiled_and_eager(dtype):
    layer = nn.Dropout(0.5)
    compiled = autodiff.compile(layer)
    x = Tensor(np.ones((4, 6), dtype=dtype))
    compiled(x)
    masks = []
    for seed in (3, 3, 4):
        autodiff.manual_seed(seed)
        eager = layer(x).data
        after_eager = autodiff.rand(2).data
        autodiff.manual_seed(seed)
        program = compiled(x).data
        assert same(eager, program)
        assert same(after_eager, autodiff.rand(2).data), "the compiled call drew as many numbers as eager"
        masks.append(program)
    assert same(masks[0], masks[1]) and not same(masks[0], masks[2])


def test_eval_and_train_switch_programs_and_each_is_eager_in_its_mode(dtype):
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 2))
    runs = []

    def loss(x, y):
        runs.append(model.training)
        return F.cross_entropy(model(x), y)

    compiled = autodiff.compile(loss)
    data = batches((6, 4), 3, dtype, labels=2)
    assert_steps_equal(loss, model, data, compiled)
    assert runs.count(True) == 1 + 2  # one recording, then the two eager runs of the comparison
    model.eval()
    assert_steps_equal(loss, model, data, compiled)
    assert runs.count(False) == 1 + 2  # recorded once in eval mode, then the two eager runs
    model.train()
    assert_steps_equal(loss, model, data, compiled)
    assert runs.count(True) == 3 + 2, "the training-mode program was kept"


def test_changing_batch_sizes(dtype):
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))

    def loss(x, y):
        return F.cross_entropy(model(x), y)

    compiled = autodiff.compile(loss)
    for rows in (4, 7, 4, 1, 7):
        assert_steps_equal(loss, model, batches((rows, 3), 2, dtype, seed=rows, labels=2), compiled)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_training_with_an_optimiser_between_calls_takes_eager_steps(dtype, optimizer):
    def train(compiled):
        nn.manual_seed(1)
        model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))

        def loss(x, y):
            return F.cross_entropy(model(x), y)

        step = autodiff.compile(loss) if compiled else loss
        opt = getattr(nn.optim, optimizer)(model.parameters(), lr=0.1)
        losses = []
        (x, y), = batches((16, 2), 1, dtype, labels=2)
        for _ in range(6):
            opt.zero_grad()
            out = step(Tensor(x), Tensor(y))
            out.backward()
            opt.step()
            losses.append(out.item())
        return losses, [p.data.copy() for p in model.parameters()]

    eager_losses, eager_weights = train(compiled=False)
    losses, weights = train(compiled=True)
    assert losses == eager_losses and eager_losses[-1] < eager_losses[0]
    assert all(same(a, b) for a, b in zip(eager_weights, weights))


def test_a_compiled_module_reads_as_its_module_as_torch_compile_does(dtype):
    """model = torch.compile(model), then model.parameters(), model.eval(), model.state_dict(): by renaming."""

    def train(compile_it):
        nn.manual_seed(1)
        model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.25), nn.Linear(8, 2))
        if compile_it:
            model = autodiff.compile(model)
        opt = nn.optim.SGD(model.parameters(), lr=0.1)
        data = batches((16, 2), 3, dtype, labels=2)
        assert model.train() is model
        for k, (x, y) in enumerate(data):
            autodiff.manual_seed(k)
            opt.zero_grad()
            F.cross_entropy(model(Tensor(x)), Tensor(y)).backward()
            opt.step()
        model = model.eval()
        return model, model(Tensor(data[0][0])).data, model.state_dict()

    model, out, state = train(compile_it=True)
    eager_model, eager_out, eager_state = train(compile_it=False)
    assert isinstance(model, autodiff.compiler.Compiled) and not model.fn.training and model.training is False
    assert same(out, eager_out)
    assert state.keys() == eager_state.keys() and all(same(state[k], eager_state[k]) for k in state)
    with pytest.raises(AttributeError, match="no_such_thing"):
        model.no_such_thing
    with pytest.raises(AttributeError, match="compiled Module"):
        autodiff.compile(lambda x: x).parameters


def test_load_state_dict_between_calls_is_read_by_the_next_call(dtype):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    loss = lambda x: (model(x) ** 2).sum()  # noqa: E731
    compiled = autodiff.compile(loss)
    data = batches((5, 3), 3, dtype)
    assert_steps_equal(loss, model, data, compiled)
    model.load_state_dict(other.state_dict())
    assert same(compiled(Tensor(data[1][0])).data, (other(Tensor(data[1][0])) ** 2).sum().data)
    assert_steps_equal(loss, model, data, compiled)


def test_freezing_and_unfreezing_a_layer_between_calls(dtype):
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    loss = lambda x: (model(x) ** 2).mean()  # noqa: E731
    compiled = autodiff.compile(loss)
    data = batches((5, 3), 3, dtype)
    assert_steps_equal(loss, model, data, compiled)
    model[0].requires_grad_(False)  # frozen: no gradient for its weights, as eager
    assert_steps_equal(loss, model, data, compiled)
    assert model[0].weight.grad is None and model[2].weight.grad is not None
    model[0].requires_grad_(True)
    assert_steps_equal(loss, model, data, compiled)
    assert model[0].weight.grad is not None


def test_a_parameter_given_new_numbers_of_another_shape_or_dtype_records_again(dtype):
    layer = nn.Linear(3, 2)
    loss = lambda x: (layer(x) ** 2).sum()  # noqa: E731
    compiled = autodiff.compile(loss)
    x = Tensor(batches((5, 3), 1, dtype)[0][0])
    compiled(x).backward()
    for weight in (np.ones((4, 3), dtype), np.ones((4, 3), np.float16)):  # a wider layer, then another dtype
        layer.weight.data, layer.bias.data = weight, np.zeros(4, weight.dtype)
        layer.zero_grad()
        eager = loss(x)
        eager.backward()
        expected = layer.weight.grad
        layer.zero_grad()
        out = compiled(x)
        out.backward()
        assert same(out.data, eager.data) and same(layer.weight.grad, expected)

def test_threads_calling_one_compiled_model_get_eager_answers(dtype):
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    compiled = autodiff.compile(lambda x, y: F.cross_entropy(model(x), y))
    data = batches((6, 4), 4, dtype, labels=3)
    expected = []
    for x, y in data:
        xt = Tensor(x, requires_grad=True)
        loss = F.cross_entropy(model(xt), Tensor(y))
        grads = autodiff.grad(loss, [xt, *model.parameters()])
        expected.append([loss.data.copy()] + [np.asarray(g).copy() for g in grads])
    compiled(Tensor(data[0][0]), Tensor(data[0][1]))
    handed_out, wrong = [], []

    def work(offset):
        for repeat in range(40):
            k = (offset + repeat) % len(data)
            xt = Tensor(data[k][0], requires_grad=True)
            loss = compiled(xt, Tensor(data[k][1]))
            grads = autodiff.grad(loss, [xt, *model.parameters()])
            got = [loss.data] + [np.asarray(g) for g in grads]
            if not all(same(e, g) for e, g in zip(expected[k], got)):
                wrong.append((offset, repeat))
            handed_out.append((k, got))

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong
    # every result any call handed out still holds its own numbers after all the later calls
    assert all(all(same(e, g) for e, g in zip(expected[k], got)) for k, got in handed_out)


# -- Values: micrograd's MLP --------------------------------------------------------------------------------


def test_compiled_micrograd_loss_on_mlp_of_values_gives_eager_data_and_gradients():
    nn.manual_seed(2)
    model = nn.MLP(2, [6, 6, 1])

    def loss(points, labels):
        margins = [(1 + -label * model(point)).relu() for point, label in zip(points, labels)]
        data_loss = sum(margins) * (1.0 / len(margins))
        return data_loss + 1e-4 * sum(p * p for p in model.parameters())

    def step(fn, seed):
        numbers = np.random.default_rng(seed).normal(size=(5, 2))
        points = [[Value(a), Value(b)] for a, b in numbers]
        labels = [1.0 if a * b > 0 else -1.0 for a, b in numbers]
        model.zero_grad()
        out = fn(points, labels)
        out.backward()
        return out.data, [p.grad for p in model.parameters()]

    compiled = autodiff.compile(loss)
    step(compiled, 0)
    for seed in (1, 2):
        assert step(compiled, seed) == step(loss, seed)
    source = compiled.source()
    assert "model_layers_0_neurons_0_w_0" in source and "np." not in source


def test_compiled_values_train_as_eager_with_updates_between_calls():
    def train(compiled):
        nn.manual_seed(3)
        model = nn.MLP(2, [4, 1])
        points = [[Value(1.0), Value(-1.0)], [Value(-0.5), Value(2.0)], [Value(0.3), Value(0.3)]]
        targets = [1.0, -1.0, 0.5]

        def loss(points):
            return sum((model(p) - t) ** 2 for p, t in zip(points, targets))

        fn = autodiff.compile(loss) if compiled else loss
        history = []
        for _ in range(5):
            model.zero_grad()
            out = fn(points)
            out.backward()
            for p in model.parameters():
                p.data -= 0.05 * p.grad
            history.append(out.data)
        return history, [p.data for p in model.parameters()]

    eager = train(compiled=False)
    assert train(compiled=True) == eager and eager[0][-1] < eager[0][0]
