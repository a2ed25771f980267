"""Profile models: what a valid ladder is, and what the shipped profiles promise."""

from __future__ import annotations

import copy
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.domain.penalties import Jurisdiction
from bot.domain.profile import (
    Channel,
    LocatedValueError,
    Profile,
    ProfilesConfig,
    SendWindow,
    ladder_problems,
)

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "profiles.yaml"
TEMPLATES = {"courtesy", "reminder_1", "reminder_2", "formal_notice", "final_notice"}

PROFILE: dict[str, Any] = {
    "timezone": "Europe/Paris",
    "send_window": {"days": "mon-fri", "hours": "09:00-17:00"},
    "holidays": {"country": "FR"},
    "min_gap_days": 5,
    "promise_grace_days": 3,
    "paid_claim_pause_days": 5,
    "group_invoices": True,
    "legal": {"jurisdiction": "fr"},
    "steps": [
        {"name": "reminder_1", "offset_days": 1, "channel": "email", "template": "reminder_1"},
        {"name": "call_1", "offset_days": 10, "channel": "call_task"},
        {"name": "reminder_2", "offset_days": 20, "channel": "email", "template": "reminder_2"},
    ],
}


def profile_with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(PROFILE)
    data.update(changes)
    return data


def errors_of(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as info:
        Profile.model_validate(data)
    found = []
    for err in info.value.errors():
        loc = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, LocatedValueError):
            loc += cause.loc
        found.append((loc, err["msg"]))
    return found


@pytest.fixture(scope="module")
def shipped() -> ProfilesConfig:
    return ProfilesConfig.model_validate(yaml.safe_load(SHIPPED.read_text(encoding="utf-8")))


def test_a_valid_profile_parses_days_and_hours() -> None:
    profile = Profile.model_validate(PROFILE)
    assert profile.send_window.days == (0, 1, 2, 3, 4)
    assert (profile.send_window.start, profile.send_window.end) == (time(9), time(17))
    assert profile.steps[1].channel is Channel.CALL_TASK
    assert profile.step_index("reminder_2") == 2 and profile.step_index("nope") is None
    assert profile.holidays.country == "FR" and profile.holidays.subdivision is None


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("mon-fri", (0, 1, 2, 3, 4)),
        ("mon,wed,fri", (0, 2, 4)),
        (["sat", "sun"], (5, 6)),
        ("mon-tue,fri", (0, 1, 4)),
    ],
)
def test_send_window_days(days: Any, expected: tuple[int, ...]) -> None:
    assert SendWindow.model_validate({"days": days, "hours": "09:00-17:00"}).days == expected


