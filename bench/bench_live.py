"""Live painting on the tiny model, on this CPU, measured in one run.

An artist draws 50 strokes on a 256 x 256 picture, each a new canvas handed to the session the moment it is drawn
(as the window's change event does), at a steady pace: once slower than a live run takes, once much faster. For each
stroke: the time from its arrival to the first live picture shown that has it on its canvas (the stroke's own, or a
newer one that replaced it). Also: how many live runs ran for the 50 strokes, and how many pictures were shown over
a newer one (stale: must be 0).

Run: python bench/bench_live.py  (CPU, offline; about a minute)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from launch import build_sessions  # noqa: E402
from studio.engine.factory import make_engine  # noqa: E402
from studio.engine.models import DeviceSettings  # noqa: E402
from studio.prepare import edit_from_layers  # noqa: E402
from studio.recipe import TINY_MODEL, Recipe  # noqa: E402

STROKES = 50
SIZE = 256
# A live run: 8 steps at strength 0.5 run 4 steps, as a few-step model would.
RECIPE = Recipe(prompt="a lighthouse at dusk", model=TINY_MODEL, steps=8, width=SIZE, height=SIZE, sampler="Euler a")


def strokes_so_far(background: Image.Image, count: int) -> Image.Image:
    canvas = background.copy()
    draw = ImageDraw.Draw(canvas)
    for number in range(count):
        y = 8 + (number * 5) % (SIZE - 16)
        draw.line([(10, y), (SIZE - 10, (y * 7) % SIZE)], fill=(200, 40, 40), width=6)
    return canvas


def paint(session, background: Image.Image, interval: float) -> dict[str, float]:
    """50 strokes `interval` seconds apart; what the artist saw."""
    arrived: dict[int, float] = {}
    shown: list[tuple[float, int]] = []  # (when, stroke number) of each picture shown, in the order shown
    lock = threading.Lock()
    painter = session.services.live.for_session(session.folder)
    runs_before = painter.runs

    def stroke(number: int) -> None:
        edit = edit_from_layers(strokes_so_far(background, number), mask=None, paint=None, parent=None)
        arrived[number] = time.perf_counter()
        live = session.paint_live(edit, RECIPE, strength=0.5, masked=False)
        if live is not None:
            with lock:
                shown.append((time.perf_counter(), number))

    # Worker threads reused from one pool, as the server's handlers run (Gradio hands events to a thread pool).
    with ThreadPoolExecutor(max_workers=8) as pool:
        for number in range(1, STROKES + 1):
            pool.submit(stroke, number)
            time.sleep(interval)

    stale, newest = 0, 0
    for _, number in shown:
        stale += number < newest
        newest = max(newest, number)
    waits = []
    for number, when in arrived.items():
        first_with_it = min(at for at, shown_number in shown if shown_number >= number)
        waits.append(first_with_it - when)
    return {
        "median_s": statistics.median(waits),
        "worst_s": max(waits),
        "runs": painter.runs - runs_before,
        "shown": len(shown),
        "stale": stale,
    }


def main() -> None:
    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="studio-bench-live-"))
    engine = make_engine(cache_dir=work / "cache", settings=DeviceSettings("cpu", torch.float32), fast=False)
    session = build_sessions(engine, work / "outputs").open("live")
    base = session.generate(RECIPE.replace(seed=1))
    background = Image.open(session.output_path(base.id)).convert("RGB")
    # One live run alone, warm: the pace of one picture.
    edit = edit_from_layers(strokes_so_far(background, 1), mask=None, paint=None, parent=None)
    session.paint_live(edit, RECIPE, strength=0.5, masked=False)
    alone = []
    for _ in range(5):
        started = time.perf_counter()
        session.paint_live(edit, RECIPE, strength=0.5, masked=False)
        alone.append(time.perf_counter() - started)
    run_s = statistics.median(alone)

    print(f"\nLive painting, tiny SD 1.5 on this CPU ({torch.get_num_threads()} threads, fp32), {SIZE}x{SIZE}, 4 steps")
    print(f"one live run alone (stroke to picture, the session's whole path): {run_s:.3f} s (median of 5)\n")
    print(f"{'strokes every':>14} | {'median wait':>11} | {'worst wait':>10} | {'runs for 50':>11} | shown | stale")
    for interval in (run_s * 1.5, run_s / 4):
        figures = paint(session, background, interval)
        print(
            f"{interval * 1000:11.0f} ms | {figures['median_s']:9.3f} s | {figures['worst_s']:8.3f} s | "
            f"{figures['runs']:11d} | {figures['shown']:5d} | {figures['stale']:5d}"
        )


if __name__ == "__main__":
    main()
