"""The operator commands, as typer apps that engine/cli.py registers beside `up` and `run`.

Each command opens one NATS connection (URL and credentials from the engine's own settings:
JETFLOW_NATS_URL, JETFLOW_NATS_USER, ..., or `--nats-url`), asks `jetflow.ctl` endpoints, prints a table
(or JSON with `--json`) and exits with a code of engine/ops/client.py. Lists follow `next` cursors up to
`--limit` items.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path  # noqa: TC003  (typer reads annotations at run time)
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.ops import output
from engine.ops.client import OK, REFUSED, UNREACHABLE, USAGE, Ctl, Failed
from engine.ops.when import instant

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from nats.aio.msg import Msg

    from engine.ops.output import Column

#: Where `jetflow up` listens by default, when neither --nats-url nor JETFLOW_NATS_URL says otherwise.
DEFAULT_URL = "nats://127.0.0.1:4222"
#: States after which an execution never changes again (`executions watch` ends there).
ENDED = frozenset({"succeeded", "failed", "timed_out", "cancelled", "missed"})

NatsUrl = Annotated[
    str | None,
    typer.Option("--nats-url", help=f"NATS server URL [default: JETFLOW_NATS_URL, else {DEFAULT_URL}]."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]
Timeout = Annotated[float, typer.Option(min=0.1, help="Seconds to wait for each reply.")]
Limit = Annotated[int, typer.Option(min=0, help="Most items to list (pages are followed); 0: all.")]


def session(url: str | None, timeout: float, work: Callable[[Ctl], Awaitable[int | None]]) -> None:
    """Run `work` on a connection made from the settings; a `Failed` ends the command with its code."""
    from engine.settings import InvalidSettings, Settings

    try:
        settings = Settings.read()
    except InvalidSettings as error:
        _exit(USAGE, str(error))
    target = url or settings.nats.url or DEFAULT_URL

    async def main() -> int | None:
        ctl = await Ctl.connect(settings.nats, target, timeout)
        try:
            return await work(ctl)
        finally:
            await ctl.close()

    try:
        code = asyncio.run(main())
    except Failed as failure:
        _exit(failure.code, failure.message)
    except KeyboardInterrupt:
        code = OK
    raise typer.Exit(code or OK)


def _exit(code: int, message: str) -> None:
    print(f"jetflow: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _show(data: Any, as_json: bool, text: Callable[[], str]) -> None:
    typer.echo(output.as_json(data) if as_json else text())


async def _listing(
    ctl: Ctl, family: str, verb: str, body: dict[str, Any], limit: int, as_json: bool, columns: Sequence[Column]
) -> None:
    items = [item async for item in ctl.pages(family, verb, body, limit or None)]
    _show(items, as_json, lambda: output.table(items, columns))


def _when(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return instant(text, datetime.now(UTC)).isoformat()
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


# --- status ------------------------------------------------------------------------------------------


def status(nats_url: NatsUrl = None, as_json: Json = False, timeout: Timeout = 10.0) -> None:
    """Health of the engine, the leader of each lease, and how far behind each consumer is (exit 3 if degraded)."""

    async def work(ctl: Ctl) -> int:
        health = await ctl.ask("health", "")
        _show(health, as_json, lambda: _health_text(health))
        return OK if health.get("status") == "ok" else UNREACHABLE

    session(nats_url, timeout, work)


def _health_text(health: dict[str, Any]) -> str:
    unreachable = ", ".join(health.get("unreachable", [])) or "nothing"
    lines = [
        f"jetflow {health.get('status')}  version {health.get('version')}  peer {health.get('peer')}  "
        f"unreachable: {unreachable}",
        "",
        "LEADERS",
        output.table(
            [{"lease": lease, "holder": holder} for lease, holder in health.get("leaders", {}).items()],
            [("lease", "lease"), ("holder", "holder")],
        ),
        "",
        "CONSUMERS",
        output.table(
            [{"name": name, **info} for name, info in sorted(health.get("consumers", {}).items())],
            [
                ("name", "name"),
                ("stream", "stream"),
                ("lag", "pending"),
                ("unacked", "ack_pending"),
                ("redelivered", "redelivered"),
            ],
        ),
        "",
        "STREAMS",
        output.table(
            [{"name": name, **info} for name, info in sorted(health.get("streams", {}).items()) if name != "error"],
            [("name", "name"), ("messages", "messages"), ("bytes", "bytes"), ("consumers", "consumers")],
        ),
    ]
    return "\n".join(lines)


# --- bookings ----------------------------------------------------------------------------------------

bookings = typer.Typer(no_args_is_help=True, help="Book, list, read and cancel bookings.")

BOOKING_COLUMNS: Sequence[Column] = (
    ("id", "id"),
    ("status", "status"),
    ("workflow", "workflow"),
    ("resources", "resources"),
    ("start", "start"),
    ("end", "end"),
    ("cron", "cron"),
    ("executions", "executions"),
    ("paused", "paused"),
    ("reason", "reason"),
)


@bookings.command("list")
def bookings_list(
    status: Annotated[str | None, typer.Option(help="confirmed, rejected or cancelled.")] = None,
    workflow: Annotated[str | None, typer.Option(help="Only bookings of this workflow.")] = None,
    resource: Annotated[str | None, typer.Option(help="Only bookings holding this resource.")] = None,
    limit: Limit = 100,
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """List bookings by id."""
    body = {"status": status, "workflow": workflow, "resource": resource}

    async def work(ctl: Ctl) -> None:
        await _listing(ctl, "booking", "list", body, limit, as_json, BOOKING_COLUMNS)

    session(nats_url, timeout, work)


@bookings.command("get")
def bookings_get(
    booking: Annotated[str, typer.Argument(help="The booking id.")],
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """Show one booking's record."""

    async def work(ctl: Ctl) -> None:
        record = await ctl.ask("booking", "get", {"id": booking})
        request = record.get("request", {})
        summary = {
            **{key: request.get(key) for key in ("workflow", "resources", "start", "end", "cron", "duration")},
            **{key: record.get(key) for key in ("id", "status", "paused", "execution_count", "decided_at")},
            "reason": record.get("outcome", {}).get("reason"),
            "claimed on peers": "; ".join(
                f"{peer} ({', '.join(names)})" for peer, names in sorted(record.get("peers", {}).items())
            )
            or None,
            "first executions": record.get("executions", [])[:5],
        }
        _show(record, as_json, lambda: output.fields(summary))

    session(nats_url, timeout, work)


