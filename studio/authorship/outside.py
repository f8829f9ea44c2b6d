"""How close a picture stays to each outside picture of its lineage (the i2i question), with the studio's one
closeness measure (studio/closeness.py).

An outside picture is one no node of the tree made: an upload the artist repainted or inpainted, a reference
picture (studio/authorship/lineage.py finds them). A near copy of one whose licence does not allow it is what
"laundering" leaves: the export asks before it publishes such a picture, and its credential carries the figures.

Control maps are not compared: the studio keeps a unit's map, not the picture a map was made from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from studio.closeness import NEAR_COPY, Fingerprint, compare, fingerprint

# The licences (of studio/ui/present/licences.py) under which a close copy of a picture may be published.
ALLOWING = ("my own work", "public domain / CC0", "CC BY", "CC BY-SA", "licensed for this use")


class OutsidePicture(Protocol):
    """An outside picture as studio/authorship/lineage.py's OutsideSource names it: its role on the node, its file in
    the session, its content hash, and what the artist said of it."""

    @property
    def role(self) -> str: ...
    @property
    def file(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def origin(self) -> str: ...
    @property
    def licence(self) -> str: ...


@dataclass(frozen=True)
class OutsideCloseness:
    """A picture's closeness to one outside picture: the picture named, and the measure's figures
    (`studio.closeness.Closeness.to_dict`)."""

    node_id: str
    role: str
    sha256: str
    origin: str
    licence: str
    figures: Mapping[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return float(self.figures.get("score", 0.0))

    @property
    def verdict(self) -> str:
        return str(self.figures.get("verdict", ""))

    @property
    def near_copy(self) -> bool:
        return self.score >= NEAR_COPY

    @property
    def licence_allows(self) -> bool:
        return self.licence in ALLOWING

    @property
    def asks_before_export(self) -> bool:
        """A near copy of a picture whose licence is unknown or does not allow it: the artist confirms first."""
        return self.near_copy and not self.licence_allows

    def words(self) -> str:
        """ "a near copy of reference picture 1 of 00002 (from my friend's photo, licence unknown): 0.93, structure
        0.95, edges 0.91, colour 0.90"."""
        figures = self.figures
        parts = [f"structure {figures.get('structure', 0):.2f}", f"edges {figures.get('edges', 0):.2f}"]
        if figures.get("colour") is not None:
            parts.append(f"colour {figures['colour']:.2f}")
        return (
            f"{self.verdict} {_LINKS.get(self.verdict, 'of')} {_role_words(self.role, self.node_id)} "
            f"(from {self.origin}, licence {self.licence}): "
            f"{self.score:.2f}, {', '.join(parts)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "role": self.role,
            "sha256": self.sha256,
            "origin": self.origin,
            "licence": self.licence,
            **self.figures,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutsideCloseness:
        names = ("node", "role", "sha256", "origin", "licence")
        node_id, role, sha256, origin, licence = (str(data.get(name, "")) for name in names)
        return cls(node_id, role, sha256, origin, licence, {k: v for k, v in data.items() if k not in names})


def measure(
    picture: Image.Image | Fingerprint,
    outside: Iterable[tuple[str, OutsidePicture]],
    fingerprint_of: Callable[[str], Fingerprint],
) -> tuple[OutsideCloseness, ...]:
    """`picture`'s closeness to each outside picture (by the node it entered at; one per file), closest first.
    `fingerprint_of(file)`: the outside picture's fingerprint (a caller keeps them, so each file is read once)."""
    print_ = picture if isinstance(picture, Fingerprint) else fingerprint(picture)
    found, seen = [], set()
    for node_id, source in outside:
        if source.file in seen:
            continue
        seen.add(source.file)
        figures = compare(print_, fingerprint_of(source.file)).to_dict()
        found.append(OutsideCloseness(node_id, source.role, source.sha256, source.origin, source.licence, figures))
    return tuple(sorted(found, key=lambda entry: -entry.score))


def closest_words(entries: Iterable[OutsideCloseness]) -> str:
    """The closest entry in a line ("" when there is none): what a node's card and Picture info say first."""
    first = next(iter(entries), None)
    return first.words() if first is not None else ""


# How each verdict joins the picture it is said of ("some likeness to", "unrelated to").
_LINKS = {"some likeness": "to", "unrelated": "to"}


def _role_words(role: str, node_id: str) -> str:
    if role == "image":
        return f"the picture uploaded at {node_id}"
    if role.startswith("reference-"):
        return f"reference picture {role.removeprefix('reference-')} of {node_id}"
    return f"{role} of {node_id}"
