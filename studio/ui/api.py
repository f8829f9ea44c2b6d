"""The studio's API for `gradio_client`: every action of the loop as a named endpoint.

Endpoints speak the recipe (a JSON object; fields left out take the studio's defaults) and node ids,
and answer with the node as JSON plus its pictures. The window's own events are private.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import Image

from studio.errors import GenerationStopped
from studio.history import Iteration
from studio.studio import Studio
from studio.ui import present
from studio.ui.running import user_errors
from studio.ui.screen import GPU_LANE


def add_endpoints(studio: Studio) -> None:
    """Hidden components carry the endpoints' values; nothing here is drawn."""
    with gr.Column(visible=False):
        recipe = gr.JSON(label="recipe")
        image = gr.Image(label="image", type="pil", format="png", image_mode="RGB")
        mask = gr.Image(label="mask", type="pil", format="png", image_mode="L")
        parent = gr.Textbox(label="parent_id")
        node_id = gr.Textbox(label="node_id")
        index = gr.Number(label="index", precision=0, value=0)
        count = gr.Number(label="count", precision=0, value=4)
        strength = gr.Number(label="strength", value=0.0)
        mark = gr.Textbox(label="mark")
        node_out = gr.JSON(label="node")
        pictures = gr.Gallery(label="pictures", format="png")
        tree_out = gr.JSON(label="history")
        done = gr.Textbox(label="result")
        trigger = gr.Button()

    def answer(node: Iteration) -> tuple[dict, list]:
        return _node_json(studio, node), [(p.path, p.caption) for p in present.node_pictures(node, studio.session.path)]

    def run(call) -> tuple[dict, list]:
        with user_errors():
            try:
                return answer(call())
            except GenerationStopped:
                raise gr.Error("The run was stopped before it finished.", title="Stopped") from None

    def generate(request: dict | None):
        """txt2img. `recipe`: fields to change from the defaults, e.g. {"prompt": "a fox", "steps": 20}."""
        return run(lambda: studio.generate(_recipe(studio, request)))

    def repaint(picture: Image.Image | None, request: dict | None, parent_id: str, source_index: float):
        """img2img on `image` (a painted-over picture) with the recipe's denoising_strength."""
        _require(picture, "image")
        return run(
            lambda: studio.repaint(
                picture,
                _recipe(studio, request),
                parent_id=parent_id or None,
                source_index=_index(source_index, parent_id),
            )
        )

    def inpaint(
        picture: Image.Image | None,
        mask_image: Image.Image | None,
        request: dict | None,
        parent_id: str,
        source_index: float,
    ):
        """Repaint `image` where `mask` is white; every pixel outside the (blurred) mask is kept exactly."""
        _require(picture, "image")
        _require(mask_image, "mask")
        return run(
            lambda: studio.inpaint(
                picture,
                mask_image,
                _recipe(studio, request),
                parent_id=parent_id or None,
                source_index=_index(source_index, parent_id),
            )
        )

    def vary(node: str, picture_index: float, how_many: float, closeness: float):
        """`count` variations of picture `index` of a node: new seeds (strength 0) or close ones (strength > 0)."""
        return run(lambda: studio.vary(node, index=int(picture_index), count=int(how_many), strength=float(closeness)))

    def replay(node: str):
        """Run a node again exactly as it was made: its recipe, seeds, picture, mask and control maps."""
        return run(lambda: studio.replay(node))

    def history() -> dict:
        """The current session's tree (nodes with parents, recipes, marks) and the list of sessions."""
        return {
            "session": studio.session.id,
            "nodes": [_node_json(studio, node) for node, _ in present.tree_order(studio.tree())],
            "sessions": [{"id": info.id, "nodes": info.node_count} for info in studio.sessions()],
        }

    def restore(node: str):
        """A node's recipe (to branch from) and its pictures."""
        with user_errors():
            return answer(studio.restore(node).node)

    def set_mark(node: str, picture_index: float, value: str) -> dict:
        """Mark picture `index` of a node: "keep", "reject" or "" (none)."""
        with user_errors():
            return _node_json(studio, studio.set_mark(node, int(picture_index), value))

    def stop() -> str:
        """Stop the run in progress at its next step."""
        studio.stop()
        return "stopping"

    lane = {"concurrency_id": GPU_LANE, "concurrency_limit": 1}
    endpoints: list[tuple[Any, list, list, dict]] = [
        (generate, [recipe], [node_out, pictures], lane),
        (repaint, [image, recipe, parent, index], [node_out, pictures], lane),
        (inpaint, [image, mask, recipe, parent, index], [node_out, pictures], lane),
        (vary, [node_id, index, count, strength], [node_out, pictures], lane),
        (replay, [node_id], [node_out, pictures], lane),
        (history, [], [tree_out], {}),
        (restore, [node_id], [node_out, pictures], {}),
        (set_mark, [node_id, index, mark], [node_out], {}),
        (stop, [], [done], {"queue": False}),
    ]
    for fn, inputs, outputs, options in endpoints:
        name = "mark" if fn is set_mark else fn.__name__
        trigger.click(fn, inputs=inputs, outputs=outputs, api_name=name, api_description=fn.__doc__, **options)


def _recipe(studio: Studio, request: dict | None):
    if request is not None and not isinstance(request, dict):
        raise gr.Error('recipe must be a JSON object, e.g. {"prompt": "a fox"}', title="Please check your input")
    with user_errors():
        return studio.defaults.updated(dict(request or {}))


def _require(value: Any, name: str) -> None:
    if value is None:
        raise gr.Error(
            f"{name} is missing: send a picture (gradio_client.handle_file(path)).", title="Please check your input"
        )


def _index(value: float | None, parent_id: str) -> int | None:
    return int(value) if parent_id and value is not None else None


def _node_json(studio: Studio, node: Iteration) -> dict:
    return {"session": studio.session.id, **node.to_dict()}
