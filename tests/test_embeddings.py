"""Textual-inversion embeddings as A1111 uses them: named in the prompt, their vectors in the text encoder.

The oracle is diffusers' own `load_textual_inversion`: it adds the embedding's vectors to a copy of the text
encoder as new words, so its `encode_prompt` gives what the vectors should give; the studio places them without
touching the model, and must give exactly the same embeddings."""

from __future__ import annotations

import copy
import hashlib
import json
import re

import pytest
import torch
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
from safetensors.torch import load_file

from studio.embedding_library import EmbeddingError, list_embeddings, names_used
from studio.engine import prompts
from studio.engine.embeddings import EmbeddingShelf
from tests import embedding_files


def diffusers_sd15_with(engine, name, path):
    base = engine.pipelines.base
    pipe = StableDiffusionPipeline(
        vae=base.vae,
        text_encoder=copy.deepcopy(base.text_encoder),
        tokenizer=copy.deepcopy(base.tokenizer),
        unet=base.unet,
        scheduler=base.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.load_textual_inversion(load_file(str(path)), token=name)
    return pipe


def ours(engine, shelf, prompt, negative=""):
    pipe = engine.pipelines.base
    named = shelf.for_prompts(engine.family, [prompt, negative])
    with torch.inference_mode():
        return prompts.encode(pipe, prompt, negative, 1, named)


def test_the_library_reads_each_layout_and_skips_what_is_not_an_embedding(tmp_path):
    embedding_files.write_sd15(tmp_path, "MyStyle", count=3)
    embedding_files.write_sdxl(tmp_path, "xl-negative", count=2)
    embedding_files.write_a1111_pt(tmp_path, "old-one")
    (tmp_path / "notes.safetensors").write_bytes(b"not a file")
    listed = {info.name: info for info in list_embeddings(tmp_path)}
    assert set(listed) == {"MyStyle", "xl-negative", "old-one"}
    assert (listed["MyStyle"].family, listed["MyStyle"].vectors) == ("SD 1.5", 3)
    assert (listed["xl-negative"].family, listed["xl-negative"].vectors) == ("SDXL", 2)
    assert listed["old-one"].pickled and listed["old-one"].family is None


def test_names_are_found_as_whole_words_in_any_case():
    names = ["EasyNegative", "bad-hands-5"]
    assert names_used(["(easynegative:1.2), bad-hands-5, worst"], names) == ["EasyNegative", "bad-hands-5"]
    assert names_used(["EasyNegatives, not-bad-hands-5x, myEasyNegative"], names) == []


def test_an_embedding_name_gives_exactly_the_embeddings_of_its_vectors(engine, tmp_path, monkeypatch):
    # Lower case: diffusers finds an embedding's name in a prompt only as its (lower-casing) tokenizer writes it.
    path = embedding_files.write_sd15(tmp_path, "mystyle", count=2)
    shelf = EmbeddingShelf(tmp_path)
    prompt, negative = "a photo of mystyle, red coat", "blurry"
    theirs = diffusers_sd15_with(engine, "mystyle", path)
    with torch.inference_mode():
        expected, expected_negative = theirs.encode_prompt(prompt, "cpu", 1, True, negative)
    got = ours(engine, shelf, prompt, negative)
    assert torch.equal(got["prompt_embeds"], expected)
    assert torch.equal(got["negative_prompt_embeds"], expected_negative)
    # The name's letters alone would give other states: the vectors did the work.
    plain = ours(engine, EmbeddingShelf(None), prompt, negative)
    assert not torch.equal(plain["prompt_embeds"], expected)


def test_a_weighted_embedding_is_scaled_like_words(engine, tmp_path):
    embedding_files.write_sd15(tmp_path, "MyStyle", count=2)
    shelf = EmbeddingShelf(tmp_path)
    plain = ours(engine, shelf, "a photo of MyStyle")["prompt_embeds"]
    weighted = ours(engine, shelf, "a photo of (MyStyle:1.3)")["prompt_embeds"]
    # BOS, a, photo, of: the two vectors are at places 4 and 5; the expected states come from the plain ones.
    weights = torch.ones(plain.shape[1])
    weights[4:6] = 1.3
    expected = plain * weights.reshape(1, -1, 1)
    correction = plain.mean() / expected.mean()
    low, high = prompts.MAX_MEAN_CORRECTION
    expected = expected * correction if low <= correction <= high else expected
    torch.testing.assert_close(weighted, expected, rtol=1e-5, atol=1e-6)
    assert not torch.equal(weighted, plain)


def test_an_embedding_is_never_split_between_chunks(engine, tmp_path):
    embedding_files.write_sd15(tmp_path, "MyStyle", count=3)
    named = EmbeddingShelf(tmp_path).for_prompts("SD 1.5", ["x"])
    words = " ".join(["cat"] * 74)  # 74 tokens: the embedding's 3 vectors do not fit in the 75 left... 1
    first, second = prompts._chunks(engine.pipelines.base.tokenizer, f"{words} MyStyle dog", named)
    assert len(first.tokens) == 74 and not first.fixes
    assert [place for place, _ in second.fixes] == [0] and second.tokens[:3] == [prompts.PLACEHOLDER] * 3
    assert len(second.tokens) == 4  # the three vectors and "dog"


def test_sdxl_embeddings_give_each_encoder_its_own_vectors(sdxl_engine, tmp_path):
    path = embedding_files.write_sdxl(tmp_path, "xl-style", count=2)
    state = load_file(str(path))
    base = sdxl_engine.pipelines.base
    theirs = StableDiffusionXLPipeline(
        vae=base.vae,
        text_encoder=copy.deepcopy(base.text_encoder),
        text_encoder_2=copy.deepcopy(base.text_encoder_2),
        tokenizer=copy.deepcopy(base.tokenizer),
        tokenizer_2=copy.deepcopy(base.tokenizer_2),
        unet=base.unet,
        scheduler=base.scheduler,
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )
    theirs.load_textual_inversion(
        state["clip_l"], token="xl-style", text_encoder=theirs.text_encoder, tokenizer=theirs.tokenizer
    )
    theirs.load_textual_inversion(
        state["clip_g"], token="xl-style", text_encoder=theirs.text_encoder_2, tokenizer=theirs.tokenizer_2
    )
    prompt = "portrait, xl-style, soft light"
    with torch.inference_mode():
        expected, _, expected_pooled, _ = theirs.encode_prompt(prompt, device="cpu", do_classifier_free_guidance=False)
    got = ours(sdxl_engine, EmbeddingShelf(tmp_path), prompt)
    assert torch.equal(got["prompt_embeds"], expected)
    assert torch.equal(got["pooled_prompt_embeds"], expected_pooled)


def test_embeddings_that_cannot_be_used_are_refused_by_name(engine, tmp_path):
    embedding_files.write_sdxl(tmp_path, "xl-negative")
    embedding_files.write_a1111_pt(tmp_path, "old-one")
    shelf = EmbeddingShelf(tmp_path)
    with pytest.raises(EmbeddingError, match="xl-negative is made for SDXL and this model is SD 1.5"):
        shelf.for_prompts("SD 1.5", ["a cat", "xl-negative"])
    with pytest.raises(EmbeddingError, match="old-one.pt is pickled.*--allow-pickle"):
        shelf.for_prompts("SD 1.5", ["old-one, a cat", ""])
    assert shelf.for_prompts("SD 1.5", ["a cat", ""]) == {}  # unnamed, they are no obstacle
    # With --allow-pickle, A1111's own .pt reads as its vectors.
    allowed = EmbeddingShelf(tmp_path, allow_pickle=True).for_prompts("SD 1.5", ["old-one"])
    expected = torch.load(tmp_path / "old-one.pt", weights_only=False)["string_to_param"]["*"]
    assert torch.equal(allowed["old-one"].vectors["clip_l"], expected)


def test_a_run_with_an_embedding_changes_the_picture_and_replays_exactly(engine, tmp_path, monkeypatch):
    from studio.recipe import Recipe

    embedding_files.write_sd15(tmp_path, "MyStyle", count=2, seed=7)
    monkeypatch.setattr(engine, "embeddings", EmbeddingShelf(tmp_path))
    recipe = Recipe(prompt="a house, MyStyle", model="tiny", width=64, height=64, steps=2, seed=5)
    first, again = engine.generate(recipe)[0], engine.generate(recipe)[0]
    monkeypatch.setattr(engine, "embeddings", EmbeddingShelf(None))
    without = engine.generate(recipe)[0]
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != without.tobytes()


def sha256_12(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


# A1111's own `re_param` (modules/infotext_utils.py), the pattern its infotext parser reads fields with.
A1111_RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def test_ti_hashes_are_written_as_a1111_writes_them_and_read_back(engine, tmp_path, monkeypatch):
    from launch import build_sessions
    from studio.formats import a1111, png_text
    from studio.formats.hashes import HashCache
    from studio.recipe import Recipe

    folder = tmp_path / "embeddings"
    style = embedding_files.write_sd15(folder, "MyStyle", count=2, seed=7)
    negative = embedding_files.write_sd15(folder, "bad-hands-5", count=1, seed=8)
    embedding_files.write_sd15(folder, "unused", count=1, seed=9)
    monkeypatch.setattr(engine, "embeddings", EmbeddingShelf(folder))
    session = build_sessions(
        engine, tmp_path / "outputs", embedding_dir=folder, hashes=HashCache(tmp_path / "hashes.json")
    ).open()
    node = session.generate(
        Recipe(
            prompt="a house, (mystyle:1.2)", negative_prompt="bad-hands-5", model="tiny", width=64, height=64, steps=2
        )
    )
    text = png_text.read_texts(session.output_path(node.id))[png_text.PARAMETERS_KEY]
    expected = f"MyStyle: {sha256_12(style)}, bad-hands-5: {sha256_12(negative)}"
    assert f'TI hashes: "{expected}", Version: studio' in text
    fields = dict(A1111_RE_PARAM.findall(text.splitlines()[-1]))
    assert json.loads(fields["TI hashes"]) == expected  # A1111 unquotes a quoted value as JSON
    parsed = a1111.parse_parameters(text)
    assert a1111.named_hashes(parsed.fields["TI hashes"]) == {
        "MyStyle": sha256_12(style),
        "bad-hands-5": sha256_12(negative),
    }


def test_the_a1111_api_lists_embeddings_as_loaded_or_skipped(fake_engine, tmp_path):
    from launch import build_sessions
    from studio.webui.routes import WebUiApi

    folder = tmp_path / "embeddings"
    embedding_files.write_sd15(folder, "MyStyle", count=3)
    embedding_files.write_sdxl(folder, "xl-negative", count=2)
    sessions = build_sessions(fake_engine, tmp_path / "outputs", embedding_dir=folder)
    answer = WebUiApi(sessions).embeddings()
    family = fake_engine.family
    loaded, skipped = ("MyStyle", "xl-negative") if family == "SD 1.5" else ("xl-negative", "MyStyle")
    assert set(answer["loaded"]) == {loaded} and set(answer["skipped"]) == {skipped}
    assert answer["loaded" if family == "SD 1.5" else "skipped"]["MyStyle"] == {
        "step": None,
        "sd_checkpoint": None,
        "sd_checkpoint_name": None,
        "shape": embedding_files.SD15_WIDTH,
        "vectors": 3,
    }
