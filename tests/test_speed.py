"""The fast path (studio/engine/speed.py) on the CPU, where --fast forces it: compiled runs, the compiled kernels
kept on disk across a restart, the fall-back to eager when compiling fails, and LoRAs fused while their set stays.

Compiling is real here (inductor, the machine's C++ compiler), in fresh interpreters: a restart is a new
process. The figures on a GPU are bench/bench_gpu.py's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.engine.factory import make_engine
from studio.engine.models import DeviceSettings, MemoryMode
from studio.engine.speed import FastPath, why_not_fast
from studio.engine.tiny import tiny_model_folder
from studio.recipe import LoraRef, Recipe
from tests.loras import make_lora

ROOT = Path(__file__).resolve().parents[1]

# One run of the studio in a fresh interpreter: the engine as launch.py makes it, with --fast on the CPU.
ONE_START = """
import json, sys, time
from pathlib import Path

import numpy as np
import torch
from torch._dynamo.utils import counters

from studio.engine.factory import make_engine
from studio.engine.models import DeviceSettings
from studio.recipe import LoraRef, Recipe
from tests.loras import make_lora

torch.set_num_threads(1)
cache, out, everything = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "everything"
engine = make_engine(cache_dir=cache, settings=DeviceSettings("cpu", torch.float32), fast=True)
engine.load("tiny")
recipe = Recipe(model="tiny", prompt="a lighthouse at dusk", width=64, height=64, steps=3, seed=11)
started = time.monotonic()
engine.warm_up(recipe)  # as launch.py does while the window opens
warm_up_seconds = time.monotonic() - started
graphs = counters["stats"]["unique_graphs"]
first = engine.generate(recipe)[0]
first.save(out / "fast.png")
same_twice = eager_in_lane = compiled_after_lane = None
unet = engine.pipelines.base.unet
if everything:
    same_twice = np.array_equal(np.asarray(engine.generate(recipe)[0]), np.asarray(first))
    lora = make_lora(out / "lora.safetensors", cache, seed=3, text_encoder=True)
    engine.generate(recipe.replace(loras=(LoraRef(str(lora), 0.7),)))
    engine.generate(recipe.replace(loras=(LoraRef(str(lora), 0.3),)))
    with engine.lane():  # training's lane: eager inside, compiled again after
        eager_in_lane = unet._compiled_call_impl is None
    compiled_after_lane = unet._compiled_call_impl is not None
