"""One walk of a module's tree, shared by every analysis of the file.

libcst's visitor machinery rebuilds every node it passes (`_visit_and_replace_children`), which
costs about as much as the parse itself (research/perf-baseline.md; measured here: a no-op
`visit_batched` pass is 1.15x the parse on pytorch/examples). Reading the dataclass fields of
each node directly is ~10x cheaper, so the engine dispatches rules' `visit_<Node>` methods over
this pre-order index, and the analyses (`bindings`, `flow`) read parents and children from it
instead of walking again.

Syntax-only children (whitespace, commas, parentheses, operators' tokens) are left out: no rule
or analysis looks at them.
"""

from __future__ import annotations

import bisect

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

SKIP_FIELDS = frozenset(
    {
        "lpar", "rpar", "comma", "semicolon", "leading_lines", "lines_after_decorators", "header",
        "footer", "newline", "colon", "dot", "equal", "operator", "whitespace", "trailing_whitespace",
        "indent", "first_line", "empty_lines", "between", "lbrace", "rbrace", "lbracket", "rbracket",
        "asynchronous", "star_tok",
    }
)
_FIELDS: dict[type, tuple[str, ...]] = {}
_IS_NODE: dict[type, bool] = {}  # isinstance on libcst's ABCs is slow; one issubclass per type


