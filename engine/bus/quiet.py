"""Silences one known false alarm in FastStream's log: an idle pull consumer's fetch timing out.

FastStream 0.7.8's pull loop suppresses `nats.errors.TimeoutError`, but nats-py 2.16 raises a bare
`asyncio.TimeoutError` when its lingering pull request expires with nothing to deliver. The task
supervisor then logs "Task-N raised an exception, retrying..." with a traceback at ERROR level, and
restarts the loop: nothing is lost, but an operator reads an error on an idle, healthy engine. Only
that exact case is demoted to DEBUG; every other record passes untouched.
"""

from __future__ import annotations

import logging

import nats.errors


class IdleFetchTimeout(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        known = (
            isinstance(error, TimeoutError)
            and not isinstance(error, nats.errors.TimeoutError)
            and "raised an exception, retrying" in record.getMessage()
            and _from_fetch(error)
        )
        if known:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def _from_fetch(error: BaseException) -> bool:
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_name in {"fetch", "_fetch_n"}:
            return True
        traceback = traceback.tb_next
    return False


def install(logger: logging.Logger) -> logging.Logger:
    if not any(isinstance(f, IdleFetchTimeout) for f in logger.filters):
        logger.addFilter(IdleFetchTimeout())
    return logger
