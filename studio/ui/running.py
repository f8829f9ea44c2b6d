"""Running a session call from a handler: live step previews out, errors shown by the one table (studio/errors.py)."""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.errors import BUG_TITLE, GenerationStopped, answer_for, bug_line
from studio.recipe import RecipeError

_DONE = object()
logger = logging.getLogger("studio")


@dataclass(frozen=True)
class Finished:
    result: Any  # what the call returned (a node, a training result); None when it was stopped


# What `stream` yields when the call has reported nothing for `quiet_every` seconds (waiting for the engine, say).
QUIET = object()


def refusal(message: str, title: str) -> gr.Error:
    """A message for the artist about their input or setup: shown in the window, one line in the console.

    Not a traceback: nothing went wrong in the studio, and a console full of them hides real bugs.
    """
    logger.warning("%s: %s", title, message)
    return gr.Error(message, title=title, print_exception=False)


def warn(message: str, title: str) -> Any:
    """For a button pressed too early (nothing picked yet): a message, and nothing on the page changes.

    A raised error would also leave an "Error" badge on the event's outputs (the seed box, a unit's map).
    """
    logger.warning("%s: %s", title, message)
    gr.Warning(message, title=title)
    return gr.skip()


def shown(error: BaseException, *, field_names: bool = False) -> gr.Error:
    """What the window (and the gradio API) says about `error`, by the table in studio/errors.py.

    A `StudioError` is the artist's to act on: its own words, one line in the console. Anything else is our
    bug: one line saying so, and the full traceback in the console. `field_names`: name recipe fields as the
    recipe does (for API callers), not as the window labels them.
    """
    answer = answer_for(error)
    if answer is None:
        logger.error("%s", bug_line(error), exc_info=error)
        return gr.Error(bug_line(error), title=BUG_TITLE, print_exception=False)
    if isinstance(error, RecipeError) and not field_names:
        return refusal(in_the_windows_words(error), answer.title)
    return refusal(str(error), answer.title)


@contextlib.contextmanager
def user_errors(*, field_names: bool = False) -> Iterator[None]:
    """Turn every failure into a message in the window (see `shown`); the server keeps serving."""
    try:
        yield
    except (gr.Error, GenerationStopped):  # a stop is no error: the caller says it stopped
        raise
    except Exception as error:
        raise shown(error, field_names=field_names) from error


# A recipe field as the window labels it: messages name what the artist sees, not the recipe's field names.
FIELD_LABELS = {
    "prompt": "Prompt",
    "grid": "Grid",
    "prompts": "Prompts, one per line",
    "negative_prompt": "Negative prompt",
    "model": "Model",
    "sampler": "Sampler",
    "scheduler": "Schedule type",
    "steps": "Steps",
    "cfg_scale": "Prompt strength (CFG)",
    "distilled_cfg_scale": "Distilled CFG Scale",
    "shift": "Shift",
    "width": "Width",
    "height": "Height",
    "seed": "Seed",
    "batch_size": "Pictures",
    "denoising_strength": "Change strength (denoising)",
    "mask_blur": "Mask edge softness",
    "inpaint_area": "Inpaint area",
    "inpaint_padding": "Padding around the mask",
    "variation_seed": "Variation seed",
    "variation_strength": "Variation strength",
    "styles": "Styles",
    "clip_skip": "Clip skip",
    "hires_scale": "Hires fix: upscale by",
    "hires_upscaler": "Hires fix: upscaler",
    "hires_steps": "Hires fix: steps",
    "hires_denoising_strength": "Hires fix: denoising strength",
    "regions": "Fix regions",
    "regions.box": "Fix regions: a region",
    "regions.denoising_strength": "Fix regions: strength",
    "regions.mask_blur": "Fix regions: edge softness",
    "regions.padding": "Fix regions: context padding",
    "upscale": "Upscale",
    "upscale.factor": "Upscale by",
    "upscale.upscaler": "Upscaler",
    "upscale.tile": "Upscale: tile size",
    "upscale.overlap": "SD upscale: tile overlap",
    "upscale.refine": "SD upscale",
}


def in_the_windows_words(error: RecipeError) -> str:
    """ "cfg_scale: 40 is above 30" -> "Prompt strength (CFG): 40 is above 30"."""
    label = FIELD_LABELS.get(error.field)
    message = str(error)
    if label and message.startswith(f"{error.field}: "):
        return f"{label}: {message[len(error.field) + 2 :]}"
    return message


# Seconds between two progress updates of a run: each costs the page a walk of its widgets, and a fast GPU makes
# twenty steps in a quarter of a second.
PROGRESS_EVERY = 0.2


def stream(call: Callable[[Callable[[Any], None]], Any], *, quiet_every: float | None = None) -> Iterator[Any]:
    """Run `call(on_step)` on a worker thread; yield its newest progress at most every PROGRESS_EVERY seconds,
    then `Finished`; and QUIET after each `quiet_every` seconds (None: never) in which it reported nothing.

    The worker owns the run: if the browser goes away, the run still finishes and is saved.
    """
    steps: queue.Queue[Any] = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = call(steps.put)
        except BaseException as error:  # handed to the handler's thread below
            outcome["error"] = error
        finally:
            steps.put(_DONE)

    threading.Thread(target=work, name="studio-run", daemon=True).start()
    waiting: Any = None  # the newest step not shown yet: previews must not lag behind the run
    shown_at = -math.inf
    while True:
        timeout = quiet_every if waiting is None else max(0.0, shown_at + PROGRESS_EVERY - time.monotonic())
        try:
            item = steps.get(timeout=timeout)
        except queue.Empty:
            if waiting is None:
                yield QUIET
                continue
            yield waiting  # its turn came and nothing newer did: show it
            waiting, shown_at = None, time.monotonic()
            continue
        if item is _DONE:
            break  # a step still waiting is dropped: the result is shown at once
        waiting = item
        if time.monotonic() - shown_at >= PROGRESS_EVERY:
            yield waiting
            waiting, shown_at = None, time.monotonic()
    error = outcome.get("error")
    if isinstance(error, GenerationStopped):
        yield Finished(None)
        return
    if error is not None:
        with user_errors():
            raise error
    yield Finished(outcome["result"])
