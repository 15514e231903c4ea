"""cat/stack/split/chunk/unbind against torch (meta device)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Tz, agree
from strategies import related_shapes, shapes

from shapecheck.infer.ops.registry import OpCall, lookup
from shapecheck.infer.values import UNKNOWN, ConstValue, TensorValue, TupleValue
from shapecheck.shapes import Shape

SETTINGS = settings(max_examples=30, deadline=None)
dims = st.integers(-5, 4)


@SETTINGS
@given(group=related_shapes(3, zero=True), n=st.integers(1, 3), dim=dims)
def test_cat_and_stack(group, n, dim) -> None:  # type: ignore[no-untyped-def]
    tensors = [Tz(s) for s in group[:n]]
    agree("torch.cat", torch.cat, tensors, dim=dim)
    agree("torch.stack", torch.stack, tensors, dim=dim)


@SETTINGS
@given(shape=shapes(1, 3), dim=dims, along=st.integers(1, 4), n=st.integers(1, 3))
def test_cat_same_except_dim(shape, dim, along, n) -> None:  # type: ignore[no-untyped-def]
    tensors = []
    for i in range(n):
        s = list(shape)
        if -len(s) <= dim < len(s):
            s[dim] = along + i
        tensors.append(Tz(tuple(s)))
    agree("torch.cat", torch.cat, tensors, dim)


@SETTINGS
@given(shape=shapes(0, 3, zero=True), dim=dims, size=st.integers(0, 4),
       sections=st.lists(st.integers(0, 4), min_size=1, max_size=3))
def test_split_chunk_unbind(shape, dim, size, sections) -> None:  # type: ignore[no-untyped-def]
    agree("torch.split", torch.split, Tz(shape), size, dim)
    agree("Tensor.split", torch.Tensor.split, Tz(shape), sections, dim)
    if size:
        agree("torch.chunk", torch.chunk, Tz(shape), size, dim)
    agree("torch.unbind", torch.unbind, Tz(shape), dim)


def test_symbolic_chunk_and_cat() -> None:
    chunk = lookup("Tensor.chunk")
    assert chunk is not None
    x = TensorValue(Shape.of("b", "s", Shape.of("d").dims[0] * 3))
    out = chunk(OpCall("Tensor.chunk", [x, ConstValue(3), ConstValue(-1)], {}))
    assert isinstance(out, TupleValue) and [str(p.shape) for p in out.items] == ["(b, s, d)"] * 3  # type: ignore[union-attr]
    cat = lookup("torch.cat")
    assert cat is not None
    call = OpCall("torch.cat", [TupleValue((TensorValue(Shape.of("b", "d")), TensorValue(Shape.of("b", "e"))))], {"dim": ConstValue(-1)})
    out = cat(call)
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, d + e)" and not call.findings
    call = OpCall("torch.cat", [TupleValue((TensorValue(Shape.of("b", 3)), TensorValue(Shape.of("b", 4))))], {"dim": ConstValue(0)})
    assert cat(call) is UNKNOWN and [f.code for f in call.findings] == ["SC101"]


def test_symbolic_split_into_equal_pieces() -> None:
    """nanoGPT's `q, k, v = self.c_attn(x).split(n_embd, dim=2)` on (b, s, 3 * d): three (b, s, d)."""
    from shapecheck.infer.values import DimValue
    from shapecheck.shapes import Dim

    d = Dim.sym("d")
    call = OpCall("Tensor.split", [TensorValue(Shape.of("b", "s", d * 3)), DimValue(d)], {"dim": ConstValue(2)})
    out = lookup("Tensor.split")(call)  # type: ignore[misc]
    assert isinstance(out, TupleValue) and [str(p.shape) for p in out.items] == ["(b, s, d)"] * 3  # type: ignore[union-attr]
    assert not call.findings
    # not an exact multiple: unknown, no finding
    call = OpCall("Tensor.split", [TensorValue(Shape.of("b", "s", "e")), DimValue(d)], {"dim": ConstValue(2)})
    assert lookup("Tensor.split")(call) is UNKNOWN and not call.findings  # type: ignore[misc]


@SETTINGS
@given(sizes=st.lists(st.integers(0, 4), min_size=1, max_size=3), xy=st.booleans(), scalar=st.booleans())
def test_meshgrid(sizes, xy, scalar) -> None:  # type: ignore[no-untyped-def]
    tensors = [Tz(()) if scalar and i == 0 else Tz((n,)) for i, n in enumerate(sizes)]
    agree("torch.meshgrid", torch.meshgrid, *tensors, indexing="xy" if xy else "ij")
