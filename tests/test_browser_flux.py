"""Flux.1 in the real page: load the tiny Flux model, see its family and Forge's settings, generate and inpaint;
back on SD, the settings Flux moved come back and Flux's own hide."""

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


def test_load_tiny_flux_generate_and_inpaint_then_back_to_sd(fresh_engine, page, tmp_path):
    defaults = TEST_DEFAULTS.replace(width=512, height=512, steps=2, sampler="DPM++ 2M", cfg_scale=7.0)
    with running_studio(fresh_engine, tmp_path / "outputs", defaults=defaults) as (url, studio):
        open_studio(page, url)
        expect(page.locator("#distilled-cfg")).to_be_hidden()
        page.get_by_text("Model", exact=True).click()
        # A model that cannot load: said under Generate, where it stays, and the loaded model is named.
        page.fill("#model textarea, #model input", str(tmp_path / "nowhere" / "flux1-dev-Q8_0.gguf"))
        page.click("#load-model")
        expect(page.locator("#status")).to_contain_text("Not loaded:", timeout=RUN_TIMEOUT)
        expect(page.locator("#status")).to_contain_text("does not exist")
        expect(page.locator("#status")).to_contain_text("The loaded model is still tiny")
        expect(page.locator("#model-status")).to_contain_text("tiny · SD 1.5")
        page.click("#use-tiny-flux")
        expect(page.locator("#status")).to_contain_text("Loaded tiny-flux (Flux.1)", timeout=RUN_TIMEOUT)
        expect(page.locator("#status")).to_contain_text("Set sampler Euler, CFG 1")
        expect(page.locator("#model-status")).to_contain_text("tiny-flux · Flux.1")
        expect(page.locator("#speed")).to_contain_text("Flux.1 needs about 36 GB of GPU memory")
        expect(page.locator("#native-sizes")).to_contain_text("Native sizes (Flux.1)")
        expect(page.locator("#sampler input")).to_have_value("Euler")
        expect(page.locator("#distilled-cfg")).to_be_visible()
        expect(page.locator("#shift")).to_be_visible()
        shoot(page, "flux-01-loaded")

        page.fill("#width input", "128")
        page.fill("#height input", "128")
        page.fill("#prompt textarea", "a knight in red armour")
        page.click("#generate-button")
        wait_for_saved(page, "00001")
        session = browser_session(studio).history
        first = session.get("00001")
        assert (first.recipe.model, first.recipe.sampler, first.recipe.cfg_scale) == ("tiny-flux", "Euler", 1.0)
        assert first.recipe.distilled_cfg_scale == 3.5

        pick_result(page)
        page.click("#send-to-editor")
        editor_ready(page)
        paint_stroke(page)
        page.click("#inpaint")
        wait_for_saved(page, "00002")
        shoot(page, "flux-02-inpainted")
        child = session.get("00002")
        assert child.action is Action.INPAINT and child.recipe.model == "tiny-flux"
        mask = Image.open(session.path(child.inputs["mask"]))
        before = np.asarray(Image.open(session.path(child.inputs["image"])).convert("RGB"))
        after = np.asarray(Image.open(session.path(child.outputs[0])).convert("RGB"))
        outside = np.asarray(mask.filter(ImageFilter.GaussianBlur(child.recipe.mask_blur))) == 0
        assert outside.any() and (~outside).any()
        assert np.array_equal(after[outside], before[outside])

        # Kontext: the change said in words is a child of the edited picture; under the mask still drawn, the rest
        # of the picture stays the artist's, pixel for pixel. Words typed and not run survive a reload.
        page.get_by_role("tab", name="Edit").click()
        expect(page.locator("#kontext-change")).to_be_visible()
        page.fill("#kontext-instruction textarea", "make the armour gold")
        page.click("#kontext-change")
        wait_for_saved(page, "00003")
        said = session.get("00003")
        assert (said.action, said.recipe.prompt, said.recipe.kontext) == (Action.KONTEXT, "make the armour gold", True)
        assert said.parent_id == "00001" and "mask" in said.inputs
        before = np.asarray(Image.open(session.path(said.inputs["image"])).convert("RGB"))
        after = np.asarray(Image.open(session.path(said.outputs[0])).convert("RGB"))
        mask = Image.open(session.path(said.inputs["mask"])).filter(ImageFilter.GaussianBlur(said.recipe.mask_blur))
        outside = np.asarray(mask) == 0
        assert np.array_equal(after[outside], before[outside]) and not np.array_equal(after, before)
        page.get_by_role("tab", name="Edit").click()
        page.fill("#kontext-instruction textarea", "add a red cape")
        page.wait_for_timeout(500)  # the form reaches the session's draft
        open_studio(page)  # the page was built as the studio started, on SD: the reload shows Flux all the same
        expect(page.locator("#model-status")).to_contain_text("tiny-flux · Flux.1")
        expect(page.locator("#distilled-cfg")).to_be_visible()
        page.get_by_role("tab", name="Edit").click()
        expect(page.locator("#kontext-instruction textarea")).to_have_value("add a red cape", timeout=RUN_TIMEOUT)
        shoot(page, "flux-03-kontext")
        page.get_by_text("Model", exact=True).click()

        # Back to SD: Euler runs there too and stays; Flux's CFG 1 goes back to SD's default; Flux's sliders hide.
        page.click("#use-tiny")
        expect(page.locator("#status")).to_contain_text("Loaded tiny (SD 1.5)", timeout=RUN_TIMEOUT)
        expect(page.locator("#sampler input")).to_have_value("Euler")
        expect(page.locator("#distilled-cfg")).to_be_hidden()
        expect(page.locator("#kontext-change")).to_be_hidden()
        shoot(page, "flux-04-back-to-sd")
