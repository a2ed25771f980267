"""Late-payment interest and fixed recovery compensation stated in a formal notice.

The law fixes the formula; the rates move (the ECB and the Bank of England change theirs), so every rate
comes in through ``LegalRates`` built from configuration (``legal_rates`` in ``profiles.yaml``), never from
a constant here.

Formulas (simple interest, actual days over a 365-day year, rounded half-up to the cent per invoice):

- ``fr``: French B2B, art. L441-10 and D441-5 Code de commerce: ECB refinancing rate + 10 points, plus a fixed
  recovery indemnity (EUR 40) per invoice paid late.
- ``eu``: Directive 2011/7/EU minimum: ECB rate + 8 points, plus EUR 40 per invoice.
- ``uk``: Late Payment of Commercial Debts (Interest) Act 1998: Bank of England base rate + 8 points, plus
  a fixed sum per invoice by size of the debt: GBP 40 below 1,000, GBP 70 below 10,000, GBP 100 from 10,000.
- ``none``: no penalties (public-sector debtors, or contracts that waive them).

The statutory margins and fixed sums are defaults of ``LegalRates``; configuration may override them too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from bot.domain.errors import ConfigError

CENT = Decimal("0.01")
DAYS_PER_YEAR = Decimal(365)


class Jurisdiction(StrEnum):
    FR = "fr"
    EU = "eu"
    UK = "uk"
    NONE = "none"


def _default_uk_bands() -> tuple[tuple[Decimal, Decimal], ...]:
    # (upper bound exclusive, fixed sum); the last band has no upper bound (Decimal("Infinity")).
    return ((Decimal(1000), Decimal(40)), (Decimal(10000), Decimal(70)), (Decimal("Infinity"), Decimal(100)))


@dataclass(frozen=True)
class LegalRates:
    """Rates and fixed sums in force; percentages are annual, in points (``4.15`` means 4.15 %)."""

    ecb_refinancing_rate: Decimal | None = None
    boe_base_rate: Decimal | None = None
    fr_margin_points: Decimal = Decimal(10)
    eu_margin_points: Decimal = Decimal(8)
    uk_margin_points: Decimal = Decimal(8)
    eur_fixed_indemnity: Decimal = Decimal(40)
    uk_fixed_sum_bands: tuple[tuple[Decimal, Decimal], ...] = field(default_factory=_default_uk_bands)

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> LegalRates:
        """Build from the ``legal_rates`` mapping of ``profiles.yaml`` (numbers or numeric strings).

        Unknown keys raise ``ConfigError`` so that a typo in the file does not silently keep a stale default.
        """
        known = {
            "ecb_refinancing_rate",
            "boe_base_rate",
            "fr_margin_points",
            "eu_margin_points",
            "uk_margin_points",
            "eur_fixed_indemnity",
        }
        unknown = sorted(set(values) - known - {"uk_fixed_sum_bands"})
        if unknown:
            listed = ", ".join(sorted(known))
            raise ConfigError(f"legal_rates: unknown key(s) {', '.join(unknown)}; known: {listed}")
        kwargs: dict[str, object] = {
            k: _decimal(k, v) for k, v in values.items() if k in known and v is not None
        }
        if "uk_fixed_sum_bands" in values:
            kwargs["uk_fixed_sum_bands"] = _bands(values["uk_fixed_sum_bands"])
        return cls(**kwargs)  # type: ignore[arg-type]


def _decimal(key: str, value: object) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigError(f"legal_rates.{key}: not a number: {value!r}") from exc
    if not result.is_finite():
        raise ConfigError(f"legal_rates.{key}: not a finite number: {value!r}")
    return result


def _bands(value: object) -> tuple[tuple[Decimal, Decimal], ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigError("legal_rates.uk_fixed_sum_bands: expected a list of [upper_bound_or_null, sum]")
    bands: list[tuple[Decimal, Decimal]] = []
    for pair in value:
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise ConfigError("legal_rates.uk_fixed_sum_bands: each band is [upper_bound_or_null, sum]")
        upper = Decimal("Infinity") if pair[0] is None else _decimal("uk_fixed_sum_bands", pair[0])
        bands.append((upper, _decimal("uk_fixed_sum_bands", pair[1])))
    return tuple(bands)


@dataclass(frozen=True)
class OverdueAmount:
    """What the penalty computation needs to know about one invoice."""

    number: str
    amount_due: Decimal
    days_late: int


@dataclass(frozen=True)
class InvoicePenalty:
    number: str
    interest: Decimal
    indemnity: Decimal


@dataclass(frozen=True)
class Penalties:
    """The figures a formal notice states. ``interest_rate`` is the annual rate applied, in points."""

    jurisdiction: Jurisdiction
    reference_rate: Decimal
    margin_points: Decimal
    interest_rate: Decimal
    interest_currency: str
    indemnity_currency: str
    lines: tuple[InvoicePenalty, ...]

    @property
    def interest_amount(self) -> Decimal:
        return sum((line.interest for line in self.lines), Decimal(0))

    @property
    def total_indemnity(self) -> Decimal:
        return sum((line.indemnity for line in self.lines), Decimal(0))

    @property
    def indemnity_per_invoice(self) -> Decimal | None:
        """The fixed sum when every invoice has the same one (always in FR/EU; UK sums depend on size)."""
        sums = {line.indemnity for line in self.lines}
        return sums.pop() if len(sums) == 1 else None


def interest(amount_due: Decimal, annual_rate_points: Decimal, days_late: int) -> Decimal:
    """Simple interest for ``days_late`` days at an annual rate in points, rounded half-up to the cent."""
    if days_late <= 0 or amount_due <= 0:
        return Decimal("0.00")
    raw = amount_due * annual_rate_points / Decimal(100) * Decimal(days_late) / DAYS_PER_YEAR
    return raw.quantize(CENT, rounding=ROUND_HALF_UP)


def uk_fixed_sum(amount_due: Decimal, rates: LegalRates) -> Decimal:
    """Fixed compensation for one UK debt, chosen by the band its amount falls into."""
    for upper, fixed in rates.uk_fixed_sum_bands:
        if amount_due < upper:
            return fixed
    return rates.uk_fixed_sum_bands[-1][1]


def compute_penalties(
    invoices: Sequence[OverdueAmount], jurisdiction: Jurisdiction | str, rates: LegalRates, currency: str
) -> Penalties | None:
    """Interest and fixed indemnities for the late ``invoices``; ``None`` when the jurisdiction has none.

    Invoices not yet late get neither interest nor indemnity (the indemnity is due from the first day late).
    Raises ``ConfigError`` when the rate the jurisdiction needs is missing from the configuration.
    """
    kind = Jurisdiction(jurisdiction)
    if kind is Jurisdiction.NONE:
        return None
    if kind is Jurisdiction.UK:
        reference, margin, fixed_currency = rates.boe_base_rate, rates.uk_margin_points, "GBP"
        missing = "boe_base_rate"
    else:
        margin = rates.fr_margin_points if kind is Jurisdiction.FR else rates.eu_margin_points
        reference, fixed_currency, missing = rates.ecb_refinancing_rate, "EUR", "ecb_refinancing_rate"
    if reference is None:
        raise ConfigError(f"legal_rates.{missing} is required for {kind.value} penalties")
    annual = reference + margin
    lines = []
    for inv in invoices:
        late = inv.days_late > 0 and inv.amount_due > 0
        if not late:
            fixed = Decimal("0.00")
        elif kind is Jurisdiction.UK:
            fixed = uk_fixed_sum(inv.amount_due, rates)
        else:
            fixed = rates.eur_fixed_indemnity
        lines.append(InvoicePenalty(inv.number, interest(inv.amount_due, annual, inv.days_late), fixed))
    return Penalties(kind, reference, margin, annual, currency, fixed_currency, tuple(lines))
