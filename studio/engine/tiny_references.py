"""Tiny IP-Adapters for the tiny models: reference pictures without downloads, in the files' real layout.

An ipadapter folder as h94/IP-Adapter ships one: adapter files (`image_proj.*` and `ip_adapter.*` tensors in one
.safetensors) beside an `image_encoder/` folder holding a CLIP vision encoder with its projection. Three adapters:
the plain one (its `ImageProjection` makes 4 tokens from the encoder's image embedding), Plus (its
perceiver-resampler makes 4 tokens from the encoder's hidden states) and FaceID (a feed-forward makes 4 tokens
from a face's 512-value identity embedding, which insightface finds, and a LoRA on every attention, as
h94/IP-Adapter-FaceID's files carry one), written with the original IP-Adapter key names, so they load through
diffusers' own `load_ip_adapter` exactly as a downloaded file does.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from studio.engine.families import Family
from studio.engine.tiny import TINY_VERSION, _seeded, save_atomically, tiny_model_folder

PLAIN, PLUS = "ip-adapter_tiny.safetensors", "ip-adapter-plus_tiny.safetensors"
FACEID = "ip-adapter-faceid_tiny.safetensors"
IDENTITY_WIDTH = 512  # insightface's identity embedding (ArcFace), what FaceID reads
_LORA_RANK = 4
_FILES = 2  # the folder's revision: one more when an adapter is added (FaceID was)
_TOKENS = 4  # image tokens per reference, as the real adapters make
_RESAMPLER_WIDTH = 64  # diffusers reads the resampler's heads as its width // 64
_RESAMPLER_LAYERS = 4  # diffusers builds the resampler with 4 layers


def tiny_ip_adapter_folder(cache_dir: Path, family: Family = Family.SD15) -> Path:
    """An ipadapter folder for the tiny model of `family` (both adapters and the encoder), built on first use."""
    prefix = "tiny-ipadapter" if family is Family.SD15 else "tiny-sdxl-ipadapter"
    folder = cache_dir / f"{prefix}-v{TINY_VERSION}.{_FILES}"
    if not (folder / FACEID).is_file():
        unet = UNet2DConditionModel.from_pretrained(tiny_model_folder(cache_dir, family) / "unet")
        save_atomically(folder, FACEID, lambda staging: _write(staging, unet, seed=11 if family is Family.SD15 else 12))
    return folder


def _write(folder: Path, unet: UNet2DConditionModel, seed: int) -> None:
    with _seeded(seed):
        encoder = CLIPVisionModelWithProjection(
            CLIPVisionConfig(
                hidden_size=32,
                intermediate_size=37,
                projection_dim=32,
                num_hidden_layers=2,
                num_attention_heads=4,
                image_size=32,
                patch_size=4,
            )
        )
        encoder.save_pretrained(folder / "image_encoder", safe_serialization=True)
        width = int(unet.config["cross_attention_dim"])
        embed = encoder.config.projection_dim
        hidden = encoder.config.hidden_size
        plain = {
            "image_proj.proj.weight": _random(_TOKENS * width, embed),
            "image_proj.proj.bias": _random(_TOKENS * width),
            "image_proj.norm.weight": torch.ones(width),
            "image_proj.norm.bias": torch.zeros(width),
        }
        save_file(plain | _attention(unet), str(folder / PLAIN))
        save_file(_resampler(width, hidden) | _attention(unet), str(folder / PLUS))
        save_file(_face_projection(width) | _attention(unet) | _face_lora(unet), str(folder / FACEID))


def _random(*shape: int) -> torch.Tensor:
    return torch.randn(*shape) * 0.2


def _attention(unet: UNet2DConditionModel) -> dict[str, torch.Tensor]:
    """`to_k_ip` and `to_v_ip` for each cross-attention, numbered as the original code numbers its processors
    (every attention counts, and only the cross-attentions, the odd ones, have weights)."""
    tensors = {}
    number = 1
    width = int(unet.config["cross_attention_dim"])
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        to_k = unet.get_submodule(name.removesuffix(".processor") + ".to_k")
        assert isinstance(to_k, torch.nn.Linear)
        for key in ("to_k_ip", "to_v_ip"):
            tensors[f"ip_adapter.{number}.{key}.weight"] = _random(to_k.out_features, width)
        number += 2
    return tensors


def _resampler(width: int, encoder_width: int) -> dict[str, torch.Tensor]:
    """IP-Adapter Plus's image projection (the original `Resampler`'s names): learned queries attend to the image
    encoder's hidden states through a few perceiver layers."""
    inner = _RESAMPLER_WIDTH
    tensors = {
        "latents": _random(1, _TOKENS, inner),
        "proj_in.weight": _random(inner, encoder_width),
        "proj_in.bias": torch.zeros(inner),
        "proj_out.weight": _random(width, inner),
        "proj_out.bias": torch.zeros(width),
        "norm_out.weight": torch.ones(width),
        "norm_out.bias": torch.zeros(width),
    }
    for layer in range(_RESAMPLER_LAYERS):
        prefix = f"layers.{layer}"
        for norm in ("0.norm1", "0.norm2", "1.0"):
            tensors[f"{prefix}.{norm}.weight"] = torch.ones(inner)
            tensors[f"{prefix}.{norm}.bias"] = torch.zeros(inner)
        tensors[f"{prefix}.0.to_q.weight"] = _random(inner, inner)
        tensors[f"{prefix}.0.to_kv.weight"] = _random(2 * inner, inner)
        tensors[f"{prefix}.0.to_out.weight"] = _random(inner, inner)
        tensors[f"{prefix}.1.1.weight"] = _random(4 * inner, inner)
        tensors[f"{prefix}.1.3.weight"] = _random(inner, 4 * inner)
    return {f"image_proj.{key}": value for key, value in tensors.items()}


def _face_projection(width: int) -> dict[str, torch.Tensor]:
    """IP-Adapter FaceID's image projection (the original `MLPProjModel`'s names): the identity embedding through
    a feed-forward to 4 tokens, then a LayerNorm."""
    hidden = IDENTITY_WIDTH  # the real files' is twice as wide; diffusers reads the ratio from the shapes
    tensors = {
        "proj.0.weight": _random(hidden, IDENTITY_WIDTH),
        "proj.0.bias": torch.zeros(hidden),
        "proj.2.weight": _random(_TOKENS * width, hidden),
        "proj.2.bias": torch.zeros(_TOKENS * width),
        "norm.weight": torch.ones(width),
        "norm.bias": torch.zeros(width),
    }
    return {f"image_proj.{key}": value for key, value in tensors.items()}


def _face_lora(unet: UNet2DConditionModel) -> dict[str, torch.Tensor]:
    """FaceID's LoRA on the query, key, value and output of every attention, numbered as the original numbers its
    processors (all of them, from 0), which diffusers loads as a LoRA named faceid_0."""
    tensors = {}
    for number, name in enumerate(unet.attn_processors):
        attention = name.removesuffix(".processor")
        for part, layer in (("to_q", "to_q"), ("to_k", "to_k"), ("to_v", "to_v"), ("to_out", "to_out.0")):
            linear = unet.get_submodule(f"{attention}.{layer}")
            assert isinstance(linear, torch.nn.Linear)
            tensors[f"ip_adapter.{number}.{part}_lora.down.weight"] = _random(_LORA_RANK, linear.in_features)
            tensors[f"ip_adapter.{number}.{part}_lora.up.weight"] = _random(linear.out_features, _LORA_RANK) * 0.5
    return tensors
