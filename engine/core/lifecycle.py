"""The do-nothing parts of a feature's life (`start / lead / depose / stop`), for features without them."""

from __future__ import annotations


class Idle:
    """A feature with no lease and nothing to start or stop; override what it does have."""

    lease: str | None = None

    async def start(self) -> None:
        return None

    async def lead(self) -> None:
        return None

    async def depose(self) -> None:
        return None

    async def stop(self) -> None:
        return None
