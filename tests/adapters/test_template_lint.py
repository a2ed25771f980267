"""``relance templates lint`` finds what would break sending, and names the file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.adapters.render_context import CONTEXT_VARIABLES, sample_context
from bot.adapters.template_lint import LintProblem, format_preview, lint_templates, preview

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES, root)
    return root


def messages(problems: list[LintProblem]) -> list[str]:
    return [str(p) for p in problems]


def test_shipped_templates_are_clean() -> None:
    assert messages(lint_templates(TEMPLATES)) == []


def test_syntax_error_is_reported_with_file_and_line(tree: Path) -> None:
    path = tree / "fr" / "reminder_2.txt.j2"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(3, "{% if max_days_late > 30 %}\nTrès en retard.\n")  # never closed
    path.write_text("".join(lines), encoding="utf-8")
    problems = lint_templates(tree)
    syntax = [p for p in problems if "syntax error" in p.message]
    assert len(syntax) == 1
    assert (syntax[0].language, syntax[0].template) == ("fr", "reminder_2.txt.j2")
    assert syntax[0].line is not None and syntax[0].line > 4


def test_unknown_variable_is_reported_with_its_line(tree: Path) -> None:
    path = tree / "en" / "promise_ack.txt.j2"
    text = path.read_text(encoding="utf-8").replace("Thank you for your reply.", "Dear {{ contact_name }},")
    path.write_text(text, encoding="utf-8")
    problems = lint_templates(tree)
    unknown = [p for p in problems if "unknown variable" in p.message]
    assert [(p.language, p.template, p.line) for p in unknown] == [("en", "promise_ack.txt.j2", 3)]
    assert "'contact_name'" in unknown[0].message
    assert "contact_name" not in CONTEXT_VARIABLES


def test_missing_attribute_is_caught_by_rendering_the_samples(tree: Path) -> None:
    path = tree / "fr" / "_signature.txt.j2"
    path.write_text(path.read_text(encoding="utf-8") + "{{ company.siret }}\n", encoding="utf-8")
    problems = lint_templates(tree)
    assert problems, "an attribute missing from the context must be reported"
    assert all(p.template == "_signature.txt.j2" and p.language == "fr" for p in problems)
    assert problems[0].line == 7 and "siret" in problems[0].message


def test_parity_missing_file_and_different_variables(tree: Path) -> None:
    (tree / "en" / "dispute_ack.html.j2").unlink()
    path = tree / "fr" / "payment_thanks.txt.j2"
    path.write_text(path.read_text(encoding="utf-8") + "Échéance promise : {{ promise_date|date }}\n", encoding="utf-8")
    text = messages(lint_templates(tree))
    assert "en/dispute_ack.html.j2: missing (present in fr/)" in text
    assert "en/dispute_ack: missing part dispute_ack.html.j2" in text
    assert any("payment_thanks: variables differ" in m and "only fr/ uses promise_date" in m for m in text)


def test_missing_required_template(tree: Path) -> None:
    for lang in ("fr", "en"):
        for part in ("subject", "txt", "html"):
            (tree / lang / f"final_notice.{part}.j2").unlink()
    text = messages(lint_templates(tree))
    assert "fr/final_notice: required template is missing" in text
    assert "en/final_notice: required template is missing" in text


def test_an_edit_is_linted_through_the_overrides_hook_before_saving() -> None:
    edited = "Bonjour {{ client.name }\n"  # the web editor's candidate, with a typo

    def overrides(part: str, lang: str) -> str | None:
        return edited if (part, lang) == ("courtesy.txt.j2", "fr") else None

    problems = lint_templates(TEMPLATES, overrides=overrides)
    assert [(p.language, p.template, p.line) for p in problems] == [("fr", "courtesy.txt.j2", 1)]


def test_empty_directory(tmp_path: Path) -> None:
    assert "no language directory" in lint_templates(tmp_path)[0].message


def test_preview_renders_one_template_for_the_cli() -> None:
    mail = preview(TEMPLATES, "reminder_1", "fr", sample_context("reminder_1", "fr", invoice_count=1))
    out = format_preview(mail)
    assert out.startswith("Subject: Rappel : facture F-2026-0412 échue le 15 octobre 2026\n\nBonjour,")
    assert "text/html" not in out and "<!DOCTYPE html>" in format_preview(mail, html=True)
