"""Sends the bad-input corpus to a running jetflow over NATS only, as another system would, and judges
every answer: the pytest run and the chaos suite's `bad-input` scenario both call `drive`.

After each case it publishes a valid booking, so bad input is interleaved with traffic that must still be
confirmed. Stream cases are found again by where JetStream stored them (their dead letter names the
original stream and sequence), their outcome events by the command id they name; request/reply cases are
judged on their reply.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bench.common import upsert_catalog
from schemas import subjects
from schemas.contract import ctl_endpoint
from schemas.peer import PeerReply
from schemas.replies import CtlError
from tests.corpus.bad_inputs import RESOURCES, WORKFLOWS, DeadLetter, Outcome, Reply, seeds, valid
from tests.support.streams import stream_messages

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from tests.corpus.bad_inputs import Case

DLQ = "JETFLOW_DLQ"
#: Where the outcome events of commands are, by stream.
OUTCOME_STREAMS = {
    "JETFLOW_BOOKINGS": [subjects.BOOKING_CONFIRMED, subjects.BOOKING_REJECTED, subjects.BOOKING_CANCELLED],
    "JETFLOW_CREDENTIALS": [subjects.CREDENTIAL_ISSUED, subjects.CREDENTIAL_FAILED],
}


@dataclass(frozen=True, slots=True)
class Verdict:
    case: str
    answered: bool
    right: bool
    detail: str = ""


@dataclass
class Report:
    verdicts: list[Verdict] = field(default_factory=list)
    valid: list[str] = field(default_factory=list)
    """Ids of the valid bookings sent between the cases."""
    confirmed: set[str] = field(default_factory=set)
    sending: float = 0.0
    """Seconds it took to send the cases and the valid bookings."""
    seconds: float = 0.0
    """Seconds until every answer was in (or the wait gave up)."""

    @property
    def unanswered(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.answered]

    @property
    def wrong(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.answered and not v.right]

    @property
    def unconfirmed(self) -> list[str]:
        return [booking for booking in self.valid if booking not in self.confirmed]

    def summary(self) -> str:
        right = len(self.verdicts) - len(self.unanswered) - len(self.wrong)
        return (
            f"{len(self.verdicts)} kinds: {right} answered as documented, {len(self.unanswered)} unanswered, "
            f"{len(self.wrong)} wrong answer; valid bookings confirmed {len(self.confirmed)} of {len(self.valid)}; "
            f"sent in {self.sending:.1f} s, answered in {self.seconds:.1f} s"
        )

    def failures(self) -> str:
        lines = [
            f"{v.case}: {'wrong: ' + v.detail if v.answered else 'unanswered'}" for v in self.unanswered + self.wrong
        ]
        if self.unconfirmed:
            lines.append(f"valid bookings not confirmed: {self.unconfirmed}")
        return "\n".join(lines)


async def prepare(nc: Client, now: datetime, timeout: float = 60) -> None:
    """The catalog and the seed bookings the corpus refers to."""
    await upsert_catalog(nc, RESOURCES, WORKFLOWS, timeout=timeout)
    for seed in seeds(now):
        reply = await nc.request(subjects.ctl("booking", "request"), json.dumps(seed).encode(), timeout=timeout)
        status = json.loads(reply.data).get("status")
        if status not in {"confirmed", "rejected"}:
            raise RuntimeError(f"seed booking {seed['id']} was not decided: {reply.data[:300]!r}")


async def drive(
    nc: Client,
    cases: Sequence[Case],
    now: datetime,
    *,
    max_payload: int = 256 * 1024,
    reply_timeout: float = 15.0,
    settle: float = 60.0,
) -> Report:
    """Send `cases` (after `prepare`), a valid booking after each, and judge every answer within `settle` s."""
    started = time.monotonic()
    js = nc.jetstream(timeout=10)
    stored: dict[str, tuple[str, int]] = {}
    replies: dict[str, Msg | None] = {}
    report = Report()
    for index, case in enumerate(cases):
        if case.stream:
            ack = await js.publish(case.subject, case.body, headers=case.headers or None)
            stored[case.name] = (ack.stream, ack.seq)
        else:
            try:
                replies[case.name] = await nc.request(
                    case.subject, case.body, timeout=reply_timeout, headers=case.headers or None
                )
            except Exception:
                replies[case.name] = None
        booking_id, body, headers = valid(now, index, max_payload)
        await js.publish(subjects.BOOKING_REQUEST, body, headers=headers or None)
        report.valid.append(booking_id)

    report.sending = time.monotonic() - started
    deadline = time.monotonic() + settle
    while True:
        letters, events = await _answers(nc)
        report.confirmed = {b for b in report.valid if any(s == subjects.BOOKING_CONFIRMED for s, _ in events[b])}
        verdicts = [
            _judge_reply(case, replies[case.name])
            if not case.stream
            else _judge_stream(case, letters.get(stored[case.name], []), events)
            for case in cases
        ]
        done = all(v.answered and v.right for v in verdicts) and not report.unconfirmed
        if done or time.monotonic() > deadline:
            report.verdicts = verdicts
            report.seconds = time.monotonic() - started
            return report
        await asyncio.sleep(1.0)


type Letters = dict[tuple[str, int], list[dict[str, Any]]]
type Events = defaultdict[str, list[tuple[str, dict[str, Any]]]]


async def _answers(nc: Client) -> tuple[Letters, Events]:
    """Every dead letter, by the stream and sequence of its original; every outcome event, by its command."""
    letters: Letters = defaultdict(list)
    for _, letter in await stream_messages(nc, DLQ, f"{subjects.DLQ_PREFIX}.>"):
        if letter.get("stream") and letter.get("sequence"):
            letters[(letter["stream"], letter["sequence"])].append(letter)
    events: Events = defaultdict(list)
    for stream, outcome_subjects in OUTCOME_STREAMS.items():
        for subject in outcome_subjects:
            for _, event in await stream_messages(nc, stream, subject):
                command = event.get("booking") or event.get("request")
                events[str(command)].append((subject, event))
    return letters, events


def _judge_stream(case: Case, letters: list[dict[str, Any]], events: Events) -> Verdict:
    expect = case.expect
    if isinstance(expect, Reply):
        raise TypeError(f"{case.name}: a stream subject is answered by a dead letter or an event, not a reply")
    if isinstance(expect, Outcome):
        if letters:
            return Verdict(case.name, True, False, f"dead-lettered ({_letter(letters[0])}), expected {expect}")
        return _judge_outcome(case.name, expect, events)
    assert isinstance(expect, DeadLetter)
    if not letters:
        return Verdict(case.name, False, False)
    if not any(letter["code"] == expect.code and expect.words in letter["reason"] for letter in letters):
        return Verdict(case.name, True, False, f"{_letter(letters[0])}, expected {expect.code}: {expect.words!r}")
    if expect.outcome is not None:
        outcome = _judge_outcome(case.name, expect.outcome, events)
        if not outcome.right:
            return Verdict(case.name, True, False, f"dead letter right, but {outcome.detail or 'no outcome event'}")
    return Verdict(case.name, True, True)


def _judge_outcome(name: str, expect: Outcome, events: Events) -> Verdict:
    found = [event for subject, event in events[expect.command] if subject == expect.subject]
    if not found:
        return Verdict(name, False, False, f"no {expect.subject} for {expect.command}")
    if any(
        (not expect.code or event.get("code") == expect.code) and expect.words in str(event.get("reason", ""))
        for event in found
    ):
        return Verdict(name, True, True)
    event = found[0]
    return Verdict(name, True, False, f"{event.get('code')}: {event.get('reason')!r}, expected {expect}")


def _judge_reply(case: Case, msg: Msg | None) -> Verdict:
    expect = case.expect
    if not isinstance(expect, Reply):
        raise TypeError(f"{case.name}: a request is answered by a reply")
    if msg is None:
        return Verdict(case.name, False, False)
    try:
        reply = json.loads(msg.data)
    except ValueError:
        return Verdict(case.name, True, False, f"reply is not JSON: {msg.data[:200]!r}")
    if expect.error:
        error = reply.get("error") or {}
        code, reason = error.get("code"), str(error.get("reason"))
        status_code = (msg.headers or {}).get("Nats-Service-Error-Code", "")
        if not status_code.startswith("4"):
            return Verdict(case.name, True, False, f"error code header {status_code!r}: {_short(reply)}")
    else:
        code, reason = reply.get("code", ""), str(reply.get("reason", ""))
    if reply.get("status") != expect.status or code != expect.code or expect.words not in reason:
        return Verdict(case.name, True, False, f"{_short(reply)}, expected {expect}")
    if misfit := _misfit(case.subject, reply, error=expect.error):
        return Verdict(case.name, True, False, f"the reply does not fit its schema: {misfit}: {_short(reply)}")
    return Verdict(case.name, True, True)


def _misfit(subject: str, reply: dict[str, Any], *, error: bool) -> str:
    """What is wrong with `reply` for the contract (schemas/replies.py, schemas/peer.py); empty when nothing."""
    endpoint = ctl_endpoint(subject)
    model = CtlError if error else PeerReply if endpoint is None else endpoint.reply
    if model is None:
        return f"{subject} has no JSON reply in the contract"
    try:
        model.model_validate(reply)
    except ValidationError as problem:
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in problem.errors())[:500]
    return ""


def _letter(letter: dict[str, Any]) -> str:
    return f"{letter['code']}: {letter['reason'][:300]!r}"


def _short(reply: dict[str, Any]) -> str:
    text = json.dumps(reply)
    return text if len(text) < 400 else text[:400] + "…"
