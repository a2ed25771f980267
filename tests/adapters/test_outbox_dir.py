"""DirectorySender: one .eml per Message-ID, written atomically, never twice."""

from __future__ import annotations

import asyncio
import email
import os
from datetime import UTC, datetime
from email import policy
from pathlib import Path

from bot.adapters.mail_build import build_mail, make_message_id
from bot.adapters.outbox_dir import DirectorySender, eml_name
from bot.domain.errors import TemporaryError
from bot.ports import OutgoingMail


def mail(key: str, body: str = "Bonjour\n") -> OutgoingMail:
    return build_mail(
        sender="ar@eclat.example",
        sender_name="Éclat",
        to=["compta@client.example"],
        reply_to=None,
        subject="Relance",
        text=body,
        html=None,
        message_id=make_message_id(key, "eclat.example"),
        date=datetime(2026, 11, 16, 9, tzinfo=UTC),
    )


def test_each_message_becomes_one_eml_named_after_its_id(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"  # created on first send
    sender = DirectorySender(folder)
    first, second = mail("a"), mail("b")
    asyncio.run(sender.send(first))
    asyncio.run(sender.send(second))
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted([first.message_id.strip("<>") + ".eml", second.message_id.strip("<>") + ".eml"])
    saved = sender.path_for(first.message_id).read_bytes()
    assert saved == first.data
    assert email.message_from_bytes(saved, policy=policy.default)["Message-ID"] == first.message_id


def test_sending_again_changes_nothing(tmp_path: Path) -> None:
    sender = DirectorySender(tmp_path)
    original = mail("a", "first version\n")
    asyncio.run(sender.send(original))
    path = sender.path_for(original.message_id)
    stamp = path.stat().st_mtime_ns
    asyncio.run(sender.send(mail("a", "a different body, same Message-ID\n")))
    assert path.read_bytes() == original.data and path.stat().st_mtime_ns == stamp
    assert len(list(tmp_path.iterdir())) == 1


def test_concurrent_senders_of_one_message_leave_one_file_and_no_temporaries(tmp_path: Path) -> None:
    async def race() -> None:
        senders = [DirectorySender(tmp_path) for _ in range(8)]
        await asyncio.gather(*(s.send(mail("same", f"writer {i}\n")) for i, s in enumerate(senders)))

    asyncio.run(race())
    assert [p.name for p in tmp_path.iterdir()] == [eml_name(mail("same").message_id)]


def test_unsafe_message_ids_get_distinct_safe_names() -> None:
    names = {eml_name(mid) for mid in ["<a/b@x>", "<a_b@x>", "<../../etc@x>", "<a b@x>", "<a:b@x>"]}
    assert len(names) == 5
    assert all("/" not in n and not n.startswith(".") and n.endswith(".eml") for n in names)
    assert eml_name("<relance.abc@eclat.example>") == "relance.abc@eclat.example.eml"


def test_unwritable_folder_is_a_temporary_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    try:
        asyncio.run(DirectorySender(blocker / "outbox").send(mail("a")))
    except TemporaryError as exc:
        assert "cannot write" in str(exc)
    else:
        raise AssertionError("writing under a regular file must fail")
    assert os.listdir(tmp_path) == ["file"]
