"""The studio at the speed limit on a CUDA GPU: the fast path, measured in one run against bare diffusers.

Random weights in the real architectures (SD 1.5 and SDXL, the studio's own configurations, so nothing
is downloaded), saved as diffusers folders and loaded through the studio's own path, fp16. Prints:

- SD 1.5 512x512 and SDXL 1024x1024, 20 steps, Euler a: seconds per picture in steady state for bare
  diffusers (eager), the studio eager and the studio fast (each through the facade: PNG, metadata and
  history included; and the engine alone), and the denoising loop's it/s (A1111's it/s: steps per second
  of the sampling loop, no VAE decode);
- the first picture after a start: cold (compiling) and after a restart with the compile cache on disk;
- LoRAs: bare diffusers unfused vs the studio fused, the first run after a change of LoRAs, and the
  pixel difference fused vs unfused;
- a ControlNet unit on;
- live previews on vs off (target: at most 2 % slower);
- live painting: seconds per live picture at 4 steps, CFG 1 (goal: SD 1.5 <= 0.08 s, SDXL <= 0.35 s);
- the pixel difference fast vs eager (and between two fast runs of one seed: none);
- peak GPU memory in each memory mode (normal, --low-memory, --lowest-memory), and out of memory:
  the message, and a run right after it.

Each "start" is a fresh interpreter (this script with --part), as a restart of the studio is.
Targets on an H100: SD 1.5 <= 0.15 s per picture, SDXL <= 1.0 s, a restart's first picture without a
compile stall over 10 s, previews <= 2 %, --low-memory <= 2 GB for SD 1.5.

Run: python bench/bench_gpu.py [--no-sdxl] [--work DIR]  (one CUDA GPU; about 7 minutes on an H100)
     python bench/bench_gpu.py --smoke   (the whole script on the CPU with the tiny models: checks the
     script itself, in about 5 minutes; its figures mean nothing)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

PROMPT = "a lighthouse at dusk, oil painting"


# --- what a run measures with -----------------------------------------------------------------


class Bench:
    """The sizes and rounds of this run (full size on a GPU; tiny on the CPU for --smoke)."""

    def __init__(self, smoke: bool, work: Path) -> None:
        self.smoke = smoke
        self.work = work
        self.cuda = torch.cuda.is_available() and not smoke
        self.steps = 4 if smoke else 20
        self.rounds = {"sd15": 2 if smoke else 5, "sdxl": 2 if smoke else 3}
        self.size = {"sd15": 64 if smoke else 512, "sdxl": 64 if smoke else 1024}

    def settings(self, memory: str = "normal"):
        from studio.engine.models import DeviceSettings, MemoryMode

        if self.cuda:
            return DeviceSettings.best_available(memory=MemoryMode(memory))
        return DeviceSettings("cpu", torch.float32, MemoryMode(memory))

    def fast(self) -> bool | None:
        return True if self.smoke else None  # on a GPU the studio decides, as it does for an artist

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def timed(self, work: Callable[[], Any]) -> tuple[float, Any]:
        self.sync()
        started = time.perf_counter()
        result = work()
        self.sync()
        return time.perf_counter() - started, result

    def peak_gib(self) -> float | None:
        return torch.cuda.max_memory_allocated() / 2**30 if self.cuda else None

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- models with random weights ----------------------------------------------------------------


def make_models(bench: Bench, sdxl: bool) -> dict[str, str]:
    """Random SD 1.5 (and SDXL) in diffusers folders, an SD 1.5 ControlNet folder and an SD 1.5 LoRA file."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    from studio.engine.families import Family
    from studio.engine.tiny import tiny_controlnet_folder, tiny_model_folder

    folders = {"sd15": bench.work / "sd15", "controlnet": bench.work / "sd15-controlnet"}
    if bench.smoke:
        cache = bench.work / "tiny-cache"
        shutil.copytree(tiny_model_folder(cache), folders["sd15"], dirs_exist_ok=True)
        shutil.copytree(tiny_controlnet_folder(cache), folders["controlnet"], dirs_exist_ok=True)
        if sdxl:
            folders["sdxl"] = bench.work / "sdxl"
            shutil.copytree(tiny_model_folder(cache, Family.SDXL), folders["sdxl"], dirs_exist_ok=True)
    else:
        pipe = random_pipeline(Family.SD15)
        pipe.save_pretrained(folders["sd15"])
        with torch.device("cuda"):  # its own layers start random there (fast), the rest is copied from the UNet
            ControlNetModel.from_unet(pipe.unet).save_pretrained(folders["controlnet"])
        del pipe
        if sdxl:
            folders["sdxl"] = bench.work / "sdxl"
            random_pipeline(Family.SDXL).save_pretrained(folders["sdxl"])
        torch.cuda.empty_cache()  # the parts measure in processes of their own; this one keeps nothing
    folders["lora"] = bench.work / "sd15-lora.safetensors"
    write_random_lora(UNet2DConditionModel.from_pretrained(folders["sd15"] / "unet"), folders["lora"])
    return {name: str(path) for name, path in folders.items()}