@bookings.command("create")
def bookings_create(
    booking: Annotated[str, typer.Option("--id", help="Booking id (the idempotency key).")],
    workflow: Annotated[str, typer.Option(help="Workflow each execution runs.")],
    resource: Annotated[list[str], typer.Option(help="A resource to reserve (repeat for more).")],
    start: Annotated[str, typer.Option(help="Window start: now, +90s, +10m, or ISO 8601.")] = "+1m",
    end: Annotated[str, typer.Option(help="Window end, same forms.")] = "+1h",
    cron: Annotated[str | None, typer.Option(help="Cron of executions in the window (5 or 6 fields).")] = None,
    duration: Annotated[
        float | None,
        typer.Option(help="Seconds each execution holds its resources [cron default: JETFLOW_CRON_DURATION, 300]."),
    ] = None,
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 15.0,
) -> None:
    """Request a booking (jetflow.ctl.booking.request) and print its outcome (exit 1 if rejected)."""
    body = {
        "id": booking,
        "workflow": workflow,
        "resources": resource,
        "start": _when(start),
        "end": _when(end),
        "cron": cron,
        "duration": duration,
    }

    async def work(ctl: Ctl) -> int:
        outcome = await ctl.ask("booking", "request", body)
        _show(outcome, as_json, lambda: _outcome_text(outcome))
        return REFUSED if outcome.get("status") == "rejected" else OK

    session(nats_url, timeout, work)


