"""The tiny Flux model (studio/engine/tiny_flux.py): a real FluxPipeline folder built offline, a T5 tokenizer
that survives save and load, and its transformer as a Black Forest Labs single file that diffusers reads back
weight for weight."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from diffusers import FluxPipeline, FluxTransformer2DModel
from diffusers.loaders import single_file_model, single_file_utils
from safetensors.torch import load_file
from transformers import T5Tokenizer

from studio.engine.tiny_flux import T5_MAX_LENGTH, t5_tokenizer, tiny_flux_checkpoint, tiny_flux_folder

PROMPT = "a knight in red armour, dramatic light"


@pytest.fixture(scope="module")
def pipe(model_cache):
    pipe = FluxPipeline.from_pretrained(tiny_flux_folder(model_cache), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def picture(pipe, prompt=PROMPT, seed=1) -> np.ndarray:
    generator = torch.Generator("cpu").manual_seed(seed)
    arguments = {"height": 64, "width": 64, "num_inference_steps": 2, "guidance_scale": 3.5, "output_type": "np"}
    return pipe(prompt, generator=generator, **arguments).images[0]


def test_the_folder_is_flux_dev_in_miniature(pipe):
    assert pipe.transformer.config.guidance_embeds  # dev: the distilled guidance is an input
    assert pipe.vae_scale_factor == 8  # as Flux's VAE: sizes divisible by 16
    assert pipe.scheduler.config.use_dynamic_shifting and pipe.scheduler.config.max_shift == 1.15
    assert pipe.tokenizer_2.model_max_length == T5_MAX_LENGTH


def test_a_picture_is_finite_and_changes_with_seed_and_prompt(pipe):
    knight = picture(pipe)
    assert knight.shape == (64, 64, 3) and np.isfinite(knight).all()
    assert knight.std() > 0.01  # not one flat colour
    assert not np.array_equal(knight, picture(pipe, seed=2))
    assert not np.array_equal(knight, picture(pipe, prompt="a cat on a window"))


def test_the_t5_tokenizer_survives_save_and_load(tmp_path):
    tokenizer = t5_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    loaded = T5Tokenizer.from_pretrained(tmp_path)
    ids = loaded(PROMPT).input_ids
    assert ids == tokenizer(PROMPT).input_ids
    assert loaded.convert_ids_to_tokens(ids) == [
        "▁a", "▁knight", "▁in", "▁red", "▁armour", ",", "▁dramatic", "▁light", "</s>",
    ]  # fmt: skip
    # As FluxPipeline asks: padded to 512; a character outside the vocabulary is <unk>, not an error.
    padded = loaded("Ünïcode ☃ and 🐉", padding="max_length", max_length=T5_MAX_LENGTH, truncation=True)
    assert len(padded.input_ids) == T5_MAX_LENGTH and padded.input_ids[-1] == loaded.pad_token_id == 0
    assert loaded.unk_token_id in padded.input_ids and loaded.eos_token_id == 1


def test_the_single_file_has_black_forest_labs_keys_and_the_folders_weights(model_cache, monkeypatch):
    checkpoint = tiny_flux_checkpoint(model_cache)
    keys = set(load_file(checkpoint))
    expected = {
        "double_blocks.0.img_attn.qkv.weight", "single_blocks.0.linear1.weight", "img_in.weight",
        "time_in.in_layer.weight", "guidance_in.in_layer.weight", "final_layer.adaLN_modulation.1.weight",
    }  # fmt: skip
    assert expected <= keys and not any(key.startswith("transformer_blocks.") for key in keys)

    # diffusers' own converter, whose only flaw for a tiny model is FLUX.1's width written into it.
    converter = _diffusers_converter(width=2 * 16)
    monkeypatch.setitem(
        single_file_model.SINGLE_FILE_LOADABLE_CLASSES["FluxTransformer2DModel"], "checkpoint_mapping_fn", converter
    )
    folder = tiny_flux_folder(model_cache)
    loaded = FluxTransformer2DModel.from_single_file(
        str(checkpoint), config=str(folder), subfolder="transformer", local_files_only=True
    )
    ours = FluxTransformer2DModel.from_pretrained(folder / "transformer", local_files_only=True).state_dict()
    theirs = loaded.state_dict()
    assert theirs.keys() == ours.keys()
    assert all(torch.equal(theirs[name], ours[name]) for name in ours)


def _diffusers_converter(width: int):
    """`convert_flux_transformer_checkpoint_to_diffusers` with its hard-coded `inner_dim = 3072` set to `width`.

    diffusers 0.42 splits a single block's fused projection by FLUX.1's width whatever the model, so a
    narrower file cannot load unchanged; everything else (names, fusions, the swapped final modulation)
    stays diffusers' own code, which is what this test must check the file against."""
    original = single_file_utils.convert_flux_transformer_checkpoint_to_diffusers
    code = original.__code__
    constants = tuple(width if type(value) is int and value == 3072 else value for value in code.co_consts)
    assert constants != code.co_consts, "diffusers no longer writes FLUX.1's width in; drop this shim"
    return types.FunctionType(code.replace(co_consts=constants), original.__globals__, original.__name__)


def test_two_builds_give_the_same_weights(tmp_path):
    first = tiny_flux_folder(tmp_path / "first")
    torch.manual_seed(12345)  # the caller's random state must not matter
    second = tiny_flux_folder(tmp_path / "second")
    files = sorted(path.relative_to(first) for path in first.rglob("*.safetensors"))
    assert len(files) == 4  # transformer, vae, both text encoders
    assert files == sorted(path.relative_to(second) for path in second.rglob("*.safetensors"))
    for name in files:
        one, other = load_file(first / name), load_file(second / name)
        assert one.keys() == other.keys()
        assert all(torch.equal(one[key], other[key]) for key in one)
