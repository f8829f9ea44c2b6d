"""Launching the real studio window in-process for API and browser tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from launch import build_sessions, file_guard, serve_api
from studio.authorship.credentials import Signing
from studio.engine.annotators import Preprocessors
from studio.engine.upscalers import Upscalers
from studio.recipe import Recipe
from studio.session.session import Session
from studio.session.sessions import Sessions
from studio.train.workshop import LoraWorkshop
from studio.ui.app import build_ui

BUILT_IN_PRESETS = Path(__file__).resolve().parents[1] / "presets"
# Small and quick on the CPU, still the real engine on the tiny model.
TEST_DEFAULTS = Recipe(model="tiny", steps=3, width=128, height=128, sampler="Euler a")


@contextlib.contextmanager
def running_studio(
    engine,
    outputs: Path,
    *,
    notice: str | None = None,
    auth=None,
    lora_dir: Path | None = None,
    reference_dir: Path | None = None,
    defaults: Recipe = TEST_DEFAULTS,
    per_account: bool = False,
    offered=None,
    upscalers: Path | None = None,
    api: bool = False,
    api_credentials: dict[str, str] | None = None,
) -> Iterator[tuple[str, Sessions]]:
    studio = build_sessions(
        engine,
        outputs,
        defaults=defaults,
        preset_folders=(BUILT_IN_PRESETS, outputs / "user-presets"),
        lora_dir=lora_dir,
        reference_dir=reference_dir,
        workshop=LoraWorkshop(engine),
        map_maker=Preprocessors(outputs / "annotators"),
        upscalers=Upscalers(upscalers) if upscalers else None,
        per_account=per_account,
        offered=offered,
        signing=Signing(outputs / "signing"),
    )
    window = build_ui(studio, notice=notice)
    window.blocks.queue(default_concurrency_limit=4)
    app, url, _ = window.blocks.launch(
        prevent_thread_lock=True,
        quiet=True,
        server_name="127.0.0.1",
        allowed_paths=[str(outputs.resolve())],
        theme=window.theme,
        css=window.css,
        head=window.head,
        auth=auth,
        app_kwargs=file_guard(studio, outputs),
    )
    if api:
        serve_api(app, studio, api_credentials or {})
    try:
        yield url, studio
    finally:
        window.blocks.close()


def browser_session(sessions: Sessions) -> Session:
    """The session the test's browser works in: each browser has its own, so the only one with nodes."""
    found = sessions.store.sessions()
    assert len(found) == 1, f"expected the browser's session alone, found {[info.id for info in found]}"
    return sessions.open(found[0].id)


def wait_for_progress(api, ready, timeout: float = 60.0) -> dict:
    """A1111's `progress` (through a `webuiapi` client), polled until `ready(progress)`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = api.get_progress()
        if ready(progress):
            return progress
        time.sleep(0.02)
    raise AssertionError(f"progress never got there: {progress}")
