"""The dunning planner: at one moment, which client gets which step for which invoices, and when it leaves.

Pure: it reads snapshots (plain frozen dataclasses; for the daily plan's million invoices, plain
:data:`InvoiceRow` tuples straight from the ledger query) and returns actions; it sends, records and changes
nothing. Rules, in the order they apply to each invoice:

1. only ``open`` invoices with a balance are reminded (``REMINDABLE``); an invoice paused until today or later
   and one whose promise (plus the profile's grace days) has not run out yet are left alone;
2. the step due is the *latest* step whose date (due date + offset) has come: after downtime the ladder
   catches up with that step only, never with every missed one;
3. a step at or before the last step done is never planned again (no repeat, no going back);
4. after a broken promise (an open invoice that still carries a ``promise_date`` whose grace has run out)
   the ladder resumes at the step right after the last one done and walks on one step at a time (spaced by
   the minimum gap), instead of jumping to the latest step due: a debtor who promised is not sent straight
   to a formal notice (with no step done yet, rule 2 applies). The app keeps ``promise_date`` when it
   reopens the invoice;
5. with ``group_invoices`` one client's invoices at the same step (and cycle) make one action.

Then per client (``blocked`` says why an action is listed but must not be sent; the first reason wins):
``client paused``, ``stale ledger`` (``relance plan`` lists, ``relance send`` refuses), ``no active contact``
(an email step for a client without a usable address: listed, not turned into a call, because the bounce
handling already raises a call task and the written step must still happen once a new address is known),
``min gap`` (a written reminder — email or letter — closer than the gap to the previous one; its ``send_at``
then shows when the gap allows it; the most advanced step goes first).

``send_at`` is the planning moment when it is inside the profile's send window on a sending day, else the
next window opening (weekends and public holidays skipped), always aware UTC.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.cadence import BusinessCalendar, local_noon, next_send_time, window_opening
from bot.domain.errors import ConfigError
from bot.domain.invoice import REMINDABLE
from bot.domain.plan_types import (
    Blocked,
    ClientSnapshot,
    InvoiceRow,
    InvoiceSnapshot,
    PlannedAction,
    as_row,
    new_action,
    new_client_snapshot,
)
from bot.domain.profile import REMINDER_CHANNELS, Channel, Profile, ProfilesConfig

log = logging.getLogger(__name__)

__all__ = [
    "Blocked",
    "ClientSnapshot",
    "InvoiceRow",
    "InvoiceSnapshot",
    "PlannedAction",
    "Planner",
    "as_row",
    "ledger_is_stale",
    "new_action",
    "new_client_snapshot",
    "plan",
    "upcoming_step",
]


def ledger_is_stale(
    today: date,
    ledger_last_import: datetime | date | None,
    stale_ledger_days: int,
    zone: ZoneInfo | None = None,
) -> bool:
    """Whether balances are too old to chase anyone: no payments import in the last ``stale_ledger_days``."""
    if ledger_last_import is None:
        return True
    if isinstance(ledger_last_import, datetime):
        ledger_last_import = ledger_last_import.astimezone(zone or UTC).date()
    return (today - ledger_last_import).days > stale_ledger_days


class _ProfilePlan:
    """One profile compiled for one planning moment, so the per-invoice loop only compares dates."""

    __slots__ = (
        "name", "profile", "calendar", "today", "moment", "send_at", "send_day", "stale", "promise_cutoff",
        "offsets", "thresholds", "index_of", "ladder", "timezone", "_openings",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        profile: Profile,
        calendar: BusinessCalendar,
        as_of: datetime | date,
        stale_days: int,
        ledger_last_import: datetime | date | None,
    ) -> None:
        zone = profile.zone
        self.name, self.profile, self.calendar = name, profile, calendar
        if isinstance(as_of, datetime):
            self.moment = as_of.astimezone(UTC)
            self.today = as_of.astimezone(zone).date()
        else:
            self.moment = local_noon(as_of, profile)
            self.today = as_of
        self.send_at = next_send_time(self.moment, profile, calendar)
        self.send_day = self.send_at.astimezone(zone).date()
        self.stale = ledger_is_stale(self.today, ledger_last_import, stale_days, zone)
        # A promise still protects the invoice while promise_date + grace >= today.
        self.promise_cutoff = self.today - timedelta(days=profile.promise_grace_days)
        steps = profile.steps
        self.offsets = [s.offset_days for s in steps]
        # Step i is due when due_date <= today - offset_i; reversed so the list ascends for bisect.
        self.thresholds = [self.today - timedelta(days=o) for o in reversed(self.offsets)]
        self.index_of = {s.name: i for i, s in enumerate(steps)}
        #: Per step, what an action needs: name, channel, template, is email, is written, the minimum gap
        #: before it, and the last day a previous written reminder makes it too close to send today.
        self.ladder = []
        for s in steps:
            gap = timedelta(days=profile.min_gap_days if s.min_gap_days is None else s.min_gap_days)
            written = s.channel in REMINDER_CHANNELS
            self.ladder.append(
                (s.name, s.channel, s.template, s.channel is Channel.EMAIL, written, gap, self.send_day - gap)
            )
        self.timezone = profile.timezone
        self._openings: dict[date, datetime] = {}

    def due_index(self, due_date: date) -> int:
        """Index of the latest step due today for an invoice due on ``due_date`` (-1: none yet)."""
        return len(self.thresholds) - bisect_left(self.thresholds, due_date) - 1

    def index_at(self, due_date: date, on: date | None) -> int:
        """Latest step that was due on day ``on``: stands in for a last step the profile no longer has."""
        if on is None:
            return -1
        return bisect_left(self.offsets, (on - due_date).days + 1) - 1

    def opening(self, day: date) -> datetime:
        """First window opening on or after ``day``, never before the planning moment's send time."""
        found = self._openings.get(day)
        if found is None:
            found = self._openings[day] = max(self.send_at, window_opening(day, self.profile, self.calendar))
        return found


