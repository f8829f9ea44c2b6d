"""The LoRAs & embeddings tab: both libraries at a glance; a LoRA put into the prompt as A1111's
<lora:name:weight>, an embedding by its name (in the prompt or the negative prompt)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.embedding_library import names_used
from studio.recipe.prompt_syntax import prompt_with_lora_tags
from studio.services import Services
from studio.ui.running import refusal
from studio.ui.screen import Screen


@dataclass
class LoraPanel:
    table: gr.Dataframe
    choice: gr.Dropdown
    weight: gr.Slider
    add: gr.Button
    refresh: gr.Button
    preview: gr.Image
    embeddings: gr.Dataframe
    embedding: gr.Dropdown
    add_embedding: gr.Button
    add_negative_embedding: gr.Button


def lora_widgets() -> LoraPanel:
    with gr.Row():
        with gr.Column(scale=3):
            table = gr.Dataframe(
                headers=["LoRA", "base model", "size", "trigger words"],
                interactive=False,
                wrap=True,
                max_height=330,
                column_widths=["22%", "30%", "13%", "35%"],
                elem_id="lora-table",
            )
        with gr.Column(scale=2, min_width=240):
            preview = gr.Image(label="Preview", interactive=False, height=160, buttons=[], elem_id="lora-preview")
            choice = gr.Dropdown(label="LoRA", choices=[], elem_id="lora-choice")
            weight = gr.Slider(-2.0, 2.0, value=0.8, step=0.05, label="Weight", elem_id="lora-weight")
            with gr.Row():
                add = gr.Button("Add to prompt", variant="primary", size="sm", elem_id="add-lora")
                refresh = gr.Button("↻ Refresh", size="sm", elem_id="refresh-loras")
    gr.Markdown(
        "LoRAs go into the prompt as `<lora:name:weight>`, as in A1111; several at once mix. "
        "Put `.safetensors` LoRAs (diffusers or kohya format) in the LoRA folder.",
        elem_id="lora-help",
    )
    gr.Markdown("### Embeddings", elem_id="embeddings-heading")
    with gr.Row():
        with gr.Column(scale=3):
            embeddings = gr.Dataframe(
                headers=["embedding", "model family", "vectors", "size"],
                interactive=False,
                max_height=260,
                elem_id="embedding-table",
            )
        with gr.Column(scale=2, min_width=240):
            embedding = gr.Dropdown(label="Embedding", choices=[], elem_id="embedding-choice")
            with gr.Row():
                add_embedding = gr.Button("Add to prompt", size="sm", elem_id="add-embedding")
                add_negative_embedding = gr.Button("Add to negative", size="sm", elem_id="add-negative-embedding")
    gr.Markdown(
        "Textual-inversion embeddings are used by name, as in A1111: `EasyNegative`, `(EasyNegative:1.2)`. "
        "Put `.safetensors` embeddings in the embeddings folder; one made for the other model family is refused "
        "by name when a prompt uses it.",
        elem_id="embedding-help",
    )
    return LoraPanel(
        table, choice, weight, add, refresh, preview, embeddings, embedding, add_embedding, add_negative_embedding
    )


def wire(services: Services, screen: Screen, panel: LoraPanel, blocks: gr.Blocks) -> None:
    def listing():
        infos = services.loras.all()
        rows = [[i.name, i.base, f"{i.size_bytes / 2**20:.1f} MB", ", ".join(i.trigger_words)] for i in infos]
        embeddings = services.embeddings.all()
        embedding_rows = [
            [
                e.name,
                e.family or "pickled: needs --allow-pickle",
                e.vectors or "",
                f"{max(e.size_bytes / 2**10, 0.1):.1f} KB",
            ]
            for e in embeddings
        ]
        family = services.models.family
        names = [
            (e.name if e.family == family else f"{e.name} ({e.family or 'pickled'}: not for this model)", e.name)
            for e in embeddings
        ]
        return {
            panel.table: rows,
            panel.choice: gr.Dropdown(choices=[info.name for info in infos], value=infos[0].name if infos else None),
            panel.embeddings: embedding_rows,
            panel.embedding: gr.Dropdown(choices=names, value=names[0][1] if names else None),
        }

    listed = [panel.table, panel.choice, panel.embeddings, panel.embedding]
    blocks.load(listing, outputs=listed, show_progress_on=[screen.badge_sink], api_visibility="private")
    panel.refresh.click(listing, outputs=listed, api_visibility="private")

    def preview(name: str | None):
        info = next((info for info in services.loras.all() if info.name == name), None)
        return str(info.preview) if info and info.preview else None

    panel.choice.change(preview, inputs=panel.choice, outputs=panel.preview, api_visibility="private")

    def add(name: str | None, weight: float, prompt: str):
        if not name:
            raise refusal("Choose a LoRA first (put .safetensors LoRAs in the LoRA folder).", title="No LoRA chosen")
        return prompt_with_lora_tags(prompt, [(name, weight)])

    panel.add.click(
        add,
        inputs=[panel.choice, panel.weight, screen.form.prompt],
        outputs=screen.form.prompt,
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )

    def add_embedding(name: str | None, text: str):
        if not name:
            raise refusal(
                "Choose an embedding first (put .safetensors embeddings in the embeddings folder).",
                title="No embedding chosen",
            )
        if names_used([text], [name]):
            return text  # already there: once is what A1111 means
        return ", ".join(part for part in (text.rstrip().rstrip(","), name) if part)

    for button, field in (
        (panel.add_embedding, screen.form.prompt),
        (panel.add_negative_embedding, screen.form.negative_prompt),
    ):
        button.click(
            add_embedding,
            inputs=[panel.embedding, field],
            outputs=field,
            show_progress_on=[screen.badge_sink],
            api_visibility="private",
        )
