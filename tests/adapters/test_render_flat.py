"""Flattened templates (layout and constant includes compiled into each part) render exactly what Jinja's
part-by-part rendering does, refuse the shapes whose meaning could change, and never go stale."""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.adapters.render import PARTS, TemplateRenderer, TemplateRenderError
from bot.adapters.render_context import CompanyInfo, InvoiceFacts, PaymentFacts, build_context, sample_context
from bot.domain.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
RATES = {"ecb_refinancing_rate": "2.15", "boe_base_rate": "4.00"}


def part_by_part(renderer: TemplateRenderer, name: str, language: str, context: dict[str, object]) -> list[str]:
    """What TemplateRenderer.render returned before flattening: each part through Jinja's own loading."""
    return [renderer.render_part(name, part, language, context) for part in PARTS]


def flat(renderer: TemplateRenderer, name: str, language: str, context: dict[str, object]) -> list[str]:
    compiled = renderer._flat(name, language)
    assert compiled is not None, f"{language}/{name} was not flattened"
    return compiled.render(context)


def varied_contexts(name: str, language: str) -> list[dict[str, object]]:
    """One and several invoices, each jurisdiction, partial payments, promise and payment present or not."""
    out = []
    for count, jurisdiction, company_full, promise, paid in (
        (1, "fr", True, True, False),
        (2, "eu", False, False, True),
        (3, "uk", True, True, True),
        (5, "none", False, True, False),
    ):
        currency = "GBP" if jurisdiction == "uk" else "EUR"
        invoices = [
            InvoiceFacts(
                f"F-{k:04d}",
                date(2026, 9, 1) + timedelta(days=7 * k),
                date(2026, 10, 1) + timedelta(days=9 * k),
                Decimal(137 * k + 1) + Decimal("0.05") * k,
                Decimal("10.00") * k if paid else Decimal(0),
                currency,
            )
            for k in range(count)
        ]
        out.append(
            build_context(
                client_id="C-1",
                client_name="Ménard & <Fils>" if company_full else "Plain Ltd",
                invoices=invoices,
                company=CompanyInfo(
                    name='Éclat "Services" & Co',
                    signature_name="Zoë O'Brien",
                    email="ar@eclat.example",
                    signature_title="Credit control" if company_full else "",
                    phone="+33 4 00 00 00 00" if company_full else "",
                    iban="FR76 1111 2222" if company_full else "",
                    bic="BNPAFRPP" if company_full else "",
                ),
                language=language,
                step=name,
                today=date(2026, 12, 1),
                jurisdiction=jurisdiction,
                legal_rates=RATES,
                promise_date=date(2026, 12, 1 + count) if promise else None,
                promise_amount=Decimal("12.5") if promise and count > 1 else None,
                payment=PaymentFacts(date(2026, 11, 28), Decimal("99.90"), "VIR-1") if paid else PaymentFacts(),
                handover_to="Cabinet X" if count > 2 else None,
            )
        )
    return out


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_template_renders_the_same_flattened(language: str) -> None:
    renderer = TemplateRenderer(TEMPLATES)
    checked = 0
    for name in renderer.names():
        contexts = varied_contexts(name, language) + [sample_context(name, language)]
        for context in contexts:
            try:
                expected: list[str] | str = part_by_part(renderer, name, language, context)
            except TemplateRenderError as exc:  # e.g. a promise acknowledgement without a promise date
                expected = str(exc)
                with pytest.raises(TemplateRenderError) as info:
                    renderer.render(name, language, context)
                assert str(info.value) == expected
                continue
            assert flat(renderer, name, language, context) == expected, name
            mail = renderer.render(name, language, context)
            assert [mail.text, mail.html] == expected[1:]
            checked += 1
    assert checked >= 40


def _tree(tmp_path: Path, files: dict[str, str]) -> TemplateRenderer:
    (tmp_path / "en").mkdir()
    for file_name, source in files.items():
        (tmp_path / "en" / file_name).write_text(source, encoding="utf-8")
    return TemplateRenderer(tmp_path)


