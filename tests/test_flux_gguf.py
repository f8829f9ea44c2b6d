"""GGUF-quantized Flux transformers (for cards of 12-16 GB): a tiny GGUF file written with the `gguf` package loads
through the same path as a user's, stays quantized, and gives the unquantized model's picture within a stated
tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers.quantizers.gguf.utils import GGUFLinear

from studio.engine.factory import make_engine
from studio.engine.tiny_flux import tiny_flux_checkpoint, tiny_flux_folder, tiny_flux_gguf
from studio.errors import ModelError
from studio.recipe import Recipe

FLUX = Recipe(
    prompt="a knight in red armour", sampler="Euler", scheduler="Automatic", cfg_scale=1.0, steps=3, width=64,
    height=64, seed=7,
)  # fmt: skip
# Q8_0 keeps each weight to within half a step of 1/127 of its block's largest: through the tiny model's three steps
# that moves a few pixels by one level of 255 (measured: mean 0.07, at most 1).
MEAN_LEVELS, MOST_LEVELS = 0.5, 3


def picture(engine, model: str) -> np.ndarray:
    engine.load(model)
    return np.asarray(engine.generate(FLUX.replace(model=model))[0], dtype=np.int16)


def test_a_gguf_transformer_stays_quantized_and_gives_the_unquantized_picture(model_cache):
    gguf_file = tiny_flux_gguf(model_cache)
    assert gguf_file.stat().st_size < tiny_flux_checkpoint(model_cache).stat().st_size / 2  # fp32 -> ~8.5 bits
    engine = make_engine(cache_dir=model_cache, flux_base=str(tiny_flux_folder(model_cache)))
    quantized = picture(engine, str(gguf_file))
    transformer = engine.pipelines.base.transformer
    assert engine.family == "Flux.1"
    layers = [module for module in transformer.modules() if isinstance(module, GGUFLinear)]
    assert layers and all(layer.weight.quant_type.name == "Q8_0" for layer in layers)
    plain = picture(engine, str(tiny_flux_folder(model_cache)))
    difference = np.abs(quantized - plain)
    assert difference.mean() <= MEAN_LEVELS and difference.max() <= MOST_LEVELS


def test_a_gguf_file_that_is_not_a_flux_transformer_is_refused_by_name(model_cache, tmp_path):
    import gguf

    path = tmp_path / "some-llm-Q8_0.gguf"
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_tensor("token_embd.weight", np.zeros((4, 32), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    engine = make_engine(cache_dir=model_cache, flux_base=str(tiny_flux_folder(model_cache)))
    with pytest.raises(ModelError, match="not a readable GGUF Flux transformer"):
        engine.load(str(path))


def test_flux_loras_act_on_a_gguf_transformer_beside_its_weights_and_leave_nothing_behind(model_cache, tmp_path):
    from studio.recipe import LoraRef
    from tests.test_flux_loras import diffusers_layout, kohya_layout

    gguf_file = str(tiny_flux_gguf(model_cache))
    engine = make_engine(cache_dir=model_cache, flux_base=str(tiny_flux_folder(model_cache)))
    loras = (LoraRef(str(kohya_layout(tmp_path, 2)), 0.7), LoraRef(str(diffusers_layout(tmp_path, 3)), 0.5))
    engine.load(str(tiny_flux_folder(model_cache)))
    fused = np.asarray(engine.generate(FLUX.replace(model=engine.model, loras=loras))[0], dtype=np.int16)
    plain = picture(engine, gguf_file)
    styled = np.asarray(engine.generate(FLUX.replace(model=gguf_file, loras=loras))[0], dtype=np.int16)
    difference = np.abs(styled - fused)  # the unquantized model's picture with the same LoRAs, fused
    assert difference.mean() <= MEAN_LEVELS and difference.max() <= MOST_LEVELS
    assert not np.array_equal(styled, plain)
    again = np.asarray(engine.generate(FLUX.replace(model=gguf_file))[0], dtype=np.int16)
    assert np.array_equal(again, plain)  # the LoRA layers went with the LoRAs


def test_a_fill_model_beside_the_file_serves_its_encoders_without_making_it_a_fill_model(model_cache, tmp_path):
    """The walk-through's models folder: FLUX.1-Fill-dev sorts before FLUX.1-dev, and its transformer takes more
    inputs; the file's own shapes say what it is, whichever Flux folder serves the text encoders and VAE."""
    import shutil

    from studio.engine.tiny_flux import tiny_flux_fill_folder

    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(tiny_flux_fill_folder(model_cache), models / "FLUX.1-Fill-dev")
    shutil.copytree(tiny_flux_folder(model_cache), models / "FLUX.1-dev")
    shutil.copy(tiny_flux_gguf(model_cache), models / "flux1-dev-Q8_0.gguf")
    shutil.copy(tiny_flux_checkpoint(model_cache), models / "flux1-dev.safetensors")
    engine = make_engine(cache_dir=model_cache)
    plain = picture(engine, str(tiny_flux_folder(model_cache)))
    assert np.abs(picture(engine, str(models / "flux1-dev-Q8_0.gguf")) - plain).max() <= MOST_LEVELS
    assert np.array_equal(picture(engine, str(models / "flux1-dev.safetensors")), plain)
