"""The sandbox templates run in: Jinja's immutable sandbox, bounded, with plain-dict attribute reads made cheap."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.adapters.render_codegen import DICT_ATTRIBUTES, InlineDictGetattr

__all__ = ["MAX_BUILT_SIZE", "MAX_EXPONENT", "BoundedSandbox"]

#: Largest string or sequence a template expression may build, and largest power it may raise to: a reminder
#: is a few kilobytes; a template author's ``{{ 'x' * 10**10 }}`` must fail, not exhaust the daemon's memory.
MAX_BUILT_SIZE = 100_000
MAX_EXPONENT = 100


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus bounds on ``*`` and ``**`` (the sandbox bounds ``range`` but not these)."""

    intercepted_binops = frozenset(["*", "**"])
    # ``dict_variable.name`` tested inline in the compiled code, the short cut ``getattr`` below takes first.
    code_generator_class = InlineDictGetattr

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # A plain dict instead of Jinja's ChainMap(d, environment.globals): every render and include iterates
        # the globals (set(globals), dict(globals)), and a ChainMap rebuilds a dict to be iterated. Nothing here
        # changes environment.globals after templates are loaded, so a flat copy answers the same.
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        # ``inv.number`` on the context's plain dicts: the sandbox first tries getattr(), which raises
        # AttributeError (costly), then falls back to the key. Same answer without the exception when the
        # name is no attribute of dict (``items``, ``get``... still go the sandbox's way).
        if type(obj) is dict and attribute not in DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is too large for a template")
            return left**right
        sized = left if isinstance(left, str | list | tuple) else right
        times = right if sized is left else left
        if isinstance(sized, str | list | tuple) and isinstance(times, int) and len(sized) * times > MAX_BUILT_SIZE:
            raise SecurityError(f"a template may not build more than {MAX_BUILT_SIZE:,} items with '*'")
        return left * right
