"""Value following for the loss/autograd/device/init rules: "what produced this value?".

One walk of the module records, per scope, every binding of a name (`probs = F.softmax(z, 1)`),
every `self.attr = ...` of a class, parent links and a pre-order index. Rules then ask

    >>> flow.origins(cst.Name("probs"), at=loss_call)      # doctest: +SKIP
    [Call(F.softmax(z, 1))]

`origins` follows names through assignments (the bindings that can reach `at`), `self.x` through
the class's assignments in any method, module globals from functions, and peels value-preserving
method chains (`.squeeze(1)`, `.view(...)`, `.to(device)`), so `torch.sigmoid(out).squeeze(1)` and
`p = torch.sigmoid(out); p = p.view(-1)` both lead to the sigmoid call.

Reaching bindings are approximated, not computed by a full data-flow analysis: walking back from
`at`, bindings are collected until one whose block encloses `at` (it runs on every path to `at`).
A binding inside an `if`/`for`/`try` that does not enclose `at` is collected and the walk goes on,
so both branches of an `if` are candidates. A binding later in a loop body that reaches the next
iteration is not seen. Anything bound by what we do not follow (parameters, `for` targets,
`with ... as`, tuple unpacking of a call, augmented assignment) makes the value unknown: `None`.
Rules act only when every candidate agrees (silence on unknowns).

Why not `bindings.py` alone: it answers "what role does this name have" from *all* bindings of
a name in its scope, which is right for roles (a model stays a model) but not for values that
are rebound: `out = F.softmax(out, 1)` then `out = model(x)` must not reach the loss call. Here
the order of bindings matters, so this module keeps its own ordered, reaching-binding view (and
asks `bindings.py` for roles where a rule needs one, e.g. SC402's optimizer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst

from shapecheck.infer.filefacts import FileFacts
from shapecheck.tree import tree_of

# Methods that keep what a value *is* (its producer) for the questions the rules ask: a squeezed
# sigmoid output is still probabilities, a moved logits tensor is still logits.
TRANSPARENT_METHODS = frozenset(
    {
        "squeeze", "unsqueeze", "view", "reshape", "flatten", "contiguous", "float", "double",
        "half", "bfloat16", "to", "cuda", "cpu", "clone", "view_as", "reshape_as", "type_as",
        "permute", "transpose", "t",
    }
)

SCOPES = (cst.FunctionDef, cst.Module)
BLOCKS = (cst.IndentedBlock, cst.Module, cst.SimpleStatementSuite)


@dataclass
class Binding:
    """`name` bound at `stmt` to `value` (None: bound by something not followed)."""

    name: str
    value: cst.BaseExpression | None
    stmt: cst.CSTNode
    order: int
    always: bool = False  # parameters: bound on every path


@dataclass
class ScopeInfo:
    node: cst.CSTNode
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    params: list[cst.Param] = field(default_factory=list)
    self_name: str | None = None
    owner: cst.ClassDef | None = None  # the class whose method this is
    global_names: set[str] = field(default_factory=set)


class Flow:
    """Bindings, parents and order of one module. Built once per file (`flow_of(ctx)`)."""

    def __init__(self, ctx: FileFacts) -> None:
        self.ctx = ctx
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self.order: dict[cst.CSTNode, int] = {}
        self.scopes: dict[cst.CSTNode, ScopeInfo] = {}
        self.class_attrs: dict[cst.ClassDef, dict[str, list[Binding]]] = {}
        self.classes: dict[str, cst.ClassDef] = {}
        self.calls_by_method: dict[str, list[cst.Call]] = {}
        self.attribute_uses: dict[str, list[cst.Attribute]] = {}
        self.name_uses: dict[str, list[cst.Name]] = {}
        self.fn_returns: dict[cst.CSTNode, list[cst.Return]] = {}
        self.forward_cache: dict[cst.ClassDef, set[str] | None] = {}
        self.functions: dict[str, cst.FunctionDef] | None = None
        _Builder(self).build(ctx.module)

    # -- structure -------------------------------------------------------------------------
    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        cur = self.parents.get(node)
        while cur is not None:
            yield cur
            cur = self.parents.get(cur)

    def is_ancestor(self, anc: cst.CSTNode, node: cst.CSTNode) -> bool:
        return any(a is anc for a in self.ancestors(node))

    def scope_of(self, node: cst.CSTNode) -> ScopeInfo:
        for anc in self.ancestors(node):
            if isinstance(anc, SCOPES):
                return self.scopes[anc]
        return self.scopes[self.ctx.module]

    def function_of(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        for anc in self.ancestors(node):
            if isinstance(anc, cst.FunctionDef):
                return anc
        return None

    def class_of(self, node: cst.CSTNode) -> cst.ClassDef | None:
        """The class whose method (at any depth of nesting within it) contains `node`."""
        for anc in self.ancestors(node):
            if isinstance(anc, cst.ClassDef):
                return anc
        return None

    def statement_of(self, node: cst.CSTNode) -> cst.CSTNode:
        cur: cst.CSTNode | None = node
        while cur is not None:
            if isinstance(cur, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                return cur
            cur = self.parents.get(cur)
        return node

    def block_of(self, stmt: cst.CSTNode) -> cst.CSTNode | None:
        """The block `stmt` runs in, looking through `with` bodies (which always run)."""
        for anc in self.ancestors(stmt):
            if isinstance(anc, BLOCKS):
                owner = self.parents.get(anc)
                if isinstance(owner, cst.With):
                    return self.block_of(owner)
                return anc
        return None

    def loops_around(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        """Enclosing `for`/`while` statements, innermost first, within the same function."""
        out: list[cst.CSTNode] = []
        for anc in self.ancestors(node):
            if isinstance(anc, (cst.For, cst.While)):
                out.append(anc)
            if isinstance(anc, (cst.FunctionDef, cst.Lambda)):
                break
        return out

    def in_body_of(self, node: cst.CSTNode, compound: cst.CSTNode) -> bool:
        """Whether `node` is inside `compound.body` (not its test/iter/orelse)."""
        body = getattr(compound, "body", None)
        return body is not None and (node is body or self.is_ancestor(body, node))

    def under_no_grad(self, node: cst.CSTNode) -> bool:
        """Inside `with torch.no_grad()/inference_mode()/set_grad_enabled(False)` or a function
        decorated with them."""
        for anc in self.ancestors(node):
            if isinstance(anc, cst.With) and self.in_body_of(node, anc):
                for item in anc.items:
                    if self.is_no_grad(item.item):
                        return True
            if isinstance(anc, cst.FunctionDef):
                if any(self.is_no_grad(d.decorator) for d in anc.decorators):
                    return True
        return False

    def is_no_grad(self, expr: cst.BaseExpression) -> bool:
        target = expr.func if isinstance(expr, cst.Call) else expr
        q = self.ctx.qualify(target) or ""
        if q in ("torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.enable_grad"):
            return q != "torch.enable_grad"
        if q in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled") and isinstance(expr, cst.Call):
            return bool(expr.args) and _is_false(expr.args[0].value)
        return False

    # -- bindings --------------------------------------------------------------------------
    def reaching(self, name: str, at: cst.CSTNode) -> list[Binding] | None:
        """The bindings of `name` that may give its value at `at` (None: unknown)."""
        scope = self.scope_of(at)
        binds = scope.bindings.get(name)
        if not binds or name in scope.global_names:
            if isinstance(scope.node, cst.Module):
                return None
            module = self.scopes[self.ctx.module]
            glob = module.bindings.get(name)
            return list(glob) if glob else None
        stmt_order = self.order.get(self.statement_of(at), self.order.get(at, 0))
        preceding = [b for b in binds if b.order < stmt_order]
        if not preceding:
            return None
        out: list[Binding] = []
        for b in reversed(preceding):
            out.append(b)
            if b.always:
                return out
            block = self.block_of(b.stmt)
            if block is not None and (block is self.ctx.module or self.is_ancestor(block, at)):
                return out
            if self._both_branches(out, at):
                return out
        return None  # may be unbound here, or bound by the caller / a previous iteration

    def _both_branches(self, binds: list[Binding], at: cst.CSTNode) -> bool:
        """`if c: p = a` / `else: p = b` before `at`: together they run on every path."""
        for anc in self.ancestors(binds[0].stmt):
            if isinstance(anc, cst.If) and isinstance(anc.orelse, cst.Else):
                body, orelse = anc.body, anc.orelse
                in_body = [b for b in binds if self.is_ancestor(body, b.stmt)]
                in_else = [b for b in binds if self.is_ancestor(orelse, b.stmt)]
                if in_body and in_else and len(in_body) + len(in_else) == len(binds):
                    block = self.block_of(anc)
                    return block is not None and (block is self.ctx.module or self.is_ancestor(block, at))
        return False

    def attr_bindings(self, expr: cst.Attribute, at: cst.CSTNode) -> list[Binding] | None:
        """`self.x` inside a method: every `self.x = ...` of the class (None if none or unknown)."""
        if not isinstance(expr.value, cst.Name):
            return None
        scope = self.scope_of(at)
        if scope.self_name is None or expr.value.value != scope.self_name or scope.owner is None:
            return None
        binds = self.class_attrs.get(scope.owner, {}).get(expr.attr.value)
        return list(binds) if binds else None

    def bindings_of(self, expr: cst.BaseExpression, at: cst.CSTNode) -> list[Binding] | None:
        if isinstance(expr, cst.Name):
            return self.reaching(expr.value, at)
        if isinstance(expr, cst.Attribute):
            return self.attr_bindings(expr, at)
        return None

    def origins(self, expr: cst.BaseExpression, at: cst.CSTNode | None = None, *, peel: bool = True,
                depth: int = 0) -> list[cst.BaseExpression] | None:
        """The expressions that may have produced `expr`'s value, names followed (None: unknown)."""
        if depth > 12:
            return None
        at = at if at is not None else expr
        if peel:
            expr = peel_transparent(expr)
        binds = self.bindings_of(expr, at) if isinstance(expr, (cst.Name, cst.Attribute)) else None
        if binds is None:
            if isinstance(expr, cst.Name):
                return None
            if isinstance(expr, cst.Attribute) and self.is_self_attr(expr, at):
                return None
            return [expr]
        out: list[cst.BaseExpression] = []
        for b in binds:
            if b.value is None:
                return None
            sub = self.origins(b.value, b.value, peel=peel, depth=depth + 1)
            if sub is None:
                return None
            out.extend(sub)
        return out

    def is_self_attr(self, expr: cst.Attribute, at: cst.CSTNode) -> bool:
        scope = self.scope_of(at)
        return isinstance(expr.value, cst.Name) and scope.self_name is not None and expr.value.value == scope.self_name

    def uses_of(self, name: str, scope: ScopeInfo) -> list[cst.Name]:
        """Load-or-store occurrences of `name` inside `scope` (not in nested functions)."""
        return [n for n in self.name_uses.get(name, []) if self.scope_of(n) is scope]

    def method_calls(self, method: str) -> list[cst.Call]:
        """Every `<anything>.method(...)` call in the file."""
        return self.calls_by_method.get(method, [])

    def receiver_name(self, call: cst.Call) -> str | None:
        if isinstance(call.func, cst.Attribute):
            from shapecheck.names import dotted

            return dotted(call.func.value)
        return None

    def local_class(self, expr: cst.BaseExpression) -> cst.ClassDef | None:
        """`Net()` where `class Net` is defined in this file."""
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name):
            return self.classes.get(expr.func.value)
        return None

    def method(self, cls: cst.ClassDef, name: str) -> cst.FunctionDef | None:
        body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else []
        for stmt in body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                return stmt
        return None

    def returns(self, fn: cst.FunctionDef) -> list[cst.Return]:
        """The `return` statements of `fn` itself (not of nested functions)."""
        return self.fn_returns.get(fn, [])

    def is_module_subclass(self, cls: cst.ClassDef, seen: frozenset[str] = frozenset()) -> bool | None:
        """Whether `cls` derives from `torch.nn.Module` (None: a base we cannot see)."""
        if cls.name.value in seen:
            return None
        for base in cls.bases:
            q = self.ctx.qualify(base.value) or ""
            if q.startswith("torch.nn.") or q.startswith("pytorch_lightning.") or q.startswith("lightning."):
                return True
            if isinstance(base.value, cst.Name) and base.value.value in self.classes:
                sub = self.is_module_subclass(self.classes[base.value.value], seen | {cls.name.value})
                if sub is not False:
                    return sub
                continue
            if q in ("object", "Exception", "dict", "list", "tuple", "str", "int", "float"):
                continue
            return None
        return False


