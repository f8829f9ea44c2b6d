"""The picture editor's page (studio/ui/editor.js draws on it) and its value, as plain data.

The page is static: Gradio leaves the DOM alone when the value changes, so the canvases keep every stroke.
"""

from __future__ import annotations

import uuid
from html import escape

from studio.ui.present.viewer import file_url

SWATCHES = ("#ffffff", "#000000", "#d62828", "#f77f00", "#fcbf49", "#2a9d8f", "#264653", "#8ab17d", "#6d597a")


def editor_html(mode: str = "picture", *, empty: str | None = None, paint_title: str | None = None) -> str:
    """The editor's page. "picture": the Edit tab (mask, paint, upload). "map": a control map, painted with the
    colours its kind allows (the swatches come with the value: ADE20K classes, or white and black)."""
    swatches = "".join(
        f"<button type='button' class='swatch' data-colour='{colour}' style='background:{colour}' "
        f"title='Paint with {colour}' aria-label='Paint with {colour}'></button>"
        for colour in (SWATCHES if mode == "picture" else ())
    )
    empty = empty or (
        "Send a picture here with ✏ Edit this picture, or drop one here (Upload…)."
        if mode == "picture"
        else "No map yet: make one from a picture, start a blank one, or choose a pose."
    )
    paint_title = paint_title or "Paint colours that guide the picture"
    return (
        f"<div class='paint-editor' data-mode='{mode}'>"
        "<div class='toolbar'>"
        "<button type='button' class='for-pictures' data-tool='mask' "
        "title='Brush a mask over what should change'>Mask brush</button>"
        f"<button type='button' data-tool='paint' title='{escape(paint_title)}'>Paint</button>"
        "<button type='button' data-tool='erase'>Eraser</button>"
        "<label>Size <input class='size' type='range' min='1' max='400' value='40' aria-label='Brush size'>"
        "<span class='size-label'></span></label>"
        "<label class='for-pictures'>Mask opacity <input class='opacity' type='range' min='10' max='100' "
        "value='50' aria-label='Mask opacity'></label>"
        "<label class='for-pictures' title='The colour the mask is shown in: pick one no paint of yours uses'>"
        "Mask colour <input class='mask-colour' type='color' value='#4f7cff' aria-label='Mask colour'></label>"
        "<button type='button' class='invert for-pictures' "
        "title='Change what was kept, keep what was changed'>Invert mask</button>"
        "<button type='button' class='undo' title='Undo (Ctrl+Z)'>↶ Undo</button>"
        "<button type='button' class='redo' title='Redo (Ctrl+Shift+Z)'>↷ Redo</button>"
        "<button type='button' class='clear'>Clear</button>"
        "<button type='button' class='open for-pictures'>Upload…</button>"
        "<input class='file' type='file' accept='image/png,image/jpeg,image/webp' hidden>"
        "</div>"
        f"<div class='swatches'><span class='palette'>{swatches}</span><input class='colour for-pictures' "
        "type='color' value='#d62828' aria-label='Paint colour'><span class='keys'>[ ] size · Ctrl+Z undo</span></div>"
        "<div class='board'>"
        f"<p class='empty'>{escape(empty)}</p>"
        "<div class='sheet' hidden><img class='picture' alt='The picture being edited'>"
        "<canvas class='paint'></canvas><canvas class='mask'></canvas></div>"
        "<div class='cursor' hidden></div>"
        "</div>"
        "<p class='message' role='status'></p>"
        "</div>"
    )


def editor_value(
    picture_path: str,
    size: tuple[int, int],
    source: dict,
    *,
    mask_path: str | None = None,
    paint_path: str | None = None,
) -> dict:
    """What loads a picture (and, from a draft, its layers) into the editor; a new token each time."""
    return {
        "token": uuid.uuid4().hex,
        "picture_url": file_url(picture_path),
        "source": source,
        "width": size[0],
        "height": size[1],
        "mask_url": file_url(mask_path) if mask_path else None,
        "paint_url": file_url(paint_path) if paint_path else None,
        "mask": None,
        "paint": None,
    }


def editing_line(source: dict | None) -> str:
    if not source:
        return "*Send a picture here with ✏ Edit, or upload one.*"
    if "node" in source:
        return f"Editing **{escape(str(source['node']))}·{int(source['index']) + 1}**: results become its children."
    return "*Editing an uploaded picture: results start a new branch.*"


EDITOR_CSS = """
.paint-editor { display: flex; flex-direction: column; gap: 4px; }
.paint-editor .toolbar, .paint-editor .swatches { display: flex; flex-wrap: wrap; align-items: center; gap: 6px;
  font-size: 0.85em; }
.gradio-container .paint-editor .toolbar button { border: 1px solid var(--border-color-primary); border-radius: 4px;
  padding: 1px 8px; font-size: 12px; font-weight: normal; line-height: 1.6;
  background: var(--button-secondary-background-fill); }
.gradio-container .paint-editor .toolbar button.active { border-color: var(--color-accent); color: var(--color-accent); font-weight: 600; }
.paint-editor .toolbar button:disabled { opacity: 0.45; }
.paint-editor .toolbar input[type=range] { width: 80px; vertical-align: middle; }
.paint-editor .palette { display: inline-flex; flex-wrap: wrap; gap: 6px; }
.paint-editor .swatch { width: 20px; height: 20px; border-radius: 3px; border: 1px solid rgba(0, 0, 0, 0.4); padding: 0; }
.paint-editor .swatch.active { outline: 2px solid var(--color-accent); outline-offset: 1px; }
.paint-editor .swatch.named { width: auto; min-width: 20px; padding: 0 6px; font-size: 11px; line-height: 18px; }
.paint-editor .colour { width: 28px; height: 22px; padding: 0; border: none; background: none; }
.paint-editor .keys { opacity: 0.6; margin-left: auto; }
.paint-editor .board { position: relative; height: 400px; display: flex; align-items: center; justify-content: center;
  overflow: hidden; background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary);
  border-radius: 4px; }
.paint-editor .empty { opacity: 0.7; padding: 12px; text-align: center; }
.paint-editor .sheet { position: relative; line-height: 0; }
.paint-editor .sheet[hidden] { display: none; }
.paint-editor .sheet img { display: block; width: 100%; height: 100%; }
.paint-editor .sheet canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
.paint-editor canvas.mask { cursor: none; touch-action: none; }
.paint-editor .cursor { position: absolute; pointer-events: none; border-radius: 50%; border: 1.5px solid white;
  box-shadow: 0 0 0 1px rgba(0, 0, 0, 0.7); }
.paint-editor .cursor[hidden] { display: none; }
.paint-editor[data-mode=map] .for-pictures { display: none; }
.paint-editor[data-mode=map] .board { height: 330px; }
.paint-editor .message { min-height: 1.2em; margin: 0; font-size: 0.9em; color: var(--color-accent); }
"""


def map_value(
    picture_url: str, size: tuple[int, int], colours: list[str], brush: int, colour_names: list[str] | None = None
) -> dict:
    """What loads a control map into a map editor: the map (a data URL), the colours it may be painted with (and what
    each means, shown on its swatch)."""
    return {
        "colour_names": colour_names or [],
        "token": uuid.uuid4().hex,
        "picture_url": picture_url,
        "width": size[0],
        "height": size[1],
        "colours": colours,
        "brush": brush,
        "paint": None,
    }
