"""Element-wise ops against torch (meta device), and the symbolic findings SC101/SC102/SC103."""

from __future__ import annotations

import operator

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Tz, agree, ours
from strategies import related_shapes, shapes

from shapecheck.infer.ops.registry import OpCall, lookup
from shapecheck.infer.values import UNKNOWN, ConstValue, DimValue, TensorValue
from shapecheck.shapes import Dim, Shape

SETTINGS = settings(max_examples=30, deadline=None)

BINARY = [
    ("+", operator.add), ("-", operator.sub), ("*", operator.mul), ("/", operator.truediv),
    ("==", operator.eq), ("<", operator.lt), ("torch.maximum", torch.maximum), ("torch.add", torch.add),
    ("Tensor.mul", torch.Tensor.mul), ("**", operator.pow), ("%", operator.mod), ("//", operator.floordiv),
    ("!=", operator.ne), (">=", operator.ge), ("<=", operator.le), (">", operator.gt), ("torch.sub", torch.sub),
    ("torch.atan2", torch.atan2), ("Tensor.div", torch.Tensor.div),
]
LOGICAL = [("&", operator.and_), ("|", operator.or_), ("^", operator.xor), ("torch.logical_and", torch.logical_and)]


@pytest.mark.parametrize("name,fn", BINARY)
@SETTINGS
@given(pair=related_shapes(2, zero=True))
def test_binary_broadcasting_agrees_with_torch(name: str, fn, pair) -> None:  # type: ignore[no-untyped-def]
    agree(name, fn, Tz(pair[0]), Tz(pair[1]))


@pytest.mark.parametrize("name,fn", LOGICAL)
@settings(max_examples=20, deadline=None)
@given(pair=related_shapes(2))
def test_logical_broadcasting(name: str, fn, pair) -> None:  # type: ignore[no-untyped-def]
    agree(name, fn, Tz(pair[0], torch.bool), Tz(pair[1], torch.bool))


@SETTINGS
@given(pair=related_shapes(2), scalar=st.sampled_from([2, 0.5, True]))
def test_tensor_with_python_scalar_keeps_shape(pair, scalar) -> None:  # type: ignore[no-untyped-def]
    agree("*", operator.mul, Tz(pair[0]), scalar)
    agree("**", operator.pow, Tz(pair[1]), 2)


@SETTINGS
@given(pair=related_shapes(2))
def test_inplace_cannot_grow_receiver(pair) -> None:  # type: ignore[no-untyped-def]
    agree("Tensor.add_", torch.Tensor.add_, Tz(pair[0]), Tz(pair[1]))


@SETTINGS
@given(triple=related_shapes(3))
def test_where_broadcasts_three(triple) -> None:  # type: ignore[no-untyped-def]
    agree("torch.where", torch.where, Tz(triple[0], torch.bool), Tz(triple[1]), Tz(triple[2]))


@SETTINGS
@given(pair=related_shapes(2))
def test_masked_fill_and_clamp(pair) -> None:  # type: ignore[no-untyped-def]
    agree("Tensor.masked_fill", torch.Tensor.masked_fill, Tz(pair[0]), Tz(pair[1], torch.bool), 0.0)
    agree("torch.clamp", torch.clamp, Tz(pair[0]), min=Tz(pair[1]))


@pytest.mark.parametrize("name,fn", [
    ("torch.relu", torch.relu), ("torch.nn.functional.gelu", F.gelu), ("Tensor.exp", torch.Tensor.exp),
    ("torch.sigmoid", torch.sigmoid), ("-u", operator.neg), ("torch.nn.functional.dropout", F.dropout),
    ("torch.isnan", torch.isnan), ("torch.nn.functional.leaky_relu", F.leaky_relu),
])
@SETTINGS
@given(shape=shapes(0, 4, zero=True))
def test_unary_preserves_shape(name: str, fn, shape) -> None:  # type: ignore[no-untyped-def]
    agree(name, fn, Tz(shape))


@SETTINGS
@given(shape=shapes(0, 4), dim=st.integers(-5, 4))
def test_normalize_dim_checked(shape, dim) -> None:  # type: ignore[no-untyped-def]
    agree("torch.nn.functional.normalize", F.normalize, Tz(shape), dim=dim)


# --- symbolic ------------------------------------------------------------------------------------

def sym(*dims: object) -> TensorValue:
    return TensorValue(Shape.of(*dims))  # type: ignore[arg-type]


def run(name: str, *args: object, **kwargs: object) -> tuple[object, OpCall]:
    fn = lookup(name)
    assert fn is not None
    call = OpCall(name, list(args), dict(kwargs), labels=["pred", "target", "c"][: len(args)])  # type: ignore[arg-type]
    return fn(call), call


