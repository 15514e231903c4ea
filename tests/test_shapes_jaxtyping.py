"""The jaxtyping grammar: our parser accepts exactly what jaxtyping 0.3.11 accepts (jaxtyping is
the oracle) and binds the same names; annotations are found through the import table."""

from __future__ import annotations

import ast

import jaxtyping
import libcst as cst
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shapecheck.names import ImportTable
from shapecheck.shapes import (
    AnnotationError,
    Dim,
    DimSpec,
    Shape,
    TensorAnnotation,
    Variadic,
    parse_annotation,
    parse_dims,
)


def jaxtyping_parse(spec: str) -> tuple | None:
    """jaxtyping's dims for `spec`, or None when it rejects it.

    jaxtyping only `eval`s a symbolic axis when it checks a call; one that is not an integer
    Python expression fails every check, so it counts as rejected (as our parser does)."""
    try:
        cls = jaxtyping.Float[torch.Tensor, spec]
    except ValueError:
        return None
    for d in cls.dims:
        if type(d).__name__ == "_SymbolicDim":
            try:
                tree = ast.parse(d.elem, mode="eval")
            except SyntaxError:
                return None
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and not isinstance(node.value, int):
                    return None
    return cls.dims


def describe_theirs(d: object) -> tuple:
    kind = type(d).__name__
    if kind == "_FixedDim":
        return ("fixed", d.size, d.broadcastable)  # type: ignore[attr-defined]
    if kind == "_NamedDim":
        return ("named", d.name, d.broadcastable, False)  # type: ignore[attr-defined]
    if kind == "_NamedVariadicDim":
        return ("named", d.name, d.broadcastable, True)  # type: ignore[attr-defined]
    if kind == "_SymbolicDim":
        return ("symbolic", d.elem, d.broadcastable)  # type: ignore[attr-defined]
    if kind == "_AnonymousDim":
        return ("anonymous", False)
    assert kind == "_AnonymousVariadicDim", kind
    return ("anonymous", True)


def describe_ours(spec: DimSpec) -> list[tuple]:
    out: list[tuple] = []
    for d in spec.dims:
        if d.kind == "fixed":
            out.append(("fixed", d.value, d.broadcastable))
        elif d.kind == "named":
            out.append(("named", d.name, d.broadcastable, d.variadic))
        elif d.kind == "symbolic":
            out.append(("symbolic", d.expr, d.broadcastable))
        else:
            out.append(("anonymous", d.variadic))
    return out


def check_against_jaxtyping(spec: str) -> None:
    theirs = jaxtyping_parse(spec)
    ours = parse_dims(spec)
    if theirs is None:
        assert isinstance(ours, AnnotationError), f"we accept {spec!r}, jaxtyping does not"
        assert ours.message
        return
    assert isinstance(ours, DimSpec), f"we reject {spec!r} ({ours}), jaxtyping accepts"
    assert describe_ours(ours) == [describe_theirs(d) for d in theirs]
    their_names = []
    for d in theirs:
        name = getattr(d, "name", "")
        if name and name not in their_names:
            their_names.append(name)
    assert list(ours.names) == their_names


CORPUS = [
    "", " ", "b", "b c", "  b   c  ", "batch seq d_model", "3", "3 4", "b 3", "-1", "0",
    "*batch c", "... c", "*_ c", "_ c", "#b c", "#3", "*#b", "#*b", "b=3", "rows=3 cols=4", "b=",
    "x=*foo", "a=b=c", "?b", "?*b", "n-1", "2*d", "n+1 n", "d//h", "(n+1)*2", "min(a,b)",
    # rejected
    "b, c", "b,c", "a,", "*a *b", "... ...", "*a ...", "##a", "**a", "__a", "??a", "a#", "#_", "_3",
    "*3", "?3", "_a+b", "*a+b", "?a+b", "....", "...a", "a...", "1.5", "(n", "n)", "a b=", "*",
    "a-", "2**", "'a'", "#*_", "_*", "*_*", "a b c d e f *g h",
]


@pytest.mark.parametrize("spec", CORPUS)
def test_corpus_matches_jaxtyping(spec: str) -> None:
    check_against_jaxtyping(spec)


TOKENS = ["a", "b", "batch", "d_model", "_", "3", "0", "1", "-1", "n-1", "2*d", "(a", "1.5", "min(a,b)",
          "a+b", "...", "", "x=", "x=y=", "?", "é"]