def _one(body: str, **pieces: str) -> dict[str, str]:
    files = {"t.subject.j2": "S {{ step }}", "t.txt.j2": body, "t.html.j2": "<p>{{ step }}</p>\n"}
    files.update({f"{k}.txt.j2": v for k, v in pieces.items()})
    return files


@pytest.mark.parametrize(
    ("body", "pieces", "flattened"),
    [
        # A piece's {% set %} stays its own, as in an included template.
        ("{% include '_p.txt.j2' %}[{{ x is defined }}]\n", {"_p": "{% set x = 1 %}{{ x }}\n"}, True),
        # The includer assigns a name the piece reads: an include sees locals only as they were then.
        ("{% include '_p.txt.j2' %}{% set step = 'b' %}{{ step }}\n", {"_p": "{{ step }}\n"}, False),
        # Includes in loops see the loop variable through Jinja's own include.
        ("{% for i in [1, 2] %}{% include '_p.txt.j2' %}{% endfor %}\n", {"_p": "{{ i }}\n"}, True),
        # Pieces with macros, or reading ``loop``, are left to Jinja.
        ("{% include '_p.txt.j2' %}\n", {"_p": "{% macro m() %}M{% endmacro %}{{ m() }}\n"}, False),
        ("{% for i in [1] %}{% include '_p.txt.j2' %}{% endfor %}\n", {"_p": "{{ loop.index }}\n"}, True),
        # Nested constant includes are flattened too; a dynamic name is not.
        ("{% include '_p.txt.j2' %}\n", {"_p": "a{% include '_q.txt.j2' %}", "_q": "{{ step }}"}, True),
        ("{% include step ~ '.txt.j2' %}\n", {}, True),
        ("{% include '_p.txt.j2' without context %}\n", {"_p": "{{ 1 + 1 }}\n"}, True),
        ("{% include '_p.txt.j2' %}\n", {"_p": "{% include '_q.txt.j2' ignore missing %}"}, False),
    ],
)
def test_shapes_are_flattened_only_when_their_meaning_is_kept(
    tmp_path: Path, body: str, pieces: dict[str, str], flattened: bool
) -> None:
    renderer = _tree(tmp_path, _one(body, **pieces))
    context: dict[str, object] = {"step": "_p"}
    try:
        expected: list[str] | type[Exception] = part_by_part(renderer, "t", "en", context)
    except TemplateRenderError:
        expected = TemplateRenderError
    compiled = renderer._flat("t", "en")
    assert (compiled is not None) == flattened
    if expected is TemplateRenderError:
        with pytest.raises(TemplateRenderError):
            renderer.render("t", "en", context)
        return
    mail = renderer.render("t", "en", context)
    assert [mail.text, mail.html] == expected[1:]  # type: ignore[index]
    if compiled is not None:
        assert compiled.render(context) == expected


def test_layouts_are_flattened_only_for_plain_blocks(tmp_path: Path) -> None:
    layout = "<html>{{ step }}{% block body %}default{% endblock %}{% block foot %}F{% endblock %}</html>\n"
    files = {
        "_layout.html.j2": layout,
        "a.subject.j2": "s",
        "a.txt.j2": "t\n",
        "a.html.j2": "{% extends '_layout.html.j2' %}\n{% block body %}<b>{{ step }}</b>{% endblock %}\n",
        "b.subject.j2": "s",
        "b.txt.j2": "t\n",
        "b.html.j2": "{% extends '_layout.html.j2' %}{% block body %}[{{ super() }}]{% endblock %}",
        "c.subject.j2": "s",
        "c.txt.j2": "t\n",
        "c.html.j2": "{% extends '_layout.html.j2' %}{% set step = 'x' %}{% block body %}{% endblock %}",
    }
    renderer = _tree(tmp_path, files)
    context: dict[str, object] = {"step": "<&>"}
    for name, flattened in (("a", True), ("b", False), ("c", False)):
        expected = part_by_part(renderer, name, "en", context)
        assert (renderer._flat(name, "en") is not None) == flattened, name
        assert renderer.render(name, "en", context).html == expected[2]
    assert renderer.render("a", "en", context).html == "<html>&lt;&amp;&gt;<b>&lt;&amp;&gt;</b>F</html>\n"


