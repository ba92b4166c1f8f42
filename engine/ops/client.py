"""The operator commands' side of `jetflow.ctl`: one connection, requests, pages, and what failures mean.

Every failure ends the command with one line on stderr and an exit code a script can test:

* 0: done;
* 1: refused: the engine answered no (unknown id, bad request, nothing to cancel);
* 2: usage: a bad option or argument (typer's own);
* 3: unreachable: NATS cannot be reached, no jetflow answers, or the engine could not answer (store down).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from engine.connection import NatsUnavailable, connect
from schemas.subjects import ctl, ctl_health

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client

    from engine.core.settings import NatsSettings

OK, REFUSED, USAGE, UNREACHABLE = 0, 1, 2, 3
#: Items asked for per page while following `next` cursors.
PAGE = 500


class Failed(Exception):
    """Ends a command: `message` on stderr, `code` as the exit status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Ctl:
    """Requests to the jetflow micro service over one NATS connection."""

    def __init__(self, nc: Client, url: str, timeout: float) -> None:
        self.nc = nc
        self.url = url
        self.timeout = timeout

    @classmethod
    async def connect(cls, settings: NatsSettings, url: str, timeout: float) -> Ctl:
        try:
            nc = await connect(settings, url, name="jetflow-cli")
        except NatsUnavailable as error:
            raise Failed(UNREACHABLE, str(error)) from None
        return cls(nc, url, timeout)

    async def close(self) -> None:
        await self.nc.close()

    async def ask(self, family: str, verb: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The reply of `jetflow.ctl.<family>.<verb>` (family "health": jetflow.ctl.health), or `Failed`."""
        subject = ctl_health() if family == "health" else ctl(family, verb)
        data = b"" if body is None else json.dumps({k: v for k, v in body.items() if v is not None}).encode()
        try:
            msg = await self.nc.request(subject, data, timeout=self.timeout)
        except NoRespondersError:
            raise Failed(
                UNREACHABLE, f"no jetflow answers on {subject} at {self.url} (is the engine running?)"
            ) from None
        except (TimeoutError, NatsTimeout):
            raise Failed(UNREACHABLE, f"no answer on {subject} within {self.timeout:g}s") from None
        try:
            reply = json.loads(msg.data)
        except ValueError:
            raise Failed(UNREACHABLE, f"{subject} answered something that is not JSON") from None
        status = (msg.headers or {}).get("Nats-Service-Error-Code")
        if status is not None or (isinstance(reply, dict) and reply.get("status") == "error"):
            error = reply.get("error", {}) if isinstance(reply, dict) else {}
            reason = error.get("reason") or (msg.headers or {}).get("Nats-Service-Error") or "refused"
            raise Failed(UNREACHABLE if status == "503" else REFUSED, f"{subject}: {reason}")
        if not isinstance(reply, dict):
            raise Failed(UNREACHABLE, f"{subject} answered {type(reply).__name__}, not an object")
        return reply

    async def pages(
        self, family: str, verb: str, body: dict[str, Any], limit: int | None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a list endpoint (at most `limit`), following its `next` cursors."""
        cursor: str | None = None
        seen = 0
        while limit is None or seen < limit:
            size = PAGE if limit is None else min(PAGE, limit - seen)
            reply = await self.ask(family, verb, {**body, "cursor": cursor, "limit": size})
            for item in reply.get("items", []):
                yield item
                seen += 1
            cursor = reply.get("next")
            if not cursor:
                return