@pytest.mark.parametrize(
    ("window", "needle"),
    [
        ({"days": "fri-mon", "hours": "09:00-17:00"}, "runs backwards"),
        ({"days": "mon-fry", "hours": "09:00-17:00"}, "unknown day"),
        ({"days": [], "hours": "09:00-17:00"}, "at least one day"),
        ({"days": "mon-fri", "hours": "17:00-09:00"}, "open before it closes"),
        ({"days": "mon-fri", "hours": "09:00-25:00"}, "not a time of day"),
        ({"days": "mon-fri", "hours": "9 to 5"}, "HH:MM-HH:MM"),
        ({"days": "mon-fri", "hours": 1020}, "quoted string"),  # what YAML makes of an unquoted 17:00
    ],
)
def test_bad_send_windows_are_refused(window: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        SendWindow.model_validate(window)


def test_step_names_must_be_unique() -> None:
    steps = [*PROFILE["steps"], {"name": "call_1", "offset_days": 30, "channel": "call_task"}]
    [(loc, msg)] = errors_of(profile_with(steps=steps))
    assert loc == ("steps", 3, "name") and "already used by step 1" in msg


def test_offsets_must_strictly_increase() -> None:
    steps = copy.deepcopy(PROFILE["steps"])
    steps[2]["offset_days"] = 10
    [(loc, msg)] = errors_of(profile_with(steps=steps))
    assert loc == ("steps", 2, "offset_days") and "strictly increase" in msg


def test_ladder_problems_lists_every_problem_from_raw_values() -> None:
    problems = ladder_problems([("a", 1), ("b", 1), ("a", 5), (None, "x"), ("c", 0)])
    assert [p.loc for p in problems] == [(1, "offset_days"), (2, "name"), (4, "offset_days")]


def test_email_steps_need_a_template() -> None:
    steps = copy.deepcopy(PROFILE["steps"])
    del steps[0]["template"]
    [(loc, msg)] = errors_of(profile_with(steps=steps))
    assert loc == ("steps", 0, "template") and "needs a template" in msg


def test_unknown_channel_is_refused() -> None:
    steps = copy.deepcopy(PROFILE["steps"])
    steps[1]["channel"] = "fax"
    [(loc, _)] = errors_of(profile_with(steps=steps))
    assert loc == ("steps", 1, "channel")


def test_unknown_timezone_is_refused() -> None:
    [(loc, msg)] = errors_of(profile_with(timezone="Europe/Pariss"))
    assert loc == ("timezone",) and "unknown timezone" in msg


def test_unknown_keys_and_missing_keys_are_refused() -> None:
    data = profile_with(colour="blue")
    del data["min_gap_days"]
    locs = {loc for loc, _ in errors_of(data)}
    assert locs == {("colour",), ("min_gap_days",)}


def test_negative_gaps_and_an_empty_ladder_are_refused() -> None:
    locs = {loc for loc, _ in errors_of(profile_with(min_gap_days=-1, steps=[]))}
    assert locs == {("min_gap_days",), ("steps",)}


def test_holidays_accept_a_bare_country_code() -> None:
    profile = Profile.model_validate(profile_with(holidays="GB"))
    assert profile.holidays.country == "GB"
    with pytest.raises(ValidationError):
        Profile.model_validate(profile_with(holidays={"country": "france"}))


def test_default_profile_must_exist() -> None:
    with pytest.raises(ValidationError, match="default_profile 'vip' is not one of"):
        ProfilesConfig.model_validate(
            {
                "legal_rates": {"ecb_refinancing_rate": 2.15},
                "default_profile": "vip",
                "profiles": {"p": PROFILE},
            }
        )


def test_legal_rates_reuse_the_penalties_validation() -> None:
    with pytest.raises(ValidationError, match="unknown key"):
        ProfilesConfig.model_validate({"legal_rates": {"ecb_rate": 2.15}, "profiles": {"standard": PROFILE}})


# --- the shipped configuration -------------------------------------------------------------------------


def test_shipped_profiles_exist_with_rates_from_configuration(shipped: ProfilesConfig) -> None:
    assert {"standard", "key_account", "public_sector", "risky"} <= set(shipped.profiles)
    assert shipped.stale_ledger_days == 7
    assert shipped.legal_rates.ecb_refinancing_rate == Decimal("2.15")
    assert shipped.legal_rates.boe_base_rate == Decimal("4.0")
    assert shipped.default_profile in shipped.profiles


def test_shipped_email_steps_use_known_templates(shipped: ProfilesConfig) -> None:
    for profile in shipped.profiles.values():
        for step in profile.steps:
            assert (step.template in TEMPLATES) == (step.channel is Channel.EMAIL), step


def test_standard_follows_the_20_20_cycle(shipped: ProfilesConfig) -> None:
    steps = shipped.profiles["standard"].steps
    assert steps[0].template == "courtesy" and -12 <= steps[0].offset_days <= -8
    assert steps[1].template == "reminder_1" and 0 < steps[1].offset_days <= 3
    assert steps[2].channel is Channel.CALL_TASK and 8 <= steps[2].offset_days <= 12
    assert [s.template for s in steps if s.template][2:] == ["reminder_2", "formal_notice", "final_notice"]
    assert steps[-1].channel is Channel.ESCALATE


def test_profiles_differ_in_rhythm_and_tone(shipped: ProfilesConfig) -> None:
    def offset(name: str, step: str) -> int:
        return next(s.offset_days for s in shipped.profiles[name].steps if s.name == step)

    def handover(name: str) -> int:
        return shipped.profiles[name].steps[-1].offset_days

    assert offset("key_account", "reminder_1") > offset("standard", "reminder_1")
    assert offset("key_account", "call_1") > offset("standard", "call_1") > offset("risky", "call_1")
    assert (
        offset("key_account", "formal_notice") > offset("standard", "formal_notice") > offset("risky", "formal_notice")
    )
    assert handover("key_account") > handover("standard") > handover("risky")
    assert shipped.profiles["key_account"].min_gap_days > shipped.profiles["standard"].min_gap_days
    public = shipped.profiles["public_sector"]
    assert public.legal.jurisdiction is Jurisdiction.NONE and not public.legal.states_penalties
    assert "formal_notice" not in {s.template for s in public.steps}
    assert handover("public_sector") > handover("standard")
    for profile in shipped.profiles.values():
        assert profile.steps[-1].channel is Channel.ESCALATE
