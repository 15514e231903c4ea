"""Calls into the project's own code, and into the library objects that carry a program's
sizes (DESIGN §2a): constructing classes (`Net(hidden=128)`, config dataclasses), calling
functions and methods, with or without jaxtyping annotations, and the driver-side sources
(datasets, loaders, argparse, Lightning's trainer; their values live in infer/sources.py).

An unannotated callee runs with the caller's argument values; its summary (return value and
findings) is memoized per argument signature in `infer/contexts.py`. An annotated callee is bound
the way jaxtyping binds it at run time (SC104 on a contradiction) and returns its annotation.

`CallsMixin` is one half of the `Interpreter` (the other, interpreter.py, runs statements and
expressions); it uses the interpreter's `exec_block`, `eval`, `seed_params`, `peer`... .
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import libcst as cst

from shapecheck.infer import messages, sources
from shapecheck.infer.annotations import annotation_value, bind
from shapecheck.infer.contexts import MAX_BLIND_DEPTH, MAX_CALL_DEPTH, Summary
from shapecheck.infer.frames import Frame, FunctionResult, source_of
from shapecheck.infer.joins import join_all
from shapecheck.infer.summary import ClassInfo, ModuleSummary, is_annotated
from shapecheck.infer.values import (
    UNKNOWN,
    ConstValue,
    DataValue,
    ClassValue,
    DictValue,
    DimValue,
    ModuleValue,
    ObjectValue,
    TensorValue,
    TupleValue,
    Value,
    as_dim,
)
from shapecheck.names import dotted
from shapecheck.shapes import Dim, TensorAnnotation
from shapecheck.tree import child_nodes

_EMPTY_CALL = cst.Call(cst.Name("__getitem__"))


class CallsMixin:
    """Construction and calls (see the module docstring)."""

    def self_value(self, cls: ClassInfo) -> ObjectValue:
        return ObjectValue(cls.qualname, dict(self.init_attrs(cls)), cls.is_module)

    def init_attrs(self, cls: ClassInfo) -> dict[str, Value]:
        """What `__init__` assigns to `self.*`, with symbolic constructor parameters (cached)."""
        if cls.init_attrs is not None:
            return cls.init_attrs
        cls.init_attrs = {}  # guards recursion (a class whose __init__ builds itself)
        attrs: dict[str, Value] = {}
        for base in cls.bases:
            base_info = self.summary.classes.get(base)
            if base_info is not None and base_info is not cls:
                attrs.update(self.init_attrs(base_info))
        attrs.update(cls.constants)
        init = cls.methods.get("__init__")
        if init is not None:
            frame = self._new_frame(init, cls, record=False)
            obj = ObjectValue(cls.qualname, attrs, cls.is_module)
            self.seed_params(init, None, frame, None)
            first = _first_param(init)
            if first is not None:
                frame.env[first] = obj
            for p in _all_params(init)[1:]:
                if p.name.value in cls.int_params:
                    frame.env[p.name.value] = DimValue(Dim.sym(p.name.value))
            frame.cls = cls
            self.exec_block(init.body.body if isinstance(init.body, cst.IndentedBlock) else [init.body], frame)
            # `self.head_dim = d_model // n_heads` in __init__: the class relies on n_heads | d_model
            # once a method views a tensor with it; the fact holds for every method.
            self._divisions_of[cls.qualname] = list(frame.divisions.values())
        _forget_reassigned(cls, attrs)
        cls.init_attrs = attrs
        return attrs

    def class_divisions(self, cls: ClassInfo) -> list[tuple[Dim, Dim]]:
        """(dividend, divisor) of every `//` between sizes in the class's `__init__`."""
        self.init_attrs(cls)
        return self._divisions_of.get(cls.qualname, [])

    def construct(self, cls: ClassInfo, summary: ModuleSummary, args: list[Value], kwargs: dict[str, Value], depth: int) -> Value:
        """`Net(...)`: an instance whose attrs come from `__init__` run with these arguments."""
        interp = self.peer(summary)
        init = _find_method(summary, cls, "__init__")
        bindings: dict[str, Dim] = {}
        if init is None and cls.is_dataclass:
            return interp.dataclass_instance(cls, args, kwargs)
        if init is None:
            return ObjectValue(cls.qualname, dict(interp.init_attrs(cls)), cls.is_module, bindings)
        actual = _match_args(init, args, kwargs, skip_self=True)
        if actual is None:
            return ObjectValue(cls.qualname, dict(interp.init_attrs(cls)), cls.is_module, bindings)
        for name in cls.int_params:
            d = as_dim(actual.get(name))
            if d is not None:
                bindings[name] = d
        if depth >= MAX_CALL_DEPTH or self.budget.inlines <= 0:
            return ObjectValue(cls.qualname, {}, cls.is_module, bindings)
        self.budget.inlines -= 1
        attrs: dict[str, Value] = {}
        for base in cls.bases:
            base_info = summary.classes.get(base)
            if base_info is not None and base_info is not cls:
                attrs.update(interp.init_attrs(base_info))
        frame = interp._new_frame(init, cls, record=False, depth=depth + 1)
        obj = ObjectValue(cls.qualname, attrs, cls.is_module, bindings,
                          constructed=all(_concrete(v) for v in [*args, *kwargs.values()]))
        interp.seed_params(init, None, frame, actual)
        first = _first_param(init)
        if first is not None:
            frame.env[first] = obj
        interp.exec_block(init.body.body if isinstance(init.body, cst.IndentedBlock) else [init.body], frame)
        _forget_reassigned(cls, attrs)
        return obj

    def dataclass_instance(self, cls: ClassInfo, args: list[Value], kwargs: dict[str, Value]) -> Value:
        """`GPTConfig(n_layer=12)`: the fields, from the arguments or their defaults."""
        if len(args) > len(cls.fields) or any(k not in {n for n, _ in cls.fields} for k in kwargs):
            return UNKNOWN
        attrs = dict(cls.constants)
        frame = self._new_frame(None, None, record=False)
        for i, (name, default) in enumerate(cls.fields):
            if i < len(args):
                attrs[name] = args[i]
            elif name in kwargs:
                attrs[name] = kwargs[name]
            elif default is not None:
                value = self.eval(default, frame)
                attrs[name] = value if not isinstance(value, (ObjectValue, ModuleValue)) else UNKNOWN
            else:
                return UNKNOWN  # a required field not given: the call fails
        return ObjectValue(cls.qualname, attrs, cls.is_module,
                           constructed=all(_concrete(attrs[name]) for name, _ in cls.fields))

    def call_instance_method(self, obj: ObjectValue, name: str, args: list[Value], kwargs: dict[str, Value],
                             node: cst.Call, arg_nodes: list[cst.CSTNode], frame: Frame) -> Value:
        found = self.find_class(obj.qualname, frame.summary)
        if found is None:
            return UNKNOWN
        summary, cls = found
        method = _find_method(summary, cls, name)
        if method is None:
            return UNKNOWN
        return self.call_user_function(summary, method, cls, obj, args, kwargs, node, arg_nodes, frame)

    def find_class(self, qualname: str, summary: ModuleSummary) -> tuple[ModuleSummary, ClassInfo] | None:
        for info in summary.classes.values():
            if info.qualname == qualname:
                return summary, info
        if self.project is not None:
            found = self.project.lookup(qualname)
            if found is not None and found[1] in found[0].classes:
                return found[0], found[0].classes[found[1]]
        for peer in self._peers.values():
            for info in peer.summary.classes.values():
                if info.qualname == qualname:
                    return peer.summary, info
        return None

    def call_user_function(self, summary: ModuleSummary, fn: cst.FunctionDef, cls: ClassInfo | None,
                           obj: ObjectValue | None, args: list[Value], kwargs: dict[str, Value],
                           node: cst.Call, arg_nodes: list[cst.CSTNode], frame: Frame) -> Value:
        is_method = cls is not None and not any(dotted(d.decorator) == "staticmethod" for d in fn.decorators)
        actual = _match_args(fn, args, kwargs, skip_self=is_method)
        if actual is None:
            return UNKNOWN
        if is_annotated(fn, summary.annotations):
            result = self.call_annotated(summary, fn, cls, obj, actual, args, arg_nodes, node, frame)
            if result is not None:
                return result
        if is_method and obj is not None:
            first = _first_param(fn)
            if first is not None:
                actual[first] = obj
        contexts = self.contexts
        key = contexts.key(fn, obj, actual)
        found = contexts.memo.get(key)
        if found is None:
            limit = MAX_CALL_DEPTH if _informative(actual, obj) else MAX_BLIND_DEPTH
            if frame.depth >= limit or contexts.runs <= 0 or contexts.on_stack(fn):
                return UNKNOWN  # too deep, over budget, or recursive: unknown, never a guess
            contexts.runs -= 1
            contexts.active.add(id(fn))
            try:
                found = self.peer(summary).run_context(fn, cls if is_method else None, actual, frame.depth + 1)
            finally:
                contexts.active.discard(id(fn))
            contexts.memo[key] = found
        contexts.replay(found, frame.report, node, frame.summary)
        return found.value

    def run_context(self, fn: cst.FunctionDef, cls: ClassInfo | None, actual: dict[str, Value], depth: int) -> Summary:
        """Run `fn` with the caller's argument values: its findings and return value."""
        inner = self._new_frame(fn, cls, record=True, depth=depth)
        inner.guessed = self.contexts.carries_guess(actual)
        if self.summary is self.contexts.root:
            inner.result = FunctionResult(fn.name.value, fn, context=True)
            self.contexts.results.append(inner.result)
        self.seed_params(fn, cls, inner, actual)
        self.exec_block(fn.body.body if isinstance(fn.body, cst.IndentedBlock) else [fn.body], inner)
        value = join_all(inner.returns) if inner.returns else UNKNOWN
        where = f"{cls.name}.{fn.name.value}" if cls is not None else fn.name.value
        return Summary(value, inner.findings, self.summary, where)

    def call_annotated(self, summary: ModuleSummary, fn: cst.FunctionDef, cls: ClassInfo | None,
                       obj: ObjectValue | None, actual: dict[str, Value], args: list[Value],
                       arg_nodes: list[cst.CSTNode], node: cst.Call, frame: Frame) -> Value | None:
        """jaxtyping at the call: bind the callee's dims from the arguments, check the rest."""
        bindings: dict[str, Dim] = {}
        if cls is not None and obj is not None:
            if obj.bindings:
                bindings.update(obj.bindings)
            elif frame.cls is cls:
                bindings.update({d: Dim.sym(d) for d in cls.dims & cls.int_params})
        fixed = set(bindings)  # class dims fixed by the constructor (or the class itself)
        scope = summary.annotations
        node_of = _arg_node_map(fn, arg_nodes, node, skip_self=cls is not None)
        for p in _all_params(fn):
            name = p.name.value
            value = actual.get(name)
            if p.annotation is None or not isinstance(value, TensorValue):
                continue
            ann = scope.resolve(p.annotation.annotation)
            if not isinstance(ann, TensorAnnotation):
                continue
            before = dict(bindings)
            mismatch = bind(ann, value.shape, bindings, frame.facts)
            if mismatch is not None:
                msg, notes = messages.argument_mismatch(
                    f"{cls.name}.{fn.name.value}" if cls is not None else fn.name.value, name, source_of(node_of.get(name, node)), mismatch.expected, mismatch.actual,
                    mismatch.axis, mismatch.name, before,
                    "the constructor" if mismatch.name in fixed else "an earlier argument",
                )
                frame.report("SC104", msg, notes, node_of.get(name, node))
                return UNKNOWN
        if fn.returns is None:
            return None  # no return annotation: the caller runs the body
        result = _annotated_result(scope, fn.returns.annotation, bindings)
        return None if result is UNKNOWN else result

    def run_trainer(self, method: str, args: list[Value], kwargs: dict[str, Value], node: cst.Call, frame: Frame) -> Value:
        """`trainer.fit(model, train_loader, val_loader)`: Lightning calls the model's
        `training_step(batch, batch_idx)` / `validation_step(...)` with each loader's batches."""
        model = kwargs.get("model", args[0] if args else None)
        if not (isinstance(model, ObjectValue) and model.is_module):
            return UNKNOWN
        steps = {"fit": [("train_dataloaders", 1, "training_step", "train_dataloader"),
                         ("val_dataloaders", 2, "validation_step", "val_dataloader")],
                 "validate": [("dataloaders", 1, "validation_step", "val_dataloader")],
                 "test": [("dataloaders", 1, "test_step", "test_dataloader")],
                 "predict": [("dataloaders", 1, "predict_step", "predict_dataloader")]}.get(method, [])
        for keyword, position, step, hook in steps:
            loader = kwargs.get(keyword, args[position] if len(args) > position else None)
            if loader is None:  # the model's own `train_dataloader()` hook
                loader = self.call_instance_method(model, hook, [], {}, node, [], frame)
            if isinstance(loader, DataValue) and loader.kind == "loader":
                self.call_instance_method(model, step, [loader.item, DimValue(Dim.sym("batch_idx"))], {}, node, [], frame)
        return UNKNOWN

    def data_source(self, qualified: str, args: list[Value], kwargs: dict[str, Value], frame: Frame) -> Value | None:
        """Datasets, loaders, transforms, argparse, model wrappers (see infer/sources.py)."""
        if qualified in sources.TENSOR_DATASETS:
            return sources.tensor_dataset(args)
        if qualified in sources.SPLITS and len(args) >= 2:
            return sources.random_split(self.dataset(args[0], frame), args[1])
        if qualified in sources.SUBSETS and args:
            return sources.subset(self.dataset(args[0], frame))
        if qualified.startswith(sources.VISION_PREFIXES):
            return sources.vision_dataset(qualified, args, kwargs)
        if qualified.startswith(sources.TRANSFORM_PREFIXES):
            return ModuleValue(qualified, tuple(args), tuple(kwargs.items()))
        if qualified == sources.PARSER:
            return sources.new_parser()
        if qualified in sources.TRAINERS:
            return ObjectValue("lightning.Trainer", {})
        if qualified in ("argparse.Namespace", "types.SimpleNamespace"):
            return ObjectValue(sources.NAMESPACE, dict(kwargs))
        if qualified in sources.WRAPPERS or qualified in sources.PASS_THROUGH:
            return args[0] if args else UNKNOWN
        return None

    def dataset(self, value: Value, frame: Frame) -> Value:
        """A dataset value; an instance of a project `Dataset` class gives its `__getitem__`'s sample."""
        if isinstance(value, ObjectValue) and not value.is_module:
            found = self.find_class(value.qualname, frame.summary)
            if found is None or _find_method(found[0], found[1], "__getitem__") is None:
                return UNKNOWN
            sample = self.call_instance_method(value, "__getitem__", [DimValue(Dim.sym("idx"))], {}, _EMPTY_CALL, [], frame)
            return DataValue("dataset", sample) if sample is not UNKNOWN else UNKNOWN
        return value


