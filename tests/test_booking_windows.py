"""Execution windows of one-shot and cron bookings, and execution ids that are valid namespace names."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter

from engine.claims.cron import CronError, TooManyOccurrences
from engine.claims.windows import Schedule, Window, execution_id, execution_windows, with_default_duration
from schemas.names import KubeName

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def utc(hour: int, minute: int = 0, second: int = 0, *, day: int = 1) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "cron", "duration", "expected"),
    [
        pytest.param(utc(10), utc(12), None, None, [Window(utc(10), utc(12))], id="one-shot-whole-window"),
        pytest.param(
            utc(10), utc(12), None, 30 * MINUTE, [Window(utc(10), utc(10, 30))], id="one-shot-duration-shortens"
        ),
        pytest.param(utc(10), utc(12), None, 5 * HOUR, [Window(utc(10), utc(12))], id="one-shot-clipped-to-end"),
        pytest.param(
            utc(14),
            utc(15),
            "0-10 30 14 1 12 *",
            None,
            [Window(utc(14, 30, second), utc(14, 30, second + 1)) for second in range(11)],
            id="six-fields-default-one-second",
        ),
        pytest.param(
            utc(10),
            utc(13),
            "0 * * * *",
            None,
            [Window(utc(hour), utc(hour, 1)) for hour in (10, 11, 12)],
            id="five-fields-default-one-minute",
        ),
        pytest.param(
            utc(10),
            utc(12, 30),
            "0 * * * *",
            HOUR,
            [Window(utc(10), utc(11)), Window(utc(11), utc(12)), Window(utc(12), utc(12, 30))],
            id="cron-duration-last-clipped",
        ),
        pytest.param(
            utc(10),
            utc(11),
            "*/20 * * * *",
            30 * MINUTE,
            [Window(utc(10), utc(10, 30)), Window(utc(10, 20), utc(10, 50)), Window(utc(10, 40), utc(11))],
            id="cron-windows-may-overlap-each-other",
        ),
        pytest.param(utc(10), utc(10, 0, 30), "59 * * * * *", None, [], id="no-occurrence"),
    ],
)
def test_execution_windows(
    start: datetime, end: datetime, cron: str | None, duration: timedelta | None, expected: list[Window]
) -> None:
    assert execution_windows(start, end, cron, duration, limit=100) == expected


def test_cron_errors_reach_the_caller() -> None:
    with pytest.raises(TooManyOccurrences):
        execution_windows(utc(14), utc(15), "0-10 30 14 1 12 *", None, limit=10)
    with pytest.raises(CronError, match="has 7 fields"):
        execution_windows(utc(14), utc(15), "* * * * * * *", None, limit=10)


@pytest.mark.parametrize("duration", [timedelta(0), -SECOND])
def test_duration_must_be_positive(duration: timedelta) -> None:
    with pytest.raises(ValueError, match="duration must be positive"):
        execution_windows(utc(10), utc(11), None, duration, limit=10)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (utc(11), utc(10), "must be after its start"),
        (utc(10), utc(10), "must be after its start"),
        (datetime(2026, 12, 1, 10), datetime(2026, 12, 1, 11), "aware"),
    ],
)
def test_window_refuses_empty_or_naive_spans(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Window(start, end)


PLUS_TWO = timezone(timedelta(hours=2))
#: 47 characters: with "-yyyymmddthhmmss" exactly 63, the longest id kept whole.
LONGEST_WHOLE = "b" * 40 + "-" + "c" * 6


@pytest.mark.parametrize(
    ("booking", "occurrence", "expected"),
    [
        ("bk-42", utc(14, 30, 5), "bk-42-20261201t143005"),
        ("bk-42", datetime(2026, 12, 1, 16, 30, 5, tzinfo=PLUS_TWO), "bk-42-20261201t143005"),
        ("bk-42", utc(14, 30, 5) + timedelta(microseconds=999_999), "bk-42-20261201t143005"),
        ("BK-42", utc(14, 30, 5), "bk-42-20261201t143005"),
        (LONGEST_WHOLE, utc(14, 30, 5), f"{LONGEST_WHOLE}-20261201t143005"),
    ],
)
def test_execution_id(booking: str, occurrence: datetime, expected: str) -> None:
    assert execution_id(booking, occurrence) == expected


KUBE_NAME = TypeAdapter(KubeName)


@pytest.mark.parametrize(
    "booking",
    [
        LONGEST_WHOLE + "d",
        "a" * 63,
        "a" * 35 + "-" + "b" * 27,  # cut right after a '-': no "--" left before the digest
        "x-" * 31 + "x",
    ],
)
def test_long_booking_ids_are_shortened_into_valid_unique_names(booking: str) -> None:
    occurrence = utc(14, 30, 5)
    name = execution_id(booking, occurrence)
    assert KUBE_NAME.validate_python(name) == name
    assert len(name) <= 63
    assert "--" not in name
    assert name.endswith("-20261201t143005")
    assert execution_id(booking, occurrence) == name
    assert execution_id(booking, occurrence + SECOND) != name
    sibling = booking[:-1] + ("z" if booking[-1] != "z" else "y")  # same long prefix, another id
    assert execution_id(sibling, occurrence) != name


def test_execution_id_needs_an_aware_occurrence() -> None:
    with pytest.raises(ValueError, match="aware"):
        execution_id("bk-42", datetime(2026, 12, 1, 14, 30))


# --- the default duration of a cron booking's executions ------------------------------------------------

FIVE_MINUTES = timedelta(minutes=5)


def _decided(start: datetime, end: datetime, cron: str | None, duration: timedelta | None = None) -> Schedule:
    schedule = Schedule(start, end, cron, duration)
    return with_default_duration(schedule, schedule.spans(100_000), FIVE_MINUTES)


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 * * * *", FIVE_MINUTES),  # hourly: the default
        ("*/1 * * * *", timedelta(minutes=1)),  # every minute: until the next one, never overlapping
        ("0,2 * * * *", timedelta(minutes=2)),  # the shortest gap of the schedule
        ("0-10 30 10 * * *", timedelta(seconds=1)),  # a burst one second apart: one second each
        ("0 10 * * *", FIVE_MINUTES),  # one occurrence in the window
    ],
)
def test_a_cron_booking_without_duration_gets_the_default_or_its_shortest_gap(cron: str, expected: timedelta) -> None:
    decided = _decided(utc(10), utc(12), cron)
    assert decided.duration == expected
    windows = decided.windows(100_000)
    assert all(w.end - w.start <= expected for w in windows)
    assert all(earlier.end <= later.start for earlier, later in itertools.pairwise(windows))


def test_a_given_duration_and_a_one_shot_booking_are_left_alone() -> None:
    given = Schedule(utc(10), utc(12), "0 * * * *", timedelta(minutes=50))
    assert with_default_duration(given, given.spans(10), FIVE_MINUTES) is given
    once = Schedule(utc(10), utc(12))
    assert with_default_duration(once, once.spans(10), FIVE_MINUTES) is once
