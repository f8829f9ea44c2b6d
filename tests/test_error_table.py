"""One error table (studio/errors.py), read by every boundary: the window, the gradio API and the A1111 API.

The same mistake gets the same words in the window and from both APIs, and the table's HTTP status from the
A1111 API; a bug (a plain `ValueError` from deep inside the engine) is said to be a bug everywhere, and its
traceback is in the log. The window is the real page in Chromium; the fake engine is enough (wiring)."""

from __future__ import annotations

import inspect
import logging
import pkgutil

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from playwright.sync_api import Page, expect

import studio
from studio.errors import ANSWERS, BUG_TITLE, InputError, ModelError, StudioError, answer_for, bug_line
from studio.recipe import RecipeError
from tests.browser_kit import fill_settled, open_studio
from tests.servers import running_studio

MISSING_MODEL = "nobody/no-such-model"
BUG = "operands could not be broadcast together with shapes (4,) (3,)"


def every_studio_error() -> list[type[StudioError]]:
    kinds: set[type[StudioError]] = set()
    for info in pkgutil.walk_packages(studio.__path__, prefix="studio."):  # the engine's and the window's too
        module = __import__(info.name, fromlist=["_"])
        kinds |= {kind for _, kind in inspect.getmembers(module, inspect.isclass) if issubclass(kind, StudioError)}
    return sorted(kinds, key=lambda kind: kind.__name__)


def test_every_studio_error_has_an_answer_and_no_entry_hides_a_later_one():
    kinds = every_studio_error()
    assert {"RecipeError", "HistoryError", "PresetError", "LoraError", "UpscalerError", "DatasetError"} <= {
        kind.__name__ for kind in kinds
    }
    for kind in kinds:
        assert answer_for(kind.__new__(kind)) is not None, kind
    for position, (kind, _) in enumerate(ANSWERS):
        earlier = [other for other, _ in ANSWERS[:position]]
        assert not any(issubclass(kind, other) for other in earlier), f"{kind.__name__} is hidden by an earlier entry"


def test_a_value_error_that_is_no_studio_error_is_a_bug():
    assert answer_for(ValueError("from inside numpy")) is None
    assert answer_for(KeyError("x")) is None
    assert answer_for(RecipeError("steps", "0 is out of range")).status == 422  # a ValueError the artist caused
    assert answer_for(ModelError("gone")).status == 404
    assert isinstance(InputError("x"), ValueError)  # callers that check values still catch it


@pytest.mark.browser
def test_the_same_mistake_and_the_same_bug_read_alike_in_the_window_and_both_apis(
    fake_engine, tmp_path, page: Page, caplog
):
    caplog.set_level(logging.WARNING, logger="studio")
    with running_studio(fake_engine, tmp_path / "outputs", api=True) as (url, sessions):
        client = Client(url, verbose=False)
        open_studio(page, url)
        page.fill("#prompt textarea", "a lighthouse")
        page.get_by_text("Model", exact=True).click()  # open the Model panel
        model_box = page.locator("#model textarea, #model input").first

        # The artist's mistake: a model that is not on this machine.
        fill_settled(page, model_box, MISSING_MODEL)
        page.click("#generate-button")
        status = page.locator("#status")
        expect(status).to_contain_text("Not done:", timeout=60_000)
        in_the_window = status.inner_text().split("Not done:", 1)[1].strip()
        with pytest.raises(AppError) as from_gradio:
            client.predict({"prompt": "a lighthouse", "model": MISSING_MODEL}, api_name="/generate")
        a1111 = httpx.post(
            f"{url}sdapi/v1/txt2img",
            json={"prompt": "a lighthouse", "steps": 2, "override_settings": {"sd_model_checkpoint": MISSING_MODEL}},
            timeout=60,
        )
        words = str(from_gradio.value)
        assert MISSING_MODEL in words and "try --model tiny" in words
        assert in_the_window == words == a1111.json()["detail"]
        assert from_gradio.value.title == "Model problem" and a1111.status_code == 404
        assert not [record for record in caplog.records if record.exc_info]  # a mistake leaves no traceback

        # Our bug: a ValueError from deep inside the engine is no mistake of the artist's.
        def broken(*args, **kwargs):
            raise ValueError(BUG)

        fake_engine.generate = broken
        fill_settled(page, model_box, "tiny")
        page.click("#generate-button")
        expect(status).to_contain_text(f"This is a bug in the studio: ValueError: {BUG}", timeout=60_000)
        with pytest.raises(AppError) as from_gradio:
            client.predict({"prompt": "a lighthouse"}, api_name="/generate")
        a1111 = httpx.post(f"{url}sdapi/v1/txt2img", json={"prompt": "a lighthouse", "steps": 2}, timeout=60)
        said = bug_line(ValueError(BUG))
        assert str(from_gradio.value) == said == a1111.json()["detail"]
        assert from_gradio.value.title == BUG_TITLE and a1111.status_code == 500
        tracebacks = [record for record in caplog.records if record.exc_info and BUG in str(record.exc_info[1])]
        assert len(tracebacks) == 3  # the window's, the gradio API's and the A1111 API's, each in full
        assert all(record.exc_info[2] is not None for record in tracebacks)
        # Nothing was saved for either, and the server kept serving.
        assert not any((tmp_path / "outputs").rglob("*-0.png"))
