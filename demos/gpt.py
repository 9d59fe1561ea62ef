"""A character-level GPT: self-attention over the last 32 characters learns a made-up language's text and writes more.

The model is the decoder-only transformer of Karpathy's lecture "Let's
build GPT" (ng-video-lecture, gpt.py), small enough for a CPU minute:

- each character and each position get a learned vector (two
  ``nn.Embedding`` tables), added together;
- a block lets every position gather information from the ones before it:
  several attention *heads*, each scoring how well its query matches the
  keys of earlier positions (q·k / √head_size), hiding later positions
  with a lower-triangular mask (``tril``, a buffer, and ``masked_fill``
  with -inf, so softmax gives them weight 0), and averaging their values
  with the softmax weights; the heads' outputs are joined and projected
  back. A feed-forward layer (Linear, ReLU, Linear) then works on each
  position alone. Both parts add to a residual stream, after a
  ``LayerNorm``, with ``Dropout`` while training;
- a last ``LayerNorm`` and ``Linear`` score every character as the next.

It is trained with AdamW on the cross-entropy of every next character and
sampled with ``autodiff.multinomial``, one character at a time.

The text is generated, not downloaded: lines of words of the makemore
lesson's syllable language. So the lesson can count how many of the
model's invented words are spelt as the language spells them, and compare
its loss with what a model of letter pairs (a bigram table) can do.

The program is written as for PyTorch with ``torch`` renamed ``autodiff``
and ``torch.nn`` renamed ``nn``; when PyTorch is installed, the same code
runs under PyTorch's names from the same weights and batches and takes
the same AdamW steps.

Writes the training and validation losses and one head's attention to --out.
"""

import math

import numpy as np

import autodiff
from autodiff import nn
import nn.functional as F

from . import _port as port
from ._common import check, parse_args, report_pictures
from ._figures import figure, save
from .makemore import is_a_word, make_words

BLOCK_SIZE = 32  # characters of context
N_EMBD, N_HEAD, N_LAYER = 64, 4, 2
DROPOUT = 0.1
BATCH_SIZE = 16
LEARNING_RATE = 2e-3
STEPS, QUICK_STEPS = 2000, 120
EVAL_INTERVAL, EVAL_BATCHES = 100, 20
LINES, WORDS_PER_LINE = 3000, (3, 8)
SAMPLE_LENGTH, QUICK_SAMPLE_LENGTH = 1000, 300
COMPARED, QUICK_COMPARED = 10, 3  # AdamW steps run in both engines to compare them

device = 'cuda' if autodiff.cuda.is_available() else 'cpu'


# -- the program, as for PyTorch with torch renamed autodiff ----------------------------


class Head(nn.Module):
    """One head of causal self-attention: each position averages the values of itself and earlier ones."""

    def __init__(self, n_embd, head_size, block_size, dropout):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        # which positions each one may see: itself and those before it
        self.register_buffer('tril', autodiff.tril(autodiff.ones(block_size, block_size)))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        k = self.key(x)  # (B, T, head_size)
        q = self.query(x)
        scores = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, T): how much t attends to s
        scores = scores.masked_fill(self.tril[:T, :T] == 0, float('-inf'))  # no looking ahead
        weights = F.softmax(scores, dim=-1)
        self.attention = weights.detach()  # kept for the lesson's picture
        weights = self.dropout(weights)
        return weights @ self.value(x)  # (B, T, head_size)


class MultiHeadAttention(nn.Module):
    """Several heads side by side, their outputs joined and projected back to the embedding's width."""

    def __init__(self, n_embd, n_head, block_size, dropout):
        super().__init__()
        head_size = n_embd // n_head
        self.heads = nn.ModuleList([Head(n_embd, head_size, block_size, dropout) for _ in range(n_head)])
        self.proj = nn.Linear(head_size * n_head, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        out = autodiff.cat([h(x) for h in self.heads], dim=-1)
        return self.dropout(self.proj(out))


class FeedForward(nn.Module):
    """A small MLP applied to each position on its own."""

    def __init__(self, n_embd, dropout):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.ReLU(),
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        return self.net(x)


class Block(nn.Module):
    """Communication (attention across positions), then computation (feed-forward), each on a residual path."""

    def __init__(self, n_embd, n_head, block_size, dropout):
        super().__init__()
        self.sa = MultiHeadAttention(n_embd, n_head, block_size, dropout)
        self.ffwd = FeedForward(n_embd, dropout)
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))
        x = x + self.ffwd(self.ln2(x))
        return x


