"""The idle-fetch false alarm is demoted; every other error record is kept as it is."""

from __future__ import annotations

import logging

import pytest

from engine.bus.quiet import IdleFetchTimeout

RETRYING = "Task-7 raised an exception, retrying...\nIf this behavior causes issues, ..."


def _fetch_n() -> None:  # named like nats-py's JetStreamContext._fetch_n
    raise TimeoutError


def _elsewhere() -> None:
    raise TimeoutError


def _record(raiser: object, message: str = RETRYING) -> logging.LogRecord:
    try:
        raiser()  # type: ignore[operator]
    except TimeoutError as error:
        exc_info = (type(error), error, error.__traceback__)
    return logging.LogRecord("jetflow.bus.test", logging.ERROR, __file__, 1, message, None, exc_info)


@pytest.mark.timeout(5)
def test_idle_fetch_timeout_is_demoted_to_debug() -> None:
    logger = logging.getLogger("jetflow.bus.test")
    logger.setLevel(logging.INFO)
    record = _record(_fetch_n)
    assert IdleFetchTimeout().filter(record) is False  # DEBUG is off for this logger
    assert record.levelno == logging.DEBUG
    logger.setLevel(logging.DEBUG)
    assert IdleFetchTimeout().filter(_record(_fetch_n)) is True  # still there for who asks for DEBUG


@pytest.mark.timeout(5)
def test_other_timeouts_and_messages_keep_their_level() -> None:
    elsewhere, other_message = _record(_elsewhere), _record(_fetch_n, "handler failed")
    assert IdleFetchTimeout().filter(elsewhere) is True
    assert IdleFetchTimeout().filter(other_message) is True
    assert elsewhere.levelno == other_message.levelno == logging.ERROR
