"""The embeddings library, app-wide: what it holds, and A1111's `TI hashes` of the embeddings a prompt uses."""

from __future__ import annotations

from pathlib import Path

from studio.embedding_library import EmbeddingInfo, list_embeddings, names_used
from studio.formats.hashes import HashCache


class Embeddings:
    """The embeddings folder (None: a studio without one); the engine reads the same folder's vectors."""

    def __init__(self, folder: Path | None = None, *, hashes: HashCache | None = None) -> None:
        self.folder = folder
        self._hashes = hashes

    def all(self) -> list[EmbeddingInfo]:
        """The library: name, family, vectors, size."""
        return list_embeddings(self.folder)

    def hashes(self, texts: list[str]) -> dict[str, str]:
        """`TI hashes` for the embeddings `texts` (a run's prompts, as encoded) name, in the order they appear."""
        if self._hashes is None:
            return {}
        infos = {info.name: info for info in self.all()}
        return {name: self._hashes.embedding_hash(infos[name].path) for name in names_used(texts, list(infos))}
