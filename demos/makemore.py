"""makemore's character MLP: an nn.Embedding and two layers learn how made-up words are spelt, then invent new ones.

The model of makemore's second part (after Bengio et al., 2003) reads the
last three characters of a word and predicts the next one: each character
is looked up in an embedding table (``nn.Embedding(vocab, 10)``, the
lecture's ``C[X]``), the three vectors side by side go through a hidden
layer of 200 tanh units, and a last layer scores every character. Trained
with cross-entropy on every (three characters → next) pair of a word
list, it is sampled one character at a time until it predicts the end.

The words are generated, not downloaded: syllables of an onset ("br",
"k", "sh", ...), a vowel ("a", "ea", ...) and sometimes a coda ("nd",
"r", ...), one to three per word. So it is known exactly which strings
are words of this language, and the lesson can count how many of the
model's inventions are: before training, and for a model that knows only
how often each letter occurs, almost none are.

The program is written as for PyTorch with ``torch`` renamed ``autodiff``
and ``torch.nn`` renamed ``nn``; when PyTorch is installed the lesson runs
the same code under PyTorch's names from the same weights and batches and
shows that both engines take the same steps and invent the same words.

Writes each character's embedding (on its two main axes) and the training loss to --out.
"""

import bisect
import itertools
import math
import re
import types

import numpy as np

import autodiff
from autodiff import nn
import nn.functional as F

from . import _port as port
from ._common import check, parse_args, report_pictures
from ._figures import figure, save, spread

ONSETS = "b d f g h k l m n p r s t v z br dr gr kr tr st sk sh th ch".split()
VOWELS = "a e i o u ai ea oo ia".split()
CODAS = "n r l s m nd rk st".split()
SYLLABLES, SYLLABLE_WEIGHTS = (1, 2, 3), (0.25, 0.5, 0.25)
CODA_CHANCE = 0.35
WORDS = 4000

BLOCK_SIZE = 3  # context length: how many characters are taken to predict the next one
N_EMBD, N_HIDDEN = 10, 200
BATCH_SIZE = 32
STEPS, QUICK_STEPS = 8000, 800
SAMPLES = 200
DISC_POINTS = 15  # the diameter of a character's disc in the embedding picture, in typographic points


def make_words(count=WORDS, seed=0):
    """``count`` different words of the syllable language, drawn with a seeded generator, shortest first."""
    rng = np.random.default_rng(seed)
    words = set()
    while len(words) < count:
        syllables = rng.choice(SYLLABLES, p=SYLLABLE_WEIGHTS)
        word = ""
        for _ in range(syllables):
            word += ONSETS[rng.integers(len(ONSETS))] + VOWELS[rng.integers(len(VOWELS))]
            if rng.random() < CODA_CHANCE:
                word += CODAS[rng.integers(len(CODAS))]
        words.add(word)
    return sorted(words, key=lambda w: (len(w), w))


def is_a_word(text):
    """Whether ``text`` is spelt as the language spells: syllables of an onset, a vowel and maybe a coda.

    The list's words have one to three syllables, but how many a word has
    is left out of this test: three characters of context cannot count them.
    """
    syllable = f"(?:{'|'.join(ONSETS)})(?:{'|'.join(VOWELS)})(?:{'|'.join(CODAS)})?"
    return re.fullmatch(f"(?:{syllable})+", text) is not None


# -- the program, as for PyTorch with torch renamed autodiff ----------------------------


class MLP(nn.Module):
    """Embed the last ``block_size`` characters, a tanh hidden layer, a score for every character."""

    def __init__(self, vocab_size, block_size, n_embd, n_hidden):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(block_size * n_embd, n_hidden),
            nn.Tanh(),
            nn.Linear(n_hidden, vocab_size),
        )

    def forward(self, idx):
        emb = self.wte(idx)  # (batch, block_size, n_embd)
        x = emb.view(emb.shape[0], -1)  # the embeddings side by side
        return self.mlp(x)


