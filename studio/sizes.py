"""Picture sizes per model family: the native ones offered one click away, and the size a new family starts at.

Loading a model of another family is the artist's act, so a size they left at the old family's
default moves to the new family's (SD 1.5 at 1024x1024 makes doubled figures; SDXL at 512x512
makes mush); a size they chose stays, and they are told what the new family prefers.
"""

from __future__ import annotations

from studio.engine.families import Family

Size = tuple[int, int]


def native_sizes(family: str | None) -> tuple[Size, ...]:
    return Family(family).native_sizes if family else Family.SD15.native_sizes


def default_size(family: str | None) -> Size:
    """The size new recipes start at for a model of `family` (SD 1.5's when none is loaded)."""
    return native_sizes(family)[0]


def size_label(size: Size) -> str:
    return f"{size[0]} × {size[1]}"


def size_of_label(label: str) -> Size:
    width, height = (int(part) for part in label.split("×"))
    return width, height


def size_for_new_family(size: Size, old: str | None, new: str | None) -> tuple[Size, str]:
    """The size to show once the model's family changes from `old` to `new`, and one line saying what happened."""
    if new is None or old == new:
        return size, ""
    default = Family(new).default_size
    old_default = Family(old).default_size if old else Family.SD15.default_size
    if size == old_default:
        return default, f"Size set to {size_label(default)}, {new}'s native size."
    if size in Family(new).native_sizes:
        return size, ""
    return size, f"Your size {size_label(size)} is kept; {new}'s native sizes are one click away under the size."
