"""The Picture info tab: drop any picture (ours, A1111, Forge, ComfyUI, JPEG/WebP) to see and reuse its recipe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio.services import Services
from studio.services.picture_info import PictureInfo, Source, read_picture_info
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

    steering_inputs = {
        *(w for unit in screen.controls.units for w in (unit.enabled, unit.map)),
        *(w for unit in screen.references.units for w in (unit.enabled, unit.picture)),
        *(w for unit in screen.areas.units for w in (unit.enabled, unit.prompt, unit.area)),
    }

    def use(values: dict):
        path = values[panel.file]
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
        controls, placed_controls = screen.controls.show_settings(info.units, values)
        references, placed_references = screen.references.show_settings(info.units, values)
        areas, placed_areas = screen.areas.show_words(info.areas, values)
        status += steering_status(info, placed_controls, placed_references, placed_areas)
        return {
            **screen.form.show(recipe),
            **(show_fix_settings(finish, info.fix_passes[0]) if info.fix_passes else {}),
            **controls,
            **references,
            **areas,
            screen.status: status,
        }

    panel.use.click(
        use,
        inputs={panel.file, *steering_inputs},
        outputs=[
            *screen.form.outputs,
            *fix_settings_widgets(finish),
            *screen.controls.outputs,
            *screen.references.outputs,
            *screen.areas.outputs,
            screen.status,
        ],
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )


def steering_status(info: PictureInfo, controls: int, references: int, areas: int) -> str:
    """What became of the picture's units: where they were put, and what the artist still has to give them."""
    said = []
    for placed, total, what, missing in (
        (controls, sum(1 for u in info.units if not u.is_reference), "control unit", "a map"),
        (references, sum(1 for u in info.units if u.is_reference), "reference picture", "a picture"),
        (areas, len(info.areas), "area prompt", "its painted area"),
    ):
        if total == 0:
            continue
        plural = total > 1
        part = f" Its {what}{'s' if plural else ''} ({total}) " + (
            f"{'are' if plural else 'is'} in the Control tab, switched off until you give "
            f"{'each' if placed > 1 else 'it'} {missing}"
            if placed
            else f"{'were' if plural else 'was'} not placed"
        )
        if placed < total:
            part += f" ({total - placed} not placed: the units that hold your work were left as they are)"
        said.append(part + ".")
    return "".join(said)
