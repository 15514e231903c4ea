"""Precision through partial knowledge, against torch: an op called with some arguments unknown
keeps what the known ones fix (the rank, sizes) and nothing more.

Each case is a full call torch runs; we run the same call with the marked arguments replaced by
UNKNOWN and check that what we still infer is true of torch's result: the same rank, and every
size we claim equal to torch's.
"""

from __future__ import annotations

import operator

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Tz, to_value, torch_outcome
from strategies import shapes

from shapecheck.infer.ops.registry import OpCall, lookup, lookup_module
from shapecheck.infer.values import UNKNOWN, ModuleValue, TensorValue, TupleValue, Value

SETTINGS = settings(max_examples=25, deadline=None)


def partial(name: str, args: tuple, unknown: set[int], kwargs: dict | None = None) -> tuple[Value, OpCall]:  # type: ignore[type-arg]
    """Our result for `name(*args)` with the arguments at positions `unknown` (list items as
    (position, item)) replaced by UNKNOWN."""
    values: list[Value] = []
    for i, a in enumerate(args):
        if i in unknown:
            values.append(UNKNOWN)
        elif isinstance(a, list):
            values.append(TupleValue(tuple(UNKNOWN if (i, j) in unknown else to_value(x) for j, x in enumerate(a))))
        else:
            values.append(to_value(a))
    fn = lookup(name)
    assert fn is not None, name
    call = OpCall(name, values, {k: to_value(v) for k, v in (kwargs or {}).items()})
    return fn(call), call


def assert_consistent(result: Value, expected: tuple[int, ...], rank_known: bool = True) -> None:
    """What we claim about the result is true of torch's: the rank (when we claim one) and each size we know."""
    assert isinstance(result, TensorValue), result
    shape = result.shape
    if shape.rank is None:
        assert not rank_known, f"the rank is lost: torch gives {expected}"
        return
    assert shape.rank == len(expected), f"we infer {shape}, torch gives {expected}"
    for ours_dim, theirs in zip(shape.dims, expected):
        assert ours_dim.value is None or ours_dim.value == theirs, f"we infer {shape}, torch gives {expected}"


def agree_partial(name: str, fn, args: tuple, unknown: set = frozenset(), kwargs: dict | None = None, rank_known: bool = True) -> None:  # type: ignore[no-untyped-def,type-arg]
    ok, expected, error = torch_outcome(fn, args, kwargs or {}, "cpu")
    assert ok, error
    result, call = partial(name, args, unknown, kwargs)
    assert not call.findings, (name, [f.message for f in call.findings])
    try:
        assert_consistent(result, expected, rank_known)
    except AssertionError as exc:
        raise AssertionError(f"{name}{args} with {unknown} unknown: {exc}") from None


