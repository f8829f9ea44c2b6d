"""The studio window: lays out the widgets and hands them to the modules that wire their events."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio.recipe import TINY_FLUX_MODEL, TINY_MODEL, TINY_SDXL_MODEL
from studio.session.sessions import Sessions
from studio.ui import (
    api,
    authorship_tab,
    closeness_tab,
    control_tab,
    editor,
    finish_tab,
    generate,
    grid_panel,
    history,
    loras_tab,
    page,
    picture_tab,
    presets_panel,
    results,
    train_tab,
)
from studio.ui import area_panel as area_panel_events
from studio.ui import reference_panel as reference_panel_events
from studio.ui.area_panel import area_widgets
from studio.ui.control_panel import control_widgets
from studio.ui.finish_tab import FINISH_TAB
from studio.ui.form import RecipeForm, hires_widgets, prompt_widgets, settings_widgets
from studio.ui.present import header
from studio.ui.present.editor_page import EDITOR_CSS
from studio.ui.present.plan import plan_text
from studio.ui.present.region_board import BOARD_CSS
from studio.ui.present.tree_view import TREE_CSS
from studio.ui.present.viewer import VIEWER_CSS, viewer_html
from studio.ui.reference_panel import reference_widgets
from studio.ui.screen import CONTROL_TAB, EDIT_TAB, HISTORY_TAB, NOTHING_YET, PICTURE_TAB, RESULTS_TAB, Screen

CSS = """
.gradio-container { padding-top: 4px !important; }
#title h2 { margin: 0; }
#title p { margin: 0; opacity: 0.75; }
#notice { border-left: 4px solid #e8a33d; padding: 6px 12px; background: rgba(232, 163, 61, 0.12); }
#status { min-height: 1.6em; }
#plan { font-size: 0.88em; border-left: 3px solid rgba(128, 128, 128, 0.4); padding-left: 8px; }
#preview img { width: 100%; height: 100%; object-fit: contain; }
#live-picture img { width: 100%; height: 100%; object-fit: contain; image-rendering: auto; }
#live-line { font-size: 0.9em; min-height: 1.4em; }
#generate-button { min-height: 46px; font-size: 1.05em; }
#preset-row { align-items: flex-end; }
#preset-row > button { flex-grow: 0; height: fit-content; margin-bottom: 6px; }
#selection { font-size: 0.92em; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin: 0 3px 0 8px; vertical-align: -1px;
  border: 1px solid rgba(0, 0, 0, 0.35); border-radius: 2px; }
