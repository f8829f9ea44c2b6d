"""The steering units of an A1111 text read back: sd-webui-controlnet's `ControlNet N` fields (control units and
IP-Adapter reference units) and the studio's own `Area prompt N` / `Area weight N`.

sd-webui-controlnet writes each unit as one quoted field of `key: value` pairs:

    ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 1, Resize Mode: Crop and Resize,
    Processor Res: 512, Threshold A: 100, Threshold B: 200, Guidance Start: 0, Guidance End: 1, Pixel Perfect: False,
    Control Mode: Balanced"

The text has no map and no picture, and no control kind either: the kind is read from the module (a preprocessor
names its kind) or, for a map made by hand ("none"), from the model's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from studio.control.catalogue import KINDS, NO_PREPROCESSOR
from studio.recipe import ControlMode, ReferenceKind

_UNIT_FIELD = re.compile(r"ControlNet (\d+)")
_AREA_FIELD = re.compile(r"Area prompt (\d+)")
_MODEL_HASH = re.compile(r"\s*\[[0-9a-fA-F]{8,}\]$")  # "control_v11p_sd15_canny [d14c016b]"
REFERENCE_MODULE_PREFIX = "ip-adapter"  # sd-webui-controlnet's IP-Adapter modules: ip-adapter-auto, ip-adapter_clip_h…
# Words in a model's name that say its kind, when the module does not (a map made by hand).
_KIND_WORDS = (
    ("openpose", "openpose"),
    ("pose", "openpose"),
    ("canny", "canny"),
    ("depth", "depth"),
    ("seg", "seg"),
    ("scribble", "scribble"),
    ("lineart", "lineart"),
    ("softedge", "softedge"),
    ("hed", "softedge"),
    ("tile", "tile"),
    ("shuffle", "shuffle"),
)


@dataclass(frozen=True)
class UnitSettings:
    """One `ControlNet N` field: a control unit's settings (`kind` "" when neither module nor model says it) or,
    for an IP-Adapter module, a reference unit's."""

    number: int
    module: str
    model: str
    weight: float = 1.0
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    control_mode: ControlMode = ControlMode.BALANCED
    kind: str = ""

    @property
    def is_reference(self) -> bool:
        return self.module.lower().startswith(REFERENCE_MODULE_PREFIX)

    @property
    def control_model(self) -> str:
        """The model as the studio names it: a known ControlNet's file name is its Hugging Face id again."""
        kind = KINDS.get(self.kind)
        known = (kind.sd15_model, kind.sdxl_model) if kind else ()
        return next((model for model in known if model and model.rsplit("/", 1)[-1] == self.model), self.model)

    @property
    def reference_kind(self) -> ReferenceKind:
        return reference_kind(self.module, self.model)

    @property
    def preprocessor(self) -> str:
        """The studio's preprocessor for the module: the module itself when the kind has it, else by hand."""
        kind = KINDS.get(self.kind)
        return self.module if kind and self.module in kind.preprocessors else NO_PREPROCESSOR


@dataclass(frozen=True)
class AreaWords:
    """One `Area prompt N` (with its `Area weight N`)."""

    number: int
    prompt: str
    weight: float = 0.8


def read_units(fields: Mapping[str, str]) -> tuple[tuple[UnitSettings, ...], tuple[AreaWords, ...], set[str]]:
    """The units and area prompts the fields hold, in their order, and the names of the fields they were read from.
    A field that cannot be read, or a control unit of a kind the studio does not have, is left out of both (it stays
    among the fields kept, not applied)."""
    units: list[UnitSettings] = []
    areas: list[AreaWords] = []
    used: set[str] = set()
    for key, value in fields.items():
        unit_field, area_field = _UNIT_FIELD.fullmatch(key), _AREA_FIELD.fullmatch(key)
        if unit_field:
            unit = _unit(int(unit_field.group(1)), value)
            if unit is not None and (unit.is_reference or unit.kind):
                units.append(unit)
                used.add(key)
        elif area_field:
            number = int(area_field.group(1))
            weight_key = f"Area weight {number}"
            try:
                weight = float(fields.get(weight_key, "0.8"))
            except ValueError:
                continue
            if value.strip():
                areas.append(AreaWords(number, value.strip(), weight))
                used |= {key, weight_key} & set(fields)
    return tuple(sorted(units, key=lambda u: u.number)), tuple(sorted(areas, key=lambda a: a.number)), used


def reference_kind(module: str, model: str) -> ReferenceKind:
    """What an IP-Adapter unit lends, from sd-webui-controlnet's module and the adapter's name."""
    if "face_id" in module.lower() or "faceid" in model.lower():
        return ReferenceKind.FACE
    return ReferenceKind.COMPOSITION if "composition" in model.lower() else ReferenceKind.STYLE_CONTENT


def unit_words(unit: UnitSettings) -> str:
    """A unit as Picture info lists it."""
    steps = f"steps {unit.guidance_start:g}–{unit.guidance_end:g}"
    if unit.is_reference:
        return f"reference picture ({unit.reference_kind.value.lower()}) · `{unit.model}` · weight {unit.weight:g} · {steps}"
    kind = KINDS[unit.kind].label if unit.kind in KINDS else unit.kind
    mode = f" · {unit.control_mode.value}" if unit.control_mode is not ControlMode.BALANCED else ""
    return f"{kind} · `{unit.model}` · weight {unit.weight:g} · {steps} · made by {unit.module}{mode}"


def _unit(number: int, value: str) -> UnitSettings | None:
    pairs = dict(_pair(item) for item in value.split(",") if ":" in item)
    module, model = pairs.get("module", ""), _MODEL_HASH.sub("", pairs.get("model", ""))
    if not module or not model or model.lower() == "none":
        return None  # an empty unit
    try:
        return UnitSettings(
            number,
            module,
            model,
            float(pairs.get("weight", "1")),
            float(pairs.get("guidance start", "0")),
            float(pairs.get("guidance end", "1")),
            ControlMode.read(pairs.get("control mode", ControlMode.BALANCED.value)),
            _kind(module, model),
        )
    except ValueError:
        return None


def _pair(item: str) -> tuple[str, str]:
    key, value = item.split(":", 1)
    return key.strip().lower(), value.strip()


def _kind(module: str, model: str) -> str:
    if module.lower().startswith(REFERENCE_MODULE_PREFIX):
        return ""
    for kind in KINDS.values():
        if module != NO_PREPROCESSOR and module in kind.preprocessors:
            return kind.name
    name = model.lower()
    return next((kind for word, kind in _KIND_WORDS if word in name), "")
