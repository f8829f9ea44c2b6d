"""Live painting in the Edit tab: while Live is on, each stroke, the prompt and the live strength start a run on
the canvas, and its picture shows beside the editor. Keep makes it a node; Paint over it puts it on the canvas.

The wiring only: the session coalesces the runs (studio/live/) and the engine's lane puts them behind every run
the artist pressed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.errors import GenerationStopped
from studio.history import Action
from studio.live.draft import LivePicture
from studio.prepare import Edit
from studio.session.session import Session
from studio.ui.running import user_errors
from studio.ui.screen import Screen

LIVE_CONCURRENCY = "live"  # not the pressed runs' lane: the engine's own lane puts live runs behind those
NOT_YET = "*Live is on: paint, and the picture follows each stroke.*"


@dataclass
class LivePanel:
    on: gr.Checkbox
    strength: gr.Slider
    new_seed: gr.Button
    sketch: gr.Checkbox  # control unit 1 (Scribble or Line art) takes its map from the canvas: sketch to picture
    few_step: gr.Button  # the form's steps, CFG and sampler for a few-step LoRA or model in the recipe
    picture: gr.Image  # the last live picture, beside the editor
    line: gr.Markdown  # its timing ("0.09 s, 4 steps"), or what to do
    keep: gr.Button
    paint_over: gr.Button
    run: gr.Button  # in the page, never shown: pressed by the page itself when a change should run live (see wire)


def live_widgets() -> LivePanel:
    with gr.Group(elem_id="live"):
        with gr.Row(equal_height=True):
            on = gr.Checkbox(False, label="Live: the picture follows each stroke", elem_id="live-on", scale=3)
            new_seed = gr.Button("New seed", size="sm", elem_id="live-new-seed", scale=1, min_width=100)
        strength = gr.Slider(
            0.05,
            1.0,
            value=0.5,
            step=0.05,
            label="Live strength",
            info="How far each live picture may move from the canvas (Inpaint and Repaint use Change strength)",
            visible=False,  # shown with Live on: with Live off, the one strength that counts is Change strength
            elem_id="live-strength",
        )
        picture = gr.Image(
            None, label="Live", type="filepath", interactive=False, visible=False, elem_id="live-picture", height=400
        )
        line = gr.Markdown("", elem_id="live-line")
    with gr.Row():
        keep = gr.Button("Keep this picture", size="sm", elem_id="live-keep", interactive=False)
        paint_over = gr.Button("Paint over it", size="sm", elem_id="live-paint-over", interactive=False)
    sketch = gr.Checkbox(
        False,
        label="Sketch: control unit 1 (Scribble or Line art) follows the lines drawn on the canvas",
        elem_id="live-sketch",
    )
    few_step = gr.Button(
        "Use few-step settings (LCM, Lightning, Hyper-SD, TCD, Turbo)", size="sm", elem_id="live-few-step"
    )
    run = gr.Button("Run live", visible="hidden", elem_id="live-run")
    return LivePanel(on, strength, new_seed, sketch, few_step, picture, line, keep, paint_over, run)


def live_line(live: LivePicture) -> str:
    """What ran, in the artist's words: "Live: repaint (img2img) of the canvas at strength 0.5, 10 of 20 steps, seed
    1234 · 0.09 s"."""
    recipe = live.recipe
    what = (
        "inpaint of the masked and painted area" if live.action is Action.INPAINT else "repaint (img2img) of the canvas"
    )
    return (
        f"**Live:** {what} at strength {recipe.denoising_strength:g}, {live.steps} of {recipe.steps} steps, "
        f"seed {recipe.seed} · {live.seconds:.2f} s"
    )


def live_shown(session: Session, on: bool, last: LivePicture | None = None) -> dict[str, Any]:
    """The live picture kept in the session's draft (after a reload too), what ran, and whether it can be kept.
    `last`: the run just made (its pictures are not read back from the draft)."""
    last = last or session.live.last()
    path = session.live.picture_path()
    if not on or last is None or path is None:
        return {"picture": gr.Image(value=None, visible=on), "line": NOT_YET if on else "", "ready": False}
    return {"picture": gr.Image(value=str(path), visible=True), "line": live_line(last), "ready": True}


@dataclass(frozen=True)
class EditorLink:
    """What the live panel reads from the Edit tab's editor (studio/ui/editor.py hands it over)."""

    image: gr.HTML  # the editor
    source: gr.Markdown  # the line saying which picture it holds
    origin: gr.Textbox  # an upload's stated origin and licence, kept with a kept live picture
    licence: gr.Dropdown
    read: Callable[[Session, dict | None], Edit]  # the editor's picture, mask and parent, as Inpaint reads them
    mask_drawn: Callable[[Session, dict | None], bool]  # whether the Mask brush was used
    stated: Callable[[Edit, str | None, str | None], dict[str, dict[str, str]]]  # an upload's origin and licence
    editing: Callable[[Session, str], dict[Any, Any]]  # a node's picture into the editor


