"""The Closeness tab: did this picture come from one of these? Any picture against this session's pictures or a
folder, the closest first with their figures (studio/closeness.py's one measure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from studio.pictures import open_picture
from studio.services.closeness import Match
from studio.ui.present.results import markdown_literal
from studio.ui.running import refusal, user_errors
from studio.ui.screen import Screen

THIS_SESSION, A_FOLDER = "This session's pictures", "A folder"
THUMBNAIL = 256


@dataclass
class ClosenessPanel:
    picture: gr.Image
    against: gr.Radio
    folder: gr.Textbox
    check: gr.Button
    summary: gr.Markdown
    matches: gr.Gallery


def closeness_widgets() -> ClosenessPanel:
    gr.Markdown(
        "Drop any picture, yours or anyone's, and compare it with a set of pictures: the closest come first, with "
        "how much of each it keeps (composition, edges, colour layout). The same measure the studio shows on every "
        "picture made from an outside picture.",
        elem_id="closeness-intro",
    )
    with gr.Row():
        with gr.Column(scale=2, min_width=260):
            picture = gr.Image(
                label="The picture to check", type="pil", sources=["upload", "clipboard"], height=240,
                elem_id="closeness-picture",
            )  # fmt: skip
            against = gr.Radio(
                [THIS_SESSION, A_FOLDER], value=THIS_SESSION, label="Compare with", elem_id="closeness-against"
            )
            folder = gr.Textbox(
                label="Folder (on this computer)", placeholder="e.g. ~/Pictures/references", visible=False,
                elem_id="closeness-folder",
            )  # fmt: skip
            check = gr.Button("Find the closest pictures", variant="primary", elem_id="closeness-check")
        with gr.Column(scale=3, min_width=320):
            summary = gr.Markdown("*Drop a picture, then find the closest.*", elem_id="closeness-summary")
            matches = gr.Gallery(
                label="Closest first", columns=4, height=300, allow_preview=True, elem_id="closeness-matches"
            )
    return ClosenessPanel(picture, against, folder, check, summary, matches)


def summary_markdown(matches: list[Match], where: str) -> str:
    if not matches:
        return f"**No pictures to compare with** in {where}."
    lines = [f"**Closest in {where}:**"]
    lines += [f"{n}. `{match.name}`: {markdown_literal(match.closeness.words())}" for n, match in enumerate(matches, 1)]
    return "\n".join(lines)


def thumbnail(match: Match) -> Image.Image | None:
    """A small copy to show: a folder's pictures may be anywhere, and the window serves only its own files."""
    try:
        picture = open_picture(match.path, match.name).convert("RGB")
    except ValueError:
        return None
    picture.thumbnail((THUMBNAIL, THUMBNAIL))
    return picture


def wire(screen: Screen, panel: ClosenessPanel) -> None:
    private: dict[str, Any] = {"api_visibility": "private"}
    panel.against.change(
        lambda against: gr.Textbox(visible=against == A_FOLDER), panel.against, panel.folder, **private
    )

    def check(picture, against: str, folder: str, session_id: str | None, request: gr.Request):
        # The last check's results go first: under a refusal they would read as this picture's.
        not_compared = {panel.summary: "*Not compared: see the message.*", panel.matches: []}
        if picture is None:
            yield not_compared
            raise refusal("Drop the picture to check first.", title="No picture")
        if against == A_FOLDER and not (folder or "").strip():
            yield not_compared
            raise refusal("Give the folder of the pictures to compare with.", title="No folder")
        session = screen.session_for(session_id, request)
        where = f"`{folder.strip()}`" if against == A_FOLDER else f"session {session.history.id}"
        yield {panel.summary: f"**Comparing with the pictures of {where}…**", panel.matches: []}
        try:
            with user_errors():
                matches = session.closest_pictures(picture, folder.strip() if against == A_FOLDER else None)
        except gr.Error:
            yield not_compared
            raise
        yield {
            panel.summary: summary_markdown(matches, where),
            panel.matches: [(thumbnail(match), f"{match.closeness.score:.2f} {match.name}") for match in matches],
        }

    panel.check.click(
        check,
        inputs=[panel.picture, panel.against, panel.folder, screen.session],
        outputs=[panel.summary, panel.matches],
        **private,
    )
