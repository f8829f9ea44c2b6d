"""Shared fixtures. Tests never touch the network or the repository's outputs/ folder."""

from __future__ import annotations

import os

# Before any Hugging Face import: hub calls fail in milliseconds instead of retrying for minutes.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle, which it keeps for every other test
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests start first. On two workers, a minute-long test drawn last would leave the other
    worker idle for that minute; started first, the other worker's share runs beside it."""
    items[:] = sorted(items, key=lambda item: item.get_closest_marker("longest") is None)


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths (outputs/, caches) land in the test's own folder, never in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(os.environ.get("STUDIO_TEST_CACHE") or tmp_path_factory.mktemp("model-cache"))


def _engine_on(model_cache: Path, model: str):
    import torch

    from studio.engine.factory import make_engine

    # Two spin-waiting threads on two shared cores make runs 50-100x slower; one keeps them steady.
    torch.set_num_threads(1)
    engine = make_engine(cache_dir=model_cache)
    engine.load(model)
    return engine


@pytest.fixture(scope="session")
def engine(model_cache: Path):
    """The real engine on the tiny model, loaded once for the whole run."""
    return _engine_on(model_cache, "tiny")


@pytest.fixture(scope="session")
def sdxl_engine(model_cache: Path):
    """The real engine on the tiny SDXL model, loaded once for the whole run (apart from `engine`: no reloads)."""
    return _engine_on(model_cache, "tiny-sdxl")


@pytest.fixture(scope="session")
def flux_engine(model_cache: Path):
    """The real engine on the tiny Flux.1 model (studio/engine/tiny_flux.py), loaded once for the whole run."""
    return _engine_on(model_cache, "tiny-flux")


@pytest.fixture(scope="session")
def faithful_engine(model_cache: Path):
    """The real engine on the tiny model with a VAE that keeps the picture (studio/engine/tiny_faithful.py): for
    claims about what a repaint keeps of a picture. Its model is `str(faithful_engine.faithful_model)`."""
    from studio.engine.tiny_faithful import tiny_faithful_model_folder

    folder = tiny_faithful_model_folder(model_cache)
    engine = _engine_on(model_cache, str(folder))
    engine.faithful_model = str(folder)
    return engine


@pytest.fixture
def fake_engine():
    """The studio's Engine protocol without a model: for tests of wiring, never of pixels (tests/fake_engine.py)."""
    from tests.fake_engine import FakeEngine

    return FakeEngine()


@pytest.fixture
def latent_sizes(engine):
    """The (height, width) of every latent the UNet denoises during the test: what size was really rendered."""
    sizes: list[tuple[int, int]] = []

    def record(module, args, kwargs):
        sample = args[0] if args else kwargs["sample"]
        sizes.append(tuple(sample.shape[-2:]))

    handle = engine.pipelines.base.unet.register_forward_pre_hook(record, with_kwargs=True)
    yield sizes
    handle.remove()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium, one per test module (tests/browser_kit.py has the flags)."""
    from playwright.sync_api import sync_playwright

    from tests.browser_kit import CHROMIUM, FLAGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page at the laptop size the window is designed for."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    yield page
    page.close()
