"""Closeness in the browser: an uploaded picture of unknown licence repainted at 0.2 is "a near copy" on its node
and in its authorship story; its export asks first, and the credential carries the figures; the Closeness tab finds
where a picture came from."""

from __future__ import annotations

import pytest
from PIL import Image
from playwright.sync_api import expect
from skimage import data

from studio.authorship.credentials import CLOSENESS_LABEL, verify
from tests.browser_kit import open_studio, open_tab, shoot, type_number, wait_for_saved
from tests.servers import TEST_DEFAULTS, browser_session, running_studio

pytestmark = pytest.mark.browser


def test_a_light_repaint_of_an_upload_is_a_near_copy_and_its_export_asks_first(faithful_engine, page, tmp_path):
    upload = tmp_path / "found-online.png"
    Image.fromarray(data.astronaut()).resize((128, 128), Image.Resampling.LANCZOS).save(upload)
    defaults = TEST_DEFAULTS.replace(model=faithful_engine.faithful_model, steps=10)
    with running_studio(faithful_engine, tmp_path / "outputs", defaults=defaults) as (url, studio):
        open_studio(page, url)
        page.fill("#prompt textarea", "an astronaut, oil painting")
        open_tab(page, "Edit")
        page.locator("#editor .file").set_input_files(str(upload))
        expect(page.locator("#edit-source")).to_contain_text("uploaded picture")
        page.fill("#upload-origin textarea", "a photo found online")  # its licence stays "unknown"
        type_number(page, "#denoise input[type=number]", "0.2")
        page.click("#repaint")
        wait_for_saved(page, "00001")

        # On the node: in Results (its caption and the selection) and on its card in the tree.
        open_tab(page, "Results")
        expect(page.locator("#results .thumb figcaption").first).to_contain_text("near copy of an outside picture")
        expect(page.locator("#selection")).to_contain_text("Closeness: a near copy of the picture uploaded at 00001")
        expect(page.locator("#selection")).to_contain_text("licence unknown")
        shoot(page, "closeness-01-a-near-copy-in-results")
        open_tab(page, "History")
        expect(page.locator("#history .pic .closeness.near")).to_have_count(1)

        # In the authorship story, then the export asks first.
        open_tab(page, "Authorship")
        page.click("#authorship-show")
        story = page.locator("#authorship-story")
        expect(story).to_contain_text("How close this picture stays to the outside pictures of its lineage")
        expect(story).to_contain_text("a near copy of the picture uploaded at 00001 (from a photo found online")
        page.click("#export-credentials")
        expect(page.locator("#export-anyway")).to_be_visible(timeout=30_000)
        expect(page.locator("#export-question-text")).to_contain_text("Before you publish")
        expect(page.locator("#export-question-text")).to_contain_text("a near copy")
        shoot(page, "closeness-02-the-export-asks")
        exports = browser_session(studio).history.folder / "exports"
        assert not exports.exists() or not any(exports.iterdir())  # asked, nothing written
        page.click("#export-anyway")
        expect(page.locator("#exported a")).to_have_count(3, timeout=30_000)
        expect(page.locator("#export-anyway")).to_be_hidden()

        check = verify(exports / "00001-0-credentials.png")
        assert check.valid and check.manifest is not None
        (closeness,) = [a["data"] for a in check.manifest["assertions"] if a["label"] == CLOSENESS_LABEL]
        (figures,) = closeness["pictures"]
        node = browser_session(studio).history.get("00001")
        assert figures["verdict"] == "a near copy" and figures["score"] == node.closeness[0][0]["score"]
        assert (figures["origin"], figures["licence"]) == ("a photo found online", "unknown")

        # The Closeness tab: where did the found picture go? The session's pictures, closest first.
        open_tab(page, "Closeness")
        page.locator("#closeness-picture input[type=file]").set_input_files(str(upload))
        page.click("#closeness-check")
        summary = page.locator("#closeness-summary")
        expect(summary).to_contain_text("Closest in session", timeout=30_000)
        expect(summary.locator("li").first).to_contain_text("00001-image.png")  # the upload itself, as kept
        expect(summary.locator("li").nth(1)).to_contain_text("00001-0.png: a near copy")
        expect(page.locator("#closeness-matches img")).to_have_count(2)
        shoot(page, "closeness-03-the-check")