@st.composite
def mask_for(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A shape and a mask that fits it (axes dropped on the left or set to 1): never larger."""
    x = draw(shapes(1, 4))
    drop = draw(st.integers(0, len(x)))
    mask = tuple(1 if draw(st.booleans()) else d for d in x[drop:])
    return x, mask


@SETTINGS
@given(case=mask_for())
def test_masked_fill_and_where_with_a_mask_not_known(case) -> None:  # type: ignore[no-untyped-def]
    x, mask = case
    agree_partial("Tensor.masked_fill", torch.Tensor.masked_fill, (Tz(x), Tz(mask, torch.bool), 0.0), {1})
    agree_partial("Tensor.masked_fill_", torch.Tensor.masked_fill_, (Tz(x), Tz(mask, torch.bool), 0.0), {1})
    result, _ = partial("torch.where", (Tz(mask, torch.bool), Tz(x), Tz(mask)), {2})  # the other value could be larger
    assert isinstance(result, TensorValue) and result.shape.rank is None


def test_where_with_an_unknown_condition_may_grow() -> None:
    """diffusers qwenimage: `torch.where(mask_2d, positions_1d, 0)` is (b, t); the rank is not x's."""
    ok, expected, _ = torch_outcome(torch.where, (Tz((2, 3), torch.bool), Tz((3,)), 0.0), {}, "cpu")
    assert ok and expected == (2, 3)
    result, _ = partial("torch.where", (Tz((2, 3), torch.bool), Tz((3,)), 0.0), {0})
    assert isinstance(result, TensorValue) and result.shape.rank is None


def test_a_mask_larger_than_the_tensor_is_the_documented_exception() -> None:
    """torch grows x to a larger mask; with the mask unknown we keep x's shape (see masked_fill)."""
    ok, expected, _ = torch_outcome(torch.Tensor.masked_fill, (Tz((3,)), Tz((2, 3), torch.bool), 0.0), {}, "cpu")
    assert ok and expected == (2, 3)
    result, _ = partial("Tensor.masked_fill", (Tz((3,)), Tz((2, 3), torch.bool), 0.0), {1})
    assert isinstance(result, TensorValue) and result.shape.rank == 1


@SETTINGS
@given(x=shapes(1, 4), data=st.data())
def test_shape_preserving_ops_keep_the_shape(x, data) -> None:  # type: ignore[no-untyped-def]
    other = data.draw(st.sampled_from([x, x[1:], tuple(1 for _ in x)]))
    agree_partial("torch.nn.functional.dropout", F.dropout, (Tz(x), 0.1))
    agree_partial("torch.nn.functional.gelu", F.gelu, (Tz(x),))
    agree_partial("Tensor.clamp", torch.Tensor.clamp, (Tz(x), Tz(other), Tz(other)), {1, 2})
    agree_partial("Tensor.clamp_", torch.Tensor.clamp_, (Tz(x), Tz(other)), {1})
    agree_partial("Tensor.add_", torch.Tensor.add_, (Tz(x), Tz(other)), {1})
    agree_partial("Tensor.mul_", torch.Tensor.mul_, (Tz(x), Tz(other)), {1})
    agree_partial("Tensor.copy_", torch.Tensor.copy_, (Tz(x), Tz(other)), {1})
    agree_partial("Tensor.copy_", torch.Tensor.copy_, (Tz(x), Tz(other)), set())
    agree_partial("Tensor.fill_", torch.Tensor.fill_, (Tz(x), 0.5))
    agree_partial("Tensor.uniform_", torch.Tensor.uniform_, (Tz(x),))


@SETTINGS
@given(x=shapes(2, 4), data=st.data())
def test_known_rank_with_unknown_sizes(x, data) -> None:  # type: ignore[no-untyped-def]
    rank = len(x)
    n = data.draw(st.integers(0, rank - 1))
    m = data.draw(st.integers(0, rank - 1))
    agree_partial("Tensor.transpose", torch.Tensor.transpose, (Tz(x), n, m), {1, 2})
    agree_partial("Tensor.unsqueeze", torch.Tensor.unsqueeze, (Tz(x), n), {1})
    agree_partial("Tensor.sum", torch.Tensor.sum, (Tz(x), n, True), {1})
    agree_partial("Tensor.sum", torch.Tensor.sum, (Tz(x), n), {1}, rank_known=False)  # dim could be a tuple
    order = data.draw(st.permutations(range(rank)))
    agree_partial("Tensor.permute", torch.Tensor.permute, (Tz(x), *order), {1})
    agree_partial("Tensor.view", torch.Tensor.view, (Tz(x), x[0], -1), {1})
    agree_partial("Tensor.reshape", torch.Tensor.reshape, (Tz(x), -1, *x[1:]), {1})
    agree_partial("Tensor.view", torch.Tensor.view, (Tz(x), (x[0], -1)), {(1, 0)})
    agree_partial("Tensor.view", torch.Tensor.view, (Tz(x), (x[0], -1)), {1}, rank_known=False)  # one unknown: a tuple?
    agree_partial("torch.zeros", torch.zeros, (x[0], 3, x[1]), {0})
    agree_partial("torch.randn", torch.randn, ((x[0], x[1]),), {(0, 1)})
    agree_partial("Tensor.new_zeros", torch.Tensor.new_zeros, (Tz(x), x[0], x[1]), {2})
    agree_partial("Tensor.expand", torch.Tensor.expand, (Tz(x), 2, *[-1] * rank), {1})
    agree_partial("Tensor.repeat", torch.Tensor.repeat, (Tz(x), 2, *[1] * rank), {1})
    agree_partial("torch.gather", torch.gather, (Tz(x), n, Tz(x, torch.int64)), {2})
    agree_partial("torch.cat", torch.cat, ([Tz(x), Tz(x)], n), {(0, 1)})
    agree_partial("torch.cat", torch.cat, ([Tz(x), Tz((0,))], n), {(0, 0)}, rank_known=False)  # the legacy empty tensor
    agree_partial("torch.stack", torch.stack, ([Tz(x), Tz(x), Tz(x)], n), {(0, 2)})
    agree_partial("torch.stack", torch.stack, ([Tz(x), Tz(x)], n), {1})


def test_partial_lists_still_check_the_known_tensors() -> None:
    """cat/stack of [a, b, unknown]: a and b must still agree with each other."""
    result, call = partial("torch.cat", ([Tz((2, 3)), Tz((4, 5)), Tz((2, 3))], 1), {(0, 2)})
    ok, _, _ = torch_outcome(torch.cat, ([Tz((2, 3)), Tz((4, 5)), Tz((2, 3))], 1), {}, "cpu")
    assert not ok and result is UNKNOWN and [f.code for f in call.findings] == ["SC101"]
    result, call = partial("torch.stack", ([Tz((2, 3)), Tz((2, 4)), Tz((2, 3))],), {(0, 2)})
    assert result is UNKNOWN and [f.code for f in call.findings] == ["SC101"]


@pytest.mark.parametrize("x", [(4, 8), (2, 5, 8)])
def test_linear_with_unknown_features_keeps_the_leading_axes(x: tuple[int, ...]) -> None:
    fn = lookup_module("torch.nn.Linear")
    assert fn is not None
    expected = tuple(torch.nn.Linear(8, 3)(torch.zeros(x)).shape)
    result = fn(ModuleValue("torch.nn.Linear", (UNKNOWN, UNKNOWN)), OpCall("torch.nn.Linear", [to_value(Tz(x))], {}))
    assert_consistent(result, expected)
    assert isinstance(result, TensorValue) and result.shape.dims[:-1] == to_value(Tz(x[:-1])).shape.dims  # type: ignore[union-attr]
    wrong = OpCall("torch.nn.Linear", [to_value(Tz(x))], {})
    assert fn(ModuleValue("torch.nn.Linear", (to_value(5), UNKNOWN)), wrong) is UNKNOWN and wrong.findings


def test_binary_with_an_unknown_operand_stays_unknown() -> None:
    """`x + other` with `other` unknown could broadcast x larger: nothing is claimed."""
    result, _ = partial("+", (Tz((2, 3)), Tz((4, 2, 3))), {1})
    assert isinstance(result, TensorValue) and result.shape.rank is None
    assert operator.add(torch.zeros(2, 3), torch.zeros(4, 2, 3)).shape == (4, 2, 3)


def test_embedding_of_unknown_width_is_float_with_one_more_axis() -> None:
    """nn.Embedding(n, d) with d unknown: indices (B, T) give (B, T, ?) vectors of the weight's
    float dtype, never the indices' int64."""
    fn = lookup_module("torch.nn.Embedding")
    assert fn is not None
    idx = to_value(Tz((2, 5), torch.int64))
    expected = tuple(torch.nn.Embedding(10, 4)(torch.zeros(2, 5, dtype=torch.int64)).shape)
    result = fn(ModuleValue("torch.nn.Embedding", (to_value(10), UNKNOWN)), OpCall("torch.nn.Embedding", [idx], {}))
    assert_consistent(result, expected)
    assert isinstance(result, TensorValue) and result.dtype == "float32"


def partial_module(qualname: str, ctor: tuple, ctor_kwargs: dict, inputs: tuple, unknown: set) -> Value:  # type: ignore[type-arg]
    """Our module result with the constructor arguments at positions `unknown` (or keyword names) not known."""
    fn = lookup_module(qualname)
    assert fn is not None, qualname
    module = ModuleValue(qualname, tuple(UNKNOWN if i in unknown else to_value(a) for i, a in enumerate(ctor)),
                         tuple((k, UNKNOWN if k in unknown else to_value(v)) for k, v in ctor_kwargs.items()))
    return fn(module, OpCall(qualname, [to_value(a) for a in inputs], {}))


@pytest.mark.parametrize("qualname,ctor,kwargs,inputs,unknown", [
    ("torch.nn.Conv2d", (3, 8, 3), {}, (Tz((2, 3, 10, 12)),), {1}),
    ("torch.nn.Conv2d", (3, 8, 3), {"stride": 2, "padding": 1}, (Tz((2, 3, 10, 12)),), {1}),
    ("torch.nn.Conv2d", (3, 8, 3), {}, (Tz((2, 3, 10, 12)),), {0, 1, 2}),
    ("torch.nn.Conv1d", (4, 6, 5), {}, (Tz((2, 4, 20)),), {1}),
    ("torch.nn.LSTM", (5, 7), {"batch_first": True}, (Tz((2, 9, 5)),), {0, 1}),
    ("torch.nn.GRU", (5, 7, 2), {}, (Tz((9, 2, 5)),), {1, 2}),
    ("torch.nn.MultiheadAttention", (8, 2), {"batch_first": True}, (Tz((2, 5, 8)), Tz((2, 7, 8)), Tz((2, 7, 8))), {0, 1}),
    ("torch.nn.MultiheadAttention", (8, 2), {}, (Tz((5, 2, 8)), Tz((7, 2, 8)), Tz((7, 2, 8))), {0}),
    ("torch.nn.Embedding", (10, 4), {}, (Tz((2, 5), torch.int64),), {0, 1}),
    ("torch.nn.Linear", (8, 3), {}, (Tz((2, 5, 8)),), {0, 1}),
])
def test_modules_with_unknown_sizes_keep_the_other_axes(qualname: str, ctor: tuple, kwargs: dict, inputs: tuple,  # type: ignore[type-arg]
                                                        unknown: set) -> None:  # type: ignore[type-arg]
    module = getattr(torch.nn, qualname.rsplit(".", 1)[1])(*ctor, **kwargs)
    with torch.no_grad():
        out = module(*[torch.zeros(t.shape, dtype=t.dtype) for t in inputs])
    result = partial_module(qualname, ctor, kwargs, inputs, unknown)

    def check(ours: Value, theirs: object) -> None:
        if isinstance(theirs, torch.Tensor):
            assert_consistent(ours, tuple(theirs.shape))
        elif isinstance(theirs, tuple):
            assert isinstance(ours, TupleValue) and len(ours.items) == len(theirs)
            for o, t in zip(ours.items, theirs):
                check(o, t)

    check(result, out)
    known = result.items[0] if isinstance(result, TupleValue) else result
    assert isinstance(known, TensorValue) and known.shape.rank is not None and known.shape.dims[0].value is not None
