"""The History tab's version tree, drawn: a card of thumbnails per node, branches side by side, an edge from
each parent to its children labelled with what was done. Pure: nodes in, positions and HTML out
(studio/ui/tree.js pans, zooms, restores and compares on it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from studio.authorship.outside import OutsideCloseness
from studio.closeness import KEEPS_COMPOSITION
from studio.history import Action, Iteration, Mark
from studio.ui.present import closeness as closeness_text
from studio.ui.present.history import finish_name
from studio.ui.present.viewer import file_url

CARD_WIDTH = 140
CARD_HEIGHT = 170
COLUMN_GAP = 36
ROW_GAP = 64
# A grid's or a prompt batch's cells sit in one frame, its name in a band above the cards: the tree keeps that
# much room around its cards.
JOB_HEAD = 22
JOB_PAD = 8
# Inside a card: its border (1 px a side) and padding (6 px a side) around the thumbnails, which have a 2 px border
# each and 2 px between them. Thumbnails are sized from these, so every batch (up to 9) fits its card.
_CARD_INSIDE = CARD_WIDTH - 2 * (1 + 6)
_PIC_BORDER, _PIC_GAP = 2, 2
_EDGE_WORDS = {
    Action.GENERATE: "regenerate",
    Action.REPAINT: "repaint",
    Action.INPAINT: "inpaint",
    Action.VARY: "vary",
    Action.OUTPAINT: "outpaint",
    Action.KONTEXT: "kontext",
}


@dataclass(frozen=True)
class Place:
    """Where a node's card sits: `column` across (branches side by side), `row` down (its depth)."""

    column: float
    row: int

    @property
    def left(self) -> float:
        return JOB_PAD + self.column * (CARD_WIDTH + COLUMN_GAP)

    @property
    def top(self) -> float:
        return JOB_HEAD + self.row * (CARD_HEIGHT + ROW_GAP)


