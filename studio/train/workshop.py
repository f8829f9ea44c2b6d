"""LoRA training and the memorization check, bound to one engine (built by launch.py, used by the LoRA library service)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.engine.engine import Engine
from studio.progress import TrainingResult
from studio.train.memorization import check_memorization
from studio.train.report import MemorizationReport
from studio.train.settings import TrainingSettings
from studio.train.trainer import train_lora


class LoraWorkshop:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def train(
        self, settings: TrainingSettings, output_dir: Path, on_progress: Callable[[Any], None] | None = None
    ) -> TrainingResult:
        return train_lora(self.engine, settings, output_dir, on_progress=on_progress)

    def check(
        self, lora: Path, dataset: Path, *, resolution: int, on_progress: Callable[[int, int], None] | None = None
    ) -> MemorizationReport:
        return check_memorization(self.engine, lora, dataset, resolution=resolution, on_progress=on_progress)
