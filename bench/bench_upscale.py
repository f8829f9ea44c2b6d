"""Tiled against untiled upscaling with a full-size ESRGAN, measured in one run: time and peak memory.

A RealESRGAN-x4plus-sized network (64 filters, 23 blocks, 16.7 M parameters) with random weights is saved
as .safetensors and loaded through spandrel, the path a user's 4x-UltraSharp takes. Each way runs in a
fresh process, so its peak memory is its own: on the CPU, how far the process's resident memory rose
above what it held before the upscale; on a GPU, torch's peak allocation. The tiled result is also compared with the untiled one (largest difference, of 255).

Run: python bench/bench_upscale.py        (CPU: a 256 px picture, 2x, tiles of 128 px; about a minute)
     python bench/bench_upscale.py --gpu  (CUDA, fp16: a 1024 px picture, 4x, tiles of 512 and 256 px;
                                           the target is that a 4x of 1024 px fits an 8 GB GPU when tiled)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODEL = "realesrgan-sized-x4.safetensors"


def write_model(folder: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    network = ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)
    save_file(network.state_dict(), str(folder / MODEL))


def one_run(folder: Path, side: int, factor: float, tile: int, device: str, out: Path) -> dict:
    """Upscale once (after a warm-up on a small picture) and report seconds and peak memory."""
    import numpy as np
    import torch
    from PIL import Image

    from studio.engine.upscalers import Upscalers

    if device == "cpu":
        torch.set_num_threads(2)
    upscalers = Upscalers(folder, device)
    if device == "cuda":
        upscalers._model(MODEL).half()  # fp16, as on a user's GPU
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 255, (side, side, 3), dtype=np.uint8))
    upscalers.upscale(picture.resize((32, 32)), MODEL, 2, tile=0)  # loads the model, warms the kernels
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = _resident_mib()
    started = time.perf_counter()
    result = upscalers.upscale(picture, MODEL, factor, tile=tile)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    result.save(out)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    )
    return {"tile": tile, "seconds": seconds, "peak_mib": peak}


def _resident_mib() -> float:
    """The process's resident memory now (Linux), so the CPU figure is what the upscale added."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--one", nargs=6, help=argparse.SUPPRESS)  # folder side factor tile device out
    args = parser.parse_args()
    if args.one:
        folder, side, factor, tile, device, out = args.one
        print(json.dumps(one_run(Path(folder), int(side), float(factor), int(tile), device, Path(out))))
        return

    import numpy as np
    from PIL import Image

    device, side, factor, tiles = ("cuda", 1024, 4.0, (0, 512, 256)) if args.gpu else ("cpu", 256, 2.0, (0, 128))
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        write_model(folder)
        runs = []
        for tile in tiles:
            out = folder / f"out-{tile}.png"
            command = [
                sys.executable,
                __file__,
                "--one",
                str(folder),
                str(side),
                str(factor),
                str(tile),
                device,
                str(out),
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"tile {tile}: failed\n{done.stderr[-2000:]}")
                runs.append({"tile": tile, "seconds": float("nan"), "peak_mib": float("nan"), "out": None})
                continue
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]) | {"out": out})
        whole = runs[0]
        print(f"{device}: a {side} px picture, {factor:g}x, RealESRGAN-sized ESRGAN ({'fp16' if args.gpu else 'fp32'})")
        print("| tiles | seconds | time vs untiled | peak memory (MiB) | memory vs untiled | max diff vs untiled |")
        print("| --- | --- | --- | --- | --- | --- |")
        for run in runs:
            difference = "–"
            if run["out"] and whole["out"] and run is not whole:
                a = np.asarray(Image.open(run["out"])).astype(int)
                b = np.asarray(Image.open(whole["out"])).astype(int)
                difference = str(int(np.abs(a - b).max()))
            name = "untiled" if run["tile"] == 0 else f"{run['tile']} px"
            print(
                f"| {name} | {run['seconds']:.2f} | {run['seconds'] / whole['seconds']:.2f}x | "
                f"{run['peak_mib']:.0f} | {run['peak_mib'] / whole['peak_mib']:.2f}x | {difference} |"
            )


if __name__ == "__main__":
    main()
