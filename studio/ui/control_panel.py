"""The Control tab's widgets: up to three ControlNet units, each with its map, palette and pose editor.

Layout and conversion only: `units(values)` turns the widgets into control units and maps (through
studio.control.units), `show(recipe, maps)` puts a node's units back. Events live in control_tab.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from studio.control import ade20k
from studio.control.catalogue import KINDS, NO_PREPROCESSOR, default_model
from studio.control.pose import PRESETS
from studio.control.preprocessors import PREPROCESSORS
from studio.control.units import UnitValues, build_units, default_settings, format_settings, sketch_unit
from studio.errors import InputError
from studio.formats.unit_text import UnitSettings
from studio.pictures import picture_from_data_url, png_data_url
from studio.recipe import ControlMode, ControlRef, Recipe
from studio.ui.present.editor_page import editor_html, map_value

UNIT_COUNT = 3
# Each unit starts as a different kind, so the three show what control can do.
STARTING_KINDS = ("openpose", "seg", "canny")
LINE_COLOURS = ["#ffffff", "#000000"]


@dataclass
class UnitWidgets:
    number: int
    enabled: gr.Checkbox
    kind: gr.Dropdown
    model: gr.Textbox
    weight: gr.Slider
    guidance_start: gr.Slider
    guidance_end: gr.Slider
    control_mode: gr.Radio  # sd-webui-controlnet's three modes, by its names
    hint: gr.Markdown
    source: gr.Image
    use_picked: gr.Button
    preprocessor: gr.Dropdown
    settings: gr.Textbox
    make_map: gr.Button
    blank_map: gr.Button
    map: gr.HTML  # the studio's own editor in map mode (editor.js); value: editor_page.map_value + paint
    palette_box: gr.Group
    palette: gr.Dropdown
    painting_with: gr.Markdown
    recent_classes: gr.State  # names of the classes in the brush's colour list, most recent first
    pose_box: gr.Group
    pose_preset: gr.Dropdown
    detect_pose: gr.Button
    pose_view: gr.Image
    pose_help: gr.Markdown
    pose: gr.State  # Pose.to_dict()
    held_joint: gr.State  # the joint picked up by the last click, or None
    # What made the map now in the editor: {"preprocessor": name, "settings": text}, {"preprocessor": "none"}
    # for a map drawn, posed or uploaded by hand, None for no map. The recipe records this, never the
    # dropdowns, which may have changed since the map was made.
    made_by: gr.State
    shown_kind: gr.State  # the kind the unit's widgets were last set up for

    @property
    def recipe_widgets(self) -> list[Any]:
        """The widgets a unit's ControlRef and map are read from."""
        return [
            self.enabled,
            self.kind,
            self.model,
            self.weight,
            self.guidance_start,
            self.guidance_end,
            self.control_mode,
            self.made_by,
            self.map,
        ]

    def values(self, values: dict[Any, Any]) -> UnitValues:
        """The unit as the artist set it. Its map is read only when the unit is on: an off unit never stops a run."""
        enabled, kind, model, weight, start, end, mode, made_by, editor = (
            values[widget] for widget in self.recipe_widgets
        )
        made_by = made_by or {}
        try:
            control_map = map_of(editor) if enabled else None
        except ValueError as error:
            raise InputError(f"control unit {self.number}: {str(error).rstrip('.')}, or switch the unit off.") from None
        return UnitValues(
            bool(enabled), kind, model or "", weight, start, end,
            made_by.get("preprocessor") or NO_PREPROCESSOR, made_by.get("settings") or "", control_map,
            mode or ControlMode.BALANCED.value,
        )  # fmt: skip