compiled_after_warm_up = counters["stats"]["unique_graphs"] - graphs  # the runs and the LoRAs: nothing new
compiled = unet._compiled_call_impl is not None
notice = engine.take_speed_notice()
eager = make_engine(cache_dir=cache, settings=DeviceSettings("cpu", torch.float32), fast=False)
eager.generate(recipe)[0].save(out / "eager.png")
print(json.dumps({
    "warm_up_seconds": warm_up_seconds,
    "graphs": graphs,
    "compiled_after_warm_up": compiled_after_warm_up,
    "compiled": compiled,
    "eager_in_lane": eager_in_lane,
    "compiled_after_lane": compiled_after_lane,
    "same_twice": same_twice,
    "hits": counters["inductor"]["fxgraph_cache_hit"],
    "misses": counters["inductor"]["fxgraph_cache_miss"],
    "speed": engine.speed,
    "notice": notice,
}))
"""


def start_studio(cache: Path, out: Path, *, everything: bool = False, **environment: str) -> dict:
    """One start of the studio in its own interpreter; what it measured (`everything`: LoRAs and the lane too)."""
    out.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("TORCHINDUCTOR")}
    env |= {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)} | environment
    done = subprocess.run(
        [sys.executable, "-c", ONE_START, str(cache), str(out), "everything" if everything else "the picture"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"stderr": done.stderr}


@pytest.fixture
def own_cache(model_cache: Path, tmp_path: Path) -> Path:
    """A cache folder of this test's own, nothing compiled yet, whose tiny model has a one-block UNet.

    Compiling costs by the size of the graph (the tiny UNet takes 45 s here, this one 20 s); the path
    it goes through, the cache and the fall-back are the same for any UNet. The rest is the tiny model's.
    """
    from diffusers import UNet2DConditionModel

    tiny = tiny_model_folder(model_cache)
    cache = tmp_path / "cache"
    small = cache / tiny.name
    small.mkdir(parents=True)
    for part in tiny.iterdir():
        if part.name != "unet":
            (small / part.name).symlink_to(part)
    config = json.loads((tiny / "unet" / "config.json").read_text())
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=config["sample_size"],
        block_out_channels=(32,),
        down_block_types=("CrossAttnDownBlock2D",),  # attention too: LoRAs need their projections
        up_block_types=("CrossAttnUpBlock2D",),
        mid_block_type=None,
        layers_per_block=1,
        cross_attention_dim=config["cross_attention_dim"],
        attention_head_dim=config["attention_head_dim"],
        norm_num_groups=config["norm_num_groups"],
    )
    unet.save_pretrained(small / "unet")
    return cache


def pixels(picture: Image.Image | Path) -> np.ndarray:
    return np.asarray(Image.open(picture) if isinstance(picture, Path) else picture).astype(int)


@pytest.mark.longest
def test_compiled_once_then_a_restart_reuses_the_kernels_from_disk(own_cache, tmp_path):
    cold = start_studio(own_cache, tmp_path / "cold", everything=True)
    assert cold["compiled"] and cold["speed"].startswith("fast") and cold["notice"] is None
    assert cold["misses"] >= 1 and cold["hits"] == 0  # compiled from nothing, by the warm-up
    assert any((own_cache / "compiled").rglob("*.py")), "the kernels are kept in the studio's cache folder"
    # After the warm-up nothing compiles again: not the artist's runs, not a LoRA, not a change of its weight.
    assert cold["graphs"] >= 1 and cold["compiled_after_warm_up"] == 0
    assert cold["same_twice"]  # a seed gives its picture on the fast path too
    # Training's lane runs eagerly (compiling a backward pass would stall it); generating is compiled again after.
    assert cold["eager_in_lane"] and cold["compiled_after_lane"]
    # The compiled path paints the eager path's picture, within float rounding (fp32 here).
    assert np.abs(pixels(tmp_path / "cold" / "fast.png") - pixels(tmp_path / "cold" / "eager.png")).max() <= 2

    restart = start_studio(own_cache, tmp_path / "restart")
    assert restart["compiled"] and restart["hits"] >= 1 and restart["misses"] == 0  # nothing compiled again
    assert np.array_equal(pixels(tmp_path / "restart" / "fast.png"), pixels(tmp_path / "cold" / "fast.png"))


def test_a_compile_failure_falls_back_to_eager_and_the_run_still_paints(own_cache, tmp_path):
    # The real failure of a machine without a C++ compiler: inductor finds none and gives up.
    started = start_studio(own_cache, tmp_path / "run", CXX="/nonexistent/c++")
    assert started["notice"].startswith("The fast path failed and the studio runs eagerly from now on")
    assert "compiler" in started["notice"]
    assert started["speed"].startswith("eager: the fast path failed") and not started["compiled"]
    # The run was painted all the same, eagerly: the very pixels of an eager engine.
    assert np.array_equal(pixels(tmp_path / "run" / "fast.png"), pixels(tmp_path / "run" / "eager.png"))
    assert started["stderr"].count("The fast path failed") == 1  # one line, once, not a traceback per run


def test_the_fast_path_is_on_where_it_works_and_says_why_not_elsewhere(tmp_path):
    cpu = DeviceSettings("cpu", torch.float32)
    assert why_not_fast(cpu) == ("on the CPU compiling takes about a minute and gains little", True)
    assert not FastPath.for_device(cpu, wanted=None, cache_dir=tmp_path).enabled
    assert FastPath.for_device(cpu, wanted=True, cache_dir=tmp_path).enabled  # --fast: tried where it only costs
    off = FastPath.for_device(cpu, wanted=False, cache_dir=tmp_path)
    assert not off.enabled and off.describe() == "eager: turned off (--no-fast)"
    # Offloading moves modules during a run: compiled code cannot follow, and --fast cannot force it.
    offloading = DeviceSettings("cuda", torch.float16, MemoryMode.LOW)
    assert not FastPath.for_device(offloading, wanted=True, cache_dir=tmp_path).enabled
    assert "memory mode" in FastPath.for_device(offloading, wanted=None, cache_dir=tmp_path).describe()
    mps = DeviceSettings("mps", torch.float32)
    assert not FastPath.for_device(mps, wanted=True, cache_dir=tmp_path).enabled


# --- LoRAs: fused while the set stays ------------------------------------------------------------


def unfused_reference(model_cache: Path, recipe: Recipe, dtype: torch.dtype) -> np.ndarray:
    """diffusers' own picture with the recipe's LoRAs applied unfused (peft's extra matrices at every step)."""
    from diffusers import StableDiffusionPipeline

    from studio.engine import prompts
    from studio.engine.samplers import make_scheduler

    pipe = StableDiffusionPipeline.from_pretrained(
        tiny_model_folder(model_cache), dtype=dtype, safety_checker=None, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    names = []
    for number, lora in enumerate(sorted(recipe.loras, key=lambda lora: lora.name)):
        pipe.load_lora_weights(lora.name, adapter_name=f"own_{number}")
        names.append(f"own_{number}")
    if names:
        pipe.set_adapters(names, [lora.weight for lora in sorted(recipe.loras, key=lambda lora: lora.name)])
    pipe.scheduler = make_scheduler(recipe.sampler, recipe.scheduler, pipe.scheduler.config, seed=recipe.seed)
    with torch.inference_mode():
        picture = pipe(
            # The studio's own reading of the prompt (A1111's emphasis and chunks), through the LoRA'd text encoder.
            **prompts.encode(pipe, recipe.prompt, recipe.negative_prompt, clip_skip=recipe.clip_skip),
            num_inference_steps=recipe.steps,
            guidance_scale=recipe.cfg_scale,
            width=recipe.width,
            height=recipe.height,
            generator=[torch.Generator("cpu").manual_seed(recipe.seed)],
        ).images[0]
    return pixels(picture)


def test_fused_loras_give_the_unfused_pixels_and_a_change_of_loras_leaves_nothing_behind(model_cache, tmp_path):
    # In float64 fusing is exact to the last pixel; in fp32 and fp16 it is exact to rounding, which this tiny
    # random model (a chaotic one: its LoRAs change every pixel) magnifies, so the pixel claim is made here.
    engine = make_engine(cache_dir=model_cache, settings=DeviceSettings("cpu", torch.float64))
    first = make_lora(tmp_path / "first.safetensors", model_cache, seed=21, text_encoder=True)
    second = make_lora(tmp_path / "second.safetensors", model_cache, seed=22, kohya=True)
    base = Recipe(model="tiny", prompt="a knight in the rain", width=64, height=64, steps=2, seed=5)
    plain = pixels(engine.generate(base)[0])
    assert np.array_equal(plain, unfused_reference(model_cache, base, torch.float64))
    sets = [
        (LoraRef(str(first), 0.8),),
        (LoraRef(str(second), 0.6),),  # a change: the first set unfused, the second fused
        (LoraRef(str(first), 0.8), LoraRef(str(second), -0.4)),
    ]
    for loras in sets:
        recipe = base.replace(loras=loras)
        ours = pixels(engine.generate(recipe)[0])
        assert np.array_equal(ours, unfused_reference(model_cache, recipe, torch.float64)), loras
    assert np.array_equal(pixels(engine.generate(recipe)[0]), ours)  # the same set again: still fused, same pixels
    assert np.array_equal(pixels(engine.generate(base)[0]), plain)  # none: the base model's own pixels


def test_unfusing_puts_back_the_models_own_weights_bit_for_bit(engine, model_cache, tmp_path):
    """fp32: peft's unfuse subtracts what it added, which rounds; the studio copies the weights back instead."""
    first = make_lora(tmp_path / "a.safetensors", model_cache, seed=31, text_encoder=True)
    second = make_lora(tmp_path / "b.safetensors", model_cache, seed=32)
    base = Recipe(model="tiny", prompt="a fox", width=64, height=64, steps=2, seed=9)
    engine.generate(base)
    pipe = engine.pipelines.base

    def own_weights() -> dict[str, torch.Tensor]:
        weights = {}
        for part in ("unet", "text_encoder"):
            for name, tensor in getattr(pipe, part).state_dict().items():
                if "lora_" not in name:  # the model's own, wherever peft has wrapped it (…base_layer.weight)
                    weights[f"{part}.{name.replace('.base_layer', '')}"] = tensor.clone()
        return weights

    before = own_weights()
    for weight in (1.0, 0.5, -0.7):  # fused and unfused three times over: rounding would pile up
        engine.generate(base.replace(loras=(LoraRef(str(first), weight), LoraRef(str(second), 0.9))))
        engine.generate(base.replace(loras=(LoraRef(str(second), weight),)))
    engine.generate(base)
    after = own_weights()
    assert before.keys() <= after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_the_model_keeps_the_precision_it_was_loaded_in(model_cache):
    """fp16 on a GPU: diffusers' `from_pipe` (the img2img, inpaint and ControlNet views) would cast every shared
    module to fp32 unless told, and the studio would run at a fraction of its speed in twice the memory."""
    from studio.recipe import TINY_MODEL, Mode

    engine = make_engine(cache_dir=model_cache, settings=DeviceSettings("cpu", torch.float16))
    engine.load("tiny")
    pipelines = engine.pipelines
    views = [pipelines.for_mode(mode) for mode in Mode]
    views.append(pipelines.with_control(Mode.INPAINT, [engine._controlnet(pipelines, TINY_MODEL)]))
    modules = {
        f"{type(view).__name__}.{name}": module
        for view in views
        for name, module in view.components.items()
        if isinstance(module, torch.nn.Module)
    }
    assert {name: module.dtype for name, module in modules.items() if module.dtype != torch.float16} == {}


def test_the_speed_and_memory_options(capsys):
    from launch import parse_args

    assert parse_args([]).fast is None and parse_args([]).memory is None  # the device decides; normal memory
    assert parse_args(["--no-fast"]).fast is False and parse_args(["--fast"]).fast is True
    assert parse_args(["--low-memory"]).memory == MemoryMode.LOW
    assert parse_args(["--lowest-memory"]).memory == MemoryMode.LOWEST
    with pytest.raises(SystemExit):
        parse_args(["--low-memory", "--lowest-memory"])  # one mode or the other
    assert "not allowed with argument" in capsys.readouterr().err


def test_what_turns_the_fast_path_off_and_what_does_not():
    """The policy of FastPath.run, on a module compiled in place (it compiles at its first call; none here)."""
    from studio.engine.speed import FastPath

    def fast_path() -> tuple[FastPath, torch.nn.Module]:
        fast, module = FastPath(enabled=True), torch.nn.Linear(2, 2)
        fast.compile(module)
        assert fast.compiled
        return fast, module

    # The compiled code fails where eager code does not: the run is painted eagerly, the fast path goes off.
    fast, module = fast_path()
    tries = []

    def fails_compiled() -> str:
        tries.append("eager" if module._compiled_call_impl is None else "compiled")
        if tries[-1] == "compiled":
            raise RuntimeError("CUDA graph capture failed")
        return "picture"

    assert fast.run(fails_compiled) == "picture" and tries == ["compiled", "eager"]
    assert not fast.enabled and module._compiled_call_impl is None
    assert fast.take_notice() == (
        "The fast path failed and the studio runs eagerly from now on: RuntimeError: CUDA graph capture failed"
    )
    assert fast.take_notice() is None  # once

    # The run's own failures leave it on: bad input, memory (also when compiling ran out), an error eager code has too.
    def out_of_memory_while_compiling():
        try:
            raise torch.OutOfMemoryError("CUDA out of memory")
        except torch.OutOfMemoryError as error:
            raise RuntimeError("backend compiler failed") from error

    def bad_input():
        raise ValueError("width: not a multiple of 8")

    def always_fails():
        raise RuntimeError("expected all tensors to be on the same device")

    for run, error in ((out_of_memory_while_compiling, RuntimeError), (bad_input, ValueError), (always_fails, None)):
        fast, module = fast_path()
        with pytest.raises(error or RuntimeError):
            fast.run(run)
        assert fast.enabled and fast.compiled and fast.notice is None, run.__name__


def test_a_controlnets_outputs_survive_the_unets_next_compiled_call():
    """Under CUDA graphs a compiled call's outputs sit in memory that the next compiled call reuses (each call is
    a new iteration), so a ControlNet's residuals would be overwritten before the UNet reads them: on an H200 the
    first ControlNet run turned the fast path off. The replay below reuses its output buffer as a graph does."""
    from studio.engine.speed import outputs_copied

    static_output = torch.zeros(3)

    def graph_replay(x: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        static_output.copy_(x)
        return (static_output, static_output * 2), static_output

    controlnet = outputs_copied(graph_replay)
    (down, doubled), mid = controlnet(torch.ones(3))
    controlnet(torch.full((3,), 7.0))  # the next step's call, before the UNet has read the first one's residuals
    assert down.tolist() == mid.tolist() == [1.0, 1.0, 1.0] and doubled.tolist() == [2.0, 2.0, 2.0]

    # Only modules that feed another compiled module pay for the copy, and only under CUDA graphs.
    for cuda_graphs, feeds_another, copies in ((True, True, True), (True, False, False), (False, True, False)):
        fast, module = FastPath(enabled=True, cuda_graphs=cuda_graphs), torch.nn.Linear(2, 2)
        fast.compile(module, feeds_another=feeds_another)
        assert fast.compiled
        assert (getattr(module._compiled_call_impl, "__name__", "") == "copied") is copies
        with fast.eager():
            assert module._compiled_call_impl is None
        assert (getattr(module._compiled_call_impl, "__name__", "") == "copied") is copies
