"""The recipe form: widgets <-> Recipe, and nothing else.

Handlers take the form's widgets as one dict (`inputs=form.inputs`), never as a positional list, and
turn them into a Recipe with `form.recipe(values)`; `form.show(recipe)` fills the widgets back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import gradio as gr

from studio.recipe import (
    FLUX_SAMPLERS,
    FLUX_SCHEDULERS,
    HIRES_UPSCALERS,
    MAX_BATCH,
    MAX_CLIP_SKIP,
    MAX_HIRES_SCALE,
    MAX_STEPS,
    RANDOM_SEED,
    SAMPLERS,
    SCHEDULERS,
    InpaintArea,
    Recipe,
    RecipeError,
)
from studio.recipe.prompt_syntax import prompt_with_lora_tags
from studio.sizes import FLUX, native_sizes, size_label

# Fields typed as whole numbers: each is used as typed, or refused by its label (never rounded or clamped).
WHOLE_NUMBERS = ("steps", "width", "height", "batch_size", "mask_blur", "inpaint_padding", "clip_skip", "hires_steps")


def typed_whole_number(name: str, value: Any) -> int:
    """The whole number the artist typed in field `name`; RecipeError (named by the field) for an empty box,
    words, or a fraction. The recipe then checks its range, also by name."""
    if value is None or value == "" or isinstance(value, bool):
        raise RecipeError(name, "the box is empty or is not a number; type a whole number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RecipeError(name, f"{value!r} is not a number; type a whole number") from None
    if not number.is_integer():
        raise RecipeError(name, f"{value} is not a whole number")
    return int(number)


# Fields a pick leaves as they are: the loaded model (the header's) and how many pictures a run makes.
NOT_PICKED = ("model", "batch_size")


@dataclass
class RecipeForm:
    """One widget per recipe field the artist sets by hand. Field names are Recipe field names."""

    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    sampler: gr.Dropdown
    scheduler: gr.Dropdown
    steps: gr.Slider
    cfg_scale: gr.Slider
    distilled_cfg_scale: gr.Slider
    shift: gr.Slider
    width: gr.Number
    height: gr.Number
    seed: gr.Number
    variation_seed: gr.Textbox
    variation_strength: gr.Slider
    batch_size: gr.Slider
    clip_skip: gr.Slider
    model: gr.Textbox
    denoising_strength: gr.Slider
    mask_blur: gr.Slider
    inpaint_area: gr.Radio
    inpaint_padding: gr.Slider
    styles: gr.CheckboxGroup
    hires_scale: gr.Slider
    hires_upscaler: gr.Dropdown
    hires_steps: gr.Slider
    hires_denoising_strength: gr.Slider

    @property
    def inputs(self) -> set[Any]:
        return {getattr(self, f.name) for f in fields(self)}

    @property
    def named(self) -> dict[str, Any]:
        """Each widget by its recipe field name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [getattr(self, f.name) for f in fields(self)]

    def recipe(self, values: dict[Any, Any], base: Recipe) -> Recipe:
        """The recipe the widgets describe; raises RecipeError naming the field."""
        changes = {f.name: values[getattr(self, f.name)] for f in fields(self)}
        for name in WHOLE_NUMBERS:
            changes[name] = typed_whole_number(name, changes[name])
        seed = changes["seed"]
        changes["seed"] = RANDOM_SEED if seed is None or seed == "" else typed_whole_number("seed", seed)
        changes["variation_strength"] = float(changes["variation_strength"] or 0.0)
        # Empty means no variation seed; without a strength there is no variation, so none is recorded either.
        variation_seed = str(changes["variation_seed"] or "").strip()
        if not variation_seed or changes["variation_strength"] == 0:
            changes["variation_seed"] = None
        else:
            changes["variation_seed"] = typed_whole_number("variation_seed", variation_seed)
        changes["model"] = (changes["model"] or "").strip() or base.model
        changes["styles"] = tuple(changes["styles"] or ())
        return base.updated(changes)

    @property
    def picked_outputs(self) -> list[gr.components.Component]:
        return [widget for name, widget in self.named.items() if name not in NOT_PICKED]

    def show_picked(self, recipe: Recipe) -> dict[gr.components.Component, Any]:
        """Widget values for a picked picture's `recipe`: what made it, but not the model that runs next nor how
        many pictures the next run makes (the artist's own settings, changed only by the artist)."""
        return {widget: value for widget, value in self.show(recipe).items() if widget in self.picked_outputs}

    def show(self, recipe: Recipe) -> dict[gr.components.Component, Any]:
        """Widget values for `recipe` (an outputs dict for a handler)."""
        values = {getattr(self, f.name): getattr(recipe, f.name) for f in fields(self)}
        values[self.variation_seed] = "" if recipe.variation_seed is None else str(recipe.variation_seed)
        values[self.inpaint_area] = recipe.inpaint_area.value
        values[self.styles] = list(recipe.styles)
        # The form holds LoRAs the way A1111 does: as <lora:name:weight> tags in the prompt.
        values[self.prompt] = prompt_with_lora_tags(recipe.prompt, [(lora.name, lora.weight) for lora in recipe.loras])
        return values


