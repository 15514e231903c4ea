"""The abstract interpreter: runs each function of a file over abstract values and records the
value of every tensor-valued assignment (for `shapecheck shapes`) and the shape findings (for
the rules in `shapecheck/rules/shape.py`, which only read them).

One function at a time (pyright's evaluator / checker split): parameters are seeded from their
jaxtyping annotations (dims are symbols of the annotation's names), statements update an
environment of `Value`s, expressions dispatch to the op registry (`Tensor.view`, `+`,
`torch.matmul`, `torch.nn.Linear`...). Anything not modelled is `UNKNOWN` and silences every
rule that would look at it.

    def f(x: Float[Tensor, "b s d"], w: Float[Tensor, "d k"]):
        y = x @ w                       # reveal: (b, s, k)
        z = y.view(y.shape[0], -1)      # reveal: (b, s * k)

Calls:
- to an *annotated* function or method of the project: the callee's dims are bound by the
  arguments as jaxtyping binds them at runtime (SC104 when an argument contradicts an earlier
  binding); the result is the return annotation under those bindings.
- to an *unannotated* function, or a user `nn.Module` whose `forward` is unannotated: the
  callee is run with the argument values (at most `MAX_INLINE_DEPTH` deep; its findings are not
  reported there, they belong to the callee's own analysis).
- `self.fc = nn.Linear(d_model, 4 * d_model)` in `__init__` is a `ModuleValue`; calling it runs
  the module's shape function; `nn.Sequential` chains its children; a `for layer in
  self.layers` loop over an `nn.ModuleList` sees each (equal) member.

Class-level dims: see `shapecheck/infer/summary.py` (one symbol per name across a class).
Control flow joins: see `shapecheck/infer/joins.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libcst as cst

from shapecheck.infer import messages, sources
from shapecheck.infer.annotations import annotation_value, check
from shapecheck.infer.conditions import compare, reads_shape, truth
from shapecheck.infer.calls import CallsMixin, _first_param
from shapecheck.infer.contexts import CallContexts, dedupe
from shapecheck.infer.frames import Assignment, FileAnalysis, Frame, FunctionResult, _Budget, source_of
from shapecheck.infer.joins import join, join_all, join_env
from shapecheck.infer.ops import registry
from shapecheck.infer.ops.registry import OpCall
from shapecheck.infer.summary import ClassInfo, ModuleSummary, _blocks
from shapecheck.infer.values import (
    ELLIPSIS,
    UNKNOWN,
    ConstValue,
    DataValue,
    DeviceValue,
    ClassValue,
    DictValue,
    DimValue,
    ListValue,
    DtypeValue,
    ModuleValue,
    ObjectValue,
    ShapeValue,
    SliceValue,
    TensorValue,
    TupleValue,
    Value,
    as_dim,
    as_int,
)
from shapecheck.names import dotted
from shapecheck.shapes import AnnotationError, Dim, Facts, Shape, TensorAnnotation

MAX_PROBE_DEPTH = 2
_EMPTY = cst.Module([])

_BINOPS: dict[type, str] = {
    cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.Divide: "/", cst.FloorDivide: "//",
    cst.Modulo: "%", cst.Power: "**", cst.MatrixMultiply: "@", cst.BitAnd: "&", cst.BitOr: "|",
    cst.BitXor: "^", cst.LeftShift: "<<", cst.RightShift: ">>",
}
_AUGOPS: dict[type, str] = {
    cst.AddAssign: "+", cst.SubtractAssign: "-", cst.MultiplyAssign: "*", cst.DivideAssign: "/",
    cst.FloorDivideAssign: "//", cst.ModuloAssign: "%", cst.PowerAssign: "**", cst.MatrixMultiplyAssign: "@",
    cst.BitAndAssign: "&", cst.BitOrAssign: "|", cst.BitXorAssign: "^",
}
_CMPOPS: dict[type, str] = {
    cst.Equal: "==", cst.NotEqual: "!=", cst.LessThan: "<", cst.LessThanEqual: "<=",
    cst.GreaterThan: ">", cst.GreaterThanEqual: ">=",
}
_PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter", "torch.nn.Buffer",
                        "torch.nn.parameter.Buffer"})
_LIST_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"})
_CONTAINERS = {"torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict"}
# module methods that return the module itself
_MODULE_SELF_METHODS = frozenset({"to", "cuda", "cpu", "train", "eval", "float", "double", "half", "bfloat16",
                                  "requires_grad_", "apply", "type", "to_empty", "share_memory"})
_SETUP_METHODS = frozenset({"__init__", "reset_parameters", "_reset_parameters", "init_weights", "_init_weights",
                            "_init_parameters", "init_parameters"})
_VIEW_LIKE = {"Tensor.view", "Tensor.reshape", "torch.reshape", "Tensor.unflatten", "torch.unflatten",
              "numpy.reshape", "Tensor.expand"}
_BATCH_NAMES = {"batch", "b", "n", "bs", "batch_size", "nbatch", "num_batch", "bsz", "batches"}
_SEQ_NAMES = {"seq", "s", "t", "l", "len", "length", "time", "seq_len", "seqlen", "sequence", "steps", "timesteps", "tokens"}
# softmax-like ops: name -> position of `dim` counting the receiver/input as position 0
_SOFTMAX_OPS = {
    "torch.softmax": 1, "torch.nn.functional.softmax": 1, "Tensor.softmax": 1, "torch.special.softmax": 1,
    "torch.log_softmax": 1, "torch.nn.functional.log_softmax": 1, "Tensor.log_softmax": 1,
    "torch.special.log_softmax": 1, "torch.nn.functional.softmin": 1,
    "torch.nn.functional.normalize": 2,
}
_SOFTMAX_MODULES = {"torch.nn.Softmax", "torch.nn.LogSoftmax", "torch.nn.Softmin"}
_RNN_MODULES = {"torch.nn.LSTM": 4, "torch.nn.GRU": 4, "torch.nn.RNN": 5}


def is_batch_name(name: str) -> bool:
    return name.lower() in _BATCH_NAMES


def is_seq_name(name: str) -> bool:
    return name.lower() in _SEQ_NAMES


def symbol_name(d: object) -> str | None:
    """The name of a dim that is a bare symbol (`batch`), else None."""
    return d.name if isinstance(d, Dim) and d.is_symbol else None


class Interpreter(CallsMixin):
    """Runs the functions of one module summary; `project` resolves calls into other files."""

    def __init__(self, summary: ModuleSummary, project: Any = None, budget: _Budget | None = None,
                 contexts: CallContexts | None = None) -> None:
        self.summary = summary
        self.project = project
        self.budget = budget or _Budget()
        self.contexts = contexts if contexts is not None else CallContexts(summary)
        self._peers: dict[str, Interpreter] = {}
        # module-level bindings (`criterion = nn.MSELoss()`), visible to functions once the
        # module's own code has run; functions never write them
        self.globals: dict[str, Value] = {}
        self._module_frame: Frame | None = None
        self._divisions_of: dict[str, list[tuple[Dim, Dim]]] = {}
        # the editor's hover: called with (expression, value) for every expression evaluated in
        # a recorded frame (the file's own functions); None (the default) costs one test
        self.observe: Callable[[cst.BaseExpression, Value], None] | None = None

    # ------------------------------------------------------------------ entry points

    def analyse(self) -> FileAnalysis:
        analysis = FileAnalysis()
        analysis.annotation_errors = self.summary.annotation_errors()
        module_frame = self._new_frame(None, None, record=True)
        module_frame.result = FunctionResult("<module>", None)
        self._module_frame = module_frame  # functions the module's code calls see its names so far
        self.exec_block(self.summary.module.body, module_frame, top=True)
        self._module_frame = None
        self.globals = module_frame.env
        analysis.functions.append(module_frame.result)
        analysis.findings.extend(module_frame.findings)
        for fn, cls in self._all_functions():
            if cls is None and self.contexts.key(fn, None, {}) in self.contexts.memo and _takes_nothing(fn):
                continue  # `main()` already ran from `if __name__ == "__main__":`, the same run
            frame = self.run_function(fn, cls)
            assert frame.result is not None
            analysis.functions.append(frame.result)
            analysis.findings.extend(frame.findings)
        # same-file callees as their callers called them (the reveal view shows these where the
        # function's own run knows nothing: an unannotated `forward` called from a script)
        analysis.functions.extend(self.contexts.results)
        analysis.findings = dedupe(analysis.findings)
        return analysis

    def _all_functions(self) -> Iterator[tuple[cst.FunctionDef, ClassInfo | None]]:
        """Every function of the module, nested ones included, with its class (methods)."""
        yield from self.summary.statements().functions

    def _new_frame(self, fn: cst.FunctionDef | None, cls: ClassInfo | None, record: bool, depth: int = 0) -> Frame:
        return Frame(self.summary, {}, Facts(), {}, cls, fn, record, depth)

    def run_function(self, fn: cst.FunctionDef, cls: ClassInfo | None, record: bool = True) -> Frame:
        frame = self._new_frame(fn, cls, record)
        frame.result = FunctionResult(fn.name.value, fn)
        self.seed_params(fn, cls, frame, None)
        self.exec_block(fn.body.body if isinstance(fn.body, cst.IndentedBlock) else [fn.body], frame)
        return frame

    # ------------------------------------------------------------------ parameters

    def seed_params(
        self,
        fn: cst.FunctionDef,
        cls: ClassInfo | None,
        frame: Frame,
        actual: dict[str, Value] | None,
    ) -> None:
        """Bind parameters: actual values when inlining, else annotations / class dims / unknown."""
        params = fn.params
        is_static = any(dotted(d.decorator) in ("staticmethod",) for d in fn.decorators)
        ordered = [*params.posonly_params, *params.params, *params.kwonly_params]
        for i, p in enumerate(ordered):
            name = p.name.value
            if actual is not None and name in actual:
                frame.env[name] = actual[name]
                continue
            if i == 0 and cls is not None and not is_static and name in ("self", "cls"):
                frame.env[name] = self.self_value(cls) if name == "self" else UNKNOWN
                continue
            frame.env[name] = self.param_value(p, cls, fn)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                frame.env[star.name.value] = UNKNOWN
        if cls is not None and actual is None:
            for a, b in self.class_divisions(cls):
                frame.facts.assume_divides(b, a)

    def param_value(self, p: cst.Param, cls: ClassInfo | None, fn: cst.FunctionDef) -> Value:
        if p.annotation is not None:
            ann = frame_summary_resolve(self.summary, p.annotation.annotation)
            if isinstance(ann, TensorAnnotation):
                return annotation_value(ann)
        if cls is not None and fn.name.value == "__init__" and p.name.value in cls.int_params:
            return DimValue(Dim.sym(p.name.value))
        ann_node = p.annotation.annotation if p.annotation is not None else None
        if isinstance(ann_node, cst.Name):
            if ann_node.value == "int":
                return DimValue(Dim.sym(p.name.value))  # `h: int` is a size named h (as in `d // h`)
            info = self.summary.classes.get(ann_node.value)
            if info is not None and ann_node.value not in self.summary.names.aliases:
                # `model: Regressor`: an instance of a project class, constructor arguments unknown
                return ObjectValue(info.qualname, dict(self.init_attrs(info)), info.is_module)
        return UNKNOWN

    # ------------------------------------------------------------------ classes and instances

    def peer(self, summary: ModuleSummary) -> Interpreter:
        if summary is self.summary:
            return self
        if summary.name not in self._peers:
            self._peers[summary.name] = Interpreter(summary, self.project, self.budget, self.contexts)
        return self._peers[summary.name]

    # ------------------------------------------------------------------ statements

    def exec_block(self, stmts: Sequence[cst.CSTNode], frame: Frame, top: bool = False) -> bool:
        """Run statements; True when the block always leaves (return/raise/break/continue)."""
        for stmt in stmts:
            if top and isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                continue
            if self.exec_stmt(stmt, frame):
                return True
        return False

    def exec_stmt(self, stmt: cst.CSTNode, frame: Frame) -> bool:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if self.exec_small(small, stmt, frame):
                    return True
            return False
        if isinstance(stmt, cst.If):
            return self.exec_if(stmt, frame)
        if isinstance(stmt, (cst.For, cst.While)):
            self.exec_loop(stmt, frame)
            return False
        if isinstance(stmt, cst.With):
            for item in stmt.items:
                self.eval(item.item, frame)
                if item.asname is not None:
                    self.assign(item.asname.name, UNKNOWN, frame, stmt)
            return self.exec_block(stmt.body.body, frame) if isinstance(stmt.body, cst.IndentedBlock) else False
        if isinstance(stmt, cst.Try):
            return self.exec_try(stmt, frame)
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            frame.env[stmt.name.value] = UNKNOWN
            return False
        # match, async constructs...: whatever they assign becomes unknown
        for name in _assigned_names([stmt]):
            frame.env[name] = UNKNOWN
        return False

    def exec_small(self, small: cst.BaseSmallStatement, stmt: cst.CSTNode, frame: Frame) -> bool:
        if isinstance(small, cst.Assign):
            value = self.eval(small.value, frame)
            if frame.depth > 0 and len(small.targets) == 1 and (
                    value is UNKNOWN or isinstance(value, ShapeValue) and value.shape.rank is None):
                value = self.discover_rank(small.targets[0].target, small.value, frame)
            for target in small.targets:
                self.assign(target.target, value, frame, stmt)
            return False
        if isinstance(small, cst.AnnAssign):
            return self.exec_annassign(small, stmt, frame)
        if isinstance(small, cst.AugAssign):
            op = _AUGOPS.get(type(small.operator))
            current = self.eval(small.target, frame)
            right = self.eval(small.value, frame)
            value = self.binary(op, current, right, small, [small.target, small.value], frame) if op else UNKNOWN
            self.assign(small.target, value, frame, stmt)
            return False
        if isinstance(small, cst.Expr):
            self.eval(small.value, frame)
            return False
        if isinstance(small, cst.Return):
            value = self.eval(small.value, frame) if small.value is not None else ConstValue(None)
            frame.returns.append(value)
            if frame.result is not None and frame.record:
                frame.result.returns.append(value)
            if small.value is not None and frame.fn is not None and frame.record:
                self.check_return(frame.fn, value, small.value, frame)
            return True
        if isinstance(small, (cst.Raise, cst.Break, cst.Continue)):
            if isinstance(small, cst.Raise) and small.exc is not None:
                self.eval(small.exc, frame)
            return True
        if isinstance(small, cst.Assert):
            self.exec_assert(small.test, frame)
            return False
        if isinstance(small, (cst.Global, cst.Nonlocal)):
            for n in small.names:
                frame.env[n.name.value] = UNKNOWN
        if isinstance(small, (cst.Import, cst.ImportFrom)):
            return False
        if isinstance(small, cst.Del):
            return False
        return False

    def discover_rank(self, target: cst.BaseExpression, value: cst.BaseExpression, frame: Frame) -> Value:
        """`batch_size, seq_len = in_idx.shape` on an argument nothing is known about, in a call
        the program makes: the code only runs if `in_idx` has exactly that rank, so from here
        on it is a tensor of that rank, its sizes named by the targets (LLMs-from-scratch's
        `GPTModel.forward` fed by a tokenizer)."""
        if not (isinstance(target, cst.Tuple) and all(isinstance(e, cst.Element) and isinstance(e.value, cst.Name)
                                                       for e in target.elements)):
            return UNKNOWN
        node = value
        if isinstance(node, cst.Call) and not node.args and isinstance(node.func, cst.Attribute) and node.func.attr.value == "size":
            node = node.func.value
        elif isinstance(node, cst.Attribute) and node.attr.value == "shape":
            node = node.value
        else:
            return UNKNOWN
        if not (isinstance(node, cst.Name) and frame.fn is not None
                and node.value in {p.name.value for p in frame.fn.params.params}):
            return UNKNOWN
        receiver = frame.env.get(_first_param(frame.fn) or "")
        if not (isinstance(receiver, ObjectValue) and receiver.constructed):
            return UNKNOWN  # only in a method of a model the program built with known sizes
        before = frame.env.get(node.value)
        if not (before is UNKNOWN or isinstance(before, TensorValue) and before.shape.rank is None):
            return UNKNOWN
        dims = [Dim.sym(e.value.value) for e in target.elements]  # type: ignore[union-attr]
        dtype, device = (before.dtype, before.device) if isinstance(before, TensorValue) else (None, None)
        frame.env[node.value] = TensorValue(Shape.of(*dims), dtype, device, origin="argument")
        frame.guessed = True
        self.contexts.guessed.update(e.value.value for e in target.elements)  # type: ignore[union-attr]
        return ShapeValue(Shape.of(*dims))

    def exec_annassign(self, small: cst.AnnAssign, stmt: cst.CSTNode, frame: Frame) -> bool:
        ann = frame_summary_resolve(frame.summary, small.annotation.annotation)
        if small.value is None:
            if isinstance(ann, TensorAnnotation) and isinstance(small.target, cst.Name):
                frame.env[small.target.value] = annotation_value(ann)
            return False
        value = self.eval(small.value, frame)
        if isinstance(ann, TensorAnnotation):
            declared = annotation_value(ann)
            if isinstance(value, TensorValue):
                mismatch = check(ann, value.shape, frame.facts)
                if mismatch is not None:
                    msg, notes = messages.annotation_mismatch(
                        source_of(small.target), mismatch.expected, mismatch.actual, mismatch.axis, "assignment"
                    )
                    frame.report("SC104", msg, notes, small.value)
                    value = declared
                else:
                    value = _refine(value, declared)
            else:
                value = declared  # the annotation is all we know (`self.W: Float[...] = nn.Parameter(...)`)
        self.assign(small.target, value, frame, stmt)
        return False

    def exec_assert(self, test: cst.BaseExpression, frame: Frame) -> None:
        """`assert d_model % n_heads == 0` records the divisibility the code relies on."""
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            comp = test.comparisons[0]
            if (
                isinstance(comp.operator, cst.Equal)
                and isinstance(test.left, cst.BinaryOperation)
                and isinstance(test.left.operator, cst.Modulo)
                and isinstance(comp.comparator, cst.Integer)
                and comp.comparator.evaluated_value == 0
            ):
                a = as_dim(self.eval(test.left.left, frame))
                b = as_dim(self.eval(test.left.right, frame))
                if a is not None and b is not None and not a.is_unknown and not b.is_unknown:
                    frame.facts.assume_divides(b, a)

    def exec_if(self, stmt: cst.If, frame: Frame) -> bool:
        decided = truth(self.eval(stmt.test, frame))
        if decided is True:  # only the branch that runs (see infer/conditions.py)
            return self.exec_block(stmt.body.body, frame) if isinstance(stmt.body, cst.IndentedBlock) else False
        if decided is False:
            if isinstance(stmt.orelse, cst.If):
                return self.exec_if(stmt.orelse, frame)
            if isinstance(stmt.orelse, cst.Else) and isinstance(stmt.orelse.body, cst.IndentedBlock):
                return self.exec_block(stmt.orelse.body.body, frame)
            return False
        # in a caller's context, an undecided test on a tensor's shape guards code written for
        # other shapes than the caller's: run it silently
        record = False if frame.depth > 0 and reads_shape(stmt.test) else None
        then = frame.fork(record)
        then.first_step = frame.first_step or (frame.loop_depth > 0 and _is_first_step(stmt.test))
        then_ends = self.exec_block(stmt.body.body, then) if isinstance(stmt.body, cst.IndentedBlock) else False
        other = frame.fork(record)
        else_ends = False
        if isinstance(stmt.orelse, cst.If):
            else_ends = self.exec_if(stmt.orelse, other)
        elif isinstance(stmt.orelse, cst.Else) and isinstance(stmt.orelse.body, cst.IndentedBlock):
            else_ends = self.exec_block(stmt.orelse.body.body, other)
        if then_ends and else_ends:
            frame.env = join_env(then.env, other.env)
            return True
        if then_ends:
            frame.env = other.env
        elif else_ends:
            frame.env = then.env
        else:
            frame.env = join_env(then.env, other.env)
        return False

    def exec_try(self, stmt: cst.Try, frame: Frame) -> bool:
        pre = dict(frame.env)
        body_ends = self.exec_block(stmt.body.body, frame) if isinstance(stmt.body, cst.IndentedBlock) else False
        envs = [] if body_ends else [frame.env]
        for handler in stmt.handlers:
            h = frame.fork()
            h.env = join_env(pre, frame.env)
            if handler.name is not None:
                h.env[handler.name.name.value] = UNKNOWN  # type: ignore[union-attr]
            ends = self.exec_block(handler.body.body, h) if isinstance(handler.body, cst.IndentedBlock) else False
            if not ends:
                envs.append(h.env)
        if stmt.orelse is not None and not body_ends and isinstance(stmt.orelse.body, cst.IndentedBlock):
            self.exec_block(stmt.orelse.body.body, frame)
        env = envs[0] if envs else pre
        for other in envs[1:]:
            env = join_env(env, other)
        frame.env = env
        if stmt.finalbody is not None and isinstance(stmt.finalbody.body, cst.IndentedBlock):
            self.exec_block(stmt.finalbody.body.body, frame)
        return not envs

    def exec_loop(self, stmt: cst.For | cst.While, frame: Frame) -> None:
        """One probe pass (no findings), join with the state before the loop, then the real pass
        from the joined state; after the loop, the join of 'never ran' and 'ran'."""
        body = stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else []
        element: Value = UNKNOWN
        if isinstance(stmt, cst.For):
            element = self.iter_element(self.eval(stmt.iter, frame))
        else:
            self.eval(stmt.test, frame)
        pre = dict(frame.env)
        start = pre
        if frame.loop_depth < MAX_PROBE_DEPTH:
            probe = frame.fork(record=False)
            probe.findings = []
            probe.returns = []
            probe.loop_depth += 1
            if isinstance(stmt, cst.For):
                self.assign(stmt.target, element, probe, stmt)
            probe.record_findings = frame.record
            self.exec_block(body, probe)
            start = join_env(pre, probe.env)
            # the probe is the first iteration, exactly: what fails there fails at run time (the
            # widened pass may no longer know the sizes, e.g. after a layer that failed)
            for f in probe.findings:
                frame.report(f.code, f.message, f.notes, f.node, f.severity)
        else:
            for name in _assigned_names(body):
                if name in start:
                    start[name] = UNKNOWN
        frame.env = dict(start)
        frame.loop_depth += 1
        if isinstance(stmt, cst.For):
            self.assign(stmt.target, element, frame, stmt)
        self.exec_block(body, frame)
        frame.loop_depth -= 1
        # names first bound in the body keep their value after the loop (the loop ran, or the
        # code after it raises NameError anyway); the rest join 'never ran' with 'ran'
        after = frame.env
        frame.env = join_env(start, after)
        for name, value in after.items():
            if name not in pre:
                frame.env[name] = value
        if stmt.orelse is not None and isinstance(stmt.orelse.body, cst.IndentedBlock):
            self.exec_block(stmt.orelse.body.body, frame)

    def iter_element(self, value: Value) -> Value:
        """What `for v in value` binds `v` to."""
        if isinstance(value, ModuleValue) and value.qualname in ("torch.nn.ModuleList", "torch.nn.Sequential"):
            return join_all(value.children) if value.children else UNKNOWN
        if isinstance(value, TupleValue) and value.items:
            return join_all(value.items)
        if isinstance(value, _Enumerate):
            return TupleValue((UNKNOWN, self.iter_element(value.inner)))
        if isinstance(value, DataValue):
            return value.item
        if isinstance(value, TensorValue) and value.shape.rank is not None and value.shape.rank >= 1:
            return TensorValue(Shape.of(*value.shape.dims[1:]), value.dtype, value.device, None, None, "index", value.library)
        return UNKNOWN

    # ------------------------------------------------------------------ assignment

    def assign(self, target: cst.BaseExpression, value: Value, frame: Frame, stmt: cst.CSTNode) -> None:
        if isinstance(target, cst.Name):
            frame.env[target.value] = value
            self.record_assignment(target.value, value, frame, stmt)
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = list(target.elements)
            items = _unpack(value, len(elements))
            starred = any(isinstance(e, cst.StarredElement) for e in elements)
            for i, element in enumerate(elements):
                item = UNKNOWN if (items is None or starred) else items[i]
                inner = element.value
                self.assign(inner, item, frame, stmt)
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            owner = frame.env.get(target.value.value)
            if isinstance(owner, ObjectValue):
                owner.attrs[target.attr.value] = value
            self.record_assignment(f"{target.value.value}.{target.attr.value}", value, frame, stmt)
        elif isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name):
            if isinstance(frame.env.get(target.value.value), TupleValue):
                frame.env[target.value.value] = UNKNOWN  # `outs[i] = y` on a list
        # other targets change no binding

    def record_assignment(self, name: str, value: Value, frame: Frame, stmt: cst.CSTNode) -> None:
        if frame.record and frame.result is not None and _has_tensor(value):
            frame.result.assignments.append(Assignment(stmt, name, _simplified(value, frame.facts)))

    # ------------------------------------------------------------------ return / annotations

    def check_return(self, fn: cst.FunctionDef, value: Value, node: cst.BaseExpression, frame: Frame) -> None:
        if fn.returns is None:
            return
        ann_node = fn.returns.annotation
        scope = frame.summary.annotations
        items = scope.tuple_items(ann_node)
        if items is not None and isinstance(value, TupleValue) and len(items) == len(value.items):
            pairs = list(zip(items, value.items))
            value_nodes: list[cst.BaseExpression] = (
                [e.value for e in node.elements] if isinstance(node, cst.Tuple) and len(node.elements) == len(items) else [node] * len(items)
            )
        else:
            pairs = [(ann_node, value)]
            value_nodes = [node]
        for (ann_expr, val), at in zip(pairs, value_nodes):
            ann = scope.resolve(ann_expr)
            if isinstance(ann, TensorAnnotation) and isinstance(val, TensorValue):
                mismatch = check(ann, val.shape, frame.facts)
                if mismatch is not None:
                    msg, notes = messages.annotation_mismatch(
                        source_of(at), mismatch.expected, mismatch.actual, mismatch.axis, "return"
                    )
                    frame.report("SC104", msg, notes, at)

    # ------------------------------------------------------------------ expressions

    def eval(self, node: cst.BaseExpression | None, frame: Frame) -> Value:
        if node is None:
            return UNKNOWN
        try:
            method = _EVAL.get(type(node))
            value = method(self, node, frame) if method is not None else UNKNOWN
            if self.observe is not None and frame.record:
                self.observe(node, value)
            return value
        except RecursionError:
            raise
        except (ArithmeticError, ValueError, TypeError, IndexError, KeyError, AttributeError, AssertionError):
            # the domain refused an operation on values we built (e.g. a negative size): unknown
            return UNKNOWN

    def eval_name(self, node: cst.Name, frame: Frame) -> Value:
        name = node.value
        if name in frame.env:
            return frame.env[name]
        if name in self.globals:
            return self.globals[name]
        if self._module_frame is not None and name in self._module_frame.env:
            return self._module_frame.env[name]
        if name in frame.summary.classes and name not in frame.summary.names.aliases:
            return ClassValue(frame.summary.classes[name].qualname)  # `ResNet(ResidualBlock, [2, 2])`
        if name == "__name__":  # the checked file runs as the program; the files it imports do not
            return ConstValue("__main__" if frame.summary is self.contexts.root else frame.summary.name)
        if name in ("True", "False"):
            return ConstValue(name == "True")
        if name == "None":
            return ConstValue(None)
        return frame.summary.constants.get(name, UNKNOWN)

    def eval_const(self, node: cst.BaseExpression, frame: Frame) -> Value:
        return _literal(node)

    def eval_tuple(self, node: cst.Tuple | cst.List, frame: Frame) -> Value:
        items: list[Value] = []
        for element in node.elements:
            if isinstance(element, cst.StarredElement):
                expanded = _expand(self.eval(element.value, frame))
                if expanded is None:
                    return UNKNOWN
                items.extend(expanded)
            else:
                items.append(self.eval(element.value, frame))
        return TupleValue(tuple(items))

    def eval_dict(self, node: cst.Dict, frame: Frame) -> Value:
        """`{'batch_size': 64, **extra}` with string keys; anything else is unknown."""
        items: dict[str, Value] = {}
        partial = False
        for element in node.elements:
            if isinstance(element, cst.StarredDictElement):
                inner = self.eval(element.value, frame)
                if not isinstance(inner, DictValue):
                    return UNKNOWN
                items.update(inner.items)
                partial = partial or inner.partial
                continue
            key = self.eval(element.key, frame)
            value = self.eval(element.value, frame)
            if not (isinstance(key, ConstValue) and isinstance(key.value, str)):
                return UNKNOWN
            items[key.value] = value
        return DictValue(tuple(items.items()), partial)

    def eval_ifexp(self, node: cst.IfExp, frame: Frame) -> Value:
        decided = truth(self.eval(node.test, frame))
        if decided is not None:
            return self.eval(node.body if decided else node.orelse, frame)
        return join(self.eval(node.body, frame), self.eval(node.orelse, frame))

    def eval_attribute(self, node: cst.Attribute, frame: Frame) -> Value:
        head = _head_name(node)
        if head is not None and head not in frame.env and head not in self.globals:
            qualified = frame.summary.names.qualify(node)
            if qualified is not None:
                return _qualified_constant(qualified)
            return UNKNOWN
        owner = self.eval(node.value, frame)
        return self.attribute(owner, node.attr.value, node, frame)

    def attribute(self, owner: Value, attr: str, node: cst.CSTNode, frame: Frame) -> Value:
        if isinstance(owner, TensorValue):
            if attr == "shape":
                return ShapeValue(owner.shape)
            if attr == "ndim":
                return ConstValue(owner.shape.rank) if owner.shape.rank is not None else UNKNOWN
            if attr in ("T", "mT", "H", "mH"):
                return self.call_op(f"Tensor.{attr}", [owner], {}, node, [], frame)
            if attr == "device":
                return DeviceValue(owner.device)
            if attr == "dtype":
                return DtypeValue(owner.dtype) if owner.dtype else UNKNOWN
            if attr in ("data", "real"):
                return owner
            return UNKNOWN
        if isinstance(owner, ObjectValue):
            return owner.attrs.get(attr, UNKNOWN)
        if isinstance(owner, ModuleValue) and owner.qualname == "torch.nn.ModuleDict":
            return owner.kwarg(attr) or UNKNOWN
        if isinstance(owner, ShapeValue) and attr == "numel":
            return UNKNOWN
        return UNKNOWN

    def eval_subscript(self, node: cst.Subscript, frame: Frame) -> Value:
        owner = self.eval(node.value, frame)
        if owner is UNKNOWN:
            return UNKNOWN
        items: list[Value] = []
        for element in node.slice:
            s = element.slice
            if isinstance(s, cst.Slice):
                items.append(SliceValue(self.eval(s.lower, frame) if s.lower else ConstValue(None),
                                        self.eval(s.upper, frame) if s.upper else ConstValue(None),
                                        self.eval(s.step, frame) if s.step else ConstValue(None)))
            elif isinstance(s, cst.Index):
                if isinstance(s.value, cst.Ellipsis):
                    items.append(ELLIPSIS)
                elif s.star is not None:
                    expanded = _expand(self.eval(s.value, frame))
                    if expanded is None:
                        return UNKNOWN
                    items.extend(expanded)
                else:
                    items.append(self.eval(s.value, frame))
        index: Value = items[0] if len(items) == 1 and len(node.slice) == 1 else TupleValue(tuple(items))
        if isinstance(owner, (ShapeValue, TupleValue)):
            return _index_sequence(owner, index)
        if isinstance(owner, ModuleValue) and owner.qualname == "torch.nn.ModuleDict" and isinstance(index, ConstValue):
            return owner.kwarg(str(index.value)) or UNKNOWN
        if isinstance(owner, DictValue) and isinstance(index, ConstValue):
            got = owner.get(str(index.value))
            return got if got is not None else UNKNOWN
        if isinstance(owner, DataValue) and owner.kind == "dataset" and (as_int(index) is not None or isinstance(index, DimValue)):
            return owner.item
        if isinstance(owner, TensorValue):
            return self.call_op("__getitem__", [owner, index], {}, node, [node.value], frame)
        if isinstance(owner, ModuleValue) and owner.children and as_int(index) is not None:
            i = as_int(index)
            assert i is not None
            if owner.qualname == "torch.nn.ModuleList" and len(owner.children) == 1 and owner.kwargs == (("homogeneous", ConstValue(True)),):
                return owner.children[0]
            if -len(owner.children) <= i < len(owner.children):
                return owner.children[i]
        return UNKNOWN

    def eval_unary(self, node: cst.UnaryOperation, frame: Frame) -> Value:
        value = self.eval(node.expression, frame)
        if isinstance(node.operator, cst.Minus):
            if isinstance(value, ConstValue) and isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
                return ConstValue(-value.value)
            if isinstance(value, DimValue):
                return DimValue(Dim.const(0) - value.dim)
            if isinstance(value, TensorValue):
                return self.call_op("-u", [value], {}, node, [node.expression], frame)
        if isinstance(node.operator, cst.BitInvert) and isinstance(value, TensorValue):
            return self.call_op("~", [value], {}, node, [node.expression], frame)
        if isinstance(node.operator, cst.Plus):
            return value
        if isinstance(node.operator, cst.Not):
            decided = truth(value)
            return ConstValue(not decided) if decided is not None else UNKNOWN
        return UNKNOWN

    def eval_binary(self, node: cst.BinaryOperation, frame: Frame) -> Value:
        left = self.eval(node.left, frame)
        right = self.eval(node.right, frame)
        return self.binary(_BINOPS.get(type(node.operator)), left, right, node, [node.left, node.right], frame)

    def binary(self, op: str | None, left: Value, right: Value, node: cst.CSTNode,
               arg_nodes: list[cst.CSTNode], frame: Frame) -> Value:
        if op is None:
            return UNKNOWN
        if isinstance(left, TensorValue) or isinstance(right, TensorValue):
            return self.call_op(op, [left, right], {}, node, arg_nodes, frame)
        return _int_arithmetic(op, left, right, frame)

    def eval_compare(self, node: cst.Comparison, frame: Frame) -> Value:
        left = self.eval(node.left, frame)
        if len(node.comparisons) != 1:
            for c in node.comparisons:
                self.eval(c.comparator, frame)
            return UNKNOWN
        comp = node.comparisons[0]
        right = self.eval(comp.comparator, frame)
        op = _CMPOPS.get(type(comp.operator))
        if op and (isinstance(left, TensorValue) or isinstance(right, TensorValue)):
            return self.call_op(op, [left, right], {}, node, [node.left, comp.comparator], frame)
        return compare(comp.operator, left, right) or UNKNOWN

    def eval_boolean(self, node: cst.BooleanOperation, frame: Frame) -> Value:
        left = self.eval(node.left, frame)
        decided = truth(left)
        is_and = isinstance(node.operator, cst.And)
        if decided is not None and decided != is_and:
            return left  # `False and ...`, `True or ...`: the right side never runs
        right = self.eval(node.right, frame)
        return right if decided is not None else UNKNOWN

    def eval_comprehension(self, node: cst.ListComp | cst.GeneratorExp, frame: Frame) -> Value:
        """`[nn.Linear(d, d) for _ in range(n)]`: a homogeneous list of one evaluated element."""
        inner = frame.fork(record=False)
        inner.findings = []
        clauses = list(_for_clauses(node.for_in))
        iterable: Value = UNKNOWN
        for comp in clauses:
            iterable = self.eval(comp.iter, inner)
            element_of = self.iter_element(iterable)
            if isinstance(comp.target, cst.Name) and (isinstance(iterable, _Range) or _int_vector(iterable)):
                element_of = DimValue(Dim.sym(comp.target.value))  # an int: `x ** i` keeps x's shape
            self.assign(comp.target, element_of, inner, node)
        element = self.eval(node.elt, inner)
        if isinstance(element, (ModuleValue, ObjectValue)):
            return _Homogeneous(element)  # for nn.ModuleList / nn.Sequential(*[...])
        if (isinstance(element, TensorValue) and len(clauses) == 1 and clauses[0].ifs == ()
                and isinstance(node, cst.ListComp)):
            count = _length(iterable)  # the only clause's
            if count is not None and 0 < count <= 64:
                return TupleValue((element,) * count)  # `[x ** i for i in range(1, 5)]`
        return UNKNOWN  # a list of tensors of unknown length

    # ------------------------------------------------------------------ calls

    def eval_call(self, node: cst.Call, frame: Frame) -> Value:
        args, kwargs, arg_nodes, ok = self.eval_args(node, frame)
        func = node.func
        head = _head_name(func)
        if isinstance(func, cst.Attribute) and (head is None or self._bound(head, frame)):
            if func.attr.value in _LIST_MUTATORS and isinstance(func.value, cst.Name):
                current = frame.env.get(func.value.value)
                if isinstance(current, (TupleValue, ListValue)):
                    # `layers.append(block)`: known before a loop, a repeating tail inside one;
                    # any other change makes the list no longer what we saw
                    grown = _appended(current, args, kwargs, func.attr.value, frame.loop_depth > 0) if ok else UNKNOWN
                    frame.env[func.value.value] = grown
                    return ConstValue(None)
            if func.attr.value == "append" and isinstance(func.value, cst.Attribute) and isinstance(func.value.value, cst.Name):
                owner = frame.env.get(func.value.value.value)
                held = owner.attrs.get(func.value.attr.value) if isinstance(owner, ObjectValue) else None
                if isinstance(held, ModuleValue) and held.qualname == "torch.nn.ModuleList":
                    # `self.layers.append(ModuleList([...]))` in __init__
                    owner.attrs[func.value.attr.value] = _module_list_append(held, args, frame.loop_depth > 0) if ok else UNKNOWN
                    return ConstValue(None)
            if func.attr.value in ("update", "setdefault", "pop") and isinstance(func.value, cst.Name):
                current = frame.env.get(func.value.value)
                if isinstance(current, DictValue):  # `kwargs.update(cuda_kwargs)`
                    frame.env[func.value.value] = _dict_update(current, args[0] if args else None, kwargs, func.attr.value, ok)
                    return UNKNOWN
            receiver = self.eval(func.value, frame)
            if not ok:
                return UNKNOWN
            return self.call_method(receiver, func.attr.value, args, kwargs, node, [func.value, *arg_nodes], frame)
        if (isinstance(func, cst.Name) and func.value == "map" and len(node.args) == 2 and ok
                and isinstance(node.args[0].value, cst.Lambda) and not self._bound("map", frame)):
            return self.map_lambda(node.args[0].value, args[1], frame)
        if isinstance(func, cst.Name) and func.value == "isinstance" and len(node.args) == 2 and not self._bound("isinstance", frame):
            return _isinstance(args[0], node.args[1].value, frame.summary) if ok else UNKNOWN
        if isinstance(func, cst.Name) and self._bound(func.value, frame):
            callee = self.eval_name(func, frame)
            return self.call_value(callee, args, kwargs, node, arg_nodes, frame) if ok else UNKNOWN
        if not isinstance(func, (cst.Name, cst.Attribute)):
            callee = self.eval(func, frame)
            return self.call_value(callee, args, kwargs, node, arg_nodes, frame) if ok else UNKNOWN
        qualified = _qualify(frame.summary, func)
        if qualified in _CONTAINERS and len(node.args) == 1 and node.args[0].star == "*":
            listed = self.eval(node.args[0].value, frame)  # nn.Sequential(*[Block(d) for _ in range(n)])
            if isinstance(listed, ModuleValue) and listed.qualname == "<list>":
                return _container(qualified, [listed])
            if isinstance(listed, ListValue) and qualified == "torch.nn.Sequential":
                return ModuleValue(qualified, (), (("tail", listed.tail),), children=listed.prefix)
        if qualified in sources.LOADERS and (args or "dataset" in kwargs):
            # `DataLoader(ds, **kwargs)`: options hidden in an unknown `**` stay unknown
            dataset = args[0] if args else kwargs["dataset"]
            return sources.loader(self.dataset(dataset, frame), args[1:], kwargs, complete=ok)
        if qualified is None or not ok:
            return UNKNOWN
        return self.call_name(qualified, func, args, kwargs, node, arg_nodes, frame)

    def map_lambda(self, fn: cst.Lambda, items: Value, frame: Frame) -> Value:
        """`map(lambda t: rearrange(t, ...), qkv)` over a tuple of known length."""
        params = fn.params
        if not isinstance(items, TupleValue) or len(params.params) != 1 or params.star_arg not in (None, cst.MaybeSentinel.DEFAULT) \
                or params.kwonly_params or params.star_kwarg is not None or params.posonly_params:
            return UNKNOWN
        name = params.params[0].name.value
        out = []
        for item in items.items:
            inner = frame.fork()
            inner.env[name] = item
            out.append(self.eval(fn.body, inner))
        return TupleValue(tuple(out))

    def _bound(self, name: str, frame: Frame) -> bool:
        return name in frame.env or name in self.globals or (
            self._module_frame is not None and name in self._module_frame.env)

    def eval_args(self, node: cst.Call, frame: Frame) -> tuple[list[Value], dict[str, Value], list[cst.CSTNode], bool]:
        args: list[Value] = []
        kwargs: dict[str, Value] = {}
        nodes: list[cst.CSTNode] = []
        ok = True
        for arg in node.args:
            value = self.eval(arg.value, frame)
            if arg.keyword is not None:
                kwargs[arg.keyword.value] = value
            elif arg.star == "*":
                expanded = _expand(value)
                if expanded is None:
                    ok = False
                else:
                    args.extend(expanded)
                    nodes.extend([arg.value] * len(expanded))
            elif arg.star == "**":
                if isinstance(value, DictValue):
                    kwargs.update(value.items)
                    ok = ok and not value.partial
                else:
                    ok = False
            else:
                args.append(value)
                nodes.append(arg.value)
        return args, kwargs, nodes, ok

    def call_name(self, qualified: str, func: cst.BaseExpression, args: list[Value], kwargs: dict[str, Value],
                  node: cst.Call, arg_nodes: list[cst.CSTNode], frame: Frame) -> Value:
        summary = frame.summary
        if isinstance(func, cst.Name):
            name = func.value
            if name in summary.functions and name not in summary.names.aliases:
                return self.call_user_function(summary, summary.functions[name], None, None, args, kwargs, node, arg_nodes, frame)
            if name in summary.classes and name not in summary.names.aliases:
                return self.construct(summary.classes[name], summary, args, kwargs, frame.depth)
            builtin = self.call_builtin(name, args, kwargs)
            if builtin is not None:
                return builtin
            if name in summary.relative_imports:
                qualified = summary.relative_imports[name]
        if qualified in _CONTAINERS:
            return _container(qualified, args)
        data = self.data_source(qualified, args, kwargs, frame)
        if data is not None:
            return data
        if qualified in _PARAMETER and registry.lookup(qualified) is None:
            return args[0] if args and isinstance(args[0], TensorValue) else UNKNOWN  # a Parameter is its tensor
        if qualified in _MATH_FLOAT:
            if args and all(isinstance(a, (ConstValue, DimValue)) for a in args):
                nums = [_number(a) for a in args]
                if all(n is not None for n in nums) and qualified.startswith("math."):
                    try:
                        import math

                        return ConstValue(float(getattr(math, qualified[5:])(*nums)))
                    except (ValueError, OverflowError, TypeError):
                        return UNKNOWN
                return SOME_FLOAT
            if not (args and isinstance(args[0], TensorValue)):
                return UNKNOWN
        fn = registry.lookup(qualified)
        if fn is not None:
            return self.call_op(qualified, args, kwargs, node, arg_nodes, frame)
        if registry.lookup_module(qualified) is not None or _looks_like_module_class(qualified):
            return ModuleValue(qualified, tuple(args), tuple(kwargs.items()))
        if self.project is not None and not qualified.startswith(("torch.", "numpy.", "jax", "einops.")):
            found = self.project.lookup(qualified)
            if found is not None:
                other, attr = found
                if attr in other.functions:
                    return self.call_user_function(other, other.functions[attr], None, None, args, kwargs, node, arg_nodes, frame)
                return self.construct(other.classes[attr], other, args, kwargs, frame.depth)
        return UNKNOWN

    def call_builtin(self, name: str, args: list[Value], kwargs: dict[str, Value]) -> Value | None:
        if name == "len" and len(args) == 1:
            v = args[0]
            if isinstance(v, TensorValue):
                return DimValue(v.shape.dims[0]) if v.shape.rank else UNKNOWN
            if isinstance(v, ShapeValue):
                return ConstValue(v.shape.rank) if v.shape.rank is not None else UNKNOWN
            if isinstance(v, TupleValue):
                return ConstValue(len(v.items))
            return UNKNOWN
        if name == "int" and len(args) == 1 and isinstance(args[0], (DimValue, ConstValue)):
            return args[0] if as_int(args[0]) is not None or isinstance(args[0], DimValue) else UNKNOWN
        if name in ("tuple", "list") and len(args) == 1 and isinstance(args[0], (ShapeValue, TupleValue)):
            return args[0]
        if name in ("enumerate",) and args:
            return _Enumerate(args[0])
        if name == "iter" and len(args) == 1 and isinstance(args[0], DataValue):
            return args[0]
        if name == "next" and args and isinstance(args[0], DataValue):
            return args[0].item
        if name == "dict" and not args:
            return DictValue(tuple(kwargs.items()))
        if name == "dict" and len(args) == 1 and isinstance(args[0], DictValue):
            return DictValue(args[0].items + tuple(kwargs.items()), args[0].partial)
        if name == "float" and len(args) == 1 and (_number(args[0]) is not None or isinstance(args[0], DimValue)):
            n = _number(args[0])
            return ConstValue(float(n)) if n is not None else SOME_FLOAT
        if name == "range" and 1 <= len(args) <= 3 and not kwargs:
            bounds = [as_int(a) for a in args]
            if all(b is not None for b in bounds) and bounds[-1] != 0:
                return _Range(len(range(*bounds)))  # type: ignore[arg-type]
            return _Range(None)
        if name in ("range", "zip", "isinstance", "print", "getattr", "hasattr", "super", "min", "max", "float",
                    "str", "bool", "dict", "set", "sorted", "reversed", "sum", "abs", "round", "iter", "next"):
            return UNKNOWN
        return None

    def call_value(self, callee: Value, args: list[Value], kwargs: dict[str, Value], node: cst.Call,
                   arg_nodes: list[cst.CSTNode], frame: Frame) -> Value:
        if isinstance(callee, ClassValue):
            found = self.find_class(callee.qualname, frame.summary)
            return self.construct(found[1], found[0], args, kwargs, frame.depth) if found else UNKNOWN
        if isinstance(callee, ModuleValue):
            return self.call_module(callee, args, kwargs, node, arg_nodes, frame)
        if isinstance(callee, ObjectValue) and callee.is_module:
            return self.call_instance_method(callee, "forward", args, kwargs, node, arg_nodes, frame)
        if isinstance(callee, _BoundMethod):
            return self.call_instance_method(callee.owner, callee.name, args, kwargs, node, arg_nodes, frame)
        return UNKNOWN

    def call_method(self, receiver: Value, name: str, args: list[Value], kwargs: dict[str, Value], node: cst.Call,
                    nodes: list[cst.CSTNode], frame: Frame) -> Value:
        if isinstance(receiver, TensorValue):
            special = _tensor_introspection(receiver, name, args)
            if special is not None:
                return special
            return self.call_op(f"Tensor.{name}", [receiver, *args], kwargs, node, nodes, frame)
        if isinstance(receiver, ObjectValue):
            if receiver.qualname == sources.PARSER:
                return sources.parser_method(receiver, name, args, kwargs)
            if receiver.qualname == "lightning.Trainer":
                return self.run_trainer(name, args, kwargs, node, frame)
            if name in ("register_buffer", "register_parameter") and len(args) >= 2 and receiver.is_module:
                if isinstance(args[0], ConstValue) and isinstance(args[0].value, str):
                    receiver.attrs[args[0].value] = args[1]  # `self.register_buffer("pe", pe)`: self.pe
                return ConstValue(None)
            attr = receiver.attrs.get(name)
            if attr is not None:
                return self.call_value(attr, args, kwargs, node, nodes[1:], frame)
            found = self.call_instance_method(receiver, name, args, kwargs, node, nodes[1:], frame)
            if found is UNKNOWN and receiver.is_module and name in _MODULE_SELF_METHODS:
                return receiver  # `model = Net().to(device)`, `model.train()`: the same module
            return found
        if isinstance(receiver, DictValue) and name == "get" and args and isinstance(args[0], ConstValue):
            got = receiver.get(str(args[0].value))
            if got is not None:
                return got
            return (args[1] if len(args) > 1 else ConstValue(None)) if not receiver.partial else UNKNOWN
        if isinstance(receiver, ModuleValue):
            member = receiver.kwarg(name) if receiver.qualname == "torch.nn.ModuleDict" else None
            if member is not None:  # `self.transformer.wte(idx)`
                return self.call_value(member, args, kwargs, node, nodes[1:], frame)
            if name in _MODULE_SELF_METHODS:
                return receiver
            if name == "forward":
                return self.call_module(receiver, args, kwargs, node, nodes[1:], frame)
            if receiver.qualname == "torch.nn.ModuleDict" and name in ("values",):
                return receiver
            return UNKNOWN
        if isinstance(receiver, ShapeValue) and name == "numel":
            n = receiver.shape.numel() if receiver.shape.rank is not None else None
            return DimValue(n) if n is not None else UNKNOWN
        if isinstance(receiver, (ShapeValue, TupleValue)) and name == "index":
            return UNKNOWN
        return UNKNOWN

    def call_module(self, module: ModuleValue, args: list[Value], kwargs: dict[str, Value], node: cst.Call,
                    arg_nodes: list[cst.CSTNode], frame: Frame) -> Value:
        q = module.qualname
        if q == "torch.nn.Sequential":
            if not module.children or kwargs:
                return UNKNOWN
            value = args[0] if len(args) == 1 else UNKNOWN
            for child in module.children:
                if value is UNKNOWN:
                    return UNKNOWN
                value = self.call_value(child, [value], {}, node, arg_nodes, frame)
            tail = module.kwarg("tail")
            if tail is not None and value is not UNKNOWN:
                # the tail runs an unknown number of times: known only when it keeps the shape
                after = self.call_value(tail, [value], {}, node, arg_nodes, frame)
                if not (isinstance(after, TensorValue) and isinstance(value, TensorValue) and after.shape == value.shape):
                    return UNKNOWN
            return value
        if q in _CONTAINERS:
            return UNKNOWN
        if q in _RNN_MODULES and args:
            self.check_rnn_layout(module, args[0], node, frame)
        if q in _SOFTMAX_MODULES and args:
            dim = module.kwarg("dim", 0)
            self.check_batch_reduction(q.rsplit(".", 1)[-1], args[0], dim, node, frame)
        fn = registry.lookup_module(q)
        if fn is None:
            return UNKNOWN
        call = self.make_call(q, args, kwargs, node, arg_nodes, frame)
        result = fn(module, call)
        self.collect(call, frame)
        return result

    def make_call(self, name: str, args: list[Value], kwargs: dict[str, Value], node: cst.CSTNode,
                  arg_nodes: Sequence[cst.CSTNode], frame: Frame) -> OpCall:
        # a pass whose findings are dropped (a loop's probe, a comprehension) never shows a label
        quiet = not (frame.record or frame.record_findings)
        labels = ["?"] * len(arg_nodes) if quiet else _LazyLabels(arg_nodes)
        return OpCall(name, list(args), dict(kwargs), node, list(arg_nodes), frame.facts, [], labels)

    def collect(self, call: OpCall, frame: Frame) -> None:
        for finding in call.findings:
            frame.report(finding.code, finding.message, finding.notes, finding.node or call.node, finding.severity)

    def call_op(self, name: str, args: list[Value], kwargs: dict[str, Value], node: cst.CSTNode,
                arg_nodes: Sequence[cst.CSTNode], frame: Frame) -> Value:
        fn = registry.lookup(name)
        if name in _VIEW_LIKE:
            self.record_divisions(args[1:], frame)
            if name in ("Tensor.view", "Tensor.reshape", "torch.reshape") and (
                    frame.in_module_method or _loader_batched(args[0] if args else None)):
                self.check_hardcoded_batch(name, args, node, frame)
        if name in _SOFTMAX_OPS and args:
            position = _SOFTMAX_OPS[name]
            dim = kwargs.get("dim", args[position] if position < len(args) else None)
            if name == "torch.nn.functional.normalize" and dim is None:
                dim = ConstValue(1)
            self.check_batch_reduction(name.rsplit(".", 1)[-1], args[0], dim, node, frame)
        if fn is None:
            return UNKNOWN
        call = self.make_call(name, args, kwargs, node, arg_nodes, frame)
        result = fn(call)
        self.collect(call, frame)
        return result

    # ------------------------------------------------------------------ interpreter-level findings

    def record_divisions(self, sizes: list[Value], frame: Frame) -> None:
        """`view(b, s, h, d // h)` means the code relies on `h | d`: record it as a fact."""
        flat: list[Value] = []
        for v in sizes:
            flat.extend(v.items if isinstance(v, TupleValue) else [v])
        for v in flat:
            if isinstance(v, DimValue) and v.dim in frame.divisions:
                a, b = frame.divisions[v.dim]
                frame.facts.assume_divides(b, a)

    def check_hardcoded_batch(self, name: str, args: list[Value], node: cst.CSTNode, frame: Frame) -> None:
        """SC109: `x.view(32, -1)` in model code when x's first axis is a symbolic batch."""
        if len(args) < 2 or not isinstance(args[0], TensorValue):
            return
        if frame.fn is not None and frame.fn.name.value in _SETUP_METHODS:
            return  # parameters reshaped at construction have no batch axis
        if frame.first_step:
            return  # `if batch_idx == 0:` sees the first batch, which is full
        x = args[0]
        sizes = list(args[1].items) if len(args) == 2 and isinstance(args[1], TupleValue) else list(args[1:])
        if not sizes or not isinstance(sizes[0], ConstValue):
            return
        first = as_int(sizes[0])
        if first is None or first <= 1 or x.shape.rank is None or x.shape.rank < 1:
            return
        batch = x.shape.dims[0]
        if batch.is_const or batch.is_unknown:
            return
        msg, notes = messages.hardcoded_batch_size(name.rsplit(".", 1)[-1], first, x.shape, batch)
        frame.report("SC109", msg, notes, node)

    def check_batch_reduction(self, op: str, x: Value, dim: Value | None, node: cst.CSTNode, frame: Frame) -> None:
        """SC111: softmax / normalisation across the axis annotated as the batch."""
        if not isinstance(x, TensorValue) or x.shape.rank is None or x.shape.rank < 2:
            return
        d = as_int(dim)
        rank = x.shape.rank
        if d is None or not -rank <= d < rank:
            return
        axis = d % rank
        name = symbol_name(x.shape.dims[axis])
        if name is None or not is_batch_name(name):
            return
        if sum(symbol_name(d) == name for d in x.shape.dims) > 1:
            return  # `(n, n)` similarities: normalising over either axis is a choice, not a bug
        msg, notes = messages.reduction_over_batch(op, d, x.shape, name)
        frame.report("SC111", msg, notes, node)

    def check_rnn_layout(self, module: ModuleValue, x: Value, node: cst.CSTNode, frame: Frame) -> None:
        """SC110: `(batch, seq, feat)` into an RNN without batch_first=True, or the reverse."""
        if not isinstance(x, TensorValue) or x.shape.rank != 3:
            return
        flag = module.kwarg("batch_first", _RNN_MODULES[module.qualname])
        if flag is None:
            batch_first: bool | None = False
        elif isinstance(flag, ConstValue) and isinstance(flag.value, bool):
            batch_first = flag.value
        else:
            return
        kind = module.qualname.rsplit(".", 1)[-1]
        # a DataLoader's batch axis is known to be the batch, whatever the other axes are called
        if _loader_batched(x) and not batch_first and x.shape.dims[1] != x.shape.dims[0]:
            msg, notes = messages.rnn_batch_first(kind, x.shape, expects_batch_first=False)
            frame.report("SC110", msg, notes, node)
            return
        if batch_first and x.shape.dims[1] == Dim.sym(sources.BATCH) and x.shape.dims[0] != x.shape.dims[1]:
            msg, notes = messages.rnn_batch_first(kind, x.shape, expects_batch_first=True)
            frame.report("SC110", msg, notes, node)
            return
        first, second = symbol_name(x.shape.dims[0]), symbol_name(x.shape.dims[1])
        if first is None or second is None:
            return
        if not batch_first and is_batch_name(first) and is_seq_name(second):
            msg, notes = messages.rnn_batch_first(kind, x.shape, expects_batch_first=False)
            frame.report("SC110", msg, notes, node)
        elif batch_first and is_seq_name(first) and is_batch_name(second):
            msg, notes = messages.rnn_batch_first(kind, x.shape, expects_batch_first=True)
            frame.report("SC110", msg, notes, node)


