"""jetflow's AsyncAPI 3.0.0 document, generated from `schemas.contract` with FastStream's generator.

Every stream subject, `jetflow.ctl` endpoint and peer endpoint of the contract is declared on a FastStream
broker that is never connected, a subscriber for what jetflow receives (its handler typed with the payload
model, which is how FastStream learns the payload), a publisher for what it only sends; FastStream then
writes the channels, operations, messages and payload schemas. Three things its AsyncAPI 3 generator
(faststream 0.7) cannot say are added after it, from the same contract:

* request/reply: each endpoint's operation gets its `reply` (a reply channel without an address: the
  requester's inbox), with the reply's schema and the error reply;
* a subject both received and sent gets its second operation (FastStream keeps one endpoint per channel);
* channel parameters (`{node}`, `{subject}`, `{peer}`) and the headers of stream messages.

`python -m schemas.export` writes it to schemas/asyncapi.json with the JSON Schemas (and `--check` says
when it is stale); `jetflow docs` prints it.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from schemas import replies
from schemas.contract import CTL, PARAMETERS, PEERS, STREAMS

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from pydantic import BaseModel

    from schemas.contract import Endpoint

#: The server of the document: where `jetflow up` listens by default.
SERVER_URL = "nats://127.0.0.1:4222"
_PARAMETER = re.compile(r"\{(\w+)\}")
_SCHEMAS = "#/components/schemas/"

#: What jetflow sets on every message it publishes to a stream (other publishers set `Nats-Msg-Id`).
STREAM_HEADERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "Nats-Msg-Id": {
            "type": "string",
            "description": "The message's `id`: JetStream drops a second message with the same id within the "
            "stream's duplicate window (JETFLOW_DUPLICATE_WINDOW).",
        },
        "Jetflow-Causation-Id": {
            "type": "string",
            "description": "Set by jetflow: the id of the command or event this one answers.",
        },
        "Jetflow-Schema": {"type": "string", "description": "Set by jetflow: the payload's model and version."},
        "traceparent": {"type": "string", "description": "W3C trace context: the message's trace continues."},
    },
}


def _version() -> str:
    try:
        return version("jetflow")
    except PackageNotFoundError:
        return "0.0.0+source"


def channel_key(address: str) -> str:
    """`jetflow.metric.sample.{node}` → `metric.sample`: the address without its prefix and parameters."""
    tokens = [token for token in address.split(".")[1:] if not _PARAMETER.fullmatch(token)]
    return ".".join(tokens)


def _handler(model: type[BaseModel] | None) -> Callable[..., Coroutine[Any, Any, None]]:
    """A handler FastStream reads the payload from: one parameter typed with `model` (none: no body).
    It is never called: the broker is never started."""
    if model is None:

        async def empty() -> None:
            return None

        return empty

    async def handle(body: Any) -> None:
        return None

    handle.__annotations__ = {"body": model, "return": None}
    return handle


def broker() -> NatsBroker:
    """A never-connected broker with one FastStream endpoint per channel of the contract."""
    docs = NatsBroker(SERVER_URL, description="`jetflow up`'s embedded nats-server (JetStream enabled).")
    for stream in STREAMS:
        key = channel_key(stream.address)
        if stream.receives:
            docs.subscriber(stream.address, title=key, description=stream.summary)(_handler(stream.payload))
        else:
            docs.publisher(stream.address, schema=stream.payload, title=key, description=stream.summary)
    for endpoint in (*CTL, *PEERS):
        docs.subscriber(endpoint.address, title=channel_key(endpoint.address), description=endpoint.summary)(
            _handler(endpoint.request)
        )
    return docs


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document, as a plain dict (JSON types only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overwritten channel would be a channel lost from the document
        specification = AsyncAPI(
            broker(),
            title="jetflow",
            version=_version(),
            description="Event-driven workflow engine on NATS JetStream. Stream subjects are published durably "
            "(JetStream acknowledges them; outcomes are events); `jetflow.ctl.>` and `jetflow.peer.<peer>.>` are "
            "core NATS request/reply, in no stream.",
            schema_version="3.0.0",
        ).to_specification()
    doc: dict[str, Any] = json.loads(specification.to_json())
    _parameters(doc)
    _stream_messages(doc)
    for endpoint in CTL:
        _reply(doc, endpoint, error=replies.CtlError)
    for endpoint in PEERS:
        _reply(doc, endpoint, error=None)
    # FastStream collects endpoints in hash order: sorted, the document is the same on every run.
    for part in (doc, doc["components"]):
        for section in ("channels", "operations", "messages", "schemas"):
            if section in part:
                part[section] = dict(sorted(part[section].items()))
    return doc


def _parameters(doc: dict[str, Any]) -> None:
    for channel in doc["channels"].values():
        names = _PARAMETER.findall(channel["address"])
        if names:
            channel["parameters"] = {name: {"description": PARAMETERS[name]} for name in names}


def _stream_messages(doc: dict[str, Any]) -> None:
    """Headers on stream messages; a second operation for a subject jetflow both receives and sends."""
    for stream in STREAMS:
        key = channel_key(stream.address)
        channel = doc["channels"][key]
        for ref in channel["messages"].values():
            message = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[-1]]
            message["headers"] = copy.deepcopy(STREAM_HEADERS)
            if not stream.sends:
                message.pop("correlationId", None)  # set by jetflow's own publishes only
        if stream.receives and stream.sends:
            received = doc["operations"][key]
            doc["operations"][f"{key}.send"] = {**copy.deepcopy(received), "action": "send"}


def _reply(doc: dict[str, Any], endpoint: Endpoint, *, error: type[BaseModel] | None) -> None:
    """The reply channel (no address: the requester's inbox) and the `reply` of the endpoint's operations."""
    key = channel_key(endpoint.address)
    components = doc["components"]
    for ref in doc["channels"][key]["messages"].values():
        components["messages"][ref["$ref"].rsplit("/", 1)[-1]].pop("correlationId", None)
    messages: dict[str, Any] = {}
    if endpoint.reply is None:
        components["messages"][f"{key}.reply"] = {
            "title": f"{key}:Reply",
            "contentType": "text/plain",
            "payload": {"type": "string", "description": endpoint.text_reply},
        }
    else:
        components["messages"][f"{key}.reply"] = {"title": f"{key}:Reply", "payload": _schema(doc, endpoint.reply)}
    messages["reply"] = {"$ref": f"#/components/messages/{key}.reply"}
    if error is not None:
        components["messages"].setdefault("ctl.error", {"title": "ctl:Error", "payload": _schema(doc, error)})
        messages["error"] = {"$ref": "#/components/messages/ctl.error"}
    doc["channels"][f"{key}.reply"] = {
        "address": None,
        "description": f"The requester's inbox: the reply to {endpoint.address}.",
        "messages": messages,
    }
    reply = {
        "channel": {"$ref": f"#/channels/{key}.reply"},
        "messages": [{"$ref": f"#/channels/{key}.reply/messages/{name}"} for name in messages],
    }
    operation = doc["operations"][key]
    operation["reply"] = reply
    if endpoint.asks:
        doc["operations"][f"{key}.send"] = {**copy.deepcopy(operation), "action": "send"}


def _schema(doc: dict[str, Any], model: type[BaseModel]) -> dict[str, str]:
    """A `$ref` to `model`'s JSON Schema among the components, adding it and its definitions."""
    schema = _asyncapi_schema(model.model_json_schema(ref_template=_SCHEMAS + "{model}"))
    schemas = doc["components"]["schemas"]
    for name, definition in {**schema.pop("$defs", {}), model.__name__: schema}.items():
        known = schemas.setdefault(name, definition)
        if known != definition:
            raise ValueError(f"two different schemas named {name} in the AsyncAPI document")
    return {"$ref": _SCHEMAS + model.__name__}


def _asyncapi_schema(schema: Any) -> Any:
    """pydantic writes OpenAPI's `discriminator` object; an AsyncAPI Schema's is the property's name."""
    if isinstance(schema, list):
        return [_asyncapi_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _asyncapi_schema(value) for key, value in schema.items()}
    if isinstance(converted.get("discriminator"), dict):
        converted["discriminator"] = converted["discriminator"]["propertyName"]
    return converted


def rendered() -> str:
    """The document as the checked-in schemas/asyncapi.json holds it."""
    return json.dumps(document(), indent=2) + "\n"
