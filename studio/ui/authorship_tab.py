"""The Authorship tab: what the artist did to make the picked picture, its export with Content Credentials,
and a place to drop any picture to check its credentials."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.authorship import report
from studio.errors import NeedsConfirmation
from studio.services import Services
from studio.ui.present import authorship as authorship_text
from studio.ui.present.results import markdown_literal
from studio.ui.running import user_errors, warn
from studio.ui.screen import Screen

AUTHORSHIP_TAB = "authorship"


@dataclass
class AuthorshipPanel:
    story: gr.Markdown
    show: gr.Button
    kind: gr.Radio
    export: gr.Button
    files: gr.File
    question_box: gr.Group  # an export of a near copy of an outside picture asks first
    question: gr.Markdown
    export_anyway: gr.Button
    cancel: gr.Button
    drop: gr.File
    verdict: gr.Markdown
    shown: gr.State  # the picture whose story is on screen: the one an export writes, whatever is picked since


def authorship_widgets() -> AuthorshipPanel:
    with gr.Row():
        with gr.Column(scale=3, min_width=320):
            show = gr.Button("Show the authorship of the picked picture", elem_id="authorship-show")
            story = gr.Markdown(
                "*The button above tells what went into the picture picked in Results or History.*",
                elem_id="authorship-story",
            )
        with gr.Column(scale=2, min_width=260):
            kind = gr.Radio(["png", "jpeg"], value="png", label="Export as", elem_id="export-kind")
            export = gr.Button(
                "Export with Content Credentials", variant="primary", interactive=False, elem_id="export-credentials"
            )
            with gr.Group(visible=False, elem_id="export-question") as question_box:
                question = gr.Markdown(elem_id="export-question-text")
                with gr.Row():
                    export_anyway = gr.Button("Export anyway", variant="stop", size="sm", elem_id="export-anyway")
                    cancel = gr.Button("Cancel", variant="secondary", size="sm", elem_id="export-cancel")
            files = gr.File(label="The report and the signed picture", file_count="multiple", elem_id="exported")
            drop = gr.File(
                label="Check a picture's credentials: drop it here",
                file_types=[".png", ".jpg", ".jpeg"],
                height=110,
                elem_id="verify-drop",
            )
            verdict = gr.Markdown("", elem_id="verify-result")
    return AuthorshipPanel(
        story, show, kind, export, files, question_box, question, export_anyway, cancel, drop, verdict, gr.State(None)
    )


def wire(services: Services, screen: Screen, panel: AuthorshipPanel) -> None:
    def show(selected: dict | None, session_id: str | None, request: gr.Request):
        if not selected:
            return warn("Pick a picture first (click it in Results or History).", title="Nothing picked")
        session = screen.session_for(session_id, request)
        with user_errors():
            steps = session.lineage(selected["node"], selected["index"])
        text = f"### Authorship of {selected['node']}·{selected['index'] + 1}\n\n" + authorship_text.story_markdown(
            steps, report.story(steps), report.published(steps)
        )
        picture = {"node": selected["node"], "index": selected["index"]}
        return {panel.story: text, panel.export: gr.Button(interactive=True), panel.shown: picture}

    panel.show.click(
        show,
        inputs=[screen.selected, screen.session],
        outputs=[panel.story, panel.export, panel.shown],
        api_visibility="private",
    )

    def export(selected: dict | None, kind: str, session_id: str | None, request: gr.Request, confirmed: bool = False):
        if not selected:
            return warn(
                "Show the authorship of a picture first: an export writes what is shown.", title="Nothing shown"
            )
        session = screen.session_for(session_id, request)
        with user_errors():
            try:
                files = session.save_authorship(selected["node"], selected["index"], kind=kind, confirmed=confirmed)
            except NeedsConfirmation as question:  # asked in the tab, beside the button: not an error
                words = markdown_literal(str(question).removeprefix("export: "))
                return {panel.question_box: gr.Group(visible=True), panel.question: f"**Before you publish:** {words}"}
        return {panel.files: [str(path) for path in files], panel.question_box: gr.Group(visible=False)}

    export_outputs = [panel.files, panel.question_box, panel.question]
    panel.export.click(
        export, inputs=[panel.shown, panel.kind, screen.session], outputs=export_outputs, api_visibility="private"
    )

    def export_anyway(selected: dict | None, kind: str, session_id: str | None, request: gr.Request):
        return export(selected, kind, session_id, request, confirmed=True)

    panel.export_anyway.click(
        export_anyway,
        inputs=[panel.shown, panel.kind, screen.session],
        outputs=export_outputs,
        api_visibility="private",
    )
    panel.cancel.click(
        lambda: {
            panel.question_box: gr.Group(visible=False),
            screen.status: "Export cancelled: nothing was written.",
        },
        outputs=[panel.question_box, screen.status],
        api_visibility="private",
    )

    def verify(path: str | None):
        if not path:
            return ""
        with user_errors():
            return authorship_text.verdict_markdown(services.authorship.verify(path))

    panel.drop.change(verify, inputs=panel.drop, outputs=panel.verdict, api_visibility="private")
