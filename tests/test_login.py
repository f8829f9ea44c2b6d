"""Logins: --auth values that cannot work are refused; wrong passwords are answered ever more slowly."""

from __future__ import annotations

import asyncio

import pytest

from launch import accounts, parse_args
from studio.access.login import LoginGuard


@pytest.mark.parametrize("value", ["user:", ":", ":secret", "nocolon", "../up:secret", "a b:secret"])
def test_unusable_auth_values_are_refused(value, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--auth", value])
    assert "--auth" in capsys.readouterr().err


def test_several_accounts_and_a_password_with_colons():
    args = parse_args(["--auth", "ann:pa:ss", "--auth", "ben:other"])
    assert accounts(args) == {"ann": "pa:ss", "ben": "other"}
    shared = accounts(parse_args(["--share"]))
    assert list(shared) == ["artist"] and len(shared["artist"]) >= 16


def test_wrong_passwords_wait_longer_each_time_and_a_right_one_resets():
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    guard = LoginGuard({"ann": "secret"}, first_delay=0.5, max_delay=4.0, sleep=record)
    check = lambda user, password: asyncio.run(guard.check(user, password))  # noqa: E731
    assert [check("ann", "wrong") for _ in range(5)] == [False] * 5
    assert check("nobody", "secret") is False
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert check("ann", "secret") is True and waits[-1] == 4.0  # a right login does not wait
    assert check("ann", "") is False and waits[-1] == 0.5  # and resets the count
