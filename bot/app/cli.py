"""The ``relance`` command line (DESIGN.md, "Command-line contract").

Imports are lazy: ``relance --help`` must start fast, so each command imports what it needs when it runs.
Errors of relance's own tree are printed as one clear message and exit 1; nothing else calls ``sys.exit``.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from bot.app.runtime import Runtime


def command_group(help_text: str) -> typer.Typer:
    """A sub-command group. Plain (non-Rich) help keeps ``relance --help`` fast: Rich alone costs ~0.5 s."""
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None)


app = typer.Typer(
    help="relance: chases unpaid invoices by e-mail and reads what debtors answer.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    pretty_exceptions_enable=False,
)
import_app = command_group("Import the ledger from CSV files (all-or-nothing).")
app.add_typer(import_app, name="import")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Folder holding profiles.yaml and relance.toml.")]


class State:
    config: Path | None = None


@app.callback()
def _root(config: ConfigOpt = None) -> None:
    State.config = config


def runtime(as_of: str | None = None) -> Runtime:
    from bot.app.runtime import Runtime

    day = parse_as_of(as_of) if as_of else None
    return Runtime.load(State.config, day)


def parse_as_of(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param_hint="--as-of") from None


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def run_guarded(fn: Any) -> Any:
    """Run a command body, turning relance's own errors into a message and exit code 1."""
    from bot.domain.errors import RelanceError

    try:
        return fn()
    except RelanceError as exc:
        raise fail(f"error: {exc}") from None


def _now(rt: Runtime) -> datetime:
    return rt.clock.now()


def _import(kind: str, file: Path) -> None:
    from bot.app.client_import import import_clients
    from bot.app.invoice_import import import_invoices
    from bot.app.payment_import import import_payments

    rt = runtime()

    def body() -> None:
        now = _now(rt)
        size = file.stat().st_size if file.exists() else 0
        show = size > 200_000  # a few thousand rows
        with typer.progressbar(length=max(size // 60, 1), label=f"importing {kind}", hidden=not show, file=None) as bar:

            def progress(i: int) -> None:
                bar.update(i - bar.pos if i > bar.pos else 0)

            if kind == "clients":
                from bot.adapters.profiles_yaml import load_profiles

                names = set(load_profiles(rt.profiles_path).profiles)
                result = import_clients(rt.sessions, file, now=now, profiles=names, progress=progress)
            elif kind == "invoices":
                result = import_invoices(rt.sessions, file, now=now, progress=progress)
            else:
                result = import_payments(rt.sessions, file, now=now, progress=progress)
        typer.echo(result.summary())

    run_guarded(body)


@import_app.command("clients")
def import_clients(file: Path) -> None:
    """Upsert clients: client_id,name,email,language,profile."""
    _import("clients", file)


@import_app.command("invoices")
def import_invoices(file: Path) -> None:
    """Upsert invoices: invoice_number,client_id,issue_date,due_date,amount,currency,amount_paid."""
    _import("invoices", file)


@import_app.command("payments")
def import_payments(file: Path) -> None:
    """Record payments: invoice_number,amount,paid_on,reference."""
    _import("payments", file)


def _register() -> None:
    # Each module adds its commands to ``app`` on import; they import their heavy dependencies lazily.
    from bot.app import cli_admin, cli_dunning, cli_inbox, cli_run  # noqa: F401


def main() -> None:
    import logging
    import os

    logging.basicConfig(
        level=os.environ.get("RELANCE_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _register()
    app()
