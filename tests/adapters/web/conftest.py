"""A seeded SQLite database and signed-in test clients for every role."""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import (
    ClassificationRecord,
    Client,
    Contact,
    InboundMessage,
    Invoice,
    ReviewItem,
    Task,
)
from bot.adapters.web import WebServices, create_app
from bot.app.clock import FixedClock
from bot.app.settings import Settings
from bot.app.users import add_user, configure_hashing

with warnings.catch_warnings():
    # Starlette deprecates httpx in favour of httpx2 at import time; the client works the same.
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

# argon2 at its production cost takes ~0.3-0.9 s per hash on this 2-core machine; the tests check the logic.
configure_hashing(time_cost=1, memory_cost=1024, parallelism=1)

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
ROLES = ("admin", "collector", "template_author", "viewer")
XSS_NAME = 'Dupont <script>alert("name")</script> & Fils'
XSS_REPLY = (
    "Bonjour,\nnous contestons la facture F2026-001 <script>alert('reply')</script>\n"
    '<img src=x onerror="alert(1)"> et nous paierons le 30/11/2026.\nCordialement'
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def password_of(role: str) -> str:
    return f"password-for-{role}"


def _raw_reply() -> bytes:
    msg = EmailMessage()
    msg["From"] = "compta@dupont.test"
    msg["To"] = "collections@relance.test"
    msg["Subject"] = "Re: Facture F2026-001 <b>urgent</b>"
    msg["Message-ID"] = "<reply-1@dupont.test>"
    msg["Date"] = "Thu, 19 Nov 2026 10:00:00 +0100"
    msg.set_content(XSS_REPLY + "\n\n> Le 10/11/2026, Relance a écrit :\n> Merci de régler la facture F2026-001.\n")
    return msg.as_bytes()


def seed(engine: Engine) -> None:
    factory = session_factory(engine)
    with factory() as s, s.begin():
        for role in ROLES:
            add_user(s, role, role, password_of(role), now=NOW)
        client = Client(
            client_id="C1",
            name=XSS_NAME,
            language="fr",
            profile="standard",
            phone="+33 1 23 45 67 89",
            created_at=NOW,
            updated_at=NOW,
        )
        client.contacts = [Contact(email="compta@dupont.test", position=0, status="active", updated_at=NOW)]
        s.add(client)
        s.add_all(
            [
                Invoice(
                    number="F2026-001",
                    normalised_number="F2026001",
                    client_id="C1",
                    issue_date=date(2026, 9, 1),
                    due_date=date(2026, 10, 1),
                    amount=Decimal("1200.00"),
                    currency="EUR",
                    amount_paid=Decimal("0"),
                    state="open",
                    created_at=NOW,
                    updated_at=NOW,
                ),
                Invoice(
                    number="F2026-002",
                    normalised_number="F2026002",
                    client_id="C1",
                    issue_date=date(2026, 11, 1),
                    due_date=date(2026, 12, 1),
                    amount=Decimal("300.00"),
                    currency="EUR",
                    amount_paid=Decimal("0"),
                    state="open",
                    created_at=NOW,
                    updated_at=NOW,
                ),
            ]
        )
        s.flush()
        inbound = InboundMessage(
            mailbox="maildir:test",
            uidvalidity=1,
            uid=1,
            message_id="<reply-1@dupont.test>",
            raw=_raw_reply(),
            status="review",
            sender="compta@dupont.test",
            subject="Re: Facture F2026-001 <b>urgent</b>",
            client_id="C1",
            received_at=NOW,
            processed_at=NOW,
        )
        s.add(inbound)
        s.flush()
        s.add(
            ClassificationRecord(
                inbound_id=inbound.id,
                intent="promise_to_pay",
                secondary_intents=["dispute"],
                needs_human=True,
                confidence=0.62,
                language="fr",
                promised_date=date(2026, 11, 30),
                paid_date=None,
                amount=None,
                invoice_numbers=["F2026-001"],
                evidence=[
                    {
                        "rule": "promise.date",
                        "intent": "promise_to_pay",
                        "text": "nous paierons le 30/11/2026",
                    },
                    {"rule": "dispute.verb", "intent": "dispute", "text": "contestons"},
                ],
                match_reasons=["invoice number in text"],
                reply_text=XSS_REPLY,
                created_at=NOW,
            )
        )
        s.add(
            ReviewItem(
                kind="reply",
                status="open",
                inbound_id=inbound.id,
                client_id="C1",
                invoice_numbers=["F2026-001"],
                intent="promise_to_pay",
                confidence=0.62,
                amount=Decimal("1200.00"),
                reason="low confidence and a dispute word",
                created_at=NOW,
            )
        )
        s.add(
            Task(
                kind="call",
                client_id="C1",
                invoice_numbers=["F2026-001"],
                reason="call after reminder_2",
                status="open",
                due_on=date(2026, 11, 20),
                created_at=NOW,
            )
        )


@pytest.fixture(scope="session")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("webdb") / "seed.db"
    engine = open_database(f"sqlite:///{path}")
    seed(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(seeded_file: Path, tmp_path: Path) -> Iterator[Engine]:
    copy = tmp_path / "t.db"
    shutil.copy(seeded_file, copy)
    eng = open_database(f"sqlite:///{copy}")
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def settings() -> Settings:
    return Settings(secret_key="test-secret-key-" + "x" * 32)


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FixedClock):  # type: ignore[no-untyped-def]
    return create_app(settings, engine, clock=clock, services=WebServices(health_checks={"scheduler": lambda: True}))


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(client: TestClient, role: str, password: str | None = None) -> TestClient:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": role,
            "password": password or password_of(role),
            "csrf_token": csrf_of(page.text),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def anon(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def as_role(app) -> Iterator[Callable[[str], TestClient]]:  # type: ignore[no-untyped-def]
    clients: list[TestClient] = []

    def make(role: str) -> TestClient:
        c = TestClient(app, raise_server_exceptions=False)
        clients.append(c)
        return login(c, role)

    yield make
    for c in clients:
        c.close()
