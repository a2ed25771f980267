"""Rule engine: runs the rule table over the sentences of a reply and turns the hits into a Classification."""

from __future__ import annotations

import bisect
import logging
import re
from datetime import date, datetime
from typing import NamedTuple

from bot.domain.classifier.details import extract_details
from bot.domain.classifier.language import detect_language
from bot.domain.classifier.lexicon import Lexicon, get_lexicon, trigger_positions
from bot.domain.classifier.rules import (
    APPLIES_AT,
    AUTOMATIC_NOTICE_FLAGS,
    FORCE_OTHER_FLAGS,
    FUZZY_FACTOR,
    LOW_CONFIDENCE,
    RULES,
    RULES_BY_ID,
    Rule,
)
from bot.domain.classifier.text import Sentence, sentence_words, split_sentences
from bot.domain.extraction.invoice_refs import InvoiceRef, find_invoice_refs
from bot.domain.extraction.normalise import fold
from bot.domain.intent import HUMAN_INTENTS, Classification, Evidence, Intent, order_intents

log = logging.getLogger(__name__)

_NEGATION_WINDOW = 4


class Hit(NamedTuple):
    """One rule matched in one sentence (a tuple: cheaper to build than a frozen dataclass)."""

    rule: Rule
    sentence: int
    text: str
    weight: float
    conditional: bool = False
    fuzzy: bool = False


def _negated(before: str, matched: str, lexicon: Lexicon, inside: bool) -> bool:
    if not lexicon.negators.isdisjoint(before.split()[-_NEGATION_WINDOW:]):
        return True
    return inside and not lexicon.negators.isdisjoint(matched.split())


def _blank(pattern: re.Pattern[str], words: str) -> str:
    return pattern.sub(lambda m: " " + "_" * (len(m.group(0)) - 1), words)


def _conditional(words: str, lexicon: Lexicon) -> str | None:
    cleaned = _blank(lexicon.condition_exclusions, words)
    m = lexicon.conditions.search(cleaned)
    if not m or lexicon.firm_deadline.search(words):
        return None
    return m.group(0).strip()


def _scan(sentences: list[Sentence], lexicon: Lexicon) -> list[Hit]:
    """Run every rule once over the whole reply.

    Sentences are lines of " words " text, so gaps never cross sentences.
    """
    lines = [" " + s.words + " " for s in sentences]
    full = _blank(lexicon.negation_idioms, "\n".join(lines))
    starts: list[int] = []
    pos = 0
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    positions = trigger_positions(lexicon, full)
    hits: list[Hit] = []
    for rule in RULES:
        attempts = positions.get(rule.cue)
        if attempts is None and rule.cue not in lexicon.always_by_cue:
            continue
        first = _first_matches(lexicon, rule.cue, full, starts, attempts or [])
        if not first:
            continue
        for index, m in sorted(first.items()):
            text = m.group(0).strip()
            sentence = sentences[index]
            fuzzy = bool(sentence.corrected) and any(w in sentence.corrected for w in text.split())
            if rule.negatable and _negated(full[starts[index] : m.start()], text, lexicon, rule.negation_inside):
                if rule.when_negated:
                    hits.append(Hit(RULES_BY_ID[rule.when_negated], index, text, RULES_BY_ID[rule.when_negated].weight))
                hits.append(Hit(rule, index, text, 0.0))
                continue
            if (rule.unless or rule.unless_overlapping) and (
                any(k in lexicon.cues and lexicon.cues[k].search(lines[index]) for k in rule.unless)
                or any(
                    f.start() < m.end() and m.start() < f.end()
                    for k in rule.unless_overlapping
                    if k in lexicon.cues
                    for f in lexicon.cues[k].finditer(full, starts[index], starts[index] + len(lines[index]))
                )
            ):
                hits.append(Hit(rule, index, text, 0.0))
                continue
            cond = _conditional(lines[index], lexicon) if rule.promise_like else None
            hits.append(Hit(rule, index, text, rule.weight, conditional=cond is not None, fuzzy=fuzzy))
    return hits


def _first_matches(
    lexicon: Lexicon, cue: str, full: str, starts: list[int], attempts: list[tuple[int, int, int]]
) -> dict[int, re.Match[str]]:
    """The earliest match of the cue family in each sentence (the first phrase in file order on a tie).

    One hit per rule and sentence is enough evidence. Phrases are tried only where one of their first words
    stands (see :func:`trigger_positions`, sorted by offset then phrase); the few whose first word cannot be
    told are searched.
    """
    phrases = lexicon.phrases[cue]
    best: dict[int, tuple[int, int, re.Match[str]]] = {}
    for pos, order, line in attempts:
        if line in best:
            continue  # an earlier word (or an earlier phrase on this word) already matched in this sentence
        m = phrases[order].pattern.match(full, pos)
        if m is not None:
            best[line] = (pos, order, m)
    for order in lexicon.always_by_cue.get(cue, ()):
        for m in phrases[order].pattern.finditer(full):
            index = bisect.bisect_right(starts, m.start()) - 1
            if index not in best or (m.start(), order) < best[index][:2]:
                best[index] = (m.start(), order, m)
    return {index: found[2] for index, found in best.items()}


