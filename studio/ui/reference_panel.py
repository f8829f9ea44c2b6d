"""The reference pictures of the Control tab: IP-Adapter units beside the control units, each with an optional area.

A unit's area is painted in the map editor the control units use: *Blank area* starts a black canvas at the form's
size, and white is where the reference steers (no area: the whole picture).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from studio.control.references import (
    ReferenceLibrary,
    ReferenceValues,
    adapters_info,
    build_references,
    kind_for,
    reference_advice,
)
from studio.formats.unit_text import UnitSettings
from studio.pictures import png_data_url
from studio.recipe import Recipe, ReferenceKind, ReferenceRef
from studio.ui.control_panel import map_of
from studio.ui.present.editor_page import editor_html, map_value
from studio.ui.present.licences import LICENCES
from studio.ui.running import user_errors

REFERENCE_COUNT = 2
AREA_EDITOR = editor_html(
    "map",
    empty="No area: this steers the whole picture. Press Blank area and paint white where it should steer.",
    paint_title="Paint white where it steers, black where it does not",
)


def area_value(area: Image.Image) -> dict:
    """The map editor's value for an area: white where the reference steers, black elsewhere, a broad brush."""
    area = area.convert("RGB")
    return map_value(
        png_data_url(area), area.size, ["#ffffff", "#000000"], max(8, max(area.size) // 10), ["here", "not here"]
    )


@dataclass
class ReferenceWidgets:
    number: int
    enabled: gr.Checkbox
    picture: gr.Image
    model: gr.Dropdown
    kind: gr.Radio
    weight: gr.Slider
    guidance_start: gr.Slider
    guidance_end: gr.Slider
    area: gr.HTML  # the map editor
    blank_area: gr.Button
    whole_picture: gr.Button
    origin: gr.Textbox
    licence: gr.Dropdown
    advice: gr.Markdown  # why the unit cannot run as set, and what to do

    @property
    def recipe_widgets(self) -> list[Any]:
        return [
            self.enabled,
            self.picture,
            self.model,
            self.kind,
            self.weight,
            self.guidance_start,
            self.guidance_end,
            self.area,
            self.origin,
            self.licence,
        ]

    def values(self, values: dict[Any, Any]) -> ReferenceValues:
        return ReferenceValues(
            enabled=bool(values[self.enabled]),
            picture=values[self.picture],
            model=str(values[self.model] or ""),
            kind=str(values[self.kind] or ReferenceKind.STYLE_CONTENT.value),
            weight=float(values[self.weight]),
            guidance_start=float(values[self.guidance_start]),
            guidance_end=float(values[self.guidance_end]),
            mask=map_of(values[self.area]),
            origin=str(values[self.origin] or ""),
            licence=str(values[self.licence] or ""),
        )


@dataclass(frozen=True)
class _Adapters:
    names: list[str]
    info: str  # the list's help line


@dataclass
class ReferencePanel:
    units: list[ReferenceWidgets]
    face_refusal: str | None  # why Face references cannot run in this studio (None: they can)

    @property
    def inputs(self) -> set[Any]:
        return {widget for unit in self.units for widget in unit.recipe_widgets}

    def references(
        self, values: dict[Any, Any]
    ) -> tuple[tuple[ReferenceRef, ...], dict[str, Image.Image], dict[str, dict[str, str]]]:
        """The enabled units, their pictures and areas by role, and what the artist said of each picture."""
        with user_errors():
            return build_references([unit.values(values) for unit in self.units])

    def show(
        self, recipe: Recipe, pictures: Mapping[str, Image.Image], sources: Mapping[str, Mapping[str, str]]
    ) -> dict[Any, Any]:
        """Widget values that put a node's references back; units it did not use are switched off."""
        shown: dict[Any, Any] = {}
        for widgets, reference in zip(self.units, [*recipe.references, *[None] * REFERENCE_COUNT], strict=False):
            if reference is None:
                shown[widgets.enabled] = False
                continue
            stated = sources.get(reference.image, {})
            mask = pictures.get(reference.mask) if reference.mask else None
            shown |= {
                widgets.enabled: True,
                widgets.picture: pictures.get(reference.image),
                widgets.model: reference.model,
                widgets.kind: reference.kind.value,
                widgets.weight: reference.weight,
                widgets.guidance_start: reference.guidance_start,
                widgets.guidance_end: reference.guidance_end,
                widgets.area: area_value(mask) if mask is not None else None,
                widgets.origin: "" if stated.get("origin") in (None, "unknown") else stated["origin"],
                widgets.licence: stated.get("licence", "unknown"),
            }
        return shown

    @property
    def outputs(self) -> list[Any]:
        return [widget for unit in self.units for widget in unit.recipe_widgets]

    def show_settings(self, units: Sequence[UnitSettings], values: dict[Any, Any]) -> tuple[dict[Any, Any], int]:
        """A text's IP-Adapter units put into the free references (off, without a picture), switched off until
        the artist gives each a picture. Returns the widgets and how many were placed."""
        free = [widgets for widgets in self.units if not values[widgets.enabled] and values[widgets.picture] is None]
        placed = [unit for unit in units if unit.is_reference][: len(free)]
        shown: dict[Any, Any] = {}
        for widgets, unit in zip(free, placed, strict=False):
            shown |= {
                widgets.enabled: False,
                widgets.model: unit.model,
                widgets.kind: unit.reference_kind.value,
                widgets.weight: unit.weight,
                widgets.guidance_start: unit.guidance_start,
                widgets.guidance_end: unit.guidance_end,
            }
        return shown, len(placed)


def reference_widgets(library: ReferenceLibrary, editor_script: str) -> ReferencePanel:
    # The folder is read once for the whole panel: its list, the first choice, and whether faces can be read.
    names = library.names()
    adapters = _Adapters(names, adapters_info(names, library.folder))
    first = library.first_choice()
    refusal = library.face_refusal()
    advice = reference_advice(first or "", ReferenceKind.STYLE_CONTENT.value, refusal)
    gr.Markdown(
        "### Reference pictures\nSteer with a picture's look (IP-Adapter): a character sheet, a palette, a costume. "
        "Give a reference an area to steer only there: two references, two areas, two characters.",
        elem_id="references-intro",
    )
    units = []
    with gr.Tabs():
        for number in range(1, REFERENCE_COUNT + 1):
            with gr.Tab(f"Reference {number}", id=f"reference-tab-{number}", elem_id=f"reference-tab-{number}"):
                units.append(_unit(number, adapters, first, advice, editor_script))
    return ReferencePanel(units, refusal)


def _unit(number: int, adapters: _Adapters, first: str | None, advice: str, editor_script: str) -> ReferenceWidgets:
    prefix = f"reference-{number}"
    with gr.Row(equal_height=True):
        enabled = gr.Checkbox(value=False, label="Use this reference", scale=1, min_width=130, elem_id=f"{prefix}-on")
        model = gr.Dropdown(
            adapters.names,
            value=first,
            label="IP-Adapter",
            info=adapters.info,
            allow_custom_value=True,
            scale=2,
            elem_id=f"{prefix}-model",
        )
        kind = gr.Radio(
            [kind.value for kind in ReferenceKind],
            value=ReferenceKind.STYLE_CONTENT.value,
            label="It lends",
            scale=2,
            elem_id=f"{prefix}-kind",
        )
    advice_line = gr.Markdown(advice, elem_id=f"{prefix}-advice")
    with gr.Row():
        weight = gr.Slider(0, 2, value=0.8, step=0.05, label="Weight", elem_id=f"{prefix}-weight")
        start = gr.Slider(0, 1, value=0.0, step=0.05, label="Starts at (share of steps)", elem_id=f"{prefix}-start")
        end = gr.Slider(0, 1, value=1.0, step=0.05, label="Ends at", elem_id=f"{prefix}-end")
    with gr.Row():
        with gr.Column(scale=2, min_width=220):
            picture = gr.Image(
                label="Reference picture", type="pil", sources=["upload", "clipboard"], height=200, elem_id=prefix
            )
            origin = gr.Textbox(
                label="Where is it from?",
                placeholder="e.g. my character sheet, a friend's photo",
                max_length=500,
                elem_id=f"{prefix}-origin",
            )
            licence = gr.Dropdown(
                list(LICENCES),
                value="unknown",
                label="Its licence (kept in the authorship record)",
                allow_custom_value=True,
                elem_id=f"{prefix}-licence",
            )
        with gr.Column(scale=3, min_width=300):
            area = gr.HTML(None, html_template=AREA_EDITOR, js_on_load=editor_script, elem_id=f"{prefix}-area")
            with gr.Row():
                blank_area = gr.Button("Blank area", size="sm", elem_id=f"{prefix}-blank-area")
                whole_picture = gr.Button("Clear the area (whole picture)", size="sm", elem_id=f"{prefix}-whole")
    return ReferenceWidgets(
        number,
        enabled,
        picture,
        model,
        kind,
        weight,
        start,
        end,
        area,
        blank_area,
        whole_picture,
        origin,
        licence,
        advice_line,
    )


def keep_in_draft(screen, widget: Any, name: str, picture_of: Callable[[Any], Image.Image | None]) -> None:
    """`widget`'s picture (or painted area) follows into the session's draft as it changes, so a reload or a
    return to the session brings it back, and another session never gets it."""

    def keep(value: Any, session_id: str | None, request: gr.Request) -> None:
        if not session_id:
            return
        session = screen.session_for(session_id, request)
        if not session.history.read_only:
            session.drafts.save_steering(name, picture_of(value))

    widget.change(
        keep,
        inputs=[widget, screen.session],
        trigger_mode="always_last",
        show_progress="hidden",
        api_visibility="private",
    )


def wire(screen, panel: ReferencePanel) -> None:
    private: dict[str, Any] = {"api_visibility": "private", "show_progress_on": [screen.badge_sink]}
    for unit in panel.units:
        keep_in_draft(screen, unit.picture, f"reference-{unit.number}", lambda picture: picture)
        keep_in_draft(screen, unit.area, f"reference-{unit.number}-area", map_of)

        def blank(width: float, height: float) -> Any:
            return area_value(Image.new("RGB", (int(width), int(height)), "black"))

        unit.blank_area.click(blank, inputs=[screen.form.width, screen.form.height], outputs=unit.area, **private)
        unit.whole_picture.click(lambda: None, outputs=unit.area, **private)
        # The kind follows the adapter the artist picks: a FaceID one reads a face (only the artist's choice: a
        # restored unit brings its own kind).
        unit.model.input(kind_for, inputs=[unit.model, unit.kind], outputs=unit.kind, **private)
        for setting in (unit.model, unit.kind):
            setting.change(
                lambda adapter, kind: reference_advice(adapter or "", kind or "", panel.face_refusal),
                inputs=[unit.model, unit.kind],
                outputs=unit.advice,
                api_visibility="private",
                show_progress="hidden",
            )
        # A picture given is a reference the artist means to use.
        unit.picture.upload(lambda: True, outputs=unit.enabled, **private)
