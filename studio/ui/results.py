"""The Results tab: pick a picture, then edit it, finish it, vary it or mark it."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.history import Mark
from studio.services import Services
from studio.ui.editor import EditPanel, kept_button, picture_for_editor, set_aside
from studio.ui.present.editor_page import editing_line
from studio.ui.running import refusal, user_errors
from studio.ui.screen import EDIT_TAB, Screen


@dataclass
class ResultActions:
    edit: gr.Button
    finish: gr.Button  # opens the Finish tab on the picked picture
    vary: gr.Button
    count: gr.Slider
    strength: gr.Slider
    keep: gr.Button
    reject: gr.Button

    @property
    def buttons(self) -> list[gr.Button]:
        """The buttons that act on the picked picture."""
        return [self.edit, self.finish, self.vary, self.keep, self.reject]


def action_widgets() -> ResultActions:
    # Off until a picture is picked (see `wire`): they act on the picked picture, and with none they would only refuse.
    with gr.Row(equal_height=True):
        edit = gr.Button(
            "✏ Edit this picture", variant="primary", size="sm", interactive=False, elem_id="send-to-editor"
        )
        finish = gr.Button("Finish: fix, upscale, outpaint", size="sm", interactive=False, elem_id="send-to-finish")
        keep = gr.Button("★ Keep", size="sm", interactive=False, elem_id="mark-keep")
        reject = gr.Button("✗ Reject", size="sm", interactive=False, elem_id="mark-reject")
    with gr.Row():
        count = gr.Slider(1, 8, value=4, step=1, label="Variations", scale=2, elem_id="vary-count")
        strength = gr.Slider(
            0.0,
            1.0,
            value=0.0,
            step=0.05,
            label="Variation strength",
            info="0 = new seeds; a little = stay close to the picked picture",
            scale=3,
            elem_id="vary-strength",
        )
        vary = gr.Button("Make variations", size="sm", scale=1, min_width=120, interactive=False, elem_id="vary")
    return ResultActions(edit, finish, vary, count, strength, keep, reject)


def _on_picked(actions: ResultActions, selected: dict | None) -> dict:
    return {button: gr.Button(interactive=bool(selected)) for button in actions.buttons}


def wire(services: Services, screen: Screen, actions: ResultActions, *, editor: EditPanel) -> None:
    # On with a picked picture, off without one (a new page, a session switch): they look as they work.
    screen.selected.change(
        lambda selected: _on_picked(actions, selected),
        inputs=screen.selected,
        outputs=actions.buttons,
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )

    def pick(ids: list, session_id: str | None, prompt: str, negative: str, event: gr.EventData, request: gr.Request):
        node_id, index = ids[int(event.index)]
        session = screen.session_for(session_id, request)
        with user_errors():
            return screen.select(session, node_id, index, typed=(prompt, negative))

    screen.results.select(
        pick,
        inputs=[screen.results_ids, *screen.select_inputs],
        outputs=screen.select_outputs,
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )

    def require(selected: dict | None) -> dict:
        if not selected:
            raise refusal("Click a picture in Results or History first.", title="Nothing selected")
        return selected

    def send_to_editor(selected: dict | None, editing: dict | None, session_id: str | None, request: gr.Request):
        selected = require(selected)
        session = screen.session_for(session_id, request)
        with user_errors():
            value = picture_for_editor(session, selected["node"], selected["index"])
            # The mask and paint the editor holds are kept, one click away, never thrown away.
            set_aside(session, editing)
            return {
                editor.image: value,
                editor.source: editing_line(value["source"]),
                editor.kept: kept_button(session, value["source"]),
            }

    actions.edit.click(
        lambda: gr.Tabs(selected=EDIT_TAB), outputs=screen.tabs, queue=False, api_visibility="private"
    ).then(
        send_to_editor,
        inputs=[screen.selected, editor.image, screen.session],
        outputs=[editor.image, editor.source, editor.kept],
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )

    def vary(selected: dict | None, count: float, strength: float, session_id: str | None, request: gr.Request):
        selected = require(selected)
        session = screen.session_for(session_id, request)
        yield from screen.run(
            session,
            lambda on_step: session.vary(
                selected["node"], index=selected["index"], count=int(count), strength=strength, on_step=on_step
            ),
        )

    actions.vary.click(
        vary,
        inputs=[screen.selected, actions.count, actions.strength, screen.session],
        outputs=screen.run_outputs,
        **screen.run_options,
    )

    def marker(mark: Mark):
        def toggle(selected: dict | None, ids: list, session_id: str | None, request: gr.Request):
            selected = require(selected)
            session = screen.session_for(session_id, request)
            with user_errors():
                session.toggle_mark(selected["node"], selected["index"], mark)
                return screen.refresh(session, ids, selected)

        return toggle

    for button, mark in ((actions.keep, Mark.KEEP), (actions.reject, Mark.REJECT)):
        button.click(
            marker(mark),
            inputs=[screen.selected, screen.results_ids, screen.session],
            outputs=[
                screen.results,
                screen.results_ids,
                screen.history,
                screen.session_list,
            ],
            show_progress_on=[screen.badge_sink],
            api_visibility="private",
        )
