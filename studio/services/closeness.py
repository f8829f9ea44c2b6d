"""Did this picture come from one of these? Any picture (the studio's or not) against a folder of pictures or a
session's, with the studio's one closeness measure (studio/closeness.py): the closest first, with their figures."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

from PIL import Image

from studio.access.offered import Offered
from studio.authorship.lineage import file_sha256
from studio.closeness import Closeness, Fingerprint, compare, fingerprint
from studio.errors import InputError
from studio.history import SessionHistory
from studio.pictures import open_picture

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_PICTURES = 5000  # a folder larger than this is likely a mistake (a whole disk), and would take minutes
_HASHES_KEPT = 4096  # a hash is a few dozen bytes
_KEPT = 256  # fingerprints kept between checks (about 0.3 MB each), newest used last


@dataclass(frozen=True)
class Match:
    """One picture of the folder or session, and how close the checked picture stays to it."""

    name: str  # its path inside the folder (or its file name in the session)
    path: Path
    closeness: Closeness


class ClosenessCheck:
    """The check, app-wide. A shared studio (--share, --listen) checks against sessions only, never server folders."""

    def __init__(self, offered: Offered | None = None) -> None:
        self._offered = offered
        self._kept: OrderedDict[tuple[Path, int, float], Fingerprint] = OrderedDict()
        # Each given picture's content hash, kept while the file is unchanged: a session's uploads are read once.
        self._hashes: OrderedDict[tuple[Path, int, float], str] = OrderedDict()
        self._lock = Lock()

    def against_folder(
        self,
        picture: Image.Image,
        folder: str | Path,
        *,
        limit: int = 12,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[Match]:
        """The pictures of `folder` (and its sub-folders) closest to `picture`, closest first."""
        if self._offered is not None:
            self._offered.refuse_server_folders("the closeness check")
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise InputError(f"folder: {folder} is not a folder on this computer; give the folder of the pictures")
        paths = sorted(path for path in root.rglob("*") if path.suffix.lower() in PICTURE_SUFFIXES and path.is_file())
        if len(paths) > MAX_PICTURES:
            raise InputError(f"folder: {root} holds {len(paths)} pictures; choose a folder of at most {MAX_PICTURES}")
        return self._closest(picture, [(str(path.relative_to(root)), path) for path in paths], limit, on_progress)

    def against_session(
        self,
        picture: Image.Image,
        history: SessionHistory,
        *,
        limit: int = 12,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[Match]:
        """The pictures of a session closest to `picture`: its results and the pictures it was given (uploads and
        reference pictures, each once however many nodes kept a copy; masks and maps are not pictures)."""
        files: dict[str, Path] = {}
        given: set[str] = set()
        for node in history.nodes():
            files |= {name: history.path(name) for name in node.outputs}
            for role, name in node.inputs.items():
                if role == "image" or role in node.recipe.reference_pictures:
                    content = self._content_hash(history.path(name))
                    if content not in given:
                        given.add(content)
                        files[name] = history.path(name)
        return self._closest(picture, list(files.items()), limit, on_progress)

    def _closest(
        self,
        picture: Image.Image,
        files: list[tuple[str, Path]],
        limit: int,
        on_progress: Callable[[int, int], None] | None,
    ) -> list[Match]:
        if not files:
            raise InputError("there are no pictures (PNG, JPEG, WebP) to compare with")
        checked = fingerprint(picture)
        found = []
        for done, (name, path) in enumerate(files, start=1):
            other = self._fingerprint(path)
            if other is not None:
                found.append(Match(name, path, compare(checked, other)))
            if on_progress is not None:
                on_progress(done, len(files))
        return sorted(found, key=lambda match: -match.closeness.score)[:limit]

    def _content_hash(self, path: Path) -> str:
        """The file's content hash (its path for a file that cannot be read: it is then compared, and refused, alone)."""
        try:
            stat = path.stat()
            key = (path.resolve(), stat.st_size, stat.st_mtime)
            with self._lock:
                if key in self._hashes:
                    return self._hashes[key]
            content = file_sha256(path)
        except OSError:
            return str(path)
        with self._lock:
            self._hashes[key] = content
            while len(self._hashes) > _HASHES_KEPT:
                self._hashes.popitem(last=False)
        return content

    def _fingerprint(self, path: Path) -> Fingerprint | None:
        """The file's fingerprint, kept while the file is unchanged; None for a file that is no picture."""
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (path.resolve(), stat.st_size, stat.st_mtime)
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        try:
            made = fingerprint(open_picture(path, path.name))
        except ValueError:  # not a picture after all, or damaged: not a match, the others still are
            return None
        with self._lock:
            self._kept[key] = made
            while len(self._kept) > _KEPT:
                self._kept.popitem(last=False)
        return made
