"""Settings: environment over relance.toml, secrets only from the environment or a file, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.settings import load_settings
from bot.domain.errors import ConfigError


def test_environment_wins_over_the_toml_file(tmp_path: Path) -> None:
    (tmp_path / "relance.toml").write_text('web_port = 9000\nsmtp_host = "mx.example"\n[company]\nname = "ACME"\n',
                                           encoding="utf-8")
    settings = load_settings(tmp_path, env={"RELANCE_WEB_PORT": "9100"})
    assert settings.web_port == 9100 and settings.smtp_host == "mx.example" and settings.company.name == "ACME"


def test_secrets_come_from_the_environment_or_a_file_and_never_show(tmp_path: Path) -> None:
    secret = tmp_path / "smtp"
    secret.write_text("s3cret\n", encoding="utf-8")
    settings = load_settings(tmp_path, env={"RELANCE_SMTP_PASSWORD_FILE": str(secret), "RELANCE_SECRET_KEY": "k"})
    assert settings.smtp_password == "s3cret" and settings.secret_key == "k"
    assert "s3cret" not in repr(settings) and settings.public()["smtp_password"] == "***"
    (tmp_path / "relance.toml").write_text('smtp_password = "nope"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="secret"):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize(("env", "words"), [
    ({"RELANCE_SMTP_TLS": "none", "RELANCE_SMTP_HOST": "mx.example"}, "only allowed for a server on 127.0.0.1"),
    ({"RELANCE_IMAP_TLS": "maybe"}, "expected one of"),
    ({"RELANCE_WEB_PORT": "eighty"}, "whole number"),
    ({"RELANCE_DISPLAY_TIMEZONE": "Mars/Olympus"}, "unknown timezone"),
])
def test_bad_values_are_refused_with_the_variable_named(tmp_path: Path, env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_settings(tmp_path, env=env)


def test_unknown_toml_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "relance.toml").write_text("web_prot = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="web_prot"):
        load_settings(tmp_path, env={})


def test_plaintext_is_allowed_on_loopback_and_flags_parse(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={"RELANCE_SMTP_TLS": "none", "RELANCE_SMTP_HOST": "127.0.0.1",
                                            "RELANCE_WEB_SECURE_COOKIES": "true",
                                            "RELANCE_DISPLAY_TIMEZONE": "Europe/London"})
    assert settings.smtp_tls == "none" and settings.web_secure_cookies is True
    assert settings.display_timezone == "Europe/London"
