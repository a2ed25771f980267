"""CLI: plan, send, templates, profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.app.cli import app, command_group, fail, run_guarded, runtime

templates_app = command_group("Check and preview reminder templates.")
profiles_app = command_group("Check dunning profiles.")
app.add_typer(templates_app, name="templates")
app.add_typer(profiles_app, name="profiles")

AsOf = Annotated[str | None, typer.Option("--as-of", help="Run as if the clock read this date (YYYY-MM-DD) at noon.")]
Json = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


@app.command("plan")
def plan(as_of: AsOf = None, as_json: Json = False) -> None:
    """Show the actions due on a date, without sending anything (blocked ones say why)."""
    from bot.app.dunning import plan_actions

    rt = runtime(as_of)

    def body() -> None:
        with rt.sessions() as session:
            actions, _planner = plan_actions(session, rt.settings, rt.clock.now())
        for action in actions:
            if as_json:
                typer.echo(json.dumps(action.to_json(), ensure_ascii=False))
            else:
                j = action.to_json()
                flag = f"  [blocked: {j['blocked']}]" if j["blocked"] else ""
                typer.echo(
                    f"{j['send_at'][:16]}  {j['client_id']:<10} {j['step']:<15} {j['channel']:<12} "
                    f"{','.join(j['invoice_numbers'])}{flag}"
                )
        if not as_json:
            typer.echo(f"{len(actions)} action(s)")

    run_guarded(body)


@app.command("send")
def send(as_of: AsOf = None) -> None:
    """One dunning cycle: check promises and claims, plan, record in the outbox, send what is due; then exit."""
    import asyncio
    from datetime import timedelta

    from bot.app.dunning import run_cycle
    from bot.app.outbox_delivery import deliver_due
    from bot.app.pause_checks import check_payment_claims, check_promises
    from bot.app.wiring import make_renderer, sender_factory

    rt = runtime(as_of)

    def body() -> None:
        settings, clock = rt.settings, rt.clock
        broken = check_promises(rt.sessions, settings, clock)
        expired = check_payment_claims(rt.sessions, settings, clock)
        report = run_cycle(rt.sessions, settings, clock, make_renderer(settings, rt.sessions))
        delivery = asyncio.run(
            deliver_due(
                rt.sessions,
                sender_factory(settings),
                clock,
                envelope_from=settings.from_address,
                worker="cli-send",
                lease=timedelta(seconds=settings.outbox_lease_seconds),
            )
        )
        typer.echo(
            json.dumps(
                {
                    "cycle": report.as_dict(),
                    "broken_promises": broken,
                    "claims_expired": expired,
                    "sent": delivery.sent,
                    "retrying": delivery.retried,
                    "failed": delivery.failed,
                    "possibly_sent_twice": delivery.possibly_duplicated,
                },
                ensure_ascii=False,
            )
        )

    run_guarded(body)


@templates_app.command("lint")
def templates_lint() -> None:
    """Check syntax, variables against the documented context, and French/English parity."""
    from bot.adapters.template_lint import lint_templates
    from bot.app.wiring import template_root

    rt = runtime()
    problems = run_guarded(lambda: lint_templates(template_root(rt.settings)))
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        raise fail(f"{len(problems)} problem(s)")
    typer.echo("templates ok")


@templates_app.command("preview")
def templates_preview(
    name: str,
    lang: Annotated[str, typer.Option("--lang")] = "fr",
    invoice: Annotated[str | None, typer.Option("--invoice")] = None,
    html: Annotated[bool, typer.Option("--html", help="Show the HTML part.")] = False,
) -> None:
    """Render one template on a real invoice of the ledger (or on sample data without --invoice)."""
    from bot.adapters.db.models import Client, Invoice
    from bot.adapters.render_context import sample_context
    from bot.adapters.template_lint import format_preview
    from bot.app.compose import Composer
    from bot.app.profiles import profile_for
    from bot.app.wiring import make_renderer

    rt = runtime()

    def body() -> None:
        renderer = make_renderer(rt.settings, rt.sessions)
        if invoice is None:
            context = sample_context(name, lang)
        else:
            with rt.sessions() as session:
                inv = session.get(Invoice, invoice)
                if inv is None:
                    raise fail(f"error: no invoice {invoice!r} in the ledger")
                client = session.get(Client, inv.client_id)
                assert client is not None
                view = profile_for(client.profile, rt.settings, session)
                composer = Composer(rt.settings, renderer, view.legal_rates)
                context = composer.context(
                    client,
                    [inv],
                    step=name,
                    today=view.local_date(rt.clock.now()),
                    jurisdiction=view.jurisdiction,
                )
                context["language"] = lang
        typer.echo(format_preview(renderer.render(name, lang, context), html=html))

    run_guarded(body)


@profiles_app.command("check")
def profiles_check(
    file: Annotated[Path | None, typer.Argument(help="Defaults to CONFIG/profiles.yaml.")] = None,
) -> None:
    """Validate profiles.yaml; errors give the line and the key."""
    from bot.adapters.profiles_yaml import check_profiles

    rt = runtime()
    path = file or rt.profiles_path
    problems = check_profiles(path)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{path}: ok")
