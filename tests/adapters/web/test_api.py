"""REST API: bearer tokens (missing, wrong, revoked, expired, wrong role), pushes validated like CSV."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.db.engine import session_factory
from bot.adapters.db.models import AuditEntry, ImportRun, Invoice, User
from bot.app.clock import FixedClock
from bot.app.users import create_token, revoke_token
from tests.adapters.web.conftest import NOW, TestClient

INVOICE = {
    "invoice_number": "API-1",
    "client_id": "C1",
    "issue_date": "2026-11-01",
    "due_date": "2026-12-01",
    "amount": "250.00",
    "currency": "EUR",
    "amount_paid": "0",
}


def _token(engine, username: str, expires_in: timedelta | None = None) -> str:  # type: ignore[no-untyped-def]
    with session_factory(engine)() as s, s.begin():
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        return create_token(s, user, "test", NOW + expires_in if expires_in else None, now=NOW)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_missing_and_wrong_tokens(anon: TestClient) -> None:
    assert anon.get("/api/v1/review-items").status_code == 401
    assert anon.get("/api/v1/review-items", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}).status_code == 401
    assert anon.get("/api/v1/review-items", headers=_auth("rl_not-a-real-token")).status_code == 401


def test_session_cookie_does_not_open_the_api(as_role) -> None:  # type: ignore[no-untyped-def]
    assert as_role("admin").get("/api/v1/review-items").status_code == 401


def test_revoked_token(anon: TestClient, engine) -> None:  # type: ignore[no-untyped-def]
    token = _token(engine, "viewer")
    assert anon.get("/api/v1/review-items", headers=_auth(token)).status_code == 200
    with session_factory(engine)() as s, s.begin():
        assert revoke_token(s, 1, now=NOW)
    assert anon.get("/api/v1/review-items", headers=_auth(token)).status_code == 401


def test_expired_token(anon: TestClient, engine, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    token = _token(engine, "viewer", timedelta(hours=1))
    assert anon.get("/api/v1/clients/C1", headers=_auth(token)).status_code == 200
    clock.advance(timedelta(hours=2))
    assert anon.get("/api/v1/clients/C1", headers=_auth(token)).status_code == 401


def test_role_of_the_token_user_applies(anon: TestClient, engine) -> None:  # type: ignore[no-untyped-def]
    viewer = _token(engine, "viewer")
    author = _token(engine, "template_author")
    assert anon.post("/api/v1/invoices", json={"invoices": [INVOICE]}, headers=_auth(viewer)).status_code == 403
    assert anon.get("/api/v1/review-items", headers=_auth(author)).status_code == 403


def test_push_invoices_then_payment(anon: TestClient, engine) -> None:  # type: ignore[no-untyped-def]
    admin = _auth(_token(engine, "admin"))
    r = anon.post("/api/v1/invoices", json={"invoices": [INVOICE]}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"rows": 1, "created": 1, "updated": 0, "unchanged": 0}
    r = anon.post(
        "/api/v1/payments",
        headers=admin,
        json={
            "payments": [{"invoice_number": "API-1", "amount": "250.00", "paid_on": "2026-11-19", "reference": "VIR 1"}]
        },
    )
    assert r.status_code == 200, r.text
    with session_factory(engine)() as s:
        inv = s.get(Invoice, "API-1")
        assert inv is not None and inv.state == "paid"
        # The audit trail and the import history name the API user, not a file import.
        actors = set(s.scalars(select(AuditEntry.actor).where(AuditEntry.entity_id == "API-1")))
        assert len(actors) == 1 and next(iter(actors)).startswith("api:")
        assert {r.source for r in s.scalars(select(ImportRun))} == actors
    status = anon.get("/api/v1/clients/C1", headers=admin).json()
    assert {i["number"]: i["state"] for i in status["invoices"]}["API-1"] == "paid"
    events = anon.get("/api/v1/clients/C1/timeline", headers=admin).json()["events"]
    assert any(e["kind"] == "payment" for e in events)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"due_date": "2026-10-01"}, "due_date"),  # before the issue date
        ({"amount": "-5"}, "amount"),
        ({"currency": "EURO"}, "currency"),
        ({"client_id": "UNKNOWN"}, "client_id"),
        ({"client_id": "C1\r\nBcc: x@evil.test"}, "client_id"),
    ],
)
def test_invalid_invoices_change_nothing(anon: TestClient, engine, change, field) -> None:  # type: ignore[no-untyped-def]
    admin = _auth(_token(engine, "admin"))
    good = dict(INVOICE, invoice_number="API-2")
    bad = dict(INVOICE) | change
    r = anon.post("/api/v1/invoices", json={"invoices": [good, bad]}, headers=admin)
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert any(p["field"] == field and p["index"] == 1 for p in problems), problems
    with session_factory(engine)() as s:
        assert s.get(Invoice, "API-2") is None  # all or nothing


def test_unknown_fields_are_refused(anon: TestClient, engine) -> None:  # type: ignore[no-untyped-def]
    admin = _auth(_token(engine, "admin"))
    r = anon.post("/api/v1/invoices", json={"invoices": [INVOICE | {"state": "paid"}]}, headers=admin)
    assert r.status_code == 422


def test_review_items_listing(anon: TestClient, engine) -> None:  # type: ignore[no-untyped-def]
    body = anon.get("/api/v1/review-items", headers=_auth(_token(engine, "collector"))).json()
    assert body["total"] == 1
    item = body["items"][0]
    assert item["intent"] == "promise_to_pay" and item["client_id"] == "C1"
    assert "<script>" in item["reply_text"]  # JSON carries the text as is; escaping is the reader's job
    assert {e["rule"] for e in item["evidence"]} == {"promise.date", "dispute.verb"}


def test_openapi_schema_is_served(anon: TestClient) -> None:
    schema = anon.get("/api/v1/openapi.json").json()
    assert "/api/v1/invoices" in schema["paths"] and "/api/v1/review-items" in schema["paths"]
