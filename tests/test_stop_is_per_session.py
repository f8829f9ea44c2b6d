"""Stop stops the run of the session it was pressed for: never another artist's run in a shared studio, and a run
still waiting for the engine is taken out of the line (studio.progress.RUN_OWNER, the lane, the pool)."""

from __future__ import annotations

import threading

import pytest

from studio.errors import GenerationStopped
from studio.progress import RUN_OWNER
from studio.recipe import Recipe

LONG = Recipe(prompt="a lighthouse at dusk", model="tiny", steps=30, width=64, height=64, seed=3)


def run_as(owner: str, engine, outcome: dict, **options) -> threading.Thread:
    def run() -> None:
        RUN_OWNER.set(owner)
        try:
            outcome[owner] = len(engine.generate(LONG, **options))
        except GenerationStopped:
            outcome[owner] = "stopped"

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_stop_for_one_session_leaves_anothers_run_alone_and_stops_its_own(engine):
    started, release, outcome = threading.Event(), threading.Event(), {}

    def hold_the_lane(progress) -> None:  # session-a's run stays under way until the test has seen b wait
        started.set()
        release.wait(60)

    first = run_as("session-a", engine, outcome, on_step=hold_the_lane)
    assert started.wait(60)
    engine.request_stop("session-b")  # pressed in another browser, which has no run
    waiting = run_as("session-b", engine, outcome)  # ...and now it does: waiting behind session-a's
    for _ in range(600):
        if "session-b" in engine.waiting:
            break
        threading.Event().wait(0.05)
    assert engine.runs_ahead("session-b") == 1  # session-a's, under way
    assert engine.runs_ahead("session-a") is None  # running, not waiting
    engine.request_stop("session-b")
    waiting.join(60)
    release.set()
    first.join(120)
    assert outcome == {"session-a": 1, "session-b": "stopped"}  # b's never started; a's ran to its end

    stepped, outcome = threading.Event(), {}
    second = run_as("session-a", engine, outcome, on_step=lambda progress: stepped.set())
    assert stepped.wait(60)
    engine.request_stop("session-a")
    second.join(60)
    assert outcome == {"session-a": "stopped"}


def test_a_pool_stops_the_sessions_run_on_its_engine_and_no_other(model_cache):
    import torch

    from studio.engine.factory import make_engine
    from studio.scale.pool import EnginePool

    torch.set_num_threads(1)
    engines = [make_engine(cache_dir=model_cache) for _ in range(2)]
    for each in engines:
        each.load("tiny")
    pool = EnginePool(engines)
    both, outcome = threading.Barrier(3), {}

    def step_once_then_wait(progress) -> None:
        if progress.step == 1:
            both.wait(60)

    runs = [run_as(owner, pool, outcome, on_step=step_once_then_wait) for owner in ("session-a", "session-b")]
    both.wait(60)  # both runs under way, one on each engine
    pool.request_stop("session-b")
    for run in runs:
        run.join(120)
    assert outcome == {"session-a": 1, "session-b": "stopped"}


def test_a_pool_counts_the_runs_before_a_waiting_one_those_under_way_and_those_in_line():
    from studio.scale.pool import EnginePool
    from tests.fake_engine import GatedEngine

    engines = [GatedEngine(), GatedEngine()]
    pool, outcome = EnginePool(engines), {}
    runs = [run_as(owner, pool, outcome) for owner in ("session-a", "session-b")]
    for engine in engines:  # both engines busy, each with one session's run
        assert engine.waiting.wait(timeout=30)
    line = []
    for owner in ("session-c", "session-d"):
        line.append(run_as(owner, pool, outcome))
        for _ in range(600):
            if pool.runs_ahead(owner) is not None:
                break
            threading.Event().wait(0.01)
    try:
        assert pool.runs_ahead("session-c") == 2  # the two under way
        assert pool.runs_ahead("session-d") == 3  # ...and session-c's, first in line
        assert pool.runs_ahead("session-a") is None  # under way: it waits for nothing
    finally:
        for engine in engines:
            for _ in range(4):
                engine.gate.release()
        for run in (*runs, *line):
            run.join(60)
    assert outcome == {"session-a": 1, "session-b": 1, "session-c": 1, "session-d": 1}


@pytest.mark.parametrize("owner", [None])
def test_a_stop_for_no_one_stops_whatever_runs_as_before(engine, owner):
    outcome: dict = {}

    def stop_at_first(progress) -> None:
        engine.request_stop(owner)

    thread = run_as("session-a", engine, outcome, on_step=stop_at_first)
    thread.join(60)
    assert outcome == {"session-a": "stopped"}


def test_stop_during_a_grid_keeps_the_finished_cells_and_runs_no_more(engine, tmp_path):
    from launch import build_sessions
    from studio.scale.grid import axis

    sessions = build_sessions(engine, tmp_path / "outputs", defaults=LONG)
    session = sessions.open("my-session")

    def press_stop_after_two(done: int, total: int) -> None:
        if done == 2:  # between two cells: nothing holds the engine at this moment
            sessions.services.models.stop(str(session.history.folder))

    job = session.grid(LONG.replace(steps=2), [axis("CFG Scale", "3, 5, 7, 9")], on_cell=press_stop_after_two)
    assert (len(job.nodes), job.cells, job.picture) == (2, 4, None)  # the finished cells, and no grid picture
    assert [node.recipe.cfg_scale for node in session.history.nodes()] == [3, 5]
    again = session.grid(LONG.replace(steps=2), [axis("CFG Scale", "3, 5")])  # a Stop pressed before is no stop now
    assert again.picture is not None and len(again.nodes) == 2
