"""The Train tab: a memorization report in words."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from studio.closeness import MEASURE
from studio.closeness import verdict as closeness_words


def memorization_text(report) -> str:
    """A memorization report for the artist: the verdict, the threshold, the closest pairs."""

    def band(score: float) -> str:
        # A report saved before issue 29 holds SSIM scores, which the closeness scale's words do not fit.
        return closeness_words(score) if MEASURE in report.metric else "similarity"

    verdict = (
        f"**Overfitted:** a sample reproduces a training picture: {band(report.worst)} ({report.worst:.2f}, "
        f"flagged at ≥ {report.threshold:g}). The LoRA copies instead of learning: train fewer steps, a lower rate, "
        "or add pictures."
        if report.overfitted
        else f"**No memorization found:** the closest sample scores {report.worst:.2f}, "
        f"{band(report.worst)} (flagged at ≥ {report.threshold:g})."
    )
    rows = "\n".join(
        f"- sample {pair.sample} ↔ `{pair.training_picture}`: {pair.score:.2f}, {band(pair.score)}"
        for pair in report.closest[:5]
    )
    return f"{verdict}\n\n{rows}\n\n*{report.metric}. Saved beside the LoRA.*"


def memorization_sheet(report) -> str | None:
    return report.sheet or None


def loss_table(losses: Sequence[tuple[int, float]]) -> pd.DataFrame:
    """The loss per step, for the Train tab's chart. Numbers even when empty: the chart takes its axes' kinds from
    the first table it is given, and an empty table's columns are text (categories, drawn upside down)."""
    return pd.DataFrame(list(losses), columns=["step", "loss"]).astype({"step": "int64", "loss": "float64"})
