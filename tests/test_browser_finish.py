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