def test_an_edited_piece_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.adapters.render_loader as render_loader

    monkeypatch.setattr(render_loader, "RECHECK_SECONDS", 0.0)
    renderer = _tree(tmp_path, _one("[{% include '_p.txt.j2' %}]\n", _p="one"))
    assert renderer.render("t", "en", {"step": "s"}).text == "[one]\n"
    piece = tmp_path / "en" / "_p.txt.j2"
    piece.write_text("two", encoding="utf-8")
    os.utime(piece, ns=(piece.stat().st_atime_ns, piece.stat().st_mtime_ns + 1_000_000))
    assert renderer.render("t", "en", {"step": "s"}).text == "[two]\n"
    # Another renderer over the same files shares the compiled code, but only while every source matches.
    again = TemplateRenderer(tmp_path)
    assert again.render("t", "en", {"step": "s"}).text == "[two]\n"


def test_overridden_pieces_are_not_served_from_another_renderers_code(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES, root)
    ctx = sample_context("reminder_1", "fr")
    plain = TemplateRenderer(root).render("reminder_1", "fr", ctx)
    edited = TemplateRenderer(
        root, overrides=lambda part, lang: "Signé : {{ company.name }}\n" if part == "_signature.txt.j2" else None
    ).render("reminder_1", "fr", ctx)
    assert "Signé" not in plain.text
    assert edited.text.endswith("Signé : Atelier Lumière SAS\n")
    assert TemplateRenderer(root).render("reminder_1", "fr", ctx) == plain


def test_an_error_in_a_flattened_piece_names_the_piece_and_its_line(tmp_path: Path) -> None:
    renderer = _tree(tmp_path, _one("a\n{% include '_p.txt.j2' %}\n", _p="ok\n\n{{ client.vat }}\n"))
    assert renderer._flat("t", "en") is not None
    with pytest.raises(TemplateRenderError) as info:
        renderer.render("t", "en", {"step": "s", "client": {}})
    assert (info.value.template, info.value.line) == ("_p.txt.j2", 3)


def test_variables_name_what_a_template_reads() -> None:
    renderer = TemplateRenderer(TEMPLATES)
    reminder = renderer.variables("reminder_1", "fr")
    notice = renderer.variables("formal_notice", "en")
    assert reminder is not None and notice is not None
    assert "penalties" not in reminder and {"invoices", "company", "currency", "language"} <= reminder
    assert {"penalties", "show_penalties", "jurisdiction"} <= notice


def test_variables_are_unknown_when_an_include_is_resolved_while_rendering(tmp_path: Path) -> None:
    renderer = _tree(tmp_path, _one("{% include step ~ '.txt.j2' %}\n", _p="x"))
    assert renderer.variables("t", "en") is None


def test_penalties_can_be_skipped_for_templates_that_do_not_read_them() -> None:
    renderer = TemplateRenderer(TEMPLATES)
    for name in renderer.names():
        for language in ("fr", "en"):
            variables = renderer.variables(name, language)
            assert variables is not None
            full = sample_context(name, language)
            lean = dict(full, penalties=None)
            assert full["penalties"] is not None
            if "penalties" not in variables:
                assert renderer.render(name, language, lean) == renderer.render(name, language, full)


