"""Engine overhead on the tiny model, measured in one run.

1. The facade's time per generation (engine + writing PNGs with metadata + saving the tree) over a
   bare diffusers call with the same settings. Target: at most 1.05x.
2. The time to switch txt2img -> inpaint -> img2img on the loaded model. Target: no reload, < 10 ms.

Run: python bench/bench_engine.py [--sdxl]  (CPU, one thread, offline; about a minute)
`--sdxl` measures the same on the tiny SDXL model against a bare `StableDiffusionXLPipeline` call.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline  # noqa: E402

from launch import build_sessions  # noqa: E402
from studio.engine.factory import make_engine  # noqa: E402
from studio.engine.families import Family  # noqa: E402
from studio.engine.models import DeviceSettings  # noqa: E402
from studio.engine.samplers import make_scheduler  # noqa: E402
from studio.engine.tiny import tiny_model_folder  # noqa: E402
from studio.recipe import TINY_MODEL, TINY_SDXL_MODEL, Mode, Recipe  # noqa: E402

ROUNDS = 15
SETTINGS = {"steps": 20, "width": 256, "height": 256}
# Both sides on the CPU in fp32, so the ratio compares the same work wherever it runs.
CPU = DeviceSettings("cpu", torch.float32)


def bare_diffusers(pipe: StableDiffusionPipeline | StableDiffusionXLPipeline, seed: int) -> None:
    pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe(
        "a lighthouse at dusk",
        num_inference_steps=SETTINGS["steps"],
        width=SETTINGS["width"],
        height=SETTINGS["height"],
        guidance_scale=7.0,
        generator=[torch.Generator("cpu").manual_seed(seed)],
    )


def main() -> None:
    torch.set_num_threads(1)
    sdxl = "--sdxl" in sys.argv
    family, model = (Family.SDXL, TINY_SDXL_MODEL) if sdxl else (Family.SD15, TINY_MODEL)
    work = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    cache = work / "cache"
    if sdxl:
        bare = StableDiffusionXLPipeline.from_pretrained(tiny_model_folder(cache, family), add_watermarker=False)
    else:
        bare = StableDiffusionPipeline.from_pretrained(
            tiny_model_folder(cache), safety_checker=None, requires_safety_checker=False
        )
    bare.set_progress_bar_config(disable=True)
    engine = make_engine(cache_dir=cache, settings=CPU)
    engine.load(model)
    studio = build_sessions(engine, work / "outputs").open()
    recipe = Recipe(prompt="a lighthouse at dusk", model=model, sampler="Euler a", cfg_scale=7.0, seed=1, **SETTINGS)

    bare_diffusers(bare, 0)  # warm both paths
    studio.generate(recipe)
    bare_times, facade_times = [], []
    for round_index in range(ROUNDS):  # interleaved, so drift hits both alike
        started = time.perf_counter()
        bare_diffusers(bare, round_index)
        bare_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        studio.generate(recipe.replace(seed=round_index))
        facade_times.append(time.perf_counter() - started)
    bare_median, facade_median = statistics.median(bare_times), statistics.median(facade_times)
    print(
        f"{family} generation ({SETTINGS['width']}x{SETTINGS['height']}, {SETTINGS['steps']} steps, Euler a, "
        f"CPU 1 thread, median of {ROUNDS})"
    )
    print(f"  bare diffusers  {bare_median * 1000:8.1f} ms")
    print(f"  studio facade   {facade_median * 1000:8.1f} ms  (includes PNG + metadata + history writes)")
    print(f"  ratio           {facade_median / bare_median:8.3f}x   target <= 1.05x")

    pipelines = engine.pipelines
    base_unet = pipelines.base.unet

    def switch(mode: Mode) -> float:
        started = time.perf_counter()
        view = pipelines.for_mode(mode)
        view.scheduler = make_scheduler("Euler a", "Automatic", pipelines.scheduler_config, seed=1)
        elapsed = time.perf_counter() - started
        assert view.unet is base_unet, "a mode switch must not load a second copy of the weights"
        return elapsed

    fresh = make_engine(cache_dir=cache, settings=CPU)
    started = time.perf_counter()
    fresh.load(model)
    load_time = time.perf_counter() - started
    pipelines, base_unet = fresh.pipelines, fresh.pipelines.base.unet
    first = [switch(mode) for mode in (Mode.TXT2IMG, Mode.INPAINT, Mode.IMG2IMG)]
    later = [[switch(mode) for mode in (Mode.TXT2IMG, Mode.INPAINT, Mode.IMG2IMG)] for _ in range(20)]
    worst_later = max(max(times) for times in later)
    print("mode switch txt2img -> inpaint -> img2img on a just-loaded model (same UNet object, asserted)")
    print(f"  model load, for scale   {load_time * 1000:.0f} ms")
    print(f"  first switches          {' / '.join(f'{t * 1000:.2f}' for t in first)} ms   target < 10 ms each")
    print(f"  worst of 20 more rounds {worst_later * 1000:.2f} ms")


if __name__ == "__main__":
    main()
