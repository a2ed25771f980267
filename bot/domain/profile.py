"""Dunning profiles: the ladder of steps and the settings that shape when and how a client is reminded.

A profile is data (``config/profiles.yaml``), validated here with pydantic so that a typo is refused when the
file is loaded, not discovered months later when a step comes due. Cross-field rules that concern one item of
a list raise :class:`LocatedValueError` so the YAML adapter can point at the exact line of that item.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import time
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, field_validator, model_validator

from bot.domain.errors import ConfigError
from bot.domain.penalties import Jurisdiction, LegalRates


class LocatedValueError(ValueError):
    """A validation problem inside a list or mapping: ``loc`` is the path below the field that failed."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        self.loc = loc
        super().__init__(message)


class Channel(StrEnum):
    EMAIL = "email"
    CALL_TASK = "call_task"
    LETTER_TASK = "letter_task"
    ESCALATE = "escalate"


#: Channels that put a written reminder in front of the client: the minimum gap applies to these only.
#: Call tasks and handovers are work for people; blocking them on the gap would only delay a human.
REMINDER_CHANNELS: frozenset[Channel] = frozenset({Channel.EMAIL, Channel.LETTER_TASK})

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

_STRICT = ConfigDict(extra="forbid", frozen=True)


class Step(BaseModel):
    """One rung of the ladder, due ``offset_days`` after the due date (negative: before it)."""

    model_config = _STRICT

    name: str
    offset_days: int = Field(ge=-365, le=3650)
    channel: Channel
    template: str | None = None
    #: Overrides the profile's gap before this step (e.g. 0 for the paper copy of a formal notice).
    min_gap_days: int | None = Field(default=None, ge=0, le=365)

    @field_validator("name", "template")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"{value!r} must be lower-case letters, digits and underscores")
        return value

    @model_validator(mode="after")
    def _email_needs_template(self) -> Step:
        if self.channel is Channel.EMAIL and self.template is None:
            raise LocatedValueError(("template",), "an email step needs a template")
        return self


def ladder_problems(steps: Sequence[tuple[object, object]]) -> list[LocatedValueError]:
    """Every duplicate name and out-of-order offset in a ladder given as (name, offset_days) pairs.

    Takes raw values so the YAML adapter can report ladder problems even when another step fails to parse.
    """
    problems: list[LocatedValueError] = []
    seen: dict[str, int] = {}
    previous: tuple[str, int] | None = None
    for i, (name, offset) in enumerate(steps):
        if isinstance(name, str):
            if name in seen:
                problems.append(LocatedValueError((i, "name"), f"step name {name!r} already used by step {seen[name]}"))
            seen.setdefault(name, i)
        if isinstance(offset, int) and not isinstance(offset, bool):
            if previous is not None and offset <= previous[1]:
                problems.append(
                    LocatedValueError(
                        (i, "offset_days"),
                        f"offsets must strictly increase: {offset} after {previous[1]} ({previous[0]})",
                    )
                )
            previous = (str(name), offset)
    return problems


def _parse_days(value: Any) -> tuple[int, ...]:
    """``"mon-fri"``, ``"mon,wed,fri"``, ``"mon-thu,sat"`` or a list of names -> sorted weekday numbers."""
    if isinstance(value, str):
        parts = [p.strip().lower() for p in value.split(",")]
    elif isinstance(value, list | tuple):
        parts = [str(p).strip().lower() for p in value]
    else:
        raise ValueError("expected day names such as 'mon-fri' or [mon, tue]")
    days: set[int] = set()
    for part in parts:
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(f"unknown day {part!r}; use {', '.join(WEEKDAYS)}")
        lo = WEEKDAYS.index(first)
        hi = WEEKDAYS.index(last) if last else lo
        if hi < lo:
            raise ValueError(f"day range {part!r} runs backwards")
        days.update(range(lo, hi + 1))
    if not days:
        raise ValueError("at least one day is needed")
    return tuple(sorted(days))


