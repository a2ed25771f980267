"""Tying a reply to a client and invoices, with the reason for each link kept for the collector.

Order of evidence: the thread (In-Reply-To/References against our outbox Message-IDs), the sender's address
then domain against contacts, invoice numbers written in the new text, subject, quote or returned message
(exact normalised lookup first, fuzzy only among the client's own invoices), a stated amount against the
client's open invoices, and finally the client's only open invoice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Contact, Invoice, OutboxMessage
from bot.domain import matching
from bot.domain.decision import PUBLIC_DOMAINS, Match, SenderTrust, sender_trust
from bot.domain.extraction.invoice_refs import find_invoice_refs
from bot.domain.intent import Classification
from bot.domain.invoice import OUTSTANDING
from bot.domain.message import ParsedMessage

_OUTSTANDING = [s.value for s in OUTSTANDING]


def _thread(session: Session, parsed: ParsedMessage) -> OutboxMessage | None:
    ids = [i for i in (parsed.in_reply_to, *parsed.references, *parsed.related_message_ids) if i]
    if not ids:
        return None
    wanted = {i.strip("<>") for i in ids}
    rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.message_id.in_(wanted))))
    return max(rows, key=lambda r: r.id) if rows else None


def _clients_of(session: Session, sender: str) -> tuple[list[str], SenderTrust]:
    exact = sorted(set(session.scalars(select(Contact.client_id).where(Contact.email == sender))))
    if exact:
        return exact, SenderTrust.CONTACT
    domain = sender.rpartition("@")[2]
    if not domain or domain in PUBLIC_DOMAINS:
        return [], SenderTrust.UNKNOWN
    by_domain = sorted(
        set(session.scalars(select(Contact.client_id).where(Contact.email.like(f"%@{domain}"))))
    )
    return by_domain, SenderTrust.DOMAIN if by_domain else SenderTrust.UNKNOWN


def _written_refs(parsed: ParsedMessage, classification: Classification) -> list[str]:
    refs = list(classification.invoice_refs)
    for text in (parsed.reply_text, parsed.subject, parsed.quoted_text, parsed.returned_text):
        if text:
            refs.extend(r.written for r in find_invoice_refs(text[:50_000]))
    return list(dict.fromkeys(refs))


def match_reply(session: Session, parsed: ParsedMessage, classification: Classification) -> Match:
    reasons: list[str] = []
    thread = _thread(session, parsed)
    sender = parsed.sender.lower()
    candidates, trust = _clients_of(session, sender) if sender else ([], SenderTrust.UNKNOWN)
    thread_client = thread.client_id if thread else None
    client_id: str | None = None
    if len(candidates) == 1:
        client_id = candidates[0]
        reasons.append(
            f"sender {sender} is {'a contact' if trust is SenderTrust.CONTACT else 'on the domain'} "
            f"of client {client_id}"
        )
    elif thread_client and thread_client in candidates:
        client_id = thread_client
        reasons.append(f"sender matches several clients; the thread points to {client_id}")
    elif thread_client and parsed.bounce is not None:
        client_id = thread_client
        reasons.append(f"bounce of our message {thread.message_id if thread else ''} to client {client_id}")
    if thread is not None:
        reasons.append(f"reply to our message {thread.message_id} ({thread.template})")
        if client_id is None:
            client_id = thread_client
            reasons.append(f"client {client_id} from the thread only (sender unknown)")

    invoices: list[str] = []
    foreign: str | None = None
    refs = _written_refs(parsed, classification)
    if refs:
        numbers = _ledger_lookup(session, refs, client_id)
        for ref, (number, owner, why) in numbers.items():
            if number is None:
                continue
            if client_id is None:
                client_id = owner
                reasons.append(f"client {owner} from invoice {number}")
            if owner != client_id:
                foreign = owner
                reasons.append(f"'{ref}' is invoice {number} of another client ({owner}): not linked")
                continue
            if number not in invoices:
                invoices.append(number)
                reasons.append(f"'{ref}' → {number} ({why})")
    if client_id is not None and foreign is None:
        for number in _numbers_written(session, client_id, parsed):
            if number not in invoices:
                invoices.append(number)
                reasons.append(f"{number} written in the message (ledger number of the client)")
    if not invoices and thread is not None and thread.client_id == client_id:
        invoices = list(thread.invoice_numbers)
        reasons.append(f"invoices of the reminder replied to: {', '.join(invoices)}")
    if not invoices and client_id is not None:
        open_invoices = [
            matching.OpenInvoice(n, client_id, amount - paid, amount, due)
            for n, amount, paid, due in session.execute(
                select(Invoice.number, Invoice.amount, Invoice.amount_paid, Invoice.due_date).where(
                    Invoice.client_id == client_id, Invoice.state.in_(_OUTSTANDING)
                )
            )
        ]
        found = (
            matching.match_by_amount(classification.amount, open_invoices)
            if classification.amount is not None
            else []
        )
        if not found:
            only = matching.only_open_invoice(open_invoices)
            found = [only] if only else []
        invoices = [m.number for m in found]
        reasons.extend(f"{m.number}: {m.reason}" for m in found)
    if client_id is not None and trust is not SenderTrust.CONTACT:
        emails = set(session.scalars(select(Contact.email).where(Contact.client_id == client_id)))
        trust = sender_trust(sender, emails)
    if client_id is None:
        reasons.append("no client found for this reply")
    return Match(
        client_id,
        tuple(invoices),
        trust,
        tuple(reasons),
        thread_client_id=foreign or (thread_client if thread_client != client_id else None),
    )


def _number_pattern(number: str) -> re.Pattern[str]:
    """A ledger number as people write it: any case, optional separators, leading zeros of groups optional."""
    runs = re.findall(r"[A-Za-z]+|\d+", number)
    parts = [re.escape(r) if not r.isdigit() else "0*" + str(int(r)) for r in runs]
    return re.compile(r"(?<![A-Za-z0-9])" + r"[\s\-_/.]?".join(parts) + r"(?![0-9])", re.IGNORECASE)


def _numbers_written(session: Session, client_id: str, parsed: ParsedMessage) -> list[str]:
    """The client's invoice numbers that appear in the message, whatever the ledger's numbering scheme."""
    text = "\n".join(
        t[:50_000] for t in (parsed.reply_text, parsed.subject, parsed.quoted_text, parsed.returned_text) if t
    )
    numbers = session.scalars(
        select(Invoice.number).where(Invoice.client_id == client_id, Invoice.state.in_(_OUTSTANDING))
    )
    return [n for n in numbers if _number_pattern(n).search(text)]


def _ledger_lookup(
    session: Session, refs: Iterable[str], client_id: str | None
) -> dict[str, tuple[str | None, str | None, str]]:
    """Each written reference → (invoice number, its client, why), exact first then fuzzy in the client."""
    out: dict[str, tuple[str | None, str | None, str]] = {}
    matcher: matching.InvoiceMatcher | None = None
    if client_id is not None:
        # Tolerant forms (missing zeros, short numbers, one typo) only among the client's own invoices.
        matcher = matching.InvoiceMatcher(
            session.scalars(select(Invoice.number).where(Invoice.client_id == client_id))
        )
    for ref in refs:
        norm = matching.normalise_invoice_number(ref)
        row = session.execute(
            select(Invoice.number, Invoice.client_id).where(Invoice.normalised_number == norm).limit(2)
        ).all()
        if len(row) == 1:
            out[ref] = (row[0][0], row[0][1], "exact")
            continue
        if matcher is not None:
            found = matcher.match(ref)
            if found is not None:
                out[ref] = (found.number, client_id, found.reason)
                continue
        out[ref] = (None, None, "not in the ledger")
    return out


def resolve_details(
    session: Session, classification: Classification, match: Match
) -> tuple[date | None, Decimal | None]:
    """Promised date and amount, completed from the ledger where the text points at it.

    "on its due date" (evidence ``date.due_date``) → the due date shared by the invoices concerned;
    "settled in full" (evidence ``amount.in_full``) → the invoices' amount.
    """
    promised, amount = classification.promised_date, classification.amount
    rules = {e.rule for e in classification.evidence}
    if not match.invoice_numbers or not ({"date.due_date", "amount.in_full"} & rules):
        return promised, amount
    rows = list(session.execute(select(Invoice.number, Invoice.amount, Invoice.amount_paid, Invoice.due_date)
                                .where(Invoice.number.in_(match.invoice_numbers))))
    opens = [matching.OpenInvoice(n, match.client_id or "", a - p, a, d) for n, a, p, d in rows]
    if promised is None and "date.due_date" in rules:
        promised = matching.due_date_of(list(match.invoice_numbers), opens)
    if amount is None and "amount.in_full" in rules:
        amount = sum((o.amount or o.balance for o in opens), Decimal("0")) or None
    return promised, amount
