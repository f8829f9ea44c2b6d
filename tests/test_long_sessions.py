"""Long sessions are what a studio is for (issue 25, item 15): a chain of thousands of nodes lists, draws, restores
and branches, through the API and in the window, quickly."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from gradio_client import Client
from PIL import Image
from playwright.sync_api import expect

from studio.history import HISTORY_FILE, SCHEMA_VERSION, Action, Iteration
from studio.recipe import Recipe
from studio.ui.present.tree_view import CARD_WIDTH
from tests.browser_kit import open_studio, open_tab, shoot
from tests.servers import TEST_DEFAULTS, running_studio

CHAIN = 3000
# Opening a history ten times as long may take at most this many times as long: linear work takes about 10, one
# step that grows with the square of the nodes 100. A ratio of two openings in one run, not a bound in seconds,
# which a loaded machine breaks (the speed itself is for benchmarks).
GROWS_AT_MOST = 25


def write_chain(outputs: Path, session: str, count: int, pictures: int = 1) -> None:
    """A session that is one chain of `count` nodes of `pictures` pictures each, each node a regeneration of the one
    before (written as the studio writes them, without running a model: one small picture, linked under each name)."""
    folder = outputs / session
    folder.mkdir(parents=True)
    first = folder / "00001-0.png"
    Image.new("RGB", (64, 64), "teal").save(first)
    recipe = Recipe(model="tiny", prompt="a long walk", steps=1, width=64, height=64)
    nodes = []
    for number in range(1, count + 1):
        node_id = f"{number:05d}"
        names = tuple(f"{node_id}-{index}.png" for index in range(pictures))
        for name in names:
            if name != first.name:
                os.link(first, folder / name)
        node = Iteration(
            id=node_id,
            parent_id=f"{number - 1:05d}" if number > 1 else None,
            recipe=recipe.replace(seed=number, batch_size=pictures),
            action=Action.GENERATE,
            outputs=names,
            seeds=tuple(range(number, number + pictures)),
            created=1_700_000_000 + number,
        )
        nodes.append(node.to_dict())
    document = {"schema_version": SCHEMA_VERSION, "session": session, "nodes": nodes}
    (folder / HISTORY_FILE).write_text(json.dumps(document), encoding="utf-8")


def test_a_chain_of_thousands_of_nodes_opens_restores_and_branches_through_the_api(fake_engine, tmp_path):
    write_chain(tmp_path / "outputs", "long", CHAIN)
    write_chain(tmp_path / "outputs", "short", CHAIN // 10)
    with running_studio(fake_engine, tmp_path / "outputs", defaults=TEST_DEFAULTS) as (url, _):
        client = Client(url, verbose=False)

        def opening(session: str) -> tuple[float, dict]:
            timings = []
            for _ in range(2):  # the faster of two: the first may pay for a cold cache
                started = time.perf_counter()
                history = client.predict(session, api_name="/history")
                timings.append(time.perf_counter() - started)
            return min(timings), history

        short, _ = opening("short")
        opened, history = opening("long")
        assert [node["id"] for node in history["nodes"]] == [f"{n:05d}" for n in range(1, CHAIN + 1)]
        assert opened < GROWS_AT_MOST * short, f"{CHAIN} nodes took {opened:.2f} s, {CHAIN // 10} took {short:.2f} s"
        restored, _ = client.predict(f"{CHAIN:05d}", "long", api_name="/restore")
        assert restored["id"] == f"{CHAIN:05d}"
        made, _ = client.predict(
            {"prompt": "one step further", "steps": 1, "width": 64, "height": 64}, "long", api_name="/generate"
        )
        assert made["id"] == f"{CHAIN + 1:05d}"


@pytest.mark.browser
def test_a_chain_of_thousands_of_nodes_opens_in_the_window(fake_engine, page, tmp_path):
    write_chain(tmp_path / "outputs", "long", CHAIN)
    with running_studio(fake_engine, tmp_path / "outputs", defaults=TEST_DEFAULTS) as (url, _):
        open_studio(page, url)
        open_tab(page, "History")
        page.locator("#sessions input").click()
        page.get_by_role("option", name=re.compile(r"^long ·")).click()
        page.click("#open-session")
        # How fast is the API check's to say (its growth with the chain's length, above); here, that it opens at all:
        # a bound on the window's seconds failed in CI beside the Ray cluster's workers starting on the same cores.
        expect(page.locator("#session-line")).to_contain_text("long", timeout=60_000)
        expect(page.locator("#history .card")).to_have_count(CHAIN, timeout=60_000)
        # Too long to read whole: the view is readable and shows the newest card, not a thin column.
        viewport = page.locator("#history .viewport").bounding_box()
        newest = page.locator(f"#node-{CHAIN:05d}").bounding_box()
        assert newest["width"] >= 0.45 * CARD_WIDTH
        assert viewport["y"] <= newest["y"] and newest["y"] + newest["height"] <= viewport["y"] + viewport["height"]
        page.locator(f"#history #node-{CHAIN:05d} img").click()
        expect(page.locator(f"#node-{CHAIN:05d} .pic.selected")).to_have_count(1)  # the click landed on it
        # The pick redraws all 3000 cards (the picked one marked): on a loaded machine that takes seconds.
        expect(page.locator("#selection")).to_contain_text(f"Selected {CHAIN:05d}", timeout=30_000)
        shoot(page, "long-01-a-chain-of-3000-nodes")


@pytest.mark.browser
def test_fourteen_nodes_of_four_pictures_read_in_the_tree(fake_engine, page, tmp_path):
    """Each card holds its four thumbnails (the 4th used to cover the next card); the tree reads, not a thin column."""
    write_chain(tmp_path / "outputs", "fourteen", 14, pictures=4)
    with running_studio(fake_engine, tmp_path / "outputs", defaults=TEST_DEFAULTS) as (url, _):
        open_studio(page, url)
        open_tab(page, "History")
        page.locator("#sessions input").click()
        page.get_by_role("option", name=re.compile(r"^fourteen ·")).click()
        page.click("#open-session")
        expect(page.locator("#history .card")).to_have_count(14)
        card = page.locator("#node-00014")
        box = card.bounding_box()
        assert box["width"] >= 0.45 * CARD_WIDTH
        for picture in card.locator(".pic").all():
            inside = picture.bounding_box()
            assert box["y"] <= inside["y"] and inside["y"] + inside["height"] <= box["y"] + box["height"] + 0.5
        # A drag that starts on an edge moves the tree and selects no text of the page.
        edge = page.locator("#history path.edge").last.bounding_box()
        page.mouse.move(edge["x"] + edge["width"] / 2, edge["y"] + edge["height"] / 2)
        page.mouse.down()
        page.mouse.move(edge["x"] + 200, edge["y"] + 80, steps=8)
        page.mouse.up()
        assert page.evaluate("() => String(window.getSelection())") == ""
        shoot(page, "long-02-fourteen-nodes-of-four-pictures")
        # Fit shows the whole tree, however small that makes it: the first card and the last both in view.
        page.get_by_role("button", name="Fit").click()
        viewport = page.locator("#history .viewport").bounding_box()
        for node in ("00001", "00014"):
            box = page.locator(f"#node-{node}").bounding_box()
            assert viewport["x"] <= box["x"] and box["x"] + box["width"] <= viewport["x"] + viewport["width"], node
            assert viewport["y"] <= box["y"] and box["y"] + box["height"] <= viewport["y"] + viewport["height"], node
