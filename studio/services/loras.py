"""The LoRA library, app-wide: what it holds, training into it, the memorization check, and its files' hashes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PIL import Image

from studio.access.offered import Offered
from studio.errors import NotAvailable
from studio.formats import png_text
from studio.formats.hashes import HashCache
from studio.live.few_step import FewStep, few_step_of
from studio.lora_library import LoraInfo, list_loras, read_header, training_folder_hash
from studio.lora_library import resolve as resolve_lora
from studio.progress import TrainingProgress, TrainingResult
from studio.recipe import LoraRef, Recipe
from studio.train.report import MemorizationReport
from studio.train.settings import TrainingSettings


class Workshop(Protocol):
    """What the library needs from studio.train.workshop.LoraWorkshop: training and the memorization check."""

    def train(
        self,
        settings: TrainingSettings,
        output_dir: Path,
        on_progress: Callable[[TrainingProgress], None] | None = None,
    ) -> TrainingResult: ...

    def check(
        self, lora: Path, dataset: Path, *, resolution: int, on_progress: Callable[[int, int], None] | None = None
    ) -> MemorizationReport: ...


class Loras:
    """The LoRA folder (None: a studio without one) and the workshop that trains into it."""

    def __init__(
        self,
        folder: Path | None = None,
        *,
        workshop: Workshop | None = None,
        hashes: HashCache | None = None,
        offered: Offered | None = None,
    ) -> None:
        self.folder = folder
        self._workshop = workshop
        self._hashes = hashes
        self._offered = offered

    def all(self) -> list[LoraInfo]:
        """The library: name, base model, size, trigger words, preview."""
        return list_loras(self.folder)

    def hashes(self, loras: tuple[LoraRef, ...]) -> dict[str, str]:
        """A1111's `Lora hashes` for a run's effective LoRAs (the engine has already found their files)."""
        if self._hashes is None:
            return {}
        return {
            lora.name: self._hashes.lora_hash(resolve_lora(lora.name, self.folder, allow_pickle=True)) for lora in loras
        }

    def few_step(self, recipe: Recipe) -> FewStep | None:
        """The few-step settings (LCM, Lightning, Hyper-SD, TCD, Turbo) the recipe's LoRAs or model are made for."""
        found = []
        for lora in recipe.effective_loras:
            try:
                path = resolve_lora(lora.name, self.folder)
                metadata = read_header(path).get("__metadata__") or {}
            except (ValueError, OSError):
                path, metadata = Path(lora.name), {}  # the name alone still says what it is
            found.append((str(path), metadata))
        return few_step_of(recipe.model, found)

    def trained_on(self, name: str) -> str | None:
        """The hash of the folder a library LoRA was trained on, for the authorship record (None when unknown)."""
        try:
            return training_folder_hash(resolve_lora(name, self.folder))
        except (ValueError, OSError):
            return None  # a LoRA no longer here, or not a .safetensors: the record names it without its folder

    def train(
        self, settings: TrainingSettings, on_progress: Callable[[TrainingProgress], None] | None = None
    ) -> TrainingResult:
        """Train a LoRA into the library. It shares the GPU lane with generation; Models.stop() stops it."""
        if self._offered is not None:
            self._offered.refuse_server_folders("training")
        workshop, folder = self._require_workshop()
        samples: list[Image.Image] = []

        def keep_sample(progress: TrainingProgress) -> None:
            if progress.sample is not None:
                samples[:] = [progress.sample]
            if on_progress is not None:
                on_progress(progress)

        result = workshop.train(settings, folder, on_progress=keep_sample)
        if samples:  # the last sample is the LoRA's picture in the library
            png_text.write_plain_png(samples[0], result.lora.with_name(f"{result.lora.stem}.preview.png"))
        return result

    def check_memorization(
        self, lora: str, dataset: str, *, resolution: int = 512, on_progress: Callable[[int, int], None] | None = None
    ) -> MemorizationReport:
        """Sample the LoRA from the folder's captions and report how close each sample is to a training picture."""
        if self._offered is not None:
            self._offered.refuse_server_folders("the memorization check")
        path = resolve_lora(lora, self.folder)
        workshop, _ = self._require_workshop()
        return workshop.check(path, Path(dataset).expanduser(), resolution=resolution, on_progress=on_progress)

    def _require_workshop(self) -> tuple[Workshop, Path]:
        if self._workshop is None:  # launched with --ray: its engines are on the cluster's machines
            raise NotAvailable("training: this studio has no engine of its own to train on; start it without --ray")
        if self.folder is None:
            raise NotAvailable("training: this studio was started without a LoRA folder to train into")
        return self._workshop, self.folder
