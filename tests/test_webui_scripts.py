"""A1111's X/Y/Z plot and prompts from a textbox over its API, sent by the real `webuiapi` client: script_args read as
A1111's scripts read them, the cells made as the window's grid makes them (a node each, grouped), `progress`
counting the cells, `interrupt` stopping the job with the finished cells kept (fake engine: wiring and shapes)."""

from __future__ import annotations

import random
import threading

import httpx
import pytest
import webuiapi

from studio.errors import InputError
from studio.webui import scripts
from studio.webui.fields import Img2ImgRequest, Txt2ImgRequest
from studio.webui.routes import API_SESSION
from tests.fake_engine import GatedEngine
from tests.servers import running_studio, wait_for_progress

FAST = {"steps": 2, "width": 64, "height": 64}
CFG, STEPS, NOTHING, SAMPLER = (
    scripts.TXT2IMG_AXIS_OPTIONS.index(name) for name in ("CFG Scale", "Steps", "Nothing", "Sampler")
)
# A1111 1.10's X/Y/Z args after the axes: draw_legend, include_lone_images, include_sub_grids, no_fixed_seeds,
# margin_size, csv_mode, raw_mode.
FLAGS = [True, True, False, False, 0, False, False]


@pytest.fixture
def server(fake_engine, tmp_path):
    with running_studio(fake_engine, tmp_path / "outputs", api=True) as (url, studio):
        yield url, studio


def client(url: str) -> webuiapi.WebUIApi:
    host, port = url.split("//")[1].rstrip("/").split(":")
    return webuiapi.WebUIApi(host=host, port=int(port), sampler="Euler a")


def test_an_xyz_plot_answers_the_grid_then_each_cell_and_each_cell_is_a_node_of_one_job(server):
    url, studio = server
    result = client(url).txt2img(
        prompt="a lighthouse", seed=40, **FAST, script_name="X/Y/Z Plot",
        script_args=[CFG, "3, 7", [], STEPS, "2-3", [], NOTHING, "", [], *FLAGS],
    )  # fmt: skip
    assert len(result.images) == 5  # the grid, then the four cells (include_lone_images)
    assert result.images[0].width > 2 * 64 and result.images[1].size == (64, 64)
    assert 'Script: X/Y/Z plot, X Type: CFG Scale, X Values: "3, 7", Y Type: Steps' in result.info["infotexts"][0]

    nodes = [studio.open(API_SESSION).history.get(node) for node in result.info["studio_nodes"]]
    assert [(node.recipe.cfg_scale, node.recipe.steps, node.recipe.seed) for node in nodes] == [
        (3, 2, 40), (7, 2, 40), (3, 3, 40), (7, 3, 40),
    ]  # fmt: skip
    assert len({node.job.job for node in nodes}) == 1 and nodes[3].job.label == "CFG Scale: 7 · Steps: 3"

    # Without include_lone_images the answer is the grid alone; the cells are in the history all the same.
    alone = client(url).txt2img(
        prompt="a lighthouse", seed=40, **FAST, script_name="x/y/z plot",
        script_args=[SAMPLER, "", ["Euler a", "DPM++ 2M"], NOTHING, "", [], NOTHING, "", [], True, False],
    )  # fmt: skip
    assert len(alone.images) == 1 and alone.images[0].size[0] == 2 * 64 and alone.images[0].size[1] > 64
    cells = [studio.open(API_SESSION).history.get(node) for node in alone.info["studio_nodes"]]
    assert [node.recipe.sampler for node in cells] == ["Euler a", "DPM++ 2M"]


def test_webuiapi_s_older_args_and_labels_are_read_too(server):
    url, studio = server
    # x_type, x_values, y_type, y_values, z_type, z_values, draw_legend, include_lone_images, ... as its README shows.
    result = client(url).txt2img(
        prompt="a lighthouse", seed=3, **FAST, script_name="X/Y/Z Plot",
        script_args=["Seed", "1, 2, 3", NOTHING, "", NOTHING, "", "True", "True", "False", "False", 0],
    )  # fmt: skip
    assert len(result.images) == 4
    assert [node.recipe.seed for node in studio.open(API_SESSION).tree()[-3:]] == [1, 2, 3]


