"""Live painting in the real page (headless Chromium): Live on, three strokes, three live pictures, the last one of
the last stroke; Keep one, find it in the tree with its strokes, replay it to the same pixels; reload, and the live
state is back."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from studio.history import Action
from tests.browser_kit import (
    RUN_TIMEOUT,
    editor_ready,
    open_studio,
    open_tab,
    paint_on,
    pick_result,
    shoot,
    wait_for_saved,
)
from tests.servers import browser_session, running_studio

pytestmark = pytest.mark.browser

STROKES = (((0.1, 0.2), (0.5, 0.3)), ((0.2, 0.7), (0.8, 0.6)), ((0.6, 0.1), (0.7, 0.9)))


def live_source(page) -> str:
    return page.locator("#live-picture img").get_attribute("src") or ""


def test_live_painting_follows_each_stroke_keeps_a_node_and_survives_a_reload(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        page.fill("#prompt textarea", "a lighthouse at dusk")
        page.click("#generate-button")
        wait_for_saved(page, "00001")
        pick_result(page)
        page.click("#send-to-editor")
        editor_ready(page)

        # No few-step LoRA or model here: the button says so and leaves the form's settings alone.
        page.click("#live-few-step")
        expect(page.get_by_text("No few-step LoRA or model in this recipe")).to_be_visible()
        expect(page.locator("#steps input")).to_have_value("3")

        page.locator("#live-on input").check()
        expect(page.locator("#live-line")).to_contain_text("Live:", timeout=RUN_TIMEOUT)  # the canvas as it is
        session = browser_session(studio)
        live_seed = session.live_seed()
        canvases = []
        for number, (start, end) in enumerate(STROKES, start=1):
            before = live_source(page)
            paint_on(page, "#editor", start, end)
            expect(page.locator("#live-picture img")).not_to_have_attribute("src", before, timeout=RUN_TIMEOUT)
            last = session.live.last()
            assert last is not None
            canvases.append(np.asarray(last.canvas))
            shoot(page, f"live-{number}-stroke")
        # Each stroke's live picture ran on a canvas with one more stroke on it; the last on all three.
        assert not np.array_equal(canvases[0], canvases[1]) and not np.array_equal(canvases[1], canvases[2])
        editor_paint = session.drafts.editor()
        assert editor_paint is not None and editor_paint.paint is not None
        background = Image.open(session.output_path("00001")).convert("RGBA")
        composite = Image.alpha_composite(background, Image.open(editor_paint.paint).convert("RGBA")).convert("RGB")
        assert np.array_equal(canvases[-1], np.asarray(composite))
        # The line says what ran: paint alone repaints the canvas (img2img), with the live seed.
        line = page.locator("#live-line")
        expect(line).to_contain_text(f"repaint (img2img) of the canvas at strength 0.5, 1 of 3 steps, seed {live_seed}")

        page.click("#live-keep")
        wait_for_saved(page, "00002")
        expect(line).to_contain_text("Kept as 00002")
        page.click("#live-keep")
        expect(line).to_contain_text("Already kept as 00002")  # the same picture: the same node, no copy
        node = session.history.get("00002")
        live = session.live.last()
        assert live is not None
        assert node.action is Action.REPAINT and node.parent_id == "00001" and node.recipe == live.recipe
        assert np.array_equal(np.asarray(Image.open(session.path(node.inputs["image"])).convert("RGB")), canvases[-1])
        kept = np.asarray(Image.open(session.output_path("00002")).convert("RGB"))
        assert np.array_equal(kept, np.asarray(live.picture))
        open_tab(page, "History")
        expect(page.locator("#node-00002")).to_contain_text("repaint")
        replayed = session.replay("00002")
        assert np.array_equal(np.asarray(Image.open(session.output_path(replayed.id)).convert("RGB")), kept)

        open_studio(page)  # a reload: Live still on, the last live picture and its timing back
        open_tab(page, "Edit")
        expect(page.locator("#live-on input")).to_be_checked()
        expect(page.locator("#live-picture img")).to_be_visible()
        expect(page.locator("#live-line")).to_contain_text(f"seed {live_seed}")
        shoot(page, "live-after-reload")

        # Paint over it: the kept picture (no copy of it) is now the picture being painted on.
        page.click("#live-paint-over")
        expect(page.locator("#edit-source")).to_contain_text("Editing 00002·1")
        assert [node.id for node in session.tree()] == ["00001", "00002", replayed.id]

        # Live off: no live picture, and nothing to keep that would not match the canvas.
        page.locator("#live-on input").uncheck()
        expect(page.locator("#live-picture")).to_be_hidden()
        expect(page.locator("#live-keep")).to_be_disabled()
