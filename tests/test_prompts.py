"""A1111 prompt syntax and long prompts through the real text encoder of the tiny model."""

import pytest
import torch

from studio.engine import prompts
from studio.recipe import Recipe


def embeds(engine, prompt, negative=""):
    with torch.inference_mode():
        encoded = prompts.encode(engine.pipelines.base, prompt, negative)
    return encoded["prompt_embeds"], encoded["negative_prompt_embeds"]


def diffusers_embeds(engine, prompt, negative=""):
    pipe = engine.pipelines.base
    with torch.inference_mode():
        positive, negative = pipe.encode_prompt(prompt, "cpu", 1, True, negative)
    return positive, negative


def test_a_plain_prompt_gives_exactly_what_diffusers_gives(engine):
    ours = embeds(engine, "a red fox in the snow", "blurry")
    theirs = diffusers_embeds(engine, "a red fox in the snow", "blurry")
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])


def a1111_weighted(plain: torch.Tensor, position: int, weight: float) -> torch.Tensor:
    """A1111's weighting, computed here from the unweighted states: the token's column times its weight, then the
    chunk's mean restored (where that correction is small, as the studio documents)."""
    weights = torch.ones(plain.shape[1], dtype=plain.dtype)
    weights[position] = weight
    weighted = plain * weights.reshape(1, -1, 1)
    correction = plain.mean() / weighted.mean()
    low, high = prompts.MAX_MEAN_CORRECTION
    return weighted * correction if low <= correction <= high else weighted


