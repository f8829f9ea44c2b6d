"""The Grid panel (A1111's X/Y/Z plot): up to three settings varied over the form's recipe, a node per cell, and
the grid picture with each value in its margin (studio/scale/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.scale.batch import prompt_recipes
from studio.scale.grid import SETTINGS, axis, cells
from studio.ui.running import Finished, stream, user_errors
from studio.ui.screen import Screen

NOTHING = "Nothing"
EXAMPLES = {"Prompt S/R": "red, blue, gold", "Steps": "10-30 (+10)", "CFG Scale": "3, 5, 7", "Seed": "-1, -1, -1"}


@dataclass
class GridPanel:
    settings: list[gr.Dropdown]  # X, Y, Z
    values: list[gr.Textbox]
    run: gr.Button
    picture: gr.Image
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
    picture = gr.Image(None, label="Grid", type="filepath", interactive=False, visible=False, elem_id="grid-picture")
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
        # A setting just chosen shows what its values look like; values the artist typed are theirs.
        setting.input(
            lambda setting, typed: typed if typed.strip() else example(setting),
            inputs=[setting, values],
            outputs=values,
            queue=False,
            api_visibility="private",
        )

    def run_grid(values: dict[Any, Any], request: gr.Request):
        session = screen.session_for(values[screen.session], request)
        chosen = [
            (values[setting], values[typed])
            for setting, typed in zip(panel.settings, panel.values, strict=True)
            if values[setting] != NOTHING
        ]
        with user_errors():
            axes = [axis(label, text) for label, text in chosen]
            recipe, _ = screen.recipe(values)
            cells(recipe, axes)  # what cannot run (a word not in the prompt, too many cells) refused before it runs
        yield {screen.status: "**Starting the grid…**", panel.picture: gr.Image(visible=False)}
        for item in stream(lambda report: session.grid(recipe, axes, on_cell=lambda *counts: report(counts))):
            if not isinstance(item, Finished):
                finished, total = item
                yield {screen.status: f"**Grid:** {finished} of {total} cells done"}
            elif item.result is None:
                yield {screen.status: "Stopped. Nothing of the grid was saved."}
            else:
                job = item.result
                yield {
                    **screen.after_run(session, job.nodes[0]),  # the first cell picked, as a run's first picture
                    screen.status: f"Saved a grid of {len(job.nodes)} cells ({job.nodes[0].id} to "
                    f"{job.nodes[-1].id}); the grid picture is in `{job.picture}`",
                    panel.picture: gr.Image(value=str(job.picture), visible=True),
                    **screen.show_results(session, job.nodes, 0),
                    **screen.tree(session),
                }

    def run_prompts(values: dict[Any, Any], request: gr.Request):
        session = screen.session_for(values[screen.session], request)
        with user_errors():
            recipe, _ = screen.recipe(values)
            prompt_recipes(recipe, str(values[panel.prompts] or ""))  # a bad line refused before anything runs
        yield {screen.status: "**Starting the prompts…**"}
        text = str(values[panel.prompts])
        for item in stream(lambda report: session.prompts(recipe, text, on_cell=lambda *counts: report(counts))):
            if not isinstance(item, Finished):
                finished, total = item
                yield {screen.status: f"**Prompts:** {finished} of {total} lines done"}
            elif item.result is None:
                yield {screen.status: "Stopped. Nothing of the prompts was saved."}
            else:
                nodes = item.result
                yield {
                    **screen.after_run(session, nodes[0]),
                    screen.status: f"Saved {len(nodes)} pictures, one per line ({nodes[0].id} to {nodes[-1].id})",
                    **screen.show_results(session, nodes, 0),
                }

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
