"""sd-webui-controlnet's API shapes: units in `alwayson_scripts.controlnet.args`, its module and model names.

A unit names a preprocessor ("module") and a ControlNet ("model"); the studio reads them as a control
unit of the recipe (`ControlRef`) and its map. A unit whose module is an IP-Adapter one (`ip-adapter_clip_sd15`,
`ip-adapter-auto`, ...) is a reference picture (`ReferenceRef`): its model names an IP-Adapter file, its image is
the reference, and its `effective_region_mask` the area it steers. Pure: PIL and the control catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from PIL import Image

from studio.control.catalogue import KINDS, NO_PREPROCESSOR, control_role, default_model
from studio.control.preprocessors import PREPROCESSORS
from studio.errors import InputError
from studio.formats.unit_text import reference_kind
from studio.recipe import TINY_MODEL, ControlMode, ControlRef, ReferenceRef
from studio.webui.pictures import CROP_AND_RESIZE, RESIZE_MODES, decode_picture, resize_for

SCRIPT_NAME = "controlnet"
# sd-webui-controlnet's module names that are another name for one of ours.
MODULE_ALIASES: dict[str, str] = {
    "depth": "depth_midas",
    "hed": "softedge_hed",
    "lineart_realistic": "lineart",
    "tile": "tile_resample",
}
# Its `threshold_a` / `threshold_b` sliders, as each of our preprocessors' settings.
_THRESHOLDS: dict[str, tuple[str, ...]] = {
    "canny": ("low_threshold", "high_threshold"),
    "tile_resample": ("down_sampling_rate",),
}
# Words in a ControlNet's name that say its kind, most specific first ("softedge" before "edge").
_KIND_WORDS: tuple[tuple[str, str], ...] = (
    ("openpose", "openpose"),
    ("softedge", "softedge"),
    ("hed", "softedge"),
    ("lineart", "lineart"),
    ("scribble", "scribble"),
    ("canny", "canny"),
    ("depth", "depth"),
    ("seg", "seg"),
    ("tile", "tile"),
    ("shuffle", "shuffle"),
    ("pose", "openpose"),
)
_HASH_SUFFIX = re.compile(r"^(?P<name>.*?)\s*\[(?P<tag>[^\]]*)\]\s*$")


IP_ADAPTER_MODULE = "ip-adapter"  # every IP-Adapter module's name starts so


@dataclass(frozen=True)
class Unit:
    """One unit of a request: its recipe part and its map, already at the picture's size."""

    control: ControlRef
    map: Image.Image


@dataclass(frozen=True)
class ReferenceUnit:
    """One IP-Adapter unit of a request: its recipe part, and its picture and mask by role."""

    reference: ReferenceRef
    pictures: dict[str, Image.Image]


def is_reference(unit: Mapping[str, Any]) -> bool:
    return str(unit.get("module") or "").lower().startswith(IP_ADAPTER_MODULE)


def read_references(units: list[Mapping[str, Any]], *, size: tuple[int, int]) -> list[ReferenceUnit]:
    """The recipe's reference pictures among the units (numbered from 1), each with its mask at `size`."""
    found = []
    for index, unit in enumerate(units):
        if is_reference(unit):
            found.append(_read_reference(unit, index, len(found) + 1, size))
    return found