def test_weight_one_is_the_plain_word_and_other_weights_are_a1111_s_scaling(engine):
    tokenizer = engine.pipelines.base.tokenizer
    assert tokenizer("a cat on a mat").input_ids[:3] == [tokenizer.bos_token_id, *tokenizer("a cat").input_ids[1:3]]
    plain = embeds(engine, "a cat on a mat")[0]
    assert torch.equal(embeds(engine, "a (cat:1.0) on a mat")[0], plain)
    # "cat" is token 2 (after BOS and "a"); the expected states are computed from the plain ones, not ranked.
    stronger = embeds(engine, "a (cat:1.3) on a mat")[0]
    emphasised = embeds(engine, "a (cat) on a mat")[0]  # (cat) is (cat:1.1), as in A1111
    torch.testing.assert_close(stronger, a1111_weighted(plain, 2, 1.3), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(emphasised, a1111_weighted(plain, 2, 1.1), rtol=1e-5, atol=1e-6)
    assert not torch.equal(stronger, plain) and not torch.equal(emphasised, stronger)


def test_escaped_brackets_are_literal(engine):
    assert torch.equal(embeds(engine, r"a \(cat\)")[0], diffusers_embeds(engine, "a (cat)")[0])


def test_long_prompts_are_chunked_not_truncated(engine):
    words = ", ".join(f"word{i}" for i in range(60))  # well over 75 tokens
    long_prompt = embeds(engine, words)[0]
    assert long_prompt.shape[1] % 77 == 0 and long_prompt.shape[1] >= 154
    # The end of the prompt matters: diffusers alone would have cut it off.
    purple, yellow = embeds(engine, words + ", purple")[0], embeds(engine, words + ", yellow")[0]
    assert purple.shape == yellow.shape and not torch.equal(purple, yellow)
    assert torch.equal(purple[:, :77], yellow[:, :77])  # only the last chunk differs


def test_chunks_keep_a1111_boundaries(engine):
    tokenizer = engine.pipelines.base.tokenizer
    chunks = prompts._chunks(tokenizer, "a cat BREAK a dog")
    assert len(chunks) == 2 and len(chunks[0].tokens) == 2
    # A full chunk breaks after its last comma when that comma is near the end.
    text = " ".join(["cat"] * 70) + ", " + " ".join(["dog"] * 10)
    first, second = prompts._chunks(tokenizer, text)
    assert len(first.tokens) == 71 and first.tokens[-1] == tokenizer.convert_tokens_to_ids(",</w>")
    assert len(second.tokens) == 10


def lengths(engine, text: str) -> list[int]:
    return [len(chunk.tokens) for chunk in prompts._chunks(engine.pipelines.base.tokenizer, text)]


# Chunk lengths as A1111's `FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line` makes them (comma_padding_backtrack
# 20): "cat" and "," are one token each, so token positions can be counted by hand.
def cats(count: int) -> str:
    return " ".join(["cat"] * count)


A1111_CHUNKS = [
    # The 76th token is a comma: A1111 only remembers it, closes the full chunk, and the comma opens the next.
    (cats(75) + ", dog", [75, 2]),
    (cats(60) + ", " + cats(14) + ", dog", [75, 2]),
    # A word at a full chunk moves the words after a comma back... when the comma is at most 20 tokens back:
    (cats(55) + ", " + cats(19) + " dog", [56, 20]),  # comma at index 55: 75 - 55 = 20, moved
    (cats(54) + ", " + cats(20) + " dog", [75, 1]),  # comma at index 54: 75 - 54 = 21, not moved
    (cats(74) + ", dog", [75, 1]),
    ("a cat BREAK a dog", [2, 2]),
    ("BREAK a dog", [0, 2]),
    ("(a cat BREAK a dog)", [5]),  # inside brackets BREAK is a word, as in A1111
    ("", [0]),
]


@pytest.mark.parametrize(("text", "expected"), A1111_CHUNKS)
def test_chunks_break_where_a1111_breaks_them(engine, text, expected):
    assert lengths(engine, text) == expected


def test_prompt_and_negative_are_padded_to_the_same_length(engine):
    positive, negative = embeds(engine, "x " * 100, "blurry")
    assert positive.shape == negative.shape and positive.shape[1] == 154


def test_syntax_changes_the_picture_and_weight_one_does_not(engine):
    recipe = Recipe(prompt="a red fox", model="tiny", steps=3, width=64, height=64, seed=3)
    plain = engine.generate(recipe)[0]
    assert engine.generate(recipe.replace(prompt="a (red:1.0) fox"))[0].tobytes() == plain.tobytes()
    assert engine.generate(recipe.replace(prompt="a (red:1.5) fox"))[0].tobytes() != plain.tobytes()


def test_clip_skip_2_is_the_layer_before_the_last_through_the_final_layer_norm_as_in_a1111(engine):
    """A1111 (`FrozenCLIPEmbedderWithCustomWords.encode_with_transformers`): with "Clip skip: N" > 1 it takes
    hidden_states[-N] and applies CLIP's final layer norm. (diffusers calls that clip_skip=N-1; its own
    encode_prompt still reaches for `text_model`, which transformers 5 no longer has.)"""
    pipe = engine.pipelines.base
    ids = pipe.tokenizer(
        "a red fox in the snow", padding="max_length", max_length=pipe.tokenizer.model_max_length, return_tensors="pt"
    ).input_ids
    with torch.inference_mode():
        ours = prompts.encode(pipe, "a red fox in the snow", "", clip_skip=2)["prompt_embeds"]
        states = pipe.text_encoder(ids, output_hidden_states=True).hidden_states
        expected = pipe.text_encoder.final_layer_norm(states[-2])
    assert torch.allclose(ours, expected, atol=1e-6)
    assert not torch.allclose(ours, embeds(engine, "a red fox in the snow")[0])


def test_clip_skip_changes_the_picture_and_1_is_off(engine):
    base = Recipe(prompt="a lighthouse", model="tiny", steps=2, width=64, height=64, seed=5)
    plain = engine.generate(base)[0]
    assert engine.generate(base.replace(clip_skip=1))[0].tobytes() == plain.tobytes()
    assert engine.generate(base.replace(clip_skip=2))[0].tobytes() != plain.tobytes()