def _forget_reassigned(cls: ClassInfo, attrs: dict[str, Value]) -> None:
    """An attribute that another method assigns (`self.cache = ...` in forward) holds whatever the
    call history left there: only `__init__`'s value is not enough to know it."""
    if cls.reassigned is None:
        cls.reassigned = frozenset(_self_assignments(cls))
    for name in cls.reassigned:
        if name in attrs:
            attrs[name] = UNKNOWN


def _self_assignments(cls: ClassInfo) -> set[str]:
    """Attributes assigned by methods other than `__init__` and the builders it calls."""
    found: set[str] = set()
    init = cls.methods.get("__init__")
    builders = _self_calls(init) if init is not None else set()
    for name, method in cls.methods.items():
        first = _first_param(method)
        if name == "__init__" or name in builders or first is None:
            continue
        for node in _body_nodes(method, into_nested=False):
            targets: list[cst.BaseExpression] = []
            if isinstance(node, cst.Assign):
                targets = [t.target for t in node.targets]
            elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
                targets = [node.target]
            for t in targets:
                for element in (t.elements if isinstance(t, (cst.Tuple, cst.List)) else [t]):
                    target = element.value if isinstance(element, cst.BaseElement) else element
                    if (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
                            and target.value.value == first):
                        found.add(target.attr.value)
    return found


