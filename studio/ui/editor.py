"""The Edit tab: paint over or mask a picture, then inpaint or repaint it.

The editor's content is never replaced by anything but the artist's own "Edit this picture" or
upload: new results, tab switches and prompt edits leave it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.prepare import Edit, edit_from_editor, require_mask
from studio.recipe import Recipe
from studio.studio import Studio
from studio.ui.form import edit_widgets
from studio.ui.running import user_errors
from studio.ui.screen import Screen

BRUSH_COLOURS: list[str | tuple[str, float]] = [
    "#ffffff",
    "#000000",
    "#d62828",
    "#f77f00",
    "#fcbf49",
    "#2a9d8f",
    "#264653",
    "#8ab17d",
    "#e9c46a",
    "#6d597a",
]


@dataclass
class EditPanel:
    image: gr.ImageEditor
    editing: gr.State  # {"node": id, "index": i} the picture came from, or None for an upload
    source: gr.Markdown
    keep_colours: gr.Checkbox
    inpaint: gr.Button
    repaint: gr.Button
    settings: dict[str, Any]  # the recipe form's edit fields (denoising, mask blur, area, padding)


def editor_widgets(defaults: Recipe) -> EditPanel:
    """The editor on the left; what to do with it, and how strongly, on the right."""
    with gr.Row():
        with gr.Column(scale=3, min_width=360):
            image = gr.ImageEditor(
                label="Paint over the picture, or brush a mask over what should change",
                type="pil",
                format="png",
                image_mode="RGBA",
                height=440,
                brush=gr.Brush(colors=BRUSH_COLOURS, default_color="#ffffff", color_mode="defaults"),
                eraser=gr.Eraser(),
                layers=False,
                transforms=(),
                sources=("upload", "clipboard"),
                elem_id="editor",
            )
            source = gr.Markdown("*Send a picture here with ✏ Edit, or upload one.*", elem_id="edit-source")
        with gr.Column(scale=2, min_width=260):
            inpaint = gr.Button("Inpaint the painted area", variant="primary", elem_id="inpaint")
            repaint = gr.Button("Repaint the whole picture", elem_id="repaint")
            keep_colours = gr.Checkbox(
                value=False,
                label="Use my brush colours as a guide",
                info="Off: the brush only marks what to change",
                elem_id="keep-colours",
            )
            settings = edit_widgets(defaults)
    return EditPanel(image, gr.State(None), source, keep_colours, inpaint, repaint, settings)


def wire(studio: Studio, screen: Screen, panel: EditPanel) -> None:

    def described(editing: dict | None) -> str:
        if not editing:
            return "*Editing an uploaded picture: results start a new branch.*"
        return f"Editing **{editing['node']}·{editing['index'] + 1}**: results become its children."

    panel.editing.change(described, inputs=panel.editing, outputs=panel.source, api_visibility="private")

    def edit(session: Studio, values: dict[Any, Any]) -> Edit:
        with user_errors():
            return edit_from_editor(
                values[panel.image],
                editing=values[panel.editing],
                keep_colours=values[panel.keep_colours],
                is_output=session.is_output,
            )

    def inpaint(values: dict[Any, Any], request: gr.Request):
        session = screen.studio_for(studio, values[screen.session], request)
        with user_errors():
            painted = require_mask(edit(session, values))
        recipe, control_images = screen.recipe(studio, values)
        yield from screen.run(
            session,
            lambda on_step: session.inpaint(
                painted.picture,
                painted.mask,
                recipe,
                parent_id=painted.parent_id,
                source_index=painted.source_index,
                control_images=control_images,
                on_step=on_step,
            ),
        )

    def repaint(values: dict[Any, Any], request: gr.Request):
        session = screen.studio_for(studio, values[screen.session], request)
        # A repaint always runs on what is painted: the colours are the point of it.
        painted = edit(session, {**values, panel.keep_colours: True})
        recipe, control_images = screen.recipe(studio, values)
        yield from screen.run(
            session,
            lambda on_step: session.repaint(
                painted.picture,
                recipe,
                parent_id=painted.parent_id,
                source_index=painted.source_index,
                control_images=control_images,
                on_step=on_step,
            ),
        )

    inputs = screen.recipe_inputs | {panel.image, panel.editing, panel.keep_colours, screen.session}
    run = screen.run_options
    panel.inpaint.click(inpaint, inputs=inputs, outputs=screen.run_outputs, **run)
    panel.repaint.click(repaint, inputs=inputs, outputs=screen.run_outputs, **run)