def random_pipeline(family):
    """`family`'s full architecture with random weights, made on the GPU (fast) and kept in fp16."""
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        PNDMScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from studio.engine.checkpoint_configs import BASE_CONFIGS
    from studio.engine.families import Family
    from studio.engine.tiny import clip_tokenizer

    config = BASE_CONFIGS[family]
    with torch.device("cuda"):
        unet = UNet2DConditionModel.from_config(config["unet/config.json"])
        vae = AutoencoderKL.from_config(config["vae/config.json"])
        text_encoder = CLIPTextModel(CLIPTextConfig(**config["text_encoder/config.json"]))
        if family is Family.SDXL:
            text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**config["text_encoder_2/config.json"]))
    if family is Family.SDXL:
        pipe = StableDiffusionXLPipeline(
            vae=vae,  # pyright: ignore[reportArgumentType]
            text_encoder=text_encoder,
            text_encoder_2=text_encoder_2,  # pyright: ignore[reportPossiblyUnboundVariable]
            tokenizer=clip_tokenizer(),
            tokenizer_2=clip_tokenizer(pad_token="!"),
            unet=unet,  # pyright: ignore[reportArgumentType]
            scheduler=EulerDiscreteScheduler.from_config(config["scheduler/scheduler_config.json"]),  # pyright: ignore[reportArgumentType]
            add_watermarker=False,
        )
    else:
        pipe = StableDiffusionPipeline(
            vae=vae,  # pyright: ignore[reportArgumentType]
            text_encoder=text_encoder,
            tokenizer=clip_tokenizer(),
            unet=unet,  # pyright: ignore[reportArgumentType]
            scheduler=PNDMScheduler.from_config(config["scheduler/scheduler_config.json"]),  # pyright: ignore[reportArgumentType]
            safety_checker=None,  # pyright: ignore[reportArgumentType]
            feature_extractor=None,  # pyright: ignore[reportArgumentType]
            requires_safety_checker=False,
        )
    return pipe.to(torch.float16)


