"""A damaged or foreign history never locks the artist out, and keeps what the artist did."""

from __future__ import annotations

import json

import pytest

from launch import build_sessions
from studio.history import HISTORY_FILE, MARKS_FILE, HistoryError, Mark, SessionHistory
from studio.recipe import Recipe

RECIPE = Recipe(prompt="a lighthouse", model="tiny", steps=2, width=64, height=64, seed=3)


@pytest.fixture
def made(fake_engine, tmp_path):
    """A session with a root (two pictures, the second kept) and a child, as a crash or an editor may find it."""
    studio = build_sessions(fake_engine, tmp_path / "outputs").open("damaged")
    root = studio.generate(RECIPE.replace(batch_size=2))
    child = studio.vary(root.id, count=1)
    studio.set_mark(root.id, 1, Mark.KEEP)
    studio.set_mark(child.id, 0, Mark.REJECT)
    return studio, root, child


def damaged_forms(history: dict) -> dict[str, object]:
    first = history["nodes"][0]
    return {
        "empty list": [],
        "null": None,
        "a string": "x",
        "a number": 42,
        "marks that do not match the outputs": {
            **history,
            "nodes": [{**first, "marks": ["keep"]}, *history["nodes"][1:]],
        },
        "an integer node id": {**history, "nodes": [{**first, "id": 1}, *history["nodes"][1:]]},
        "a text created": {**history, "nodes": [{**first, "created": "yesterday"}, *history["nodes"][1:]]},
        "nodes that are not a list": {**history, "nodes": {"00001": first}},
        "a path for an output": {**history, "nodes": [{**first, "outputs": ["../../x.png", "y.png"]}]},
    }


FORMS = [
    "empty list",
    "null",
    "a string",
    "a number",
    "marks that do not match the outputs",
    "an integer node id",
    "a text created",
    "nodes that are not a list",
    "a path for an output",
]


@pytest.mark.parametrize("form", FORMS)
def test_a_damaged_history_is_set_aside_and_the_tree_rebuilt_with_its_marks(made, fake_engine, tmp_path, form):
    studio, root, child = made
    folder = studio.history.folder
    history_file = folder / HISTORY_FILE
    damaged = damaged_forms(json.loads(history_file.read_text()))[form]
    history_file.write_text(json.dumps(damaged))

    # As after a restart: every caller can list sessions, see the tree and generate again.
    fresh = build_sessions(fake_engine, tmp_path / "outputs")
    assert [info.id for info in fresh.store.sessions()] == ["damaged"]
    again = fresh.open("damaged")
    assert [node.id for node in again.tree()] == [root.id, child.id]
    assert again.history.get(root.id).marks == (Mark.NONE, Mark.KEEP)
    assert again.history.get(child.id).marks == (Mark.REJECT,)
    assert again.restore(root.id).outputs[1].size == (64, 64)
    assert again.generate(RECIPE, parent_id=child.id).id == "00003"
    aside = list(folder.glob(f"{HISTORY_FILE}.damaged-*"))
    assert len(aside) == 1 and json.loads(aside[0].read_text()) == damaged
    assert "unreadable" in again.history.damage_note


def test_marks_survive_a_rebuild_from_the_pngs_alone(made):
    studio, root, child = made
    (studio.history.folder / HISTORY_FILE).unlink()
    rebuilt = SessionHistory(studio.history.folder)
    assert rebuilt.get(root.id).marks == (Mark.NONE, Mark.KEEP) and rebuilt.get(child.id).marks == (Mark.REJECT,)


def test_a_damaged_marks_file_is_set_aside_and_the_history_keeps_its_marks(made):
    studio, root, _ = made
    (studio.history.folder / MARKS_FILE).write_text("{not json")
    reopened = SessionHistory(studio.history.folder)
    assert reopened.get(root.id).marks == (Mark.NONE, Mark.KEEP)
    assert list(studio.history.folder.glob(f"{MARKS_FILE}.damaged-*"))


def test_a_batch_cut_short_by_a_crash_lists_the_pictures_that_exist(made, fake_engine, tmp_path):
    studio, root, child = made
    folder = studio.history.folder
    # The crash: the second picture of the batch was never written, nor the history.
    (folder / root.outputs[1]).unlink()
    (folder / HISTORY_FILE).unlink()
    fresh = build_sessions(fake_engine, tmp_path / "outputs").open("damaged")
    node = fresh.history.get(root.id)
    assert node.outputs == (root.outputs[0],) and node.seeds == (root.seeds[0],)
    restored = fresh.restore(root.id)
    assert len(restored.outputs) == 1 and restored.outputs[0].size == (64, 64)
    assert fresh.vary(root.id, index=0, count=1).parent_id == root.id


def test_a_session_from_a_newer_studio_is_read_only_and_breaks_no_other(made, fake_engine, tmp_path):
    studio, root, _ = made
    history_file = studio.history.folder / HISTORY_FILE
    future = {"schema_version": 99, "nodes": [{"something": "new"}]}
    history_file.write_text(json.dumps(future))
    build_sessions(fake_engine, tmp_path / "outputs").open("other").generate(RECIPE)

    fresh = build_sessions(fake_engine, tmp_path / "outputs")
    infos = {info.id: info for info in fresh.store.sessions()}
    assert set(infos) == {"damaged", "other"}
    assert "newer" in infos["damaged"].read_only and infos["other"].read_only is None
    newer = fresh.open("damaged")
    with pytest.raises(HistoryError, match="read-only"):
        newer.generate(RECIPE)
    with pytest.raises(HistoryError, match="read-only"):
        newer.history.set_mark(root.id, 0, Mark.KEEP)
    assert json.loads(history_file.read_text()) == future  # never rewritten
    assert fresh.open("other").generate(RECIPE).id == "00002"