@dataclass
class ControlPanel:
    units: list[UnitWidgets]

    @property
    def inputs(self) -> set[Any]:
        return {widget for unit in self.units for widget in unit.recipe_widgets}

    @property
    def outputs(self) -> list[Any]:
        shown = [
            [
                *unit.recipe_widgets,
                unit.preprocessor,
                unit.settings,
                unit.shown_kind,
                unit.hint,
                unit.palette_box,
                unit.pose_box,
            ]
            for unit in self.units
        ]
        return [widget for widgets in shown for widget in widgets]

    def controls(
        self, values: dict[Any, Any], *, sketch: Image.Image | None = None
    ) -> tuple[tuple[ControlRef, ...], dict[str, Image.Image]]:
        """The enabled units and their maps by role; ValueError names the unit at fault. With `sketch` (a live
        canvas), unit 1 follows the canvas's lines."""
        units = [unit.values(values) for unit in self.units]
        if sketch is not None:
            units[0] = sketch_unit(units[0], sketch)
        return build_units(units)

    def show(self, recipe: Recipe, maps: dict[str, Image.Image]) -> dict[Any, Any]:
        """Widget values that put a node's units (and their maps) back; units it did not use are switched off."""
        shown: dict[Any, Any] = {}
        for widgets, unit in zip(self.units, [*recipe.controls, *[None] * UNIT_COUNT], strict=False):
            if unit is None:
                shown[widgets.enabled] = False
                continue
            shown |= {
                widgets.enabled: True,
                widgets.kind: unit.kind,
                widgets.model: unit.model,
                widgets.weight: unit.weight,
                widgets.guidance_start: unit.guidance_start,
                widgets.guidance_end: unit.guidance_end,
                widgets.control_mode: unit.control_mode.value,
                widgets.preprocessor: gr.Dropdown(choices=preprocessor_choices(unit.kind), value=unit.preprocessor),
                widgets.settings: format_settings(dict(unit.preprocessor_settings)),
                widgets.made_by: {
                    "preprocessor": unit.preprocessor,
                    "settings": format_settings(dict(unit.preprocessor_settings)),
                },
                widgets.map: editor_value(maps.get(unit.image), unit.kind),
                **kind_display(widgets, unit.kind),
            }
        return shown

    def show_settings(self, units: Sequence[UnitSettings], values: dict[Any, Any]) -> tuple[dict[Any, Any], int]:
        """A text's unit settings put into the free units (off, without a map), switched off until the artist gives
        each a map; units holding the artist's work are left as they are. Returns the widgets and how many were
        placed."""
        free = [
            widgets for widgets in self.units if not values[widgets.enabled] and map_of(values[widgets.map]) is None
        ]
        shown: dict[Any, Any] = {}
        placed = [unit for unit in units if unit.kind in KINDS][: len(free)]
        for widgets, unit in zip(free, placed, strict=False):
            shown |= {
                widgets.enabled: False,
                widgets.kind: unit.kind,
                widgets.shown_kind: unit.kind,
                widgets.model: unit.control_model,
                widgets.weight: unit.weight,
                widgets.guidance_start: unit.guidance_start,
                widgets.guidance_end: unit.guidance_end,
                widgets.control_mode: unit.control_mode.value,
                widgets.preprocessor: gr.Dropdown(choices=preprocessor_choices(unit.kind), value=unit.preprocessor),
                widgets.settings: default_settings(unit.preprocessor),
                **kind_display(widgets, unit.kind),
            }
        return shown, len(placed)


def kind_display(widgets: UnitWidgets, kind: str) -> dict[Any, Any]:
    """What changes with a unit's kind: its hint, and whether the palette or the pose editor shows."""
    return {
        widgets.shown_kind: kind,
        widgets.hint: hint_text(kind),
        widgets.palette_box: gr.Group(visible=kind == "seg"),
        widgets.pose_box: gr.Group(visible=kind == "openpose"),
    }


def hint_text(kind: str) -> str:
    return f"*The map: {KINDS[kind].hint}.*"


def map_of(editor: dict | None) -> Image.Image | None:
    """The map a map editor holds: its map with the artist's paint over it (None when it has none)."""
    if not editor or not editor.get("picture_url"):
        return None
    size = (int(editor["width"]), int(editor["height"]))
    base = picture_from_data_url(editor["picture_url"], size, "control map")
    if base is None:
        return None
    paint = picture_from_data_url(editor.get("paint"), size, "control map paint")
    if paint is None:
        return base.convert("RGB")
    return Image.alpha_composite(base.convert("RGBA"), paint.convert("RGBA")).convert("RGB")


