"""The profiles in force: the newest version saved from the web UI, else ``config/profiles.yaml``.

Read per use (cheap: cached on the file's mtime and the newest version id), so edits take effect without a
restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import ProfileVersion
from bot.adapters.holiday_calendar import calendars_for
from bot.adapters.profiles_yaml import load_profiles, parse_profiles
from bot.app.runtime import resolve_resource
from bot.app.settings import Settings
from bot.domain.cadence import BusinessCalendar
from bot.domain.penalties import LegalRates
from bot.domain.profile import Profile, ProfilesConfig

_lock = threading.Lock()
_cache: dict[tuple[str, float, int | None], tuple[ProfilesConfig, dict[str, BusinessCalendar]]] = {}
_NEWEST_VERSION = select(ProfileVersion.id).order_by(ProfileVersion.id.desc()).limit(1)


def profiles_path(settings: Settings) -> Path:
    return resolve_resource(settings.profiles_path, "config/profiles.yaml")


def current_profiles(
    settings: Settings, session: Session | None = None
) -> tuple[ProfilesConfig, dict[str, BusinessCalendar]]:
    """The config and one business calendar per profile."""
    path = profiles_path(settings)
    # Asked once per inbox batch and per send cycle: only the newest version's id is read, its source (the
    # whole YAML) only when that version is not the one in the cache.
    version_id = session.scalar(_NEWEST_VERSION) if session is not None else None
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    key = (str(path), mtime, version_id)
    with _lock:
        hit = _cache.get(key)
        if hit is None:
            source = session.get(ProfileVersion, version_id) if session is not None and version_id else None
            config = (
                parse_profiles(source.source, f"profiles.yaml (version {version_id})")
                if source is not None
                else load_profiles(path)
            )
            hit = (config, calendars_for(config))
            _cache.clear()
            _cache[key] = hit
    return hit


@dataclass(frozen=True)
class ProfileView:
    """One client's profile with what the actions need from it."""

    profile: Profile
    holidays: BusinessCalendar
    legal_rates: LegalRates

    @property
    def promise_grace_days(self) -> int:
        return self.profile.promise_grace_days

    @property
    def paid_claim_pause_days(self) -> int:
        return self.profile.paid_claim_pause_days

    @property
    def jurisdiction(self) -> str:
        return str(self.profile.legal.jurisdiction.value)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.profile.zone).date()


def profile_for(name: str | None, settings: Settings, session: Session | None = None) -> ProfileView:
    config, calendars = current_profiles(settings, session)
    chosen = name if name in config.profiles else config.default_profile
    return ProfileView(config.profiles[chosen], calendars[chosen], config.legal_rates)