class GPTLanguageModel(nn.Module):
    """Token and position embeddings, ``n_layer`` blocks, a last LayerNorm and a score for every character."""

    def __init__(self, vocab_size, block_size, n_embd, n_head, n_layer, dropout):
        super().__init__()
        self.block_size = block_size
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(*[Block(n_embd, n_head, block_size, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        # small weights (standard deviation 0.02) keep the first scores and logits near uniform
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)  # (B, T, n_embd)
        pos_emb = self.position_embedding_table(autodiff.arange(T, device=device))  # (T, n_embd)
        x = tok_emb + pos_emb
        x = self.blocks(x)
        x = self.ln_f(x)
        logits = self.lm_head(x)  # (B, T, vocab_size)
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        loss = F.cross_entropy(logits.view(B * T, C), targets.view(B * T))
        return logits, loss

    def generate(self, idx, max_new_tokens, generator=None):
        """``idx`` (B, T) extended by ``max_new_tokens`` characters, each drawn from the model's prediction."""
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -self.block_size:]  # the positions have embeddings for block_size places only
            logits, _ = self(idx_cond)
            probs = F.softmax(logits[:, -1, :], dim=-1)  # (B, vocab_size): the next character's distribution
            idx_next = autodiff.multinomial(probs, num_samples=1, generator=generator)
            idx = autodiff.cat((idx, idx_next), dim=1)
        return idx


def get_batch(data, ix, block_size):
    """The inputs starting at each index of ``ix`` and the targets, the same characters one place later."""
    x = autodiff.stack([data[i:i + block_size] for i in ix])
    y = autodiff.stack([data[i + 1:i + block_size + 1] for i in ix])
    return x.to(device), y.to(device)


def estimate_loss(model, splits, block_size):
    """The mean loss of each split (a name → (data, batches of start indices)), in evaluation mode."""
    out = {}
    model.eval()
    with autodiff.no_grad():
        for split, (data, batches) in splits.items():
            losses = [model(*get_batch(data, ix, block_size))[1].item() for ix in batches]
            out[split] = sum(losses) / len(losses)
    model.train()
    return out


def train(model, optimizer, data, batches, block_size, evaluate=None, eval_interval=EVAL_INTERVAL, log=print):
    """One AdamW step per batch of start indices; the training losses, and ``evaluate()``'s every interval."""
    losses, evaluations = [], []
    for step, ix in enumerate(batches):
        if evaluate is not None and (step % eval_interval == 0 or step == len(batches) - 1):
            evaluations.append((step, evaluate()))
            log(f"step {step:5d}: train loss {evaluations[-1][1]['train']:.4f}, "
                f"val loss {evaluations[-1][1]['val']:.4f}")
        xb, yb = get_batch(data, ix, block_size)
        logits, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, evaluations


def in_pytorch(torch):
    """The program above with its names bound to PyTorch's (``demos._port``)."""
    return port.in_pytorch(
        torch, globals(), [Head, MultiHeadAttention, FeedForward, Block, GPTLanguageModel, get_batch, train],
    )


# -- the lesson ------------------------------------------------------------------------


def make_text(lines=LINES, seed=0):
    """Lines of 3 to 8 words of the syllable language, drawn from makemore's word list."""
    words = make_words()
    rng = np.random.default_rng(seed)
    low, high = WORDS_PER_LINE
    return "".join(" ".join(rng.choice(words, size=rng.integers(low, high + 1))) + "\n" for _ in range(lines))


def vocabulary(text):
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    return stoi, chars


def start_indices(length, block_size, count, seed):
    """``count`` batches of BATCH_SIZE random start indices, drawn beforehand so both engines can be given them."""
    return np.random.default_rng(seed).integers(0, length - block_size, size=(count, BATCH_SIZE))


def bigram_loss(train_ids, val_ids, vocab_size):
    """The validation loss of the best model of letter pairs: the next character's frequency after each one."""
    counts = np.ones((vocab_size, vocab_size))  # add-one smoothing
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)
    probs = counts / counts.sum(axis=1, keepdims=True)
    return float(-np.log(probs[val_ids[:-1], val_ids[1:]]).mean())


