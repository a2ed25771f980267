"""SmtpSender against a real aiosmtpd server with faults injected: error classes, reuse, exactly-once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from bot.adapters.mail_build import build_mail, make_message_id
from bot.adapters.smtp import RecipientsRefusedError, SmtpSender
from bot.domain.errors import ConfigError, DeliveryError, PermanentError, TemporaryError
from bot.ports import OutgoingMail
from tests.servers.smtp_server import SmtpTestServer

pytestmark = pytest.mark.servers
T = TypeVar("T")
SECRET = "s3cr3t-Pa55"


def run(coro: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await coro

    return asyncio.run(wrapper())


def mail(n: int, to: tuple[str, ...] = ("compta@client.example",)) -> OutgoingMail:
    return build_mail(
        sender="ar@eclat.example",
        sender_name="Éclat",
        to=list(to),
        reply_to=None,
        subject=f"Relance {n}",
        text=f"Message {n}\n",
        html=f"<p>Message {n}</p>",
        message_id=make_message_id(f"key-{n}", "eclat.example"),
        date=datetime(2026, 11, 16, 9, tzinfo=UTC),
    )


@pytest.fixture()
def server() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as srv:
        yield srv


def plain(server: SmtpTestServer, timeout: float = 5) -> SmtpSender:
    return SmtpSender(server.host, server.port, tls="none", timeout=timeout)


async def attempt(sender: SmtpSender, message: OutgoingMail) -> DeliveryError | ConfigError | None:
    try:
        await sender.send(message)
    except (DeliveryError, ConfigError) as exc:
        return exc
    return None


def test_messages_share_one_connection(server: SmtpTestServer) -> None:
    async def scenario() -> None:
        sender = plain(server)
        for n in range(5):
            await sender.send(mail(n))
        await sender.close()

    run(scenario())
    assert server.accepted_ids() == [mail(n).message_id for n in range(5)]
    assert server.connections == 1


@pytest.mark.parametrize(("code", "stage"), [(451, "DATA"), (452, "RCPT"), (421, "MAIL"), (421, "DATA")])
def test_4xx_is_temporary_and_the_retry_lands_exactly_once(server: SmtpTestServer, code: int, stage: str) -> None:
    server.fail(code, stage=stage)

    async def scenario() -> DeliveryError | ConfigError | None:
        sender = plain(server)
        error = await attempt(sender, mail(1))
        await sender.send(mail(1))  # the outbox's retry
        await sender.send(mail(2))
        await sender.close()
        return error

    error = run(scenario())
    assert isinstance(error, TemporaryError) and error.smtp_code == code
    assert server.accepted_ids() == [mail(1).message_id, mail(2).message_id]


@pytest.mark.parametrize(("code", "stage"), [(550, "RCPT"), (554, "DATA"), (552, "MAIL")])
def test_5xx_is_permanent(server: SmtpTestServer, code: int, stage: str) -> None:
    server.fail(code, stage=stage)

    async def scenario() -> DeliveryError | ConfigError | None:
        sender = plain(server)
        error = await attempt(sender, mail(1))
        await sender.send(mail(2))  # the session is still usable after a clean refusal
        await sender.close()
        return error

    error = run(scenario())
    assert isinstance(error, PermanentError) and not isinstance(error, TemporaryError)
    assert error.smtp_code == code
    assert server.accepted_ids() == [mail(2).message_id]
    assert server.connections == 1


def test_partly_refused_recipients_say_who_got_it(server: SmtpTestServer) -> None:
    server.refuse_recipient("gone@client.example", 550)
    message = mail(1, to=("gone@client.example", "compta@client.example"))
    error = run(attempt(plain(server), message))
    assert isinstance(error, RecipientsRefusedError) and isinstance(error, PermanentError)
    assert error.refused == {"gone@client.example": (550, "5.1.1 Mailbox unavailable")}
    assert error.accepted == ("compta@client.example",)
    [accepted] = server.accepted
    assert accepted.message_id == message.message_id and accepted.rcpt_tos == ["compta@client.example"]


def test_all_recipients_refused(server: SmtpTestServer) -> None:
    server.refuse_recipient("gone@client.example", 550)
    error = run(attempt(plain(server), mail(1, to=("gone@client.example",))))
    assert isinstance(error, RecipientsRefusedError) and error.accepted == () and error.smtp_code == 550
    assert server.accepted_ids() == []


def test_disconnect_in_data_is_temporary_and_nothing_is_lost_or_doubled(server: SmtpTestServer) -> None:
    server.disconnect_in_data()

    async def scenario() -> DeliveryError | ConfigError | None:
        sender = plain(server)
        error = await attempt(sender, mail(1))
        await sender.send(mail(1))
        await sender.close()
        return error

    error = run(scenario())
    assert isinstance(error, TemporaryError) and error.smtp_code is None
    assert server.accepted_ids() == [mail(1).message_id]
    assert server.connections == 2  # the dropped session was replaced


def test_slow_server_times_out_as_temporary(server: SmtpTestServer) -> None:
    server.slow(2.0, stage="MAIL")

    async def scenario() -> DeliveryError | ConfigError | None:
        sender = plain(server, timeout=0.3)
        error = await attempt(sender, mail(1))
        await sender.send(mail(1))
        await sender.close()
        return error

    error = run(scenario())
    assert isinstance(error, TemporaryError) and "Timed out" in str(error)
    assert server.accepted_ids() == [mail(1).message_id]


def test_failures_for_a_period_then_recovery(server: SmtpTestServer) -> None:
    server.fail(451, seconds=0.4)

    async def scenario() -> int:
        sender = plain(server)
        failures = 0
        while (error := await attempt(sender, mail(7))) is not None:
            assert isinstance(error, TemporaryError)
            failures += 1
            await asyncio.sleep(0.1)
        await sender.close()
        return failures

    assert run(scenario()) >= 2
    assert server.accepted_ids() == [mail(7).message_id]


def test_configuration_is_checked_before_connecting() -> None:
    with pytest.raises(ConfigError, match="only allowed to 127.0.0.1"):
        SmtpSender("smtp.example.com", 25, tls="none")
    with pytest.raises(ConfigError, match="ssl, starttls or none"):
        SmtpSender("127.0.0.1", 25, tls="tls")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="go together"):
        SmtpSender("127.0.0.1", 25, tls="none", username="u")


def test_nobody_listening_is_temporary() -> None:
    with SmtpTestServer() as srv:
        port = srv.port
    error = run(attempt(SmtpSender("127.0.0.1", port, tls="none", timeout=2), mail(1)))
    assert isinstance(error, TemporaryError)


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_with_auth(tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpTestServer(tmp_path, tls=mode, auth=("collector", SECRET)) as srv:

        def sender(password: str = SECRET, trusted: bool = True) -> SmtpSender:
            context = srv.client_context() if trusted else None
            return SmtpSender(
                "localhost",
                srv.port,
                tls=mode,
                username="collector",
                password=password,
                tls_context=context,
                timeout=5,
            )

        async def scenario() -> list[DeliveryError | ConfigError | None]:
            good = sender()
            results = [await attempt(good, mail(1)), await attempt(good, mail(2))]
            await good.close()
            results.append(await attempt(sender(trusted=False), mail(3)))  # self-signed, not trusted
            results.append(await attempt(sender(password="wrong"), mail(4)))
            return results

        ok1, ok2, untrusted, wrong_password = run(scenario())
        accepted = srv.accepted_ids()
    assert ok1 is None and ok2 is None
    assert isinstance(untrusted, ConfigError) and "not falling back to plaintext" in str(untrusted)
    assert isinstance(wrong_password, ConfigError) and "535" in str(wrong_password)
    assert accepted == [mail(1).message_id, mail(2).message_id]
    assert SECRET not in caplog.text and SECRET not in str(wrong_password) and SECRET not in repr(sender())


def test_plaintext_to_a_server_that_requires_starttls_is_a_config_error(tmp_path: Path) -> None:
    with SmtpTestServer(tmp_path, tls="starttls", auth=("u", "p")) as srv:
        error = run(attempt(SmtpSender("127.0.0.1", srv.port, tls="none", timeout=5), mail(1)))
        assert srv.accepted_ids() == []
    assert isinstance(error, ConfigError) and "530" in str(error)