PREFIXES = ["", "", "", "#", "*", "_", "?", "##", "**", "*#", "#*", "_*", "k="]
SUFFIXES = ["", "", "", "", ",", "#", ".", ")"]

elements = st.builds(lambda p, t, s: p + t + s, st.sampled_from(PREFIXES), st.sampled_from(TOKENS),
                     st.sampled_from(SUFFIXES))
separators = st.sampled_from([" ", "  ", "\t", ", "])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(elements, separators), max_size=5))
def test_generated_specs_match_jaxtyping(parts: list[tuple[str, str]]) -> None:
    spec = "".join(e + sep for e, sep in parts)
    check_against_jaxtyping(spec)


def test_error_columns_point_at_the_bad_element() -> None:
    err = parse_dims("batch seq, d")
    assert isinstance(err, AnnotationError)
    assert err.message == "Axes should be separated with spaces, not commas"
    assert err.column == 6
    err = parse_dims("*a c *b")
    assert isinstance(err, AnnotationError) and err.column == 5
    assert "more than once" in err.message


def test_to_shape() -> None:
    spec = parse_dims("*batch seq d_model//n_heads _ 3 #c")
    assert isinstance(spec, DimSpec)
    shape = spec.to_shape()
    assert shape.axes[0] == Variadic("batch")
    assert shape.suffix[:2] == (Dim.sym("seq"), Dim.sym("d_model") // Dim.sym("n_heads"))
    assert shape.suffix[2].is_unknown and shape.suffix[3] == 3 and shape.suffix[4] == Dim.sym("c")
    bound = spec.to_shape({"seq": Dim.const(7), "d_model": Dim.const(512), "n_heads": Dim.const(8)})
    assert bound.suffix[:2] == (Dim.const(7), Dim.const(64))
    assert spec.names == ("batch", "seq", "c")  # names in expressions are uses, not bindings
    assert spec.expression_names == ("d_model", "n_heads")
    assert parse_dims("").to_shape() == Shape.of()  # type: ignore[union-attr]
    assert parse_dims("... n").to_shape() == Shape.of("...", "n")  # type: ignore[union-attr]
    assert parse_dims("min(a,b) a/2").to_shape().axes[0].is_unknown  # type: ignore[union-attr]
    assert parse_dims("n-1 2*d").to_shape() == Shape.of(Dim.sym("n") - 1, 2 * Dim.sym("d"))  # type: ignore[union-attr]


def _table(src: str) -> ImportTable:
    return ImportTable.from_module(cst.parse_module(src))


@pytest.mark.parametrize(
    ("imports", "annotation", "dtype", "dtype_class", "array_type", "text"),
    [
        ("from jaxtyping import Float\nfrom torch import Tensor", 'Float[Tensor, "b c"]', "Float", "float",
         "torch.Tensor", "b c"),
        ("import jaxtyping\nimport torch", 'jaxtyping.Float[torch.Tensor, "b c"]', "Float", "float",
         "torch.Tensor", "b c"),
        ("import jaxtyping as jt\nimport numpy as np", 'jt.Int64[np.ndarray, "n"]', "Int64", "int",
         "numpy.ndarray", "n"),
        ("from jaxtyping import Bool, Array", 'Bool[Array, ""]', "Bool", "bool", "jaxtyping.Array", ""),
        ("from jaxtyping import Shaped\nimport jax", 'Shaped[jax.Array, "..."]', "Shaped", None,
         "jax.Array", "..."),
        ("from jaxtyping import Complex64\nimport torch", 'Complex64[torch.Tensor, "n n"]', "Complex64",
         "complex", "torch.Tensor", "n n"),
        ("from jaxtyping import Float as F\nimport torch", 'F[torch.Tensor, "b " "c"]', "Float", "float",
         "torch.Tensor", "b c"),
    ],
)
def test_parse_annotation_through_imports(
    imports: str, annotation: str, dtype: str, dtype_class: str | None, array_type: str, text: str
) -> None:
    names = _table(imports)
    node = cst.parse_expression(annotation)
    for arg in (node, annotation, f"  {annotation}  "):
        result = parse_annotation(arg, names)
        assert isinstance(result, TensorAnnotation), result
        assert (result.dtype, result.dtype_class, result.array_type, result.spec.text) == (
            dtype, dtype_class, array_type, text)


def test_parse_annotation_without_imports() -> None:
    result = parse_annotation('Float32[Tensor, "b 3"]')
    assert isinstance(result, TensorAnnotation)
    assert result.array_type == "torch.Tensor" and result.exact_dtype == "float32"
    assert result.spec.to_shape() == Shape.of("b", 3)


@pytest.mark.parametrize(
    "annotation",
    [
        "torch.Tensor", "int", "list[int]", 'Literal["b c"]', 'Float[Tensor, name]', 'Float[Tensor, f"{n} c"]',
        "Float", "x + 1", "not valid python (", 'Foo[Tensor, "b"]',
    ],
)
def test_not_a_jaxtyping_annotation(annotation: str) -> None:
    assert parse_annotation(annotation, _table("from jaxtyping import Float\nfrom torch import Tensor")) is None


def test_dtype_must_come_from_jaxtyping_when_imports_are_known() -> None:
    names = _table("from mylib import Float\nfrom torch import Tensor")
    assert parse_annotation('Float[Tensor, "b"]', names) is None


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ('Float[Tensor, "b, c"]', "Axes should be separated with spaces, not commas"),
        ('Float[Tensor]', "As of jaxtyping v0.2.0, type annotations must now include both an array type and a shape"),
        ('Float[Tensor, "b", "c"]', "As of jaxtyping v0.2.0"),
        ('Float[Tensor, 3]', "Shape specification must be a string"),
        ('Float[Tensor, b"x"]', "Shape specification must be a string"),
        ('Float[Tensor, "*a *b"]', "Cannot use variadic specifiers"),
        ('Float[Tensor, "##a"]', "Do not use # twice"),
    ],
)
def test_malformed_annotations(annotation: str, message: str) -> None:
    result = parse_annotation(annotation, _table("from jaxtyping import Float\nfrom torch import Tensor"))
    assert isinstance(result, AnnotationError)
    assert result.message.startswith(message)


