"""The throttle gate every replica obeys, fed by `jetflow.throttle.command.<node>`.

Every replica (not only the evaluator) subscribes to the commands and, at start, reads the latest
one per node from JETFLOW_THROTTLE (the stream keeps the last per subject), so the scheduler and the
dispatcher of any replica see the same levels. Commands are applied newest `since` first, so a live
command and the start-up read can arrive in any order.

Resources map to nodes through the catalog: a compute resource's `node`, else its id. The map is
loaded at start and follows `jetflow.resource.upsert` (a core subscription: the catalog's durable
consumer stores them, this only listens).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from pydantic import ValidationError

from engine import streams
from engine.catalog.store import ResourceRecord
from schemas import subjects
from schemas.catalog import Resource
from schemas.throttle import ThrottleCommand, ThrottleLevel

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from nats.js import JetStreamContext

    from engine.throttle.settings import ThrottleSettings

log = logging.getLogger(__name__)

STREAM = streams.THROTTLE
COMMANDS = f"{subjects.THROTTLE_COMMAND_PREFIX}.*"

type Listener = Callable[[ThrottleCommand], Awaitable[None]]


class CommandGate:
    def __init__(self, settings: ThrottleSettings) -> None:
        self._fraction = settings.limited_fraction
        self._unknown = ThrottleLevel(settings.unknown) if settings.unknown != "open" else None
        self.commands: dict[str, ThrottleCommand] = {}
        """The latest command per node."""
        self._nodes: dict[str, str] = {}
        self._listeners: list[Listener] = []
        self._subscriptions: list[Subscription] = []

    # --- ThrottleGate ---------------------------------------------------------------------------

    def blocked(self, resources: Sequence[str]) -> tuple[str, str] | None:
        for resource in resources:
            node = self.node_of(resource)
            if self.closed(node):
                command = self.commands[node]
                return resource, f"node {node} is {command.level}: {command.reason}"
        return None

    def limit(self, resource: str, base: int) -> int:
        level = self.effective(self.node_of(resource))
        if level == ThrottleLevel.TAINTED:
            return 0
        if level == ThrottleLevel.LIMITED:
            return min(base, max(1, int(base * self._fraction)))  # limited slows a node, never stops it
        return base

    # --- levels ---------------------------------------------------------------------------------

    def node_of(self, resource: str) -> str:
        return self._nodes.get(resource, resource)

    def resources_of(self, node: str) -> list[str]:
        """The resources placed on `node` (including a resource named like the node)."""
        mapped = [resource for resource, on in self._nodes.items() if on == node]
        return mapped if node in self._nodes else [*mapped, node]

    def level(self, node: str) -> ThrottleLevel:
        command = self.commands.get(node)
        return command.level if command else ThrottleLevel.NORMAL

    def effective(self, node: str) -> ThrottleLevel:
        """The level new work obeys: `unknown` counts as the configured consequence."""
        level = self.level(node)
        if level == ThrottleLevel.UNKNOWN:
            return self._unknown or ThrottleLevel.NORMAL
        return level

    def closed(self, node: str) -> bool:
        """No new work may start on `node`."""
        return self.effective(node) == ThrottleLevel.TAINTED

    def watch(self, listener: Listener) -> None:
        """Call `listener` after every command that changed a node's level here."""
        self._listeners.append(listener)

    async def apply(self, command: ThrottleCommand) -> bool:
        current = self.commands.get(command.node)
        if current is not None and (current.since, current.id) >= (command.since, command.id):
            return False  # older, or the same command again
        self.commands[command.node] = command
        for listener in self._listeners:
            try:
                await listener(command)
            except Exception:
                log.exception("throttle listener failed for %s", command.node)
        return True

    def remember(self, resource: Resource) -> None:
        if resource.kind == "compute":
            self._nodes[resource.id] = resource.node or resource.id

    # --- feeding --------------------------------------------------------------------------------

    async def start(self, nc: Client, js: JetStreamContext) -> None:
        """Subscribe first, then read the latest command per node, so nothing falls in between."""
        for record in await ResourceRecord.find_all().to_list():
            self.remember(record.spec)
        self._subscriptions.append(await nc.subscribe(subjects.RESOURCE_UPSERT, cb=self._on_resource))
        self._subscriptions.append(await nc.subscribe(COMMANDS, cb=self._on_command))
        info = await js.stream_info(STREAM, subjects_filter=COMMANDS)
        for subject in sorted(info.state.subjects or {}):
            stored = await js.get_last_msg(STREAM, subject)
            if stored.data:
                await self._on_data(stored.data)

    async def stop(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            await subscription.unsubscribe()

    async def _on_command(self, msg: Msg) -> None:
        await self._on_data(msg.data)

    async def _on_data(self, data: bytes) -> None:
        try:
            command = ThrottleCommand.model_validate_json(data)
        except ValidationError as error:
            log.warning("ignoring an invalid throttle command: %s", error)
            return
        await self.apply(command)

    async def _on_resource(self, msg: Msg) -> None:
        # An invalid resource is the catalog consumer's to dead-letter, with the reason.
        with contextlib.suppress(ValidationError):
            self.remember(Resource.model_validate_json(msg.data))
