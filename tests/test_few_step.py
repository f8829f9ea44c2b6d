"""Few-step sampling for live painting: LCM, TCD and trailing ("SGM Uniform") schedules as diffusers makes them, and
LCM, Lightning, Hyper-SD, TCD and Turbo files recognised with the settings they are made for."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers import LCMScheduler, TCDScheduler

from studio.engine.samplers import make_scheduler
from studio.live.few_step import recognise
from studio.recipe import Recipe
from studio.services.loras import Loras
from tests.loras import make_lora


@pytest.mark.parametrize("steps", [1, 4, 8])
def test_lcm_tcd_and_trailing_timesteps_are_diffusers_own(engine, steps):
    engine.load("tiny")
    config = engine.pipelines.scheduler_config
    for sampler, reference in (("LCM", LCMScheduler), ("TCD", TCDScheduler)):
        ours, theirs = make_scheduler(sampler, "Automatic", config, seed=1), reference.from_config(config)
        ours.set_timesteps(steps)
        theirs.set_timesteps(steps)
        assert ours.timesteps.tolist() == theirs.timesteps.tolist(), sampler
    # Trailing spacing, computed here: the last timestep first, then evenly down (SDXL-Lightning's and A1111's
    # "SGM Uniform"), never the model's 1 at the bottom.
    euler = make_scheduler("Euler", "SGM Uniform", config, seed=1)
    euler.set_timesteps(steps)
    trained = config["num_train_timesteps"]
    expected = np.round(np.arange(trained, 0, -trained / steps)) - 1
    assert euler.timesteps.tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("name", "kind", "steps", "cfg", "sampler"),
    [
        ("lcm-lora-sdv1-5.safetensors", "LCM", 4, 1.5, "LCM"),
        ("LCM_LoRA_SDXL.safetensors", "LCM", 4, 1.5, "LCM"),
        ("sdxl_lightning_4step_lora.safetensors", "Lightning", 4, 1.0, "Euler"),
        ("sdxl_lightning_8step_lora.safetensors", "Lightning", 8, 1.0, "Euler"),
        ("Hyper-SD15-8steps-lora.safetensors", "Hyper-SD", 8, 1.0, "Euler"),
        ("Hyper-SDXL-12steps-CFG-lora.safetensors", "Hyper-SD", 12, 5.0, "Euler"),
        ("TCD-SDXL-LoRA.safetensors", "TCD", 4, 1.0, "TCD"),
        ("stabilityai/sdxl-turbo", "Turbo", 4, 1.0, "Euler a"),
    ],
)
def test_few_step_files_are_recognised_with_their_settings(name, kind, steps, cfg, sampler):
    found = recognise(name)
    assert found is not None and (found.kind, found.steps, found.cfg_scale, found.sampler) == (
        kind,
        steps,
        cfg,
        sampler,
    )


def test_other_files_are_not_taken_for_few_step_ones():
    for name in ("detail-tweaker.safetensors", "blclm-style.safetensors", "mira_v2.safetensors", "tiny"):
        assert recognise(name) is None
    # A trainer's title in the header says it, whatever the file is called.
    assert recognise("my-speedup.safetensors", {"modelspec.title": "LCM LoRA SD1.5"}).kind == "LCM"  # pyright: ignore[reportOptionalMemberAccess]


def test_a_tiny_lcm_lora_in_the_library_offers_its_settings_and_runs_live_with_them(
    engine, model_cache, tmp_path, monkeypatch
):
    folder = tmp_path / "loras"
    folder.mkdir()
    make_lora(folder / "lcm-lora-tiny.safetensors", model_cache, seed=4)  # the LCM-LoRA layout: UNet layers only
    loras = Loras(folder)
    recipe = Recipe(prompt="a lighthouse <lora:lcm-lora-tiny:1>", model="tiny", width=64, height=64, seed=7)
    found = loras.few_step(recipe)
    assert found is not None and found.kind == "LCM" and found.source == "lcm-lora-tiny.safetensors"
    assert loras.few_step(recipe.replace(prompt="a lighthouse")) is None  # the tiny model itself is not few-step

    monkeypatch.setattr(engine, "lora_dir", folder)  # the shared engine's LoRA folder, for this test only
    fast = recipe.replace(
        steps=found.steps, cfg_scale=found.cfg_scale, sampler=found.sampler, scheduler=found.scheduler
    )
    steps = []
    engine.generate(fast, on_step=lambda progress: steps.append(progress.step), live=True)
    assert steps == [1, 2, 3, 4]