class Planner:
    """Plans clients one at a time for one moment (``plan_client`` streams; ``plan`` is the batch form).

    ``as_of`` is an aware datetime, or a date meaning noon of that day in each profile's timezone (what
    ``relance plan --as-of D`` means). ``calendars`` maps every profile name to its business calendar.
    """

    def __init__(
        self,
        as_of: datetime | date,
        profiles: ProfilesConfig,
        calendars: Mapping[str, BusinessCalendar],
        ledger_last_import: datetime | date | None,
    ) -> None:
        if isinstance(as_of, datetime) and as_of.utcoffset() is None:
            raise ValueError("the planner needs a timezone-aware as_of")
        missing = sorted(set(profiles.profiles) - set(calendars))
        if missing:
            raise ConfigError(f"no business calendar for profile(s): {', '.join(missing)}")
        self.config = profiles
        self._plans = {
            name: _ProfilePlan(name, p, calendars[name], as_of, profiles.stale_ledger_days, ledger_last_import)
            for name, p in profiles.profiles.items()
        }
        #: Profile names met on clients but absent from the configuration (those clients are skipped).
        self.unknown_profiles: set[str] = set()

    def is_stale(self, profile: str) -> bool:
        """Whether the ledger counts as stale for clients of ``profile`` (``relance send`` refuses then)."""
        return self._plans[profile].stale

    def plan_client(self, client: ClientSnapshot, invoices: Iterable[InvoiceSnapshot]) -> list[PlannedAction]:
        """The actions due for one client, most advanced step first."""
        return self.plan_rows(client, (as_row(i) for i in invoices if i.state in REMINDABLE))

    def plan_rows(self, client: ClientSnapshot, rows: Iterable[InvoiceRow]) -> list[PlannedAction]:
        """``plan_client`` for invoices given as :data:`InvoiceRow` tuples, all of them remindable.

        The database path: the app streams the ledger's open invoices as plain rows, so a million invoices
        cost no object each. ``rows`` is left unread for an excluded client or an unknown profile.
        """
        if client.excluded:
            return []
        pp = self._plans.get(client.profile)
        if pp is None:
            if client.profile not in self.unknown_profiles:
                self.unknown_profiles.add(client.profile)
                log.warning("client %s has unknown profile %r: not planned", client.client_id, client.profile)
            return []
        groups = self._due_groups(pp, rows)
        if not groups:
            return []
        return self._actions(pp, client, groups)

    def _due_groups(self, pp: _ProfilePlan, rows: Iterable[InvoiceRow]) -> dict[tuple[int, int, str], list[str]]:
        """Invoice numbers by ``(-step index, cycle, number or "" when grouped)``: sorted, the most advanced
        step comes first with no key function."""
        # The hot loop of the daily plan (once per open invoice): locals only, cheapest tests first.
        today, promise_cutoff, index_of = pp.today, pp.promise_cutoff, pp.index_of
        thresholds, last = pp.thresholds, len(pp.thresholds) - 1
        group = pp.profile.group_invoices
        groups: dict[tuple[int, int, str], list[str]] = {}
        for _client, number, due, amount, paid, paused, promised, step, step_on, cycle in rows:
            if paid >= amount or (paused is not None and paused >= today):
                continue
            back = bisect_left(thresholds, due) - last  # minus the index of the latest step due (> 0: none)
            if back > 0 or (promised is not None and promised >= promise_cutoff):
                continue
            if step is not None:
                done = index_of.get(step)
                if done is None:
                    done = pp.index_at(due, step_on)
                if -back <= done:
                    continue
                if promised is not None:
                    # The promise was broken (a pending one returned above): walk the ladder step by step.
                    back = -done - 1
            key = (back, cycle, "" if group else number)
            found = groups.get(key)
            if found is None:
                groups[key] = [number]
            else:
                found.append(number)
        return groups

    def _actions(
        self, pp: _ProfilePlan, client: ClientSnapshot, groups: dict[tuple[int, int, str], list[str]]
    ) -> list[PlannedAction]:
        client_blocked: Blocked | None = None
        if client.paused_until is not None and client.paused_until >= pp.today:
            client_blocked = Blocked.CLIENT_PAUSED
        elif pp.stale:
            client_blocked = Blocked.STALE_LEDGER
        client_id, language, no_email = client.client_id, client.language, not client.emails
        ladder, send_day, planned_send_at, make = pp.ladder, pp.send_day, pp.send_at, new_action
        last_written = client.last_reminder_on
        actions: list[PlannedAction] = []
        # Most advanced step first: when the gap allows only one written reminder, the firmest one goes.
        for key in sorted(groups):
            back, cycle, _number = key
            name, channel, template, email, written, gap, too_close_after = ladder[-back]
            blocked = client_blocked
            send_at = planned_send_at
            if blocked is None:
                if email and no_email:
                    blocked = Blocked.NO_ACTIVE_CONTACT
                elif written:
                    # Fewer than ``gap`` days between the last written reminder and today's sending day.
                    if last_written is not None and last_written > too_close_after:
                        blocked = Blocked.MIN_GAP
                        send_at = pp.opening(last_written + gap)
                    else:
                        last_written = send_day
            numbers = groups[key]
            if len(numbers) > 1:
                numbers.sort()
            actions.append(
                make(
                    client_id,
                    tuple(numbers),
                    name,
                    -back,
                    channel,
                    template,
                    language,
                    send_at,
                    cycle,
                    blocked,
                    pp.name,
                    pp.timezone,
                )
            )
        return actions


