"""``CELLSV2_LOG_FORMAT``: log lines as text (the default) or as one JSON object per line.

A JSON line has ``timestamp`` (UTC, ISO 8601, milliseconds), ``level``, ``logger`` and
``message``, then the fields of what is in flight (cellsv2.observability.context): the request id
returned to the client in ``x-openstack-request-id``, ``user``, ``project``, ``method``,
``route`` (the URL pattern, never the raw path) and, on the access line, ``status``,
``duration_ms``, ``path`` and ``remote_addr``; a conductor placement's lines carry its
``instance_uuid``. A logged exception adds ``exception`` (the traceback as one string).

In JSON mode every logger goes through one handler on stderr (the root logger), and the
``cellsv2.access`` logger writes one line per request at INFO, whatever ``CELLSV2_LOG_LEVEL``
says. Text mode keeps the classic ``asctime level name message`` lines of our apps' loggers (and
psycopg's) and leaves access logging to gunicorn.
"""

import json
import logging
from datetime import UTC, datetime

from cellsv2.observability.context import FIELDS, log_fields

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
ACCESS_LOGGER = "cellsv2.access"
FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: the standard fields, the in-flight fields, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = log_fields()
        for name in FIELDS:
            if fields.get(name) is not None:
                line[name] = fields[name]
        for name, value in fields.items():
            if name not in line and value is not None:
                line[name] = value
        extra = getattr(record, "cellsv2", None)
        if extra:
            line.update(extra)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def logging_settings(log_format: str, level: str, ours: tuple[str, ...] = ("cellsv2",)) -> dict:
    """Django's LOGGING for ``log_format`` (text or json) at ``level`` for our loggers (``ours``:
    the project's top-level packages, each the root of its modules' loggers)."""
    if log_format == "json":
        return {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json"}},
            "root": {"handlers": ["json"], "level": level},
            "loggers": {
                "cellsv2": {"level": level},
                ACCESS_LOGGER: {"handlers": ["json"], "level": "INFO", "propagate": False},
                # Django's "Not Found: ..." for every 4xx: the access line already has the status.
                "django.request": {"level": "ERROR"},
            },
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": TEXT_FORMAT}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "loggers": {
            # Every app's loggers (servers.services.create, the conductor's, ...), and psycopg's
            # (a pool's reasons for a failed connection): a time, a level and a name on each line,
            # not the bare message Python prints for a logger without a handler.
            **{name: {"handlers": ["console"], "level": level} for name in (*ours, "psycopg")},
            # Text mode: gunicorn writes the access log.
            ACCESS_LOGGER: {"level": "WARNING"},
        },
    }