def test_prompts_from_a_textbox_make_a_node_per_line_with_a1111_s_seeds(server):
    url, studio = server
    api = client(url)
    result = api.txt2img(
        prompt="oil painting", seed=10, batch_size=2, **FAST, script_name="Prompts from file or textbox",
        script_args=[True, False, "start", 'a castle\n--prompt "a ship" --steps 3\n'],
    )  # fmt: skip
    assert len(result.images) == 4
    nodes = studio.open(API_SESSION).tree()[-2:]
    assert [(node.recipe.prompt, node.recipe.steps, node.seeds) for node in nodes] == [
        ("a castle oil painting", 2, (10, 11)), ("a ship oil painting", 3, (12, 13)),
    ]  # fmt: skip
    assert nodes[0].job.kind == "prompts" and nodes[0].job.job == nodes[1].job.job
    replaced = api.txt2img(prompt="ignored", seed=10, **FAST, script_name="prompts from file or textbox",
                           script_args=[False, False, "a tower\na bridge"])  # fmt: skip
    assert [node.recipe.prompt for node in studio.open(API_SESSION).tree()[-2:]] == ["a tower", "a bridge"]
    assert len(replaced.images) == 2
    listed = httpx.get(f"{url}sdapi/v1/scripts").json()
    assert {"x/y/z plot", "prompts from file or textbox"} <= set(listed["txt2img"])


def test_progress_counts_the_cells_and_interrupt_keeps_the_finished_ones(tmp_path):
    engine = GatedEngine()
    with running_studio(engine, tmp_path / "outputs", api=True) as (url, studio):
        api, answer = client(url), {}

        def run() -> None:
            answer["result"] = api.txt2img(
                prompt="a lighthouse", seed=5, **FAST, script_name="X/Y/Z Plot",
                script_args=[CFG, "3, 5, 7, 9", [], NOTHING, "", [], NOTHING, "", [], *FLAGS],
            )  # fmt: skip

        worker = threading.Thread(target=run)
        worker.start()
        assert engine.waiting.wait(timeout=30)
        engine.gate.release()  # one cell through
        state = wait_for_progress(api, lambda p: p["state"]["job_no"] == 1)["state"]
        assert state["job_count"] == 4 and state["job"] == "2 out of 4"
        api.interrupt()  # the second cell is at the gate: it ends (the fake sees no stop before it steps), no later one starts
        engine.gate.release()
        worker.join(timeout=30)
        result = answer["result"]
        assert len(result.images) == 2  # the finished cells; a grid cut short has no grid picture
        assert [node.recipe.cfg_scale for node in studio.open(API_SESSION).tree()] == [3, 5]
        assert [recipe.cfg_scale for recipe in engine.runs] == [3, 5]
        assert api.get_progress()["state"]["job_count"] == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"script_name": "Prompt matrix"}, "the studio has no script 'Prompt matrix'"),
        (
            {"script_name": "X/Y/Z Plot", "script_args": [13, "1, 2", [], 0, "", [], 0, "", []]},
            "cannot vary 'Sigma Churn'",
        ),
        ({"script_name": "X/Y/Z Plot", "script_args": [0, "", [], 0, "", [], 0, "", []]}, "every axis"),
        (
            {"script_name": "X/Y/Z Plot", "script_args": [6, "3, lots", [], 0, "", [], 0, "", []]},
            "'lots' is not a number",
        ),
        ({"script_name": "X/Y/Z Plot", "script_args": [6]}, "x_type, x_values"),
        ({"script_name": "X/Y/Z Plot", "script_args": [6, "3", [], 0, "", [], 0, "", []], "n_iter": 2}, "batch_size"),
        ({"script_name": "Prompts from file or textbox", "script_args": [False, False, "middle", "x"]}, "start or end"),
    ],
)
def test_what_a_script_cannot_run_is_refused_by_name_and_nothing_is_made(server, body, words):
    url, studio = server
    response = httpx.post(f"{url}sdapi/v1/txt2img", json={"prompt": "x", **FAST, **body}, timeout=30)
    assert response.status_code == 422 and words in response.json()["detail"]
    assert studio.open(API_SESSION).tree() == []


def test_a_script_over_img2img_is_refused_with_where_to_send_it():
    request = Img2ImgRequest(init_images=[], script_name="X/Y/Z Plot", script_args=[6, "3", [], 0, "", [], 0, "", []])
    with pytest.raises(InputError, match="send it to /sdapi/v1/txt2img"):
        scripts.read_script(request, img2img=True, rng=random.Random(0))
    plain = Txt2ImgRequest(prompt="x")
    assert scripts.read_script(plain, img2img=False, rng=random.Random(0)) is None
