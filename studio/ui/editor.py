"""The Edit tab: paint over or mask a picture, then inpaint or repaint it.

The editor (studio/ui/editor.js on present/editor_page.py) is the studio's own: a picture, a mask over it
at an adjustable opacity, a paint layer, undo. Its content is never replaced by anything but the artist's
own "Edit this picture" or upload: new results, tab switches and prompt edits leave it alone.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder
from PIL import Image

from studio.pictures import open_picture, picture_from_data_url
from studio.prepare import Edit, NothingToEdit, edit_from_layers, require_mask
from studio.recipe import MAX_PROMPT_CHARS, Recipe
from studio.services import Services
from studio.session.drafts import EditorDraft
from studio.session.session import Session
from studio.sizes import FLUX
from studio.ui import live_panel
from studio.ui.form import edit_widgets
from studio.ui.live_panel import EditorLink, LivePanel, live_widgets
from studio.ui.present.editor_page import editing_line, editor_html, editor_value
from studio.ui.present.licences import LICENCES
from studio.ui.running import refusal, user_errors
from studio.ui.screen import Screen


@dataclass
class EditPanel:
    image: gr.HTML  # the editor; its value is editor_page.editor_value plus the painted layers
    source: gr.Markdown
    kept: gr.Button  # brings back unsent work another picture replaced (editor.set_aside)
    inpaint: gr.Button
    repaint: gr.Button
    live: LivePanel
    settings: dict[str, Any]  # the recipe form's edit fields (denoising, mask blur, area, padding)
    # Asked when the picture is an upload: where it is from and its licence (kept on the node, in the authorship).
    about_upload: gr.Group
    origin: gr.Textbox
    licence: gr.Dropdown
    # Flux.1 Kontext: the change described in words, shown while a Flux model is loaded.
    kontext: gr.Group
    instruction: gr.Textbox
    change: gr.Button


# What an artist may say of a picture from outside the studio; any other words may be typed.


def editor_widgets(defaults: Recipe, script: str, family: str | None) -> EditPanel:
    """The editor on the left; what to do with it, and how strongly, on the right."""
    with gr.Row():
        with gr.Column(scale=3, min_width=360):
            image = gr.HTML(None, html_template=editor_html(), js_on_load=script, elem_id="editor")
            source = gr.Markdown(editing_line(None), elem_id="edit-source")
            kept = gr.Button(visible=False, size="sm", elem_id="editor-kept")
        with gr.Column(scale=2, min_width=260):
            live = live_widgets()
            inpaint = gr.Button("Inpaint the masked and painted area", variant="primary", elem_id="inpaint")
            repaint = gr.Button("Repaint the whole picture", elem_id="repaint")
            with gr.Group(visible=family == FLUX, elem_id="kontext") as kontext:
                instruction = gr.Textbox(
                    label="Or say the change (Flux Kontext)",
                    placeholder="e.g. make the jacket red",
                    info="For a Kontext model (FLUX.1 Kontext dev or a fine-tune; other Flux models run it but do "
                    "not follow the words well). With a mask, only the masked area and its soft edge change.",
                    max_length=MAX_PROMPT_CHARS,
                    elem_id="kontext-instruction",
                )
                change = gr.Button("Change it as said", elem_id="kontext-change")
            gr.Markdown(
                "*Mask brush*: marks what may change. *Paint*: colours the run follows (repaint, or inpaint "
                "where painted). Outside the mask and paint and their soft edge (*Mask edge softness*), an "
                "inpaint keeps every pixel.",
                elem_id="edit-help",
            )
            with gr.Group(visible=False, elem_id="about-upload") as about_upload:
                origin = gr.Textbox(
                    label="Where is this uploaded picture from?",
                    placeholder="e.g. my photo, a friend's sketch, a stock site",
                    max_length=500,
                    elem_id="upload-origin",
                )
                licence = gr.Dropdown(
                    list(LICENCES),
                    value="unknown",
                    label="Its licence (kept in the picture's authorship record)",
                    allow_custom_value=True,
                    elem_id="upload-licence",
                )
            settings = edit_widgets(defaults)
    return EditPanel(
        image, source, kept, inpaint, repaint, live, settings, about_upload, origin, licence, kontext, instruction,
        change,
    )  # fmt: skip


def picture_for_editor(session: Session, node_id: str, index: int) -> dict:
    """The editor value that loads output `index` of node `node_id`."""
    size = session.output_picture(node_id, index).size  # read whole: a damaged file is named, never half-shown
    return editor_value(session.output_path(node_id, index), size, {"node": node_id, "index": index})


def read_edit(session: Session, value: dict | None) -> Edit:
    """The editor's picture, mask, paint and parent, checked: the client says which picture, the server reads it."""
    source = (value or {}).get("source")
    if not isinstance(source, dict):
        raise NothingToEdit("Send a picture to the editor first (✏ Edit this picture), or upload one.")
    background, parent = _background(session, source)
    mask, paint = _unsent_work(session, value)
    return edit_from_layers(background, mask=mask, paint=paint, parent=parent)


