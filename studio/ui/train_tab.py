"""The Train tab: a LoRA from a folder of pictures, with loss, samples and stop, into the LoRA library."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import gradio as gr

from studio.services import Services
from studio.train.settings import TrainingSettings
from studio.ui.present import train as train_text
from studio.ui.running import Finished, refusal, stream, user_errors
from studio.ui.screen import GPU_LANE, Screen, lane_limit


@dataclass
class TrainForm:
    """One widget per TrainingSettings field the artist sets. Field names are TrainingSettings names."""

    dataset: gr.Textbox
    name: gr.Textbox
    trigger_word: gr.Textbox
    rank: gr.Number
    alpha: gr.Number
    learning_rate: gr.Number
    steps: gr.Number
    epochs: gr.Number
    batch_size: gr.Number
    resolution: gr.Dropdown
    bucketing: gr.Checkbox
    seed: gr.Number
    train_text_encoder: gr.Checkbox
    gradient_checkpointing: gr.Checkbox
    save_every: gr.Number
    sample_every: gr.Number
    sample_prompt: gr.Textbox

    @property
    def inputs(self) -> set[Any]:
        return {getattr(self, f.name) for f in fields(self)}

    def settings(self, values: dict[Any, Any]) -> TrainingSettings:
        raw = {f.name: values[getattr(self, f.name)] for f in fields(self)}
        for name in ("rank", "steps", "batch_size", "resolution", "seed", "save_every", "sample_every"):
            raw[name] = int(raw[name])
        raw["alpha"], raw["learning_rate"] = float(raw["alpha"]), float(raw["learning_rate"])
        raw["epochs"] = int(raw["epochs"]) or None  # 0: train for `steps`
        return TrainingSettings(**raw)


@dataclass
class TrainPanel:
    form: TrainForm
    train: gr.Button
    stop: gr.Button
    progress: gr.Markdown
    loss: gr.LinePlot
    sample: gr.Image
    check_lora: gr.Textbox
    check: gr.Button
    report: gr.Markdown
    sheet: gr.Image


def train_widgets() -> TrainPanel:
    gr.Markdown(
        "Trains a LoRA for the loaded SD 1.5 or SDXL model. Training a **Flux.1** LoRA is not in the studio: train it "
        "with kohya's sd-scripts or ai-toolkit and put the file in the LoRA folder; the studio runs it.",
        elem_id="train-intro",
    )
    with gr.Row():
        with gr.Column(scale=3, min_width=320):
            dataset = gr.Textbox(
                label="Folder of pictures",
                placeholder="/path/to/mira (pictures + optional .txt captions)",
                elem_id="train-folder",
            )
            with gr.Row():
                name = gr.Textbox(label="LoRA name", placeholder="mira", elem_id="train-name")
                trigger = gr.Textbox(label="Trigger word", placeholder="mira_oc", elem_id="train-trigger")
            with gr.Row():
                rank = gr.Number(8, label="Rank", precision=0, min_width=70, elem_id="train-rank")
                alpha = gr.Number(8, label="Alpha", min_width=70, elem_id="train-alpha")
                learning_rate = gr.Number(1e-4, label="Learning rate", min_width=120, elem_id="train-lr")
                steps = gr.Number(500, label="Steps", precision=0, min_width=70, elem_id="train-steps")
                epochs = gr.Number(0, label="or Epochs", precision=0, minimum=0, min_width=70, elem_id="train-epochs")
                batch = gr.Number(1, label="Batch", precision=0, min_width=60, elem_id="train-batch")
            with gr.Row():
                resolution = gr.Dropdown(
                    [256, 384, 512, 640, 768, 896, 1024],
                    value=512,
                    label="Resolution",
                    min_width=90,
                    elem_id="train-resolution",
                )
                seed = gr.Number(0, label="Seed", precision=0, min_width=70, elem_id="train-seed")
                save_every = gr.Number(100, label="Save every", precision=0, min_width=80, elem_id="train-save-every")
                sample_every = gr.Number(
                    100, label="Sample every", precision=0, min_width=80, elem_id="train-sample-every"
                )
            with gr.Row():
                bucketing = gr.Checkbox(
                    True,
                    label="Keep aspect ratios (buckets)",
                    info="Off: centre crop to a square",
                    elem_id="train-buckets",
                )
                text_encoder = gr.Checkbox(False, label="Train the text encoder too", elem_id="train-text-encoder")
                checkpointing = gr.Checkbox(
                    False,
                    label="Save GPU memory",
                    info="Gradient checkpointing: SDXL at 1024 px on 12-24 GB, about 20 % slower",
                    elem_id="train-checkpointing",
                )
            sample_prompt = gr.Textbox(
                label="Sample prompt", placeholder="mira_oc waving, park", elem_id="train-sample-prompt"
            )
            with gr.Row():
                train = gr.Button("Train LoRA", variant="primary", elem_id="train")
                stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
        with gr.Column(scale=2, min_width=240):
            progress = gr.Markdown("*Training progress shows here.*", elem_id="train-progress")
            loss = gr.LinePlot(
                x="step",
                y="loss",
                title="Loss per step",
                height=180,
                x_title="step",
                y_title="",
                y_axis_format=".2f",
                elem_id="train-loss",
            )
            sample = gr.Image(label="Latest sample", interactive=False, height=200, buttons=[], elem_id="train-sample")
            with gr.Accordion("Memorization check", open=True):
                gr.Markdown(
                    "Runs after training, or here for any LoRA and folder: samples from the captions, each "
                    "compared with its nearest training picture (SSIM). Nearly identical means overfitted.",
                )
                with gr.Row(equal_height=True):
                    check_lora = gr.Textbox(
                        show_label=False, container=False, placeholder="LoRA name", scale=3, elem_id="check-lora"
                    )
                    check = gr.Button("Check", size="sm", scale=1, min_width=70, elem_id="check-memorization")
                report = gr.Markdown(elem_id="memorization-report")
                sheet = gr.Image(
                    label="Closest pairs: sample | training picture",
                    interactive=False,
                    height=240,
                    buttons=[],
                    elem_id="memorization-sheet",
                )
    form = TrainForm(
        dataset=dataset,
        name=name,
        trigger_word=trigger,
        rank=rank,
        alpha=alpha,
        learning_rate=learning_rate,
        steps=steps,
        epochs=epochs,
        batch_size=batch,
        resolution=resolution,
        bucketing=bucketing,
        seed=seed,
        train_text_encoder=text_encoder,
        gradient_checkpointing=checkpointing,
        save_every=save_every,
        sample_every=sample_every,
        sample_prompt=sample_prompt,
    )
    return TrainPanel(form, train, stop, progress, loss, sample, check_lora, check, report, sheet)


def wire(services: Services, screen: Screen, panel: TrainPanel) -> None:
    def train(values: dict[Any, Any]):
        with user_errors():
            settings = panel.form.settings(values)
        yield {panel.progress: "**Loading the pictures…**", panel.loss: train_text.loss_table([])}
        last_saved = None
        losses: list[tuple[int, float]] = []
        for item in stream(lambda on_progress: services.loras.train(settings, on_progress)):
            if isinstance(item, Finished):
                if item.result is None:
                    yield {panel.progress: "Stopped before the first save: nothing was written."}
                    return
                how = "Stopped" if item.result.stopped else "Done"
                yield {
                    panel.progress: f"**{how}** after {item.result.steps} steps: `{item.result.lora.name}` is in the "
                    "LoRA library, its last sample as its picture. Use it from the LoRAs tab (↻ Refresh). "
                    "A stop keeps the last saved file.",
                    panel.check_lora: settings.name,
                }
                yield from check(settings.name, settings.dataset, settings.resolution)
                return
            last_saved = item.saved or last_saved
            losses.append((item.step, item.loss))
            update: dict[Any, Any] = {
                panel.loss: train_text.loss_table(losses),
                panel.progress: f"**Training** step {item.step} of {item.total} · loss {item.loss:.4f}"
                + (f"  \nSaved `{last_saved.name}`" if last_saved else ""),
            }
            if item.sample is not None:
                update[panel.sample] = item.sample
            yield update

    def check(lora: str, dataset: str, resolution: int):
        if not (lora or "").strip() or not (dataset or "").strip():
            raise refusal("Give a LoRA name and the folder of its training pictures.", title="Nothing to check")
        yield {panel.report: "**Checking for memorization…**"}
        calls = stream(
            lambda on_progress: services.loras.check_memorization(
                lora.strip(),
                dataset,
                resolution=int(resolution),
                on_progress=lambda done, total: on_progress((done, total)),
            )
        )
        for item in calls:
            if isinstance(item, Finished):
                if item.result is None:
                    yield {panel.report: "Check stopped."}
                    return
                yield {
                    panel.report: train_text.memorization_text(item.result),
                    panel.sheet: train_text.memorization_sheet(item.result),
                }
                return
            yield {panel.report: f"**Checking for memorization…** sample {item[0]} of {item[1]}"}

    panel.train.click(
        train,
        inputs=panel.form.inputs,
        outputs=[panel.progress, panel.loss, panel.sample, panel.check_lora, panel.report, panel.sheet],
        concurrency_id=GPU_LANE,
        concurrency_limit=lane_limit(services.models.engine),
        api_visibility="private",
        show_progress="minimal",
        show_progress_on=[panel.progress],
    )
    panel.stop.click(services.models.stop, queue=False, api_visibility="private")
    panel.check.click(
        check,
        inputs=[panel.check_lora, panel.form.dataset, panel.form.resolution],
        outputs=[panel.report, panel.sheet],
        concurrency_id=GPU_LANE,
        concurrency_limit=lane_limit(services.models.engine),
        api_visibility="private",
        show_progress="minimal",
        show_progress_on=[panel.report],
    )
