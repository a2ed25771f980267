"""Jinja's code generator with the sandbox's attribute look-up on plain dicts written inline.

Why: templates read ``company.name``, ``inv.amount_due``... a few dozen times per message, and each read was a
call of ``BoundedSandbox.getattr`` that ends in ``obj[attribute]`` (the context holds only plain dicts). For a
variable (``inv.number``, not ``(a or b).number``) the generated code now does that test itself and calls the
sandbox only when it fails: the same answer, the same errors, without the call.
"""

from __future__ import annotations

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame

__all__ = ["InlineDictGetattr"]

#: Attribute names the sandbox must answer for a dict (``items``, ``get``...): never inlined.
DICT_ATTRIBUTES = frozenset(dir(dict))


class InlineDictGetattr(CodeGenerator):
    """Writes ``x.attr`` as ``(x['attr'] if type(x) is dict and 'attr' in x else environment.getattr(x, 'attr'))``.

    Only when ``x`` is a variable (reading it twice more is free of effects and gives the same object) and
    ``attr`` is no attribute of ``dict``: exactly the short cut ``BoundedSandbox.getattr`` takes first.
    """

    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        target = node.node
        if (
            self.environment.is_async
            or not isinstance(target, nodes.Name)
            or target.ctx != "load"
            or not isinstance(node.attr, str)
            or node.attr in DICT_ATTRIBUTES
        ):
            super().visit_Getattr(node, frame)
            return
        attr = repr(node.attr)
        self.write("(")
        self.visit(target, frame)
        self.write(f"[{attr}] if type(")
        self.visit(target, frame)
        self.write(f") is dict and {attr} in ")
        self.visit(target, frame)
        self.write(" else environment.getattr(")
        self.visit(target, frame)
        self.write(f", {attr}))")