def mask_drawn(session: Session, value: dict | None) -> bool:
    """Whether the editor holds mask-brush strokes (paint alone guides an img2img of the canvas)."""
    mask, _ = _unsent_work(session, value)
    return mask is not None and mask.getbbox() is not None


def _background(session: Session, source: dict) -> tuple[Image.Image, tuple[str, int] | None]:
    """The picture the editor holds, read on the server, and the node picture it is (None for an upload)."""
    if "node" in source:
        node_id, index = str(source["node"]), int(source["index"])
        return open_picture(session.output_path(node_id, index)), (node_id, index)
    if source.get("upload") is True:  # an upload kept in the session's draft, across a reload
        kept = session.drafts.editor()
        if kept is None or kept.picture is None:
            raise NothingToEdit("The uploaded picture is gone; upload it again.")
        return open_picture(kept.picture), None
    return open_picture(_uploaded(source.get("upload"))), None


def keep_draft(session: Session, value: dict | None) -> None:
    """The editor as it is now, into the session's draft, so a reload brings it back."""
    source = (value or {}).get("source")
    if not isinstance(source, dict):
        return
    assert value is not None
    if value.get("mask_url") or value.get("paint_url"):
        return  # just brought back from the draft: the draft already holds these layers
    background, _ = _background(session, source)
    upload = _uploaded(source["upload"]) if isinstance(source.get("upload"), str) else None
    session.drafts.save_editor(
        source,
        mask=picture_from_data_url(value.get("mask"), background.size, "mask"),
        paint=picture_from_data_url(value.get("paint"), background.size, "paint"),
        upload=upload,
    )


def _new_upload(session: Session, source: object) -> bool:
    """Whether `source` is a picture just uploaded, not the one the session's draft already holds."""
    if not isinstance(source, dict) or not isinstance(source.get("upload"), str):
        return False
    kept = session.drafts.editor()
    return kept is None or kept.uploaded_from != str(_uploaded(source["upload"]))


def _unsent_work(session: Session, value: dict | None) -> tuple[Image.Image | None, Image.Image | None]:
    """The mask and paint the editor holds now (None, None when it holds no strokes)."""
    source = (value or {}).get("source")
    if not isinstance(source, dict):
        return None, None
    assert value is not None
    if value.get("mask_url") or value.get("paint_url"):  # just brought back from the draft: the draft has them
        kept = session.drafts.editor()
        if kept is None:
            return None, None
        return (_copy(kept.mask), _copy(kept.paint))
    background, _ = _background(session, source)
    return (
        picture_from_data_url(value.get("mask"), background.size, "mask"),
        picture_from_data_url(value.get("paint"), background.size, "paint"),
    )


def set_aside(session: Session, value: dict | None) -> None:
    """Keep the editor's unsent mask and paint as a draft of their picture, before another picture replaces them."""
    mask, paint = _unsent_work(session, value)
    if mask is None and paint is None:
        return
    assert value is not None
    source = value["source"]
    upload: Path | Image.Image | None = None
    if isinstance(source.get("upload"), str):
        upload = _uploaded(source["upload"])
    elif source.get("upload") is True:
        kept = session.drafts.editor()
        upload = _copy(kept.picture) if kept is not None else None
    session.drafts.aside(source).save_editor(source, mask=mask, paint=paint, upload=upload)


