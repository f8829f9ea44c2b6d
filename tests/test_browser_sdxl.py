"""SDXL in the real page: load the tiny SDXL model from the Model panel, see its family, generate and inpaint."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter
from playwright.sync_api import expect

from studio.history import Action
from tests.browser_kit import RUN_TIMEOUT, editor_ready, open_studio, paint_stroke, pick_result, shoot, wait_for_saved
from tests.servers import TEST_DEFAULTS, browser_session, running_studio

pytestmark = pytest.mark.browser


@pytest.fixture
def fresh_engine(model_cache):
    """An engine of its own: switching models here must not switch the shared tiny engine under other tests."""
    from studio.engine.factory import make_engine

    engine = make_engine(cache_dir=model_cache)
    engine.load("tiny")
    return engine


def test_load_the_tiny_sdxl_model_see_its_family_generate_and_inpaint(fresh_engine, page, tmp_path):
    # The form starts at SD 1.5's native size, as a new user's does.
    defaults = TEST_DEFAULTS.replace(width=512, height=512, steps=2)
    with running_studio(fresh_engine, tmp_path / "outputs", defaults=defaults) as (url, studio):
        open_studio(page, url)
        expect(page.locator("#model-status")).to_contain_text("SD 1.5")
        expect(page.locator("#native-sizes")).to_contain_text("Native sizes (SD 1.5)")

        page.get_by_text("Model", exact=True).click()  # open the Model panel
        # How runs go, and why: the CPU runs eagerly (studio/engine/speed.py).
        expect(page.locator("#speed")).to_contain_text("Speed: eager — on the CPU compiling takes about a minute")
        page.click("#use-tiny-sdxl")
        expect(page.locator("#status")).to_contain_text("Loaded tiny-sdxl (SDXL)", timeout=RUN_TIMEOUT)
        expect(page.locator("#status")).to_contain_text("Size set to 1024 × 1024, SDXL's native size")
        expect(page.locator("#model-status")).to_contain_text("tiny-sdxl · SDXL")
        expect(page.locator("#plan")).to_contain_text("Will run: tiny-sdxl · SDXL")
        expect(page.locator("#width input")).to_have_value("1024")
        expect(page.locator("#native-sizes")).to_contain_text("Native sizes (SDXL)")
        # A native size is one click away.
        page.locator("#native-sizes").get_by_text("832 × 1216").click()
        expect(page.locator("#width input")).to_have_value("832")
        expect(page.locator("#height input")).to_have_value("1216")
        shoot(page, "sdxl-01-loaded")

        # Small, to be quick on the CPU.
        page.fill("#width input", "128")
        page.fill("#height input", "128")
        page.fill("#prompt textarea", "a lighthouse at dusk")
        page.click("#generate-button")
        wait_for_saved(page, "00001")
        session = browser_session(studio).history
        first = session.get("00001")
        assert first.recipe.model == "tiny-sdxl" and (first.recipe.width, first.recipe.height) == (128, 128)

        pick_result(page)
        page.click("#send-to-editor")
        editor_ready(page)
        paint_stroke(page)
        page.click("#inpaint")
        wait_for_saved(page, "00002")
        shoot(page, "sdxl-02-inpainted")

        child = session.get("00002")
        assert child.action is Action.INPAINT and child.recipe.model == "tiny-sdxl"
        mask = Image.open(session.path(child.inputs["mask"]))
        before = np.asarray(Image.open(session.path(child.inputs["image"])).convert("RGB"))
        after = np.asarray(Image.open(session.path(child.outputs[0])).convert("RGB"))
        outside = np.asarray(mask.filter(ImageFilter.GaussianBlur(child.recipe.mask_blur))) == 0
        assert outside.any() and (~outside).any()
        assert np.array_equal(after[outside], before[outside])
        assert not np.array_equal(after[~outside], before[~outside])
