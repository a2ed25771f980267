"""Tying a reply to a client and invoices, with the reason for each link kept for the collector.

Order of evidence: the thread (In-Reply-To/References against our outbox Message-IDs), the sender's address
then domain against contacts, invoice numbers written in the new text, subject, quote or returned message
(exact normalised lookup first, fuzzy only among the client's own invoices), a stated amount against the
client's open invoices, and finally the client's only open invoice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Contact, Invoice, OutboxMessage
from bot.app.reply_lookups import ReplyLookups, clients_of
from bot.domain import matching
from bot.domain.decision import Match, SenderTrust, sender_trust
from bot.domain.extraction.amounts import find_amounts
from bot.domain.extraction.invoice_refs import find_invoice_refs
from bot.domain.intent import Classification
from bot.domain.invoice import OUTSTANDING
from bot.domain.message import ParsedMessage
from bot.domain.number_mentions import MentionText

_OUTSTANDING = [s.value for s in OUTSTANDING]


def _thread(session: Session, parsed: ParsedMessage) -> OutboxMessage | None:
    ids = [i for i in (parsed.in_reply_to, *parsed.references, *parsed.related_message_ids) if i]
    if not ids:
        return None
    wanted = {i.strip("<>") for i in ids}
    rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.message_id.in_(wanted))))
    return max(rows, key=lambda r: r.id) if rows else None


def written_refs(parsed: ParsedMessage, classification: Classification) -> list[str]:
    """Invoice references written anywhere in a message: new text, subject, quote, returned message, Message-IDs."""
    refs = list(classification.invoice_refs)
    ids = " ".join(i for i in (parsed.in_reply_to, *parsed.references, *parsed.related_message_ids) if i)
    # Message-IDs last: some creditors' mail systems put the invoice number in them ("relance.R1.F2026-00601…").
    for text in (parsed.reply_text, parsed.subject, parsed.quoted_text, parsed.returned_text, ids):
        if text:
            refs.extend(r.written for r in find_invoice_refs(text[:50_000]))
    return list(dict.fromkeys(refs))


def match_reply(
    session: Session,
    parsed: ParsedMessage,
    classification: Classification,
    lookups: ReplyLookups | None = None,
    refs: list[str] | None = None,
) -> Match:
    """The client and invoices a reply is about, with a reason per link.

    ``lookups`` is a batch's memo; ``refs`` the references written in the message (``written_refs``) when the
    caller has them already.
    """
    reasons: list[str] = []
    thread = _thread(session, parsed)
    sender = parsed.sender.lower()
    candidates: list[str]
    if not sender:
        candidates, trust = [], SenderTrust.UNKNOWN
    elif lookups is not None:
        candidates, trust = lookups.clients_of(sender)
    else:
        candidates, trust = clients_of(session, sender)
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
    refs = written_refs(parsed, classification) if refs is None else refs
    if refs:
        numbers = _ledger_lookup(session, refs, client_id, lookups)
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
        for number in numbers_written(_outstanding_numbers(session, client_id, lookups), parsed):
            if number not in invoices:
                invoices.append(number)
                reasons.append(f"{number} written in the message (ledger number of the client)")
    if not invoices and thread is not None and thread.client_id == client_id:
        invoices = list(thread.invoice_numbers)
        reasons.append(f"invoices of the reminder replied to: {', '.join(invoices)}")
    if not invoices and client_id is not None:
        open_invoices = [
            matching.OpenInvoice(n, client_id, amount - paid, amount, due)
            for n, amount, paid, due in _outstanding(session, client_id, lookups)
        ]
        found = []
        for stated in _stated_amounts(parsed, classification):
            found = matching.match_by_amount(stated, open_invoices)
            if found:
                break
        if not found:
            only = matching.only_open_invoice(open_invoices)
            found = [only] if only else []
        invoices = [m.number for m in found]
        reasons.extend(f"{m.number}: {m.reason}" for m in found)
    if client_id is None:
        for stated in _stated_amounts(parsed, classification):
            hits = list(
                session.execute(
                    select(Invoice.number, Invoice.client_id)
                    .where(
                        Invoice.state.in_(_OUTSTANDING),
                        (Invoice.amount == stated) | (Invoice.amount - Invoice.amount_paid == stated),
                    )
                    .limit(2)
                )
            )
            if len(hits) == 1:
                ((number, owner),) = hits
                client_id, invoices = owner, [number]
                reasons.append(f"amount {stated} equals one open balance in the ledger: {number} of {owner}")
                break
    if client_id is not None and trust is not SenderTrust.CONTACT:
        emails = (
            lookups.contact_emails(client_id)
            if lookups is not None
            else set(session.scalars(select(Contact.email).where(Contact.client_id == client_id)))
        )
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


def _stated_amounts(parsed: ParsedMessage, classification: Classification) -> list[Decimal]:
    """The classifier's amount first, then every other amount written in the new text."""
    found = [classification.amount] if classification.amount is not None else []
    found += [a.value for a in find_amounts(parsed.reply_text[:20_000]) if a.value > 0]
    return list(dict.fromkeys(found))


