"""sd-webui-controlnet's control modes on the real engine: the residuals the UNet receives, against the ControlNet's
own outputs scaled as sd-webui-controlnet's code scales them (scripts/hook.py: `weight * 0.825 ** (12 - i)`, and
for "ControlNet is more important" nothing for the unconditional half of CFG)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.control.pose import PRESETS, render
from studio.errors import InputError
from studio.recipe import ControlMode, ControlRef, Recipe

SIZE = 64
POSE = render(PRESETS["walking"], (SIZE, SIZE))
EDGES = render(PRESETS["standing"], (SIZE, SIZE))


def recipe(*units: ControlRef, cfg_scale: float = 7.0) -> Recipe:
    return Recipe(
        prompt="a dancer", model="tiny", steps=2, width=SIZE, height=SIZE, seed=3, cfg_scale=cfg_scale, controls=units
    )


def unit(mode: ControlMode, role: str = "control-0", weight: float = 0.8) -> ControlRef:
    return ControlRef("openpose", "tiny", role, weight, control_mode=mode)


def run_and_watch(engine, controlled: Recipe, images: dict) -> tuple[list, list]:
    """Run `controlled`; each ControlNet call's own outputs, and the residuals each UNet call was given."""
    engine.generate(controlled, control_images=images)  # loads the tiny ControlNet, once
    controlnet = engine.pipelines.controlnets["tiny"]
    own: list[list[torch.Tensor]] = []
    given: list[list[torch.Tensor]] = []

    def record_own(module, args, kwargs, output):
        down, mid = output
        own.append([residual.clone() for residual in (*down, mid)])

    def record_given(module, args, kwargs):
        if kwargs.get("down_block_additional_residuals") is not None:
            down = kwargs["down_block_additional_residuals"]
            given.append([residual.clone() for residual in (*down, kwargs["mid_block_additional_residual"])])

    hooks = [
        controlnet.register_forward_hook(record_own, with_kwargs=True),
        engine.pipelines.base.unet.register_forward_pre_hook(record_given, with_kwargs=True),
    ]
    try:
        engine.generate(controlled, control_images=images)
    finally:
        for hook in hooks:
            hook.remove()
    return own, given


def sd_webui_controlnet_factors(count: int) -> list[float]:
    """scripts/hook.py: `[weight * (0.825 ** float(12 - i)) for i in range(13)]`, zipped with the outputs."""
    return [0.825 ** float(12 - i) for i in range(13)][:count]


def test_balanced_gives_the_unet_the_controlnet_s_own_residuals(engine):
    own, given = run_and_watch(engine, recipe(unit(ControlMode.BALANCED)), {"control-0": POSE})
    assert len(own) == len(given) == 2  # one call a step
    for step_own, step_given in zip(own, given, strict=True):
        for mine, theirs in zip(step_own, step_given, strict=True):
            assert torch.equal(mine, theirs)


def test_my_prompt_is_more_important_fades_the_residuals_as_sd_webui_controlnet_does(engine):
    own, given = run_and_watch(engine, recipe(unit(ControlMode.PROMPT)), {"control-0": POSE})
    for step_own, step_given in zip(own, given, strict=True):
        factors = sd_webui_controlnet_factors(len(step_own))
        for mine, theirs, factor in zip(step_own, step_given, factors, strict=True):
            torch.testing.assert_close(theirs, mine * factor, rtol=1e-6, atol=0)
        assert step_given[0].abs().sum() < step_own[0].abs().sum()  # the shallowest block gets the least


def test_controlnet_is_more_important_leaves_the_unconditional_half_without_control(engine):
    own, given = run_and_watch(engine, recipe(unit(ControlMode.CONTROL)), {"control-0": POSE})
    for step_own, step_given in zip(own, given, strict=True):
        factors = sd_webui_controlnet_factors(len(step_own))
        for mine, theirs, factor in zip(step_own, step_given, factors, strict=True):
            half = mine.shape[0] // 2  # diffusers' CFG batch: the negative prompt's half first
            assert half >= 1 and not theirs[:half].any()
            torch.testing.assert_close(theirs[half:], mine[half:] * factor, rtol=1e-6, atol=0)
    # Without CFG the whole batch is conditional: only the fading remains.
    own, given = run_and_watch(engine, recipe(unit(ControlMode.CONTROL), cfg_scale=1.0), {"control-0": POSE})
    for step_own, step_given in zip(own, given, strict=True):
        for mine, theirs, factor in zip(step_own, step_given, sd_webui_controlnet_factors(len(step_own)), strict=True):
            torch.testing.assert_close(theirs, mine * factor, rtol=1e-6, atol=0)


def test_each_unit_keeps_its_own_mode_and_the_pictures_differ_by_mode(engine):
    images = {"control-0": POSE, "control-1": EDGES}
    both = recipe(unit(ControlMode.BALANCED), unit(ControlMode.PROMPT, role="control-1", weight=1.0))
    own, given = run_and_watch(engine, both, images)
    assert len(own) == 2 * len(given)  # the same ControlNet, called once per unit a step
    for step, step_given in enumerate(given):
        first, second = own[2 * step], own[2 * step + 1]
        factors = sd_webui_controlnet_factors(len(first))
        expected = [a + b * factor for a, b, factor in zip(first, second, factors, strict=True)]
        for theirs, wanted in zip(step_given, expected, strict=True):
            torch.testing.assert_close(theirs, wanted, rtol=1e-6, atol=1e-7)

    pictures = {
        mode: np.asarray(engine.generate(recipe(unit(mode)), control_images={"control-0": POSE})[0])
        for mode in ControlMode
    }
    assert not np.array_equal(pictures[ControlMode.BALANCED], pictures[ControlMode.PROMPT])
    assert not np.array_equal(pictures[ControlMode.PROMPT], pictures[ControlMode.CONTROL])
    again = engine.generate(recipe(unit(ControlMode.CONTROL)), control_images={"control-0": POSE})[0]
    assert np.array_equal(np.asarray(again), pictures[ControlMode.CONTROL])  # a replay is exact


def test_the_union_controlnet_runs_balanced_only_and_says_so(sdxl_engine):
    edges = ControlRef("canny", "tiny-union", "control-0", control_mode=ControlMode.PROMPT)
    run = Recipe(prompt="a dancer", model="tiny-sdxl", steps=1, width=64, height=64, seed=1, controls=(edges,))
    with pytest.raises(InputError, match="the union ControlNet runs Balanced only"):
        sdxl_engine.generate(run, control_images={"control-0": EDGES})
