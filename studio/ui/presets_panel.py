"""Presets in the left column: apply one to the form, or save the form as your own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.services import Services
from studio.services.presets import STYLE
from studio.ui.running import refusal, user_errors
from studio.ui.screen import Screen


@dataclass
class PresetPanel:
    choice: gr.Dropdown
    apply: gr.Button
    problems: gr.Markdown
    name: gr.Textbox
    save: gr.Button


def picker_widgets() -> tuple[gr.CheckboxGroup, gr.Dropdown, gr.Button, gr.Markdown]:
    """Styles to toggle on; then one compact row: pick a preset (sampler, character, own), apply it."""
    styles = gr.CheckboxGroup(
        choices=[],
        label="Styles (added to the prompt when it runs; your prompt stays as you wrote it)",
        elem_id="styles",
    )
    with gr.Row(elem_id="preset-row"):
        choice = gr.Dropdown(
            choices=[],
            label="Preset (sampler, character or your own: fills the form)",
            scale=4,
            elem_id="preset",
        )
        apply = gr.Button("Apply preset", size="sm", scale=1, min_width=100, elem_id="apply-preset")
    problems = gr.Markdown(visible=False, elem_id="preset-problems")
    return styles, choice, apply, problems


def saver_widgets() -> tuple[gr.Textbox, gr.Button]:
    with gr.Accordion("Save the form as a preset", open=False, elem_id="save-preset-fold"):
        with gr.Row(equal_height=True):
            name = gr.Textbox(
                show_label=False,
                container=False,
                placeholder="Preset name, e.g. Mira, watercolour",
                scale=4,
                elem_id="preset-name",
            )
            save = gr.Button("Save", size="sm", scale=1, min_width=70, elem_id="save-preset")
    return name, save


def wire(services: Services, screen: Screen, panel: PresetPanel, blocks: gr.Blocks) -> None:
    form = screen.form

    def listing(selected: str | None = None) -> dict[Any, Any]:
        presets, problems = services.presets.all()
        choices = [(f"{preset.name} · {preset.kind}", preset.name) for preset in presets if preset.kind != STYLE]
        styles = [preset.name for preset in presets if preset.kind == STYLE]
        note = "**Presets that could not be loaded:**\n" + "\n".join(f"- {line}" for line in problems)
        return {
            panel.choice: gr.Dropdown(choices=choices, value=selected),
            panel.problems: gr.Markdown(note, visible=bool(problems)),
            form.styles: gr.CheckboxGroup(choices=styles),
        }

    blocks.load(listing, outputs=[panel.choice, panel.problems, form.styles], api_visibility="private")

    def apply(values: dict[Any, Any]):
        name = values[panel.choice]
        if not name:
            raise refusal("Choose a preset first.", title="No preset chosen")
        with user_errors():
            recipe = services.presets.apply(name, form.recipe(values, services.models.defaults))
        return {**form.show(recipe), screen.status: f"Applied the preset *{name}*."}

    # A refusal is a message; no "Error" badge lands on the form's fields.
    panel.apply.click(
        apply,
        inputs=form.inputs | {panel.choice},
        outputs=[*form.outputs, screen.status],
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )

    def save(values: dict[Any, Any]):
        with user_errors():
            file = services.presets.save(values[panel.name], form.recipe(values, services.models.defaults))
        return {**listing(values[panel.name].strip()), screen.status: f"Saved the preset in `{file}`."}

    panel.save.click(
        save,
        inputs=form.inputs | {panel.name},
        outputs=[panel.choice, panel.problems, form.styles, screen.status],
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )
