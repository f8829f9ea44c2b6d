"""The layering rule: only the engine (and training) import torch; only the UI imports gradio."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = [
    "studio.recipe",
    "studio.history",
    "studio.metadata",
    "studio.files",
    "studio.studio",
    # Control maps are made and edited without torch: only the preprocessors' annotators need it, lazily.
    "studio.control.units",
    "studio.control.maps",
    "studio.control.pose",
    "studio.control.preprocessors",
]


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return set(output.split())


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_neither_torch_nor_gradio(module):
    loaded = imported_after(module)
    assert not {"torch", "gradio", "diffusers"} & loaded


def test_engine_never_imports_gradio():
    loaded = imported_after("studio.engine.factory")
    assert "torch" in loaded and "gradio" not in loaded


def test_importing_does_no_work():
    # No model loads, no threads, no folders at import time.
    code = "import threading, studio.studio, studio.engine.factory; print(threading.active_count())"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert output.stdout.strip() == "1"
