"""Flux.1 at full size on a CUDA GPU, measured in one run: bare diffusers against the studio, eager and fast, and the
peak memory of each memory mode.

Random weights in Flux.1-dev's real architecture (a 12-billion-weight transformer with the distilled guidance input,
T5-XXL, CLIP-L, Flux's VAE), built on the GPU in bfloat16: nothing is downloaded or written to disk. The studio runs
it through its own engine (the engine loads the pipeline it is handed, as it loads a folder). Prints:

- 1024x1024, 20 steps, Euler (flow matching), distilled CFG 3.5: seconds per picture for bare diffusers, the
  studio eager and the studio fast (the transformer compiled; its first picture, compiling, apart);
- the pixel difference fast vs eager;
- peak GPU memory for one picture (8 steps) in each memory mode: normal, --low-memory (a part at a time),
  --lowest-memory (a layer at a time).

Run: python bench/bench_flux_gpu.py  (one CUDA GPU with 40 GB or more; about 10 minutes on an H100)
     python bench/bench_flux_gpu.py --smoke  (the script on the CPU with the tiny Flux model; figures mean nothing)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

PROMPT = "a knight in red armour in a misty forest, dramatic light"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def full_size_flux(device: str):
    """Flux.1-dev's architecture with random weights, in bfloat16 on `device` (configurations as published)."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    from studio.engine.tiny import clip_tokenizer
    from studio.engine.tiny_flux import t5_tokenizer

    torch.manual_seed(0)
    with torch.device(device):
        transformer = FluxTransformer2DModel(guidance_embeds=True).to(torch.bfloat16)  # its defaults are Flux.1's
        t5 = T5Config(
            vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
            feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
        )  # fmt: skip
        text_encoder_2 = T5EncoderModel(t5).to(torch.bfloat16)
        clip = CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
        text_encoder = CLIPTextModel(clip).to(torch.bfloat16)
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2, use_quant_conv=False, use_post_quant_conv=False, scaling_factor=0.3611,
            shift_factor=0.1159,
        ).to(torch.bfloat16)  # fmt: skip
    scheduler = FlowMatchEulerDiscreteScheduler(
        shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256,
        max_image_seq_len=4096,
    )  # fmt: skip
    return FluxPipeline(
        scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(),
        text_encoder_2=text_encoder_2, tokenizer_2=t5_tokenizer(), transformer=transformer,
    )  # fmt: skip


class Run:
    def __init__(self, smoke: bool) -> None:
        self.smoke = smoke
        self.cuda = torch.cuda.is_available() and not smoke
        self.size = 64 if smoke else 1024
        self.steps = 4 if smoke else 20
        self.rounds = 2 if smoke else 3

    def timed(self, work: Callable[[], Any]) -> tuple[float, Any]:
        if self.cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = work()
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started, result

    def median(self, work: Callable[[], Any]) -> float:
        work()  # warm
        return statistics.median(self.timed(work)[0] for _ in range(self.rounds))

    def peak_gib(self) -> float | None:
        return round(torch.cuda.max_memory_allocated() / 2**30, 2) if self.cuda else None

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()


def pipeline(run: Run, cache: Path):
    if run.smoke:
        from diffusers import FluxPipeline

        from studio.engine.tiny_flux import tiny_flux_folder

        return FluxPipeline.from_pretrained(tiny_flux_folder(cache))
    return full_size_flux("cuda")


def engine_on(pipe, run: Run, cache: Path, *, fast: bool):
    """The studio's engine, handed the pipeline (as its loader hands it one read from a folder)."""
    from studio.engine.engine import Engine
    from studio.engine.models import DeviceSettings
    from studio.engine.pipelines import PipelineSet
    from studio.engine.speed import FastPath

    settings = DeviceSettings("cuda", torch.bfloat16) if run.cuda else DeviceSettings("cpu", torch.float32)
    speed = FastPath.for_device(settings, wanted=fast, cache_dir=cache)
    pipe.set_progress_bar_config(disable=True)
    return Engine(lambda model: PipelineSet(pipe, model), fast=speed)


