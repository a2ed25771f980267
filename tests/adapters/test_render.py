"""The Jinja2 renderer: golden files, Babel formats, escaping, sandbox, strictness, overrides, speed.

Golden files live in tests/fixtures/golden/<lang>/<case>.{subject,txt,html}; regenerate them after a
deliberate wording change with ``RELANCE_UPDATE_GOLDEN=1 python -m pytest tests/adapters/test_render.py``
and review the diff.
"""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bot.adapters.render import TemplateRenderer, TemplateRenderError
from bot.adapters.render_context import CompanyInfo, InvoiceFacts, PaymentFacts, build_context, sample_context
from bot.domain.errors import TemplateError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
UPDATE = os.environ.get("RELANCE_UPDATE_GOLDEN") == "1"
STEPS = ("courtesy", "reminder_1", "reminder_2", "formal_notice", "final_notice")
ACKS = (
    "invoice_copy",
    "promise_ack",
    "payment_claim_ack",
    "payment_thanks",
    "dispute_ack",
    "plan_request_ack",
)


def fixed_context(name: str, language: str, *, jurisdiction: str = "fr", count: int = 2) -> dict[str, object]:
    cur = "GBP" if jurisdiction == "uk" else "EUR"
    invoices = [
        InvoiceFacts("FA-1001", date(2026, 9, 1), date(2026, 10, 1), Decimal("1234.56"), Decimal(0), cur),
        InvoiceFacts("FA-1017", date(2026, 9, 20), date(2026, 10, 20), Decimal("980.00"), Decimal("80.00"), cur),
        InvoiceFacts("FA-1042", date(2026, 10, 5), date(2026, 11, 4), Decimal("15000.00"), Decimal(0), cur),
    ][:count]
    return build_context(
        client_id="CL-7",
        client_name="Boulangerie Ménard & Cie" if language == "fr" else "Pennington <Bakery> Ltd",
        invoices=invoices,
        company=CompanyInfo(
            name="Éclat Services",
            signature_name="Julie Bernard",
            signature_title="Credit control",
            email="ar@eclat.example",
            phone="+33 4 00 00 00 00",
            iban="FR76 1111 2222 3333 4444 5555 666",
            bic="BNPAFRPP",
        ),
        language=language,
        step=name,
        today=date(2026, 11, 16),
        jurisdiction=jurisdiction,
        legal_rates={"ecb_refinancing_rate": "2.15", "boe_base_rate": "4.00"},
        deadline_days=8,
        promise_date=date(2026, 11, 30),
        promise_amount=Decimal("1000.00"),
        payment=PaymentFacts(date(2026, 11, 14), Decimal("2054.56"), "TRF 99812"),
        handover_to="Cabinet Recouvra" if name == "final_notice" else None,
        attachment_names=["FA-1001.pdf", "FA-1017.pdf"],
    )


GOLDEN_CASES = [(name, lang, "fr", 2) for name in STEPS + ACKS for lang in ("fr", "en")] + [
    ("courtesy", "fr", "fr", 1),
    ("formal_notice", "fr", "none", 2),
    ("formal_notice", "en", "uk", 3),
    ("formal_notice", "en", "eu", 1),
]


def only(part_name: str, source: str) -> Callable[[str, str], str | None]:
    """An overrides hook that replaces one part (in every language) and leaves the others to the files."""
    return lambda part, lang: source if part == part_name else None


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer(TEMPLATES)


@pytest.mark.parametrize(("name", "lang", "jurisdiction", "count"), GOLDEN_CASES)
def test_golden(renderer: TemplateRenderer, name: str, lang: str, jurisdiction: str, count: int) -> None:
    mail = renderer.render(name, lang, fixed_context(name, lang, jurisdiction=jurisdiction, count=count))
    case = f"{name}.{jurisdiction}.{count}"
    for suffix, content in (("subject", mail.subject + "\n"), ("txt", mail.text), ("html", mail.html)):
        path = GOLDEN / lang / f"{case}.{suffix}"
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        assert path.exists(), f"missing golden file {path}; run with RELANCE_UPDATE_GOLDEN=1"
        assert content == path.read_text(encoding="utf-8"), f"{path} differs"


def test_babel_formats_money_and_dates_per_language(renderer: TemplateRenderer) -> None:
    fr = renderer.render("reminder_1", "fr", fixed_context("reminder_1", "fr"))
    en = renderer.render("reminder_1", "en", fixed_context("reminder_1", "en"))
    assert "1\u202f234,56\xa0€" in fr.text  # narrow no-break space for thousands, no-break space before €
    assert "1er octobre 2026" in fr.text
    assert "€1,234.56" in en.text
    assert "1 October 2026" in en.text


