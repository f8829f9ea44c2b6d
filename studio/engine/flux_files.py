"""Flux.1 transformers as single files, the way Black Forest Labs and Civitai ship them.

A Flux fine-tune is usually one `.safetensors` of the transformer alone (bf16, or fp8 to halve it), in Black Forest
Labs' key layout (`double_blocks.0.img_attn.qkv.weight`, ...; ComfyUI saves add `model.diffusion_model.`). Its text
encoders and VAE are Flux.1's own and come from a Flux model in diffusers' layout: one the artist names
(`--flux-base`), or one found beside the file. The key layout is converted here, both ways, from tables: diffusers'
own converter fixes FLUX.1's width (3072) into its code, so it reads no other width, and it would need a
configuration from the hub.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

# Black Forest Labs' name -> diffusers' name, for layers whose `.weight` and `.bias` move as they are.
_RENAMED = {
    "time_in.in_layer": "time_text_embed.timestep_embedder.linear_1",
    "time_in.out_layer": "time_text_embed.timestep_embedder.linear_2",
    "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
    "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
    "guidance_in.in_layer": "time_text_embed.guidance_embedder.linear_1",
    "guidance_in.out_layer": "time_text_embed.guidance_embedder.linear_2",
    "txt_in": "context_embedder",
    "img_in": "x_embedder",
    "final_layer.linear": "proj_out",
}
_DOUBLE_RENAMED = {
    "img_mod.lin": "norm1.linear",
    "txt_mod.lin": "norm1_context.linear",
    "img_mlp.0": "ff.net.0.proj",
    "img_mlp.2": "ff.net.2",
    "txt_mlp.0": "ff_context.net.0.proj",
    "txt_mlp.2": "ff_context.net.2",
    "img_attn.proj": "attn.to_out.0",
    "txt_attn.proj": "attn.to_add_out",
}
_SINGLE_RENAMED = {"modulation.lin": "norm.linear", "linear2": "proj_out"}
# Black Forest Labs' fused projections: one matrix whose rows are diffusers' separate ones, in this order.
_DOUBLE_FUSED = {
    "img_attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
    "txt_attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"),
}
_SINGLE_FUSED = {"linear1": ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")}
# The query/key RMS norms: a `.scale` there, a `.weight` in diffusers.
_DOUBLE_NORMS = {
    "img_attn.norm.query_norm.scale": "attn.norm_q.weight",
    "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
    "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
    "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight",
}
_SINGLE_NORMS = {"norm.query_norm.scale": "attn.norm_q.weight", "norm.key_norm.scale": "attn.norm_k.weight"}


def to_original_flux_keys(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A diffusers Flux transformer's weights in Black Forest Labs' layout: the inverse of diffusers'
    `convert_flux_transformer_checkpoint_to_diffusers`.

    Every diffusers weight must land somewhere: a diffusers upgrade that adds one raises here instead of
    writing a file that silently loads with a layer left at its initial values."""
    remaining = dict(weights)
    original: dict[str, torch.Tensor] = {}

    def move(names: dict[str, str], source: str = "", target: str = "", suffixes=(".weight", ".bias")) -> None:
        for ours, theirs in names.items():
            for suffix in suffixes:
                original[target + ours + suffix] = remaining.pop(source + theirs + suffix)

    def fuse(names: dict[str, tuple[str, ...]], source: str, target: str) -> None:
        for ours, parts in names.items():
            for suffix in (".weight", ".bias"):
                original[target + ours + suffix] = torch.cat([remaining.pop(source + part + suffix) for part in parts])

    move(_RENAMED)
    for block in _block_numbers(weights, "transformer_blocks."):
        source, target = f"transformer_blocks.{block}.", f"double_blocks.{block}."
        move(_DOUBLE_RENAMED, source, target)
        move(_DOUBLE_NORMS, source, target, suffixes=("",))
        fuse(_DOUBLE_FUSED, source, target)
    for block in _block_numbers(weights, "single_transformer_blocks."):
        source, target = f"single_transformer_blocks.{block}.", f"single_blocks.{block}."
        move(_SINGLE_RENAMED, source, target)
        move(_SINGLE_NORMS, source, target, suffixes=("",))
        fuse(_SINGLE_FUSED, source, target)
    # The original's final modulation yields (shift, scale); diffusers' yields (scale, shift).
    for suffix in (".weight", ".bias"):
        scale, shift = remaining.pop("norm_out.linear" + suffix).chunk(2, dim=0)
        original["final_layer.adaLN_modulation.1" + suffix] = torch.cat([shift, scale])
    if remaining:
        raise ValueError(f"no Black Forest Labs name for these Flux weights: {sorted(remaining)}")
    return {name: tensor.contiguous() for name, tensor in original.items()}


def _block_numbers(weights: dict[str, torch.Tensor], prefix: str) -> list[int]:
    return sorted({int(key.split(".")[1]) for key in weights if key.startswith(prefix)})


# What a file's keys may start with besides the transformer's own names (ComfyUI's saves of the whole model).
_PREFIXES = ("model.diffusion_model.",)
FLOAT8 = tuple(getattr(torch, name) for name in ("float8_e4m3fn", "float8_e5m2") if hasattr(torch, name))


