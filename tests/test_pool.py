"""Several engines behind one window (studio/scale/pool.py): two in-process tiny engines take runs in parallel, and a
grid job's cells spread over both, each cell's picture the one its recipe makes alone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

from studio.formats import png_text
from studio.recipe import Recipe
from studio.scale.grid import axis
from studio.scale.pool import EnginePool

QUICK = Recipe(prompt="a knight in red armour", model="tiny", steps=3, width=64, height=64, seed=11)


@pytest.fixture(scope="module")
def pool(model_cache):
    import torch

    from studio.engine.factory import make_engine

    torch.set_num_threads(1)  # as the shared test engine runs (tests/conftest.py): the same sums, the same pixels
    engines = []
    for _ in range(2):
        engine = make_engine(cache_dir=model_cache)
        engine.load("tiny")
        engines.append(engine)
    return EnginePool(engines, ["cpu 1", "cpu 2"])


def test_two_runs_overlap_in_time_each_on_its_own_engine(pool):
    spans: dict[str, list[float]] = {}

    def run(name: str) -> None:
        spans[name] = [time.perf_counter()]
        pool.generate(QUICK.replace(steps=12, prompt=name))
        spans[name].append(time.perf_counter())

    before = [placement.runs for placement in pool.placements()]
    runners = [threading.Thread(target=run, args=(name,)) for name in ("a castle", "a dragon")]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    (start_a, end_a), (start_b, end_b) = spans["a castle"], spans["a dragon"]
    assert start_a < end_b and start_b < end_a  # the two runs were under way at the same time
    after = [placement.runs for placement in pool.placements()]
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1]


def test_a_3x3_grid_spreads_over_both_engines_and_each_cell_is_its_recipe_alone(pool, engine, tmp_path):
    from launch import build_sessions

    session = build_sessions(pool, tmp_path / "outputs", defaults=QUICK).open()
    before = [placement.runs for placement in pool.placements()]
    progress: list[tuple[int, int]] = []
    job = session.grid(
        QUICK, [axis("CFG Scale", "3, 7, 11"), axis("Steps", "2-4")], on_cell=lambda *done: progress.append(done)
    )
    after = [placement.runs for placement in pool.placements()]
    assert all(b > a for a, b in zip(before, after, strict=True)) and sum(after) - sum(before) == 9
    assert sorted(progress) == [(done, 9) for done in range(1, 10)]
    assert [(node.recipe.cfg_scale, node.recipe.steps) for node in job.nodes[:4]] == [(3, 2), (7, 2), (11, 2), (3, 3)]
    for node in job.nodes:
        (alone,) = engine.generate(node.recipe)  # the shared test engine, outside the pool
        assert np.array_equal(np.asarray(session.output_picture(node.id)), np.asarray(alone))
    again = session.replay(job.nodes[4].id)  # each cell is a node like any other
    assert session.output_picture(again.id).tobytes() == session.output_picture(job.nodes[4].id).tobytes()
    board = Image.open(job.picture)
    assert board.width > 3 * 64 and board.height > 3 * 64  # three by three, and the margins with the values
    text = png_text.read_texts(job.picture)[png_text.PARAMETERS_KEY]
    assert "Script: X/Y/Z plot, X Type: CFG Scale, X Values: 3, 7, 11, Y Type: Steps, Y Values: 2-4" in text.replace(
        '"', ""
    )


def test_the_model_panel_says_what_each_engine_holds(pool):
    assert "2 engines, cpu 1: tiny; cpu 2: tiny" in pool.speed


def test_gpus_are_named_once_each_and_must_be_there():
    from launch import engine_devices, parse_args

    assert parse_args(["--gpus", "0,1"]).gpus == [0, 1] and parse_args(["--gpus", "all"]).gpus == "all"
    assert parse_args([]).gpus is None and engine_devices(None, 4) == []
    assert engine_devices("all", 2) == ["cuda:0", "cuda:1"] and engine_devices([1], 2) == ["cuda:1"]
    for wrong in ("0,0", "one", "-1"):
        with pytest.raises(SystemExit):
            parse_args(["--gpus", wrong])
    with pytest.raises(SystemExit, match="has none"):
        engine_devices([0], 0)
    with pytest.raises(SystemExit, match="not \\[2\\]"):
        engine_devices([0, 2], 2)


def test_prompts_from_a_textbox_spread_over_both_engines_in_the_lines_order(pool, engine, tmp_path):
    from launch import build_sessions

    session = build_sessions(pool, tmp_path / "outputs", defaults=QUICK).open()
    before = [placement.runs for placement in pool.placements()]
    nodes = session.prompts(QUICK, 'a castle\na dragon\n--prompt "a ship" --steps 4\na tower')
    after = [placement.runs for placement in pool.placements()]
    assert all(b > a for a, b in zip(before, after, strict=True))
    assert [(node.recipe.prompt, node.recipe.steps) for node in nodes] == [
        ("a castle", 3), ("a dragon", 3), ("a ship", 4), ("a tower", 3),
    ]  # fmt: skip
    (alone,) = engine.generate(nodes[2].recipe)
    assert np.array_equal(np.asarray(session.output_picture(nodes[2].id)), np.asarray(alone))
