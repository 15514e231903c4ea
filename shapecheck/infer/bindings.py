"""Which expressions a name is bound to, and what role (model, optimizer, ...) that makes it.

Built once per file (`ctx.fact("bindings", Bindings.build)`) in one tree walk. For every scope
(the module, each function, each class) it records the bindings of each name: `x = e`,
`x: T = e`, `a, b = e1, e2` (positions matched), `x := e`, `for x in e`, `with e as x`,
`x += e`, parameters, `def`/`class`/`import`; and for each class, the values assigned to
`self.attr` in any of its methods. It also keeps a parent map, so rules can ask for the
enclosing statement, function or class of any node without libcst's ParentNodeProvider.

    import torch.optim as optim
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.5)

    def train(model, opt, loader):
        for x, y in loader:
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()

    optimizer = Net()                       # a misleading name: it is bound to a model
    sgd = optim.SGD(optimizer.parameters(), lr=0.1)
    net = optimizer.to("cuda")
    train(net, sgd, None)

    >>> b = Bindings.build(ctx)
    >>> b.role(<Name optimizer>, at=<Name optimizer>)      # Role.MODEL (what it is bound to)
    >>> b.role(<Name net>, at=...)                         # Role.MODEL (`.to()` keeps the role)
    >>> b.role(<Name opt inside train>, at=...)            # Role.OPTIMIZER (from the call site)
    >>> b.assigned(<Name sgd>, at=...)                     # [<Call optim.SGD(...)>]
    >>> b.stochastic_layers(<Name net>, at=...)            # Stochastic.YES (nn.Dropout in __init__)

Role resolution, in order, for `role(expr, at)`:

1. A call resolves by its callee: `torch.optim.*` (and bitsandbytes/apex/transformers/timm
   optimizers) -> OPTIMIZER; `torch.optim.lr_scheduler.*`, `transformers.get_*schedule*` ->
   SCHEDULER; `torch.nn.*Loss` -> LOSS; other `torch.nn.<Capitalised>` (Sequential, Linear,
   DataParallel...), `torchvision.models.*`, `timm.create_model`, `transformers.*Model*.from_pretrained`
   -> MODEL; `DataLoader` -> LOADER; `GradScaler` -> SCALER; `accelerate.Accelerator` ->
   ACCELERATOR. A class defined in this file resolves through its bases: a subclass (directly
   or through another local class) of `nn.Module`/`LightningModule` is MODEL, or LOSS when
   its bases include a `*Loss` class or its own name ends in `Loss`; of `torch.optim.Optimizer`
   OPTIMIZER; of an lr_scheduler class SCHEDULER.
2. `m.to(...)`, `m.cuda()`, `m.train()`, `torch.compile(m)`, `accelerator.prepare(m)`... keep the
   role of `m`. `a, b = accelerator.prepare(m, o)` binds `a` to `m` and `b` to `o`;
   `engine, opt, _, sched = deepspeed.initialize(...)` binds ENGINE, OPTIMIZER, -, SCHEDULER.
3. A `Name` resolves through its bindings in the enclosing function, then enclosing functions,
   then the module (class bodies are skipped, as Python does); `self.x` through the values
   assigned to `self.x` in the methods of the enclosing class. All candidate bindings must
   agree (bindings to the constant `None` are ignored): `m = Net() if a else get_model()` is
   unknown.
4. A function parameter resolves by (a) its annotation (`model: nn.Module`), else (b) the
   arguments passed to it at every call of the function in this file (all must agree; the
   parameters of `__init__` through the instantiations `Trainer(model, opt)`), else (c) its use
   inside the function: a parameter that is never called itself is an OPTIMIZER when both
   `.zero_grad()` and `.step()` are called on it, or when its `.step()` is the first `.step()`
   after a `backward()` (a scheduler's step comes after the optimizer's; `env.step(action)`
   takes an argument and is ignored); a parameter that is called and on which
   `.eval()`/`.train()`/`.parameters()` is called is a MODEL.
5. Evidence of use: a name whose `.parameters()` is passed to an optimizer constructor
   (`torch.optim.SGD(net.parameters())`) is a MODEL even when it is built by something this
   file cannot see (`net = build_model(cfg)`).

6. A call of a function or method of this file (`build_optimizer(model)`,
   `model.configure_optimizers()`) has the role of what it returns, when every `return` agrees.

Anything else, and every ambiguity, is `None`. Names are never trusted: `optimizer = Net()`
is a model. Known limits: attributes other than `self.x`, values returned from functions of other
files (`model = build(args)` is unknown unless `build` is a known constructor), globals rebound in
other modules, and `setattr` are not followed.
"""

from __future__ import annotations

import builtins
import enum
import re
from collections.abc import Iterator
from typing import TypeVar
from dataclasses import dataclass, field

import libcst as cst

from shapecheck.names import dotted
from shapecheck.tree import Tree, tree_of

N = TypeVar("N", bound=cst.CSTNode)

# ---------------------------------------------------------------------------------------------
# Public types


class Role(enum.Enum):
    """What an object is, for the training-loop and loss rules. Tensors are not a role: their
    facts live in `infer/values.py`."""

    MODEL = "model"
    OPTIMIZER = "optimizer"
    SCHEDULER = "scheduler"
    LOSS = "loss"
    LOADER = "loader"
    SCALER = "scaler"
    ACCELERATOR = "accelerator"
    ENGINE = "engine"  # a DeepSpeed engine: a model that also has backward() and step()


class Stochastic(enum.Enum):
    """Whether a model behaves differently in train and eval mode (Dropout, BatchNorm...)."""

    YES = "yes"
    NO = "no"
    MAYBE = "maybe"  # built from classes we cannot see (imported): assume it may


VALUE_KINDS = frozenset({"assign", "annassign", "with", "unpack", "walrus"})
"""Binding kinds whose value IS the name's value (what `assigned()` returns by default)."""

ALL_KINDS = frozenset(VALUE_KINDS | {"for", "augassign", "param", "def", "class", "import", "unpack-call"})


@dataclass(frozen=True, eq=False)
class Binding:
    """One binding of a name.

    kind: assign | annassign | with | unpack | walrus | for | augassign | param | def | class |
    import | unpack-call. `value` is the bound expression: for `for x in it` the iterable, for
    `x += e` the operand `e`, for `a, b = f()` (kind unpack-call) the call with `index` the
    position, for a parameter its `Param` node, for def/class the definition.
    """

    kind: str
    value: cst.CSTNode
    target: cst.CSTNode
    index: int | None = None


@dataclass(eq=False)
class Scope:
    node: cst.CSTNode  # Module, FunctionDef or ClassDef
    kind: str  # "module" | "function" | "class"
    parent: Scope | None
    names: dict[str, list[Binding]] = field(default_factory=dict)
    params: dict[str, cst.Param] = field(default_factory=dict)
    param_order: list[str] = field(default_factory=list)
    # for classes: values assigned to self.<attr> in any method
    attrs: dict[str, list[Binding]] = field(default_factory=dict)

    def add(self, name: str, binding: Binding) -> None:
        self.names.setdefault(name, []).append(binding)


