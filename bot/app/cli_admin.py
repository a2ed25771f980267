"""CLI: users."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.app.cli import app, command_group, fail, run_guarded, runtime

user_app = command_group("Web users.")
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option("--role", help="admin, collector, template_author, viewer")],
    password_file: Annotated[Path | None, typer.Option("--password-file")] = None,
) -> None:
    """Create a web user; the password comes from a prompt or --password-file."""
    from bot.app.users import add_user

    if password_file is not None:
        try:
            password = password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise fail(f"error: cannot read {password_file}: {exc.strerror}") from None
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    rt = runtime()

    def body() -> None:
        with rt.sessions() as session, session.begin():
            add_user(session, name, role, password)
        typer.echo(f"user {name} ({role}) created")

    run_guarded(body)
