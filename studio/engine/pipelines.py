"""One loaded model, seen as a txt2img, img2img or inpaint pipeline without a second copy of its weights."""

from __future__ import annotations

import inspect
from typing import cast

import torch
from diffusers import (
    ControlNetModel,
    ControlNetUnionModel,
    DiffusionPipeline,
    FluxControlNetImg2ImgPipeline,
    FluxControlNetInpaintPipeline,
    FluxControlNetModel,
    FluxControlNetPipeline,
    FluxFillPipeline,
    FluxImg2ImgPipeline,
    FluxInpaintPipeline,
    FluxKontextInpaintPipeline,
    FluxKontextPipeline,
    FluxPipeline,
    StableDiffusionControlNetImg2ImgPipeline,
    StableDiffusionControlNetInpaintPipeline,
    StableDiffusionControlNetPipeline,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionXLControlNetImg2ImgPipeline,
    StableDiffusionXLControlNetInpaintPipeline,
    StableDiffusionXLControlNetPipeline,
    StableDiffusionXLControlNetUnionImg2ImgPipeline,
    StableDiffusionXLControlNetUnionInpaintPipeline,
    StableDiffusionXLControlNetUnionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
)
from diffusers.models.controlnets.controlnet_flux import FluxMultiControlNetModel
from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
from diffusers.models.controlnets.multicontrolnet_union import MultiControlNetUnionModel

from studio.engine.control_modes import ModedControlNets
from studio.engine.families import Family
from studio.engine.lora import LoraAdapters
from studio.errors import InputError
from studio.recipe import ControlMode, Mode

_VIEW_CLASSES: dict[Family, dict[Mode, type[DiffusionPipeline]]] = {
    Family.SD15: {Mode.IMG2IMG: StableDiffusionImg2ImgPipeline, Mode.INPAINT: StableDiffusionInpaintPipeline},
    Family.SDXL: {Mode.IMG2IMG: StableDiffusionXLImg2ImgPipeline, Mode.INPAINT: StableDiffusionXLInpaintPipeline},
    Family.FLUX: {Mode.IMG2IMG: FluxImg2ImgPipeline, Mode.INPAINT: FluxInpaintPipeline},
}
_CONTROL_VIEW_CLASSES: dict[Family, dict[Mode, type[DiffusionPipeline]]] = {
    Family.SD15: {
        Mode.TXT2IMG: StableDiffusionControlNetPipeline,
        Mode.IMG2IMG: StableDiffusionControlNetImg2ImgPipeline,
        Mode.INPAINT: StableDiffusionControlNetInpaintPipeline,
    },
    Family.SDXL: {
        Mode.TXT2IMG: StableDiffusionXLControlNetPipeline,
        Mode.IMG2IMG: StableDiffusionXLControlNetImg2ImgPipeline,
        Mode.INPAINT: StableDiffusionXLControlNetInpaintPipeline,
    },
}
_FLUX_CONTROL_VIEW_CLASSES: dict[Mode, type[DiffusionPipeline]] = {
    Mode.TXT2IMG: FluxControlNetPipeline,
    Mode.IMG2IMG: FluxControlNetImg2ImgPipeline,
    Mode.INPAINT: FluxControlNetInpaintPipeline,
}
_UNION_VIEW_CLASSES: dict[Mode, type[DiffusionPipeline]] = {
    Mode.TXT2IMG: StableDiffusionXLControlNetUnionPipeline,
    Mode.IMG2IMG: StableDiffusionXLControlNetUnionImg2ImgPipeline,
    Mode.INPAINT: StableDiffusionXLControlNetUnionInpaintPipeline,
}
# SDXL's views would each add an invisible watermark unless told not to: the artist's pixels stay theirs.
_VIEW_OPTIONS: dict[Family, dict] = {Family.SD15: {}, Family.SDXL: {"add_watermarker": False}, Family.FLUX: {}}


AnyControlNet = ControlNetModel | ControlNetUnionModel | FluxControlNetModel


def family_of(pipe: DiffusionPipeline) -> Family:
    if isinstance(pipe, FluxPipeline):
        return Family.FLUX
    return Family.SDXL if isinstance(pipe, StableDiffusionXLPipeline) else Family.SD15


def is_fill_model(pipe: DiffusionPipeline) -> bool:
    """Whether `pipe` holds a Flux Fill model (FLUX.1 Fill): its transformer reads the masked picture's latents and
    the mask (8x8 pixels per latent pixel) beside its own latents, each packed in 2x2 patches."""
    if not isinstance(pipe, FluxPipeline):
        return False
    packed = 4 * pipe.vae.config.latent_channels  # pyright: ignore[reportAttributeAccessIssue]
    return pipe.transformer.config.in_channels == 2 * packed + 4 * pipe.vae_scale_factor**2  # pyright: ignore


def denoiser(pipe: DiffusionPipeline) -> torch.nn.Module:
    """The network that runs at every step: SD's UNet, Flux's transformer."""
    return pipe.transformer if isinstance(pipe, FluxPipeline) else pipe.unet  # pyright: ignore[reportAttributeAccessIssue]


