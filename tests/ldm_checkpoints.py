"""Single-file checkpoints in the original (LDM / Stability) key layout, made from a tiny diffusers folder.

Model sites ship SD 1.5 and SDXL models as one .safetensors file with the names the original code
used (`model.diffusion_model.input_blocks...`, `first_stage_model...`, `cond_stage_model...` or
`conditioner.embedders...`). These are the renames of diffusers' own conversion scripts
(scripts/convert_diffusers_to_original_{stable_diffusion,sdxl}.py), written for any number of blocks
so that the tiny models convert too. The studio never writes checkpoints; tests make them to load.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

_RESNET = [
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
]
_UNET_TOP = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}


def write_checkpoint(folder: Path, path: Path, *, extra_keys: tuple[str, ...] = ()) -> Path:
    """Write the diffusers model in `folder` as one LDM-layout .safetensors file at `path`.

    `extra_keys` become empty marker tensors, as v-prediction checkpoints carry `v_pred` and `ztsnr`.
    """
    sdxl = (folder / "text_encoder_2").is_dir()
    unet_config = json.loads((folder / "unet" / "config.json").read_text())
    state = {"model.diffusion_model." + k: v for k, v in _unet(_weights(folder / "unet"), unet_config).items()}
    state |= {"first_stage_model." + k: v for k, v in _vae(_weights(folder / "vae")).items()}
    text = _text_model(_weights(folder / "text_encoder"))
    prefix = "conditioner.embedders.0.transformer." if sdxl else "cond_stage_model.transformer."
    state |= {prefix + k: v for k, v in text.items()}
    if sdxl:
        open_clip = _open_clip(_text_model(_weights(folder / "text_encoder_2")))
        state |= {"conditioner.embedders.1.model." + k: v for k, v in open_clip.items()}
    state |= {key: torch.tensor([]) for key in extra_keys}
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def _weights(component: Path) -> dict[str, torch.Tensor]:
    files = sorted(component.glob("*.safetensors"))
    return {k: v for file in files for k, v in load_file(str(file)).items()}


def _unet(weights: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    layers = config["layers_per_block"]
    blocks = len(config["block_out_channels"])
    prefixes: list[tuple[str, str]] = []
    index = 0
    for block in range(blocks):
        for layer in range(layers):
            index += 1
            prefixes.append((f"down_blocks.{block}.resnets.{layer}.", f"input_blocks.{index}.0."))
            prefixes.append((f"down_blocks.{block}.attentions.{layer}.", f"input_blocks.{index}.1."))
        if block < blocks - 1:
            index += 1
            prefixes.append((f"down_blocks.{block}.downsamplers.0.conv.", f"input_blocks.{index}.0.op."))
    index = 0
    for block in range(blocks):
        attention = config["up_block_types"][block].startswith("CrossAttn")
        for layer in range(layers + 1):
            prefixes.append((f"up_blocks.{block}.resnets.{layer}.", f"output_blocks.{index}.0."))
            prefixes.append((f"up_blocks.{block}.attentions.{layer}.", f"output_blocks.{index}.1."))
            if layer == layers and block < blocks - 1:
                slot = 2 if attention else 1
                prefixes.append((f"up_blocks.{block}.upsamplers.0.", f"output_blocks.{index}.{slot}."))
            index += 1
    prefixes += [
        ("mid_block.resnets.0.", "middle_block.0."),
        ("mid_block.attentions.0.", "middle_block.1."),
        ("mid_block.resnets.1.", "middle_block.2."),
    ]
    converted = {}
    for name, tensor in weights.items():
        new = _rename_prefix(name, _UNET_TOP.items())
        if new == name:
            new = _rename_prefix(name, prefixes)
            if new == name:
                raise ValueError(f"no LDM name for the UNet weight {name}")
            if ".resnets." in name:
                for ours, theirs in _RESNET:
                    new = new.replace(f".{ours}.", f".{theirs}.")
        converted[new] = tensor
    return converted


def ldm_unet_names(modules: list[str], config: dict) -> dict[str, str]:
    """The original layout's name of each diffusers UNet module (as kohya's SDXL LoRAs name them)."""
    weights = {f"{module}.weight": torch.empty(0) for module in modules}
    renamed = _unet(weights, config)
    by_tensor = {id(tensor): name for name, tensor in renamed.items()}
    return {module: by_tensor[id(weights[f"{module}.weight"])].removesuffix(".weight") for module in modules}


def _vae(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    blocks = 1 + max(int(m.group(1)) for name in weights if (m := re.match(r"decoder\.up_blocks\.(\d+)\.", name)))
    prefixes: list[tuple[str, str]] = []
    for block in range(blocks):
        prefixes.append((f"encoder.down_blocks.{block}.resnets.", f"encoder.down.{block}.block."))
        prefixes.append((f"encoder.down_blocks.{block}.downsamplers.0.", f"encoder.down.{block}.downsample."))
        up = blocks - 1 - block  # the original numbers the decoder's blocks from the bottom
        prefixes.append((f"decoder.up_blocks.{block}.resnets.", f"decoder.up.{up}.block."))
        prefixes.append((f"decoder.up_blocks.{block}.upsamplers.0.", f"decoder.up.{up}.upsample."))
    for part in ("encoder", "decoder"):
        prefixes += [
            (f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1."),
            (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2."),
            (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1."),
            (f"{part}.conv_norm_out.", f"{part}.norm_out."),
        ]
    attention = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}
    converted = {}
    for name, tensor in weights.items():
        new = _rename_prefix(name, prefixes).replace("conv_shortcut", "nin_shortcut")
        if ".mid.attn_1." in new:
            head, tail = new.split(".mid.attn_1.")
            tail = _rename_prefix(tail, attention.items())
            new = f"{head}.mid.attn_1.{tail}"
            if tensor.ndim == 2:  # linear in diffusers, a 1x1 convolution in the original
                tensor = tensor.reshape(*tensor.shape, 1, 1)
        converted[new] = tensor
    return converted


def _text_model(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers' CLIP names, with the `text_model.` prefix the original checkpoints keep."""
    return {
        (k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v for k, v in weights.items()
    }


_OPEN_CLIP = [
    ("text_model.encoder.layers.", "transformer.resblocks."),
    ("text_model.final_layer_norm.", "ln_final."),
    ("text_model.embeddings.token_embedding.weight", "token_embedding.weight"),
    ("text_model.embeddings.position_embedding.weight", "positional_embedding"),
]
_OPEN_CLIP_LAYER = [("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"), (".fc1.", ".c_fc."), (".fc2.", ".c_proj.")]


def _open_clip(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """OpenCLIP's names for SDXL's second text encoder: fused q/k/v, a transposed projection."""
    converted: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, list[torch.Tensor | None]]] = {}
    for name, tensor in weights.items():
        if name == "text_projection.weight":
            converted["text_projection"] = tensor.T.contiguous()
            continue
        if "position_ids" in name:
            continue
        match = re.match(r"(.*)\.self_attn\.([qkv])_proj\.(weight|bias)$", name)
        if match:
            layer, which, kind = match.groups()
            fused.setdefault(layer, {}).setdefault(kind, [None, None, None])["qkv".index(which)] = tensor
            continue
        new = _rename_prefix(name, _OPEN_CLIP).replace(".self_attn.", ".attn.")
        for ours, theirs in _OPEN_CLIP_LAYER:
            new = new.replace(ours, theirs)
        converted[new] = tensor
    for layer, kinds in fused.items():
        base = _rename_prefix(layer, _OPEN_CLIP)
        for kind, parts in kinds.items():
            converted[f"{base}.attn.in_proj_{kind}"] = torch.cat([p for p in parts if p is not None])
    return converted


def _rename_prefix(name: str, pairs) -> str:
    for ours, theirs in pairs:
        if name.startswith(ours):
            return theirs + name[len(ours) :]
    return name
