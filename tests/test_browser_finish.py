"""Finishing a picture in the real page: extend the canvas of a picked picture (outpaint)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter
from playwright.sync_api import expect

from studio.history import Action
from tests.browser_kit import open_studio, pick_result, shoot, wait_for_saved
from tests.servers import browser_session, running_studio

pytestmark = pytest.mark.browser


def test_outpaint_the_picked_picture_from_the_results(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        page.fill("#steps input[type=number]", "2")
        page.fill("#prompt textarea", "a harbour at noon")
        page.click("#generate-button")
        wait_for_saved(page, "00001")

        page.get_by_text("Extend the canvas (outpaint)").click()
        pick_result(page)
        page.fill("#outpaint-left input", "32")
        page.fill("#outpaint-right input", "16")
        page.click("#outpaint")
        wait_for_saved(page, "00002")
        expect(page.locator("#results .thumb figcaption").first).to_contain_text("outpaint")
        shoot(page, "finish-01-outpainted")

        session = browser_session(studio).session
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


def test_the_hires_fix_from_the_settings(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs") as (url, studio):
        open_studio(page, url)
        page.fill("#steps input[type=number]", "2")
        page.get_by_text("Hires fix (Generate)").click()
        page.fill("#hires-scale input[type=number]", "1.5")
        page.locator("#hires-scale input[type=number]").press("Enter")
        expect(page.locator("#plan")).to_contain_text("Hires fix: 1.5× by Latent, strength 0.7 (Generate only)")
        page.fill("#prompt textarea", "a lighthouse, hires")
        page.click("#generate-button")
        wait_for_saved(page, "00001")
        expect(page.locator("#selection")).to_contain_text("hires 1.5× Latent → 192×192, 0.7")
        shoot(page, "finish-02-hires")
        node = browser_session(studio).session.get("00001")
        assert node.recipe.hires_scale == 1.5 and node.recipe.hires_upscaler == "Latent"
        picture = Image.open(browser_session(studio).session.path(node.outputs[0]))
        assert picture.size == node.recipe.hires_size == (192, 192)
