"""Matrix products against torch (meta device), and the symbolic inner-dim findings."""

from __future__ import annotations

import operator

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Tz, agree, agree_cpu
from strategies import shapes, sizes

from shapecheck.infer.ops.registry import OpCall, lookup
from shapecheck.infer.values import UNKNOWN, TensorValue
from shapecheck.shapes import Shape

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def matmul_pair(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes whose inner dims usually agree and whose batch dims usually broadcast."""
    a = list(draw(shapes(0, 4)))
    b = list(draw(shapes(0, 4)))
    if a and len(b) >= 2 and draw(st.booleans()):
        b[-2] = a[-1]
    elif a and len(b) == 1 and draw(st.booleans()):
        b[0] = a[-1]
    if len(a) >= 3 and len(b) >= 3 and draw(st.booleans()):
        b[-3] = a[-3]
    return tuple(a), tuple(b)


@pytest.mark.parametrize("name,fn", [("torch.matmul", torch.matmul), ("@", operator.matmul), ("Tensor.matmul", torch.Tensor.matmul)])
@SETTINGS
@given(pair=matmul_pair())
def test_matmul_agrees_with_torch(name: str, fn, pair) -> None:  # type: ignore[no-untyped-def]
    agree(name, fn, Tz(pair[0]), Tz(pair[1]))


@SETTINGS
@given(pair=matmul_pair())
def test_mm_bmm_mv_dot(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    agree("torch.mm", torch.mm, Tz(a), Tz(b))
    agree("torch.bmm", torch.bmm, Tz(a), Tz(b))
    agree("torch.mv", torch.mv, Tz(a), Tz(b))
    agree("torch.dot", torch.dot, Tz(a), Tz(b))
    agree("torch.outer", torch.outer, Tz(a), Tz(b))


@SETTINGS
@given(n=sizes, k=sizes, m=sizes, k2=sizes, bias=st.sampled_from(["none", "full", "row", "col", "bad"]))
def test_addmm_and_linear(n, k, m, k2, bias) -> None:  # type: ignore[no-untyped-def]
    inp = {"none": (), "full": (n, m), "row": (m,), "col": (n, 1), "bad": (n + 1, m)}[bias]
    agree_cpu("torch.addmm", torch.addmm, Tz(inp), Tz((n, k)), Tz((k2, m)))  # meta's addmm skips the input check
    agree("torch.nn.functional.linear", F.linear, Tz((2, n, k)), Tz((m, k2)), Tz(inp[-1:]) if bias != "none" else None)


@SETTINGS
@given(b=sizes, n=sizes, k=sizes, m=sizes, b2=sizes)
def test_baddbmm(b, n, k, m, b2) -> None:  # type: ignore[no-untyped-def]
    agree_cpu("torch.baddbmm", torch.baddbmm, Tz((n, m)), Tz((b, n, k)), Tz((b2, k, m)))


def sym(*dims: object) -> TensorValue:
    return TensorValue(Shape.of(*dims))  # type: ignore[arg-type]


def run(name: str, *args: object) -> tuple[object, OpCall]:
    fn = lookup(name)
    assert fn is not None
    call = OpCall(name, list(args), {}, labels=["x", "w", "b"][: len(args)])  # type: ignore[arg-type]
    return fn(call), call


def test_symbolic_matmul_keeps_names() -> None:
    out, call = run("@", sym("b", "h", "s", "dk"), sym("b", "h", "dk", "t"))
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, h, s, t)" and call.findings == []


def test_inner_mismatch_is_sc101_with_marked_axes() -> None:
    out, call = run("@", sym("b", 512), sym(256, 10))
    assert out is UNKNOWN and [f.code for f in call.findings] == ["SC101"]
    assert "512" in call.findings[0].message and "256" in call.findings[0].message
    assert any("^" in note for note in call.findings[0].notes)


def test_inner_distinct_names_is_sc103() -> None:
    out, call = run("@", sym("b", "seq"), sym("d_model", "h"))
    assert [f.code for f in call.findings] == ["SC103"]
    assert "seq == d_model" in call.findings[0].message
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, h)"


def test_linear_variadic_batch() -> None:
    out, call = run("torch.nn.functional.linear", sym("*batch", "d"), sym("h", "d"))
    assert isinstance(out, TensorValue) and str(out.shape) == "(*batch, h)" and call.findings == []


def test_bmm_does_not_broadcast_batch() -> None:
    out, call = run("torch.bmm", sym(1, 3, 4), sym(2, 4, 5))
    assert out is UNKNOWN and call.findings[0].code == "SC101"


@SETTINGS
@given(batch=shapes(0, 2), p=sizes, r=sizes, m=sizes, m2=sizes)
def test_cdist(batch, p, r, m, m2) -> None:  # type: ignore[no-untyped-def]
    agree_cpu("torch.cdist", torch.cdist, Tz((*batch, p, m)), Tz((*batch, r, m2)))
