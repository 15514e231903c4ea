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
from shapecheck.infer.flow import Binding, Flow, argument_for, flow_of, kwarg, literal_string, positional
from shapecheck.infer.loop_events import Branch, Ev, Exit, Inline, Loop, Seq, Try, flat
from shapecheck.infer.loops import LoopFacts

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
FACTORIES = frozenset(
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
    """Per-file facts of the pipeline rules. `flow` is None for files without a device word
    (nothing there can be on an accelerator); `step_loops` is empty without a backward."""

    def __init__(self, ctx: object) -> None:
        self.ctx = ctx
        self.step_loops: list[StepLoop] = []
        source: str = ctx.source  # type: ignore[attr-defined]
        self.device_visible = any(w in source for w in _ACCEL_WORDS)
        self.names = ctx.names  # type: ignore[attr-defined]
        self._memo: dict[tuple[int, bool], cst.CSTNode | None] = {}
        self._weak = False
        self.flow: Flow | None = None
        self.bindings: Bindings | None = None
        if not self.device_visible:
            return
        self.bindings = ctx.fact("bindings", Bindings.build)  # type: ignore[attr-defined]
        self.flow = flow_of(ctx)  # type: ignore[arg-type]
        if "backward" in source:
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
                args = self.arguments(binds[0].stmt, expr.value)
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
            parts = (expr.left, *(c.comparator for c in expr.comparisons))
            if any(isinstance(p, (cst.BaseString, cst.List, cst.Tuple, cst.Dict)) or (isinstance(p, cst.Name) and p.value == "None") for p in parts):
                return None  # `dataset.task == "regression"`: not a tensor comparison
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
        if isinstance(b.stmt, cst.For) and isinstance(b.stmt.target, cst.Tuple):
            return self._zipped(b, b.stmt, depth)
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

    def _zipped(self, b: Binding, loop: cst.For, depth: int) -> cst.CSTNode | None:
        """`for ft_y, gm_s in zip(features_y, gram_style):` / `for i, x in enumerate(xs):`: the
        element of the iterable at the name's position."""
        it = loop.iter
        if not (isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value in ("zip", "enumerate")):
            return None
        names = [e.value.value if isinstance(e.value, cst.Name) else None for e in loop.target.elements]  # type: ignore[attr-defined]
        if b.name not in names:
            return None
        index = names.index(b.name)
        args = [a.value for a in it.args if a.keyword is None and not a.star]
        if it.func.value == "enumerate":
            if index != 1 or not args:
                return None  # the counter is an int
            source = args[0]
        elif index < len(args):
            source = args[index]
        else:
            return None
        return self.resident(source, source, depth + 1)

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

    def arguments(self, fn: cst.FunctionDef, name: str) -> list[cst.BaseExpression]:
        """The argument every same-file call of `fn` passes for `name` (empty if any is unknown)."""
        out: list[cst.BaseExpression] = []
        for call, bound in self.bindings.callers(fn):  # type: ignore[union-attr]
            arg = argument_for(fn, call, name, bound=bound)
            if arg is None:
                return []
            out.append(arg)
        return out

    def _param(self, fn: cst.FunctionDef, name: str, depth: int) -> cst.CSTNode | None:
        """A helper's parameter is resident when every same-file call passes a resident value."""
        found = [self.resident(a, a, depth + 1) for a in self.arguments(fn, name)]
        return found[0] if found and all(f is not None for f in found) else None

    def _resident_call(self, call: cst.Call, at: cst.CSTNode, depth: int) -> cst.CSTNode | None:
        func = call.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            recv = func.value
            if method == "cuda":
                return call
            if method == "to":
                arg = device_arg(call)
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
            if q in FACTORIES:
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
        if q in FACTORIES:
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
            if q in FACTORIES and not q.endswith("_like"):
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


def device_arg(call: cst.Call) -> cst.BaseExpression | None:
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
