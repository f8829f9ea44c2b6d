"""What long work reports while it runs, and what training ends with: pure data the session and the window share."""

from __future__ import annotations

import dataclasses
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

# Whose run the current thread carries: the session folder a turn runs for (set by the turn, read by the engine's
# lane and the pool), so that Stop pressed in one browser stops that browser's run and never another artist's.
RUN_OWNER: ContextVar[str | None] = ContextVar("run_owner", default=None)


@dataclass(frozen=True)
class StepProgress:
    """One denoising step done, with a cheap preview of the picture so far."""

    step: int
    total: int
    preview: Image.Image | None


@dataclass(frozen=True)
class RunReport:
    """Where a session's latest run stands, for a window that was reloaded while it ran."""

    progress: StepProgress | None  # the last step done (for a job of many runs: cells done of all)
    finished: bool = False
    node_id: str | None = None  # the saved node, once finished (a job's first)
    failed: str | None = None  # why it did not finish (stopped, or the error's message)
    job: str | None = None  # "grid" or "prompts": a job of many runs, its progress counted in cells
    nodes: tuple[str, ...] = ()  # a job's saved nodes, once finished


class RunBoard:
    """Each session folder's latest run since the studio started, app-wide: a reloaded window reads it."""

    def __init__(self) -> None:
        self._runs: dict[Path, RunReport] = {}
        self._lock = threading.Lock()

    def latest(self, folder: Path) -> RunReport | None:
        return self._runs.get(folder)

    def started(self, folder: Path, *, job: str | None = None) -> None:
        with self._lock:
            self._runs[folder] = RunReport(None, job=job)

    def stepped(self, folder: Path, progress: StepProgress) -> None:
        with self._lock:
            previous = self._runs[folder].progress
            if progress.preview is None and previous is not None:
                # Previews come a few a second: a window that reloads between two shows the last one.
                progress = dataclasses.replace(progress, preview=previous.preview)
            self._runs[folder] = dataclasses.replace(self._runs[folder], progress=progress)

    def finished(
        self, folder: Path, *, node_id: str | None = None, failed: str | None = None, nodes: tuple[str, ...] = ()
    ) -> None:
        with self._lock:
            self._runs[folder] = dataclasses.replace(
                self._runs[folder], finished=True, node_id=node_id, failed=failed, nodes=nodes
            )


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
