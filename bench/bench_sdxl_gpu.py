"""SDXL at full size on a CUDA GPU: the studio's facade against a bare `StableDiffusionXLPipeline` call.

Random weights in SDXL base 1.0's real architecture (the studio's own configuration, so nothing is
downloaded), fp16, 1024x1024, 20 steps, Euler a, CFG 7. Prints, measured in one run: seconds per
picture in steady state for the bare call and for the facade (engine + PNG with metadata + history),
their ratio, UNet iterations per second, and peak GPU memory. Target on an H100: <= 1.0 s per
picture (that needs the compiled path of the GPU issue; this measures where eager stands).

Run: python bench/bench_sdxl_gpu.py  (a CUDA GPU with 16 GB or more; about 3 minutes on an H100)
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
from diffusers import (  # noqa: E402
    AutoencoderKL,
    EulerAncestralDiscreteScheduler,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection  # noqa: E402

from launch import build_sessions  # noqa: E402
from studio.engine.checkpoint_configs import BASE_CONFIGS  # noqa: E402
from studio.engine.engine import Engine  # noqa: E402
from studio.engine.families import Family  # noqa: E402
from studio.engine.pipelines import PipelineSet  # noqa: E402
from studio.engine.tiny import clip_tokenizer  # noqa: E402
from studio.recipe import Recipe  # noqa: E402

ROUNDS = 5
STEPS, SIZE = 20, 1024
PROMPT = "a lighthouse at dusk, oil painting"


def random_sdxl() -> StableDiffusionXLPipeline:
    config = BASE_CONFIGS[Family.SDXL]
    with torch.device("cuda"):
        unet = UNet2DConditionModel.from_config(config["unet/config.json"])
        vae = AutoencoderKL.from_config(config["vae/config.json"])
        text_encoder = CLIPTextModel(CLIPTextConfig(**config["text_encoder/config.json"]))
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**config["text_encoder_2/config.json"]))
    scheduler = EulerAncestralDiscreteScheduler.from_config(config["scheduler/scheduler_config.json"])
    pipe = StableDiffusionXLPipeline(
        vae=vae,  # pyright: ignore[reportArgumentType]
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(pad_token="!"),
        unet=unet,  # pyright: ignore[reportArgumentType]
        scheduler=scheduler,
        add_watermarker=False,
    )
    pipe.to("cuda", torch.float16)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def bare(pipe: StableDiffusionXLPipeline, seed: int) -> None:
    pipe(
        PROMPT,
        num_inference_steps=STEPS,
        width=SIZE,
        height=SIZE,
        guidance_scale=7.0,
        generator=[torch.Generator("cpu").manual_seed(seed)],
    )


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("bench_sdxl_gpu.py needs a CUDA GPU; bench/bench_engine.py --sdxl measures the facade on the CPU.")
    torch.backends.cuda.matmul.allow_tf32 = True
    started = time.perf_counter()
    pipe = random_sdxl()
    print(f"{torch.cuda.get_device_name()}: random SDXL built in {time.perf_counter() - started:.0f} s")
    engine = Engine(lambda model: PipelineSet(pipe, model))
    studio = build_sessions(engine, Path(tempfile.mkdtemp(prefix="studio-bench-")) / "outputs").open()
    recipe = Recipe(prompt=PROMPT, model="random-sdxl", sampler="Euler a", steps=STEPS, width=SIZE, height=SIZE)

    bare(pipe, 0)  # warm both paths
    studio.generate(recipe.replace(seed=0))
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    bare_times, facade_times = [], []
    for index in range(ROUNDS):  # interleaved, so drift hits both alike
        started = time.perf_counter()
        bare(pipe, index)
        torch.cuda.synchronize()
        bare_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        studio.generate(recipe.replace(seed=index))
        torch.cuda.synchronize()
        facade_times.append(time.perf_counter() - started)
    bare_median, facade_median = statistics.median(bare_times), statistics.median(facade_times)
    print(f"SDXL {SIZE}x{SIZE}, {STEPS} steps, Euler a, CFG 7, fp16, median of {ROUNDS}")
    print(f"  bare diffusers  {bare_median:6.3f} s/picture   UNet {STEPS / bare_median:5.1f} it/s (CFG batch of 2)")
    print(f"  studio facade   {facade_median:6.3f} s/picture   (includes PNG + metadata + history writes)")
    print(f"  ratio           {facade_median / bare_median:6.3f}x   target <= 1.05x; target on an H100 <= 1.0 s")
    print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:6.1f} GiB")


if __name__ == "__main__":
    main()