def _parse_hours(value: Any) -> tuple[time, time]:
    """``"09:00-17:00"`` -> (start, end); the window is [start, end)."""
    if isinstance(value, int):
        # YAML 1.1 reads an unquoted 17:00 as the base-60 integer 1020.
        raise ValueError("write the hours as a quoted string such as '09:00-17:00'")
    match = _HOURS.match(str(value))
    if not match:
        raise ValueError(f"expected 'HH:MM-HH:MM', got {value!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"not a time of day in {value!r}")
    start, end = time(h1, m1), time(h2, m2)
    if start >= end:
        raise ValueError(f"the window must open before it closes ({value!r})")
    return start, end


class SendWindow(BaseModel):
    """When written reminders may leave: weekdays (0 = Monday) and local hours, end excluded."""

    model_config = _STRICT

    days: Annotated[tuple[int, ...], PlainValidator(_parse_days)]
    hours: Annotated[tuple[time, time], PlainValidator(_parse_hours)]

    @property
    def start(self) -> time:
        return self.hours[0]

    @property
    def end(self) -> time:
        return self.hours[1]


class HolidayCalendarSpec(BaseModel):
    """Which public holidays apply: ISO country code and optional subdivision (checked by the adapter)."""

    model_config = _STRICT

    country: str = Field(pattern=r"^[A-Z]{2,3}$")
    subdivision: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # ``holidays: FR`` is accepted as well as ``holidays: {country: FR}``.
        return {"country": value} if isinstance(value, str) else value


class Legal(BaseModel):
    """Which penalty wording and figures the formal notice uses (``none``: no penalties at all)."""

    model_config = _STRICT

    jurisdiction: Jurisdiction

    @property
    def states_penalties(self) -> bool:
        return self.jurisdiction is not Jurisdiction.NONE


class Profile(BaseModel):
    """A ladder of steps plus when, how often and with what tolerance a client is reminded."""

    model_config = _STRICT

    description: str = ""
    timezone: str
    send_window: SendWindow
    holidays: HolidayCalendarSpec
    min_gap_days: int = Field(ge=0, le=365)
    promise_grace_days: int = Field(ge=0, le=365)
    #: Business days to wait for the money after an "already paid" claim.
    paid_claim_pause_days: int = Field(ge=0, le=365)
    group_invoices: bool
    legal: Legal
    steps: tuple[Step, ...] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Europe/Paris)") from exc
        return value

    @field_validator("steps")
    @classmethod
    def _ordered_ladder(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        problems = ladder_problems([(s.name, s.offset_days) for s in steps])
        if problems:
            raise problems[0]
        return steps

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def step_index(self, name: str) -> int | None:
        """Position of the step called ``name`` in the ladder, or None if the profile has no such step."""
        for i, step in enumerate(self.steps):
            if step.name == name:
                return i
        return None


def _legal_rates(value: Any) -> LegalRates:
    if isinstance(value, LegalRates):
        return value
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of rate names to numbers")
    try:
        return LegalRates.from_mapping(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc


class ProfilesConfig(BaseModel):
    """The whole ``profiles.yaml``: global settings plus the named profiles."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    #: ``relance send`` refuses when the last payments import is older than this many days.
    stale_ledger_days: int = Field(default=7, ge=1, le=365)
    legal_rates: Annotated[LegalRates, PlainValidator(_legal_rates)]
    #: Profile used for clients imported without one.
    default_profile: str = "standard"
    profiles: dict[str, Profile] = Field(min_length=1)

    @field_validator("profiles")
    @classmethod
    def _profile_names(cls, profiles: dict[str, Profile]) -> dict[str, Profile]:
        for name in profiles:
            if not _NAME.match(name):
                raise LocatedValueError((name,), f"profile name {name!r} must be lower-case letters, digits, '_'")
        return profiles

    @model_validator(mode="after")
    def _default_exists(self) -> ProfilesConfig:
        problem = default_profile_problem(self.default_profile, self.profiles)
        if problem:
            raise LocatedValueError(("default_profile",), problem)
        return self


def default_profile_problem(default: object, names: Iterable[object]) -> str | None:
    """Why ``default`` cannot be the default profile among ``names`` (None when it can)."""
    known = sorted(str(n) for n in names)
    if default in known:
        return None
    return f"default_profile {default!r} is not one of: {', '.join(known)}"
