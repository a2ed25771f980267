"""Settings: environment variables first, then ``config/relance.toml``, then defaults (DESIGN.md "Settings").

Secrets (passwords, the secret key) come only from the environment or from a file named by a ``*_FILE``
variable, never from the TOML file, so the config folder can be committed. ``repr`` hides them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.errors import ConfigError

SECRETS = ("imap_password", "smtp_password", "secret_key")
TLS_MODES = ("ssl", "starttls", "none")


@dataclass(frozen=True)
class Company:
    """The creditor, as named in reminders."""

    name: str = "Relance Demo SAS"
    signature: str = "Credit control"
    email: str = "collections@relance.test"
    phone: str = "+33 2 61 91 00 00"
    iban: str = "FR76 3000 6000 0112 3456 7890 189"
    bic: str = "AGRIFRPP"
    address: str = "1 rue de l'Exemple, 44000 Nantes"


@dataclass(frozen=True)
class Settings:
    config_dir: Path = Path("config")
    database_url: str = "sqlite:///relance.sqlite3"
    imap_host: str | None = None
    imap_port: int = 993
    imap_user: str | None = None
    imap_password: str | None = field(default=None, repr=False)
    imap_tls: str = "ssl"
    imap_folder: str = "INBOX"
    smtp_host: str | None = None
    smtp_port: int = 465
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: str = "ssl"
    from_address: str = "collections@relance.test"
    from_name: str = "Credit control"
    outbox_dir: Path = Path("outbox")
    maildir: Path = Path("maildir")
    secret_key: str | None = field(default=None, repr=False)
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    #: Where the credit-control team works: times in the web UI are shown in this zone.
    display_timezone: str = "Europe/Paris"
    #: Mark session cookies ``Secure`` (set when the UI is served over https, e.g. behind a proxy).
    web_secure_cookies: bool = False
    templates_dir: Path = Path("templates")
    send_deadline_hours: int = 48
    confidence_threshold: float = 0.6
    auto_answer_cap_per_day: int = 3
    outbox_lease_seconds: int = 600
    #: Processes that read (parse and classify) a backlog of replies next to the one recording them; -1: one per
    #: spare core, at most two; 0: read in the main process.
    inbox_workers: int = -1
    company: Company = field(default_factory=Company)

    @property
    def profiles_path(self) -> Path:
        return self.config_dir / "profiles.yaml"

    def public(self) -> dict[str, Any]:
        """Settings safe to show or log (secrets masked)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "***" if f.name in SECRETS and value else str(value)
        return out


_INT_KEYS = {
    "imap_port",
    "smtp_port",
    "web_port",
    "send_deadline_hours",
    "auto_answer_cap_per_day",
    "outbox_lease_seconds",
    "inbox_workers",
}
_PATH_KEYS = {"outbox_dir", "maildir", "templates_dir"}
_ENV_NAMES = {"from_address": "RELANCE_FROM", "from_name": "RELANCE_FROM_NAME"}


def _env_name(key: str) -> str:
    return _ENV_NAMES.get(key, "RELANCE_" + key.upper())


def _secret(key: str, env: dict[str, str]) -> str | None:
    name = _env_name(key)
    if env.get(name):
        return env[name]
    file_name = env.get(name + "_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {file_name}: {exc.strerror}") from exc
    return None


def load_settings(config_dir: Path | str | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read ``relance.toml`` from the config folder, overlay the environment, validate."""
    env = dict(os.environ if env is None else env)
    cdir = Path(config_dir) if config_dir else Path(env.get("RELANCE_CONFIG_DIR", "config"))
    values: dict[str, Any] = {"config_dir": cdir}
    company: dict[str, Any] = {}
    toml_path = cdir / "relance.toml"
    if toml_path.exists():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{toml_path}: {exc}") from exc
        known = {f.name for f in fields(Settings)} - set(SECRETS) - {"company", "config_dir"}
        for key, value in data.items():
            if key == "company" and isinstance(value, dict):
                company = value
            elif key in SECRETS:
                raise ConfigError(
                    f"{toml_path}: {key} is a secret; set {_env_name(key)} or {_env_name(key)}_FILE"
                )
            elif key in known:
                values[key] = value
            else:
                raise ConfigError(f"{toml_path}: unknown key {key!r}")
    for f in fields(Settings):
        if f.name in ("config_dir", "company") or f.name in SECRETS:
            continue
        name = _env_name(f.name)
        if env.get(name):
            values[f.name] = env[name]
    for key in SECRETS:
        values[key] = _secret(key, env)
    for key in _INT_KEYS & values.keys():
        try:
            values[key] = int(values[key])
        except (TypeError, ValueError):
            raise ConfigError(f"{_env_name(key)}: expected a whole number, got {values[key]!r}") from None
    if "web_secure_cookies" in values and isinstance(values["web_secure_cookies"], str):
        values["web_secure_cookies"] = values["web_secure_cookies"].strip().lower() in ("1", "true", "yes", "on")
    if "confidence_threshold" in values:
        values["confidence_threshold"] = float(values["confidence_threshold"])
    for key in _PATH_KEYS & values.keys():
        values[key] = Path(values[key])
    try:
        settings = Settings(**values, company=Company(**company))
    except TypeError as exc:
        raise ConfigError(f"{toml_path}: [company]: {exc}") from exc
    try:
        ZoneInfo(settings.display_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"RELANCE_DISPLAY_TIMEZONE: unknown timezone {settings.display_timezone!r}") from None
    for key in ("imap_tls", "smtp_tls"):
        mode = getattr(settings, key)
        if mode not in TLS_MODES:
            raise ConfigError(f"{_env_name(key)}: expected one of {', '.join(TLS_MODES)}, got {mode!r}")
        host = settings.imap_host if key == "imap_tls" else settings.smtp_host
        if mode == "none" and host not in (None, "127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"{_env_name(key)}=none is only allowed for a server on 127.0.0.1")
    return settings
