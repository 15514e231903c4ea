"""Where values live (host or accelerator) and what a training step does on every iteration:
the facts behind the pipeline rules (SC701-SC706).

Three questions, answered once per file (`PipelineFacts.build`, through `ctx.fact`):

- **Which loops are training steps?** A `for`/`while` loop whose own iteration (same-file
  helpers inlined, `shapecheck.infer.loop_events`) calls `backward()` and steps an optimizer.
  A loop whose backward goes through `accelerator.backward`/`fabric.backward` is the
  framework's: it places the data itself, so nothing here is said about it.
- **What runs on every iteration?** The events of the loop body that no `if`/`else`, `except`
  or `match` arm guards: `if step % log_every == 0: print(loss.item())` is a sync every k steps,
  which is what the docs recommend, and stays out. An inner loop's body counts (it runs each
  iteration, usually more than once).
- **Does this value live on the accelerator?** `resident(expr)` follows a value back to the
  move that put it there, and answers with that move (or None):

      x = x.to(device)             # device = torch.device("cuda" if ... else "cpu"): may be a GPU
      out = model(x)               # a call with a resident argument: resident
      loss = criterion(out, y)     # resident, through `out`
      loss.item()                  # the sync: resident(loss) -> the `.to(device)` call

  A device that is only a variable counts as an accelerator when it may be one: a literal
  `"cuda"`, a `torch.device(...)` whose argument may say cuda, a parameter or attribute named
  like a device (`device`, `args.device`, `self.device`, `accelerator.device`). A literal
  `"cpu"` never does, and a dtype (`.to(torch.float16)`) keeps the value where it was. A value
  we cannot follow (a function of another file, a `for` target over something unknown) is not
  resident: silence on unknowns.

Limits: reaching bindings come from `flow.py` (a binding made later in the loop body that
reaches the next iteration is not seen); a helper's parameter is resident only when every
same-file call passes a resident argument.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import libcst as cst

from shapecheck.infer.bindings import Bindings, Role
from shapecheck.infer.flow import Binding, Flow, flow_of, kwarg, literal_string, positional
from shapecheck.infer.loop_events import Branch, Ev, Exit, Inline, Loop, Seq, Try, flat
from shapecheck.infer.loops import LoopFacts, eval_named, grad_context

# Words without which a file cannot have a pipeline finding (no cost for model files).
_ACCEL_WORDS = ("cuda", ".to(", "device", "mps", "xpu")

_STEP_KINDS = frozenset({"step", "closure-step", "engine-step", "manual-step", "maybe-step"})

# Tensor methods whose result is a Python value or metadata, not a tensor on the device.
_HOST_METHODS = frozenset(
    {"item", "tolist", "numpy", "cpu", "size", "dim", "ndimension", "numel", "nelement", "element_size",
     "data_ptr", "get_device", "is_contiguous", "stride", "storage_offset", "__len__", "is_floating_point",
     "is_complex", "keys", "values", "items", "state_dict", "parameters", "named_parameters", "modules",
     "children", "register_buffer", "register_forward_hook", "apply", "train", "eval", "zero_grad",
     "backward", "step", "add_module", "pin_memory", "share_memory_"}
)
_HOST_ATTRS = frozenset({"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad", "is_leaf", "layout", "names"})
_SAME_ATTRS = frozenset({"data", "grad", "T", "mT", "H", "mH", "real", "imag"})
# Factories: with `device=` on the accelerator, without it on the host.
_FACTORIES = frozenset(
    f"torch.{n}"
    for n in ("zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm", "arange", "linspace",
              "logspace", "eye", "tensor", "as_tensor", "asarray", "from_numpy", "zeros_like", "ones_like",
              "empty_like", "full_like", "rand_like", "randn_like", "randint_like", "normal", "tril_indices",
              "triu_indices", "FloatTensor", "LongTensor", "IntTensor", "BoolTensor", "Tensor")
)
_NOT_TENSOR_ATTR = re.compile(
    r"^(training|config|cfg|name|mode|is_\w+|has_\w+|num_\w+|n_\w+)$|_(size|dim|dims|features|channels|layers|heads|count|len|length|rate|lr)$"
)
_DEVICE_WORDS = re.compile(r"(^|_)(device|dev|gpu|gpus|cuda|local_rank|rank)(_|$)|device$", re.I)
_ACCEL_PREFIXES = ("cuda", "mps", "xpu", "hpu", "npu", "mtia", "privateuseone")
_HOST_DEVICES = ("cpu", "meta")


@dataclass(eq=False)
class StepLoop:
    """A training loop: `node` (For/While) steps an optimizer in its own iteration and calls
    backward in it (or in an inner gradient-accumulation loop). `every`: the events that run on
    every iteration; `traffic(kinds)` picks the sync/move/truth ones."""

    node: cst.CSTNode
    tree: Seq
    every: list[Ev] = field(default_factory=list)

    def traffic(self, *kinds: str) -> list[Ev]:
        return [ev for ev in self.every if ev.kind in kinds]


class PipelineFacts:
    """Per-file facts of the pipeline rules. `step_loops` is empty for files that cannot have a
    pipeline finding (no device word, no backward)."""

    def __init__(self, ctx: object) -> None:
        self.ctx = ctx
        self.step_loops: list[StepLoop] = []
        self._syncs: list[SyncSite] | None = None
        self._copies: list[CopySite] | None = None
        source: str = ctx.source  # type: ignore[attr-defined]
        self.device_visible = any(w in source for w in _ACCEL_WORDS)
        self.names = ctx.names  # type: ignore[attr-defined]
        self._memo: dict[tuple[int, bool], cst.CSTNode | None] = {}
        self._weak = False
        self.flow: Flow | None = None
        self.bindings: Bindings | None = None
        if not self.device_visible or "backward" not in source:
            return
        self.bindings = ctx.fact("bindings", Bindings.build)  # type: ignore[attr-defined]
        self.flow = flow_of(ctx)  # type: ignore[arg-type]
        self._find_loops()

    @classmethod
    def build(cls, ctx: object) -> PipelineFacts:
        return cls(ctx)

    # -- training loops ------------------------------------------------------------------------
    def _find_loops(self) -> None:
        # the loop trees of the training-loop analysis (built once per file, traffic included)
        trees = self.ctx.fact("training-loops", LoopFacts.build).loop_trees  # type: ignore[attr-defined]
        for loop in trees.values():
            owner = self.bindings.enclosing_function(loop.node)
            if owner is not None and (self._framework_method(owner) or owner.name.value.startswith("test_")):
                continue  # a framework's step, or a pytest test (which reads values to assert on them)
            fl = flat(loop.body)
            # backward in this iteration, or in an inner gradient-accumulation loop; the step here
            backwards = [f.ev for f in fl if f.ev.kind == "backward"]
            if not backwards or not any(f.depth == 0 and f.ev.kind in _STEP_KINDS for f in fl):
                continue
            if any(self._framework_backward(ev) for ev in backwards):
                continue
            step = StepLoop(loop.node, loop.body)
            step.every = list(_every_iteration(loop.body))
            self.step_loops.append(step)
        self.step_loops.sort(key=lambda s: self.flow.order.get(s.node, 0))  # type: ignore[union-attr]

    def _framework_backward(self, ev: Ev) -> bool:
        """`accelerator.backward(loss)`, `fabric.backward(loss)`, `self.manual_backward(loss)`:
        the framework places the data and owns the device."""
        call = ev.node
        if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
            return False
        if call.func.attr.value == "manual_backward":
            return True
        recv = call.func.value
        if isinstance(recv, cst.Attribute) and recv.attr.value in ("accelerator", "fabric"):
            return True
        if isinstance(recv, cst.Name) and recv.value in ("accelerator", "fabric"):
            return True
        return call.func.attr.value == "backward" and bool(call.args) and self.bindings.role(recv, call) is Role.ACCELERATOR

    def _framework_method(self, fn: cst.FunctionDef) -> bool:
        """A method of a Lightning module, also through local base classes."""
        cls = self.bindings.enclosing_class(fn)  # type: ignore[union-attr]
        seen: set[int] = set()
        while cls is not None and id(cls) not in seen:
            seen.add(id(cls))
            local = None
            for base in cls.bases:
                q = self.names.qualify(base.value) or ""
                if q.startswith(("lightning", "pytorch_lightning")):
                    return True
                local = local or self.bindings.local_class(base.value)
            cls = local
        return False

    def syncs(self) -> list[SyncSite]:
        """Every-iteration reads of accelerator values on the host (SC701, SC705)."""
        if self._syncs is None:
            self._syncs = _Traffic(self).syncs() if self.step_loops else []
        return self._syncs

    def copies(self) -> list[CopySite]:
        """Every-iteration host-to-device copies of loop-invariant tensors (SC702)."""
        if self._copies is None:
            self._copies = _Traffic(self).copies() if self.step_loops else []
        return self._copies

    def loop_of(self, ev: Ev) -> StepLoop | None:
        for step in self.step_loops:
            if any(e is ev for e in step.every):
                return step
        return None

    # -- where a value lives -------------------------------------------------------------------
    def device_target(self, expr: cst.BaseExpression | None, at: cst.CSTNode, depth: int = 0) -> str | None:
        """What `.to(expr)` / `device=expr` means: "accel" (may be an accelerator), "host", "dtype"
        (the value stays where it is) or None (unknown)."""
        if expr is None or depth > 8:
            return None
        text = literal_string(expr)
        if text is not None:
            low = text.lower()
            if low.startswith(_ACCEL_PREFIXES):
                return "accel"
            if low.startswith(_HOST_DEVICES):
                return "host"
            return None
        if isinstance(expr, cst.Integer):
            return "accel"  # `.to(0)`, `.cuda(1)`: a GPU index
        if isinstance(expr, cst.IfExp):
            test = self._const_truth(expr.test, at, 0)
            if test is not None:  # `"cuda" if use_cuda else "cpu"` with `use_cuda = False`
                return self.device_target(expr.body if test else expr.orelse, at, depth + 1)
            a, b = self.device_target(expr.body, at, depth + 1), self.device_target(expr.orelse, at, depth + 1)
            return "accel" if "accel" in (a, b) else (a if a == b else None)
        if isinstance(expr, cst.Call):
            q = self.names.qualify(expr.func) or ""
            if q in ("torch.device",) and expr.args:
                return self.device_target(expr.args[0].value, at, depth + 1)
            if q in ("torch.cuda.current_device", "torch.accelerator.current_accelerator", "torch.get_default_device"):
                return "accel"
            if isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "get_device":
                return "accel"
            return None
        q = self.names.qualify(expr) or ""
        if q.startswith("torch.") and q.split(".")[-1] in _DTYPES:
            return "dtype"
        if isinstance(expr, cst.Attribute):
            if expr.attr.value == "dtype":
                return "dtype"
            binds = self.flow.attr_bindings(expr, at) if self.flow.is_self_attr(expr, at) else None  # type: ignore[union-attr]
            binds = [b for b in binds or [] if not self._dead(b.stmt)]
            if binds and all(b.value is not None for b in binds):  # `self.device = "cpu"`
                kinds = {self.device_target(b.value, b.value, depth + 1) for b in binds}
                if "accel" in kinds:
                    return "accel"
                if len(kinds) == 1 and None not in kinds:
                    return kinds.pop()
            if expr.attr.value == "device":
                if self.resident(expr.value, at, depth + 1) is not None:
                    return "accel"
                if self.host_tensor(expr.value, at, depth + 1):
                    return "host"
                return "accel" if not _tensorish_name(expr.value) else None
            return "accel" if _DEVICE_WORDS.search(expr.attr.value) else None
        if isinstance(expr, cst.Name):
            binds = self.flow.reaching(expr.value, at)  # type: ignore[union-attr]
            binds = [b for b in binds or [] if not self._dead(b.stmt)]
            if len(binds) == 1 and binds[0].always and isinstance(binds[0].stmt, cst.FunctionDef):
                # a `device` parameter: what the callers of this file pass, when they all agree
                args = self._arguments(binds[0].stmt, expr.value)
                kinds = {self.device_target(a, a, depth + 1) for a in args}
                if args and len(kinds) == 1 and None not in kinds:
                    return kinds.pop()
            if binds and all(b.value is not None for b in binds):
                kinds = {self.device_target(b.value, b.value, depth + 1) for b in binds}
                if "accel" in kinds:
                    return "accel"
                if len(kinds) == 1 and None not in kinds:
                    return kinds.pop()
            if "dtype" in expr.value.lower():
                return "dtype"
            return "accel" if _DEVICE_WORDS.search(expr.value) else None
        return None

    def _const_truth(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int) -> bool | None:
        """`False`, `not True`, `x and False`, a name bound only to such: the value; else None."""
        if depth > 6:
            return None
        if isinstance(expr, cst.Name):
            if expr.value in ("True", "False"):
                return expr.value == "True"
            binds = self.flow.reaching(expr.value, at)  # type: ignore[union-attr]
            if not binds or any(b.value is None for b in binds):
                return None
            values = {self._const_truth(b.value, b.value, depth + 1) for b in binds}  # type: ignore[arg-type]
            return values.pop() if len(values) == 1 else None
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            inner = self._const_truth(expr.expression, at, depth + 1)
            return None if inner is None else not inner
        if isinstance(expr, cst.BooleanOperation):
            left = self._const_truth(expr.left, at, depth + 1)
            right = self._const_truth(expr.right, at, depth + 1)
            if isinstance(expr.operator, cst.And):
                return False if False in (left, right) else (True if left is right is True else None)
            return True if True in (left, right) else (False if left is right is False else None)
        return None

    def _dead(self, stmt: cst.CSTNode) -> bool:
        """A binding in the arm of an `if` that a constant test never takes."""
        flow = self.flow
        assert flow is not None
        child: cst.CSTNode = stmt
        for anc in flow.ancestors(stmt):
            if isinstance(anc, cst.If):
                test = self._const_truth(anc.test, anc, 0)
                if test is not None and (child is anc.body) != test:
                    return True
            if isinstance(anc, (cst.FunctionDef, cst.ClassDef)):
                return False
            child = anc
        return False

    def resident(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> cst.CSTNode | None:
        """The move that put `expr`'s value on the accelerator, or None (host, or unknown)."""
        if depth > 16 or self.flow is None:
            return None
        key = (id(expr), self._weak)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = None  # cycles are not resident
        found = self._resident(expr, at, depth)
        self._memo[key] = found
        return found

    def _resident(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int) -> cst.CSTNode | None:
        flow = self.flow
        assert flow is not None
        if isinstance(expr, cst.Name):
            binds = flow.reaching(expr.value, at)
            if binds is None:
                return None
            found = [self._bound(b, expr, depth) for b in binds]
            if found and all(f is not None for f in found):
                return found[0]
            # `total = 0.0` then `total += loss` in a loop: the sum is a tensor on the device
            return next((f for b, f in zip(binds, found) if f is not None and isinstance(b.stmt, cst.AugAssign)), None)
        if isinstance(expr, cst.Attribute):
            if expr.attr.value in _HOST_ATTRS:
                return None
            if expr.attr.value in _SAME_ATTRS:
                return self.resident(expr.value, at, depth + 1)
            if flow.is_self_attr(expr, at):
                binds = flow.attr_bindings(expr, at)
                if binds:
                    found = [self._bound(b, expr, depth) for b in binds]  # type: ignore[arg-type]
                    return found[0] if all(f is not None for f in found) else None
                return None
            if _NOT_TENSOR_ATTR.search(expr.attr.value):
                return None  # `model.training`, `cfg.hidden_size`, `out.num_nodes`
            # a field of a model's output (`outputs.loss`, `features.relu2_2`)
            return self.resident(expr.value, at, depth + 1)
        if isinstance(expr, cst.Subscript):
            if isinstance(expr.value, cst.Attribute) and expr.value.attr.value in _HOST_ATTRS:
                return None
            return self.resident(expr.value, at, depth + 1)
        if isinstance(expr, cst.BinaryOperation):
            return self.resident(expr.left, at, depth + 1) or self.resident(expr.right, at, depth + 1)
        if isinstance(expr, cst.UnaryOperation):
            if isinstance(expr.operator, cst.Not):
                return None
            return self.resident(expr.expression, at, depth + 1)
        if isinstance(expr, cst.Comparison):
            if any(isinstance(c.operator, (cst.Is, cst.IsNot, cst.In, cst.NotIn)) for c in expr.comparisons):
                return None
            for part in (expr.left, *(c.comparator for c in expr.comparisons)):
                found = self.resident(part, at, depth + 1)
                if found is not None:
                    return found
            return None
        if isinstance(expr, cst.IfExp):
            a = self.resident(expr.body, at, depth + 1)
            return a if a is not None and self.resident(expr.orelse, at, depth + 1) is not None else None
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
            return self.resident(expr.elt, expr.elt, depth + 1)  # `[t.to(device) for t in batch]`
        if isinstance(expr, cst.DictComp):
            return self.resident(expr.value, expr.value, depth + 1)  # `{k: v.to(device) for k, v in ...}`
        if isinstance(expr, (cst.Tuple, cst.List)):
            for el in expr.elements:
                found = self.resident(el.value, at, depth + 1)
                if found is not None:
                    return found
            return None
        if isinstance(expr, cst.Call):
            return self._resident_call(expr, at, depth)
        return None

    def _bound(self, b: Binding, use: cst.Name, depth: int) -> cst.CSTNode | None:
        if b.value is not None:
            return self.resident(b.value, b.value, depth + 1)
        if b.always and isinstance(b.stmt, cst.FunctionDef):
            return self._param(b.stmt, b.name, depth)
        if isinstance(b.stmt, cst.For) and isinstance(b.stmt.target, cst.Name) and b.stmt.target.value == b.name:
            # `for xb in X_gpu.split(64):` iterates a resident tensor
            found = self.resident(b.stmt.iter, b.stmt.iter, depth + 1)
            return found if found is not None else self._filled(b, depth)
        if isinstance(b.stmt, cst.Assign) and isinstance(b.stmt.value, cst.Call):
            return self._unpacked(b, b.stmt.value, depth)
        if isinstance(b.stmt, cst.Assign) and isinstance(b.stmt.value, (cst.Name, cst.Attribute, cst.Subscript)):
            # `x, y = batch` with `batch = [t.to(device) for t in batch]`
            return self.resident(b.stmt.value, b.stmt.value, depth + 1)
        if isinstance(b.stmt, cst.AugAssign) and isinstance(b.stmt.target, cst.Name):
            # `total += loss`: a tensor on the device if either side is
            found = self.resident(b.stmt.value, b.stmt.value, depth + 1)
            return found if found is not None else self.resident(b.stmt.target, b.stmt, depth + 1)
        return None

    def _filled(self, b: Binding, depth: int) -> cst.CSTNode | None:
        """`for batch in loader:` then `batch[k] = batch[k].to(device)` in the loop: the
        mapping's values are moved in place."""
        loop = b.stmt
        for node in self.bindings.nodes(cst.Assign):
            if not self.flow.is_ancestor(loop, node):  # type: ignore[union-attr]
                continue
            for t in node.targets:
                target = t.target
                if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name) and target.value.value == b.name:
                    found = self.resident(node.value, node.value, depth + 1)
                    if found is not None:
                        return found
        return None

    def _unpacked(self, b: Binding, call: cst.Call, depth: int) -> cst.CSTNode | None:
        """`_, loss = self.model(x, y)`, `loss, acc = step(...)`: an element of a call's result."""
        stmt = b.stmt
        assert isinstance(stmt, cst.Assign)
        index = None
        for t in stmt.targets:
            if isinstance(t.target, (cst.Tuple, cst.List)):
                for i, el in enumerate(t.target.elements):
                    v = el.value
                    named = (isinstance(v, cst.Name) and v.value == b.name) or (isinstance(v, cst.Attribute) and v.attr.value == b.name)
                    if named and not isinstance(el, cst.StarredElement):
                        index = i  # `loss` in `logits, loss = ...`, or `self.loss`
        if index is None:
            return None
        func = call.func
        defs = self.bindings.definitions(func, call) if isinstance(func, (cst.Name, cst.Attribute)) else []
        if len(defs) == 1 and isinstance(defs[0].value, cst.FunctionDef):
            found: list[cst.CSTNode | None] = []
            for ret in self.flow.returns(defs[0].value):  # type: ignore[union-attr]
                value = ret.value
                if not isinstance(value, (cst.Tuple, cst.List)) or index >= len(value.elements):
                    return None
                el = value.elements[index].value
                found.append(self.resident(el, el, depth + 1))
            return found[0] if found and all(found) else None
        return self._resident_call(call, call, depth + 1)

    def _arguments(self, fn: cst.FunctionDef, name: str) -> list[cst.BaseExpression]:
        """The argument every same-file call of `fn` passes for `name` (empty if any is unknown)."""
        names = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
        out: list[cst.BaseExpression] = []
        for call, bound in self.bindings.callers(fn):  # type: ignore[union-attr]
            arg = kwarg(call, name)
            if arg is None and name in names and not any(a.star for a in call.args):
                index = names.index(name) - (1 if bound else 0)
                pos = positional(call)
                arg = pos[index] if 0 <= index < len(pos) else None
            if arg is None:
                return []
            out.append(arg)
        return out

    def _param(self, fn: cst.FunctionDef, name: str, depth: int) -> cst.CSTNode | None:
        """A helper's parameter is resident when every same-file call passes a resident value."""
        found = [self.resident(a, a, depth + 1) for a in self._arguments(fn, name)]
        return found[0] if found and all(f is not None for f in found) else None

    def _resident_call(self, call: cst.Call, at: cst.CSTNode, depth: int) -> cst.CSTNode | None:
        func = call.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            recv = func.value
            if method == "cuda":
                return call
            if method == "to":
                arg = _device_arg(call)
                if arg is None:
                    return self.resident(recv, at, depth + 1)  # `.to(dtype=...)`
                target = self.device_target(arg, at)  # its own depth: the value's chain may be long
                if target == "accel":
                    return call
                if target == "dtype":
                    return self.resident(recv, at, depth + 1)
                if target is None and self.resident(arg, at, depth + 1) is not None:
                    return call  # `.to(other)`: where `other` is
                return None
            if method in _HOST_METHODS:
                return None
            q = self.names.qualify(func) or ""
            if q in _FACTORIES:
                return self._factory(call, at, depth)
            if q.startswith(("torch.", "numpy.", "math.")):
                return self._any_arg(call, at, depth) if q.startswith("torch.") else None
            if isinstance(recv, cst.Name) and any(d.kind == "import" for d in self.bindings.definitions(recv, call)):
                # `utils.normalize_batch(y)`: a function of another module
                return self._any_arg(call, at, depth) if self._weak else None
            if not self.flow.is_self_attr(func, call):  # type: ignore[union-attr]
                return self.resident(recv, at, depth + 1)
            cls = self.flow.class_of(call)  # type: ignore[union-attr]
            helper = self.flow.method(cls, method) if cls is not None else None  # type: ignore[union-attr]
            if helper is not None:
                return self._returns(helper, depth)
            # `self.model(x)`, `self.criterion(out, y)`: a callable attribute, as below
        q = self.names.qualify(func) or ""
        if q in _FACTORIES:
            return self._factory(call, at, depth)
        if q.startswith("torch."):
            return self._any_arg(call, at, depth)
        if isinstance(func, (cst.Name, cst.Attribute)) and self.bindings.role(func, call) in (Role.MODEL, Role.LOSS, Role.ENGINE):
            return self._any_arg(call, at, depth)
        defs = self.bindings.definitions(func, call) if isinstance(func, (cst.Name, cst.Attribute)) else []
        if len(defs) == 1 and isinstance(defs[0].value, cst.FunctionDef):
            return self._returns(defs[0].value, depth)
        if defs and all(
            d.kind in ("param", "assign", "annassign", "with", "unpack", "unpack-call")
            and not isinstance(d.value, (cst.FunctionDef, cst.ClassDef, cst.Lambda, cst.BaseString, cst.Integer, cst.Float))
            for d in defs
        ):
            # a callable passed in or built here (`model`, `criterion`, `self.head`): a module
            # called on a tensor on the accelerator gives one there
            return self._any_arg(call, at, depth)
        if self._weak and not (isinstance(func, cst.Name) and func.value in _PY_BUILTINS):
            # a function of another module, read with a tensor method (`.item()`): a tensor,
            # and on the device its arguments are on
            return self._any_arg(call, at, depth)
        return None

    def _returns(self, fn: cst.FunctionDef, depth: int) -> cst.CSTNode | None:
        """A helper of this file: where its returns are (its parameters through its callers)."""
        returns = [r.value for r in self.flow.returns(fn)]  # type: ignore[union-attr]
        if not returns or any(r is None for r in returns):
            return None
        found = [self.resident(r, r, depth + 1) for r in returns]  # type: ignore[arg-type]
        return found[0] if all(found) else None

    def _factory(self, call: cst.Call, at: cst.CSTNode, depth: int) -> cst.CSTNode | None:
        q = self.names.qualify(call.func) or ""
        if q.endswith("_like") and call.args:
            dev = kwarg(call, "device")
            if dev is None:
                return self.resident(call.args[0].value, at, depth + 1)
        return call if self.device_target(kwarg(call, "device"), at) == "accel" else None

    def _any_arg(self, call: cst.Call, at: cst.CSTNode, depth: int) -> cst.CSTNode | None:
        for arg in call.args:
            value = arg.value
            values = [e.value for e in value.elements] if isinstance(value, (cst.List, cst.Tuple)) else [value]
            for v in values:
                found = self.resident(v, at, depth + 1)
                if found is not None:
                    return found
        return None

    def resident_tensor(self, expr: cst.BaseExpression, at: cst.CSTNode) -> cst.CSTNode | None:
        """`resident` for a value read with a tensor method (`.item()`, `.cpu()`): it is a
        tensor, so a function of another module called on device tensors returned one there."""
        self._weak = True
        try:
            return self.resident(expr, at)
        finally:
            self._weak = False

    def host_tensor(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> bool:
        """A tensor known to be on the host: a factory without a device (or `device="cpu"`), a
        `.cpu()`, or a name every binding of which is one of those."""
        if depth > 8 or self.flow is None:
            return False
        if isinstance(expr, (cst.Name, cst.Attribute)):
            binds = self.flow.bindings_of(expr, at)
            return bool(binds) and all(b.value is not None and self.host_tensor(b.value, b.value, depth + 1) for b in binds)  # type: ignore[union-attr]
        if isinstance(expr, cst.Call):
            q = self.names.qualify(expr.func) or ""
            if q in _FACTORIES and not q.endswith("_like"):
                dev = kwarg(expr, "device")
                return dev is None or self.device_target(dev, at, depth + 1) == "host"
            if isinstance(expr.func, cst.Attribute):
                method = expr.func.attr.value
                if method == "cpu":
                    return True
                if method in ("float", "long", "int", "double", "half", "bool", "view", "reshape", "unsqueeze",
                              "squeeze", "clone", "detach", "t", "contiguous"):
                    return self.host_tensor(expr.func.value, at, depth + 1)
        return False


_PY_BUILTINS = frozenset(
    {"len", "int", "float", "bool", "str", "repr", "round", "isinstance", "hash", "id", "type", "range",
     "enumerate", "zip", "print", "format", "list", "dict", "tuple", "set", "sorted", "open"}
)
_DTYPES = frozenset(
    {"float", "float32", "float64", "double", "float16", "half", "bfloat16", "int", "int32", "int64", "long",
     "int8", "uint8", "int16", "short", "bool", "complex64", "complex128", "cfloat", "cdouble", "float8_e4m3fn",
     "float8_e5m2"}
)


def _device_arg(call: cst.Call) -> cst.BaseExpression | None:
    dev = kwarg(call, "device")
    if dev is not None:
        return dev
    pos = positional(call)
    return pos[0] if pos else None


def _tensorish_name(expr: cst.BaseExpression) -> bool:
    """`x.device` where `x` reads like data (not `args`, `self`, `cfg`, `accelerator`)."""
    if isinstance(expr, cst.Name):
        return expr.value not in ("args", "self", "cfg", "config", "opt", "opts", "hparams", "accelerator", "fabric", "trainer")
    return False


def _every_iteration(seq: Seq) -> Iterator[Ev]:
    """The events that run on every iteration: not under an `if`/`match` arm, an `except`
    handler or after an exit that may skip them. Inner loops and inlined helpers count."""
    for item in seq.items:
        if isinstance(item, Ev):
            yield item
        elif isinstance(item, Seq):
            yield from _every_iteration(item)
        elif isinstance(item, Inline):
            yield from _every_iteration(item.body)
        elif isinstance(item, Loop):
            yield from _every_iteration(item.body)
        elif isinstance(item, Try):
            for part in (item.body, item.orelse, item.final):
                yield from _every_iteration(part)
        elif isinstance(item, Exit):
            return
        elif isinstance(item, Branch):
            continue


def pipeline_facts(ctx: object) -> PipelineFacts:
    return ctx.fact("pipeline", PipelineFacts.build)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# What the rules read: syncs, split metrics and repeated copies on every iteration


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


class _Traffic:
    """Classifies the every-iteration events of the step loops (see `PipelineFacts.syncs`)."""

    def __init__(self, facts: PipelineFacts) -> None:
        self.f = facts
        self.flow: Flow = facts.flow  # type: ignore[assignment]

    def syncs(self) -> list[SyncSite]:
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
            move = f.resident(expr, expr)  # type: ignore[arg-type]
            return SyncSite(node, loop, expr, "if", move, ev.site) if move is not None else None  # type: ignore[arg-type]
        if not isinstance(node, cst.Call):
            return None
        func = node.func
        if ev.kind == "move":
            if not isinstance(func, cst.Attribute) or func.attr.value != "to":
                return None
            if f.device_target(_device_arg(node), node) != "host" or _nonblocking(node):
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
        args = self.f._arguments(fn, name)
        return args[0] if len(args) == 1 else None

    # SC702 -------------------------------------------------------------------------------
    def copies(self) -> list[CopySite]:
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
            if func.attr.value == "to" and f.device_target(_device_arg(call), call) != "accel":
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
            if q in _FACTORIES or q in _PURE_FUNCS or q.startswith(("numpy.array", "numpy.asarray", "math.")):
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
