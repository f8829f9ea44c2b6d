"""The layering rule: only the engine (and training) import torch; only the UI imports gradio.

The modules are found by walking the package, so a new module is checked without being listed here.
"""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import studio

ROOT = Path(__file__).resolve().parents[1]
# torch and diffusers live in these packages; gradio in the last.
TORCH_PACKAGES = ("studio.engine", "studio.train")
UI_PACKAGE = "studio.ui"
# Training settings and the memorization report are pure data, read by the session and the window without torch.
PURE_EXCEPTIONS = {"studio.train", "studio.train.settings", "studio.train.report"}


def every_module() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages(studio.__path__, prefix="studio."))


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


PURE = [
    module
    for module in every_module()
    if module in PURE_EXCEPTIONS or not any(in_package(module, package) for package in (*TORCH_PACKAGES, UI_PACKAGE))
]
TORCH = [module for module in every_module() if module not in PURE and not in_package(module, UI_PACKAGE)]


def imported_after(*modules: str) -> set[str]:
    code = f"import sys, {', '.join(modules)}; print(' '.join(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return set(output.split())


def test_the_walk_finds_the_packages():
    assert {
        "studio.recipe",
        "studio.session.session",
        "studio.prepare",
        "studio.formats.a1111",
        "studio.control.pose",
    } <= set(PURE)
    assert {"studio.engine.engine", "studio.engine.annotators", "studio.train.trainer"} <= set(TORCH)


def test_pure_modules_import_neither_torch_nor_gradio():
    # One interpreter for all of them (one each costs half a minute): if none pulls in torch, no one does.
    heavy = {"torch", "gradio", "diffusers"}
    if heavy & imported_after(*PURE):
        culprits = [module for module in PURE if heavy & imported_after(module)]
        pytest.fail(f"pure modules that import torch, gradio or diffusers: {', '.join(culprits)}")


def test_engine_and_training_never_import_gradio_and_importing_does_no_work():
    # One interpreter for both claims (torch takes seconds to import): every engine and training module, and the
    # sessions, imported; no gradio among what they pulled in, and no thread, model load or folder from importing.
    code = (
        f"import sys, threading, studio.session.sessions, {', '.join(TORCH)}; "
        "print(threading.active_count()); print(' '.join(sorted(sys.modules)))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    threads, modules = output.stdout.split("\n", 1)
    loaded = set(modules.split())
    assert "torch" in loaded and "gradio" not in loaded
    assert threads.strip() == "1"
