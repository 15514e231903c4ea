"""The event trees the training-loop analysis (`shapecheck.infer.loops`) interprets.

Each function body, the module body and each loop body is turned into a small tree of *events*
(`Ev`) that keeps the control flow that matters: sequences, `if` branches (`Branch`), loops
(`Loop`, may run 0..n times), `try` (`Try`) and exits (`return`/`break`/`continue`/`raise`).
Calls of functions and methods defined in this file are inlined (up to 3 levels, cycles cut),
with their parameters renamed to the caller's arguments, so a helper that zeroes gradients or
sets `model.train()` counts where it is called. That covers `self.helper()`, methods of objects of
plain classes of this file (`logger.on_epoch_end(model)`: `self` becomes `logger`) and callbacks:
`cb(model)` with `cb` a parameter every same-file caller binds to a function of this file, or
iterating a list of such functions (each candidate is one arm of a `Branch`).

Events (what a call means, decided by the role of its receiver, never its name):

    loss.backward() / scaler.scale(loss).backward() / accelerator.backward(loss)   backward
    optimizer.step() / scaler.step(optimizer)                                       step
    optimizer.step(closure)  (LBFGS)                                                closure-step
    optimizer.zero_grad() / model.zero_grad() / p.grad = None / p.grad.zero_()      zero
    scheduler.step()                                                                sched
    model.eval() / model.train(False)        eval      model.train()               train
    model(x)                                                                        model-call
    torch.autograd.grad(...)                                                        grad

`flat()` lists a tree's events in source order, with their loop depth relative to the tree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst

from shapecheck.infer.bindings import Bindings, Role
from shapecheck.names import dotted

MAX_INLINE_DEPTH = 3

# ---------------------------------------------------------------------------------------------
# The event tree


@dataclass(eq=False)
class Ev:
    """One event. `node`: the call (or assignment) itself; `site`: the node in the analysed body
    that leads to it (the same node, or the call of the helper that contains it); `key`: the
    receiver as dotted text with helper parameters renamed (`optimizer`, `self.opt`)."""

    kind: str
    node: cst.CSTNode
    site: cst.CSTNode
    key: str | None = None
    role: Role | None = None


@dataclass(eq=False)
class Seq:
    items: list[Item] = field(default_factory=list)


@dataclass(eq=False)
class Branch:
    arms: list[Seq]


@dataclass(eq=False)
class Loop:
    node: cst.CSTNode  # For / While (in this file)
    body: Seq
    orelse: Seq


@dataclass(eq=False)
class Try:
    body: Seq
    handlers: list[Seq]
    orelse: Seq
    final: Seq


@dataclass(eq=False)
class Exit:
    kind: str  # return | break | continue | raise


@dataclass(eq=False)
class Inline:
    """A helper's body inlined at a call: its `return`s end the helper, not the caller."""

    site: cst.CSTNode
    body: Seq


Item = Ev | Branch | Loop | Try | Exit | Inline | Seq


@dataclass(frozen=True)
class Flat:
    ev: Ev
    depth: int  # loops between the analysed body and the event (0: in this iteration)
    index: int


def flat(seq: Seq) -> list[Flat]:
    """Events in source order, with their loop depth relative to `seq`."""
    out: list[Flat] = []

    def walk(item: Item, depth: int) -> None:
        if isinstance(item, Ev):
            out.append(Flat(item, depth, len(out)))
        elif isinstance(item, Seq):
            for it in item.items:
                walk(it, depth)
        elif isinstance(item, Branch):
            for arm in item.arms:
                walk(arm, depth)
        elif isinstance(item, Loop):
            walk(item.body, depth + 1)
            walk(item.orelse, depth)
        elif isinstance(item, Try):
            for part in (item.body, *item.handlers, item.orelse, item.final):
                walk(part, depth)
        elif isinstance(item, Inline):
            walk(item.body, depth)

    walk(seq, 0)
    return out


# ---------------------------------------------------------------------------------------------
# Building trees from statements

_GRAD_CLEARING_METHODS = frozenset({"zero_", "fill_", "detach_", "zero_grad", "requires_grad_"})


