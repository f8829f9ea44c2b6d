"""The lines at the top of the window: the loaded model and this browser's session."""

from __future__ import annotations


def session_line(session_id: str) -> str:
    return f"**Session:** `{session_id}` (this browser's; others are under *History*)"


def model_line(model: str | None, family: str | None = None) -> str:
    if not model:
        return "**Model:** none loaded — open *Model* on the left"
    return f"**Model:** `{model}` · {family}" if family else f"**Model:** `{model}`"


def speed_line(speed: str) -> str:
    """How runs go (studio/engine/speed.py): "fast (compiled ...)" or "eager: <why>"."""
    shown = speed.replace("eager: ", "eager — ", 1)
    return f"**Speed:** {shown}  \nSet as the studio starts: `--fast`, `--no-fast`, and `--low-memory` or `--lowest-memory` for small GPUs."
