"""Finishing a picture in the real page: fix a box and a painted region, upscale, hires fix, outpaint."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter
from playwright.sync_api import expect

from studio.finish.regions import region_mask, touched_area
from studio.history import Action
from tests.browser_kit import open_studio, pick_result, shoot, type_number, wait_for_saved
from tests.servers import browser_session, running_studio
from tests.upscaler_models import write_tiny_esrgan

pytestmark = pytest.mark.browser


def test_the_hires_fix_from_the_settings_then_outpaint_the_picture(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        page.fill("#steps input[type=number]", "2")
        page.get_by_text("Hires fix (Generate)").click()
        scale = page.locator("#hires-scale input[type=number]")
        expect(scale).to_be_visible()
        type_number(page, "#hires-scale input[type=number]", "1.5")  # a box just opened can take its value late
        expect(page.locator("#plan")).to_contain_text(
            "Hires fix: 1.5× by Latent, strength 0.7 (Generate only)", timeout=20_000
        )
        page.fill("#prompt textarea", "a lighthouse, hires")
        page.click("#generate-button")
        wait_for_saved(page, "00001")
        expect(page.locator("#selection")).to_contain_text("hires 1.5× Latent → 192×192, 0.7")
        shoot(page, "finish-02-hires")
        node = browser_session(studio).history.get("00001")
        assert node.recipe.hires_scale == 1.5 and node.recipe.hires_upscaler == "Latent"
        picture = Image.open(browser_session(studio).history.path(node.outputs[0]))
        assert picture.size == node.recipe.hires_size == (192, 192)

        # Extend its canvas: the Finish tab's outpaint.
        pick_result(page)
        page.click("#send-to-finish")
        # The tab opens with the server's answer; a number typed before it lands is drawn over by it.
        expect(page.locator("#finish-source")).to_contain_text("Finishing 00001·1", timeout=20_000)
        page.get_by_text("Extend the canvas (outpaint)").click()
        expect(page.locator("#outpaint-left input")).to_be_visible()
        for side, pixels in (("left", "32"), ("right", "16")):
            type_number(page, f"#outpaint-{side} input", pixels)
        page.click("#outpaint")
        wait_for_saved(page, "00002")
        expect(page.locator("#results .thumb figcaption").first).to_contain_text("outpaint")
        shoot(page, "finish-01-outpainted")

        session = browser_session(studio).history
        child = session.get("00002")
        assert child.action is Action.OUTPAINT and child.parent_id == "00001"
        before = np.asarray(Image.open(session.path(session.get("00001").outputs[0])).convert("RGB"))
        after = np.asarray(Image.open(session.path(child.outputs[0])).convert("RGB"))
        assert after.shape == (before.shape[0], before.shape[1] + 48, 3)
        # Outside the seam's blur, every pixel of the picture is the parent's.
        mask = Image.open(session.path(child.inputs["mask"])).filter(ImageFilter.GaussianBlur(child.recipe.mask_blur))
        height, width = before.shape[:2]
        untouched = np.asarray(mask)[:, 32 : 32 + width] == 0
        assert untouched.mean() > 0.5
        assert np.array_equal(after[:, 32 : 32 + width][untouched], before[untouched])


def drag_box(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag over the Finish board's picture from `start` to `end`, given as fractions of its width and height."""
    picture = page.locator("#region-board .sheet img").bounding_box()
    x, y, width, height = picture["x"], picture["y"], picture["width"], picture["height"]
    page.mouse.move(x + width * start[0], y + height * start[1])
    page.mouse.down()
    page.mouse.move(x + width * end[0], y + height * end[1], steps=12)
    page.mouse.up()


