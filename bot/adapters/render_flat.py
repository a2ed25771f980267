"""One compiled unit per template part: its layout and its constant includes resolved when it is compiled.

Why: rendered the ordinary way, a reminder builds about eight Jinja contexts (one per part, one more per
``{% include %}``) and looks up the layout and each piece by name on every message; that bookkeeping cost more
than the template code itself. Here ``reminder_1.html.j2`` is compiled together with ``_layout.html.j2`` and
its ``_invoices``/``_bank`` pieces, and renders in one context.

Only shapes whose meaning is provably unchanged are flattened; anything else is refused (``Refused``) and the
part renders the ordinary way:

- ``{% extends "constant" %}`` first in a child that holds nothing else but blocks (and blank text, which
  Jinja drops after ``extends`` anyway), whose blocks all exist in a layout that extends nothing and has no
  nested blocks; no ``super()`` or ``self``. The layout's body is used with the child's blocks in place of its
  own, which is what ``context.blocks`` resolves to when rendering through ``extends``.
- ``{% include "constant" %}`` with context (the default), at the top level, in an ``if`` or in a block (not
  in a loop, macro, call or filter block): the piece's body goes in a new scope, so its ``{% set %}`` stay
  its own as they do in an included template. The piece must use the same autoescaping, hold no block,
  extends, macro, import, call/filter block or scope of its own, read no name the including unit assigns
  (an include sees the caller's locals only as they were at that point), and use none of ``self``,
  ``super``, ``caller``, ``loop``, ``varargs``, ``kwargs``. Its own constant includes are flattened the same way.
  The part's other includes (a computed name, ``without context``, ``ignore missing``) stay as they are: Jinja
  resolves them when rendering, with the same context as before.

Line numbers in the flattened code are those of whichever file a node came from, so the caller re-renders a
part that fails the ordinary way: error messages keep naming the right file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import Environment, nodes

__all__ = ["Dependency", "Refused", "always", "flatten"]

#: (part file name, its source, Jinja's "still up to date" callback for it).
Dependency = tuple[str, str, Callable[[], bool]]

_MAX_DEPTH = 5
# Parsed trees by (lexer, extensions, name, file, source), shared by every renderer; cleared when full rather
# than evicted one by one (a few dozen files in practice). Jinja shares one lexer among environments with the
# same syntax options, so equal keys parse alike.
_PARSED: dict[tuple[Any, ...], nodes.Template] = {}
_PARSED_SIZE = 500
_SPECIAL_NAMES = frozenset({"self", "super", "caller", "loop", "varargs", "kwargs"})
_NOT_IN_PIECES: tuple[type[nodes.Node], ...] = (
    nodes.Extends,
    nodes.Block,
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.Import,
    nodes.FromImport,
    nodes.With,
    nodes.Scope,
    nodes.OverlayScope,
    nodes.EvalContextModifier,
)


class Refused(Exception):
    """This template's shape is not one flattening is known to preserve."""


def flatten(env: Environment, file_name: str) -> tuple[nodes.Template, list[Dependency]]:
    """The AST of ``file_name`` with its layout and constant includes resolved, and every file it read.

    Raises ``Refused`` for shapes left to Jinja, and whatever the loader or the parser raises.
    """
    flat = _Flattener(env, file_name)
    tree = flat.load(file_name)
    body = tree.body
    if any(True for _ in tree.find_all(nodes.Extends)):
        body = flat.apply_layout(body)
    flat.assigned = {name.name for node in body for name in _names(node) if name.ctx != "load"}
    tree = nodes.Template(flat.inline(body, 0), lineno=1)
    tree.set_environment(env)
    return tree, flat.deps


