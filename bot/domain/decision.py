"""The safety rule: when may the bot act on a reply by itself? (DESIGN.md, "Safety rule")

The bot changes an invoice's state automatically only when the classifier is confident, the reply is matched
to the invoice, and the sender is a known contact of that client (or writes from the same domain). Everything
else goes to a person, with the reasons listed so the collector sees why.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.domain.intent import Classification, Intent


class SenderTrust(StrEnum):
    CONTACT = "contact"  # the address is a contact of the matched client
    DOMAIN = "domain"  # same domain as a contact of the matched client
    UNKNOWN = "unknown"


#: Public mail domains: sharing one says nothing about who the sender is.
PUBLIC_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.fr",
        "live.com",
        "live.fr",
        "yahoo.com",
        "yahoo.fr",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "sfr.fr",
        "laposte.net",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.com",
        "gmx.fr",
        "protonmail.com",
        "proton.me",
        "btinternet.com",
        "sky.com",
    }
)


@dataclass(frozen=True)
class Match:
    """What the reply was tied to, and why (each reason is shown to the collector)."""

    client_id: str | None
    invoice_numbers: tuple[str, ...]
    sender_trust: SenderTrust
    reasons: tuple[str, ...]
    #: The client the thread (In-Reply-To/References) points to, when different from the sender's client.
    thread_client_id: str | None = None


@dataclass(frozen=True)
class Decision:
    automatic: bool
    reasons: tuple[str, ...]  # why a person must look; empty when automatic


#: Intents whose effect can run without a person, given the safety rule.
AUTOMATABLE = frozenset(
    {Intent.PROMISE_TO_PAY, Intent.ALREADY_PAID, Intent.MISSING_INVOICE, Intent.AUTO_REPLY, Intent.BOUNCE}
)


def decide(classification: Classification, match: Match, threshold: float) -> Decision:
    """Apply the safety rule. Bounces and auto-replies touch no invoice state, so they need no invoice match;
    a bounce is never "automatic" (a person looks for a new address), an auto-reply is unless flagged."""
    reasons: list[str] = list(classification.human_reasons)
    intent = classification.intent
    if intent is Intent.BOUNCE:
        # The contact is marked bouncing by itself (that stops e-mails to it); finding a new address is a
        # person's job, handed over as a call task.
        return Decision(False, ("delivery failure: contact marked, a person finds a new address (call task)",))
    if intent is Intent.AUTO_REPLY:
        # An out-of-office only defers reminders; one that names a new contact or a departure needs a person.
        return Decision(not reasons, tuple(dict.fromkeys(reasons)))
    if classification.needs_human and not reasons:
        reasons.append(f"{intent.value} needs a person")
    if intent not in AUTOMATABLE and not reasons:
        reasons.append(f"{intent.value} needs a person")
    if classification.confidence < threshold:
        reasons.append(f"low confidence ({classification.confidence:.2f} < {threshold:.2f})")
    if match.client_id is None:
        reasons.append("unmatched: no client found")
    elif not match.invoice_numbers:
        reasons.append("no invoice identified")
    if match.sender_trust is SenderTrust.UNKNOWN:
        reasons.append("sender is not a known contact of the client")
    if match.thread_client_id and match.client_id and match.thread_client_id != match.client_id:
        reasons.append("the thread belongs to another client than the sender")
    return Decision(not reasons, tuple(dict.fromkeys(reasons)))


def sender_trust(sender: str, contact_emails: set[str]) -> SenderTrust:
    """CONTACT for a known address; DOMAIN for the same (non-public) domain; UNKNOWN otherwise.

    Look-alike domains (``acme-paiement.test`` for ``acme.test``) are UNKNOWN: only the exact domain counts.
    """
    sender = sender.lower()
    if sender in contact_emails:
        return SenderTrust.CONTACT
    domain = sender.rpartition("@")[2]
    if (
        domain
        and domain not in PUBLIC_DOMAINS
        and any(e.rpartition("@")[2] == domain for e in contact_emails)
    ):
        return SenderTrust.DOMAIN
    return SenderTrust.UNKNOWN