def child_nodes(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The syntactic children of `node` in field order (close to source order)."""
    names = _FIELDS.get(type(node))
    if names is None:
        names = tuple(
            f.name for f in dataclasses.fields(node) if f.name not in SKIP_FIELDS and "whitespace" not in f.name
        )
        _FIELDS[type(node)] = names
    out: list[cst.CSTNode] = []
    is_node = _IS_NODE
    for name in names:
        value = getattr(node, name)
        t = type(value)
        if t is list or t is tuple:
            for v in value:
                tv = type(v)
                flag = is_node.get(tv)
                if flag is None:
                    flag = is_node[tv] = issubclass(tv, cst.CSTNode)
                if flag:
                    out.append(v)
            continue
        flag = is_node.get(t)
        if flag is None:
            flag = is_node[t] = issubclass(t, cst.CSTNode)
        if flag:
            out.append(value)
    return out


@dataclass(eq=False)
class Tree:
    """Pre-order node list, parent/children maps, pre-order index and nodes by exact type."""

    module: cst.Module
    preorder: list[cst.CSTNode] = field(default_factory=list)
    parents: dict[cst.CSTNode, cst.CSTNode] = field(default_factory=dict)
    children: dict[cst.CSTNode, list[cst.CSTNode]] = field(default_factory=dict)
    order: dict[cst.CSTNode, int] = field(default_factory=dict)
    by_type: dict[type, list[cst.CSTNode]] = field(default_factory=dict)

    @classmethod
    def build(cls, module: cst.Module) -> Tree:
        tree = cls(module)
        preorder, parents, children, order, by_type = (
            tree.preorder, tree.parents, tree.children, tree.order, tree.by_type
        )
        stack: list[cst.CSTNode] = [module]
        while stack:
            node = stack.pop()
            order[node] = len(preorder)
            preorder.append(node)
            by_type.setdefault(type(node), []).append(node)
            kids = child_nodes(node)
            children[node] = kids
            for kid in reversed(kids):
                parents[kid] = node
                stack.append(kid)
        return tree


def positions(module: cst.Module) -> Any:
    """libcst's `PositionProvider` ranges of every node of `module`.

    The provider is run directly: through `MetadataWrapper.resolve` the same ranges cost 1.8x
    as much (measured on pytorch/examples; identical results), and positions are already the
    most expensive fact of a file (a whole-module codegen)."""
    from libcst.metadata import MetadataWrapper, PositionProvider

    provider = PositionProvider()
    try:
        provider._gen_impl(module)
        return provider._computed
    except AttributeError:  # a libcst without these internals: the public way
        return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


class LazyPositions:
    """`positions(module).get(node)` without the whole-module codegen, when the text says where.

    A one-line expression is found in the source by its own code: the k-th expression of its
    type with that code (in source order) is the k-th place the code occurs. Every real occurrence
    is in the text, so when the text holds exactly as many occurrences (overlapping ones
    counted, a match preceded by a name character or `.` or followed by a name character is
    not an expression start; names in imports, which follow `.` in `from ..a.b import c`, are
    left to the provider) as there are such nodes, the two lists map one to one. Anything
    else (names, statements, multi-line nodes, counts that differ because of comments or
    strings) asks libcst's `PositionProvider` for the whole module, once.

    Findings report a handful of nodes; the provider regenerates every node of the file, which
    cost more than the analysis in files with findings (measured: 35 of 106 profiled seconds on
    pytorch/examples + PyG examples).
    """

    _FAST = (cst.Call, cst.Attribute, cst.Subscript, cst.BinaryOperation, cst.Comparison, cst.UnaryOperation,
             cst.BooleanOperation)

    def __init__(self, module: cst.Module, source: str, tree: Tree) -> None:
        self.module = module
        self.source = source
        self.tree = tree
        self._full: Any = None
        self._found: dict[cst.CSTNode, Any] = {}
        self._codes: dict[type, dict[str, list[cst.CSTNode]]] = {}
        self._line_starts: list[int] | None = None
        self._child_order: dict[cst.CSTNode, dict[int, int]] = {}

    def get(self, node: cst.CSTNode) -> Any:
        if node in self._found:
            return self._found[node]
        found = self._fast(node) if type(node) in self._FAST else None
        if found is None:
            if self._full is None:
                self._full = positions(self.module)
            found = self._full.get(node)
        self._found[node] = found
        return found

    def _code(self, node: cst.CSTNode) -> str:
        bare = node.with_changes(lpar=[], rpar=[]) if getattr(node, "lpar", None) or getattr(node, "rpar", None) else node
        return self.module.code_for_node(bare)

    def _fast(self, node: cst.CSTNode) -> Any:
        from libcst.metadata import CodePosition, CodeRange

        code = self._code(node)
        if "\n" in code or "\r" in code or not code or self._in_import(node):
            return None
        by_code = self._codes.get(type(node))
        if by_code is None:
            by_code = self._codes[type(node)] = {}
            for n in self.tree.by_type.get(type(node), ()):
                by_code.setdefault(self._code(n), []).append(n)
        same = by_code.get(code, [])
        starts = self._occurrences(code)
        if len(starts) != len(same) or node not in same:
            return None
        if len(same) > 1:
            same = sorted(same, key=self._source_path)
        at = starts[same.index(node)]
        if self._line_starts is None:
            self._line_starts = [0] + [i + 1 for i, ch in enumerate(self.source) if ch == "\n"]
        line = bisect.bisect_right(self._line_starts, at)
        column = at - self._line_starts[line - 1]
        return CodeRange(CodePosition(line, column), CodePosition(line, column + len(code)))

    def _in_import(self, node: cst.CSTNode) -> bool:
        """`from ..hooks.casting import x`: the only place an expression's text follows a `.`."""
        parents = self.tree.parents
        while node in parents:
            node = parents[node]
            if isinstance(node, (cst.Import, cst.ImportFrom)):
                return True
            if isinstance(node, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                return False
        return False

    def _source_path(self, node: cst.CSTNode) -> tuple[int, ...]:
        """Child indices from the module down to `node`, in source order. The tree index lists
        children in field order, which is not the source order everywhere (a class's body
        comes before its bases); libcst's `children` is in source order."""
        path: list[int] = []
        parents = self.tree.parents
        while node in parents:
            parent = parents[node]
            order = self._child_order.get(parent)
            if order is None:
                order = self._child_order[parent] = {id(c): i for i, c in enumerate(parent.children)}
            path.append(order.get(id(node), -1))
            node = parent
        return tuple(reversed(path))

    def _occurrences(self, code: str) -> list[int]:
        src = self.source
        out: list[int] = []
        i = src.find(code)
        while i != -1:
            before = src[i - 1] if i > 0 else ""
            after = src[i + len(code)] if i + len(code) < len(src) else ""
            if not (before == "." or before.isalnum() or before == "_") and not (
                (code[-1].isalnum() or code[-1] == "_") and (after.isalnum() or after == "_")
            ):
                out.append(i)
            i = src.find(code, i + 1)
        return out


def positions_of(ctx: Any) -> Any:
    """The file's node positions, computed once, lazily, and only for nodes that are reported."""
    return ctx.fact("positions", lambda c: LazyPositions(c.module, c.source, tree_of(c)))


def short_code(node: cst.CSTNode, limit: int = 60) -> str:
    """A node's code on one line, cut to `limit` characters, for messages."""
    text = " ".join(cst.Module(body=[]).code_for_node(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def line_of(ctx: Any) -> Any:
    """`line(node)`: the 1-based line of a node of this file (0 if unknown), for messages that
    name other lines; it shares the file's positions with the engine's report."""
    found = positions_of(ctx)

    def line(node: cst.CSTNode) -> int:
        rng = found.get(node)
        return rng.start.line if rng is not None else 0

    return line


def tree_of(ctx: Any) -> Tree:
    """The file's tree index, built once per file (`ctx` is a `FileContext`)."""
    return ctx.fact("tree", lambda c: Tree.build(c.module))