# ---------------------------------------------------------------------------------------------
# Constructor tables (qualified names -> role)

_MODEL_PREFIXES = ("torchvision.models.", "timm.models.", "torchaudio.models.", "transformers.models.")
_MODEL_CALLS = frozenset({"timm.create_model", "torch.hub.load", "torchvision.models.get_model"})
_OPTIMIZER_PREFIXES = (
    "torch.optim.",
    "bitsandbytes.optim.",
    "apex.optimizers.",
    "torch_optimizer.",
    "deepspeed.ops.adam.",
)
_OPTIMIZER_CALLS = frozenset(
    {
        "transformers.AdamW",
        "transformers.Adafactor",
        "transformers.optimization.AdamW",
        "transformers.optimization.Adafactor",
        "timm.optim.create_optimizer",
        "timm.optim.create_optimizer_v2",
        "bitsandbytes.optim.Adam8bit",
    }
)
_SCALERS = frozenset({"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler"})
_LOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
_ACCELERATORS = frozenset({"accelerate.Accelerator"})
_MODULE_BASES = frozenset(
    {
        "torch.nn.Module",
        "torch.nn.modules.module.Module",
        "pytorch_lightning.LightningModule",
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "pl.LightningModule",
    }
)
_OPTIMIZER_BASES = frozenset({"torch.optim.Optimizer", "torch.optim.optimizer.Optimizer"})
# `m.to(...)` and friends return the module itself
_SELF_RETURNING = frozenset(
    {"to", "cuda", "cpu", "train", "eval", "float", "half", "double", "bfloat16", "requires_grad_", "to_empty", "share_memory"}
)
_WRAPPERS = frozenset({"torch.compile", "torch.jit.script", "torch.jit.trace"})
_NONE = object()
_BUILTINS = frozenset(dir(builtins))


def _nn_member(qname: str) -> str | None:
    """'torch.nn.Linear' -> 'Linear'; 'torch.nn.parallel.DistributedDataParallel' -> 'DistributedDataParallel'."""
    if not qname.startswith("torch.nn."):
        return None
    last = qname.rsplit(".", 1)[-1]
    if qname.startswith(("torch.nn.functional.", "torch.nn.init.", "torch.nn.utils.")):
        return None
    return last if last[:1].isupper() else None


def constructor_role(qname: str) -> Role | None:
    """The role of an object built by calling the class/function `qname` (not a local class)."""
    if qname in _SCALERS:
        return Role.SCALER
    if qname in _LOADERS:
        return Role.LOADER
    if qname in _ACCELERATORS:
        return Role.ACCELERATOR
    if qname.startswith("torch.optim.lr_scheduler.") or qname == "torch.optim.swa_utils.SWALR":
        return Role.SCHEDULER if qname.rsplit(".", 1)[-1][:1].isupper() else None
    if qname.startswith(("transformers.get_", "transformers.optimization.get_")) and "schedule" in qname:
        return Role.SCHEDULER
    if qname == "torch.optim.swa_utils.AveragedModel":
        return Role.MODEL
    if qname in _OPTIMIZER_CALLS:
        return Role.OPTIMIZER
    if qname.startswith(_OPTIMIZER_PREFIXES):
        last = qname.rsplit(".", 1)[-1]
        if last[:1].isupper() and last not in ("Optimizer",) and ".swa_utils." not in qname:
            return Role.OPTIMIZER
        return None
    member = _nn_member(qname)
    if member is not None:
        if member.endswith("Loss"):
            return Role.LOSS
        if member in ("Parameter", "ParameterList", "ParameterDict", "Buffer"):
            return None
        return Role.MODEL
    if qname in _MODEL_CALLS or qname.startswith(_MODEL_PREFIXES):
        last = qname.rsplit(".", 1)[-1]
        # torchvision.models.resnet18 / ResNet; not weights enums (ResNet18_Weights)
        return None if last.endswith("_Weights") else Role.MODEL
    if qname.startswith("transformers.") and qname.endswith(".from_pretrained"):
        cls = qname.rsplit(".", 2)[-2]
        if "Model" in cls or "For" in cls:
            return Role.MODEL
    return None


# Layers whose behaviour depends on train()/eval()
_STOCHASTIC_NN = (
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "AlphaDropout",
    "FeatureAlphaDropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "SyncBatchNorm",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "RReLU",
)
_INSTANCE_NORMS = ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d")
_RNNS = ("LSTM", "GRU", "RNN", "Transformer", "TransformerEncoderLayer", "TransformerDecoderLayer",
         "TransformerEncoder", "TransformerDecoder", "MultiheadAttention")
_FUNCTIONAL_DROPOUT = frozenset(
    f"torch.nn.functional.{n}"
    for n in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")
)


# ---------------------------------------------------------------------------------------------
# Building