def work_set_aside(session: Session, source: dict | None) -> EditorDraft | None:
    """The work set aside that the editor offers back: the shown picture's own first, else the newest."""
    if isinstance(source, dict):
        with contextlib.suppress(ValueError):  # a source no picture has: nothing of its own kept
            own = session.drafts.aside(source).editor()
            if own is not None:
                return own
    kept = session.drafts.set_aside()
    return kept[0] if kept else None


def kept_button(session: Session, source: dict | None) -> gr.Button:
    kept = work_set_aside(session, source)
    if kept is None:
        return gr.Button(visible=False)
    return gr.Button(f"↩ Back to your unsent mask and paint on {_picture_name(kept.source)}", visible=True)


def bring_back(session: Session, value: dict | None) -> dict:
    """The work set aside back in the editor (as the draft), and the editor's work of now set aside: a swap, so
    neither is lost. Returns the editor value that shows it."""
    source = (value or {}).get("source")
    kept = work_set_aside(session, source if isinstance(source, dict) else None)
    if kept is None:
        raise NothingToEdit("No unsent mask or paint is kept aside.")
    mask, paint, picture = _copy(kept.mask), _copy(kept.paint), _copy(kept.picture)
    kept_folder = session.drafts.aside(kept.source)
    kept_folder.discard()
    set_aside(session, value)  # the editor's own strokes, if any, take its place
    session.drafts.save_editor(kept.source, mask=mask, paint=paint, upload=picture)
    restored = draft_for_editor(session)
    assert restored is not None
    return restored


def _picture_name(source: dict) -> str:
    return "the uploaded picture" if "upload" in source else f"{source['node']}·{int(source['index']) + 1}"


def _copy(path: Path | None) -> Image.Image | None:
    if path is None:
        return None
    with Image.open(path) as picture:
        return picture.copy()


def draft_for_editor(session: Session) -> dict | None:
    """The editor value that brings the draft back (picture, mask and paint), or None."""
    kept = session.drafts.editor()
    if kept is None:
        return None
    if kept.picture is not None:
        path = str(kept.picture)
    else:
        path = session.output_path(str(kept.source["node"]), int(kept.source["index"]))
    with Image.open(path) as picture:
        size = picture.size
    return editor_value(
        path,
        size,
        kept.source,
        mask_path=str(kept.mask) if kept.mask else None,
        paint_path=str(kept.paint) if kept.paint else None,
    )


def _stated(edit: Edit, origin: str | None, licence: str | None) -> dict[str, dict[str, str]]:
    """What the artist said of an uploaded picture (nothing for a picture of the tree: the tree says where it is from)."""
    if edit.parent_id is not None:
        return {}
    return {"image": {"origin": (origin or "").strip() or "unknown", "licence": (licence or "").strip() or "unknown"}}


def _uploaded(path: object) -> Path:
    """An upload's file, only from Gradio's own upload folder: the page names it, so it is checked."""
    folder = Path(get_upload_folder()).resolve()
    target = Path(str(path or "")).resolve()
    if not path or not target.is_relative_to(folder) or not target.is_file():
        raise NothingToEdit("The uploaded picture is gone (the studio restarted?); upload it again.")
    return target


