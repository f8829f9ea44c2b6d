"""What a page shows when it opens or is reloaded: its session, the form as the artist left it, the picked
picture, and a run that is still going (its progress, then its result).

The form, the editor and the control maps are kept in the session's draft on the server, written before
the window is answered (so a reload right after a change still finds it); the pick is kept in the browser.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.control.catalogue import KINDS
from studio.pictures import open_picture
from studio.recipe import ControlMode
from studio.services import Services
from studio.services.presets import STYLE
from studio.session.session import Session
from studio.ui.area_panel import AREA_COUNT
from studio.ui.control_panel import UNIT_COUNT, kind_display, preprocessor_choices
from studio.ui.control_panel import editor_value as editor_value_of
from studio.ui.editor import EditPanel, draft_for_editor, kept_button
from studio.ui.grid_panel import GridPanel
from studio.ui.history import HistoryPanel
from studio.ui.live_panel import live_shown
from studio.ui.present import header
from studio.ui.present import history as tree_text
from studio.ui.present import results as results_text
from studio.ui.present.editor_page import editing_line
from studio.ui.present.licences import LICENCES
from studio.ui.present.plan import ReferencePlan, UnitPlan, plan_text
from studio.ui.present.unsent import unsent_label, unsent_words
from studio.ui.present.viewer import inputs_html
from studio.ui.reference_panel import REFERENCE_COUNT, area_value
from studio.ui.running import refusal, user_errors
from studio.ui.screen import Screen, account_of

POLL_SECONDS = 0.5


def remembered_widgets(screen: Screen, branch: gr.Checkbox) -> dict[str, Any]:
    """The widgets whose values a reload keeps, by a stable name."""
    widgets: dict[str, Any] = {f"form.{name}": widget for name, widget in screen.form.named.items()}
    widgets["branch"] = branch
    for unit in screen.controls.units:
        for name in (
            "enabled",
            "kind",
            "model",
            "weight",
            "guidance_start",
            "guidance_end",
            "control_mode",
            "preprocessor",
            "settings",
        ):
            widgets[f"unit{unit.number}.{name}"] = getattr(unit, name)
        widgets[f"unit{unit.number}.made_by"] = unit.made_by
        widgets[f"unit{unit.number}.shown_kind"] = unit.shown_kind
    # A reference's picture and an area's painting are kept beside the form, in the session's draft (see drafted).
    for reference in screen.references.units:
        for name in ("enabled", "model", "kind", "weight", "guidance_start", "guidance_end", "origin", "licence"):
            widgets[f"reference{reference.number}.{name}"] = getattr(reference, name)
    for area in screen.areas.units:
        for name in ("enabled", "prompt", "weight"):
            widgets[f"area{area.number}.{name}"] = getattr(area, name)
    return widgets


def plan_of(
    saved: dict[str, Any],
    selected: dict | None,
    loaded: tuple[str | None, str | None] = (None, None),
    embeddings: list[str] | None = None,
    faces_ready: bool = False,
) -> str:
    """The plan under Generate, from the form's values by name (see remembered_widgets).

    `loaded`: the loaded model and its family; the family is shown when the form names that model.
    `embeddings`: the embedding library's names. `faces_ready`: whether Face references can run here."""
    units = [
        UnitPlan(
            number,
            bool(saved.get(f"unit{number}.enabled")),
            str(saved.get(f"unit{number}.kind")),
            float(saved.get(f"unit{number}.weight") or 0),
            saved.get(f"unit{number}.made_by"),
            str(saved.get(f"unit{number}.control_mode") or ControlMode.BALANCED.value),
        )
        for number in range(1, UNIT_COUNT + 1)
    ]
    parent = f"{selected['node']}·{selected['index'] + 1}" if selected and saved.get("branch") else None
    model = saved.get("form.model") or ""
    family = loaded[1] if model.strip() == (loaded[0] or "") else None
    hires = (
        float(saved.get("form.hires_scale") or 1),
        str(saved.get("form.hires_upscaler") or ""),
        float(saved.get("form.hires_denoising_strength") or 0),
    )
    references = [
        ReferencePlan(
            number,
            str(saved.get(f"reference{number}.model") or ""),
            float(saved.get(f"reference{number}.weight") or 0),
            str(saved.get(f"reference{number}.kind") or ""),
        )
        for number in range(1, REFERENCE_COUNT + 1)
        if saved.get(f"reference{number}.enabled")
    ]
    return plan_text(
        model,
        saved.get("form.prompt") or "",
        units,
        saved.get("form.styles") or (),
        parent,
        family,
        hires,
        loaded[0],
        negative_prompt=saved.get("form.negative_prompt") or "",
        embeddings=embeddings or [],
        references=references,
        faces_ready=faces_ready,
        areas=[
            (number, str(saved.get(f"area{number}.prompt") or ""))
            for number in range(1, AREA_COUNT + 1)
            if saved.get(f"area{number}.enabled")
        ],
    )


