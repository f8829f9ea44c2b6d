"""The Finish tab: on the picked picture, fix regions (hands, faces), hires fix, upscale, extend the canvas.

Each finish is a run like any other: progress in the status line, Stop stops it, and the result is a
child of the picked picture in the history, named for what was done ("fix hands", "upscale 2x").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from studio.errors import InputError
from studio.finish.outpaint import MAX_EXTENSION, Extension
from studio.finish.regions import (
    PAINTED,
    REVIEW_COLUMNS,
    FixPlan,
    box_of_mask,
    is_on,
    painted_mask,
    painted_number,
    regions_from_rows,
    review_row,
)
from studio.formats.adetailer import FixSettings
from studio.recipe import LANCZOS, MAX_UPSCALE, UpscaleRef
from studio.session.session import Session
from studio.ui.present.region_board import board_html
from studio.ui.running import refusal, user_errors
from studio.ui.screen import Screen

FINISH_TAB = "finish"


@dataclass
class FinishPanel:
    source: gr.Markdown
    board: gr.HTML
    find_faces: gr.Button
    find_hands: gr.Button
    clear: gr.Button
    regions: gr.Dataframe
    fix_prompt: gr.Textbox
    fix_negative: gr.Textbox
    fix_strength: gr.Slider
    fix_blur: gr.Slider
    fix_padding: gr.Slider
    fix_grow: gr.Slider
    fix_structure: gr.Slider
    fix: gr.Button
    hires: gr.Button
    upscaler: gr.Dropdown
    factor: gr.Slider
    tile: gr.Slider
    sd_upscale: gr.Checkbox
    sd_strength: gr.Slider
    sd_overlap: gr.Slider
    sd_structure: gr.Slider
    upscale: gr.Button
    outpaint: gr.Button
    extension: dict[str, gr.Number]  # left, top, right, bottom


def finish_widgets(upscalers: list[str], board_script: str) -> FinishPanel:
    with gr.Row():
        with gr.Column(scale=3, min_width=320):
            source = gr.Markdown(elem_id="finish-source")
            board = gr.HTML(board_html(None, None, []), js_on_load=board_script, elem_id="region-board")
            regions = gr.Dataframe(
                headers=list(REVIEW_COLUMNS),
                datatype=["bool", "str", "number", "number", "number", "number", "str", "str"],
                value=[],
                column_limits=(len(REVIEW_COLUMNS), len(REVIEW_COLUMNS)),
                static_columns=[7],  # "Found by" is a fact, not a setting
                interactive=True,
                label="Regions (untick Use to leave one out; an empty Prompt uses the prompt for the regions)",
                elem_id="regions",
            )
        with gr.Column(scale=2, min_width=300):
            with gr.Accordion("Fix regions (hands, faces, details)", open=True, elem_id="finish-fix"):
                gr.Markdown(
                    "Drag a box over each part to redo, or let the studio find faces and hands. Each region is "
                    "repainted alone at the form's size and pasted back; outside the boxes (and their soft "
                    "edge) not a pixel changes. The form gives model, sampler, steps and seed; the Control tab's "
                    "units are not used.",
                    elem_id="fix-hint",
                )
                with gr.Row():
                    find_faces = gr.Button("Find faces", size="sm", elem_id="find-faces")
                    find_hands = gr.Button("Find hands", size="sm", elem_id="find-hands")
                    clear = gr.Button("Clear", size="sm", elem_id="clear-regions")
                fix_prompt = gr.Textbox(
                    label="Prompt for the regions", placeholder="empty: the form's prompt", lines=1,
                    elem_id="fix-prompt",
                )  # fmt: skip
                fix_negative = gr.Textbox(
                    label="Negative prompt for the regions", placeholder="empty: the form's negative prompt", lines=1,
                    elem_id="fix-negative",
                )  # fmt: skip
                with gr.Row():
                    fix_strength = gr.Slider(0, 1, value=0.4, step=0.05, label="Strength", elem_id="fix-strength")
                    fix_grow = gr.Slider(-32, 64, value=4, step=1, label="Grow (+) / shrink (−) px", elem_id="fix-grow")
                with gr.Row():
                    fix_blur = gr.Slider(0, 64, value=4, step=1, label="Edge softness", elem_id="fix-blur")
                    fix_padding = gr.Slider(0, 256, value=32, step=4, label="Context padding", elem_id="fix-padding")
                fix_structure = gr.Slider(
                    0, 2, value=0, step=0.05, label="Keep structure (tile ControlNet weight; 0: off)",
                    info="Lets a strong repaint keep each region's shapes", elem_id="fix-structure",
                )  # fmt: skip
                fix = gr.Button("Fix regions", variant="primary", size="sm", elem_id="fix-regions")
            with gr.Accordion("Upscale", open=False, elem_id="finish-upscale"):
                with gr.Row():
                    upscaler = gr.Dropdown(
                        choices=upscalers, value=LANCZOS, label="Upscaler",
                        info="Lanczos, or a model from the upscalers folder", elem_id="upscaler",
                    )  # fmt: skip
                    factor = gr.Slider(
                        1.25, MAX_UPSCALE, value=2, step=0.25, label="Upscale by", elem_id="upscale-factor"
                    )
                tile = gr.Slider(
                    0, 1024, value=256, step=32, label="Model tile (px, 0 = whole picture)",
                    info="Smaller tiles use less memory; the result is the same", elem_id="upscale-tile",
                )  # fmt: skip
                sd_upscale = gr.Checkbox(
                    False, label="SD upscale: repaint in tiles with the prompt, for added detail", elem_id="sd-upscale"
                )
                with gr.Row():
                    sd_strength = gr.Slider(
                        0, 1, value=0.3, step=0.05, label="Repaint strength", elem_id="sd-upscale-strength"
                    )
                    sd_overlap = gr.Slider(0, 256, value=64, step=8, label="Tile overlap", elem_id="sd-upscale-overlap")
                sd_structure = gr.Slider(
                    0, 2, value=0, step=0.05, label="Keep structure (tile ControlNet weight; 0: off)",
                    elem_id="sd-upscale-structure",
                )  # fmt: skip
                upscale = gr.Button("Upscale", size="sm", elem_id="upscale")
            with gr.Accordion("Hires fix", open=False, elem_id="finish-hires"):
                gr.Markdown(
                    "Makes the picked (generated) picture again with the form's **Hires fix** settings: the same "
                    "first pass, then enlarged and repainted, as A1111's hires-fix-this-image button does.",
                )
                hires = gr.Button("Hires fix this picture", size="sm", elem_id="hires-picked")
            with gr.Accordion("Extend the canvas (outpaint)", open=False, elem_id="finish-outpaint"):
                gr.Markdown(
                    "Adds pixels on the sides you choose and paints them from the prompt, with the form's *Change "
                    "strength* and *Mask edge softness* (the seam). Your picture outside the seam stays exactly as "
                    "it is.",
                    elem_id="outpaint-hint",
                )
                with gr.Row():
                    extension = {
                        side: gr.Number(
                            0, label=f"{side.title()} (px)", precision=0, minimum=0, maximum=MAX_EXTENSION, step=8,
                            min_width=70, elem_id=f"outpaint-{side}",
                        )
                        for side in ("left", "top", "right", "bottom")
                    }  # fmt: skip
                outpaint = gr.Button("Outpaint", size="sm", min_width=100, elem_id="outpaint")
    return FinishPanel(
        source, board, find_faces, find_hands, clear, regions, fix_prompt, fix_negative, fix_strength, fix_blur,
        fix_padding, fix_grow, fix_structure, fix, hires, upscaler, factor, tile, sd_upscale, sd_strength, sd_overlap,
        sd_structure, upscale,
        outpaint, extension,
    )  # fmt: skip


def fix_settings_widgets(panel: FinishPanel) -> list[Any]:
    return [
        panel.fix_prompt, panel.fix_negative, panel.fix_strength, panel.fix_blur, panel.fix_padding, panel.fix_grow,
        panel.fix_structure,
    ]  # fmt: skip


def show_fix_settings(panel: FinishPanel, settings: FixSettings) -> dict[Any, Any]:
    """The Fix regions settings set to a pass read from a picture (ADetailer's, or a studio fix's)."""
    return {
        panel.fix_prompt: settings.prompt,
        panel.fix_negative: settings.negative_prompt,
        panel.fix_strength: settings.denoising_strength,
        panel.fix_blur: settings.mask_blur,
        panel.fix_padding: settings.padding,
        panel.fix_grow: settings.grow,
        panel.fix_structure: settings.structure,
    }


def _rows(table: Any) -> list[list]:
    """The review table's rows as lists, whatever form Gradio hands them in (a DataFrame or lists)."""
    if table is None:
        return []
    if hasattr(table, "values"):
        table = table.values.tolist()
    return [list(row) for row in table if any(cell not in (None, "") for cell in row)]