"""


@dataclass(frozen=True)
class Window:
    blocks: gr.Blocks
    css: str
    theme: gr.themes.Base
    head: str  # the window's own keys (studio/ui/keys.js)


def _script(name: str) -> str:
    return (Path(__file__).parent / name).read_text(encoding="utf-8")


def _head() -> str:
    return f"<script>{_script('keys.js')}</script>"


def build_ui(sessions: Sessions, *, notice: str | None = None) -> Window:
    """The whole window: each browser works in a session `sessions` opens for it. `notice` is shown on top (e.g.
    why the default model did not load)."""
    services = sessions.services
    defaults = services.models.defaults
    with api.StudioBlocks(title="Studio", fill_width=True) as blocks:
        # First, so the public endpoints get the plain names (/generate, ...) before the window's private events.
        api.add_endpoints(sessions)
        with gr.Row(equal_height=True):
            gr.Markdown(
                "## Studio\nGenerate, pick, paint over or mask, regenerate. Every step is kept in the history.",
                elem_id="title",
            )
            with gr.Column(scale=0, min_width=320):
                model_status = gr.Markdown(
                    header.model_line(services.models.model, services.models.family), elem_id="model-status"
                )
                session_line = gr.Markdown("", elem_id="session-line")
        notice_box = gr.Markdown(notice or "", visible=bool(notice), elem_id="notice")

        with gr.Row():
            with gr.Column(scale=4, min_width=340):
                prompt, negative = prompt_widgets(defaults)
                unsent_button = gr.Button(visible=False, size="sm", elem_id="unsent-prompt")
                with gr.Row():
                    generate_button = gr.Button("Generate", variant="primary", scale=3, elem_id="generate-button")
                    stop_button = gr.Button("Stop", variant="stop", scale=1, min_width=70, elem_id="stop-button")
                # "Ready." comes with the page's session (page.py): before it, a run may still be going on a reloaded page.
                status = gr.Markdown("Opening…", elem_id="status")
                branch = gr.Checkbox(
                    value=False,
                    label="Branch from the picked picture",
                    info="Off: Generate starts a new root of the tree",
                    elem_id="branch",
                )
                plan = gr.Markdown(
                    plan_text(defaults.model, defaults.prompt, [], family=services.models.family), elem_id="plan"
                )
                with gr.Row():
                    restore_controls = gr.Button(
                        "Use its control units", size="sm", visible=False, elem_id="restore-controls"
                    )
                    use_model = gr.Button("Use its model", size="sm", visible=False, elem_id="use-model")
                with gr.Accordion("Settings", open=True, elem_id="settings"):
                    # The numbers first: steps, pictures and size are in view at 1366x768 without scrolling.
                    settings = settings_widgets(defaults, services.models.family)
                    styles, preset_choice, preset_apply, preset_problems = presets_panel.picker_widgets()
                    hires = hires_widgets(defaults, services.models.upscaler_names()[1:])
                with gr.Accordion("Grid: compare settings (X/Y/Z plot)", open=False, elem_id="grid"):
                    grid = grid_panel.grid_widgets()
                with gr.Accordion("Model", open=bool(notice)):
                    model = gr.Textbox(
                        value=defaults.model,
                        label="Model",
                        info="A Hugging Face id, a diffusers folder or a .safetensors file (SD 1.5, SDXL, Flux.1); a "
                        "Flux transformer file or GGUF takes its encoders from a Flux folder beside it; or 'tiny' / "
                        "'tiny-sdxl' / 'tiny-flux' (test models)",
                        elem_id="model",
                    )
                    with gr.Row():
                        load_button = gr.Button("Load model", size="sm", elem_id="load-model")
                        tiny_button = gr.Button("Tiny SD 1.5", size="sm", elem_id="use-tiny")
                        tiny_sdxl_button = gr.Button("Tiny SDXL", size="sm", elem_id="use-tiny-sdxl")
                        tiny_flux_button = gr.Button("Tiny Flux", size="sm", elem_id="use-tiny-flux")
                    speed = gr.Markdown(
                        header.speed_line(services.models.speed, services.models.family), elem_id="speed"
                    )
                preset_name, preset_save = presets_panel.saver_widgets()

            with gr.Column(scale=7, min_width=560):
                with gr.Tabs(selected=RESULTS_TAB) as tabs:
                    with gr.Tab("Results", id=RESULTS_TAB, elem_id="tab-results"):
                        # Stands in for the results while a run paints: the latents, cheaply, each step.
                        preview = gr.Image(
                            label="Live preview",
                            interactive=False,
                            height=400,
                            visible=False,
                            buttons=[],
                            elem_id="preview",
                        )
                        results_gallery = gr.HTML(
                            viewer_html([], empty=NOTHING_YET),
                            js_on_load=_script("viewer.js"),
                            elem_id="results",
                        )
                        selection = gr.Markdown(elem_id="selection")
                        result_actions = results.action_widgets()
                    with gr.Tab("Edit", id=EDIT_TAB, elem_id="tab-edit"):
                        edit_panel = editor.editor_widgets(defaults, _script("editor.js"), services.models.family)
                    with gr.Tab("Finish", id=FINISH_TAB, elem_id="tab-finish") as finish_tab_item:
                        finish_panel = finish_tab.finish_widgets(
                            services.models.upscaler_names(), _script("regions.js")
                        )
                    with gr.Tab("Control", id=CONTROL_TAB, elem_id="tab-control"):
                        control_panel = control_widgets(defaults.model, services.models.family, _script("editor.js"))
                        reference_panel = reference_widgets(services.references, _script("editor.js"))
                        area_panel = area_widgets(_script("editor.js"))
                    with gr.Tab("History", id=HISTORY_TAB, elem_id="tab-history"):
                        history_panel = history.history_widgets(_script("tree.js"))
                    with gr.Tab("Picture info", id=PICTURE_TAB, elem_id="tab-picture"):
                        picture_panel = picture_tab.picture_widgets()
                    with gr.Tab("Authorship", id=authorship_tab.AUTHORSHIP_TAB, elem_id="tab-authorship"):
                        authorship_panel = authorship_tab.authorship_widgets()
                    with gr.Tab("Closeness", id="closeness", elem_id="tab-closeness"):
                        closeness_panel = closeness_tab.closeness_widgets()
                    with gr.Tab("LoRAs & embeddings", id="loras", elem_id="tab-loras"):
                        lora_panel = loras_tab.lora_widgets()
                    with gr.Tab("Train", id="train", elem_id="tab-train"):
                        train_panel = train_tab.train_widgets()

        form = RecipeForm(
            prompt=prompt,
            negative_prompt=negative,
            model=model,
            **{
                name: settings[name]
                for name in (
                    "sampler",
                    "scheduler",
                    "steps",
                    "cfg_scale",
                    "distilled_cfg_scale",
                    "shift",
                    "width",
                    "height",
                    "seed",
                    "variation_seed",
                    "variation_strength",
                    "batch_size",
                    "clip_skip",
                )
            },
            **edit_panel.settings,
            **hires,
            styles=styles,
        )
        screen = Screen(
            sessions=sessions,
            form=form,
            tabs=tabs,
            status=status,
            preview=preview,
            results=results_gallery,
            results_ids=gr.State([]),
            # Kept in this browser's storage, as the session is: a reload keeps the picked picture.
            selected=gr.BrowserState(None, storage_key="studio-selected"),
            selection=selection,
            history=history_panel.tree,
            compare_box=history_panel.compare_box,
            session_list=history_panel.sessions,
            controls=control_panel,
            references=reference_panel,
            areas=area_panel,
            node_inputs=history_panel.inputs,
            # Kept in this browser's storage: a reload stays in the session, another browser has its own.
            session=gr.BrowserState(None, storage_key="studio-session"),
            session_line=session_line,
            plan=plan,
            restore_controls=restore_controls,
            model_status=model_status,
            use_model=use_model,
            unsent=gr.State(None),
            unsent_button=unsent_button,
            badge_sink=gr.HTML(visible=False, elem_id="badge-sink"),
        )
        generate.wire(
            services,
            screen,
            generate_button=generate_button,
            stop_button=stop_button,
            random_seed=settings["random_seed"],
            reuse_seed=settings["reuse_seed"],
            load_button=load_button,
            tiny_buttons={
                TINY_MODEL: tiny_button,
                TINY_SDXL_MODEL: tiny_sdxl_button,
                TINY_FLUX_MODEL: tiny_flux_button,
            },
            native_sizes=settings["native_sizes"],
            branch=branch,
            model_status=model_status,
            speed=speed,
            notice=notice_box,
            blocks=blocks,
        )
        results.wire(services, screen, result_actions, editor=edit_panel)
        finish_tab.wire(screen, finish_panel, open_button=result_actions.finish, tab=finish_tab_item)
        editor.wire(services, screen, edit_panel)
        grid_panel.wire(screen, grid)
        control_tab.wire(services, screen, control_panel)
        reference_panel_events.wire(screen, reference_panel)
        area_panel_events.wire(screen, area_panel)
        history.wire(services, screen, history_panel, blocks)
        page.wire(
            services,
            screen,
            blocks,
            branch=branch,
            poll=gr.Timer(page.POLL_SECONDS, active=False),
            store=gr.Button("Keep the form", visible="hidden", elem_id="form-store"),
            editor=edit_panel,
            history_panel=history_panel,
            grid=grid,
        )
        picture_tab.wire(services, screen, picture_panel, finish_panel)
        authorship_tab.wire(services, screen, authorship_panel)
        closeness_tab.wire(screen, closeness_panel)
        loras_tab.wire(services, screen, lora_panel, blocks)
        train_tab.wire(services, screen, train_panel)
        presets_panel.wire(
            services,
            screen,
            presets_panel.PresetPanel(preset_choice, preset_apply, preset_problems, preset_name, preset_save),
            blocks,
        )

    theme = gr.themes.Default(
        primary_hue="orange", neutral_hue="slate", text_size="sm", spacing_size="sm", radius_size="sm"
    )
    return Window(blocks, CSS + VIEWER_CSS + TREE_CSS + EDITOR_CSS + BOARD_CSS, theme, _head())
