"""The lines at the top of the window: the loaded model and this browser's session."""

from __future__ import annotations


def session_line(session_id: str) -> str:
    return f"**Session:** `{session_id}` (this browser's; others are under *History*)"


def model_line(model: str | None) -> str:
    return f"**Model:** `{model}`" if model else "**Model:** none loaded — open *Model* on the left"