def invented_words(text):
    """The words of the generated lines, without the last one (cut off by the length of the sample)."""
    lines = text.split("\n")[:-1]
    return [word for line in lines for word in line.split(" ") if word]


def sees_no_future(model, data, block_size):
    """Whether changing the last character of a context leaves the scores of every earlier position alone."""
    x = data[:block_size].view(1, block_size)
    changed = x.clone()
    changed[0, -1] = (changed[0, -1].item() + 1) % model.token_embedding_table.num_embeddings
    model.eval()
    with autodiff.no_grad():
        before, _ = model(x)
        after, _ = model(changed)
    model.train()
    before, after = before.numpy()[0], after.numpy()[0]
    return np.array_equal(before[:-1], after[:-1]) and not np.array_equal(before[-1], after[-1])


def draw_pictures(model, evaluations, losses, chars, data, out):
    """The training and validation losses, and the attention of one head of the last block on a line of text."""
    fig, (left, right) = figure(12, 4.6, 1, 2)
    steps = np.arange(len(losses))
    window = min(50, len(losses))
    left.plot(steps, losses, color="0.8", lw=0.5, label="minibatch")
    left.plot(steps[window - 1:], np.convolve(losses, np.ones(window) / window, "valid"), label=f"mean of {window}")
    evaluated = [step for step, _ in evaluations]
    left.plot(evaluated, [e["val"] for _, e in evaluations], "o-", color="tab:red", label="validation")
    left.set_xlabel("AdamW step"), left.set_ylabel("cross-entropy per character"), left.legend()
    left.set_title("training", fontsize=10)

    model.eval()
    T = 24
    with autodiff.no_grad():
        model(data[:T].view(1, T))
    attention = model.blocks[-1].sa.heads[0].attention.numpy()[0]
    model.train()
    labels = [repr(chars[i])[1:-1] if chars[i] != " " else "␣" for i in data[:T].tolist()]
    right.imshow(attention, cmap="Blues", vmin=0, vmax=1)
    right.set_xticks(range(T), labels, fontsize=7)
    right.set_yticks(range(T), labels, fontsize=7)
    right.set_xlabel("attends to (earlier characters)"), right.set_ylabel("position")
    right.set_title("attention of head 0, last block: weights on earlier\npositions only (above the diagonal: "
                    "masked by tril)", fontsize=10)
    return save(fig, out / "gpt.png")


def main(argv=None):
    args = parse_args("gpt", __doc__.splitlines()[0], argv)
    text = make_text()
    stoi, chars = vocabulary(text)
    assert chars[0] == "\n"
    encode = lambda s: [stoi[c] for c in s]  # noqa: E731
    decode = lambda ids: ''.join(chars[i] for i in ids)  # noqa: E731
    data = autodiff.tensor(encode(text), dtype=autodiff.long)
    n = int(0.9 * len(data))
    train_data, val_data = data[:n], data[n:]
    print(f"{len(text):,} characters of text such as {text.splitlines()[0]!r}; vocabulary of {len(chars)}")

    autodiff.manual_seed(1337)
    model = GPTLanguageModel(len(chars), BLOCK_SIZE, N_EMBD, N_HEAD, N_LAYER, DROPOUT).to(device)
    print(f"GPT: {model.num_parameters():,} parameters, {N_LAYER} blocks of {N_HEAD} heads, "
          f"{BLOCK_SIZE} characters of context")
    optimizer = nn.optim.AdamW(model.parameters(), lr=LEARNING_RATE)

    steps = QUICK_STEPS if args.quick else STEPS
    batches = start_indices(len(train_data), BLOCK_SIZE, steps, seed=1)
    eval_splits = {name: (split, start_indices(len(split), BLOCK_SIZE, EVAL_BATCHES, seed=seed))
                   for seed, (name, split) in enumerate((("train", train_data), ("val", val_data)), start=2)}
    untrained = estimate_loss(model, eval_splits, BLOCK_SIZE)["val"]
    losses, evaluations = train(model, optimizer, train_data, batches, BLOCK_SIZE,
                                evaluate=lambda: estimate_loss(model, eval_splits, BLOCK_SIZE))
    val = evaluations[-1][1]["val"]
    bigram = bigram_loss(train_data.numpy(), val_data.numpy(), len(chars))
    print(f"validation loss: {untrained:.3f} untrained (uniform guess {math.log(len(chars)):.3f}), "
          f"{val:.3f} trained; letter pairs (bigram table): {bigram:.3f}")

    generator = autodiff.Generator().manual_seed(0)
    context = autodiff.zeros((1, 1), dtype=autodiff.long, device=device)  # character 0: the line break
    model.eval()
    with autodiff.no_grad():
        length = QUICK_SAMPLE_LENGTH if args.quick else SAMPLE_LENGTH
        written = decode(model.generate(context, max_new_tokens=length, generator=generator)[0].tolist())
    model.train()
    words = invented_words(written)
    valid = sum(map(is_a_word, words)) / max(len(words), 1)
    print("it writes:\n  " + "\n  ".join(written.strip("\n").split("\n")[:4]))
    print(f"{len(words)} words written, {valid:.0%} of them spelt as the language spells")

    picture = draw_pictures(model, evaluations, losses, chars, val_data, args.out)
    report_pictures(args.out, [picture])
    check(sees_no_future(model, val_data, BLOCK_SIZE),
          "the causal mask works: changing a character changes the predictions at its own position, none before it")
    if args.quick:
        check(val < untrained - 0.5, f"a few AdamW steps lower the validation loss ({untrained:.2f} to {val:.2f})")
    else:
        check(val < bigram - 0.1,
              f"reading up to {BLOCK_SIZE} characters, it predicts the next better than letter pairs can "
              f"(validation loss {val:.2f} against {bigram:.2f})")
        check(valid >= 0.8, f"at least 80% of the words it writes are spelt as the language spells ({valid:.0%})")
    results = {"val_loss": val, "untrained_val_loss": untrained, "bigram_loss": bigram, "valid_words": valid,
               "losses": losses}
    results.update(compare_with_pytorch(len(chars), train_data, batches[:QUICK_COMPARED if args.quick else COMPARED]))
    return results