class _Builder:
    """One manual walk of the module (libcst's visitor machinery costs ~3x the parse here):
    parent and children maps, scopes and bindings."""

    def __init__(self, bindings: Bindings, tree: Tree) -> None:
        self.b = bindings
        self.tree = tree
        self.scopes: list[Scope] = []
        self._visit = {
            cst.ClassDef: self.visit_ClassDef,
            cst.FunctionDef: self.visit_FunctionDef,
            cst.Assign: self.visit_Assign,
            cst.AnnAssign: self.visit_AnnAssign,
            cst.AugAssign: self.visit_AugAssign,
            cst.NamedExpr: self.visit_NamedExpr,
            cst.For: self.visit_For,
            cst.With: self.visit_With,
            cst.Import: self.visit_Import,
            cst.ImportFrom: self.visit_ImportFrom,
        }

    def run(self, module: cst.Module) -> None:
        s = Scope(module, "module", None)
        self.b.scopes[module] = s
        self.b.module_scope = s
        self.scopes.append(s)
        tree = self.tree
        self.b.parents, self.b.children, self.b.by_type = tree.parents, tree.children, tree.by_type
        children_map = tree.children
        visit = self._visit
        stack: list[tuple[cst.CSTNode, bool]] = [(module, False)]
        while stack:
            node, leaving = stack.pop()
            if leaving:
                self.scopes.pop()
                continue
            handler = visit.get(type(node))
            if handler is not None:
                handler(node)
                if isinstance(node, (cst.ClassDef, cst.FunctionDef)):
                    stack.append((node, True))
            for kid in reversed(children_map[node]):
                stack.append((kid, False))

    # scopes -------------------------------------------------------------------------------
    @property
    def scope(self) -> Scope:
        return self.scopes[-1]

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scope.add(node.name.value, Binding("class", node, node.name))
        if self.scope.kind == "module":
            self.b.classes.setdefault(node.name.value, []).append(node)
        s = Scope(node, "class", self.scope)
        self.b.scopes[node] = s
        self.scopes.append(s)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scope.add(node.name.value, Binding("def", node, node.name))
        if self.scope.kind == "module":
            self.b.functions.setdefault(node.name.value, []).append(node)
        elif self.scope.kind == "class":
            self.b.methods.setdefault((self.scope.node, node.name.value), []).append(node)
        s = Scope(node, "function", self.scope)
        params = node.params
        for p in (*params.posonly_params, *params.params, *params.kwonly_params):
            s.params[p.name.value] = p
            s.param_order.append(p.name.value)
            s.add(p.name.value, Binding("param", p, p.name))
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                s.add(star.name.value, Binding("param", star, star.name))
        self.b.scopes[node] = s
        self.scopes.append(s)

    # bindings -----------------------------------------------------------------------------
    def _bind_target(self, target: cst.BaseExpression, value: cst.BaseExpression, kind: str) -> None:
        if isinstance(target, cst.Name):
            self.scope.add(target.value, Binding(kind, value, target))
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            self._bind_self_attr(target, Binding(kind, value, target))
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = [e.value for e in target.elements]
            if kind in ("assign", "annassign", "with") and isinstance(value, (cst.Tuple, cst.List)):
                values = [e.value for e in value.elements]
                starred = any(isinstance(e, cst.StarredElement) for e in (*target.elements, *value.elements))
                if len(values) == len(elements) and not starred:
                    for t, v in zip(elements, values):
                        self._bind_target(t, v, "unpack")
                    return
            if kind in ("assign", "annassign") and isinstance(value, cst.Call):
                for i, t in enumerate(elements):
                    self._bind_unpack_call(t, value, i)
                return
            sub = "for" if kind == "for" else "unpack-call" if kind != "with" else "with"
            for t in elements:
                self._bind_opaque(t, value, sub)

    def _bind_unpack_call(self, target: cst.BaseExpression, call: cst.Call, index: int) -> None:
        if isinstance(target, cst.Name):
            self.scope.add(target.value, Binding("unpack-call", call, target, index))
        elif isinstance(target, cst.Attribute):
            self._bind_self_attr(target, Binding("unpack-call", call, target, index))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for t in (e.value for e in target.elements):
                self._bind_opaque(t, call, "unpack-call")

    def _bind_opaque(self, target: cst.BaseExpression, value: cst.BaseExpression, kind: str) -> None:
        """Bind every name inside `target` with no positional value (index None)."""
        if isinstance(target, cst.StarredElement):
            target = target.value
        if isinstance(target, cst.Name):
            self.scope.add(target.value, Binding(kind, value, target))
        elif isinstance(target, cst.Attribute):
            self._bind_self_attr(target, Binding(kind, value, target))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for e in target.elements:
                self._bind_opaque(e.value, value, kind)

    def _bind_self_attr(self, target: cst.Attribute, binding: Binding) -> None:
        cls = self.b.method_class_of(self.scope, target.value)
        if cls is not None:
            cls.attrs.setdefault(target.attr.value, []).append(binding)

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self._bind_target(t.target, node.value, "assign")

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind_target(node.target, node.value, "annassign")

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind_target(node.target, node.value, "augassign")

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target, node.value, "walrus")

    def visit_For(self, node: cst.For) -> None:
        self._bind_target(node.target, node.iter, "for")

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            if item.asname is not None:
                self._bind_target(item.asname.name, item.item, "with")

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            local = alias.asname.name if alias.asname is not None else alias.name
            while isinstance(local, cst.Attribute):
                local = local.value
            if isinstance(local, cst.Name):
                self.scope.add(local.value, Binding("import", node, local))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            local = alias.asname.name if alias.asname is not None else alias.name
            if isinstance(local, cst.Name):
                self.scope.add(local.value, Binding("import", node, local))

    # comprehension targets (CompFor) bind nothing outside: they have their own scope


# ---------------------------------------------------------------------------------------------
# The fact


