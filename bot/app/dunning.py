"""One dunning cycle: plan from the ledger, then record each due action (outbox row, task or escalation).

The plan is streamed client by client from the database (open invoices only, ordered by client), so a
million invoices never sit in memory at once. Recording an action and moving the invoices' ladder position
happen in one transaction; the outbox key makes a second cycle on the same day record nothing.

Recording the due actions is ``dunning_record``; the daily checks of promises and payment claims are
``pause_checks``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import ImportRun
from bot.app.dunning_record import CycleReport, record_actions
from bot.app.plan_snapshots import client_snapshots, gc_paused, open_invoice_groups
from bot.app.profiles import current_profiles
from bot.app.settings import Settings
from bot.domain.planner import PlannedAction, Planner
from bot.ports import Clock, Renderer

log = logging.getLogger(__name__)


def last_payments_import(session: Session) -> datetime | None:
    return session.scalar(select(func.max(ImportRun.imported_at)).where(ImportRun.kind == "payments"))


def plan_actions(session: Session, settings: Settings, as_of: datetime) -> tuple[list[PlannedAction], Planner]:
    """Everything due at ``as_of``, blocked ones included (what ``relance plan`` shows)."""
    config, calendars = current_profiles(settings, session)
    planner = Planner(as_of, config, calendars, last_payments_import(session))
    actions: list[PlannedAction] = []
    with gc_paused():  # see gc_paused: about a fifth of a large plan went to pointless collections
        clients = client_snapshots(session)
        for client_id, rows in open_invoice_groups(session):
            client = clients.get(client_id)
            if client is not None:
                actions.extend(planner.plan_rows(client, rows))
    return actions, planner


def run_cycle(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    renderer: Renderer,
    *,
    refuse_when_stale: bool = True,
) -> CycleReport:
    """Plan now and record every action that is due and allowed; returns what was done."""
    with factory() as session:
        actions, _planner = plan_actions(session, settings, clock.now())
    return record_actions(factory, settings, clock, renderer, actions, refuse_when_stale=refuse_when_stale)