def compare_with_pytorch(vocab_size, train_data, batches):
    """AdamW steps in each engine, one per batch, in float64 without dropout, from the same weights and batches."""
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: skipped running the same program in PyTorch (pip install torch to see it)")
        return {}
    ours, theirs, _ = steps_in_both(torch, vocab_size, train_data.numpy(), batches)
    gap = max(abs(a - b) / abs(b) for a, b in zip(ours, theirs))
    print(f"the same program in PyTorch, {len(batches)} AdamW steps from the same weights (float64, no dropout): "
          f"losses at most {gap:.1e} apart (relative)")
    check(gap < 1e-10, "PyTorch, running the same code, takes the same steps")
    return {"pytorch_gap": gap}


def steps_in_both(torch, vocab_size, train_ids, batches, dtype=np.float64, model_args=None):
    """The losses of ``train`` on ``batches`` in this project and in PyTorch, from the same weights.

    Both run the program above in ``dtype`` with dropout 0 (the two engines would draw different
    masks); ``model_args`` overrides the lesson's sizes. Returns our losses, PyTorch's, and the two
    trained models.
    """
    previous = autodiff.get_default_dtype()
    autodiff.set_default_dtype(dtype)
    torch_dtype = torch.get_default_dtype()
    torch.set_default_dtype({np.float32: torch.float32, np.float64: torch.float64}[np.dtype(dtype).type])
    try:
        theirs = in_pytorch(torch)
        sizes = dict(vocab_size=vocab_size, block_size=BLOCK_SIZE, n_embd=N_EMBD, n_head=N_HEAD, n_layer=N_LAYER,
                     dropout=0.0)
        sizes.update(model_args or {})
        autodiff.manual_seed(0)
        ours = GPTLanguageModel(**sizes)
        twin = theirs.GPTLanguageModel(**sizes)
        twin.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in ours.state_dict().items()})
        quiet = lambda *lines: None  # noqa: E731
        our_losses, _ = train(ours, nn.optim.AdamW(ours.parameters(), lr=LEARNING_RATE),
                              autodiff.from_numpy(train_ids), batches, sizes["block_size"], log=quiet)
        their_losses, _ = theirs.train(twin, torch.optim.AdamW(twin.parameters(), lr=LEARNING_RATE),
                                       torch.from_numpy(train_ids), torch.from_numpy(batches), sizes["block_size"],
                                       log=quiet)
        return our_losses, their_losses, (ours, twin)
    finally:
        autodiff.set_default_dtype(previous)
        torch.set_default_dtype(torch_dtype)


if __name__ == "__main__":
    main()
