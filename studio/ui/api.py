"""The studio's API for `gradio_client`: every action of the loop as a named endpoint.

Endpoints speak the recipe (a JSON object; fields left out take the studio's defaults) and node ids,
and answer with the node as JSON plus its pictures. The window's own events are private.

Every endpoint that touches the history takes a `session`: the caller's own. Left empty, the call
starts a new session, whose id comes back in the answer (`"session"`): pass it on to go on there.
No caller ever acts in another caller's session by accident.
"""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
from PIL import Image

from studio.errors import GenerationStopped
from studio.history import Iteration
from studio.pictures import open_picture
from studio.recipe import Mode, Recipe
from studio.scale.grid import axis
from studio.services import Services
from studio.session.session import Session
from studio.session.sessions import Sessions
from studio.ui.present import history as tree_text
from studio.ui.running import refusal, user_errors
from studio.ui.screen import GPU_LANE, account_of, lane_limit


class StudioBlocks(gr.Blocks):
    """The window's Blocks, whose API calls with too few values are told which ones (Gradio answers those with
    `{"error": null}`, since it hides the messages of its own errors)."""

    def validate_inputs(self, block_fn: Any, inputs: list[Any]) -> None:
        wanted = block_fn.inputs
        if len(inputs) < len(wanted):
            names = ", ".join(getattr(block, "label", None) or type(block).__name__ for block in wanted)
            endpoint = getattr(block_fn, "api_name", None) or block_fn.name
            raise gr.Error(
                f"/{endpoint} takes {len(wanted)} values ({names}) and was sent {len(inputs)}; "
                'see the API page ("Use via API" at the foot of the window) for each endpoint\'s values',
                title="Too few values",
            )
        super().validate_inputs(block_fn, inputs)


