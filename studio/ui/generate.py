"""The left column: Generate, Stop, seed buttons, and loading a model."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.control.catalogue import model_for_new_base
from studio.recipe import RANDOM_SEED
from studio.services import Services
from studio.sizes import FLUX, Sampling, sampling_for_new_family, size_for_new_family, size_of_label
from studio.ui.control_tab import keep_every_map
from studio.ui.form import native_sizes_radio, sampler_choices, schedule_choices
from studio.ui.present import header
from studio.ui.running import user_errors, warn
from studio.ui.screen import Screen


def wire(
    services: Services,
    screen: Screen,
    *,
    generate_button: gr.Button,
    stop_button: gr.Button,
    random_seed: gr.Button,
    reuse_seed: gr.Button,
    load_button: gr.Button,
    tiny_buttons: dict[str, gr.Button],
    native_sizes: gr.Radio,
    branch: gr.Checkbox,
    model_status: gr.Markdown,
    speed: gr.Markdown,
    notice: gr.Markdown,
    blocks: gr.Blocks,
) -> None:
    form = screen.form

    def family_view() -> dict[Any, Any]:
        """The header and the widgets that follow the loaded model's family, as they are now. The page is built
        once, as the studio starts: after a model load, a reload (or another browser) must not show the first one."""
        family = services.models.family
        flux = family == FLUX
        return {
            model_status: header.model_line(services.models.model, family),
            speed: header.speed_line(services.models.speed, family),
            form.distilled_cfg_scale: gr.Slider(visible=flux),
            form.shift: gr.Slider(visible=flux),
            native_sizes: gr.Radio(**native_sizes_radio(family)),
            form.sampler: gr.Dropdown(**sampler_choices(family)),
            form.scheduler: gr.Dropdown(**schedule_choices(family)),
        }

    blocks.load(
        family_view,
        outputs=[model_status, speed, form.distilled_cfg_scale, form.shift, native_sizes, form.sampler, form.scheduler],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )

    def generate(values: dict[Any, Any], request: gr.Request):
        session = screen.session_for(values[screen.session], request)
        recipe, control_images = screen.recipe(values)
        # A new prompt is a new idea: only the artist's "branch" makes it a child of the picked picture.
        parent = (values[screen.selected] or {}).get("node") if values[branch] else None
        sources = screen.reference_sources(values)
        yield from screen.run(
            session,
            lambda on_step: session.generate(
                recipe, parent_id=parent, control_images=control_images, sources=sources, on_step=on_step
            ),
        )

    run = screen.run_options
    inputs = screen.recipe_inputs | {screen.selected, screen.session, branch}
    generate_button.click(generate, inputs=inputs, outputs=screen.run_outputs, **run)

    def stop(session_id: str | None, request: gr.Request) -> None:
        """This browser's run stops (running or waiting), never another artist's in a shared studio."""
        services.models.stop(str(screen.session_for(session_id, request).history.folder))

    # Stop skips the queue: it must reach the run that holds the lane.
    stop_button.click(stop, inputs=[screen.session], queue=False, api_visibility="private")

    def put_back_unsent(words: dict | None):
        if not words:
            return {screen.unsent_button: gr.Button(visible=False)}
        return {
            form.prompt: words["prompt"],
            form.negative_prompt: words["negative"],
            screen.unsent: None,
            screen.unsent_button: gr.Button(visible=False),
        }

    screen.unsent_button.click(
        put_back_unsent,
        inputs=screen.unsent,
        outputs=[form.prompt, form.negative_prompt, screen.unsent, screen.unsent_button],
        queue=False,
        api_visibility="private",
    )

    random_seed.click(lambda: RANDOM_SEED, outputs=form.seed, queue=False, api_visibility="private")

    def reuse(selected: dict | None, session_id: str | None, request: gr.Request) -> Any:
        if not selected:
            return warn("Pick a picture first: its seed is the one reused.", title="Nothing selected")
        session = screen.session_for(session_id, request)
        with user_errors():
            return session.history.get(selected["node"]).seeds[selected["index"]]

    # Queued, with no progress badge: a refusal is a readable message, never a bare "Error" over the seed box.
    reuse_seed.click(
        reuse,
        inputs=[screen.selected, screen.session],
        outputs=form.seed,
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )

    units = screen.controls.units

    def restore_units(selected: dict | None, session_id: str | None, request: gr.Request):
        if not selected:
            return warn("Pick a picture first: its control units are the ones put back.", title="Nothing selected")
        session = screen.session_for(session_id, request)
        with user_errors():
            return screen.restore_units(session, selected["node"])

    restored = screen.restore_controls.click(
        restore_units,
        inputs=[screen.selected, screen.session],
        outputs=[*screen.controls.outputs, *screen.references.outputs, *screen.areas.outputs, screen.status],
        show_progress_on=[screen.badge_sink],  # see Screen.badge_sink: not the forty-odd widgets it sets
        api_visibility="private",
    )
    keep_every_map(services, screen, restored)

    def load(values: dict[Any, Any], model: str | None = None, request: gr.Request | None = None):
        previous_family = services.models.family
        try:
            with user_errors():
                services.models.load((model or values[form.model]).strip())
        except gr.Error as error:  # said where it stays, under Generate, not only in a note that goes away
            gr.Warning(error.message, title=error.title or "Model not loaded")
            return {
                screen.status: f"**Not loaded:** {error.message} The loaded model is still {services.models.model}."
            }
        family = services.models.family
        picked = values[screen.selected]
        if picked and values[screen.session]:
            session = screen.session_for(values[screen.session], request)
            with user_errors():
                use_model = screen.use_model_button(session.history.get(picked["node"]), services.models.model)
        else:
            use_model = gr.Button(visible=False)
        # ControlNets left at their defaults follow the new base model (its family's, or tiny's).
        control_models = {
            unit.model: model_for_new_base(
                values[unit.kind], values[unit.model] or "", services.models.model or "", family
            )
            for unit in units
        }
        # The form's size moves with the family only where the artist left it at the old default.
        (width, height), size_note = size_for_new_family(
            (int(values[form.width]), int(values[form.height])), previous_family, family
        )
        # So do the sampler, schedule and CFG (Flux.1 runs Euler, with its guidance distilled into it).
        sampling, sampling_note = sampling_for_new_family(
            Sampling(values[form.sampler], values[form.scheduler], float(values[form.cfg_scale])),
            previous_family,
            family,
        )
        flux = family == FLUX
        return {
            model_status: header.model_line(services.models.model, family),
            speed: header.speed_line(services.models.speed, family),
            notice: gr.Markdown(visible=False),
            form.model: services.models.model,
            form.width: width,
            form.height: height,
            form.sampler: gr.Dropdown(**sampler_choices(family), value=sampling.sampler),
            form.scheduler: gr.Dropdown(**schedule_choices(family), value=sampling.scheduler),
            form.cfg_scale: sampling.cfg_scale,
            form.distilled_cfg_scale: gr.Slider(visible=flux),
            form.shift: gr.Slider(visible=flux),
            native_sizes: gr.Radio(**native_sizes_radio(family)),
            screen.status: " ".join(
                part
                for part in (
                    f"Loaded `{services.models.model}` ({family}).",
                    services.models.model_note,
                    size_note,
                    sampling_note,
                )
                if part
            ),
            screen.use_model: use_model,
            **control_models,
        }

    loading = [
        model_status,
        speed,
        notice,
        form.model,
        form.width,
        form.height,
        form.sampler,
        form.scheduler,
        form.cfg_scale,
        form.distilled_cfg_scale,
        form.shift,
        native_sizes,
        screen.status,
        screen.use_model,
        *(unit.model for unit in units),
    ]
    load_inputs = {
        form.model,
        form.width,
        form.height,
        form.sampler,
        form.scheduler,
        form.cfg_scale,
        screen.selected,
        screen.session,
        *(unit.kind for unit in units),
        *(unit.model for unit in units),
    }

    def loader(name: str | None):
        def load_named(values: dict[Any, Any], request: gr.Request):
            return load(values, name, request)

        return load_named

    load_button.click(loader(None), inputs=load_inputs, outputs=loading, **run)
    for name, button in tiny_buttons.items():
        button.click(loader(name), inputs=load_inputs, outputs=loading, **run)

    def use_picked_model(values: dict[Any, Any], request: gr.Request):
        picked = values[screen.selected]
        if not picked:
            return warn("Pick a picture first: its model is the one loaded.", title="Nothing selected")
        session = screen.session_for(values[screen.session], request)
        with user_errors():
            made_with = session.history.get(picked["node"]).recipe.model
        return load(values, made_with, request)

    screen.use_model.click(use_picked_model, inputs=load_inputs, outputs=loading, **run)

    def pick_size(label: str | None):
        if not label:
            return gr.skip(), gr.skip(), gr.skip()
        width, height = size_of_label(label)
        return width, height, None  # the radio is a row of buttons: it keeps no choice of its own

    native_sizes.input(
        pick_size,
        inputs=native_sizes,
        outputs=[form.width, form.height, native_sizes],
        queue=False,
        api_visibility="private",
    )