def write_random_lora(unet, path: Path) -> None:
    """A rank-16 LoRA on every attention projection of `unet`, with random (not zero) weights, as diffusers saves."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    targets = ["to_q", "to_k", "to_v", "to_out.0"]
    unet.add_adapter(LoraConfig(r=16, lora_alpha=16, target_modules=targets), adapter_name="bench")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in unet.named_parameters():
            if "lora_" in name:  # peft starts B at zero: a LoRA that changes nothing would prove nothing
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet, adapter_name="bench"))
    StableDiffusionPipeline.save_lora_weights(path.parent, unet_lora_layers=layers, weight_name=path.name)


# --- one start of the studio --------------------------------------------------------------------


def start(bench: Bench, cache: Path, *, memory: str = "normal", fast: bool | None = None):
    from launch import build_sessions
    from studio.engine.factory import make_engine

    engine = make_engine(cache_dir=cache, settings=bench.settings(memory), fast=fast)
    studio = build_sessions(engine, cache / "outputs").open()
    return engine, studio


def recipe_for(bench: Bench, family: str, model: str, **changes):
    from studio.recipe import Recipe

    size = bench.size[family]
    recipe = Recipe(prompt=PROMPT, model=model, sampler="Euler a", steps=bench.steps, width=size, height=size, seed=1)
    return recipe.replace(**changes)


def bare(pipe, bench: Bench, family: str, seed: int, **extra):
    """A plain diffusers call with the same settings (Euler a, CFG 7)."""
    from diffusers import EulerAncestralDiscreteScheduler

    pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    size = bench.size[family]
    with torch.inference_mode():
        return pipe(
            PROMPT,
            num_inference_steps=bench.steps,
            width=size,
            height=size,
            guidance_scale=7.0,
            generator=[torch.Generator("cpu").manual_seed(seed)],
            **extra,
        ).images


def interleaved(bench: Bench, family: str, ways: dict[str, Callable[[int], Any]]) -> dict[str, float]:
    """Median seconds of each way, rounds interleaved so that drift hits all alike (after one warm run each)."""
    for way in ways.values():
        way(100)
    times: dict[str, list[float]] = {name: [] for name in ways}
    for round_index in range(bench.rounds[family]):
        for name, way in ways.items():
            times[name].append(bench.timed(lambda way=way, seed=round_index: way(seed))[0])
    return {name: statistics.median(values) for name, values in times.items()}


def pixels(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture).astype(int)


def difference(a: Image.Image, b: Image.Image) -> dict[str, float]:
    delta = np.abs(pixels(a) - pixels(b))
    return {"max": int(delta.max()), "mean": round(float(delta.mean()), 3), "picture_varies": bool(pixels(a).std() > 2)}


def first_start(bench: Bench, family: str, models: dict[str, str]) -> dict[str, Any]:
    """A start with an empty compile cache: the warm-up compiles. Then steady state, every way."""
    cache = bench.work / f"cache-{family}"
    model = models[family]
    engine, studio = start(bench, cache, fast=bench.fast())
    result: dict[str, Any] = {"speed": engine.speed}
    result["load_s"], _ = bench.timed(lambda: engine.load(model))
    recipe = recipe_for(bench, family, model)
    say(f"{family}: warming up (compiling from nothing)…")
    result["warm_up_s"], _ = bench.timed(lambda: engine.warm_up(recipe))
    result["first_picture_s"], _ = bench.timed(lambda: studio.generate(recipe))
    pipe = engine.pipelines.base
    say(f"{family}: steady state…")

    def eager_way(work: Callable[[int], Any]) -> Callable[[int], Any]:
        def way(seed: int) -> Any:
            with engine.eagerly():
                return work(seed)

        return way

    result["seconds_per_picture"] = interleaved(
        bench,
        family,
        {
            "bare diffusers, eager": eager_way(lambda seed: bare(pipe, bench, family, seed)),
            "studio eager": eager_way(lambda seed: studio.generate(recipe.replace(seed=seed))),
            "studio fast": lambda seed: studio.generate(recipe.replace(seed=seed)),
            "studio fast, engine alone": lambda seed: engine.generate(recipe.replace(seed=seed)),
        },
    )
    loop = interleaved(
        bench,
        family,
        {
            "eager": eager_way(lambda seed: bare(pipe, bench, family, seed, output_type="latent")),
            "fast": lambda seed: bare(pipe, bench, family, seed, output_type="latent"),
        },
    )
    result["loop_it_per_s"] = {name: round(bench.steps / seconds, 1) for name, seconds in loop.items()}
    fast_picture = engine.generate(recipe)[0]
    with engine.eagerly():
        eager_picture = engine.generate(recipe)[0]
    result["fast_vs_eager_pixels"] = difference(fast_picture, eager_picture)
    result["fast_twice_same"] = bool(np.array_equal(pixels(fast_picture), pixels(engine.generate(recipe)[0])))

    previews: list[Any] = []
    result["previews"] = interleaved(
        bench,
        family,
        {
            "off": lambda seed: engine.generate(recipe.replace(seed=seed)),
            "on": lambda seed: engine.generate(recipe.replace(seed=seed), on_step=lambda p: previews.append(p.preview)),
        },
    )
    result["previews"]["shown"] = sum(preview is not None for preview in previews)
    result["live"] = live(bench, family, studio, fast_picture, recipe)
    if family == "sd15":
        result |= loras_and_controls(bench, engine, studio, recipe, models)
    result["peak_gib"] = bench.peak_gib()
    return result


def live(bench: Bench, family: str, studio, canvas: Image.Image, recipe) -> dict[str, Any]:
    """Live painting: a picture per stroke at 4 steps, CFG 1 (few-step settings), through the session.

    Goals on an H100/H200: SD 1.5 at 512 <= 0.08 s per live picture, SDXL at 1024 <= 0.35 s."""
    from studio.prepare import edit_from_layers

    settings = recipe.replace(steps=4, cfg_scale=1.0)

    def stroke(number: int):  # each round a new stroke: the same canvas again would not run again
        painted = canvas.copy()
        ImageDraw.Draw(painted).line([(8, 8 + 4 * number), (canvas.width - 8, 40 + 4 * number)], fill="red", width=5)
        return edit_from_layers(painted, mask=None, paint=None, parent=None)

    first, _ = bench.timed(lambda: studio.paint_live(stroke(0), settings, strength=1.0, masked=False))  # CFG 1 compiles
    seconds = []
    for number in range(1, bench.rounds[family] * 2 + 1):
        edit = stroke(number)
        seconds.append(bench.timed(lambda edit=edit: studio.paint_live(edit, settings, strength=1.0, masked=False))[0])
    return {"first_s": first, "seconds_per_live_picture": statistics.median(seconds)}


def loras_and_controls(bench: Bench, engine, studio, recipe, models: dict[str, str]) -> dict[str, Any]:
    from studio.engine import prompts
    from studio.engine.samplers import make_scheduler
    from studio.recipe import ControlRef, LoraRef

    pipe = engine.pipelines.base
    plain = engine.generate(recipe)[0]
    say("sd15: LoRAs…")
    pipe.load_lora_weights(models["lora"], adapter_name="bench_unfused")
    pipe.set_adapters(["bench_unfused"], [0.8])
    with engine.eagerly():
        unfused = interleaved(
            bench, "sd15", {"bare diffusers, unfused, eager": lambda seed: bare(pipe, bench, "sd15", seed)}
        )
        # The studio's own prompt reading and sampler, through diffusers' unfused LoRA: the fused run's reference.
        pipe.scheduler = make_scheduler(recipe.sampler, recipe.scheduler, engine.pipelines.scheduler_config, seed=1)
        with torch.inference_mode():
            unfused_picture = pipe(
                **prompts.encode(pipe, recipe.prompt, recipe.negative_prompt),
                num_inference_steps=recipe.steps,
                width=recipe.width,
                height=recipe.height,
                guidance_scale=recipe.cfg_scale,
                generator=[torch.Generator("cpu").manual_seed(recipe.seed)],
            ).images[0]
    pipe.unload_lora_weights()
    with_lora = recipe.replace(loras=(LoraRef(models["lora"], 0.8),))
    first_after_change, _ = bench.timed(lambda: engine.generate(with_lora))
    fused = interleaved(
        bench,
        "sd15",
        {
            "studio fused, eager": lambda seed: _eagerly(engine, lambda: studio.generate(with_lora.replace(seed=seed))),
            "studio fused, fast": lambda seed: studio.generate(with_lora.replace(seed=seed)),
        },
    )
    with engine.eagerly():
        fused_picture = engine.generate(with_lora)[0]
    lora = {
        "seconds_per_picture": unfused | fused,
        "first_run_after_a_change_s": first_after_change,
        "fused_vs_unfused_pixels": difference(fused_picture, unfused_picture),
        "no_lora_again_exact": bool(np.array_equal(pixels(engine.generate(recipe)[0]), pixels(plain))),
    }

    say("sd15: a ControlNet unit…")
    size = recipe.width
    edges = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(edges)
    for step in range(0, size, max(8, size // 16)):
        draw.line([(step, 0), (size - step, size)], fill="white", width=2)
    controlled = recipe.replace(controls=(ControlRef(kind="canny", model=models["controlnet"], image="control-0"),))
    maps = {"control-0": edges}
    first_control, _ = bench.timed(lambda: studio.generate(controlled, control_images=maps))
    control = interleaved(
        bench,
        "sd15",
        {
            "studio eager": lambda seed: _eagerly(
                engine, lambda: studio.generate(controlled.replace(seed=seed), control_images=maps)
            ),
            "studio fast": lambda seed: studio.generate(controlled.replace(seed=seed), control_images=maps),
        },
    )
    # The fast path falls back to eager (and says so) when compiled code fails: a ControlNet once made it.
    controlnet = {"first_run_s": first_control, "seconds_per_picture": control, "speed_after": engine.speed}
    return {"lora": lora, "controlnet": controlnet}


def _eagerly(engine, work: Callable[[], Any]) -> Any:
    with engine.eagerly():
        return work()


def restart(bench: Bench, family: str, models: dict[str, str]) -> dict[str, Any]:
    """A start after `first_start`, with its compile cache on disk: the first picture's wait. Then out of memory."""
    cache = bench.work / f"cache-{family}"
    engine, studio = start(bench, cache, fast=bench.fast())
    model = models[family]
    recipe = recipe_for(bench, family, model)
    result: dict[str, Any] = {"speed": engine.speed}
    result["load_s"], _ = bench.timed(lambda: engine.load(model))
    result["warm_up_s"], _ = bench.timed(lambda: engine.warm_up(recipe))
    result["first_picture_s"], _ = bench.timed(lambda: studio.generate(recipe))
    if bench.cuda:
        result["out_of_memory"] = out_of_memory(engine, studio, recipe)
    return result


