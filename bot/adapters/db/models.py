"""SQLAlchemy models of the ledger, the mail traffic, the review work and the audit trail.

Amounts are ``Numeric(14, 2)`` (exact decimals, never floats). Timestamps are stored as timezone-aware UTC;
SQLite has no zone type, so :class:`UtcDateTime` re-attaches UTC on the way out.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, whatever the backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Money = Numeric(14, 2, asdecimal=True)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: dict[Any, Any] = {datetime: UtcDateTime(), Decimal: Money, dict[str, Any]: JSON}


class Client(Base):
    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    language: Mapped[str] = mapped_column(String(8))
    profile: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(64), default=None)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_until: Mapped[date | None] = mapped_column(Date, default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    contacts: Mapped[list[Contact]] = relationship(
        back_populates="client", order_by="Contact.position", cascade="all, delete-orphan"
    )


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("client_id", "email"), Index("ix_contacts_email", "email"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id"))
    email: Mapped[str] = mapped_column(String(320))
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | bouncing | wrong
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime]

    client: Mapped[Client] = relationship(back_populates="contacts")


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_state_due", "state", "due_date"),
        Index("ix_invoices_client", "client_id"),
        Index("ix_invoices_norm", "normalised_number"),
    )

    number: Mapped[str] = mapped_column(String(64), primary_key=True)
    normalised_number: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id"))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    amount_paid: Mapped[Decimal]
    state: Mapped[str] = mapped_column(String(20), default="open")
    paused_until: Mapped[date | None] = mapped_column(Date, default=None)
    promise_date: Mapped[date | None] = mapped_column(Date, default=None)
    last_step: Mapped[str | None] = mapped_column(String(64), default=None)
    last_step_on: Mapped[date | None] = mapped_column(Date, default=None)
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    document_path: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @property
    def balance(self) -> Decimal:
        return self.amount - self.amount_paid


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("invoice_number", "amount", "paid_on", "reference", name="uq_payment"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_number: Mapped[str] = mapped_column(ForeignKey("invoices.number"), index=True)
    amount: Mapped[Decimal]
    paid_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(200), default="")
    recorded_at: Mapped[datetime]


class ImportRun(Base):
    """One successful import; the newest ``payments`` run tells whether the ledger is fresh."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime]


class OutboxMessage(Base):
    """A message decided on and recorded before any attempt to send it (the durable outbox)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(400), unique=True)
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # reminder | ack
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), index=True)
    invoice_numbers: Mapped[list[str]] = mapped_column(JSON)
    step: Mapped[str | None] = mapped_column(String(64), default=None)
    template: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending|sending|sent|failed|cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(120), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class InboundMessage(Base):
    """Every message read from the inbox, kept with its raw bytes whatever happened to it."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_inbound_coords"),
        Index("ix_inbound_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(300))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(300), default=None)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # processed | review | quarantined | duplicate
    error: Mapped[str | None] = mapped_column(Text, default=None)
    sender: Mapped[str | None] = mapped_column(String(320), default=None)
    subject: Mapped[str | None] = mapped_column(Text, default=None)
    client_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime]


class ClassificationRecord(Base):
    __tablename__ = "classifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"), index=True)
    intent: Mapped[str] = mapped_column(String(32), index=True)
    secondary_intents: Mapped[list[str]] = mapped_column(JSON)
    needs_human: Mapped[bool] = mapped_column(Boolean)
    confidence: Mapped[float]
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    promised_date: Mapped[date | None] = mapped_column(Date, default=None)
    paid_date: Mapped[date | None] = mapped_column(Date, default=None)
    amount: Mapped[Decimal | None] = mapped_column(default=None)
    invoice_numbers: Mapped[list[str]] = mapped_column(JSON)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    match_reasons: Mapped[list[str]] = mapped_column(JSON)
    reply_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class ReviewItem(Base):
    """Something a collector must decide, with the evidence that led the bot to ask."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(
        String(32)
    )  # reply | unmatched | quarantine | claim_unverified | client_flag
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"), default=None)
    client_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    invoice_numbers: Mapped[list[str]] = mapped_column(JSON, default=list)
    intent: Mapped[str | None] = mapped_column(String(32), default=None)
    confidence: Mapped[float | None] = mapped_column(default=None)
    amount: Mapped[Decimal | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(Text)
    source_key: Mapped[str | None] = mapped_column(String(300), unique=True, default=None)
    corrected_intent: Mapped[str | None] = mapped_column(String(32), default=None)
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class Task(Base):
    """A call or a letter for a person to do."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_status", "status", "due_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # call | letter | escalate
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), index=True)
    invoice_numbers: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text)
    source_key: Mapped[str | None] = mapped_column(String(400), unique=True, default=None)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    due_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    done_by: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None] = mapped_column(default=None)


class Promise(Base):
    """A promise to pay, kept to measure promises kept vs broken."""

    __tablename__ = "promises"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_number: Mapped[str] = mapped_column(ForeignKey("invoices.number"), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    promised_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal | None] = mapped_column(default=None)
    source: Mapped[str] = mapped_column(String(32))  # reply | call | review
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | kept | broken | superseded
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEntry(Base):
    """Append-only: every change to the ledger or to a contact, with who did it and why."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(120))  # bot | import | user:NAME | api:NAME
    entity: Mapped[str] = mapped_column(
        String(32)
    )  # invoice | client | contact | outbox | inbound | review | task
    entity_id: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(64))
    old: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    new: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)


class MailboxCheckpoint(Base):
    __tablename__ = "mailbox_checkpoints"

    mailbox: Mapped[str] = mapped_column(String(300), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class TemplateVersion(Base):
    """A template edited in the web UI; the newest version of a (name, language) wins over the file."""

    __tablename__ = "template_versions"
    __table_args__ = (Index("ix_template_versions_name", "name", "language", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]


class ProfileVersion(Base):
    """profiles.yaml as edited in the web UI; the newest wins over the file."""

    __tablename__ = "profile_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]


class LeaderLease(Base):
    """A named lease (e.g. the inbox listener) for databases without advisory locks (SQLite)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime]