class TreeBuilder:
    """Turns statements into event trees, inlining same-file helpers."""

    def __init__(self, bindings: Bindings, names: object, *, traffic: bool = False) -> None:
        self.b = bindings
        self.names = names
        self.loops: dict[int, Loop] = {}
        # host-device traffic events (`shapecheck.infer.accelerator`): off for the loop-order
        # rules, which never read them
        self.traffic = traffic

    # public ------------------------------------------------------------------------------
    def body(self, node: cst.CSTNode) -> Seq:
        """The tree of a function, module or loop body."""
        if isinstance(node, cst.Module):
            return self._stmts(node.body, {}, (), None)
        if isinstance(node, (cst.FunctionDef, cst.For, cst.While)):
            return self._block(node.body, {}, (), None)
        raise TypeError(type(node))

    # statements --------------------------------------------------------------------------
    def _block(self, block: cst.BaseSuite, subst: dict[str, str], stack: tuple[int, ...], site: cst.CSTNode | None) -> Seq:
        if isinstance(block, cst.IndentedBlock):
            return self._stmts(block.body, subst, stack, site)
        if isinstance(block, cst.SimpleStatementSuite):
            seq = Seq()
            for small in block.body:
                self._small(small, seq, subst, stack, site)
            return seq
        return Seq()

    def _stmts(self, stmts: Sequence[cst.BaseStatement], subst: dict[str, str], stack: tuple[int, ...], site: cst.CSTNode | None) -> Seq:
        seq = Seq()
        for st in stmts:
            self._stmt(st, seq, subst, stack, site)
        return seq

    def _stmt(self, st: cst.CSTNode, seq: Seq, subst: dict[str, str], stack: tuple[int, ...], site: cst.CSTNode | None) -> None:
        if isinstance(st, cst.SimpleStatementLine):
            for small in st.body:
                self._small(small, seq, subst, stack, site)
        elif isinstance(st, cst.If):
            self._expr(st.test, seq, subst, stack, site)
            if self.traffic:
                seq.items.append(Ev("truth", st.test, site or st))
            orelse = Seq()
            if isinstance(st.orelse, cst.If):
                self._stmt(st.orelse, orelse, subst, stack, site)
            elif isinstance(st.orelse, cst.Else):
                orelse = self._block(st.orelse.body, subst, stack, site)
            seq.items.append(Branch([self._block(st.body, subst, stack, site), orelse]))
        elif isinstance(st, (cst.For, cst.While)):
            self._expr(st.iter if isinstance(st, cst.For) else st.test, seq, subst, stack, site)
            orelse = self._block(st.orelse.body, subst, stack, site) if st.orelse else Seq()
            seq.items.append(Ev("loop-start", st, site or st))
            loop = Loop(st, self._block(st.body, subst, stack, site), orelse)
            if site is None:
                self.loops[id(st)] = loop  # the loop's own tree, reused by the per-loop rules
            owner = _parameters_owner(st) if isinstance(st, cst.For) else None
            if owner is not None and isinstance(st.target, cst.Name):  # type: ignore[union-attr]
                var = st.target.value  # type: ignore[union-attr]
                if any(f.ev.kind == "manual-step" and f.ev.key == var for f in flat(loop.body)):
                    # `for p in model.parameters(): p.data.add_(-lr * p.grad)`: one manual SGD
                    # step of `model`, at the level of the loop that trains it
                    seq.items.append(Ev("manual-step", st, site or st, self._key(owner, subst)))
            seq.items.append(loop)
            seq.items.append(Ev("loop-end", st, site or st))
        elif isinstance(st, cst.With):
            for item in st.items:
                self._expr(item.item, seq, subst, stack, site)
            seq.items.append(self._block(st.body, subst, stack, site))
        elif isinstance(st, cst.Try):
            seq.items.append(
                Try(
                    self._block(st.body, subst, stack, site),
                    [self._block(h.body, subst, stack, site) for h in st.handlers],
                    self._block(st.orelse.body, subst, stack, site) if st.orelse else Seq(),
                    self._block(st.finalbody.body, subst, stack, site) if st.finalbody else Seq(),
                )
            )
        elif isinstance(st, (cst.FunctionDef, cst.ClassDef)):
            return  # definitions run nothing
        elif isinstance(st, cst.Match):
            arms = [self._block(c.body, subst, stack, site) for c in st.cases]
            seq.items.append(Branch([*arms, Seq()]))

    def _small(self, small: cst.BaseSmallStatement, seq: Seq, subst: dict[str, str], stack: tuple[int, ...], site: cst.CSTNode | None) -> None:
        if isinstance(small, cst.Return):
            if small.value is not None:
                self._expr(small.value, seq, subst, stack, site)
            seq.items.append(Exit("return"))
        elif isinstance(small, cst.Break):
            seq.items.append(Exit("break"))
        elif isinstance(small, cst.Continue):
            seq.items.append(Exit("continue"))
        elif isinstance(small, cst.Raise):
            if small.exc is not None:
                self._expr(small.exc, seq, subst, stack, site)
            seq.items.append(Exit("raise"))
        elif isinstance(small, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
            value = small.value
            if value is not None:
                self._expr(value, seq, subst, stack, site)
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
            for t in targets:
                if isinstance(t, cst.Attribute) and t.attr.value == "grad":
                    seq.items.append(Ev("zero", small, site or small, self._key(t.value, subst)))
            if isinstance(small, cst.AugAssign) and isinstance(small.operator, (cst.SubtractAssign, cst.AddAssign)):
                tensor = _updated_with_own_grad(small.target, small.value)
                if tensor is not None:
                    seq.items.append(Ev("manual-step", small, site or small, self._key(tensor, subst)))
        elif isinstance(small, cst.Del):
            t = small.target
            if isinstance(t, cst.Attribute) and t.attr.value == "grad":
                seq.items.append(Ev("zero", small, site or small, None))
        elif isinstance(small, cst.Expr):
            self._expr(small.value, seq, subst, stack, site)
        elif isinstance(small, cst.Assert) and self.traffic:
            self._expr(small.test, seq, subst, stack, site)
            seq.items.append(Ev("truth", small.test, site or small))

    # expressions -------------------------------------------------------------------------
    def _expr(self, expr: cst.CSTNode, seq: Seq, subst: dict[str, str], stack: tuple[int, ...], site: cst.CSTNode | None) -> None:
        """Calls in evaluation order (arguments before the call), not entering lambdas."""
        for call in _calls_postorder(expr, self.b.children):
            self._call(call, seq, subst, stack, site)

    def _key(self, expr: cst.BaseExpression, subst: dict[str, str]) -> str | None:
        text = dotted(expr)
        if text is None:
            return None
        head, _, rest = text.partition(".")
        if head in subst:
            base = subst[head]
            return f"{base}.{rest}" if rest else base
        return text

    def _call(self, call: cst.Call, seq: Seq, subst: dict[str, str], stack: tuple[int, ...], site: cst.CSTNode | None) -> None:
        b = self.b
        at = site or call
        func = call.func
        if self.traffic:
            kind = _traffic_kind(call)
            if kind is not None:
                seq.items.append(Ev(kind, call, at))
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            recv = func.value
            if method in ("backward", "manual_backward"):
                seq.items.append(Ev("backward", call, at, self._key(recv, subst)))
                return
            if method == "zero_grad":
                seq.items.append(Ev("zero", call, at, self._key(recv, subst), b.role(recv, call)))
                return
            if method in _GRAD_CLEARING_METHODS and _mentions_grad(recv):
                seq.items.append(Ev("zero", call, at, None))
                return
            if method in ("add_", "sub_") and call.args:
                tensor = _updated_with_own_grad(recv, call)
                if tensor is not None:
                    seq.items.append(Ev("manual-step", call, at, self._key(tensor, subst)))
                    return
            if method == "step":
                role = b.role(recv, call)
                if role is Role.OPTIMIZER:
                    closure = bool(call.args) and call.args[0].keyword in (None,) or any(
                        a.keyword is not None and a.keyword.value == "closure" for a in call.args
                    )
                    kind = "closure-step" if closure else "step"
                    seq.items.append(Ev(kind, call, at, self._key(recv, subst), role))
                elif role is Role.SCALER and call.args:
                    opt = call.args[0].value
                    seq.items.append(Ev("step", call, at, self._key(opt, subst), Role.OPTIMIZER))
                elif role is Role.SCHEDULER:
                    seq.items.append(Ev("sched", call, at, self._key(recv, subst), role))
                elif role is Role.ENGINE:
                    seq.items.append(Ev("engine-step", call, at, self._key(recv, subst), role))
                elif role is None and self.traffic and not call.args:
                    # an optimizer passed in from another file: enough to know a step runs here
                    seq.items.append(Ev("maybe-step", call, at, self._key(recv, subst)))
                return
            if method == "eval" and not call.args:
                seq.items.append(Ev("eval", call, at, self._key(recv, subst), b.role(recv, call)))
                return
            if method == "train":
                mode = _train_mode(call)
                if mode is not None:
                    kind = "train" if mode else "eval"
                    seq.items.append(Ev(kind, call, at, self._key(recv, subst), b.role(recv, call)))
                return
        q = self.names.qualify(func)  # type: ignore[attr-defined]
        if q in ("torch.autograd.backward",):
            seq.items.append(Ev("backward", call, at, None))
            return
        if q in ("torch.autograd.grad",):
            seq.items.append(Ev("grad", call, at, None))
            return
        callee = self._callee(call)
        if callee is not None:
            if id(callee) in stack or len(stack) >= MAX_INLINE_DEPTH:
                return
            inner_subst = self._bind_args(callee, call, subst)
            seq.items.append(Ev("call-site", call, at))
            body = self._block(callee.body, inner_subst, (*stack, id(callee)), at)
            seq.items.append(Inline(at, body))
            return
        callbacks = self._callbacks(call)
        if callbacks and len(stack) < MAX_INLINE_DEPTH:
            # one of several same-file functions runs here (a callback): each is a possible path
            arms = []
            for cb in callbacks:
                if id(cb) in stack:
                    continue
                inner_subst = self._bind_args(cb, call, subst)
                arms.append(Seq([Inline(at, self._block(cb.body, inner_subst, (*stack, id(cb)), at))]))
            if arms:
                seq.items.append(Ev("call-site", call, at))
                seq.items.append(Branch(arms) if len(arms) > 1 else arms[0])
            return
        if isinstance(func, (cst.Name, cst.Attribute)) and b.role(func, call) is Role.MODEL:
            seq.items.append(Ev("model-call", call, at, self._key(func, subst), Role.MODEL))

    def _callee(self, call: cst.Call) -> cst.FunctionDef | None:
        """The same-file function or `self.method` a call runs, if exactly one."""
        func = call.func
        b = self.b
        if isinstance(func, cst.Name):
            defs = b.definitions(func, call)
            if len(defs) == 1 and defs[0].kind == "def" and isinstance(defs[0].value, cst.FunctionDef):
                return defs[0].value
            return None
        if isinstance(func, cst.Attribute):
            cls = b.method_class_of(b.scope_at(call), func.value)
            if cls is not None:
                methods = b.methods.get((cls.node, func.attr.value), [])
                if len(methods) == 1:
                    return methods[0]
                return None
            # `logger.on_epoch_end(model)`: a method of an instance of a plain class of this file
            # (a callback, a logger, a trainer); modules, optimizers... are not entered here
            if isinstance(func.value, (cst.Name, cst.Attribute)):
                owner = b.instance_class(func.value, call)
                if owner is not None and b.class_role(owner) is None:
                    methods = b.methods.get((owner, func.attr.value), [])
                    if len(methods) == 1 and not _is_static(methods[0]):
                        return methods[0]
        return None

    def _callbacks(self, call: cst.Call) -> list[cst.FunctionDef]:
        """Same-file functions a callback call may run: `cb(model)` where `cb` iterates a
        list/tuple of function names (`for cb in [log, save]:`), or is a parameter to which every
        same-file caller passes a function name (`fit(..., on_epoch_end=log_samples)`).
        Empty when any candidate is not a function of this file."""
        func = call.func
        if not isinstance(func, cst.Name):
            return []
        b = self.b
        defs = b.definitions(func, call)
        if len(defs) != 1:
            return []
        d = defs[0]
        names: list[cst.BaseExpression] = []
        if d.kind == "for" and d.target is not None and isinstance(d.value, (cst.Name, cst.List, cst.Tuple)):
            seq = d.value
            if isinstance(seq, cst.Name):
                values = b.assigned(seq, call)
                if len(values) != 1 or not isinstance(values[0], (cst.List, cst.Tuple)):
                    return []
                seq = values[0]
            names = [e.value for e in seq.elements]  # type: ignore[union-attr]
        elif d.kind == "param" and isinstance(d.value, cst.Param):
            owner = b.enclosing_function(d.value)
            if owner is None:
                return []
            scope = b.scopes[owner]
            name = d.value.name.value
            pos = scope.param_order.index(name) if name in scope.param_order else -1
            for caller, bound in b.callers(owner):
                arg = next((a.value for a in caller.args if a.keyword is not None and a.keyword.value == name), None)
                positional = [a for a in caller.args if a.keyword is None and not a.star]
                index = pos - 1 if bound else pos
                if arg is None and 0 <= index < len(positional):
                    arg = positional[index].value
                if arg is None:
                    return []
                names.append(arg)
        out: list[cst.FunctionDef] = []
        for n in names:
            if not isinstance(n, cst.Name):
                return []
            fdefs = b.definitions(n, n)
            if len(fdefs) != 1 or fdefs[0].kind != "def" or not isinstance(fdefs[0].value, cst.FunctionDef):
                return []
            if fdefs[0].value not in out:
                out.append(fdefs[0].value)
        return out

    def _bind_args(self, callee: cst.FunctionDef, call: cst.Call, subst: dict[str, str]) -> dict[str, str]:
        """Callee parameter -> caller's argument text (dotted arguments only)."""
        params = [p for p in (*callee.params.posonly_params, *callee.params.params)]
        bound = isinstance(call.func, cst.Attribute) or callee.name.value == "__init__"
        if bound and params:
            # `self.helper(x)`: self stays self; `logger.on_epoch_end(m)`: self is `logger`
            me = params[0].name.value
            recv = call.func.value if isinstance(call.func, cst.Attribute) else None
            recv_key = self._key(recv, subst) if recv is not None else None
            out = {me: recv_key if recv_key is not None else (subst.get("self", "self") if me == "self" else me)}
            params = params[1:]
        else:
            out = {}
        positional = [a for a in call.args if a.keyword is None and not a.star]
        for p, a in zip(params, positional):
            key = self._key(a.value, subst)
            if key is not None:
                out[p.name.value] = key
        allp = {p.name.value for p in (*callee.params.params, *callee.params.kwonly_params, *callee.params.posonly_params)}
        for a in call.args:
            if a.keyword is not None and a.keyword.value in allp:
                key = self._key(a.value, subst)
                if key is not None:
                    out[a.keyword.value] = key
        return out


# `.item()` and friends copy a value to the host and wait for the device; `.to(...)`/`.cuda()`
# and data-copying factories may copy host data to the device
_SYNC_METHODS = frozenset({"item", "tolist", "cpu", "numpy"})
_SYNC_BUILTINS = frozenset({"float", "int", "bool", "print"})
# logging calls that format their arguments (a tensor formatted is a tensor read)
_FORMATTING_METHODS = frozenset({"info", "debug", "warning", "write", "set_postfix", "set_description", "add_scalar"})
_COPY_FACTORIES = frozenset({"tensor", "as_tensor", "asarray", "from_numpy"})


def _traffic_kind(call: cst.Call) -> str | None:
    func = call.func
    if isinstance(func, cst.Attribute):
        method = func.attr.value
        if method in _SYNC_METHODS and not call.args:
            return "sync"
        if method in _FORMATTING_METHODS and call.args:
            return "sync"
        if method in ("to", "cuda"):
            return "move"
        if method in _COPY_FACTORIES and any(a.keyword is not None and a.keyword.value == "device" for a in call.args):
            return "move"
        return None
    if isinstance(func, cst.Name):
        if func.value in _SYNC_BUILTINS and call.args:
            return "sync"
        if func.value in _COPY_FACTORIES and any(a.keyword is not None and a.keyword.value == "device" for a in call.args):
            return "move"
    return None


def _calls_postorder(expr: cst.CSTNode, children: dict[cst.CSTNode, list[cst.CSTNode]]) -> Iterator[cst.Call]:
    """Calls under `expr`, children before parents, left to right, not entering lambdas."""
    call_t, lambda_t = cst.Call, cst.Lambda
    stack: list[tuple[cst.CSTNode, bool]] = [(expr, False)]
    while stack:
        node, done = stack.pop()
        if done:
            yield node  # type: ignore[misc]
            continue
        t = type(node)
        if t is lambda_t:
            continue
        if t is call_t:
            stack.append((node, True))
        kids = children.get(node)
        if kids:
            for c in reversed(kids):
                stack.append((c, False))


# methods that return the module itself (its mode unchanged unless eval/train)
_MODULE_CHAIN = frozenset(
    {"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "requires_grad_", "to_empty", "share_memory", "train", "eval"}
)


def _chain_mode(call: cst.Call) -> str | None:
    """The mode a constructor chain leaves a model in: `Net().to(d).eval()` -> "eval",
    `AutoModel.from_pretrained(name).to(d)` -> "eval", `Net()` -> "train", `model.to(d)` ->
    None (the mode `model` already had)."""
    node: cst.BaseExpression = call
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        method = node.func.attr.value
        if method == "eval" and not node.args:
            return "eval"
        if method == "train":
            mode = _train_mode(node)
            if mode is not None:
                return "train" if mode else "eval"
        if method == "from_pretrained":
            return "eval"  # Hugging Face `from_pretrained` returns the model in eval mode
        if method not in _MODULE_CHAIN:
            return "train"  # the constructor itself: `torchvision.models.resnet18(...)`
        node = node.func.value
    if not isinstance(node, cst.Call):
        # `model = model.to(device)`: an existing object, in whatever mode it was (for a
        # parameter, the caller's); not a freshly built model
        return None
    return "train"


def _is_static(func: cst.FunctionDef) -> bool:
    return any(isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod") for d in func.decorators)


def _params_arg(call: cst.Call) -> cst.BaseExpression | None:
    """The parameters argument of an optimizer constructor (first positional or `params=`)."""
    for a in call.args:
        if a.keyword is not None and a.keyword.value == "params":
            return a.value
    if call.args and call.args[0].keyword is None and not call.args[0].star:
        return call.args[0].value
    return None


def _parameters_owner(loop: cst.For) -> cst.BaseExpression | None:
    """`for p in model.parameters():` -> `model` (also `named_parameters()` unpacked)."""
    it = loop.iter
    if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and it.func.attr.value in ("parameters", "named_parameters"):
        if it.func.attr.value == "named_parameters":
            return None  # `for name, p in ...`: the target is a tuple; not followed
        return it.func.value
    return None


def _updated_with_own_grad(target: cst.BaseExpression, value: cst.CSTNode) -> cst.BaseExpression | None:
    """The tensor of a manual SGD update: `w -= lr * w.grad`, `p.data.add_(-lr * p.grad)`,
    `p.sub_(lr * p.grad.data)` -> `w` / `p`; None when the update does not use the tensor's
    own `.grad`."""
    base = target.value if isinstance(target, cst.Attribute) and target.attr.value == "data" else target
    name = dotted(base) if isinstance(base, (cst.Name, cst.Attribute)) else None
    if name is None:
        return None
    wanted = (f"{name}.grad", f"{name}.grad.data")
    stack: list[cst.CSTNode] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Attribute) and dotted(node) in wanted:
            return base
        stack.extend(node.children)
    return None


def _mentions_grad(expr: cst.BaseExpression) -> bool:
    """`p.grad`, `p.grad.data`: an expression that reads a `.grad` attribute."""
    while isinstance(expr, cst.Attribute):
        if expr.attr.value == "grad":
            return True
        expr = expr.value
    return False


def _train_mode(call: cst.Call) -> bool | None:
    """`m.train()` -> True, `m.train(False)`/`m.train(mode=False)` -> False, unknown -> None."""
    if not call.args:
        return True
    if len(call.args) != 1 or (call.args[0].keyword is not None and call.args[0].keyword.value != "mode"):
        return None
    v = call.args[0].value
    if isinstance(v, cst.Name) and v.value in ("True", "False"):
        return v.value == "True"
    return None
