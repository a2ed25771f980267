"""Measure the parse adapter on the shared peer corpora (used by the corpus tests and the benchmark).

Comparison rules follow ``corpora/MANIFEST.md``: strip leading/trailing whitespace and trailing spaces per
line;
talon HTML cases compare with all whitespace removed.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bot.adapters.parse import parse_message
from bot.adapters.parse.html_text import html_to_text
from bot.adapters.parse.quotes import split_reply
from bot.domain.errors import UnreadableMessageError

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
CORPORA = SHARED / "corpora"
REPLIES = SHARED / "corpus" / "replies"

_HEADER_START = (b"MIME-Version:", b"Return-Path:", b"Received:", b"Delivered-To:")


def load_labels(folder: Path = CORPORA) -> list[dict[str, object]]:
    with (folder / "labels.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def is_message(path: Path, raw: bytes) -> bool:
    return path.suffix == ".eml" or raw.lstrip().startswith(_HEADER_START)


def normalise(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def extract_reply(path: Path, sender: str = "") -> str:
    """The reply text of a corpus file; ``sender`` (talon rows give it) stands in for a missing From."""
    raw = path.read_bytes()
    if is_message(path, raw):
        return parse_message(raw).reply_text
    text = raw.decode("utf-8", "replace")
    if path.suffix == ".html":
        text = html_to_text(text)
    address, name = (sender, "") if "@" in sender else ("", sender)
    return split_reply(text, address, name)[0]


@dataclass
class ReplyScore:
    per_source: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    failures: list[str] = field(default_factory=list)

    @property
    def overall(self) -> float:
        hits = sum(v[0] for v in self.per_source.values())
        total = sum(v[1] for v in self.per_source.values())
        return hits / total if total else 0.0


def score_reply_extraction() -> ReplyScore:
    score = ReplyScore()
    for row in load_labels():
        expected_file = row.get("expected_reply_file")
        path = str(row["path"])
        if row["kind"] != "reply" or not expected_file:
            continue
        source = path.split("/")[1]
        file = CORPORA / path
        expected = (CORPORA / str(expected_file)).read_text(encoding="utf-8")
        got = extract_reply(file, str(row.get("sender") or ""))
        if file.suffix == ".html":
            ok = re.sub(r"\s+", "", got) == re.sub(r"\s+", "", expected)
        else:
            ok = normalise(got) == normalise(expected)
        score.per_source[source][1] += 1
        if ok:
            score.per_source[source][0] += 1
        else:
            score.failures.append(path)
    return score


@dataclass
class AutoReplyScore:
    expected: int = 0
    found: int = 0
    false_positives: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    negatives: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 0.0


def _auto_reply_of(file: Path) -> bool:
    try:
        return parse_message(file.read_bytes()).auto_reply
    except UnreadableMessageError:
        return False


def score_auto_replies() -> AutoReplyScore:
    score = AutoReplyScore()
    for row in load_labels():
        path = str(row["path"])
        file = CORPORA / path
        negative = row["kind"] == "human" or (
            row["kind"] == "reply"
            and path.startswith(
                (
                    "reply-extraction/mailgun__talon/standard_replies",
                    "reply-extraction/discourse__discourse",
                    "reply-extraction/redmine__redmine",
                )
            )
            and file.suffix == ".eml"
        )
        if row["kind"] == "auto_reply":
            score.expected += 1
            if _auto_reply_of(file):
                score.found += 1
            else:
                score.missed.append(path)
        elif negative:
            score.negatives += 1
            if _auto_reply_of(file):
                score.false_positives.append(path)
    if REPLIES.exists():
        for row in load_labels(REPLIES):
            file = REPLIES / str(row["file"])
            if row["intent"] == "auto_reply":
                score.expected += 1
                if _auto_reply_of(file):
                    score.found += 1
                else:
                    score.missed.append(str(row["file"]))
            else:
                score.negatives += 1
                if _auto_reply_of(file):
                    score.false_positives.append(str(row["file"]))
    return score


@dataclass
class BounceScore:
    recipient_total: int = 0
    recipient_ok: int = 0
    status_total: int = 0
    status_ok: int = 0
    detected: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def recipient_rate(self) -> float:
        return self.recipient_ok / self.recipient_total if self.recipient_total else 0.0

    @property
    def status_rate(self) -> float:
        return self.status_ok / self.status_total if self.status_total else 0.0


def score_bounces() -> BounceScore:
    score = BounceScore()
    for row in load_labels():
        if row["kind"] != "bounce" or row.get("subkind") in ("feedback_report", "success_dsn", "mdn"):
            continue
        file = CORPORA / str(row["path"])
        score.total += 1
        try:
            bounce = parse_message(file.read_bytes()).bounce
        except UnreadableMessageError:
            bounce = None
        if bounce is not None:
            score.detected += 1
        recipients = row.get("bounce_recipients") or ([row["bounce_recipient"]] if row.get("bounce_recipient") else [])
        if recipients:
            score.recipient_total += 1
            wanted = {str(r).lower() for r in recipients}  # type: ignore[union-attr]
            if bounce is not None and (bounce.recipient or "").lower() in wanted:
                score.recipient_ok += 1
            else:
                score.misses.append(f"recipient {row['path']}: {bounce and bounce.recipient} not in {sorted(wanted)}")
        status = row.get("bounce_status")
        if status:
            score.status_total += 1
            if bounce is not None and bounce.status == status:
                score.status_ok += 1
            else:
                score.misses.append(f"status {row['path']}: {bounce and bounce.status} != {status}")
    return score
