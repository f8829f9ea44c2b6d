"""Errors the artist can act on. Pure, so the facade and the UI can catch them without torch."""

from __future__ import annotations


class ModelError(RuntimeError):
    """A model cannot be had or loaded. The message says what to do."""


class GenerationStopped(Exception):
    """The run was stopped on request; nothing was produced."""


class OutOfMemory(RuntimeError):
    """The device ran out of memory for this run; a smaller size or batch, or --low-memory, may fit."""


class AnnotatorMissing(RuntimeError):
    """A ControlNet preprocessor's weights are not on this machine and cannot be downloaded now."""
