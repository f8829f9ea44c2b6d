"""The lines at the top of the window: the loaded model and this browser's session."""

from __future__ import annotations


def session_line(session_id: str) -> str:
    return f"**Session:** `{session_id}` (this browser's; others are under *History*)"


def model_line(model: str | None, family: str | None = None) -> str:
    if not model:
        return "**Model:** none loaded — open *Model* on the left"
    return f"**Model:** `{model}` · {family}" if family else f"**Model:** `{model}`"


# What a card needs for Flux.1, from its weights' size in bfloat16 (transformer 23.8 GB, T5-XXL 9.5 GB, CLIP and VAE
# under 0.5 GB) plus a 1024 px run's activations; not measured on a card here.
FLUX_MEMORY = (
    "Flux.1 needs about 36 GB of GPU memory as it is, about 26 GB with `--low-memory` (one part on the GPU at a "
    "time), and a few GB with `--lowest-memory` (many times slower). An fp8 file saves disk, not GPU memory; a "
    "GGUF file (Q8_0 about 12.7 GB, Q4 about 6.8 GB) saves both: with `--low-memory`, a 12-16 GB card."
)


def speed_line(speed: str, family: str | None = None) -> str:
    """How runs go (studio/engine/speed.py): "fast (compiled ...)" or "eager: <why>"; for Flux, what a card needs."""
    shown = speed.replace("eager: ", "eager — ", 1)
    line = f"**Speed:** {shown}  \nSet as the studio starts: `--fast`, `--no-fast`, and `--low-memory` or `--lowest-memory` for small GPUs."
    return f"{line}  \n{FLUX_MEMORY}" if family == "Flux.1" else line
