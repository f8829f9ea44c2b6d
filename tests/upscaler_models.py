"""A small ESRGAN of random weights, saved as the upscaler files users have: the real spandrel loading path."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file


def write_tiny_esrgan(path: Path, *, scale: int = 4, seed: int = 0) -> Path:
    """An ESRGAN (16 filters, 1 block) whose output is a visible picture, not the near-black of a fresh init."""
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(seed)
    network = ESRGAN(in_nc=3, out_nc=3, num_filters=16, num_blocks=1, scale=scale)
    weights = {name: tensor.clone() for name, tensor in network.state_dict().items()}
    last = sorted((name for name in weights if name.endswith(".weight")), key=lambda n: int(n.split(".")[1]))[-1]
    weights[last] *= 40  # spreads the output over the whole range...
    weights[last.replace(".weight", ".bias")] += 0.5  # ...around mid grey
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".pth":  # as most upscalers are shared: a pickled state dict
        torch.save(weights, path)
    else:
        save_file(weights, str(path))
    return path
