"""An inbox processor does recording's one-time work when it is created, not when the first reply waits for it."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import session_factory
from bot.adapters.db.models import InboundMessage
from bot.app import profiles
from bot.app.clock import FixedClock, noon_in
from bot.app.inbox import InboxProcessor
from bot.app.reply_actions import ACK_TEMPLATES
from bot.app.settings import Settings, load_settings
from bot.app.wiring import make_renderer
from bot.domain.errors import ConfigError
from bot.ports import RenderedMail
from tests.app.test_inbox_prepare import reply
from tests.fakes import ListMailbox

ROOT = Path(__file__).resolve().parents[2]
CLOCK = FixedClock(noon_in(date(2026, 11, 3)))


class WarmedRenderer:
    """A renderer that only records what it was asked to prepare."""

    def __init__(self) -> None:
        self.warmed: list[tuple[str, ...]] = []

    def warm_up(self, names: Sequence[str]) -> None:
        self.warmed.append(tuple(names))

    def render(self, name: str, language: str, context: dict[str, object]) -> RenderedMail:
        raise AssertionError("nothing is rendered at set-up")

    def names(self) -> Sequence[str]:
        return ACK_TEMPLATES

    def variables(self, name: str, language: str) -> frozenset[str] | None:
        return None


def settings_in(folder: Path, profiles_text: str | None = None) -> Settings:
    config = folder / "config"
    shutil.copytree(ROOT / "config", config)
    if profiles_text is not None:
        (config / "profiles.yaml").write_text(profiles_text, encoding="utf-8")
    return load_settings(config, env={})


def test_creation_loads_the_profiles_and_prepares_the_acknowledgements(
    two_client_ledger: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = settings_in(tmp_path)
    profiles._cache.clear()
    renderer = WarmedRenderer()
    processor = InboxProcessor(two_client_ledger, settings, CLOCK, renderer, workers=0)
    try:
        assert [key[0] for key in profiles._cache] == [str(settings.profiles_path)]
        assert renderer.warmed == [ACK_TEMPLATES]
    finally:
        processor.close()


def test_a_broken_profiles_file_does_not_stop_the_set_up(
    two_client_ledger: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = settings_in(tmp_path, "profiles: [not, a, mapping\n")
    profiles._cache.clear()
    processor = InboxProcessor(two_client_ledger, settings, CLOCK, WarmedRenderer(), workers=0)
    try:
        assert profiles._cache == {}  # the first batch meets the error and reports it, as before
    finally:
        processor.close()


def test_an_unmigrated_database_does_not_stop_the_set_up(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    empty = session_factory(create_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    processor = InboxProcessor(empty, settings, CLOCK, make_renderer(settings), workers=0)
    processor.close()


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_acknowledgement_templates_exist_in_every_language(language: str) -> None:
    for name in ACK_TEMPLATES:
        for part in ("subject", "txt", "html"):
            assert (ROOT / "templates" / language / f"{name}.{part}.j2").is_file()


def test_creation_compiles_the_acknowledgement_templates_of_every_language(
    two_client_ledger: sessionmaker[Session], tmp_path: Path
) -> None:
    from bot.adapters.render import TemplateRenderer
    from bot.adapters.render_unit import FlatMail

    settings = settings_in(tmp_path)
    renderer = make_renderer(settings)
    assert isinstance(renderer, TemplateRenderer)
    processor = InboxProcessor(two_client_ledger, settings, CLOCK, renderer, workers=0)
    try:
        compiled = {key for key, entry in renderer._flats.items() if isinstance(entry, FlatMail)}
        assert compiled == {(language, name) for language in ("en", "fr") for name in ACK_TEMPLATES}
    finally:
        processor.close()


def test_a_profiles_file_broken_while_running_holds_the_replies_back_until_it_is_fixed(
    two_client_ledger: sessionmaker[Session], tmp_path: Path
) -> None:
    """GIVEN a running inbox WHEN profiles.yaml is saved broken THEN a pass fetches nothing and says why (the
    replies wait in the inbox, none is quarantined); once fixed, the next pass reads them as usual."""
    settings = settings_in(tmp_path)
    processor = InboxProcessor(two_client_ledger, settings, CLOCK, make_renderer(settings), workers=0)
    good = (tmp_path / "config" / "profiles.yaml").read_text(encoding="utf-8")
    box = ListMailbox([reply(i) for i in range(1, 4)])
    try:
        (tmp_path / "config" / "profiles.yaml").write_text("profiles: [unclosed\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="profiles"):
            processor.run_once(box)
        with two_client_ledger() as s:
            assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0
        assert box.filed == {}
        (tmp_path / "config" / "profiles.yaml").write_text(good + "\n", encoding="utf-8")
        report = processor.run_once(box)
    finally:
        processor.close()
    assert report.quarantined == 0 and report.processed + report.review == 3
    assert set(box.filed.values()) <= {"relance/processed", "relance/review"}
