"""The History tab: the session's version tree, earlier sessions, and picking any node to branch from."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.studio import Studio
from studio.ui.present import header
from studio.ui.running import refusal, user_errors
from studio.ui.screen import Screen, account_of


@dataclass
class HistoryPanel:
    gallery: gr.Gallery
    inputs: gr.Gallery
    outline: gr.Markdown
    sessions: gr.Dropdown
    open_session: gr.Button
    refresh: gr.Button


def history_widgets() -> HistoryPanel:
    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery(
                label="Every picture of this session, parents before children (click to branch from it)",
                columns=5,
                height=400,
                object_fit="contain",
                allow_preview=False,
                format="png",
                elem_id="history",
            )
        with gr.Column(scale=2, min_width=220):
            outline = gr.Markdown(elem_id="outline")
            inputs = gr.Gallery(
                label="What the picked node was given (picture, mask, control maps)",
                columns=3,
                height=150,
                object_fit="contain",
                allow_preview=True,
                format="png",
                elem_id="node-inputs",
            )
    with gr.Row():
        sessions = gr.Dropdown(label="Session", choices=[], scale=4, elem_id="sessions")
        with gr.Column(scale=1, min_width=170):
            open_session = gr.Button("Continue in this session", size="sm", elem_id="open-session")
            refresh = gr.Button("↻ Refresh", size="sm", elem_id="refresh-history")
    return HistoryPanel(gallery, inputs, outline, sessions, open_session, refresh)


def wire(studio: Studio, screen: Screen, panel: HistoryPanel, blocks: gr.Blocks) -> None:
    tree_outputs = [screen.history, screen.history_ids, screen.outline, screen.sessions]

    def show_tree(selected: dict | None, session_id: str | None, request: gr.Request):
        with user_errors():
            # A browser's first visit starts its own session; a reload comes back to it.
            session = studio.for_session(session_id or None, account=account_of(request))
        node = (selected or {}).get("node")
        known = {n.id for n in session.tree()}
        return {
            screen.session: session.session.id,
            screen.session_line: header.session_line(session.session.id),
            **screen.tree(session, node if node in known else None),
        }

    blocks.load(
        show_tree,
        inputs=[screen.selected, screen.session],
        outputs=[screen.session, screen.session_line, *tree_outputs],
        api_visibility="private",
    )
    panel.refresh.click(
        show_tree,
        inputs=[screen.selected, screen.session],
        outputs=[screen.session, screen.session_line, *tree_outputs],
        api_visibility="private",
    )

    def pick(ids: list, session_id: str | None, event: gr.SelectData, request: gr.Request):
        node_id, index = ids[event.index]
        session = screen.studio_for(studio, session_id, request)
        with user_errors():
            return screen.select(session, node_id, index, show_node=True)

    panel.gallery.select(
        pick, inputs=[screen.history_ids, screen.session], outputs=screen.select_outputs, api_visibility="private"
    )

    def open_session(session_id: str | None, request: gr.Request):
        if not session_id:
            raise refusal("Choose a session first.", title="No session chosen")
        # Only this browser moves to that session; other browsers and API callers stay where they are.
        session = screen.studio_for(studio, session_id, request)
        return {
            screen.session: session.session.id,
            screen.session_line: header.session_line(session.session.id),
            screen.selected: None,
            screen.selection: "",
            **screen.tree(session),
        }

    panel.open_session.click(
        open_session,
        inputs=panel.sessions,
        outputs=[screen.session, screen.session_line, screen.selected, screen.selection, *tree_outputs],
        api_visibility="private",
    )
