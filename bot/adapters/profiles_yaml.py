"""Load and check ``profiles.yaml``: every problem reported as ``FILE:LINE: key.path: message``.

The YAML is composed into a node tree first (nodes keep their line), then constructed into plain data and
validated by the pydantic models of :mod:`bot.domain.profile`. Each pydantic error location is walked down
the node tree to find the line of the offending key, so an admin is sent to the right line, not just told
that "something in profiles" is wrong. PyYAML silently keeps the last of two equal keys; duplicates are
reported here because a pasted step overriding an earlier one is a classic editing accident.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.adapters.holiday_calendar import holiday_problem
from bot.domain.errors import ConfigError
from bot.domain.profile import LocatedValueError, ProfilesConfig, default_profile_problem, ladder_problems

Loc = tuple[str | int, ...]


def load_profiles(path: Path) -> ProfilesConfig:
    """Read and validate a profiles file; raise :class:`ConfigError` listing every problem found."""
    config, problems = _load(_read(path), str(path))
    if problems or config is None:
        raise ConfigError(f"{len(problems)} problem(s) in {path}:\n" + "\n".join(problems))
    return config


def check_profiles(path: Path) -> list[str]:
    """Every problem in a profiles file as ``FILE:LINE: key.path: message`` (empty: the file is valid)."""
    try:
        text = _read(path)
    except ConfigError as exc:
        return [str(exc)]
    return _load(text, str(path))[1]


def parse_profiles(text: str, source: str = "<profiles>") -> ProfilesConfig:
    """Validate profiles given as text (the web editor's draft); ``source`` names it in messages."""
    config, problems = _load(text, source)
    if problems or config is None:
        raise ConfigError(f"{len(problems)} problem(s) in {source}:\n" + "\n".join(problems))
    return config


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}:0: cannot read the profiles file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}:0: the profiles file is not UTF-8 ({exc.reason})") from exc


def _load(text: str, source: str) -> tuple[ProfilesConfig | None, list[str]]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, [f"{source}:1: (top): the file is empty"]
        data: Any = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        return None, [f"{source}:{line}: (yaml): {exc.problem or exc.context or 'invalid YAML'}"]
    except yaml.YAMLError as exc:
        return None, [f"{source}:0: (yaml): {exc}"]
    finally:
        loader.dispose()
    problems = _duplicate_keys(root, (), source)
    if not isinstance(data, dict):
        return None, [f"{source}:{root.start_mark.line + 1}: (top): expected a mapping of settings"]
    config: ProfilesConfig | None = None
    try:
        config = ProfilesConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        hints = _spelling_hints(errors)
        problems.extend(_describe(err, root, source, hints) for err in errors)
    # Checked on the raw data so they are reported even when pydantic stopped early on another problem.
    problems.extend(_raw_checks(data, root, source))
    unique = sorted(dict.fromkeys(problems), key=_line_number)
    return (None if unique else config), unique


def _raw_checks(data: dict[str, Any], root: Node, source: str) -> list[str]:
    problems: list[str] = []
    profiles = data.get("profiles")
    if not isinstance(profiles, dict):
        return problems
    default = data.get("default_profile", "standard")
    if isinstance(default, str):
        message = default_profile_problem(default, profiles)
        if message:
            problems.append(_line(root, ("default_profile",), message, source))
    for name, raw in profiles.items():
        if not isinstance(raw, dict):
            continue
        steps = raw.get("steps")
        if isinstance(steps, list):
            pairs = [(s.get("name"), s.get("offset_days")) if isinstance(s, dict) else (None, None) for s in steps]
            for problem in ladder_problems(pairs):
                problems.append(_line(root, ("profiles", name, "steps", *problem.loc), str(problem), source))
        spec = raw.get("holidays")
        country = spec.get("country") if isinstance(spec, dict) else spec
        subdivision = spec.get("subdivision") if isinstance(spec, dict) else None
        if isinstance(country, str) and (subdivision is None or isinstance(subdivision, str)):
            message = holiday_problem(country, subdivision)
            if message:
                where = ("holidays", "subdivision" if "subdivision" in message else "country")
                problems.append(_line(root, ("profiles", name, *where), message, source))
    return problems


def _line_number(problem: str) -> int:
    # "FILE:LINE: ..." where FILE may itself contain colons (Windows drive letters).
    head = problem.split(": ", 1)[0]
    number = head.rsplit(":", 1)[-1]
    return int(number) if number.isdigit() else 0


def _spelling_hints(errors: list[Any]) -> dict[Loc, str]:
    """For an unknown key next to a missing one that looks alike: the key that was probably meant."""
    missing: dict[Loc, list[str]] = {}
    for err in errors:
        if err["type"] == "missing" and err["loc"] and isinstance(err["loc"][-1], str):
            missing.setdefault(tuple(err["loc"][:-1]), []).append(err["loc"][-1])
    hints: dict[Loc, str] = {}
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            close = difflib.get_close_matches(loc[-1], missing.get(loc[:-1], []), n=1)
            if close:
                hints[loc] = close[0]
    return hints


def _describe(err: Any, root: Node, source: str, hints: dict[Loc, str]) -> str:
    loc: Loc = tuple(err["loc"])
    message: str = err["msg"]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, LocatedValueError):
        loc += cause.loc
    if err["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    elif err["type"] == "missing":
        message = "required key is missing"
    elif err["type"] == "extra_forbidden":
        hint = hints.get(loc)
        message = f"unknown key (did you mean {hint!r}?)" if hint else "unknown key (misspelt?)"
    return _line(root, loc, message, source)


def _line(root: Node, loc: Loc, message: str, source: str) -> str:
    return f"{source}:{_locate(root, loc)}: {_dotted(loc)}: {message}"


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top)"


def _locate(root: Node, loc: Loc) -> int:
    """Line (1-based) of the deepest node of ``loc`` in the tree: a missing key points at its parent."""
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, MappingNode):
            found = None
            for key, value in node.value:  # the last equal key wins, as in PyYAML's construction
                if isinstance(key, ScalarNode) and key.value == str(part):
                    found = key, value
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _duplicate_keys(node: Node, loc: Loc, source: str) -> list[str]:
    problems: list[str] = []
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else "?"
            line = key.start_mark.line + 1
            if name in seen:
                problems.append(f"{source}:{line}: {_dotted((*loc, name))}: duplicate key (first on line {seen[name]})")
            seen[name] = line
            problems.extend(_duplicate_keys(value, (*loc, name), source))
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            problems.extend(_duplicate_keys(item, (*loc, i), source))
    return problems
