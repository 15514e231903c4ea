"""What a training step sends between host and accelerator on every iteration: reads of
accelerator values on the host (SC701), those that meet a tensor the loop left elsewhere (SC705),
and host-to-device copies of loop-invariant tensors (SC702).

Built on `shapecheck.infer.accelerator` (which loops are steps, what runs on every iteration,
where a value lives); once per file through `traffic_of(ctx)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from shapecheck.infer.accelerator import FACTORIES, PipelineFacts, StepLoop, device_arg, pipeline_facts
from shapecheck.infer.flow import Flow, kwarg, positional
from shapecheck.infer.loop_events import Ev, Seq
from shapecheck.infer.loops import eval_named, grad_context


@dataclass(eq=False)
class SyncSite:
    """`node` reads `value` on the host on every iteration of `loop` (SC701). `how` names the
    read (`.item()`, `print()`, `if`); `move` is where `value` was put on the accelerator.
    `other`: for a `.cpu()` whose result meets a tensor the loop left elsewhere (SC705), that
    tensor, and `other_move` its move when it is on the accelerator (a crash, not a stall)."""

    node: cst.CSTNode
    loop: StepLoop
    value: cst.BaseExpression
    how: str
    move: cst.CSTNode
    site: cst.CSTNode
    other: cst.BaseExpression | None = None
    other_move: cst.CSTNode | None = None
    per_element: cst.BaseExpression | None = None  # the tensor whose elements the loop reads one by one


@dataclass(eq=False)
class CopySite:
    """`node` copies the loop-invariant host tensor `value` to the accelerator on every
    iteration of `loop` (SC702)."""

    node: cst.Call
    loop: StepLoop
    value: cst.BaseExpression
    site: cst.CSTNode


_RANDOM = frozenset(
    f"torch.{n}" for n in ("rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial", "rand_like",
                           "randn_like", "randint_like", "poisson")
)
_PURE_FUNCS = frozenset({"len", "float", "int", "list", "tuple", "range", "min", "max", "abs", "round", "sorted"})
_PURE_METHODS = frozenset(
    {"float", "long", "int", "double", "half", "bool", "view", "reshape", "unsqueeze", "squeeze", "t", "T",
     "contiguous", "clone", "detach", "expand", "repeat", "flatten", "permute", "transpose", "astype", "copy"}
)


class Traffic:
    """The every-iteration events of the step loops, classified: `syncs()` (SC701, SC705) and
    `copies()` (SC702)."""

    def __init__(self, facts: PipelineFacts) -> None:
        self.f = facts
        self.flow: Flow = facts.flow  # type: ignore[assignment]
        self._syncs: list[SyncSite] | None = None
        self._copies: list[CopySite] | None = None

    def syncs(self) -> list[SyncSite]:
        """Every-iteration reads of accelerator values on the host (SC701, SC705), and reads of
        one element at a time in a loop over a tensor on the accelerator (SC701)."""
        if self._syncs is None:
            found = self._find_syncs() if self.f.step_loops else []
            seen = {id(s.node) for s in found}
            found += [s for s in (self._element_syncs() if self.f.flow is not None else []) if id(s.node) not in seen]
            self._syncs = found
        return self._syncs

    def _element_syncs(self) -> list[SyncSite]:
        """`for i in range(len(preds)): if preds[i].item() == y[i].item(): ...`: a loop over the
        elements of a tensor on the accelerator that reads each one on the host is one sync per
        element, in any loop (evaluation included)."""
        f, flow = self.f, self.flow
        out: list[SyncSite] = []
        calls: list[cst.Call] | None = None
        for loop in f.bindings.nodes(cst.For):  # type: ignore[union-attr]
            over = self._element_source(loop)
            if over is None:
                continue
            if calls is None:
                calls = [c for c in f.bindings.nodes(cst.Call) if _is_read(c)]  # type: ignore[union-attr]
            targets = _names(loop.target)
            for call in calls:
                if not flow.is_ancestor(loop.body, call) or flow.function_of(call) is not flow.function_of(loop):
                    continue
                value = _read_value(call)
                if value is None or not (_names(value) & targets):
                    continue
                move = f.resident_tensor(value, call)
                if move is not None:
                    out.append(SyncSite(call, StepLoop(loop, Seq()), value, _read_how(call), move, call, per_element=over))
        return out

    def _element_source(self, loop: cst.For) -> cst.BaseExpression | None:
        """The tensor on the accelerator whose elements `loop` walks: `for v in t`,
        `enumerate(t)`, `zip(t, u)`, `range(len(t))`, `range(t.size(0))`, `range(t.shape[0])`."""
        f = self.f
        it = loop.iter
        candidates: list[cst.BaseExpression] = []
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value in ("enumerate", "zip", "range"):
            args = [a.value for a in it.args if a.keyword is None and not a.star]
            if it.func.value != "range":
                candidates = args
            elif len(args) == 1:
                n = args[0]
                if isinstance(n, cst.Call) and isinstance(n.func, cst.Name) and n.func.value == "len" and n.args:
                    candidates = [n.args[0].value]
                elif isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value in ("size", "numel"):
                    candidates = [n.func.value]
                elif isinstance(n, cst.Subscript) and isinstance(n.value, cst.Attribute) and n.value.attr.value == "shape":
                    candidates = [n.value.value]
        else:
            candidates = [it]
        for c in candidates:
            if not self._container(c, loop) and f.resident(c, loop) is not None:
                return c
        return None

    def _container(self, expr: cst.BaseExpression, at: cst.CSTNode) -> bool:
        """A Python list/tuple/dict (of tensors), not a tensor: `for mask in [train_mask, val_mask]`."""
        if isinstance(expr, (cst.List, cst.Tuple, cst.Set, cst.Dict, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)):
            return True
        if isinstance(expr, cst.Name):
            binds = self.flow.reaching(expr.value, at)
            return bool(binds) and any(b.value is not None and self._container(b.value, b.value) for b in binds)
        return False

    def copies(self) -> list[CopySite]:
        """Every-iteration host-to-device copies of loop-invariant tensors (SC702)."""
        if self._copies is None:
            self._copies = self._find_copies() if self.f.step_loops else []
        return self._copies

    def _find_syncs(self) -> list[SyncSite]:
        out: dict[int, SyncSite] = {}
        for loop in self.f.step_loops:
            for ev in loop.every:
                if ev.kind not in ("sync", "move", "truth") or self._evaluation(ev):
                    continue
                site = self._sync(ev, loop)
                if site is not None:
                    out[id(site.node)] = site  # an inner step loop wins over an outer one
        return list(out.values())

    def _evaluation(self, ev: Ev) -> bool:
        """A read inside an evaluation helper the loop calls (`test()` after each full-batch
        epoch, under `@torch.no_grad()` or named like an evaluation): reading the metrics it
        returns is the point of calling it."""
        if ev.site is ev.node:
            return False
        fn = self.f.bindings.enclosing_function(ev.node)
        if fn is None:
            return False
        if eval_named(fn):
            return True
        ctx = grad_context(self.f.bindings, self.f.names, ev.node)
        return ctx is not None and ctx[0] == "off" and ctx[1] is fn

    def _sync(self, ev: Ev, loop: StepLoop) -> SyncSite | None:
        f = self.f
        node = ev.node
        if ev.kind == "truth":
            expr = node
            while isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
                expr = expr.expression  # `if not torch.isfinite(loss):` is `bool()` too
            if isinstance(expr, cst.Attribute):
                return None  # `if data.is_directed:`: a field of a moved object, rarely a tensor
            move = f.resident(expr, expr)  # type: ignore[arg-type]
            return SyncSite(node, loop, expr, "if", move, ev.site) if move is not None else None  # type: ignore[arg-type]
        if not isinstance(node, cst.Call):
            return None
        func = node.func
        if ev.kind == "move":
            if not isinstance(func, cst.Attribute) or func.attr.value != "to":
                return None
            if f.device_target(device_arg(node), node) != "host" or _nonblocking(node):
                return None
            move = f.resident(func.value, node)
            if move is None:
                return None
            return self._with_split(SyncSite(node, loop, func.value, '.to("cpu")', move, ev.site))
        if ev.kind != "sync":
            return None
        if isinstance(func, cst.Attribute) and func.attr.value not in ("item", "tolist", "cpu", "numpy"):
            # `logger.info(f"loss {loss}")`, `pbar.set_postfix(loss=loss)`, `writer.add_scalar("loss", loss, step)`
            for value in (a.value for a in node.args if not a.star):
                for part in _formatted(value):
                    move = f.resident(part, node)
                    if move is not None:
                        return SyncSite(node, loop, part, f".{func.attr.value}()", move, ev.site)
            return None
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method == "numpy":
                return None  # after `.cpu()` (reported there), or on the device (a crash, not a stall)
            move = f.resident_tensor(func.value, node)
            if move is None:
                return None
            site = SyncSite(node, loop, func.value, f".{method}()", move, ev.site)
            return self._with_split(site) if method == "cpu" else site
        if isinstance(func, cst.Name):
            values = [a.value for a in node.args if not a.star and (a.keyword is None or func.value == "print")]
            if func.value != "print":
                values = values[:1]
            for value in values:
                for part in _formatted(value):
                    move = f.resident(part, node)
                    if move is not None:
                        return SyncSite(node, loop, part, f"{func.value}()", move, ev.site)
        return None

    # SC705 -------------------------------------------------------------------------------
    def _with_split(self, site: SyncSite) -> SyncSite:
        """`criterion(out.cpu(), y)` with `y` a batch the loop never moved: the loss is computed
        on the host. Followed through method chains and one assignment."""
        for other in self._partners(site.node, 0):
            other_move = self.f.resident(other, site.node)
            if other_move is not None:
                site.other, site.other_move = other, other_move
                return site
            if self._unmoved_batch(other, site.loop):
                site.other = other
                return site
        return site

    def _partners(self, node: cst.CSTNode, hops: int) -> list[cst.BaseExpression]:
        flow = self.flow
        cur: cst.CSTNode = node
        parent = flow.parents.get(cur)
        # `.cpu().float().view(-1)`: the same value, still on the host
        while isinstance(parent, cst.Attribute) and parent.value is cur and isinstance(flow.parents.get(parent), cst.Call):
            call = flow.parents[parent]
            if parent.attr.value not in _PURE_METHODS | {"argmax", "argmin", "sum", "mean", "max", "min", "round", "sigmoid", "softmax", "exp", "eq", "ne", "gt", "lt", "ge", "le"}:
                break
            if parent.attr.value in ("eq", "ne", "gt", "lt", "ge", "le"):
                return [a.value for a in call.args if a.keyword is None][:1]  # type: ignore[union-attr]
            cur = call
            parent = flow.parents.get(cur)
        if isinstance(parent, cst.BinaryOperation):
            return [parent.right if parent.left is cur else parent.left]
        if isinstance(parent, cst.ComparisonTarget):
            comp = flow.parents.get(parent)
            return [comp.left] if isinstance(comp, cst.Comparison) else []
        if isinstance(parent, cst.Comparison) and parent.left is cur:
            return [c.comparator for c in parent.comparisons]
        if isinstance(parent, cst.Arg):
            call = flow.parents.get(parent)
            if isinstance(call, cst.Call) and self._combines(call):
                return [a.value for a in call.args if a is not parent and a.keyword is None and not a.star]
            return []
        if isinstance(parent, cst.Assign) and hops == 0 and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name):
            name = parent.targets[0].target.value
            scope = flow.scope_of(parent)
            after = [u for u in flow.uses_of(name, scope) if flow.order.get(u, 0) > flow.order.get(parent, 0)]
            out: list[cst.BaseExpression] = []
            for use in after[:4]:
                binds = flow.reaching(name, use)
                if binds and len(binds) == 1 and binds[0].stmt is parent:
                    out.extend(self._partners(use, hops + 1))
            return out
        return []

    def _combines(self, call: cst.Call) -> bool:
        """A loss, a torch function or an elementwise comparison of two tensors."""
        f = self.f
        q = f.names.qualify(call.func) or ""
        if q.startswith("torch."):
            return True
        if q in ("print", "len", "isinstance", "str", "repr", "format") or q.startswith(("numpy.", "math.", "os.", "json.")):
            return False
        # a criterion or metric passed in or built here; not `preds.append(...)`-like methods
        return not (isinstance(call.func, cst.Attribute) and call.func.attr.value in ("append", "extend", "add", "insert", "put", "update", "log", "write"))

    def _unmoved_batch(self, expr: cst.BaseExpression, loop: StepLoop) -> bool:
        """A tensor the loop's iteration yields and that is never moved before `expr`."""
        at: cst.CSTNode = expr
        for _ in range(6):  # `data, target = data.to(device), target`: followed to the loop target
            while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in _PURE_METHODS:
                expr = expr.func.value
            if not isinstance(expr, cst.Name):
                return False
            binds = self.flow.reaching(expr.value, at)
            if not binds or len(binds) != 1:
                return False
            b = binds[0]
            if b.value is None and b.always and isinstance(b.stmt, cst.FunctionDef):
                # a helper's parameter (`self._run_batch(source, targets)`): its one caller's argument
                arg = self._only_argument(b.stmt, b.name)
                if arg is None:
                    return False
                expr, at = arg, arg
                continue
            if b.value is None:
                if not isinstance(b.stmt, cst.For):
                    return False
                return b.stmt is loop.node or self.flow.is_ancestor(b.stmt, loop.node)
            expr, at = b.value, b.value
        return False

    def _only_argument(self, fn: cst.FunctionDef, name: str) -> cst.BaseExpression | None:
        args = self.f.arguments(fn, name)
        return args[0] if len(args) == 1 else None

    # SC702 -------------------------------------------------------------------------------
    def _find_copies(self) -> list[CopySite]:
        out: dict[int, CopySite] = {}
        for loop in self.f.step_loops:
            for ev in loop.traffic("move"):
                site = self._copy(ev, loop)
                if site is not None:
                    out[id(site.node)] = site
        return list(out.values())

    def _copy(self, ev: Ev, loop: StepLoop) -> CopySite | None:
        f = self.f
        call = ev.node
        if not isinstance(call, cst.Call):
            return None
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("to", "cuda"):
            if func.attr.value == "to" and f.device_target(device_arg(call), call) != "accel":
                return None
            value = func.value
            if not f.host_tensor(value, call) or not self._invariant(value, loop, call, 0):
                return None
            return CopySite(call, loop, value, ev.site)
        # `torch.tensor(weights, device=device)`: a host-to-device copy of `weights`
        if f.device_target(kwarg(call, "device"), call) != "accel":
            return None
        data = positional(call)
        if not data or not self._invariant(data[0], loop, call, 0):
            return None
        return CopySite(call, loop, data[0], ev.site)

    def _invariant(self, expr: cst.BaseExpression, loop: StepLoop, at: cst.CSTNode, depth: int) -> bool:
        """Whether `expr` has the same value on every iteration of `loop`."""
        if depth > 8:
            return False
        flow, f = self.flow, self.f
        if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString, cst.Imaginary)):
            return True
        if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
            return all(not isinstance(e, cst.StarredElement) and self._invariant(e.value, loop, at, depth + 1) for e in expr.elements)
        if isinstance(expr, cst.UnaryOperation):
            return self._invariant(expr.expression, loop, at, depth + 1)
        if isinstance(expr, cst.BinaryOperation):
            return self._invariant(expr.left, loop, at, depth + 1) and self._invariant(expr.right, loop, at, depth + 1)
        if isinstance(expr, cst.Name):
            if expr.value in ("True", "False", "None"):
                return True
            binds = flow.reaching(expr.value, at)
            if not binds:
                return False
            # a binding later in the loop reaches the next iteration (`h = h.to(d)`, then
            # `out, h = model(x, h)`): `reaching` does not see it, the scope's list does
            scope_binds = flow.scope_of(at).bindings.get(expr.value, [])
            if any(flow.is_ancestor(loop.node, b.stmt) for b in scope_binds):
                return False
            in_loop = flow.is_ancestor(loop.node, at)
            for b in binds:
                if flow.is_ancestor(loop.node, b.stmt) or b.stmt is loop.node:
                    return False
                if not in_loop and flow.scope_of(b.stmt) is flow.scope_of(at) and not isinstance(flow.scope_of(at).node, cst.Module):
                    # a helper run by the loop: its parameters and locals are rebound per call
                    if b.value is None or not self._invariant(b.value, loop, b.value, depth + 1):
                        return False
            return True
        if isinstance(expr, cst.Attribute):
            base = expr.value
            if not isinstance(base, (cst.Name, cst.Attribute)) or not self._invariant(base, loop, at, depth + 1):
                return False
            return not self._assigned_in(loop.node, expr.attr.value)
        if isinstance(expr, cst.Subscript):
            if not self._invariant(expr.value, loop, at, depth + 1):
                return False
            for el in expr.slice:
                if not isinstance(el.slice, cst.Index) or not self._invariant(el.slice.value, loop, at, depth + 1):
                    return False
            return True
        if isinstance(expr, cst.Call):
            q = f.names.qualify(expr.func) or ""
            args_ok = all(not a.star and self._invariant(a.value, loop, at, depth + 1) for a in expr.args)
            if q in _RANDOM or not args_ok:
                return False
            if q in FACTORIES or q in _PURE_FUNCS or q.startswith(("numpy.array", "numpy.asarray", "math.")):
                return True
            func = expr.func
            return isinstance(func, cst.Attribute) and func.attr.value in _PURE_METHODS and self._invariant(func.value, loop, at, depth + 1)
        return False

    def _assigned_in(self, loop: cst.CSTNode, attr: str) -> bool:
        flow = self.flow
        for node in (*self.f.bindings.nodes(cst.Assign), *self.f.bindings.nodes(cst.AugAssign)):
            if not flow.is_ancestor(loop, node):
                continue
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            if any(isinstance(t, cst.Attribute) and t.attr.value == attr for t in targets):
                return True
        return False