def _self_calls(method: cst.FunctionDef) -> set[str]:
    """`self.<name>(...)` calls in a method's body."""
    first = _first_param(method)
    return {node.func.attr.value for node in _body_nodes(method, into_nested=True)
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and isinstance(node.func.value, cst.Name) and node.func.value.value == first}


def _body_nodes(method: cst.FunctionDef, into_nested: bool) -> Iterator[cst.CSTNode]:
    """Every node of a method's body (`tree.child_nodes`: no libcst visitor); nested functions,
    classes and lambdas are entered only when `into_nested`."""
    stack: list[cst.CSTNode] = [method.body]
    while stack:
        node = stack.pop()
        yield node
        if into_nested or not isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            stack.extend(child_nodes(node))


def _concrete(value: Value) -> bool:
    """A constructor argument that fixes sizes: numbers, strings, configs the program built."""
    if isinstance(value, ConstValue):
        return True
    if isinstance(value, DimValue):
        return value.dim.value is not None
    if isinstance(value, TupleValue):
        return all(_concrete(v) for v in value.items)
    if isinstance(value, DictValue):
        return not value.partial and all(_concrete(v) for _, v in value.items)
    if isinstance(value, ObjectValue):
        return value.constructed or value.qualname == sources.NAMESPACE
    return isinstance(value, (ModuleValue, ClassValue, TensorValue))