def _is_false(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"


def peel_transparent(expr: cst.BaseExpression) -> cst.BaseExpression:
    """`torch.sigmoid(z).squeeze(1).float()` -> `torch.sigmoid(z)`."""
    while (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Attribute)
        and expr.func.attr.value in TRANSPARENT_METHODS
        and not _is_module_path(expr.func.value)
    ):
        expr = expr.func.value
    return expr


def _is_module_path(expr: cst.BaseExpression) -> bool:
    # `torch.t(x)` is a function call, not the method `.t()` on `torch`
    return isinstance(expr, cst.Name) and expr.value in ("torch", "np", "numpy", "F")


def kwarg(call: cst.Call, name: str, pos: int | None = None) -> cst.BaseExpression | None:
    """The argument `name=` of a call, or its `pos`-th positional argument."""
    positional = 0
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == name:
                return arg.value
        elif arg.star:
            return None if pos is not None and positional <= pos else None
        else:
            if pos is not None and positional == pos:
                return arg.value
            positional += 1
    return None


def positional(call: cst.Call) -> list[cst.BaseExpression]:
    out: list[cst.BaseExpression] = []
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            out.append(arg.value)
    return out


def has_star(call: cst.Call) -> bool:
    return any(arg.star for arg in call.args)


def argument_for(fn: cst.FunctionDef, call: cst.Call, name: str, *, bound: bool) -> cst.BaseExpression | None:
    """What `call` passes for parameter `name` of `fn`: the keyword argument, else the positional
    one at the parameter's place (`bound`: called as `self.f(...)`, so `self` is not passed).
    None when nothing visible is passed for it (a default applies, or `*args`/`**kwargs`)."""
    arg = kwarg(call, name)
    if arg is not None:
        return arg
    names = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
    if name not in names or has_star(call):
        return None
    index = names.index(name) - (1 if bound else 0)
    pos = positional(call)
    return pos[index] if 0 <= index < len(pos) else None


