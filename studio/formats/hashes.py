"""The short hashes A1111 writes, so model sites recognise the resources of a picture.

- `Model hash`: the first 10 hex digits of the checkpoint file's sha256 (A1111's "AutoV2").
- `TI hashes`: the first 12 hex digits of a textual-inversion embedding file's sha256 (A1111's `shorthash`).
- `Lora hashes`: the first 12 hex digits of the sha256 of a .safetensors file *after* its JSON
  header (kohya/addnet's hash), so editing a LoRA's metadata does not change its hash.

Hashing a 2-7 GB checkpoint takes a while, so results are cached by path, size and modification time.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from pathlib import Path

from studio.errors import InputError
from studio.files import atomic_write_text

_BLOCK = 1 << 20


class HashCache:
    """Remembers file hashes in one JSON file (schema-versioned) so each file is read once."""

    SCHEMA_VERSION = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict] | None = None

    def model_hash(self, checkpoint: Path) -> str:
        return self._hash(checkpoint, "model", _sha256_of_file)[:10]

    def lora_hash(self, lora: Path) -> str:
        if lora.suffix.lower() != ".safetensors":  # a pickled LoRA has no header to skip
            return self._hash(lora, "model", _sha256_of_file)[:12]
        return self._hash(lora, "lora", _sha256_after_safetensors_header)[:12]

    def embedding_hash(self, embedding: Path) -> str:
        return self._hash(embedding, "model", _sha256_of_file)[:12]  # the whole file's, as for a checkpoint

    def _hash(self, file: Path, kind: str, compute) -> str:
        file = file.resolve()
        stat = file.stat()
        key = f"{kind}:{file}"
        with self._lock:
            entries = self._load()
            entry = entries.get(key)
            if entry and entry["size"] == stat.st_size and entry["mtime"] == stat.st_mtime:
                return entry["sha256"]
        digest = compute(file)  # outside the lock: this is the slow part
        with self._lock:
            entries = self._load()
            entries[key] = {"size": stat.st_size, "mtime": stat.st_mtime, "sha256": digest}
            document = {"schema_version": self.SCHEMA_VERSION, "entries": entries}
            atomic_write_text(self.path, json.dumps(document))
        return digest

    def _load(self) -> dict[str, dict]:
        if self._entries is None:
            entries: dict[str, dict] = {}
            try:
                document = json.loads(self.path.read_text())
                if document.get("schema_version") == self.SCHEMA_VERSION:
                    entries = document["entries"]
            except (OSError, ValueError, KeyError, AttributeError):
                pass  # a cache: losing it only costs time
            self._entries = entries
        return self._entries


def model_hash_for(model: str, cache: HashCache | None) -> str | None:
    """A1111's `Model hash` for a model given as one checkpoint file; None for hub ids and folders."""
    path = Path(model).expanduser()
    if cache is None or not path.is_file():
        return None
    return cache.model_hash(path)


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _sha256_after_safetensors_header(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        header = handle.read(8)
        if len(header) < 8:
            raise InputError(f"{path.name} is not a .safetensors file")
        (header_length,) = struct.unpack("<Q", header)
        handle.seek(8 + header_length)
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()