# ---------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Range:
    count: int | None  # len(range(...)) when its bounds are known


@dataclass(frozen=True)
class _Enumerate:
    inner: Value


@dataclass(frozen=True)
class _BoundMethod:
    owner: ObjectValue
    name: str


def _Homogeneous(element: Value) -> Value:  # noqa: N802 - reads like a constructor
    """A list built by a comprehension: one representative element."""
    return ModuleValue("<list>", (), (("homogeneous", ConstValue(True)),), children=(element,))


def _container(qualname: str, args: list[Value]) -> Value:
    """`nn.Sequential(a, b)`, `nn.Sequential(*layers)`, `nn.ModuleList([..])`, `nn.ModuleDict({..})`."""
    if qualname == "torch.nn.Sequential":
        children = tuple(args)
        if len(args) == 1 and isinstance(args[0], ModuleValue) and args[0].qualname == "<list>":
            return ModuleValue(qualname, (), (("homogeneous", ConstValue(True)),), children=args[0].children)
        if any(isinstance(c, ModuleValue) and c.qualname == "<list>" for c in children):
            return ModuleValue(qualname)
        return ModuleValue(qualname, (), (), children=children)
    if qualname == "torch.nn.ModuleDict" and len(args) == 1 and isinstance(args[0], DictValue) and not args[0].partial:
        # named members: `self.transformer.wte`, `self.transformer['wte']`
        return ModuleValue(qualname, (), args[0].items, children=tuple(v for _, v in args[0].items))
    if qualname == "torch.nn.ModuleList" and args:
        v = args[0]
        if isinstance(v, ModuleValue) and v.qualname == "<list>":
            return ModuleValue(qualname, (), (("homogeneous", ConstValue(True)),), children=v.children)
        if isinstance(v, TupleValue):
            return ModuleValue(qualname, (), (), children=v.items)
    return ModuleValue(qualname)