STORE_TIMER = "studioFormStore"  # the page's one pending store of the form (see wire)


def wire(
    services: Services,
    screen: Screen,
    blocks: gr.Blocks,
    *,
    branch: gr.Checkbox,
    poll: gr.Timer,
    store: gr.Button,
    editor: EditPanel,
    history_panel: HistoryPanel,
    grid: GridPanel,
) -> None:
    widgets = remembered_widgets(screen, branch) | {
        "live.on": editor.live.on,
        "live.strength": editor.live.strength,
        # What the artist said of the uploaded picture: kept with it across a reload, never another session's.
        "upload.origin": editor.origin,
        "upload.licence": editor.licence,
        "edit.instruction": editor.instruction,  # a Kontext change typed and not run yet
        # The Grid panel's settings and values, and the prompts typed for a batch.
        **{f"grid.{name}": setting for name, setting in zip("xyz", grid.settings, strict=True)},
        **{f"grid.{name}_values": values for name, values in zip("xyz", grid.values, strict=True)},
        "grid.prompts": grid.prompts,
    }

    ready = gr.State(False)  # this page has put the kept form back
    as_built = {name: widget.value for name, widget in widgets.items()}  # the form a first visit starts with
    # Read once, as the reference units read it: what can make Face run (insightface, its models) needs a restart.
    faces_ready = services.references.face_refusal() is None

    def remember(values: dict[Any, Any], request: gr.Request) -> str:
        """The form into the session's draft (on disk before the window is answered), and the plan under
        Generate: when the plan shows a change, the change is kept."""
        saved = {name: values[widget] for name, widget in widgets.items()}
        # Not before the page has put the kept form back: its starting values would overwrite it.
        if values[ready] and values[screen.session]:
            session = screen.session_for(values[screen.session], request)
            # A first visit that changed nothing leaves no folder behind (a session appears once it holds work).
            untouched = _same_form(saved, as_built) and not session.drafts.form()
            if not session.history.read_only and not untouched:
                session.drafts.save_form(saved)
        names = [info.name for info in services.embeddings.all()]
        loaded = (services.models.model, services.models.family)
        return plan_of(saved, values[screen.selected], loaded, names, faces_ready)

    store.click(
        remember,
        inputs={screen.session, screen.selected, ready, *widgets.values()},
        outputs=[screen.plan],
        # Queued one at a time: answers arrive in the order of the changes, so an older one never lands last.
        concurrency_limit=1,
        concurrency_id="form-store",
        trigger_mode="always_last",
        show_progress="hidden",
        show_progress_on=[screen.badge_sink],  # see Screen.badge_sink: not the sixty widgets it reads
        api_visibility="private",
    )
    gr.on(
        # The header changes when a run loads the model it names: the plan then says it is loaded.
        [widget.change for widget in widgets.values()] + [screen.selected.change, screen.model_status.change],
        None,
        # A pick or a restore changes many fields at once: one store after them all, not one per field (each
        # store sends the whole form). Soon enough that the plan still follows the artist's typing.
        js=f"() => {{ clearTimeout(window.{STORE_TIMER}); "
        f"window.{STORE_TIMER} = setTimeout(() => document.getElementById('form-store')?.click(), 60); }}",
        api_visibility="private",
    )

    run_outputs = screen.run_outputs
    kind_outputs = [w for unit in screen.controls.units for w in (unit.hint, unit.palette_box, unit.pose_box)]

    def restored_form(saved: dict[str, Any]) -> dict[Any, Any]:
        """The saved values, with the choices that depend on them (a unit's preprocessors follow its kind)."""
        shown: dict[Any, Any] = {widgets[name]: value for name, value in saved.items() if name in widgets}
        shown[editor.origin] = str(saved.get("upload.origin") or "")
        shown[editor.licence] = str(saved.get("upload.licence") or LICENCES[0])  # one may be typed
        styles = [preset.name for preset in services.presets.all()[0] if preset.kind == STYLE]
        chosen = [name for name in saved.get("form.styles") or [] if name in styles]
        shown[screen.form.styles] = gr.CheckboxGroup(choices=styles, value=chosen)
        for unit in screen.controls.units:
            kind = saved.get(f"unit{unit.number}.kind")
            if kind not in KINDS:
                continue
            choices = preprocessor_choices(kind)
            preprocessor = saved.get(f"unit{unit.number}.preprocessor")
            if preprocessor not in KINDS[kind].preprocessors:
                preprocessor = KINDS[kind].preprocessors[0]
            shown |= {unit.preprocessor: gr.Dropdown(choices=choices, value=preprocessor), **kind_display(unit, kind)}
        return shown

    def drafted(session: Session, saved: dict[str, Any]) -> dict[Any, Any]:
        """The editor and the control maps as the artist left them in `session` (its draft). Without a draft the
        editor is emptied: the picture it held belongs to another session."""
        with user_errors():
            kept = draft_for_editor(session)
        source = kept["source"] if kept else None
        live = live_shown(session, bool(saved.get("live.on")))
        ready = gr.Button(interactive=live["ready"])
        shown: dict[Any, Any] = {
            editor.image: kept,
            editor.source: editing_line(source),
            editor.kept: kept_button(session, source),
            editor.live.picture: live["picture"],
            editor.live.line: live["line"],
            editor.live.keep: ready,
            editor.live.paint_over: ready,
        }
        for unit in screen.controls.units:
            path = session.drafts.map(unit.number)
            kind = saved.get(f"unit{unit.number}.kind")
            if path is not None and kind in KINDS:
                try:
                    shown[unit.map] = editor_value_of(open_picture(path, "control map"), kind)
                except ValueError:  # a damaged draft is only a draft: the page opens without it
                    shown[unit.map] = None
            elif saved:  # the session's own units, whose maps went with them
                shown[unit.map] = None
        if saved:
            shown |= steering_drafted(session, saved)
        return shown

    def steering_drafted(session: Session, saved: dict[str, Any]) -> dict[Any, Any]:
        """The session's own reference pictures and painted areas. A unit whose picture (or area) is not in the
        draft is not switched back on: it would steer with nothing, or with another session's picture."""
        shown: dict[Any, Any] = {}
        for reference in screen.references.units:
            picture = session.drafts.steering(f"reference-{reference.number}")
            area = session.drafts.steering(f"reference-{reference.number}-area")
            shown |= {
                reference.picture: picture,
                reference.area: area_value(area) if area is not None else None,
                reference.enabled: bool(saved.get(f"reference{reference.number}.enabled")) and picture is not None,
            }
        for unit in screen.areas.units:
            area = session.drafts.steering(f"area-{unit.number}")
            shown |= {
                unit.area: area_value(area) if area is not None else None,
                unit.enabled: bool(saved.get(f"area{unit.number}.enabled")) and area is not None,
                unit.prompt: str(saved.get(f"area{unit.number}.prompt") or ""),  # never another session's words
            }
        return shown

    def shown_for(session: Session, selected: dict | None) -> dict[Any, Any]:
        """The page showing `session` as the artist left it: its tree, its newest pictures (or the pick, if it is
        one of its own), its kept form, editor and control maps. Nothing of another session stays in view."""
        saved = session.drafts.form() if not session.history.read_only else {}
        nodes = session.tree()
        by_id = {node.id: node for node in nodes}
        picked = selected if selected and selected.get("node") in by_id else None
        shown: dict[Any, Any] = {
            ready: True,
            screen.session: session.history.id,
            screen.session_line: header.session_line(session.history.id),
            screen.selected: picked,
            screen.selection: "",
            screen.node_inputs: inputs_html([]),
            screen.restore_controls: gr.Button(visible=False),
            screen.compare_box: gr.Column(visible=False),
            screen.preview: gr.Image(value=None, visible=False),
            **screen.tree(session, picked),
            **restored_form(saved or {}),
        }
        if picked:
            node = by_id[picked["node"]]
            shown |= screen.show_results(session, [node], picked["index"])
            shown[screen.selection] = results_text.selection_text(node, picked["index"])
            shown[screen.node_inputs] = inputs_html(tree_text.input_pictures(node, session.history.path), node.id)
            shown[screen.restore_controls] = screen.restore_button(node)
        else:  # its newest pictures, none picked: a click picks one of this session's own
            shown |= screen.show_results(session, nodes[-1:], None)
        if not session.history.read_only:
            shown |= drafted(session, saved or {})
        return shown

    page_outputs = [
        ready,
        screen.session,
        screen.session_line,
        screen.selected,
        screen.selection,
        screen.node_inputs,
        screen.restore_controls,
        screen.compare_box,
        screen.preview,
        screen.history,
        screen.session_list,
        screen.results,
        screen.results_ids,
        screen.status,
        poll,
        *widgets.values(),
        *kind_outputs,
        editor.image,
        editor.source,
        editor.kept,
        editor.live.picture,
        editor.live.line,
        editor.live.keep,
        editor.live.paint_over,
        *(unit.map for unit in screen.controls.units),
        *(widget for unit in screen.references.units for widget in (unit.picture, unit.area)),
        *(unit.area for unit in screen.areas.units),
    ]

    def with_run(session: Session, shown: dict[Any, Any]) -> dict[Any, Any]:
        """A run of `session` still going (started before this page showed it): its progress follows."""
        run = session.latest_run()
        if run is not None and not run.finished:
            if run.job:
                shown[screen.status] = results_text.job_progress(run)
            elif run.progress is None:
                shown[screen.status] = screen.unstarted_line(session)
            else:
                shown[screen.status] = "**Painting…** (a run that started before this page was loaded)"
            shown[poll] = gr.Timer(active=True)
        return shown

    def opened(selected: dict | None, session_id: str | None, request: gr.Request):
        with user_errors():
            # A browser's first visit starts its own session; a reload comes back to it.
            session = screen.sessions.open(session_id or None, account=account_of(request))
        return with_run(session, {**shown_for(session, selected), screen.status: "Ready."})

    blocks.load(
        opened,
        inputs=[screen.selected, screen.session],
        outputs=page_outputs,
        show_progress_on=[screen.badge_sink],  # see Screen.badge_sink: not each of the ninety widgets it restores
        api_visibility="private",
    )

    def switch(session_id: str | None, prompt: str, negative: str, left: str | None, request: gr.Request):
        """Continue in another session: only this browser moves, and the whole page follows it at once. Words typed
        and not run that the session's own form replaces are kept, one click away (as a pick keeps them)."""
        if not session_id:
            raise refusal("Choose a session first.", title="No session chosen")
        session = screen.session_for(session_id, request)
        nodes = session.tree()
        shown = shown_for(session, None)
        count = len(nodes)
        shown[screen.status] = f"Now in session **{session.history.id}** ({count} node{'' if count == 1 else 's'})."
        shown[poll] = gr.Timer(active=False)
        prompt_widget, negative_widget = screen.form.prompt, screen.form.negative_prompt
        if prompt_widget in shown:  # the session's kept form: its own words replace the ones on the page
            incoming = (str(shown[prompt_widget] or ""), str(shown.get(negative_widget) or ""))
            # Words that ran in the session being left are not unsent either.
            ran = nodes + (screen.session_for(left, request).tree() if left and left != session_id else [])
            unsent = unsent_words((prompt, negative), incoming, ran)
            if unsent:
                shown |= {screen.unsent: unsent, screen.unsent_button: gr.Button(unsent_label(unsent), visible=True)}
        return with_run(session, shown)

    history_panel.open_session.click(
        switch,
        inputs=[history_panel.sessions, screen.form.prompt, screen.form.negative_prompt, screen.session],
        outputs=[*page_outputs, history_panel.preview, screen.unsent, screen.unsent_button],
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )

    def follow(session_id: str | None, request: gr.Request):
        """A run that outlived the page it started on: its progress, then its result."""
        session = screen.session_for(session_id, request)
        run = session.latest_run()
        if run is None:
            return {poll: gr.Timer(active=False)}
        if not run.finished and run.job:
            return {screen.status: results_text.job_progress(run)}
        if not run.finished:
            return screen.progress(run.progress) if run.progress else {screen.status: screen.unstarted_line(session)}
        if run.nodes:  # a grid or a batch of prompts: all its nodes in Results
            with user_errors():
                nodes = [session.history.get(node) for node in run.nodes]
                return {
                    poll: gr.Timer(active=False),
                    **screen.after_run(session, nodes[0]),
                    screen.status: results_text.job_saved(
                        run.job,
                        [node.id for node in nodes],
                        with_picture=bool(nodes[0].job and session.grid_picture(nodes[0].job.job)),
                    ),
                    **screen.show_results(session, nodes, 0),
                }
        if run.node_id is None:
            return {
                poll: gr.Timer(active=False),
                screen.status: f"**Not done:** {run.failed}",
                screen.preview: gr.Image(value=None, visible=False),
                screen.results: gr.HTML(visible=True),
            }
        with user_errors():
            return {poll: gr.Timer(active=False), **screen.after_run(session, session.history.get(run.node_id))}

    poll.tick(
        follow,
        inputs=[screen.session],
        outputs=[*run_outputs, poll],
        show_progress="hidden",
        show_progress_on=[screen.badge_sink],
        api_visibility="private",
    )


def _same_form(saved: dict[str, Any], built: dict[str, Any]) -> bool:
    """Whether the form holds what the page was built with (empty and unset alike; 7 and 7.0 alike)."""
    return all(_same_value(value, built.get(name)) for name, value in saved.items())


def _same_value(value: Any, built: Any) -> bool:
    if value in (None, "") and built in (None, ""):
        return True
    numbers = (int, float)
    if isinstance(value, numbers) and isinstance(built, numbers) and not isinstance(value, bool):
        return float(value) == float(built)
    return value == built
