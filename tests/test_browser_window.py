"""The window's promises in the real page (issue 12's scenarios): nothing changes behind the artist's back,
results stay visible, and every failure reads as a message."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser_kit import (
    RUN_TIMEOUT,
    editor_ready,
    map_ready,
    open_studio,
    open_tab,
    paint_stroke,
    pick_result,
    shoot,
    wait_for_saved,
)
from tests.servers import browser_session, running_studio

pytestmark = pytest.mark.browser


def generate(page: Page, prompt: str, node_id: str) -> None:
    page.fill("#prompt textarea", prompt)
    page.click("#generate-button")
    wait_for_saved(page, node_id)


def start_editing(page: Page, url: str, prompt: str) -> None:
    """Open the studio, generate 00001 quickly, pick it and send it to the editor."""
    open_studio(page, url)
    page.fill("#steps input[type=number]", "2")
    generate(page, prompt, "00001")
    pick_result(page)
    page.click("#send-to-editor")
    editor_ready(page)


def test_a_pick_leaves_control_units_off_and_the_plan_shows_what_runs(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        expect(page.locator("#plan")).to_contain_text("Control: off")
        open_tab(page, "Control")
        page.get_by_role("tab", name="Unit 2").click()
        page.click("#control-2-blank-map")
        expect(page.locator("#control-2-enabled input")).to_be_checked()
        expect(page.locator("#plan")).to_contain_text("Control unit 2: Semantic map (ADE20K), weight 1, map by hand")
        generate(page, "a castle", "00001")
        assert len(browser_session(studio).history.get("00001").recipe.controls) == 1

        # The artist switches the unit off, then picks the controlled picture.
        open_tab(page, "Control")
        page.locator("#control-2-enabled input").uncheck()
        expect(page.locator("#plan")).to_contain_text("Control: off")
        open_tab(page, "Results")
        pick_result(page)
        expect(page.locator("#selection")).to_contain_text("Selected 00001·1")
        expect(page.locator("#restore-controls")).to_be_visible()
        expect(page.locator("#plan")).to_contain_text("Control: off")
        shoot(page, "30-pick-keeps-control-off")
        open_tab(page, "Control")
        expect(page.locator("#control-2-enabled input")).not_to_be_checked()

        generate(page, "a castle at night", "00002")
        assert browser_session(studio).history.get("00002").recipe.controls == ()


def test_a_new_kind_clears_the_old_map(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        open_tab(page, "Control")
        page.locator("#control-1-pose-preset input").click()
        page.get_by_role("option", name="standing").first.click()
        map_ready(page, 1)
        expect(page.locator("#plan")).to_contain_text("Pose (OpenPose), weight 1, map by hand")

        page.locator("#control-1-kind input").click()
        page.get_by_role("option", name="Depth").click()
        expect(page.locator("#control-1-hint")).to_contain_text("The old map was cleared")
        expect(page.locator("#control-1-enabled input")).not_to_be_checked()
        shoot(page, "31-kind-change-clears-the-map")

        # Switched back on without a map, the unit stops the run with a message, before anything runs.
        page.locator("#control-1-enabled input").check()
        expect(page.locator("#plan")).to_contain_text("Control unit 1: Depth, weight 1, no map yet")
        page.fill("#prompt textarea", "a dancer")
        page.click("#generate-button")
        expect(page.get_by_text("it has no map yet").first).to_be_visible(timeout=RUN_TIMEOUT)
        assert studio.store.sessions() == []  # nothing ran, nothing was saved


def test_live_preview_and_stop_which_keeps_the_earlier_results_in_view(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        page.fill("#steps input[type=number]", "4")
        generate(page, "a quick one", "00001")
        page.fill("#steps input[type=number]", "150")
        page.fill("#prompt textarea", "a long run")
        page.click("#generate-button")
        expect(page.locator("#preview img")).to_be_visible(timeout=RUN_TIMEOUT)
        expect(page.locator("#status")).to_contain_text("step")
        shoot(page, "08-live-preview")
        page.click("#stop-button")
        expect(page.locator("#status")).to_contain_text("Stopped", timeout=30_000)
        assert [node.id for node in browser_session(studio).tree()] == ["00001"]  # the stopped run saved nothing
        expect(page.locator("#results .thumb img")).to_have_count(1)
        expect(page.locator("#results .thumb img").first).to_be_visible()
        expect(page.locator("#preview img")).to_be_hidden()


def test_ctrl_enter_generates_and_refusals_read_as_messages_and_the_status_moves_on(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        page.click("#seed-reuse")
        expect(page.get_by_text("Pick a picture first: its seed is the one reused.")).to_be_visible()
        expect(page.locator("#seed")).not_to_contain_text("Error")

        # Enter adds a line; Ctrl+Enter generates, as in A1111.
        prompt = page.locator("#prompt textarea")
        prompt.fill("a cottage")
        prompt.press("Enter")
        prompt.type("by a lake")
        expect(prompt).to_have_value("a cottage\nby a lake")
        prompt.press("Control+Enter")
        wait_for_saved(page, "00001")
        session = browser_session(studio)
        assert session.history.get("00001").recipe.prompt == "a cottage\nby a lake"
        pick_result(page)
        page.click("#send-to-editor")
        expect(page.locator("#edit-source")).to_contain_text("Editing 00001·1")
        editor_ready(page)
        page.click("#repaint")
        wait_for_saved(page, "00002")
        assert session.history.get("00002").recipe.mode.value == "img2img"

        pick_result(page)
        expect(page.locator("#selection")).to_contain_text("Selected 00002·1")
        page.locator("#vary-strength input[type=number]").fill("0.3")
        page.click("#vary")
        expect(page.get_by_text("Close variations work on generated pictures").first).to_be_visible(timeout=RUN_TIMEOUT)
        expect(page.locator("#status")).to_contain_text("Not done: Close variations work on generated pictures")
        expect(page.locator("#status")).not_to_contain_text("variation_strength")
        shoot(page, "32-refusal-message")
        assert [node.id for node in session.tree()] == ["00001", "00002"]


def test_results_fit_the_view_show_their_captions_and_before_and_after(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        page.fill("#steps input[type=number]", "2")
        page.fill("#width input", "512")
        page.fill("#height input", "512")
        generate(page, "a big one", "00001")
        stage = page.locator("#results .stage").bounding_box()
        picture = page.locator("#results img.after")
        expect(picture).to_be_visible()
        expect(picture).to_have_js_property("naturalWidth", 512)
        # Fitted ("contain"): the picture as drawn is whole inside the view, square as it was made, and fills it.
        box = picture.bounding_box()
        drawn = picture.evaluate(
            "img => { const s = Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight);"
            " return [img.naturalWidth * s, img.naturalHeight * s]; }"
        )
        assert box["width"] <= stage["width"] + 1 and box["height"] <= stage["height"] + 1
        assert drawn[0] == drawn[1] and drawn[1] >= stage["height"] - 4
        assert picture.evaluate("img => getComputedStyle(img).objectFit") == "contain"
        shoot(page, "33-single-result-fits")
        page.locator("#results [data-zoom=full]").click()
        expect(picture).to_have_js_property("offsetWidth", 512)
        shoot(page, "34-single-result-at-100")

        # Two results: both captions in view; a mark shows on its picture; an edit shows before and after.
        page.fill("#width input", "128")
        page.fill("#height input", "128")
        page.fill("#batch input[type=number]", "2")
        generate(page, "two of them", "00002")
        for number in (1, 2):
            expect(page.locator("#results .thumb figcaption").nth(number - 1)).to_be_visible()
            expect(page.locator("#results .thumb figcaption").nth(number - 1)).to_contain_text(f"00002·{number}")
        pick_result(page, 1)
        expect(page.locator("#selection")).to_contain_text("Selected 00002·2")
        expect(page.locator("#results .caption")).to_contain_text("00002·2")
        page.click("#mark-keep")
        expect(page.locator("#results .thumb").nth(1)).to_contain_text("★ kept")
        expect(page.locator("#results .thumb.selected")).to_contain_text("00002·2")
        assert browser_session(studio).history.get("00002").marks[1].value == "keep"
        page.click("#mark-keep")  # a second click takes the mark back
        expect(page.locator("#results .thumb").nth(1)).not_to_contain_text("★ kept")
        assert browser_session(studio).history.get("00002").marks[1].value == ""

        page.click("#send-to-editor")
        editor_ready(page)
        page.click("#repaint")
        wait_for_saved(page, "00003")
        expect(page.locator("#results .compare")).to_be_visible()
        expect(page.locator("#results img.before")).to_be_visible()
        shoot(page, "35-before-and-after")


def test_the_version_tree_draws_branches_restores_a_node_and_compares_two(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        page.fill("#steps input[type=number]", "2")
        generate(page, "a red fox", "00001")
        pick_result(page)
        page.locator("#branch input").check()
        generate(page, "a grey fox", "00002")  # a child of 00001
        page.locator("#branch input").uncheck()
        generate(page, "a lighthouse", "00003")  # a new root
        pick_result(page)
        page.click("#send-to-editor")
        editor_ready(page)
        page.click("#repaint")
        wait_for_saved(page, "00004")  # a child of 00003
        assert [n.parent_id for n in browser_session(studio).tree()] == [None, "00001", None, "00003"]

        open_tab(page, "History")
        expect(page.locator("#history .card")).to_have_count(4)
        expect(page.locator("#history img")).to_have_count(4)
        cards = {n: page.locator(f"#node-{n}").bounding_box() for n in ("00001", "00002", "00003", "00004")}
        # Branches side by side, children under their parents.
        assert cards["00002"]["y"] > cards["00001"]["y"] and cards["00004"]["y"] > cards["00003"]["y"]
        assert cards["00003"]["x"] > cards["00001"]["x"] + cards["00001"]["width"]
        # Each edge runs from the bottom of its parent's card to the top of its child's.
        for parent, child in (("00001", "00002"), ("00003", "00004")):
            edge = page.locator(f"#history path[data-from='{parent}'][data-to='{child}']").bounding_box()
            assert abs(edge["y"] - (cards[parent]["y"] + cards[parent]["height"])) <= 6
            assert abs(edge["y"] + edge["height"] - cards[child]["y"]) <= 6
        expect(page.locator("#history")).to_contain_text("regenerate")
        expect(page.locator("#history")).to_contain_text("repaint ·1")
        shoot(page, "36-version-tree")

        # Click a node: it is restored (its recipe in the form) and shown in Results.
        page.locator("#node-00002 img").click()
        expect(page.locator("#selection")).to_contain_text("Selected 00002·1")
        expect(page.locator("#prompt textarea")).to_have_value("a grey fox")
        expect(page.locator("#node-00002 .pic.selected")).to_have_count(1)

        # Compare two pictures: side by side under a slider, with the prompt diff.
        page.locator("#history .compare-mode").check()
        page.locator("#node-00001 img").click()
        page.locator("#node-00002 img").click()
        expect(page.locator("#compare-box")).to_be_visible()
        expect(page.locator("#compare-text")).to_contain_text("A 00001·1")
        expect(page.locator("#compare-text del")).to_have_text("red")
        expect(page.locator("#compare-text ins")).to_have_text("grey")
        expect(page.locator("#compare-view img")).to_have_count(2)
        page.locator("#compare-box").scroll_into_view_if_needed()
        shoot(page, "37-compare-two-nodes")
        # Still the picked picture: comparing restores nothing.
        expect(page.locator("#prompt textarea")).to_have_value("a grey fox")

        # A rejected picture carries its badge, and "hide rejected" takes it out of the tree.
        open_tab(page, "Results")
        page.click("#mark-reject")
        open_tab(page, "History")
        expect(page.locator("#node-00002 .pic.reject")).to_have_count(1)
        page.locator("#history .hide-rejected").check()
        expect(page.locator("#node-00002 .pic")).to_be_hidden()
        expect(page.locator("#node-00001 .pic")).to_be_visible()


def test_the_editor_after_an_inpaint_loads_and_takes_every_tool(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        start_editing(page, url, "a harbour")
        paint_stroke(page)
        page.click("#inpaint")
        wait_for_saved(page, "00002")

        # The inpainted picture straight back into the editor, a tool chosen while it loads: it loads, and paints.
        pick_result(page)
        page.click("#send-to-editor")
        page.locator("#editor").get_by_role("button", name="Paint", exact=True).click()
        editor_ready(page)
        expect(page.locator("#edit-source")).to_contain_text("Editing 00002·1")

        # Brush size: [ and ] change it; the cursor ring shows it.
        size = page.locator("#editor .size-label")
        before = size.inner_text()
        page.locator("#editor canvas.mask").hover()
        page.keyboard.press("]")
        expect(size).not_to_have_text(before)
        page.keyboard.press("[")
        expect(size).to_have_text(before)
        expect(page.locator("#editor .cursor")).to_be_visible()

        # A swatch paints its colour; Ctrl+Z takes the stroke back, Ctrl+Shift+Z brings it again.
        page.locator("#editor .swatch[data-colour='#2a9d8f']").click()
        expect(page.locator("#editor [data-tool=paint]")).to_have_class(re.compile("active"))
        paint_stroke(page, tool="Paint")
        painted = page.evaluate("() => document.querySelector('#editor canvas.paint').toDataURL()")
        page.keyboard.press("Control+z")
        expect(page.locator("#editor .redo")).to_be_enabled()
        blank = page.evaluate("() => document.querySelector('#editor canvas.paint').toDataURL()")
        assert blank != painted
        page.keyboard.press("Control+Shift+z")
        assert page.evaluate("() => document.querySelector('#editor canvas.paint').toDataURL()") == painted

        # The mask is see-through, as much as the artist likes; invert turns it inside out.
        page.locator("#editor .opacity").fill("30")
        expect(page.locator("#editor canvas.mask")).to_have_css("opacity", "0.3")
        page.locator("#editor").get_by_role("button", name="Invert mask").click()
        shoot(page, "39-editor-tools")
        page.click("#repaint")
        wait_for_saved(page, "00003")
        node = browser_session(studio).history.get("00003")
        assert node.parent_id == "00002"
        given = np.asarray(Image.open(browser_session(studio).history.path(node.inputs["image"])).convert("RGB"))
        assert (np.abs(given.astype(int) - (0x2A, 0x9D, 0x8F)).sum(axis=2) < 30).any(), "the swatch's colour ran"


def test_a_file_that_is_not_a_picture_is_refused_and_a_picture_is_edited_at_its_size(engine, page, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    upload = tmp_path / "mine.png"
    Image.new("RGB", (96, 72), (200, 180, 40)).save(upload)
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        start_editing(page, url, "a harbour")
        paint_stroke(page)
        page.locator("#editor .file").set_input_files(str(notes))
        expect(page.locator("#editor .message")).to_contain_text("notes.txt is not a picture")
        expect(page.locator("#editor .message")).to_contain_text("the editor keeps what it had")
        expect(page.locator("#edit-source")).to_contain_text("Editing 00001·1")
        expect(page.locator("#editor .sheet")).to_be_visible()
        shoot(page, "40-not-a-picture")
        page.click("#inpaint")
        wait_for_saved(page, "00002")  # the mask painted before the refused upload is still there

        # A picture is taken: edited at its own size, its result a new root.
        open_tab(page, "Edit")
        page.locator("#editor .file").set_input_files(str(upload))
        expect(page.locator("#edit-source")).to_contain_text("uploaded picture")
        editor_ready(page)
        paint_stroke(page)
        page.click("#inpaint")
        wait_for_saved(page, "00003")
        node = browser_session(studio).history.get("00003")
        assert node.parent_id is None
        assert Image.open(browser_session(studio).history.path(node.outputs[0])).size == (96, 72)


def test_a_reload_keeps_the_form_and_the_pick_and_follows_a_run_to_its_result(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        page.fill("#steps input[type=number]", "2")
        generate(page, "a lighthouse", "00001")
        pick_result(page)
        # The pick puts 00001's recipe in the form: wait for it, or it lands over what is typed next.
        expect(page.locator("#selection")).to_contain_text("Selected 00001·1")
        expect(page.locator("#prompt textarea")).to_have_value("a lighthouse")
        page.fill("#prompt textarea", "a lighthouse in fog")
        page.fill("#negative-prompt textarea", "people")
        page.locator("#styles").get_by_label("Ink sketch").check()
        page.locator("#branch input").check()
        # The plan and the kept form arrive together: once the plan shows the last change, it is kept.
        expect(page.locator("#plan")).to_contain_text("Styles: Ink sketch")
        expect(page.locator("#plan")).to_contain_text("Generate: a child of 00001·1")
        kept = browser_session(studio).drafts
        for _ in range(100):  # the form reaches the session's draft with the plan's answer
            if kept.form().get("form.prompt") == "a lighthouse in fog" and kept.form().get("branch"):
                break
            page.wait_for_timeout(100)
        assert kept.form()["form.prompt"] == "a lighthouse in fog" and kept.form()["form.negative_prompt"] == "people"
        open_studio(page)  # reload
        expect(page.locator("#prompt textarea")).to_have_value("a lighthouse in fog")
        expect(page.locator("#negative-prompt textarea")).to_have_value("people")
        expect(page.locator("#styles").get_by_label("Ink sketch")).to_be_checked()
        expect(page.locator("#branch input")).to_be_checked()
        expect(page.locator("#selection")).to_contain_text("Selected 00001·1")
        expect(page.locator("#results .thumb")).to_have_count(1)
        expect(page.locator("#send-to-editor")).to_be_enabled()  # the kept pick is one to act on

        # A long run, a reload in the middle: the page shows its progress, then its result.
        page.fill("#steps input[type=number]", "150")
        page.fill("#prompt textarea", "a long run")
        page.click("#generate-button")
        expect(page.locator("#preview img")).to_be_visible(timeout=RUN_TIMEOUT)
        page.reload()
        # The reloaded page never says "Ready." while the run goes on: it opens, then follows the run.
        expect(page.locator("#status")).not_to_have_text("Ready.")
        expect(page.locator("#session-line")).to_contain_text("Session:", timeout=30_000)
        expect(page.locator("#status")).to_contain_text("Painting", timeout=30_000)
        expect(page.locator("#status")).not_to_contain_text("Ready.")
        shoot(page, "41-reload-mid-run")
        wait_for_saved(page, "00002")
        expect(page.locator("#results .thumb")).to_contain_text("00002·1")
        assert browser_session(studio).history.get("00002").recipe.prompt == "a long run"


def test_a_reload_brings_back_the_editor_and_the_control_maps(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        start_editing(page, url, "a lighthouse")
        paint_stroke(page)
        expect(page.locator("#edit-source")).to_contain_text("Editing 00001·1")
        open_tab(page, "Control")
        page.locator("#control-1-pose-preset input").click()
        page.get_by_role("option", name="standing").first.click()
        expect(page.locator("#plan")).to_contain_text("Pose (OpenPose), weight 1, map by hand")
        session = browser_session(studio)
        for _ in range(50):  # the drafts are written as the page reports each change
            if session.drafts.map(1) and session.drafts.editor() and session.drafts.editor().mask:
                break
            page.wait_for_timeout(100)
        assert session.drafts.map(1) is not None and session.drafts.editor().mask is not None

        open_studio(page)  # reload
        expect(page.locator("#plan")).to_contain_text("Pose (OpenPose), weight 1, map by hand")
        open_tab(page, "Edit")
        editor_ready(page)
        expect(page.locator("#edit-source")).to_contain_text("Editing 00001·1")
        assert page.evaluate(
            "() => { const c = document.querySelector('#editor canvas.mask');"
            " return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v); }"
        ), "the mask painted before the reload is back"
        shoot(page, "42-editor-after-reload")
        page.click("#inpaint")
        wait_for_saved(page, "00002")
        node = browser_session(studio).history.get("00002")
        assert node.parent_id == "00001" and node.recipe.controls[0].kind == "openpose"
