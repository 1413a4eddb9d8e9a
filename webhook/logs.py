"""JSON logs: one object per line, the fields an operator greps for (uid, namespace, pod, outcome)."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from functools import lru_cache
from typing import Any

import orjson

LOGGER_NAME = "downward_webhook"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info") -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    return logging.getLogger(LOGGER_NAME)


def log_fields(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"fields": fields})


def timestamp(now: float) -> str:
    """The `ts` field of every line: UTC, milliseconds."""
    return _seconds(int(now)) + f".{int(now * 1000) % 1000:03d}Z"


@lru_cache(maxsize=4)  # formatting the date and time once per second, not once per line
def _seconds(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


class AdmissionLog:
    """The one line per admission, written straight to the log stream with orjson.

    Same format as JsonFormatter's lines, without the logging module's records, locks and formatters: at
    thousands of admissions a second that machinery cost more than injecting the pod. Only when the
    root logger writes JSON to a stream (configure_logging); with any other logging set-up the line goes
    through logging like every other one.

    Lines written during one turn of the event loop are flushed together at the end of it: one write(2) for
    all the admissions answered in that turn instead of one each. A line waits at most for the rest of the
    turn (well under a millisecond); outside an event loop every line is flushed at once.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        handlers = logging.getLogger().handlers
        direct = [
            h for h in handlers if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, JsonFormatter)
        ]
        self._stream = direct[0].stream if len(direct) == len(handlers) == 1 else None
        self._head = {"ts": "", "level": "info", "logger": logger.name, "msg": "admission"}  # ts first, as elsewhere
        self._flush_scheduled = False

    def write(self, fields: dict[str, Any]) -> None:
        if not self._logger.isEnabledFor(logging.INFO):
            return
        stream = self._stream
        if stream is None:
            self._logger.info("admission", extra={"fields": fields})
            return
        line = orjson.dumps({**self._head, "ts": timestamp(time.time()), **fields}, default=str)
        binary = getattr(stream, "buffer", None)
        if binary is not None:
            binary.write(line + b"\n")
        else:
            stream.write(line.decode() + "\n")
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            stream.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._stream is not None:
            self._stream.flush()
