"""An A1111 API client and an artist's browser on one studio at once: each gets its own pictures and settings."""

from __future__ import annotations

import re
import threading

import pytest
import webuiapi
from playwright.sync_api import expect

from studio.webui.routes import API_SESSION
from tests.browser_kit import RUN_TIMEOUT, open_studio, open_tab, shoot, wait_for_saved
from tests.servers import running_studio

pytestmark = pytest.mark.browser


def test_a_browser_and_an_api_client_at_once_each_get_their_own(engine, page, tmp_path):
    with running_studio(engine, tmp_path / "outputs", api=True) as (url, studio):
        open_studio(page, url)
        page.fill("#prompt textarea", "the artist's lighthouse")
        host, port = url.split("//")[1].rstrip("/").split(":")
        client = webuiapi.WebUIApi(host=host, port=int(port), sampler="DDIM")
        answer: dict = {}

        def bot() -> None:
            answer["result"] = client.txt2img(
                prompt="the bot's harbour", seed=5, steps=12, cfg_scale=4, width=64, height=96, eta=0
            )

        calling = threading.Thread(target=bot)
        calling.start()
        page.click("#generate-button")
        wait_for_saved(page, "00001")
        calling.join(timeout=RUN_TIMEOUT / 1000)

        # Each picture has its caller's settings, in its caller's session.
        api_node = studio.for_session(API_SESSION).tree()[0]
        assert (api_node.recipe.prompt, api_node.recipe.steps, api_node.recipe.sampler) == (
            "the bot's harbour",
            12,
            "DDIM",
        )
        assert (api_node.recipe.width, api_node.recipe.height, api_node.recipe.cfg_scale) == (64, 96, 4.0)
        assert answer["result"].image.size == (64, 96)
        (browser_info,) = [info for info in studio.sessions() if info.id != API_SESSION]
        browser_node = studio.for_session(browser_info.id).tree()[0]
        assert (browser_node.recipe.prompt, browser_node.recipe.steps) == ("the artist's lighthouse", 3)
        assert (browser_node.recipe.width, browser_node.recipe.sampler) == (128, "Euler a")
        # Nothing the artist set moved.
        expect(page.locator("#prompt textarea")).to_have_value("the artist's lighthouse")
        expect(page.locator("#steps input[type=number]")).to_have_value("3")

        # The API's pictures are in the history, in a session of their own the artist can open and branch from.
        open_tab(page, "History")
        expect(page.locator("#history img")).to_have_count(1)
        page.locator("#sessions input").click()
        page.get_by_role("option", name=f"{API_SESSION} · 1 nodes").click()
        page.click("#open-session")
        expect(page.locator("#session-line")).to_contain_text(API_SESSION)
        expect(page.locator("#history img").first).to_have_attribute("src", re.compile(rf"/{API_SESSION}/00001-0\.png"))
        shoot(page, "api-01-the-api-session-in-history")
