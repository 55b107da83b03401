"""Structured logs for both processes: one line per event, with the ids it concerns.

Code logs an event as a short message and its ids as `extra`:
`log.info("job launched", extra={"job_id": job.id, "user_id": owner.id})`. With
`JOBDECK_ENV=production` each line is one JSON object (`ts`, `level`, `logger`, `event`, then
the extras); otherwise it reads `ts LEVEL logger event key=value ...`. The web process calls
`configure_logging()` in `create_app()`, the worker in `tasks/worker.py`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

# Everything a LogRecord carries by itself; whatever else it has came in as `extra`.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_STANDARD.add("color_message")  # uvicorn's coloured copy of the message


SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
            **extras(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        pairs = " ".join(f"{k}={_quoted(v)}" for k, v in extras(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name} {record.getMessage()}"
        line = f"{line} {pairs}" if pairs else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _quoted(value: object) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def formatter_for(production: bool) -> logging.Formatter:
    return JsonFormatter() if production else KeyValueFormatter()


def configure_logging(
    production: bool, restyle_existing: bool = False, stream: IO[str] | None = None
) -> None:
    """Log INFO and up through jobdeck's format.

    A root logger without handlers gets one on `stream` (stderr). One that has some (Dramatiq's
    worker processes log through a pipe to their parent) keeps them: with `restyle_existing`
    they take jobdeck's format, else they are left alone (as pytest's are).
    """
    root = logging.getLogger()
    formatter = formatter_for(production)
    if not root.handlers:
        ours = logging.StreamHandler(stream or sys.stderr)
        ours.setFormatter(formatter)
        root.addHandler(ours)
        # uvicorn's own lines (start-up, access log) join ours, in the same format.
        for name in SERVER_LOGGERS:
            server = logging.getLogger(name)
            server.handlers.clear()
            server.propagate = True
    elif restyle_existing:
        for handler in root.handlers:
            handler.setFormatter(formatter)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
