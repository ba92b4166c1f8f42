"""Cron expansion: both dialects, cron's weekday numbering, bounded windows, and errors that name the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.claims.cron import CronError, TooManyOccurrences, occurrences, parse_cron, resolution


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


#: 2026-11-30 is a Monday; this window is one whole week, Monday to Sunday.
WEEK = (utc(2026, 11, 30), utc(2026, 12, 7))


@pytest.mark.parametrize(
    ("expr", "start", "end", "expected"),
    [
        pytest.param(
            "0-10 30 14 1 12 *",
            utc(2026, 12, 1, 14),
            utc(2026, 12, 1, 15),
            [utc(2026, 12, 1, 14, 30, second) for second in range(11)],
            id="original-load-test-seconds-0-to-10",
        ),
        pytest.param(
            "0-10 30 14 1 12 *",
            utc(2026, 1, 1),
            utc(2028, 1, 1),
            [utc(year, 12, 1, 14, 30, second) for year in (2026, 2027) for second in range(11)],
            id="six-fields-over-two-years",
        ),
        pytest.param(
            "30 14 * * *",
            utc(2026, 12, 1),
            utc(2026, 12, 4),
            [utc(2026, 12, day, 14, 30) for day in (1, 2, 3)],
            id="five-fields-fire-at-second-zero",
        ),
        pytest.param(
            "*/15 * * * *",
            utc(2026, 12, 1, 10),
            utc(2026, 12, 1, 11),
            [utc(2026, 12, 1, 10, minute) for minute in (0, 15, 30, 45)],
            id="start-included-end-excluded",
        ),
        pytest.param(
            "30 14 * * *",
            utc(2026, 12, 1, 14, 30) + timedelta(microseconds=1),
            utc(2026, 12, 2, 15),
            [utc(2026, 12, 2, 14, 30)],
            id="occurrence-just-before-start-excluded",
        ),
        pytest.param(
            "0 12 * * *",
            datetime(2026, 12, 1, 13, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 12, 2, 13, tzinfo=timezone(timedelta(hours=2))),
            [utc(2026, 12, 1, 12)],
            id="window-in-another-offset-results-in-utc",
        ),
        pytest.param(
            "0 0 1 jan-dec/3 *",
            utc(2026, 1, 1),
            utc(2027, 1, 1),
            [utc(2026, month, 1) for month in (1, 4, 7, 10)],
            id="month-names-keep-their-step",
        ),
        pytest.param(
            "0 0 29 2 *",
            utc(2026, 1, 1),
            utc(2030, 1, 1),
            [utc(2028, 2, 29)],
            id="leap-day",
        ),
        pytest.param("0 0 1 1 *", utc(2026, 6, 1), utc(2026, 7, 1), [], id="no-occurrence-in-window"),
        pytest.param("0 0 30 2 *", utc(2026, 1, 1), utc(2036, 1, 1), [], id="never-fires"),
    ],
)
def test_occurrences(expr: str, start: datetime, end: datetime, expected: list[datetime]) -> None:
    found = occurrences(expr, start, end, limit=1000)
    assert found == expected
    assert all(moment.utcoffset() == timedelta(0) for moment in found)


@pytest.mark.parametrize(
    ("expr", "weekdays"),  # weekdays as Python counts them: Monday = 0 ... Sunday = 6
    [
        ("0 9 * * 1-5", [0, 1, 2, 3, 4]),
        ("0 9 * * mon-fri", [0, 1, 2, 3, 4]),
        ("0 9 * * MON-FRI", [0, 1, 2, 3, 4]),
        ("0 9 * * 0", [6]),
        ("0 9 * * 7", [6]),
        ("0 9 * * sun", [6]),
        ("0 9 * * 0,7", [6]),
        ("0 9 * * 6,0", [5, 6]),
        ("0 9 * * 5-7", [4, 5, 6]),
        ("0 9 * * fri-sun", [4, 5, 6]),
        ("0 9 * * 0-6", [0, 1, 2, 3, 4, 5, 6]),
        ("0 9 * * */2", [1, 3, 5, 6]),  # Sun, Tue, Thu, Sat: the step counts from Sunday
        ("0 9 * * 1-5/2", [0, 2, 4]),
        ("0 9 * * 1/3", [0, 3, 6]),  # 1-7/3: Mon, Thu, Sun
        ("0 9 * * *", [0, 1, 2, 3, 4, 5, 6]),
        ("0 0 9 * * 3", [2]),
    ],
)
def test_weekdays_follow_cron_numbering(expr: str, weekdays: list[int]) -> None:
    found = occurrences(expr, *WEEK, limit=100)
    assert [moment.weekday() for moment in found] == weekdays
    assert {(moment.hour, moment.minute, moment.second) for moment in found} == {(9, 0, 0)}


@given(
    first=st.integers(0, 7),
    span=st.integers(0, 7),
    step=st.integers(1, 8),
    names=st.booleans(),
)
def test_weekday_ranges_match_their_cron_meaning(first: int, span: int, step: int, names: bool) -> None:
    last = min(first + span, 7)
    spell = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
    # Names when asked, except "sun-sun", which is Sunday alone rather than the whole week.
    spelled = names and (first, last) != (0, 7)
    field = f"{spell[first]}-{spell[last]}/{step}" if spelled else f"{first}-{last}/{step}"
    expected = {day % 7 for day in range(first, last + 1, step)}  # cron: Sunday is 0 and 7
    found = occurrences(f"0 9 * * {field}", *WEEK, limit=100)
    assert {moment.isoweekday() % 7 for moment in found} == expected
    assert len(found) == len(expected)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * * * * * *", "cron '* * * * * * *' has 7 fields; expected 5 or 6"),
        ("* * * *", "cron '* * * *' has 4 fields; expected 5 or 6"),
        ("", "cron '' has 0 fields; expected 5 or 6"),
        ("@daily", "cron '@daily' has 1 field; expected 5 or 6"),
        (
            "61 * * * *",
            "cron field 'minute' ('61') in '61 * * * *': Error validating expression '61': "
            "the last value (61) is higher than the maximum value (59)",
        ),
        ("60 0 0 * * *", "cron field 'second' ('60') in '60 0 0 * * *': "),
        ("0 24 * * *", "cron field 'hour' ('24') in '0 24 * * *': "),
        ("0 0 32 * *", "cron field 'day' ('32') in '0 0 32 * *': "),
        ("0 0 L * *", "cron field 'day' ('L') in '0 0 L * *': Unrecognized expression \"L\""),
        ("0 0 1 13 *", "cron field 'month' ('13') in '0 0 1 13 *': "),
        ("0 0 1 foo *", "cron field 'month' ('foo') in '0 0 1 foo *': unknown month name 'foo'"),
        ("*/0 * * * *", "cron field 'minute' ('*/0') in '*/0 * * * *': Increment must be higher than 0"),
        ("0 9 * * 8", "cron field 'weekday' ('8') in '0 9 * * 8': weekday 8 is out of range 0-7"),
        ("0 9 * * 5-1", "cron field 'weekday' ('5-1') in '0 9 * * 5-1': range '5-1' runs backwards"),
        ("0 9 * * funday", "cron field 'weekday' ('funday') in '0 9 * * funday': unknown weekday 'funday'"),
        ("0 9 * * 1-5/0", "cron field 'weekday' ('1-5/0') in '0 9 * * 1-5/0': step must be at least 1"),
        ("0 9 * * ?", "cron field 'weekday' ('?') in '0 9 * * ?': unrecognized weekday expression '?'"),
    ],
)
def test_invalid_crons_say_what_is_wrong(expr: str, message: str) -> None:
    with pytest.raises(CronError) as raised:
        parse_cron(expr)
    assert str(raised.value).startswith(message)
    assert isinstance(raised.value, ValueError)
    with pytest.raises(CronError):
        occurrences(expr, *WEEK, limit=10)


def test_parse_cron_reads_five_fields_at_second_zero_in_utc() -> None:
    trigger = parse_cron("0 9 * * 1-5")
    assert trigger.get_next_fire_time(None, utc(2026, 12, 5)) == utc(2026, 12, 7, 9)  # Sat → Mon


@pytest.mark.parametrize(("expr", "tick"), [("0 9 * * *", timedelta(minutes=1)), ("0 0 9 * * *", timedelta(seconds=1))])
def test_resolution_is_the_finest_field(expr: str, tick: timedelta) -> None:
    assert resolution(expr) == tick


def test_limit_is_inclusive_and_one_more_is_too_many() -> None:
    start, end = utc(2026, 12, 1, 14), utc(2026, 12, 1, 15)
    assert len(occurrences("0-10 30 14 1 12 *", start, end, limit=11)) == 11
    with pytest.raises(TooManyOccurrences) as raised:
        occurrences("0-10 30 14 1 12 *", start, end, limit=10)
    assert raised.value.limit == 10
    assert str(raised.value) == "more than 10 occurrences"


def test_too_many_stops_early_in_a_huge_window() -> None:
    # A century of seconds (3e9 occurrences): without the early stop this never returns (pytest's timeout).
    with pytest.raises(TooManyOccurrences):
        occurrences("* * * * * *", utc(2026, 1, 1), utc(2126, 1, 1), limit=100)


def test_ten_thousand_occurrences_up_to_the_limit() -> None:
    start = utc(2026, 12, 1)
    found = occurrences("* * * * * *", start, start + timedelta(seconds=10_000), limit=10_000)
    assert len(found) == 10_000
    assert found[-1] == start + timedelta(seconds=9_999)


@pytest.mark.parametrize(
    ("start", "end", "limit", "message"),
    [
        (datetime(2026, 12, 1), utc(2026, 12, 2), 10, "need aware datetimes"),
        (utc(2026, 12, 1), datetime(2026, 12, 2), 10, "need aware datetimes"),
        (utc(2026, 12, 1), utc(2026, 12, 2), 0, "limit must be at least 1"),
    ],
)
def test_bad_arguments_are_refused(start: datetime, end: datetime, limit: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        occurrences("0 9 * * *", start, end, limit)


def stepwise(expr: str, start: datetime, end: datetime) -> list[datetime]:
    """APScheduler's own answer, one `get_next_fire_time` search per instant: what `occurrences` must equal."""
    trigger = parse_cron(expr)
    found: list[datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire < end:
        found.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    return found


_FIELD_VALUES = {
    "second": st.sampled_from(["0", "*/15", "0-2", "5,25,45", "59"]),
    "minute": st.sampled_from(["0", "*", "*/20", "30", "0-5", "10,40"]),
    "hour": st.sampled_from(["*", "0", "*/6", "9-17", "23", "3,15"]),
    "day": st.sampled_from(["*", "1", "13", "29-31", "*/10", "15"]),
    "month": st.sampled_from(["*", "2", "jan-mar", "*/4", "12"]),
    "weekday": st.sampled_from(["*", "fri", "1-5", "0", "sat,sun", "*/2"]),
}


@given(
    fields=st.fixed_dictionaries(_FIELD_VALUES),
    seconds_field=st.booleans(),
    offset=st.integers(0, 400 * 86_400),
    span=st.integers(0, 10 * 86_400),
    microsecond=st.sampled_from([0, 1, 999_999]),
)
def test_occurrences_equal_apschedulers_own_search(
    fields: dict[str, str], seconds_field: bool, offset: int, span: int, microsecond: int
) -> None:
    names = ["second", "minute", "hour", "day", "month", "weekday"][0 if seconds_field else 1 :]
    expr = " ".join(fields[name] for name in names)
    start = utc(2026, 1, 1) + timedelta(seconds=offset, microseconds=microsecond)
    end = start + timedelta(seconds=span)
    assert occurrences(expr, start, end, limit=10_000_000) == stepwise(expr, start, end)


@settings(deadline=None)  # APScheduler's one-by-one search is the slow side; a loaded machine must not fail it
@given(
    expr=st.sampled_from(["0-10 * * * * *", "*/7 5-20 * * * *", "30 */15 9-17 * * *", "0 0 * * *", "*/5 * * * *"]),
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)),
    minutes=st.integers(min_value=0, max_value=180),
)
def test_occurrences_from_any_moment_of_the_day_are_apschedulers(expr: str, start: datetime, minutes: int) -> None:
    # `following` skips the hours and minutes of the first day before `start`: from any moment, the instants
    # are still exactly those APScheduler's own search finds one by one.
    end = start + timedelta(minutes=minutes)
    assert occurrences(expr, start, end, 2_000) == stepwise(expr, start, end)
