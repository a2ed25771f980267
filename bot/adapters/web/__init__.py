"""The web UI (server-rendered pages) and the REST API of relance."""

from __future__ import annotations

from bot.adapters.web.app import create_app
from bot.adapters.web.context import WebServices

__all__ = ["WebServices", "create_app"]
