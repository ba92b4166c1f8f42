"""How the engine connects to NATS: options from settings, and a clear error when it cannot.

Kept apart from the engine so `jetflow run` can fail fast with one readable line ("cannot reach NATS
at ...") instead of a reconnect loop or a traceback.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from faststream.security import BaseSecurity, SASLPlaintext

if TYPE_CHECKING:
    from engine.settings import Settings


class NatsUnavailable(RuntimeError):
    """NATS could not be reached at start."""


def broker_options(settings: Settings, url: str) -> dict[str, Any]:
    """Keyword arguments for `NatsBroker`: servers, credentials, TLS, timeouts."""
    options: dict[str, Any] = {
        "servers": [part.strip() for part in url.split(",") if part.strip()],
        "connect_timeout": max(1, int(settings.nats.connect_timeout)),
        # At start, fail after a few tries; once connected, reconnect for ever (allow_reconnect).
        "max_reconnect_attempts": -1,
        "name": f"jetflow:{settings.peer.id}",
    }
    ssl_context = _ssl_context(settings)
    if settings.nats.user is not None:
        password = settings.nats.password.get_secret_value() if settings.nats.password else ""
        options["security"] = SASLPlaintext(username=settings.nats.user, password=password, ssl_context=ssl_context)
    elif ssl_context is not None:
        options["security"] = BaseSecurity(ssl_context=ssl_context)
    if settings.nats.token is not None:
        options["token"] = settings.nats.token.get_secret_value()
    if settings.nats.creds is not None:
        options["user_credentials"] = str(settings.nats.creds)
    return options


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.nats.tls_ca is None and settings.nats.tls_cert is None:
        return None
    context = ssl.create_default_context(cafile=str(settings.nats.tls_ca) if settings.nats.tls_ca else None)
    if settings.nats.tls_cert is not None:
        key = str(settings.nats.tls_key) if settings.nats.tls_key else None
        context.load_cert_chain(str(settings.nats.tls_cert), key)
    return context
