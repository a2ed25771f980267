"""The role table covers every route, and each role gets exactly what the table says."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.adapters.web.access import ROUTE_ACCESS, Auth
from bot.adapters.web.guard import guard
from tests.adapters.web.conftest import ROLES, TestClient, csrf_of


def walk(routes: list[Any]) -> Iterator[tuple[str, str, bool]]:
    """(path, method, guarded) for every route, included routers flattened."""
    for route in routes:
        if hasattr(route, "effective_candidates"):  # FastAPI's included router
            yield from walk(route.effective_candidates())
            continue
        methods = getattr(route, "methods", None) or {"GET"}  # a Mount (static files) answers GET
        dependant = getattr(route, "dependant", None)
        guarded = dependant is not None and any(d.call is guard for d in dependant.dependencies)
        for method in methods - {"HEAD"}:
            yield route.path, method, guarded


def test_every_route_is_in_the_table_and_guarded(app) -> None:  # type: ignore[no-untyped-def]
    seen = set()
    for path, method, guarded in walk(app.routes):
        seen.add((path, method))
        rule = ROUTE_ACCESS.get((path, method))
        assert rule is not None, f"{method} {path} is missing from ROUTE_ACCESS"
        # Only guarded routes may need a login: an unguarded route would never be checked.
        assert guarded or rule.auth is Auth.NONE, f"{method} {path} needs {rule.auth} but is not guarded"
    assert seen == set(ROUTE_ACCESS), f"table entries without a route: {set(ROUTE_ACCESS) - seen}"


def _concrete(path: str) -> str:
    values = {
        "item_id": "1",
        "task_id": "1",
        "client_id": "C1",
        "invoice_number": "F2026-001",
        "name": "reminder_1",
        "version_id": "999",
        "user_id": "1",
        "token_id": "999",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


SESSION_ROUTES = sorted(k for k, v in ROUTE_ACCESS.items() if v.auth is Auth.SESSION)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_table_says(as_role: Callable[[str], TestClient], role: str) -> None:
    client = as_role(role)
    token: str | None = None
    for path, method in SESSION_ROUTES:
        if (path, method) == ("/logout", "POST"):
            continue
        allowed = role in ROUTE_ACCESS[(path, method)].roles
        url = _concrete(path)
        if method == "GET":
            r = client.get(url, follow_redirects=False)
        else:
            token = token or _token(client)
            r = client.post(url, data={"csrf_token": token}, follow_redirects=False)
        if allowed:
            assert r.status_code != 403, (role, method, path, r.status_code)
        else:
            assert r.status_code == 403, (role, method, path, r.status_code)
            assert "Not allowed" in r.text


def _token(client: TestClient) -> str:
    from bot.adapters.web.security import COOKIE_NAME

    cookie = client.cookies.get(COOKIE_NAME)
    assert cookie
    page = client.get("/", follow_redirects=True)
    return csrf_of(page.text)


@pytest.mark.parametrize("path", ["/review", "/tasks", "/dashboard", "/clients/C1", "/users", "/templates"])
def test_pages_redirect_to_login_without_a_session(anon: TestClient, path: str) -> None:
    r = anon.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next={path}"


def test_post_without_session_is_refused(anon: TestClient) -> None:
    token = csrf_of(anon.get("/login").text)
    r = anon.post("/review/1/done", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 401


def test_nav_shows_only_allowed_links(as_role: Callable[[str], TestClient]) -> None:
    page = as_role("template_author").get("/templates").text
    nav = page.split("<nav>", 1)[1].split("</nav>", 1)[0]
    assert 'href="/templates"' in nav
    assert 'href="/review"' not in nav and 'href="/users"' not in nav


def test_deactivated_user_loses_access_at_once(as_role: Callable[[str], TestClient]) -> None:
    admin = as_role("admin")
    viewer = as_role("viewer")
    assert viewer.get("/dashboard").status_code == 200
    token = csrf_of(admin.get("/users").text)
    r = admin.post("/users/4/active", data={"csrf_token": token, "active": "0"}, follow_redirects=False)
    assert r.status_code == 303
    assert viewer.get("/dashboard", follow_redirects=False).status_code == 303
