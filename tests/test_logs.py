"""JSON logs on request: one object per line, with the trace ids of the active span."""

from __future__ import annotations

import io
import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from engine.logs import handler
from engine.settings import InvalidSettings, Settings
from tests.support.polling import eventually
from tests.support.process import EngineProcess

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client


def _logged(log_format: str, emit: Any) -> list[str]:
    stream = io.StringIO()
    logger = logging.getLogger(f"jetflow.test.{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler(log_format, stream))
    emit(logger)
    return stream.getvalue().splitlines()


def test_json_lines_carry_time_level_logger_and_message() -> None:
    (line,) = _logged("json", lambda log: log.warning("dead-lettered %s", "jetflow.x", extra={"subject": "jetflow.x"}))
    record = json.loads(line)
    assert record["level"] == "WARNING"
    assert record["logger"].startswith("jetflow.test.")
    assert record["message"] == "dead-lettered jetflow.x"
    assert record["subject"] == "jetflow.x"
    assert record["time"].endswith("+00:00")
    assert "trace_id" not in record  # no span is active


def test_json_lines_carry_the_active_spans_trace_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        (line,) = _logged("json", lambda log: log.info("inside"))
        context = span.get_span_context()
    record = json.loads(line)
    assert record["trace_id"] == format(context.trace_id, "032x")
    assert record["span_id"] == format(context.span_id, "016x")


def test_an_exception_stays_in_its_line() -> None:
    def fail(log: logging.Logger) -> None:
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("it failed")

    (line,) = _logged("json", fail)
    assert "ValueError: boom" in json.loads(line)["exc_info"]


def test_text_stays_the_default() -> None:
    (line,) = _logged("text", lambda log: log.info("hello"))
    assert line.endswith(": hello")
    assert Settings.load(_env_file=None).telemetry.log_format == "text"


def test_the_variable_chooses_json_and_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JETFLOW_LOG_FORMAT", "json")
    assert Settings.read(_env_file=None).telemetry.log_format == "json"
    monkeypatch.setenv("JETFLOW_LOG_FORMAT", "xml")
    with pytest.raises(InvalidSettings, match="JETFLOW_LOG_FORMAT"):
        Settings.read(_env_file=None)


@pytest.mark.timeout(90)
async def test_a_running_engine_logs_json_with_the_messages_trace(
    nats_url: str, mongo_url: str, client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "engine.log"
    engine = EngineProcess(nats_url, mongo_url, f"t{uuid.uuid4().hex[:12]}", log, log_format="json")
    engine.start()
    try:

        def lines() -> list[dict[str, Any]]:
            text = log.read_text() if log.exists() else ""
            return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

        assert await eventually(lines, lambda found: any("running" in r["message"] for r in found), timeout=40)
        trace_id = uuid.uuid4().hex
        traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
        js = client.jetstream()
        await js.publish("jetflow.resource.upsert", b"{broken", headers={"traceparent": traceparent})
        found = await eventually(lines, lambda found: any("dead-lettered" in r["message"] for r in found), timeout=20)
        (warning,) = [r for r in found if "dead-lettered" in r["message"]]
        assert warning["level"] == "WARNING"
        assert warning["trace_id"] == trace_id
        assert all(set(r) >= {"time", "level", "logger", "message"} for r in found)
        text = log.read_text()
        assert all(line.startswith("{") for line in text.splitlines() if line.strip()), text[:2000]
    finally:
        engine.stop()
