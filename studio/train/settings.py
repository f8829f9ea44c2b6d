"""What a LoRA training run is asked to do, as frozen, validated, pure data (no torch)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from studio.recipe import RecipeError

SCHEMA_VERSION = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# The attention projections, as kohya and diffusers train them by default.
ATTENTION_LAYERS = ("to_q", "to_k", "to_v", "to_out.0")


@dataclass(frozen=True)
class TrainingSettings:
    dataset: str  # a folder of pictures, each with an optional same-named .txt caption
    name: str  # the LoRA's file name (without .safetensors)
    trigger_word: str = ""
    rank: int = 8
    alpha: float = 8.0
    learning_rate: float = 1e-4
    steps: int = 500
    epochs: int | None = None  # when set, overrides steps: every picture seen this many times
    batch_size: int = 1
    resolution: int = 512
    bucketing: bool = True  # keep aspect ratios in buckets; False: centre crop to a square
    seed: int = 0
    train_text_encoder: bool = False  # on SDXL: both text encoders
    # Recompute activations in the backward pass instead of keeping them: SDXL at 1024 px in 12-24 GB.
    gradient_checkpointing: bool = False
    save_every: int = 100
    sample_every: int = 100
    sample_prompt: str = ""
    target_layers: tuple[str, ...] = ATTENTION_LAYERS

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_layers", tuple(self.target_layers))
        checks: list[tuple[str, bool, str]] = [
            ("dataset", bool(self.dataset.strip()), "choose a folder of pictures"),
            (
                "name",
                bool(self.name.strip()) and "/" not in self.name and "\\" not in self.name,
                "give the LoRA a file name",
            ),
            ("rank", 1 <= self.rank <= 256, f"{self.rank} is out of range (1 to 256)"),
            ("alpha", 0 < self.alpha <= 512, f"{self.alpha} is out of range (above 0, up to 512)"),
            ("learning_rate", 0 < self.learning_rate <= 1, f"{self.learning_rate} is out of range (above 0, up to 1)"),
            ("steps", 1 <= self.steps <= 100_000, f"{self.steps} is out of range (1 to 100000)"),
            (
                "epochs",
                self.epochs is None or 1 <= self.epochs <= 10_000,
                f"{self.epochs} is out of range (1 to 10000)",
            ),
            ("batch_size", 1 <= self.batch_size <= 64, f"{self.batch_size} is out of range (1 to 64)"),
            (
                "resolution",
                64 <= self.resolution <= 2048 and self.resolution % 64 == 0,
                "use a multiple of 64 from 64 to 2048",
            ),
            ("save_every", self.save_every >= 1, "must be at least 1"),
            ("sample_every", self.sample_every >= 1, "must be at least 1"),
            ("target_layers", bool(self.target_layers), "name at least one layer to train"),
        ]
        for field_name, ok, message in checks:
            if not ok:
                raise RecipeError(field_name, message)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **dataclasses.asdict(self), "target_layers": list(self.target_layers)}
