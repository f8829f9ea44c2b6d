"""What the browser tests share: Chromium's flags, screenshots, and the artist's gestures on the page.

The `browser` and `page` fixtures are in conftest.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from studio.control.ade20k import find

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("STUDIO_SCREENSHOTS") or ROOT / "test-artifacts" / "screenshots")
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RUN_TIMEOUT = 90_000


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def wait_for_saved(page: Page, node_id: str) -> None:
    expect(page.locator("#status")).to_contain_text(f"Saved {node_id}", timeout=RUN_TIMEOUT)


def paint_stroke(page: Page, tool: str = "Mask brush") -> None:
    """A stroke across the middle of the picture in the editor, with `tool` (the editor's own canvas)."""
    page.locator("#editor").get_by_role("button", name=tool, exact=True).click()
    box = page.locator("#editor canvas.mask").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - box["width"] * 0.3, y - 10)
    page.mouse.down()
    page.mouse.move(x + box["width"] * 0.3, y + 20, steps=20)
    page.mouse.up()


def click_picture(page: Page, selector: str, x: float, y: float) -> None:
    """Click the loaded picture in `selector` at (x, y), fractions of the picture as shown.

    The spot is measured when the click happens, on the picture Gradio will read it from (object-fit leaves
    bands beside a picture of another shape; a size measured before a new picture loaded is not where it is now).
    """
    picture = page.locator(f"{selector} img")
    expect(picture).to_have_count(1)
    page.wait_for_function(
        "(s) => { const i = document.querySelector(s + ' img'); return i && i.complete && i.naturalWidth > 0; }",
        arg=selector,
    )
    picture.scroll_into_view_if_needed()
    spot = picture.evaluate(
        """(image, [x, y]) => {
            const box = image.getBoundingClientRect();
            const scale = Math.min(box.width / image.naturalWidth, box.height / image.naturalHeight);
            const width = image.naturalWidth * scale, height = image.naturalHeight * scale;
            return [box.left + (box.width - width) / 2 + x * width, box.top + (box.height - height) / 2 + y * height];
        }""",
        [x, y],
    )
    page.mouse.click(spot[0], spot[1])


def editor_ready(page: Page) -> None:
    """The editor shows its picture (it loads once the Edit tab has it)."""
    expect(page.locator("#editor .sheet")).to_be_visible(timeout=20_000)
    expect(page.locator("#editor .message")).to_have_text("", timeout=20_000)


def open_studio(page: Page, url: str | None = None) -> None:
    """Open (or reload) the page and wait until it has its session, as a person would see it appear."""
    if url:
        page.goto(url)
    else:
        page.reload()
    expect(page.locator("#session-line")).to_contain_text("Session:", timeout=30_000)


def open_tab(page: Page, name: str) -> None:
    """Open the tab `name`, from Gradio's "More tabs" menu when it does not fit the row, as a person would.

    Which tabs fit is measured by the page as it lays out (a scrollbar appearing takes some width), so the last
    tabs may be in the menu on one load and in the row on the next.
    """
    in_row = page.get_by_role("tab", name=name)
    in_menu = page.locator(".overflow-dropdown button").filter(has_text=name)
    more = page.get_by_role("button", name="More tabs")
    for _ in range(3):
        expect(in_row.or_(more)).not_to_have_count(0, timeout=30_000)
        if in_row.is_visible():
            in_row.click()
            return
        if more.is_visible():
            more.click()
            if in_menu.first.is_visible():
                in_menu.first.click()
                return
        page.wait_for_timeout(300)
    raise AssertionError(f"no tab named {name!r} in the row or the More tabs menu")


def paint_on(page: Page, selector: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A stroke with the Paint tool across the editor `selector` (a control map), between fractions of its picture."""
    page.locator(selector).get_by_role("button", name="Paint", exact=True).click()
    box = page.locator(f"{selector} canvas.mask").bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=25)
    page.mouse.up()


def map_ready(page: Page, unit: int) -> None:
    """Control unit `unit`'s editor shows a map."""
    expect(page.locator(f"#control-{unit}-map .sheet")).to_be_visible(timeout=20_000)


def choose_class(page: Page, unit: int, name: str) -> None:
    palette = page.locator(f"#control-{unit}-palette input")
    palette.fill(name)
    page.get_by_role("option", name=f"{name}  (", exact=False).first.click()
    expect(page.locator(f"#control-{unit}-painting-with")).to_contain_text(f"Brush colours: {name}")
    colour = find(name).hex
    # The map editor paints with the class's exact colour from the very next stroke.
    expect(page.locator(f"#control-{unit}-map .swatch.active")).to_have_attribute("data-colour", colour)


def pick_result(page: Page, index: int = 0) -> None:
    """Click result `index` and wait until the pick has put its recipe in the form.

    The selection line alone proves nothing (a finished run already selects its first picture); the form's
    seed does: a pick writes the picture's own seed over the form's -1. A tab's contents are mounted when it is
    opened, and the viewer's script listens a moment later: a click in between does nothing (seen once in CI after
    a session switch), so a person would click again, and so does this (three tries).
    """
    thumb = page.locator("#results .thumb").nth(index)
    picture = thumb.locator("figcaption").inner_text().split()[0]  # "00002·1"
    seed = page.locator("#seed input")
    if seed.input_value() != "-1":
        seed.fill("-1")
    for _ in range(3):
        thumb.locator("img").click()
        try:
            expect(seed).not_to_have_value("-1", timeout=3000)
            break
        except AssertionError:
            continue
    expect(page.locator("#selection")).to_contain_text(f"Selected {picture}")
    expect(seed).not_to_have_value("-1")


def type_number(page: Page, selector: str, value: str) -> None:
    """Type `value` into the number box `selector` and press Enter, as a person would, and see it taken.

    A box in a panel just opened can get its first value from the page a moment after it shows (seen on a loaded
    machine): that lands over what was typed, so a person would type again, and so does this (three tries)."""
    fill_settled(page, page.locator(selector), value, enter=True)  # a number box takes its value on Enter


def fill_settled(page: Page, box: Locator, value: str, *, enter: bool = False) -> None:
    """Fill `box` (and press Enter) and see the value stay, typing again when the page put its own over it
    (three tries; see type_number)."""
    for _ in range(3):
        box.fill(value)
        if enter:
            box.press("Enter")
        page.wait_for_timeout(300)
        if box.input_value() == value:
            return
    expect(box).to_have_value(value)