def test_html_is_escaped_and_text_is_not(renderer: TemplateRenderer) -> None:
    mail = renderer.render("formal_notice", "en", fixed_context("formal_notice", "en"))
    assert "Pennington <Bakery> Ltd" in mail.subject
    assert "Pennington &lt;Bakery&gt; Ltd" not in mail.text
    ctx = fixed_context("reminder_1", "fr")
    ctx["company"] = {**ctx["company"], "signature_name": "<script>x</script>"}  # type: ignore[dict-item]
    rendered = renderer.render("reminder_1", "fr", ctx)
    assert "&lt;script&gt;x&lt;/script&gt;" in rendered.html and "<script>" not in rendered.html
    assert "<script>x</script>" in rendered.text


def test_formal_notice_states_the_penalties_worked_by_hand(renderer: TemplateRenderer) -> None:
    text = renderer.render("formal_notice", "fr", fixed_context("formal_notice", "fr")).text
    # 1234.56 * 12.15% * 46/365 = 18.9040 -> 18.90 ; 900.00 * 12.15% * 27/365 = 8.0889 -> 8.09 ; sum 26.99
    assert "12,15\xa0%" in text and "26,99\xa0€" in text
    assert "40,00\xa0€ par facture, soit 80,00\xa0€" in text
    assert "24 novembre 2026" in text  # deadline: 16 November + 8 days
    uk_context = fixed_context("formal_notice", "en", jurisdiction="uk", count=3)
    uk = renderer.render("formal_notice", "en", uk_context).text
    assert "Bank of England base rate of 4% plus 8 points" in uk
    assert "£210.00 in total" in uk  # £40 (<1,000: 900.00 due) + £70 (1,234.56) + £100 (15,000)
    # 12% a year: 1234.56 x 46 days = 18.67 ; 900.00 x 27 days = 7.99 ; 15000.00 x 12 days = 59.18
    assert "amounting to £85.84" in uk


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_public_sector_has_no_penalty_wording(renderer: TemplateRenderer, lang: str) -> None:
    for name in STEPS:
        mail = renderer.render(name, lang, fixed_context(name, lang, jurisdiction="none"))
        body = (mail.text + mail.html).lower()
        for word in ("intérêts", "indemnité", "pénalité", "interest", "compensation", "40,00", "€40"):
            assert word not in body, f"{lang}/{name} mentions {word!r} for a public-sector debtor"


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_each_step_reads_differently_and_firmer(renderer: TemplateRenderer, lang: str) -> None:
    ctx = {name: fixed_context(name, lang) for name in STEPS}
    texts = {name: renderer.render(name, lang, ctx[name]) for name in STEPS}
    for i, first in enumerate(STEPS):
        for second in STEPS[i + 1 :]:
            assert texts[first].subject != texts[second].subject
            ratio = difflib.SequenceMatcher(None, texts[first].text, texts[second].text).ratio()
            assert ratio < 0.75, f"{first} and {second} read too alike ({ratio:.2f})"
    # A payment deadline appears from the second reminder on, never in the softer steps.
    deadline = "24 novembre 2026" if lang == "fr" else "24 November 2026"
    assert deadline not in texts["courtesy"].text and deadline not in texts["reminder_1"].text
    assert deadline in texts["reminder_2"].text and deadline in texts["formal_notice"].text


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ client.__class__.__base__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ invoices.append(1) }}",
        "{{ client.update({'name': 'x'}) }}",
        "{{ money.__globals__ }}",
    ],
)
def test_sandbox_blocks_escapes(payload: str) -> None:
    renderer = TemplateRenderer(TEMPLATES, overrides=only("x.txt.j2", payload))
    with pytest.raises(TemplateRenderError) as info:
        renderer.render_part("x", "txt", "fr", fixed_context("x", "fr"))
    assert info.value.template == "x.txt.j2" and info.value.language == "fr"


def test_undefined_variable_names_template_language_and_line() -> None:
    source = "Bonjour,\n\n{{ client.name }}\n{{ client.vat_number }}\n"
    renderer = TemplateRenderer(TEMPLATES, overrides=only("y.txt.j2", source))
    with pytest.raises(TemplateError) as info:
        renderer.render_part("y", "txt", "en", fixed_context("y", "en"))
    err = info.value
    assert isinstance(err, TemplateRenderError)
    assert (err.template, err.language, err.line) == ("y.txt.j2", "en", 4)
    assert "en/y.txt.j2, line 4" in str(err) and "vat_number" in str(err)


