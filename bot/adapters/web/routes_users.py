"""Users and API tokens (admin): add, change role, deactivate, create and revoke tokens."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import ApiToken, User
from bot.adapters.web.context import db, web
from bot.adapters.web.forms import optional_date
from bot.adapters.web.guard import require_user
from bot.adapters.web.pages import flash, redirect, render
from bot.app.audit import audit
from bot.app.users import ROLES, UserError, add_user, create_token, revoke_token, set_active, set_role

log = logging.getLogger(__name__)
router = APIRouter()
Db = Annotated[Session, Depends(db)]


def _page(
    request: Request,
    session: Session,
    *,
    new_token: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    users = list(session.scalars(select(User).order_by(User.username)))
    tokens = list(session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))
    names = {u.id: u.username for u in users}
    return render(
        request,
        "users.html",
        {
            "users": users,
            "tokens": tokens,
            "names": names,
            "roles": ROLES,
            "new_token": new_token,
            "error": error,
            "now": web(request).clock.now(),
        },
        status_code=status_code,
    )


@router.get("/users")
def users_page(request: Request, session: Db) -> Response:
    return _page(request, session)


def _audit(request: Request, session: Session, target: str, action: str, new: dict[str, object]) -> None:
    admin = require_user(request)
    audit(
        session,
        at=web(request).clock.now(),
        actor=f"user:{admin.username}",
        entity="user",
        entity_id=target,
        action=action,
        new=new,
        reason=f"{action} by an admin in the web UI",
    )


@router.post("/users")
def create_user(
    request: Request,
    session: Db,
    username: Annotated[str, Form(max_length=120)],
    role: Annotated[str, Form(max_length=40)],
    password: Annotated[str, Form(max_length=1000)],
) -> Response:
    try:
        user = add_user(session, username, role, password, now=web(request).clock.now())
    except UserError as exc:
        session.rollback()
        return _page(request, session, error=str(exc), status_code=422)
    _audit(request, session, user.username, "user_added", {"role": role})
    session.commit()
    flash(request, "ok", f"User {user.username} added as {role}")
    return redirect("/users")


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, "no such user")
    return user


def _not_self(request: Request, user: User) -> None:
    # An admin who demotes or deactivates themselves could leave nobody able to manage users.
    if require_user(request).id == user.id:
        raise HTTPException(409, "you cannot change your own role or deactivate yourself")


@router.post("/users/{user_id}/role")
def change_role(
    request: Request, user_id: int, session: Db, role: Annotated[str, Form(max_length=40)]
) -> Response:
    user = _user(session, user_id)
    _not_self(request, user)
    try:
        set_role(session, user, role)
    except UserError as exc:
        raise HTTPException(422, str(exc)) from None
    _audit(request, session, user.username, "role_changed", {"role": role})
    session.commit()
    flash(request, "ok", f"{user.username} is now {role}")
    return redirect("/users")


@router.post("/users/{user_id}/active")
def change_active(
    request: Request, user_id: int, session: Db, active: Annotated[str, Form(max_length=5)]
) -> Response:
    user = _user(session, user_id)
    _not_self(request, user)
    set_active(session, user, active == "1")
    _audit(
        request,
        session,
        user.username,
        "activated" if user.active else "deactivated",
        {"active": user.active},
    )
    session.commit()
    flash(request, "ok", f"{user.username} {'reactivated' if user.active else 'deactivated'}")
    return redirect("/users")


@router.post("/users/{user_id}/tokens")
def new_token(
    request: Request,
    user_id: int,
    session: Db,
    name: Annotated[str, Form(max_length=120)],
    expires: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    user = _user(session, user_id)
    now = web(request).clock.now()
    day = optional_date(expires, "expiry date")
    expires_at = datetime.combine(day, time(23, 59, 59), UTC) if day else None
    if expires_at is not None and expires_at <= now:
        raise HTTPException(422, "the expiry date is in the past")
    try:
        clear = create_token(session, user, name, expires_at, now=now)
    except UserError as exc:
        raise HTTPException(422, str(exc)) from None
    _audit(request, session, user.username, "token_created", {"name": name, "expires": expires or None})
    session.commit()
    # Shown once, on this response only: it is stored hashed and cannot be displayed again.
    return _page(request, session, new_token=clear)


@router.post("/tokens/{token_id}/revoke")
def revoke(request: Request, token_id: int, session: Db) -> Response:
    if not revoke_token(session, token_id, now=web(request).clock.now()):
        raise HTTPException(404, "no such active token")
    _audit(request, session, str(token_id), "token_revoked", {"token_id": token_id})
    session.commit()
    flash(request, "ok", f"Token {token_id} revoked")
    return redirect("/users")
