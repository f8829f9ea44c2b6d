"""The embeddings library: textual-inversion files in a folder, used by name in a prompt as A1111 uses them.

An embedding is a few learned word vectors saved under a name (`EasyNegative`, `bad-hands-5`); writing the name
in a prompt puts its vectors where the name stands, and `(EasyNegative:1.2)` weights them like any words. The
file's stem is the name. The layouts people share:

- SD 1.5: one tensor of n x 768 (`emb_params` in a .safetensors, `string_to_param` in A1111's pickled .pt);
- SDXL: two tensors, `clip_l` (n x 768) and `clip_g` (n x 1280), one per text encoder.

The family is read from the keys, never from the widths alone (the tiny models are narrower). Names are matched
in the prompt's text as whole words, case-insensitively, as A1111's CLIP tokens match them for names written
apart from other words. A1111's `TI hashes` name each used embedding with the first 12 hex digits of its file's
sha256.

Pure: no torch (a .safetensors header says names and shapes without loading a tensor).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from studio.errors import InputError
from studio.lora_library import read_header

SAFE_SUFFIXES = (".safetensors",)
PICKLED_SUFFIXES = (".pt", ".bin")
SDXL_KEYS = ("clip_l", "clip_g")
SD15, SDXL = "SD 1.5", "SDXL"


class EmbeddingError(InputError):
    """An embedding cannot be read or used. The message says what to do."""


@dataclass(frozen=True)
class EmbeddingInfo:
    name: str
    path: Path
    size_bytes: int
    family: str | None  # "SD 1.5", "SDXL", or None for a pickled file not read yet
    vectors: int | None
    width: int | None = None  # numbers per vector, both encoders' together for SDXL (A1111's "shape")

    @property
    def pickled(self) -> bool:
        return self.path.suffix.lower() in PICKLED_SUFFIXES


def list_embeddings(folder: Path | None) -> list[EmbeddingInfo]:
    """Every embedding in the folder (and its sub-folders), by name; files that are not embeddings are skipped."""
    if folder is None or not folder.is_dir():
        return []
    infos: dict[str, EmbeddingInfo] = {}
    for path in sorted(folder.rglob("*")):
        suffix = path.suffix.lower()
        if not path.is_file() or suffix not in SAFE_SUFFIXES + PICKLED_SUFFIXES or path.stem in infos:
            continue
        if suffix in PICKLED_SUFFIXES:
            infos[path.stem] = EmbeddingInfo(path.stem, path, path.stat().st_size, None, None)
            continue
        try:
            family, vectors, width = read_layout(path)
        except EmbeddingError:
            continue
        infos[path.stem] = EmbeddingInfo(path.stem, path, path.stat().st_size, family, vectors, width)
    return list(infos.values())


def read_layout(path: Path) -> tuple[str, int, int]:
    """(family, vector count, width) of a .safetensors embedding, from its header."""
    try:
        header = read_header(path)
    except InputError as error:
        raise EmbeddingError(str(error)) from None
    shapes = {key: entry.get("shape") for key, entry in header.items() if key != "__metadata__"}
    if set(SDXL_KEYS) <= set(shapes):
        width = sum(_width(path, shapes[key]) for key in SDXL_KEYS)
        return SDXL, _vector_count(path, shapes["clip_g"]), width
    if len(shapes) == 1:
        shape = next(iter(shapes.values()))
        return SD15, _vector_count(path, shape), _width(path, shape)
    raise EmbeddingError(
        f"{path.name} is not a textual-inversion embedding: it holds {len(shapes)} tensors "
        "(an embedding holds one, or clip_l and clip_g for SDXL)"
    )


def _vector_count(path: Path, shape: object) -> int:
    if not isinstance(shape, list) or len(shape) not in (1, 2):
        raise EmbeddingError(f"{path.name} is not a textual-inversion embedding (its tensor is {shape})")
    return 1 if len(shape) == 1 else int(shape[0])


def _width(path: Path, shape: object) -> int:
    _vector_count(path, shape)
    assert isinstance(shape, list)
    return int(shape[-1])


def name_pattern(names: list[str]) -> re.Pattern[str] | None:
    """A pattern that finds any of `names` written as a whole word (longest first), or None for no names."""
    if not names:
        return None
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w\-])(?:{alternatives})(?![\w\-])", re.IGNORECASE)


def split_on_names(text: str, pattern: re.Pattern[str] | None, names: list[str]) -> list[tuple[str, str | None]]:
    """`text` in pieces: (words, None) and (as written, the embedding's name) for each name found."""
    if pattern is None:
        return [(text, None)]
    by_lower = {name.lower(): name for name in names}
    pieces: list[tuple[str, str | None]] = []
    position = 0
    for match in pattern.finditer(text):
        if match.start() > position:
            pieces.append((text[position : match.start()], None))
        pieces.append((match.group(0), by_lower[match.group(0).lower()]))
        position = match.end()
    if position < len(text) or not pieces:
        pieces.append((text[position:], None))
    return pieces


def names_used(texts: list[str], names: list[str]) -> list[str]:
    """The embeddings `texts` use, each once, in the order they first appear."""
    pattern = name_pattern(names)
    used: list[str] = []
    for text in texts:
        for _, name in split_on_names(text, pattern, names):
            if name is not None and name not in used:
                used.append(name)
    return used


def hash_alias(name: str) -> str:
    """An embedding's name in `TI hashes`: A1111 drops ':' and ',', which would break its list."""
    return name.replace(":", "").replace(",", "")
