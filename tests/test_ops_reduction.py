"""Reductions and along-axis ops against torch (meta device)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Tz, agree, agree_cpu
from strategies import shapes

from shapecheck.infer.ops.registry import OpCall, lookup
from shapecheck.infer.values import UNKNOWN, ConstValue, TensorValue, TupleValue
from shapecheck.shapes import Shape

SETTINGS = settings(max_examples=30, deadline=None)
dims = st.integers(-5, 4)
dim_args = st.one_of(st.none(), dims, st.lists(st.integers(-4, 3), min_size=1, max_size=3).map(tuple))


@pytest.mark.parametrize("name,fn", [
    ("torch.sum", torch.sum), ("Tensor.mean", torch.Tensor.mean), ("torch.amax", torch.amax),
    ("torch.std", torch.std), ("Tensor.prod_dim", None), ("torch.logsumexp", torch.logsumexp),
    ("torch.any", torch.any),
])
@SETTINGS
@given(shape=shapes(0, 4), dim=dim_args, keepdim=st.booleans())
def test_reductions_agree(name: str, fn, shape, dim, keepdim) -> None:  # type: ignore[no-untyped-def]
    if fn is None:
        name, fn = "Tensor.prod", torch.Tensor.prod
        if not isinstance(dim, int):
            dim = -1
    if name == "torch.logsumexp" and dim is None:
        dim = -1
    if dim is None:
        agree(name, fn, Tz(shape))
    else:
        agree(name, fn, Tz(shape), dim=dim, keepdim=keepdim)


@pytest.mark.parametrize("name,fn", [("torch.max", torch.max), ("Tensor.min", torch.Tensor.min),
                                     ("torch.argmax", torch.argmax), ("torch.median", torch.median)])
@SETTINGS
@given(shape=shapes(0, 4), dim=st.one_of(st.none(), dims), keepdim=st.booleans())
def test_max_min_argmax(name: str, fn, shape, dim, keepdim) -> None:  # type: ignore[no-untyped-def]
    if dim is None:
        agree(name, fn, Tz(shape))
    else:
        agree(name, fn, Tz(shape), dim, keepdim=keepdim)


@pytest.mark.parametrize("name,fn", [
    ("torch.softmax", torch.softmax), ("torch.nn.functional.log_softmax", F.log_softmax),
    ("torch.cumsum", torch.cumsum), ("Tensor.cumprod", torch.Tensor.cumprod), ("torch.cummax", torch.cummax),
    ("torch.sort", torch.sort), ("torch.argsort", torch.argsort),
])
@SETTINGS
@given(shape=shapes(0, 4), dim=dims)
def test_along_axis(name: str, fn, shape, dim) -> None:  # type: ignore[no-untyped-def]
    agree_cpu(name, fn, Tz(shape), dim=dim)


@SETTINGS
@given(shape=shapes(0, 4), k=st.integers(0, 6), dim=dims)
def test_topk(shape, k, dim) -> None:  # type: ignore[no-untyped-def]
    agree("torch.topk", torch.topk, Tz(shape), k, dim=dim)


def test_symbolic_reduction_and_sc106() -> None:
    fn = lookup("Tensor.sum")
    assert fn is not None
    call = OpCall("Tensor.sum", [TensorValue(Shape.of("b", "s", "d")), ConstValue(1)], {"keepdim": ConstValue(True)})
    out = fn(call)
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, 1, d)"
    call = OpCall("Tensor.softmax", [TensorValue(Shape.of("b", "c")), ConstValue(2)], {})
    sm = lookup("Tensor.softmax")
    assert sm is not None and sm(call) is UNKNOWN
    assert [f.code for f in call.findings] == ["SC106"] and "dim=2" in call.findings[0].message


def test_max_with_dim_is_values_and_indices() -> None:
    fn = lookup("Tensor.max")
    assert fn is not None
    out = fn(OpCall("Tensor.max", [TensorValue(Shape.of("b", "c")), ConstValue(-1)], {}))
    assert isinstance(out, TupleValue) and [str(v.shape) for v in out.items] == ["(b)", "(b)"]  # type: ignore[union-attr]
    assert out.items[1].dtype == "int64"  # type: ignore[union-attr]


def test_numpy_axis_keepdims() -> None:
    fn = lookup("numpy.mean")
    assert fn is not None
    x = TensorValue(Shape.of("n", 3), library="numpy")
    out = fn(OpCall("numpy.mean", [x], {"axis": ConstValue(0), "keepdims": ConstValue(True)}))
    assert isinstance(out, TensorValue) and str(out.shape) == "(1, 3)"


@SETTINGS
@given(pair=st.lists(st.integers(1, 3), min_size=1, max_size=3).flatmap(
    lambda base: st.tuples(st.just(tuple(base)), st.lists(st.sampled_from([1, *base]), min_size=len(base), max_size=len(base)).map(tuple))),
    dim=st.integers(-3, 2))
def test_cosine_similarity_pairwise_distance(pair, dim) -> None:  # type: ignore[no-untyped-def]
    agree("torch.nn.functional.cosine_similarity", F.cosine_similarity, Tz(pair[0]), Tz(pair[1]), dim=dim)
    agree_cpu("torch.nn.functional.pairwise_distance", F.pairwise_distance, Tz(pair[0]), Tz(pair[1]))
