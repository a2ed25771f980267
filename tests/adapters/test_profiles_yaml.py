"""``profiles.yaml`` loading: every problem named with its file, line and key.

Each bad fixture marks its offending lines with ``# ERROR: key.path[, key.path]``; the tests read the expected
line numbers from those markers, so the files can be edited without renumbering anything here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.adapters.profiles_yaml import check_profiles, load_profiles, parse_profiles
from bot.domain.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "profiles"
MARKER = re.compile(r"#\s*ERROR:\s*(.+)$")


def expected_problems(path: Path) -> list[tuple[int, str]]:
    """(line, key path) pairs from the ``# ERROR:`` markers of a fixture, in line order."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = MARKER.search(line)
        if match:
            found.extend((number, key.strip()) for key in match.group(1).split(","))
    return found


def located(problems: list[str]) -> list[tuple[int, str]]:
    """(line, key path) of each ``FILE:LINE: key.path: message``."""
    result = []
    for problem in problems:
        match = re.match(r"^(.*):(\d+): (\S+): .+", problem)
        assert match, problem
        result.append((int(match.group(2)), match.group(3)))
    return result


BAD = sorted(p.name for p in FIXTURES.glob("*.yaml") if p.name != "valid_minimal.yaml")


@pytest.mark.parametrize("name", BAD)
def test_every_problem_is_reported_with_its_file_line_and_key(name: str) -> None:
    path = FIXTURES / name
    problems = check_profiles(path)
    assert all(p.startswith(f"{path}:") for p in problems), problems
    assert located(problems) == expected_problems(path)


@pytest.mark.parametrize("name", BAD)
def test_load_refuses_a_bad_file_with_all_its_problems(name: str) -> None:
    path = FIXTURES / name
    with pytest.raises(ConfigError) as info:
        load_profiles(path)
    message = str(info.value)
    for line, key in expected_problems(path):
        assert f"{path}:{line}: {key}: " in message


def test_the_messages_say_what_is_wrong() -> None:
    text = "\n".join(check_profiles(FIXTURES / "bad_offsets.yaml"))
    assert "offsets must strictly increase: 10 after 20 (reminder_1)" in text
    text = "\n".join(check_profiles(FIXTURES / "unknown_channel.yaml"))
    assert "'email', 'call_task', 'letter_task' or 'escalate'" in text and "needs a template" in text
    text = "\n".join(check_profiles(FIXTURES / "bad_timezone.yaml"))
    assert "unknown timezone 'Europe/Londres'" in text
    text = "\n".join(check_profiles(FIXTURES / "bad_key.yaml"))
    assert "unknown key (did you mean 'promise_grace_days'?)" in text
    text = "\n".join(check_profiles(FIXTURES / "unquoted_hours.yaml"))
    assert "quoted string" in text
    text = "\n".join(check_profiles(FIXTURES / "duplicate_key.yaml"))
    assert "duplicate key (first on line 9)" in text


def test_the_shipped_profiles_and_a_minimal_file_are_valid() -> None:
    assert check_profiles(ROOT / "config" / "profiles.yaml") == []
    config = load_profiles(FIXTURES / "valid_minimal.yaml")
    assert list(config.profiles) == ["standard"] and config.stale_ledger_days == 7


def test_missing_empty_and_non_mapping_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml:0: cannot read"):
        load_profiles(missing)
    assert len(check_profiles(missing)) == 1
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    assert check_profiles(empty) == [f"{empty}:1: (top): the file is empty"]
    listing = tmp_path / "list.yaml"
    listing.write_text("\n- standard\n", encoding="utf-8")
    assert check_profiles(listing) == [f"{listing}:2: (top): expected a mapping of settings"]
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("description: \xe9t\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_profiles(latin1)


def test_parse_profiles_names_its_source_in_messages() -> None:
    text = (FIXTURES / "bad_timezone.yaml").read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match=r"profiles\.yaml \(draft\):17: profiles\.uk\.timezone: "):
        parse_profiles(text, "profiles.yaml (draft)")
    assert "standard" in parse_profiles((FIXTURES / "valid_minimal.yaml").read_text(encoding="utf-8")).profiles
