"""Language of the sender's new text, from the lexicons' frequent words."""

from __future__ import annotations

from bot.domain.classifier.lexicon import available_languages, get_lexicon, word_text
from bot.domain.extraction.normalise import fold


def detect_language(text: str, *, subject: str = "", hint: str | None = None) -> str:
    """The lexicon language whose frequent words occur most in ``text`` (already folded).

    An empty or one-word reply ("Ok") carries no signal: the hint (the client's language) decides, then the
    subject (the thread's language), then the first lexicon.
    """
    langs = available_languages()

    def score(words: list[str]) -> dict[str, int]:
        # map() over the set's __contains__ counts in C (a generator here was a tenth of the classifier's time)
        return {lang: sum(map(get_lexicon(lang).stopwords.__contains__, words)) for lang in langs}

    counts = score(word_text(text).split())
    best = max(counts.values(), default=0)
    leaders = [lang for lang, c in counts.items() if c == best]
    if best >= 2 and len(leaders) == 1:
        return leaders[0]
    if hint in langs:
        return str(hint)
    subject_counts = score(word_text(fold(subject)).split())
    sbest = max(subject_counts.values(), default=0)
    sleaders = [lang for lang, c in subject_counts.items() if c == sbest]
    if sbest and len(sleaders) == 1:
        return sleaders[0]
    if best and len(leaders) == 1:
        return leaders[0]
    return langs[0] if langs else "en"
