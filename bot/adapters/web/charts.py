"""Data for the server-rendered SVG bar charts: label, value, width and the number beside each bar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the number printed beside the bar
    width: float  # 0-100, share of the chart's longest bar
    css: str = ""


def bars(
    items: Sequence[tuple[str, Decimal | int | float, str]], css: Sequence[str] | None = None
) -> list[Bar]:
    """Bars scaled to the largest value; a non-zero value always gets a visible sliver."""
    peak = max((float(v) for _, v, _ in items), default=0.0)
    out = []
    for i, (label, value, text) in enumerate(items):
        v = float(value)
        width = 0.0 if peak <= 0 else max(v / peak * 100, 0.8 if v > 0 else 0.0)
        out.append(Bar(label, v, text, round(width, 2), css[i] if css and i < len(css) else ""))
    return out
