"""Opening a caller's session: by id, in its account's folder where accounts are kept apart, or a new one."""

from __future__ import annotations

import re
import threading

from studio.history import HistoryError, HistoryStore
from studio.services import Services
from studio.session.session import Session

# Session ids and account names become folder names: plain characters only.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Sessions:
    """Every caller's way in: `open(id, account=...)` gives a new `Session` bound to that session's folder.

    Built once in launch.py. With `per_account`, each account's sessions live in a folder of its own
    (outputs/<account>/), and a caller without an account is refused.
    """

    def __init__(self, store: HistoryStore, services: Services, *, per_account: bool = False) -> None:
        self.store = store
        self.services = services
        self.per_account = per_account
        self._account_stores: dict[str, HistoryStore] = {}
        self._lock = threading.Lock()

    def open(self, session_id: str | None = None, *, account: str | None = None) -> Session:
        """Session `session_id` of `account` (a new session when the id is empty).

        The session is bound for the whole life of the returned object: a run that started in one session
        records its node there, whatever other callers do meanwhile.
        """
        store = self.store_for(account)
        if session_id and not _SAFE_NAME.match(session_id):
            raise HistoryError(f"invalid session id {session_id!r}: use letters, digits, '-', '_' and '.'")
        history = store.session(session_id) if session_id else store.new_session()
        return Session(history, store, self.services)

    def store_for(self, account: str | None) -> HistoryStore:
        """Where `account`'s sessions live."""
        if not self.per_account:
            return self.store
        if not account or not _SAFE_NAME.match(account):
            raise HistoryError("this studio keeps each account's sessions apart: log in first")
        with self._lock:
            if account not in self._account_stores:
                self._account_stores[account] = HistoryStore(self.store.root / account)
            return self._account_stores[account]
