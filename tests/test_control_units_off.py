"""An off control unit never stops a run, and a unit at fault is named (issue 25, item 6)."""

from __future__ import annotations

import gradio as gr
import pytest
from PIL import Image

from studio.pictures import png_data_url
from studio.ui.control_panel import control_widgets
from studio.ui.present.editor_page import map_value


@pytest.fixture(scope="module")
def panel():
    with gr.Blocks():
        return control_widgets("tiny", "SD 1.5", "")


def values_of(panel, *, enabled: bool, map_side: int) -> dict:
    """The form values of three units: unit 1 holding a map `map_side` pixels wide (its header says so)."""
    huge = Image.new("RGB", (map_side, 8), "white")
    values = {}
    for unit in panel.units:
        values |= {
            unit.enabled: enabled and unit.number == 1,
            unit.kind: "scribble",
            unit.model: "tiny",
            unit.weight: 1.0,
            unit.guidance_start: 0.0,
            unit.guidance_end: 1.0,
            unit.control_mode: "Balanced",
            unit.made_by: {"preprocessor": "none"},
            unit.map: map_value(png_data_url(huge), huge.size, ["#ffffff"], 4) if unit.number == 1 else None,
        }
    return values


def test_an_off_unit_s_map_is_never_read_so_it_never_stops_a_run(panel):
    assert panel.controls(values_of(panel, enabled=False, map_side=9000)) == ((), {})


def test_an_on_unit_with_a_map_over_the_size_is_named_with_what_to_do(panel):
    with pytest.raises(ValueError, match=r"^control unit 1: .*9000x8 pixels.*or switch the unit off\."):
        panel.controls(values_of(panel, enabled=True, map_side=9000))