def prompt_widgets(defaults: Recipe) -> tuple[gr.Textbox, gr.Textbox]:
    prompt = gr.Textbox(
        value=defaults.prompt,
        label="Prompt",
        placeholder="What to paint, e.g. portrait of a knight, oil painting, dramatic light",
        lines=3,
        max_lines=8,
        elem_id="prompt",
    )
    negative = gr.Textbox(
        value=defaults.negative_prompt,
        label="Negative prompt",
        placeholder="What to keep out, e.g. blurry, extra fingers",
        lines=1,
        max_lines=4,
        elem_id="negative-prompt",
    )
    return prompt, negative


def native_sizes_radio(family: str | None) -> dict[str, Any]:
    """The native sizes of `family` as the choices of a radio that sets width and height in one click."""
    return {
        "choices": [size_label(size) for size in native_sizes(family)],
        "value": None,
        "label": f"Native sizes ({family or 'SD 1.5'})",
    }


def sampler_choices(family: str | None) -> dict[str, Any]:
    """The loaded family's samplers first (Flux.1: flow matching's Euler), then the others: a picked node of
    another family must show its own values (a dropdown refuses any value not among its choices, and every event
    that reads it would fail); the engine refuses what the model cannot run, by name."""
    first = FLUX_SAMPLERS if family == FLUX else SAMPLERS
    return {"choices": list(dict.fromkeys([*first, *SAMPLERS, *FLUX_SAMPLERS]))}


def schedule_choices(family: str | None) -> dict[str, Any]:
    first = FLUX_SCHEDULERS if family == FLUX else SCHEDULERS
    return {"choices": list(dict.fromkeys([*first, *SCHEDULERS, *FLUX_SCHEDULERS]))}


def settings_widgets(defaults: Recipe, family: str | None = None) -> dict[str, Any]:
    """Sampler, steps, guidance, size, seed and batch, compactly."""
    # The numbers an artist types most, in one row near the top (they must be in view at 1366x768). Number boxes
    # without bounds in the page: a slider's box turns a typed 0 or "ten" into 1 and runs; here the studio refuses
    # it by name (form.recipe), and the box keeps what the artist typed.
    with gr.Row(equal_height=True):
        steps = gr.Number(
            value=defaults.steps, label=f"Steps (1-{MAX_STEPS})", precision=0, step=1, min_width=80, elem_id="steps"
        )
        batch_size = gr.Number(
            value=defaults.batch_size,
            label=f"Pictures (1-{MAX_BATCH})",
            precision=0,
            step=1,
            min_width=80,
            elem_id="batch",
        )
        width = gr.Number(value=defaults.width, label="Width", precision=0, step=8, min_width=70, elem_id="width")
        height = gr.Number(value=defaults.height, label="Height", precision=0, step=8, min_width=70, elem_id="height")
    with gr.Row():
        flux = family == FLUX
        sampler = gr.Dropdown(
            **sampler_choices(family), value=defaults.sampler, label="Sampler", scale=3, elem_id="sampler"
        )
        scheduler = gr.Dropdown(
            **schedule_choices(family),
            value=defaults.scheduler,
            label="Schedule type",
            info="Automatic: the sampler's own, as in A1111",
            scale=3,
            elem_id="scheduler",
        )
    with gr.Row(equal_height=True):
        seed = gr.Number(
            value=defaults.seed,
            label="Seed (-1 random)",
            precision=0,
            scale=2,
            min_width=110,
            elem_id="seed",
        )
        with gr.Column(scale=1, min_width=80):
            random_seed = gr.Button("Random", size="sm", elem_id="seed-random")
            reuse_seed = gr.Button("Reuse last", size="sm", elem_id="seed-reuse")
    with gr.Row():
        cfg_scale = gr.Slider(0, 30, value=defaults.cfg_scale, step=0.5, label="Prompt strength (CFG)", elem_id="cfg")
        clip_skip = gr.Slider(
            1,
            MAX_CLIP_SKIP,
            value=defaults.clip_skip,
            step=1,
            label="Clip skip",
            info="1: off; 2 for anime models (Pony, Illustrious), as in A1111",
            elem_id="clip-skip",
        )
    # Forge's names for Flux.1's own settings; shown while a Flux model is loaded (SD models ignore them).
    with gr.Row():
        distilled_cfg_scale = gr.Slider(
            0, 30, value=defaults.distilled_cfg_scale, step=0.1, label="Distilled CFG Scale", visible=flux,
            info="Flux.1-dev's guidance (3.5); CFG above 1 adds real CFG with the negative prompt, at twice the time",
            elem_id="distilled-cfg",
        )  # fmt: skip
        shift = gr.Slider(
            0, 10, value=defaults.shift, step=0.1, label="Shift", visible=flux,
            info="0: the model's own, by picture size; higher: more steps spent on composition", elem_id="shift",
        )  # fmt: skip
    native = gr.Radio(**native_sizes_radio(family), elem_id="native-sizes", elem_classes=["native-sizes"])
    # A1111's "Variation seed": picking one of a batch of close variations brings its own back here.
    with gr.Row(equal_height=True):
        # A text box: a number box shows an empty value as 0, and here empty means "no variation seed".
        variation_seed = gr.Textbox(
            value="" if defaults.variation_seed is None else str(defaults.variation_seed),
            label="Variation seed (empty: none)",
            placeholder="none",
            max_lines=1,
            min_width=110,
            elem_id="variation-seed",
        )
        variation_strength = gr.Slider(
            0.0,
            1.0,
            value=defaults.variation_strength,
            step=0.01,
            label="Variation strength",
            scale=2,
            elem_id="variation-strength",
        )
    return {
        "sampler": sampler,
        "scheduler": scheduler,
        "steps": steps,
        "cfg_scale": cfg_scale,
        "distilled_cfg_scale": distilled_cfg_scale,
        "shift": shift,
        "width": width,
        "height": height,
        "seed": seed,
        "variation_seed": variation_seed,
        "variation_strength": variation_strength,
        "batch_size": batch_size,
        "clip_skip": clip_skip,
        "random_seed": random_seed,
        "reuse_seed": reuse_seed,
        "native_sizes": native,
    }


