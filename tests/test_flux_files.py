"""A Flux transformer as one file, as Civitai ships it (Black Forest Labs' keys, bf16 or fp8, ComfyUI's prefix), with
the text encoders and VAE of a Flux model in diffusers' layout, named or found beside it."""

from __future__ import annotations

import shutil

import pytest
import torch
from diffusers import FluxTransformer2DModel
from safetensors.torch import load_file, save_file

from studio.engine.factory import make_engine
from studio.engine.flux_files import from_original_flux_keys, to_original_flux_keys
from studio.engine.tiny_flux import tiny_flux_checkpoint, tiny_flux_folder
from studio.errors import ModelError
from studio.recipe import Recipe

FLUX = Recipe(prompt="a knight", sampler="Euler", cfg_scale=1.0, steps=2, width=64, height=64, seed=3)


def picture(model_cache, model: str, **options) -> bytes:
    torch.set_num_threads(1)
    engine = make_engine(cache_dir=model_cache, **options)
    engine.load(model)
    return engine.generate(FLUX.replace(model=model))[0].tobytes()


def test_the_layouts_convert_both_ways_weight_for_weight(model_cache):
    own = FluxTransformer2DModel.from_pretrained(tiny_flux_folder(model_cache) / "transformer").state_dict()
    back = from_original_flux_keys(to_original_flux_keys(own))
    assert back.keys() == own.keys() and all(torch.equal(back[key], own[key]) for key in own)


def test_a_transformer_file_with_a_named_base_makes_the_folders_picture(model_cache):
    folder = tiny_flux_folder(model_cache)
    checkpoint = tiny_flux_checkpoint(model_cache)
    assert picture(model_cache, str(checkpoint), flux_base=str(folder)) == picture(model_cache, str(folder))


def test_a_base_beside_the_file_is_found_and_none_is_a_clear_message(model_cache, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    single = models / "my-flux-finetune.safetensors"
    shutil.copy(tiny_flux_checkpoint(model_cache), single)
    engine = make_engine(cache_dir=model_cache)
    with pytest.raises(ModelError, match="beside the file, or name it with --flux-base"):
        engine.load(str(single))
    shutil.copytree(tiny_flux_folder(model_cache), models / "FLUX.1-dev")
    assert picture(model_cache, str(single)) == picture(model_cache, str(tiny_flux_folder(model_cache)))


def test_fp8_and_comfyui_prefixed_files_load(model_cache, tmp_path):
    weights = load_file(str(tiny_flux_checkpoint(model_cache)))
    fp8 = tmp_path / "flux-fp8.safetensors"
    save_file(
        {f"model.diffusion_model.{key}": value.to(torch.float8_e4m3fn) for key, value in weights.items()}, str(fp8)
    )
    engine = make_engine(cache_dir=model_cache, flux_base=str(tiny_flux_folder(model_cache)))
    engine.load(str(fp8))
    loaded = engine.pipelines.base.transformer.state_dict()
    expected = from_original_flux_keys({key: value.to(torch.float8_e4m3fn).float() for key, value in weights.items()})
    assert all(torch.equal(loaded[key], expected[key]) for key in expected)
    assert engine.family == "Flux.1" and engine.generate(FLUX.replace(model=str(fp8)))[0].size == (64, 64)


def test_a_schnell_file_without_the_guidance_input_loads_as_schnell(model_cache, tmp_path):
    weights = load_file(str(tiny_flux_checkpoint(model_cache)))
    schnell = tmp_path / "flux-schnell-finetune.safetensors"
    save_file({key: value for key, value in weights.items() if not key.startswith("guidance_in.")}, str(schnell))
    engine = make_engine(cache_dir=model_cache, flux_base=str(tiny_flux_folder(model_cache)))
    engine.load(str(schnell))
    assert not engine.pipelines.base.transformer.config.guidance_embeds
    assert engine.generate(FLUX.replace(model=str(schnell)))[0].size == (64, 64)
