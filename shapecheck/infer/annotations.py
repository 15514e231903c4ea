"""jaxtyping annotations as abstract values, and binding dims across a call.

`AnnotationScope` reads one module's annotations: it follows module-level aliases
(`Vec = Float[Tensor, "d"]`, `Vec: TypeAlias = ...`, `type Vec = ...`), string annotations
(`"Float[Tensor, 'b d']"` and everything under `from __future__ import annotations`, which
libcst leaves as plain expressions anyway) and import aliases (`jt.Float`, `torch.Tensor`), then
hands the expression to the domain's `parse_annotation`.

    >>> scope = AnnotationScope.from_source('Vec = Float[Tensor, "d"]')
    >>> scope.resolve(cst.parse_expression("Vec")).spec.names        # doctest: +SKIP
    ('d',)

`bind` is jaxtyping's rule for a call: the callee's named dims are bound by the arguments, in
order; a later argument that contradicts an earlier binding (or a fixed size) is a mismatch.
Unknown dims bind nothing and contradict nothing (silence on unknowns).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import libcst as cst

from shapecheck.infer.values import TensorValue
from shapecheck.names import ImportTable
from shapecheck.shapes import AnnotationError, Dim, Facts, Shape, TensorAnnotation, Variadic, compare, parse_annotation
from shapecheck.parsing import parse_expression  # guarded: text from the checked file

Resolved = TensorAnnotation | AnnotationError | None

_TUPLE_NAMES = {"tuple", "typing.Tuple", "Tuple"}


def _string_value(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(node, cst.ConcatenatedString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


class AnnotationScope:
    """Annotations of one module, aliases followed. Results are cached per node."""

    def __init__(self, names: ImportTable, aliases: dict[str, cst.BaseExpression] | None = None) -> None:
        self.names = names
        self.aliases = aliases or {}
        self._cache: dict[int, Resolved] = {}

    @classmethod
    def from_module(cls, module: cst.Module, names: ImportTable) -> AnnotationScope:
        scope = cls(names)
        for stmt in module.body:
            scope._collect_alias(stmt)
        return scope

    @classmethod
    def from_source(cls, source: str) -> AnnotationScope:
        module = cst.parse_module(source)
        return cls.from_module(module, ImportTable.from_module(module))

    def _collect_alias(self, stmt: cst.CSTNode) -> None:
        if isinstance(stmt, cst.TypeAlias):
            self.aliases[stmt.name.value] = stmt.value
            return
        if not isinstance(stmt, cst.SimpleStatementLine):
            return
        for small in stmt.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target = small.targets[0].target
                if isinstance(target, cst.Name) and isinstance(small.value, (cst.Subscript, cst.Name, cst.SimpleString)):
                    self.aliases[target.value] = small.value
            elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value is not None:
                if self.names.qualify(small.annotation.annotation) in ("typing.TypeAlias", "typing_extensions.TypeAlias", "TypeAlias"):
                    self.aliases[small.target.value] = small.value

    def alias_nodes(self) -> Iterable[tuple[str, cst.BaseExpression]]:
        return self.aliases.items()

    def resolve(self, node: cst.BaseExpression, _depth: int = 0) -> Resolved:
        """The jaxtyping annotation `node` denotes, an AnnotationError, or None (not one)."""
        key = id(node)
        if key in self._cache:
            return self._cache[key]
        result = self._resolve(node, _depth)
        self._cache[key] = result
        return result

    def _resolve(self, node: cst.BaseExpression, depth: int) -> Resolved:
        if depth > 8:
            return None
        if isinstance(node, cst.Name) and node.value in self.aliases:
            return self.resolve(self.aliases[node.value], depth + 1)
        text = _string_value(node)
        if text is not None:
            try:
                inner = parse_expression(text)
            except cst.ParserSyntaxError:
                return None  # a string annotation that is not an expression: not ours to judge
            return self.resolve(inner, depth + 1)
        inner = self._optional_inner(node)
        if inner is not None:
            return self.resolve(inner, depth + 1)
        if not isinstance(node, cst.Subscript):
            return None
        return parse_annotation(node, self.names)

    def _optional_inner(self, node: cst.BaseExpression) -> cst.BaseExpression | None:
        """`X | None`, `None | X`, `Optional[X]` -> X: where the value is used as a tensor it is X."""
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
            left_none = isinstance(node.left, cst.Name) and node.left.value == "None"
            right_none = isinstance(node.right, cst.Name) and node.right.value == "None"
            if right_none and not left_none:
                return node.left
            if left_none and not right_none:
                return node.right
            return None
        if (
            isinstance(node, cst.Subscript)
            and self.names.qualify(node.value) in ("typing.Optional", "Optional")
            and len(node.slice) == 1
            and isinstance(node.slice[0].slice, cst.Index)
        ):
            return node.slice[0].slice.value
        return None

    def tuple_items(self, node: cst.BaseExpression) -> list[cst.BaseExpression] | None:
        """`tuple[A, B]` / `Tuple[A, B]` (also as a string) -> [A, B]; anything else None."""
        text = _string_value(node)
        if text is not None:
            try:
                node = parse_expression(text)
            except cst.ParserSyntaxError:
                return None
        if not isinstance(node, cst.Subscript) or self.names.qualify(node.value) not in _TUPLE_NAMES:
            return None
        items: list[cst.BaseExpression] = []
        for element in node.slice:
            if not isinstance(element.slice, cst.Index):
                return None
            items.append(element.slice.value)
        return items


def identity_bindings(annotation: TensorAnnotation) -> dict[str, Dim]:
    """Each named dim bound to the symbol of the same name: the annotated function's own view."""
    return {name: Dim.sym(name) for name in annotation.spec.names}