_BUILTIN_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str, "tuple": tuple,
                                   "list": list, "dict": dict}
_TENSOR_TYPES = frozenset({"torch.Tensor", "torch.nn.Parameter", "torch.nn.parameter.Parameter"})


def _isinstance(value: Value, types: cst.BaseExpression, summary: ModuleSummary) -> Value:
    """`isinstance(t, tuple)` (vit-pytorch's `pair`), `isinstance(x, torch.Tensor)`: decided for
    values whose Python type is known; anything else stays unknown."""
    nodes = [e.value for e in types.elements] if isinstance(types, cst.Tuple) else [types]
    names: list[str] = []
    for n in nodes:
        q = n.value if isinstance(n, cst.Name) and n.value in _BUILTIN_TYPES else summary.names.qualify(n)
        if q is None:
            return UNKNOWN
        names.append(q)
    known = all(n in _BUILTIN_TYPES or n in _TENSOR_TYPES for n in names)
    if isinstance(value, TensorValue):
        if any(n in _TENSOR_TYPES for n in names):
            return ConstValue(True)
        return ConstValue(False) if known else UNKNOWN
    if isinstance(value, TupleValue):  # a tuple or a list: we do not tell them apart
        if any(n in ("tuple", "list") for n in names):
            return UNKNOWN if {"tuple", "list"} - set(names) else ConstValue(True)
        return ConstValue(False) if known else UNKNOWN
    if not known:
        return UNKNOWN
    if isinstance(value, DictValue):
        python_type: type = dict
    elif isinstance(value, ConstValue):
        python_type = type(value.value)
    elif isinstance(value, DimValue):
        python_type = int
    else:
        return UNKNOWN
    return ConstValue(any(n in _BUILTIN_TYPES and issubclass(python_type, _BUILTIN_TYPES[n]) for n in names))


def _module_list_append(current: ModuleValue, args: list[Value], in_loop: bool) -> Value:
    if len(args) != 1:
        return UNKNOWN
    homogeneous = current.kwargs == (("homogeneous", ConstValue(True)),)
    if in_loop and not current.children:
        return ModuleValue(current.qualname, (), (("homogeneous", ConstValue(True)),), children=(args[0],))
    if in_loop and homogeneous:
        member = join(current.children[0], args[0])
        return ModuleValue(current.qualname, (), current.kwargs, children=(member,)) if member is not UNKNOWN else UNKNOWN
    if in_loop or homogeneous:
        return UNKNOWN
    return ModuleValue(current.qualname, (), (), children=(*current.children, args[0]))


def _appended(current: TupleValue | ListValue, args: list[Value], kwargs: dict[str, Value], method: str,
              in_loop: bool) -> Value:
    if method != "append" or len(args) != 1 or kwargs:
        return UNKNOWN
    if isinstance(current, ListValue):
        tail = join(current.tail, args[0])
        return ListValue(current.prefix, tail) if tail is not UNKNOWN else UNKNOWN
    if in_loop:
        return ListValue(current.items, args[0])
    return TupleValue((*current.items, args[0]))


def _dict_update(current: DictValue, other: Value | None, kwargs: dict[str, Value], method: str, ok: bool) -> Value:
    """`d.update(other, k=v)`; `setdefault`/`pop` and anything not modelled make `d` partial."""
    if method != "update" or not ok or not (other is None or isinstance(other, DictValue)):
        return DictValue(current.items, partial=True) if method == "update" or method == "setdefault" else UNKNOWN
    merged = dict(current.items)
    partial = current.partial
    if isinstance(other, DictValue):
        merged.update(other.items)
        partial = partial or other.partial
    merged.update(kwargs)
    return DictValue(tuple(merged.items()), partial)


