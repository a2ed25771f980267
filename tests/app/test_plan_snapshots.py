"""The planner's rows read on the driver level equal the ones built from ORM objects, on both databases."""

from __future__ import annotations

import gc
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from bot.adapters.db.engine import open_database
from bot.adapters.db.models import Client, Contact, Invoice, Task
from bot.adapters.holiday_calendar import calendars_for
from bot.adapters.profiles_yaml import load_profiles
from bot.app import plan_snapshots
from bot.app.plan_snapshots import OPEN_COLUMNS, client_snapshots, gc_paused, open_invoice_groups
from bot.domain.invoice import InvoiceState
from bot.domain.planner import InvoiceRow, InvoiceSnapshot, Planner, as_row, plan

REPO = Path(__file__).resolve().parents[2]
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


def _read(session: Session) -> list[tuple[str, list[InvoiceRow]]]:
    return [(c, sorted(rows, key=lambda r: r[1])) for c, rows in open_invoice_groups(session)]


def test_open_invoice_rows_match_the_orm_reading(db_url: str) -> None:
    with _ledger(db_url) as session:
        expected = _reference(session)
        got = _read(session)
    assert [c for c, _ in got] == sorted(c for c, _ in got), "clients come in order, each once"
    assert [c for c, _ in got] == [c for c, _ in expected]
    assert sum(len(g) for _, g in got) > 100
    for (_c, rows), (_c2, snapshots) in zip(got, expected, strict=True):
        assert len(rows) == len(snapshots)
        for row, snap in zip(rows, snapshots, strict=True):
            want = as_row(snap)
            amounts = slice(3, 5)
            assert row[: amounts.start] + row[amounts.stop :] == want[: amounts.start] + want[amounts.stop :]
            for position, (got_value, want_value) in enumerate(zip(row, want, strict=True)):
                if position not in (3, 4):
                    assert type(got_value) is type(want_value)  # dates are dates on SQLite too
            # SQLite returns floats for NUMERIC(14, 2): the same two-decimal amounts, ordered the same way.
            assert [Decimal(f"{a:.2f}") for a in row[amounts]] == list(want[amounts])
            assert (row[4] >= row[3]) == (want[4] >= want[3])


def test_the_query_columns_are_the_planner_row_layout() -> None:
    fields = {
        "client_id": "client_id",
        "number": "number",
        "due_date": "due_date",
        "amount": "amount",
        "amount_paid": "amount_paid",
        "paused_until": "paused_until",
        "promise_date": "promise_date",
        "last_step": "last_step",
        "last_step_on": "last_step_on",
        "cycle": "cycle",
    }
    snapshot = InvoiceSnapshot(
        *[f"v{i}" for i in range(7)],  # type: ignore[arg-type]
        InvoiceState.OPEN,
        *[f"w{i}" for i in range(5)],  # type: ignore[arg-type]
    )
    by_value = {getattr(snapshot, f): f for f in fields}
    assert tuple(by_value[v] for v in as_row(snapshot)) == OPEN_COLUMNS


def test_plan_from_rows_equals_plan_from_snapshots(db_url: str) -> None:
    config, calendars = load_profiles(REPO / "config" / "profiles.yaml"), None
    calendars = calendars_for(config)
    as_of = datetime(2026, 11, 3, 11, tzinfo=UTC)
    with _ledger(db_url) as session:
        clients = client_snapshots(session)
        planner = Planner(as_of, config, calendars, NOW)
        from_rows = [a for c, rows in open_invoice_groups(session) for a in planner.plan_rows(clients[c], rows)]
        reference = [s for _c, group in _reference(session) for s in group]
    expected = plan(as_of, clients.values(), reference, config, calendars, NOW)
    assert len(expected) > 10
    assert sorted(from_rows, key=repr) == sorted(expected, key=repr)


def test_an_abandoned_stream_leaves_the_session_usable(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_snapshots, "FETCH", 7)  # the query is still running when the reader stops
    with _ledger(db_url) as session:
        groups = open_invoice_groups(session)
        next(groups)
        groups.close()
        assert session.scalar(select(func.count()).select_from(Invoice)) == 400
        assert len(_read(session)) == len(_reference(session))


@pytest.mark.postgres
def test_a_stream_left_mid_flight_leaves_the_transaction_usable(postgres_url: str) -> None:
    with _ledger(postgres_url) as session:
        # Far more rows than the socket buffers hold, so the server is still sending when the reader stops.
        session.execute(
            text(
                "INSERT INTO invoices (number, normalised_number, client_id, issue_date, due_date, amount, "
                "currency, amount_paid, state, cycle, created_at, updated_at) "
                "SELECT 'B' || g, 'B' || g, 'C001', DATE '2026-10-01', DATE '2026-11-02', 10.50, 'EUR', 0, "
                "'open', 0, now(), now() FROM generate_series(1, 60000) AS g"
            )
        )
        groups = open_invoice_groups(session)
        next(groups)
        groups.close()
        assert session.scalar(select(func.count()).select_from(Invoice)) == 60400


@pytest.mark.postgres
def test_postgres_without_chunked_rows_uses_a_named_cursor(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with _ledger(postgres_url) as session:
        expected = _read(session)
        monkeypatch.setattr(plan_snapshots, "_LIBPQ_CHUNKED", 10**9)
        assert _read(session) == expected
        session.execute(select(1))


def test_client_snapshots_carry_contacts_pauses_and_last_letter(db_url: str) -> None:
    with _ledger(db_url) as session:
        clients = client_snapshots(session)
    assert len(clients) == 12
    assert clients["C001"].emails == ("a1@x.test",) and clients["C011"].emails == ()
    assert clients["C003"].excluded and clients["C004"].paused_until == DAY
    assert clients["C005"].last_reminder_on == DAY - timedelta(days=2)


def test_gc_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError
    assert gc.isenabled()
