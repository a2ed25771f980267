"""Template injection and header injection end to end (issue 9 §5: what ``tests/adapters/web`` does not cover).

1. Server-side template injection: a list of payloads is saved by a template author through the web editor
   (``POST /templates/<name>``) and previewed, and also written straight into the template store (as a database
   edit would, bypassing the editor's lint) and rendered by the renderer the daemon uses. Nothing may show the
   secret key, an environment variable, a file, Python internals, or change data.
2. CRLF/header injection: a client name or e-mail with a line break in the CSV is refused at import; a subject
   template that produces a line break still yields a one-line Subject header and no extra header.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import Client, TemplateVersion
from bot.app.client_import import import_clients
from bot.app.settings import Settings
from bot.app.wiring import make_renderer
from bot.domain.errors import InputError, TemplateError
from tests.adapters.test_render import fixed_context
from tests.adapters.web.conftest import (  # noqa: F401 - fixtures reused from the web suite
    TestClient,
    app,
    as_role,
    clock,
    csrf_of,
    engine,
    seeded_file,
    settings,
)

ROOT = Path(__file__).resolve().parents[2]
CANARY = "relance-canary-7f3a9c"

PAYLOADS = [
    "{{ settings.secret_key }}",
    "{{ settings }}",
    "{{ config }}",
    "{{ self }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ (1).__class__.__base__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ money.__globals__['__builtins__']['open']('/etc/passwd').read() }}",
    "{{ date.__globals__ }}",
    "{{ client.__dict__ }}",
    "{{ client.__class__ }}",
    "{{ client._sa_instance_state }}",
    "{{ invoices.pop() }}",
    "{{ invoices.append(1) }}",
    "{{ client.name.format(client) }}",
    "{{ '{0.__class__}'.format(client) }}",
    "{{ client.name.__class__.__mro__ }}",
    "{% include '/etc/passwd' %}",
    "{% include '../../../../../../etc/passwd' %}",
    "{% import 'os' as os %}{{ os }}",
    "{% extends '/etc/hostname' %}",
    "{{ range(100000000) | list }}",
    "{{ request }}",
    "{{ __import__('os').environ }}",
]

#: What a successful escape would print (never text of the payloads themselves, which the editor echoes back).
LEAKS = [
    CANARY,
    "test-secret-key-",
    "root:x:0:0",
    "uid=0(",
    "<class ",
    "&lt;class ",
    "<module ",
    "&lt;module ",
    "<function ",
    "&lt;function ",
    "<bound method",
    "&lt;bound method",
    "InstanceState",
    "<built-in",
    "&lt;built-in",
]


@pytest.fixture(autouse=True)
def canary(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RELANCE_CANARY_SECRET", CANARY)
    yield


def leaked(text: str) -> list[str]:
    return [marker for marker in LEAKS if marker in text]


def editor_form(page: str) -> dict[str, str]:
    data = {"csrf_token": csrf_of(page)}
    for lang in ("fr", "en"):
        subject = re.search(rf'name="{lang}__subject" value="([^"]*)"', page)
        assert subject
        data[f"{lang}__subject"] = html.unescape(subject.group(1))
        for part in ("txt", "html"):
            found = re.search(rf'name="{lang}__{part}"[^>]*>(.*?)</textarea>', page, re.S)
            assert found
            data[f"{lang}__{part}"] = html.unescape(found.group(1))
    return data


def test_ssti_payloads_through_the_web_editor(
    as_role: Callable[[str], TestClient],  # noqa: F811
    engine: Engine,  # noqa: F811
) -> None:
    author = as_role("template_author")
    base = editor_form(author.get("/templates/reminder_1").text)
    saved = refused = 0
    for payload in PAYLOADS:
        for field in ("en__txt", "en__subject"):
            form = base | {field: base[field] + payload}
            preview = author.post("/templates/reminder_1/preview", data=form | {"invoice": "F2026-001"})
            assert preview.status_code in (200, 422), (payload, preview.status_code)
            assert not leaked(preview.text), (payload, field, leaked(preview.text))
            save = author.post("/templates/reminder_1", data=form, follow_redirects=False)
            assert save.status_code in (303, 422), (payload, save.status_code)
            assert not leaked(save.text), (payload, field, leaked(save.text))
            if save.status_code == 303:
                saved += 1
                page = author.get("/templates/reminder_1").text  # the editor shows the source, not its output
                assert not leaked(page), (payload, leaked(page))
            else:
                refused += 1
    print(f"ssti web: {len(PAYLOADS)} payloads x 2 fields: {refused} refused, {saved} saved (inert)")
    # The client and invoice the previews used are untouched.
    with session_factory(engine)() as s:
        client = s.get(Client, "C1")
        assert client is not None and not leaked(client.name)


def test_ssti_payloads_written_straight_into_the_template_store(tmp_path: Path) -> None:
    """A payload that reached the store without the editor's lint still renders inert or fails as a TemplateError."""
    factory = session_factory(open_database(f"sqlite:///{tmp_path / 'r.db'}"))
    cfg = Settings(config_dir=ROOT / "config", templates_dir=ROOT / "templates", secret_key="test-secret-key-zz")
    errors = inert = 0
    for n, payload in enumerate(PAYLOADS):
        with factory() as s, s.begin():
            s.add(
                TemplateVersion(
                    name="reminder_1.txt",
                    language="en",
                    source=f"Hello {{{{ client.name }}}}\n{payload}\n",
                    author="mallory",
                    created_at=datetime(2026, 11, 3, 9, n % 60, tzinfo=UTC),
                )
            )
        renderer = make_renderer(cfg, factory)
        try:
            out = renderer.render("reminder_1", "en", fixed_context("reminder_1", "en"))
        except TemplateError as exc:
            errors += 1
            assert not leaked(str(exc)), (payload, leaked(str(exc)))
            continue
        inert += 1
        assert not leaked(out.text + out.html + out.subject), (payload, leaked(out.text))
    assert os.environ["RELANCE_CANARY_SECRET"] == CANARY
    assert errors > 0, "no payload reached the renderer: the store override was not used"
    print(f"ssti store: {len(PAYLOADS)} payloads: {errors} template errors, {inert} rendered inert")