def _int_vector(value: Value) -> bool:
    """A 1-d integer tensor: iterating it gives indices (`for i in torch.randint(n, (b,))`)."""
    return (isinstance(value, TensorValue) and value.shape.rank == 1
            and (value.dtype or "").startswith(("int", "long", "uint")))


def _length(iterable: Value) -> int | None:
    """How many items `for v in iterable` yields, when known."""
    if isinstance(iterable, _Range):
        return iterable.count
    if isinstance(iterable, TupleValue):
        return len(iterable.items)
    if isinstance(iterable, TensorValue) and iterable.shape.rank:
        return iterable.shape.dims[0].value
    return None


def _takes_nothing(fn: cst.FunctionDef) -> bool:
    p = fn.params
    return not (p.params or p.posonly_params or p.kwonly_params or isinstance(p.star_arg, cst.Param) or p.star_kwarg)


def _is_first_step(test: cst.BaseExpression) -> bool:
    """`i == 0` / `batch_idx == 0` / `step == 0`: a branch taken on a loop's first iteration."""
    return (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
            and isinstance(test.comparisons[0].operator, cst.Equal) and isinstance(test.left, cst.Name)
            and isinstance(test.comparisons[0].comparator, cst.Integer) and test.comparisons[0].comparator.value == "0")


