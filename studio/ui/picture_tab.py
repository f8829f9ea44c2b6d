"""The Picture info tab: drop any picture (ours, A1111, Forge, ComfyUI, JPEG/WebP) to see and reuse its recipe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio.services import Services
from studio.services.picture_info import Source, read_picture_info
from studio.ui.finish_tab import FinishPanel, fix_settings_widgets, show_fix_settings
from studio.ui.present import picture as picture_text
from studio.ui.running import refusal, user_errors
from studio.ui.screen import Screen


@dataclass
class PicturePanel:
    file: gr.File
    preview: gr.Image
    info: gr.Markdown
    use: gr.Button


def picture_widgets() -> PicturePanel:
    with gr.Row():
        with gr.Column(scale=2, min_width=260):
            # A file, not an image widget: an image widget re-encodes uploads and drops their metadata.
            file = gr.File(
                label="Drop a picture here (PNG, JPEG, WebP)",
                file_types=[".png", ".jpg", ".jpeg", ".webp"],
                height=120,
                elem_id="picture-drop",
            )
            preview = gr.Image(label="Picture", interactive=False, height=260, buttons=[], elem_id="picture-preview")
        with gr.Column(scale=3, min_width=300):
            info = gr.Markdown("*Drop a picture to see how it was made.*", elem_id="picture-info")
            use = gr.Button("Use these settings", variant="primary", interactive=False, elem_id="use-settings")
    return PicturePanel(file, preview, info, use)


def wire(services: Services, screen: Screen, panel: PicturePanel, finish: FinishPanel) -> None:
    def show(path: str | None):
        if not path:
            return {
                panel.preview: None,
                panel.info: "*Drop a picture to see how it was made.*",
                panel.use: gr.Button(interactive=False),
            }
        with user_errors():
            info = read_picture_info(Path(path))
        return {
            panel.preview: path,
            panel.info: picture_text.picture_info_text(info),
            panel.use: gr.Button(interactive=info.source is not Source.NONE),
        }

    panel.file.change(show, inputs=panel.file, outputs=[panel.preview, panel.info, panel.use], api_visibility="private")

    def use(path: str | None):
        if not path:
            raise refusal("Drop a picture first.", title="No picture")
        with user_errors():
            info = read_picture_info(Path(path))
            recipe = info.recipe(services.models.defaults)
        status = "Settings taken from the dropped picture."
        if info.fix_passes:
            passes = len(info.fix_passes)
            status += f" The Finish tab's *Fix regions* settings are its {info.fix_passes[0].label} pass" + (
                f" (1 of {passes}; the others are listed under Picture info)." if passes > 1 else "."
            )
        return {
            **screen.form.show(recipe),
            **(show_fix_settings(finish, info.fix_passes[0]) if info.fix_passes else {}),
            screen.status: status,
        }

    panel.use.click(
        use,
        inputs=panel.file,
        outputs=[*screen.form.outputs, *fix_settings_widgets(finish), screen.status],
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )
