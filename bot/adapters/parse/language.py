"""French or English? A stopword count is enough for the two languages relance writes in."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-zàâäçéèêëîïôöùûüÿœ']+")
_FR = frozenset(
    "le la les un une des du de et est nous vous je ne pas pour que qui sur dans avec votre vos notre nos "
    "ce cette "
    "mais ou au aux être avons sommes bien merci bonjour cordialement facture règlement sera été très "
    "madame monsieur déjà jusqu'au retour semaine prochaine".split()
)
_EN = frozenset(
    "the an and is are we you i not for that which in with your our this but or to be have has been "
    "will thank thanks hello regards invoice payment please dear kind already until back week next "
    "of it as at by from".split()
)
_MIN_HITS = 2


def detect_language(*texts: str) -> str | None:
    """``"fr"`` or ``"en"`` from the first text that decides, ``None`` when none does."""
    for text in texts:
        fr = en = 0
        for word in _WORD.findall(text[:3000].lower()):
            if word in _FR:
                fr += 1
            if word in _EN:
                en += 1
        if max(fr, en) >= _MIN_HITS and fr != en:
            return "fr" if fr > en else "en"
    return None