def _loader_batched(x: Value | None) -> bool:
    """A tensor whose first axis is a DataLoader's batch (the symbol `batch` of infer/sources.py)."""
    return isinstance(x, TensorValue) and bool(x.shape.rank) and x.shape.dims[0] == Dim.sym(sources.BATCH)


def _qualify(summary: ModuleSummary, node: cst.BaseExpression) -> str | None:
    """`summary.names.qualify`, cached per node (loops and inlining evaluate calls again)."""
    cache = summary.qualified
    key = id(node)
    if key not in cache:
        cache[key] = summary.names.qualify(node)
    return cache[key]


def _head_name(node: cst.BaseExpression) -> str | None:
    while isinstance(node, cst.Attribute):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def _has_tensor(value: Value) -> bool:
    if isinstance(value, TensorValue):
        return True
    return isinstance(value, TupleValue) and any(isinstance(v, TensorValue) for v in value.items)


def _refine(value: TensorValue, declared: TensorValue) -> TensorValue:
    """Unknown axes of an inferred value take the annotation's dims (same rank only)."""
    if value.shape.rank is None:
        return TensorValue(declared.shape, value.dtype or declared.dtype, value.device, value.contiguous,
                           value.requires_grad, value.origin, value.library)
    if declared.shape.rank != value.shape.rank:
        return value
    dims = [d if not d.is_unknown else e for d, e in zip(value.shape.dims, declared.shape.dims)]
    return TensorValue(Shape.of(*dims), value.dtype or declared.dtype, value.device, value.contiguous,
                       value.requires_grad, value.origin, value.library)


def _simplified(value: Value, facts: Facts) -> Value:
    """The value with its dims in normal form under the facts (`h * (d // h)` -> `d`)."""
    if isinstance(value, TensorValue) and value.shape.rank is not None:
        dims = [facts.simplify(d) for d in value.shape.dims]
        return TensorValue(Shape.of(*dims), value.dtype, value.device, value.contiguous,
                           value.requires_grad, value.origin, value.library)
    if isinstance(value, TupleValue):
        return TupleValue(tuple(_simplified(v, facts) for v in value.items))
    return value


def _expand(value: Value) -> list[Value] | None:
    """Items of a starred argument, when its length is known."""
    if isinstance(value, TupleValue):
        return list(value.items)
    if isinstance(value, ShapeValue) and value.shape.rank is not None:
        return [DimValue(d) for d in value.shape.dims]
    if (isinstance(value, ModuleValue) and value.qualname == "torch.nn.ModuleList" and value.children
            and not value.kwargs):  # `attn, ff = layer` over `ModuleList([Attention(..), FeedForward(..)])`
        return list(value.children)
    return None


def _unpack(value: Value, n: int) -> list[Value] | None:
    items = _expand(value)
    if items is not None and len(items) == n:
        return items
    if isinstance(value, TensorValue) and value.shape.rank is not None and value.shape.rank >= 1:
        if value.shape.dims[0].value == n:
            rest = Shape.of(*value.shape.dims[1:])
            return [TensorValue(rest, value.dtype, value.device, None, None, "index", value.library)] * n
    return None


def _index_sequence(owner: ShapeValue | TupleValue, index: Value) -> Value:
    items: list[Value]
    if isinstance(owner, ShapeValue):
        if owner.shape.rank is None:
            return UNKNOWN
        items = [DimValue(d) for d in owner.shape.dims]
    else:
        items = list(owner.items)
    i = as_int(index)
    if i is not None:
        return items[i] if -len(items) <= i < len(items) else UNKNOWN
    if isinstance(index, SliceValue):
        bounds = []
        for part in (index.start, index.stop, index.step):
            if isinstance(part, ConstValue) and part.value is None:
                bounds.append(None)
            else:
                b = as_int(part)
                if b is None:
                    return UNKNOWN
                bounds.append(b)
        sliced = items[slice(*bounds)]
        if isinstance(owner, ShapeValue):
            return ShapeValue(Shape.of(*(v.dim for v in sliced if isinstance(v, DimValue))))
        return TupleValue(tuple(sliced))
    return UNKNOWN


def _int_arithmetic(op: str, left: Value, right: Value, frame: Frame) -> Value:
    """Python int arithmetic on sizes: concrete when both are, else symbolic Dims."""
    if isinstance(left, (ShapeValue, TupleValue)) and isinstance(right, (ShapeValue, TupleValue)) and op == "+":
        a, b = _expand(left), _expand(right)
        if a is None or b is None:
            return UNKNOWN
        if all(isinstance(v, DimValue) or as_int(v) is not None for v in a + b):
            return ShapeValue(Shape.of(*(as_dim(v) for v in a + b)))  # type: ignore[arg-type]
        return TupleValue(tuple(a + b))
    lc, rc = _number(left), _number(right)
    if lc is not None and rc is not None and isinstance(left, ConstValue) and isinstance(right, ConstValue):
        try:
            return ConstValue(_PY_OPS[op](lc, rc)) if op in _PY_OPS else UNKNOWN
        except (ArithmeticError, ValueError, OverflowError):
            return UNKNOWN
    a, b = as_dim(left), as_dim(right)
    if a is not None and b is not None and op in ("/", "**"):
        return SOME_FLOAT  # `head_dim ** -0.5`, `d / 2`: a Python number, value unknown
    if (lc is not None or a is not None) and (rc is not None or b is not None) and op in ("+", "-", "*", "/", "**"):
        if isinstance(left, ConstValue) and isinstance(left.value, float) or isinstance(right, ConstValue) and isinstance(right.value, float):
            return SOME_FLOAT  # float arithmetic with a symbolic size: a number, value unknown
    if a is None or b is None or op not in ("+", "-", "*", "//", "%"):
        return UNKNOWN
    if op in ("//", "%") and b.value == 0:
        return UNKNOWN
    result = {"+": a.__add__, "-": a.__sub__, "*": a.__mul__, "//": a.__floordiv__, "%": a.__mod__}[op](b)
    if op == "//":
        frame.divisions[result] = (a, b)
    return DimValue(result)


# A Python float whose value is unknown (`math.sqrt(d)`, `head_dim ** -0.5`): elementwise ops
# treat it as a scalar operand, and as a size it is nothing (as_int/as_dim give None).
SOME_FLOAT = ConstValue(float("nan"))
_MATH_FLOAT = {"math.sqrt", "math.log", "math.exp", "math.log2", "math.log10", "math.pow", "math.cos", "math.sin",
               "numpy.sqrt", "numpy.log", "numpy.exp"}


def _literal(node: cst.BaseExpression) -> Value:
    """A literal's value without libcst's `evaluated_value` (an `ast.literal_eval`, i.e. a
    compile per literal) for the common plain forms."""
    try:
        if isinstance(node, cst.Integer):
            return ConstValue(int(node.value, 0))
        if isinstance(node, cst.Float):
            return ConstValue(float(node.value))
        if isinstance(node, cst.SimpleString):
            text = node.value
            if text[:1] in ("'", '"') and "\\" not in text:
                quote = text[:3] if text[:3] in ('"""', "'''") else text[0]
                return ConstValue(text[len(quote):-len(quote)])
    except ValueError:
        pass
    if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)):
        value = node.evaluated_value
        return ConstValue(value) if isinstance(value, (int, float, str)) else UNKNOWN
    return UNKNOWN


class _LazyLabels(list):  # type: ignore[type-arg]
    """An OpCall's argument labels (source text), rendered only when a message asks for one:
    generating code for every argument of every call costs more than the analysis itself."""

    def __init__(self, nodes: Sequence[cst.CSTNode]) -> None:
        super().__init__()
        self._nodes: Sequence[cst.CSTNode] | None = nodes

    def _fill(self) -> None:
        if self._nodes is not None:
            nodes, self._nodes = self._nodes, None
            self.extend(source_of(n) for n in nodes)

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        self._fill()
        return super().__getitem__(i)

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def __iter__(self):  # type: ignore[no-untyped-def]
        self._fill()
        return super().__iter__()

    def __bool__(self) -> bool:
        self._fill()
        return super().__len__() > 0


def _number(v: Value) -> int | float | None:
    if isinstance(v, ConstValue) and isinstance(v.value, (int, float)) and not isinstance(v.value, bool):
        return v.value
    return None


_PY_OPS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b,
    "**": lambda a, b: a ** b if abs(b) < 64 else (_ for _ in ()).throw(OverflowError()),
}


def _tensor_introspection(x: TensorValue, name: str, args: list[Value]) -> Value | None:
    """`x.size()`, `x.size(i)`, `x.dim()`, `x.numel()`: answered here, not by the op registry."""
    rank = x.shape.rank
    if name == "size":
        if not args:
            return ShapeValue(x.shape)
        i = as_int(args[0])
        if i is None or rank is None or not -rank <= i < rank:
            return UNKNOWN
        return DimValue(x.shape.dims[i])
    if name in ("dim", "ndimension"):
        return ConstValue(rank) if rank is not None else UNKNOWN
    if name in ("numel", "nelement"):
        n = x.shape.numel() if rank is not None else None
        return DimValue(n) if n is not None else UNKNOWN
    if name in ("item", "tolist"):
        return UNKNOWN
    return None


_DTYPES = {"float32", "float", "float64", "double", "float16", "half", "bfloat16", "int64", "long", "int32", "int",
           "int16", "int8", "uint8", "bool", "complex64", "complex128"}


def _qualified_constant(qualified: str) -> Value:
    """`torch.float32` -> DtypeValue; other module attributes are unknown."""
    module, _, attr = qualified.rpartition(".")
    if module in ("torch", "numpy") and attr in _DTYPES:
        return DtypeValue(attr)
    return UNKNOWN


def _looks_like_module_class(qualified: str) -> bool:
    module, _, attr = qualified.rpartition(".")
    return (module.startswith("torch.nn") or module.startswith("einops.layers")) and attr[:1].isupper()


def _for_clauses(clause: cst.CompFor | None) -> Iterator[cst.CompFor]:
    while clause is not None:
        yield clause
        clause = clause.inner_for_in


def _assigned_names(stmts: Sequence[cst.CSTNode]) -> set[str]:
    """Names bound by assignments, for-targets and with-targets anywhere in `stmts` (statement
    walk only, no expression visit)."""
    names: set[str] = set()
    for stmt in stmts:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    for t in small.targets:
                        names.update(_target_names(t.target))
                elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
                    names.update(_target_names(small.target))
            continue
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            names.add(stmt.name.value)
            continue
        if isinstance(stmt, cst.For):
            names.update(_target_names(stmt.target))
        if isinstance(stmt, cst.With):
            for item in stmt.items:
                if item.asname is not None:
                    names.update(_target_names(item.asname.name))
        for block in _blocks(stmt):
            names |= _assigned_names(block)
    return names


def _target_names(node: cst.BaseExpression) -> list[str]:
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, (cst.Tuple, cst.List)):
        return [n for e in node.elements for n in _target_names(e.value)]
    return []


def frame_summary_resolve(summary: ModuleSummary, node: cst.BaseExpression) -> TensorAnnotation | AnnotationError | None:
    return summary.annotations.resolve(node)


_EVAL: dict[type, Any] = {
    cst.Name: Interpreter.eval_name,
    cst.Integer: Interpreter.eval_const,
    cst.Float: Interpreter.eval_const,
    cst.SimpleString: Interpreter.eval_const,
    cst.ConcatenatedString: Interpreter.eval_const,
    cst.Tuple: Interpreter.eval_tuple,
    cst.List: Interpreter.eval_tuple,
    cst.IfExp: Interpreter.eval_ifexp,
    cst.Dict: Interpreter.eval_dict,
    cst.Attribute: Interpreter.eval_attribute,
    cst.Subscript: Interpreter.eval_subscript,
    cst.UnaryOperation: Interpreter.eval_unary,
    cst.BinaryOperation: Interpreter.eval_binary,
    cst.Comparison: Interpreter.eval_compare,
    cst.BooleanOperation: Interpreter.eval_boolean,
    cst.Call: Interpreter.eval_call,
    cst.ListComp: Interpreter.eval_comprehension,
    cst.GeneratorExp: Interpreter.eval_comprehension,
}


def analyse_file(ctx: Any) -> FileAnalysis:
    """The `inference` fact of a file (`ctx.fact("inference", analyse_file)`)."""
    names = ctx.names
    if not any(names.imports(m) for m in ("torch", "numpy", "jax", "einops", "jaxtyping")):
        return FileAnalysis()  # nothing tensor-valued can appear: cheap exit
    project = getattr(ctx, "project", None)
    name = ""
    if project is not None and hasattr(project, "name_of") and getattr(ctx, "path", None) is not None:
        name = project.name_of(Path(ctx.path))
    summary = ModuleSummary.build(ctx.module, names, name)
    return Interpreter(summary, project).analyse()
