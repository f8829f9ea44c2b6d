"""What the artist or a caller did wrong, or what this machine lacks: the `StudioError` family and its one table.

Every boundary (the window, the gradio API, the A1111 API) turns an error into what it shows with `answer_for`:
a `StudioError` gets its kind's title and HTTP status and its own message, which says what to do. Any other
exception is a bug in the studio, whatever its type (a `ValueError` from inside PIL or diffusers included):
`answer_for` gives None, and the boundary says so in one line and logs the traceback.

Pure: no torch, no gradio, so every layer can raise these.
"""

from __future__ import annotations

from dataclasses import dataclass


class StudioError(Exception):
    """Something the artist or a caller can act on; the message says what to do."""


class InputError(StudioError, ValueError):
    """A value given is wrong: out of range, unknown, the wrong kind of file, a picture that is not there.

    Also a `ValueError`, as the values it rejects would be; the table tells the two apart.
    """


class NothingToEdit(InputError):
    """An edit asked for with nothing to edit: no picture in the editor, or no mask where one is needed."""


class NotOffered(InputError):
    """A shared studio (--share, --listen) refuses a model, ControlNet, LoRA or server path it does not offer."""


class NeedsConfirmation(InputError):
    """Something the artist must confirm before it is published: an export of a near copy of an outside picture
    whose licence is unknown or does not allow it. Asked again with the confirmation, it goes ahead."""


class NotAvailable(StudioError):
    """This studio was started without the part asked for (preprocessors, a LoRA folder, a signing folder)."""


class ModelError(StudioError):
    """A model cannot be had or loaded. The message says what to do."""


class OutOfMemory(StudioError):
    """The device ran out of memory for this run; a smaller size or batch, or --low-memory, may fit."""


class WorkerLost(StudioError):
    """An engine on another machine (a Ray worker) stopped answering during a run; nothing of the run is kept."""


class AnnotatorMissing(StudioError):
    """A ControlNet preprocessor's weights are not on this machine and cannot be downloaded now."""


class SessionError(StudioError):
    """A session cannot be used as asked: an unknown node, a bad session id, a session from a newer studio."""


class GenerationStopped(Exception):
    """The run was stopped on request; nothing was produced. Not an error: no boundary shows it as one."""


class GaveWay(GenerationStopped):
    """A live run stopped at a step for a run the artist pressed; the live painting runs again after it."""


@dataclass(frozen=True)
class Answer:
    """How every boundary shows one kind of `StudioError`: the window's title, the APIs' HTTP status."""

    title: str
    status: int


# The one table. The first entry a raised error is an instance of answers it: specific kinds before InputError.
ANSWERS: tuple[tuple[type[StudioError], Answer], ...] = (
    (NothingToEdit, Answer("Nothing to edit", 422)),
    (NotOffered, Answer("Not offered here", 403)),
    (NeedsConfirmation, Answer("Please confirm", 409)),
    (InputError, Answer("Please check your input", 422)),
    (SessionError, Answer("Session problem", 422)),
    (ModelError, Answer("Model problem", 404)),
    (AnnotatorMissing, Answer("Preprocessor weights missing", 422)),
    (NotAvailable, Answer("Not available in this studio", 501)),
    (OutOfMemory, Answer("Out of memory", 507)),
    (WorkerLost, Answer("A worker stopped", 503)),
    (StudioError, Answer("Please check your input", 422)),
)

BUG_TITLE = "A bug in the studio"


def answer_for(error: BaseException) -> Answer | None:
    """The table's answer for `error`, or None when it is no `StudioError`: then it is our bug."""
    for kind, answer in ANSWERS:
        if isinstance(error, kind):
            return answer
    return None


def bug_line(error: BaseException) -> str:
    """What the window and the APIs say about an exception that is our bug (the console keeps its traceback)."""
    return f"This is a bug in the studio: {type(error).__name__}: {error}. The details are in the console."