def _outstanding_numbers(session: Session, client_id: str, lookups: ReplyLookups | None) -> list[str]:
    """The numbers of the client's outstanding invoices (a batch's lookups read them without their amounts)."""
    if lookups is not None:
        return lookups.outstanding_numbers(client_id)
    return [number for number, *_ in _outstanding(session, client_id, None)]


def _outstanding(
    session: Session, client_id: str, lookups: ReplyLookups | None
) -> list[tuple[str, Decimal, Decimal, date]]:
    """(number, amount, paid, due date) of the client's outstanding invoices."""
    if lookups is not None:
        return lookups.outstanding(client_id)
    return [
        (n, a, p, d)
        for n, a, p, d in session.execute(
            select(Invoice.number, Invoice.amount, Invoice.amount_paid, Invoice.due_date).where(
                Invoice.client_id == client_id, Invoice.state.in_(_OUTSTANDING)
            )
        )
    ]


def numbers_written(numbers: Sequence[str], parsed: ParsedMessage) -> list[str]:
    """Those of ``numbers`` (a client's ledger numbers) that appear in the message, whatever their scheme."""
    text = MentionText(
        "\n".join(
            t[:50_000] for t in (parsed.reply_text, parsed.subject, parsed.quoted_text, parsed.returned_text) if t
        )
    )
    return [number for number in numbers if text.mentions(number)]


def _ledger_lookup(
    session: Session, refs: Iterable[str], client_id: str | None, lookups: ReplyLookups | None = None
) -> dict[str, tuple[str | None, str | None, str]]:
    """Each written reference → (invoice number, its client, why), exact first then fuzzy in the client."""
    out: dict[str, tuple[str | None, str | None, str]] = {}
    refs = list(refs)
    norms = {ref: matching.normalise_invoice_number(ref) for ref in refs}
    exact: dict[str, list[tuple[str, str]]] = {}
    if lookups is not None:
        exact = {norm: lookups.invoices_numbered(norm) for norm in set(norms.values())}
    else:
        for number, owner, norm in session.execute(
            select(Invoice.number, Invoice.client_id, Invoice.normalised_number).where(
                Invoice.normalised_number.in_(set(norms.values()))
            )
        ):
            exact.setdefault(norm, []).append((number, owner))
    matcher: matching.InvoiceMatcher | None = None
    for ref in refs:
        rows = exact.get(norms[ref], [])
        if len(rows) == 1:
            out[ref] = (rows[0][0], rows[0][1], "exact")
            continue
        if client_id is not None:
            if matcher is None:
                # Tolerant forms (missing zeros, short numbers, one typo) only among the client's own invoices.
                matcher = (
                    lookups.matcher(client_id)
                    if lookups is not None
                    else matching.InvoiceMatcher(
                        session.scalars(select(Invoice.number).where(Invoice.client_id == client_id))
                    )
                )
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
    rows = list(
        session.execute(
            select(Invoice.number, Invoice.amount, Invoice.amount_paid, Invoice.due_date).where(
                Invoice.number.in_(match.invoice_numbers)
            )
        )
    )
    opens = [matching.OpenInvoice(n, match.client_id or "", a - p, a, d) for n, a, p, d in rows]
    if promised is None and "date.due_date" in rules:
        # "on its due date" names the invoices it speaks of in the evidence; else all the reply's invoices.
        named = [n for e in classification.evidence if e.rule == "date.due_date" for n in e.text.split(",") if n]
        concerned = [m.number for m in matching.InvoiceMatcher(match.invoice_numbers).match_all(named)]
        promised = matching.due_date_of(concerned or list(match.invoice_numbers), opens)
    if amount is None and "amount.in_full" in rules:
        amount = sum((o.amount or o.balance for o in opens), Decimal("0")) or None
    return promised, amount