def build_dataset(words, stoi, block_size):
    """Every (context of block_size characters → next character) pair of the words; '.' pads and ends."""
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + '.':
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    X = autodiff.tensor(X)
    Y = autodiff.tensor(Y)
    return X, Y


def train(model, Xtr, Ytr, batches, steps, log=print):
    """SGD on minibatches (``batches[i]`` holds step i's rows), learning rate 0.1 then 0.01; the losses."""
    losses = []
    for i in range(steps):
        ix = batches[i]
        logits = model(Xtr[ix])
        loss = F.cross_entropy(logits, Ytr[ix])
        for p in model.parameters():
            p.grad = None
        loss.backward()
        lr = 0.1 if i < steps * 3 // 4 else 0.01
        for p in model.parameters():
            p.data += -lr * p.grad
        losses.append(loss.item())
        if i % 1000 == 0:
            log(f'{i:7d}/{steps:7d}: {loss.item():.4f}')
    return losses


def split_loss(model, X, Y):
    """The mean cross-entropy over a whole split."""
    model.eval()
    with autodiff.no_grad():
        return F.cross_entropy(model(X), Y).item()


def sample(model, itos, block_size, uniforms):
    """A word drawn one character at a time until '.' (30 at most), each draw by the next of ``uniforms``."""
    model.eval()
    out = []
    context = [0] * block_size
    with autodiff.no_grad():
        while len(out) < 30:
            logits = model(autodiff.tensor([context]))
            probs = F.softmax(logits, dim=1)
            ix = draw(probs.tolist()[0], next(uniforms))
            context = context[1:] + [ix]
            if ix == 0:
                break
            out.append(ix)
    return ''.join(itos[i] for i in out)


def draw(probs, u):
    """The index whose share of the cumulative probabilities holds u in [0, 1) (what multinomial does).

    ``torch.multinomial`` has no counterpart here yet, and the two engines'
    generators would draw different numbers anyway: both take u from numpy.
    """
    cumulative = list(itertools.accumulate(probs))
    return min(bisect.bisect_right(cumulative, u * cumulative[-1]), len(probs) - 1)


def in_pytorch(torch):
    """The program above with its names bound to PyTorch's (``demos._port``)."""
    return port.in_pytorch(torch, globals(), [MLP, build_dataset, train, split_loss, sample])


# -- the lesson ------------------------------------------------------------------------


