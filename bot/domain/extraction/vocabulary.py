"""Loading of the per-language lexicon files (``bot/domain/lexicons/<lang>.yaml``).

Each file is plain data: calendar words for the date extractor, reference words for the invoice-reference
finder, cue phrases for the classifier. Adding a language means adding one file; nothing here names a
language. :func:`extend_lexicons` adds languages from another folder (or as mappings) without shipping them in
the package: a deployment's own language, or a test's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

_EXTRA_FOLDERS: list[Path] = []
_EXTRA_DATA: dict[str, dict[str, Any]] = {}
# cache_clear of every memo built from the lexicons (compiled rules, date patterns, reference patterns)
_DEPENDENT_CACHES: list[Callable[[], None]] = []


def _read(name: str, text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"lexicon {name} must be a mapping")
    _check_words(name, data)
    return data


def _check_words(name: str, node: Any) -> None:
    """YAML reads a bare no/yes/on/off as a boolean: in a word list that is always a mistake."""
    if isinstance(node, bool):
        raise ValueError(f'lexicon {name}: {node!r} in a word list; quote words like "no" or "on"')
    if isinstance(node, dict):
        for value in node.values():
            _check_words(name, value)
    elif isinstance(node, list):
        for item in node:
            _check_words(name, item)


@functools.cache
def load_lexicons() -> dict[str, dict[str, Any]]:
    """All lexicons keyed by language code (the file stem), read once per process.

    The package's files first, then those of the folders and mappings given to :func:`extend_lexicons` (a
    later one replaces an earlier one of the same language).
    """
    found: dict[str, dict[str, Any]] = {}
    folder = resources.files("bot.domain").joinpath("lexicons")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            found[entry.name.rsplit(".", 1)[0]] = _read(entry.name, entry.read_text(encoding="utf-8"))
    for extra in _EXTRA_FOLDERS:
        for path in sorted(extra.glob("*.y*ml")):
            found[path.stem] = _read(path.name, path.read_text(encoding="utf-8"))
    for lang, data in _EXTRA_DATA.items():
        _check_words(lang, data)
        found[lang] = data
    return found


def languages() -> tuple[str, ...]:
    """Language codes that have a lexicon."""
    return tuple(load_lexicons())


def extend_lexicons(*folders: Path, data: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Add the lexicons of ``folders`` (``<lang>.yaml`` files) and ``data`` (language → lexicon mapping).

    Every memo compiled from the lexicons is dropped, so the next classification uses the new set.
    """
    _EXTRA_FOLDERS.extend(Path(f) for f in folders)
    _EXTRA_DATA.update({lang: dict(lex) for lang, lex in (data or {}).items()})
    _invalidate()


def reset_lexicons() -> None:
    """Back to the package's own lexicons only."""
    _EXTRA_FOLDERS.clear()
    _EXTRA_DATA.clear()
    _invalidate()


def on_lexicons_changed(cache_clear: Callable[[], None]) -> None:
    """Register a memo built from the lexicons, dropped whenever they change."""
    _DEPENDENT_CACHES.append(cache_clear)


def _invalidate() -> None:
    load_lexicons.cache_clear()
    for clear in _DEPENDENT_CACHES:
        clear()
