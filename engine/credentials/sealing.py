"""This peer's X25519 key pair, and sealing to another peer's public key (PyNaCl SealedBox).

Secrets travel between peers only inside sealed boxes: anyone may seal to a public key, only the
holder of the private key can open. The private key comes from Settings (`peer_private_key`) or a
file in the state dir, generated on first use; every replica of one peer must share it, so a
deployment gives it to all replicas as a Kubernetes Secret. The public key goes into the catalog
(`Resource.public_key` of every resource the peer owns) so others can seal to it.
"""

from __future__ import annotations

import base64
import logging
import os
from typing import TYPE_CHECKING

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

if TYPE_CHECKING:
    from pathlib import Path

    from engine.core.settings import PeerSettings

log = logging.getLogger(__name__)

KEY_FILE = "peer.key"


class SealError(ValueError):
    """A key is malformed or a sealed box cannot be opened with our key."""


def seal(public_key: str, data: bytes) -> str:
    """`data` sealed to the base64 X25519 `public_key`, as base64."""
    try:
        recipient = PublicKey(base64.b64decode(public_key, validate=True))
    except (ValueError, CryptoError) as error:
        raise SealError(f"not a base64 X25519 public key: {error}") from None
    return base64.b64encode(SealedBox(recipient).encrypt(data)).decode()


class PeerKey:
    """This peer's private key; loaded lazily so instances that never exchange secrets write no file."""

    def __init__(self, settings: PeerSettings) -> None:
        self._configured = settings.private_key
        self._path: Path = settings.state_dir / KEY_FILE
        self._key: PrivateKey | None = None

    def _private(self) -> PrivateKey:
        if self._key is None:
            self._key = self._load()
        return self._key

    def _load(self) -> PrivateKey:
        if self._configured is not None:
            return PrivateKey(base64.b64decode(self._configured.get_secret_value(), validate=True))
        if self._path.exists():
            return PrivateKey(base64.b64decode(self._path.read_text().strip(), validate=True))
        key = PrivateKey.generate()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only from the first byte: the file is opened with mode 0600, never widened later.
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(bytes(key)).decode() + "\n")
        log.info("generated this peer's key in %s; public key %s", self._path, _b64(bytes(key.public_key)))
        return key

    @property
    def public_key(self) -> str:
        """Base64 public key, as `Resource.public_key` expects it."""
        return _b64(bytes(self._private().public_key))

    def open(self, sealed: str) -> bytes:
        try:
            return SealedBox(self._private()).decrypt(base64.b64decode(sealed, validate=True))
        except (ValueError, CryptoError) as error:
            raise SealError(f"cannot open the sealed box with this peer's key: {error}") from None


def generate_private_key() -> str:
    """A new base64 private key, for `JETFLOW_PEER_PRIVATE_KEY`."""
    return _b64(bytes(PrivateKey.generate()))


def public_key_of(private_key: str) -> str:
    return _b64(bytes(PrivateKey(base64.b64decode(private_key, validate=True)).public_key))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
