"""Grid jobs on one engine against a pool of several, measured in one run: a 4x4 X/Y/Z grid (CFG x steps) on the
tiny model, on this machine's CPU (1 vs 2 engines), and on a machine with several CUDA GPUs, pictures per second on
1 vs N GPUs (the tiny model unless --model names another).

Run: python bench/bench_grid.py            (CPU: two engines, one thread each, so they share the cores fairly)
     python bench/bench_grid.py --gpus all  (every CUDA GPU: one engine each)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from launch import build_sessions  # noqa: E402
from studio.engine.factory import make_engine  # noqa: E402
from studio.engine.models import DeviceSettings, default_cache_dir  # noqa: E402
from studio.recipe import Recipe  # noqa: E402
from studio.scale.grid import axis  # noqa: E402
from studio.scale.pool import EnginePool  # noqa: E402


def engines(devices: list[str], model: str) -> list:
    made = []
    for device in devices:
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        engine = make_engine(cache_dir=default_cache_dir(), settings=DeviceSettings(device, dtype), fast=False)
        engine.load(model)
        made.append(engine)
    return made


def seconds_for_grid(pool, base: Recipe) -> float:
    with tempfile.TemporaryDirectory() as outputs:
        session = build_sessions(pool, Path(outputs), defaults=base).open()
        axes = [axis("CFG Scale", "3, 5, 7, 9"), axis("Steps", f"{base.steps}-{base.steps + 3}")]
        session.grid(base, axes)  # the first grid loads and warms every engine
        started = time.perf_counter()
        session.grid(base, axes)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpus", default=None, help="'all' or GPU numbers (0,1): the GPU part")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    base = Recipe(prompt="a knight in red armour", model=args.model, steps=args.steps, width=args.size,
                  height=args.size, seed=1)  # fmt: skip
    if args.gpus:
        count = torch.cuda.device_count()
        numbers = range(count) if args.gpus == "all" else [int(n) for n in args.gpus.split(",")]
        devices = [f"cuda:{number}" for number in numbers]
        print(f"GPUs: {', '.join(torch.cuda.get_device_name(n) for n in numbers)}")
    else:
        torch.set_num_threads(1)  # two engines, one core each: the pool's parallelism, not torch's
        devices = ["cpu", "cpu"]
    every = engines(devices, args.model)
    one = seconds_for_grid(EnginePool(every[:1]), base)
    many = seconds_for_grid(EnginePool(every), base)
    cells = 16
    print(f"4x4 grid, {args.model} at {args.size}px, {args.steps}-{args.steps + 3} steps, on {', '.join(devices)}")
    print(f"  1 engine:  {one:6.2f} s  ({cells / one:.2f} pictures/s)")
    print(f"  {len(every)} engines: {many:6.2f} s  ({cells / many:.2f} pictures/s)")
    print(f"  speed-up: {one / many:.2f}x")


if __name__ == "__main__":
    main()