def from_original_flux_keys(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Black Forest Labs' layout -> diffusers' (`FluxTransformer2DModel`'s state dict): the inverse of
    `to_original_flux_keys`, with each fused projection split by the widths its own shapes give."""
    remaining = dict(weights)
    converted: dict[str, torch.Tensor] = {}

    def move(names: dict[str, str], source: str = "", target: str = "", suffixes=(".weight", ".bias")) -> None:
        for theirs, ours in names.items():
            for suffix in suffixes:
                converted[target + ours + suffix] = remaining.pop(source + theirs + suffix)

    def split(names: dict[str, tuple[str, ...]], source: str, target: str, sizes: dict[str, list[int]]) -> None:
        for theirs, parts in names.items():
            for suffix in (".weight", ".bias"):
                pieces = remaining.pop(source + theirs + suffix).split(sizes[theirs])
                converted.update({target + part + suffix: piece for part, piece in zip(parts, pieces, strict=True)})

    move({ours: theirs for ours, theirs in _RENAMED.items() if f"{ours}.weight" in weights})
    for block in _block_numbers(weights, "double_blocks."):
        source, target = f"double_blocks.{block}.", f"transformer_blocks.{block}."
        width = weights[source + "img_attn.proj.weight"].shape[0]
        move(_DOUBLE_RENAMED, source, target)
        move({theirs: ours for theirs, ours in _DOUBLE_NORMS.items()}, source, target, suffixes=("",))
        split(_DOUBLE_FUSED, source, target, {name: [width] * 3 for name in _DOUBLE_FUSED})
    for block in _block_numbers(weights, "single_blocks."):
        source, target = f"single_blocks.{block}.", f"single_transformer_blocks.{block}."
        width, joined = _shape(weights[source + "linear2.weight"])  # attention's width, and it with the MLP's
        move(_SINGLE_RENAMED, source, target)
        move({theirs: ours for theirs, ours in _SINGLE_NORMS.items()}, source, target, suffixes=("",))
        split(_SINGLE_FUSED, source, target, {"linear1": [width] * 3 + [joined - width]})
    for suffix in (".weight", ".bias"):
        shift, scale = remaining.pop("final_layer.adaLN_modulation.1" + suffix).chunk(2, dim=0)
        converted["norm_out.linear" + suffix] = torch.cat([scale, shift])
    if remaining:
        raise ValueError(f"weights this studio does not know in a Flux transformer: {sorted(remaining)[:5]}")
    return converted


def transformer_weights(path: Path, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The Flux transformer's weights in `path` (prefixes taken off, other models' parts left out), in diffusers'
    layout and `dtype` (an fp8 file's weights are widened: the studio computes in bf16 or fp32)."""
    from safetensors.torch import load_file

    weights: dict[str, torch.Tensor] = {}
    for key, tensor in load_file(str(path)).items():
        key = next((key[len(prefix) :] for prefix in _PREFIXES if key.startswith(prefix)), key)
        if key.split(".")[0] in _TRANSFORMER_PARTS:
            weights[key] = tensor.to(dtype)
    return from_original_flux_keys(weights)


def gguf_transformer_weights(path: Path) -> dict[str, torch.Tensor]:
    """A GGUF Flux transformer's weights (as city96 ships them: Black Forest Labs' keys) in diffusers' layout. Each
    quantized weight stays quantized (diffusers' `GGUFParameter`, dequantized layer by layer as it runs): the point
    of the file is the GPU memory it saves."""
    from diffusers.models.model_loading_utils import load_gguf_checkpoint

    weights: dict[str, torch.Tensor] = {}
    for key, tensor in load_gguf_checkpoint(str(path)).items():
        key = next((key[len(prefix) :] for prefix in _PREFIXES if key.startswith(prefix)), key)
        if key.split(".")[0] in _TRANSFORMER_PARTS:
            weights[key] = tensor
    if not any(key.startswith("double_blocks.") for key in weights):
        raise ValueError(f"{path.name} is not a Flux transformer (the studio reads GGUF files of Flux.1 only)")
    return from_original_flux_keys(weights)


def _shape(tensor: torch.Tensor) -> tuple[int, ...]:
    """A weight's shape; a GGUF-quantized one's as the weights it holds, not as its blocks of bytes."""
    return tuple(getattr(tensor, "quant_shape", tensor.shape))


def transformer_config(base: Path, weights: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The base model's transformer configuration, as the file's own shapes say where they differ (a schnell
    fine-tune has no guidance input; the number of blocks is the file's; so are its inputs and outputs, whichever
    Flux folder serves the encoders: a Fill model's beside a dev file must not make it read as Fill)."""
    config = json.loads((base / "transformer" / "config.json").read_text(encoding="utf-8"))
    config["guidance_embeds"] = "time_text_embed.guidance_embedder.linear_1.weight" in weights
    config["in_channels"] = _shape(weights["x_embedder.weight"])[1]
    config["out_channels"] = _shape(weights["proj_out.weight"])[0]
    config["num_layers"] = len(_block_numbers(weights, "transformer_blocks."))
    config["num_single_layers"] = len(_block_numbers(weights, "single_transformer_blocks."))
    return config


def is_flux_base(folder: Path) -> bool:
    """Whether `folder` holds a Flux model in diffusers' layout (its text encoders and VAE can serve a file)."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(index, dict) and str(index.get("_class_name", "")).startswith("Flux")


def base_beside(path: Path) -> Path | None:
    """A Flux model in diffusers' layout in the file's folder or the folder above it, the first by name."""
    for folder in (path.parent, path.parent.parent):
        found = sorted(child for child in folder.iterdir() if child.is_dir() and is_flux_base(child))
        if found:
            return found[0]
    return None


_TRANSFORMER_PARTS = frozenset(
    ("double_blocks", "single_blocks", "final_layer", *(name.split(".")[0] for name in _RENAMED))
)