def plan(
    as_of: datetime | date,
    clients: Iterable[ClientSnapshot],
    invoices: Iterable[InvoiceSnapshot],
    profiles: ProfilesConfig,
    calendars: Mapping[str, BusinessCalendar],
    ledger_last_import: datetime | date | None,
) -> list[PlannedAction]:
    """Every action due at ``as_of`` for ``clients`` (invoices of other clients are ignored), client by client

    Prefer :class:`Planner` and ``plan_client`` to stream clients from the database instead of loading all.
    """
    planner = Planner(as_of, profiles, calendars, ledger_last_import)
    by_client: defaultdict[str, list[InvoiceSnapshot]] = defaultdict(list)
    for inv in invoices:
        by_client[inv.client_id].append(inv)
    actions: list[PlannedAction] = []
    for client in clients:
        found = by_client.get(client.client_id)
        if found:
            actions.extend(planner.plan_client(client, found))
    return actions


def upcoming_step(invoice: InvoiceSnapshot, profile: Profile) -> tuple[int, date] | None:
    """The next step not yet done for ``invoice`` and its nominal date (due date + offset), None at the end.

    For display (``relance invoices show``); the planner alone decides what is actually due.
    """
    done = -1 if invoice.last_step is None else profile.step_index(invoice.last_step)
    if done is None:
        return None
    nxt = done + 1
    if nxt >= len(profile.steps):
        return None
    return nxt, invoice.due_date + timedelta(days=profile.steps[nxt].offset_days)
