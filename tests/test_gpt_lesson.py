"""The GPT lesson: its program follows PyTorch step by step, its text and its mask are what it says.

The comparison runs the lesson's own classes and ``train`` twice, as
written and with the names bound to PyTorch's (``demos.gpt.in_pytorch``),
from the same weights (copied through ``state_dict``) on the same batches,
in float64 with dropout 0 (the engines would draw different masks).
"""

import sys

import numpy as np
import pytest

import autodiff
from demos import gpt


@pytest.fixture(scope="module")
def text_ids():
    text = gpt.make_text(lines=300)
    stoi, chars = gpt.vocabulary(text)
    return np.array([stoi[c] for c in text], dtype=np.int64), len(chars)


def test_the_text_is_lines_of_words_of_the_language():
    text = gpt.make_text(lines=50)
    assert text == gpt.make_text(lines=50) and text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert len(lines) == 50 and all(3 <= len(line.split(" ")) <= 8 for line in lines)
    from demos.makemore import is_a_word

    assert all(is_a_word(word) for line in lines for word in line.split(" "))
    assert gpt.vocabulary(text)[1][:2] == ["\n", " "]


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [{}, {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8}])
def test_the_program_takes_pytorchs_adamw_steps_in_float64(torch, text_ids, sizes):
    ids, vocab_size = text_ids
    block_size = sizes.get("block_size", gpt.BLOCK_SIZE)
    batches = gpt.start_indices(len(ids), block_size, 6, seed=0)
    ours, theirs, (model, twin) = gpt.steps_in_both(torch, vocab_size, ids, batches, model_args=sizes)
    assert len(ours) == len(theirs) == 6 and ours[-1] < ours[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=0)
    their_state = twin.state_dict()
    assert model.state_dict().keys() == their_state.keys()
    assert any(name.endswith("tril") for name in their_state)  # the mask is a buffer in both
    for name, array in model.state_dict().items():
        expected = their_state[name].numpy()
        assert array.dtype == expected.dtype, name
        np.testing.assert_allclose(array, expected, rtol=1e-10, atol=1e-12, err_msg=name)


def test_generate_draws_characters_with_multinomial_and_keeps_to_the_context(text_ids):
    _, vocab_size = text_ids
    autodiff.manual_seed(0)
    model = gpt.GPTLanguageModel(vocab_size, block_size=8, n_embd=16, n_head=2, n_layer=1, dropout=0.0)
    model.eval()
    start = autodiff.zeros((2, 1), dtype=autodiff.long)
    with autodiff.no_grad():
        first = model.generate(start, 20, generator=autodiff.Generator().manual_seed(3))
        again = model.generate(start, 20, generator=autodiff.Generator().manual_seed(3))
    assert first.shape == (2, 21) and first.dtype == np.int64
    assert first.tolist() == again.tolist()  # one seed, one text
    assert 0 <= first.min().item() and first.max().item() < vocab_size


def test_the_mask_hides_every_later_position(text_ids):
    ids, vocab_size = text_ids
    autodiff.manual_seed(1)
    model = gpt.GPTLanguageModel(vocab_size, block_size=8, n_embd=16, n_head=2, n_layer=2, dropout=0.0)
    data = autodiff.from_numpy(ids)
    assert gpt.sees_no_future(model, data, 8)
    head = model.blocks[0].sa.heads[0]
    np.testing.assert_array_equal(head.tril.numpy(), np.tril(np.ones((8, 8))))
    weights = head.attention.numpy()[0]
    assert np.all(weights[np.triu_indices(8, 1)] == 0) and np.allclose(weights.sum(axis=-1), 1)


def test_the_lesson_says_it_skipped_pytorch_when_torch_is_missing(text_ids, monkeypatch, capsys):
    ids, vocab_size = text_ids
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    assert gpt.compare_with_pytorch(vocab_size, autodiff.from_numpy(ids), gpt.start_indices(len(ids), 32, 2, 0)) == {}
    assert "PyTorch is not installed: skipped" in capsys.readouterr().out