def editor_value(picture: Image.Image | None, kind: str, recent_classes: list[str] | None = None) -> Any:
    """The map editor's value for `picture`, with the colours a `kind` map may be painted in."""
    if picture is None:
        return None
    picture = picture.convert("RGB")
    recent = recent_classes or []
    return map_value(
        png_data_url(picture), picture.size, map_colours(kind, recent), map_brush(kind), map_colour_names(kind, recent)
    )


def map_colours(kind: str, recent_classes: list[str]) -> list[str]:
    """Semantic maps paint only class colours (the most recent class first); line maps paint white or black."""
    if kind == "seg":
        return [ade20k.find(name).hex for name in recent_classes] or [ade20k.find("sky").hex]
    return list(LINE_COLOURS)


def map_colour_names(kind: str, recent_classes: list[str]) -> list[str]:
    """What each of `map_colours` means, shown on its swatch: two classes may be greys a shade apart (wall, skyscraper)."""
    if kind == "seg":
        return list(recent_classes) or ["sky"]
    return ["white", "black"]


def map_brush(kind: str) -> int:
    return 24 if kind == "seg" else 4


def preprocessor_choices(kind: str) -> list[tuple[str, str]]:
    return [
        ("none: the picture is my map", name) if name == NO_PREPROCESSOR else (PREPROCESSORS[name].label, name)
        for name in KINDS[kind].preprocessors
    ]


def class_choices() -> list[tuple[str, str]]:
    return [(f"{c.name}  ({c.hex})", c.name) for c in ade20k.CLASSES]


def painting_text(recent_classes: list[str]) -> str:
    swatches = " ".join(
        f"<span class='swatch' style='background:{ade20k.find(name).hex}'></span>{name}" for name in recent_classes
    )
    return f"Brush colours: {swatches}" if recent_classes else "Choose a class to paint with (the brush starts as sky)."


def control_widgets(base_model: str, family: str | None, editor_script: str) -> ControlPanel:
    gr.Markdown(
        "Steer the picture with maps: a pose, edges, depth, a painted semantic map or a scribble. "
        "Units that are on apply to **Generate**, **Inpaint** and **Repaint**; their maps are saved on the node.",
        elem_id="control-intro",
    )
    units = []
    with gr.Tabs():
        for number, kind in enumerate(STARTING_KINDS, start=1):
            with gr.Tab(f"Unit {number}", id=f"control-unit-{number}", elem_id=f"control-unit-{number}"):
                units.append(_unit_widgets(number, kind, base_model, family, editor_script))
    return ControlPanel(units)


