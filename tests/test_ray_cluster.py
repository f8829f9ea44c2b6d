"""Engines on a Ray cluster (studio/scale/ray_engines.py), on a local cluster this test starts: the tiny engine in
two CPU actors behind one pool. Two sessions' runs overlap in time, their steps coming back as they run; pictures
and files land on the serving side;
a worker killed mid-run: the run is tried again on the other, or ends with a clear message, nothing half-made."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from studio.errors import WorkerLost
from studio.recipe import Recipe
from studio.scale.pool import EnginePool

ray = pytest.importorskip("ray")

QUICK = Recipe(prompt="a knight in red armour", model="tiny", steps=3, width=64, height=64, seed=9)


@pytest.fixture(scope="module")
def cluster(model_cache):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield {"cache_dir": model_cache, "threads": 1}
    ray.shutdown()


def engines(options: dict, count: int = 2) -> list:
    from studio.scale.ray_engines import ray_engines

    made = ray_engines(count, options, gpus_each=0, cpus_each=1)
    for engine in made:
        engine.load("tiny")
    return made


def test_two_sessions_runs_overlap_on_two_workers_and_land_here(cluster, engine, tmp_path):
    from launch import build_sessions

    pool = EnginePool(engines(cluster))
    sessions = build_sessions(pool, tmp_path / "outputs", defaults=QUICK)
    spans, nodes = {}, {}

    steps: dict[str, list] = {"castle": [], "dragon": []}

    def run(name: str) -> None:
        session = sessions.open(name)
        spans[name] = [time.perf_counter()]
        nodes[name] = (
            session,
            session.generate(QUICK.replace(steps=24, prompt=f"a {name}"), on_step=steps[name].append),
        )
        spans[name].append(time.perf_counter())

    runners = [threading.Thread(target=run, args=(name,)) for name in ("castle", "dragon")]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    (start_a, end_a), (start_b, end_b) = spans["castle"], spans["dragon"]
    assert start_a < end_b and start_b < end_a
    for made in steps.values():  # each run's steps came back from its worker while it ran, in order
        assert made and all(progress.total == 24 for progress in made)
        assert [progress.step for progress in made] == sorted({progress.step for progress in made})
    for session, node in nodes.values():
        path = session.path(node.outputs[0])
        assert path.is_relative_to(tmp_path / "outputs") and path.is_file()  # written where the window is served
        (alone,) = engine.generate(node.recipe)  # the same recipe on the engine in this process
        assert np.array_equal(np.asarray(session.output_picture(node.id)), np.asarray(alone))
    for each in pool.engines:
        ray.kill(each._actor)


def test_a_worker_killed_mid_run_is_replaced_by_the_other_and_then_said_when_none_is_left(cluster, tmp_path):
    from launch import build_sessions

    first, second = engines(cluster)
    pool = EnginePool([first, second])
    session = build_sessions(pool, tmp_path / "outputs", defaults=QUICK).open()
    done = {}

    def run() -> None:
        done["node"] = session.generate(QUICK.replace(steps=60))

    runner = threading.Thread(target=run)
    runner.start()
    for _ in range(200):  # the run has reached a worker
        if any(place.busy for place in pool.placements()):
            break
        time.sleep(0.05)
    busy = next(engine for engine, place in zip(pool.engines, pool.placements(), strict=True) if place.busy)
    ray.kill(busy._actor)  # the worker's process dies mid-run
    runner.join(180)
    assert done["node"].id == "00001" and len(pool.engines) == 1  # tried again on the other one, and kept
    assert [node.id for node in session.history.nodes()] == ["00001"]  # once: nothing of the lost run

    ray.kill(pool.engines[0]._actor)  # the last one dies too
    with pytest.raises(WorkerLost, match="stopped answering"):
        session.generate(QUICK)
    assert [node.id for node in session.history.nodes()] == ["00001"]  # nothing half-made recorded
