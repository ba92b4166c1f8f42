"""The AsyncAPI document: valid for the official AsyncAPI parser, and exactly what a running engine serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from typer.testing import CliRunner

from engine.cli import app
from engine.control.service import endpoint_metadata
from engine.streams import FEDERATED_SPEC
from engine.streams import STREAMS as STREAM_SPECS
from schemas import export
from schemas.asyncapi import channel_key, document
from schemas.contract import CTL, PEERS, STREAMS
from schemas.queries import Get
from schemas.registry import SCHEMAS, schema_id
from tests.support.polling import eventually

if TYPE_CHECKING:
    from nats.aio.client import Client

    from engine.settings import Settings
    from tests.support.engines import Engines

VALIDATOR = Path(__file__).parent / "support" / "asyncapi"
#: @asyncapi/parser diagnostics: 0 error, 1 warning, 2 information, 3 hint.
ERROR, WARNING = 0, 1


def _validate(path: Path) -> tuple[int, list[dict[str, Any]]]:
    """The official parser's exit code and diagnostics for the document at `path` (`npm ci` on first use)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    needs = "the AsyncAPI validator needs Node.js and npm (see tests/support/asyncapi/package.json)"
    assert node, needs
    assert npm, needs
    if not (VALIDATOR / "node_modules" / "@asyncapi" / "parser").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=VALIDATOR, check=True, timeout=300
        )
    run = subprocess.run(
        [node, str(VALIDATOR / "validate.mjs"), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


@pytest.mark.timeout(360)
def test_the_checked_in_document_is_valid_asyncapi_3() -> None:
    code, diagnostics = _validate(export.ASYNCAPI)
    assert code == 0, diagnostics
    problems = [d for d in diagnostics if d["severity"] in (ERROR, WARNING)]
    assert problems == []
    assert json.loads(export.ASYNCAPI.read_text())["asyncapi"] == "3.0.0"


@pytest.mark.timeout(360)
def test_the_validator_refuses_a_broken_document(tmp_path: Path) -> None:
    broken = document()
    broken["operations"]["ctl.booking.get"]["channel"] = {"$ref": "#/channels/nowhere"}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    code, diagnostics = _validate(path)
    assert code == 1
    assert any(d["severity"] == ERROR and d["path"].startswith("operations.ctl.booking.get") for d in diagnostics)


def test_payloads_are_the_models_schemas() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    request = doc["channels"]["booking.request"]
    message = doc["components"]["messages"][request["messages"]["SubscribeMessage"]["$ref"].rsplit("/", 1)[-1]]
    assert message["payload"] == {"$ref": "#/components/schemas/BookingRequest"}
    assert set(schemas["BookingRequest"]["required"]) == {"id", "workflow", "resources", "start", "end"}
    assert "Nats-Msg-Id" in message["headers"]["properties"]
    # A parameterized subject, and a subject jetflow both receives and sends.
    assert set(doc["channels"]["metric.sample"]["parameters"]) == {"node"}
    assert doc["channels"]["dlq"]["address"] == "jetflow.dlq.{subject}"
    assert set(doc["channels"]["peer.credential.issue"]["parameters"]) == {"peer"}
    assert doc["operations"]["execution.due"]["action"] == "receive"
    assert doc["operations"]["execution.due.send"]["action"] == "send"
    assert doc["operations"]["booking.confirmed"]["action"] == "send"
    assert "booking.confirmed.send" not in doc["operations"]


def test_every_request_reply_endpoint_has_its_reply() -> None:
    doc = document()
    for endpoint in (*CTL, *PEERS):
        key = channel_key(endpoint.address)
        operation = doc["operations"][key]
        assert operation["action"] == "receive"
        reply_channel = doc["channels"][f"{key}.reply"]
        assert reply_channel["address"] is None  # the requester's inbox
        reply = doc["components"]["messages"][f"{key}.reply"]
        if endpoint.reply is not None:
            assert reply["payload"] == {"$ref": f"#/components/schemas/{endpoint.reply.__name__}"}
        assert operation["reply"]["channel"] == {"$ref": f"#/channels/{key}.reply"}
        assert (f"{key}.send" in doc["operations"]) is endpoint.asks
    assert doc["channels"]["ctl.booking.get.reply"]["messages"]["error"] == {"$ref": "#/components/messages/ctl.error"}


def test_jetflow_docs_prints_the_document_as_yaml_and_json() -> None:
    runner = CliRunner()
    as_yaml = runner.invoke(app, ["docs"])
    assert as_yaml.exit_code == 0, as_yaml.output
    assert yaml.safe_load(as_yaml.stdout) == document()
    as_json = runner.invoke(app, ["docs", "--format", "json"])
    assert as_json.exit_code == 0
    assert as_json.stdout == export.ASYNCAPI.read_text()
    assert runner.invoke(app, ["docs", "--format", "xml"]).exit_code == 2


def test_an_endpoint_the_contract_does_not_list_is_refused() -> None:
    assert endpoint_metadata("booking-get", "jetflow.ctl.booking.get", Get)["response_schema"] == schema_id(
        "reply.booking_record"
    )
    with pytest.raises(ValueError, match=r"schemas/contract\.py"):
        endpoint_metadata("booking-peek", "jetflow.ctl.booking.peek", Get)
    with pytest.raises(ValueError, match=r"schemas/contract\.py"):
        endpoint_metadata("booking-get", "jetflow.ctl.booking.get", None)


def _pattern(address: str) -> str:
    """A contract address as the NATS filter that matches it: `{subject}` is several tokens, others one."""
    return re.sub(r"\{\w+\}", "*", address.replace("{subject}", ">"))


async def test_the_contract_is_what_a_running_engine_serves(
    engines: Engines, settings: Settings, client: Client, tmp_path: Path
) -> None:
    # A manifests folder stands in for a cluster, so dispatch (and its consumers) is on.
    runtime = await engines.runtime(settings.replace(manifests_dir=tmp_path / "manifests"))
    js = client.jetstream()
    received = {_pattern(stream.address) for stream in STREAMS if stream.receives}

    async def consumed() -> set[str]:
        found: set[str] = set()
        for spec in (*STREAM_SPECS, FEDERATED_SPEC):  # the federated catalog's stream is declared beside them
            for consumer in await js.consumers_info(spec.name):
                config = consumer.config
                found.update([config.filter_subject] if config.filter_subject else config.filter_subjects or [])
        return found

    # The throttle evaluator creates its consumer when it takes its lease.
    assert await eventually(consumed, lambda found: found == received) == received

    info = json.loads((await client.request("$SRV.INFO.jetflow", b"", timeout=2)).data)
    served = {endpoint["subject"]: endpoint for endpoint in info["endpoints"]}
    assert set(served) == {endpoint.address for endpoint in CTL}
    ids = {schema_id(name) for name in SCHEMAS}
    for endpoint in CTL:
        metadata = served[endpoint.address]["metadata"]
        assert served[endpoint.address]["name"] == endpoint.name
        assert metadata["response_schema"] in ids
        assert metadata["error_schema"] == schema_id("reply.error")
        assert ("request_schema" in metadata) is (endpoint.request is not None)
        if endpoint.request is not None:
            assert metadata["request_schema"] in ids
    booking_get = served["jetflow.ctl.booking.get"]["metadata"]
    assert booking_get["request_schema"] == "urn:jetflow:schema:query.get"
    assert booking_get["response_schema"] == "urn:jetflow:schema:reply.booking_record"

    # Every peer endpoint answers (an empty body is refused by name, never left without a responder).
    peer = runtime.settings.peer.id
    for endpoint in PEERS:
        reply = await client.request(endpoint.address.replace("{peer}", peer), b"{}", timeout=5)
        assert reply.data