def wire(screen: Screen, panel: FinishPanel, *, open_button: gr.Button, tab: gr.Tab) -> None:
    """The board where regions are marked, and the four finishing runs on the picked picture."""
    board_of = gr.State(None)  # the picked picture ({"node", "index"}) the board and its regions are of
    _wire_board(screen, panel, board_of, open_button=open_button, tab=tab)
    _wire_runs(screen, panel, board_of)


def require(selected: dict | None) -> dict:
    if not selected:
        raise refusal("Click a picture in Results or History first.", title="Nothing selected")
    return selected


def picked(session: Session, selected: dict) -> tuple[str, tuple[int, int]]:
    with user_errors():
        path = session.output_path(selected["node"], selected["index"])
        with Image.open(path) as picture:
            return path, picture.size


def plan_of(panel: FinishPanel, values: dict) -> FixPlan:
    """The Finish tab's fix settings as the artist set them."""
    return FixPlan(
        prompt=values[panel.fix_prompt].strip(),
        negative_prompt=values[panel.fix_negative].strip(),
        denoising_strength=float(values[panel.fix_strength]),
        mask_blur=int(values[panel.fix_blur]),
        padding=int(values[panel.fix_padding]),
        grow=int(values[panel.fix_grow]),
    )


def _wire_board(screen: Screen, panel: FinishPanel, board_of: gr.State, *, open_button: gr.Button, tab: gr.Tab) -> None:
    """Marking regions: boxes dragged or brushed on the board, faces and hands found, the review table."""
    board_inputs = {screen.selected, screen.session, panel.regions, panel.fix_grow, board_of}
    board_outputs = [panel.board, panel.source, panel.regions, board_of]
    quiet = {"show_progress_on": [screen.badge_sink], "api_visibility": "private"}

    def _current(values: dict) -> list[list]:
        """The review rows, if they were marked on the picked picture: another pick starts with none."""
        return _rows(values[panel.regions]) if values[board_of] == values[screen.selected] else []

    def drawn(size: tuple[int, int], rows: list[list], grow: int) -> list:
        """The boxes as the fix will run them (grown), so what will change is visible before it runs."""
        with user_errors():
            regions = regions_from_rows(rows, FixPlan(grow=grow), size)
        return [(region.label, region.box) for region in regions]

    def show(values: dict, request: gr.Request, rows: list[list] | None = None) -> dict:
        selected = values[screen.selected]
        if not selected:
            return {panel.board: board_html(None, None, []), panel.source: "", panel.regions: [], board_of: None}
        session = screen.session_for(values[screen.session], request)
        path, size = picked(session, selected)
        if rows is None:
            rows = _current(values)
        return {
            panel.board: board_html(path, size, drawn(size, rows, int(values[panel.fix_grow])), strokes(session, rows)),
            panel.source: f"Finishing **{selected['node']}·{selected['index'] + 1}** ({size[0]}×{size[1]})",
            panel.regions: rows,
            board_of: selected,
        }

    def open_finish(values: dict, request: gr.Request):
        require(values[screen.selected])
        return {**show(values, request), screen.tabs: gr.Tabs(selected=FINISH_TAB)}

    def redraw(values: dict, request: gr.Request):
        return show(values, request)

    def clear(values: dict, request: gr.Request):
        return show(values, request, rows=[])

    open_button.click(open_finish, inputs=board_inputs, outputs=[*board_outputs, screen.tabs], **quiet)
    tab.select(redraw, inputs=board_inputs, outputs=board_outputs, **quiet)

    def strokes(session: Session, rows: list[list]) -> list[str]:
        """The painted masks of the brush rows that are switched on, to lay over the board."""
        numbers = [painted_number(row[7]) for row in rows if len(row) > 7 and is_on(row[0])]
        found = [session.drafts.region_mask(number) for number in numbers if number is not None]
        return [str(path) for path in found if path is not None]

    def add_region(values: dict, event: gr.EventData, request: gr.Request):
        brush, box = getattr(event, "brush", None), getattr(event, "box", None)
        if not isinstance(box, list) or len(box) != 4:
            raise refusal("The board sent no region; drag over the picture again.", title="No region")
        if brush:
            session = screen.session_for(values[screen.session], request)
            with user_errors():
                strokes_mask = painted_mask(str(brush))
                painted_box = box_of_mask(strokes_mask)
                if painted_box is None:
                    raise InputError("brush: nothing was painted; paint over the part to fix")
                number = session.drafts.save_region_mask(strokes_mask)
            row = review_row("brush", painted_box, f"{PAINTED}{number}")
        else:
            left, top, right, bottom = (int(v) for v in box)
            row = review_row("box", (left, top, right, bottom))
        return show(values, request, rows=_current(values) + [row])

    panel.board.select(add_region, inputs=board_inputs, outputs=board_outputs, **quiet)
    for changed in (panel.regions.input, panel.fix_grow.release):
        changed(redraw, inputs=board_inputs, outputs=board_outputs, **quiet)
    panel.clear.click(clear, inputs=board_inputs, outputs=board_outputs, **quiet)

    def finder(label: str):
        def find(values: dict, request: gr.Request):
            selected = require(values[screen.selected])
            session = screen.session_for(values[screen.session], request)
            with user_errors():
                found = session.find_regions(selected["node"], (label,), index=selected["index"])
            if not found:
                gr.Info(f"No {label} found: drag a box over it instead.")
            rows = _current(values) + [review_row(r.label, r.box, r.found_by) for r in found]
            return show(values, request, rows=rows)

        return find

    panel.find_faces.click(finder("face"), inputs=board_inputs, outputs=board_outputs, **quiet)
    panel.find_hands.click(finder("hand"), inputs=board_inputs, outputs=board_outputs, **quiet)


