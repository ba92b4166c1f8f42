"""How jetflow connects to NATS: options from settings, and a clear error when it cannot.

Kept apart from the engine so `jetflow run`, `jetflow agent` and the operator commands fail fast with
one readable line ("cannot reach NATS at nats://127.0.0.1:1: connection refused") instead of a
reconnect loop, a traceback every two seconds, or a bare `TimeoutError` once a deadline passed.
`connect` tries every server once; only a connection that was made reconnects (for ever, if asked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from typing import TYPE_CHECKING, Any

import nats
from faststream.security import BaseSecurity, SASLPlaintext
from nats.errors import Error as NatsError
from nats.errors import NoServersError

if TYPE_CHECKING:
    from nats.aio.client import Client

    from engine.core.settings import NatsSettings

log = logging.getLogger(__name__)


class NatsUnavailable(RuntimeError):
    """NATS could not be reached at start."""


def describe(error: BaseException) -> str:
    """A connection failure in a few words: `connection refused`, `unknown host 'nats.example'`, ..."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror or error})"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    text = str(error).strip()
    return text.removeprefix("nats: ") or type(error).__name__


async def connect(settings: NatsSettings, url: str, *, name: str, reconnect: bool = False) -> Client:
    """A nats-py connection with the settings' credentials, or `NatsUnavailable` saying why, at once.

    Every server of `url` is tried once; `reconnect` keeps a connection that was made reconnecting for
    ever afterwards (a long-running agent or watch), and connection errors are logged as one line.
    """
    options = client_options(settings, url)
    seen: list[BaseException] = []
    tried = asyncio.Event()

    async def on_error(error: Exception) -> None:
        if tried.is_set():  # connected once, now reconnecting: say so, in one line (no traceback)
            log.warning("NATS at %s: %s", url, describe(error))
            return
        seen.append(error)  # at start: the caller's one error line says it
        if len(seen) >= len(options["servers"]):
            tried.set()

    # nats-py retries without end at start unless told a number of attempts, and then sleeps between
    # them: the first failure of each server ends the attempt instead.
    connecting = asyncio.ensure_future(
        nats.connect(**options, name=name, max_reconnect_attempts=-1 if reconnect else 1, error_cb=on_error)
    )
    failing = asyncio.ensure_future(tried.wait())
    try:
        await asyncio.wait({connecting, failing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        failing.cancel()
    if not connecting.done():
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await connecting
        raise NatsUnavailable(f"cannot reach NATS at {url}: {describe(seen[-1])}")
    tried.set()
    try:
        return connecting.result()
    except (NoServersError, NatsError, OSError, TimeoutError) as error:
        cause = seen[-1] if seen and isinstance(error, NoServersError) else error
        raise NatsUnavailable(f"cannot reach NATS at {url}: {describe(cause)}") from None


def client_options(settings: NatsSettings, url: str) -> dict[str, Any]:
    """Keyword arguments for `nats.connect`: servers, credentials, TLS, timeout (those of `broker_options`)."""
    options: dict[str, Any] = {
        "servers": _servers(url),
        "connect_timeout": max(1, int(settings.connect_timeout)),
    }
    if settings.user is not None:
        options["user"] = settings.user
        options["password"] = settings.password.get_secret_value() if settings.password else ""
    if settings.token is not None:
        options["token"] = settings.token.get_secret_value()
    if settings.creds is not None:
        options["user_credentials"] = str(settings.creds)
    if (ssl_context := _ssl_context(settings)) is not None:
        options["tls"] = ssl_context
    return options


def _servers(url: str) -> list[str]:
    return [part.strip() for part in url.split(",") if part.strip()]


def broker_options(settings: NatsSettings, url: str, *, name: str) -> dict[str, Any]:
    """Keyword arguments for `NatsBroker`: servers, credentials, TLS, timeouts, the connection's `name`."""
    options: dict[str, Any] = {
        "servers": _servers(url),
        "connect_timeout": max(1, int(settings.connect_timeout)),
        # At start, fail after a few tries; once connected, reconnect for ever (allow_reconnect).
        "max_reconnect_attempts": -1,
        "name": name,
    }
    ssl_context = _ssl_context(settings)
    if settings.user is not None:
        password = settings.password.get_secret_value() if settings.password else ""
        options["security"] = SASLPlaintext(username=settings.user, password=password, ssl_context=ssl_context)
    elif ssl_context is not None:
        options["security"] = BaseSecurity(ssl_context=ssl_context)
    if settings.token is not None:
        options["token"] = settings.token.get_secret_value()
    if settings.creds is not None:
        options["user_credentials"] = str(settings.creds)
    return options


def _ssl_context(settings: NatsSettings) -> ssl.SSLContext | None:
    if settings.tls_ca is None and settings.tls_cert is None:
        return None
    context = ssl.create_default_context(cafile=str(settings.tls_ca) if settings.tls_ca else None)
    if settings.tls_cert is not None:
        key = str(settings.tls_key) if settings.tls_key else None
        context.load_cert_chain(str(settings.tls_cert), key)
    return context