def _nonblocking(call: cst.Call) -> bool:
    nb = kwarg(call, "non_blocking")
    return isinstance(nb, cst.Name) and nb.value == "True"


def _formatted(value: cst.BaseExpression) -> list[cst.BaseExpression]:
    """`f"loss {loss:.3f}"`: the formatted expressions; anything else: itself."""
    if isinstance(value, cst.FormattedString):
        return [p.expression for p in value.parts if isinstance(p, cst.FormattedStringExpression)]
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Modulo) and isinstance(value.left, cst.BaseString):
        right = value.right  # `"loss %.3f" % loss`, `"%d %f" % (step, loss)`
        return [e.value for e in right.elements] if isinstance(right, cst.Tuple) else [right]
    if (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "format"
            and isinstance(value.func.value, cst.BaseString)):
        return [a.value for a in value.args if not a.star]  # `"loss {}".format(loss)`
    return [value]


def traffic_of(ctx: object) -> Traffic:
    return ctx.fact("traffic", lambda c: Traffic(pipeline_facts(c)))  # type: ignore[attr-defined]


def _is_read(call: cst.Call) -> bool:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value in ("item", "tolist") and not call.args
    return isinstance(func, cst.Name) and func.value in ("float", "int", "bool") and len(call.args) == 1


def _read_value(call: cst.Call) -> cst.BaseExpression | None:
    if isinstance(call.func, cst.Attribute):
        return call.func.value
    return call.args[0].value if call.args else None


def _read_how(call: cst.Call) -> str:
    return f".{call.func.attr.value}()" if isinstance(call.func, cst.Attribute) else f"{call.func.value}()"  # type: ignore[attr-defined]


def _names(expr: cst.CSTNode) -> set[str]:
    """Every plain name read in `expr` (a loop target's names, or those of a value)."""
    out: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            out.add(node.value)
        elif isinstance(node, cst.Attribute):
            stack.append(node.value)  # `obj.x` reads `obj`, not a name `x`
        else:
            stack.extend(node.children)
    return out
