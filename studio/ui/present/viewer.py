"""The picture viewer's page: the picked picture fitted to the view (or at 100 %), a before/after slider for
edits, and every result as a captioned thumbnail. Pure: pictures in, HTML out (studio/ui/viewer.js acts on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

FILE_ROUTE = "/gradio_api/file="  # where Gradio serves files under the studio's allowed paths


@dataclass(frozen=True)
class Shown:
    """One picture in the viewer."""

    node_id: str
    index: int
    path: str
    caption: str
    before: str | None = None  # the picture it was made from, for edits: shown under the before/after slider


def file_url(path: str) -> str:
    return FILE_ROUTE + quote(path)


def viewer_html(shown: Sequence[Shown], selected: int | None = None, empty: str = "") -> str:
    """The viewer with `shown[selected]` in the large view (the first if `selected` is None)."""
    if not shown:
        return f"<div class='viewer empty'><p>{escape(empty or 'Nothing here yet.')}</p></div>"
    current = selected if selected is not None and 0 <= selected < len(shown) else 0
    picked = shown[current]
    thumbs = "".join(_thumb(i, picture, i == current) for i, picture in enumerate(shown))
    before = picked.before
    return (
        "<div class='viewer'>"
        "<div class='stage fit'><div class='frame'>"
        f"<img class='after' alt='{escape(picked.caption, quote=True)}' src='{file_url(picked.path)}'>"
        f"<img class='before' alt='before' src='{file_url(before) if before else ''}'{'' if before else ' hidden'}>"
        "</div></div>"
        "<div class='tools'>"
        f"<span class='caption'>{escape(picked.caption)}</span>"
        f"<label class='compare'{'' if before else ' hidden'}>before "
        "<input class='split' type='range' min='0' max='100' value='50' aria-label='Before and after'> after</label>"
        "<button type='button' data-zoom='fit' class='active'>Fit</button>"
        "<button type='button' data-zoom='full'>100 %</button>"
        "</div>"
        f"<div class='thumbs'>{thumbs}</div>"
        "</div>"
    )


def _thumb(index: int, picture: Shown, selected: bool) -> str:
    before = f" data-before='{file_url(picture.before)}'" if picture.before else ""
    caption = escape(picture.caption, quote=True)
    return (
        f"<figure class='thumb{' selected' if selected else ''}' data-index='{index}' "
        f"data-src='{file_url(picture.path)}' data-caption='{caption}'{before}>"
        f"<img alt='{caption}' src='{file_url(picture.path)}'><figcaption>{escape(picture.caption)}</figcaption>"
        "</figure>"
    )


def inputs_html(pictures: Sequence[tuple[str, str]], node_id: str | None = None) -> str:
    """What node `node_id` was given (picture, mask, control maps) as captioned thumbnails; each opens at full
    size. None: no node is picked."""
    if not pictures:
        said = (
            f"{node_id} was given no picture: it was made from the prompt and the settings alone."
            if node_id
            else "Pick a picture: what its node was given shows here."
        )
        return f"<div class='viewer empty'><p>{escape(said)}</p></div>"
    figures = "".join(
        f"<figure class='thumb'><a href='{file_url(path)}' target='_blank' rel='noopener'>"
        f"<img alt='{escape(caption, quote=True)}' src='{file_url(path)}'></a>"
        f"<figcaption>{escape(caption)}</figcaption></figure>"
        for path, caption in pictures
    )
    return f"<div class='viewer'><div class='thumbs'>{figures}</div></div>"


VIEWER_CSS = """
.viewer { display: flex; flex-direction: column; gap: 6px; }
.viewer.empty p { opacity: 0.7; padding: 24px 8px; margin: 0; }
.viewer .stage { height: 400px; overflow: auto; position: relative; background: var(--background-fill-secondary);
  border: 1px solid var(--border-color-primary); border-radius: 4px; }
.viewer .stage.fit { overflow: hidden; }
.viewer .stage.fit .frame { position: absolute; inset: 0; }
.viewer .stage.fit .frame img { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain; }
.viewer .stage.full { cursor: grab; display: flex; }
/* margin: auto centres a picture smaller than the stage, and a larger one still scrolls from its corner. */
.viewer .stage.full .frame { position: relative; display: inline-block; line-height: 0; margin: auto; flex: none; }
.viewer .stage.full .frame img { max-width: none; max-height: none; }
/* "before" at the scale of "after" (an upscale's before is smaller): the slider compares the same places. */
.viewer .stage.full .frame img.before { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.viewer .frame img.before[hidden] { display: none; }
.viewer .tools { display: flex; align-items: center; gap: 8px; font-size: 0.9em; }
.viewer .tools .caption { flex: 1; font-weight: 600; }
#results .viewer .tools button { border: 1px solid var(--border-color-primary); border-radius: 4px; padding: 1px 10px;
  font-size: 12px; font-weight: normal; line-height: 1.6; background: var(--button-secondary-background-fill); }
#results .viewer .tools button.active { border-color: var(--color-accent); color: var(--color-accent); font-weight: 600; }
.viewer .compare[hidden] { display: none; }
.viewer .thumbs { display: flex; gap: 6px; overflow-x: auto; padding-bottom: 2px; }
.viewer .thumb { margin: 0; width: 112px; flex: none; cursor: pointer; border: 2px solid transparent;
  border-radius: 4px; padding: 2px; }
.viewer .thumb.selected { border-color: var(--color-accent); }
.viewer .thumb img { width: 100%; height: 84px; object-fit: contain; background: var(--background-fill-secondary); }
.viewer .thumb figcaption { font-size: 0.75em; line-height: 1.25; white-space: normal; word-break: break-word; }
"""


def grid_picture_html(path) -> str:
    """A grid job's picture, whole, a click away from full size (no widget badge over its top values)."""
    url = file_url(str(path))
    return (
        f"<a href='{url}' target='_blank' rel='noopener' title='Open the grid picture full size'>"
        f"<img src='{url}' alt='The grid picture' style='max-width:100%;height:auto;display:block'></a>"
        "<span style='font-size:0.85em;opacity:0.75'>The grid picture: click it to open it full size.</span>"
    )