def method_name(call: cst.Call) -> str | None:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def literal_number(expr: cst.BaseExpression) -> float | None:
    """`0`, `0.0`, `-1e-2` -> the number; anything else None."""
    sign = 1.0
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        sign, expr = -1.0, expr.expression
    if isinstance(expr, cst.Integer):
        return sign * int(expr.value.replace("_", ""), 0)
    if isinstance(expr, cst.Float):
        return sign * float(expr.value.replace("_", ""))
    return None


def literal_string(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.SimpleString):
        return expr.evaluated_value if isinstance(expr.evaluated_value, str) else None
    return None


_RECORDED = frozenset(
    {
        cst.Name, cst.Call, cst.Assign, cst.AnnAssign, cst.AugAssign, cst.NamedExpr, cst.For, cst.CompFor,
        cst.WithItem, cst.ExceptHandler, cst.Import, cst.ImportFrom, cst.Global, cst.Nonlocal, cst.Return,
    }
)


def flow_of(ctx: FileFacts) -> Flow:
    return ctx.fact("flow", Flow)


class _Builder:
    """One pre-order pass over the shared tree index (`shapecheck.tree`): scopes, bindings,
    class attributes, method calls. Parents and the pre-order index are the tree's own."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.tree = tree_of(flow.ctx)
        self.counter = 0

    def build(self, module: cst.Module) -> None:
        flow, tree = self.flow, self.tree
        flow.parents = tree.parents
        flow.order = tree.order
        flow.scopes[module] = ScopeInfo(module)
        children = tree.children
        order = tree.order
        # (node, scope it is in, class whose body it is directly in)
        stack: list[tuple[cst.CSTNode, ScopeInfo, cst.ClassDef | None]] = [(module, flow.scopes[module], None)]
        while stack:
            node, scope, cls = stack.pop()
            self.counter = order[node] + 1
            child_scope, child_cls = scope, cls
            kind = type(node)
            if kind is cst.FunctionDef:
                child_scope = self._function_scope(node, scope, cls)  # type: ignore[arg-type]
                child_cls = None
                if cls is None:
                    self._bind(scope, node.name.value, None, node)  # type: ignore[attr-defined]
            elif kind is cst.ClassDef:
                flow.classes.setdefault(node.name.value, node)  # type: ignore[attr-defined]
                flow.class_attrs.setdefault(node, {})  # type: ignore[arg-type]
                child_cls = node  # type: ignore[assignment]
                if cls is None:
                    self._bind(scope, node.name.value, None, node)  # type: ignore[attr-defined]
            elif kind is not cst.Module:
                self._record(node, scope, cls)
            for kid in reversed(children[node]):
                stack.append((kid, child_scope, child_cls))

    def _function_scope(self, fn: cst.FunctionDef, outer: ScopeInfo, cls: cst.ClassDef | None) -> ScopeInfo:
        info = ScopeInfo(fn)
        params = [*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params]
        if isinstance(fn.params.star_arg, cst.Param):
            params.append(fn.params.star_arg)
        if fn.params.star_kwarg is not None:
            params.append(fn.params.star_kwarg)
        info.params = params
        owner = cls if cls is not None else outer.owner
        if cls is not None:
            is_static = any(
                isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod")
                for d in fn.decorators
            )
            if params and not is_static:
                info.self_name = params[0].name.value
        elif outer.self_name is not None:
            info.self_name = outer.self_name  # nested closure inside a method sees `self`
        info.owner = owner
        self.flow.scopes[fn] = info
        order = self.counter  # the FunctionDef's own order; params bind before the body
        for p in params:
            info.bindings.setdefault(p.name.value, []).append(Binding(p.name.value, None, fn, order, always=True))
        return info

    def _bind(self, scope: ScopeInfo, name: str, value: cst.BaseExpression | None, stmt: cst.CSTNode,
              *, always: bool = False) -> None:
        scope.bindings.setdefault(name, []).append(Binding(name, value, stmt, self.flow.order.get(stmt, self.counter), always))

    def _bind_target(self, scope: ScopeInfo, target: cst.BaseExpression, value: cst.BaseExpression | None,
                     stmt: cst.CSTNode, cls: cst.ClassDef | None) -> None:
        if isinstance(target, cst.Name):
            self._bind(scope, target.value, value, stmt)
        elif isinstance(target, (cst.Tuple, cst.List)):
            vals: list[cst.BaseExpression | None]
            elems = target.elements
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elems) and not any(
                isinstance(e, cst.StarredElement) for e in [*elems, *value.elements]
            ):
                vals = [e.value for e in value.elements]
            else:
                vals = [None] * len(elems)
            for el, val in zip(elems, vals):
                self._bind_target(scope, el.value, val, stmt, cls)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(scope, target.value, None, stmt, cls)
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            owner = scope.owner
            if owner is not None and scope.self_name == target.value.value:
                attrs = self.flow.class_attrs.setdefault(owner, {})
                attrs.setdefault(target.attr.value, []).append(
                    Binding(target.attr.value, value, stmt, self.flow.order.get(stmt, self.counter))
                )

    def _record(self, node: cst.CSTNode, scope: ScopeInfo, cls: cst.ClassDef | None) -> None:
        # Dispatch on the exact type: libcst node classes are ABCs, so a chain of isinstance
        # checks on every node was the slowest part of the walk.
        kind = type(node)
        if kind not in _RECORDED:
            return
        flow = self.flow
        if kind is cst.Name:
            parent = flow.parents.get(node)
            if not (type(parent) is cst.Attribute and parent.attr is node):  # type: ignore[union-attr]
                flow.name_uses.setdefault(node.value, []).append(node)  # type: ignore[attr-defined]
            return
        if kind is cst.Return:
            flow.fn_returns.setdefault(scope.node, []).append(node)  # type: ignore[arg-type]
            return
        if kind is cst.Call:
            func = node.func  # type: ignore[attr-defined]
            if type(func) is cst.Attribute:
                flow.calls_by_method.setdefault(func.attr.value, []).append(node)  # type: ignore[arg-type]
            return
        if cls is not None:  # directly in a class body: `loss_fn = nn.MSELoss()` is a class attribute
            if kind is cst.Assign:
                for t in node.targets:  # type: ignore[attr-defined]
                    if isinstance(t.target, cst.Name):
                        flow.class_attrs.setdefault(cls, {}).setdefault(t.target.value, []).append(
                            Binding(t.target.value, node.value, node, flow.order[node])  # type: ignore[attr-defined]
                        )
            return
        if isinstance(node, cst.Assign):
            for t in node.targets:
                self._bind_target(scope, t.target, node.value, node, cls)
        elif isinstance(node, cst.AnnAssign):
            if node.value is not None:
                self._bind_target(scope, node.target, node.value, node, cls)
        elif isinstance(node, cst.AugAssign):
            self._bind_target(scope, node.target, None, node, cls)
        elif isinstance(node, cst.NamedExpr):
            self._bind_target(scope, node.target, node.value, self._stmt(node), cls)
        elif isinstance(node, (cst.For, cst.CompFor)):
            self._bind_target(scope, node.target, None, node, cls)
        elif isinstance(node, cst.WithItem):
            if node.asname is not None:
                self._bind_target(scope, node.asname.name, None, self._stmt(node), cls)
        elif isinstance(node, cst.ExceptHandler):
            if node.name is not None:
                self._bind_target(scope, node.name.name, None, node, cls)
        elif isinstance(node, (cst.Import, cst.ImportFrom)):
            names = node.names if not isinstance(node.names, cst.ImportStar) else []
            for alias in names:
                local = alias.evaluated_alias or alias.evaluated_name.split(".")[0]
                self._bind(scope, local, None, node)
        elif isinstance(node, (cst.Global, cst.Nonlocal)):
            for item in node.names:
                scope.global_names.add(item.name.value)

    def _stmt(self, node: cst.CSTNode) -> cst.CSTNode:
        # parents of the current node are already recorded (pre-order)
        return self.flow.statement_of(node)


# -- what a call computes ---------------------------------------------------------------------
# Qualified function -> op. One spelling per op so rules compare short names.
FUNCTION_OPS: dict[str, str] = {
    "torch.softmax": "softmax",
    "torch.nn.functional.softmax": "softmax",
    "torch.special.softmax": "softmax",
    "torch.log_softmax": "log_softmax",
    "torch.nn.functional.log_softmax": "log_softmax",
    "torch.special.log_softmax": "log_softmax",
    "torch.sigmoid": "sigmoid",
    "torch.nn.functional.sigmoid": "sigmoid",
    "torch.special.expit": "sigmoid",
    "torch.log": "log",
    "torch.exp": "exp",
    "torch.sum": "sum",
    "torch.argmax": "argmax",
    "torch.argmin": "argmin",
    "torch.round": "round",
    "torch.floor": "floor",
    "torch.ceil": "ceil",
    "torch.sign": "sign",
    "torch.eq": "compare",
    "torch.ne": "compare",
    "torch.gt": "compare",
    "torch.lt": "compare",
    "torch.ge": "compare",
    "torch.le": "compare",
    "torch.tensor": "tensor",
    "torch.as_tensor": "tensor",
    "torch.Tensor": "tensor",
    "torch.FloatTensor": "tensor",
    "torch.from_numpy": "tensor",
    "torch.nn.functional.cross_entropy": "cross_entropy",
    "torch.nn.functional.nll_loss": "nll_loss",
    "torch.nn.functional.binary_cross_entropy": "binary_cross_entropy",
    "torch.nn.functional.binary_cross_entropy_with_logits": "bce_with_logits",
    "torch.nn.functional.mse_loss": "mse_loss",
    "torch.nn.functional.l1_loss": "l1_loss",
    "torch.nn.functional.smooth_l1_loss": "smooth_l1_loss",
    "torch.nn.functional.huber_loss": "huber_loss",
    "torch.nn.functional.kl_div": "kl_div",
    "torch.nn.functional.cosine_embedding_loss": "cosine_embedding_loss",
    "torch.nn.functional.margin_ranking_loss": "margin_ranking_loss",
    "torch.nn.functional.triplet_margin_loss": "triplet_margin_loss",
    "torch.nn.functional.ctc_loss": "ctc_loss",
    "torch.nn.functional.poisson_nll_loss": "poisson_nll_loss",
    "torch.nn.functional.gaussian_nll_loss": "gaussian_nll_loss",
}

# Module constructor -> the op an instance computes when called.
MODULE_OPS: dict[str, str] = {
    "torch.nn.Softmax": "softmax",
    "torch.nn.LogSoftmax": "log_softmax",
    "torch.nn.Sigmoid": "sigmoid",
    "torch.nn.CrossEntropyLoss": "cross_entropy",
    "torch.nn.NLLLoss": "nll_loss",
    "torch.nn.BCELoss": "binary_cross_entropy",
    "torch.nn.BCEWithLogitsLoss": "bce_with_logits",
    "torch.nn.MSELoss": "mse_loss",
    "torch.nn.L1Loss": "l1_loss",
    "torch.nn.SmoothL1Loss": "smooth_l1_loss",
    "torch.nn.HuberLoss": "huber_loss",
    "torch.nn.KLDivLoss": "kl_div",
    "torch.nn.CosineEmbeddingLoss": "cosine_embedding_loss",
    "torch.nn.MarginRankingLoss": "margin_ranking_loss",
    "torch.nn.TripletMarginLoss": "triplet_margin_loss",
    "torch.nn.CTCLoss": "ctc_loss",
    "torch.nn.PoissonNLLLoss": "poisson_nll_loss",
    "torch.nn.GaussianNLLLoss": "gaussian_nll_loss",
}
for _q, _op in list(MODULE_OPS.items()):
    MODULE_OPS[_q.replace("torch.nn.", "torch.nn.modules.loss.")] = _op

# Tensor method -> op (`x.softmax(1)`, `loss.item()`).
METHOD_OPS: dict[str, str] = {
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    "sigmoid": "sigmoid",
    "log": "log",
    "exp": "exp",
    "sum": "sum",
    "argmax": "argmax",
    "argmin": "argmin",
    "round": "round",
    "floor": "floor",
    "ceil": "ceil",
    "sign": "sign",
    "item": "item",
    "detach": "detach",
    "numpy": "numpy",
    "tolist": "tolist",
    "eq": "compare",
    "ne": "compare",
    "gt": "compare",
    "lt": "compare",
    "ge": "compare",
    "le": "compare",
}

LOSS_OPS = frozenset(
    {
        "cross_entropy", "nll_loss", "binary_cross_entropy", "bce_with_logits", "mse_loss", "l1_loss",
        "smooth_l1_loss", "huber_loss", "kl_div", "cosine_embedding_loss", "margin_ranking_loss",
        "triplet_margin_loss", "ctc_loss", "poisson_nll_loss", "gaussian_nll_loss",
    }
)
# Losses whose second argument is a label, not a value that carries gradient.
LABEL_TARGET_LOSSES = frozenset({"cross_entropy", "nll_loss", "binary_cross_entropy", "bce_with_logits", "ctc_loss"})

LIBRARY_PREFIXES = ("torch.", "numpy.", "np.", "math.")


def op_of(flow: Flow, call: cst.Call, depth: int = 0) -> str | None:
    """The op a call computes: 'softmax' for `F.softmax(z, 1)`, `z.softmax(1)`, `nn.Softmax(1)(z)`
    and `self.act(z)` with `self.act = nn.Softmax(dim=1)`; 'cross_entropy' for `criterion(out, y)`
    with `criterion = nn.CrossEntropyLoss()`. None when unknown."""
    ctx = flow.ctx
    func = call.func
    q = ctx.qualify(func)
    if q is not None and q in FUNCTION_OPS:
        return FUNCTION_OPS[q]
    if isinstance(func, cst.Call):
        inner = ctx.qualify(func.func)
        return MODULE_OPS.get(inner or "")
    if isinstance(func, cst.Name) or (isinstance(func, cst.Attribute) and flow.is_self_attr(func, call)):
        ops = instance_ops(flow, func, call, depth)
        if ops is not None and len(ops) == 1:
            return next(iter(ops))
        return None
    if isinstance(func, cst.Attribute):
        if q is not None and q.startswith(LIBRARY_PREFIXES):
            return None
        return METHOD_OPS.get(func.attr.value)
    return None


def op_at_call_site(flow: Flow, call: cst.Call) -> str | None:
    """The op of `call` when the call *is* that op, seen whole where it is written:
    `torch.sigmoid(z)`, `z.sigmoid()`, `nn.Sigmoid()(z)`, `self.act(z)` with
    `self.act = nn.Sigmoid()`. Not `model(x)` whose `forward` ends in a sigmoid, nor a
    Sequential closed by one: rewriting that call would delete the model from the expression."""
    func = call.func
    q = flow.ctx.qualify(func)
    if q is not None and q in FUNCTION_OPS:
        return FUNCTION_OPS[q]
    if isinstance(func, cst.Call):
        return MODULE_OPS.get(flow.ctx.qualify(func.func) or "")
    if isinstance(func, cst.Name) or (isinstance(func, cst.Attribute) and flow.is_self_attr(func, call)):
        origins = flow.origins(func, call)
        if not origins:
            return None
        ops = {MODULE_OPS.get(flow.ctx.qualify(o.func) or "") if isinstance(o, cst.Call) else None for o in origins}
        return ops.pop() if len(ops) == 1 else None
    if isinstance(func, cst.Attribute):
        if q is not None and q.startswith(LIBRARY_PREFIXES):
            return None
        return METHOD_OPS.get(func.attr.value)
    return None


def instance_ops(flow: Flow, func: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> set[str] | None:
    """What calling the object bound to `func` computes, for every candidate binding."""
    if depth > 4:
        return None
    origins = flow.origins(func, at)
    if not origins:
        return None
    ops: set[str] = set()
    for origin in origins:
        if not isinstance(origin, cst.Call):
            return None
        q = flow.ctx.qualify(origin.func) or ""
        if q in MODULE_OPS:
            ops.add(MODULE_OPS[q])
        elif q == "torch.nn.Sequential":
            layers = positional(origin)
            if not layers or has_star(origin) or not isinstance(layers[-1], cst.Call):
                return None
            last = MODULE_OPS.get(flow.ctx.qualify(layers[-1].func) or "")
            ops.add(last if last is not None else "other")
        elif (cls := flow.local_class(origin)) is not None:
            fwd = forward_ops(flow, cls, depth + 1)
            if fwd is None:
                return None
            ops |= fwd
        elif (peer := project_class(flow, origin.func)) is not None:
            fwd = forward_ops(*peer, depth + 1)
            if fwd is None:
                return None
            ops |= fwd
        else:
            return None
    return ops


def project_class(flow: Flow, func: cst.BaseExpression) -> tuple[Flow, cst.ClassDef] | None:
    """`Net` imported from another file of the project: (that file's Flow, its class)."""
    project = getattr(flow.ctx, "project", None)
    if project is None:
        return None
    q = flow.ctx.qualify(func)
    if q is None or q.startswith(("torch.", "numpy.", "einops.")):
        return None
    found = project.lookup(q)
    if found is None:
        return None
    summary, attr = found
    info = summary.classes.get(attr)
    if info is None:
        return None
    peer = peer_flow(summary, project)
    cls = peer.classes.get(attr)
    return (peer, cls) if cls is not None else None


class _PeerFile:
    """Another file of the project, seen through its summary: enough to build its Flow."""

    def __init__(self, summary: Any, project: Any) -> None:
        self.path = Path(summary.name.replace(".", "/") + ".py")
        self.source = ""
        self.module = summary.module
        self.names = summary.names
        self.project = project
        self._facts: dict[str, Any] = {}

    def fact(self, key: str, build: Callable[[Any], Any]) -> Any:
        if key not in self._facts:
            self._facts[key] = build(self)
        return self._facts[key]

    def qualify(self, node: cst.BaseExpression) -> str | None:
        return self.names.qualify(node)


def peer_flow(summary: Any, project: Any) -> Flow:
    """The Flow of a project file, built once per summary (summaries are cached by the index)."""
    flow = getattr(summary, "_shapecheck_flow", None)
    if flow is None:
        flow = Flow(_PeerFile(summary, project))
        try:
            summary._shapecheck_flow = flow
        except AttributeError:  # pragma: no cover - a summary type with __slots__
            pass
    return flow


def local_function(flow: Flow, func: cst.BaseExpression) -> cst.FunctionDef | None:
    """`helper(...)` where `def helper` is a module-level function of this file."""
    if not isinstance(func, cst.Name):
        return None
    if flow.functions is None:
        flow.functions = {}
        body = flow.ctx.module.body
        for stmt in body:
            if isinstance(stmt, cst.FunctionDef):
                flow.functions[stmt.name.value] = stmt
    fn = flow.functions.get(func.value)
    binds = flow.scopes[flow.ctx.module].bindings.get(func.value) or []
    if any(b.stmt is not fn for b in binds):
        return None  # rebound at module level: not (only) the function
    return fn


def function_ops(flow: Flow, fn: cst.FunctionDef, depth: int = 0) -> set[str] | None:
    """The ops a local helper returns (every return must be known)."""
    if fn in flow.forward_cache:
        return flow.forward_cache[fn]  # type: ignore[index]
    flow.forward_cache[fn] = None  # type: ignore[index]
    rets = flow.returns(fn)
    out: set[str] | None = set() if rets else None
    for ret in rets:
        ops = value_ops(flow, ret.value, ret.value, depth + 1) if ret.value is not None else None
        if ops is None:
            out = None
            break
        out |= ops  # type: ignore[operator]
    flow.forward_cache[fn] = out  # type: ignore[index]
    return out


def forward_ops(flow: Flow, cls: cst.ClassDef, depth: int = 0) -> set[str] | None:
    """The ops the `forward` of a local nn.Module class returns (all returns must be known)."""
    if cls in flow.forward_cache:
        return flow.forward_cache[cls]
    flow.forward_cache[cls] = None  # a cycle (forward calling a model of its own class) is unknown
    result = _forward_ops(flow, cls, depth)
    flow.forward_cache[cls] = result
    return result


def _forward_ops(flow: Flow, cls: cst.ClassDef, depth: int) -> set[str] | None:
    if flow.is_module_subclass(cls) is not True:
        return None
    fn = flow.method(cls, "forward")
    if fn is None:
        return None
    rets = flow.returns(fn)
    if not rets:
        return None
    out: set[str] = set()
    for ret in rets:
        if ret.value is None:
            return None
        ops = value_ops(flow, ret.value, ret.value, depth + 1)
        if ops is None:
            return None
        out |= ops
    return out


def value_ops(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode | None = None, depth: int = 0) -> set[str] | None:
    """The ops that may have produced `expr` ('other' for a known non-matching producer)."""
    if depth > 4:
        return None
    origins = flow.origins(expr, at)
    if origins is None:
        return None
    out: set[str] = set()
    for origin in origins:
        if isinstance(origin, cst.Call):
            op = op_of(flow, origin, depth)
            helper = local_function(flow, origin.func) if op is None else None
            if helper is not None:
                ops = function_ops(flow, helper, depth + 1)
                if ops is None:
                    return None
                out |= ops
                continue
            if op is None and isinstance(origin.func, (cst.Name, cst.Attribute)):
                ops = instance_ops(flow, origin.func, origin, depth + 1) if _followable(flow, origin.func, origin) else None
                if ops is not None:
                    out |= ops
                    continue
            out.add(op or "other")
        else:
            out.add("other")
    return out


def _followable(flow: Flow, func: cst.BaseExpression, at: cst.CSTNode) -> bool:
    return isinstance(func, cst.Name) or (isinstance(func, cst.Attribute) and flow.is_self_attr(func, at))


def origin_call(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode | None, op: str) -> cst.Call | None:
    """The single producer call of `expr` when it is the op `op` (e.g. the softmax call)."""
    origins = flow.origins(expr, at)
    if not origins or len(origins) != 1:
        return None
    origin = origins[0]
    if isinstance(origin, cst.Call) and op_of(flow, origin) == op:
        return origin
    return None


def one_line(*nodes: cst.CSTNode | None) -> bool:
    """Whether every replacement renders on one line. A node rendered on its own loses the
    block indentation of its continuation lines (libcst indents them relative to a block it
    no longer knows), so fixes whose replacement spans lines are not offered."""
    empty = cst.Module(body=[])
    return all(n is None or "\n" not in empty.code_for_node(n) for n in nodes)


def alias_for(ctx: FileFacts, qualified: str) -> str | None:
    """The local spelling of a module in this file: 'F' for torch.nn.functional when the file
    has `import torch.nn.functional as F`, else `torch.nn.functional` when torch is imported."""
    names = ctx.names.aliases
    for local, target in names.items():
        if target == qualified:
            return local
    parent, _, last = qualified.rpartition(".")
    if parent:
        head = alias_for(ctx, parent)
        if head is not None:
            return f"{head}.{last}"
    return None
