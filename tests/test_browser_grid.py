"""The Grid panel (A1111's X/Y/Z plot) in the real page: two settings varied over the form's recipe make a node per
cell, shown in Results and the tree, and the grid picture with the values in its margins; a bad value is refused
by name and nothing is saved."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from studio.recipe import Recipe
from tests.browser_kit import RUN_TIMEOUT, open_studio, open_tab, shoot
from tests.fake_engine import GatedEngine
from tests.servers import browser_session, running_studio

pytestmark = pytest.mark.browser

QUICK = Recipe(prompt="a knight in red armour", model="tiny", steps=2, width=64, height=64, seed=5)


def choose(page, selector: str, option: str) -> None:
    """Pick `option` in the dropdown `selector`, once the list of the one chosen before has closed (two open
    lists would both offer it)."""
    options = page.locator("[data-testid=dropdown-option]")
    expect(options).to_have_count(0)
    page.locator(f"{selector} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(options).to_have_count(0)


def test_a_grid_makes_a_node_per_cell_and_its_picture(fake_engine, page, tmp_path):
    with running_studio(fake_engine, tmp_path / "outputs", defaults=QUICK) as (url, studio):
        open_studio(page, url)
        page.get_by_text("Grid: compare settings (X/Y/Z plot)").click()
        x_values = page.locator("#grid-x-values textarea, #grid-x-values input").first
        expect(x_values).to_have_value("3, 5, 7")
        choose(page, "#grid-x", "Steps")  # an example the artist did not touch follows the setting
        expect(x_values).to_have_value("10-30 (+10)")
        choose(page, "#grid-x", "CFG Scale")
        expect(x_values).to_have_value("3, 5, 7")
        choose(page, "#grid-y", "Prompt S/R")
        expect(page.locator("#grid-y-values textarea, #grid-y-values input").first).to_have_value("red, blue, gold")
        page.fill("#grid-x-values textarea, #grid-x-values input", "3, 7")
        page.fill("#grid-y-values textarea, #grid-y-values input", "red, blue")
        page.click("#grid-run")
        expect(page.locator("#status")).to_contain_text("Saved a grid of 4 cells", timeout=RUN_TIMEOUT)
        expect(page.locator("#grid-picture img")).to_be_visible()
        expect(page.locator("#results .thumb")).to_have_count(4)
        shoot(page, "grid-01-made")
        open_tab(page, "History")  # the cells are one group in the tree, each card named by its values
        frame = page.locator("#history .job")
        expect(frame).to_have_count(1)
        expect(frame).to_contain_text("grid · 4 cells · grid picture")
        expect(page.locator("#history .cell-label").filter(has_text="CFG Scale: 7 · blue")).to_have_count(1)
        shoot(page, "grid-02-in-the-tree")
        nodes = browser_session(studio).history.nodes()
        assert [(node.recipe.cfg_scale, node.recipe.prompt) for node in nodes] == [
            (3, "a knight in red armour"), (7, "a knight in red armour"),
            (3, "a knight in blue armour"), (7, "a knight in blue armour"),
        ]  # fmt: skip
        (grid,) = (browser_session(studio).history.folder / "grids").iterdir()
        assert Image.open(grid).width > 2 * 64

        # The grid's settings are hand work like the form: a reload keeps them.
        page.wait_for_timeout(1000)  # the form's store has reached the session's draft
        open_studio(page)
        page.get_by_text("Grid: compare settings (X/Y/Z plot)").click()
        expect(page.locator("#grid-y input")).to_have_value("Prompt S/R", timeout=20_000)
        expect(page.locator("#grid-y-values textarea, #grid-y-values input").first).to_have_value("red, blue")

        page.fill("#grid-x-values textarea, #grid-x-values input", "3, lots")
        page.click("#grid-run")
        expect(page.locator(".toast-body")).to_contain_text(re.compile("'lots' is not a number"))
        assert len(browser_session(studio).history.nodes()) == 4  # nothing of the refused grid

        # A1111's prompts from a textbox: a node per line, in the lines' order.
        page.fill("#grid-prompts textarea", 'a castle at dawn\n--prompt "a dragon" --steps 3')
        page.click("#grid-run-prompts")
        expect(page.locator("#status")).to_contain_text("Saved 2 pictures, one per line", timeout=RUN_TIMEOUT)
        expect(page.locator("#results .thumb")).to_have_count(2)
        made = browser_session(studio).history.nodes()[-2:]
        assert [(node.recipe.prompt, node.recipe.steps) for node in made] == [("a castle at dawn", 2), ("a dragon", 3)]


def test_a_page_reloaded_during_a_grid_counts_its_cells_then_shows_them(page, tmp_path):
    engine = GatedEngine()  # each cell waits for the test: the page is reloaded between two
    with running_studio(engine, tmp_path / "outputs", defaults=QUICK) as (url, studio):
        open_studio(page, url)
        page.get_by_text("Grid: compare settings (X/Y/Z plot)").click()
        page.fill("#grid-x-values textarea, #grid-x-values input", "3, 7")
        page.click("#grid-run")
        assert engine.waiting.wait(timeout=30)
        engine.gate.release()  # the first cell is made
        expect(page.locator("#status")).to_contain_text("Grid: 1 of 2 cells done", timeout=RUN_TIMEOUT)

        open_studio(page)  # a reload while the second cell waits
        expect(page.locator("#status")).to_contain_text("Grid: 1 of 2 cells done (started before this page")
        engine.gate.release()
        expect(page.locator("#status")).to_contain_text("Saved a grid of 2 cells", timeout=RUN_TIMEOUT)
        expect(page.locator("#results .thumb")).to_have_count(2)
        assert [node.recipe.cfg_scale for node in browser_session(studio).history.nodes()] == [3, 7]