def _informative(actual: dict[str, Value], receiver: object) -> bool:
    """Whether a call passes something a context-free run does not know: a tensor of known
    rank, a dataset, a config object, a number."""
    if isinstance(receiver, ObjectValue) and receiver.constructed:
        return True  # a method of a model the program built: its sizes are known
    for v in actual.values():
        if v is receiver:
            continue
        if isinstance(v, TensorValue) and v.shape.rank is not None:
            return True
        if isinstance(v, (DataValue, DictValue, ConstValue, DimValue)) and not (isinstance(v, ConstValue) and v.value is None):
            return True
        if isinstance(v, ObjectValue) or (isinstance(v, TupleValue) and any(isinstance(i, TensorValue) for i in v.items)):
            return True
    return False


def _all_params(fn: cst.FunctionDef) -> list[cst.Param]:
    p = fn.params
    return [*p.posonly_params, *p.params, *p.kwonly_params]


def _first_param(fn: cst.FunctionDef) -> str | None:
    params = [*fn.params.posonly_params, *fn.params.params]
    return params[0].name.value if params else None


def _match_args(fn: cst.FunctionDef, args: list[Value], kwargs: dict[str, Value], skip_self: bool) -> dict[str, Value] | None:
    """Parameter name -> argument value (defaults: unknown); None when the call does not fit."""
    positional = [*fn.params.posonly_params, *fn.params.params]
    if skip_self:
        positional = positional[1:]
    out: dict[str, Value] = {}
    if len(args) > len(positional) and not isinstance(fn.params.star_arg, cst.Param):
        return None
    for p, v in zip(positional, args):
        out[p.name.value] = v
    names = {p.name.value for p in [*positional, *fn.params.kwonly_params]}
    for k, v in kwargs.items():
        if k in names:
            out[k] = v
        elif fn.params.star_kwarg is None:
            return None
    for p in [*positional, *fn.params.kwonly_params]:
        if p.name.value not in out:
            out[p.name.value] = _default_value(p)
    return out


