"""Textual-inversion embeddings as tensors: the library's files read for the prompt encoder.

Each embedding's vectors are kept per text encoder: `clip_l` for SD 1.5's one encoder and SDXL's first (CLIP
ViT-L), `clip_g` for SDXL's second (OpenCLIP bigG). Files are read once and kept while they are unchanged
(size and modification time). A pickled file (.pt, .bin) is read only when the studio runs with --allow-pickle.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from studio.embedding_library import (
    SD15,
    SDXL,
    SDXL_KEYS,
    EmbeddingError,
    EmbeddingInfo,
    list_embeddings,
    names_used,
)


@dataclass(frozen=True)
class Embedding:
    name: str
    family: str
    vectors: dict[str, torch.Tensor]  # encoder key ("clip_l", "clip_g") -> n x width

    @property
    def count(self) -> int:
        return next(iter(self.vectors.values())).shape[0]


class EmbeddingShelf:
    """The embeddings folder, read for the prompt encoder: every usable embedding by name."""

    def __init__(self, folder: Path | None, *, allow_pickle: bool = False) -> None:
        self.folder = folder
        self._allow_pickle = allow_pickle
        self._read: dict[Path, tuple[tuple[int, float], Embedding | str]] = {}  # str: why it is refused
        self._lock = threading.Lock()

    def all(self) -> dict[str, Embedding]:
        """Every embedding in the folder by name. A pickled one without --allow-pickle, or a damaged file, is
        left out here and refused by name only when a prompt uses it (`refusals`)."""
        return self._shelf()[0]

    def for_prompts(self, family: str, texts: list[str]) -> dict[str, Embedding]:
        """The embeddings of `family` a prompt can name. Raises, by name, for any embedding the texts use that
        cannot be used: another family's, a pickled file without --allow-pickle, a damaged file."""
        usable, refused = self._shelf()
        for name in names_used(texts, list(usable) + list(refused)):
            if name in refused:
                raise EmbeddingError(refused[name])
            if usable[name].family != family:
                raise EmbeddingError(
                    f"embedding {name} is made for {usable[name].family} and this model is {family}: "
                    f"take {name} out of the prompt, or load a {usable[name].family} model"
                )
        return {name: embedding for name, embedding in usable.items() if embedding.family == family}

    def refusals(self) -> dict[str, str]:
        """Why each embedding file that cannot be used is refused, by name."""
        return self._shelf()[1]

    def _shelf(self) -> tuple[dict[str, Embedding], dict[str, str]]:
        """One look at the folder: the usable embeddings, and why each other file is refused."""
        usable, refused = {}, {}
        for info in list_embeddings(self.folder):
            try:
                usable[info.name] = self._embedding(info)
            except EmbeddingError as error:
                refused[info.name] = str(error)
        return usable, refused

    def _embedding(self, info: EmbeddingInfo) -> Embedding:
        """The file's embedding, read once while it is unchanged (a refusal too: a file is not read again per run)."""
        stat = info.path.stat()
        stamp = (stat.st_size, stat.st_mtime)
        with self._lock:
            kept = self._read.get(info.path)
        if kept is None or kept[0] != stamp:
            try:
                read: Embedding | str = read_embedding(info.path, allow_pickle=self._allow_pickle)
            except EmbeddingError as error:
                read = str(error)
            kept = (stamp, read)
            with self._lock:
                self._read[info.path] = kept
        if isinstance(kept[1], str):
            raise EmbeddingError(kept[1])
        return kept[1]


def read_embedding(path: Path, *, allow_pickle: bool = False) -> Embedding:
    """The embedding in `path`, in any layout A1111 reads (see studio/embedding_library.py)."""
    name = path.stem
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            data: dict = load_file(str(path))
        except Exception as error:  # safetensors raises its own types for damaged files
            raise EmbeddingError(f"embedding {name}: {path.name} cannot be read ({error})") from None
    else:
        if not allow_pickle:
            raise EmbeddingError(
                f"embedding {name}: {path.name} is pickled (loading it can run code); "
                "use a .safetensors embedding or start the studio with --allow-pickle"
            )
        data = torch.load(path, map_location="cpu", weights_only=False)
    return _from_data(name, data)


def _from_data(name: str, data: dict) -> Embedding:
    if not isinstance(data, dict):
        raise EmbeddingError(f"embedding {name} is not a textual-inversion embedding")
    if "string_to_param" in data:  # A1111's own .pt: {"string_to_param": {"*": tensor}, "name": ...}
        params = data["string_to_param"]
        params = getattr(params, "_parameters", params)
        data = dict(params)
    tensors = {key: value for key, value in data.items() if isinstance(value, torch.Tensor)}
    if set(SDXL_KEYS) <= set(tensors):
        vectors = {key: _rows(name, tensors[key]) for key in SDXL_KEYS}
        if vectors["clip_l"].shape[0] != vectors["clip_g"].shape[0]:
            raise EmbeddingError(f"embedding {name}: clip_l and clip_g hold different numbers of vectors")
        return Embedding(name, SDXL, vectors)
    if len(tensors) != 1:
        raise EmbeddingError(
            f"embedding {name} is not a textual-inversion embedding: it holds {len(tensors)} tensors "
            "(an embedding holds one, or clip_l and clip_g for SDXL)"
        )
    return Embedding(name, SD15, {"clip_l": _rows(name, next(iter(tensors.values())))})


def _rows(name: str, tensor: torch.Tensor) -> torch.Tensor:
    tensor = tensor.detach().float()
    if tensor.dim() == 1:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 2 or tensor.shape[0] == 0:
        raise EmbeddingError(f"embedding {name}: its vectors have the shape {tuple(tensor.shape)}, not n x width")
    return tensor