def test_build_context_without_penalties_still_checks_the_rates() -> None:
    invoices = [InvoiceFacts("A", date(2026, 1, 1), date(2026, 2, 1), Decimal(100), Decimal(0), "GBP")]
    args: dict[str, object] = dict(
        client_id="c",
        client_name="c",
        invoices=invoices,
        company=CompanyInfo("n", "s", "e@x.example"),
        language="en",
        step="promise_ack",
        today=date(2026, 3, 1),
        jurisdiction="uk",
    )
    full = build_context(**args, legal_rates=RATES)  # type: ignore[arg-type]
    lean = build_context(**args, legal_rates=RATES, with_penalties=False)  # type: ignore[arg-type]
    assert full["penalties"] is not None and lean["penalties"] is None
    assert {k: v for k, v in full.items() if k != "penalties"} == {k: v for k, v in lean.items() if k != "penalties"}
    for with_penalties in (True, False):
        with pytest.raises(ConfigError, match="boe_base_rate"):
            build_context(
                **args,
                legal_rates={"ecb_refinancing_rate": "2"},
                with_penalties=with_penalties,  # type: ignore[arg-type]
            )


def test_parts_that_assign_or_change_escaping_render_as_jinja_does(tmp_path: Path) -> None:
    """Contexts are made faster for parts that neither assign variables nor change autoescaping; the others
    (a {% set %} a block or a filter then reads, an {% autoescape %} block) still render exactly as before."""
    layout = "<html>{% set language = 'fr' %}{% block body %}{% endblock %}|{{ today|date }}</html>\n"
    files = {
        "_layout.html.j2": layout,
        "t.subject.j2": "{{ today|date }} {{ total|money }}",
        "t.txt.j2": "{% set language = 'fr' %}{{ today|date }} {{ total|money('EUR') }} {{ c.name }}\n",
        "t.html.j2": "{% extends '_layout.html.j2' %}{% block body %}{{ c.name }} {{ language }}"
        "{% autoescape false %}{{ c.name }}{% endautoescape %}{% endblock %}",
    }
    renderer = _tree(tmp_path, files)
    context: dict[str, object] = {
        "today": date(2026, 12, 1),
        "total": Decimal("1234.5"),
        "currency": "EUR",
        "language": "en",
        "c": {"name": "<A & B>"},
    }
    expected = part_by_part(renderer, "t", "en", context)
    assert expected[1].startswith("1er décembre 2026 1\u202f234,50\xa0€")  # the part's own language wins
    compiled = renderer._flat("t", "en")
    assert compiled is not None
    for _ in range(2):  # contexts are not shared between renders
        assert compiled.render(context) == expected
    subject, text, html = compiled._shapes
    assert subject is not None and subject[2]  # reads only: looked up in the parent alone
    assert text is not None and not text[2]  # assigns: Jinja's own look-up
    assert html is None  # changes autoescaping: a context of its own, made by Jinja


def test_attributes_of_dicts_read_inline_answer_as_the_sandbox_does(tmp_path: Path) -> None:
    """``x.name`` on a dict is tested in the compiled code; anything else (dict methods, objects, undefined)
    still goes through the sandbox, as a plain sandboxed environment renders it."""
    from types import SimpleNamespace

    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    body = (
        "{{ d.number }} {{ d.get('number') }} {{ d.items is defined }} {{ o.number }} {{ d.keys is callable }}"
        "{% for i in rows %}[{{ i.a }} {{ i.values is callable }}]{% endfor %}\n"
    )
    renderer = _tree(tmp_path, _one(body))
    plain = ImmutableSandboxedEnvironment(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    context: dict[str, object] = {
        "step": "s",
        "d": {"number": "F-1", "items": "not a method"},
        "o": SimpleNamespace(number="N-2"),
        "rows": [{"a": 1, "values": 2}, {"a": "<b>"}],
    }
    expected = plain.from_string(body).render(context)
    assert renderer.render("t", "en", context).text == expected
    assert renderer.render_part("t", "txt", "en", context) == expected
    with pytest.raises(TemplateRenderError, match="UndefinedError"):
        renderer.render("t", "en", {**context, "d": {"other": 1}})
