"""Loading of the per-language lexicon files (``bot/domain/lexicons/<lang>.yaml``).

Each file is plain data: calendar words for the date extractor, cue phrases for the classifier. Adding a
language
means adding one file; nothing here names a language.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml


@functools.cache
def load_lexicons() -> dict[str, dict[str, Any]]:
    """All lexicon files keyed by language code (the file stem), read once per process."""
    folder = resources.files("bot.domain").joinpath("lexicons")
    found: dict[str, dict[str, Any]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith((".yaml", ".yml")):
            continue
        data = yaml.safe_load(entry.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"lexicon {entry.name} must be a mapping")
        found[entry.name.rsplit(".", 1)[0]] = data
    return found


def languages() -> tuple[str, ...]:
    """Language codes that have a lexicon file."""
    return tuple(load_lexicons())
