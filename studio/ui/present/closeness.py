"""How close a picture stays to the outside pictures of its lineage, in the window's words: a short tag for a
caption or a tree card, and full lines for the selection, Picture info and the export's question."""

from __future__ import annotations

from collections.abc import Iterable

from studio.authorship.outside import OutsideCloseness
from studio.node import Iteration

# The closest outside picture in a caption's few words (higher scores are closer; 1 is the picture itself).
_TAGS = {
    "a near copy": "near copy of an outside picture",
    "keeps the composition": "keeps an outside picture's composition",
    "some likeness": "some likeness to an outside picture",
    "unrelated": "unrelated to its outside picture",
}


def entries(node: Iteration, index: int) -> list[OutsideCloseness]:
    """Picture `index`'s closeness to each outside picture, closest first (none measured: [])."""
    if not node.closeness or not 0 <= index < len(node.closeness):
        return []
    return [OutsideCloseness.from_dict(entry) for entry in node.closeness[index]]


def tag(node: Iteration, index: int) -> str:
    """ "near copy of an outside picture (0.97 of 1)": the closest, for a caption ("" with no outside picture)."""
    found = entries(node, index)
    if not found:
        return ""
    first = found[0]
    return f"{_TAGS.get(first.verdict, first.verdict)} ({first.score:.2f} of 1)"


def lines(found: Iterable[OutsideCloseness]) -> list[str]:
    """One line per outside picture: the words and figures, and what the artist said of the picture."""
    return [entry.words() for entry in found]


def selection_words(node: Iteration, index: int) -> str:
    """What is said under the picked picture, plain text ("" with no outside picture)."""
    found = entries(node, index)
    if not found:
        return ""
    more = f" (+{len(found) - 1} more outside picture{'s' if len(found) > 2 else ''})" if len(found) > 1 else ""
    return f"{found[0].words()}{more}"


def asks_before_export(found: Iterable[OutsideCloseness]) -> list[OutsideCloseness]:
    """The outside pictures the exported picture is a near copy of, under a licence that does not allow it."""
    return [entry for entry in found if entry.asks_before_export]
