"""What each kind of control is: its ControlNet models for SD 1.5 and SDXL, its preprocessors, its blank map.

Pure data, so the form, the session and the engine agree on one table.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.errors import InputError
from studio.recipe import TINY_FLUX_MODEL, TINY_MODEL, TINY_SDXL_MODEL

SDXL = "SDXL"  # a model family's name, as studio/engine/families.py's Family says it

NO_PREPROCESSOR = "none"  # the map is the artist's own: painted, drawn or posed by hand


@dataclass(frozen=True)
class ControlKind:
    name: str
    label: str
    sd15_model: str  # lllyasviel's ControlNet 1.1 for Stable Diffusion 1.5
    sdxl_model: str  # the diffusers-format SDXL ControlNet artists use for it
    preprocessors: tuple[str, ...]  # the first is the default
    blank: tuple[int, int, int]  # the background a hand-made map starts from
    hint: str  # what the map means, for the artist


# The control type each kind is for SDXL's "union" ControlNet (xinsir's, 6 types; "promax": 8 with tile).
UNION_MODES: dict[str, int] = {
    "openpose": 0,
    "depth": 1,
    "softedge": 2,
    "scribble": 2,
    "canny": 3,
    "lineart": 3,
    "seg": 5,
    "tile": 6,
}
TINY_UNION = "tiny-union"  # the tiny SDXL model's union ControlNet (the tiny Flux model's too)
# The control mode each kind is for Flux's union ControlNets (InstantX's Union, Shakker Labs' Union Pro).
FLUX_UNION_MODES: dict[str, int] = {"canny": 0, "lineart": 0, "tile": 1, "depth": 2, "openpose": 4}
FLUX_UNION = "Shakker-Labs/FLUX.1-dev-ControlNet-Union-Pro"
FLUX = "Flux.1"

KINDS: dict[str, ControlKind] = {
    kind.name: kind
    for kind in (
        ControlKind(
            "canny", "Edges (canny)", "lllyasviel/control_v11p_sd15_canny", "xinsir/controlnet-canny-sdxl-1.0", ("canny", NO_PREPROCESSOR), (0, 0, 0),
            "white edges on black",
        ),
        ControlKind(
            "openpose", "Pose (OpenPose)", "lllyasviel/control_v11p_sd15_openpose", "xinsir/controlnet-openpose-sdxl-1.0", ("openpose", NO_PREPROCESSOR),
            (0, 0, 0), "an OpenPose skeleton in its standard colours",
        ),
        ControlKind(
            "depth", "Depth", "lllyasviel/control_v11f1p_sd15_depth", "diffusers/controlnet-depth-sdxl-1.0", ("depth_midas", "depth_zoe", NO_PREPROCESSOR),
            (0, 0, 0), "near is white, far is black",
        ),
        ControlKind(
            "seg", "Semantic map (ADE20K)", "lllyasviel/control_v11p_sd15_seg", "SargeZT/sdxl-controlnet-seg", (NO_PREPROCESSOR, "seg_upernet"),
            (120, 120, 120), "each area painted in its ADE20K class colour",
        ),
        ControlKind(
            "scribble", "Scribble", "lllyasviel/control_v11p_sd15_scribble", "xinsir/controlnet-scribble-sdxl-1.0", (NO_PREPROCESSOR,), (0, 0, 0),
            "white lines drawn on black",
        ),
        ControlKind(
            "lineart", "Line art", "lllyasviel/control_v11p_sd15_lineart", "TheMistoAI/MistoLine",
            ("lineart_standard", "lineart", NO_PREPROCESSOR), (0, 0, 0), "white lines on black",
        ),
        ControlKind(
            "softedge", "Soft edges (HED)", "lllyasviel/control_v11p_sd15_softedge", "TheMistoAI/MistoLine", ("softedge_hed", NO_PREPROCESSOR),
            (0, 0, 0), "soft white edges on black",
        ),
        ControlKind(
            "tile", "Tile (detail)", "lllyasviel/control_v11f1e_sd15_tile", "xinsir/controlnet-tile-sdxl-1.0", ("tile_resample", NO_PREPROCESSOR),
            (0, 0, 0), "the picture itself, perhaps blurred",
        ),
        ControlKind(
            "shuffle", "Content shuffle (style)", "lllyasviel/control_v11e_sd15_shuffle", "", ("shuffle", NO_PREPROCESSOR),
            (0, 0, 0), "the picture's colours, shuffled",
        ),
    )
}  # fmt: skip


def default_model(kind: str, base_model: str, family: str | None = None) -> str:
    """The ControlNet a new unit of `kind` uses on a model of `family`: the family's usual one, or the tiny one
    for a tiny model. ("" where no SDXL ControlNet of that kind is known: the artist names one.)"""
    if base_model in (TINY_MODEL, TINY_SDXL_MODEL):
        return TINY_MODEL
    if family == FLUX:  # one union model serves the kinds it has a mode for; others the artist names
        return (TINY_UNION if base_model == TINY_FLUX_MODEL else FLUX_UNION) if kind in FLUX_UNION_MODES else ""
    return KINDS[kind].sdxl_model if family == SDXL else KINDS[kind].sd15_model


def model_for_new_base(kind: str, current: str, base_model: str, family: str | None = None) -> str:
    """A unit's ControlNet once the base model changes: a default follows the base, the artist's own choice stays."""
    defaults = {TINY_MODEL, TINY_UNION, FLUX_UNION, KINDS[kind].sd15_model, KINDS[kind].sdxl_model, ""}
    return default_model(kind, base_model, family) if current.strip() in defaults else current


def flux_union_mode(kind: str) -> int:
    """The control mode a Flux union ControlNet reads a map of `kind` as; InputError for a kind it lacks."""
    if kind not in FLUX_UNION_MODES:
        raise InputError(
            f"controls: Flux's union ControlNet has no {KINDS[kind].label} mode; use a Flux ControlNet of its own"
        )
    return FLUX_UNION_MODES[kind]


def union_mode(kind: str) -> int:
    """The control type a union ControlNet reads a map of `kind` as; ValueError for a kind it does not serve."""
    if kind not in UNION_MODES:
        raise InputError(f"controls: the union ControlNet has no {KINDS[kind].label} mode; use a ControlNet of its own")
    return UNION_MODES[kind]


def control_role(index: int) -> str:
    """The name a unit's map takes among the node's inputs."""
    return f"control-{index}"
