"""The area prompts of the Control tab: words that steer only a painted area, beside the whole picture's prompt.

An area is painted in the map editor the reference pictures use (white where the words steer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from studio.control.areas import AreaValues, build_area_prompts
from studio.formats.unit_text import AreaWords
from studio.recipe import AreaPromptRef, Recipe
from studio.ui.control_panel import map_of
from studio.ui.present.editor_page import editor_html
from studio.ui.reference_panel import area_value, keep_in_draft
from studio.ui.running import user_errors

AREA_COUNT = 2
AREA_EDITOR = editor_html(
    "map",
    empty="No area yet: press Blank area and paint white where these words steer.",
    paint_title="Paint white where the words steer, black where they do not",
)


@dataclass
class AreaWidgets:
    number: int
    enabled: gr.Checkbox
    prompt: gr.Textbox
    weight: gr.Slider
    area: gr.HTML  # the map editor
    blank_area: gr.Button

    @property
    def recipe_widgets(self) -> list[Any]:
        return [self.enabled, self.prompt, self.weight, self.area]

    def values(self, values: dict[Any, Any]) -> AreaValues:
        return AreaValues(
            enabled=bool(values[self.enabled]),
            prompt=str(values[self.prompt] or ""),
            weight=float(values[self.weight]),
            mask=map_of(values[self.area]),
        )


@dataclass
class AreaPanel:
    units: list[AreaWidgets]

    @property
    def inputs(self) -> set[Any]:
        return {widget for unit in self.units for widget in unit.recipe_widgets}

    @property
    def outputs(self) -> list[Any]:
        return [widget for unit in self.units for widget in unit.recipe_widgets]

    def show_words(self, areas: Sequence[AreaWords], values: dict[Any, Any]) -> tuple[dict[Any, Any], int]:
        """A text's area prompts put into the free areas (off, no words, nothing painted), switched off until the
        artist paints each area. Returns the widgets and how many were placed."""
        free = [
            widgets
            for widgets in self.units
            if not values[widgets.enabled]
            and not str(values[widgets.prompt] or "").strip()
            and map_of(values[widgets.area]) is None
        ]
        shown: dict[Any, Any] = {}
        for widgets, area in zip(free, areas, strict=False):
            shown |= {widgets.enabled: False, widgets.prompt: area.prompt, widgets.weight: area.weight}
        return shown, min(len(free), len(areas))

    def area_prompts(self, values: dict[Any, Any]) -> tuple[tuple[AreaPromptRef, ...], dict[str, Image.Image]]:
        with user_errors():
            return build_area_prompts([unit.values(values) for unit in self.units])

    def show(self, recipe: Recipe, masks: Mapping[str, Image.Image]) -> dict[Any, Any]:
        """Widget values that put a node's area prompts back; areas it did not use are switched off."""
        shown: dict[Any, Any] = {}
        for widgets, area in zip(self.units, [*recipe.area_prompts, *[None] * AREA_COUNT], strict=False):
            if area is None:
                shown[widgets.enabled] = False
                continue
            painted = masks.get(area.mask)
            shown |= {
                widgets.enabled: True,
                widgets.prompt: area.prompt,
                widgets.weight: area.weight,
                widgets.area: area_value(painted) if painted is not None else None,
            }
        return shown


def area_widgets(editor_script: str) -> AreaPanel:
    gr.Markdown(
        "### Area prompts\nWords for one part of the picture: paint the area, write what it shows. The prompt on "
        "the left is for the whole picture; inside an area, *Weight* of the result follows the area's words.",
        elem_id="areas-intro",
    )
    units = []
    with gr.Tabs():
        for number in range(1, AREA_COUNT + 1):
            with gr.Tab(f"Area {number}", id=f"area-tab-{number}", elem_id=f"area-tab-{number}"):
                prefix = f"area-{number}"
                with gr.Row(equal_height=True):
                    enabled = gr.Checkbox(
                        value=False, label="Use this area", scale=1, min_width=120, elem_id=f"{prefix}-on"
                    )
                    prompt = gr.Textbox(
                        label="What this area shows",
                        placeholder="e.g. a girl with red hair, green coat",
                        lines=1,
                        scale=3,
                        elem_id=f"{prefix}-prompt",
                    )
                    weight = gr.Slider(0, 1, value=0.8, step=0.05, label="Weight", scale=1, elem_id=f"{prefix}-weight")
                area = gr.HTML(None, html_template=AREA_EDITOR, js_on_load=editor_script, elem_id=f"{prefix}-area")
                blank_area = gr.Button("Blank area", size="sm", elem_id=f"{prefix}-blank-area")
                units.append(AreaWidgets(number, enabled, prompt, weight, area, blank_area))
    return AreaPanel(units)


def wire(screen, panel: AreaPanel) -> None:
    private: dict[str, Any] = {"api_visibility": "private", "show_progress_on": [screen.badge_sink]}
    for unit in panel.units:
        keep_in_draft(screen, unit.area, f"area-{unit.number}", map_of)

        def blank(width: float, height: float) -> Any:
            return area_value(Image.new("RGB", (int(width), int(height)), "black"))

        unit.blank_area.click(blank, inputs=[screen.form.width, screen.form.height], outputs=unit.area, **private)
        # Words written for an area are meant to be used.
        unit.prompt.input(lambda words: bool(words.strip()), inputs=unit.prompt, outputs=unit.enabled, **private)
