"""The studio's API through gradio_client against a launched server on the tiny model."""

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageFilter

from tests.servers import running_studio

SIZE = 128


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory):
    with running_studio(engine, tmp_path_factory.mktemp("api-outputs")) as (url, studio):
        yield url, studio


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


def picture_file(path, pictures, index=0):
    return pictures[index]["image"]


def test_endpoints_are_named_and_ui_events_are_not_exposed(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    named = {"/generate", "/repaint", "/inpaint", "/vary", "/grid", "/replay", "/history", "/restore", "/mark", "/stop"}
    assert named <= endpoints
    assert len(endpoints) == 10


def test_the_whole_loop_through_the_api(client, tmp_path):
    node, pictures = client.predict({"prompt": "a lighthouse", "seed": 7, "batch_size": 2}, api_name="/generate")
    assert node["parent_id"] is None and node["seeds"] == [7, 8] and len(pictures) == 2
    root, session = node["id"], node["session"]
    first = Image.open(pictures[0]["image"]).convert("RGB")
    assert first.size == (SIZE, SIZE)

    mask = Image.new("L", first.size, 0)
    mask.paste(255, (32, 32, 96, 96))
    first.save(tmp_path / "picture.png")
    mask.save(tmp_path / "mask.png")
    inpainted, inpainted_pictures = client.predict(
        handle_file(str(tmp_path / "picture.png")),
        handle_file(str(tmp_path / "mask.png")),
        {"prompt": "a red door", "mask_blur": 4},
        root,
        1,
        session=session,
        api_name="/inpaint",
    )
    assert (
        inpainted["parent_id"] == root and inpainted["source_index"] == 1 and inpainted["recipe"]["mode"] == "inpaint"
    )
    result = np.asarray(Image.open(inpainted_pictures[0]["image"]).convert("RGB"))
    outside = np.asarray(mask.filter(ImageFilter.GaussianBlur(4))) == 0
    assert np.array_equal(result[outside], np.asarray(first)[outside])
    assert not np.array_equal(result[~outside], np.asarray(first)[~outside])

    repainted, _ = client.predict(
        handle_file(str(tmp_path / "picture.png")),
        {"denoising_strength": 0.5},
        root,
        0,
        session=session,
        api_name="/repaint",
    )
    assert repainted["parent_id"] == root and repainted["recipe"]["mode"] == "img2img"

    varied, varied_pictures = client.predict(inpainted["id"], 0, 3, 0.0, session=session, api_name="/vary")
    assert varied["parent_id"] == inpainted["id"] and len(varied_pictures) == 3

    history = client.predict(session=session, api_name="/history")
    parents = {n["id"]: n["parent_id"] for n in history["nodes"]}
    assert parents == {root: None, inpainted["id"]: root, repainted["id"]: root, varied["id"]: inpainted["id"]}
    assert [n["id"] for n in history["nodes"]] == [root, inpainted["id"], varied["id"], repainted["id"]]  # tree order

    restored, restored_pictures = client.predict(inpainted["id"], session=session, api_name="/restore")
    assert restored["recipe"] == inpainted["recipe"] and restored["inputs"] == inpainted["inputs"]
    assert np.array_equal(np.asarray(Image.open(restored_pictures[0]["image"]).convert("RGB")), result)

    marked = client.predict(root, 1, "keep", session=session, api_name="/mark")
    assert marked["marks"] == ["", "keep"]


def test_an_error_comes_back_as_a_message_and_the_server_keeps_serving(client):
    with pytest.raises(Exception, match=r"width: 100 is not a multiple of 8"):
        client.predict({"prompt": "x", "width": 100}, api_name="/generate")
    with pytest.raises(Exception, match=r"no node '99999'"):
        client.predict("99999", 0, 2, 0.0, api_name="/vary")
    with pytest.raises(Exception, match=r"colour: is not a recipe field"):
        client.predict({"colour": "red"}, api_name="/generate")
    node, _ = client.predict({"prompt": "still here", "seed": 1}, api_name="/generate")
    assert node["recipe"]["prompt"] == "still here"


def test_the_same_recipe_gives_the_same_pixels_through_the_api(client):
    _, first = client.predict({"prompt": "same", "seed": 11}, api_name="/generate")
    _, second = client.predict({"prompt": "same", "seed": 11}, api_name="/generate")
    assert Image.open(first[0]["image"]).tobytes() == Image.open(second[0]["image"]).tobytes()


def test_two_users_at_once_get_exactly_their_own_pictures(client, server):
    # Two clients (two people on a share link) submit at the same moment: the runs take turns on
    # the one lane, and each result equals the same recipe run alone.
    other = Client(server[0], verbose=False)
    jobs = [
        client.submit({"prompt": "first artist", "seed": 21, "steps": 6}, api_name="/generate"),
        other.submit({"prompt": "second artist", "seed": 22, "steps": 6, "sampler": "DPM++ 2M"}, api_name="/generate"),
    ]
    together = [job.result() for job in jobs]
    alone = [
        client.predict({"prompt": "first artist", "seed": 21, "steps": 6}, api_name="/generate"),
        client.predict(
            {"prompt": "second artist", "seed": 22, "steps": 6, "sampler": "DPM++ 2M"}, api_name="/generate"
        ),
    ]
    for (_, shared), (_, solo) in zip(together, alone, strict=True):
        assert Image.open(shared[0]["image"]).tobytes() == Image.open(solo[0]["image"]).tobytes()


def test_replay_a_node_made_under_control_gives_the_same_pixels(client, server):
    from studio.control.pose import PRESETS, render
    from studio.recipe import ControlRef, Recipe

    studio = server[1].open()
    recipe = Recipe(prompt="a dancer", model="tiny", steps=3, width=SIZE, height=SIZE, seed=5)
    recipe = recipe.replace(controls=(ControlRef("openpose", "tiny", "control-0", 0.9),))
    made = studio.generate(recipe, control_images={"control-0": render(PRESETS["walking"], (SIZE, SIZE))})
    node, pictures = client.predict(made.id, session=studio.history.id, api_name="/replay")
    assert node["parent_id"] == made.id and node["inputs"] == made.inputs
    original = Image.open(studio.output_path(made.id)).convert("RGB")
    assert Image.open(pictures[0]["image"]).convert("RGB").tobytes() == original.tobytes()


def test_a_call_with_too_few_values_is_told_which_it_lacks(server):
    """A raw call (no client to fill the values in) used to be answered `{"error": null}`."""
    url = server[0]
    queued = httpx.post(f"{url}gradio_api/call/vary", json={"data": ["00001"]}, timeout=30)
    answer = httpx.get(f"{url}gradio_api/call/vary/{queued.json()['event_id']}", timeout=30).text
    assert "event: error" in answer
    assert "/vary takes 5 values (node_id, index, count, strength, session) and was sent 1" in answer


def test_a_grid_through_the_api_gives_a_node_per_cell_and_the_grid_picture(client):
    nodes, pictures = client.predict(
        {"prompt": "a lighthouse", "seed": 7},
        [{"setting": "CFG Scale", "values": "3, 7"}, {"setting": "Steps", "values": "2-3"}],
        "",
        api_name="/grid",
    )
    assert [(node["recipe"]["cfg_scale"], node["recipe"]["steps"]) for node in nodes["nodes"]] == [
        (3, 2), (7, 2), (3, 3), (7, 3),
    ]  # fmt: skip
    assert len(pictures) == 5 and pictures[0]["caption"] == "grid"
    with pytest.raises(Exception, match="not a number"):
        client.predict({"prompt": "a lighthouse"}, [{"setting": "Steps", "values": "two"}], "", api_name="/grid")
