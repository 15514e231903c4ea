"""What one module defines, indexed once: its functions, classes (methods, `__init__`, the
class-level dims), module-level constants and annotation aliases.

The interpreter reads the current file's summary and, through the project index, the summaries
of other project files it calls into. Building a summary walks only the module's top level and
class bodies, never function bodies.

Class-level dim scoping (DESIGN §3): jaxtyping binds dims per call, but a model's methods and
constructor talk about the same sizes. So, within one class, a dim name used in any method
annotation (`Float[Tensor, "b s d_model"]`) and an integer `__init__` parameter of the same name
(`d_model: int`) are ONE symbol: `nn.Linear(d_model, d_model)` in `__init__` and the `d_model`
axis of `forward`'s input agree. Integer constructor parameters that no annotation names (an
`int` annotation or an int default) are symbols of their own name too (`hidden` in
`nn.Linear(d_in, hidden)` then `nn.Linear(hidden, d_out)`), so layer chains line up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from shapecheck.infer.annotations import AnnotationScope
from shapecheck.infer.values import ConstValue, Value
from shapecheck.names import ImportTable
from shapecheck.shapes import AnnotationError, TensorAnnotation

MODULE_BASES = frozenset({"torch.nn.Module", "nn.Module", "Module", "torch.nn.modules.module.Module",
                          "pytorch_lightning.LightningModule", "lightning.LightningModule",
                          "lightning.pytorch.LightningModule", "L.LightningModule"})


def function_annotations(fn: cst.FunctionDef) -> list[cst.BaseExpression]:
    out: list[cst.BaseExpression] = []
    params = fn.params
    for p in [*params.posonly_params, *params.params, *params.kwonly_params]:
        if p.annotation is not None:
            out.append(p.annotation.annotation)
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param) and star.annotation is not None:
            out.append(star.annotation.annotation)
    if fn.returns is not None:
        out.append(fn.returns.annotation)
    return out


def is_annotated(fn: cst.FunctionDef, scope: AnnotationScope) -> bool:
    """Whether any parameter or the return carries a jaxtyping annotation."""
    for node in function_annotations(fn):
        if isinstance(scope.resolve(node), TensorAnnotation):
            return True
        items = scope.tuple_items(node)
        if items and any(isinstance(scope.resolve(i), TensorAnnotation) for i in items):
            return True
    return False


@dataclass
class ClassInfo:
    name: str
    qualname: str
    node: cst.ClassDef
    bases: list[str]
    methods: dict[str, cst.FunctionDef] = field(default_factory=dict)
    dims: frozenset[str] = frozenset()
    int_params: frozenset[str] = frozenset()
    is_module: bool = False
    constants: dict[str, Value] = field(default_factory=dict)  # `expansion = 4` in the class body
    # `n_embd: int = 768` in a @dataclass body: (name, default expression or None), in order
    fields: list[tuple[str, cst.BaseExpression | None]] = field(default_factory=list)
    is_dataclass: bool = False
    reassigned: frozenset[str] | None = None  # `self.<name>` assigned outside __init__ (lazy)
    init_attrs: dict[str, Value] | None = None  # filled lazily by the interpreter


@dataclass
class ModuleSummary:
    name: str  # dotted module name in the project ("" for the file being linted)
    module: cst.Module
    names: ImportTable
    annotations: AnnotationScope
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    constants: dict[str, Value] = field(default_factory=dict)
    relative_imports: dict[str, str] = field(default_factory=dict)  # local name -> dotted target
    _statements: Statements | None = None
    qualified: dict[int, str | None] = field(default_factory=dict)  # call-site qualify cache

    def statements(self) -> Statements:
        if self._statements is None:
            out = Statements()
            _walk(self.module.body, None, {id(c.node): c for c in self.classes.values()}, out)
            self._statements = out
        return self._statements

    @classmethod
    def build(cls, module: cst.Module, names: ImportTable | None = None, name: str = "") -> ModuleSummary:
        names = names or ImportTable.from_module(module)
        summary = cls(name, module, names, AnnotationScope.from_module(module, names))
        for stmt in module.body:
            summary._index(stmt)
        for info in summary.classes.values():
            info.is_module = summary._is_module(info, set())
        return summary

    def _index(self, stmt: cst.CSTNode) -> None:
        if isinstance(stmt, cst.FunctionDef):
            self.functions[stmt.name.value] = stmt
        elif isinstance(stmt, cst.ClassDef):
            self.classes[stmt.name.value] = self._class(stmt)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    target = small.targets[0].target
                    if isinstance(target, cst.Name) and isinstance(small.value, (cst.Integer, cst.Float, cst.SimpleString)):
                        self.constants[target.value] = ConstValue(small.value.evaluated_value)  # type: ignore[arg-type]
                elif isinstance(small, cst.ImportFrom) and small.relative and not isinstance(small.names, cst.ImportStar):
                    self._relative(small)
        elif isinstance(stmt, cst.If):
            # `if TYPE_CHECKING:` / version guards: index both arms' definitions
            for inner in stmt.body.body:
                self._index(inner)

    def _relative(self, node: cst.ImportFrom) -> None:
        dots = len(node.relative)
        base_parts = self.name.split(".")[:-dots] if self.name else []
        if node.module is not None:
            mod = cst.Module([]).code_for_node(node.module)
            base_parts = [*base_parts, *mod.split(".")]
        assert not isinstance(node.names, cst.ImportStar)
        for alias in node.names:
            imported = cst.Module([]).code_for_node(alias.name)
            local = imported
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.relative_imports[local] = ".".join([*base_parts, imported])

    def _class(self, node: cst.ClassDef) -> ClassInfo:
        bases = [self.names.qualify(arg.value) or "" for arg in node.bases]
        prefix = f"{self.name}." if self.name else ""
        info = ClassInfo(node.name.value, prefix + node.name.value, node, bases)
        dims: set[str] = set()
        for stmt in node.body.body:
            if isinstance(stmt, cst.FunctionDef):
                info.methods[stmt.name.value] = stmt
                for ann in function_annotations(stmt):
                    for target in [ann, *(self.annotations.tuple_items(ann) or [])]:
                        resolved = self.annotations.resolve(target)
                        if isinstance(resolved, TensorAnnotation):
                            dims.update(resolved.spec.names)
            elif isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Assign) and len(small.targets) == 1:
                        target = small.targets[0].target
                        if isinstance(target, cst.Name) and isinstance(small.value, (cst.Integer, cst.Float, cst.SimpleString)):
                            info.constants[target.value] = ConstValue(small.value.evaluated_value)  # type: ignore[arg-type]
                    if isinstance(small, cst.AnnAssign):
                        if isinstance(small.target, cst.Name):
                            info.fields.append((small.target.value, small.value))
                            if isinstance(small.value, (cst.Integer, cst.Float, cst.SimpleString)):
                                info.constants[small.target.value] = ConstValue(small.value.evaluated_value)  # type: ignore[arg-type]
                        resolved = self.annotations.resolve(small.annotation.annotation)
                        if isinstance(resolved, TensorAnnotation):
                            dims.update(resolved.spec.names)
        info.dims = frozenset(dims)
        info.is_dataclass = any(
            (self.names.qualify(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator) or "")
            in ("dataclasses.dataclass", "dataclass") for d in node.decorators
        )
        init = info.methods.get("__init__")
        if init is not None:
            info.int_params = frozenset(_int_params(init, info.dims))
        return info

    def _is_module(self, info: ClassInfo, seen: set[str]) -> bool:
        if info.name in seen:
            return False
        seen.add(info.name)
        for base in info.bases:
            if base in MODULE_BASES or base.endswith(".Module") and base.startswith("torch"):
                return True
            local = self.classes.get(base)
            if local is not None and self._is_module(local, seen):
                return True
        return "forward" in info.methods and any(b.endswith("Module") for b in info.bases)

    def annotation_errors(self) -> list[tuple[cst.BaseExpression, AnnotationError]]:
        """Every malformed jaxtyping annotation of the module's signatures, annotated assignments
        and aliases (SC190), each once."""
        found: list[tuple[cst.BaseExpression, AnnotationError]] = []
        nodes = [*self.statements().annotations, *self.annotations.aliases.values()]
        seen: set[int] = set()
        for node in nodes:
            for target in [node, *(self.annotations.tuple_items(node) or [])]:
                if isinstance(target, cst.Name) and target.value in self.annotations.aliases:
                    continue  # reported once, at the alias
                if id(target) in seen:
                    continue
                seen.add(id(target))
                resolved = self.annotations.resolve(target)
                if isinstance(resolved, AnnotationError):
                    found.append((target, resolved))
        return found


@dataclass
class Statements:
    """Every function (with its class, for methods) and every annotation of a module, found by
    walking statement bodies only: a libcst visitor would also walk every expression, which on
    real files costs about as much as the parse itself."""

    functions: list[tuple[cst.FunctionDef, ClassInfo | None]] = field(default_factory=list)
    annotations: list[cst.BaseExpression] = field(default_factory=list)


def _walk(body: Sequence[cst.CSTNode], cls: ClassInfo | None, classes: dict[int, ClassInfo], out: Statements) -> None:
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.AnnAssign):
                    out.annotations.append(small.annotation.annotation)
            continue
        if isinstance(stmt, cst.FunctionDef):
            out.functions.append((stmt, cls))
            out.annotations.extend(function_annotations(stmt))
            _walk(_body_of(stmt.body), None, classes, out)
            continue
        if isinstance(stmt, cst.ClassDef):
            _walk(_body_of(stmt.body), classes.get(id(stmt)), classes, out)
            continue
        for block in _blocks(stmt):
            _walk(block, cls, classes, out)


def _body_of(suite: cst.BaseSuite) -> Sequence[cst.CSTNode]:
    return suite.body if isinstance(suite, cst.IndentedBlock) else [suite]


def _blocks(stmt: cst.CSTNode) -> list[Sequence[cst.CSTNode]]:
    """The statement blocks nested in a compound statement (if/for/while/with/try/match)."""
    blocks: list[Sequence[cst.CSTNode]] = []
    body = getattr(stmt, "body", None)
    if isinstance(body, cst.BaseSuite):
        blocks.append(_body_of(body))
    orelse = getattr(stmt, "orelse", None)
    if isinstance(orelse, cst.If):
        blocks.append([orelse])
    elif orelse is not None and isinstance(getattr(orelse, "body", None), cst.BaseSuite):
        blocks.append(_body_of(orelse.body))
    for handler in getattr(stmt, "handlers", ()) or ():
        blocks.append(_body_of(handler.body))
    final = getattr(stmt, "finalbody", None)
    if final is not None:
        blocks.append(_body_of(final.body))
    for case in getattr(stmt, "cases", ()) or ():
        blocks.append(_body_of(case.body))
    return blocks


def _int_params(init: cst.FunctionDef, class_dims: frozenset[str]) -> list[str]:
    out: list[str] = []
    params = init.params
    for p in [*params.posonly_params, *params.params, *params.kwonly_params]:
        name = p.name.value
        if name == "self":
            continue
        ann = p.annotation.annotation if p.annotation is not None else None
        is_int_ann = isinstance(ann, cst.Name) and ann.value == "int"
        is_int_default = isinstance(p.default, cst.Integer)
        if name in class_dims and (ann is None or is_int_ann) or is_int_ann or is_int_default:
            out.append(name)
    return out
