"""The web UI in a real Chromium: sign-in per role, a review decision end to end, the template editor,
forbidden pages, CSRF refusal and hostile reply text shown inert. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bot.adapters.db.engine import open_database
from bot.adapters.web import WebServices, create_app
from bot.app.clock import FixedClock
from bot.app.settings import Settings
from tests.adapters.web.conftest import NOW, password_of, seed
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.servers]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    """The app on 127.0.0.1 with a seeded database, served by uvicorn in a thread."""
    engine = open_database(f"sqlite:///{tmp_path / 'web.db'}")
    seed(engine)
    app = create_app(
        Settings(secret_key="browser-test-key-" + "k" * 32), engine, clock=FixedClock(NOW), services=WebServices()
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, base_url: str, role: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", password_of(role))
    page.click("button.primary")
    page.wait_for_load_state("networkidle")


def watch_dialogs(page: Any) -> list[str]:
    """Any alert() that fires is an XSS that ran: record it (and dismiss it so the page goes on)."""
    seen: list[str] = []

    def on_dialog(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return seen


@pytest.mark.parametrize(
    ("role", "home", "forbidden"),
    [
        ("admin", "/review", None),
        ("collector", "/review", "/users"),
        ("template_author", "/templates", "/review"),
        ("viewer", "/review", "/templates"),
    ],
)
def test_sign_in_per_role_and_forbidden_pages(
    page: Any, base_url: str, role: str, home: str, forbidden: str | None
) -> None:
    sign_in(page, base_url, role)
    assert page.url == f"{base_url}{home}"
    assert page.locator(".who").inner_text().startswith(role)
    shot(page, f"home-{role}")
    if forbidden:
        response = page.goto(f"{base_url}{forbidden}")
        assert response.status == 403
        assert page.locator("h1").inner_text() == "Not allowed"
        assert page.locator(f'nav a[href="{forbidden}"]').count() == 0
        shot(page, f"forbidden-{role}")


def test_review_item_end_to_end_with_hostile_text_inert(page: Any, base_url: str) -> None:
    dialogs = watch_dialogs(page)
    sign_in(page, base_url, "collector")
    card = page.locator("article.review").first
    assert card.locator("mark").count() >= 2
    reply = card.locator(".reply").inner_text()
    assert "<script>alert('reply')</script>" in reply and '<img src=x onerror="alert(1)">' in reply
    assert page.locator(".reply img, .reply script").count() == 0
    assert 'Dupont <script>alert("name")</script> & Fils' in card.inner_text()
    card.locator("details.quoted summary").click()
    assert card.locator("details.quoted pre").is_visible()
    shot(page, "review")
    card.locator("details.action summary", has_text="Correct").click()
    card.locator("select[name=intent]").first.select_option("dispute")
    card.locator("input[name=note]").first.fill("quality complaint, see photos")
    card.locator("form[action$='/correct'] button.primary").click()
    page.wait_for_load_state("networkidle")
    assert "dispute" in page.locator(".flash.ok").inner_text()
    assert "open → disputed" in page.locator(".flash.ok").inner_text()
    assert page.locator("#item-1").count() == 0  # decided: off the queue
    shot(page, "review-after-decision")
    page.goto(f"{base_url}/invoices/F2026-001")
    assert page.locator("h1 .state").inner_text() == "disputed"
    shot(page, "invoice")
    assert dialogs == []


def test_template_edit_preview_and_save(page: Any, base_url: str) -> None:
    dialogs = watch_dialogs(page)
    sign_in(page, base_url, "template_author")
    page.goto(f"{base_url}/templates/reminder_1")
    page.fill("input[name=en__subject]", "Friendly reminder for {{ client.name }}: {{ invoice_count }} invoice(s)")
    page.select_option("select[name=invoice]", "F2026-001")
    page.click("button:has-text('Preview')")
    page.wait_for_load_state("networkidle")
    subject = page.locator(".preview .subject").nth(1).inner_text()
    assert subject == 'Subject: Friendly reminder for Dupont <script>alert("name")</script> & Fils: 1 invoice(s)'
    shot(page, "template-preview")
    page.click("button:has-text('Check and save')")
    page.wait_for_load_state("networkidle")
    assert "Saved reminder_1: en/subject" in page.locator(".flash.ok").inner_text()
    assert page.locator("table.grid tbody tr").first.inner_text().startswith("1\ten/reminder_1.subject")
    page.fill("input[name=fr__subject]", "{% if %}")
    page.click("button:has-text('Check and save')")
    page.wait_for_load_state("networkidle")
    assert "syntax error" in page.locator(".flash.error").inner_text()
    shot(page, "template-refused")
    assert dialogs == []


def test_csrf_rejected_in_the_browser(page: Any, base_url: str) -> None:
    sign_in(page, base_url, "collector")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'forged')")
    with page.expect_navigation():
        page.locator("form[action$='/done'] button").first.click()
    assert page.locator("h1").inner_text() == "Not allowed"
    assert "did not come from this site" in page.locator("main").inner_text()
    page.goto(f"{base_url}/review")
    assert page.locator("article.review").count() == 1  # nothing changed


def test_main_pages_screenshots(page: Any, base_url: str) -> None:
    dialogs = watch_dialogs(page)
    sign_in(page, base_url, "admin")
    for path, name in [
        ("/tasks", "tasks"),
        ("/clients/C1", "client"),
        ("/dashboard", "dashboard"),
        ("/priorities", "priorities"),
        ("/clients", "clients"),
        ("/users", "users"),
        ("/profiles?profile=standard&due=2026-12-01", "profiles"),
        ("/templates", "templates"),
    ]:
        response = page.goto(f"{base_url}{path}")
        assert response.status == 200, path
        assert page.locator("link[rel=stylesheet]").count() == 1
        shot(page, name)
    # The stylesheet really loaded (served by relance itself, no CDN): the top bar is dark.
    colour = page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor")
    assert colour == "rgb(28, 43, 69)"
    assert dialogs == []
