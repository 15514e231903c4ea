"""einsum and einops against torch / einops (meta tensors)."""

from __future__ import annotations

import einops
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Tz, agree, ours

from shapecheck.infer.ops.registry import OpCall, lookup
from shapecheck.infer.values import ConstValue, DimValue, TensorValue
from shapecheck.shapes import Dim, Facts, Shape

SETTINGS = settings(max_examples=30, deadline=None)
LETTERS = "ijkl"


@st.composite
def einsum_case(draw: st.DrawFn) -> tuple[str, list[tuple[int, ...]]]:
    n_ops = draw(st.integers(1, 3))
    size = {c: draw(st.integers(1, 4)) for c in LETTERS}
    ell = draw(st.lists(st.integers(1, 3), max_size=2))
    terms, shapes = [], []
    for _ in range(n_ops):
        labels = draw(st.lists(st.sampled_from(LETTERS), max_size=3))
        use_ell = draw(st.integers(0, 3)) == 0
        term = ("..." if use_ell else "") + "".join(labels)
        shape = (tuple(ell[draw(st.integers(0, len(ell))):]) if use_ell else ()) + tuple(
            size[c] if draw(st.integers(0, 6)) else draw(st.integers(1, 4)) for c in labels)
        if draw(st.integers(0, 8)) == 0:
            shape = shape[:-1]
        terms.append(term)
        shapes.append(shape)
    eq = ",".join(terms)
    if draw(st.booleans()):
        present = sorted(set("".join(terms).replace(".", "")))
        out = draw(st.lists(st.sampled_from(present), unique=True)) if present else []
        eq += "->" + ("..." if "..." in eq and draw(st.booleans()) else "") + "".join(out)
    return eq, shapes


@SETTINGS
@given(case=einsum_case())
def test_einsum_agrees_with_torch(case) -> None:  # type: ignore[no-untyped-def]
    eq, shapes = case
    agree("torch.einsum", torch.einsum, eq, *[Tz(s) for s in shapes])


def test_einsum_symbolic_attention_scores() -> None:
    fn = lookup("torch.einsum")
    assert fn is not None
    call = OpCall("torch.einsum", [ConstValue("bhqd,bhkd->bhqk"), TensorValue(Shape.of("b", "h", "q", "d")),
                                   TensorValue(Shape.of("b", "h", "k", "d"))], {})
    out = fn(call)
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, h, q, k)" and out.origin == "einsum" and not call.findings


REARRANGE = [
    ("b c h w -> b (h w) c", {}), ("b (h w) c -> b h w c", {"h": 2}), ("b c h w -> b c (h w)", {}),
    ("... d -> d ...", {}), ("b (h d) -> b h d", {"h": 3}), ("a b -> b a", {}), ("b 1 d -> b d", {}),
    ("(b1 b2) c -> b1 b2 c", {"b1": 2}), ("b c -> b c 1", {}),
    # `...` inside a composite axis: allowed on the right only (vit-pytorch's vaat.py uses the first)
    ("b ... c -> b (...) c", {}), ("b ... c -> (b ...) c", {}), ("b ... c -> b (... c)", {}),
    ("b (...) c -> b ... c", {}),
]


@pytest.mark.parametrize("pattern,lengths", REARRANGE)
@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple))
def test_rearrange_agrees_with_einops(pattern: str, lengths: dict, shape) -> None:  # type: ignore[no-untyped-def,type-arg]
    agree("einops.rearrange", einops.rearrange, Tz(shape), pattern, **lengths)


@pytest.mark.parametrize("pattern,lengths", [("b c h w -> b c", {}), ("b (h 2) -> b h", {}), ("b s d -> b d", {}),
                                             ("b ... c -> b (...)", {})])
@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple))
def test_reduce_agrees_with_einops(pattern: str, lengths: dict, shape) -> None:  # type: ignore[no-untyped-def,type-arg]
    agree("einops.reduce", einops.reduce, Tz(shape), pattern, "mean", **lengths)


@pytest.mark.parametrize("pattern,lengths", [("b d -> b n d", {"n": 3}), ("h w -> (h 2) (w r)", {"r": 2}), ("b d -> b d n", {})])
@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple))
def test_repeat_agrees_with_einops(pattern: str, lengths: dict, shape) -> None:  # type: ignore[no-untyped-def,type-arg]
    agree("einops.repeat", einops.repeat, Tz(shape), pattern, **lengths)


def test_einops_layer_and_einsum() -> None:
    from einops.layers.torch import Rearrange

    x = Tz((2, 12, 5))
    result, call = ours("einops.rearrange", (x, "b (h d) s -> b h s d"), {"h": 3})
    expected = tuple(Rearrange("b (h d) s -> b h s d", h=3)(torch.empty(2, 12, 5, device="meta")).shape)
    assert isinstance(result, TensorValue) and tuple(d.value for d in result.shape.dims) == expected
    agree("einops.einsum", einops.einsum, Tz((2, 3, 4)), Tz((2, 5, 4)), "batch i d, batch j d -> batch i j")
    agree("einops.einsum", einops.einsum, Tz((2, 3, 4)), Tz((2, 5, 3)), "batch i d, batch j d -> batch i j")


def test_einops_symbolic_heads_split_records_divisibility() -> None:
    fn = lookup("einops.rearrange")
    assert fn is not None
    facts = Facts()
    x = TensorValue(Shape.of("b", "s", "d_model"))
    call = OpCall("einops.rearrange", [x, ConstValue("b s (h d) -> b h s d")], {"h": DimValue(Dim.sym("n_heads"))}, facts=facts)
    out = fn(call)
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, n_heads, s, d_model // n_heads)" and out.origin == "einops"
    back = fn(OpCall("einops.rearrange", [out, ConstValue("b h s d -> b s (h d)")], {}, facts=facts))
    assert isinstance(back, TensorValue) and str(back.shape) == "(b, s, d_model)"
