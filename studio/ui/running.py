"""Running a facade call from a handler: live step previews out, errors as messages the artist can act on."""

from __future__ import annotations

import contextlib
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


@dataclass(frozen=True)
class Finished:
    result: Any  # what the call returned (a node, a training result); None when it was stopped


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn every failure into a message in the window; the server keeps serving."""
    try:
        yield
    except gr.Error:
        raise
    except (RecipeError, ValueError, ModelError, OutOfMemory, HistoryError, AnnotatorMissing) as error:
        raise gr.Error(str(error), title=_title(error)) from error
    except Exception as error:  # anything else is our bug, but the artist still gets told
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
