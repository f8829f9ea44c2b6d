"""A grid job in a session (A1111's X/Y/Z plot): every cell a txt2img node of its own, replayable, and the grid
picture with the values in its margins, saved in the session's `grids/` folder (studio/scale/)."""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from studio.errors import GenerationStopped
from studio.formats import a1111, png_text
from studio.history import Action, Iteration, JobCell, SessionHistory
from studio.progress import RUN_OWNER, StepProgress
from studio.recipe import MAX_SEED, Mode, Recipe
from studio.scale.batch import prompt_recipes
from studio.scale.grid import Axis, Cell, cells, infotext_params, value_label
from studio.scale.jobs import grid_picture, run_cells
from studio.services import Services
from studio.session.turn import Request, check_request, record_made

GRIDS = "grids"
PROMPTS_PER_ROW = 4  # a batch of prompts in the tree: rows of four cells


@dataclass(frozen=True)
class GridJob:
    """What a grid job made: one node per cell (X fastest, then Y, then Z) and the grid picture's file. A grid
    stopped part-way keeps the cells it finished, and has no grid picture."""

    job: str  # its cells' JobCell.job; the grid picture is grids/<job>.png
    nodes: list[Iteration]
    picture: Path | None
    cells: int  # how many the grid has


def run_grid(
    history: SessionHistory,
    services: Services,
    base: Recipe,
    axes: Sequence[Axis],
    *,
    rng: random.Random,
    parent_id: str | None = None,
    on_cell: Callable[[int, int], None] | None = None,
) -> GridJob:
    """Run every cell of `axes` over `base` (one seed for the whole grid unless the grid varies it), spread over
    the engines; then record the nodes, in cell order, and the grid picture. Nothing is recorded if a cell fails.
    `on_cell(done, total)` as cells finish."""
    base = base.replace(mode=Mode.TXT2IMG).with_concrete_seed(rng)
    made = cells(base, list(axes))
    job = new_job_id("grid")
    columns = len(axes[0].values)  # the tree draws the cells as the grid picture has them, X across
    places = [JobCell(job, "grid", cell_label(cell, axes), columns) for cell in made]
    nodes, pictures = _run_all(history, services, [cell.recipe for cell in made], places, rng, parent_id, on_cell)
    if any(outputs is None for outputs in pictures):
        _report_done(history, services, nodes)
        return GridJob(job, nodes, None, len(made))
    board = grid_picture(made, [outputs[0] for outputs in pictures if outputs is not None], axes)
    path = history.folder / GRIDS / f"{job}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    parameters = a1111.format_parameters(services.presets.styled(made[0].recipe), 0, family=services.models.family)
    script = ", ".join(f"{key}: {a1111.quote(value)}" for key, value in infotext_params(list(axes)).items())
    png_text.write_png(board, path, {png_text.PARAMETERS_KEY: f"{parameters}, {script}"})
    _report_done(history, services, nodes)
    return GridJob(job, nodes, path, len(made))


def _clipped(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def grid_picture_path(history: SessionHistory, job: str) -> Path | None:
    if not job.startswith("grid-"):
        return None  # a batch of prompts has no grid picture
    JobCell(job, "grid", "")  # checked: a job id names no other path than its own picture
    path = history.folder / GRIDS / f"{job}.png"
    return path if path.is_file() else None


def new_job_id(kind: str) -> str:
    """A job's id, unique in the session and readable: "grid-20261204-224406-3fa0"."""
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def cell_label(cell: Cell, axes: Sequence[Axis]) -> str:
    """A cell's values in words, as the grid's margins show them: "CFG Scale: 7 · Steps: 20"."""
    return " · ".join(value_label(along, along.values[place]) for place, along in zip(cell.places, axes, strict=False))


def run_prompts(
    history: SessionHistory,
    services: Services,
    base: Recipe,
    text: str,
    *,
    rng: random.Random,
    parent_id: str | None = None,
    on_cell: Callable[[int, int], None] | None = None,
    position: str | None = None,
    seed_step: int = 0,
) -> list[Iteration]:
    """A1111's prompts from a file or textbox: a txt2img node per line (studio/scale/batch.py), spread over the
    engines, in the lines' order; nothing is recorded if a line fails, and the finished lines if Stop is pressed.
    `seed_step`: each line's seed is the line before's plus this (A1111's "Iterate seed every line"), unless the
    line names its own."""
    base = base.replace(mode=Mode.TXT2IMG)
    recipes = prompt_recipes(base, text, position=position)
    if seed_step:
        start = base.with_concrete_seed(rng).seed
        recipes = [
            recipe.replace(seed=(start + number * seed_step) % (MAX_SEED + 1)) if recipe.seed == base.seed else recipe
            for number, recipe in enumerate(recipes)
        ]
    job = new_job_id("prompts")
    places = [
        JobCell(job, "prompts", f"{number} of {len(recipes)}: {_clipped(recipe.prompt)}", PROMPTS_PER_ROW)
        for number, recipe in enumerate(recipes, start=1)
    ]
    nodes, _ = _run_all(history, services, recipes, places, rng, parent_id, on_cell)
    _report_done(history, services, nodes)
    return nodes


def _run_all(
    history: SessionHistory,
    services: Services,
    recipes: list[Recipe],
    places: list[JobCell],
    rng: random.Random,
    parent_id: str | None,
    on_cell: Callable[[int, int], None] | None,
) -> tuple[list[Iteration], list[list | None]]:
    """Each recipe run (checked first, all of them), then recorded as a node in order, with its place in the job:
    all of them, or those finished before a Stop (GenerationStopped when none had); nothing if a run fails. The
    session's run board counts the cells meanwhile; the caller says when the job is done (`_report_done`)."""
    requests = [
        Request(recipe.with_concrete_seed(rng), Action.GENERATE, parent_id, job=place)
        for recipe, place in zip(recipes, places, strict=True)
    ]
    for request in requests:
        check_request(history, services, request)
    total = len(requests)
    styled = [services.presets.styled(request.recipe) for request in requests]
    runs, folder = services.runs, history.folder

    def cell_done(done: int) -> None:
        runs.stepped(folder, StepProgress(done, total, None))  # a window reloaded meanwhile counts the cells too
        if on_cell is not None:
            on_cell(done, total)

    runs.started(folder, job=places[0].kind)
    owner = RUN_OWNER.set(str(folder))  # Stop pressed for this session stops its cells
    started = time.monotonic()
    try:
        pictures = run_cells(
            services.models.engine,
            styled,
            cell_done,
            stop_asked=lambda: services.models.stop_asked(str(folder), started),
        )
        if all(made is None for made in pictures):
            raise GenerationStopped("stopped before a cell finished")
        finished = [(request, made) for request, made in zip(requests, pictures, strict=True) if made is not None]
        nodes = [record_made(history, services, request, made) for request, made in finished]
    except GenerationStopped:
        runs.finished(folder, failed="Stopped before a cell finished: nothing of it was saved.")
        raise
    except Exception as error:
        runs.finished(folder, failed=str(error))
        raise
    finally:
        RUN_OWNER.reset(owner)
    return nodes, pictures


def _report_done(history: SessionHistory, services: Services, nodes: list[Iteration]) -> None:
    """The job is done, its files written: a window reloaded while it ran shows its nodes."""
    services.runs.finished(history.folder, node_id=nodes[0].id, nodes=tuple(node.id for node in nodes))
