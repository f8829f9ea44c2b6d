"""The LoRA library: what LoRA files there are, and what they say about themselves. Pure, no torch.

A .safetensors file starts with its JSON header, so names, sizes, trainers' metadata (kohya's
`ss_*` keys) and key names can all be read without loading a tensor.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import InputError

SAFE_SUFFIXES = (".safetensors",)
PICKLED_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
_LORA_KEY_MARKS = ("lora_down", "lora_up", "lora_A", "lora_B", ".lora.", "lora.down", "lora.up")
_MAX_HEADER = 100 * 1024 * 1024


# The hash of the folder a LoRA was trained on, written by the studio's trainer (studio/train/dataset.py).
TRAINING_FOLDER_KEY = "studio_dataset_sha256"


def training_folder_hash(path: Path) -> str | None:
    """The hash of the folder the studio trained this LoRA on; None for a LoRA made elsewhere."""
    metadata = read_header(path).get("__metadata__") or {}
    value = metadata.get(TRAINING_FOLDER_KEY)
    return value if isinstance(value, str) else None


class LoraError(InputError):
    """A LoRA cannot be found or used. The message says what to do."""


@dataclass(frozen=True)
class LoraInfo:
    name: str
    path: Path
    size_bytes: int
    base: str
    trigger_words: tuple[str, ...]
    preview: Path | None


def read_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file (tensor entries plus `__metadata__`)."""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _MAX_HEADER:
                raise InputError("header too large")
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as error:
        raise LoraError(f"{path.name} is not a readable .safetensors file ({error})") from None
    if not isinstance(header, dict):
        raise LoraError(f"{path.name} is not a readable .safetensors file")
    return header


def check_is_lora(path: Path) -> None:
    keys = [key for key in read_header(path) if key != "__metadata__"]
    if not any(mark in key for key in keys for mark in _LORA_KEY_MARKS):
        raise LoraError(f"{path.name} is not a LoRA: it holds no LoRA weights (is it a full model or an embedding?)")


def list_loras(folder: Path | None) -> list[LoraInfo]:
    """Every LoRA in the library folder (and its sub-folders), by name."""
    if folder is None or not folder.is_dir():
        return []
    infos = []
    for path in sorted(folder.rglob("*.safetensors")):
        try:
            header = read_header(path)
        except LoraError:
            continue
        if not any(mark in key for key in header for mark in _LORA_KEY_MARKS):
            continue
        metadata = header.get("__metadata__") or {}
        infos.append(
            LoraInfo(
                name=path.stem,
                path=path,
                size_bytes=path.stat().st_size,
                base=_base(metadata, header),
                trigger_words=_trigger_words(path, metadata),
                preview=next((p for p in _preview_candidates(path) if p.is_file()), None),
            )
        )
    return infos


def library_name(name: str) -> str:
    """How a LoRA is named in texts others read: its library name, or a path's file name without suffix."""
    candidate = Path(name)
    if candidate.suffix.lower() in SAFE_SUFFIXES + PICKLED_SUFFIXES or len(candidate.parts) > 1:
        return candidate.stem
    return name


def resolve(name: str, folder: Path | None, *, allow_pickle: bool = False) -> Path:
    """The file a LoRA name (library name, or a path) stands for."""
    candidate = Path(name).expanduser()
    if candidate.suffix.lower() in SAFE_SUFFIXES + PICKLED_SUFFIXES or candidate.is_absolute():
        path = candidate
    else:
        matches = [info.path for info in list_loras(folder) if info.name == name]
        if not matches:
            where = f"in {folder}" if folder else "(no LoRA folder is set)"
            raise LoraError(f"no LoRA named {name!r} {where}; put its .safetensors file there or give its path")
        path = matches[0]
    if not path.is_file():
        raise LoraError(f"LoRA file {path} does not exist")
    if path.suffix.lower() in PICKLED_SUFFIXES:
        if not allow_pickle:
            raise LoraError(
                f"{path.name} is pickled (loading it can run code); use a .safetensors LoRA or --allow-pickle"
            )
        return path
    check_is_lora(path)
    return path


# Layer names only one family's LoRAs have: kohya names SDXL's two text encoders te1/te2 and its UNet
# blocks as the original code does (input_blocks...); SDXL has no attention in its first down block.
_SDXL_MARKS = ("lora_te1_", "lora_te2_", "text_encoder_2.", "lora_unet_input_blocks_", "lora_unet_output_blocks_")
# Flux's transformer blocks as kohya (`lora_unet_double_blocks_0_...`), ai-toolkit/diffusers (`transformer.
# transformer_blocks.0...`, `single_transformer_blocks`) and Black Forest Labs (`double_blocks.0...`) name them.
_FLUX_MARKS = ("double_blocks", "single_blocks", "single_transformer_blocks.", "transformer.transformer_blocks.")
_SD15_MARKS = ("lora_te_", "lora_unet_down_blocks_0_attentions_", "unet.down_blocks.0.attentions.")


def lora_family(header: dict[str, Any]) -> str | None:
    """ "Flux.1", "SDXL" or "SD 1.5" when the LoRA's layer names say so, None when they do not (then its shapes
    decide). Flux's first: a kohya Flux LoRA names its CLIP layers `lora_te1_` as SDXL's do."""
    keys = [key for key in header if key != "__metadata__"]
    if any(mark in key for key in keys for mark in _FLUX_MARKS):
        return "Flux.1"
    if any(key.startswith(_SDXL_MARKS) or "text_encoder_2." in key for key in keys):
        return "SDXL"
    if any(key.startswith(_SD15_MARKS) or ".down_blocks.0.attentions." in key for key in keys):
        return "SD 1.5"
    return None


def cross_attention_width(header: dict[str, Any]) -> int | None:
    """The text width the LoRA's cross-attention layers read (768 for SD 1.5, 2048 for SDXL), if it has them."""
    for key, entry in header.items():
        flat = key.replace("_", ".")
        if "attn2.to.k" in flat and any(mark in flat for mark in ("lora.down.weight", "lora.A.weight")):
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if isinstance(shape, list) and len(shape) == 2:
                return int(shape[1])
    return None


def _base(metadata: dict[str, str], header: dict[str, Any]) -> str:
    for key in ("studio_base_model", "ss_base_model_version", "ss_sd_model_name", "modelspec.architecture"):
        if metadata.get(key):
            return str(metadata[key])
    family = lora_family(header)
    return f"{family} (by layer names)" if family else "unknown"


def _trigger_words(path: Path, metadata: dict[str, str]) -> tuple[str, ...]:
    sidecar = path.with_suffix(".txt")
    if sidecar.is_file():
        return tuple(word.strip() for word in sidecar.read_text(encoding="utf-8").split(",") if word.strip())
    if metadata.get("studio_trigger_word"):
        return (metadata["studio_trigger_word"],)
    try:
        frequencies = json.loads(metadata.get("ss_tag_frequency") or "{}")
    except ValueError:
        return ()
    counts: dict[str, int] = {}
    for tags in frequencies.values() if isinstance(frequencies, dict) else ():
        for tag, count in (tags or {}).items():
            counts[tag.strip()] = counts.get(tag.strip(), 0) + int(count)
    return tuple(sorted(counts, key=lambda tag: -counts[tag])[:5])


def _preview_candidates(path: Path) -> list[Path]:
    return [path.with_name(path.stem + suffix) for suffix in (".preview.png", ".png", ".jpg", ".jpeg", ".webp")]
