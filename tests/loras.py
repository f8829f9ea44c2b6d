"""Making LoRA files for the tiny model in tests, in diffusers/peft naming or in kohya's naming."""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPTextModel

from studio.engine.tiny import tiny_model_folder

UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
TEXT_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")


@functools.cache
def tiny_layers(cache: Path) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """(module name, in features, out features) of the tiny model's attention projections."""
    folder = tiny_model_folder(cache)
    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    text = CLIPTextModel.from_pretrained(folder / "text_encoder")

    def linears(model, targets):
        return [
            (name, module.in_features, module.out_features)
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name.endswith(targets)
        ]

    return linears(unet, UNET_TARGETS), linears(text, TEXT_TARGETS)


def make_lora(
    path: Path,
    cache: Path,
    *,
    seed: int,
    rank: int = 4,
    scale: float = 0.5,
    kohya: bool = False,
    text_encoder: bool = False,
    unet: bool = True,
    metadata: dict[str, str] | None = None,
) -> Path:
    generator = torch.Generator().manual_seed(seed)
    unet_layers, text_layers = tiny_layers(cache)
    tensors: dict[str, torch.Tensor] = {}
    layers = [("unet", name, i, o) for name, i, o in unet_layers] if unet else []
    if text_encoder:
        layers += [("text_encoder", name, i, o) for name, i, o in text_layers]
    for part, name, inputs, outputs in layers:
        down = torch.randn(rank, inputs, generator=generator) * scale
        up = torch.randn(outputs, rank, generator=generator) * scale
        if kohya:
            # kohya's names: diffusers' module paths with underscores; the text encoder under text_model.
            module = name if part == "unet" or name.startswith("text_model.") else f"text_model.{name}"
            prefix = ("lora_unet_" if part == "unet" else "lora_te_") + module.replace(".", "_")
            tensors |= {
                f"{prefix}.lora_down.weight": down,
                f"{prefix}.lora_up.weight": up,
                f"{prefix}.alpha": torch.tensor(float(rank)),
            }
        else:
            tensors |= {f"{part}.{name}.lora_A.weight": down, f"{part}.{name}.lora_B.weight": up}
    save_file(tensors, str(path), metadata=metadata)
    return path


@functools.cache
def tiny_sdxl_layers(cache: Path) -> dict[str, list[tuple[str, int, int]]]:
    """The tiny SDXL model's attention projections, per part: unet, text_encoder, text_encoder_2."""
    from transformers import CLIPTextModelWithProjection

    from studio.engine.families import Family

    folder = tiny_model_folder(cache, Family.SDXL)
    models = {
        "unet": (UNet2DConditionModel.from_pretrained(folder / "unet"), UNET_TARGETS),
        "text_encoder": (CLIPTextModel.from_pretrained(folder / "text_encoder"), TEXT_TARGETS),
        "text_encoder_2": (CLIPTextModelWithProjection.from_pretrained(folder / "text_encoder_2"), TEXT_TARGETS),
    }
    return {
        part: [
            (name, module.in_features, module.out_features)
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name.endswith(targets)
        ]
        for part, (model, targets) in models.items()
    }


def make_sdxl_lora(path: Path, cache: Path, *, seed: int, kohya: bool, rank: int = 4, scale: float = 0.5) -> Path:
    """An SDXL LoRA on the UNet and both text encoders, in diffusers' names or kohya's (the UNet in the
    original layout's names, `lora_unet_input_blocks_...`, the encoders as te1 and te2), as sd-scripts writes."""
    import json

    from studio.engine.families import Family
    from tests.ldm_checkpoints import ldm_unet_names

    generator = torch.Generator().manual_seed(seed)
    layers = tiny_sdxl_layers(cache)
    unet_config = json.loads((tiny_model_folder(cache, Family.SDXL) / "unet" / "config.json").read_text())
    ldm = ldm_unet_names([name for name, _, _ in layers["unet"]], unet_config)
    tensors: dict[str, torch.Tensor] = {}
    for part, part_layers in layers.items():
        for name, inputs, outputs in part_layers:
            down = torch.randn(rank, inputs, generator=generator) * scale
            up = torch.randn(outputs, rank, generator=generator) * scale
            if not kohya:
                tensors |= {f"{part}.{name}.lora_A.weight": down, f"{part}.{name}.lora_B.weight": up}
                continue
            if part == "unet":
                prefix = "lora_unet_" + ldm[name].replace(".", "_")
            else:
                module = name if name.startswith("text_model.") else f"text_model.{name}"
                prefix = ("lora_te1_" if part == "text_encoder" else "lora_te2_") + module.replace(".", "_")
            tensors |= {
                f"{prefix}.lora_down.weight": down,
                f"{prefix}.lora_up.weight": up,
                f"{prefix}.alpha": torch.tensor(float(rank)),
            }
    save_file(tensors, str(path))
    return path
