"""The shape domain: symbolic dims, shapes, broadcasting, jaxtyping annotations, explanations.

Pure Python (no torch, numpy or jaxtyping import): the static checker runs without them.

Conventions every user of this package can rely on:
- Sizes are positive ints. `compare` says "different" only when two sizes differ for every
  positive assignment of their symbols; two different names are "unknown", never "different".
- `Dim` equality is equality of normal forms, so it proves equality but never refutes it:
  `a == b` False means "not shown equal". Use `compare` for a three-way answer.
- Any arithmetic on an unknown dim gives a fresh unknown; unknown things are never reported.
- Broadcast axes are negative, counted from the right (-1 = last), in every operand and the result.
- `Facts` carries divisibility (`h | d`, recorded for `d // h` sizes) and equalities; pass it to
  `compare`, `broadcast` and `Facts.simplify`.
"""

from shapecheck.shapes.annotations import TensorAnnotation, parse_annotation
from shapecheck.shapes.broadcast import BroadcastFailure, BroadcastResult, broadcast
from shapecheck.shapes.dims import Dim, Facts, can_be_one, compare
from shapecheck.shapes.explain import explain_broadcast, explain_mismatch
from shapecheck.shapes.jaxtyping_grammar import AnnotationError, DimPattern, DimSpec, evaluate_expr, parse_dims
from shapecheck.shapes.shape import Shape, Variadic

__all__ = [
    "AnnotationError",
    "BroadcastFailure",
    "BroadcastResult",
    "Dim",
    "DimPattern",
    "DimSpec",
    "Facts",
    "Shape",
    "TensorAnnotation",
    "Variadic",
    "broadcast",
    "can_be_one",
    "compare",
    "evaluate_expr",
    "explain_broadcast",
    "explain_mismatch",
    "parse_annotation",
    "parse_dims",
]