def annotation_value(annotation: TensorAnnotation, bindings: dict[str, Dim] | None = None) -> TensorValue:
    """The abstract tensor an annotation describes, under `bindings` (unbound names: unknown)."""
    full = {name: Dim.unknown() for name in annotation.spec.names}
    full.update(identity_bindings(annotation) if bindings is None else bindings)
    shape = annotation.spec.to_shape(full)
    dtype = annotation.exact_dtype or annotation.dtype_class
    library = "numpy" if (annotation.array_type or "").startswith("numpy") else "torch"
    return TensorValue(shape, dtype=dtype, origin="annotation", library=library)


@dataclass
class Mismatch:
    """Why a value contradicts an annotation: rank, or one axis (`axis` counts from the left of
    the actual shape)."""

    expected: Shape
    actual: Shape
    axis: int | None  # None: the ranks differ
    name: str | None = None  # the dim name bound earlier, when a binding was contradicted


def _is_symbol(d: object) -> str | None:
    return d.name if isinstance(d, Dim) and d.is_symbol else None


def _pairs(pattern: tuple, actual: tuple) -> list[tuple[int, object, object]] | None:
    """Aligned (actual axis, pattern dim, actual dim) pairs; None when the ranks cannot match.
    `pattern` holds Dims and one Variadic, or the spec's DimPatterns (`.variadic`)."""
    variadic = [i for i, d in enumerate(pattern) if isinstance(d, Variadic) or getattr(d, "variadic", False)]
    if not variadic:
        if len(pattern) != len(actual):
            return None
        return [(i, p, a) for i, (p, a) in enumerate(zip(pattern, actual))]
    k = variadic[0]
    suffix = len(pattern) - k - 1
    if len(actual) < len(pattern) - 1:
        return None
    pairs = [(i, pattern[i], actual[i]) for i in range(k)]
    offset = len(actual) - suffix
    pairs += [(offset + j, pattern[k + 1 + j], actual[offset + j]) for j in range(suffix)]
    return pairs


def bind(
    annotation: TensorAnnotation,
    actual: Shape,
    bindings: dict[str, Dim],
    facts: Facts | None = None,
) -> Mismatch | None:
    """Bind the annotation's named dims from `actual` into `bindings` (in place) and check the
    rest. A mismatch only when it fails for every size: different rank, or an axis that compares
    "different" (3 vs 4, `n` bound to 3 vs 5, `n` vs `n + 1`)."""
    if actual.rank is None or any(isinstance(d, Variadic) for d in actual.dims):
        return None
    pattern_shape = annotation.spec.to_shape({name: Dim.sym(name) for name in annotation.spec.names})
    pattern = tuple(pattern_shape.dims)
    actual_dims = tuple(actual.dims)
    pairs = _pairs(pattern, actual_dims)
    if pairs is None:
        expected = annotation_value(annotation, dict(bindings)).shape
        return Mismatch(expected, actual, None)
    broadcastable = {axis for axis, p, _ in _pairs(tuple(annotation.spec.dims), actual_dims) or []
                     if getattr(p, "broadcastable", False)}
    deferred: list[tuple[int, object, object]] = []
    for axis, p, a in pairs:
        assert isinstance(a, Dim)
        if a.is_unknown or (axis in broadcastable and a.is_const and a.value == 1):
            continue  # binds nothing; `#name` accepts a 1 without binding it
        name = _is_symbol(p)
        if name is None:
            deferred.append((axis, p, a))
            continue
        if name in bindings:
            if compare(bindings[name], a, facts) == "different":
                return Mismatch(annotation_value(annotation, dict(bindings)).shape, actual, axis, name)
        else:
            bindings[name] = a
    if deferred:
        instantiated = annotation_value(annotation, dict(bindings)).shape
        inst_pairs = _pairs(tuple(instantiated.dims), actual_dims)
        if inst_pairs is None:
            return None
        wanted = {axis for axis, _, _ in deferred}
        for axis, p, a in inst_pairs:
            if axis in wanted and isinstance(p, Dim) and isinstance(a, Dim) and compare(p, a, facts) == "different":
                return Mismatch(instantiated, actual, axis)
    return None


def check(annotation: TensorAnnotation, actual: Shape, facts: Facts | None = None) -> Mismatch | None:
    """A value in the annotated function's own scope (dims are its symbols) against its annotation."""
    bindings = identity_bindings(annotation)
    return bind(annotation, actual, bindings, facts)