def _unit_widgets(number: int, kind: str, base_model: str, family: str | None, editor_script: str) -> UnitWidgets:
    prefix = f"control-{number}"
    with gr.Row(equal_height=True):
        enabled = gr.Checkbox(value=False, label="Use this unit", scale=1, min_width=110, elem_id=f"{prefix}-enabled")
        kind_choice = gr.Dropdown(
            [(k.label, k.name) for k in KINDS.values()], value=kind, label="Kind", scale=2, elem_id=f"{prefix}-kind"
        )
        model = gr.Textbox(
            value=default_model(kind, base_model, family),
            label="ControlNet model",
            info="Hugging Face id, folder or .safetensors (an SDXL union model serves every kind); 'tiny' for the "
            "test models, 'tiny-union' for tiny SDXL's union",
            scale=3,
            elem_id=f"{prefix}-model",
        )
    with gr.Row():
        weight = gr.Slider(0, 2, value=1.0, step=0.05, label="Weight", elem_id=f"{prefix}-weight")
        start = gr.Slider(0, 1, value=0.0, step=0.05, label="Starts at (share of steps)", elem_id=f"{prefix}-start")
        end = gr.Slider(0, 1, value=1.0, step=0.05, label="Ends at", elem_id=f"{prefix}-end")
    control_mode = gr.Radio(
        [mode.value for mode in ControlMode],
        value=ControlMode.BALANCED.value,
        label="Control mode",
        info="As in A1111's ControlNet: the prompt's pull and the map's, balanced or one of them first",
        elem_id=f"{prefix}-mode",
    )
    hint = gr.Markdown(hint_text(kind), elem_id=f"{prefix}-hint")
    with gr.Row():
        with gr.Column(scale=2, min_width=220):
            source = gr.Image(
                label="Picture to make a map from",
                type="pil",
                sources=["upload", "clipboard"],
                height=200,
                elem_id=f"{prefix}-source",
            )
            use_picked = gr.Button("Use the picked result", size="sm", elem_id=f"{prefix}-use-picked")
            preprocessor = gr.Dropdown(
                preprocessor_choices(kind),
                value=KINDS[kind].preprocessors[0],
                label="Preprocessor",
                elem_id=f"{prefix}-preprocessor",
                # The form is saved on every change, and a kind change swaps these choices: the save that
                # carries the old kind's preprocessor must not be refused (the map is made by name, checked).
                allow_custom_value=True,
            )
            settings = gr.Textbox(
                value=default_settings(KINDS[kind].preprocessors[0]),
                label="Preprocessor settings",
                elem_id=f"{prefix}-settings",
            )
            with gr.Row():
                make_map = gr.Button("Make the map", size="sm", variant="primary", elem_id=f"{prefix}-make-map")
                blank_map = gr.Button("Blank map", size="sm", elem_id=f"{prefix}-blank-map")
        with gr.Column(scale=3, min_width=300):
            control_map = gr.HTML(
                None, html_template=editor_html("map"), js_on_load=editor_script, elem_id=f"{prefix}-map"
            )
            with gr.Group(visible=kind == "seg", elem_id=f"{prefix}-palette-box") as palette_box:
                palette = gr.Dropdown(
                    class_choices(),
                    value=None,
                    label="Paint with class (type to search: sky, tree, person, road, water…)",
                    filterable=True,
                    elem_id=f"{prefix}-palette",
                )
                painting_with = gr.Markdown(painting_text([]), elem_id=f"{prefix}-painting-with")
            with gr.Group(visible=kind == "openpose", elem_id=f"{prefix}-pose-box") as pose_box:
                with gr.Row(equal_height=True):
                    pose_preset = gr.Dropdown(
                        list(PRESETS), value=None, label="Start from a pose", scale=2, elem_id=f"{prefix}-pose-preset"
                    )
                    detect_pose = gr.Button("Detect in the picture", size="sm", scale=1, elem_id=f"{prefix}-detect")
                pose_view = gr.Image(
                    label="Pose: click a joint, then click where it goes",
                    type="pil",
                    interactive=False,
                    height=300,
                    buttons=[],
                    elem_id=f"{prefix}-pose-view",
                )
                pose_help = gr.Markdown("*Choose a pose to start from.*", elem_id=f"{prefix}-pose-help")
    return UnitWidgets(
        number=number,
        enabled=enabled,
        kind=kind_choice,
        model=model,
        weight=weight,
        guidance_start=start,
        guidance_end=end,
        control_mode=control_mode,
        hint=hint,
        source=source,
        use_picked=use_picked,
        preprocessor=preprocessor,
        settings=settings,
        make_map=make_map,
        blank_map=blank_map,
        map=control_map,
        palette_box=palette_box,
        palette=palette,
        painting_with=painting_with,
        recent_classes=gr.State([]),
        pose_box=pose_box,
        pose_preset=pose_preset,
        detect_pose=detect_pose,
        pose_view=pose_view,
        pose_help=pose_help,
        pose=gr.State(None),
        held_joint=gr.State(None),
        made_by=gr.State(None),
        shown_kind=gr.State(kind),
    )
