"""Creation and conversion ops against torch (meta device): shapes, dtypes, devices."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Size, Tz, agree, ours
from strategies import shapes

from shapecheck.infer.ops.registry import OpCall, lookup
from shapecheck.infer.values import ConstValue, DeviceValue, DimValue, DtypeValue, TensorValue, TupleValue
from shapecheck.shapes import Dim, Shape

SETTINGS = settings(max_examples=20, deadline=None)


@pytest.mark.parametrize("name", ["torch.zeros", "torch.ones", "torch.empty", "torch.rand", "torch.randn"])
@SETTINGS
@given(shape=shapes(0, 4, zero=True), form=st.sampled_from(["varargs", "tuple", "size"]))
def test_factories(name: str, shape, form) -> None:  # type: ignore[no-untyped-def]
    fn = getattr(torch, name.removeprefix("torch."))
    if form == "varargs" and shape:
        agree(name, fn, *shape, device="meta")
    elif form == "tuple":
        agree(name, fn, shape, device="meta")
    else:
        agree(name, fn, Size(shape), device="meta")


@SETTINGS
@given(shape=shapes(0, 3), fill=st.sampled_from([0, 1.5, True]))
def test_full_and_like(shape, fill) -> None:  # type: ignore[no-untyped-def]
    agree("torch.full", torch.full, shape, fill, device="meta")
    agree("torch.zeros_like", torch.zeros_like, Tz(shape))
    agree("torch.full_like", torch.full_like, Tz(shape), fill)
    agree("torch.randint", torch.randint, 0, 10, shape, device="meta")


@SETTINGS
@given(start=st.integers(-5, 5), end=st.integers(-5, 10), step=st.sampled_from([1, 2, -1, 3, 0.5]))
def test_arange_linspace_eye(start, end, step) -> None:  # type: ignore[no-untyped-def]
    agree("torch.arange", torch.arange, start, end, step, device="meta")
    agree("torch.arange", torch.arange, abs(end), device="meta")
    agree("torch.linspace", torch.linspace, start, end, abs(end), device="meta")
    agree("torch.eye", torch.eye, abs(start), abs(end), device="meta")


@pytest.mark.parametrize("data", [[1, 2, 3], [[1.0, 2.0], [3.0, 4.0]], 3.5, [[True], [False]], []])
def test_tensor_literal(data) -> None:  # type: ignore[no-untyped-def]
    agree("torch.tensor", torch.tensor, data, device="meta")
    result, _ = ours("torch.tensor", (data,), {})
    expected = torch.tensor(data).dtype
    assert isinstance(result, TensorValue) and result.dtype == str(expected).removeprefix("torch.")


def run(name: str, *args: object, **kwargs: object) -> object:
    fn = lookup(name)
    assert fn is not None
    return fn(OpCall(name, list(args), dict(kwargs)))  # type: ignore[arg-type]


def test_device_and_dtype_tracking() -> None:
    out = run("torch.zeros", ConstValue(3), dtype=DtypeValue("float16"))
    assert isinstance(out, TensorValue) and out.device == "cpu" and out.dtype == "float16"
    x = TensorValue(Shape.of("b", "d"), dtype="float32", device="cuda")
    out = run("torch.ones_like", x)
    assert isinstance(out, TensorValue) and out.device == "cuda" and str(out.shape) == "(b, d)"
    out = run("torch.zeros", DimValue(Dim.sym("b")), ConstValue(4), device=DeviceValue("cuda:0"))
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, 4)" and out.device == "cuda:0"
    moved = run("Tensor.to", out, ConstValue("cpu"))
    assert isinstance(moved, TensorValue) and moved.device == "cpu" and str(moved.shape) == "(b, 4)"
    half = run("Tensor.half", moved)
    assert isinstance(half, TensorValue) and half.dtype == "float16"
    both = run("Tensor.to", moved, x)
    assert isinstance(both, TensorValue) and both.device == "cuda" and both.dtype == "float32"
    assert isinstance(run("Tensor.cuda", moved), TensorValue) and run("Tensor.cuda", moved).device == "cuda"  # type: ignore[union-attr]
    detached = run("Tensor.detach", TensorValue(Shape.of(2), requires_grad=True))
    assert isinstance(detached, TensorValue) and detached.requires_grad is False


def test_symbolic_arange_and_new_zeros() -> None:
    out = run("torch.arange", DimValue(Dim.sym("s")))
    assert isinstance(out, TensorValue) and str(out.shape) == "(s)" and out.dtype == "int64"
    x = TensorValue(Shape.of("b", "d"), dtype="float16", device="cuda")
    out = run("Tensor.new_zeros", x, TupleValue((DimValue(Dim.sym("b")), ConstValue(1))))
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, 1)" and out.device == "cuda" and out.dtype == "float16"


@pytest.mark.parametrize("name,fn", [
    ("Tensor.float", torch.Tensor.float), ("Tensor.half", torch.Tensor.half), ("Tensor.long", torch.Tensor.long),
    ("Tensor.detach", torch.Tensor.detach), ("Tensor.clone", torch.Tensor.clone), ("Tensor.contiguous", torch.Tensor.contiguous),
    ("Tensor.type_as", None), ("Tensor.to", None),
])
@SETTINGS
@given(shape=shapes(0, 4))
def test_conversions_keep_shape(name: str, fn, shape) -> None:  # type: ignore[no-untyped-def]
    if name == "Tensor.type_as":
        agree(name, torch.Tensor.type_as, Tz(shape), Tz((1,), torch.float16))
    elif name == "Tensor.to":
        agree(name, torch.Tensor.to, Tz(shape), torch.float16)
        agree(name, torch.Tensor.to, Tz(shape), "meta")
    else:
        agree(name, fn, Tz(shape))
