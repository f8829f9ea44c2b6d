"""LoRAs on Flux.1, in the two layouts people share them (kohya's `lora_unet_double_blocks_...`, ai-toolkit's and
diffusers' `transformer.transformer_blocks...`): the studio's pictures are diffusers' own loader's, several at once
in any order, and a LoRA of another family is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import FluxPipeline
from safetensors.torch import save_file

from studio.engine.tiny_flux import tiny_flux_folder
from studio.lora_library import LoraError, lora_family, read_header
from studio.recipe import LoraRef, Recipe

WIDTH = 32  # the tiny Flux transformer's inner width (2 heads of 16)
RANK = 4
FLUX = Recipe(
    prompt="a knight in red armour", model="tiny-flux", sampler="Euler", cfg_scale=1.0, steps=3, width=64, height=64,
    seed=7,
)  # fmt: skip


def random_lora(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=generator) * 0.5 for key, shape in shapes.items()}


def diffusers_layout(folder: Path, seed: int) -> Path:
    """As ai-toolkit and diffusers save a Flux LoRA: peft's A and B on the transformer's own module names."""
    shapes = {}
    for module, width_in in (
        ("transformer_blocks.0.attn.to_q", WIDTH),
        ("transformer_blocks.0.attn.add_v_proj", WIDTH),
        ("single_transformer_blocks.0.proj_out", WIDTH * 5),  # attention and the 4x MLP, joined
    ):
        shapes[f"transformer.{module}.lora_A.weight"] = (RANK, width_in)
        shapes[f"transformer.{module}.lora_B.weight"] = (WIDTH, RANK)
    path = folder / f"diffusers-{seed}.safetensors"
    save_file(random_lora(shapes, seed), str(path))
    return path


def kohya_layout(folder: Path, seed: int) -> Path:
    """As kohya's sd-scripts save a Flux LoRA: Black Forest Labs' block names, fused q/k/v, an alpha per layer."""
    shapes = {}
    for layer, width_out in (("double_blocks_0_img_attn_qkv", 3 * WIDTH), ("double_blocks_0_txt_attn_proj", WIDTH)):
        shapes[f"lora_unet_{layer}.lora_down.weight"] = (RANK, WIDTH)
        shapes[f"lora_unet_{layer}.lora_up.weight"] = (width_out, RANK)
    tensors = random_lora(shapes, seed)
    for layer in ("double_blocks_0_img_attn_qkv", "double_blocks_0_txt_attn_proj"):
        tensors[f"lora_unet_{layer}.alpha"] = torch.tensor(float(RANK))
    path = folder / f"kohya-{seed}.safetensors"
    save_file(tensors, str(path))
    return path


def diffusers_own(model_cache, loras: list[tuple[Path, float]]):
    """diffusers' own loader on its own pipeline: load, weigh, fuse, and the picture."""
    pipe = FluxPipeline.from_pretrained(tiny_flux_folder(model_cache))
    pipe.set_progress_bar_config(disable=True)
    names = [f"lora_{number}" for number in range(len(loras))]
    for name, (path, _) in zip(names, loras, strict=True):
        pipe.load_lora_weights(str(path), adapter_name=name)
    pipe.set_adapters(names, [weight for _, weight in loras])
    pipe.fuse_lora(adapter_names=names)
    pipe.unload_lora_weights()
    return pipe(
        prompt=FLUX.prompt, guidance_scale=3.5, num_inference_steps=3, height=64, width=64,
        generator=torch.Generator("cpu").manual_seed(7),
    ).images[0]  # fmt: skip


@pytest.mark.parametrize("layout", [diffusers_layout, kohya_layout])
def test_a_flux_lora_gives_diffusers_own_pixels(flux_engine, model_cache, tmp_path, layout):
    path = layout(tmp_path, 1)
    assert lora_family(read_header(path)) == "Flux.1"
    (plain,) = flux_engine.generate(FLUX)
    (styled,) = flux_engine.generate(FLUX.replace(loras=(LoraRef(str(path), 0.8),)))
    assert styled.tobytes() != plain.tobytes()
    assert styled.tobytes() == diffusers_own(model_cache, [(path, 0.8)]).tobytes()
    # Without it the model is the base model again, to the bit.
    assert flux_engine.generate(FLUX)[0].tobytes() == plain.tobytes()


def test_two_flux_loras_in_either_order_make_one_picture(flux_engine, tmp_path):
    first, second = LoraRef(str(kohya_layout(tmp_path, 2)), 0.7), LoraRef(str(diffusers_layout(tmp_path, 3)), 0.5)
    (one,) = flux_engine.generate(FLUX.replace(loras=(first, second)))
    (other,) = flux_engine.generate(FLUX.replace(loras=(second, first)))
    assert one.tobytes() == other.tobytes()
    # A weight is the artist's: another weight, another picture.
    (lighter,) = flux_engine.generate(FLUX.replace(loras=(first, second.__class__(second.name, 0.1))))
    assert lighter.tobytes() != one.tobytes()


def test_an_sd_lora_is_refused_on_flux_and_a_flux_lora_on_sd(flux_engine, engine, tmp_path):
    sd = tmp_path / "sd15-style.safetensors"
    save_file({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 32)}, str(sd))
    with pytest.raises(LoraError, match=r"is an SD 1\.5 LoRA and the model is Flux\.1"):
        flux_engine.generate(FLUX.replace(loras=(LoraRef(str(sd), 1.0),)))
    flux = kohya_layout(tmp_path, 4)
    sd_recipe = Recipe(model="tiny", steps=2, width=64, height=64, seed=1, loras=(LoraRef(str(flux), 1.0),))
    with pytest.raises(LoraError, match=r"is a Flux\.1 LoRA and the model is SD 1\.5"):
        engine.generate(sd_recipe)


def test_training_a_flux_lora_is_refused_with_what_to_do(flux_engine, tmp_path):
    from PIL import Image

    from studio.errors import InputError
    from studio.train.settings import TrainingSettings
    from studio.train.workshop import LoraWorkshop

    pictures = tmp_path / "mira"
    pictures.mkdir()
    for number in range(2):
        Image.new("RGB", (64, 64), (40 * number, 90, 160)).save(pictures / f"{number}.png")
    settings = TrainingSettings(dataset=str(pictures), name="mira", resolution=64, steps=2)
    with pytest.raises(InputError, match="training a Flux.1 LoRA is not in the studio; train it with kohya"):
        LoraWorkshop(flux_engine).train(settings, tmp_path / "loras")
    assert not (tmp_path / "loras" / "mira.safetensors").exists()