def test_error_inside_an_included_piece_names_that_piece() -> None:
    bad = "{% for inv in invoices %}\n{{ inv.nombre }}\n{% endfor %}\n"
    renderer = TemplateRenderer(TEMPLATES, overrides=only("_invoices.txt.j2", bad))
    with pytest.raises(TemplateRenderError) as info:
        renderer.render("reminder_1", "fr", fixed_context("reminder_1", "fr"))
    assert (info.value.template, info.value.line) == ("_invoices.txt.j2", 2)


def test_syntax_error_and_missing_template() -> None:
    renderer = TemplateRenderer(TEMPLATES, overrides=only("z.txt.j2", "ok\n{% if x %}\nno end\n"))
    with pytest.raises(TemplateRenderError) as info:
        renderer.render_part("z", "txt", "fr", {})
    assert info.value.template == "z.txt.j2" and info.value.line is not None
    with pytest.raises(TemplateRenderError, match="not found"):
        renderer.render("no_such_template", "fr", {})
    with pytest.raises(TemplateRenderError, match="not found"):
        renderer.render_part("../../etc/passwd", "txt", "fr", {})


def test_overrides_are_cached_until_invalidated() -> None:
    store: dict[tuple[str, str], str] = {("reminder_1.subject.j2", "fr"): "Édité : {{ client.name }}"}
    calls: list[str] = []

    def overrides(part: str, lang: str) -> str | None:
        calls.append(part)
        return store.get((part, lang))

    renderer = TemplateRenderer(TEMPLATES, overrides=overrides)
    ctx = fixed_context("reminder_1", "fr")
    assert renderer.render("reminder_1", "fr", ctx).subject == "Édité : Boulangerie Ménard & Cie"
    first = len(calls)
    renderer.render("reminder_1", "fr", ctx)
    assert len(calls) == first  # compiled once
    store[("reminder_1.subject.j2", "fr")] = "Nouveau {{ invoice_count }}"
    renderer.invalidate()
    assert renderer.render("reminder_1", "fr", ctx).subject == "Nouveau 2"


def test_subject_is_one_line() -> None:
    renderer = TemplateRenderer(TEMPLATES, overrides=only("courtesy.subject.j2", "A\r\nBcc: x@evil.example\n"))
    subject = renderer.render("courtesy", "en", fixed_context("courtesy", "en")).subject
    assert subject == "A Bcc: x@evil.example"


def test_names_lists_templates_not_shared_pieces(renderer: TemplateRenderer) -> None:
    names = list(renderer.names())
    assert set(STEPS + ACKS) <= set(names)
    assert not [n for n in names if n.startswith("_")]


def test_build_context_refuses_mixed_currencies() -> None:
    invoices = [
        InvoiceFacts("A", date(2026, 1, 1), date(2026, 2, 1), Decimal(1), Decimal(0), "EUR"),
        InvoiceFacts("B", date(2026, 1, 1), date(2026, 2, 1), Decimal(1), Decimal(0), "USD"),
    ]
    with pytest.raises(ValueError, match="currency"):
        build_context(
            client_id="c",
            client_name="c",
            invoices=invoices,
            company=CompanyInfo("n", "s", "e@x.example"),
            language="fr",
            step="reminder_1",
            today=date(2026, 3, 1),
        )


def test_rendering_is_fast_enough_for_the_outbox(renderer: TemplateRenderer) -> None:
    ctx = fixed_context("reminder_2", "fr")
    renderer.render("reminder_2", "fr", ctx)
    n = 300
    start = time.perf_counter()
    for _ in range(n):
        renderer.render("reminder_2", "fr", ctx)
    rate = n / (time.perf_counter() - start)
    print(f"render rate: {rate:.0f} messages/s (three parts each)")
    assert rate > 300  # cached templates; an uncached compile costs ~50x more


