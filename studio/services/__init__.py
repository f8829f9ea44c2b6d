"""App-wide services, built once in launch.py and used by every session: models, presets, LoRAs, embeddings, maps,
authorship, the closeness check.

`Services` is what a `Session` (studio/session/) and the window are handed: each part is a small object of its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from studio.access.offered import Offered
from studio.control.references import ReferenceLibrary
from studio.formats.hashes import HashCache
from studio.live.painter import LivePainters
from studio.progress import RunBoard
from studio.services.authorship import Authorship
from studio.services.closeness import ClosenessCheck
from studio.services.embeddings import Embeddings
from studio.services.loras import Loras
from studio.services.maps import Maps
from studio.services.models import Models
from studio.services.presets import PresetShelf


@dataclass(frozen=True)
class Services:
    """What every session shares: one engine and its defaults, the presets, the LoRA and embedding libraries, the
    preprocessors, authorship, the closeness check, the file hashes, what a shared studio offers, every session's latest run, and the
    write lock."""

    models: Models
    presets: PresetShelf = field(default_factory=PresetShelf)
    loras: Loras = field(default_factory=Loras)
    embeddings: Embeddings = field(default_factory=Embeddings)
    references: ReferenceLibrary = field(default_factory=ReferenceLibrary)  # the IP-Adapters reference pictures use
    maps: Maps = field(default_factory=Maps)
    authorship: Authorship = field(default_factory=Authorship)
    closeness: ClosenessCheck = field(default_factory=ClosenessCheck)  # any picture against a folder or a session
    hashes: HashCache | None = None
    offered: Offered | None = None  # shared (--share, --listen): what recipes may name; None locally
    runs: RunBoard = field(default_factory=RunBoard)
    live: LivePainters = field(default_factory=LivePainters)  # each session's live painting, coalesced
    # Recording a node (its files, then the history) is one step at a time across sessions.
    write_lock: threading.Lock = field(default_factory=threading.Lock)