def wire(services: Services, screen: Screen, panel: EditPanel) -> None:
    def changed(value: dict | None, session_id: str | None, request: gr.Request):
        session = screen.session_for(session_id, request)
        source = (value or {}).get("source")
        with user_errors():
            fresh = _new_upload(session, source)
            keep_draft(session, value)
        uploaded = isinstance(source, dict) and "upload" in source
        # What was said of the last upload is not said of a new one.
        about = (gr.Textbox(value=""), gr.Dropdown(value="unknown")) if fresh else (gr.skip(), gr.skip())
        return editing_line(source), gr.Group(visible=uploaded), *about

    # After every stroke and upload: the line saying what is edited, and the draft a reload brings back.
    panel.image.change(
        changed,
        inputs=[panel.image, screen.session],
        outputs=[panel.source, panel.about_upload, panel.origin, panel.licence],
        trigger_mode="always_last",
        show_progress="hidden",
        api_visibility="private",
    )

    def back(value: dict | None, session_id: str | None, request: gr.Request):
        session = screen.session_for(session_id, request)
        with user_errors():
            restored = bring_back(session, value)
            return {
                panel.image: restored,
                panel.source: editing_line(restored["source"]),
                panel.kept: kept_button(session, restored["source"]),
            }

    panel.kept.click(
        back,
        inputs=[panel.image, screen.session],
        outputs=[panel.image, panel.source, panel.kept],
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )

    def inpaint(values: dict[Any, Any], request: gr.Request):
        session = screen.session_for(values[screen.session], request)
        with user_errors():
            painted = require_mask(read_edit(session, values[panel.image]))
        recipe, control_images = screen.recipe(values)
        yield from screen.run(
            session,
            lambda on_step: session.inpaint(
                painted.picture,
                painted.mask,
                recipe,
                parent_id=painted.parent_id,
                source_index=painted.source_index,
                control_images=control_images,
                sources=_stated(painted, values[panel.origin], values[panel.licence])
                | screen.reference_sources(values),
                on_step=on_step,
            ),
        )

    def repaint(values: dict[Any, Any], request: gr.Request):
        session = screen.session_for(values[screen.session], request)
        with user_errors():
            painted = read_edit(session, values[panel.image])
        recipe, control_images = screen.recipe(values)
        yield from screen.run(
            session,
            lambda on_step: session.repaint(
                painted.picture,
                recipe,
                parent_id=painted.parent_id,
                source_index=painted.source_index,
                control_images=control_images,
                sources=_stated(painted, values[panel.origin], values[panel.licence])
                | screen.reference_sources(values),
                on_step=on_step,
            ),
        )

    def change_as_said(values: dict[Any, Any], request: gr.Request):
        if not str(values[panel.instruction] or "").strip():  # refused here, with the box still in view
            raise refusal("Describe the change in words first, e.g. 'make the jacket red'.", title="No words")
        session = screen.session_for(values[screen.session], request)
        with user_errors():
            painted = read_edit(session, values[panel.image])
            masked = mask_drawn(session, values[panel.image])
        recipe, _ = screen.recipe(values)  # the form's sampling and LoRAs; the words are the instruction
        yield from screen.run(
            session,
            lambda on_step: session.kontext(
                painted.picture,
                str(values[panel.instruction] or ""),
                recipe,
                mask=painted.mask if masked else None,
                parent_id=painted.parent_id,
                source_index=painted.source_index,
                sources=_stated(painted, values[panel.origin], values[panel.licence]),
                on_step=on_step,
            ),
        )

    inputs = screen.recipe_inputs | {panel.image, screen.session, panel.origin, panel.licence}
    run = screen.run_options
    panel.inpaint.click(inpaint, inputs=inputs, outputs=screen.run_outputs, **run)
    panel.repaint.click(repaint, inputs=inputs, outputs=screen.run_outputs, **run)
    panel.change.click(change_as_said, inputs=inputs | {panel.instruction}, outputs=screen.run_outputs, **run)
    # Shown while a Flux model is loaded: the header changes with every model load.
    screen.model_status.change(
        lambda: gr.Group(visible=services.models.family == FLUX),
        outputs=panel.kontext,
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )

    def editing(session: Session, node_id: str) -> dict[Any, Any]:
        value = picture_for_editor(session, node_id, 0)
        keep_draft(session, value)
        return {panel.image: value, panel.source: editing_line(value["source"])}

    link = EditorLink(panel.image, panel.source, panel.origin, panel.licence, read_edit, mask_drawn, _stated, editing)
    live_panel.wire(screen, panel.live, link)