def _outcome_text(outcome: dict[str, Any]) -> str:
    state = outcome.get("status")
    if state == "confirmed":
        executions = outcome.get("executions", [])
        first = f", first {executions[0]}" if executions else ""
        return f"{outcome.get('booking')} confirmed: {outcome.get('count', len(executions))} execution(s){first}"
    if state == "rejected":
        return f"{outcome.get('booking')} rejected ({outcome.get('code')}): {outcome.get('reason')}"
    if state == "cancelled":
        already = " (already cancelled)" if outcome.get("already") else ""
        return f"{outcome.get('booking')} cancelled{already}: {outcome.get('count', 0)} execution(s)"
    return f"{state}: {outcome.get('detail', '')}"


@bookings.command("cancel")
def bookings_cancel(
    booking: Annotated[str, typer.Argument(help="The booking id.")],
    cancel_id: Annotated[
        str | None, typer.Option("--id", help="Id of the cancel command [default: cancel-<booking>].")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for audit.")] = "",
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 15.0,
) -> None:
    """Cancel a booking: its pending executions are cancelled, its resources released."""

    async def work(ctl: Ctl) -> None:
        body = {"id": cancel_id or f"cancel-{booking}", "booking": booking, "reason": reason}
        outcome = await ctl.ask("booking", "cancel", body)
        _show(outcome, as_json, lambda: _outcome_text(outcome))

    session(nats_url, timeout, work)


# --- executions --------------------------------------------------------------------------------------

executions = typer.Typer(no_args_is_help=True, help="List, read, cancel and watch executions.")

EXECUTION_COLUMNS: Sequence[Column] = (
    ("id", "id"),
    ("state", "state"),
    ("booking", "booking"),
    ("planned", "planned_at"),
    ("window end", "window_end"),
    ("paused", "paused"),
    ("reason", "reason"),
)


@executions.command("list")
def executions_list(
    booking: Annotated[str | None, typer.Option(help="Only this booking's executions.")] = None,
    state: Annotated[str | None, typer.Option(help="Only executions in this state.")] = None,
    resource: Annotated[str | None, typer.Option(help="Only executions holding this resource.")] = None,
    after: Annotated[str | None, typer.Option(help="Planned at or after: now, -1h, ISO 8601.")] = None,
    before: Annotated[str | None, typer.Option(help="Planned before, same forms.")] = None,
    limit: Limit = 100,
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """List executions (stored and still planned) by id."""
    body = {"booking": booking, "state": state, "resource": resource, "after": _when(after), "before": _when(before)}

    async def work(ctl: Ctl) -> None:
        await _listing(ctl, "execution", "list", body, limit, as_json, EXECUTION_COLUMNS)

    session(nats_url, timeout, work)


@executions.command("get")
def executions_get(
    execution: Annotated[str, typer.Argument(help="The execution id.")],
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """Show one execution."""

    async def work(ctl: Ctl) -> None:
        record = await ctl.ask("execution", "get", {"id": execution})
        _show(record, as_json, lambda: output.fields(record))

    session(nats_url, timeout, work)


@executions.command("cancel")
def executions_cancel(
    execution: Annotated[str, typer.Argument(help="The execution id.")],
    reason: Annotated[str | None, typer.Option(help="Why, for audit.")] = None,
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """Cancel one execution (its booking's others go on); its workflow is deleted if it runs."""

    async def work(ctl: Ctl) -> None:
        reply = await ctl.ask("execution", "cancel", {"execution": execution, "reason": reason})
        already = " (already cancelled)" if reply.get("already") else f" (was {reply.get('previous')})"
        _show(reply, as_json, lambda: f"{execution} cancelled{already}")

    session(nats_url, timeout, work)


@executions.command("watch")
def executions_watch(
    target: Annotated[str, typer.Argument(help="An execution id, or a booking id (all its executions).")],
    seconds: Annotated[
        float | None, typer.Option("--for", min=0.1, help="Stop after this many seconds [default: until it ends].")
    ] = None,
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """Print the lifecycle events of an execution (or a booking) as they happen; ends when the execution does."""

    async def work(ctl: Ctl) -> None:
        await _watch(ctl, target, seconds, as_json)

    session(nats_url, timeout, work)


async def _watch(ctl: Ctl, target: str, seconds: float | None, as_json: bool) -> None:
    events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def on_event(msg: Msg) -> None:
        try:
            event = json.loads(msg.data)
        except ValueError:
            return
        if isinstance(event, dict):
            await events.put((msg.subject, event))

    # Subscribed before the current state is read: no transition falls between the two.
    subscriptions = [
        await ctl.nc.subscribe(subject, cb=on_event) for subject in ("jetflow.execution.*", "jetflow.booking.*")
    ]
    try:
        try:
            current = await ctl.ask("execution", "get", {"id": target})
            kind = "execution"
        except Failed as failure:
            if failure.code != REFUSED:
                raise
            current = await ctl.ask("booking", "get", {"id": target})
            kind = "booking"
        state = current.get("state") if kind == "execution" else current.get("status")
        since = current.get("updated_at") or current.get("decided_at")
        _print_event(f"{kind}.{state}", {**current, kind: target, "at": since}, as_json)
        if kind == "execution" and state in ENDED:
            return
        async with asyncio.timeout(seconds):
            while True:
                subject, event = await events.get()
                if not _concerns(event, target, kind):
                    continue
                _print_event(subject.removeprefix("jetflow."), event, as_json)
                if kind == "execution" and subject.rsplit(".", 1)[-1] in ENDED:
                    return
    except TimeoutError:
        return
    finally:
        for subscription in subscriptions:
            await subscription.unsubscribe()


def _concerns(event: dict[str, Any], target: str, kind: str) -> bool:
    if kind == "execution":
        return event.get("execution") == target
    return target in (event.get("booking"), event.get("id"))


def _print_event(what: str, event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"event": what, **event}, default=str))
        return
    name = event.get("execution") or event.get("booking") or event.get("id")
    detail = event.get("reason") or event.get("detail") or ""
    when = output.cell(event.get("at") or datetime.now(UTC).isoformat())
    typer.echo(f"{when}  {what:<22} {name}  {detail}".rstrip())


# --- schedule ----------------------------------------------------------------------------------------

schedule = typer.Typer(no_args_is_help=True, help="Pause and resume bookings; what fires next.")


def _pause(booking: str, verb: str, nats_url: str | None, as_json: bool, timeout: float) -> None:
    async def work(ctl: Ctl) -> None:
        reply = await ctl.ask("schedule", verb, {"booking": booking})
        text = (
            f"{booking} {'paused' if reply.get('paused') else 'resumed'}: {reply.get('pending')} execution(s) pending"
        )
        _show(reply, as_json, lambda: text)

    session(nats_url, timeout, work)


@schedule.command("pause")
def schedule_pause(
    booking: Annotated[str, typer.Argument(help="The booking id.")],
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """Pause a booking: none of its executions fires until it is resumed."""
    _pause(booking, "pause", nats_url, as_json, timeout)


@schedule.command("resume")
def schedule_resume(
    booking: Annotated[str, typer.Argument(help="The booking id.")],
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """Resume a paused booking (late executions follow the catch-up policy)."""
    _pause(booking, "resume", nats_url, as_json, timeout)


@schedule.command("upcoming")
def schedule_upcoming(
    booking: Annotated[str | None, typer.Option(help="Only this booking's executions.")] = None,
    limit: Limit = 20,
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """The executions still to fire, by fire time."""

    async def work(ctl: Ctl) -> None:
        await _listing(ctl, "schedule", "upcoming", {"booking": booking}, limit, as_json, EXECUTION_COLUMNS)

    session(nats_url, timeout, work)


# --- throttle ----------------------------------------------------------------------------------------

throttle = typer.Typer(no_args_is_help=True, help="Node throttling.")


@throttle.command("status")
def throttle_status(nats_url: NatsUrl = None, as_json: Json = False, timeout: Timeout = 10.0) -> None:
    """Each node's throttle level and the reading behind it."""

    async def work(ctl: Ctl) -> None:
        reply = await ctl.ask("throttle", "status")
        columns: Sequence[Column] = (
            ("node", "node"),
            ("level", "level"),
            ("since", "since"),
            ("metric", "metric"),
            ("value", "value"),
            ("threshold", "threshold"),
            ("last sample", "last_sample_at"),
            ("reason", "reason"),
        )
        head = f"evaluator: {reply.get('evaluator')}  (answered by {reply.get('instance')})"
        _show(reply, as_json, lambda: head + "\n" + output.table(reply.get("nodes", []), columns))

    session(nats_url, timeout, work)


# --- dlq ---------------------------------------------------------------------------------------------

dlq = typer.Typer(no_args_is_help=True, help="Dead letters: list, show, replay.")

DLQ_COLUMNS: Sequence[Column] = (
    ("seq", "seq"),
    ("at", "at"),
    ("subject", "subject"),
    ("code", "code"),
    ("size", "size"),
    ("reason", "reason"),
)


@dlq.command("list")
def dlq_list(
    subject: Annotated[
        str | None, typer.Option(help="Only dead letters of this original subject (wildcards: jetflow.booking.>).")
    ] = None,
    limit: Limit = 100,
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """Dead letters in the order they were recorded (SEQ is what `show` and `replay` take)."""

    async def work(ctl: Ctl) -> None:
        await _listing(ctl, "dlq", "list", {"subject": subject}, limit, as_json, DLQ_COLUMNS)

    session(nats_url, timeout, work)


@dlq.command("show")
def dlq_show(
    seq: Annotated[int, typer.Argument(min=1, help="The dead letter's SEQ (from `jetflow dlq list`).")],
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """One dead letter whole: the reason, the headers and the original body."""

    async def work(ctl: Ctl) -> None:
        letter = await ctl.ask("dlq", "get", {"seq": seq})
        _show(letter, as_json, lambda: _letter_text(letter))

    session(nats_url, timeout, work)


def _letter_text(letter: dict[str, Any]) -> str:
    body = base64.b64decode(letter.get("data", ""))
    shown = {key: value for key, value in letter.items() if key not in ("data", "headers", "error")}
    lines = [output.fields(shown), "", "headers:"]
    lines += [f"  {name}: {value}" for name, value in letter.get("headers", {}).items()] or ["  -"]
    if letter.get("error") and letter.get("error") != letter.get("reason"):
        lines += ["", "error:", f"  {letter['error']}"]
    text = body.decode("utf-8", errors="replace")
    lines += ["", "body" + (" (truncated)" if letter.get("truncated") else "") + ":", text]
    return "\n".join(lines)


@dlq.command("replay")
def dlq_replay(
    seq: Annotated[int, typer.Argument(min=1, help="The dead letter's SEQ (from `jetflow dlq list`).")],
    new_id: Annotated[
        bool, typer.Option("--new-id", help="Send it with a new Nats-Msg-Id (else JetStream may drop it).")
    ] = False,
    msg_id: Annotated[str | None, typer.Option(help="The new Nats-Msg-Id (implies --new-id).")] = None,
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """Publish the original message again, bytes and headers as they were, on its original subject.

    Exit 1 when JetStream dropped it as a duplicate of the original (replay with --new-id).
    """

    async def work(ctl: Ctl) -> int:
        reply = await ctl.ask("dlq", "replay", {"seq": seq, "new_id": new_id, "msg_id": msg_id})
        if reply.get("duplicate"):
            text = f"not replayed: {reply.get('detail')}"
        else:
            text = f"replayed dead letter {seq} on {reply['subject']} as {reply['stream']} #{reply['sequence']}"
        _show(reply, as_json, lambda: text)
        return REFUSED if reply.get("duplicate") else OK

    session(nats_url, timeout, work)


# --- publishing --------------------------------------------------------------------------------------


def publish(
    subject: Annotated[str, typer.Argument(help="A stream subject, e.g. jetflow.resource.upsert.")],
    data: Annotated[str, typer.Argument(help="The JSON body; - reads it from stdin.")],
    msg_id: Annotated[str | None, typer.Option("--id", help="Nats-Msg-Id [default: the body's id].")] = None,
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """Publish one message durably (as another system would) and print where JetStream stored it."""
    body = (sys.stdin.read() if data == "-" else data).encode()

    async def work(ctl: Ctl) -> None:
        ack = await _publish(ctl, subject, body, msg_id)
        _show(
            ack, as_json, lambda: f"{subject}: {ack['stream']} #{ack['sequence']}" + (" (duplicate)" * ack["duplicate"])
        )

    session(nats_url, timeout, work)


def apply(
    file: Annotated[Path, typer.Argument(help='A catalog file: {"resources": [...], "workflows": [...]}.')],
    nats_url: NatsUrl = None,
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """Register (or update) the resources and workflows of a catalog file."""
    try:
        catalog = json.loads(file.read_text())
    except FileNotFoundError:
        _exit(USAGE, f"{file}: no such file")
    except ValueError as error:
        _exit(USAGE, f"{file} is not JSON: {error}")
    if not isinstance(catalog, dict) or not set(catalog) <= {"resources", "workflows"}:
        _exit(USAGE, f'{file}: expected {{"resources": [...], "workflows": [...]}}')

    async def work(ctl: Ctl) -> None:
        done = []
        for key, subject in (("resources", "jetflow.resource.upsert"), ("workflows", "jetflow.workflow.upsert")):
            for item in catalog.get(key, []):
                body = json.dumps(item).encode()
                # Same content, same id: a repeated apply is dropped; a changed item is a new message.
                digest = hashlib.sha256(body).hexdigest()[:16]
                ack = await _publish(ctl, subject, body, f"{item.get('id', 'item')}:{digest}")
                done.append({"subject": subject, "id": item.get("id"), **ack})
        _show(
            done, as_json, lambda: output.table(done, [("subject", "subject"), ("id", "id"), ("sequence", "sequence")])
        )

    session(nats_url, timeout, work)


async def _publish(ctl: Ctl, subject: str, body: bytes, msg_id: str | None) -> dict[str, Any]:
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout

    if msg_id is None:
        try:
            claimed = json.loads(body).get("id")
        except (ValueError, AttributeError):
            claimed = None
        msg_id = claimed if isinstance(claimed, str) else None
    try:
        ack = await ctl.nc.jetstream().publish(
            subject, body, headers={"Nats-Msg-Id": msg_id} if msg_id else None, timeout=ctl.timeout
        )
    except NoRespondersError:
        raise Failed(REFUSED, f"no stream captures {subject}") from None
    except (TimeoutError, NatsTimeout):
        raise Failed(UNREACHABLE, f"JetStream did not acknowledge {subject} within {ctl.timeout:g}s") from None
    return {"stream": ack.stream, "sequence": ack.seq, "duplicate": bool(ack.duplicate)}


def register(app: typer.Typer) -> None:
    """Add the operator commands to the `jetflow` command."""
    app.command("status")(status)
    app.add_typer(bookings, name="bookings")
    app.add_typer(executions, name="executions")
    app.add_typer(schedule, name="schedule")
    app.add_typer(throttle, name="throttle")
    app.add_typer(dlq, name="dlq")
    app.command("publish")(publish)
    app.command("apply")(apply)