def test_broadcast_trap_is_sc102_with_stretch_explanation() -> None:
    out, call = run("-", sym("n"), sym("n", 1))
    assert isinstance(out, TensorValue) and str(out.shape) == "(n, n)"
    assert [f.code for f in call.findings] == ["SC102"]
    assert "(n, n)" in call.findings[0].message and "pred" in call.findings[0].message
    assert any("stretched" in note for note in call.findings[0].notes)


def test_no_trap_when_axis_added_on_purpose() -> None:
    a = TensorValue(Shape.of("n", 1), origin="unsqueeze")
    out, call = run("-", a, sym("n"))
    assert isinstance(out, TensorValue) and str(out.shape) == "(n, n)"
    assert call.findings == []


def test_distinct_names_are_sc103_assumption() -> None:
    out, call = run("+", sym("batch", "d"), sym("seq", "d"))
    assert [f.code for f in call.findings] == ["SC103"]
    assert "batch == seq" in call.findings[0].message or "seq == batch" in call.findings[0].message
    assert isinstance(out, TensorValue)


def test_definite_failure_is_sc101_and_unknown() -> None:
    out, call = run("*", sym("b", 3), sym("b", 4))
    assert out is UNKNOWN and [f.code for f in call.findings] == ["SC101"]
    assert "(b, 3)" in call.findings[0].message and "(b, 4)" in call.findings[0].message


def test_same_names_broadcast_silently() -> None:
    out, call = run("+", sym("b", "s", "d"), sym("d"))
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, s, d)" and call.findings == []


def test_unknown_operand_gives_unknown_shape_silently() -> None:
    out, call = run("+", sym("b", 3), UNKNOWN)
    assert isinstance(out, TensorValue) and out.shape.rank is None and call.findings == []


def test_int_arithmetic_on_dims() -> None:
    out, _ = run("//", DimValue(Dim.sym("d_model")), DimValue(Dim.sym("n_heads")))
    assert isinstance(out, DimValue) and str(out.dim) == "d_model // n_heads"
    out, _ = run("*", ConstValue(4), DimValue(Dim.sym("d")))
    assert isinstance(out, DimValue) and str(out.dim) == "4 * d"


def test_comparison_result_is_bool() -> None:
    out, _ = run("==", sym("n"), sym("n"))
    assert isinstance(out, TensorValue) and out.dtype == "bool"


@pytest.mark.parametrize("name,fn", [("-", operator.sub), ("/", operator.truediv), ("torch.sub", torch.sub),
                                     ("Tensor.sub_", torch.Tensor.sub_), ("*", operator.mul)])
@pytest.mark.parametrize("w", [224, 5, 3])
def test_per_channel_constant_against_an_image_batch(name: str, fn, w: int) -> None:  # type: ignore[no-untyped-def]
    """ImageNet's 3-value mean against (B, 3, H, W) lines up with W: torch raises unless W == 3
    (SC101, with the per-channel note); the viewed spellings broadcast over the channels."""
    ok = agree(name, fn, Tz((2, 3, 4, w)), Tz((3,)))
    assert ok == (w == 3)
    _, call = ours(name, (Tz((2, 3, 4, w)), Tz((3,))), {})
    if not ok:
        assert [f.code for f in call.findings] == ["SC101"] and any("[:, None, None]" in n for n in call.findings[0].notes)
    else:
        assert not call.findings
    agree(name, fn, Tz((2, 3, 4, w)), Tz((1, 3, 1, 1)))
    agree(name, fn, Tz((2, 3, 4, w)), Tz((3, 1, 1)))


def test_per_channel_constant_against_a_symbolic_width_is_a_warning() -> None:
    fn = lookup("-")
    assert fn is not None
    x = TensorValue(Shape.of("B", 3, "H", "W"))
    mean = TensorValue(Shape.of(3))
    for operands, labels in (([x, mean], ["x", "mean"]), ([mean, x], ["mean", "x"])):
        call = OpCall("-", list(operands), {}, labels=labels)
        out = fn(call)
        assert [f.code for f in call.findings] == ["SC103"]
        assert "W == 3" in call.findings[0].message and "channel" in call.findings[0].message
        assert "mean.view(1, 3, 1, 1)" in call.findings[0].notes[-1]
        assert isinstance(out, TensorValue)
    symbolic = OpCall("-", [TensorValue(Shape.of("B", "C", "H", "W")), TensorValue(Shape.of("C"))], {}, labels=["x", "mu"])
    fn(symbolic)
    assert [f.code for f in symbolic.findings] == ["SC103"] and "channel" in symbolic.findings[0].message
    for other in (Shape.of(1, 3, 1, 1), Shape.of(3, 1, 1), Shape.of("W"), Shape.of(1)):  # explicit, or not per channel
        call = OpCall("-", [x, TensorValue(other)], {}, labels=["x", "c"])
        fn(call)
        assert not call.findings, other
    square = OpCall("-", [TensorValue(Shape.of("B", 3, "H", 3)), mean], {})
    fn(square)
    assert not square.findings
