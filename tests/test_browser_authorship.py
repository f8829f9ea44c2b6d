"""Authorship in the browser: three steps by hand, the report, the export with credentials, and checking it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_kit import editor_ready, open_studio, open_tab, paint_stroke, pick_result, shoot, wait_for_saved
from tests.servers import browser_session, running_studio

pytestmark = pytest.mark.browser


def test_three_steps_then_the_report_the_export_and_its_check(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        page.fill("#prompt textarea", "a lighthouse at dusk")
        page.click("#generate-button")
        wait_for_saved(page, "00001")
        for node, tool, button in (("00002", "Mask brush", "#inpaint"), ("00003", "Paint", "#repaint")):
            pick_result(page)
            page.click("#send-to-editor")
            editor_ready(page)
            paint_stroke(page, tool)
            page.click(button)
            wait_for_saved(page, node)

        pick_result(page)
        open_tab(page, "Authorship")
        page.click("#authorship-show")
        story = page.locator("#authorship-story")
        expect(story).to_contain_text("3 steps, 2 of them shaped by hand")
        expect(story).to_contain_text("wrote the prompt “a lighthouse at dusk”")  # the words, as the README says
        expect(story).to_contain_text("(no file hash: a folder or hub id)")  # tiny is a folder; a file has its hash
        expect(story).to_contain_text("Euler a")
        expect(story).to_contain_text(" seed ")
        expect(story).to_contain_text("masked")
        expect(story).to_contain_text("painted over")
        expect(story).to_contain_text("no paths, user names or folder names")
        shoot(page, "authorship-01-the-story-and-what-an-export-publishes")

        page.click("#export-credentials")
        expect(page.locator("#exported a")).to_have_count(3, timeout=30_000)
        exports = browser_session(studio).history.folder / "exports"
        report_page, picture = exports / "00003-0-authorship.html", exports / "00003-0-credentials.png"
        assert report_page.is_file() and picture.is_file()

        # The report is a page of its own: open it as someone who was sent it would.
        reader = page.context.browser.new_page()
        reader.goto(report_page.as_uri())
        expect(reader.locator("h1")).to_have_text("Authorship report")
        expect(reader.locator("section img")).to_have_count(3)
        expect(reader.locator("section").first).to_contain_text("wrote the prompt “a lighthouse at dusk”")
        expect(reader.locator("section").first).to_contain_text(" seed ")
        shoot(reader, "authorship-02-the-report")
        reader.close()

        page.locator("#verify-drop input[type=file]").set_input_files(str(picture))
        expect(page.locator("#verify-result")).to_contain_text("Valid credentials", timeout=30_000)
        expect(page.locator("#verify-result")).to_contain_text("a key the studio made itself")
        shoot(page, "authorship-03-the-export-checked")
