"""Who made what, app-wide: the lineage of a picture, its report, and its Content Credentials (C2PA)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from studio.authorship import credentials, report
from studio.authorship.lineage import Step, lineage
from studio.authorship.outside import OutsideCloseness
from studio.errors import NeedsConfirmation, NotAvailable
from studio.history import SessionHistory

EXPORTS_FOLDER = "exports"  # in a session folder: authorship reports and pictures exported with credentials


class Authorship:
    """Reports and signed exports of a session's pictures; `signing` says who signs (None: no exports)."""

    def __init__(
        self, signing: credentials.Signing | None = None, *, trained_on: Callable[[str], str | None] = lambda _: None
    ) -> None:
        self.signing = signing
        # The hash of the folder a LoRA was trained on (the LoRA library's), for the record of what the human gave.
        self._trained_on = trained_on

    def lineage(self, history: SessionHistory, node_id: str, index: int = 0) -> list[Step]:
        """The steps from the first generation to picture `index` of a node, with what the human and the machine did.

        `lineage` refuses a picture the node does not have; a Session checks the index's type before it calls."""
        return lineage(history.get, history.path, node_id, index, self._trained_on)

    def report(self, history: SessionHistory, node_id: str, index: int = 0) -> tuple[dict, str]:
        """The report as JSON and as a self-contained page (no paths of this computer in either)."""
        steps = self.lineage(history, node_id, index)
        return report.report_json(steps), report.report_html(steps, history.path)

    def export(
        self,
        history: SessionHistory,
        node_id: str,
        index: int,
        destination: Path,
        *,
        kind: str = "png",
        confirmed: bool = False,
    ) -> Path:
        """The picture as PNG or JPEG with its lineage signed in (C2PA), at `destination`. A near copy of an outside
        picture whose licence does not allow it raises NeedsConfirmation unless `confirmed`."""
        steps = self.lineage(history, node_id, index)
        _check_confirmed(steps, confirmed)
        return self._signed(history, steps, node_id, index, destination, kind)

    def save(
        self, history: SessionHistory, node_id: str, index: int = 0, *, kind: str = "png", confirmed: bool = False
    ) -> tuple[Path, Path, Path]:
        """The report (HTML, JSON) and the picture with its credentials, written to the session's exports folder.
        A near copy of an outside picture whose licence does not allow it raises NeedsConfirmation unless
        `confirmed`."""
        steps = self.lineage(history, node_id, index)  # measured once: the report and the manifest tell the same
        _check_confirmed(steps, confirmed)
        folder = history.folder / EXPORTS_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{node_id}-{index}"
        suffix = "jpg" if kind == "jpeg" else "png"
        picture = self._signed(history, steps, node_id, index, folder / f"{stem}-credentials.{suffix}", kind)
        page_file, json_file = folder / f"{stem}-authorship.html", folder / f"{stem}-authorship.json"
        page_file.write_text(report.report_html(steps, history.path), encoding="utf-8")
        json_file.write_text(json.dumps(report.report_json(steps), indent=2), encoding="utf-8")
        return page_file, json_file, picture

    def verify(self, picture: str | Path) -> credentials.Verification:
        """Any picture's Content Credentials: none, valid, or invalid (changed after signing)."""
        return credentials.verify(Path(picture))

    def _signed(
        self, history: SessionHistory, steps: list[Step], node_id: str, index: int, destination: Path, kind: str
    ) -> Path:
        if self.signing is None:
            raise NotAvailable("export: this studio was started without a signing folder")
        picture = history.path(history.get(node_id).outputs[index])
        return credentials.export(picture, steps, self.signing.identity(), history.path, destination, kind)


def export_questions(steps: list[Step]) -> list[OutsideCloseness]:
    """The outside pictures the exported picture is a near copy of, under a licence that does not allow it."""
    return [entry for entry in steps[-1].closeness if entry.asks_before_export] if steps else []


def _check_confirmed(steps: list[Step], confirmed: bool) -> None:
    questions = export_questions(steps)
    if questions and not confirmed:
        raise NeedsConfirmation(
            "export: this picture is "
            + "; and ".join(entry.words() for entry in questions)
            + ". Its licence does not say you may publish a copy of it. Export anyway only if you have the right "
            "to; the credentials will carry these figures."
        )
