"""Recipe + the human's images -> pictures, on one loaded model, one run at a time."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import torch
from diffusers import ControlNetUnionModel
from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
from diffusers.models.controlnets.multicontrolnet_union import MultiControlNetUnionModel
from PIL import Image

from studio.control.catalogue import union_mode
from studio.engine import prompts
from studio.engine.area_prompts import areas_for
from studio.engine.checks import check_inputs, check_union_types, is_whole_picture
from studio.engine.embeddings import EmbeddingShelf
from studio.engine.families import Family
from studio.engine.flux import FILL_NOTE, check_flux
from studio.engine.flux_run import denoise_flux
from studio.engine.lane import Halt, Lane, Worker
from studio.engine.pipelines import AnyControlNet, PipelineSet, denoiser
from studio.engine.references import ReferenceAdapters
from studio.engine.samplers import make_scheduler
from studio.engine.speed import FastPath, is_out_of_memory
from studio.engine.steps import StepCallback, step_callback, variation_noise
from studio.engine.upscalers import Upscalers
from studio.errors import InputError, OutOfMemory
from studio.finish import regions
from studio.lora_library import resolve as resolve_lora
from studio.prepare import crop_back, extend
from studio.progress import RUN_OWNER
from studio.recipe import HIRES_UPSCALERS, LANCZOS, InpaintArea, Mode, Recipe

logger = logging.getLogger("studio")


class Engine:
    """Runs recipes on one loaded model. Every run holds the lane: one run at a time, whoever asks."""

    def __init__(
        self,
        load: Callable[[str], PipelineSet],
        *,
        load_controlnet: Callable[[str, PipelineSet], AnyControlNet] | None = None,
        lora_dir: Path | None = None,
        embeddings: EmbeddingShelf | None = None,
        references: ReferenceAdapters | None = None,
        allow_pickle: bool = False,
        upscalers: Upscalers | None = None,
        fast: FastPath | None = None,
    ) -> None:
        self._load = load
        # The textual-inversion embeddings a prompt may name; none without a folder.
        self.embeddings = embeddings or EmbeddingShelf(None)
        # The IP-Adapters reference pictures are read with; none without a folder.
        self.references = references or ReferenceAdapters(None)
        # Compiles each loaded model's UNet and ControlNets where that works; None: always eager.
        self._fast = fast or FastPath(enabled=False, why_not="this engine was made without the fast path")
        # Upscaler models the hires fix may enlarge with (the Finish tab's upscalers); None: built-in ones only.
        self.upscalers = upscalers
        self._load_controlnet = load_controlnet
        self.lora_dir = lora_dir
        self._allow_pickle = allow_pickle
        self._pipelines: PipelineSet | None = None
        self._lane = Lane()
        self._worker = Worker()  # every run on one thread, whichever of the server's threads asked
        self._stop = threading.Event()

    @property
    def model(self) -> str | None:
        return self._pipelines.model if self._pipelines else None

    @property
    def family(self) -> Family | None:
        """The loaded model's family (SD 1.5 or SDXL), read from its files."""
        return self._pipelines.family if self._pipelines else None

    @property
    def pipelines(self) -> PipelineSet:
        if self._pipelines is None:
            raise RuntimeError("no model is loaded yet")
        return self._pipelines

    def load(self, model: str) -> None:
        """Load `model` unless it is the one already loaded. Raises ModelError with advice."""
        with self._lane.hold():
            self._ensure_model(model)

    @contextlib.contextmanager
    def lane(self, model: str | None = None) -> Iterator[PipelineSet]:
        """Hold the one GPU lane (a fresh stop flag) with `model` loaded: for work besides `generate`, like training.

        Inside, the model runs eagerly: training through the compiled UNet would compile its backward pass."""
        with self._lane.hold():
            self._stop.clear()
            pipelines = self._ensure_model(model) if model else self.pipelines
            with self._fast.eager():
                yield pipelines

    @property
    def speed(self) -> str:
        """Fast (compiled) or eager, and why, in the artist's words."""
        return self._fast.describe()

    @property
    def model_note(self) -> str | None:
        """What the artist should know of the loaded model beyond its family (a Fill model's limits)."""
        return FILL_NOTE if self._pipelines is not None and self._pipelines.fill else None

    def eagerly(self) -> contextlib.AbstractContextManager[None]:
        """Runs inside are eager even where the fast path is on: for comparisons (bench/bench_gpu.py)."""
        return self._fast.eager()

    def take_speed_notice(self) -> str | None:
        """Once: why the fast path turned itself off (None when it did not)."""
        return self._fast.take_notice()

    def warm_up(self, recipe: Recipe) -> None:
        """Run `recipe` once, two steps, and throw the pictures away: compiles (or loads from the disk cache)
        the fast path's kernels for the recipe's size before the artist's first run. Nothing when eager."""
        if not self._fast.enabled:
            return
        try:
            self.generate(
                recipe.replace(
                    mode=Mode.TXT2IMG,
                    steps=2,
                    batch_size=1,
                    seed=1,
                    variation_strength=0.0,
                    loras=(),
                    controls=(),
                    hires_scale=1.0,
                )
            )
        except Exception as error:  # the artist's first run will meet it too, and be told there
            logger.warning("Warming up the fast path did not finish: %s", error)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def waiting(self) -> list[str | None]:
        """Whose runs wait for this engine (studio.progress.RUN_OWNER), oldest first."""
        return self._lane.waiting

    def runs_ahead(self, owner: str | None) -> int | None:
        return self._lane.ahead(owner)

    def request_stop(self, owner: str | None = None) -> None:
        """Stop `owner`'s run (a session folder; None: whoever's) at its next step, or before it starts if it waits
        for the lane. Harmless when nothing runs."""
        if self._lane.cancel(owner):
            self._stop.set()

    check_inputs = staticmethod(check_inputs)

    def generate(
        self,
        recipe: Recipe,
        *,
        image: Image.Image | None = None,
        mask: Image.Image | None = None,
        control_images: Mapping[str, Image.Image] | None = None,
        on_step: StepCallback | None = None,
        live: bool = False,
    ) -> list[Image.Image]:
        """Make `recipe.batch_size` pictures. Raises ValueError for bad input, GenerationStopped on stop.

        `control_images` holds each control unit's map, and each reference unit's picture and mask, by the role the
        unit names. A `live` run (live painting) waits behind every run an artist pressed, and gives way to one at
        its next step (GaveWay).
        """
        # 1. Check everything that can be checked before touching the GPU.
        self.check_inputs(recipe, image, mask, control_images)
        if recipe.hires_scale > 1 and recipe.hires_upscaler not in HIRES_UPSCALERS:
            if self.upscalers is None:
                raise InputError(
                    f"hires_upscaler: {recipe.hires_upscaler} needs an upscalers folder; this studio has none"
                )
            self.upscalers.check(recipe.hires_upscaler)
        seeds = recipe.seeds()
        prompt, loras = self.loras_of(recipe)
        redrawn = recipe.kontext and recipe.mode is Mode.IMG2IMG  # drawn anew from noise: no strength
        if image is not None and recipe.denoising_strength == 0 and not redrawn:
            return [image.convert("RGB") for _ in seeds]  # nothing may change: the picture itself
        picture_size = image.size if image is not None else None
        control_images = dict(control_images or {})
        # A reference picture is read whole at any size; its mask is laid over the picture like a map.
        references = {r.image: control_images.pop(r.image) for r in recipe.references}
        reference_masks = {r.mask: control_images.pop(r.mask) for r in recipe.references if r.mask}
        reference_masks |= {area.mask: control_images.pop(area.mask) for area in recipe.area_prompts}
        if image is not None and is_whole_picture(recipe):
            # Extended, never resized: the artist's pixels stay where they are (cropped back in step 5).
            size = (recipe.width, recipe.height)
            image = extend(image.convert("RGB"), size)
            mask = extend(mask.convert("L"), size, fill=0) if mask is not None else None
            control_images = {role: extend(m.convert("RGB"), size) for role, m in control_images.items()}
            reference_masks = {role: extend(m.convert("L"), size, fill=0) for role, m in reference_masks.items()}
        references |= reference_masks

        def render() -> list[Image.Image]:
            self._stop.clear()
            halt = Halt(self._stop, self._lane if live else None)
            # 2. The pipeline view for this mode, and the recipe's LoRAs on the shared model.
            pipelines = self._ensure_model(recipe.model)
            if pipelines.family.is_flux:
                check_flux(recipe, fill=pipelines.fill)
            if recipe.kontext:
                pipe = pipelines.kontext(recipe.mode)
            elif recipe.controls:
                controlnets = [self._controlnet(pipelines, unit.model) for unit in recipe.controls]
                check_union_types(recipe, controlnets)
                pipe = pipelines.with_control(
                    recipe.mode,
                    controlnets,
                    [unit.control_mode for unit in recipe.controls],
                    guided=recipe.cfg_scale > 1,  # as diffusers decides whether to double the batch
                )
            else:
                pipe = pipelines.for_mode(recipe.mode)
            pipelines.loras.activate(pipelines.base, loras)
            if not pipelines.family.is_flux:
                self.references.activate(pipelines.base, recipe.references, pipelines.family)
            blurred_mask = None
            if recipe.mode is Mode.INPAINT:
                assert mask is not None  # check_inputs refused an inpaint without one
                blurred_mask = regions.blurred_mask(mask.convert("L"), recipe.mask_blur)

            # 3-4. Denoise; compiled where the fast path is on, and once more eagerly if the compiled code fails.
            # With reference pictures or area prompts, eagerly: they change the UNet's attention (and the adapters'
            # scales per step), which the compiled UNet would not see.
            try:
                with self._fast.eager() if recipe.references or recipe.area_prompts else contextlib.nullcontext():
                    flux = functools.partial(denoise_flux, enlarge=functools.partial(self._enlarge, recipe))
                    denoise = flux if pipelines.family.is_flux else self._denoise
                    pictures = self._fast.run(
                        lambda: denoise(
                            pipelines,
                            pipe,
                            recipe,
                            prompt,
                            image,
                            blurred_mask,
                            control_images,
                            references,
                            on_step=on_step,
                            halt=halt,
                        )
                    )
            except Exception as error:
                if not is_out_of_memory(error):  # compiling may run out too, and say so in its own error
                    raise
                if torch.cuda.is_available():  # what the failed run held, for the artist's next try
                    torch.cuda.empty_cache()
                raise OutOfMemory(
                    f"Out of {pipe.device.type.upper()} memory at {recipe.width}x{recipe.height}, batch {recipe.batch_size}. "
                    "Try a smaller size or batch, or restart the studio with --low-memory (or --lowest-memory)."
                ) from error
            halt.raise_if_halted()

            # 5. Outside the (blurred) mask, the artist's pixels come back exactly, at the picture's own size.
            if image is not None and blurred_mask is not None and recipe.inpaint_area is InpaintArea.WHOLE_PICTURE:
                pictures = [pipe.image_processor.apply_overlay(blurred_mask, image.convert("RGB"), p) for p in pictures]
            if picture_size is not None:
                pictures = [crop_back(picture, picture_size) for picture in pictures]
            return [picture.convert("RGB") for picture in pictures]

        with self._lane.hold(live=live, owner=RUN_OWNER.get()):
            return self._worker.run(render)

    def _denoise(
        self,
        pipelines: PipelineSet,
        pipe,
        recipe: Recipe,
        prompt: str,
        image: Image.Image | None,
        blurred_mask: Image.Image | None,
        control_images: Mapping[str, Image.Image],
        references: Mapping[str, Image.Image],
        *,
        on_step: StepCallback | None,
        halt: Halt,
    ) -> list:
        """Steps 3 and 4 of `generate`, from a fresh scheduler and fresh generators: the same pictures on every call."""
        seeds = recipe.seeds()
        pipe.scheduler = make_scheduler(recipe.sampler, recipe.scheduler, pipelines.scheduler_config, seed=seeds[0])
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]

        # 3. Arguments for the mode.
        texts = [prompt, recipe.negative_prompt, *(area.prompt for area in recipe.area_prompts)]
        named = self.embeddings.for_prompts(pipelines.family, texts)
        with torch.inference_mode():
            embeddings = prompts.encode(pipe, prompt, recipe.negative_prompt, recipe.clip_skip, named)
        before_step = None
        if recipe.references:
            before_step = self.references.stepper(pipelines.base, recipe.references)
            before_step(0, _steps_run(recipe))
        arguments = {
            **embeddings,
            "num_inference_steps": recipe.steps,
            "guidance_scale": recipe.cfg_scale,
            "num_images_per_prompt": recipe.batch_size,
            "generator": generators,
            "callback_on_step_end": step_callback(on_step, pipelines.family, halt, before_step),
            "callback_on_step_end_tensor_inputs": ["latents"],
        }
        if recipe.references:
            size = (recipe.width, recipe.height)
            guided = recipe.cfg_scale > 1
            arguments |= self.references.arguments(pipelines.base, recipe.references, references, guided, size)
        if recipe.mode is Mode.TXT2IMG:
            arguments |= {"width": recipe.width, "height": recipe.height}
            if recipe.variation_strength > 0:
                arguments["latents"] = variation_noise(pipe, recipe, generators)
        elif recipe.mode is Mode.IMG2IMG:
            assert image is not None  # check_inputs refused an img2img without a picture
            arguments |= {"image": image.convert("RGB"), "strength": recipe.denoising_strength}
        else:
            assert image is not None and blurred_mask is not None  # check_inputs refused an inpaint without them
            arguments |= {
                "image": image.convert("RGB"),
                "mask_image": blurred_mask,
                "strength": recipe.denoising_strength,
                "width": recipe.width,
                "height": recipe.height,
            }
            if recipe.inpaint_area is InpaintArea.ONLY_MASKED:
                # diffusers crops mask + padding, renders it at width x height, and pastes it back.
                arguments["padding_mask_crop"] = recipe.inpaint_padding
        if recipe.controls:
            union = isinstance(pipe.controlnet, (ControlNetUnionModel, MultiControlNetUnionModel))
            listed = isinstance(pipe.controlnet, (MultiControlNetModel, MultiControlNetUnionModel))
            arguments |= self._control_arguments(recipe, control_images, union, listed)

        hires = recipe.mode is Mode.TXT2IMG and recipe.hires_scale > 1
        if hires and recipe.hires_upscaler.startswith("Latent"):
            arguments["output_type"] = "latent"  # enlarged as latents: no decode in between, as in A1111

        # 4. Denoise (and, for the hires fix, enlarge and denoise again), area prompts in their areas.
        with torch.inference_mode(), areas_for(pipe, recipe, references, named):
            pictures = pipe(**arguments).images  # pyright: ignore[reportCallIssue] (a pipeline view)
            if hires and not halt.halted:
                pictures = self._hires_pass(pipelines, recipe, pictures, arguments)
        return pictures

    def _enlarge(self, recipe: Recipe, pictures: list[Image.Image]) -> list[Image.Image]:
        """The first pass's pictures at the hires fix's size: with Lanczos, or an upscaler model then Lanczos."""
        size = recipe.hires_size
        if recipe.hires_upscaler == LANCZOS:
            return [picture.resize(size, Image.Resampling.LANCZOS) for picture in pictures]
        assert self.upscalers is not None  # generate() refused a model name without upscalers
        return [
            self.upscalers.upscale(picture, recipe.hires_upscaler, recipe.hires_scale).resize(
                size, Image.Resampling.LANCZOS
            )
            for picture in pictures
        ]

    def _hires_pass(self, pipelines: PipelineSet, recipe: Recipe, first, arguments: dict):
        """A1111's hires fix: the first pass enlarged to `recipe.hires_size`, then repainted (img2img) there.

        "Latent" enlarges the latents (bilinear, as A1111's default latent mode; or nearest), "Lanczos" or an
        upscaler model the decoded pictures (a model's result is brought to the exact size with Lanczos). The second pass has the same prompt, seeds' generators and guidance, and runs
        `hires_steps` (or `steps`) at `hires_denoising_strength`, as A1111 counts them.
        """
        width, height = recipe.hires_size
        if recipe.hires_upscaler.startswith("Latent"):
            mode = "nearest" if recipe.hires_upscaler == "Latent (nearest)" else "bilinear"
            enlarged = torch.nn.functional.interpolate(first, size=(height // 8, width // 8), mode=mode)
        else:
            enlarged = self._enlarge(recipe, first)
        second = pipelines.for_mode(Mode.IMG2IMG)
        second.scheduler = make_scheduler(
            recipe.sampler, recipe.scheduler, pipelines.scheduler_config, seed=recipe.seeds()[0]
        )
        embeddings = {key: value for key, value in arguments.items() if key.endswith("prompt_embeds")}
        if "ip_adapter_image_embeds" in arguments:  # the references steer the second pass too (masks: not resized)
            embeddings["ip_adapter_image_embeds"] = arguments["ip_adapter_image_embeds"]
            self.references.stepper(pipelines.base, recipe.references)(
                0, int((recipe.hires_steps or recipe.steps) * recipe.hires_denoising_strength)
            )
        return second(  # pyright: ignore[reportCallIssue] (a pipeline view)
            **embeddings,
            image=enlarged,
            strength=recipe.hires_denoising_strength,
            num_inference_steps=recipe.hires_steps or recipe.steps,
            guidance_scale=recipe.cfg_scale,
            num_images_per_prompt=recipe.batch_size,
            generator=arguments["generator"],
            callback_on_step_end=arguments["callback_on_step_end"],
            callback_on_step_end_tensor_inputs=["latents"],
        ).images

    def loras_of(self, recipe: Recipe) -> tuple[str, list[tuple[Path, float]]]:
        """The prompt without `<lora:...>` tags, and the LoRA files to apply with their weights."""
        files = [
            (resolve_lora(lora.name, self.lora_dir, allow_pickle=self._allow_pickle), lora.weight)
            for lora in recipe.effective_loras
        ]
        return recipe.prompt_without_lora_tags, files

    @staticmethod
    def _control_arguments(
        recipe: Recipe, control_images: Mapping[str, Image.Image], union: bool, listed: bool
    ) -> dict:
        units = recipe.controls
        maps = [control_images[unit.image].convert("RGB") for unit in units]
        single = not listed  # one ControlNet takes plain values; several (or a moded one) take one value per unit
        steps = {
            "control_guidance_start": [float(unit.guidance_start) for unit in units],
            "control_guidance_end": [float(unit.guidance_end) for unit in units],
        }
        if union:
            # The union pipelines take lists throughout, and each map's control type (its kind).
            return steps | {
                "control_image": maps,
                "control_mode": [union_mode(unit.kind) for unit in units],
                "controlnet_conditioning_scale": float(units[0].weight) if single else [float(u.weight) for u in units],
            }
        return steps | {
            # txt2img's ControlNet pipeline calls the map `image`; img2img and inpaint use `image` for the picture.
            ("image" if recipe.mode is Mode.TXT2IMG else "control_image"): maps[0] if single else maps,
            "controlnet_conditioning_scale": float(units[0].weight) if single else [float(u.weight) for u in units],
        }

    def _controlnet(self, pipelines: PipelineSet, spec: str) -> AnyControlNet:
        if spec not in pipelines.controlnets:
            if self._load_controlnet is None:
                raise InputError("controls: this engine was built without a ControlNet loader")
            pipelines.controlnets[spec] = self._load_controlnet(spec, pipelines)
            self._fast.compile(pipelines.controlnets[spec], feeds_another=True)
        return pipelines.controlnets[spec]

    def _ensure_model(self, model: str) -> PipelineSet:
        if self._pipelines is None or self._pipelines.model != model:
            # The old model stays until the new one has loaded: a bad path must not leave the studio empty.
            self._pipelines = self._load(model)
            self._fast.compile(denoiser(self._pipelines.base))
        return self._pipelines


def _steps_run(recipe: Recipe) -> int:
    """The steps the first pass runs: all of them from noise, `strength` of them from a picture (as diffusers)."""
    if recipe.mode is Mode.TXT2IMG:
        return recipe.steps
    return min(int(recipe.steps * recipe.denoising_strength), recipe.steps)
