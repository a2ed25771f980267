"""Mail measures: classifier throughput, outbox vs raw aiosmtplib, inbox end-to-end vs raw IMAP FETCH + parse."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from benchmarks.common import (  # noqa: E402
    AS_OF_DAY,
    REPO,
    build_ledger,
    client_id,
    contact_email,
    invoice_number,
    stats,
    timed,
)

CORPUS = REPO.parent / "shared" / "corpus" / "replies"


def _settings() -> Any:
    from bot.app.settings import load_settings

    return load_settings(REPO / "config", env={})


# ---------------------------------------------------------------- classifier


def measure_classifier(sizes: dict[str, Any], work: Path) -> dict[str, Any]:
    if not (CORPUS / "labels.jsonl").exists():
        return {"skipped": f"corpus absent ({CORPUS})"}
    from benchmarks.bench_classifier import run

    seconds = 3.0 if sizes["reps"] <= 3 else 5.0
    samples: list[float] = []
    wall: list[float] = []
    for _ in range(sizes["reps"]):
        f = run(CORPUS, throughput_seconds=seconds)
        samples.append(float(f["throughput_msg_per_s"]))
        wall.append(float(f["throughput_wall_msg_per_s"]))
    s = stats(samples)
    return {
        "msg_per_s_cpu": s,
        "msg_per_s_wall": stats(wall),
        "corpus_messages": f["messages"],
        "macro_f1": f["macro_f1"],
        "target": "≥ 2,000 msg/s/core",
        "met": s["median"] >= 2000,
        "absolute": f"{s['median']:,.0f} msg/s (CPU time, one core)",
    }


# ---------------------------------------------------------------- outbox


def _fresh_copy(base: Path, dest: Path) -> str:
    shutil.copyfile(base, dest)
    return f"sqlite:///{dest}"


async def _raw_send(port: int, mails: list[tuple[str, list[str], bytes]], concurrency: int) -> None:
    import aiosmtplib

    queue: asyncio.Queue[tuple[str, list[str], bytes]] = asyncio.Queue()
    for m in mails:
        queue.put_nowait(m)

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, use_tls=False)
        await client.connect()
        try:
            while not queue.empty():
                sender, rcpts, raw = queue.get_nowait()
                await client.sendmail(sender, rcpts, raw)
        finally:
            await client.quit()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def measure_outbox(sizes: dict[str, Any], work: Path) -> dict[str, Any]:
    from bot.adapters.db.engine import open_database, session_factory
    from bot.adapters.db.models import OutboxMessage
    from bot.adapters.smtp import SmtpSender
    from bot.app.clock import FixedClock, noon_in
    from bot.app.dunning import plan_actions
    from bot.app.dunning_record import record_actions
    from bot.app.outbox_delivery import deliver_due
    from bot.app.wiring import make_renderer
    from tests.servers.smtp_server import SmtpTestServer

    n, reps = sizes["outbox"], sizes["reps"]
    base = work / "base.sqlite3"
    build_ledger(f"sqlite:///{base}", clients=n, invoices=n, all_open=True).dispose()
    settings = _settings()
    sub: dict[str, dict[str, Any]] = {}
    mails: list[tuple[str, list[str], bytes]] = []
    with SmtpTestServer() as server:
        for concurrency in (1, 4, 8):
            ours: list[float] = []
            plans: list[float] = []
            deliver_only: list[float] = []
            raw: list[float] = []
            for rep in range(reps):
                engine = open_database(_fresh_copy(base, work / f"o{concurrency}_{rep}.sqlite3"))
                factory = session_factory(engine)
                clock = FixedClock(noon_in(AS_OF_DAY))

                with factory() as session:  # planning is the plan benchmark's: timed apart, reported
                    t_plan, (actions, _planner) = timed(lambda s=session, c=clock: plan_actions(s, settings, c.now()))
                plans.append(t_plan)

                def cycle(f: Any = factory, c: Any = clock, a: Any = actions) -> Any:
                    return record_actions(f, settings, c, make_renderer(settings), a)

                def deliver(f: Any = factory, c: Any = clock, k: int = concurrency) -> Any:
                    return asyncio.run(
                        deliver_due(
                            f,
                            lambda: SmtpSender("127.0.0.1", server.port, tls="none"),
                            c,
                            envelope_from=settings.from_address,
                            concurrency=k,
                        )
                    )

                t_cycle, report = timed(cycle)
                t_send, delivered = timed(deliver)
                if delivered.sent != n:
                    raise RuntimeError(f"expected {n} sent, got {delivered.sent} ({report.as_dict()})")
                ours.append(t_cycle + t_send)
                deliver_only.append(t_send)
                if not mails:
                    with factory() as s:
                        mails = [
                            (settings.from_address, list(r.recipients), r.raw) for r in s.scalars(select(OutboxMessage))
                        ]
                engine.dispose()
                (work / f"o{concurrency}_{rep}.sqlite3").unlink()
                server.state.accepted.clear()
                raw.append(timed(lambda k=concurrency, m=mails: asyncio.run(_raw_send(server.port, m, k)))[0])
                server.state.accepted.clear()
            ratio = stats([r / o for r, o in zip(raw, ours, strict=True)])
            sub[f"c={concurrency}"] = {
                "relance_s": stats(ours),
                "plan_s_not_counted": stats(plans),
                "relance_deliver_only_s": stats(deliver_only),
                "raw_s": stats(raw),
                "ratio": ratio,
                "ratio_deliver_only": stats([r / d for r, d in zip(raw, deliver_only, strict=True)]),
                "ratio_meaning": "relance throughput / raw aiosmtplib throughput (higher is better)",
                "target": "≥ 0.7×",
                "met": ratio["median"] >= 0.7,
                "absolute": f"{n / stats(ours)['median']:,.0f} msg/s (raw {n / stats(raw)['median']:,.0f})",
            }
    return {
        "messages": n,
        "sub": sub,
        "note": "relance = record_actions (render + durable record) + deliver_due (send + commit); "
        "planning is timed apart (plan_s_not_counted) and measured by the plan benchmark",
    }


# ---------------------------------------------------------------- inbox


def reply_message(i: int, clients: int) -> bytes:
    c = i % clients
    number = invoice_number(i)
    body = (
        f"Bonjour,\r\n\r\nNous réglerons la facture {number} le 20/11/2026.\r\n\r\nCordialement,\r\n"
        f"Service comptable {client_id(c)}\r\n"
    )
    return (
        f"From: Compta <{contact_email(c)}>\r\nTo: collections@relance.test\r\n"
        f"Subject: Re: Relance facture {number}\r\nDate: Tue, 03 Nov 2026 14:00:00 +0100\r\n"
        f"Message-ID: <reply-{i}@client{c}.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body
    ).encode()


def _raw_fetch_parse(port: int, user: str, password: str) -> int:
    import imapclient
    import mailparser

    client = imapclient.IMAPClient("127.0.0.1", port=port, ssl=False)
    try:
        client.login(user, password)
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        count = 0
        for i in range(0, len(uids), 100):
            data = client.fetch(uids[i : i + 100], [b"BODY.PEEK[]"])
            for item in data.values():
                mailparser.parse_from_bytes(item[b"BODY[]"])
                count += 1
        return count
    finally:
        client.logout()


def measure_inbox(sizes: dict[str, Any], work: Path) -> dict[str, Any]:
    from bot.adapters.db.engine import open_database, session_factory
    from bot.adapters.imap import ImapConfig, ImapMailbox
    from bot.app.clock import FixedClock, noon_in
    from bot.app.inbox import InboxProcessor
    from bot.app.wiring import make_renderer
    from tests.servers.dovecot import Dovecot

    n, reps = sizes["inbox"], sizes["reps"]
    clients = max(1, min(n // 5, 2_000))
    base = work / "base.sqlite3"
    build_ledger(f"sqlite:///{base}", clients=clients, invoices=n, all_open=True).dispose()
    settings = _settings()
    messages = [reply_message(i, clients) for i in range(n)]
    server = Dovecot()
    ours: list[float] = []
    raw: list[float] = []
    reports: list[dict[str, Any]] = []
    try:
        server.start()
        for rep in range(reps):
            user = server.add_user(f"bench{rep}")
            for m in messages:
                server.deliver(user, m)
            count = 0

            def fetch_all(u: Any = user) -> int:
                return _raw_fetch_parse(server.port, u.name, u.password)

            t_raw, count = timed(fetch_all)
            if count != n:
                raise RuntimeError(f"raw fetch saw {count} of {n} messages")
            raw.append(t_raw)
            engine = open_database(_fresh_copy(base, work / f"i{rep}.sqlite3"))
            processor = InboxProcessor(
                session_factory(engine), settings, FixedClock(noon_in(AS_OF_DAY)), make_renderer(settings)
            )
            box = ImapMailbox(
                ImapConfig(host="127.0.0.1", port=server.port, user=user.name, password=user.password, tls="none")
            )
            start = time.perf_counter()
            report = processor.run_once(box)
            ours.append(time.perf_counter() - start)
            box.close()
            processor.close()  # its reader process ends: the next repetition's inbox starts as the first did
            engine.dispose()
            reports.append(report.as_dict())
            if report.processed + report.review + report.quarantined < n and report.processed < n:
                raise RuntimeError(f"relance processed too few messages: {report.as_dict()}")
    finally:
        server.destroy()
    ratio = stats([r / o for r, o in zip(raw, ours, strict=True)])
    return {
        "messages": n,
        "relance_s": stats(ours),
        "raw_s": stats(raw),
        "ratio": ratio,
        "ratio_meaning": "relance throughput / raw FETCH + mail-parser throughput (higher is better)",
        "target": "≥ 0.6×",
        "met": ratio["median"] >= 0.6,
        "absolute": f"{n / stats(ours)['median']:,.0f} msg/s (raw {n / stats(raw)['median']:,.0f})",
        "relance_report": reports[0] if reports else None,
        "server": "Dovecot (tests/servers/dovecot.py) on 127.0.0.1, Maildir",
    }
