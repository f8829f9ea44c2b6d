"""Tiny textual-inversion files in the layouts people share, written with seeded random vectors."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

SD15_WIDTH = 32  # the tiny SD 1.5 text encoder's width (768 in a real one)
SDXL_WIDTHS = {"clip_l": 32, "clip_g": 48}  # the tiny SDXL's two encoders (768 and 1280 in a real one)


def vectors(count: int, width: int, seed: int) -> torch.Tensor:
    return torch.randn(count, width, generator=torch.Generator().manual_seed(seed))


def write_sd15(folder: Path, name: str, count: int = 2, seed: int = 1) -> Path:
    """A1111's and Civitai's .safetensors layout for SD 1.5: one tensor under `emb_params`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    save_file({"emb_params": vectors(count, SD15_WIDTH, seed)}, str(path))
    return path


def write_sdxl(folder: Path, name: str, count: int = 2, seed: int = 2) -> Path:
    """The SDXL layout: `clip_l` and `clip_g`, one tensor per text encoder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    save_file({key: vectors(count, width, seed + i) for i, (key, width) in enumerate(SDXL_WIDTHS.items())}, str(path))
    return path


def write_a1111_pt(folder: Path, name: str, count: int = 2, seed: int = 3) -> Path:
    """A1111's own pickled .pt, as its trainer saves it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pt"
    torch.save(
        {
            "string_to_token": {"*": 265},
            "string_to_param": {"*": vectors(count, SD15_WIDTH, seed)},
            "name": name,
            "step": 1000,
        },
        path,
    )
    return path
