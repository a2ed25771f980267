"""Reply classifier: rules plus per-language lexicons, explainable, pure.

Reads only the sender's new text (the quoted reminder says "if you have already paid…" and would mislead it).
"""

from __future__ import annotations

from bot.domain.classifier.engine import classify

__all__ = ["classify"]
