"""The History tab: the session's version tree (restore any picture, compare two), earlier sessions."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.errors import InputError
from studio.services import Services
from studio.ui.present import compare as compare_text
from studio.ui.present import header
from studio.ui.present import history as tree_text
from studio.ui.present.viewer import inputs_html
from studio.ui.running import user_errors
from studio.ui.screen import Screen, account_of


@dataclass
class HistoryPanel:
    tree: gr.HTML
    compare_box: gr.Column
    compare_view: gr.ImageSlider
    compare_text: gr.Markdown
    inputs: gr.HTML
    sessions: gr.Dropdown
    preview: gr.HTML  # what the chosen session holds, before Continue
    open_session: gr.Button
    refresh: gr.Button


def history_widgets(tree_script: str) -> HistoryPanel:
    tree = gr.HTML(
        "<div class='tree empty'><p>Loading the history…</p></div>",
        js_on_load=tree_script,
        elem_id="history",
    )
    with gr.Column(visible=False, elem_id="compare-box") as compare_box:
        with gr.Row():
            compare_view = gr.ImageSlider(
                label="A | B (drag the line)",
                interactive=False,
                height=360,
                buttons=[],
                scale=3,
                elem_id="compare-view",
            )
            compare_text_box = gr.Markdown(elem_id="compare-text")
    with gr.Row():
        with gr.Column(scale=3):
            gr.Markdown("**What the picked node was given** (picture, mask, control maps)")
            inputs = gr.HTML(inputs_html([]), elem_id="node-inputs")
        with gr.Column(scale=2, min_width=220):
            sessions = gr.Dropdown(label="Session", choices=[], elem_id="sessions")
            preview = gr.HTML("", elem_id="session-preview")
            with gr.Row():
                open_session = gr.Button("Continue in this session", size="sm", elem_id="open-session")
                refresh = gr.Button("↻ Refresh", size="sm", elem_id="refresh-history")
    return HistoryPanel(
        tree, compare_box, compare_view, compare_text_box, inputs, sessions, preview, open_session, refresh
    )


def wire(services: Services, screen: Screen, panel: HistoryPanel, blocks: gr.Blocks) -> None:
    tree_outputs = [screen.history, screen.session_list]

    def show_tree(selected: dict | None, session_id: str | None, request: gr.Request):
        with user_errors():
            session = screen.sessions.open(session_id or None, account=account_of(request))
        known = {n.id for n in session.tree()}
        return {
            screen.session: session.history.id,
            screen.session_line: header.session_line(session.history.id),
            **screen.tree(session, selected if selected and selected.get("node") in known else None),
        }

    panel.refresh.click(
        show_tree,
        inputs=[screen.selected, screen.session],
        outputs=[screen.session, screen.session_line, *tree_outputs],
        api_visibility="private",
    )

    def pick(session_id: str | None, prompt: str, negative: str, event: gr.EventData, request: gr.Request):
        session = screen.session_for(session_id, request)
        with user_errors():
            return screen.select(session, str(event.node), int(event.index), typed=(prompt, negative), show_node=True)

    panel.tree.select(
        pick,
        inputs=screen.select_inputs,
        outputs=screen.select_outputs,
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )

    def compare(session_id: str | None, event: gr.EventData, request: gr.Request):
        session = screen.session_for(session_id, request)
        with user_errors():
            (a_node, a_index), (b_node, b_index) = (_picture(event.a), _picture(event.b))
            first, second = session.history.get(a_node), session.history.get(b_node)
            return {
                panel.compare_box: gr.Column(visible=True),
                panel.compare_view: (session.output_path(a_node, a_index), session.output_path(b_node, b_index)),
                panel.compare_text: compare_text.comparison(first, a_index, second, b_index),
            }

    panel.tree.submit(
        compare,
        inputs=[screen.session],
        outputs=[panel.compare_box, panel.compare_view, panel.compare_text],
        api_visibility="private",
    )

    def preview(session_id: str | None, request: gr.Request):
        """What the chosen session holds, before the artist moves there (Continue is wired in page.py)."""
        if not session_id:
            return ""
        with user_errors():
            chosen = screen.sessions.open(session_id, account=account_of(request))
            return tree_text.session_preview(chosen.id, chosen.tree(), chosen.path)

    panel.sessions.input(
        preview,
        inputs=panel.sessions,
        outputs=panel.preview,
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )


def _picture(key: object) -> tuple[str, int]:
    """ "00003:1" (a tree picture's key) -> ("00003", 1)."""
    node_id, _, index = str(key).partition(":")
    if not node_id.isdigit() or not index.isdigit():
        raise InputError(f"no such picture in the tree: {key!r}")
    return node_id, int(index)
