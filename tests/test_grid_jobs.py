"""A grid's or a prompt batch's cells are one group in the version tree: each node knows its job and its values,
across a restart, and the tree draws the group in one frame with the grid picture's link (fake engine: wiring)."""

from __future__ import annotations

import json
import re

import pytest

from studio.errors import InputError
from studio.history import Iteration, JobCell
from studio.recipe import Recipe
from studio.scale.grid import axis
from studio.services.picture_info import read_picture_info
from studio.ui.present.history import what_happened
from studio.ui.present.picture import picture_info_text
from studio.ui.present.tree_view import CARD_WIDTH, layout, tree_html

QUICK = Recipe(prompt="a knight in red armour", model="tiny", steps=3, width=64, height=64, seed=11)


def _studio(fake_engine, outputs):
    from launch import build_sessions

    return build_sessions(fake_engine, outputs, defaults=QUICK)


def test_a_grids_cells_share_one_job_with_their_values_and_keep_it_after_a_restart(fake_engine, tmp_path):
    session = _studio(fake_engine, tmp_path / "outputs").open("grid")
    root = session.generate(QUICK)
    job = session.grid(QUICK, [axis("CFG Scale", "3, 7"), axis("Steps", "2-3")], parent_id=root.id)
    assert {node.job.job for node in job.nodes} == {job.job} and job.job.startswith("grid-")
    assert [node.job.label for node in job.nodes] == [
        "CFG Scale: 3 · Steps: 2", "CFG Scale: 7 · Steps: 2", "CFG Scale: 3 · Steps: 3", "CFG Scale: 7 · Steps: 3",
    ]  # fmt: skip
    assert job.picture == session.grid_picture(job.job) and job.picture.name == f"{job.job}.png"

    again = _studio(fake_engine, tmp_path / "outputs").open("grid")
    assert [node.job for node in again.tree() if node.job] == [node.job for node in job.nodes]
    assert again.tree()[0].job is None  # the plain generation before it is in no job
    document = json.loads((again.history.folder / "history.json").read_text())
    assert document["schema_version"] == 5 and document["nodes"][1]["job"]["cell"] == "CFG Scale: 3 · Steps: 2"


def test_a_prompt_batch_is_a_job_without_a_grid_picture(fake_engine, tmp_path):
    session = _studio(fake_engine, tmp_path / "outputs").open()
    nodes = session.prompts(QUICK, "a castle\n\na dragon\na tower")
    assert [node.job.label for node in nodes] == ["1 of 3: a castle", "2 of 3: a dragon", "3 of 3: a tower"]
    assert what_happened(nodes[1]) == "prompt 2 of 3: a dragon"  # in Results' captions, Picture info, the status
    assert len({node.job.job for node in nodes}) == 1 and nodes[0].job.kind == "prompts"
    assert session.grid_picture(nodes[0].job.job) is None


def test_the_tree_frames_a_jobs_cards_and_names_each_cell_by_its_values(fake_engine, tmp_path):
    session = _studio(fake_engine, tmp_path / "outputs").open()
    root = session.generate(QUICK)
    job = session.grid(QUICK, [axis("CFG Scale", "3, 7, 11")], parent_id=root.id)
    after = session.generate(QUICK.replace(prompt="a dragon"), parent_id=root.id)  # a sibling made later
    html = tree_html(session.tree(), session.history.path, grid_picture=session.grid_picture)

    (frame,) = re.findall(
        r"<div class='job' data-job='([^']+)' style='left:([\d.]+)px;top:([\d.]+)px;width:([\d.]+)px", html
    )
    assert frame[0] == job.job
    places = layout(session.tree())
    left, width = float(frame[1]), float(frame[3])
    for node in job.nodes:  # every cell's card inside the frame, the later sibling's outside it
        assert left < places[node.id].left and places[node.id].left + CARD_WIDTH < left + width
    assert not left < places[after.id].left < left + width
    assert float(frame[2]) < places[job.nodes[0].id].top  # the frame's title band is above the cards
    assert "grid · 3 cells" in html and f"{job.job}.png" in html  # the grid picture, a click away
    assert f"{job.nodes[1].id} · grid cell" in html and "class='cell-label' title='CFG Scale: 7'>CFG Scale: 7<" in html
    # One edge to the frame, named for the job, and the later sibling's own; none to each cell.
    assert html.count("class='edge-label'") == 2 and f"data-to='{job.job}'" in html
    assert all(f"data-to='{node.id}'" not in html for node in job.nodes)


def test_a_grid_lies_in_the_tree_as_in_its_picture_until_a_cell_is_branched_from(fake_engine, tmp_path):
    session = _studio(fake_engine, tmp_path / "outputs").open()
    root = session.generate(QUICK)
    job = session.grid(QUICK, [axis("CFG Scale", "3, 7, 11"), axis("Steps", "2, 3")], parent_id=root.id)
    places = layout(session.tree())
    spots = [(places[node.id].column, places[node.id].row) for node in job.nodes]
    first = spots[0]
    assert [(column - first[0], row - first[1]) for column, row in spots] == [
        (0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1),
    ]  # fmt: skip
    assert places[root.id].column == first[0] + 1 and first[1] == places[root.id].row + 1  # centred over the grid

    branch = session.generate(QUICK, parent_id=job.nodes[4].id)  # from a cell: the grid lies in a row, over branches
    places = layout(session.tree())
    assert len({places[node.id].row for node in job.nodes}) == 1
    assert places[branch.id].column == places[job.nodes[4].id].column


def test_picture_info_says_which_grid_cell_a_picture_is(fake_engine, tmp_path):
    session = _studio(fake_engine, tmp_path / "outputs").open()
    job = session.grid(QUICK, [axis("Seed", "1, 2")])
    info = read_picture_info(session.history.path(job.nodes[1].outputs[0]))
    assert f"A cell of grid `{job.job}`: Seed: 2." in picture_info_text(info)
    assert f"Node **{job.nodes[1].id}** of session `{session.history.id}` (grid cell Seed: 2)" in picture_info_text(
        info
    )


@pytest.mark.parametrize(
    ("job", "words"),
    [
        ({"id": "../../etc", "kind": "grid", "cell": "", "columns": 0}, "not a grid or prompts job's id"),
        ({"id": "grid-1", "kind": "prompts", "cell": "", "columns": 0}, "kind"),
        ({"id": "grid-1", "kind": "grid", "cell": ""}, "mapping of id, kind, cell and columns"),
        ({"id": "grid-1", "kind": "grid", "cell": 7, "columns": 2}, "label is a text"),
        ({"id": "grid-1", "kind": "grid", "cell": "", "columns": -1}, "not a count"),
    ],
)
def test_a_damaged_job_is_refused_when_the_history_is_read(job, words):
    node = {"id": "00001", "parent_id": None, "recipe": QUICK.to_dict(), "action": "generate", "outputs": ["00001-0.png"],
            "seeds": [11], "job": job}  # fmt: skip
    with pytest.raises(InputError, match=words):
        Iteration.from_dict(node)
    cell = JobCell("grid-1", "grid", "Seed: 1", 3)
    assert cell.to_dict() == {"id": "grid-1", "kind": "grid", "cell": "Seed: 1", "columns": 3}