def hires_widgets(defaults: Recipe, upscaler_models: list[str] | None = None) -> dict[str, Any]:
    """A1111's hires fix for Generate: render, enlarge (latents, Lanczos or an upscaler model), repaint larger."""
    with gr.Accordion("Hires fix (Generate)", open=False, elem_id="hires"):
        with gr.Row():
            scale = gr.Slider(
                1.0,
                MAX_HIRES_SCALE,
                value=defaults.hires_scale,
                step=0.05,
                label="Upscale by",
                info="1: off. The picture is rendered at Width × Height, then enlarged and repainted",
                elem_id="hires-scale",
            )
            upscaler = gr.Dropdown(
                [*HIRES_UPSCALERS, *(upscaler_models or [])],
                value=defaults.hires_upscaler,
                label="Upscaler",
                info="Latent: the latents, as A1111's default; Lanczos or a model: the picture",
                elem_id="hires-upscaler",
            )
        with gr.Row():
            steps = gr.Slider(
                0, MAX_STEPS, value=defaults.hires_steps, step=1, label="Hires steps", info="0: as many as Steps",
                elem_id="hires-steps",
            )  # fmt: skip
            denoise = gr.Slider(
                0.0,
                1.0,
                value=defaults.hires_denoising_strength,
                step=0.01,
                label="Hires denoising strength",
                elem_id="hires-denoise",
            )
    return {"hires_scale": scale, "hires_upscaler": upscaler, "hires_steps": steps, "hires_denoising_strength": denoise}


def edit_widgets(defaults: Recipe) -> dict[str, Any]:
    """How strongly and where an edit is repainted."""
    denoising = gr.Slider(
        0.0,
        1.0,
        value=defaults.denoising_strength,
        step=0.01,
        label="Change strength (denoising)",
        info="0 keeps your picture, 1 repaints it freely",
        elem_id="denoise",
    )
    mask_blur = gr.Slider(0, 64, value=defaults.mask_blur, step=1, label="Mask edge softness (px)", elem_id="blur")
    area = gr.Radio(
        [area.value for area in InpaintArea],
        value=defaults.inpaint_area.value,
        label="Inpaint area",
        info="'only masked' renders the masked area at full size: more detail for small fixes like hands",
        elem_id="inpaint-area",
    )
    padding = gr.Slider(
        0,
        256,
        value=defaults.inpaint_padding,
        step=4,
        label="Padding around the mask (px, only masked)",
        elem_id="padding",
    )
    return {"denoising_strength": denoising, "mask_blur": mask_blur, "inpaint_padding": padding, "inpaint_area": area}
