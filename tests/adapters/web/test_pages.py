"""Every page renders for the roles allowed to see it, and shows what a collector needs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.adapters.web.conftest import TestClient, csrf_of

PAGES = [
    "/review",
    "/tasks",
    "/clients",
    "/priorities",
    "/clients/C1",
    "/invoices/F2026-001",
    "/dashboard",
    "/templates",
    "/templates/reminder_1",
    "/profiles",
    "/users",
]


def test_admin_sees_every_page(as_role: Callable[[str], TestClient]) -> None:
    admin = as_role("admin")
    for path in PAGES:
        response = admin.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert "<html" in response.text


def test_review_page_shows_evidence_marked_and_quote_folded(as_role: Callable[[str], TestClient]) -> None:
    page = as_role("collector").get("/review").text
    assert "<mark>nous paierons le 30/11/2026</mark>" in page
    assert "<mark>contestons</mark>" in page
    assert '<details class="quoted"><summary>Quoted text</summary>' in page
    assert "Merci de régler la facture F2026-001." in page
    assert "/invoices/F2026-001" in page and "/clients/C1" in page


def test_review_orders_newest_then_largest(as_role: Callable[[str], TestClient], engine) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta
    from decimal import Decimal

    from bot.adapters.db.engine import session_factory
    from bot.adapters.db.models import ReviewItem
    from tests.adapters.web.conftest import NOW

    with session_factory(engine)() as s, s.begin():
        s.add(ReviewItem(kind="unmatched", reason="small today", amount=Decimal("10"), created_at=NOW))
        s.add(ReviewItem(kind="unmatched", reason="big today", amount=Decimal("9000"), created_at=NOW))
        s.add(
            ReviewItem(
                kind="unmatched",
                reason="huge yesterday",
                amount=Decimal("99999"),
                created_at=NOW - timedelta(days=1),
            )
        )
    page = as_role("collector").get("/review").text
    order = [page.index(r) for r in ("big today", "low confidence", "small today", "huge yesterday")]
    assert order == sorted(order)


def test_healthz_and_metrics_need_no_login(anon: TestClient) -> None:
    health = anon.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "checks": {"database": {"ok": True}, "scheduler": {"ok": True}}}
    metrics = anon.get("/metrics")
    assert metrics.status_code == 200
    assert "relance_web_review_open_items 1.0" in metrics.text


def test_failing_health_check_gives_503(settings, engine, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.adapters.web import WebServices, create_app

    def broken() -> bool:
        raise ConnectionError("imap down, password=hunter2")

    app = create_app(
        settings,
        engine,
        clock=clock,
        services=WebServices(health_checks={"imap": broken, "smtp": lambda: {"ok": False, "last_send": None}}),
    )
    with TestClient(app) as c:
        r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["checks"]["imap"] == {"ok": False, "error": "ConnectionError"}
    assert "hunter2" not in r.text


def test_dashboard_numbers(as_role: Callable[[str], TestClient]) -> None:
    page = as_role("viewer").get("/dashboard").text
    # 1200 EUR is 50 days late on 2026-11-20 (bucket 31-60), 300 EUR not due yet.
    assert "1\u202f200.00 EUR · 1" in page
    assert "300.00 EUR · 1" in page
    assert '<svg class="chart"' in page


def test_priorities_rank_the_overdue_client(as_role: Callable[[str], TestClient]) -> None:
    page = as_role("collector").get("/priorities").text
    assert "/clients/C1" in page and "F2026-001" in page and "F2026-002" not in page


def test_profiles_simulation_lists_steps(as_role: Callable[[str], TestClient]) -> None:
    page = as_role("admin").get("/profiles?profile=standard&due=2026-12-01").text
    assert "Simulation" in page
    assert page.count("<tr><td>2026-") >= 3


def test_export_jsonl_after_a_decision(as_role: Callable[[str], TestClient]) -> None:
    collector = as_role("collector")
    token = csrf_of(collector.get("/review").text)
    r = collector.post("/review/1/done", data={"csrf_token": token, "note": "handled by phone"}, follow_redirects=False)
    assert r.status_code == 303
    lines = collector.get("/review/export.jsonl").text.splitlines()
    assert len(lines) == 1
    label = json.loads(lines[0])
    assert set(label) == {
        "file",
        "intent",
        "secondary_intents",
        "needs_human",
        "language",
        "invoice_numbers",
        "promised_date",
        "amount",
        "paid_date",
        "hard",
        "note",
    }
    assert label["intent"] == "promise_to_pay" and label["note"] == "handled by phone"
    assert label["invoice_numbers"] == ["F2026-001"] and label["promised_date"] == "2026-11-30"


@pytest.mark.parametrize("path", ["/clients/NOPE", "/invoices/NOPE", "/templates/nope"])
def test_unknown_things_are_404_pages(as_role: Callable[[str], TestClient], path: str) -> None:
    r = as_role("admin").get(path)
    assert r.status_code == 404
    assert "Not found" in r.text
