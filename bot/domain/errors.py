"""The one error tree of relance.

Every error carries a stable ``code`` so the CLI, the web UI and the logs can map it to a message and an
exit status without parsing text. Adapters translate library exceptions into these once, at the edge,
with ``raise ... from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass


class RelanceError(Exception):
    """Base of every error relance raises on purpose."""

    code = "relance_error"


class ConfigError(RelanceError):
    """A configuration file or setting is wrong; the message names the file, line and key."""

    code = "config_error"


@dataclass(frozen=True)
class FieldProblem:
    """One problem in one field of one line of an input file."""

    line: int
    field: str
    message: str
    value: str = ""

    def __str__(self) -> str:
        shown = f" (got {self.value!r})" if self.value else ""
        return f"line {self.line}, field {self.field!r}: {self.message}{shown}"


class InputError(RelanceError):
    """Bad input (a CSV file, an API payload): carries every problem found, not only the first."""

    code = "input_error"

    def __init__(self, source: str, problems: list[FieldProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"{source}: {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} error(s) in {source}; nothing was changed\n{lines}")


class IllegalTransition(RelanceError):
    """An event that the invoice lifecycle does not allow in the invoice's current state."""

    code = "illegal_transition"

    def __init__(self, state: str, event: str, invoice: str = "") -> None:
        self.state = state
        self.event = event
        self.invoice = invoice
        who = f"invoice {invoice} " if invoice else ""
        super().__init__(f"{who}cannot take event {event!r} in state {state!r}")


class StaleLedgerError(RelanceError):
    """Reminders refused because the last payments import is too old to trust balances."""

    code = "stale_ledger"


class DeliveryError(RelanceError):
    """Base of mail delivery failures; ``smtp_code`` is the server's reply code when there was one."""

    code = "delivery_error"

    def __init__(self, message: str, smtp_code: int | None = None) -> None:
        self.smtp_code = smtp_code
        super().__init__(message)


class TemporaryError(DeliveryError, ConnectionError):
    """Worth retrying later: connection lost, timeout, 4xx reply."""

    code = "temporary_error"


class PermanentError(DeliveryError):
    """Not worth retrying: 5xx reply, invalid address. The contact gets marked and a task raised."""

    code = "permanent_error"


class TemplateError(RelanceError):
    """A template does not parse or does not render with the documented context."""

    code = "template_error"


class UnreadableMessageError(RelanceError):
    """An inbound message the parser cannot read: it goes to quarantine, never dropped."""

    code = "unreadable_message"