def _read_reference(unit: Mapping[str, Any], index: int, number: int, size: tuple[int, int]) -> ReferenceUnit:
    where = f"alwayson_scripts.controlnet.args[{index}]"
    text = str(unit.get("model") or "").strip()
    if not text or text == "None":
        raise InputError(f"{where}.model: name an IP-Adapter file of the studio's ipadapter folder")
    name = match["name"].strip() if (match := _HASH_SUFFIX.match(text)) else text
    kind = reference_kind(str(unit.get("module")), name)
    role = f"reference-{number}"
    pictures = {role: decode_picture(unit.get("image") or unit.get("input_image"), f"{where}.image").convert("RGB")}
    if unit.get("mask") or unit.get("mask_image"):
        # sd-webui-controlnet masks the reference picture itself with these, before it is read.
        raise InputError(
            f"{where}.mask: masks the reference picture itself, which the studio does not do; "
            "send effective_region_mask for the area the reference steers"
        )
    mask_source = unit.get("effective_region_mask")
    mask_role = ""
    if mask_source:
        area = decode_picture(mask_source, f"{where}.effective_region_mask").convert("L")
        width, height = size
        area = resize_for(CROP_AND_RESIZE, area, width, height, Image.Resampling.NEAREST)
        mask_role = f"{role}-mask"
        pictures[mask_role] = area.point([0] * 128 + [255] * 128)  # white steers, as sd-webui-controlnet reads it
    reference = ReferenceRef(
        model=name,
        image=role,
        weight=_number(unit.get("weight", 1.0), f"{where}.weight"),
        guidance_start=_number(unit.get("guidance_start", 0.0), f"{where}.guidance_start"),
        guidance_end=_number(unit.get("guidance_end", 1.0), f"{where}.guidance_end"),
        kind=kind,
        mask=mask_role,
    )
    return ReferenceUnit(reference, pictures)


def module_list() -> list[str]:
    return [NO_PREPROCESSOR, *PREPROCESSORS, *MODULE_ALIASES]


def model_list(base_model: str, family: str | None) -> list[str]:
    """Each kind's ControlNet for the loaded model, as `<model> [<kind>]`: the name says the kind."""
    names = []
    for kind in KINDS:
        model = default_model(kind, base_model, family)
        if model:
            names.append(f"{model} [{kind}]")
    return names