def layout(nodes: Sequence[Iteration]) -> dict[str, Place]:
    """A tidy tree: every leaf has a column of its own, each parent sits centred over its children.

    Children are in the order they were made; a node whose parent is gone is a root. A grid's cells, while none has
    children of its own, sit as the grid picture has them (X across, one row per Y and Z), under their parent: their
    rows go down in the grid's own columns, where no other card is.
    """
    known = {node.id for node in nodes}
    by_id = {node.id: node for node in nodes}
    children: dict[str | None, list[str]] = {}
    for node in nodes:
        children.setdefault(node.parent_id if node.parent_id in known else None, []).append(node.id)
    places: dict[str, Place] = {}
    next_column = 0
    # Depth-first without recursion: a session can be a chain of hundreds of nodes. An entry is a node, or a block
    # of a job's leaf cells.
    stack: list[tuple[list[str], int, bool]] = [
        (block, 0, False) for block in reversed(_blocks(children.get(None, []), children, by_id))
    ]
    while stack:
        ids, row, children_placed = stack.pop()
        if len(ids) > 1 or not children.get(ids[0]):
            job = by_id[ids[0]].job
            columns = max(1, min(job.columns, len(ids))) if job is not None and job.columns else len(ids)
            for index, cell in enumerate(ids):
                places[cell] = Place(next_column + index % columns, row + index // columns)
            next_column += columns
            continue
        (node_id,) = ids
        kids = children[node_id]
        if children_placed:
            spread = [places[kid].column for kid in kids]
            places[node_id] = Place((min(spread) + max(spread)) / 2, row)
        else:
            stack.append((ids, row, True))
            stack.extend((block, row + 1, False) for block in reversed(_blocks(kids, children, by_id)))
    return places


def _blocks(kids: list[str], children: dict[str | None, list[str]], by_id: dict[str, Iteration]) -> list[list[str]]:
    """Siblings, each alone, except a job's cells when none of them has children: one block."""
    blocks: list[list[str]] = []
    for kid in kids:
        job = by_id[kid].job
        previous = by_id[blocks[-1][-1]].job if blocks else None
        if job is not None and previous is not None and previous.job == job.job:
            blocks[-1].append(kid)
        else:
            blocks.append([kid])
    # A job with a branched cell lies in a row, each cell over its own branch.
    return [
        group
        for block in blocks
        for group in ([block] if not any(children.get(cell) for cell in block) else [[cell] for cell in block])
    ]


def thumbnail_columns(count: int) -> int:
    return 1 if count == 1 else 2 if count <= 4 else 3


def thumbnail_side(count: int) -> int:
    """The side of each of `count` thumbnails, so that their rows fit a card's width (borders and gaps included)."""
    columns = thumbnail_columns(count)
    return (_CARD_INSIDE - (columns - 1) * _PIC_GAP) // columns - 2 * _PIC_BORDER


def edge_label(child: Iteration) -> str:
    source = f" ·{child.source_index + 1}" if child.source_index is not None else ""
    return f"{finish_name(child) or _EDGE_WORDS[child.action]}{source}"


def tree_html(
    nodes: Sequence[Iteration],
    picture_path: Callable[[str], object],
    selected: tuple[str, int] | None = None,
    empty: str = "Nothing made yet in this session. Write a prompt and press Generate.",
    grid_picture: Callable[[str], object | None] = lambda job: None,
) -> str:
    """The whole tree; `picture_path(name)` is where a node's output file is; `selected` is (node id, index);
    `grid_picture(job)` is where a grid job's picture is (None: it has none)."""
    if not nodes:
        return f"<div class='tree empty'><p>{escape(empty)}</p></div>"
    places = layout(nodes)
    by_id = {node.id: node for node in nodes}
    width = max(place.left for place in places.values()) + CARD_WIDTH + JOB_PAD
    height = max(place.top for place in places.values()) + CARD_HEIGHT + JOB_PAD
    edges = []
    labels = []
    jobs = jobs_of(nodes)
    for node in nodes:
        if node.parent_id not in by_id:
            continue
        parent, child = places[node.parent_id], places[node.id]
        x1, y1 = parent.left + CARD_WIDTH / 2, parent.top + CARD_HEIGHT
        if node.job is None:
            x2, y2, words, target = child.left + CARD_WIDTH / 2, child.top, edge_label(node), node.id
        elif jobs[node.job.job][0] is node:  # one edge to a job's frame, not one to each of its cells
            left, top, right, _ = _frame_box(jobs[node.job.job], places)
            x2, y2, words, target = (left + right) / 2, top, node.job.kind, node.job.job
        else:
            continue
        middle = (y1 + y2) / 2
        edges.append(
            f"<path class='edge' data-from='{node.parent_id}' data-to='{target}' "
            f"d='M{x1:g},{y1:g} C{x1:g},{middle:g} {x2:g},{middle:g} {x2:g},{y2:g}'/>"
        )
        labels.append(
            f"<span class='edge-label' style='left:{(x1 + x2) / 2:g}px;top:{middle:g}px'>{escape(words)}</span>"
        )
    frames = "".join(_job_frame(cells, places, grid_picture) for cells in jobs.values())
    cards = "".join(_card(node, places[node.id], picture_path, selected) for node in nodes)
    return (
        "<div class='tree'>"
        "<div class='toolbar'>"
        "<button type='button' data-act='zoom-out' title='Zoom out'>−</button>"
        "<button type='button' data-act='zoom-in' title='Zoom in'>+</button>"
        "<button type='button' data-act='fit' title='Show the whole tree'>Fit</button>"
        "<label><input type='checkbox' class='hide-rejected'> hide rejected</label>"
        "<label><input type='checkbox' class='compare-mode'> compare two pictures</label>"
        "<span class='hint'>Drag to move, wheel to zoom, click a picture to restore it.</span>"
        "</div>"
        "<div class='viewport'>"
        f"<div class='canvas' style='width:{width:g}px;height:{height:g}px'>"
        f"<svg class='edges' width='{width:g}' height='{height:g}'>{''.join(edges)}</svg>"
        f"{frames}{''.join(labels)}{cards}"
        "</div></div></div>"
    )


def jobs_of(nodes: Sequence[Iteration]) -> dict[str, list[Iteration]]:
    """The cells of each grid or prompt batch in the tree, in the order they were made, by job id."""
    jobs: dict[str, list[Iteration]] = {}
    for node in nodes:
        if node.job is not None:
            jobs.setdefault(node.job.job, []).append(node)
    return jobs


def job_title(cells: Sequence[Iteration]) -> str:
    """ "grid · 9 cells", "prompts · 4 lines": what a job's frame says of it."""
    kind = cells[0].job.kind if cells[0].job else "grid"
    count = len(cells)
    if kind == "prompts":
        return f"prompts · {count} line{'s' if count != 1 else ''}"
    return f"grid · {count} cell{'s' if count != 1 else ''}"


def _frame_box(cells: Sequence[Iteration], places: dict[str, Place]) -> tuple[float, float, float, float]:
    """Left, top, right and bottom of the frame around a job's cards, its title band above them."""
    spots = [places[cell.id] for cell in cells]
    left, top = min(spot.left for spot in spots) - JOB_PAD, min(spot.top for spot in spots) - JOB_HEAD
    right = max(spot.left for spot in spots) + CARD_WIDTH + JOB_PAD
    bottom = max(spot.top for spot in spots) + CARD_HEIGHT + JOB_PAD
    return left, top, right, bottom


def _job_frame(cells: Sequence[Iteration], places: dict[str, Place], grid_picture: Callable[[str], object]) -> str:
    """A frame around a job's cards, its title in the band above them, with a link to the grid picture."""
    left, top, right, bottom = _frame_box(cells, places)
    job = cells[0].job.job if cells[0].job else ""
    board = grid_picture(job)
    if board:
        link = f" · <a href='{file_url(str(board))}' target='_blank' rel='noopener'>grid picture</a>"
    else:  # a grid without its picture was stopped part-way
        link = " · stopped, no grid picture" if cells[0].job and cells[0].job.kind == "grid" else ""
    return (
        f"<div class='job' data-job='{escape(job, quote=True)}' "
        f"style='left:{left:g}px;top:{top:g}px;width:{right - left:g}px;height:{bottom - top:g}px'>"
        f"<span class='job-title'>{escape(job_title(cells))}{link}</span></div>"
    )


def _card(
    node: Iteration, place: Place, picture_path: Callable[[str], object], selected: tuple[str, int] | None
) -> str:
    count = len(node.outputs)
    side = thumbnail_side(count)
    thumbs = []
    for index, name in enumerate(node.outputs):
        mark = node.marks[index] if index < len(node.marks) else Mark.NONE
        classes = ["pic", mark.value or "", "selected" if selected == (node.id, index) else ""]
        badge = {Mark.KEEP: "★", Mark.REJECT: "✗"}.get(mark, "")
        near = closeness_text.entries(node, index)
        title = f"{node.id}·{index + 1}" + (f" · {near[0].words()}" if near else "")
        thumbs.append(
            f"<button type='button' class='{' '.join(filter(None, classes))}' data-node='{node.id}' "
            f"data-index='{index}' title='{escape(title, quote=True)}'>"
            f"<img loading='lazy' alt='{node.id}·{index + 1}' src='{file_url(str(picture_path(name)))}' "
            f"style='width:{side}px;height:{side}px'>"
            f"{f'<span class=badge>{badge}</span>' if badge else ''}{_near_badge(near[0]) if near else ''}</button>"
        )
    if node.job is not None:
        what = "grid cell" if node.job.kind == "grid" else "prompt"
    elif node.parent_id is None and node.action is Action.GENERATE:
        what = "generate"
    else:
        what = edge_label(node)
    title = f"{node.id} · {what}"
    prompt = escape(node.recipe.prompt[:120], quote=True)
    # A cell's values, under its pictures: the frame says which job, the card which cell.
    cell = (
        f"<div class='cell-label' title='{escape(node.job.label, quote=True)}'>{escape(node.job.label)}</div>"
        if node.job is not None
        else ""
    )
    return (
        f"<div class='card' id='node-{node.id}' data-node='{node.id}' title='{prompt}' "
        f"style='left:{place.left:g}px;top:{place.top:g}px;width:{CARD_WIDTH}px;height:{CARD_HEIGHT}px'>"
        f"<div class='card-title'>{escape(title)}</div><div class='pics'>{''.join(thumbs)}</div>{cell}</div>"
    )


def _near_badge(closest: OutsideCloseness) -> str:
    """How close the picture stays to the closest outside picture, on its thumbnail: "copy 0.97", "keeps 0.62",
    "far 0.15" (the full words are the thumbnail's title)."""
    level = "near" if closest.near_copy else "keeps" if closest.score >= KEEPS_COMPOSITION else "far"
    word = {"near": "copy", "keeps": "keeps", "far": "far"}[level]
    return f"<span class='closeness {level}'>{word} {closest.score:.2f}</span>"


TREE_CSS = """
.tree { display: flex; flex-direction: column; gap: 4px; }
.tree.empty p { opacity: 0.7; padding: 24px 8px; margin: 0; }
.tree .toolbar { display: flex; align-items: center; gap: 10px; font-size: 0.85em; flex-wrap: wrap; }
#history .tree .toolbar button { border: 1px solid var(--border-color-primary); border-radius: 4px; padding: 0 9px;
  font-size: 12px; font-weight: normal; line-height: 1.6; background: var(--button-secondary-background-fill); }
.tree .toolbar .hint { opacity: 0.65; }
.tree .viewport { position: relative; height: 440px; overflow: hidden; cursor: grab; border-radius: 4px;
  user-select: none; -webkit-user-select: none;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary); }
.tree .canvas { position: absolute; left: 0; top: 0; transform-origin: 0 0; }
.tree .edges { position: absolute; left: 0; top: 0; overflow: visible; }
.tree .edge { fill: none; stroke: var(--body-text-color-subdued); stroke-width: 1.6; }
.tree .edge-label { position: absolute; transform: translate(-50%, -50%); font-size: 11px; padding: 0 5px;
  border-radius: 8px; background: var(--background-fill-primary); border: 1px solid var(--border-color-primary);
  white-space: nowrap; }
.tree .job { position: absolute; box-sizing: border-box; border-radius: 8px; border: 1px dashed var(--color-accent);
  background: color-mix(in srgb, var(--color-accent) 7%, transparent); }
.tree .job-title { position: absolute; left: 8px; top: 3px; font-size: 11px; white-space: nowrap; }
.tree .cell-label { font-size: 10px; line-height: 1.3; margin-top: 2px; text-align: center; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.tree .job-title a { color: var(--color-accent); }
.tree .card { position: absolute; box-sizing: border-box; padding: 4px 6px; border-radius: 6px; overflow: hidden;
  background: var(--background-fill-primary); border: 1px solid var(--border-color-primary);
  box-shadow: 0 1px 3px rgba(0, 0, 0, 0.12); }
.tree .card-title { font-size: 11px; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.tree .pics { display: flex; flex-wrap: wrap; gap: 2px; justify-content: center; margin-top: 3px; }
.tree .pic { position: relative; padding: 0; border: 2px solid transparent; border-radius: 3px; cursor: pointer;
  line-height: 0; background: none; }
.tree .pic img { object-fit: contain; background: var(--background-fill-secondary); }
.tree .pic.selected { border-color: var(--color-accent); }
.tree .pic.reject img { opacity: 0.35; }
.tree .pic .badge { position: absolute; right: 2px; top: 2px; font-size: 12px; line-height: 1; padding: 1px 3px;
  border-radius: 3px; background: rgba(0, 0, 0, 0.6); color: white; }
.tree .pic.compare-a, .tree .pic.compare-b { border-color: #2a9d8f; }
.tree .pic.compare-a::after, .tree .pic.compare-b::after { position: absolute; left: 2px; top: 2px; font-size: 11px;
  line-height: 1; padding: 1px 3px; background: #2a9d8f; color: white; border-radius: 3px; }
.tree .pic.compare-a::after { content: "A"; }
.tree .pic.compare-b::after { content: "B"; }
.tree.hiding-rejected .pic.reject { display: none; }
.tree .pic .closeness { position: absolute; left: 2px; bottom: 2px; font-size: 10px; line-height: 1; padding: 1px 3px;
  border-radius: 3px; color: white; background: rgba(0, 0, 0, 0.6); }
.tree .pic .closeness.near { background: #b3261e; }
.tree .pic .closeness.keeps { background: #b26a00; }
"""
