"""From what the Control panel holds to control units and their maps, ready for the session.

Pure (no UI): the window hands over plain values per unit; this module decides what they mean.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image

from studio.control import maps
from studio.control.catalogue import KINDS, NO_PREPROCESSOR, control_role
from studio.control.preprocessors import PREPROCESSORS
from studio.errors import InputError
from studio.recipe import ControlMode, ControlRef


@dataclass(frozen=True)
class UnitValues:
    """One unit as the artist set it up."""

    enabled: bool
    kind: str
    model: str
    weight: float
    guidance_start: float
    guidance_end: float
    preprocessor: str
    settings: str  # "name=value, ..." for the preprocessor
    map: Image.Image | None  # the control map, as preprocessed, painted or posed
    control_mode: str = ControlMode.BALANCED.value  # sd-webui-controlnet's mode, by its name


def format_settings(settings: Mapping[str, float]) -> str:
    return ", ".join(f"{name}={value:g}" for name, value in settings.items())


def default_settings(preprocessor: str) -> str:
    found = PREPROCESSORS.get(preprocessor)
    return format_settings(found.settings) if found else ""


def parse_settings(text: str, preprocessor: str) -> dict[str, float]:
    """ "low_threshold=50, high_threshold=150" -> {...}. ValueError says which part is wrong."""
    known = PREPROCESSORS[preprocessor].settings if preprocessor in PREPROCESSORS else {}
    values: dict[str, float] = {}
    for part in filter(None, (piece.strip() for piece in (text or "").split(","))):
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals or name not in known:
            expected = format_settings(known) or "no settings"
            raise InputError(
                f"preprocessor settings: {part!r} is not a setting of {preprocessor} (it takes {expected})"
            )
        try:
            values[name] = float(value)
        except ValueError:
            raise InputError(f"preprocessor settings: {name} needs a number, got {value.strip()!r}") from None
    return values


def prepare_map(kind: str, preprocessor: str, control_map: Image.Image) -> Image.Image:
    """The map as the ControlNet must see it: hand-painted seg maps in exact class colours, scribbles in white on black."""
    control_map = control_map.convert("RGB")
    if preprocessor != NO_PREPROCESSOR:
        return control_map
    if kind == "seg":
        return maps.clean_semantic_map(control_map)
    if kind == "scribble":
        return maps.clean_scribble(control_map)
    return control_map


# The kinds whose maps are white lines on black: a sketch on the live canvas can be their map as it is drawn.
SKETCH_KINDS = ("scribble", "lineart")


def sketch_unit(unit: UnitValues, canvas: Image.Image) -> UnitValues:
    """`unit` (Scribble or Line art) switched on, its map the lines of `canvas` as it is now (live painting's
    sketch to picture): dark lines on light paper become white lines on black, as the ControlNet was trained."""
    if unit.kind not in SKETCH_KINDS:
        shown = KINDS[unit.kind].label if unit.kind in KINDS else "no kind"
        raise InputError(
            f"Sketch: control unit 1 must be Scribble or Line art to follow the canvas's lines (it is {shown}); "
            "choose one in the Control tab, or switch Sketch off"
        )
    lines = maps.clean_scribble(canvas)
    return dataclasses.replace(unit, enabled=True, preprocessor=NO_PREPROCESSOR, settings="", map=lines)


def build_units(units: Sequence[UnitValues]) -> tuple[tuple[ControlRef, ...], dict[str, Image.Image]]:
    """The enabled units as recipe entries, and their maps by role. ValueError names the unit at fault."""
    controls: list[ControlRef] = []
    images: dict[str, Image.Image] = {}
    for number, unit in enumerate(units, start=1):
        if not unit.enabled:
            continue
        if unit.kind not in KINDS:
            raise InputError(f"control unit {number}: choose a kind of control")
        if unit.map is None:
            raise InputError(
                f"control unit {number} ({KINDS[unit.kind].label}): it has no map yet; make one from a picture, "
                "paint one, or switch the unit off"
            )
        role = control_role(len(controls))
        settings = parse_settings(unit.settings, unit.preprocessor) if unit.preprocessor != NO_PREPROCESSOR else {}
        controls.append(
            ControlRef(
                kind=unit.kind,
                model=unit.model.strip(),
                image=role,
                weight=float(unit.weight),
                guidance_start=float(unit.guidance_start),
                guidance_end=float(unit.guidance_end),
                preprocessor=unit.preprocessor,
                preprocessor_settings=tuple(settings.items()),
                control_mode=ControlMode.read(unit.control_mode),
            )
        )
        images[role] = prepare_map(unit.kind, unit.preprocessor, unit.map)
    return tuple(controls), images
