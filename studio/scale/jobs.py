"""Running a grid job: its cells spread over every engine of the pool, then drawn as one picture with its axes'
values in the margins (as A1111's X/Y/Z plot draws it: X across the top, Y down the left, one block per Z)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, ImageDraw, ImageFont

from studio.errors import GenerationStopped
from studio.recipe import Recipe
from studio.scale.grid import Axis, Cell, value_label
from studio.services.models import Engine

MARGIN_FONT_SIZE = 18
_PAD = 6


def engines_in(engine: Engine) -> int:
    """How many runs `engine` takes at once: a pool's engines, else one."""
    return len(getattr(engine, "engines", [engine]))


def run_cells(
    engine: Engine,
    recipes: Sequence[Recipe],
    on_done: Callable[[int], None] | None = None,
    stop_asked: Callable[[], bool] = lambda: False,
) -> list[list[Image.Image] | None]:
    """Each recipe's pictures, in the recipes' order, the runs spread over the pool's engines (one at a time on a
    single engine). `on_done(n)`: n cells are done. Once a cell is stopped, or `stop_asked()` says Stop was pressed
    between two cells, no cell that has not started runs: their places, and the stopped cell's, are None; the finished cells' pictures are kept. Any other
    failure ends the job with its error once the cells already running have finished."""
    done = 0
    counting = threading.Lock()
    stopped = threading.Event()

    def run(recipe: Recipe) -> list[Image.Image] | None:
        nonlocal done
        if stopped.is_set() or stop_asked():
            stopped.set()
            return None
        try:
            pictures = engine.generate(recipe)
        except GenerationStopped:
            stopped.set()
            return None
        with counting:
            done += 1
            if on_done is not None:
                on_done(done)
        return pictures

    with ThreadPoolExecutor(max_workers=engines_in(engine), thread_name_prefix="grid-cell") as workers:
        # Each cell carries whose run it is (studio.progress.RUN_OWNER) to its thread: Stop reaches every cell.
        cells = [workers.submit(contextvars.copy_context().run, run, recipe) for recipe in recipes]
        return [cell.result() for cell in cells]


def grid_picture(cells: Sequence[Cell], pictures: Sequence[Image.Image], axes: Sequence[Axis]) -> Image.Image:
    """The cells' pictures in a grid, X across, Y down, Z blocks side by side, each value written in the margin."""
    font = _font()
    width, height = pictures[0].size
    columns = max(cell.x for cell in cells) + 1
    rows = max(cell.y for cell in cells) + 1
    blocks = max(cell.z for cell in cells) + 1
    x_axis = axes[0]
    y_axis, z_axis = (list(axes[1:]) + [None, None])[:2]
    line = MARGIN_FONT_SIZE + 2 * _PAD
    left = (max(_text_width(font, value_label(y_axis, v)) for v in y_axis.values) + 2 * _PAD) if y_axis else 0
    top = line * (2 if z_axis else 1)
    block_width = left + columns * width
    board = Image.new("RGB", (blocks * block_width + (blocks - 1) * _PAD * 4, top + rows * height), "white")
    draw = ImageDraw.Draw(board)
    for cell, picture in zip(cells, pictures, strict=True):
        origin = cell.z * (block_width + _PAD * 4)
        board.paste(
            picture.convert("RGB").resize((width, height)), (origin + left + cell.x * width, top + cell.y * height)
        )
    for block in range(blocks):
        origin = block * (block_width + _PAD * 4)
        if z_axis is not None:
            _centred(draw, font, value_label(z_axis, z_axis.values[block]), origin + block_width / 2, _PAD)
        for column in range(columns):
            centre = origin + left + column * width + width / 2
            text, small = _fitted(value_label(x_axis, x_axis.values[column]), width - _PAD)
            _centred(draw, small, text, centre, top - line + _PAD)
        if y_axis is not None:
            for row in range(rows):
                text = value_label(y_axis, y_axis.values[row])
                draw.text((origin + _PAD, top + row * height + height / 2), text, fill="black", font=font, anchor="lm")
    return board


def _font(size: int = MARGIN_FONT_SIZE) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:  # no DejaVu on this machine: Pillow's own, which every Pillow has
        return ImageFont.load_default(size)


def _fitted(text: str, room: int) -> tuple[str, ImageFont.FreeTypeFont | ImageFont.ImageFont]:
    """`text` in a font small enough for `room` pixels (down to 9 px), cut short with "…" if even that is wide:
    labels of small cells never run into each other."""
    for size in range(MARGIN_FONT_SIZE, 8, -1):
        font = _font(size)
        if _text_width(font, text) <= room:
            return text, font
    while len(text) > 1 and _text_width(font, text + "…") > room:
        text = text[:-1]
    return text + "…", font


def _text_width(font, text: str) -> int:
    left, _, right, _ = font.getbbox(text)
    return int(right - left)


def _centred(draw: ImageDraw.ImageDraw, font, text: str, centre: float, top: float) -> None:
    draw.text((centre, top), text, fill="black", font=font, anchor="mt")
