"""Running a facade call from a handler: live step previews out, errors as messages the artist can act on."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.errors import AnnotatorMissing, GenerationStopped, ModelError, OutOfMemory
from studio.history import HistoryError
from studio.prepare import NothingToEdit
from studio.recipe import RecipeError

_DONE = object()
logger = logging.getLogger("studio")


@dataclass(frozen=True)
class Finished:
    result: Any  # what the call returned (a node, a training result); None when it was stopped


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


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn every failure into a message in the window; the server keeps serving."""
    try:
        yield
    except gr.Error:
        raise
    except (RecipeError, ValueError, ModelError, OutOfMemory, HistoryError, AnnotatorMissing) as error:
        raise refusal(str(error), _title(error)) from error
    except Exception as error:  # anything else is our bug, but the artist still gets told (with a traceback)
        raise gr.Error(
            f"Something went wrong: {type(error).__name__}: {error}. Your pictures so far are saved; try again.",
            title="Unexpected error",
        ) from error


def stream(call: Callable[[Callable[[Any], None]], Any]) -> Iterator[Any]:
    """Run `call(on_step)` on a worker thread; yield each step's progress, then `Finished`.

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
    while True:
        item = steps.get()
        while item is not _DONE and not steps.empty():  # skip to the newest step: previews must not lag
            item = steps.get()
        if item is _DONE:
            break
        yield item
    error = outcome.get("error")
    if isinstance(error, GenerationStopped):
        yield Finished(None)
        return
    if error is not None:
        with user_errors():
            raise error
    yield Finished(outcome["result"])


def _title(error: Exception) -> str:
    if isinstance(error, NothingToEdit):
        return "Nothing to edit"
    if isinstance(error, ModelError):
        return "Model problem"
    if isinstance(error, OutOfMemory):
        return "Out of memory"
    if isinstance(error, AnnotatorMissing):
        return "Preprocessor weights missing"
    return "Please check your input"
