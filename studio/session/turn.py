"""One turn of the loop: check the request, render, then write the pictures and the node, before anything is shown.

Nothing reaches the screen that is not on disk: the pictures (with their recipe in their PNG text), the human's
inputs and the node are all written before `take_turn` returns.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from studio.authorship.lineage import chain, fingerprints, outside_of_chain
from studio.authorship.outside import measure
from studio.errors import GenerationStopped, InputError
from studio.finish.runs import fix_regions, region_masks
from studio.finish.runs import upscale as run_upscale
from studio.formats import a1111, png_text
from studio.formats.hashes import model_hash_for
from studio.history import Action, Iteration, JobCell, SessionHistory
from studio.pictures import open_picture
from studio.progress import RUN_OWNER, StepProgress
from studio.recipe import Recipe
from studio.services import Services

METADATA_SCHEMA_VERSION = 1
# The actions whose recipes finish a picked picture (a region fix, an upscale); no other action may carry one.
FINISHING_ACTIONS = (Action.FIX, Action.UPSCALE)


@dataclass(frozen=True)
class Request:
    """What one turn is asked to do: the recipe, the action it records, where it hangs in the tree, and the
    pictures it runs on (by role: "image", "mask", control maps), given or reused from another node."""

    recipe: Recipe
    action: Action
    parent_id: str | None = None
    source_index: int | None = None
    images: Mapping[str, Image.Image] = field(default_factory=dict)
    reused_inputs: Mapping[str, str] = field(default_factory=dict)  # role -> file name in the session
    sources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # outside pictures: origin, licence
    job: JobCell | None = None  # one cell of a grid or of a batch of prompts


def take_turn(
    history: SessionHistory,
    services: Services,
    request: Request,
    *,
    rng: random.Random,
    on_step: Callable[[StepProgress], None] | None = None,
) -> Iteration:
    """Run `request` in `history`'s session and record its node (its latest run on `services.runs` meanwhile)."""
    recipe = request.recipe
    check_request(history, services, request)
    images = dict(request.images)
    images |= {role: load_picture(history.path(name)) for role, name in request.reused_inputs.items()}
    recipe = recipe.with_concrete_seed(rng)
    encoded = services.presets.styled(recipe)
    runs, folder = services.runs, history.folder

    def report(progress: StepProgress) -> None:
        runs.stepped(folder, progress)
        if on_step is not None:
            on_step(progress)

    runs.started(folder)
    owner = RUN_OWNER.set(str(folder))  # Stop pressed for this session stops this run, and no other session's
    try:
        pictures = _render(services, encoded, images, report)
        with services.write_lock:
            node = _record(history, services, request, recipe, encoded, pictures, images)
    except GenerationStopped:
        runs.finished(folder, failed="Stopped.")
        raise
    except Exception as error:
        runs.finished(folder, failed=str(error))
        raise
    finally:
        RUN_OWNER.reset(owner)
    runs.finished(folder, node_id=node.id)
    return node


def render_live(
    history: SessionHistory,
    services: Services,
    request: Request,
    on_step: Callable[[StepProgress], None] | None = None,
) -> list[Image.Image]:
    """A live run of `request` (its seed concrete): checked as a turn is, rendered behind every pressed run,
    recorded nowhere until the artist keeps it (`record_made`)."""
    check_request(history, services, request)
    owner = RUN_OWNER.set(str(history.folder))
    try:
        return _render(services, services.presets.styled(request.recipe), request.images, on_step, live=True)
    finally:
        RUN_OWNER.reset(owner)


def record_made(
    history: SessionHistory, services: Services, request: Request, pictures: list[Image.Image]
) -> Iteration:
    """The node a turn of `request` would have written, for pictures already made from it (a kept live picture)."""
    check_request(history, services, request)
    encoded = services.presets.styled(request.recipe)
    with services.write_lock:
        return _record(history, services, request, request.recipe, encoded, pictures, request.images)


def check_request(history: SessionHistory, services: Services, request: Request) -> None:
    """Refuse what cannot run before any GPU time is spent on it."""
    recipe, action = request.recipe, request.action
    if recipe.is_finish and action not in FINISHING_ACTIONS:
        raise InputError(
            f"{'regions' if recipe.regions else 'upscale'}: {action.value} does not finish a picture; "
            "fix regions or upscale a picked picture in the Finish tab (Session.fix, Session.upscale)"
        )
    history.check_writable()
    if services.offered is not None:
        services.offered.check_recipe(recipe)
    if request.parent_id is not None:
        parent = history.get(request.parent_id)  # fail before spending GPU time on an orphan
        if request.source_index is not None and not 0 <= request.source_index < len(parent.outputs):
            raise InputError(f"source_index: node {request.parent_id} has no picture {request.source_index}")
    elif request.source_index is not None:
        raise InputError("source_index: names a picture of the parent, but no parent_id was given")


