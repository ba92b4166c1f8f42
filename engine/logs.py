"""Log records as text lines for people, or as one JSON object per line for log collectors.

`JETFLOW_LOG_FORMAT=json` (or `--log-format json`) writes each record as a JSON object with `time` (ISO 8601,
UTC), `level`, `logger` and `message`, plus `trace_id` and `span_id` (hex, as in `traceparent`) while an
OpenTelemetry span is active, so a log line can be found from its trace and back; an exception adds
`exc_info`, and `extra={...}` fields are kept. The formatting is python-json-logger's.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

if TYPE_CHECKING:
    from typing import TextIO

TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Loggers that speak too much at INFO for an operator (their warnings still show).
NOISY = ("pymongo", "faststream", "jetflow.bus", "opentelemetry", "apscheduler")


class TraceIds(logging.Filter):
    """Adds the active span's `trace_id` and `span_id` to a record (nothing when no span is active)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


def handler(log_format: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """A handler writing to stderr (or `stream`) in `log_format` (`text` or `json`)."""
    to = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        to.setFormatter(json_formatter())
        to.addFilter(TraceIds())
    else:
        to.setFormatter(logging.Formatter(TEXT))
    return to


def setup_logging(*, verbose: bool = False, log_format: str = "text") -> None:
    """Send every record to stderr in `log_format`, replacing the handlers set before."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler(log_format)], force=True)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
