"""The Train tab's loss chart has numeric axes from its first, empty table on (issue 25, item 8)."""

from __future__ import annotations

import gradio as gr
import pytest

from studio.ui.present.train import loss_table


@pytest.mark.parametrize("losses", [[], [(1, 0.31), (2, 0.27), (30, 0.05)]])
def test_the_chart_reads_steps_and_losses_as_numbers(losses):
    with gr.Blocks():
        chart = gr.LinePlot(x="step", y="loss")
    plotted = chart.postprocess(loss_table(losses))
    assert plotted is not None and plotted.datatypes == {"step": "quantitative", "loss": "quantitative"}