def wire(screen: Screen, panel: LivePanel, editor: EditorLink) -> None:
    editor_image = editor.image

    def shown(session: Session, painted: LivePicture) -> dict[Any, Any]:
        live = live_shown(session, True, painted)
        ready = gr.Button(interactive=live["ready"])
        return {panel.picture: live["picture"], panel.line: live["line"], panel.keep: ready, panel.paint_over: ready}

    def not_shown(line: str) -> dict[Any, Any]:
        """No live picture for now: the line says why, and nothing old can be kept as if it were this canvas's."""
        unready = gr.Button(interactive=False)
        return {panel.line: line, panel.keep: unready, panel.paint_over: unready}

    def paint(values: dict[Any, Any], request: gr.Request):
        if not values[panel.on]:
            return {panel.picture: gr.Image(visible=False)} | not_shown("")
        session = screen.session_for(values[screen.session], request)
        value = values[editor_image]
        if not isinstance((value or {}).get("source"), dict):
            return not_shown("*Live is on: send a picture to the editor (✏ Edit this picture), or upload one.*")
        try:
            with user_errors():
                edit = editor.read(session, value)
                masked = editor.mask_drawn(session, value)
                recipe, control_images = screen.recipe(values, sketch=edit.picture if values[panel.sketch] else None)
                live = session.paint_live(
                    edit,
                    recipe,
                    strength=float(values[panel.strength]),
                    masked=masked,
                    control_images=control_images,
                    sources=editor.stated(edit, values[editor.origin], values[editor.licence])
                    | screen.reference_sources(values),
                )
        except gr.Error as error:  # said beside the live picture, which no longer matches the canvas
            return not_shown(f"**Live: not run.** {error.message}")
        except GenerationStopped:
            return not_shown("**Live: stopped.** Paint on, and the next stroke runs again.")
        if live is None:  # a newer change came before this one ran: its picture is on the way
            return {panel.picture: gr.skip()}
        return shown(session, live)

    inputs = screen.recipe_inputs | {screen.session, editor_image, editor.origin, editor.licence}
    inputs |= {panel.on, panel.strength, panel.sketch}
    outputs = [panel.picture, panel.line, panel.keep, panel.paint_over]
    live_run = {
        "concurrency_id": LIVE_CONCURRENCY,
        "concurrency_limit": 8,  # several artists' live runs wait in the engine's lane, taking turns
        "trigger_mode": "always_last",
        "show_progress": "hidden",
        "api_visibility": "private",
    }
    panel.on.change(
        lambda on: gr.Slider(visible=bool(on)),
        inputs=panel.on,
        outputs=panel.strength,
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )
    gr.on([panel.on.change, panel.run.click], paint, inputs=inputs, outputs=outputs, **live_run)
    # A stroke or a word sends the whole form only while Live is on: asked in the page, a change with Live off costs
    # no call at all (the form is some fifty values, and the editor and the prompt change at every touch).
    gr.on(
        [editor_image.change, panel.strength.input, panel.sketch.change, screen.form.prompt.change],
        None,
        inputs=[panel.on],
        js="(on) => { if (on) document.getElementById('live-run')?.click(); }",
        api_visibility="private",
    )

    def new_seed(values: dict[Any, Any], request: gr.Request):
        with user_errors():
            screen.session_for(values[screen.session], request).new_live_seed()
        return paint(values, request)

    panel.new_seed.click(new_seed, inputs=inputs, outputs=outputs, **live_run)

    named = screen.form.named
    settings = [named["steps"], named["cfg_scale"], named["sampler"], named["scheduler"]]

    def few_step(values: dict[Any, Any]):
        found = screen.services.loras.few_step(screen.form_recipe(values))
        if found is None:
            gr.Info(
                "No few-step LoRA or model in this recipe (LCM, Lightning, Hyper-SD, TCD or Turbo): live runs use "
                "your own settings. Add one to the prompt, e.g. &lt;lora:lcm-lora-sdv1-5:1&gt;, for live pictures "
                "in a few steps.",
                title="Your settings stay",
                duration=6,
            )
            return {widget: gr.skip() for widget in settings}
        gr.Info(f"Set for {found.words}.", title="Few-step settings", duration=6)
        return dict(zip(settings, (found.steps, found.cfg_scale, found.sampler, found.scheduler), strict=True))

    panel.few_step.click(
        few_step, inputs=screen.form.inputs, outputs=settings, show_progress="hidden", api_visibility="private"
    )

    def keep(session_id: str | None, request: gr.Request):
        session = screen.session_for(session_id, request)
        with user_errors():
            before = len(session.history.nodes())
            node = session.keep_live()
        said = "Kept as" if len(session.history.nodes()) > before else "Already kept as"
        return screen.after_run(session, node) | {panel.line: f"{said} **{node.id}** (in Results and the History)."}

    panel.keep.click(
        keep,
        inputs=[screen.session],
        outputs=[*screen.run_outputs, panel.line],
        show_progress="hidden",
        show_progress_on=[panel.line],
        api_visibility="private",
    )

    def paint_over(session_id: str | None, request: gr.Request):
        session = screen.session_for(session_id, request)
        with user_errors():
            node = session.keep_live()
            shown_after = screen.after_run(session, node)
        return shown_after | editor.editing(session, node.id)

    panel.paint_over.click(
        paint_over,
        inputs=[screen.session],
        outputs=[*screen.run_outputs, editor.image, editor.source],
        show_progress="hidden",
        show_progress_on=[panel.line],
        api_visibility="private",
    )