def _default_value(p: cst.Param) -> Value:
    return _literal_default(p.default) if p.default is not None else UNKNOWN


def _literal_default(node: cst.BaseExpression) -> Value:
    """A parameter default written as a literal: numbers, strings, True/False/None, tuples of them."""
    if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString)):
        value = node.evaluated_value
        return ConstValue(value) if isinstance(value, (int, float, str)) else UNKNOWN
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return ConstValue({"True": True, "False": False, "None": None}[node.value])
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _literal_default(node.expression)
        if isinstance(inner, ConstValue) and isinstance(inner.value, (int, float)) and not isinstance(inner.value, bool):
            return ConstValue(-inner.value)
        return UNKNOWN
    if isinstance(node, cst.Tuple):
        items = tuple(_literal_default(e.value) for e in node.elements if not isinstance(e, cst.StarredElement))
        if len(items) == len(node.elements) and all(i is not UNKNOWN for i in items):
            return TupleValue(items)
    return UNKNOWN


def _arg_node_map(fn: cst.FunctionDef, arg_nodes: list[cst.CSTNode], call: cst.Call, skip_self: bool) -> dict[str, cst.CSTNode]:
    positional = [*fn.params.posonly_params, *fn.params.params]
    if skip_self:
        positional = positional[1:]
    out: dict[str, cst.CSTNode] = {}
    for p, n in zip(positional, arg_nodes):
        out[p.name.value] = n
    for arg in call.args:
        if arg.keyword is not None:
            out[arg.keyword.value] = arg.value
    return out


def _find_method(summary: ModuleSummary, cls: ClassInfo, name: str, depth: int = 0) -> cst.FunctionDef | None:
    if name in cls.methods:
        return cls.methods[name]
    if depth > 5:
        return None
    for base in cls.bases:
        info = summary.classes.get(base)
        if info is not None and info is not cls:
            found = _find_method(summary, info, name, depth + 1)
            if found is not None:
                return found
    return None


def _annotated_result(scope: Any, node: cst.BaseExpression, bindings: dict[str, Dim]) -> Value:
    items = scope.tuple_items(node)
    if items is not None:
        return TupleValue(tuple(_annotated_result(scope, i, bindings) for i in items))
    ann = scope.resolve(node)
    if isinstance(ann, TensorAnnotation):
        value = annotation_value(ann, bindings)
        return value
    return UNKNOWN

