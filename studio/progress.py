"""What long work reports while it runs, and what training ends with: pure data the facade and the window share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class StepProgress:
    """One denoising step done, with a cheap preview of the picture so far."""

    step: int
    total: int
    preview: Image.Image | None


@dataclass(frozen=True)
class RunReport:
    """Where a session's latest run stands, for a window that was reloaded while it ran."""

    progress: StepProgress | None  # the last step done
    finished: bool = False
    node_id: str | None = None  # the saved node, once finished
    failed: str | None = None  # why it did not finish (stopped, or the error's message)


@dataclass(frozen=True)
class TrainingProgress:
    """One training step done: its loss, a sample when one was drawn, the file when one was saved."""

    step: int
    total: int
    loss: float
    sample: Image.Image | None = None
    saved: Path | None = None


@dataclass(frozen=True)
class TrainingResult:
    """The LoRA a training wrote, after how many steps, and whether a stop ended it."""

    lora: Path
    steps: int
    stopped: bool
