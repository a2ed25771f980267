"""CSRF, login throttling, cookie flags, security headers, escaping and error pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from bot.adapters.web.security import COOKIE_NAME
from bot.app.clock import FixedClock
from tests.adapters.web.conftest import XSS_NAME, TestClient, csrf_of, login

PAGES = [
    "/review",
    "/tasks",
    "/clients",
    "/priorities",
    "/clients/C1",
    "/invoices/F2026-001",
    "/dashboard",
    "/templates/reminder_1",
    "/profiles",
    "/users",
]


def _post_login(client: TestClient, username: str, password: str) -> int:
    token = csrf_of(client.get("/login").text)
    r = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False
    )
    return r.status_code


def test_csrf_missing_or_wrong_is_refused(as_role: Callable[[str], TestClient], engine) -> None:  # type: ignore[no-untyped-def]
    collector = as_role("collector")
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
        r = collector.post("/review/1/done", data=data, follow_redirects=False)
        assert r.status_code == 403, data
    # Nothing changed: the item is still open.
    assert "low confidence and a dispute word" in collector.get("/review").text


def test_csrf_token_of_another_session_is_refused(as_role: Callable[[str], TestClient]) -> None:
    alice = as_role("collector")
    mallory = as_role("admin")
    foreign = csrf_of(mallory.get("/review").text)
    r = alice.post("/review/1/done", data={"csrf_token": foreign}, follow_redirects=False)
    assert r.status_code == 403


def test_login_form_needs_csrf_too(anon: TestClient) -> None:
    r = anon.post("/login", data={"username": "admin", "password": "password-for-admin"}, follow_redirects=False)
    assert r.status_code == 403


def test_wrong_password_and_unknown_user(anon: TestClient) -> None:
    assert _post_login(anon, "admin", "wrong password!") == 401
    assert _post_login(anon, "nobody", "whatever-password") == 401
    assert anon.get("/review", follow_redirects=False).status_code == 303


def test_login_throttled_after_five_failures(anon: TestClient, clock: FixedClock) -> None:
    for _ in range(5):
        assert _post_login(anon, "collector", "bad password") == 401
    # Locked now, even with the right password.
    assert _post_login(anon, "collector", "password-for-collector") == 429
    clock.advance(timedelta(seconds=61))
    assert _post_login(anon, "collector", "password-for-collector") == 303


def test_throttle_is_per_username(anon: TestClient) -> None:
    for _ in range(5):
        _post_login(anon, "collector", "bad password")
    assert _post_login(anon, "viewer", "password-for-viewer") == 303


def test_session_cookie_flags(anon: TestClient) -> None:
    token = csrf_of(anon.get("/login").text)
    r = anon.post(
        "/login",
        data={"username": "viewer", "password": "password-for-viewer", "csrf_token": token},
        follow_redirects=False,
    )
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http in tests; see test_secure_cookie_flag


def test_secure_cookie_flag(settings, engine, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.adapters.web import WebServices, create_app

    app = create_app(settings, engine, clock=clock, services=WebServices(secure_cookies=True))
    with TestClient(app, base_url="https://testserver") as c:
        assert "; Secure" in c.get("/login").headers["set-cookie"]


def test_tampered_cookie_is_ignored(as_role: Callable[[str], TestClient]) -> None:
    client = as_role("admin")
    value = client.cookies.get(COOKIE_NAME)
    assert value
    client.cookies.set(COOKIE_NAME, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert client.get("/users", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(as_role: Callable[[str], TestClient]) -> None:
    client = as_role("viewer")
    token = csrf_of(client.get("/dashboard").text)
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and "Max-Age=0" in r.headers["set-cookie"]
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_security_headers_on_pages_static_and_api(anon: TestClient) -> None:
    for path in ("/login", "/static/app.css", "/healthz", "/api/v1/review-items", "/nope"):
        headers = anon.get(path).headers
        assert "default-src 'self'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"]


@pytest.mark.parametrize("path", PAGES)
def test_xss_payloads_render_inert(as_role: Callable[[str], TestClient], path: str) -> None:
    page = as_role("admin").get(path).text
    assert "<script>alert" not in page and "<img src=x" not in page and 'onerror="alert' not in page
    if path in ("/review", "/tasks", "/clients", "/priorities", "/clients/C1", "/invoices/F2026-001"):
        assert "Dupont &lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt; &amp; Fils" in page
    if path == "/review":
        assert "&lt;script&gt;alert(&#39;reply&#39;)&lt;/script&gt;" in page
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert XSS_NAME not in page


def test_open_redirect_after_login_is_refused(anon: TestClient) -> None:
    token = csrf_of(anon.get("/login").text)
    r = anon.post(
        "/login",
        data={"username": "viewer", "password": "password-for-viewer", "csrf_token": token, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_crash_page_shows_no_secret_or_traceback(settings, engine, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.adapters.web import create_app

    app = create_app(settings, engine, clock=clock)

    @app.get("/boom")  # not in the table: the guard refuses it before the handler could run
    def boom() -> None:
        raise RuntimeError(f"secret={settings.secret_key}")

    with TestClient(app, raise_server_exceptions=False) as c:
        login(c, "admin")
        r = c.get("/boom")
    assert r.status_code == 403


def test_unhandled_error_page_hides_details(settings, engine, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bot.adapters.web import access, create_app

    app = create_app(settings, engine, clock=clock)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"password={settings.secret_key}")

    monkeypatch.setitem(access.ROUTE_ACCESS, ("/boom", "GET"), access.ANY_USER)
    with TestClient(app, raise_server_exceptions=False) as c:
        login(c, "viewer")
        r = c.get("/boom")
    assert r.status_code == 500
    assert settings.secret_key not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
    assert "reference" in r.text