def out_of_memory(engine, studio, recipe) -> dict[str, Any]:
    """A run too big for the memory left: the artist's message, then the next run paints as usual."""
    from studio.errors import OutOfMemory

    free, total = torch.cuda.mem_get_info()
    torch.cuda.set_per_process_memory_fraction(min(1.0, (torch.cuda.memory_allocated() + 2**30) / total))
    message = None
    try:
        # Eagerly: compiled, a new shape would first compile for a minute (FastPath's handling of memory
        # running out while compiling is tests/test_speed.py's).
        with engine.eagerly():
            studio.generate(recipe.replace(width=recipe.width * 2, height=recipe.height * 2, batch_size=8))
    except OutOfMemory as error:
        message = str(error)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    started = time.perf_counter()
    studio.generate(recipe)
    return {"message": message, "next_run_s": time.perf_counter() - started, "speed_after": engine.speed}


def memory_mode(bench: Bench, mode: str, models: dict[str, str]) -> dict[str, Any]:
    """Peak GPU memory of one SD 1.5 picture in memory mode `mode` (eager: offloading cannot be compiled)."""
    engine, studio = start(bench, bench.work / f"cache-memory-{mode}", memory=mode, fast=False)
    # 8 steps: the peak does not depend on the count, and one layer at a time is slow.
    recipe = recipe_for(bench, "sd15", models["sd15"], steps=min(bench.steps, 8))
    engine.load(models["sd15"])
    engine.generate(recipe.replace(steps=2))
    bench.reset_peak()
    seconds, _ = bench.timed(lambda: studio.generate(recipe))
    return {"seconds_per_picture": seconds, "steps": recipe.steps, "peak_gib": bench.peak_gib(), "speed": engine.speed}


