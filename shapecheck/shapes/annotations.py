"""jaxtyping tensor annotations (`Float[Tensor, "b c"]`) read from libcst nodes or strings.

Works on any expression, so the engine can hand us an annotation, a string annotation, or the
right-hand side of an alias (`Vec = Float[Tensor, "d"]`). Names resolve through the module's
`ImportTable` when given; without one, bare dtype names (`Float`) and `jaxtyping.Float` are taken
at their word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shapecheck.shapes.jaxtyping_grammar import AnnotationError, DimSpec, parse_dims
from shapecheck.parsing import parse_expression  # guarded: text from the checked file

if TYPE_CHECKING:  # libcst is imported on first use: `import shapecheck.shapes` stays light
    import libcst as cst

    from shapecheck.names import ImportTable

# jaxtyping dtype wrappers -> dtype class ("float", "int", "bool", "complex") or None (several / any).
DTYPE_CLASSES: dict[str, str | None] = {
    "Shaped": None, "Num": None, "Real": None, "Inexact": None, "Key": None,
    "Float": "float", "BFloat16": "float", "Float16": "float", "Float32": "float", "Float64": "float",
    "Float8e4m3b11fnuz": "float", "Float8e4m3fn": "float",
    "Float8e4m3fnuz": "float", "Float8e5m2": "float", "Float8e5m2fnuz": "float",
    "Int": "int", "Integer": "int", "UInt": "int",
    "Int2": "int", "Int4": "int", "Int8": "int", "Int16": "int", "Int32": "int", "Int64": "int",
    "UInt2": "int", "UInt4": "int", "UInt8": "int", "UInt16": "int", "UInt32": "int", "UInt64": "int",
    "Bool": "bool",
    "Complex": "complex", "Complex64": "complex", "Complex128": "complex",
}

# Wrappers that pin one exact dtype -> its torch name.
EXACT_DTYPES: dict[str, str] = {
    "BFloat16": "bfloat16", "Float16": "float16", "Float32": "float32", "Float64": "float64",
    "Int8": "int8", "Int16": "int16", "Int32": "int32", "Int64": "int64",
    "UInt8": "uint8", "UInt16": "uint16", "UInt32": "uint32", "UInt64": "uint64",
    "Complex64": "complex64", "Complex128": "complex128",
}

ARRAY_TYPES: dict[str, str] = {
    "torch.Tensor": "torch.Tensor",
    "torch.FloatTensor": "torch.Tensor",
    "torch.LongTensor": "torch.Tensor",
    "torch.BoolTensor": "torch.Tensor",
    "numpy.ndarray": "numpy.ndarray",
    "jax.Array": "jax.Array",
    "jax.numpy.ndarray": "jax.Array",
    "jaxlib.xla_extension.ArrayImpl": "jax.Array",
}

# Spellings accepted when no import table is given.
_BARE_ARRAY_TYPES: dict[str, str] = {
    "Tensor": "torch.Tensor",
    "np.ndarray": "numpy.ndarray",
    "jnp.ndarray": "jax.Array",
    "Array": "jax.Array",
}

_WRONG_ARITY = (
    "As of jaxtyping v0.2.0, type annotations must now include both an array type and a shape. "
    "For example `Float[jax.Array, 'foo bar']`."
)


@dataclass(frozen=True)
class TensorAnnotation:
    """`Float[torch.Tensor, "b c"]`: dtype wrapper name, its dtype class, array type, shape spec.

    `array_type` is "torch.Tensor", "numpy.ndarray", "jax.Array", or the dotted name of whatever
    else stands there (another jaxtyping alias, a TypeVar), None when not a dotted name."""

    dtype: str
    dtype_class: str | None
    array_type: str | None
    spec: DimSpec

    @property
    def exact_dtype(self) -> str | None:
        """The torch dtype name when the wrapper pins one (`Float32` -> "float32")."""
        return EXACT_DTYPES.get(self.dtype)


def _dtype_name(node: cst.BaseExpression, names: ImportTable | None) -> str | None:
    from shapecheck.names import dotted

    name = dotted(node)
    if name is None:
        return None
    if names is not None:
        resolved = names.resolve(name)
        if resolved is None:
            return None
        head, _, last = resolved.rpartition(".")
        if head.split(".")[0] == "jaxtyping" and last in DTYPE_CLASSES:
            return last
        return None
    head, _, last = name.rpartition(".")
    if last in DTYPE_CLASSES and head in ("", "jaxtyping", "jt", "jx", "jaxt"):
        return last
    return None


def _array_type(node: cst.BaseExpression, names: ImportTable | None) -> str | None:
    from shapecheck.names import dotted

    name = dotted(node)
    if name is None:
        return None
    resolved = names.resolve(name) if names is not None else name
    if resolved is None:
        return None
    if resolved in ARRAY_TYPES:
        return ARRAY_TYPES[resolved]
    if resolved == name and name in _BARE_ARRAY_TYPES:
        return _BARE_ARRAY_TYPES[name]
    return resolved


def parse_annotation(
    node: cst.BaseExpression | str, names: ImportTable | None = None
) -> TensorAnnotation | AnnotationError | None:
    """A jaxtyping annotation, an `AnnotationError` when it is one but malformed, or None when
    it is not a jaxtyping array annotation (or its shape string is not a literal)."""
    import libcst as cst
    if isinstance(node, cst.Annotation):
        node = node.annotation
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):  # a quoted annotation
        quoted = node.evaluated_value
        if not isinstance(quoted, str):
            return None
        node = quoted
    if isinstance(node, str):
        try:
            node = parse_expression(node.strip())
        except (cst.ParserSyntaxError, ValueError):
            return None
    if not isinstance(node, cst.Subscript):
        return None
    dtype = _dtype_name(node.value, names)
    if dtype is None:
        return None
    elements = node.slice
    if len(elements) != 2 or not all(isinstance(e.slice, cst.Index) for e in elements):
        return AnnotationError(_WRONG_ARITY)
    array_node = elements[0].slice.value  # type: ignore[attr-defined]
    spec_node = elements[1].slice.value  # type: ignore[attr-defined]
    text = _literal_string(spec_node)
    if text is None:
        return None
    if isinstance(text, AnnotationError):
        return text
    spec = parse_dims(text)
    if isinstance(spec, AnnotationError):
        return spec
    return TensorAnnotation(dtype, DTYPE_CLASSES[dtype], _array_type(array_node, names), spec)


def _literal_string(node: cst.BaseExpression) -> str | AnnotationError | None:
    import libcst as cst

    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = node.evaluated_value
        if isinstance(value, bytes):
            return AnnotationError("Shape specification must be a string. Axes should be separated with spaces.")
        return value  # None for a concatenation with an f-string
    if isinstance(node, (cst.Integer, cst.Float, cst.Tuple, cst.List)):
        return AnnotationError("Shape specification must be a string. Axes should be separated with spaces.")
    return None