# ------------------------------------------------------------------------------------------- CRLF


@pytest.mark.parametrize(
    "row",
    [
        '"C1","Acme\r\nBcc: victim@evil.test",ap@acme.test,en,standard',
        '"C1","Acme\nBcc: victim@evil.test",ap@acme.test,en,standard',
        '"C1","Acme\rX-Injected: 1",ap@acme.test,en,standard',
        '"C1",Acme,"ap@acme.test\r\nBcc: victim@evil.test",en,standard',
        '"C1",Acme,"ap@acme.test\nBcc: victim@evil.test",en,standard',
        '"C1\r\nBcc: x@evil.test",Acme,ap@acme.test,en,standard',
    ],
)
def test_csv_line_breaks_in_client_fields_are_refused(tmp_path: Path, row: str) -> None:
    factory = session_factory(open_database(f"sqlite:///{tmp_path / 'r.db'}"))
    csv = tmp_path / "clients.csv"
    csv.write_bytes(("client_id,name,email,language,profile\r\n" + row + "\r\n").encode())
    with pytest.raises(InputError):
        import_clients(factory, csv, now=datetime(2026, 11, 3, tzinfo=UTC), profiles={"standard"})
    with factory() as s:
        assert list(s.scalars(select(Client))) == [], "a refused file must import nothing"


def test_subject_template_with_line_breaks_gives_one_header_line(tmp_path: Path) -> None:
    """A saved subject that renders a line break (or a client name smuggling one) cannot add a header."""
    from bot.adapters.mail_build import build_mail, make_message_id

    factory = session_factory(open_database(f"sqlite:///{tmp_path / 'r.db'}"))
    with factory() as s, s.begin():
        s.add(
            TemplateVersion(
                name="reminder_1.subject",
                language="en",
                source="Invoice {{ client.name }}\r\nBcc: victim@evil.test\nX-Injected: {{ '\\r\\n' }}yes",
                author="mallory",
                created_at=datetime(2026, 11, 3, 9, tzinfo=UTC),
            )
        )
    cfg = Settings(config_dir=ROOT / "config", templates_dir=ROOT / "templates")
    rendered = make_renderer(cfg, factory).render("reminder_1", "en", fixed_context("reminder_1", "en"))
    assert "\r" not in rendered.subject and "\n" not in rendered.subject
    mail = build_mail(
        sender="collections@relance.test",
        sender_name="Credit control",
        to=["ap@client.test"],
        reply_to=None,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=make_message_id("k", "relance.test"),
        date=datetime(2026, 11, 3, tzinfo=UTC),
    )
    head = mail.data.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line and line[:1] not in (b" ", b"\t")]
    assert b"bcc" not in names and b"x-injected" not in names, names
    assert mail.recipients == ("ap@client.test",)
