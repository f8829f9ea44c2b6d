"""The Finish tab's board: the picked picture with its regions drawn over it, numbered as in the review table.

Pure: a picture and boxes in, HTML out. studio/ui/regions.js lets the artist drag a box or paint on it. Boxes
are drawn where the fix will run (grown or shrunk as set), so what will change is visible before it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from studio.ui.present.viewer import file_url

EMPTY = "Pick a picture in Results or History, then press Finish there."


def board_html(
    path: str | None,
    size: tuple[int, int] | None,
    boxes: Sequence[tuple[str, tuple[int, int, int, int]]],
    strokes: Sequence[str] = (),
) -> str:
    """`boxes` are (label, box) in the picture's pixels, placed in percent so the board can be any size;
    `strokes` are the painted regions' masks (files), laid over the picture."""
    if path is None or size is None:
        return f"<div class='region-board empty'><p>{escape(EMPTY)}</p></div>"
    width, height = size
    drawn = "".join(
        f"<div class='region {escape(label)}' style='left:{100 * left / width:.3f}%;top:{100 * top / height:.3f}%;"
        f"width:{100 * (right - left) / width:.3f}%;height:{100 * (bottom - top) / height:.3f}%'>"
        f"<span>{number} {escape(label)}</span></div>"
        for number, (label, (left, top, right, bottom)) in enumerate(boxes, start=1)
    )
    painted = "".join(f"<img class='stroke' alt='' src='{file_url(mask)}' draggable='false'>" for mask in strokes)
    return (
        f"<div class='region-board' data-width='{width}' data-height='{height}'>"
        "<div class='tools'><span>Mark with</span>"
        "<button type='button' data-mode='box' class='active'>Box</button>"
        "<button type='button' data-mode='brush'>Brush</button>"
        "<label class='size' hidden>size <input class='brush-size' type='range' min='4' max='96' value='24'></label>"
        "</div>"
        f"<div class='sheet'><img class='picture' alt='the picture to finish' src='{file_url(path)}' draggable='false'>"
        f"{painted}{drawn}<canvas class='strokes' width='{width}' height='{height}'></canvas>"
        "<div class='drawing' hidden></div></div>"
        f"<p class='hint'>{width}×{height} · drag a box over each part to fix, or paint over it with the brush</p>"
        "</div>"
    )


BOARD_CSS = """
.region-board { display: flex; flex-direction: column; align-items: center; gap: 4px; }
.region-board.empty p { color: var(--body-text-color-subdued); padding: 48px 0; }
.region-board .sheet { position: relative; display: inline-block; width: 100%; max-width: 560px; cursor: crosshair;
  touch-action: none; user-select: none; line-height: 0; }
.region-board .sheet img.picture { width: 100%; height: auto; display: block; }
.region-board .sheet img.stroke, .region-board .sheet canvas.strokes { position: absolute; inset: 0; width: 100%;
  height: 100%; pointer-events: none; }
.region-board .sheet img.stroke { mix-blend-mode: screen; opacity: 0.45; }
.region-board .sheet canvas.strokes { opacity: 0.5; }
.region-board .tools { display: flex; gap: 6px; align-items: center; font-size: 12px; }
.region-board .tools button { padding: 1px 10px; font: 500 12px/1.6 sans-serif; border: 1px solid var(--border-color-primary); border-radius: 4px;
  background: var(--background-fill-secondary); }
.region-board .tools button.active { background: var(--color-accent); color: white; border-color: var(--color-accent); }
.region-board .region, .region-board .drawing { position: absolute; border: 2px solid #f97316;
  background: rgba(249, 115, 22, 0.12); box-sizing: border-box; pointer-events: none; }
.region-board .region.face { border-color: #38bdf8; background: rgba(56, 189, 248, 0.12); }
.region-board .region.hand { border-color: #a3e635; background: rgba(163, 230, 53, 0.12); }
.region-board .drawing { border-style: dashed; }
.region-board .region span { position: absolute; left: 0; top: 0; font: 600 11px/1.4 sans-serif;
  background: rgba(0, 0, 0, 0.65); color: white; padding: 0 4px; white-space: nowrap; }
.region-board .hint { font-size: 12px; color: var(--body-text-color-subdued); line-height: 1.4; margin: 0; }
"""
