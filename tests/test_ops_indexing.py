"""Indexing, gather and index_select against torch."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Tz, agree_cpu, ours, torch_outcome, value_shapes
from strategies import shapes

from shapecheck.infer.values import TensorValue, TupleValue

SETTINGS = settings(max_examples=40, deadline=None)

basic_items = st.one_of(
    st.integers(-4, 4),
    st.none(),
    st.just(Ellipsis),
    st.builds(slice, st.one_of(st.none(), st.integers(-4, 4)), st.one_of(st.none(), st.integers(-4, 4)),
              st.one_of(st.none(), st.integers(1, 3))),
    st.builds(lambda s: Tz(s, torch.int64), shapes(0, 2)),
)


def getitem(x, idx):  # type: ignore[no-untyped-def]
    return x[idx]


@SETTINGS
@given(shape=shapes(0, 4), items=st.lists(basic_items, max_size=4))
def test_basic_and_integer_indexing(shape, items) -> None:  # type: ignore[no-untyped-def]
    """Index tensors hold zeros (CPU) so that bounds never fail on the data. Several ellipses are
    left out: NumPy rejects them, torch applies rules of its own; we return an unknown shape."""
    if items.count(Ellipsis) > 1:
        return
    agree_cpu("__getitem__", getitem, Tz(shape), tuple(items))


@SETTINGS
@given(shape=shapes(1, 3), mask=shapes(1, 2), lead=st.booleans())
def test_boolean_mask_rank_and_errors(shape, mask, lead) -> None:  # type: ignore[no-untyped-def]
    idx = (Tz(mask, torch.bool),) if lead else (slice(None), Tz(mask, torch.bool))
    ok, expected, _ = torch_outcome(getitem, (Tz(shape), idx), {}, "cpu")
    result, call = ours("__getitem__", (Tz(shape), idx), {})
    errors = [f for f in call.findings if f.code == "SC101"]
    assert bool(errors) == (not ok)
    if ok:
        assert isinstance(result, TensorValue) and result.shape.rank == len(expected)
        got = value_shapes(result)
        assert got == "?"  # the masked axis has a data-dependent size


@SETTINGS
@given(shape=shapes(1, 3), idx=shapes(1, 3), dim=st.integers(-3, 3))
def test_gather_index_select(shape, idx, dim) -> None:  # type: ignore[no-untyped-def]
    agree_cpu("torch.gather", torch.gather, Tz(shape), dim, Tz(idx, torch.int64))
    agree_cpu("torch.index_select", torch.index_select, Tz(shape), dim, Tz(idx[:1], torch.int64))


def test_tuple_indexing() -> None:
    result, _ = ours("__getitem__", ((Tz((2, 3)), Tz((4,))), 1), {})
    assert isinstance(result, TensorValue) and value_shapes(result) == (4,)
    result, _ = ours("__getitem__", ((Tz((2, 3)), Tz((4,)), Tz((5,))), slice(1, None)), {})
    assert isinstance(result, TupleValue) and len(result.items) == 2


def test_symbolic_slices() -> None:
    from shapecheck.infer.ops.registry import OpCall, lookup
    from shapecheck.infer.values import ConstValue, SliceValue
    from shapecheck.shapes import Shape

    fn = lookup("__getitem__")
    assert fn is not None
    none = ConstValue(None)
    x = TensorValue(Shape.of("b", "s", "v"))
    sub = TupleValue((SliceValue(none, none, none), SliceValue(none, ConstValue(-1), none)))
    out = fn(OpCall("__getitem__", [x, sub], {}))
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, s - 1, v)"
    out = fn(OpCall("__getitem__", [x, TupleValue((SliceValue(none, none, none), none))], {}))
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, 1, s, v)" and out.origin == "index-none"
    out = fn(OpCall("__getitem__", [x, TupleValue((ConstValue(0), ConstValue(0), ConstValue(0), ConstValue(0)))], {}))
    assert out is not None and not isinstance(out, TensorValue)


@SETTINGS
@given(shape=shapes(1, 3), dim=st.integers(-3, 3))
def test_scatter_keeps_self_shape(shape, dim) -> None:  # type: ignore[no-untyped-def]
    agree_cpu("Tensor.scatter", torch.Tensor.scatter, Tz(shape), dim, Tz(shape, torch.int64), 1.0)
    agree_cpu("Tensor.index_fill", torch.Tensor.index_fill, Tz(shape), dim, Tz((1,), torch.int64), 0.0)


scatter_index = st.one_of(shapes(0, 3), shapes(0, 3, zero=True))


@SETTINGS
@given(shape=shapes(0, 3), idx=scatter_index, src=shapes(0, 3), dim=st.integers(-2, 2))
def test_scatter_index_and_src_shapes(shape, idx, src, dim) -> None:  # type: ignore[no-untyped-def]
    """Index tensors hold zeros, so the shapes alone decide (an empty index skips torch's checks)."""
    agree_cpu("Tensor.scatter", torch.Tensor.scatter, Tz(shape), dim, Tz(idx, torch.int64), Tz(src))
    agree_cpu("torch.scatter_add", torch.scatter_add, Tz(shape), dim, Tz(idx, torch.int64), Tz(src))
    agree_cpu("Tensor.scatter_reduce", torch.Tensor.scatter_reduce, Tz(shape), dim, Tz(idx, torch.int64), Tz(src), "sum")
    agree_cpu("Tensor.scatter", torch.Tensor.scatter, Tz(shape), dim, Tz(idx, torch.int64), 1.0)


@SETTINGS
@given(shape=shapes(1, 3), idx=shapes(0, 2), src=shapes(1, 3), dim=st.integers(-2, 2))
def test_index_add_copy_fill(shape, idx, src, dim) -> None:  # type: ignore[no-untyped-def]
    agree_cpu("Tensor.index_add", torch.Tensor.index_add, Tz(shape), dim, Tz(idx, torch.int64), Tz(src))
    agree_cpu("torch.index_copy", torch.index_copy, Tz(shape), dim, Tz(idx[:1], torch.int64), Tz(src))
    agree_cpu("Tensor.index_fill", torch.Tensor.index_fill, Tz(shape), dim, Tz(idx, torch.int64), 0.0)


def test_scatter_through_the_checker() -> None:
    from shapecheck.testing import assert_marks

    assert_marks('''
import torch
from jaxtyping import Float, Int
from torch import Tensor


def one_hot(labels: Int[Tensor, "n"], n: int):
    out = torch.zeros(8, 10)
    bad = out.scatter(1, labels, 1.0)  # SC101
    good = out.scatter(1, labels.unsqueeze(1), 1.0)
    return bad, good


def pick(x: Float[Tensor, "b t v"], idx: Int[Tensor, "b t"]):
    bad = x.gather(-1, idx)  # SC101
    good = x.gather(-1, idx.unsqueeze(-1))
    return bad, good
''', ["SC101"])


@SETTINGS
@given(shape=shapes(0, 3), idx=shapes(0, 3), dim=st.one_of(st.none(), st.integers(-3, 3)))
def test_take_along_dim(shape, idx, dim) -> None:  # type: ignore[no-untyped-def]
    """Index and input broadcast off `dim` and need the same rank; without dim both are flattened."""
    if dim is None:
        agree_cpu("torch.take_along_dim", torch.take_along_dim, Tz(shape), Tz(idx, torch.int64))
    else:
        agree_cpu("Tensor.take_along_dim", torch.Tensor.take_along_dim, Tz(shape), Tz(idx, torch.int64), dim)


def test_advanced_indexing_through_the_checker() -> None:
    """Index tensors broadcast together and take the indexed axes' place; a boolean mask takes as
    many axes as it has (reveal, with symbolic sizes)."""
    import textwrap

    from shapecheck.infer.explain import reveal

    source = textwrap.dedent('''
        import torch
        from jaxtyping import Bool, Float, Int
        from torch import Tensor


        def f(x: Float[Tensor, "B T C"], y: Int[Tensor, "B"], m: Bool[Tensor, "B T"], cols: Int[Tensor, "K"]):
            a = x[torch.arange(x.size(0)), y]
            b = x[m]
            c = x[:, y]
            d = x[y[:, None], cols]
            e = x[..., cols]
            g = x[y, :, cols[:1]]
            return a, b, c, d, e, g
    ''')
    found = {row: [desc for _, desc in items] for row, items in reveal(source).items()}
    lines = source.splitlines()
    got = {lines[row - 1].strip().split(" = ")[0]: descs[0] for row, descs in found.items()}
    assert got["a"].startswith("(B, C)")
    assert got["b"].startswith("(?, C)")
    assert got["c"].startswith("(B, B, C)")
    assert got["d"].startswith("(B, K, C)")
    assert got["e"].startswith("(B, T, K)")
    assert got["g"].startswith("(B, T)")
    x = torch.zeros(2, 3, 4)
    y, cols = torch.zeros(2, dtype=torch.long), torch.zeros(5, dtype=torch.long)
    assert x[y[:, None], cols].shape == (2, 5, 4) and x[y, :, cols[:1]].shape == (2, 3)