def units_of(alwayson_scripts: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The enabled units of a request's ControlNet script (its name in any case), as dictionaries."""
    for name, script in alwayson_scripts.items():
        if name.lower() == SCRIPT_NAME and isinstance(script, Mapping):
            args = script.get("args") or []
            if not isinstance(args, list):
                raise InputError("alwayson_scripts.controlnet.args: expected a list of units")
            return [unit for unit in args if isinstance(unit, Mapping) and unit.get("enabled", True)]
    return []


def read_units(
    units: list[Mapping[str, Any]],
    *,
    size: tuple[int, int],
    base_model: str,
    family: str | None,
    make_map: Callable[[str, Image.Image, Mapping[str, float]], Image.Image],
) -> list[Unit]:
    """The recipe's control units and their maps at `size`; ValueError naming the unit and field otherwise."""
    return [
        _read_unit(unit, index, size=size, base_model=base_model, family=family, make_map=make_map)
        for index, unit in enumerate(units)
        if not is_reference(unit)
    ]


def _read_unit(unit, index, *, size, base_model, family, make_map) -> Unit:
    where = f"alwayson_scripts.controlnet.args[{index}]"
    module = preprocessor_of(str(unit.get("module") or NO_PREPROCESSOR), where)
    kind, model = _kind_and_model(unit.get("model"), module, base_model, family, where)
    try:
        control_mode = ControlMode.read(unit.get("control_mode", ControlMode.BALANCED))
    except ValueError as error:
        raise InputError(f"{where}.control_mode: {error}") from None
    source = unit.get("image") or unit.get("input_image")
    if isinstance(source, Mapping):  # older clients send {"image": ..., "mask": ...}
        source = source.get("image")
    picture = decode_picture(source, f"{where}.image").convert("RGB")
    resize_mode = _resize_mode(unit.get("resize_mode", "Crop and Resize"), where)
    width, height = size
    if module == NO_PREPROCESSOR:
        control_map = resize_for(resize_mode, picture, width, height, Image.Resampling.NEAREST)
        settings: dict[str, float] = {}
    else:
        settings = thresholds(module, unit.get("threshold_a"), unit.get("threshold_b"))
        control_map = make_map(module, resize_for(resize_mode, picture, width, height), settings)
        if control_map.size != size:
            control_map = control_map.resize(size, Image.Resampling.NEAREST)
    control = ControlRef(
        kind=kind,
        model=model,
        image=control_role(index),
        weight=_number(unit.get("weight", 1.0), f"{where}.weight"),
        guidance_start=_number(unit.get("guidance_start", 0.0), f"{where}.guidance_start"),
        guidance_end=_number(unit.get("guidance_end", 1.0), f"{where}.guidance_end"),
        preprocessor=module,
        preprocessor_settings=tuple(sorted(settings.items())),
        control_mode=control_mode,
    )
    return Unit(control, control_map)


def preprocessor_of(module: str, where: str) -> str:
    name = MODULE_ALIASES.get(module, module)
    if name != NO_PREPROCESSOR and name not in PREPROCESSORS:
        raise InputError(
            f"{where}.module: the studio has no {module!r} preprocessor; use one of {', '.join(module_list())} "
            "(GET /controlnet/module_list)"
        )
    return name


def thresholds(module: str, threshold_a: object, threshold_b: object) -> dict[str, float]:
    """A preprocessor's settings from the unit's sliders; -1 or a missing value keeps its default."""
    settings = {}
    for name, value in zip(_THRESHOLDS.get(module, ()), (threshold_a, threshold_b), strict=False):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value != -1:
            settings[name] = float(value)
    return settings


def _kind_and_model(model: object, module: str, base_model: str, family: str | None, where: str) -> tuple[str, str]:
    text = str(model or "").strip()
    if not text or text == "None":
        raise InputError(f"{where}.model: name a ControlNet (GET /controlnet/model_list)")
    name, tag = text, ""
    if match := _HASH_SUFFIX.match(text):
        name, tag = match["name"].strip(), match["tag"].strip()
    kind = tag if tag in KINDS else _kind_in(name) or _kind_in(module)
    if kind is None:
        raise InputError(
            f"{where}.model: cannot tell which kind of control {text!r} is; "
            f"name one from GET /controlnet/model_list, like '{default_model('canny', base_model, family)} [canny]'"
        )
    return kind, _model_id(name, kind, base_model, family, where)


def _model_id(name: str, kind: str, base_model: str, family: str | None, where: str) -> str:
    """The ControlNet to load: a Hugging Face id or path as given; an A1111 file name of a known model as its id."""
    if "/" in name or "\\" in name or name == TINY_MODEL:
        return name
    stem = PurePath(name).stem if name.endswith((".safetensors", ".pth", ".pt", ".bin")) else name
    for model in (KINDS[kind].sd15_model, KINDS[kind].sdxl_model):
        if model and model.rsplit("/", 1)[-1] == stem:
            return model
    raise InputError(
        f"{where}.model: {name!r} is a file of another tool's models folder; name the ControlNet by its Hugging Face "
        f"id or path, like '{default_model(kind, base_model, family)} [{kind}]' (GET /controlnet/model_list)"
    )


def _kind_in(text: str) -> str | None:
    lowered = text.lower()
    return next((kind for word, kind in _KIND_WORDS if word in lowered), None)


def _resize_mode(value: object, where: str) -> int:
    if isinstance(value, str) and value in RESIZE_MODES:
        return RESIZE_MODES[value]
    if value in (0, 1, 2) and not isinstance(value, bool):
        return int(value)  # type: ignore[arg-type]
    legacy = {"Scale to Fit (Inner Fit)": CROP_AND_RESIZE, "Envelope (Outer Fit)": RESIZE_MODES["Resize and Fill"]}
    if isinstance(value, str) and value in legacy:
        return legacy[value]
    raise InputError(f"{where}.resize_mode: {value!r}; use 'Just Resize', 'Crop and Resize' or 'Resize and Fill'")


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: expected a number, got {value!r}")
    return float(value)
