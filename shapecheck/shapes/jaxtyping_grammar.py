"""The jaxtyping shape-string grammar (`"batch *rest #c _ n-1"`), as jaxtyping 0.3.11 parses it.

The element loop mirrors jaxtyping's `_make_array_cached`: split on whitespace; per element the
prefixes `#` (broadcastable), `*` (variadic), `_` (anonymous), `?` (tree-path) and `name=` (a label
with no meaning, `rows=3` is `3`) may appear in any order, each at most once; what is left is a
name (an identifier or empty), an int, or a symbolic expression. Error messages are jaxtyping's own
wording. One deliberate addition: jaxtyping only `eval`s a symbolic axis when it checks a call, so a
symbolic axis that is not a Python expression (`(n`) or is a non-integer constant (`1.5`) can never
match; we report it at parse time.

Symbolic axes are evaluated by a small walker over `ast` (names, ints, `+ - * // %`, unary minus);
never `eval`. Other valid Python (`min(a,b)`, `a/2`) is accepted and gives an unknown size.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Literal

from shapecheck.shapes.dims import Dim
from shapecheck.shapes.expr import evaluate_expr, lookup
from shapecheck.shapes.shape import Axis, Shape, Variadic

PatternKind = Literal["fixed", "named", "anonymous", "symbolic"]


@dataclass(frozen=True)
class AnnotationError:
    """A malformed annotation (reported as SC190). `column` is the 0-based offset of the bad
    element in the shape string, when one element is to blame."""

    message: str
    column: int | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class DimPattern:
    """One element of a shape string.

    kind: "fixed" (`3`, `rows=3`), "named" (`batch`, `*batch`), "anonymous" (`_`, `*_`, `...`),
    "symbolic" (`n-1`, `2*d`). `variadic` for `*x`/`...`; `broadcastable` for `#x` (may be 1).
    """

    kind: PatternKind
    text: str
    name: str | None = None
    value: int | None = None
    expr: str | None = None
    variadic: bool = False
    broadcastable: bool = False
    treepath: bool = False

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class DimSpec:
    """A parsed shape string. `names`: the dim names it binds, in order of first use."""

    dims: tuple[DimPattern, ...]
    text: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        seen: list[str] = []
        for d in self.dims:
            if d.kind == "named" and d.name and d.name not in seen:
                seen.append(d.name)
        return tuple(seen)

    @property
    def expression_names(self) -> tuple[str, ...]:
        """Names used inside symbolic axes (`n` in `n-1`), in order of first use."""
        seen: list[str] = []
        for d in self.dims:
            if d.kind == "symbolic" and d.expr is not None:
                for sym in sorted(evaluate_expr(d.expr).symbols()):
                    if sym not in seen:
                        seen.append(sym)
        return tuple(seen)

    @property
    def variadic_index(self) -> int | None:
        for i, d in enumerate(self.dims):
            if d.variadic:
                return i
        return None

    def to_shape(self, bindings: dict[str, Dim] | None = None) -> Shape:
        """The shape this spec describes: each name becomes `bindings[name]` or the symbol of
        that name; `_` a fresh unknown; expressions are evaluated over the same symbols."""
        env = bindings or {}
        axes: list[Axis] = []
        for d in self.dims:
            if d.variadic:
                axes.append(Variadic(d.name or None) if d.kind == "named" else Variadic(None))
            elif d.kind == "fixed":
                assert d.value is not None
                axes.append(Dim.const(d.value))
            elif d.kind == "named":
                axes.append(lookup(d.name, env) if d.name else Dim.unknown())
            elif d.kind == "symbolic":
                assert d.expr is not None
                axes.append(evaluate_expr(d.expr, env))
            else:
                axes.append(Dim.unknown())
        return Shape(tuple(axes))

    def __str__(self) -> str:
        return " ".join(d.text for d in self.dims)


_ELEMENT = re.compile(r"\S+")


def parse_dims(spec: str) -> DimSpec | AnnotationError:
    """Parse a jaxtyping shape string; an `AnnotationError` for what jaxtyping rejects."""
    if not isinstance(spec, str):
        return AnnotationError("Shape specification must be a string. Axes should be separated with spaces.")
    dims: list[DimPattern] = []
    variadic_seen = False
    for match in _ELEMENT.finditer(spec):
        elem, col = match.group(), match.start()
        parsed = _parse_element(elem)
        if isinstance(parsed, str):
            return AnnotationError(parsed, col)
        if parsed.variadic:
            if variadic_seen:
                return AnnotationError("Cannot use variadic specifiers (`*name` or `...`) more than once.", col)
            variadic_seen = True
        dims.append(parsed)
    return DimSpec(tuple(dims), spec.strip())


def _parse_element(text: str) -> DimPattern | str:
    """One element -> DimPattern, or the error message."""
    elem = text
    if "," in elem and "(" not in elem:
        return "Axes should be separated with spaces, not commas"
    if elem.endswith("#"):
        return ("As of jaxtyping v0.1.0, broadcastable axes are now denoted with a # at the start, "
                "rather than at the end")
    if "..." in elem:
        if elem != "...":
            return f"Anonymous multiple axes '...' must be used on its own; got {elem}"
        return DimPattern("anonymous", text, variadic=True)
    broadcastable = variadic = anonymous = treepath = False
    while elem:
        first = elem[0]
        if first == "#":
            if broadcastable:
                return "Do not use # twice to denote broadcastability, e.g. `##foo` is not allowed"
            broadcastable, elem = True, elem[1:]
        elif first == "*":
            if variadic:
                return "Do not use * twice to denote accepting multiple axes, e.g. `**foo` is not allowed"
            variadic, elem = True, elem[1:]
        elif first == "_":
            if anonymous:
                return "Do not use _ twice to denote anonymity, e.g. `__foo` is not allowed"
            anonymous, elem = True, elem[1:]
        elif first == "?":
            if treepath:
                return ("Do not use ? twice to denote dependence on location within a PyTree, "
                        "e.g. `??foo` is not allowed")
            treepath, elem = True, elem[1:]
        elif elem.count("=") == 1:
            elem = elem.split("=")[1]
        else:
            break
    if len(elem) == 0 or elem.isidentifier():
        kind: str = "named"
        value = None
    else:
        try:
            value = int(elem)
        except ValueError:
            kind = "symbolic"
        else:
            kind = "fixed"
    if kind == "fixed":
        if variadic:
            return "Cannot have a fixed axis bind to multiple axes, e.g. `*4` is not allowed."
        if anonymous:
            return "Cannot have a fixed axis be anonymous, e.g. `_4` is not allowed."
        if treepath:
            return "Cannot have a fixed axis have tree-path dependence, e.g. `?4` is not allowed."
        return DimPattern("fixed", text, value=value, broadcastable=broadcastable)
    if kind == "named":
        if anonymous:
            if broadcastable:
                return "Cannot have an axis be both anonymous and broadcastable, e.g. `#_` is not allowed."
            return DimPattern("anonymous", text, variadic=variadic)
        # jaxtyping binds the literal name, so `_b` is anonymous but `b_` is the name `b_`.
        return DimPattern("named", text, name=elem, variadic=variadic, broadcastable=broadcastable,
                          treepath=treepath)
    if anonymous:
        return "Cannot have a symbolic axis be anonymous, e.g. `_foo+bar` is not allowed"
    if variadic:
        return "Cannot have symbolic multiple-axes, e.g. `*foo+bar` is not allowed"
    if treepath:
        return "Cannot have a symbolic axis with tree-path dependence, e.g. `?foo+bar` is not allowed"
    problem = _check_expr(elem)
    if problem:
        return problem
    return DimPattern("symbolic", text, expr=elem, broadcastable=broadcastable)


def _check_expr(expr: str) -> str | None:
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError):
        return f"Cannot process symbolic axis '{expr}': it is not a Python expression"
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and not (isinstance(node.value, int) and not isinstance(node.value, bool)):
            return f"Cannot process symbolic axis '{expr}': sizes are integers, not {node.value!r}"
    return None
