"""The operator CLI (engine/ops/): the session of issue 16 against a running engine, exit codes, one-line errors.

Commands run through typer's CliRunner in a thread (each opens its own connection and event loop, as
the real command does); `executions watch` runs as a real subprocess while the test goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.ops import client as ops_client
from engine.ops.output import table
from engine.ops.when import instant
from tests.support.streams import request_json, wait_for_messages

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client
    from typer.testing import Result

    from engine.runtime import Runtime

DLQ = "JETFLOW_DLQ"
CATALOG = {
    "resources": [{"id": "node-a", "kind": "compute", "capacity": 10}],
    "workflows": [{"id": "alpr", "steps": [{"name": "detect", "image": "alpine:3.20", "resource": "node-a"}]}],
}
#: No .env of the working folder, no JETFLOW_NATS_URL of the machine: only what the test passes.
CLEAN_ENV = {"JETFLOW_NATS_URL": None, "JETFLOW_LEASE_TTL": None, "JETFLOW_THROTTLE_GROUPS": None}


def jetflow(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={**CLEAN_ENV, **(env or {})})


async def cli(nats_url: str, *args: str) -> Result:
    return await asyncio.to_thread(jetflow, *args, "--nats-url", nats_url)


async def cli_json(nats_url: str, *args: str) -> Any:
    result = await cli(nats_url, *args, "--json")
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout)


async def eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


# --- pure parts ---------------------------------------------------------------------------------------


def test_instants_relative_and_absolute() -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert instant("now", now) == now
    assert instant("+90s", now) == now + timedelta(seconds=90)
    assert instant("+10m", now) == now + timedelta(minutes=10)
    assert instant("-1h", now) == now - timedelta(hours=1)
    assert instant("+2d", now) == now + timedelta(days=2)
    assert instant("2027-01-01T00:00:00Z", now) == datetime(2027, 1, 1, tzinfo=UTC)
    for bad in ("tomorrow", "2027-01-01T00:00:00", "+5y"):
        with pytest.raises(ValueError, match="is not an instant"):
            instant(bad, now)


def test_tables_align_and_shorten() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "bk-1", "on": True, "why": "x" * 100},
        {"id": "bk-22", "on": None, "why": ["a", "b"]},
    ]
    text = table(rows, [("id", "id"), ("on", "on"), ("why", "why")])
    lines = text.splitlines()
    assert lines[0].split() == ["ID", "ON", "WHY"]
    assert lines[1].startswith("bk-1   yes")
    assert lines[1].endswith("…")
    assert lines[2].split() == ["bk-22", "-", "a,b"]
    assert table([], [("id", "id")]) == "(none)"


# --- the session ----------------------------------------------------------------------------------------


async def test_the_operator_session_of_issue_16(
    engine: Runtime, client: Client, nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(CATALOG))
    applied = await cli(nats_url, "apply", str(catalog))
    assert applied.exit_code == 0, applied.output
    await eventually(lambda: _known(client, "node-a"))

    status = await cli(nats_url, "status")
    assert status.exit_code == 0, status.output
    assert "jetflow ok" in status.stdout
    assert "scheduler" in status.stdout  # the leader of each lease
    assert "jetflow-booking-request" in status.stdout  # consumers and their lag

    # Book: one execution due in a few seconds, and a cron booking to pause.
    soon = await cli(nats_url, "bookings", "create", "--id", "bk-soon", "--workflow", "alpr", "--resource", "node-a",
                     "--start", "+5s", "--end", "+10m")  # fmt: skip
    assert soon.exit_code == 0, soon.output
    assert "bk-soon confirmed: 1 execution(s)" in soon.stdout
    cron = await cli(nats_url, "bookings", "create", "--id", "bk-cron", "--workflow", "alpr", "--resource", "node-a",
                     "--start", "+1h", "--end", "+2h", "--cron", "*/10 * * * *", "--duration", "60")  # fmt: skip
    assert cron.exit_code == 0, cron.output

    # List, following `next` cursors: pages of 1 item here.
    monkeypatch.setattr(ops_client, "PAGE", 1)
    listed = await cli_json(nats_url, "bookings", "list", "--limit", "0")
    assert [item["id"] for item in listed] == ["bk-cron", "bk-soon"]
    upcoming = await cli_json(nats_url, "schedule", "upcoming", "--booking", "bk-cron", "--limit", "3")
    assert len(upcoming) == 3
    monkeypatch.setattr(ops_client, "PAGE", 500)
    [execution] = await cli_json(nats_url, "executions", "list", "--booking", "bk-soon")
    assert execution["state"] == "scheduled"

    # Watch it become due, from a real `jetflow` process.
    watch = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "executions", "watch", execution["id"], "--for", "30", "--nats-url", nats_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert watch.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not any("execution.due" in line for line in seen):
                line = (await watch.stdout.readline()).decode()
                assert line, f"watch ended early: {seen} {(await watch.communicate())[1]!r}"
                seen.append(line)
    finally:
        with contextlib.suppress(ProcessLookupError):
            watch.terminate()
        await watch.wait()
    # Its state when the watch began (scheduled, or due already on a slow machine), then each event.
    assert seen[0].split()[1] in ("execution.scheduled", "execution.due")
    assert execution["id"] in seen[0]
    assert any(execution["id"] in line and "execution.due" in line for line in seen)
    got = await cli_json(nats_url, "executions", "get", execution["id"])
    assert got["state"] == "due"

    # Pause and resume.
    paused = await cli(nats_url, "schedule", "pause", "bk-cron")
    assert (paused.exit_code, "bk-cron paused" in paused.stdout) == (0, True), paused.output
    assert all(item["paused"] for item in await cli_json(nats_url, "schedule", "upcoming", "--booking", "bk-cron"))
    resumed = await cli(nats_url, "schedule", "resume", "bk-cron")
    assert resumed.exit_code == 0, resumed.output
    assert not any(item["paused"] for item in await cli_json(nats_url, "schedule", "upcoming", "--booking", "bk-cron"))

    # Poison a message: a cancel that arrives before its booking exists.
    js = client.jetstream()
    poison = b'{"id": "cancel-early", "booking": "bk-late"}'
    await js.publish("jetflow.booking.cancel", poison, headers={"Nats-Msg-Id": "cancel-early"})
    await wait_for_messages(client, DLQ, "jetflow.dlq.jetflow.booking.cancel", 1)
    [letter] = await cli_json(nats_url, "dlq", "list")
    assert (letter["subject"], letter["reason"]) == ("jetflow.booking.cancel", "unknown booking 'bk-late'")
    shown = await cli(nats_url, "dlq", "show", str(letter["seq"]))
    assert poison.decode() in shown.stdout
    assert "Nats-Msg-Id: cancel-early" in shown.stdout

    # Fix the cause (the booking now exists), then replay: with the original id JetStream drops it as a
    # duplicate (exit 1, and says to use --new-id); with a new id it is processed.
    late = await cli(nats_url, "bookings", "create", "--id", "bk-late", "--workflow", "alpr", "--resource", "node-a",
                     "--start", "+3h", "--end", "+4h")  # fmt: skip
    assert late.exit_code == 0, late.output
    dropped = await cli(nats_url, "dlq", "replay", str(letter["seq"]))
    assert dropped.exit_code == 1, dropped.output
    assert "new id" in dropped.stdout
    replayed = await cli_json(nats_url, "dlq", "replay", str(letter["seq"]), "--new-id")
    assert (replayed["subject"], replayed["duplicate"]) == ("jetflow.booking.cancel", False)
    assert replayed["msg_id"].startswith("cancel-early:replay-")

    async def cancelled() -> bool:
        record = await request_json(client, "jetflow.ctl.booking.get", {"id": "bk-late"})
        return record.get("status") == "cancelled" and "cancel-early" in record.get("cancellations", {})

    assert await eventually(cancelled)
    # The replayed bytes are the original ones, on the original subject.
    copies = await wait_for_messages(client, "JETFLOW_BOOKINGS", "jetflow.booking.cancel", 2)
    assert [body for _, body in copies] == [json.loads(poison)] * 2

    # Cancel one execution of the cron booking; its others go on.
    first = upcoming[0]["id"]
    one = await cli(nats_url, "executions", "cancel", first)
    assert (one.exit_code, f"{first} cancelled (was scheduled)" in one.stdout) == (0, True), one.output
    assert (await cli_json(nats_url, "executions", "get", first))["state"] == "cancelled"
    assert (await cli_json(nats_url, "bookings", "get", "bk-cron"))["status"] == "confirmed"


async def _known(client: Client, resource: str) -> bool:
    return "id" in await request_json(client, "jetflow.ctl.resource.get", {"id": resource})


# --- exit codes and one-line errors ---------------------------------------------------------------------


async def test_exit_codes_mean_something(engine: Runtime, nats_url: str) -> None:
    unknown = await cli(nats_url, "executions", "get", "nope")
    assert unknown.exit_code == ops_client.REFUSED
    assert unknown.stderr.strip() == "jetflow: jetflow.ctl.execution.get: unknown execution 'nope'"
    usage = await cli(nats_url, "dlq", "show", "first")
    assert usage.exit_code == ops_client.USAGE
    when = await cli(nats_url, "executions", "list", "--after", "tomorrow")
    assert when.exit_code == ops_client.USAGE
    assert "is not an instant" in when.output
    cancel = await cli(nats_url, "bookings", "cancel", "bk-none")
    assert (cancel.exit_code, "unknown booking 'bk-none'" in cancel.stderr) == (ops_client.REFUSED, True)
    version = jetflow("--version")
    assert (version.exit_code, version.stdout.startswith("jetflow ")) == (0, True)


def test_an_unreachable_nats_says_refused_in_one_line() -> None:
    started = datetime.now(UTC)
    for args in (("status",), ("dlq", "list"), ("agent", "--node", "n1")):
        result = jetflow(*args, "--nats-url", "nats://127.0.0.1:1")
        assert result.exit_code == ops_client.UNREACHABLE, (args, result.output)
        assert result.stderr == "jetflow: cannot reach NATS at nats://127.0.0.1:1: connection refused\n", args
    assert datetime.now(UTC) - started < timedelta(seconds=5)


def test_jetflow_run_against_an_unreachable_nats_says_refused(mongo_url: str) -> None:
    result = jetflow("run", env={"JETFLOW_NATS_URL": "nats://127.0.0.1:1", "JETFLOW_MONGO_URL": mongo_url})
    assert result.exit_code == ops_client.UNREACHABLE
    assert result.stderr.strip().endswith("cannot reach NATS at nats://127.0.0.1:1: connection refused")


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"JETFLOW_LEASE_TTL": "abc"}, ("status",), "jetflow: JETFLOW_LEASE_TTL: Input should be a valid number"),
        ({"JETFLOW_LEASE_TTL": "0.5"}, ("up",), "jetflow: JETFLOW_LEASE_TTL: Input should be greater than or equal"),
        (
            {"JETFLOW_THROTTLE_GROUPS": '{"a": '},
            ("status",),
            "jetflow: JETFLOW_THROTTLE_GROUPS is not valid JSON: Expecting value at line 1 column 7 (character 6)",
        ),
        ({}, ("render", "missing.json"), "jetflow: missing.json: no such file"),
    ],
)
def test_bad_settings_and_files_say_so_in_one_line(
    env: dict[str, str | None], args: tuple[str, ...], expected: str
) -> None:
    result = jetflow(*args, env=env)
    assert result.exit_code in (ops_client.USAGE, ops_client.UNREACHABLE), result.output
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback


async def test_a_bad_mongo_url_says_so_in_one_line(nats_url: str) -> None:
    env = {**os.environ, "JETFLOW_NATS_URL": nats_url, "JETFLOW_MONGO_URL": "foo://bar"}
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(done.communicate(), 30)
    assert done.returncode == ops_client.UNREACHABLE
    assert stderr.decode().startswith("jetflow: cannot use MongoDB URL foo://bar: Invalid URI scheme"), stderr
    assert stderr.count(b"\n") == 1


def test_a_subprocess_prints_no_traceback() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "engine", "status", "--nats-url", "nats://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == ops_client.UNREACHABLE
    assert done.stderr == "jetflow: cannot reach NATS at nats://127.0.0.1:1: connection refused\n"
