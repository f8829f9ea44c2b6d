"""What A1111's `progress`, `interrupt` and `skip` see: the API's requests, as they run one after another.

A request is a job of `n_iter` batches. Each batch holds the studio's one GPU lane while it steps; the
window's runs never appear here, and `interrupt` and `skip` stop only the API's own work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from studio.progress import StepProgress


@dataclass
class Job:
    """One request: which batch runs, its step, and whether it was told to stop or to skip a batch."""

    name: str
    batches: int
    started: float = field(default_factory=time.monotonic)
    timestamp: str = field(default_factory=lambda: time.strftime("%Y%m%d%H%M%S"))
    batch: int = 0
    step: int = 0
    steps: int = 0
    preview: Image.Image | None = None
    stepping: bool = False  # a batch of this job holds the lane now
    interrupted: bool = False
    skipped: bool = False
    # A job of many runs at once (a grid, a batch of prompts): whose runs to stop (a session folder); None for a
    # job of batches, which stops the run holding the lane.
    owner: str | None = None


class Jobs:
    """The API's jobs in the order they came; `progress` reports the one holding the lane (else the oldest)."""

    def __init__(self, stop_run: Callable[[str | None], None]) -> None:
        self._stop_run = stop_run
        self._jobs: list[Job] = []
        self._lock = threading.Lock()

    def start(self, name: str, batches: int, *, owner: str | None = None) -> Job:
        job = Job(name, batches, owner=owner)
        with self._lock:
            self._jobs.append(job)
        return job

    def finish(self, job: Job) -> None:
        with self._lock:
            if job in self._jobs:
                self._jobs.remove(job)

    def batch_started(self, job: Job, number: int) -> None:
        with self._lock:
            job.batch, job.step, job.steps, job.skipped = number, 0, 0, False

    def cells_done(self, job: Job, done: int, total: int) -> None:
        """A grid's or a prompt batch's cells: `done` of `total` finished (A1111 counts them as the job's)."""
        with self._lock:
            job.batches, job.batch = total, done
            job.name = f"{min(done + 1, total)} out of {total}"  # as A1111's X/Y/Z plot names its state's job

    def batch_ended(self, job: Job) -> None:
        with self._lock:
            job.stepping = False

    def stepped(self, job: Job, progress: StepProgress) -> None:
        with self._lock:
            # After its last step the batch only decodes and lets go of the lane: a stop sent then could
            # land on the next run in the lane, perhaps the artist's own, so none is sent.
            job.stepping = progress.step < progress.total
            job.step, job.steps = progress.step, progress.total
            if progress.preview is not None:
                job.preview = progress.preview

    def interrupt(self) -> None:
        """Stop every API job: the one stepping now at its next step, the waiting ones before they start."""
        with self._lock:
            for job in self._jobs:
                job.interrupted = True
            stepping = any(job.stepping for job in self._jobs)
            owners = {job.owner for job in self._jobs if job.owner is not None}
        for owner in owners:  # a grid's cells, running on every engine, and none of anyone else's runs
            self._stop_run(owner)
        if stepping:
            self._stop_run(None)

    def skip(self) -> None:
        """Drop the batch stepping now; its job goes on with its next batch."""
        with self._lock:
            running = [job for job in self._jobs if job.stepping]
            for job in running:
                job.skipped = True
        if running:
            self._stop_run(None)

    def progress(self) -> tuple[Job | None, float, float]:
        """The job to report, its progress (0 to 1) and the seconds A1111 would estimate are left."""
        with self._lock:
            if not self._jobs:
                return None, 0.0, 0.0
            job = next((job for job in self._jobs if job.stepping), self._jobs[0])
            done = 0.01 + job.batch / job.batches
            if job.steps:
                done += job.step / job.steps / job.batches
            elapsed = time.monotonic() - job.started
            return job, min(done, 1.0), max(elapsed / done - elapsed, 0.0)