def test_malformed_annotations_fail_in_jaxtyping_too() -> None:
    with pytest.raises(ValueError):
        jaxtyping.Float[torch.Tensor]  # type: ignore[misc]
    with pytest.raises((ValueError, AttributeError)):  # jaxtyping calls `3.strip()`
        jaxtyping.Float[torch.Tensor, 3]  # type: ignore[misc]


def test_quoted_and_wrapped_annotations() -> None:
    names = _table("from jaxtyping import Float\nfrom torch import Tensor")
    module = cst.parse_module("def f(x: \"Float[Tensor, 'b c']\", y: Float[Tensor, 'n']) -> 'Tensor': ...\n")
    func = module.body[0]
    assert isinstance(func, cst.FunctionDef)
    x, y = func.params.params
    assert x.annotation is not None and y.annotation is not None
    parsed_x = parse_annotation(x.annotation, names)
    parsed_y = parse_annotation(y.annotation.annotation, names)
    assert isinstance(parsed_x, TensorAnnotation) and parsed_x.spec.names == ("b", "c")
    assert isinstance(parsed_y, TensorAnnotation) and parsed_y.spec.names == ("n",)
    assert func.returns is not None and parse_annotation(func.returns, names) is None
    assert parse_annotation(cst.parse_expression("'not ( valid'"), names) is None


def test_dtype_table_matches_jaxtyping() -> None:
    from shapecheck.shapes.annotations import DTYPE_CLASSES, EXACT_DTYPES

    exported = {
        name for name in dir(jaxtyping)
        if isinstance(getattr(jaxtyping, name), type)
        and issubclass(getattr(jaxtyping, name), jaxtyping.AbstractDtype)
        and name != "AbstractDtype"
    }
    assert set(DTYPE_CLASSES) == exported
    for name, dtype_class in DTYPE_CLASSES.items():
        dtypes = getattr(jaxtyping, name).dtypes
        if not isinstance(dtypes, tuple):  # Shaped: any dtype
            assert dtype_class is None
            continue
        classes = {"bool" if d.startswith("bool") else "int" if "int" in d else
                   "complex" if d.startswith("complex") else "float" if "float" in d else d for d in dtypes}
        assert dtype_class == (classes.pop() if len(classes) == 1 and classes <= {"bool", "int", "float", "complex"}
                               else None), name
        if len(dtypes) == 1 and name in EXACT_DTYPES:
            assert EXACT_DTYPES[name] == dtypes[0]
