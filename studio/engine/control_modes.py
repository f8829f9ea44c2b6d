"""sd-webui-controlnet's control modes on diffusers' ControlNets.

Its definition (scripts/hook.py and scripts/controlnet.py of Mikubill/sd-webui-controlnet):

- *Balanced*: every residual at the unit's weight.
- *My prompt is more important* ("soft injection"): residual `i` of the ControlNet's outputs (the down blocks'
  in order, then the middle block's) at `weight * 0.825 ** (12 - i)`, for i = 0..12: the shallow blocks, which
  carry the layout, get the least. An SDXL ControlNet has 10 outputs: like its `zip`, the first 10 factors apply.
- *ControlNet is more important*: the same factors, and the unconditional half of classifier-free guidance gets no
  control at all ("cfg injection"), so the guidance pushes towards the control.

diffusers' `guess_mode` is close (its factors are `logspace(-1, 0)`, 0.8254 a step instead of 0.825) but is one
switch for the whole pipeline; here each unit has its own mode.
"""

from __future__ import annotations

import torch
from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

from studio.recipe import ControlMode

SOFT_STEP = 0.825  # sd-webui-controlnet's factor between neighbouring residuals
SOFT_COUNT = 13  # its list of factors: SD 1.5's 12 down residuals and the middle one


def soft_factors(count: int) -> list[float]:
    """The factor of each of a ControlNet's `count` residuals (down blocks in order, then the middle block) under
    the soft modes, before the unit's weight."""
    factors = [SOFT_STEP ** float(SOFT_COUNT - 1 - i) for i in range(SOFT_COUNT)]
    return factors[:count]


def apply_mode(
    down: list[torch.Tensor], mid: torch.Tensor, mode: ControlMode, *, guided: bool
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """One unit's residuals (already at its weight) under `mode`. `guided`: the batch is classifier-free
    guidance's, its unconditional half first (diffusers' order)."""
    if mode is ControlMode.BALANCED:
        return down, mid
    residuals = [*down, mid]
    residuals = [residual * factor for residual, factor in zip(residuals, soft_factors(len(residuals)), strict=True)]
    if mode is ControlMode.CONTROL and guided:
        half = residuals[0].shape[0] // 2
        conditional = torch.ones(residuals[0].shape[0], 1, 1, 1, dtype=residuals[0].dtype, device=residuals[0].device)
        conditional[:half] = 0
        residuals = [residual * conditional for residual in residuals]
    return residuals[:-1], residuals[-1]


class ModedControlNets(MultiControlNetModel):
    """Several ControlNets (or one) summed as diffusers sums them, each unit's residuals under its own mode.

    Made per run, only when a unit is not Balanced: a Balanced run keeps diffusers' own classes and pixels."""

    def __init__(self, controlnets: list, modes: list[ControlMode], *, guided: bool) -> None:
        super().__init__(controlnets)
        if len(modes) != len(controlnets):
            raise ValueError(f"{len(controlnets)} ControlNets need {len(controlnets)} modes, not {len(modes)}")
        self.modes = list(modes)
        self.guided = guided

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale, **kwargs):
        kwargs["return_dict"] = False
        total_down: list[torch.Tensor] | None = None
        total_mid: torch.Tensor | None = None
        for image, scale, controlnet, mode in zip(
            controlnet_cond, conditioning_scale, self.nets, self.modes, strict=True
        ):
            down, mid = controlnet(
                sample=sample,
                timestep=timestep,
                encoder_hidden_states=encoder_hidden_states,
                controlnet_cond=image,
                conditioning_scale=scale,
                **kwargs,
            )
            down, mid = apply_mode(list(down), mid, mode, guided=self.guided)
            if total_down is None or total_mid is None:
                total_down, total_mid = down, mid
            else:
                total_down = [before + now for before, now in zip(total_down, down, strict=True)]
                total_mid = total_mid + mid
        assert total_down is not None and total_mid is not None  # at least one unit: the pipeline checks
        return total_down, total_mid
