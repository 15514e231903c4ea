"""Qualified names from a module's own import statements.

libcst's `QualifiedNameProvider` costs ~8x the parse (research/perf-baseline.md), so we build a
small alias table instead: every `import`/`from ... import` anywhere in the module maps a local
name to the dotted name it was bound to. Then

    >>> table = ImportTable.from_module(cst.parse_module("import torch.nn as nn\\nfrom torch import optim"))
    >>> table.qualify(cst.parse_expression("nn.Linear"))
    'torch.nn.Linear'
    >>> table.qualify(cst.parse_expression("optim.SGD"))
    'torch.optim.SGD'

A name bound by two different imports is ambiguous and resolves to None (unknown), never to a
guess. Names never imported resolve to themselves (`len` -> 'len', `self.fc` -> 'self.fc').
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

# Well-known modules whose conventional aliases we do not assume: they must be imported.
_AMBIGUOUS = object()


def dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` -> 'a.b.c'; anything else (calls, subscripts) -> None."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def _module_name(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    return dotted(node) or ""


@dataclass
class ImportTable:
    aliases: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_module(cls, module: cst.Module) -> ImportTable:
        table = cls()
        collector = _ImportCollector(table)
        _visit_imports(module.body, collector)
        return table

    def bind(self, local: str, qualified: str) -> None:
        previous = self.aliases.get(local)
        if previous is None or previous == qualified:
            self.aliases[local] = qualified
        else:
            self.aliases[local] = _AMBIGUOUS

    def resolve(self, name: str) -> str | None:
        """Resolve a dotted name string: 'nn.Linear' -> 'torch.nn.Linear'."""
        head, _, rest = name.partition(".")
        target = self.aliases.get(head)
        if target is _AMBIGUOUS:
            return None
        if target is None:
            return name
        assert isinstance(target, str)
        return f"{target}.{rest}" if rest else target

    def qualify(self, node: cst.BaseExpression) -> str | None:
        """The qualified dotted name of an expression, or None if it is not a plain dotted name."""
        name = dotted(node)
        if name is None:
            return None
        return self.resolve(name)

    def imports(self, module_prefix: str) -> bool:
        """Whether anything under `module_prefix` (e.g. 'torch') is imported."""
        for value in self.aliases.values():
            if isinstance(value, str) and (value == module_prefix or value.startswith(module_prefix + ".")):
                return True
        return False


def _visit_imports(body: Sequence[cst.CSTNode], collector: _ImportCollector) -> None:
    """Every import statement, at any depth, found by walking statement bodies only: a libcst
    visitor would walk every expression too, which costs about as much as the parse."""
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import):
                    collector.visit_Import(small)
                elif isinstance(small, cst.ImportFrom):
                    collector.visit_ImportFrom(small)
            continue
        inner = getattr(stmt, "body", None)
        if isinstance(inner, cst.BaseSuite):
            _visit_imports(inner.body if isinstance(inner, cst.IndentedBlock) else [inner], collector)
        orelse = getattr(stmt, "orelse", None)
        if isinstance(orelse, cst.If):
            _visit_imports([orelse], collector)
        elif orelse is not None and isinstance(getattr(orelse, "body", None), cst.BaseSuite):
            _visit_imports([orelse], collector)  # Else: walk its body through the branch above
        for part in (*(getattr(stmt, "handlers", ()) or ()), getattr(stmt, "finalbody", None),
                     *(getattr(stmt, "cases", ()) or ())):
            if part is not None:
                _visit_imports([part], collector)


class _ImportCollector(cst.CSTVisitor):
    def __init__(self, table: ImportTable) -> None:
        self.table = table

    def visit_Import(self, node: cst.Import) -> bool:
        for alias in node.names:
            full = _module_name(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.table.bind(alias.asname.name.value, full)
            else:
                # `import torch.nn` binds `torch`
                head = full.split(".")[0]
                self.table.bind(head, head)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if node.relative:
            return False  # relative imports are the project's own modules; left unresolved
        base = _module_name(node.module)
        if isinstance(node.names, cst.ImportStar):
            return False
        for alias in node.names:
            name = _module_name(alias.name)
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.table.bind(local, f"{base}.{name}" if base else name)
        return False
