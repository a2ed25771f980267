"""KPIs for the team: DSO, ageing, recovery, promises, replies per intent, reminders per step."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.adapters.db.models import ClassificationRecord, OutboxMessage, Promise
from bot.adapters.web.charts import bars
from bot.adapters.web.context import db, web
from bot.adapters.web.pages import money, percent, render
from bot.adapters.web.queries import currencies, invoice_facts
from bot.domain.kpi import ageing, average_days_late, dso, promise_tally, recovery_rate

router = APIRouter()
Db = Annotated[Session, Depends(db)]
WEEKS = 8
AGEING_CSS = ("ok", "warn1", "warn2", "warn3", "bad")


@router.get("/dashboard")
def dashboard(request: Request, session: Db) -> Response:
    now = web(request).clock.now()
    today = now.date()
    per_currency: list[dict[str, Any]] = []
    for currency in currencies(session):
        facts = invoice_facts(session, currency)
        buckets = ageing(facts, today)
        per_currency.append(
            {
                "currency": currency,
                "dso": dso(facts, today),
                "recovery": recovery_rate(facts, today),
                "days_late": average_days_late(facts),
                "overdue": sum((b.amount for b in buckets[1:]), start=Decimal(0)),
                "ageing": bars(
                    [(b.label, b.amount, f"{money(b.amount, currency)} · {b.count}") for b in buckets],
                    AGEING_CSS,
                ),
            }
        )
    tally = promise_tally(session.scalars(select(Promise.status)))
    since = now - timedelta(weeks=WEEKS)
    intents = session.execute(
        select(ClassificationRecord.intent, func.count())
        .where(ClassificationRecord.created_at >= since)
        .group_by(ClassificationRecord.intent)
        .order_by(func.count().desc())
    ).all()
    weekly = _weekly_intents(session, since)
    steps = session.execute(
        select(OutboxMessage.step, func.count())
        .where(OutboxMessage.kind == "reminder", OutboxMessage.status == "sent")
        .group_by(OutboxMessage.step)
        .order_by(OutboxMessage.step)
    ).all()
    return render(
        request,
        "dashboard.html",
        {
            "today": today,
            "per_currency": per_currency,
            "tally": tally,
            "kept_rate": percent(tally.kept_rate),
            "promise_bars": bars(
                [
                    ("kept", tally.kept, str(tally.kept)),
                    ("broken", tally.broken, str(tally.broken)),
                    ("pending", tally.pending, str(tally.pending)),
                ],
                ("ok", "bad", "neutral"),
            ),
            "intent_bars": bars([(str(i), n, str(n)) for i, n in intents]),
            "weekly": weekly,
            "step_bars": bars([(s or "(none)", n, str(n)) for s, n in steps]),
            "weeks": WEEKS,
        },
    )


def _weekly_intents(session: Session, since: Any) -> dict[str, Any]:
    """Replies per ISO week and intent, as a small table the page shades by count."""
    counts: dict[tuple[str, str], int] = {}
    weeks: set[str] = set()
    names: set[str] = set()
    for created, intent in session.execute(
        select(ClassificationRecord.created_at, ClassificationRecord.intent).where(
            ClassificationRecord.created_at >= since
        )
    ):
        year, week, _ = created.isocalendar()
        key = f"{year}-W{week:02d}"
        weeks.add(key)
        names.add(intent)
        counts[(key, intent)] = counts.get((key, intent), 0) + 1
    peak = max(counts.values(), default=0)
    return {"weeks": sorted(weeks), "intents": sorted(names), "counts": counts, "peak": peak}
