"""CLI: ``relance run`` (the daemon) and ``relance demo`` (the embedded demo)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from bot.app.cli import app, run_guarded, runtime


@app.command("run")
def run(
    no_web: Annotated[bool, typer.Option("--no-web", help="Do not serve the web UI.")] = False,
    cycle_minutes: Annotated[float, typer.Option("--cycle-minutes", help="Minutes between dunning cycles.")] = 15,
    outbox_seconds: Annotated[float, typer.Option("--outbox-seconds", help="Seconds between outbox runs.")] = 30,
    poll_seconds: Annotated[float, typer.Option("--poll-seconds", help="Maildir polling interval.")] = 3,
    log_format: Annotated[str, typer.Option("--log-format", help="json (default) or text.")] = "json",
    claim_seconds: Annotated[
        float,
        typer.Option(
            "--claim-seconds",
            help="Seconds after which a message claimed by a replica that died mid-send is sent by another.",
        ),
    ] = 600,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Run as if the clock read this date (YYYY-MM-DD) at noon (rehearsals, tests)."),
    ] = None,
) -> None:
    """The daemon: scheduler + inbox listener + web UI; stops cleanly on SIGTERM / Ctrl-C."""
    from bot.app.daemon import Daemon, DaemonOptions, log_secrets
    from bot.app.jsonlog import configure_json_logging

    rt = runtime(as_of)
    level = os.environ.get("RELANCE_LOG_LEVEL", "INFO")
    if log_format == "json":
        configure_json_logging(level, log_secrets(rt.settings))
    else:
        import logging

        logging.getLogger().setLevel(level.upper())
    options = DaemonOptions(
        serve_web=not no_web,
        cycle_minutes=cycle_minutes,
        outbox_seconds=outbox_seconds,
        poll_seconds=poll_seconds,
        claim_seconds=claim_seconds,
    )
    code = run_guarded(lambda: Daemon(rt, options).run())
    raise typer.Exit(code)


@app.command("demo")
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="Work folder (reset on each run).")] = Path("relance-demo"),
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the web UI afterwards.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    days: Annotated[int, typer.Option("--days", help="Simulated days.", min=1, max=120)] = 42,
) -> None:
    """A complete local run with no outside server: weeks of dunning in seconds, then the web UI."""
    from bot.app.cli import State
    from bot.app.demo import run_demo

    def progress(line: str) -> None:
        if not as_json:
            typer.echo(f"  {line}")

    if not as_json:
        typer.echo(f"relance demo in {folder.resolve()}: simulating {days} days of dunning...")
    result = run_guarded(
        lambda: run_demo(folder, config_dir=State.config, web_host=host, web_port=port, days=days, progress=progress)
    )
    summary = result.summary
    if as_json:
        typer.echo(json.dumps(summary | {"users": result.users}, ensure_ascii=False))
    else:
        _print_summary(summary)
        typer.echo("\nDemo users (passwords shown once):")
        for name, password in result.users.items():
            typer.echo(f"  {name:<10} {password}")
    if serve:
        run_guarded(lambda: _serve(result))


def _print_summary(summary: dict[str, object]) -> None:
    sim = summary["simulated"]
    assert isinstance(sim, dict)
    typer.echo(f"\nSimulated {sim['from']} to {sim['to']} in {summary['duration_s']} s.")
    for title, key in (
        ("Reminders sent, by step", "reminders"),
        ("Acknowledgements sent", "acknowledgements"),
        ("Replies read, by intent", "replies"),
        ("Invoices, by state", "invoices"),
        ("Open review items (kind:intent)", "review_items"),
        ("Open tasks", "tasks"),
        ("Promises", "promises"),
    ):
        values = summary[key]
        assert isinstance(values, dict)
        line = ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "none"
        typer.echo(f"  {title}: {line}")
    typer.echo(f"  Contacts marked bouncing: {', '.join(summary['contacts_bouncing']) or 'none'}")  # type: ignore[arg-type]
    paths = summary["paths"]
    assert isinstance(paths, dict)
    typer.echo(f"  Reminders as .eml: {paths['outbox']}\n  Replies (Maildir): {paths['maildir']}")


def _serve(result: object) -> None:
    import signal
    import threading

    from bot.adapters.db.engine import open_database
    from bot.adapters.web.app import create_app
    from bot.app.daemon import start_web_server
    from bot.app.demo import DemoResult

    assert isinstance(result, DemoResult)
    settings = result.settings
    engine = open_database(settings.database_url)
    web_app = create_app(settings, engine, clock=result.clock)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _s, _f: stop.set())
    server, thread = start_web_server(web_app, settings.web_host, settings.web_port)
    typer.echo(f"\nWeb UI on http://{settings.web_host}:{settings.web_port}  (Ctrl-C to stop)")
    while not stop.wait(0.5) and thread.is_alive():
        pass
    server.should_exit = True
    thread.join(5)
    engine.dispose()
