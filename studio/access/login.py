"""Logins for a shared studio: accounts from `--auth USER:PASSWORD`, and wrong passwords answered slowly.

Pure (no gradio): `LoginGuard.check` is the coroutine Gradio calls for every login attempt.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Awaitable, Callable

from studio.errors import InputError

# An account name becomes a folder name (each account's sessions are its own): plain characters only.
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class LoginError(InputError):
    """An `--auth` value that cannot be used. The message says what to write instead."""


def parse_account(text: str) -> tuple[str, str]:
    """USER:PASSWORD -> (user, password), refusing an empty or unsafe user and an empty password."""
    user, separator, password = text.partition(":")
    if not separator or not user or not password:
        raise LoginError(f"--auth {text!r}: write USER:PASSWORD, both parts non-empty")
    if not _ACCOUNT.match(user):
        raise LoginError(f"--auth {user!r}: a user name is letters, digits, '.', '_' and '-' (up to 64)")
    return user, password


class LoginGuard:
    """Checks a login in constant time; every wrong one in a row waits twice as long as the last (up to a cap).

    A right login resets the count. Waiting is asynchronous, so the server keeps serving meanwhile.
    """

    def __init__(
        self,
        accounts: dict[str, str],
        *,
        first_delay: float = 0.5,
        max_delay: float = 8.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not accounts:
            raise LoginError("a login needs at least one account")
        self._accounts = dict(accounts)
        self._first_delay, self._max_delay = first_delay, max_delay
        self._sleep = sleep
        self._failures = 0

    async def check(self, username: str, password: str) -> bool:
        expected = self._accounts.get(username)
        # Compare even for an unknown user, so the time taken does not tell which users exist.
        matches = hmac.compare_digest((password or "").encode(), (expected or "\0" * 32).encode())
        if expected is not None and matches:
            self._failures = 0
            return True
        self._failures += 1
        await self._sleep(min(self._first_delay * 2 ** (self._failures - 1), self._max_delay))
        return False
