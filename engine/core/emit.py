"""What a service decided to publish: services return `Emit`s, handlers publish them.

Keeping publishing out of the services keeps them testable without a bus, and lets a handler decide
the causation header (the command that is answered) in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schemas.base import Message


@dataclass(frozen=True, slots=True)
class Emit:
    """An event to publish, and the command it answers."""

    subject: str
    event: Message
    announce: bool = True
    """False for a copy of a command another stream message decided: that message announces it."""