@dataclass(eq=False)
class Bindings:
    module: cst.Module
    names: object  # shapecheck.names.ImportTable
    parents: dict[cst.CSTNode, cst.CSTNode] = field(default_factory=dict)
    children: dict[cst.CSTNode, list[cst.CSTNode]] = field(default_factory=dict)
    by_type: dict[type, list[cst.CSTNode]] = field(default_factory=dict)  # every node, in source order
    scopes: dict[cst.CSTNode, Scope] = field(default_factory=dict)
    module_scope: Scope | None = None
    classes: dict[str, list[cst.ClassDef]] = field(default_factory=dict)
    functions: dict[str, list[cst.FunctionDef]] = field(default_factory=dict)
    methods: dict[tuple[cst.CSTNode, str], list[cst.FunctionDef]] = field(default_factory=dict)
    _calls: dict[str, list[cst.Call]] | None = None
    _owners: set[str] | None = None
    _role_cache: dict[tuple[int, int], Role | None] = field(default_factory=dict)
    _class_cache: dict[tuple[int, int], object] = field(default_factory=dict)
    _calls_by_function: dict[int, list[cst.Call]] | None = None
    _resolving: set[int] = field(default_factory=set)

    @classmethod
    def build(cls, ctx: object) -> Bindings:
        """`ctx` is a `FileContext` (anything with `.module` and `.names`)."""
        b = cls(ctx.module, ctx.names)  # type: ignore[attr-defined]
        _Builder(b, tree_of(ctx)).run(b.module)
        return b

    @classmethod
    def from_source(cls, source: str) -> Bindings:
        """For tests and tools: build from source text."""
        from shapecheck.names import ImportTable

        module = cst.parse_module(source)
        b = cls(module, ImportTable.from_module(module))
        _Builder(b, Tree.build(module)).run(module)
        return b

    # tree navigation -----------------------------------------------------------------------
    def nodes(self, kind: type[N]) -> list[N]:
        """Every node of exactly this type, in source order (`b.nodes(cst.Call)`)."""
        return self.by_type.get(kind, [])  # type: ignore[return-value]

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.parents.get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        p = self.parents.get(node)
        while p is not None:
            yield p
            p = self.parents.get(p)

    def enclosing_function(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        for a in self.ancestors(node):
            if isinstance(a, cst.FunctionDef):
                return a
        return None

    def enclosing_class(self, node: cst.CSTNode) -> cst.ClassDef | None:
        """The class whose method (or body) contains `node` (nested functions included)."""
        for a in self.ancestors(node):
            if isinstance(a, cst.ClassDef):
                return a
        return None

    def scope_at(self, node: cst.CSTNode) -> Scope:
        """The innermost scope containing `node` (a def's own name belongs to the outer scope,
        but its body, parameters and decorators are treated as inside)."""
        if node in self.scopes and not isinstance(node, cst.Module):
            return self.scopes[node]
        for a in self.ancestors(node):
            s = self.scopes.get(a)
            if s is not None:
                return s
        assert self.module_scope is not None
        return self.module_scope

    def method_class_of(self, scope: Scope, receiver: cst.BaseExpression) -> Scope | None:
        """If `receiver` is the first parameter (`self`) of a method, the class scope."""
        s: Scope | None = scope
        while s is not None and s.kind == "function":
            if s.parent is not None and s.parent.kind == "class":
                if (
                    isinstance(receiver, cst.Name)
                    and s.param_order
                    and s.param_order[0] == receiver.value
                    and not _is_staticmethod(s.node)
                ):
                    return s.parent
                return None
            s = s.parent
        return None

    # bindings ------------------------------------------------------------------------------
    def definitions(self, expr: cst.BaseExpression, at: cst.CSTNode) -> list[Binding]:
        """Every binding of a `Name` or `self.attr` visible at `at` (all kinds)."""
        scope = self.scope_at(at)
        if isinstance(expr, cst.Name):
            name = expr.value
            s: Scope | None = scope
            first = True
            while s is not None:
                if s.kind != "class" or first:
                    if name in s.names:
                        return list(s.names[name])
                first = False
                s = s.parent
            return []
        if isinstance(expr, cst.Attribute):
            cls = self.method_class_of(scope, expr.value)
            if cls is not None:
                found = list(cls.attrs.get(expr.attr.value, []))
                # attributes inherited from a local base class
                if not found and isinstance(cls.node, cst.ClassDef):
                    for base in self._local_bases(cls.node):
                        bs = self.scopes.get(base)
                        if bs is not None and expr.attr.value in bs.attrs:
                            return list(bs.attrs[expr.attr.value])
                return found
        return []

    def assigned(
        self, expr: cst.BaseExpression, at: cst.CSTNode, kinds: frozenset[str] = VALUE_KINDS
    ) -> list[cst.BaseExpression]:
        """The candidate values of a `Name` or `self.attr` visible at `at`.

        By default only bindings whose value IS the name's value (`x = e`, `x: T = e`,
        matched unpacking, `with e as x`, `x := e`); pass `kinds=ALL_KINDS` to also get the
        iterable of `for x in it`, the operand of `x += e`, and so on (see `Binding.kind`).
        """
        return [
            b.value
            for b in self.definitions(expr, at)
            if b.kind in kinds and isinstance(b.value, cst.BaseExpression)
        ]

    # classes -------------------------------------------------------------------------------
    def local_class(self, expr: cst.BaseExpression) -> cst.ClassDef | None:
        """The module-level class of this file that `expr` names (exactly one)."""
        if isinstance(expr, cst.Name):
            found = self.classes.get(expr.value, [])
            if len(found) == 1:
                defs = self.module_scope.names.get(expr.value, []) if self.module_scope else []
                if all(d.kind == "class" for d in defs):
                    return found[0]
        return None

    def _local_bases(self, cls: cst.ClassDef) -> list[cst.ClassDef]:
        out = []
        for arg in cls.bases:
            local = self.local_class(arg.value)
            if local is not None and local is not cls:
                out.append(local)
        return out

    def _class_bases(self, cls: cst.ClassDef, seen: set[int] | None = None) -> set[str] | None:
        """Qualified names of the external bases reachable from `cls` (None if unresolvable)."""
        seen = seen if seen is not None else set()
        if id(cls) in seen:
            return set()
        seen.add(id(cls))
        out: set[str] = set()
        for arg in cls.bases:
            if arg.keyword is not None:
                continue
            local = self.local_class(arg.value)
            if local is not None:
                sub = self._class_bases(local, seen)
                if sub is None:
                    return None
                out |= sub
                continue
            q = self.names.qualify(arg.value)  # type: ignore[attr-defined]
            if q is None:
                return None
            out.add(q)
        return out

    def class_role(self, cls: cst.ClassDef) -> Role | None:
        """The role of instances of a class of this file, from its bases."""
        bases = self._class_bases(cls)
        if not bases:
            return None
        names = [b.rsplit(".", 1)[-1] for b in bases]
        if any(b in _OPTIMIZER_BASES for b in bases):
            return Role.OPTIMIZER
        if any(b.startswith("torch.optim.lr_scheduler.") for b in bases):
            return Role.SCHEDULER
        if any(n.endswith("Loss") and (b.startswith("torch.nn.") or b == "_Loss") for b, n in zip(bases, names)):
            return Role.LOSS
        is_module = any(b in _MODULE_BASES or b.endswith(".LightningModule") for b in bases) or any(
            constructor_role(b) is Role.MODEL for b in bases
        )
        if is_module:
            return Role.LOSS if cls.name.value.endswith("Loss") else Role.MODEL
        return None

    def is_module_class(self, cls: cst.ClassDef) -> bool:
        return self.class_role(cls) in (Role.MODEL, Role.LOSS)

    # roles ---------------------------------------------------------------------------------
    def role(self, expr: cst.BaseExpression, at: cst.CSTNode | None = None) -> Role | None:
        """The role of the object `expr` evaluates to at `at` (defaults to `expr` itself)."""
        at = expr if at is None else at
        key = (id(expr), id(at))
        if key in self._role_cache:
            return self._role_cache[key]
        roles = self._roles(expr, at, depth=0)
        result = next(iter(roles)) if len(roles) == 1 and None not in roles else None
        if result is None and roles <= {None} and isinstance(expr, (cst.Name, cst.Attribute)):
            # built by something we cannot see, but its parameters are handed to an optimizer
            if dotted(expr) in self._parameter_owners():
                result = Role.MODEL
        self._role_cache[key] = result
        return result

    def _roles(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int) -> set[Role | None]:
        """Candidate roles; an empty set means "no information" (a cycle), {None} unknown."""
        if depth > 12:
            return {None}
        while isinstance(expr, (cst.Await,)):
            expr = expr.expression
        if isinstance(expr, cst.Call):
            return self._call_roles(expr, at, depth)
        if isinstance(expr, cst.IfExp):
            return self._roles(expr.body, at, depth + 1) | self._roles(expr.orelse, at, depth + 1)
        if isinstance(expr, (cst.Name, cst.Attribute)):
            if isinstance(expr, cst.Attribute) and not isinstance(expr.value, cst.Name):
                return {None}
            marker = id(expr), id(at)
            if marker in self._resolving:
                return set()
            self._resolving.add(marker)
            try:
                return self._name_roles(expr, at, depth)
            finally:
                self._resolving.discard(marker)
        return {None}

    def _name_roles(self, expr: cst.Name | cst.Attribute, at: cst.CSTNode, depth: int) -> set[Role | None]:
        defs = self.definitions(expr, at)
        if not defs:
            return {None}
        out: set[Role | None] = set()
        for d in defs:
            if d.kind in ("assign", "annassign", "walrus", "unpack", "with"):
                value = d.value
                if isinstance(value, cst.Name) and value.value == "None":
                    continue
                assert isinstance(value, cst.BaseExpression)
                out |= self._roles(value, value, depth + 1)
            elif d.kind == "unpack-call" and d.index is not None:
                out |= self._unpack_call_roles(d.value, d.index, depth)  # type: ignore[arg-type]
            elif d.kind == "param":
                out.add(self._param_role(d.value, depth))  # type: ignore[arg-type]
            elif d.kind == "augassign":
                continue  # `x += e` keeps x's kind of object for the objects we track
            else:
                out.add(None)
        return out

    def _unpack_call_roles(self, call: cst.Call, index: int, depth: int) -> set[Role | None]:
        q = self.names.qualify(call.func)  # type: ignore[attr-defined]
        if q == "deepspeed.initialize":
            return {{0: Role.ENGINE, 1: Role.OPTIMIZER, 3: Role.SCHEDULER}.get(index)}
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "prepare":
            if self._roles(call.func.value, call, depth + 1) == {Role.ACCELERATOR}:
                positional = [a for a in call.args if a.keyword is None and not a.star]
                if len(positional) == len(call.args) and index < len(positional):
                    v = positional[index].value
                    return self._roles(v, v, depth + 1)
        return {None}

    def _call_roles(self, call: cst.Call, at: cst.CSTNode, depth: int) -> set[Role | None]:
        func = call.func
        local = self.local_class(func)
        if local is not None:
            return {self.class_role(local)}
        q = self.names.qualify(func)  # type: ignore[attr-defined]
        if q is not None:
            role = constructor_role(q)
            if role is not None:
                return {role}
            if q in _WRAPPERS and call.args:
                v = call.args[0].value
                return self._roles(v, v, depth + 1)
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in _SELF_RETURNING:
                inner = self._roles(func.value, at, depth + 1)
                # only modules keep their role through .to()/.cuda()/...; a tensor is not a role
                if not inner:
                    return set()  # a cycle (`m = m.cuda()`): no information from here
                return inner if inner <= {Role.MODEL, Role.LOSS, Role.ENGINE} else {None}
            if method == "prepare" and len(call.args) == 1 and call.args[0].keyword is None:
                if self._roles(func.value, at, depth + 1) == {Role.ACCELERATOR}:
                    v = call.args[0].value
                    return self._roles(v, v, depth + 1)
        # `nn.DataParallel(model)` etc. are covered by constructor_role (torch.nn.*)
        callee = self._same_file_callee(call)
        if callee is not None:
            return self._return_roles(callee, depth)
        return {None}

    def _same_file_callee(self, call: cst.Call) -> cst.FunctionDef | None:
        """The function of this file a call runs: `build_optimizer(m)`, `self.make_opt()`,
        `model.configure_optimizers()` on an instance of a local class."""
        func = call.func
        if isinstance(func, cst.Name):
            defs = self.definitions(func, call)
            if len(defs) == 1 and defs[0].kind == "def" and isinstance(defs[0].value, cst.FunctionDef):
                return defs[0].value
            return None
        if isinstance(func, cst.Attribute) and isinstance(func.value, (cst.Name, cst.Attribute)):
            cls_scope = self.method_class_of(self.scope_at(call), func.value)
            owner: object = cls_scope.node if cls_scope is not None else self.instance_class(func.value, call)
            if isinstance(owner, cst.ClassDef):
                methods = self.methods.get((owner, func.attr.value), [])
                if len(methods) == 1:
                    return methods[0]
        return None

    def _return_roles(self, func: cst.FunctionDef, depth: int) -> set[Role | None]:
        """The role of what a same-file function returns, when every `return` agrees
        (`def build_optimizer(m): return torch.optim.AdamW(m.parameters())`)."""
        marker = id(func)
        if marker in self._resolving:
            return set()
        self._resolving.add(marker)
        try:
            roles: set[Role | None] = set()
            for node in self._nodes_in(func.body):
                if isinstance(node, cst.Return) and self.enclosing_function(node) is func:
                    if node.value is None:
                        return {None}
                    roles |= self._roles(node.value, node.value, depth + 1)
            return roles if roles else {None}
        finally:
            self._resolving.discard(marker)

    def _parameter_owners(self) -> set[str]:
        """Dotted names `m` whose `m.parameters()` is passed to an optimizer constructor
        (`torch.optim.SGD(m.parameters(), ...)`): evidence that `m` is a model even when it is
        built by a function or class of another file."""
        if self._owners is None:
            owners: set[str] = set()
            for call in self.nodes(cst.Call):
                func = call.func
                if not (isinstance(func, cst.Attribute) and func.attr.value in ("parameters", "named_parameters")):
                    continue
                parent = self.parents.get(call)
                arg_call = self.parents.get(parent) if isinstance(parent, cst.Arg) else None
                if not isinstance(arg_call, cst.Call):
                    continue
                q = self.names.qualify(arg_call.func)  # type: ignore[attr-defined]
                if q is not None and constructor_role(q) is Role.OPTIMIZER:
                    name = dotted(func.value)
                    if name is not None:
                        owners.add(name)
            self._owners = owners
        return self._owners

    # parameters ----------------------------------------------------------------------------
    def _param_role(self, param: cst.Param, depth: int) -> Role | None:
        if param.annotation is not None:
            ann = param.annotation.annotation
            q = self.names.qualify(ann)  # type: ignore[attr-defined]
            if q is not None:
                local = self.local_class(ann)
                if local is not None:
                    return self.class_role(local)
                if q in _MODULE_BASES or q.endswith(".LightningModule"):
                    return Role.MODEL
                if q in _OPTIMIZER_BASES:
                    return Role.OPTIMIZER
                if q in ("torch.optim.lr_scheduler.LRScheduler", "torch.optim.lr_scheduler._LRScheduler"):
                    return Role.SCHEDULER
                role = constructor_role(q)
                if role is not None:
                    return role
        func = self.parents.get(self.parents.get(param))  # Param -> Parameters -> FunctionDef
        if not isinstance(func, cst.FunctionDef):
            return None
        from_calls = self._param_role_from_calls(func, param, depth)
        if from_calls is not _NONE:
            return from_calls  # type: ignore[return-value]
        return self._param_role_from_use(func, param.name.value)

    def _all_calls(self) -> dict[str, list[cst.Call]]:
        if self._calls is None:
            calls: dict[str, list[cst.Call]] = {}
            for node in self.nodes(cst.Call):
                f = node.func
                if isinstance(f, cst.Name):
                    calls.setdefault(f.value, []).append(node)
                elif isinstance(f, cst.Attribute):
                    calls.setdefault("." + f.attr.value, []).append(node)
            self._calls = calls
        return self._calls

    def callers(self, func: cst.FunctionDef) -> list[tuple[cst.Call, bool]]:
        """Calls of `func` in this file: `(call, bound)`, bound when called as `self.f(...)`
        (then the first parameter is not passed). Module functions by name; methods through
        `self.name(...)` in the same class."""
        scope = self.scopes.get(func)
        if scope is None or scope.parent is None:
            return []
        name = func.name.value
        out: list[tuple[cst.Call, bool]] = []
        if scope.parent.kind == "module":
            if len(self.functions.get(name, [])) != 1:
                return []
            for call in self._all_calls().get(name, []):
                # the name must resolve to this def where it is called
                defs = self.definitions(call.func, call)  # type: ignore[arg-type]
                if len(defs) == 1 and defs[0].value is func:
                    out.append((call, False))
        elif scope.parent.kind == "class":
            cls = scope.parent
            if name == "__init__" and isinstance(cls.node, cst.ClassDef) and cls.parent is not None and cls.parent.kind == "module":
                # `Trainer(model, opt)` runs `Trainer.__init__(self, model, opt)`
                cls_name = cls.node.name.value
                for call in self._all_calls().get(cls_name, []):
                    if self.local_class(call.func) is cls.node:
                        out.append((call, True))
                return out
            for call in self._all_calls().get("." + name, []):
                recv = call.func.value  # type: ignore[attr-defined]
                if self.method_class_of(self.scope_at(call), recv) is cls:
                    out.append((call, True))
        return out

    def _param_role_from_calls(self, func: cst.FunctionDef, param: cst.Param, depth: int) -> object:
        scope = self.scopes[func]
        name = param.name.value
        if name not in scope.param_order:
            return _NONE
        pos = scope.param_order.index(name)
        is_kwonly = any(p is param for p in func.params.kwonly_params)
        roles: set[Role | None] = set()
        calls = self.callers(func)
        if not calls:
            return _NONE
        for call, bound in calls:
            index = pos - 1 if bound else pos
            arg_value: cst.BaseExpression | None = None
            if any(a.star for a in call.args):
                return None
            for a in call.args:
                if a.keyword is not None and a.keyword.value == name:
                    arg_value = a.value
            if arg_value is None and not is_kwonly and index >= 0:
                positional = [a for a in call.args if a.keyword is None]
                if index < len(positional):
                    arg_value = positional[index].value
            if arg_value is None:
                if param.default is None:
                    return None
                arg_value = param.default
            roles |= self._roles(arg_value, call, depth + 1)
        return next(iter(roles)) if len(roles) == 1 else None

    def calls_in(self, func: cst.FunctionDef) -> list[cst.Call]:
        """The calls whose innermost enclosing function is `func`, in source order (one pass
        over the file's calls, computed once)."""
        if self._calls_by_function is None:
            by: dict[int, list[cst.Call]] = {}
            for node in self.nodes(cst.Call):
                owner = self.enclosing_function(node)
                if owner is not None:
                    by.setdefault(id(owner), []).append(node)
            self._calls_by_function = by
        return self._calls_by_function.get(id(func), [])

    def _param_role_from_use(self, func: cst.FunctionDef, name: str) -> Role | None:
        """Role of a parameter from what the function does with it (no annotation, no caller
        in this file). OPTIMIZER: `p.zero_grad()` and `p.step()`, or `p.step()` as the first
        `.step()` after a `backward()` (a scheduler's step comes after the optimizer's), with
        `p` never called and no `parameters()`. MODEL: called, and `.eval()`/`.train()`/
        `.parameters()`/`.state_dict()` used."""
        methods: set[str] = set()
        called = False
        first_step_after_backward: str | None = None
        seen_backward = False
        scaled_backward = False  # `name.scale(loss).backward()`
        cleared_and_stepped: dict[str, set[str]] = {}  # receiver -> {zero_grad, step}
        handed_to_scaler = False  # `s.step(name)` / `s.unscale_(name)` with `s` a scaler
        handed_to_optimizer = False  # `SGD(name.parameters())`
        for node in self.calls_in(func):
            f = node.func
            if isinstance(f, cst.Name) and f.value == name:
                called = True
            elif isinstance(f, cst.Attribute):
                recv = f.value
                if isinstance(recv, cst.Name):
                    if recv.value == name:
                        methods.add(f.attr.value)
                    if f.attr.value in ("zero_grad", "step") and not node.args:
                        cleared_and_stepped.setdefault(recv.value, set()).add(f.attr.value)
                if f.attr.value in ("backward", "manual_backward"):
                    seen_backward = True
                    if (
                        isinstance(recv, cst.Call)
                        and isinstance(recv.func, cst.Attribute)
                        and recv.func.attr.value == "scale"
                        and isinstance(recv.func.value, cst.Name)
                        and recv.func.value.value == name
                    ):
                        scaled_backward = True
                elif f.attr.value == "step" and seen_backward and first_step_after_backward is None:
                    if not node.args:
                        first_step_after_backward = recv.value if isinstance(recv, cst.Name) else ""
                    elif self.role(recv, node) is Role.SCALER:
                        first_step_after_backward = ""  # `scaler.step(opt)`: the optimizer stepped
                    # other `x.step(arg)` (an environment, a profiler) are not optimizer steps
                if (
                    f.attr.value in ("step", "unscale_")
                    and len(node.args) == 1
                    and isinstance(node.args[0].value, cst.Name)
                    and node.args[0].value.value == name
                    and recv is not None
                    and not (isinstance(recv, cst.Name) and recv.value == name)
                    and self.role(recv, node) is Role.SCALER
                ):
                    handed_to_scaler = True
                if f.attr.value in ("parameters", "named_parameters") and isinstance(recv, cst.Name) and recv.value == name:
                    parent = self.parents.get(node)
                    ctor = self.parents.get(parent) if isinstance(parent, cst.Arg) else None
                    if isinstance(ctor, cst.Call):
                        q = self.names.qualify(ctor.func)  # type: ignore[attr-defined]
                        handed_to_optimizer = q is not None and constructor_role(q) is Role.OPTIMIZER
        if called or methods & {"parameters", "named_parameters", "forward", "get_last_lr"}:
            if called and methods & {"eval", "train", "parameters", "named_parameters", "state_dict"}:
                return Role.MODEL
            if handed_to_optimizer:
                return Role.MODEL  # `self.opt = SGD(model.parameters())` in a trainer's __init__
            return None
        if scaled_backward and methods & {"step", "update", "unscale_"}:
            return Role.SCALER  # `scaler.scale(loss).backward(); scaler.step(opt); scaler.update()`
        if {"zero_grad", "step"} <= methods or handed_to_scaler:
            return Role.OPTIMIZER
        if first_step_after_backward == name:
            # the first step after backward() is the optimizer's, unless another object here is
            # visibly the optimizer (cleared and stepped): then this one may be a scheduler
            # stepped too early (SC204), or a second optimizer; unknown
            if any(r != name and ms == {"zero_grad", "step"} for r, ms in cleared_and_stepped.items()):
                return None
            return Role.OPTIMIZER
        return None

    def _nodes_in(self, root: cst.CSTNode) -> Iterator[cst.CSTNode]:
        """Nodes under `root` (from the parent map; order unspecified)."""
        # cheap enough: a function's subtree, walked through children
        children = self.children
        stack = [root]
        while stack:
            n = stack.pop()
            yield n
            stack.extend(children.get(n, ()))

    # models --------------------------------------------------------------------------------
    def model_class(self, expr: cst.BaseExpression, at: cst.CSTNode | None = None) -> cst.ClassDef | None | object:
        """The local class a model expression is an instance of; `("external", qualified name,
        constructor call)` when it is built by something outside this file; None when unknown."""
        at = expr if at is None else at
        return self._model_class(expr, at, 0)

    def _model_class(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int) -> object:
        # memoised: rebinding chains (`x = f(x)` many times over) would otherwise be walked
        # once per path, exponentially
        key = (id(expr), id(at))
        if key in self._class_cache:
            return self._class_cache[key]
        self._class_cache[key] = None  # a cycle reads "unknown"
        found = self._model_class_uncached(expr, at, depth)
        self._class_cache[key] = found
        return found

    def instance_class(self, expr: cst.BaseExpression, at: cst.CSTNode) -> cst.ClassDef | None:
        """The class of this file `expr` is an instance of when every binding of it is a direct
        construction (`logger = SampleLogger(1)`, `self.cb = Callback()`); no other flow is
        followed, so this is cheap enough to ask for every method call."""
        if not isinstance(expr, (cst.Name, cst.Attribute)):
            return None
        defs = self.definitions(expr, at)
        if not defs:
            return None
        found: set[int] = set()
        cls: cst.ClassDef | None = None
        for d in defs:
            if d.kind not in ("assign", "annassign") or not isinstance(d.value, cst.Call):
                return None
            cls = self.local_class(d.value.func)
            if cls is None:
                return None
            found.add(id(cls))
        return cls if len(found) == 1 else None

    def _model_class_uncached(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int) -> object:
        if depth > 12:
            return None
        if isinstance(expr, cst.Call):
            local = self.local_class(expr.func)
            if local is not None:
                return local
            q = self.names.qualify(expr.func)  # type: ignore[attr-defined]
            if q is not None and q in _WRAPPERS and expr.args:
                return self._model_class(expr.args[0].value, expr, depth + 1)
            if isinstance(expr.func, cst.Attribute) and expr.func.attr.value in (*_SELF_RETURNING, "prepare"):
                if expr.func.attr.value != "prepare":
                    return self._model_class(expr.func.value, at, depth + 1)
                if len(expr.args) == 1:
                    return self._model_class(expr.args[0].value, expr, depth + 1)
            if q is not None:
                return ("external", q, expr)
            return None
        if isinstance(expr, (cst.Name, cst.Attribute)):
            found: list[object] = []
            for d in self.definitions(expr, at):
                if d.kind in VALUE_KINDS and isinstance(d.value, cst.BaseExpression):
                    if isinstance(d.value, cst.Name) and d.value.value == "None":
                        continue
                    if d.value is expr:
                        continue
                    found.append(self._model_class(d.value, d.value, depth + 1))
                elif d.kind == "unpack-call" and d.index is not None:
                    call = d.value
                    assert isinstance(call, cst.Call)
                    positional = [a for a in call.args if a.keyword is None and not a.star]
                    if isinstance(call.func, cst.Attribute) and call.func.attr.value == "prepare" and d.index < len(positional):
                        v = positional[d.index].value
                        found.append(self._model_class(v, v, depth + 1))
                    else:
                        found.append(None)
                elif d.kind == "param":
                    param = d.value
                    func = self.parents.get(self.parents.get(param))
                    if isinstance(param, cst.Param) and param.annotation is not None:
                        local = self.local_class(param.annotation.annotation)
                        if local is not None:
                            found.append(local)
                            continue
                    if isinstance(func, cst.FunctionDef) and isinstance(param, cst.Param):
                        found.extend(self._param_model_classes(func, param, depth))
                    else:
                        found.append(None)
                else:
                    found.append(None)
            if found and all(f is not None and f == found[0] for f in found):
                return found[0]
            return None
        return None

    def _param_model_classes(self, func: cst.FunctionDef, param: cst.Param, depth: int) -> list[object]:
        scope = self.scopes[func]
        name = param.name.value
        pos = scope.param_order.index(name) if name in scope.param_order else -1
        out: list[object] = []
        calls = self.callers(func)
        if not calls:
            return [None]
        for call, bound in calls:
            index = pos - 1 if bound else pos
            value: cst.BaseExpression | None = None
            for a in call.args:
                if a.keyword is not None and a.keyword.value == name:
                    value = a.value
            positional = [a for a in call.args if a.keyword is None and not a.star]
            if value is None and 0 <= index < len(positional):
                value = positional[index].value
            out.append(self._model_class(value, call, depth + 1) if value is not None else None)
        return out

    def stochastic_layers(self, expr: cst.BaseExpression, at: cst.CSTNode | None = None) -> Stochastic:
        """Whether the model `expr` has layers that behave differently in eval mode.

        YES: its class (or a local class it builds, or a local base) creates `nn.Dropout*`,
        `nn.BatchNorm*`, `nn.InstanceNorm*(track_running_stats=True)`, RNNs/Transformers with
        dropout, or calls `F.dropout*` without `training=False`. NO: a local class that builds
        only known deterministic `torch.nn` layers, or plain layers of other libraries
        (`GCNConv(16, 32)`: see `_imported_layer_stochastic`). MAYBE: the class is not in this
        file (torchvision models, `timm.create_model`, parameters from unknown callers), or it
        builds blocks we cannot see (`Encoder(cfg)` from another module).
        """
        cls = self.model_class(expr, at)
        if isinstance(cls, cst.ClassDef):
            return self.class_stochastic(cls)
        if isinstance(cls, tuple) and cls[0] == "external":
            if _nn_member(cls[1]) is not None:
                # `nn.Sequential(nn.Linear(...), nn.ReLU())`, `nn.LSTM(..., dropout=0.2)`: the
                # constructor call shows the layers
                return self._scan_stochastic(cls[2], set(), set())
        if cls is None:
            # `model = MLP(cfg)` or `model = RNN(cfg)` depending on a flag: when every candidate
            # is a class of this file, none of which has such layers, the model has none
            classes = self._candidate_classes(expr, at, 0)
            if classes and all(self.class_stochastic(c) is Stochastic.NO for c in classes):
                return Stochastic.NO
        return Stochastic.MAYBE

    def _candidate_classes(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int) -> list[cst.ClassDef] | None:
        """Every local class `expr` may be an instance of (through `.to()`-style chains,
        assignments and the arguments same-file callers pass); None when any candidate is not
        a class of this file."""
        if depth > 4:
            return None
        while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in _SELF_RETURNING:
            expr = expr.func.value
        if isinstance(expr, cst.Call):
            local = self.local_class(expr.func)
            return [local] if local is not None else None
        if not isinstance(expr, cst.Name):
            return None
        out: list[cst.ClassDef] = []
        defs = self.definitions(expr, at)
        if not defs:
            return None
        for d in defs:
            if d.kind in ("assign", "annassign") and isinstance(d.value, cst.BaseExpression):
                sub = self._candidate_classes(d.value, d.value, depth + 1)
            elif d.kind == "param" and isinstance(d.value, cst.Param):
                func = self.parents.get(self.parents.get(d.value))
                if not isinstance(func, cst.FunctionDef):
                    return None
                sub = []
                scope = self.scopes[func]
                name = d.value.name.value
                pos = scope.param_order.index(name) if name in scope.param_order else -1
                callers = self.callers(func)
                if not callers:
                    return None
                for call, bound in callers:
                    value = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == name), None)
                    positional = [a for a in call.args if a.keyword is None and not a.star]
                    index = pos - 1 if bound else pos
                    if value is None and 0 <= index < len(positional):
                        value = positional[index].value
                    more = self._candidate_classes(value, call, depth + 1) if value is not None else None
                    if more is None:
                        return None
                    sub.extend(more)
            else:
                return None
            if sub is None:
                return None
            out.extend(c for c in sub if c not in out)
        return out

    def class_stochastic(self, cls: cst.ClassDef, seen: set[int] | None = None) -> Stochastic:
        seen = seen if seen is not None else set()
        if id(cls) in seen:
            return Stochastic.NO
        seen.add(id(cls))
        verdict = Stochastic.NO
        bases = self._class_bases(cls)
        if bases is None:
            return Stochastic.MAYBE
        for b in bases:
            if b not in _MODULE_BASES and not b.endswith(".LightningModule") and b != "object":
                member = _nn_member(b)
                if member is None:
                    return Stochastic.MAYBE
                v = self._nn_call_stochastic(member, None)
                if v is not Stochastic.NO:
                    return v
        for base in self._local_bases(cls):
            v = self.class_stochastic(base, seen)
            if v is Stochastic.YES:
                return v
            if v is Stochastic.MAYBE:
                verdict = Stochastic.MAYBE
        v = self._scan_stochastic(cls, seen, set())
        if v is Stochastic.YES:
            return v
        if v is Stochastic.MAYBE:
            verdict = Stochastic.MAYBE
        return verdict

    def _nn_call_stochastic(self, member: str, call: cst.Call | None) -> Stochastic:
        if member.startswith(_STOCHASTIC_NN):
            return Stochastic.YES
        if member in _INSTANCE_NORMS:
            if call is None:
                return Stochastic.MAYBE
            for a in call.args:
                if a.keyword is not None and a.keyword.value == "track_running_stats":
                    return Stochastic.NO if _is_false(a.value) else Stochastic.YES
            return Stochastic.NO
        if member in _RNNS:
            if call is None:
                return Stochastic.MAYBE
            for a in call.args:
                if a.keyword is not None and a.keyword.value == "dropout":
                    return Stochastic.NO if _is_zero(a.value) else Stochastic.YES
            # Transformer layers default to dropout=0.1; RNNs to 0
            return Stochastic.YES if member.startswith("Transformer") else Stochastic.NO
        if member in ("Sequential", "ModuleList", "ModuleDict", "DataParallel", "DistributedDataParallel"):
            return Stochastic.NO if call is not None else Stochastic.MAYBE  # contents scanned separately
        return Stochastic.NO

    def _scan_stochastic(self, root: cst.CSTNode, seen_classes: set[int], seen_funcs: set[int]) -> Stochastic:
        verdict = Stochastic.NO
        for node in self._nodes_in(root):
            if not isinstance(node, cst.Call):
                continue
            local_cls = self.local_class(node.func)
            if local_cls is not None:
                if self.is_module_class(local_cls):
                    v = self.class_stochastic(local_cls, seen_classes)
                    if v is Stochastic.YES:
                        return v
                    if v is Stochastic.MAYBE:
                        verdict = Stochastic.MAYBE
                continue
            if isinstance(node.func, cst.Name) and node.func.value in self.functions:
                fdefs = self.functions[node.func.value]
                if len(fdefs) == 1 and id(fdefs[0]) not in seen_funcs:
                    seen_funcs.add(id(fdefs[0]))
                    v = self._scan_stochastic(fdefs[0], seen_classes, seen_funcs)
                    if v is Stochastic.YES:
                        return v
                    if v is Stochastic.MAYBE:
                        verdict = Stochastic.MAYBE
                continue
            q = self.names.qualify(node.func)  # type: ignore[attr-defined]
            if q is None:
                continue
            if q in _FUNCTIONAL_DROPOUT:
                training = next((a.value for a in node.args if a.keyword and a.keyword.value == "training"), None)
                if training is None or not _is_false(training):
                    return Stochastic.YES
                continue
            member = _nn_member(q)
            if member is not None:
                v = self._nn_call_stochastic(member, node)
                if v is Stochastic.YES:
                    return v
                if v is Stochastic.MAYBE:
                    verdict = Stochastic.MAYBE
                continue
            role = constructor_role(q)
            if role is Role.MODEL:  # torchvision/timm backbone inside: assume it may
                verdict = Stochastic.MAYBE
            elif q not in _BUILTINS and not q.startswith(("torch.", "typing.", "collections.", "numpy.")) and q.rsplit(".", 1)[-1][:1].isupper():
                # an imported class (`self.encoder = Encoder(...)` from another module): may have them;
                # lowercase helpers (`make_layer(...)`) are not followed and assumed not to
                v = _imported_layer_stochastic(q.rsplit(".", 1)[-1], node)
                if v is Stochastic.YES:
                    return v
                if v is Stochastic.MAYBE:
                    verdict = Stochastic.MAYBE
        return verdict


