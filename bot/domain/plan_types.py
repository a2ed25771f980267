"""The planner's values: what it reads (client and invoice snapshots, ledger rows) and what it returns (actions).

Kept apart from the planning rules (``planner``). The daily plan builds up to a million of these, hence the
plain-tuple :data:`InvoiceRow` and the fast constructors :data:`new_client_snapshot` and :data:`new_action`.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast
from zoneinfo import ZoneInfo

from bot.domain.invoice import InvoiceState
from bot.domain.profile import Channel


class Blocked(StrEnum):
    """Why a planned action is shown but will not be sent."""

    CLIENT_PAUSED = "client paused"
    STALE_LEDGER = "stale ledger"
    NO_ACTIVE_CONTACT = "no active contact"
    MIN_GAP = "min gap"


@dataclass(frozen=True, slots=True)
class InvoiceSnapshot:
    """What the planner needs to know about one invoice (``last_step``: name of the last step done)."""

    number: str
    client_id: str
    issue_date: date
    due_date: date
    amount: Decimal
    amount_paid: Decimal
    currency: str
    state: InvoiceState
    paused_until: date | None = None
    promise_date: date | None = None
    last_step: str | None = None
    last_step_on: date | None = None
    cycle: int = 0


#: An open invoice as :meth:`Planner.plan_rows` reads it, a plain tuple (what the ledger query returns):
#: ``(client_id, number, due_date, amount, amount_paid, paused_until, promise_date, last_step, last_step_on,
#: cycle)``. Amounts are only compared with each other, so the float SQLite returns for a two-decimal
#: ``NUMERIC`` orders exactly like its ``Decimal``.
InvoiceRow = tuple[
    str, str, date, Decimal | float, Decimal | float, date | None, date | None, str | None, date | None, int
]


def as_row(invoice: InvoiceSnapshot) -> InvoiceRow:
    """``invoice`` as the planner's row (its state is the caller's to check)."""
    return (
        invoice.client_id,
        invoice.number,
        invoice.due_date,
        invoice.amount,
        invoice.amount_paid,
        invoice.paused_until,
        invoice.promise_date,
        invoice.last_step,
        invoice.last_step_on,
        invoice.cycle,
    )


@dataclass(frozen=True, slots=True)
class ClientSnapshot:
    """One client; ``emails`` holds active contacts only (bouncing ones already left out by the app)."""

    client_id: str
    name: str
    language: str
    profile: str
    emails: tuple[str, ...] = ()
    excluded: bool = False
    paused_until: date | None = None
    last_reminder_on: date | None = None


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """One step for one client and one or more of its invoices, to leave at ``send_at`` (aware UTC)."""

    client_id: str
    invoice_numbers: tuple[str, ...]
    step: str
    step_index: int
    channel: Channel
    template: str | None
    language: str
    send_at: datetime
    cycle: int
    blocked: Blocked | None
    profile: str
    timezone: str

    @property
    def idempotency_key(self) -> str:
        """Stable key (client, sorted invoices, step, cycle): the outbox's unique key for this action."""
        digest = hashlib.sha256("\n".join(sorted(self.invoice_numbers)).encode()).hexdigest()[:32]
        return f"{self.client_id}/{self.step}/{self.cycle}/{digest}"

    def to_json(self) -> dict[str, Any]:
        """The ``relance plan --json`` object; ``send_at`` is shown in the profile's timezone."""
        return {
            "client_id": self.client_id,
            "invoice_numbers": list(self.invoice_numbers),
            "step": self.step,
            "channel": self.channel.value,
            "template": self.template,
            "language": self.language,
            "send_at": self.send_at.astimezone(ZoneInfo(self.timezone)).isoformat(),
            "blocked": None if self.blocked is None else self.blocked.value,
            "cycle": self.cycle,
            "profile": self.profile,
        }


class _ClientTwin:
    """Builds a genuine :class:`ClientSnapshot`, see :class:`_ActionTwin` (one per client of the ledger)."""

    __slots__ = ClientSnapshot.__slots__

    def __init__(
        self,
        client_id: str,
        name: str,
        language: str,
        profile: str,
        emails: tuple[str, ...] = (),
        excluded: bool = False,
        paused_until: date | None = None,
        last_reminder_on: date | None = None,
    ) -> None:
        self.client_id = client_id
        self.name = name
        self.language = language
        self.profile = profile
        self.emails = emails
        self.excluded = excluded
        self.paused_until = paused_until
        self.last_reminder_on = last_reminder_on
        self.__class__ = ClientSnapshot  # type: ignore[assignment]


class _ActionTwin:
    """Builds a genuine :class:`PlannedAction` about four times faster than its own constructor.

    A frozen dataclass sets each field through ``object.__setattr__`` (3 us for 12 fields, as much as
    planning the invoices behind an action); this twin has the same slots, sets them plainly, then becomes a
    ``PlannedAction`` (``__class__`` assignment between classes of identical slot layout). The result is
    indistinguishable: same type, frozen, equal to a normally built one. Used only while the fields match
    exactly (:func:`_twin_fits`, checked by the tests too).
    """

    __slots__ = PlannedAction.__slots__

    def __init__(
        self,
        client_id: str,
        invoice_numbers: tuple[str, ...],
        step: str,
        step_index: int,
        channel: Channel,
        template: str | None,
        language: str,
        send_at: datetime,
        cycle: int,
        blocked: Blocked | None,
        profile: str,
        timezone: str,
    ) -> None:
        self.client_id = client_id
        self.invoice_numbers = invoice_numbers
        self.step = step
        self.step_index = step_index
        self.channel = channel
        self.template = template
        self.language = language
        self.send_at = send_at
        self.cycle = cycle
        self.blocked = blocked
        self.profile = profile
        self.timezone = timezone
        self.__class__ = PlannedAction  # type: ignore[assignment]


def _twin_fits(cls: type[Any], twin: type[Any]) -> bool:
    names = tuple(f.name for f in fields(cls))
    params = tuple(inspect.signature(twin.__init__).parameters)[1:]
    defaults = [f.default for f in fields(cls)]
    twin_defaults = [p.default for p in inspect.signature(twin.__init__).parameters.values()][1:]
    return (
        names == params
        and tuple(cls.__slots__) == names
        and defaults == [MISSING if d is inspect.Parameter.empty else d for d in twin_defaults]
        and not hasattr(cls, "__post_init__")
    )


#: Build snapshots and actions through these (the plain constructors if the twins ever stop fitting).
new_client_snapshot: Callable[..., ClientSnapshot] = (
    cast("Callable[..., ClientSnapshot]", _ClientTwin) if _twin_fits(ClientSnapshot, _ClientTwin) else ClientSnapshot
)
new_action: Callable[..., PlannedAction] = (
    cast("Callable[..., PlannedAction]", _ActionTwin) if _twin_fits(PlannedAction, _ActionTwin) else PlannedAction
)