# In order of what a short GPU lease should keep if it runs out: the speed figures first.
PARTS = {
    "sd15-first": lambda bench, models: first_start(bench, "sd15", models),
    "sd15-restart": lambda bench, models: restart(bench, "sd15", models),
    "sdxl-first": lambda bench, models: first_start(bench, "sdxl", models),
    "memory-low": lambda bench, models: memory_mode(bench, "low", models),
    "memory-lowest": lambda bench, models: memory_mode(bench, "lowest", models),
    "memory-normal": lambda bench, models: memory_mode(bench, "normal", models),
}


# --- the run ------------------------------------------------------------------------------------


def run_part(name: str, arguments: argparse.Namespace, work: Path, timeout: float) -> dict[str, Any]:
    command = [sys.executable, __file__, "--part", name, "--work", str(work)] + (["--smoke"] if arguments.smoke else [])
    say(f"--- {name} (a fresh interpreter)")
    started = time.perf_counter()
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"ran past {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"exit status {done.returncode}"}
    return json.loads(lines[-1]) | {"part_s": round(time.perf_counter() - started, 1)}


def report(results: dict[str, Any], bench: Bench) -> None:
    device = (
        "CPU (--smoke: checks the script; the figures mean nothing)" if bench.smoke else torch.cuda.get_device_name()
    )
    print(f"\n{device}, torch {torch.__version__}, {bench.steps} steps, Euler a, CFG 7, medians of {bench.rounds}")
    for family, size in bench.size.items():
        first, again = results.get(f"{family}-first", {}), results.get(f"{family}-restart", {})
        if not first or "error" in first:
            print(f"\n{family}: {first.get('error', 'not run')}")
            continue
        print(f"\n{family.upper()} {size}x{size}   ({first['speed']})")
        for way, seconds in first["seconds_per_picture"].items():
            print(f"  {way:34s} {seconds:7.3f} s/picture")
        bare_s = first["seconds_per_picture"]["bare diffusers, eager"]
        fast_s = first["seconds_per_picture"]["studio fast"]
        print(f"  {'studio fast / bare diffusers':34s} {fast_s / bare_s:7.3f}x")
        print(f"  sampling loop it/s: eager {first['loop_it_per_s']['eager']}, fast {first['loop_it_per_s']['fast']}")
        print(f"  first picture, cold: warm-up {first['warm_up_s']:.1f} s + picture {first['first_picture_s']:.2f} s")
        if again and "error" not in again:
            print(
                f"  first picture after a restart: warm-up {again['warm_up_s']:.1f} s + {again['first_picture_s']:.2f} s"
            )
        elif again:
            print(f"  restart: {again['error']}")
        print(
            f"  fast vs eager pixels: {first['fast_vs_eager_pixels']}; one seed twice, fast: same={first['fast_twice_same']}"
        )
        previews = first["previews"]
        print(f"  previews on/off: {previews['on'] / previews['off']:.3f}x ({previews['shown']} previews shown)")
        if "live" in first:
            goal = {"sd15": 0.08, "sdxl": 0.35}[family]
            print(
                f"  live painting (4 steps, CFG 1): {first['live']['seconds_per_live_picture']:.3f} s per live "
                f"picture (goal <= {goal} s); the first {first['live']['first_s']:.1f} s"
            )
        if "lora" in first:
            lora = first["lora"]
            for way, seconds in lora["seconds_per_picture"].items():
                print(f"  LoRA, {way:28s} {seconds:7.3f} s/picture")
            print(
                f"  LoRA: first run after a change {lora['first_run_after_a_change_s']:.2f} s; fused vs unfused "
                f"pixels {lora['fused_vs_unfused_pixels']}; none again exact: {lora['no_lora_again_exact']}"
            )
            control = first["controlnet"]
            print(
                f"  ControlNet: first run {control['first_run_s']:.1f} s; "
                + ", ".join(f"{way} {s:.3f} s/picture" for way, s in control["seconds_per_picture"].items())
            )
            print(f"  speed after the ControlNet runs: {control.get('speed_after', '(not recorded)')}")
        print(f"  peak GPU memory (fast path): {first['peak_gib']}")
        if again.get("out_of_memory"):
            print(f"  out of memory: {again['out_of_memory']}")
    modes = {name: results[name] for name in ("memory-normal", "memory-low", "memory-lowest") if name in results}
    if modes:
        print("\nSD 1.5 memory modes (eager):")
        for name, figures in modes.items():
            if "error" in figures:
                print(f"  {name:14s} {figures['error']}")
            else:
                print(
                    f"  {name:14s} peak {figures['peak_gib']} GiB, "
                    f"{figures['seconds_per_picture']:.2f} s/picture ({figures['steps']} steps)"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description="The studio at the speed limit on a CUDA GPU, measured in one run.")
    parser.add_argument("--smoke", action="store_true", help="the whole script on the CPU with the tiny models")
    parser.add_argument("--no-sdxl", action="store_true", help="SD 1.5 only (about half the time)")
    parser.add_argument("--work", type=Path, default=None, help="where models and caches go (default: a temp folder)")
    parser.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    work = arguments.work or Path(tempfile.mkdtemp(prefix="studio-bench-gpu-"))
    bench = Bench(arguments.smoke, work)
    if arguments.part:
        if not bench.smoke:
            torch.set_num_threads(min(8, os.cpu_count() or 1))
        else:
            torch.set_num_threads(1)
        models = json.loads((work / "models.json").read_text())
        print(json.dumps(PARTS[arguments.part](bench, models)))
        return
    if not (bench.cuda or bench.smoke):
        sys.exit("bench_gpu.py needs a CUDA GPU; --smoke runs the script on the CPU with the tiny models.")
    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    say(f"building random models in {work}…")
    models = make_models(bench, sdxl=not arguments.no_sdxl)
    (work / "models.json").write_text(json.dumps(models))
    say(f"models ready in {time.perf_counter() - started:.0f} s")
    parts = [name for name in PARTS if not (arguments.no_sdxl and name.startswith("sdxl"))]
    if not bench.cuda:
        parts = [name for name in parts if not name.startswith("memory-") or name == "memory-normal"]
    results: dict[str, Any] = {}
    for name in parts:
        results[name] = run_part(name, arguments, work, timeout=420)
        (work / "results.json").write_text(json.dumps(results, indent=2))
    report(results, bench)
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s; figures in {work / 'results.json'}")


if __name__ == "__main__":
    main()
