"""Client import: upsert clients and their contacts from clients.csv, all-or-nothing, audited."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import transaction
from bot.adapters.db.models import Client, Contact
from bot.app.audit import audit
from bot.app.csvfile import read_csv
from bot.app.import_run import ACTOR, ImportResult, Progress, collect_rows, record_run
from bot.domain.errors import InputError
from bot.domain.ledger import CLIENT_COLUMNS, ClientRow, parse_client_row


def import_clients(
    factory: sessionmaker[Session],
    path: Path,
    *,
    now: datetime,
    profiles: set[str],
    progress: Progress | None = None,
) -> ImportResult:
    table = read_csv(path, CLIENT_COLUMNS)
    records, problems = collect_rows(
        table, lambda line, v: parse_client_row(line, v, profiles), lambda r: r.client_id, "client_id"
    )
    if problems:
        raise InputError(table.source, problems)
    created = updated = 0
    with transaction(factory) as session:
        existing = {c.client_id: c for c in session.scalars(select(Client))}
        for i, (_line, row) in enumerate(records):
            client = existing.get(row.client_id)
            if client is None:
                _create_client(session, row, now)
                created += 1
            elif _update_client(session, client, row, now):
                updated += 1
            if progress and i % 500 == 0:
                progress(i)
        record_run(session, table, "clients", now, created, updated)
    return ImportResult("clients", len(records), created, updated, len(records) - created - updated)


def _create_client(session: Session, row: ClientRow, now: datetime) -> None:
    client = Client(
        client_id=row.client_id,
        name=row.name,
        language=row.language,
        profile=row.profile,
        created_at=now,
        updated_at=now,
    )
    client.contacts = [Contact(email=e, position=i, status="active", updated_at=now) for i, e in enumerate(row.emails)]
    session.add(client)
    audit(
        session,
        at=now,
        actor=ACTOR,
        entity="client",
        entity_id=row.client_id,
        action="created",
        new={"name": row.name, "emails": list(row.emails), "language": row.language, "profile": row.profile},
        reason="client imported",
    )


def _update_client(session: Session, client: Client, row: ClientRow, now: datetime) -> bool:
    old = {
        "name": client.name,
        "language": client.language,
        "profile": client.profile,
        "emails": [c.email for c in client.contacts],
    }
    new = {"name": row.name, "language": row.language, "profile": row.profile, "emails": list(row.emails)}
    if old == new:
        return False
    client.name, client.language, client.profile = row.name, row.language, row.profile
    by_email = {c.email: c for c in client.contacts}
    contacts = []
    for i, email in enumerate(row.emails):
        contact = by_email.pop(email, None) or Contact(email=email, status="active", updated_at=now)
        contact.position = i
        contacts.append(contact)
    client.contacts = contacts  # contacts no longer listed are removed (delete-orphan); the audit keeps them
    client.updated_at = now
    audit(
        session,
        at=now,
        actor=ACTOR,
        entity="client",
        entity_id=client.client_id,
        action="updated",
        old=old,
        new=new,
        reason="client row changed in import",
    )
    return True
