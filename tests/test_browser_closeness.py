"""Closeness in the browser: an uploaded picture of unknown licence repainted at 0.2 is "a near copy" on its node
and in its authorship story; its export asks first, and the credential carries the figures; the Closeness tab finds
where a picture came from."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect
from skimage import data

from studio.authorship.credentials import CLOSENESS_LABEL, verify
from tests.browser_kit import open_studio, open_tab, paint_stroke, shoot, type_number, wait_for_saved
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
        # A viewer who checks the file is told the same.
        page.locator("#verify-drop input[type=file]").set_input_files(str(exports / "00001-0-credentials.png"))
        verdict = page.locator("#verify-result")
        expect(verdict).to_contain_text("Valid credentials", timeout=30_000)
        expect(verdict).to_contain_text("how close the picture stays to the outside pictures it was made from")
        expect(verdict).to_contain_text("a near copy of the picture uploaded at 00001 (from a photo found online")

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
        # A folder that is not there: refused, and the results above are not left to read as this check's.
        page.locator("#closeness-against").get_by_text("A folder", exact=True).click()
        page.fill("#closeness-folder input, #closeness-folder textarea", str(tmp_path / "no-such-folder"))
        page.click("#closeness-check")
        expect(summary).to_contain_text("Not compared", timeout=30_000)
        expect(page.locator("#closeness-matches img")).to_have_count(0)


def test_what_the_artist_said_of_an_upload_stays_with_it_across_a_reload_and_sessions(fake_engine, page, tmp_path):
    """Its origin and licence are hand work like the picture: a reload keeps them, another session has its own."""
    upload = tmp_path / "found-online.png"
    Image.fromarray(data.astronaut()).resize((128, 128), Image.Resampling.LANCZOS).save(upload)
    with running_studio(fake_engine, tmp_path / "outputs", defaults=TEST_DEFAULTS) as (url, studio):
        open_studio(page, url)
        page.fill("#prompt textarea", "an astronaut")
        page.click("#generate-button")
        wait_for_saved(page, "00001")
        mine = browser_session(studio)
        studio.open("an-earlier-session").generate(TEST_DEFAULTS.replace(prompt="an earlier castle"))
        open_tab(page, "Edit")
        page.locator("#editor .file").set_input_files(str(upload))
        expect(page.locator("#edit-source")).to_contain_text("uploaded picture")
        page.fill("#upload-origin textarea", "a photo found online")
        page.locator("#upload-licence input").fill("not licensed")
        page.locator("#upload-licence input").press("Enter")
        for _ in range(100):  # the form reaches the session's draft
            if mine.drafts.form().get("upload.licence") == "not licensed":
                break
            page.wait_for_timeout(100)
        assert mine.drafts.form()["upload.origin"] == "a photo found online"

        page.reload()
        open_tab(page, "Edit")
        expect(page.locator("#upload-origin textarea")).to_have_value("a photo found online", timeout=20_000)
        expect(page.locator("#upload-licence input")).to_have_value("not licensed")

        open_tab(page, "History")  # another session: not this upload's words
        page.locator("#sessions input").click()
        page.get_by_role("option", name=re.compile(r"^an-earlier-session ·")).click()
        page.click("#open-session")
        expect(page.locator("#session-line")).to_contain_text("an-earlier-session")
        open_tab(page, "Edit")
        expect(page.locator("#upload-origin")).to_be_hidden()  # no upload here, so nothing to say of one
        page.locator("#editor .file").set_input_files(str(upload))  # the same picture, uploaded here anew
        expect(page.locator("#upload-origin textarea")).to_have_value("")
        expect(page.locator("#upload-licence input")).to_have_value("unknown")

        open_tab(page, "History")  # and back: the repaint records what was said
        page.locator("#sessions input").click()
        page.get_by_role("option", name=re.compile(rf"^{re.escape(mine.history.id)} ·")).click()
        page.click("#open-session")
        open_tab(page, "Edit")
        expect(page.locator("#upload-origin textarea")).to_have_value("a photo found online", timeout=20_000)
        page.click("#repaint")
        wait_for_saved(page, "00002")
        assert mine.history.get("00002").sources["image"] == {
            "origin": "a photo found online",
            "licence": "not licensed",
        }

        # A new picture uploaded: what was said of the last one is not said of it; a stroke on it keeps what is said.
        other = tmp_path / "my-own-sketch.png"
        Image.fromarray(data.camera()).resize((128, 128), Image.Resampling.LANCZOS).convert("RGB").save(other)
        open_tab(page, "Edit")  # the repaint's result is shown in Results
        expect(page.locator("#upload-origin textarea")).to_have_value("a photo found online")
        page.locator("#editor .file").set_input_files(str(other))
        expect(page.locator("#upload-origin textarea")).to_have_value("")
        expect(page.locator("#upload-licence input")).to_have_value("unknown")
        page.fill("#upload-origin textarea", "my own sketch")
        paint_stroke(page)
        page.wait_for_timeout(1000)  # the stroke's change has been answered
        expect(page.locator("#upload-origin textarea")).to_have_value("my own sketch")
