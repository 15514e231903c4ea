"""The shape domain: symbolic dims, shapes, broadcasting, jaxtyping annotations, explanations.

Pure Python (no torch, numpy or jaxtyping import): the static checker runs without them.
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