def bench(run: Run, cache: Path) -> dict[str, Any]:
    from studio.recipe import Recipe

    results: dict[str, Any] = {}
    say("building Flux.1 with random weights…")
    pipe = pipeline(run, cache)
    pipe.set_progress_bar_config(disable=True)
    recipe = Recipe(
        prompt=PROMPT, model="flux-random", sampler="Euler", cfg_scale=1.0, distilled_cfg_scale=3.5,
        steps=run.steps, width=run.size, height=run.size, seed=1,
    )  # fmt: skip

    def bare():
        with torch.inference_mode():
            return pipe(
                PROMPT, guidance_scale=3.5, num_inference_steps=run.steps, width=run.size, height=run.size,
                generator=torch.Generator("cpu").manual_seed(1),
            ).images[0]  # fmt: skip

    say("bare diffusers…")
    results["bare_s"] = run.median(bare)
    eager = engine_on(pipe, run, cache, fast=False)
    say("the studio, eager…")
    results["studio_eager_s"] = run.median(lambda: eager.generate(recipe))
    eager_picture = eager.generate(recipe)[0]
    fast = engine_on(pipe, run, cache, fast=True)
    say("the studio, fast (the first picture compiles)…")
    results["studio_fast_first_s"], _ = run.timed(lambda: fast.generate(recipe))
    results["studio_fast_s"] = run.median(lambda: fast.generate(recipe))
    results["fast_speed"] = fast.speed
    fast_picture = fast.generate(recipe)[0]
    gap = np.abs(np.asarray(fast_picture, np.int16) - np.asarray(eager_picture, np.int16))
    results["fast_vs_eager"] = {"mean": round(float(gap.mean()), 3), "max": int(gap.max())}
    results["ratio_studio_fast_to_bare"] = round(results["studio_fast_s"] / results["bare_s"], 3)
    results["ratio_studio_eager_to_bare"] = round(results["studio_eager_s"] / results["bare_s"], 3)
    return results


def memory_modes(run: Run, cache: Path) -> dict[str, Any]:
    """Peak GPU memory of one picture in each memory mode (eager: offloading cannot be compiled), on a pipeline of
    its own (the speed part compiled the other's transformer in place)."""
    from studio.recipe import Recipe

    pipe = pipeline(run, cache)
    recipe = Recipe(
        prompt=PROMPT, model="flux-random", sampler="Euler", cfg_scale=1.0, steps=min(run.steps, 8), width=run.size,
        height=run.size, seed=1,
    )  # fmt: skip
    found: dict[str, Any] = {}
    for mode in ("normal", "low", "lowest"):
        if run.cuda and mode != "normal":
            pipe.to("cpu")
            pipe.enable_model_cpu_offload() if mode == "low" else pipe.enable_sequential_cpu_offload()
        engine = engine_on(pipe, run, cache, fast=False)
        run.reset_peak()
        seconds, _ = run.timed(lambda engine=engine: engine.generate(recipe))
        found[mode] = {"seconds_per_picture": round(seconds, 2), "steps": recipe.steps, "peak_gib": run.peak_gib()}
        if run.cuda and mode != "normal":
            pipe.remove_all_hooks()
        say(f"memory {mode}: {found[mode]}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description="Flux.1 at full size on a CUDA GPU, measured in one run.")
    parser.add_argument("--smoke", action="store_true", help="the script on the CPU with the tiny Flux model")
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)  # the memory part, on its own
    arguments = parser.parse_args()
    run = Run(arguments.smoke)
    if not run.smoke and not run.cuda:
        sys.exit("No CUDA GPU: run with --smoke to check the script on the CPU.")
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    cache = Path(tempfile.mkdtemp(prefix="studio-flux-bench-"))
    if arguments.memory:
        print(json.dumps(memory_modes(run, cache)))
        return
    results = bench(run, cache)
    say("memory modes (a fresh interpreter, a fresh pipeline)…")
    command = [sys.executable, __file__, "--memory"] + (["--smoke"] if run.smoke else [])
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    results["memory"] = json.loads(lines[-1]) if done.returncode == 0 and lines else {"error": done.returncode}
    device = "CPU (--smoke: the figures mean nothing)" if run.smoke else torch.cuda.get_device_name()
    print(json.dumps({"device": device, "size": run.size, "steps": run.steps, **results}, indent=2))


if __name__ == "__main__":
    main()
