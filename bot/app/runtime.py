"""What every command needs: settings, the database (schema brought up to date) and a clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from bot.app.clock import FixedClock, SystemClock, noon_in
from bot.app.settings import Settings, load_settings
from bot.ports import Clock

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

#: The repository root when running from a checkout: shipped config and templates live there.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def resolve_resource(path: Path, shipped: str) -> Path:
    """A configured path if it exists, else the copy shipped with relance (so commands work from any folder)."""
    if path.exists():
        return path
    candidate = PROJECT_ROOT / shipped
    return candidate if candidate.exists() else path


@dataclass
class Runtime:
    settings: Settings
    as_of: date | None = None
    _clock: Clock | None = field(default=None, repr=False)

    @classmethod
    def load(cls, config_dir: Path | None = None, as_of: date | None = None) -> Runtime:
        return cls(load_settings(config_dir), as_of)

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            self._clock = FixedClock(noon_in(self.as_of)) if self.as_of else SystemClock()
        return self._clock

    @cached_property
    def engine(self) -> Engine:
        from bot.adapters.db.engine import open_database

        return open_database(self.settings.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from bot.adapters.db.engine import session_factory

        return session_factory(self.engine)

    @property
    def profiles_path(self) -> Path:
        return resolve_resource(self.settings.profiles_path, "config/profiles.yaml")

    @property
    def templates_dir(self) -> Path:
        return resolve_resource(self.settings.templates_dir, "templates")
