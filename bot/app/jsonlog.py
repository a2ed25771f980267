"""JSON logs for the daemon: one object per line, secrets scrubbed.

Settings are logged through :meth:`Settings.public` (secrets masked); as a second line of defence the
formatter replaces any configured secret value that still slips into a message (say, inside an exception
text from a library) with ``***``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_DROPPED = {"color_message"}  # uvicorn's ANSI-coloured copy of the message


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Short values would mask innocent words; real secrets are longer than this.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self._scrub(record.getMessage()),
            "thread": record.threadName,
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_") or key in _DROPPED:
                continue
            if isinstance(value, int | float | bool | type(None)):
                out[key] = value
            elif isinstance(value, dict | list):
                out[key] = json.loads(self._scrub(json.dumps(value, default=str)))
            else:
                out[key] = self._scrub(str(value))
        if record.exc_info:
            out["exc"] = self._scrub(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


def configure_json_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Replace the root handlers with one writing JSON lines to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Per-request lines from the web server and APScheduler's per-run chatter would drown the useful ones.
    for name in ("uvicorn.access", "apscheduler", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
