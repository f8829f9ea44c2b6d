"""With several accounts, each account's pictures are served to that account only.

Gradio serves every file under `allowed_paths` to anyone logged in. Sessions of account `a` live
under outputs/a/, so this ASGI middleware refuses a file route under outputs/ to any other account.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import PlainTextResponse

_FILE_ROUTE = "/file="


class OwnFilesOnly:
    def __init__(self, app: Any, *, outputs: Path) -> None:
        self.app = app
        self.outputs = outputs.resolve()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _FILE_ROUTE in scope["path"]:
            target = Path(unquote(scope["path"].split(_FILE_ROUTE, 1)[1])).resolve()
            if target.is_relative_to(self.outputs) and target != self.outputs:
                owner = target.relative_to(self.outputs).parts[0]
                if owner != _user(scope):
                    await PlainTextResponse("Not your picture.", status_code=403)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _user(scope: dict) -> str | None:
    """The logged-in account, read the way Gradio's own routes read it (its login cookie)."""
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
    if tokens is None:
        return None
    cookies = Request(scope).cookies
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return tokens.get(token)