def _wire_runs(screen: Screen, panel: FinishPanel, board_of: gr.State) -> None:
    """Fix the marked regions, upscale, hires fix, outpaint: each a run of the picked picture's session."""
    board_inputs = {screen.selected, screen.session, panel.regions, panel.fix_grow, board_of}

    fix_inputs = screen.recipe_inputs | board_inputs | {
        panel.fix_prompt, panel.fix_negative, panel.fix_strength, panel.fix_blur, panel.fix_padding,
        panel.fix_structure,
    }  # fmt: skip

    def fix(values: dict, request: gr.Request):
        selected = require(values[screen.selected])
        session = screen.session_for(values[screen.session], request)
        recipe = screen.form_recipe(values)
        _, size = picked(session, selected)
        if values[board_of] != selected:
            raise refusal(
                "The regions were marked on another picture: open this one in Finish and mark them again.",
                title="Other picture",
            )
        with user_errors():
            regions = regions_from_rows(_rows(values[panel.regions]), plan_of(panel, values), size)
        if not regions:
            raise refusal(
                "Mark a region first: drag a box over the picture, or find faces or hands.", title="No region"
            )
        yield from screen.run(
            session,
            lambda on_step: session.fix(
                selected["node"],
                regions,
                recipe,
                index=selected["index"],
                keep_structure=float(values[panel.fix_structure]),
                on_step=on_step,
            ),
        )

    panel.fix.click(fix, inputs=fix_inputs, outputs=screen.run_outputs, **screen.run_options)

    upscale_inputs = screen.recipe_inputs | {
        screen.selected, screen.session, panel.upscaler, panel.factor, panel.tile, panel.sd_upscale,
        panel.sd_strength, panel.sd_overlap, panel.sd_structure,
    }  # fmt: skip

    def upscale(values: dict, request: gr.Request):
        selected = require(values[screen.selected])
        session = screen.session_for(values[screen.session], request)
        recipe = screen.form_recipe(values)
        with user_errors():
            settings = UpscaleRef(
                factor=float(values[panel.factor]),
                upscaler=values[panel.upscaler] or LANCZOS,
                tile=int(values[panel.tile]),
                refine=bool(values[panel.sd_upscale]),
                overlap=int(values[panel.sd_overlap]),
            )
            recipe = recipe.replace(denoising_strength=float(values[panel.sd_strength]))
        yield from screen.run(
            session,
            lambda on_step: session.upscale(
                selected["node"],
                settings,
                recipe,
                index=selected["index"],
                keep_structure=float(values[panel.sd_structure]) if settings.refine else 0.0,
                on_step=on_step,
            ),
        )

    panel.upscale.click(upscale, inputs=upscale_inputs, outputs=screen.run_outputs, **screen.run_options)

    def hires(values: dict, request: gr.Request):
        selected = require(values[screen.selected])
        session = screen.session_for(values[screen.session], request)
        recipe, _ = screen.recipe(values)
        yield from screen.run(
            session,
            lambda on_step: session.hires_fix(selected["node"], recipe, index=selected["index"], on_step=on_step),
        )

    panel.hires.click(
        hires,
        inputs=screen.recipe_inputs | {screen.selected, screen.session},
        outputs=screen.run_outputs,
        **screen.run_options,
    )

    def outpaint(values: dict, request: gr.Request):
        selected = require(values[screen.selected])
        session = screen.session_for(values[screen.session], request)
        recipe, _ = screen.recipe(values)
        with user_errors():
            extension = Extension(**{side: int(values[box] or 0) for side, box in panel.extension.items()})
        yield from screen.run(
            session,
            lambda on_step: session.outpaint(
                selected["node"], extension, recipe, index=selected["index"], on_step=on_step
            ),
        )

    panel.outpaint.click(
        outpaint,
        inputs=screen.recipe_inputs | {screen.selected, screen.session, *panel.extension.values()},
        outputs=screen.run_outputs,
        **screen.run_options,
    )
