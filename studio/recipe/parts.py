"""The parts a recipe is made of (LoRAs, control units, fix regions, an upscale), its enums, and how fields are checked."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from studio.errors import InputError
from studio.recipe.vocabulary import LANCZOS


class RecipeError(InputError):
    """A recipe value is out of bounds. `field` names the offending field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class Mode(StrEnum):
    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"


class InpaintArea(StrEnum):
    WHOLE_PICTURE = "whole picture"
    ONLY_MASKED = "only masked"


class ControlMode(StrEnum):
    """sd-webui-controlnet's control modes, by its names (its API numbers them 0, 1, 2 in this order)."""

    BALANCED = "Balanced"
    PROMPT = "My prompt is more important"  # the residuals fade from the deepest block up
    CONTROL = "ControlNet is more important"  # as PROMPT, and the unconditional half of CFG gets no control

    @classmethod
    def read(cls, value: object) -> ControlMode:
        """A mode by its name or its number in sd-webui-controlnet's API; ValueError names the three."""
        if isinstance(value, ControlMode):
            return value
        modes = list(cls)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(modes):
            return modes[value]
        if isinstance(value, str):
            for number, mode in enumerate(modes):
                if value.strip().lower() in (mode.value.lower(), str(number)):
                    return mode
        names = ", ".join(f"{number} or {mode.value!r}" for number, mode in enumerate(modes))
        raise ValueError(f"control mode must be one of {names}, not {value!r}")


@dataclass(frozen=True)
class LoraRef:
    """A LoRA applied for one run: a name or path, and its weight (negative weights allowed)."""

    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class ControlRef:
    """A ControlNet unit: which model steers, with which map, how hard and over which part of the steps.

    `image` names the control map's role among the node's inputs (like "control-0"): the map itself,
    after preprocessing and the artist's edits, is saved on the node, so a replay is exact.
    `preprocessor` and its settings record how the map was made ("none": the artist made it).
    """

    kind: str
    model: str
    image: str
    weight: float = 1.0
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    preprocessor: str = "none"
    preprocessor_settings: tuple[tuple[str, float], ...] = ()
    control_mode: ControlMode = ControlMode.BALANCED

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "control_mode", ControlMode.read(self.control_mode))
        except ValueError as error:
            raise RecipeError("controls.control_mode", str(error)) from None
        settings = self.preprocessor_settings
        pairs = settings.items() if isinstance(settings, dict) else settings
        object.__setattr__(self, "preprocessor_settings", tuple(sorted((str(k), v) for k, v in pairs)))


class ReferenceKind(StrEnum):
    """What a reference picture lends: its look and subject, its layout, or a face (each has its own models)."""

    STYLE_CONTENT = "Style and content"  # IP-Adapter and IP-Adapter Plus
    COMPOSITION = "Composition"  # a composition IP-Adapter, where one is present
    FACE = "Face"  # IP-Adapter FaceID (needs insightface)


@dataclass(frozen=True)
class ReferenceRef:
    """A reference picture (an IP-Adapter unit): which adapter reads it, how hard, over which part of the steps,
    and optionally where it steers.

    `image` names the reference picture's role among the node's inputs ("reference-1"), `mask` a mask's role
    ("": the whole picture); both are saved on the node, so a replay is exact. `model` is an adapter file in the
    ipadapter folder (or a path).
    """

    model: str
    image: str
    weight: float = 1.0
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    kind: ReferenceKind = ReferenceKind.STYLE_CONTENT
    mask: str = ""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", ReferenceKind(self.kind))
        except ValueError:
            kinds = ", ".join(repr(kind.value) for kind in ReferenceKind)
            raise RecipeError("references.kind", f"unknown kind {self.kind!r}; choose one of {kinds}") from None


@dataclass(frozen=True)
class AreaPromptRef:
    """An area prompt (regional prompting): words that steer only a painted area of the picture.

    `mask` names the area's mask among the node's inputs ("area-1": white where the words steer). `weight` is how
    much of the area follows these words; the rest follows the recipe's prompt (A1111's Regional Prompter calls
    1 - weight the "base ratio").
    """

    prompt: str
    mask: str
    weight: float = 0.8


@dataclass(frozen=True)
class RegionRef:
    """One region of a fix: where it is on the source picture, and how it is re-rendered.

    The region is rendered alone at the recipe's size ("only masked") and pasted back, so a small
    hand gets the model's full resolution. `box` is (left, top, right, bottom) in the source picture's
    pixels; `mask` names a painted mask among the node's inputs ("" when the box itself is the mask).
    An empty prompt means the recipe's own prompt. `found_by` names the detector ("" when marked by hand).
    """

    label: str
    box: tuple[int, int, int, int]
    prompt: str = ""
    negative_prompt: str = ""
    denoising_strength: float = 0.4
    mask_blur: int = 4
    padding: int = 32
    mask: str = ""
    found_by: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.box, list):
            object.__setattr__(self, "box", tuple(self.box))


@dataclass(frozen=True)
class UpscaleRef:
    """Enlarging a picture by `factor` with `upscaler` (Lanczos, or a model file), in tiles of `tile` pixels.

    With `refine` ("SD upscale"), the enlarged picture is then repainted tile by tile at the recipe's
    size, prompt and denoising strength, the tiles overlapping by `overlap` pixels and blended.
    `tile` 0 runs the upscaler model on the whole picture at once.
    """

    factor: float = 2.0
    upscaler: str = LANCZOS
    tile: int = 256
    refine: bool = False
    overlap: int = 64


def _as(kind: type, name: str, value: Any) -> Any:
    if isinstance(value, kind):
        return value
    if not isinstance(value, dict):
        raise RecipeError(name, f"expected objects, got {value!r}")
    try:
        return kind(**value)
    except TypeError as error:
        raise RecipeError(name, str(error)) from None


def _enum(enum_type: type[Enum], name: str, value: Any) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in enum_type)
        raise RecipeError(name, f"{value!r} is not one of {choices}") from None


def _check_type(name: str, value: Any, expected: type) -> None:
    if not isinstance(value, expected):
        raise RecipeError(name, f"expected {expected.__name__}, got {type(value).__name__}")


def _check_text(name: str, value: Any) -> None:
    _check_type(name, value, str)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RecipeError(
            name, "holds a character that is not text (a lone surrogate); retype or paste it again"
        ) from None


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecipeError(name, f"expected a whole number, got {value!r}")
    if not low <= value <= high:
        raise RecipeError(name, f"{value} is out of range ({low} to {high})")


def _check_number(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecipeError(name, f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise RecipeError(name, f"{value} is not a finite number; give one from {low:g} to {high:g}")
    if not low <= value <= high:
        raise RecipeError(name, f"{value} is out of range ({low} to {high})")