def _prepare(folded: str, lexicon: Lexicon, refs: list[InvoiceRef]) -> tuple[list[Sentence], list[tuple[int, int]]]:
    spans = split_sentences(folded)
    sentences = []
    for s, e in spans:
        local = [(r.start - s, r.end - s) for r in refs if r.start >= s and r.end <= e] if refs else []
        sentences.append(sentence_words(folded[s:e], lexicon, local))
    return sentences, spans


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
    """Classify one reply's new text into an intent with evidence, dates, amount and the human-review decision.

    ``sent_at`` (the Date header, in the sender's local time) anchors relative dates; ``auto_reply``/``bounce``
    come from the parser's header analysis; ``us_dates`` reads "12/15" as month/day. ``needs_human`` is true for
    the human intents and whenever ``human_reasons`` is not empty (legal threat, insolvency, conditional promise,
    anger, a request the bot cannot fulfil, low confidence...).
    """
    folded = fold(text)
    language = detect_language(folded, subject=subject, hint=language_hint)
    lexicon = get_lexicon(language)
    refs = find_invoice_refs(folded, folded=True)
    sentences, spans = _prepare(folded, lexicon, refs)
    hits = _scan(sentences, lexicon)

    scores: dict[Intent, float] = {}
    flags: dict[str, str] = {}
    evidence: list[Evidence] = []
    for hit in hits:
        if hit.weight == 0.0:
            evidence.append(Evidence(f"{hit.rule.id}.negated", "negation", hit.text, 0.0))
            continue
        intent_name = hit.rule.intent.value if hit.rule.intent else (hit.rule.flag or "flag")
        evidence.append(Evidence(hit.rule.id, intent_name, hit.text, round(hit.weight, 2)))
        if hit.rule.intent is not None:
            scores[hit.rule.intent] = scores.get(hit.rule.intent, 0.0) + hit.weight
        if hit.rule.flag:
            flags.setdefault(hit.rule.flag, hit.text)
        if hit.conditional:
            flags.setdefault("conditional_promise", hit.text)
            evidence.append(Evidence("condition", "condition", sentences[hit.sentence].words[:120], 0.0))
    if has_remittance_attachment:
        scores[Intent.ALREADY_PAID] = scores.get(Intent.ALREADY_PAID, 0.0) + 0.6
        evidence.append(Evidence("paid.remittance_attachment", Intent.ALREADY_PAID.value, "attachment", 0.6))

    applicable = {i for i, s in scores.items() if s >= APPLIES_AT - 1e-9}
    # A refusal to pay with nothing else said is a dispute even when weak ("nous ne réglerons pas").
    if not applicable and any(h.rule.id == "dispute.refusal" and h.weight > 0 for h in hits):
        applicable.add(Intent.DISPUTE)
    if bounce:
        applicable.add(Intent.BOUNCE)
    if auto_reply:
        applicable.add(Intent.AUTO_REPLY)
    forced_other = bool(FORCE_OTHER_FLAGS & flags.keys())
    if forced_other:
        applicable = {Intent.OTHER}
    primary, secondary = order_intents(applicable)
    if primary in (Intent.AUTO_REPLY, Intent.BOUNCE):
        secondary = tuple(i for i in secondary if i in (Intent.WRONG_CONTACT, Intent.BOUNCE, Intent.AUTO_REPLY))
        if Intent.WRONG_CONTACT in secondary:
            flags.setdefault("contact_update_after_automatic_notice", "wrong_contact")
        flags = {k: v for k, v in flags.items() if k in AUTOMATIC_NOTICE_FLAGS}

    confidence = _confidence(primary, scores, applicable, bounce or auto_reply, bool(folded.strip()))
    primary_hits = [h for h in hits if h.rule.intent is primary and h.weight > 0]
    if primary_hits and all(h.fuzzy for h in primary_hits):
        # Only a typo-corrected word supports the verdict: keep it, but trust it less.
        confidence = round(confidence * FUZZY_FACTOR, 2)
    sent_day: date | None = sent_at.date() if sent_at else None
    details = extract_details(folded, spans, refs, hits, primary, secondary, sent_day, us_dates)
    if Intent.PROMISE_TO_PAY in (primary, *secondary) and "conditional_promise" in flags:
        details = details.without_promised_date()
    evidence.extend(details.evidence)

    reasons = [f"{k}" for k in flags]
    if confidence < LOW_CONFIDENCE and primary not in HUMAN_INTENTS:
        reasons.append("low_confidence")
    needs_human = primary in HUMAN_INTENTS or bool(reasons)
    log.debug("classified as %s (%.2f) reasons=%s", primary, confidence, reasons)
    return Classification(
        intent=primary,
        secondary_intents=secondary,
        needs_human=needs_human,
        confidence=confidence,
        language=language,
        promised_date=details.promised_date,
        paid_date=details.paid_date,
        amount=details.amount,
        evidence=tuple(evidence),
        human_reasons=tuple(reasons),
        invoice_refs=tuple(r.written for r in refs),
        instalments=details.instalments,
    )


def _confidence(
    primary: Intent, scores: dict[Intent, float], applicable: set[Intent], header: bool, has_text: bool
) -> float:
    """How sure the verdict is: strong, repeated cues raise it; competing intents lower it."""
    if header and primary in (Intent.AUTO_REPLY, Intent.BOUNCE):
        return 0.95
    if primary is Intent.OTHER:
        return 0.5 if has_text and not scores else 0.4
    score = scores.get(primary, 0.0)
    conf = 0.45 + 0.2 * min(score, 2.5)
    rivals = [i for i in applicable if i is not primary and i is not Intent.OTHER]
    conf -= 0.05 * len(rivals)
    return round(max(0.05, min(conf, 0.99)), 2)
