"""The planner's snapshots read on the driver level equal the ones built from ORM objects, on both databases."""

from __future__ import annotations

import gc
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.adapters.db.engine import open_database
from bot.adapters.db.models import Client, Contact, Invoice, Task
from bot.app.plan_snapshots import client_snapshots, gc_paused, make_snapshot, open_invoice_groups
from bot.domain.invoice import InvoiceState
from bot.domain.planner import InvoiceSnapshot

NOW = datetime(2026, 11, 1, 8, tzinfo=UTC)
DAY = date(2026, 11, 3)


def _ledger(url: str) -> Session:
    engine = open_database(url)
    rnd = random.Random(5)
    with engine.begin() as conn:
        conn.execute(
            insert(Client),
            [
                {
                    "client_id": f"C{c:03d}",
                    "name": f"Client {c}",
                    "language": "fr",
                    "profile": "standard",
                    "excluded": c == 3,
                    "paused_until": DAY if c == 4 else None,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for c in range(12)
            ],
        )
        conn.execute(
            insert(Contact),
            [{"client_id": f"C{c:03d}", "email": f"a{c}@x.test", "position": 0, "updated_at": NOW} for c in range(10)],
        )
        conn.execute(
            insert(Task),
            [
                {
                    "kind": "letter",
                    "client_id": "C005",
                    "reason": "r",
                    "status": "open",
                    "due_on": DAY - timedelta(days=2),
                    "created_at": NOW,
                }
            ],
        )
        rows = []
        for i in range(400):
            amount = Decimal(rnd.randint(1, 10**7)) / 100
            rows.append(
                {
                    "number": f"N{i:04d}",
                    "normalised_number": f"N{i:04d}",
                    "client_id": f"C{rnd.randrange(12):03d}",
                    "issue_date": DAY - timedelta(days=rnd.randint(30, 90)),
                    "due_date": DAY - timedelta(days=rnd.randint(-10, 60)),
                    "amount": amount,
                    "currency": "EUR",
                    "amount_paid": rnd.choice([Decimal(0), amount / 2, amount]).quantize(Decimal("0.01")),
                    "state": rnd.choice(["open", "open", "open", "paid", "promised"]),
                    "paused_until": rnd.choice([None, DAY + timedelta(days=rnd.randint(-3, 3))]),
                    "promise_date": rnd.choice([None, None, DAY - timedelta(days=rnd.randint(0, 9))]),
                    "last_step": rnd.choice([None, "reminder_1", "gone"]),
                    "last_step_on": rnd.choice([None, DAY - timedelta(days=rnd.randint(1, 20))]),
                    "cycle": rnd.randint(0, 2),
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
        conn.execute(insert(Invoice), rows)
    return Session(engine)


def _reference(session: Session) -> list[tuple[str, list[InvoiceSnapshot]]]:
    groups: dict[str, list[InvoiceSnapshot]] = {}
    query = select(Invoice).where(Invoice.state == "open").order_by(Invoice.client_id, Invoice.number)
    for i in session.scalars(query):
        groups.setdefault(i.client_id, []).append(
            InvoiceSnapshot(
                i.number,
                i.client_id,
                i.issue_date,
                i.due_date,
                i.amount,
                i.amount_paid,
                i.currency,
                InvoiceState.OPEN,
                i.paused_until,
                i.promise_date,
                i.last_step,
                i.last_step_on,
                i.cycle,
            )
        )
    return sorted(groups.items())


def test_open_invoices_match_the_orm_reading(db_url: str) -> None:
    with _ledger(db_url) as session:
        expected = _reference(session)
        got = [(c, sorted(g, key=lambda s: s.number)) for c, g in open_invoice_groups(session)]
    assert [c for c, _ in got] == sorted(c for c, _ in got), "clients come in order, each once"
    assert got == expected
    assert sum(len(g) for _, g in got) > 100
    for (_c, ours), (_c2, theirs) in zip(got, expected, strict=True):
        for a, b in zip(ours, theirs, strict=True):
            assert type(a) is InvoiceSnapshot
            assert [type(getattr(a, f)) for f in a.__slots__] == [type(getattr(b, f)) for f in b.__slots__]
            assert str(a.amount) == str(b.amount)  # same scale, not only equal


def test_client_snapshots_carry_contacts_pauses_and_last_letter(db_url: str) -> None:
    with _ledger(db_url) as session:
        clients = client_snapshots(session)
    assert len(clients) == 12
    assert clients["C001"].emails == ("a1@x.test",) and clients["C011"].emails == ()
    assert clients["C003"].excluded and clients["C004"].paused_until == DAY
    assert clients["C005"].last_reminder_on == DAY - timedelta(days=2)


def test_fast_snapshot_is_a_real_frozen_snapshot() -> None:
    args = ("N1", "C1", DAY, DAY, Decimal("1.00"), Decimal("0"), "EUR", InvoiceState.OPEN, None, None, None, None, 0)
    fast, normal = make_snapshot(*args), InvoiceSnapshot(*args)
    assert make_snapshot is not InvoiceSnapshot, "the fast constructor no longer fits InvoiceSnapshot's fields"
    assert type(fast) is InvoiceSnapshot and fast == normal and hash(fast) == hash(normal)
    with pytest.raises(AttributeError):
        fast.amount = Decimal(2)  # type: ignore[misc]


def test_gc_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError
    assert gc.isenabled()