def test_a_template_cannot_build_a_memory_bomb(tmp_path: Path) -> None:
    """The sandbox bounds ``range`` but not ``*``/``**``: relance bounds those too (a template author's typo or
    malice must fail the render, not exhaust the daemon's memory)."""
    from bot.adapters.render import TemplateRenderer
    from bot.adapters.render_context import sample_context
    from bot.domain.errors import TemplateError

    root = Path(__file__).resolve().parents[2] / "templates"
    bombs = {"{{ 'x' * 10**10 }}", "{{ [0] * 10000000 }}", "{{ 10 ** 100000 }}"}
    for bomb in bombs:
        renderer = TemplateRenderer(
            root, overrides=lambda name, lang, b=bomb: b if name.endswith(".subject.j2") else None
        )
        with pytest.raises(TemplateError):
            renderer.render("reminder_1", "fr", sample_context("reminder_1", "fr"))
    fine = TemplateRenderer(
        root, overrides=lambda name, lang: "{{ '-' * 3 }} {{ 2 ** 3 }}" if name.endswith(".subject.j2") else None
    )
    assert fine.render("reminder_1", "fr", sample_context("reminder_1", "fr")).subject == "--- 8"


def test_compiled_templates_are_shared_but_never_stale(tmp_path: Path) -> None:
    """Renderers share compiled code keyed by the source's checksum: a changed source renders the change."""
    first = TemplateRenderer(TEMPLATES, overrides=only("x.txt.j2", "one {{ client.name }}\n"))
    second = TemplateRenderer(TEMPLATES, overrides=only("x.txt.j2", "two {{ client.name }}\n"))
    ctx = fixed_context("reminder_1", "en")
    assert first.render_part("x", "txt", "en", ctx) == "one Pennington <Bakery> Ltd\n"
    assert second.render_part("x", "txt", "en", ctx) == "two Pennington <Bakery> Ltd\n"
    again = TemplateRenderer(TEMPLATES, overrides=only("x.txt.j2", "one {{ client.name }}\n"))
    assert again.render_part("x", "txt", "en", ctx) == "one Pennington <Bakery> Ltd\n"


def test_an_edited_template_file_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.adapters.render_loader as render_loader

    monkeypatch.setattr(render_loader, "RECHECK_SECONDS", 0.0)
    (tmp_path / "en").mkdir()
    part = tmp_path / "en" / "note.txt.j2"
    part.write_text("first {{ step }}\n", encoding="utf-8")
    renderer = TemplateRenderer(tmp_path)
    assert renderer.render_part("note", "txt", "en", {"step": "s"}) == "first s\n"
    part.write_text("second {{ step }}\n", encoding="utf-8")
    os.utime(part, ns=(part.stat().st_atime_ns, part.stat().st_mtime_ns + 1_000_000))
    assert renderer.render_part("note", "txt", "en", {"step": "s"}) == "second s\n"


def test_dict_keys_named_like_dict_methods_still_resolve_as_jinja_does() -> None:
    renderer = TemplateRenderer(TEMPLATES, overrides=only("x.txt.j2", "{{ d.number }} {{ d.items is callable }}\n"))
    out = renderer.render_part("x", "txt", "en", {"d": {"number": "N-1", "items": "not the method"}})
    assert out == "N-1 True\n"


def test_warm_up_compiles_every_language_and_only_logs_failures(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import shutil

    for language in ("fr", "en"):
        shutil.copytree(TEMPLATES / language, tmp_path / language)
    (tmp_path / "en" / "broken.subject.j2").write_text("{{ oops", encoding="utf-8")
    (tmp_path / "en" / "broken.txt.j2").write_text("x\n", encoding="utf-8")
    (tmp_path / "en" / "broken.html.j2").write_text("x\n", encoding="utf-8")
    renderer = TemplateRenderer(tmp_path)
    with caplog.at_level(logging.INFO, logger="bot.adapters.render"):
        renderer.warm_up(["promise_ack", "reminder_1", "broken", "absent"])
    for language in ("fr", "en"):
        for name in ("promise_ack", "reminder_1"):
            assert type(renderer._flats[(language, name)]).__name__ == "FlatMail"
    logged = {(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records}
    assert ("WARNING", "could not compile template en/broken in advance") in logged
    assert ("INFO", "template fr/broken not compiled in advance") in logged
    assert ("INFO", "template en/absent not compiled in advance") in logged
    # Warming up changes nothing of what rendering answers, errors included.
    context = sample_context("promise_ack", "fr")
    assert renderer.render("promise_ack", "fr", context) == TemplateRenderer(TEMPLATES).render(
        "promise_ack", "fr", context
    )
    with pytest.raises(TemplateRenderError, match="en/broken.subject.j2"):
        renderer.render("broken", "en", context)
