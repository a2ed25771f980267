"""Reply classifier: rules plus per-language lexicons, explainable, pure.

Reads only the sender's new text (the quoted reminder says "if you have already paid…" and would mislead it).
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.classifier.engine import classify_text
from bot.domain.intent import Classification

__all__ = ["classify"]


def classify(
    text: str,
    *,
    subject: str = "",
    language_hint: str | None = None,
    sent_at: datetime | None = None,
    auto_reply: bool = False,
    bounce: bool = False,
    has_remittance_attachment: bool = False,
    us_dates: bool = False,
) -> Classification:
    """Classify one reply's new text into an intent with evidence, dates, amount and the human-review
    decision.

    ``sent_at`` (the Date header, in the sender's local time) anchors relative dates;
    ``auto_reply``/``bounce`` come
    from the parser's header analysis; ``us_dates`` reads "12/15" as month/day. ``needs_human`` is true for
    the
    human intents and whenever ``human_reasons`` is not empty (legal threat, insolvency, conditional promise,
    anger, a request the bot cannot fulfil, low confidence...).
    """
    return classify_text(
        text,
        subject=subject,
        language_hint=language_hint,
        sent_at=sent_at,
        auto_reply=auto_reply,
        bounce=bounce,
        has_remittance_attachment=has_remittance_attachment,
        us_dates=us_dates,
    )
