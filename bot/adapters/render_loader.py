"""Where templates come from: the files of one language, the web UI's overrides, and the compiled code shared by
every renderer of the process (see ``render``)."""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from types import CodeType

from jinja2 import BaseLoader, BytecodeCache, Environment, TemplateNotFound
from jinja2.bccache import Bucket

__all__ = [
    "COMPILED",
    "PART_NAME",
    "RECHECK_SECONDS",
    "CompiledCache",
    "FileCheck",
    "Overrides",
    "PartLoader",
    "template_names",
]

Overrides = Callable[[str, str], str | None]

#: A part file's name (``reminder_1.txt.j2``); also keeps ``../`` out.
PART_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*\.j2$")

#: How long a file's "unchanged" answer is trusted. Jinja asks on every get_template, includes and layouts
#: too: nine stat() calls per message were a tenth of rendering; an edit on disk still shows within this delay.
RECHECK_SECONDS = 1.0


class FileCheck:
    """Jinja's ``uptodate`` callback for one template file, stat-ing it at most once per RECHECK_SECONDS."""

    __slots__ = ("_path", "_mtime", "_checked")

    def __init__(self, path: Path, mtime: int) -> None:
        self._path = path
        self._mtime = mtime
        self._checked = time.monotonic()

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._checked < RECHECK_SECONDS:
            return True
        try:
            same = self._path.stat().st_mtime_ns == self._mtime
        except OSError:
            return False
        if same:
            self._checked = now
        return same


class PartLoader(BaseLoader):
    """Loads one language's parts: the override hook first, then the file."""

    def __init__(self, directory: Path, language: str, overrides: Overrides | None) -> None:
        self._dir = directory
        self._language = language
        self._overrides = overrides

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        if not PART_NAME.match(template):  # also keeps "../" out
            raise TemplateNotFound(template)
        if self._overrides is not None:
            edited = self._overrides(template, self._language)
            if edited is not None:
                # Overrides stay cached until TemplateRenderer.invalidate(): a database read per render
                # would cost more than the render itself.
                return edited, f"override:{self._language}/{template}", lambda: True
        path = self._dir / template
        try:
            mtime = path.stat().st_mtime_ns
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TemplateNotFound(template) from exc
        return source, str(path), FileCheck(path, mtime)

    def list_templates(self) -> list[str]:
        if not self._dir.is_dir():
            return []
        return sorted(p.name for p in self._dir.iterdir() if p.is_file() and PART_NAME.match(p.name))


def template_names(files: Sequence[str]) -> list[str]:
    """Template names (``reminder_1``) among part file names, shared pieces (``_layout``) excluded."""
    return sorted({f.split(".", 1)[0] for f in files if not f.startswith("_") and f.endswith(".j2")})


class CompiledCache(BytecodeCache):
    """Compiled templates shared by every renderer of the process, keyed by file name and source checksum.

    A renderer is made per send cycle and per web request; each compiled its templates again (~10 ms per
    template). The checksum of the source is part of the key, so an edited file or override compiles anew.
    Every renderer builds the same environment (BoundedSandbox, same options), so the code is the same too.
    """

    def __init__(self, size: int = 2000) -> None:
        self._codes: OrderedDict[tuple[str, str], CodeType] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            code = self._codes.get((bucket.key, bucket.checksum))
        if code is not None:
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is None:
            return
        with self._lock:
            self._codes[(bucket.key, bucket.checksum)] = bucket.code
            while len(self._codes) > self._size:
                self._codes.popitem(last=False)


COMPILED = CompiledCache()
