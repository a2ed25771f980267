"""Reads shared by the replies of one inbox batch, and pending-aware lookups for batched transactions.

The inbox processes a batch of replies in one transaction with autoflush held back, so that the batch's rows
reach the database in a few multi-row INSERTs at commit instead of a flush per query. Two things make that safe:

- :class:`ReplyLookups` memoises only reads that the inbox's own writes never change (who owns an address, a
  client's contact addresses and outstanding invoices, the profiles in force): a reply cannot move an invoice out
  of the outstanding states, change an address or a profile;
- the batch's write-only rows (classifications, audit entries, promises, acknowledgements, review items, call
  tasks) are not ORM objects but column values in :attr:`ReplyLookups.writes` (``reply_writes.BatchWrites``),
  inserted with one executemany per table before the commit; the reads that *can* depend on an earlier reply
  of the same batch (acknowledgement cap, idempotency keys, a pending promise, an earlier "invoice copy sent")
  consult it. :func:`pending` does the same for the session's unflushed ORM objects (single-message path).

Matching a reply never depends on an earlier reply's effects (it reads addresses, invoice numbers, amounts and
due dates, which replies do not change), so a batch matches all its replies first and then loads only the
invoices matched (:meth:`ReplyLookups.load_invoices`), as plain rows its actions change (``batch_rows``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import bindparam, event, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.types import NullType

from bot.adapters.db.models import Client, Contact, Invoice, OutboxMessage, Promise
from bot.app.batch_rows import INVOICES_TABLE, InvoiceRow
from bot.app.compose import Composer
from bot.app.keyed_select import KeyedSelect
from bot.app.profiles import ProfileView, current_profiles
from bot.app.reply_writes import BatchWrites
from bot.app.settings import Settings
from bot.domain.decision import PUBLIC_DOMAINS, SenderTrust
from bot.domain.invoice import OUTSTANDING
from bot.domain.matching import InvoiceMatcher
from bot.domain.penalties import LegalRates
from bot.ports import Renderer

T = TypeVar("T")

OUTSTANDING_STATES = [s.value for s in OUTSTANDING]

#: (number, amount, amount paid, due date) of an outstanding invoice, what matching reads.
OutstandingRow = tuple[str, Decimal, Decimal, date]

_PENDING_INDEX = "relance.pending_by_type"

# The batch's reads, built once, each over a list of keys (``keyed_select``). Column reads go through the
# session's connection: Core rows, the same values, without the ORM's per-statement work.
_CONTACTS_BY_EMAIL = KeyedSelect(lambda keyed: select(Contact.client_id, Contact.email).where(keyed(Contact.email)))
_CLIENTS = KeyedSelect(
    lambda keyed: select(Client.client_id, Client.name, Client.language, Client.profile).where(keyed(Client.client_id))
)
# The state is tested on the clients' invoices only (``state || ''`` cannot use an index): SQLite, without
# statistics, otherwise read them through the state's index, i.e. every outstanding invoice of the ledger,
# for each batch (5 ms a batch on 10,000 invoices, growing with the ledger; 1.8 ms through the client's index).
#: The amounts and due date come as the driver gives them (``_RAW``) and are converted by their columns' own
#: result processors only for the clients whose replies need them (no invoice number found): matching by
#: number, the common case, reads the numbers alone, and converting 5 rows a reply was a few per cent of a batch.
_RAW = (Invoice.amount, Invoice.amount_paid, Invoice.due_date)
_OUTSTANDING_OF = KeyedSelect(
    lambda keyed: (
        select(Invoice.number, Invoice.client_id, *(type_coerce(c, NullType()) for c in _RAW))
        .where(keyed(Invoice.client_id), Invoice.state.concat("").in_(OUTSTANDING_STATES))
        .order_by(Invoice.number)
    )
)
#: Every column of the matched invoices, with the columns' own types (``batch_rows.InvoiceRow``).
INVOICE_ROWS = KeyedSelect(lambda keyed: select(*INVOICES_TABLE.columns).where(keyed(INVOICES_TABLE.c.number)))
_PENDING_PROMISES = KeyedSelect(
    lambda keyed: select(Promise).where(keyed(Promise.invoice_number), Promise.status == "pending")
)
_ACKS_SINCE = KeyedSelect(
    lambda keyed: select(OutboxMessage.client_id, OutboxMessage.recipients, OutboxMessage.created_at).where(
        OutboxMessage.kind == "ack",
        keyed(OutboxMessage.client_id),
        OutboxMessage.created_at >= bindparam("since"),
    )
)
_NUMBERED = KeyedSelect(
    lambda keyed: select(Invoice.number, Invoice.client_id, Invoice.normalised_number).where(
        keyed(Invoice.normalised_number)
    )
)
_NUMBERS_OF = KeyedSelect(lambda keyed: select(Invoice.number, Invoice.client_id).where(keyed(Invoice.client_id)))


def _same(value: Any) -> Any:
    return value


class ClientRow(NamedTuple):
    """What a batch's reply actions read of a client (they never change one: ``defer_for_absence`` loads its
    entity): a plain row, for the ORM's per-entity loading cost as much as the rest of the batch's reads."""

    client_id: str
    name: str
    language: str
    profile: str


@event.listens_for(Session, "transient_to_pending")
def _index_pending(session: Session, obj: Any) -> None:
    # ``session.new`` copies every pending object on each access: a batch of replies asking it a few times per
    # reply went quadratic. Objects are indexed by class as they are added; ``pending`` filters out those
    # flushed or expunged since.
    session.info.setdefault(_PENDING_INDEX, {}).setdefault(type(obj), []).append(obj)


@event.listens_for(Session, "after_flush_postexec")
def _forget_flushed(session: Session, _context: Any) -> None:
    session.info.pop(_PENDING_INDEX, None)


def pending(session: Session, model: type[T], where: Callable[[T], bool] | None = None, **equal: object) -> list[T]:
    """Objects of ``model`` added to the session and not flushed yet, with these attribute values and ``where``."""
    index: dict[type, list[Any]] = session.info.get(_PENDING_INDEX, {})
    return [
        obj
        for cls, objs in index.items()
        if issubclass(cls, model)
        for obj in objs
        if all(getattr(obj, k) == v for k, v in equal.items())
        and (where is None or where(obj))
        and instance_state(obj).pending
    ]


class ReplyLookups:
    """Per-transaction memo of the reads a batch of replies repeats; create one per batch transaction."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.writes = BatchWrites()
        self._profiles: dict[str | None, ProfileView] = {}
        self._senders: dict[str, tuple[list[str], SenderTrust]] = {}
        self._emails: dict[str, set[str]] = {}
        # A client's outstanding invoices as read (number, then the raw values of ``_RAW``), and converted.
        self._invoices: dict[str, list[tuple[str, Any, Any, Any]]] = {}
        self._converted: dict[str, list[OutstandingRow]] = {}
        self._convert: list[Callable[[Any], Any] | None] = []
        # The matched invoices, as plain rows the actions change through ``writes`` (``batch_rows``).
        self._entities: dict[str, InvoiceRow] = {}
        self._clients: dict[str, ClientRow] = {}
        self._promises: dict[str, list[Promise]] = {}
        # Acknowledgements recorded for the batch's clients since ``_acks_since``: (client, recipients, created).
        self._acks: dict[str, list[tuple[list[str], datetime]]] = {}
        self._acks_since: datetime | None = None
        # Normalised invoice number → (number, client) rows, and one tolerant matcher per client.
        self._by_norm: dict[str, list[tuple[str, str]]] = {}
        self._matchers: dict[str, InvoiceMatcher] = {}
        # One composer per renderer and legal rates: it keeps what it derives from the settings (company,
        # domain, deadline), which a composer per reply derived again each time.
        self._composers: dict[tuple[int, int], Composer] = {}

    # ------------------------------------------------------------- preloading for a whole batch

    def preload_senders(self, senders: Iterable[str]) -> None:
        """Owners of many sender addresses in one query, then their outstanding invoices in one more."""
        wanted = {s.lower() for s in senders if s} - set(self._senders)
        if not wanted:
            return
        found: dict[str, set[str]] = {}
        for client_id, email in _CONTACTS_BY_EMAIL.execute(self.session.connection(), sorted(wanted)).all():
            found.setdefault(email, set()).add(client_id)
        for email, owners in found.items():
            self._senders[email] = (sorted(owners), SenderTrust.CONTACT)
        self.preload_invoices({c for owners in found.values() for c in owners})

    def preload_invoices(self, client_ids: Iterable[str]) -> None:
        """Clients and their outstanding invoices (as plain rows for matching), in two queries."""
        wanted = set(client_ids) - set(self._invoices)
        if not wanted:
            return
        for client_id in wanted:
            self._invoices[client_id] = []
        keys = sorted(wanted)
        connection = self.session.connection()
        for row in _CLIENTS.execute(connection, keys).all():
            self._clients[row[0]] = ClientRow(*row)
        result = _OUTSTANDING_OF.execute(connection, keys)
        if not self._convert:
            # What SQLAlchemy itself would apply to these columns (the driver's type codes decide on some).
            dialect, codes = connection.dialect, [d[1] for d in result.cursor.description[2:]]
            self._convert = [
                col.type.dialect_impl(dialect).result_processor(dialect, code)
                for col, code in zip(_RAW, codes, strict=True)
            ]
        rows: Sequence[Any] = result.all()
        for number, client_id, amount, paid, due in rows:
            self._invoices[client_id].append((number, amount, paid, due))

    def load_invoices(self, numbers: Iterable[str]) -> None:
        """The invoices a batch's replies matched (plain rows, ``batch_rows``) and their pending promises (ORM
        entities), two queries each 500 invoices; the reply actions then find them here."""
        wanted = sorted(set(numbers) - set(self._entities))
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            for row in INVOICE_ROWS.execute(self.session.connection(), part).all():
                invoice = InvoiceRow(row)
                self._entities[invoice.number] = invoice
            for number in part:
                self._promises[number] = []
            statement, params = _PENDING_PROMISES.form(self.session.connection().dialect.name, part)
            for promise in self.session.scalars(statement, params):
                self._promises[promise.invoice_number].append(promise)

    def preload_acks(self, since: datetime) -> None:
        """Acknowledgements sent to the preloaded clients since ``since`` (for the per-address daily cap)."""
        self._acks_since = since
        clients = list(self._invoices)
        for i in range(0, len(clients), 500):
            for client_id, recipients, created in _ACKS_SINCE.execute(
                self.session.connection(), clients[i : i + 500], since=since
            ).all():
                self._acks.setdefault(client_id, []).append((list(recipients), created))

    def preload_numbers(self, norms: Iterable[str]) -> None:
        """Ledger invoices with these normalised numbers, in queries of 500 (a batch's written references)."""
        wanted = sorted(set(norms) - set(self._by_norm))
        for norm in wanted:
            self._by_norm[norm] = []
        for i in range(0, len(wanted), 500):
            for number, owner, norm in _NUMBERED.execute(self.session.connection(), wanted[i : i + 500]).all():
                self._by_norm[norm].append((number, owner))

    def preload_matchers(self, client_ids: Iterable[str]) -> None:
        """Tolerant matchers of several clients from one query (those whose replies name unknown numbers)."""
        wanted = sorted(set(client_ids) - set(self._matchers))
        numbers: dict[str, list[str]] = {c: [] for c in wanted}
        for i in range(0, len(wanted), 500):
            for number, client_id in _NUMBERS_OF.execute(self.session.connection(), wanted[i : i + 500]).all():
                numbers[client_id].append(number)
        for client_id, found in numbers.items():
            self._matchers[client_id] = matcher_over(tuple(found))

    def preloaded_clients(self, sender: str) -> list[str]:
        """Clients the preloading found for a sender address (no query; empty when unknown or not preloaded)."""
        hit = self._senders.get(sender.lower())
        return hit[0] if hit else []

    # ------------------------------------------------------------- memoised reads

    def invoices_numbered(self, norm: str) -> list[tuple[str, str]]:
        """(number, client) of the ledger invoices whose normalised number is ``norm`` (imports never run here)."""
        if norm not in self._by_norm:
            self.preload_numbers([norm])
        return self._by_norm[norm]

    def matcher(self, client_id: str) -> InvoiceMatcher:
        """Tolerant matcher over all the client's invoice numbers, whatever their state."""
        hit = self._matchers.get(client_id)
        if hit is None:
            hit = matcher_over(
                tuple(self.session.scalars(select(Invoice.number).where(Invoice.client_id == client_id)))
            )
            self._matchers[client_id] = hit
        return hit

    def clients_of(self, sender: str) -> tuple[list[str], SenderTrust]:
        """Clients whose contact is ``sender`` (trust CONTACT), else whose contacts share its domain."""
        hit = self._senders.get(sender)
        if hit is None:
            hit = clients_of(self.session, sender)
            self._senders[sender] = hit
        return hit

    def contact_emails(self, client_id: str) -> set[str]:
        hit = self._emails.get(client_id)
        if hit is None:
            hit = set(self.session.scalars(select(Contact.email).where(Contact.client_id == client_id)))
            self._emails[client_id] = hit
        return hit

    def loaded_client(self, client_id: str) -> ClientRow | None:
        """The client's row if a preload read it (no query)."""
        return self._clients.get(client_id)

    def loaded_invoice(self, number: str) -> InvoiceRow | None:
        """The invoice's row if :meth:`load_invoices` read it."""
        return self._entities.get(number)

    def stored_promises(self, invoice_number: str) -> list[Promise] | None:
        """Pending promises of the invoice as stored when the batch began (None: not preloaded)."""
        return self._promises.get(invoice_number)

    def stored_acks(self, client_id: str, since: datetime) -> list[list[str]] | None:
        """Recipients of the client's acknowledgements stored since ``since`` (None: not preloaded)."""
        if self._acks_since is None or since < self._acks_since or client_id not in self._invoices:
            return None
        return [recipients for recipients, created in self._acks.get(client_id, []) if created >= since]

    def outstanding_numbers(self, client_id: str) -> list[str]:
        """The numbers of the client's invoices in an outstanding state, in order."""
        if client_id not in self._invoices:
            self.preload_invoices([client_id])
        return [row[0] for row in self._invoices[client_id]]

    def outstanding(self, client_id: str) -> list[OutstandingRow]:
        """The client's invoices in an outstanding state (a reply never moves one out of these states)."""
        hit = self._converted.get(client_id)
        if hit is None:
            if client_id not in self._invoices:
                self.preload_invoices([client_id])
            amount, paid, due = (f or _same for f in self._convert)
            hit = self._converted[client_id] = [
                (number, amount(a), paid(p), due(d)) for number, a, p, d in self._invoices[client_id]
            ]
        return hit

    def composer(self, renderer: Renderer, legal_rates: LegalRates) -> Composer:
        """The batch's composer for this renderer and these legal rates (the profiles' in force)."""
        # By identity: the composer holds both, so their ids are not reused while it is here.
        key = (id(renderer), id(legal_rates))
        hit = self._composers.get(key)
        if hit is None:
            hit = self._composers[key] = Composer(self.settings, renderer, legal_rates)
        return hit

    def profile(self, name: str | None) -> ProfileView:
        hit = self._profiles.get(name)
        if hit is None:
            config, calendars = current_profiles(self.settings, self.session)
            chosen = name if name in config.profiles else config.default_profile
            hit = ProfileView(config.profiles[chosen], calendars[chosen], config.legal_rates)
            self._profiles[name] = hit
        return hit


@functools.lru_cache(maxsize=2048)
def matcher_over(numbers: tuple[str, ...]) -> InvoiceMatcher:
    """The tolerant matcher over these invoice numbers (in this order), built once while the numbers stay the
    same: a matcher is immutable, and a client's numbers change only when invoices are imported."""
    return InvoiceMatcher(numbers)


def clients_of(session: Session, sender: str) -> tuple[list[str], SenderTrust]:
    """Clients of a sender address: exact contact first, else the contacts of its (non-public) domain."""
    exact = sorted(set(session.scalars(select(Contact.client_id).where(Contact.email == sender))))
    if exact:
        return exact, SenderTrust.CONTACT
    domain = sender.rpartition("@")[2]
    if not domain or domain in PUBLIC_DOMAINS:
        return [], SenderTrust.UNKNOWN
    by_domain = sorted(set(session.scalars(select(Contact.client_id).where(Contact.email.like(f"%@{domain}")))))
    return by_domain, SenderTrust.DOMAIN if by_domain else SenderTrust.UNKNOWN