def add_endpoints(sessions: Sessions) -> None:
    """Hidden components carry the endpoints' values; nothing here is drawn."""
    with gr.Column(visible=False):
        recipe = gr.JSON(label="recipe")
        axes = gr.JSON(label="axes")
        # Files, not gr.Image: the studio reads the size from the header before decoding (studio/pictures.py).
        image = gr.File(label="image", type="filepath")
        mask = gr.File(label="mask", type="filepath")
        parent = gr.Textbox(label="parent_id")
        node_id = gr.Textbox(label="node_id")
        # No `precision`: Gradio would fail on NaN before the handler could say what is wrong (_whole does).
        index = gr.Number(label="index", value=0)
        count = gr.Number(label="count", value=4)
        strength = gr.Number(label="strength", value=0.0)
        mark = gr.Textbox(label="mark")
        node_out = gr.JSON(label="node")
        pictures = gr.Gallery(label="pictures", format="png")
        tree_out = gr.JSON(label="history")
        done = gr.Textbox(label="result")
        session_box = gr.Textbox(label="session", value="")
        trigger = gr.Button()

    def bound(session_id: str | None, request: gr.Request | None) -> Session:
        with user_errors(field_names=True):
            return sessions.open((session_id or "").strip() or None, account=account_of(request))

    def answer(view: Session, node: Iteration) -> tuple[dict, list]:
        pictures = tree_text.node_pictures(node, view.history.path)
        return _node_json(view, node), [(p.path, p.caption) for p in pictures]

    def run(view: Session, call) -> tuple[dict, list]:
        with user_errors(field_names=True):
            try:
                return answer(view, call())
            except GenerationStopped:
                raise refusal("The run was stopped before it finished.", title="Stopped") from None

    def generate(recipe: dict | None, session: str, request: gr.Request):
        """txt2img. `recipe`: fields to change from the defaults, e.g. {"prompt": "a fox", "steps": 20}."""
        view = bound(session, request)
        changes = _recipe(sessions.services, recipe, Mode.TXT2IMG)
        return run(view, lambda: view.generate(changes))

    def repaint(
        picture: str | None,
        recipe: dict | None,
        parent_id: str,
        source_index: float,
        session: str,
        request: gr.Request,
    ):
        """img2img on `image` (a painted-over picture) with the recipe's denoising_strength."""
        view = bound(session, request)
        changes = _recipe(sessions.services, recipe, Mode.IMG2IMG)
        picture_index = _index(source_index, parent_id)
        painted = _picture(picture, "image").convert("RGB")
        return run(
            view,
            lambda: view.repaint(painted, changes, parent_id=parent_id or None, source_index=picture_index),
        )

    def inpaint(
        picture: str | None,
        mask_image: str | None,
        recipe: dict | None,
        parent_id: str,
        source_index: float,
        session: str,
        request: gr.Request,
    ):
        """Repaint `image` where `mask` is white; every pixel outside the (blurred) mask is kept exactly."""
        view = bound(session, request)
        changes = _recipe(sessions.services, recipe, Mode.INPAINT)
        picture_index = _index(source_index, parent_id)
        base, painted_mask = _picture(picture, "image").convert("RGB"), _picture(mask_image, "mask").convert("L")
        return run(
            view,
            lambda: view.inpaint(base, painted_mask, changes, parent_id=parent_id or None, source_index=picture_index),
        )

    def vary(node: str, picture_index: float, how_many: float, closeness: float, session: str, request: gr.Request):
        """`count` variations of picture `index` of a node: new seeds (strength 0) or close ones (strength > 0)."""
        view = bound(session, request)
        index, count = _whole(picture_index, "index"), _whole(how_many, "count")
        strength = _number(closeness, "strength")
        return run(view, lambda: view.vary(node, index=index, count=count, strength=strength))

    def replay(node: str, session: str, request: gr.Request):
        """Run a node again exactly as it was made: its recipe, seeds, picture, mask and control maps."""
        view = bound(session, request)
        return run(view, lambda: view.replay(node))

    def history(session: str, request: gr.Request) -> dict:
        """The view's tree (nodes with parents, recipes, marks) and the list of your sessions."""
        view = bound(session, request)
        return {
            "session": view.history.id,
            "nodes": [_node_json(view, node) for node, _ in view.history.in_tree_order()],
            "sessions": [{"id": info.id, "nodes": info.node_count} for info in view.sessions()],
        }

    def restore(node: str, session: str, request: gr.Request):
        """A node's recipe (to branch from) and its pictures."""
        view = bound(session, request)
        with user_errors(field_names=True):
            restored = view.restore(node)
        # A damaged picture costs only itself: it is named, and the gallery holds the readable ones.
        node_json, pictures = answer(view, restored.node)
        readable = [picture for picture, kept in zip(pictures, restored.outputs, strict=True) if kept is not None]
        return {**node_json, "damaged": restored.damaged}, readable

    def set_mark(node: str, picture_index: float, value: str, session: str, request: gr.Request) -> dict:
        """Mark picture `index` of a node: "keep", "reject" or "" (none)."""
        view = bound(session, request)
        with user_errors(field_names=True):
            return _node_json(view, view.set_mark(node, _whole(picture_index, "index"), value))

    def grid(recipe: dict | None, settings: list | None, session: str, request: gr.Request):
        """A1111's X/Y/Z plot: `axes` up to three {"setting": "CFG Scale", "values": "3, 5, 7"} over the recipe; a
        txt2img node per cell, spread over every engine. Returns the cells' nodes, and the grid picture then each
        cell's picture."""
        view = bound(session, request)
        base = _recipe(sessions.services, recipe, Mode.TXT2IMG)
        if not isinstance(settings, list) or not all(isinstance(a, dict) for a in settings):
            raise refusal(
                'axes must be a list like [{"setting": "CFG Scale", "values": "3, 7"}]', title="Please check your input"
            )
        with user_errors(field_names=True):
            parsed = [axis(str(a.get("setting", "")), str(a.get("values", ""))) for a in settings]
            try:
                job = view.grid(base, parsed)
            except GenerationStopped:
                raise refusal(
                    "The grid was stopped before it finished; nothing of it was saved.", title="Stopped"
                ) from None
        cells = [(view.output_path(node.id), node.id) for node in job.nodes]
        board = [(str(job.picture), "grid")] if job.picture else []  # none for a grid stopped part-way
        return {"nodes": [_node_json(view, node) for node in job.nodes], "cells": job.cells}, [*board, *cells]

    def stop() -> str:
        """Stop the run in progress at its next step."""
        sessions.services.models.stop()
        return "stopping"

    lane = {"concurrency_id": GPU_LANE, "concurrency_limit": lane_limit(sessions.services.models.engine)}
    endpoints: list[tuple[Any, list, list, dict]] = [
        (generate, [recipe, session_box], [node_out, pictures], lane),
        (repaint, [image, recipe, parent, index, session_box], [node_out, pictures], lane),
        (inpaint, [image, mask, recipe, parent, index, session_box], [node_out, pictures], lane),
        (vary, [node_id, index, count, strength, session_box], [node_out, pictures], lane),
        (grid, [recipe, axes, session_box], [tree_out, pictures], lane),
        (replay, [node_id, session_box], [node_out, pictures], lane),
        (history, [session_box], [tree_out], {}),
        (restore, [node_id, session_box], [node_out, pictures], {}),
        (set_mark, [node_id, index, mark, session_box], [node_out], {}),
        (stop, [], [done], {"queue": False}),
    ]
    for fn, inputs, outputs, options in endpoints:
        name = "mark" if fn is set_mark else fn.__name__
        trigger.click(fn, inputs=inputs, outputs=outputs, api_name=name, api_description=fn.__doc__, **options)


def _recipe(services: Services, changes: dict | None, mode: Mode) -> Recipe:
    if changes is not None and not isinstance(changes, dict):
        raise refusal('recipe must be a JSON object, e.g. {"prompt": "a fox"}', title="Please check your input")
    if changes and "mode" in changes and changes["mode"] != mode.value:
        raise refusal(
            f"mode: this endpoint runs {mode.value}; leave mode out of the recipe "
            "(/generate is txt2img, /repaint img2img, /inpaint inpaint)",
            title="Please check your input",
        )
    with user_errors(field_names=True):
        return services.models.defaults.updated(dict(changes or {}))


def _picture(path: str | None, name: str) -> Image.Image:
    if not path:
        raise refusal(
            f"{name} is missing: send a picture (gradio_client.handle_file(path)).", title="Please check your input"
        )
    with user_errors(field_names=True):
        return open_picture(path, name)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise refusal(f"{name}: {value!r} is not a finite number", title="Please check your input")
    return float(value)


def _whole(value: Any, name: str) -> int:
    number = _number(value, name)
    if not number.is_integer():
        raise refusal(f"{name}: {value!r} is not a whole number", title="Please check your input")
    return int(number)


def _index(value: float | None, parent_id: str) -> int | None:
    return _whole(value, "index") if parent_id and value is not None else None


def _node_json(view: Session, node: Iteration) -> dict:
    return {"session": view.id, **node.to_dict()}
