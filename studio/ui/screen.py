"""The widgets every tab shares, and the screen updates that follow a run or a selection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from studio.history import Iteration
from studio.scale.jobs import engines_in
from studio.services import Services
from studio.session.session import Session
from studio.session.sessions import Sessions
from studio.ui.area_panel import AreaPanel
from studio.ui.control_panel import ControlPanel
from studio.ui.form import RecipeForm
from studio.ui.present import header
from studio.ui.present import history as tree_text
from studio.ui.present import results as results_text
from studio.ui.present.tree_view import tree_html
from studio.ui.present.unsent import form_words, unsent_label, unsent_words
from studio.ui.present.viewer import Shown, inputs_html, viewer_html
from studio.ui.reference_panel import ReferencePanel
from studio.ui.running import QUIET, Finished, refusal, stream, user_errors

NOTHING_YET = "Nothing yet: write a prompt and press Generate (or Ctrl+Enter)."
RESULTS_TAB, EDIT_TAB, CONTROL_TAB, HISTORY_TAB, PICTURE_TAB = "results", "edit", "control", "history", "picture"
GPU_LANE = "gpu"  # every event that runs the model shares this queue lane (see lane_limit)
STARTING = "**Starting…**"
QUIET_EVERY = 0.5  # seconds without a step after which a run's status says whether it waits in the engine's line


def lane_limit(engine: Any) -> int:
    """How many runs the window hands the engine at once: one per engine, and a few more that wait in the engine's
    own lane (in order, live runs behind), where a Stop takes a waiting run out of the line; the queue would not."""
    return engines_in(engine) + 3


@dataclass
class Screen:
    """Shared widgets, and the sessions they act on. `gr.State`s hold ids only, never pictures: those live on disk."""

    sessions: Sessions
    form: RecipeForm
    tabs: gr.Tabs
    status: gr.Markdown
    preview: gr.Image
    results: gr.HTML  # the picture viewer (present/viewer.py)
    results_ids: gr.State  # [[node_id, index], ...] in gallery order
    selected: gr.BrowserState  # {"node": id, "index": i} or None
    selection: gr.Markdown
    history: gr.HTML  # the version tree, drawn (present/tree_view.py)
    compare_box: gr.Column  # two pictures of the tree side by side (History)
    session_list: gr.Dropdown
    controls: ControlPanel
    node_inputs: gr.HTML  # what the selected node was given: picture, mask, control maps
    session: gr.BrowserState  # this browser's session id: each browser works in its own session
    session_line: gr.Markdown  # says which session this browser works in
    plan: gr.Markdown  # under Generate: the model, LoRAs, styles and control units the next run uses
    restore_controls: gr.Button  # puts the picked node's control units back; picking alone never does
    model_status: gr.Markdown  # the header's model line: the model loaded, which is the one that runs
    use_model: gr.Button  # loads the picked picture's model; picking alone never changes the model
    unsent: gr.State  # {"prompt", "negative"}: words typed but not run that a pick replaced, or None
    unsent_button: gr.Button  # puts them back
    references: ReferencePanel  # the Control tab's reference pictures
    areas: AreaPanel  # the Control tab's area prompts
    # Hidden: where Gradio puts a run's progress and "Error" badges. The status line says both in words, and a
    # badge over it (or over a control) would hide them or block clicks. It also keeps the page quick: Gradio
    # updates every widget that ever showed progress at each step of every event, a walk of the whole page each.
    badge_sink: gr.HTML

    @property
    def services(self) -> Services:
        return self.sessions.services

    def session_for(self, session_id: str | None, request: gr.Request | None) -> Session:
        """The one way a handler gets its session: this browser's, for the logged-in account (if any)."""
        if not session_id:
            raise refusal("This page has not started its session yet: reload it.", title="Page not ready")
        with user_errors():
            return self.sessions.open(session_id, account=account_of(request))

    @property
    def run_outputs(self) -> list[Any]:
        """Everything a finished run may change."""
        return [
            self.status,
            self.preview,
            self.results,
            self.results_ids,
            self.selected,
            self.selection,
            self.history,
            self.session_list,
            self.node_inputs,
            self.tabs,
            self.model_status,
            self.use_model,
            self.restore_controls,
        ]

    @property
    def run_options(self) -> dict[str, Any]:
        """How run events are queued and shown: one GPU lane; progress in the status line only."""
        return {
            "concurrency_id": GPU_LANE,
            "concurrency_limit": lane_limit(self.services.models.engine),
            "api_visibility": "private",
            "show_progress": "minimal",
            "show_progress_on": [self.badge_sink],
        }

    @property
    def select_outputs(self) -> list[Any]:
        return [
            self.selected,
            self.selection,
            self.history,
            self.node_inputs,
            self.restore_controls,
            self.use_model,
            self.unsent,
            self.unsent_button,
            self.results,
            self.results_ids,
            *self.form.picked_outputs,
        ]

    def recipe(self, values: dict[Any, Any], *, sketch: Image.Image | None = None):
        """The form's recipe with the Control tab's units and reference pictures, and the units' maps and the
        references' pictures and areas by role. Raises gr.Error for bad input. `sketch`: a live canvas whose
        lines are unit 1's map."""
        with user_errors():
            controls, control_images = self.controls.controls(values, sketch=sketch)
        references, pictures, _ = self.references.references(values)
        areas, masks = self.areas.area_prompts(values)
        form_recipe = self.form_recipe(values)
        with user_errors():  # the units' values are checked as the recipe takes them (a start after an end, ...)
            recipe = form_recipe.replace(controls=controls, references=references, area_prompts=areas)
        return recipe, control_images | pictures | masks

    def reference_sources(self, values: dict[Any, Any]) -> dict[str, dict[str, str]]:
        """What the artist said of each reference picture in use (origin and licence), by role."""
        return self.references.references(values)[2]

    def form_recipe(self, values: dict[Any, Any]):
        """The form's recipe alone, for a finish: the Control tab's units steer generations, not a fix or an upscale
        (whose own "keep structure" unit is the Finish tab's). Raises gr.Error for bad input."""
        with user_errors():
            return self.form.recipe(values, self.services.models.defaults)

    @property
    def recipe_inputs(self) -> set[Any]:
        return self.form.inputs | self.controls.inputs | self.references.inputs | self.areas.inputs

    # --- updates -------------------------------------------------------------------------------

    def run(self, session: Session, call: Callable[[Callable[[Any], None]], Iteration]) -> Iterator[dict[Any, Any]]:
        """Screen updates for one session call: the Results tab at once, live previews, then the saved result."""
        yield {self.tabs: gr.Tabs(selected=RESULTS_TAB), self.status: STARTING}
        owner, said = str(session.history.folder), STARTING
        try:
            for item in stream(call, quiet_every=QUIET_EVERY):
                if item is QUIET:  # nothing new for a while: the run may wait in the engine's line
                    if (line := self.quiet_status(owner, said)) is not None:
                        said = line
                        yield {self.status: line}
                    continue
                said = None
                yield self.after_run(session, item.result) if isinstance(item, Finished) else self.progress(item)
        except gr.Error as error:
            # The status line must never stay at "Starting…": it says what failed, the results come back.
            yield {
                self.status: f"**Not done:** {error.message}",
                self.preview: gr.Image(value=None, visible=False),
                self.results: gr.HTML(visible=True),
            }
            raise

    def quiet_status(self, owner: str, said: str | None) -> str | None:
        """A new status line for `owner`'s run, quiet for a while, whose status says `said` (None: a step): how
        many runs are ahead of it, or Starting once its turn came. None: the line stays as it is."""
        ahead = self.services.models.runs_ahead(owner)
        if ahead is not None:
            line = results_text.waiting_line(ahead)
        elif said not in (None, STARTING):
            line = STARTING  # its turn came: the model loads, the prompt is read
        else:
            return None  # starting, or between two slow steps: what the line says stays true
        return None if line == said else line

    def unstarted_line(self, session: Session) -> str:
        """The status of `session`'s run that has painted nothing yet, for a page loaded after it began."""
        ahead = self.services.models.runs_ahead(str(session.history.folder))
        if ahead is not None:
            return results_text.waiting_line(ahead)
        return f"{STARTING} (a run that began before this page was loaded)"

    def progress(self, step: Any) -> dict[Any, Any]:
        shown = {
            self.status: f"**Painting…** {results_text.progress_bar(step.step, step.total)}",
            self.results: gr.HTML(visible=False),
        }
        if step.preview is not None:  # previews come a few a second; between them the last one stays
            shown[self.preview] = gr.Image(value=step.preview, visible=True)
        return shown

    def after_run(self, session: Session, node: Iteration | None) -> dict[Any, Any]:
        speed_notice = self.services.models.take_speed_notice()
        if speed_notice:
            gr.Warning(speed_notice, title="Fast path off")
        if node is None:
            return {
                self.status: "Stopped. Nothing was saved for the stopped run.",
                self.preview: gr.Image(value=None, visible=False),
                self.results: gr.HTML(visible=True),  # the earlier results, as they were
            }
        selected = {"node": node.id, "index": 0}
        folder = session.history.folder
        return {
            self.status: f"Saved **{node.id}** ({tree_text.what_happened(node)}) in `{folder}`",
            self.preview: gr.Image(value=None, visible=False),
            **self.show_results(session, [node], 0),
            self.selected: selected,
            self.selection: results_text.selection_text(node, 0),
            self.node_inputs: inputs_html(tree_text.input_pictures(node, session.history.path), node.id),
            # A run loads the model its recipe names: the header says what ran, whatever it said before.
            self.model_status: header.model_line(self.services.models.model, self.services.models.family),
            self.use_model: self.use_model_button(node, self.services.models.model),
            # The new picture ran under the units the Control tab holds: nothing to put back (nor an earlier pick's).
            self.restore_controls: gr.Button(visible=False),
            **self.tree(session, selected),
        }

    def tree(self, session: Session, selected: dict | None = None) -> dict[Any, Any]:
        return {
            self.history: self.tree_drawing(session, selected),
            self.session_list: gr.Dropdown(choices=session_choices(session), value=session.history.id),
        }

    def tree_drawing(self, session: Session, selected: dict | None) -> str:
        picked = (selected["node"], selected["index"]) if selected else None
        return tree_html(session.tree(), session.history.path, picked, grid_picture=session.grid_picture)

    def show_results(self, session: Session, nodes: list[Iteration], selected: int | None) -> dict[Any, Any]:
        """The viewer showing every picture of `nodes`, picture `selected` in the large view."""
        shown = [
            Shown(p.node_id, p.index, p.path, p.caption, before=_edited_picture(node, session))
            for node in nodes
            for p in tree_text.node_pictures(node, session.history.path)
        ]
        return {
            self.results: gr.HTML(viewer_html(shown, selected, empty=NOTHING_YET), visible=True),
            self.results_ids: [[p.node_id, p.index] for p in shown],
        }

    def refresh(self, session: Session, result_ids: list, selected: dict | None) -> dict[Any, Any]:
        """The same results and tree, redrawn (after a mark changed their captions)."""
        shown = [session.history.get(node_id) for node_id in dict.fromkeys(node_id for node_id, _ in result_ids)]
        position = [selected["node"], selected["index"]] if selected else None
        index = result_ids.index(position) if position in result_ids else None
        return {
            **self.show_results(session, shown, index),
            **self.tree(session, selected),
        }

    @property
    def select_inputs(self) -> list[Any]:
        """What a pick reads besides the picture: the session and the words in the form (kept if unsent)."""
        return [self.session, self.form.prompt, self.form.negative_prompt]

    def select(
        self,
        session: Session,
        node_id: str,
        index: int,
        *,
        typed: tuple[str, str] = ("", ""),
        show_node: bool = False,
    ) -> dict[Any, Any]:
        """Select a picture: show what made it and put its recipe (with its own seed) in the form.

        The Control tab and the model are left as the artist set them: a node's units come back only with
        "Use its control units", its model only with "Use its model", so a pick never changes what runs behind
        the artist's back. Nor does it change how many pictures the next run makes. Words `typed` in the form
        and not run yet are kept, one click away.
        """
        node = session.history.get(node_id)
        unsent = unsent_words(typed, form_words(node), session.tree())
        return {
            **(
                {self.unsent: unsent, self.unsent_button: gr.Button(unsent_label(unsent), visible=True)}
                if unsent
                else {}
            ),
            self.selected: {"node": node_id, "index": index},
            self.selection: results_text.selection_text(node, index),
            self.history: self.tree_drawing(session, {"node": node_id, "index": index}),
            self.node_inputs: inputs_html(tree_text.input_pictures(node, session.history.path), node.id),
            self.restore_controls: self.restore_button(node),
            self.use_model: self.use_model_button(node, self.services.models.model),
            **self.form.show_picked(node.recipe_of(index)),
            # Picked elsewhere (History): the viewer shows that node, so Results never highlights another.
            **(self.show_results(session, [node], index) if show_node else {}),
        }

    def restore_button(self, node: Iteration) -> gr.Button:
        recipe = node.recipe
        count = len(recipe.controls) + len(recipe.references) + len(recipe.area_prompts)
        roles = [unit.image for unit in recipe.controls] + [ref.image for ref in recipe.references]
        roles += [area.mask for area in recipe.area_prompts]
        # A finish's "keep structure" unit has no map of its own (it is the picture): nothing to put back.
        restorable = count > 0 and all(role in node.inputs for role in roles)
        if recipe.references or recipe.area_prompts:
            what = "control units, references and areas"
        else:
            what = "control unit" if count == 1 else "control units"
        return gr.Button(f"Use {node.id}'s {what} ({count})", visible=restorable)

    def use_model_button(self, node: Iteration, loaded: str | None) -> gr.Button:
        """Offered when the picked picture was made with another model than the one loaded."""
        made_with = node.recipe.model
        return gr.Button(f"Made with {made_with}: use its model (loads it)", visible=made_with != loaded)

    def restore_units(self, session: Session, node_id: str) -> dict[Any, Any]:
        """The Control tab set to what node `node_id` ran under (its units on, the others off)."""
        node = session.history.get(node_id)
        names = [unit.kind for unit in node.recipe.controls]
        names += [f"reference {number}" for number in range(1, len(node.recipe.references) + 1)]
        names += [f"area {number}" for number in range(1, len(node.recipe.area_prompts) + 1)]
        inputs = session.inputs(node_id)
        what = "control units, references and areas" if node.recipe.references or node.recipe.area_prompts else "units"
        return {
            **self.controls.show(node.recipe, inputs),
            **self.references.show(node.recipe, inputs, node.sources),
            **self.areas.show(node.recipe, inputs),
            self.status: f"The Control tab now holds {node_id}'s {what} ({', '.join(names) or 'none'}); they apply "
            "to the next run.",
        }


def account_of(request: gr.Request | None) -> str | None:
    return getattr(request, "username", None) if request is not None else None


def session_choices(session: Session) -> list[tuple[str, str]]:
    choices = [
        (
            f"{info.id} · {'read-only: made by a newer studio' if info.read_only else f'{info.node_count} node' + ('' if info.node_count == 1 else 's')}",
            info.id,
        )
        for info in session.sessions()
    ]
    if session.history.id not in {value for _, value in choices}:
        choices.insert(0, (f"{session.history.id} · this session", session.history.id))
    return choices


def _edited_picture(node: Iteration, session: Session) -> str | None:
    """The picture an edit started from (what "before" shows), or None for a generated picture."""
    name = node.inputs.get("image")
    return str(session.history.path(name)) if name else None