def _render(
    services: Services,
    recipe: Recipe,
    images: Mapping[str, Image.Image],
    report: Callable[[StepProgress], None] | None,
    *,
    live: bool = False,
) -> list[Image.Image]:
    """The pictures a recipe makes: a region fix or an upscale of the input picture, or one engine run."""
    engine = services.models.engine
    if recipe.regions:
        masks = region_masks(recipe, images["image"], images)
        return [fix_regions(engine, recipe, images["image"], masks, report)]
    if recipe.upscale is not None:
        return [run_upscale(engine, services.models.upscalers, recipe, images["image"], report)]
    return engine.generate(
        recipe,
        image=images.get("image"),
        mask=images.get("mask"),
        control_images={role: picture for role, picture in images.items() if role not in ("image", "mask")},
        on_step=report,
        live=live,
    )


def _record(
    history: SessionHistory,
    services: Services,
    request: Request,
    recipe: Recipe,
    encoded: Recipe,
    pictures: list[Image.Image],
    images: Mapping[str, Image.Image],
) -> Iteration:
    node_id = history.new_node_id()
    model_hash = model_hash_for(recipe.model, services.hashes)
    lora_hashes = services.loras.hashes(encoded.effective_loras)
    texts = [encoded.prompt_without_lora_tags, encoded.negative_prompt, *(a.prompt for a in encoded.area_prompts)]
    ti_hashes = services.embeddings.hashes(texts)
    inputs = dict(request.reused_inputs)
    for role, image in images.items():
        if role not in inputs:
            inputs[role] = f"{node_id}-{role}.png"
            png_text.write_plain_png(image, history.path(inputs[role]))
    node = Iteration(
        id=node_id,
        parent_id=request.parent_id,
        recipe=recipe,
        action=request.action,
        outputs=tuple(f"{node_id}-{index}.png" for index in range(len(pictures))),
        seeds=tuple(recipe.seeds()),
        inputs=inputs,
        source_index=request.source_index,
        created=time.time(),
        sources=request.sources,
        job=request.job,
    )
    node = dataclasses.replace(node, closeness=_closeness_to_outside(history, node, pictures))
    for index, picture in enumerate(pictures):
        studio_json = {
            "schema_version": METADATA_SCHEMA_VERSION,
            "session": history.id,
            "output_index": index,
            "node": node.to_dict(),
        }
        png_text.write_png(
            picture,
            history.path(node.outputs[index]),
            {
                png_text.STUDIO_KEY: json.dumps(studio_json),
                # A1111 writes the prompt as encoded, styles applied: so do we, for other tools to read.
                png_text.PARAMETERS_KEY: a1111.format_parameters(
                    encoded,
                    index,
                    model_hash=model_hash,
                    lora_hashes=lora_hashes,
                    ti_hashes=ti_hashes,
                    family=services.models.family,
                ),
            },
        )
    history.add(node)
    return node


def _closeness_to_outside(
    history: SessionHistory, node: Iteration, pictures: list[Image.Image]
) -> tuple[tuple[dict, ...], ...]:
    """Each picture's closeness to the outside pictures of its lineage (none: nothing to measure), kept on the node
    so that every place that shows the node can say it (the authorship report measures it again from the files)."""
    nodes = [*(chain(history.get, node.parent_id) if node.parent_id else []), node]
    outside = outside_of_chain(nodes, history.path)
    if not outside:
        return ()
    fingerprint_of = fingerprints(history.path)
    return tuple(tuple(entry.to_dict() for entry in measure(picture, outside, fingerprint_of)) for picture in pictures)


def check_output_index(node: Iteration, index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(node.outputs):
        raise InputError(f"index: node {node.id} has no picture {index}")


def load_picture(path: str | Path) -> Image.Image:
    """A picture of the session; a damaged one is named (the session's other files are fine)."""
    name = Path(path).name
    try:
        return open_picture(path, name)
    except ValueError as error:
        raise InputError(f"{name} in this session is damaged and cannot be used ({error})") from None