def vocabulary(words):
    """stoi and itos: '.' is 0 (start and end of a word), the letters 1.. in order."""
    chars = sorted(set(''.join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi['.'] = 0
    return stoi, {i: s for s, i in stoi.items()}


def splits(words, stoi, program):
    """80% of the words to train on, 10% to check (the lecture's dev split), 10% unused; built by ``program``."""
    words = list(words)
    np.random.default_rng(42).shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    return (program.build_dataset(words[:n1], stoi, BLOCK_SIZE),
            program.build_dataset(words[n1:n2], stoi, BLOCK_SIZE))


def batch_rows(rows, steps, seed=0):
    """For each step the rows of its minibatch, drawn beforehand so that both engines can be given them."""
    return np.random.default_rng(seed).integers(0, rows, size=(steps, BATCH_SIZE))


def samples(sampler, model, itos, count, seed):
    """``count`` words from ``model`` by ``sampler`` (either engine's ``sample``), all drawing from one
    seeded stream of uniform numbers: the same words wherever the probabilities agree."""
    uniforms = iter(np.random.default_rng(seed).random, None)  # rng.random() for ever
    return [sampler(model, itos, BLOCK_SIZE, uniforms) for _ in range(count)]


def frequency_loss(Ytr, Ydev):
    """The dev loss of guessing each character by how often it occurs in training, whatever came before."""
    counts = np.bincount(Ytr, minlength=int(max(Ytr.max(), Ydev.max())) + 1) + 1.0
    return float(-np.log(counts[Ydev] / counts.sum()).mean())


def frequency_words(Ytr, itos, rng, count):
    """Words drawn from the letter frequencies alone, as the baseline the model must beat."""
    counts = np.bincount(Ytr, minlength=len(itos)).astype(float)
    words = []
    for _ in range(count):
        out = []
        while len(out) < 30 and (ix := draw(counts.tolist(), rng.random())) != 0:
            out.append(itos[ix])
        words.append(''.join(out))
    return words


def principal_axes(table):
    """The rows of ``table`` on its two principal axes (the directions along which they spread most)."""
    centred = table - table.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:2].T


def draw_pictures(model, itos, losses, out):
    """Each character's embedding on its two principal axes, and the training loss."""
    fig, (left, right) = figure(10, 4, 1, 2)
    draw_embeddings(left, model, itos)
    steps = np.arange(len(losses))
    window = min(100, len(losses))
    right.plot(steps, losses, color="0.8", lw=0.5, label="minibatch")
    right.plot(steps[window - 1:], np.convolve(losses, np.ones(window) / window, "valid"), label=f"mean of {window}")
    right.set_xlabel("step"), right.set_ylabel("cross-entropy"), right.legend()
    right.set_title("training loss", fontsize=10)
    return save(fig, out / "makemore.png")


def draw_embeddings(ax, model, itos):
    """Each character's embedding on its two principal axes, as a disc with the character in it.

    Discs that would cover each other are moved apart (``_figures.spread``)
    and joined by a thin line to the small dot at their true place, so that
    '.' cannot hide under 'a'. Returns the discs' centres (drawn) and the
    true places, by character index.
    """
    points = principal_axes(model.wte.weight.data.astype(np.float64))
    margin = 0.12 * (points.max(axis=0) - points.min(axis=0))
    ax.set_xlim(points[:, 0].min() - margin[0], points[:, 0].max() + margin[0])
    ax.set_ylim(points[:, 1].min() - margin[1], points[:, 1].max() + margin[1])
    centres = spread(ax, points, DISC_POINTS + 2)  # a sliver of white between neighbours
    for i, ((x, y), (cx, cy)) in enumerate(zip(points, centres)):
        colour = "0.2" if i == 0 else "tab:orange" if itos[i] in "aeiou" else "tab:blue"
        if np.hypot(*ax.transData.transform((cx, cy)) - ax.transData.transform((x, y))) > 1:
            ax.plot([x, cx], [y, cy], color="0.5", linewidth=0.7, zorder=1)
            ax.plot(x, y, "o", color=colour, markersize=3, zorder=1)
        ax.plot(cx, cy, "o", color=colour, markersize=DISC_POINTS, zorder=2)
        ax.text(cx, cy, itos[i], ha="center", va="center", color="white", fontsize=9, fontweight="bold", zorder=3)
    ax.set_title("each character's embedding (10-d) on its 2 main axes:\n"
                 "vowels orange, consonants blue, '.' (start and end) black", fontsize=10)
    return centres, points


def main(argv=None):
    args = parse_args("makemore", __doc__.splitlines()[0], argv)
    words = make_words()
    stoi, itos = vocabulary(words)
    ours = in_this_project()
    (Xtr, Ytr), (Xdev, Ydev) = splits(words, stoi, ours)
    print(f"{len(words)} words such as {', '.join(words[1000:1006])}; "
          f"{len(Xtr)} training pairs, vocabulary of {len(stoi)}")

    autodiff.manual_seed(2147483647)
    model = MLP(len(stoi), BLOCK_SIZE, N_EMBD, N_HIDDEN)
    print(f"MLP: {model.num_parameters():,} parameters")
    uniform = math.log(len(stoi))
    before = split_loss(model, Xdev, Ydev)
    untrained = samples(sample, model, itos, SAMPLES, seed=1)

    steps = QUICK_STEPS if args.quick else STEPS
    batches = batch_rows(len(Xtr), steps)
    losses = train(model, Xtr, Ytr, batches, steps)
    dev = split_loss(model, Xdev, Ydev)
    baseline = frequency_loss(Ytr.data, Ydev.data)
    print(f"dev loss: {before:.3f} before training, {dev:.3f} after; letter frequencies alone: {baseline:.3f}, "
          f"uniform guess: {uniform:.3f}")

    made = samples(sample, model, itos, SAMPLES, seed=3)
    frequency_only = frequency_words(Ytr.data, itos, np.random.default_rng(4), SAMPLES)
    valid = {name: sum(map(is_a_word, found)) / SAMPLES
             for name, found in (("trained", made), ("untrained", untrained), ("frequencies", frequency_only))}
    known = set(words)
    new_words = [w for w in made if is_a_word(w) and w not in known]
    print("invented:", ", ".join(made[:12]))
    print(f"words of the language among {SAMPLES} samples: trained {valid['trained']:.0%}, untrained "
          f"{valid['untrained']:.0%}, letter frequencies {valid['frequencies']:.0%}; "
          f"{len(new_words)} valid ones are not in the word list")

    picture = draw_pictures(model, itos, losses, args.out)
    report_pictures(args.out, [picture])
    check(dev < baseline - (0.2 if args.quick else 0.5),
          f"reading three characters, the MLP predicts the next better than letter frequencies do "
          f"(dev loss {dev:.2f} against {baseline:.2f})")
    least = 0.25 if args.quick else 0.75
    check(valid["trained"] >= least and valid["untrained"] < 0.1 and valid["frequencies"] < 0.1,
          f"at least {least:.0%} of its inventions are spelt as the language spells, where chance makes under 10%")
    if not args.quick:
        check(len(new_words) >= 0.5 * len(made), "most of them are new words, not copies of the training list")
    results = {"dev_loss": dev, "valid": valid, "losses": losses}
    results.update(compare_with_pytorch(words, stoi, itos, model, batches[:50]))
    return results


def in_this_project():
    """The program as written (this project's names), beside ``in_pytorch`` for PyTorch's."""
    return types.SimpleNamespace(build_dataset=build_dataset, train=train, sample=sample)


def compare_with_pytorch(words, stoi, itos, trained, batches):
    """Fifty steps in each engine from the same weights and batches, and the words each then invents."""
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: skipped running the same program in PyTorch (pip install torch to see it)")
        return {}
    theirs = in_pytorch(torch)
    autodiff.manual_seed(0)
    ours = MLP(len(stoi), BLOCK_SIZE, N_EMBD, N_HIDDEN)
    twin = theirs.MLP(len(stoi), BLOCK_SIZE, N_EMBD, N_HIDDEN)
    twin.load_state_dict({name: torch.from_numpy(array) for name, array in ours.state_dict().items()})
    (Xtr, Ytr), _ = splits(words, stoi, in_this_project())
    (Xt, Yt), _ = splits(words, stoi, theirs)
    quiet = lambda *lines: None  # noqa: E731
    our_losses = train(ours, Xtr, Ytr, batches, len(batches), log=quiet)
    their_losses = theirs.train(twin, Xt, Yt, torch.from_numpy(batches), len(batches), log=quiet)
    gap = max(abs(a - b) / abs(b) for a, b in zip(our_losses, their_losses))
    our_words = samples(sample, ours, itos, 10, seed=5)
    their_words = samples(theirs.sample, twin, itos, 10, seed=5)
    print(f"the same program in PyTorch, 50 steps from the same weights and batches: losses at most {gap:.1e} apart "
          f"(relative); it invents {', '.join(their_words[:5])}, ...")
    check(gap < 1e-5 and our_words == their_words,
          "PyTorch, running the same code, takes the same steps (float32) and invents the same words")
    return {"pytorch_gap": gap}


if __name__ == "__main__":
    main()