class PipelineSet:
    """The base pipeline plus its views per mode, made with `from_pipe` as the model loads.

    Views share every module with the base (no second copy of the weights); making them up front
    keeps a mode switch to a dictionary look-up.
    """

    def __init__(self, base: DiffusionPipeline, model: str) -> None:
        self.base = base
        self.model = model
        self.family = family_of(base)
        self.fill = is_fill_model(base)  # FLUX.1 Fill: it paints only where a mask says (see flux.check_fill)
        # Views share the scheduler object too, so keep the pristine configuration to build from.
        self.scheduler_config = base.scheduler.config
        self.loras = LoraAdapters()  # loaded into the shared modules, so every view sees them
        # ControlNets loaded for this model, by the spec a recipe names them with; kept for the next run.
        self.controlnets: dict[str, AnyControlNet] = {}
        # `from_pipe` casts every module it shares to float32 unless told the dtype: an fp16 model on a GPU
        # would silently run in fp32 (twice the memory, a fraction of the speed).
        self._view_options = {**_VIEW_OPTIONS[self.family], "dtype": base.dtype}
        self._views: dict[Mode, DiffusionPipeline] = {Mode.TXT2IMG: base}
        self._kontext_views: dict[Mode, DiffusionPipeline] = {}
        for mode, view_class in _VIEW_CLASSES[self.family].items():
            self._views[mode] = self._view(FluxFillPipeline if self.fill and mode is Mode.INPAINT else view_class)

    def for_mode(self, mode: Mode) -> DiffusionPipeline:
        return self._views[mode]

    def kontext(self, mode: Mode) -> DiffusionPipeline:
        """diffusers' Flux.1 Kontext pipeline for `mode` (img2img: the picture drawn anew as the words say; inpaint:
        only the masked area), made on the first Kontext edit and kept: most sessions never make one."""
        if self.family is not Family.FLUX:
            raise InputError(
                "kontext: an edit described in words needs a Flux.1 Kontext model (e.g. "
                "black-forest-labs/FLUX.1-Kontext-dev); load one"
            )
        if mode not in self._kontext_views:
            view_class = FluxKontextInpaintPipeline if mode is Mode.INPAINT else FluxKontextPipeline
            self._kontext_views[mode] = self._view(view_class)
        return self._kontext_views[mode]

    def with_control(
        self,
        mode: Mode,
        controlnets: list[AnyControlNet],
        control_modes: list[ControlMode] | None = None,
        *,
        guided: bool = True,
    ) -> DiffusionPipeline:
        """The ControlNet pipeline for `mode`, sharing the base's modules; made per run, as the units change.

        Union ControlNets run in diffusers' union pipelines, one entry per unit (the same model may
        serve several units: each gets its own kind, map, weight and steps, no second copy).
        `control_modes`: each unit's (studio/engine/control_modes.py); `guided`: the run uses CFG."""
        if self.family is Family.FLUX:
            return self._with_flux_control(mode, cast(list[FluxControlNetModel], controlnets), control_modes)
        union = [isinstance(controlnet, ControlNetUnionModel) for controlnet in controlnets]
        if any(union) and not all(union):
            raise InputError(
                "controls: a union ControlNet cannot run beside other ControlNets; give every unit the union "
                "model, or none"
            )
        control_modes = control_modes or [ControlMode.BALANCED] * len(controlnets)
        moded = any(control_mode is not ControlMode.BALANCED for control_mode in control_modes)
        if moded and all(union):
            raise InputError(
                "controls: the union ControlNet runs Balanced only; set each unit's control mode to Balanced, or "
                "use a ControlNet of one kind"
            )
        if moded:
            controlnet = ModedControlNets(controlnets, control_modes, guided=guided)
        elif len(controlnets) == 1:
            controlnet = controlnets[0]
        elif all(union):
            controlnet = MultiControlNetUnionModel(cast(list[ControlNetUnionModel], controlnets))
        else:
            controlnet = MultiControlNetModel(cast(list[ControlNetModel], controlnets))
        classes = _UNION_VIEW_CLASSES if all(union) else _CONTROL_VIEW_CLASSES[self.family]
        return self._view(classes[mode], controlnet=controlnet)

    def _with_flux_control(
        self, mode: Mode, controlnets: list[FluxControlNetModel], control_modes: list[ControlMode] | None
    ) -> DiffusionPipeline:
        """diffusers' Flux ControlNet pipeline for `mode`: one ControlNet, or several (a union one may serve
        several units, each with its own kind, map, weight and steps)."""
        if any(control_mode is not ControlMode.BALANCED for control_mode in control_modes or []):
            raise InputError("controls: Flux ControlNets run Balanced only; set each unit's control mode to Balanced")
        if not all(isinstance(controlnet, FluxControlNetModel) for controlnet in controlnets):
            raise InputError("controls: this Flux model needs Flux ControlNets; give each unit one")
        controlnet = controlnets[0] if len(controlnets) == 1 else FluxMultiControlNetModel(controlnets)
        return self._view(_FLUX_CONTROL_VIEW_CLASSES[mode], controlnet=controlnet)

    def _view(self, view_class: type[DiffusionPipeline], **extra) -> DiffusionPipeline:
        """A pipeline of `view_class` on the base's own modules (`extra`: a ControlNet), with no second copy."""
        if getattr(denoiser(self.base), "is_quantized", False):
            # A GGUF transformer cannot be cast, and `from_pipe` casts every module: the same modules, handed over.
            takes = inspect.signature(view_class.__init__).parameters
            shared = {name: module for name, module in self.base.components.items() if name in takes}
            view = view_class(**shared, **extra)
        else:
            view = view_class.from_pipe(self.base, **extra, **self._view_options)
        view.set_progress_bar_config(disable=True)
        return view
