"""Every bad input is refused before work starts, with a message a person understands; the server keeps serving."""

from __future__ import annotations

import json
import struct
import zlib

import httpx
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from tests.fake_engine import FakeEngine
from tests.servers import running_studio

RECIPE = {"prompt": "a fox", "steps": 2, "width": 64, "height": 64, "seed": 1}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_studio(FakeEngine(), tmp_path_factory.mktemp("bad-input-outputs")) as (url, studio):
        yield url, studio


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


@pytest.fixture(scope="module")
def made(client):
    node, _ = client.predict(RECIPE, api_name="/generate")
    return node


def huge_png(path, side: int) -> str:
    """A valid PNG header claiming side x side pixels, with a few bytes of data: tiny on disk, huge decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (side * 3 + 1) * 4)  # only 4 rows: a decoder would fail later, if it ran
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return str(path)


def still_serving(client) -> None:
    node, pictures = client.predict(RECIPE, api_name="/generate")
    assert node["recipe"]["prompt"] == "a fox" and len(pictures) == 1


def raw_error(url: str, endpoint: str, data: str) -> str:
    """The error message for a request written by hand (NaN and Infinity are no JSON: no client library sends them)."""
    posted = httpx.post(
        f"{url}gradio_api/call/{endpoint}", content=f'{{"data": {data}}}', headers={"content-type": "application/json"}
    )
    answer = httpx.get(f"{url}gradio_api/call/{endpoint}/{posted.json()['event_id']}", timeout=60).text
    assert "event: error" in answer, answer
    return json.loads(answer.split("data:", 1)[1].strip().splitlines()[0])["error"]


NOT_FINITE = [
    ("generate", '[{"prompt": "x", "loras": [{"name": "x", "weight": NaN}]}, ""]', "loras.weight: nan is not a finite"),
    ("generate", '[{"prompt": "x", "loras": [{"name": "x", "weight": Infinity}]}, ""]', "loras.weight: inf is not a"),
    ("generate", '[{"prompt": "x", "cfg_scale": NaN}, ""]', "cfg_scale: nan is not a finite number"),
    ("generate", '[{"prompt": "x", "denoising_strength": -Infinity}, ""]', "denoising_strength: -inf is not a finite"),
    ("vary", '["00001", NaN, 2, 0, ""]', "index: nan is not a finite number"),
    ("vary", '["00001", 0, Infinity, 0, ""]', "count: inf is not a finite number"),
    ("vary", '["00001", 0, 2, NaN, ""]', "strength: nan is not a finite number"),
    ("mark", '["00001", NaN, "keep", ""]', "index: nan is not a finite number"),
    # A lone surrogate is valid JSON but no text: no client library can even encode it.
    ("generate", '[{"prompt": "a fox \\ud800"}, ""]', "prompt: holds a character that is not text"),
]


@pytest.mark.parametrize(("endpoint", "data", "message"), NOT_FINITE)
def test_nan_and_infinity_get_a_message(server, endpoint, data, message):
    assert message in raw_error(server[0], endpoint, data)


BAD_RECIPES = [
    ({"loras": [{"name": "x", "weight": 1e308}]}, r"loras.weight: 1e\+308 is out of range"),
    ({"loras": [{"name": "x", "weight": "x"}]}, "loras.weight: expected a number, got 'x'"),
    ({"prompt": "a fox <lora:x:40>"}, r"<lora:x:...> weight: 40.0 is out of range"),
    ({"schema_version": 99}, "schema_version: 99 is not the version this studio writes"),
    ({"mode": "inpaint"}, "mode: this endpoint runs txt2img; leave mode out"),
    ({"prompt": "a fox, " * 30_000}, "prompt: is 210,000 characters long; the most is 10,000"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_RECIPES, ids=[m.split(":")[0] for _, m in BAD_RECIPES])
def test_bad_recipes_are_refused_with_a_message(client, changes, message):
    with pytest.raises(Exception, match=message):
        client.predict({**RECIPE, **changes}, api_name="/generate")


def test_bad_variation_and_picture_numbers_are_refused(client, made):
    session, node = made["session"], made["id"]
    with pytest.raises(Exception, match="strength: -1.0 is not from 0"):
        client.predict(node, 0, 2, -1, session=session, api_name="/vary")
    with pytest.raises(Exception, match="count: 50 variations"):
        client.predict(node, 0, 50, 0.0, session=session, api_name="/vary")
    with pytest.raises(Exception, match="index: node 00001 has no picture 99"):
        client.predict(node, 99, 2, 0.0, session=session, api_name="/vary")
    still_serving(client)


def test_a_parent_picture_that_does_not_exist_is_refused(client, made, tmp_path):
    Image.new("RGB", (64, 64), "teal").save(tmp_path / "picture.png")
    for index in (99, -1):
        with pytest.raises(Exception, match=f"source_index: node 00001 has no picture {index}"):
            client.predict(
                handle_file(str(tmp_path / "picture.png")),
                {**RECIPE, "denoising_strength": 0.5},
                made["id"],
                index,
                session=made["session"],
                api_name="/repaint",
            )
    assert [n["id"] for n in client.predict(session=made["session"], api_name="/history")["nodes"]] == ["00001"]


def test_pictures_too_large_damaged_or_not_pictures_get_a_message(client, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture at all")
    whole = tmp_path / "whole.png"
    Image.new("RGB", (64, 64), "teal").save(whole)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(whole.read_bytes()[:60])
    cases = [
        (
            huge_png(tmp_path / "huge.png", 30_000),
            "image: the picture is over 178 million pixels; the studio takes sides up to 8192",
        ),
        (
            huge_png(tmp_path / "big.png", 12_000),
            "image: the picture is 12000x12000 pixels; the studio takes sides up to 8192",
        ),
        (str(text), "image: is not a picture the studio can read"),
        (str(truncated), "image: the picture is damaged or cut short"),
    ]
    for path, message in cases:
        with pytest.raises(Exception, match=message):
            client.predict(handle_file(path), {**RECIPE, "denoising_strength": 0.5}, "", 0, api_name="/repaint")
    still_serving(client)
