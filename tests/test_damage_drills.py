"""One unreadable file costs only itself (issue 25, items 14 and 16): a session with a damaged history.json or a
stray, broken PNG still lists, restores and generates; a node whose picture was replaced by garbage or a huge header
is restored with that file named. Through the gradio API and in the window."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest
from gradio_client import Client
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from playwright.sync_api import expect

from launch import build_sessions
from studio.formats.png_text import STUDIO_KEY
from studio.history import HISTORY_FILE
from tests.browser_kit import open_studio, open_tab, shoot, wait_for_saved
from tests.servers import TEST_DEFAULTS, running_studio

SESSION = "damaged"  # the window test's session; the API test has one session per damaged form


def with_huge_header(path: Path, side: int = 20000) -> None:
    """`path` rewritten so that its PNG header claims side x side pixels (its CRC kept valid)."""
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", side, side)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


def stray_png(path: Path, chunk: str | None) -> None:
    info = PngInfo()
    if chunk is not None:
        info.add_text(STUDIO_KEY, chunk)
    Image.new("RGB", (8, 8), "white").save(path, pnginfo=info)


def damage(folder: Path, form: str) -> None:
    if form == "history.json is a folder":
        (folder / HISTORY_FILE).unlink()
        (folder / HISTORY_FILE).mkdir()
    elif form == "a stray PNG whose chunk is a number":
        stray_png(folder / "00009-0.png", "42")
    elif form == "a stray PNG with deeply nested JSON":
        stray_png(folder / "00009-0.png", "[" * 100_000 + "]" * 100_000)
    elif form == "a stray PNG whose header claims 20000x20000":
        stray_png(folder / "00009-0.png", None)
        with_huge_header(folder / "00009-0.png")
    elif form == "a node's PNG replaced by garbage":
        (folder / "00001-0.png").write_bytes(b"not a picture at all" * 8)
    elif form == "a node's PNG with a bomb header":
        with_huge_header(folder / "00001-0.png")
    else:
        raise AssertionError(form)


SESSION_FORMS = [
    "history.json is a folder",
    "a stray PNG whose chunk is a number",
    "a stray PNG with deeply nested JSON",
    "a stray PNG whose header claims 20000x20000",
]
PICTURE_FORMS = ["a node's PNG replaced by garbage", "a node's PNG with a bomb header"]


def made_session(fake_engine, outputs: Path, session: str = SESSION) -> Path:
    """A session of two nodes (a root with two pictures and a variation of it), as the studio writes them."""
    studio = build_sessions(fake_engine, outputs).open(session)
    root = studio.generate(TEST_DEFAULTS.replace(prompt="a harbour", batch_size=2, steps=1))
    studio.vary(root.id, count=1)
    return outputs / session


def test_a_damaged_file_costs_only_itself_through_the_api(fake_engine, tmp_path):
    """One session per damaged form, all served at once: each lists, restores and generates."""
    outputs = tmp_path / "outputs"
    forms = {f"form-{number}": form for number, form in enumerate(SESSION_FORMS + PICTURE_FORMS, start=1)}
    kept = {}
    for session, form in forms.items():
        folder = made_session(fake_engine, outputs, session)
        damage(folder, form)
        kept[session] = {path.name: path.read_bytes() for path in folder.glob("*.png")}
    with running_studio(fake_engine, outputs, defaults=TEST_DEFAULTS) as (url, _):
        client = Client(url, verbose=False)
        for session, form in forms.items():
            history = client.predict(session, api_name="/history")
            assert [node["id"] for node in history["nodes"]] == ["00001", "00002"], form
            assert {info["id"] for info in history["sessions"]} >= set(forms), form

            restored, pictures = client.predict("00002", session, api_name="/restore")
            assert restored["id"] == "00002" and restored["damaged"] == [] and len(pictures) == 1, form
            restored, pictures = client.predict("00001", session, api_name="/restore")
            if form in PICTURE_FORMS:
                (message,) = restored["damaged"]
                assert message.startswith("00001-0.png in this session is damaged") and "Error" not in message
                assert len(pictures) == 1, form  # the readable picture of the two
            else:
                assert restored["damaged"] == [] and len(pictures) == 2, form

            made, _ = client.predict({"prompt": "a harbour at night", "steps": 1}, session, api_name="/generate")
            # A new node never takes the name of a file already there, a stray one included.
            assert made["id"] == ("00010" if form.startswith("a stray PNG") else "00003"), form
    for session, form in forms.items():
        folder = outputs / session
        # Nothing the artist made was changed or removed; the damaged file is set aside, not overwritten.
        assert all((folder / name).read_bytes() == data for name, data in kept[session].items()), form
        if form == "history.json is a folder":
            assert [path.name for path in folder.glob(f"{HISTORY_FILE}.damaged-*")]


@pytest.mark.browser
def test_a_session_with_damaged_files_opens_restores_and_generates_in_the_window(fake_engine, page, tmp_path):
    outputs = tmp_path / "outputs"
    folder = made_session(fake_engine, outputs)
    damage(folder, "history.json is a folder")
    damage(folder, "a stray PNG with deeply nested JSON")
    damage(folder, "a node's PNG replaced by garbage")
    with running_studio(fake_engine, outputs, defaults=TEST_DEFAULTS) as (url, _):
        open_studio(page, url)
        open_tab(page, "History")
        page.locator("#sessions input").click()
        page.get_by_role("option", name=re.compile(rf"^{SESSION} · 2 nodes")).click()
        page.click("#open-session")
        expect(page.locator("#session-line")).to_contain_text(SESSION)
        expect(page.locator("#history .card")).to_have_count(2)

        # The damaged picture is named when the artist tries to edit it; its sibling is picked and used as usual.
        page.locator("#history [data-node='00001'][data-index='0']").first.click()
        expect(page.locator("#selection")).to_contain_text("Selected 00001·1")
        open_tab(page, "Results")
        page.click("#send-to-editor")
        expect(page.get_by_text("00001-0.png in this session is damaged")).to_be_visible(timeout=20_000)
        shoot(page, "damage-01-a-damaged-picture-is-named")
        open_tab(page, "History")
        page.locator("#history [data-node='00001'][data-index='1']").first.click()
        expect(page.locator("#selection")).to_contain_text("Selected 00001·2")
        page.fill("#prompt textarea", "a harbour in fog")
        page.click("#generate-button")
        wait_for_saved(page, "00010")  # never over the stray 00009-0.png
