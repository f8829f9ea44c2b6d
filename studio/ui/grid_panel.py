"""The Grid panel (A1111's X/Y/Z plot): up to three settings varied over the form's recipe, a node per cell, and
the grid picture with each value in its margin (studio/scale/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.scale.batch import prompt_recipes
from studio.scale.grid import SETTINGS, axis, cells
from studio.ui.present.viewer import grid_picture_html
from studio.ui.running import Finished, stream, user_errors
from studio.ui.screen import Screen

NOTHING = "Nothing"
# What a setting's values look like, shown when it is chosen (Seed: -1 draws a new seed for each value).
EXAMPLES = {
    "Prompt S/R": "red, blue, gold",
    "Seed": "-1, -1, -1",
    "Steps": "10-30 (+10)",
    "CFG Scale": "3, 5, 7",
    "Sampler": "Euler a, DPM++ 2M, DPM++ SDE",
    "Schedule type": "Automatic, Karras, Exponential",
    "Denoising": "0.3, 0.5, 0.7",
    "LoRA weight": "0.4, 0.7, 1",
    "Control weight": "0.5, 1, 1.5",
}


@dataclass
class GridPanel:
    settings: list[gr.Dropdown]  # X, Y, Z
    values: list[gr.Textbox]
    run: gr.Button
    picture: gr.HTML  # the grid picture, a click away from full size
    prompts: gr.Textbox  # A1111's "Prompts from file or textbox"
    run_prompts: gr.Button


def grid_widgets() -> GridPanel:
    settings, values = [], []
    for name, chosen in zip("XYZ", ("CFG Scale", NOTHING, NOTHING), strict=True):
        with gr.Row(equal_height=True):
            settings.append(
                gr.Dropdown(
                    [NOTHING, *SETTINGS], value=chosen, label=f"{name} setting", scale=1, elem_id=f"grid-{name.lower()}"
                )
            )
            values.append(
                gr.Textbox(
                    "3, 5, 7" if name == "X" else "",
                    label=f"{name} values",
                    placeholder="5, 7, 9 · 10-30 (+10) · 1-10 [4] · Prompt S/R: the first is replaced",
                    scale=2,
                    elem_id=f"grid-{name.lower()}-values",
                )
            )
    run = gr.Button("Run the grid", size="sm", elem_id="grid-run")
    # Plain HTML, not an image widget: a widget's badge and buttons would cover the values along the top.
    picture = gr.HTML("", visible=False, elem_id="grid-picture")
    prompts = gr.Textbox(
        label="Or: prompts, one per line (A1111's prompts from file or textbox)",
        placeholder='a castle at dawn\n--prompt "a dragon" --steps 30 --cfg_scale 6 --seed 5',
        lines=3,
        elem_id="grid-prompts",
    )
    run_prompts = gr.Button("Run the prompts", size="sm", elem_id="grid-run-prompts")
    return GridPanel(settings, values, run, picture, prompts, run_prompts)


def wire(screen: Screen, panel: GridPanel) -> None:
    def example(setting: str) -> str:
        return EXAMPLES.get(setting, "")

    for setting, values in zip(panel.settings, panel.values, strict=True):
        # A setting just chosen shows what its values look like; values the artist typed are theirs (another
        # setting's example, untouched, is not).
        setting.input(
            lambda setting, typed: typed if typed.strip() and typed not in EXAMPLES.values() else example(setting),
            inputs=[setting, values],
            outputs=values,
            queue=False,
            api_visibility="private",
        )

    def followed(words: tuple[str, str], work, stopped: str, made):
        """A job's cells counted in the status line as they finish, then what it made (or why nothing)."""
        what, each = words
        for item in stream(lambda report: work(lambda *counts: report(counts))):
            if not isinstance(item, Finished):
                yield {screen.status: f"**{what}:** {item[0]} of {item[1]} {each} done"}
            elif item.result is None:
                yield {screen.status: stopped}
            else:
                yield made(item.result)

    def not_done(error: gr.Error) -> dict[Any, Any]:
        """The status line says why, as a refused run's does (the note that pops up goes away)."""
        return {screen.status: f"**Not done:** {error.message}"}

    def run_grid(values: dict[Any, Any], request: gr.Request):
        session = screen.session_for(values[screen.session], request)
        chosen = [
            (values[setting], values[typed])
            for setting, typed in zip(panel.settings, panel.values, strict=True)
            if values[setting] != NOTHING
        ]
        try:
            with user_errors():
                axes = [axis(label, text) for label, text in chosen]
                recipe, _ = screen.recipe(values)
                total = len(cells(recipe, axes))  # a word not in the prompt, too many cells: refused before it runs
            yield {screen.status: f"**Grid:** 0 of {total} cells done", panel.picture: gr.HTML(visible=False)}
            yield from followed(
                ("Grid", "cells"),
                lambda on_cell: session.grid(recipe, axes, on_cell=on_cell),
                "Stopped before a cell finished: nothing of the grid was saved.",
                lambda job: grid_made(session, job),
            )
        except gr.Error as error:
            yield not_done(error)
            raise

    def grid_made(session, job) -> dict[Any, Any]:
        first, last = job.nodes[0].id, job.nodes[-1].id
        if job.picture is None:
            said = f"Stopped after {len(job.nodes)} of {job.cells} cells: the finished ones are saved ({first} to {last}), without a grid picture."
        else:
            said = f"Saved a grid of {len(job.nodes)} cells ({first} to {last}) and its picture, below the grid's settings."
        shown = {panel.picture: gr.HTML(grid_picture_html(job.picture), visible=True)} if job.picture else {}
        return {
            **screen.after_run(session, job.nodes[0]),  # the first cell picked, as a run's first picture
            screen.status: said,
            **shown,
            **screen.show_results(session, job.nodes, 0),
        }

    def run_prompts(values: dict[Any, Any], request: gr.Request):
        session = screen.session_for(values[screen.session], request)
        text = str(values[panel.prompts] or "")
        try:
            with user_errors():
                recipe, _ = screen.recipe(values)
                total = len(prompt_recipes(recipe, text))  # a bad line refused before anything runs
            yield {screen.status: f"**Prompts:** 0 of {total} lines done"}

            def lines_made(nodes: list) -> dict[Any, Any]:
                how = "one per line" if len(nodes) == total else f"stopped after {len(nodes)} of {total} lines"
                return {
                    **screen.after_run(session, nodes[0]),
                    screen.status: f"Saved {len(nodes)} pictures, {how} ({nodes[0].id} to {nodes[-1].id})",
                    **screen.show_results(session, nodes, 0),
                }

            yield from followed(
                ("Prompts", "lines"),
                lambda on_cell: session.prompts(recipe, text, on_cell=on_cell),
                "Stopped before a line finished: nothing was saved.",
                lines_made,
            )
        except gr.Error as error:
            yield not_done(error)
            raise

    panel.run_prompts.click(
        run_prompts,
        inputs=screen.recipe_inputs | {screen.session, panel.prompts},
        outputs=screen.run_outputs,
        **screen.run_options,
    )

    panel.run.click(
        run_grid,
        inputs=screen.recipe_inputs | {screen.session, *panel.settings, *panel.values},
        outputs=[panel.picture, *screen.run_outputs],
        **screen.run_options,
    )