_DROPOUT_KWARGS = frozenset(
    {"dropout", "drop", "p_drop", "drop_rate", "dropout_rate", "dropout_p", "drop_prob", "attn_drop", "proj_drop",
     "attn_dropout", "drop_path", "drop_path_rate", "attention_dropout", "hidden_dropout"}
)
_MODE_DEPENDENT_NAME = re.compile(r"Dropout|BatchNorm|BN|Norm(?!.*(Layer|RMS))")
_PLAIN_LAYER_NAME = re.compile(r"(Conv|Linear|Embedding|Pool|Pooling|Aggregation|Aggr)(\d?d?)?$")


def _imported_layer_stochastic(name: str, call: cst.Call) -> Stochastic:
    """An imported layer class built inside a model of this file (`GCNConv(16, 32)`,
    `GATConv(8, 8, dropout=0.6)`, `Encoder(cfg)`): YES with a non-zero dropout argument, NO with
    a zero one, MAYBE for blocks named like norms/dropout or blocks we know nothing about, NO for
    plain layers of graph/vision libraries (`*Conv`, `*Linear`, `*Pool`...), which have no
    mode-dependent behaviour unless given a dropout."""
    for a in call.args:
        if a.keyword is not None and a.keyword.value in _DROPOUT_KWARGS:
            if isinstance(a.value, (cst.Integer, cst.Float)):
                return Stochastic.NO if _is_zero(a.value) else Stochastic.YES
            return Stochastic.YES if not _is_false(a.value) else Stochastic.NO
    if name in ("LayerNorm", "RMSNorm") or name.endswith(("LayerNorm", "RMSNorm")):
        return Stochastic.NO
    if _MODE_DEPENDENT_NAME.search(name):
        return Stochastic.MAYBE
    if _PLAIN_LAYER_NAME.search(name):
        return Stochastic.NO
    return Stochastic.MAYBE


def _is_false(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"


def _is_zero(node: cst.BaseExpression) -> bool:
    return (isinstance(node, cst.Integer) and int(node.value, 0) == 0) or (
        isinstance(node, cst.Float) and float(node.value) == 0.0
    )


def _is_staticmethod(func: cst.CSTNode) -> bool:
    if not isinstance(func, cst.FunctionDef):
        return False
    return any(isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod") for d in func.decorators)
