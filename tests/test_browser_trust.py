"""What the artist carries across actions stays theirs (issue 25, items 1-5): a session switch, a pick of another
model's picture, Edit on another picture, a pick over unsent words, a typed number. Each test does what the
walk-through did, in the real page; the fake engine is enough (they are claims about wiring, not pixels)."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser_kit import (
    choose_class,
    editor_ready,
    open_studio,
    open_tab,
    paint_stroke,
    pick_result,
    shoot,
    wait_for_saved,
)
from tests.servers import TEST_DEFAULTS, browser_session, running_studio

pytestmark = pytest.mark.browser

QUICK = TEST_DEFAULTS.replace(steps=2)


def generate(page: Page, prompt: str, node_id: str) -> None:
    page.fill("#prompt textarea", prompt)
    page.click("#generate-button")
    wait_for_saved(page, node_id)


def choose_session(page: Page, session_id: str) -> None:
    open_tab(page, "History")
    page.locator("#sessions input").click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(session_id)} ·")).click()


def test_a_session_switch_shows_the_new_session_everywhere(fake_engine, page, tmp_path):
    with running_studio(fake_engine, tmp_path / "outputs", defaults=QUICK) as (url, studio):
        earlier = studio.open("an-earlier-session")
        earlier.generate(QUICK.replace(prompt="an earlier castle", seed=5))
        earlier.drafts.save_form({"form.prompt": "the words left in the earlier session"})  # as its page left them
        open_studio(page, url)
        generate(page, "a fox", "00001")
        generate(page, "a fox at dusk", "00002")
        pick_result(page)
        page.click("#send-to-editor")
        editor_ready(page)
        page.fill("#prompt textarea", "a fox in the snow, not run yet")

        # Picking a session in the list shows what it holds before the artist moves there.
        choose_session(page, "an-earlier-session")
        expect(page.locator("#session-preview")).to_contain_text("an earlier castle")
        expect(page.locator("#session-preview")).to_contain_text("1 node")
        expect(page.locator("#session-preview img")).to_have_count(1)
        page.click("#open-session")
        expect(page.locator("#session-line")).to_contain_text("an-earlier-session")

        # Everything that belonged to the old session follows the switch at once. Its form is the session's own, and
        # the words typed here and not run are one click away.
        expect(page.locator("#status")).to_contain_text("an-earlier-session")
        expect(page.locator("#prompt textarea")).to_have_value("the words left in the earlier session")
        expect(page.locator("#unsent-prompt")).to_contain_text("a fox in the snow, not run yet")
        expect(page.locator("#selection")).not_to_contain_text("00002")
        expect(page.locator("#compare-box")).to_be_hidden()
        open_tab(page, "Results")
        expect(page.locator("#results .thumb")).to_have_count(1)
        expect(page.locator("#results .thumb figcaption").first).to_contain_text("00001·1")
        open_tab(page, "Edit")
        expect(page.locator("#edit-source")).not_to_contain_text("00002")
        expect(page.locator("#editor .sheet")).to_be_hidden()
        shoot(page, "trust-01-after-a-session-switch")

        # A result clicked now is the new session's own: its recipe, and its picture in the editor.
        open_tab(page, "Results")
        pick_result(page)
        expect(page.locator("#prompt textarea")).to_have_value("an earlier castle")
        expect(page.locator("#seed input")).to_have_value("5")
        page.click("#send-to-editor")
        editor_ready(page)
        expect(page.locator("#editor img.picture")).to_have_attribute("src", re.compile("an-earlier-session"))


def test_the_header_the_plan_and_the_run_agree_on_the_model(fake_engine, page, tmp_path):
    with running_studio(fake_engine, tmp_path / "outputs", defaults=QUICK) as (url, studio):
        open_studio(page, url)
        generate(page, "a knight", "00001")  # SD 1.5 ("tiny")
        page.get_by_text("Model", exact=True).click()  # open the Model panel
        # A button in a panel just opened can miss its first click on a loaded machine (seen once on CI), so,
        # as a person would, click again when the header has not moved.
        for _ in range(3):
            page.click("#use-tiny-sdxl")
            try:
                expect(page.locator("#model-status")).to_contain_text("tiny-sdxl", timeout=5_000)
                break
            except AssertionError:
                continue
        expect(page.locator("#model-status")).to_contain_text("tiny-sdxl")
        expect(page.locator("#plan")).to_contain_text("Will run: tiny-sdxl · SDXL")

        # Picking the SD 1.5 picture leaves the loaded model in the form, and says what made the picture.
        open_tab(page, "Results")
        pick_result(page)
        expect(page.locator("#model textarea, #model input").first).to_have_value("tiny-sdxl")
        expect(page.locator("#plan")).to_contain_text("Will run: tiny-sdxl · SDXL")
        expect(page.locator("#use-model")).to_be_visible()
        expect(page.locator("#use-model")).to_contain_text("tiny")
        shoot(page, "trust-02-a-pick-of-another-model")
        generate(page, "a knight", "00002")
        assert browser_session(studio).history.get("00002").recipe.model == "tiny-sdxl"
        expect(page.locator("#model-status")).to_contain_text("tiny-sdxl")

        # One click takes the picture's model: loaded at once, so the header, the plan and the run agree.
        pick_result(page)  # 00002 is SDXL: nothing to offer
        expect(page.locator("#use-model")).to_be_hidden()
        open_tab(page, "History")
        page.locator("#history img").first.click()  # 00001, the first root
        expect(page.locator("#use-model")).to_be_visible()
        page.click("#use-model")
        expect(page.locator("#model-status")).to_contain_text("tiny · SD 1.5")
        expect(page.locator("#plan")).to_contain_text("Will run: tiny · SD 1.5")
        expect(page.locator("#use-model")).to_be_hidden()
        generate(page, "a knight", "00003")
        assert browser_session(studio).history.get("00003").recipe.model == "tiny"

        # A model typed but not loaded is named as such before the run; the header follows what ran.
        page.fill("#model textarea, #model input", "tiny-sdxl")
        expect(page.locator("#plan")).to_contain_text("not loaded yet")
        generate(page, "a knight", "00004")
        expect(page.locator("#model-status")).to_contain_text("tiny-sdxl")
        expect(page.locator("#plan")).to_contain_text("Will run: tiny-sdxl · SDXL")


def test_edit_on_another_picture_keeps_the_unsent_mask_and_paint(fake_engine, page, tmp_path):
    with running_studio(fake_engine, tmp_path / "outputs", defaults=QUICK.replace(batch_size=2)) as (url, studio):
        open_studio(page, url)
        generate(page, "a hand", "00001")
        pick_result(page, 0)
        page.click("#send-to-editor")
        editor_ready(page)
        # The mask is shown in a colour the artist picks (item 10): blue paint need never look like the mask.
        page.locator("#editor .mask-colour").fill("#ff00ff")
        paint_stroke(page)
        paint_stroke(page, "Paint")
        expect(page.locator("#edit-source")).to_contain_text("00001·1")
        shown = page.evaluate(
            """() => { const c = document.querySelector('#editor canvas.mask');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = new Set(); for (let i = 0; i < d.length; i += 4) if (d[i + 3]) seen.add(`${d[i]},${d[i+1]},${d[i+2]}`);
            return [...seen]; }"""
        )
        assert shown == ["255,0,255"]
        shoot(page, "trust-03a-a-mask-in-the-colour-the-artist-chose")

        # Edit on the other picture: the work on 00001·1 is kept, not thrown away.
        open_tab(page, "Results")
        pick_result(page, 1)
        page.click("#send-to-editor")
        editor_ready(page)
        expect(page.locator("#edit-source")).to_contain_text("00001·2")
        expect(page.locator("#editor-kept")).to_contain_text("00001·1")
        shoot(page, "trust-03-the-unsent-mask-is-kept")

        # One click brings it back, the picture with its mask and paint; an inpaint then uses them.
        page.click("#editor-kept")
        editor_ready(page)
        expect(page.locator("#edit-source")).to_contain_text("00001·1")
        page.click("#inpaint")
        wait_for_saved(page, "00002")
        session = browser_session(studio)
        node = session.history.get("00002")
        assert node.parent_id == "00001" and node.source_index == 0 and "mask" in node.inputs
        # The paint came back too: the picture the inpaint was given is the original painted over.
        given = np.asarray(Image.open(session.history.path(node.inputs["image"])).convert("RGB"))
        original = np.asarray(Image.open(session.output_path("00001", 0)).convert("RGB"))
        assert given.shape == original.shape and (given != original).any()


def test_a_pick_keeps_the_unsent_prompt_one_click_away(fake_engine, page, tmp_path):
    with running_studio(fake_engine, tmp_path / "outputs", defaults=QUICK) as (url, _):
        open_studio(page, url)
        generate(page, "a lighthouse", "00001")
        typed = "a lighthouse in a storm, waves breaking, oil painting"
        page.fill("#prompt textarea", typed)
        page.fill("#negative-prompt textarea", "blurry")
        pick_result(page)
        expect(page.locator("#prompt textarea")).to_have_value("a lighthouse")
        expect(page.locator("#unsent-prompt")).to_be_visible()
        expect(page.locator("#unsent-prompt")).to_contain_text("a lighthouse in a storm")
        shoot(page, "trust-04-the-unsent-prompt-is-kept")
        page.click("#unsent-prompt")
        expect(page.locator("#prompt textarea")).to_have_value(typed)
        expect(page.locator("#negative-prompt textarea")).to_have_value("blurry")
        expect(page.locator("#unsent-prompt")).to_be_hidden()

        # Words that already ran are not "unsent": a pick over them offers nothing.
        generate(page, typed, "00002")
        pick_result(page)
        expect(page.locator("#unsent-prompt")).to_be_hidden()


def test_words_that_ran_in_the_session_left_are_not_offered_as_unsent(fake_engine, page, tmp_path):
    with running_studio(fake_engine, tmp_path / "outputs", defaults=QUICK) as (url, studio):
        other = studio.open("an-earlier-session")
        other.generate(QUICK.replace(prompt="an earlier castle"))
        other.drafts.save_form({"form.prompt": "an earlier castle"})
        open_studio(page, url)
        generate(page, "a red fox", "00001")
        open_tab(page, "History")
        page.locator("#sessions input").click()
        page.get_by_role("option", name=re.compile(r"^an-earlier-session ·")).click()
        page.click("#open-session")
        expect(page.locator("#session-line")).to_contain_text("an-earlier-session")
        expect(page.locator("#prompt textarea")).to_have_value("an earlier castle")
        expect(page.locator("#unsent-prompt")).to_be_hidden()  # "a red fox" ran where it was typed


def test_typed_numbers_are_used_or_refused_never_replaced(fake_engine, page, tmp_path):
    with running_studio(fake_engine, tmp_path / "outputs", defaults=QUICK) as (url, studio):
        open_studio(page, url)
        # Empty means none: the variation seed box is empty, not 0.
        expect(page.locator("#variation-seed input")).to_have_value("")
        # Item 13: with no picture the picture's buttons are off; the numbers are in view at 1366x768; presets named.
        for button in ("#send-to-editor", "#send-to-finish", "#mark-keep", "#mark-reject", "#vary"):
            expect(page.locator(button)).to_be_disabled()
        for box in ("#steps", "#batch", "#width", "#height"):
            assert page.locator(box).bounding_box()["y"] + page.locator(box).bounding_box()["height"] <= 768
        expect(page.locator("#preset")).to_contain_text("Preset")
        steps = page.locator("#steps input")
        for typed in ("0", "ten"):
            steps.click()
            steps.press("Control+a")
            page.keyboard.type(typed)
            steps.press("Tab")
            page.fill("#prompt textarea", "a bridge")
            page.click("#generate-button")
            refusal = page.get_by_text(re.compile(r"^Steps: ")).last
            expect(refusal).to_be_visible(timeout=20_000)
            assert steps.input_value() != "1"  # what the artist typed stays in the box
            page.locator(".toast-close").first.click()
            expect(refusal).to_be_hidden()
        assert fake_engine.runs == []
        shoot(page, "trust-05-steps-refused")
        steps.fill("3")
        page.fill("#batch input", "4")
        generate(page, "a bridge", "00001")
        assert browser_session(studio).history.get("00001").recipe.steps == 3

        # A pick of one variation of three leaves the batch the artist set.
        pick_result(page)
        expect(page.locator("#send-to-editor")).to_be_enabled()
        page.fill("#vary-count input", "3")
        page.click("#vary")
        wait_for_saved(page, "00002")
        pick_result(page, 1)
        expect(page.locator("#batch input")).to_have_value("4")


def audit(page: Page, studio, recorded=None) -> None:
    """After each action: the header, *Will run* and the form's Model box name the loaded model (and nothing says it
    is not loaded); the node just made recorded the recipe the form holds."""
    loaded = studio.services.models.model
    expect(page.locator("#model-status")).to_have_text(re.compile(rf"Model:\s*{re.escape(loaded)}\s·"))
    expect(page.locator("#plan")).to_contain_text(re.compile(rf"Will run:\s*{re.escape(loaded)}\s·"))
    expect(page.locator("#plan")).not_to_contain_text("not loaded yet")
    expect(page.locator("#model textarea, #model input").first).to_have_value(loaded)
    if recorded is not None:
        assert recorded.recipe.model == loaded
        expect(page.locator("#prompt textarea")).to_have_value(recorded.recipe.prompt)
        expect(page.locator("#steps input")).to_have_value(str(recorded.recipe.steps))


def test_a_state_audit_across_picks_restores_session_switches_and_model_loads(fake_engine, page, tmp_path):
    with running_studio(fake_engine, tmp_path / "outputs", defaults=QUICK) as (url, studio):
        studio.open("sdxl-session").generate(QUICK.replace(model="tiny-sdxl", prompt="an sdxl harbour"))
        fake_engine.load("tiny")
        open_studio(page, url)
        page.get_by_text("Model", exact=True).click()  # open the Model panel: its box is one of the three
        audit(page, studio)
        generate(page, "a mill", "00001")
        (mine,) = [info.id for info in studio.store.sessions() if info.id != "sdxl-session"]
        audit(page, studio, studio.open(mine).history.get("00001"))

        page.click("#use-tiny-sdxl")
        expect(page.locator("#model-status")).to_contain_text("tiny-sdxl")
        audit(page, studio)

        pick_result(page)  # an SD 1.5 picture, under SDXL
        audit(page, studio)
        page.fill("#steps input", "3")
        generate(page, "a mill at night", "00002")
        audit(page, studio, studio.open(mine).history.get("00002"))

        open_tab(page, "History")  # a restore from the tree
        page.locator("#history img").first.click()
        expect(page.locator("#selection")).to_contain_text("00001")
        audit(page, studio)

        choose_session(page, "sdxl-session")  # a session switch, then a pick there
        page.click("#open-session")
        expect(page.locator("#session-line")).to_contain_text("sdxl-session")
        audit(page, studio)
        open_tab(page, "Results")
        pick_result(page)
        audit(page, studio)
        generate(page, "an sdxl harbour at dawn", "00002")
        audit(page, studio, studio.open("sdxl-session").history.get("00002"))

        page.click("#use-tiny")  # a model load, then a reload
        expect(page.locator("#model-status")).to_contain_text("tiny ·")
        audit(page, studio)
        open_studio(page)
        page.get_by_text("Model", exact=True).click()
        audit(page, studio)
        shoot(page, "trust-06-after-the-audit")


def test_an_oversized_control_source_is_refused_and_a_kind_change_is_clean(fake_engine, page, tmp_path, capfd):
    huge = tmp_path / "huge.png"
    # 12000 pixels wide, as the walk-through's picture, but a strip: the side is what is refused, and a strip is
    # made, sent and decoded in milliseconds.
    Image.new("L", (12000, 64), 255).save(huge)
    with running_studio(fake_engine, tmp_path / "outputs", defaults=QUICK) as (url, studio):
        open_studio(page, url)
        open_tab(page, "Control")
        page.locator("#control-1-source input[type=file]").set_input_files(str(huge))
        page.click("#control-1-make-map")
        refusal = page.get_by_text(re.compile(r"control unit 1: the picture to make a map from: .*12000x64 pixels"))
        expect(refusal.first).to_be_visible(timeout=60_000)
        page.locator(".toast-close").first.click()  # read, then closed: it would cover the palette's list below
        expect(page.locator("#control-1-map .sheet")).to_be_hidden()
        expect(page.locator("#plan")).to_contain_text("Control: off")
        generate(page, "a castle", "00001")  # the unit is off: nothing of it stops the run
        assert browser_session(studio).history.get("00001").recipe.controls == ()

        # A kind change: no server error, no "Error" badge, and the old kind's colours are not offered.
        open_tab(page, "Control")
        page.get_by_role("tab", name="Unit 2").click()  # a semantic map, painted in class colours
        page.click("#control-2-blank-map")
        expect(page.locator("#control-2-map .swatch").first).to_be_visible()
        # Two greys a shade apart are told apart by name (item 13).
        choose_class(page, 2, "wall")
        choose_class(page, 2, "skyscraper")
        expect(page.locator("#control-2-map .swatch")).to_have_text(["skyscraper", "wall"])
        page.locator("#control-2-kind input").click()
        page.get_by_role("option", name="Scribble").click()
        expect(page.locator("#control-2-hint")).to_contain_text("The old map was cleared")
        expect(page.locator("#control-2-map .swatch")).to_have_count(0)
        page.click("#control-2-blank-map")
        colours = page.locator("#control-2-map .swatch")
        expect(colours.first).to_be_visible()
        assert {colours.nth(i).get_attribute("data-colour") for i in range(colours.count())} <= {"#ffffff", "#000000"}
        expect(page.locator("#control-unit-2 .error")).to_have_count(0)  # no badge over unit 2
        shoot(page, "trust-07-a-kind-change-is-clean")
    logged = capfd.readouterr().err
    assert "Traceback" not in logged and "didn't return enough output values" not in logged


def test_a_first_visit_that_changes_nothing_leaves_no_session_behind_and_typed_words_are_kept(
    fake_engine, page, tmp_path
):
    outputs = tmp_path / "outputs"
    with running_studio(fake_engine, outputs, defaults=QUICK) as (url, studio):
        open_studio(page, url)
        expect(page.locator("#status")).to_contain_text("Ready.")
        expect(page.locator("#plan")).to_contain_text("Will run:")  # the form's first store has been answered
        page.wait_for_timeout(1000)
        assert not outputs.exists() or not any(outputs.iterdir())  # nothing made, nothing kept
        page.fill("#prompt textarea", "a mill by the river")
        for _ in range(100):  # words typed are work: the session's draft keeps them
            if outputs.exists() and any(outputs.glob("*/draft/form.json")):
                break
            page.wait_for_timeout(100)
        open_studio(page)
        expect(page.locator("#prompt textarea")).to_have_value("a mill by the river", timeout=20_000)


def test_stop_in_a_shared_studio_takes_only_its_own_run_out_of_the_line(engine, browser, tmp_path):
    """Artist A runs; artist B's run waits for the engine, and B is told so; B presses Stop: B's run never
    starts, A's finishes."""
    release, calls = threading.Event(), []

    def hold_at_the_third_step(module, args) -> None:  # A's run holds the lane until the test has seen B wait
        calls.append(1)
        if len(calls) == 3:
            release.wait(60)

    held = engine.pipelines.base.unet.register_forward_pre_hook(hold_at_the_third_step)
    slow = TEST_DEFAULTS.replace(steps=8)
    with running_studio(engine, tmp_path / "outputs", defaults=slow) as (url, studio):
        artist_a, artist_b = browser.new_page(), browser.new_page()
        try:
            for page in (artist_a, artist_b):
                open_studio(page, url)
            artist_a.fill("#prompt textarea", "a long harbour at night")
            artist_a.click("#generate-button")
            expect(artist_a.locator("#status")).to_contain_text("Painting", timeout=60_000)
            artist_b.fill("#prompt textarea", "a small mill")
            artist_b.click("#generate-button")
            for _ in range(100):  # B's run waits in the engine's lane, behind A's
                if len(engine.waiting) == 1:
                    break
                artist_b.wait_for_timeout(100)
            assert len(engine.waiting) == 1
            # B is told why nothing moves, and what Stop does for it.
            expect(artist_b.locator("#status")).to_contain_text("Waiting: 1 run ahead of this one", timeout=10_000)
            expect(artist_b.locator("#status")).to_contain_text("Stop acts on the whole session")
            shoot(artist_b, "trust-waiting-in-line")
            open_studio(artist_b, url)  # a reload while it waits: the page says the same, and Stop still reaches it
            expect(artist_b.locator("#status")).to_contain_text("Waiting: 1 run ahead of this one", timeout=10_000)
            artist_b.click("#stop-button")
            expect(artist_b.locator("#status")).to_contain_text("Stopped", timeout=60_000)
            release.set()
            expect(artist_a.locator("#status")).to_contain_text("Saved 00001", timeout=120_000)
            assert [info.node_count for info in studio.store.sessions()] == [1]  # A's one node; nothing of B's
        finally:
            release.set()
            held.remove()
            artist_a.close()
            artist_b.close()