def test_mark_a_hand_by_dragging_a_box_fix_it_paint_a_region_fix_it_then_upscale(engine, page, tmp_path):
    write_tiny_esrgan(tmp_path / "upscalers" / "tiny-esrgan-4x.safetensors")
    with running_studio(engine, tmp_path / "outputs", upscalers=tmp_path / "upscalers") as (url, studio):
        open_studio(page, url)
        page.fill("#steps input[type=number]", "4")
        page.fill("#prompt textarea", "a knight waving")
        page.click("#generate-button")
        wait_for_saved(page, "00001")

        pick_result(page)
        page.click("#send-to-finish")
        expect(page.locator("#finish-source")).to_contain_text("Finishing 00001·1 (128×128)", timeout=20_000)
        drag_box(page, (0.1, 0.5), (0.45, 0.85))  # the hand, lower left
        expect(page.locator("#region-board .region")).to_have_count(1, timeout=20_000)
        expect(page.locator("#regions")).to_contain_text("by hand")
        page.fill("#fix-prompt textarea", "detailed hand, five fingers")
        page.fill("#fix-strength input[type=number]", "0.9")
        page.locator("#fix-strength input[type=number]").press("Enter")
        shoot(page, "finish-03-hand-marked")
        page.click("#fix-regions")
        wait_for_saved(page, "00002")
        expect(page.locator("#results .thumb figcaption").first).to_contain_text("fix region")

        # Paint the next region with the brush, on the fixed picture.
        pick_result(page)
        page.click("#send-to-finish")
        expect(page.locator("#finish-source")).to_contain_text("Finishing 00002·1", timeout=20_000)
        expect(page.locator("#region-board .region")).to_have_count(0)  # the boxes were the other picture's
        page.locator("#region-board [data-mode=brush]").click()
        drag_box(page, (0.55, 0.2), (0.8, 0.35))  # one stroke across the upper right
        expect(page.locator("#region-board .region.brush")).to_have_count(1, timeout=20_000)
        expect(page.locator("#region-board img.stroke")).to_have_count(1)
        expect(page.locator("#regions")).to_contain_text("painted #1")
        shoot(page, "finish-04-brush-region")
        page.click("#fix-regions")
        wait_for_saved(page, "00003")

        pick_result(page)
        page.click("#send-to-finish")
        expect(page.locator("#finish-source")).to_contain_text("Finishing 00003·1", timeout=20_000)
        page.get_by_text("Upscale", exact=True).click()
        page.locator("#upscaler input").click()
        page.get_by_role("option", name="tiny-esrgan-4x.safetensors").click()
        page.click("#upscale")
        wait_for_saved(page, "00004")
        expect(page.locator("#results .thumb figcaption").first).to_contain_text("upscale 2x of 00003·1")
        # The result is in view (the page was scrolled down to the Upscale button, item 11 of issue 25).
        page.wait_for_function(
            "() => { const b = document.querySelector('#results .stage').getBoundingClientRect();"
            " return b.top >= 0 && b.top < window.innerHeight - 100; }",
            timeout=5_000,
        )
        shoot(page, "finish-05-upscaled")
        # At 100 %, "before" (128 px) is laid at the scale of "after" (256 px), not small in the corner.
        page.locator("#results [data-zoom=full]").click()
        after, before = page.locator("#results img.after"), page.locator("#results img.before")
        expect(after).to_have_js_property("offsetWidth", 256)
        expect(before).to_have_js_property("offsetWidth", 256)
        assert before.bounding_box() == after.bounding_box()
        shoot(page, "finish-05b-before-and-after-at-100")
        page.get_by_role("tab", name="History").click()
        expect(page.locator("#history .tree")).to_contain_text("fix region")
        expect(page.locator("#history .tree")).to_contain_text("upscale 2x")
        shoot(page, "finish-06-history")

        session = browser_session(studio).history
        fixed, painted, upscaled = session.get("00002"), session.get("00003"), session.get("00004")
        assert fixed.action is Action.FIX and fixed.parent_id == "00001"
        (region,) = fixed.recipe.regions
        assert region.prompt == "detailed hand, five fingers" and region.denoising_strength == 0.9
        left, top, right, bottom = region.box  # the dragged box, grown by 4 pixels
        assert abs(left - (0.1 * 128 - 4)) <= 2 and abs(bottom - (0.85 * 128 + 4)) <= 2
        before = np.asarray(Image.open(session.path(session.get("00001").outputs[0])).convert("RGB"))
        after = np.asarray(Image.open(session.path(fixed.outputs[0])).convert("RGB"))
        outside = ~touched_area(fixed.recipe.regions, [region_mask(region, (128, 128))])
        assert np.array_equal(after[outside], before[outside])
        (brush,) = painted.recipe.regions
        assert brush.label == "brush" and brush.mask == "region-1" and "region-1" in painted.inputs
        strokes = Image.open(session.path(painted.inputs["region-1"]))
        after_brush = np.asarray(Image.open(session.path(painted.outputs[0])).convert("RGB"))
        outside = ~touched_area(painted.recipe.regions, [region_mask(brush, (128, 128), strokes)])
        assert outside.mean() > 0.6 and np.array_equal(after_brush[outside], after[outside])  # only the strokes
        assert not np.array_equal(after_brush[~outside], after[~outside])
        assert upscaled.action is Action.UPSCALE and upscaled.parent_id == "00003"
        assert upscaled.recipe.upscale.upscaler == "tiny-esrgan-4x.safetensors"
        assert Image.open(session.path(upscaled.outputs[0])).size == (256, 256)
