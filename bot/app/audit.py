"""Append-only audit log: every change with who made it and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.adapters.db.models import AuditEntry


def audit(
    session: Session,
    *,
    at: datetime,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    reason: str,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    evidence: list[dict[str, Any]] | None = None,
) -> None:
    """Add an audit entry to the session (the columns of :func:`audit_values`)."""
    session.add(
        AuditEntry(
            **audit_values(
                at=at,
                actor=actor,
                entity=entity,
                entity_id=entity_id,
                action=action,
                reason=reason,
                old=old,
                new=new,
                evidence=evidence,
            )
        )
    )


def audit_values(
    *,
    at: datetime,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    reason: str,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    evidence: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The columns of the entry ``audit`` adds, for a multi-row INSERT (a batch of replies writes many).

    Every JSON column is given, as ``audit`` gives them: a missing ``old`` is stored as JSON null either way.
    """
    return {
        "at": at,
        "actor": actor,
        "entity": entity,
        "entity_id": entity_id,
        "action": action,
        "old": old,
        "new": new,
        "reason": reason,
        "evidence": evidence,
    }


def jsonable(value: Any) -> Any:
    """Dates and decimals as strings, for the JSON columns of the audit log."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
