"""Reference pictures and area prompts in the window: two references, each with its own painted area, and words
for one area; generate, and find them on the node, in the History and in the authorship story."""

from __future__ import annotations

import re

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from studio.engine.references import ReferenceAdapters
from studio.engine.tiny_references import FACEID, PLUS, tiny_ip_adapter_folder
from tests.browser_kit import open_studio, open_tab, paint_on, shoot, type_number, wait_for_saved
from tests.servers import TEST_DEFAULTS, browser_session, running_studio


@pytest.fixture
def adapters(engine, model_cache, monkeypatch):
    references = ReferenceAdapters(tiny_ip_adapter_folder(model_cache))
    monkeypatch.setattr(engine, "references", references)
    yield references
    references.activate(engine.pipelines.base, (), engine.family)


def sheet(path, colour: str) -> str:
    picture = Image.new("RGB", (120, 90), colour)
    ImageDraw.Draw(picture).ellipse((30, 10, 90, 80), fill="gold")
    picture.save(path)
    return str(path)


def test_two_references_with_two_areas_and_an_area_prompt_show_in_the_tree_and_the_story(
    engine, adapters, page, tmp_path
):
    with running_studio(engine, tmp_path / "outputs", reference_dir=adapters.folder) as (url, studio):
        open_studio(page, url)
        page.fill("#prompt textarea", "two friends in a park")
        open_tab(page, "Control")
        for number, colour, stroke, origin in (
            (1, "crimson", ((0.2, 0.2), (0.2, 0.8)), "my character sheet"),
            (2, "navy", ((0.8, 0.2), (0.8, 0.8)), "a friend's costume photo"),
        ):
            page.get_by_role("tab", name=f"Reference {number}").click()
            page.locator(f"#reference-{number} input[type=file]").set_input_files(
                sheet(tmp_path / f"{number}.png", colour)
            )
            expect(page.locator(f"#reference-{number}-on input")).to_be_checked()  # a picture given is meant
            page.fill(f"#reference-{number}-origin textarea", origin)
            page.click(f"#reference-{number}-blank-area")
            expect(page.locator(f"#reference-{number}-area .sheet")).to_be_visible(timeout=20_000)
            paint_on(page, f"#reference-{number}-area", *stroke)
        page.get_by_role("tab", name="Area 1").click()
        page.locator("#area-1-prompt textarea").press_sequentially("a girl with red hair")  # typed, as an artist does
        expect(page.locator("#area-1-on input")).to_be_checked()  # words written for an area are meant
        page.click("#area-1-blank-area")
        expect(page.locator("#area-1-area .sheet")).to_be_visible(timeout=20_000)
        paint_on(page, "#area-1-area", (0.25, 0.3), (0.25, 0.7))
        expect(page.locator("#plan")).to_contain_text("Area 1: “a girl with red hair”")
        expect(page.locator("#plan")).to_contain_text(
            "Reference 1: ip-adapter-plus_tiny, weight 0.8, style and content"
        )
        expect(page.locator("#plan")).to_contain_text("Reference 2: ip-adapter-plus_tiny, weight 0.8")
        # Picking a FaceID adapter makes the unit a Face one, and the plan says it cannot run without insightface;
        # picking a picture adapter again gives Style and content back.
        kind = page.locator("#reference-2-kind")
        for adapter, lends in ((FACEID, "Face"), (PLUS, "Style and content")):
            page.click("#reference-2-model input")
            page.get_by_role("option", name=adapter, exact=True).click()
            expect(kind.get_by_label(lends, exact=True)).to_be_checked()
            if lends == "Face":  # said in the plan, and on the unit with what to do
                expect(page.locator("#plan")).to_contain_text("face — cannot run: needs insightface")
                expect(page.locator("#reference-2-advice")).to_contain_text("pip install insightface onnxruntime")
                shoot(page, "references-00-face-cannot-run")
            else:
                expect(page.locator("#reference-2-advice")).to_have_text("")
        expect(page.locator("#plan")).to_contain_text("Reference 2: ip-adapter-plus_tiny, weight 0.8, style and")
        shoot(page, "references-01-two-references-with-areas")
        # A start after the end is refused in words, and nothing runs.
        type_number(page, "#reference-2-start input[type=number]", "0.8")
        type_number(page, "#reference-2-end input[type=number]", "0.2")
        page.click("#generate-button")
        expect(page.get_by_text("guidance_start must be below guidance_end")).to_be_visible(timeout=20_000)
        expect(page.locator("#status")).not_to_contain_text("Saved")
        type_number(page, "#reference-2-start input[type=number]", "0")
        type_number(page, "#reference-2-end input[type=number]", "1")

        page.click("#generate-button")
        wait_for_saved(page, "00001")
        node = browser_session(studio).history.get("00001")
        first, second = node.recipe.references
        assert (first.image, first.mask, second.image, second.mask) == (
            "reference-1",
            "reference-1-mask",
            "reference-2",
            "reference-2-mask",
        )
        area = Image.open(browser_session(studio).history.path(node.inputs["reference-1-mask"])).convert("L")
        assert area.getpixel((int(0.2 * area.width), area.height // 2)) == 255
        assert area.getpixel((int(0.8 * area.width), area.height // 2)) == 0  # the other reference's side
        assert node.sources["reference-2"] == {"origin": "a friend's costume photo", "licence": "unknown"}
        (area_prompt,) = node.recipe.area_prompts
        assert (area_prompt.prompt, area_prompt.mask, area_prompt.weight) == ("a girl with red hair", "area-1", 0.8)
        painted = Image.open(browser_session(studio).history.path(node.inputs["area-1"])).convert("L")
        assert painted.getpixel((painted.width // 4, painted.height // 2)) == 255
        text = Image.open(browser_session(studio).history.path(node.outputs[0])).text["parameters"]
        assert "Area prompt 1: a girl with red hair, Area weight 1: 0.8" in text

        open_tab(page, "History")
        page.locator("#history img").first.click()
        expect(page.locator("#node-inputs")).to_contain_text("reference-1")
        expect(page.locator("#node-inputs")).to_contain_text("reference-2-mask")
        shoot(page, "references-02-the-node-with-its-references")

        open_tab(page, "Authorship")
        page.click("#authorship-show")
        story = page.locator("#authorship-story")
        expect(story).to_contain_text("1 step, 1 of them shaped by hand")  # the areas were painted by hand
        expect(story).to_contain_text("chose reference picture 1")
        expect(story).to_contain_text("wrote for it “a girl with red hair”")
        expect(story).to_contain_text("my character sheet")
        expect(story).to_contain_text("2 outside picture(s)")
        shoot(page, "references-03-the-story")


def test_references_and_areas_stay_with_their_session_and_come_back_after_a_reload(fake_engine, page, tmp_path):
    """The pictures and painted areas of the Control tab are the artist's hand work of one session: a reload brings
    them back, another session never runs with them, and a return to the session shows them again."""
    with running_studio(fake_engine, tmp_path / "outputs", defaults=TEST_DEFAULTS) as (url, studio):
        open_studio(page, url)
        page.fill("#prompt textarea", "two friends in a park")
        page.click("#generate-button")
        wait_for_saved(page, "00001")
        mine = browser_session(studio)
        earlier = studio.open("an-earlier-session")
        earlier.generate(TEST_DEFAULTS.replace(prompt="an earlier castle"))
        earlier.drafts.save_form({"form.prompt": "the earlier session's words"})  # as its page left them
        open_tab(page, "Control")
        page.get_by_role("tab", name="Reference 1").click()
        page.locator("#reference-1 input[type=file]").set_input_files(sheet(tmp_path / "1.png", "crimson"))
        expect(page.locator("#reference-1-on input")).to_be_checked()
        page.click("#reference-1-blank-area")
        expect(page.locator("#reference-1-area .sheet")).to_be_visible(timeout=20_000)
        paint_on(page, "#reference-1-area", (0.2, 0.2), (0.2, 0.8))
        page.get_by_role("tab", name="Area 1").click()
        page.locator("#area-1-prompt textarea").press_sequentially("a girl with red hair")
        page.click("#area-1-blank-area")
        expect(page.locator("#area-1-area .sheet")).to_be_visible(timeout=20_000)
        paint_on(page, "#area-1-area", (0.7, 0.3), (0.7, 0.7))
        expect(page.locator("#plan")).to_contain_text("Area 1: “a girl with red hair”")
        kept = ("reference-1", "reference-1-area", "area-1")

        def painted_area_kept() -> bool:
            # The blank area reaches the draft first, the stroke with a later change: wait for the stroke itself.
            area = mine.drafts.steering("area-1")
            if area is None:
                return False
            area = area.convert("L")
            return area.getpixel((int(0.7 * area.width), area.height // 2)) == 255

        for _ in range(100):  # the drafts are written as the page reports each change
            if all(mine.drafts.steering(name) is not None for name in kept) and painted_area_kept():
                break
            page.wait_for_timeout(100)
        assert painted_area_kept()

        page.reload()  # the hand work comes back with the page
        open_tab(page, "Control")
        page.get_by_role("tab", name="Reference 1").click()
        expect(page.locator("#reference-1-on input")).to_be_checked(timeout=20_000)
        expect(page.locator("#reference-1 img")).to_be_visible()
        expect(page.locator("#reference-1-area .sheet")).to_be_visible()
        page.get_by_role("tab", name="Area 1").click()
        expect(page.locator("#area-1-on input")).to_be_checked()
        expect(page.locator("#area-1-prompt textarea")).to_have_value("a girl with red hair")
        expect(page.locator("#area-1-area .sheet")).to_be_visible()

        open_tab(page, "History")  # another session: none of it is there, nor steers its runs
        page.locator("#sessions input").click()
        page.get_by_role("option", name=re.compile(r"^an-earlier-session ·")).click()
        page.click("#open-session")
        expect(page.locator("#session-line")).to_contain_text("an-earlier-session")
        open_tab(page, "Control")
        page.get_by_role("tab", name="Reference 1").click()
        expect(page.locator("#reference-1-on input")).not_to_be_checked()
        expect(page.locator("#reference-1 img")).to_have_count(0)
        expect(page.locator("#reference-1-area .sheet")).to_be_hidden()
        page.get_by_role("tab", name="Area 1").click()
        expect(page.locator("#area-1-on input")).not_to_be_checked()
        expect(page.locator("#area-1-prompt textarea")).to_have_value("")
        expect(page.locator("#area-1-area .sheet")).to_be_hidden()
        expect(page.locator("#plan")).not_to_contain_text("Area 1")
        shoot(page, "references-04-another-session-has-none")

        open_tab(page, "History")  # and back: the artist's work is where they left it
        page.locator("#sessions input").click()
        page.get_by_role("option", name=re.compile(rf"^{re.escape(mine.history.id)} ·")).click()
        page.click("#open-session")
        open_tab(page, "Control")
        page.get_by_role("tab", name="Reference 1").click()
        expect(page.locator("#reference-1-on input")).to_be_checked(timeout=20_000)
        expect(page.locator("#reference-1 img")).to_be_visible()
        page.get_by_role("tab", name="Area 1").click()
        expect(page.locator("#area-1-on input")).to_be_checked()
        expect(page.locator("#area-1-prompt textarea")).to_have_value("a girl with red hair")
        expect(page.locator("#area-1-area .sheet")).to_be_visible()
