"""A1111's scripts over its API: "X/Y/Z plot" and "Prompts from file or textbox", their `script_args` read as
A1111's own scripts/xyz_grid.py and scripts/prompts_from_file.py read them, as the studio's grid and prompt jobs
(studio/scale/). Pure: a request in, a job to run out.

X/Y/Z plot's axis types are indices into A1111's list of axis options for txt2img (1.10's order, below); the
label itself ("CFG Scale") is taken too. Values for a setting with choices (Sampler, Checkpoint name, Schedule
type) come from the `*_values_dropdown` list when one is given, else from the text, as with A1111's csv mode.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from studio.errors import InputError
from studio.scale.grid import SETTINGS, Axis, axis
from studio.webui.fields import ProcessingRequest

XYZ_PLOT = "x/y/z plot"
PROMPTS_FROM_TEXT = "prompts from file or textbox"
SCRIPT_NAMES = (PROMPTS_FROM_TEXT, XYZ_PLOT)  # as A1111's /sdapi/v1/scripts lists them
# A1111 1.10's axis options for txt2img (xyz_grid.py's axis_options without the img2img-only ones), in order:
# a request's x_type is an index into this list.
TXT2IMG_AXIS_OPTIONS = (
    "Nothing", "Seed", "Var. seed", "Var. strength", "Steps", "Hires steps", "CFG Scale", "Prompt S/R",
    "Prompt order", "Sampler", "Hires sampler", "Checkpoint name", "Negative Guidance minimum sigma",
    "Sigma Churn", "Sigma min", "Sigma max", "Sigma noise", "Schedule type", "Schedule min sigma",
    "Schedule max sigma", "Schedule rho", "Eta", "Clip skip", "Denoising", "Initial noise multiplier",
    "Extra noise", "Hires upscaler", "VAE", "Styles", "UniPC Order", "Face restore", "Token merging ratio",
    "Token merging ratio high-res", "Always discard next-to-last sigma", "SGM noise multiplier",
    "Refiner checkpoint", "Refiner switch at", "RNG source",
)  # fmt: skip
_WITH_CHOICES = {"Sampler", "Checkpoint name", "Schedule type"}


@dataclass(frozen=True)
class XyzPlot:
    """An X/Y/Z plot asked over the API: its axes, and whether the answer holds each cell's picture too."""

    axes: tuple[Axis, ...]
    include_lone_images: bool


@dataclass(frozen=True)
class PromptsFromText:
    """Prompts from a textbox asked over the API: the lines, how seeds go from line to line, and where a line's
    prompt goes beside the request's own (None: it replaces it, as A1111 before 1.7 did)."""

    text: str
    iterate_seed: bool  # each line's seed is the last line's plus its pictures
    same_seed: bool  # one random seed for every line
    position: str | None  # "start" or "end"


def read_script(request: ProcessingRequest, *, img2img: bool, rng: random.Random) -> XyzPlot | PromptsFromText | None:
    """The script a request names, read from its `script_args`; None when it names none. Anything the studio
    cannot run as A1111 would is refused by name."""
    name = (request.script_name or "").strip().lower()
    if not name:
        return None
    if name not in SCRIPT_NAMES:
        raise InputError(
            f"script_name: the studio has no script {request.script_name!r}; it runs {', '.join(SCRIPT_NAMES)}"
        )
    if img2img:
        raise InputError(f"script_name: {name} runs over txt2img here; send it to /sdapi/v1/txt2img")
    if request.n_iter != 1:
        raise InputError(f"n_iter: {name} makes one batch a cell or line here; ask for more with batch_size")
    args = list(request.script_args)
    return _xyz_plot(args, rng) if name == XYZ_PLOT else _prompts(args)


def _xyz_plot(args: list[Any], rng: random.Random) -> XyzPlot:
    # A1111 1.6+: type, values, values dropdown for X, Y, Z, then draw_legend, include_lone_images, ...;
    # before: type and values for X, Y, Z, then the same flags.
    with_dropdowns = len(args) > 2 and not _is_index(args[2])
    width = 3 if with_dropdowns else 2
    if len(args) < 3 * width:
        raise InputError(
            "script_args: an X/Y/Z plot takes x_type, x_values, x_values_dropdown, y_type, y_values, "
            "y_values_dropdown, z_type, z_values, z_values_dropdown, draw_legend, include_lone_images, ..."
        )
    axes = []
    for number, letter in enumerate("XYZ"):
        kind, text, *dropdown = args[number * width : (number + 1) * width]
        label = _axis_label(letter, kind)
        if label == "Nothing":
            continue
        if label in _WITH_CHOICES and dropdown and isinstance(dropdown[0], list) and dropdown[0]:
            text = ", ".join(f'"{value}"' if "," in str(value) else str(value) for value in dropdown[0])
        axes.append(axis(label, str(text or ""), rng=rng))
    if not axes:
        raise InputError("script_args: every axis of the X/Y/Z plot is Nothing; give X a type and values")
    flags = args[3 * width :]
    return XyzPlot(tuple(axes), include_lone_images=len(flags) > 1 and _true(flags[1]))


def _axis_label(letter: str, kind: Any) -> str:
    if _is_index(kind) and 0 <= kind < len(TXT2IMG_AXIS_OPTIONS):
        label = TXT2IMG_AXIS_OPTIONS[kind]
    elif isinstance(kind, str) and kind.strip():
        label = next((known for known in TXT2IMG_AXIS_OPTIONS if known.lower() == kind.strip().lower()), kind)
    else:
        raise InputError(
            f"script_args: {letter} type {kind!r} is not one of A1111's axis options (an index or a label)"
        )
    if label != "Nothing" and label not in SETTINGS:
        varied = ", ".join(name for name in SETTINGS if name in TXT2IMG_AXIS_OPTIONS)
        own = ", ".join(name for name in SETTINGS if name not in TXT2IMG_AXIS_OPTIONS)
        raise InputError(
            f"script_args: the studio cannot vary {label!r} in an X/Y/Z plot; it varies {varied}, and by label {own}"
        )
    return label


def _prompts(args: list[Any]) -> PromptsFromText:
    # A1111 1.7+: iterate, same seed, prompt position, the text; before: iterate, same seed, the text.
    if len(args) not in (3, 4) or not isinstance(args[-1], str):
        raise InputError(
            "script_args: prompts from a textbox take checkbox_iterate, checkbox_iterate_batch, "
            "(prompt_position,) prompt_txt"
        )
    position = str(args[2]).strip().lower() if len(args) == 4 else None
    if position not in (None, "start", "end"):
        raise InputError(f"script_args: prompt_position {args[2]!r} is start or end")
    return PromptsFromText(args[-1], _true(args[0]), _true(args[1]), position)


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _true(value: Any) -> bool:
    """A1111's clients send flags as booleans or as the words "True"/"False" (webuiapi's own example does)."""
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)
