"""Choosing adapters from settings: SMTP or a local folder, IMAP or a Maildir, the template renderer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import TemplateVersion
from bot.app.runtime import resolve_resource
from bot.app.settings import Settings
from bot.ports import Mailbox, MailSender, Renderer

TlsMode = Literal["ssl", "starttls", "none"]


def template_root(settings: Settings) -> Path:
    return resolve_resource(settings.templates_dir, "templates")


def make_renderer(settings: Settings, factory: sessionmaker[Session] | None = None) -> Renderer:
    """The file templates, overridden by the newest version saved from the web UI (read per render)."""
    from bot.adapters.render import TemplateRenderer

    overrides: Callable[[str, str], str | None] | None = None
    if factory is not None:

        def overrides(name: str, language: str) -> str | None:
            # The loader asks for part files ("reminder_1.txt.j2"); the web editor stores "reminder_1.txt".
            with factory() as session:
                return session.scalar(
                    select(TemplateVersion.source)
                    .where(TemplateVersion.name == name.removesuffix(".j2"), TemplateVersion.language == language)
                    .order_by(TemplateVersion.id.desc())
                    .limit(1)
                )

    return TemplateRenderer(template_root(settings), overrides=overrides)


def sender_factory(settings: Settings) -> Callable[[], MailSender]:
    """SMTP when a host is configured, else the local outbox folder (each message saved as .eml)."""
    if settings.smtp_host:
        from bot.adapters.smtp import SmtpSender

        host = settings.smtp_host

        def smtp() -> MailSender:
            return SmtpSender(
                host,
                settings.smtp_port,
                username=settings.smtp_user,
                password=settings.smtp_password,
                tls=cast(TlsMode, settings.smtp_tls),
            )

        return smtp
    from bot.adapters.outbox_dir import DirectorySender

    folder = settings.outbox_dir
    return lambda: DirectorySender(folder)


def open_mailbox(settings: Settings) -> Mailbox:
    """IMAP when a host is configured, else the local Maildir."""
    if settings.imap_host:
        from bot.adapters.imap import ImapConfig, ImapMailbox

        return ImapMailbox(
            ImapConfig(
                host=settings.imap_host,
                user=settings.imap_user or "",
                password=settings.imap_password or "",
                port=settings.imap_port,
                tls=cast(TlsMode, settings.imap_tls),
                folder=settings.imap_folder,
            )
        )
    from bot.adapters.maildir import MaildirMailbox

    return MaildirMailbox(settings.maildir)
