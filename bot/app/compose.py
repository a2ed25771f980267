"""Turning a decision into an outbox row: template context from the ledger, rendering, headers.

One place builds every outgoing message (reminders and acknowledgements), so headers, Message-IDs and the
envelope are the same whatever asked for the message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from bot.adapters.db.models import Client, Invoice, OutboxMessage
from bot.adapters.mail_build import build_mail, make_message_id
from bot.adapters.render_context import InvoiceLike
from bot.app.outbox import add_outbox_row, outbox_values
from bot.app.settings import Settings
from bot.domain.penalties import LegalRates
from bot.ports import OutgoingMail, Renderer

if TYPE_CHECKING:
    from bot.adapters.render_context import CompanyInfo
    from bot.app.batch_rows import InvoiceRow


class ClientFields(Protocol):
    """What composing reads of a client: a ``Client`` row, or a plain row loaded for a batch."""

    @property
    def client_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def language(self) -> str: ...


#: What composing reads of an invoice: an ``Invoice`` row, or a plain row loaded for a batch (``build_context``'s).
InvoiceFields = InvoiceLike


@dataclass(frozen=True)
class Composer:
    """What composing needs besides the session: settings, the renderer and the legal rates of profiles.yaml."""

    settings: Settings
    renderer: Renderer
    legal_rates: LegalRates | Mapping[str, object] | None = None

    @cached_property
    def _company(self) -> CompanyInfo:
        from bot.adapters.render_context import CompanyInfo

        company = self.settings.company
        return CompanyInfo(
            name=company.name,
            signature_name=company.signature,
            email=company.email,
            phone=company.phone,
            iban=company.iban,
            bic=company.bic,
        )

    @property
    def domain(self) -> str:
        return self.settings.from_address.rpartition("@")[2] or "relance.invalid"

    @cached_property
    def _domain(self) -> str:
        return self.domain

    @cached_property
    def _deadline(self) -> timedelta:
        return timedelta(hours=self.settings.send_deadline_hours)

    def context(
        self,
        client: ClientFields,
        invoices: Sequence[InvoiceFields],
        *,
        step: str,
        today: date,
        jurisdiction: str = "fr",
        **extra: Any,
    ) -> dict[str, object]:
        from bot.adapters.render_context import build_context

        return build_context(
            client_id=client.client_id,
            client_name=client.name,
            invoices=invoices,  # read like InvoiceFacts, attribute by attribute
            company=self._company,
            language=client.language,
            step=step,
            today=today,
            jurisdiction=jurisdiction,
            legal_rates=self.legal_rates if jurisdiction != "none" else None,
            **extra,
        )

    def enqueue(
        self,
        session: Session,
        *,
        key: str,
        kind: str,
        template: str,
        client: Client,
        invoices: Sequence[Invoice],
        recipients: Sequence[str],
        now: datetime,
        today: date,
        step: str | None = None,
        jurisdiction: str = "fr",
        in_reply_to: str | None = None,
        references: Sequence[str] = (),
        attachments: Sequence[tuple[str, str, bytes]] = (),
        not_before: datetime | None = None,
        fresh_key: bool = False,
        **extra: Any,
    ) -> OutboxMessage | None:
        """Render ``template`` for the client and record it in the outbox under ``key`` (once only).

        ``fresh_key``: the caller knows no stored row can hold ``key`` (see ``outbox.add_outbox_row``).
        """
        values = self.outbox_row(
            key=key,
            kind=kind,
            template=template,
            client=client,
            invoices=invoices,
            recipients=recipients,
            now=now,
            today=today,
            step=step,
            jurisdiction=jurisdiction,
            in_reply_to=in_reply_to,
            references=references,
            attachments=attachments,
            not_before=not_before,
            **extra,
        )
        return add_outbox_row(session, values, fresh_key=fresh_key)

    def outbox_row(
        self,
        *,
        key: str,
        kind: str,
        template: str,
        client: ClientFields,
        invoices: Sequence[InvoiceFields],
        recipients: Sequence[str],
        now: datetime,
        today: date,
        step: str | None = None,
        jurisdiction: str = "fr",
        in_reply_to: str | None = None,
        references: Sequence[str] = (),
        attachments: Sequence[tuple[str, str, bytes]] = (),
        not_before: datetime | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """The outbox row ``enqueue`` would add, as column values for ``outbox.insert_outbox``.

        For callers recording many messages in one transaction; checking that ``key`` is new (the stored rows
        and ``outbox.claim_key``) is theirs.
        """
        subject, mail = self.render_mail(
            key=key,
            kind=kind,
            template=template,
            client=client,
            invoices=invoices,
            recipients=recipients,
            now=now,
            today=today,
            step=step,
            jurisdiction=jurisdiction,
            in_reply_to=in_reply_to,
            references=references,
            attachments=attachments,
            not_before=not_before,
            **extra,
        )
        return outbox_values(
            key=key,
            mail=mail,
            kind=kind,
            client_id=client.client_id,
            invoice_numbers=[i.number for i in invoices],
            step=step,
            template=template,
            language=client.language,
            subject=subject,
            now=now,
            deadline=self._deadline,
            not_before=not_before,
        )

    def render_mail(
        self,
        *,
        key: str,
        kind: str,
        template: str,
        client: ClientFields,
        invoices: Sequence[InvoiceFields],
        recipients: Sequence[str],
        now: datetime,
        today: date,
        step: str | None = None,
        jurisdiction: str = "fr",
        in_reply_to: str | None = None,
        references: Sequence[str] = (),
        attachments: Sequence[tuple[str, str, bytes]] = (),
        not_before: datetime | None = None,
        **extra: Any,
    ) -> tuple[str, OutgoingMail]:
        """Render ``template`` for the client and build the message: (subject, message ready to send)."""
        language = client.language
        # Late-payment penalties are computed only for the templates that show them (the formal notices).
        shown = self.renderer.variables(template, language)
        context = self.context(
            client,
            invoices,
            step=step or template,
            today=today,
            jurisdiction=jurisdiction,
            attachment_names=[a[0] for a in attachments],
            with_penalties=shown is None or "penalties" in shown,
            **extra,
        )
        rendered = self.renderer.render(template, language, context)
        mail = build_mail(
            sender=self.settings.from_address,
            sender_name=self.settings.from_name,
            to=list(recipients),
            reply_to=self.settings.from_address,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=make_message_id(key, self._domain),
            date=not_before or now,
            in_reply_to=in_reply_to,
            references=list(references),
            attachments=list(attachments),
            auto_submitted="auto-generated" if kind == "reminder" else "auto-replied",
        )
        return rendered.subject, mail


def invoice_document(invoice: Invoice | InvoiceRow) -> tuple[str, str, bytes] | None:
    """The invoice's PDF, when the ledger names one that exists."""
    if not invoice.document_path:
        return None
    path = Path(invoice.document_path)
    if not path.is_file():
        return None
    return (path.name, "application/pdf", path.read_bytes())


def short_hash(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"
