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


def positions_of(ctx: Any) -> Any:
    """The file's node positions, computed once and only for files that have something to report."""
    return ctx.fact("positions", lambda c: positions(c.module))


def tree_of(ctx: Any) -> Tree:
    """The file's tree index, built once per file (`ctx` is a `FileContext`)."""
    return ctx.fact("tree", lambda c: Tree.build(c.module))