class _Flattener:
    def __init__(self, env: Environment, file_name: str) -> None:
        self.env = env
        self.name = file_name
        self.escape = _autoescape(env, file_name)
        self.deps: list[Dependency] = []
        self.assigned: set[str] = set()

    def load(self, name: str) -> nodes.Template:
        loader = self.env.loader
        if loader is None:
            raise Refused("no loader")
        source, filename, uptodate = loader.get_source(self.env, name)
        self.deps.append((name, source, uptodate or always))
        # Every template that includes a piece parses it again; flattening then rearranges (and the optimizer
        # rewrites) the nodes, so each use gets its own copy of the parsed tree.
        key = (self.env.lexer, tuple(sorted(self.env.extensions)), name, filename, source)
        parsed = _PARSED.get(key)
        if parsed is None:
            parsed = self.env.parse(source, name, filename)
            if len(_PARSED) >= _PARSED_SIZE:
                _PARSED.clear()
            _PARSED[key] = parsed
        copy: nodes.Template = _clone(parsed)
        return copy

    def apply_layout(self, body: list[nodes.Node]) -> list[nodes.Node]:
        first, rest = body[0], body[1:]
        if not isinstance(first, nodes.Extends) or not isinstance(first.template, nodes.Const):
            raise Refused("extends must come first, with a constant name")
        blocks: dict[str, nodes.Block] = {}
        for node in rest:
            if isinstance(node, nodes.Block) and not node.scoped and not node.required:
                blocks[node.name] = node
            elif not _blank(node):
                raise Refused("a child template may hold only blocks")
        for block in blocks.values():
            if any(True for _ in block.find_all(nodes.Block)) or _special(block):
                raise Refused("nested blocks, super() or self in a child block")
        layout_name = first.template.value
        if not isinstance(layout_name, str) or _autoescape(self.env, layout_name) != self.escape:
            raise Refused("layout name or escaping")
        layout = self.load(layout_name)
        if any(True for _ in layout.find_all(nodes.Extends)):
            raise Refused("the layout extends another template")
        own = list(layout.find_all(nodes.Block))
        if any(inner is not outer for outer in own for inner in outer.find_all(nodes.Block)):
            raise Refused("nested blocks in the layout")
        if not set(blocks) <= {b.name for b in own} or any(b.scoped or b.required for b in own):
            raise Refused("child blocks the layout does not have")
        if _special(layout):
            raise Refused("self, super() or caller in the layout")
        return [_replace_blocks(node, blocks) for node in layout.body]

    def inline(self, body: list[nodes.Node], depth: int) -> list[nodes.Node]:
        out: list[nodes.Node] = []
        for node in body:
            if isinstance(node, nodes.Include):
                out.append(self._include(node, depth))
            elif isinstance(node, nodes.If):
                node.body = self.inline(node.body, depth)
                node.elif_ = [self._elif(branch, depth) for branch in node.elif_]
                node.else_ = self.inline(node.else_, depth)
                out.append(node)
            elif isinstance(node, nodes.Block) and not node.scoped:
                node.body = self.inline(node.body, depth)
                out.append(node)
            else:
                out.append(node)
        return out

    def _elif(self, branch: nodes.If, depth: int) -> nodes.If:
        branch.body = self.inline(branch.body, depth)
        return branch

    def _include(self, node: nodes.Include, depth: int) -> nodes.Node:
        name = node.template.value if isinstance(node.template, nodes.Const) else None
        if not isinstance(name, str) or not node.with_context or node.ignore_missing:
            if depth == 0:
                return node  # Jinja includes it when rendering, with this same context, as it always did
            raise Refused("only constant includes with context are flattened in a piece")
        if depth >= _MAX_DEPTH:
            raise Refused("includes nested too deep")
        if _autoescape(self.env, name) != self.escape:
            raise Refused("a piece with other escaping")
        piece = self.load(name)
        _check_piece(piece)
        if any(n.ctx == "load" and n.name in self.assigned for n in piece.find_all(nodes.Name)):
            raise Refused("the piece reads a name the including template assigns")
        outer = self.assigned
        # The piece's own assignments are locals its own includes must not read either.
        self.assigned = outer | {n.name for n in piece.find_all(nodes.Name) if n.ctx != "load"}
        try:
            return nodes.Scope(self.inline(piece.body, depth + 1), lineno=node.lineno)
        finally:
            self.assigned = outer


def _check_piece(piece: nodes.Template) -> None:
    for inner in _walk(piece):
        if isinstance(inner, _NOT_IN_PIECES):
            raise Refused(f"{type(inner).__name__} in an included piece is not flattened")
    if _special(piece):
        raise Refused("self, super(), caller, loop, varargs or kwargs in an included piece")
    # An include the flattening does not reach (in a loop, a set block...) would run with the including
    # template's context instead of the piece's: refuse those pieces.
    reached = {id(node) for node in _reachable_includes(piece.body)}
    if any(id(node) not in reached for node in piece.find_all(nodes.Include)):
        raise Refused("an include inside a loop or a set block in an included piece")


def _reachable_includes(body: list[nodes.Node]) -> Iterator[nodes.Include]:
    for node in body:
        if isinstance(node, nodes.Include):
            yield node
        elif isinstance(node, nodes.If):
            yield from _reachable_includes(node.body)
            for branch in node.elif_:
                yield from _reachable_includes(branch.body)
            yield from _reachable_includes(node.else_)


def _special(tree: nodes.Node) -> bool:
    return any(name.name in _SPECIAL_NAMES for name in tree.find_all(nodes.Name))


def _replace_blocks(node: nodes.Node, blocks: dict[str, nodes.Block]) -> nodes.Node:
    if isinstance(node, nodes.Block):
        return blocks.get(node.name, node)
    for field, value in node.iter_fields():
        if isinstance(value, list):
            setattr(node, field, [_replace_blocks(v, blocks) if isinstance(v, nodes.Node) else v for v in value])
        elif isinstance(value, nodes.Node):
            setattr(node, field, _replace_blocks(value, blocks))
    return node


def _clone(value: Any) -> Any:
    """A deep copy of a parsed tree (nodes, lists of nodes); constants and the environment are shared."""
    if isinstance(value, nodes.Node):
        fields = [_clone(getattr(value, field)) for field in value.fields]
        attributes = {name: getattr(value, name) for name in value.attributes if hasattr(value, name)}
        return type(value)(*fields, **attributes)
    if isinstance(value, list):
        return [_clone(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_clone(item) for item in value)
    return value


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def _names(node: nodes.Node) -> Iterator[nodes.Name]:
    return (n for n in _walk(node) if isinstance(n, nodes.Name))


def _blank(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Output) and all(
        isinstance(n, nodes.TemplateData) and not n.data.strip() for n in node.nodes
    )


def _autoescape(env: Environment, name: str) -> bool:
    return bool(env.autoescape(name) if callable(env.autoescape) else env.autoescape)


def always() -> bool:
    """An ``uptodate`` callback for sources that never change on their own (overrides)."""
    return True
