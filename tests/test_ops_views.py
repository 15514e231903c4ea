"""Views and reshapes against torch (meta device), element counts, contiguity and squeeze."""

from __future__ import annotations

import math
import operator

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Size, Tz, agree, agree_cpu, ours
from strategies import shapes

from shapecheck.infer.ops.registry import OpCall, lookup
from shapecheck.infer.values import UNKNOWN, ConstValue, DimValue, TensorValue, TupleValue
from shapecheck.shapes import Dim, Facts, Shape

SETTINGS = settings(max_examples=30, deadline=None)
dims = st.integers(-5, 4)


@st.composite
def reshape_case(draw: st.DrawFn) -> tuple[tuple[int, ...], list[int]]:
    """A shape and a target that usually keeps the element count, sometimes with -1."""
    shape = draw(shapes(0, 4, zero=draw(st.integers(0, 9)) == 0))
    numel = math.prod(shape)
    target: list[int] = []
    rest = numel
    for _ in range(draw(st.integers(0, 3))):
        divisors = [d for d in range(1, 7) if rest % d == 0] if rest else [0, 1, 2]
        d = draw(st.sampled_from(divisors))
        target.append(d)
        rest = rest // d if d else 0
    target.append(rest)
    if draw(st.integers(0, 4)) == 0:
        target[draw(st.integers(0, len(target) - 1))] = draw(st.integers(1, 7))  # break the count
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return shape, target


@pytest.mark.parametrize("name", ["Tensor.view", "Tensor.reshape", "torch.reshape"])
@SETTINGS
@given(case=reshape_case(), form=st.sampled_from(["varargs", "tuple", "size"]))
def test_view_reshape(name: str, case, form) -> None:  # type: ignore[no-untyped-def]
    shape, target = case
    if name == "torch.reshape":
        agree(name, torch.reshape, Tz(shape), tuple(target))
    elif form == "varargs":
        agree(name, getattr(torch.Tensor, name.split(".")[1]), Tz(shape), *target)
    elif form == "tuple":
        agree(name, getattr(torch.Tensor, name.split(".")[1]), Tz(shape), tuple(target))
    elif -1 not in target:
        agree(name, getattr(torch.Tensor, name.split(".")[1]), Tz(shape), Size(tuple(target)))


@SETTINGS
@given(shape=shapes(0, 4), start=dims, end=dims)
def test_flatten(shape, start, end) -> None:  # type: ignore[no-untyped-def]
    agree("torch.flatten", torch.flatten, Tz(shape), start, end)


@SETTINGS
@given(shape=shapes(1, 4), dim=dims, sizes=st.lists(st.integers(-1, 4), min_size=1, max_size=3))
def test_unflatten(shape, dim, sizes) -> None:  # type: ignore[no-untyped-def]
    if sizes.count(-1) > 1 or 0 in sizes:
        return
    agree("Tensor.unflatten", torch.Tensor.unflatten, Tz(shape), dim, tuple(sizes))


@SETTINGS
@given(shape=shapes(0, 4), order=st.lists(st.integers(-4, 4), max_size=5))
def test_permute(shape, order) -> None:  # type: ignore[no-untyped-def]
    if not order:
        return  # x.permute() without dims is a Python call error, not a shape question
    agree("Tensor.permute", torch.Tensor.permute, Tz(shape), *order)


@SETTINGS
@given(shape=shapes(0, 4), a=dims, b=dims)
def test_transpose_swap_movedim(shape, a, b) -> None:  # type: ignore[no-untyped-def]
    agree("Tensor.transpose", torch.Tensor.transpose, Tz(shape), a, b)
    agree("torch.swapaxes", torch.swapaxes, Tz(shape), a, b)
    agree("torch.movedim", torch.movedim, Tz(shape), a, b)


@SETTINGS
@given(shape=shapes(0, 4))
def test_t_T_mT(shape) -> None:  # type: ignore[no-untyped-def]
    agree("Tensor.t", torch.Tensor.t, Tz(shape))
    if len(shape) in (0, 2):  # .T on other ranks is deprecated (a warning, reversed axes)
        agree("Tensor.T", lambda x: x.T, Tz(shape))
    agree_cpu("Tensor.mT", lambda x: x.mT, Tz(shape))  # meta's .mT accepts a 0-d tensor


@SETTINGS
@given(shape=shapes(0, 4), dim=dims)
def test_unsqueeze_squeeze(shape, dim) -> None:  # type: ignore[no-untyped-def]
    agree("Tensor.unsqueeze", torch.Tensor.unsqueeze, Tz(shape), dim)
    agree("Tensor.squeeze", torch.Tensor.squeeze, Tz(shape), dim)
    agree("Tensor.squeeze", torch.Tensor.squeeze, Tz(shape))


@SETTINGS
@given(shape=shapes(0, 3), sizes=st.lists(st.integers(-1, 4), max_size=4))
def test_expand(shape, sizes) -> None:  # type: ignore[no-untyped-def]
    if not sizes:
        return  # x.expand() without sizes is a Python call error
    if 0 in sizes and -1 in sizes[: len(sizes) - len(shape)]:
        return  # torch returns a shape holding -1 here (a torch bug), nothing to agree with
    agree_cpu("Tensor.expand", torch.Tensor.expand, Tz(shape), *sizes)  # meta lets -1 through on new axes


@SETTINGS
@given(shape=shapes(0, 3), reps=st.lists(st.integers(0, 3), max_size=4))
def test_repeat_tile(shape, reps) -> None:  # type: ignore[no-untyped-def]
    agree("Tensor.repeat", torch.Tensor.repeat, Tz(shape), *reps) if reps else None
    agree("torch.tile", torch.tile, Tz(shape), tuple(reps))


@SETTINGS
@given(shape=shapes(1, 3), dim=dims, start=st.integers(-3, 3), length=st.integers(0, 4))
def test_narrow(shape, dim, start, length) -> None:  # type: ignore[no-untyped-def]
    agree_cpu("torch.narrow", torch.narrow, Tz(shape), dim, start, length)


def test_view_after_transpose_is_sc108_but_reshape_is_fine() -> None:
    agree("Tensor.view", torch.Tensor.view, Tz((2, 3), noncontiguous=True), 6)
    agree("Tensor.reshape", torch.Tensor.reshape, Tz((2, 3), noncontiguous=True), 6)
    agree("Tensor.view", torch.Tensor.view, Tz((2, 3), noncontiguous=True), 2, 3)
    agree("Tensor.view", torch.Tensor.view, Tz((4, 2, 3), noncontiguous=True), 2, 2, 2, 3)
    call = OpCall("Tensor.view", [TensorValue(Shape.of(3, 2), contiguous=False, origin="transpose"), ConstValue(-1)], {})
    view = lookup("Tensor.view")
    assert view is not None and view(call) is UNKNOWN
    assert [f.code for f in call.findings] == ["SC108"] and "transpose" in call.findings[0].message


def sym(*dims: object) -> TensorValue:
    return TensorValue(Shape.of(*dims))  # type: ignore[arg-type]


def d(name: str) -> DimValue:
    return DimValue(Dim.sym(name))


def run(name: str, *args: object, facts: Facts | None = None) -> tuple[object, OpCall]:
    fn = lookup(name)
    assert fn is not None
    call = OpCall(name, list(args), {}, facts=facts, labels=["x"])  # type: ignore[arg-type]
    return fn(call), call


def test_multi_head_round_trip() -> None:
    facts = Facts()
    facts.assume_divides(Dim.sym("h"), Dim.sym("d"))
    head = DimValue(Dim.sym("d") // Dim.sym("h"))
    x, call = run("Tensor.view", sym("b", "s", "d"), d("b"), d("s"), d("h"), head, facts=facts)
    assert isinstance(x, TensorValue) and str(x.shape) == "(b, s, h, d // h)" and not call.findings
    x, _ = run("Tensor.transpose", x, ConstValue(1), ConstValue(2))
    assert isinstance(x, TensorValue) and x.contiguous is False
    x, _ = run("Tensor.transpose", x, ConstValue(1), ConstValue(2))
    x, _ = run("Tensor.contiguous", x)
    x, call = run("Tensor.view", x, d("b"), d("s"), ConstValue(-1), facts=facts)
    assert isinstance(x, TensorValue) and str(x.shape) == "(b, s, d)" and not call.findings


def test_symbolic_element_count_mismatch() -> None:
    out, call = run("Tensor.view", sym("b", 12), d("b"), ConstValue(5), ConstValue(-1))
    assert out is UNKNOWN and [f.code for f in call.findings] == ["SC101"]
    out, call = run("Tensor.reshape", sym("n", 6), d("n"), ConstValue(4))
    assert out is UNKNOWN and [f.code for f in call.findings] == ["SC101"]
    out, call = run("Tensor.view", sym("b", "s", "d"), d("b"), ConstValue(-1))
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, d * s)" and not call.findings


def test_squeeze_without_dim_on_symbolic_axis_is_sc107() -> None:
    out, call = run("Tensor.squeeze", sym("b", 1, "d"))
    assert [f.code for f in call.findings] == ["SC107"]
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, d)"
    out, call = run("Tensor.squeeze", sym(3, 1, 4))
    assert not call.findings and isinstance(out, TensorValue) and str(out.shape) == "(3, 4)"


def test_unknown_sizes_give_unknown_silently() -> None:
    from shapecheck.infer.values import UNKNOWN as U

    out, call = run("Tensor.view", sym("b", "d"), U, ConstValue(-1))  # two sizes: the rank is known
    assert isinstance(out, TensorValue) and str(out.shape) == "(?, ?)" and not call.findings
    out, call = run("Tensor.view", sym("b", "d"), U)  # one unknown argument could be a whole tuple
    assert isinstance(out, TensorValue) and out.shape.rank is None and not call.findings
    out, call = run("Tensor.permute", TensorValue(Shape.unknown()), TupleValue((ConstValue(0), ConstValue(1))))
    assert isinstance(out, TensorValue) and not call.findings


@SETTINGS
@given(case=reshape_case())
def test_view_of_transposed_tensor(case) -> None:  # type: ignore[no-untyped-def]
    """SC108 exactly when torch's view of a transposed tensor fails (merging the swapped axes)."""
    shape, target = case
    if len(shape) < 2 or 0 in shape:
        return
    agree("Tensor.view", torch.Tensor.view, Tz(shape, noncontiguous=True), *target)


@SETTINGS
@given(shape=shapes(0, 3), dims_=st.lists(st.integers(-4, 3), max_size=3))
def test_flip_roll(shape, dims_) -> None:  # type: ignore[no-untyped-def]
    agree_cpu("torch.flip", torch.flip, Tz(shape), dims_)
    if dims_:
        agree_cpu("torch.roll", torch.roll, Tz(shape), [1] * len(dims_), dims_)


@SETTINGS
@given(shape=shapes(0, 4), dim=st.integers(-4, 3))
def test_tril_triu_glu(shape, dim) -> None:  # type: ignore[no-untyped-def]
    import torch.nn.functional as F

    agree("torch.tril", torch.tril, Tz(shape))
    agree("Tensor.triu", torch.Tensor.triu, Tz(shape), 1)
    agree_cpu("torch.nn.functional.glu", F.glu, Tz(shape), dim)


def test_view_after_transpose_merges_only_axes_still_in_memory_order() -> None:
    """(b, s, h, d).transpose(2, 3) keeps b and s adjacent in memory: merging them is a valid
    view; .transpose(1, 2) puts h between s and d, so merging s and d needs a copy (SC108)."""
    from shapecheck.testing import lint_snippet

    source = '''
from jaxtyping import Float
from torch import Tensor

def f(x: Float[Tensor, "b s h d"]):
    y = x.transpose(2, 3)
    ok = y.view(-1, y.shape[2], y.shape[3])
    z = x.transpose(1, 2)
    bad = z.view(z.shape[0], z.shape[1], -1)
    return ok, bad
'''
    assert [(d.location.row, d.code) for d in lint_snippet(source, ["SC108"])] == [(9, "SC108")]


# element-wise ops and clones keep the memory order of a transposed input (TensorIterator,
# preserve_format); reductions, softmax, norms, masked_fill and matmul give contiguous results
LAYOUT_OPS = [
    ("torch.nn.functional.gelu", F.gelu, ()), ("torch.relu", torch.relu, ()), ("torch.sigmoid", torch.sigmoid, ()),
    ("torch.nn.functional.dropout", F.dropout, (0.1, False)), ("Tensor.clamp", torch.Tensor.clamp, (0.0, 1.0)),
    ("Tensor.clone", torch.Tensor.clone, ()), ("Tensor.detach", torch.Tensor.detach, ()),
    ("Tensor.double", torch.Tensor.double, ()), ("*", operator.mul, (2.0,)), ("+", operator.add, (Tz((2, 4, 3)),)),
    ("-", operator.sub, (Tz((3,)),)), (">", operator.gt, (0.0,)), ("Tensor.softmax", torch.Tensor.softmax, (-1,)),
    ("Tensor.masked_fill", torch.Tensor.masked_fill, (Tz((2, 4, 3), torch.bool), 0.0)),
    ("Tensor.contiguous", torch.Tensor.contiguous, ()), ("torch.nn.functional.layer_norm", F.layer_norm, ((3,),)),
]


@pytest.mark.parametrize("name,fn,rest", LAYOUT_OPS)
def test_view_after_a_layout_keeping_op(name: str, fn, rest: tuple) -> None:  # type: ignore[no-untyped-def,type-arg]
    """`.view(-1)` after op(x.transpose(1, 2)): SC108 exactly when torch's view fails."""
    from ophelpers import to_torch

    x = Tz((2, 4, 3), noncontiguous=True)  # a (2, 3, 4) tensor transposed to (2, 4, 3)
    y = fn(to_torch(x, "cpu"), *[to_torch(a, "cpu") for a in rest])
    try:
        y.view(-1)
        torch_ok = True
    except RuntimeError:
        torch_ok = False
    result, _ = ours(name, (x, *rest), {})
    assert isinstance(result, TensorValue)
    view = lookup("Tensor.view")
    assert view is not None
    call = OpCall("Tensor.view", [result, ConstValue(-1)], {})
    view(call)
    assert bool([f for f in call.findings if f.code == "SC108"]) == (not torch_ok), (name, torch_ok, result)
    # the contiguous operand first decides the other way round
    if name == "+":
        front, _ = ours(name, (Tz((2, 4, 3)), x), {})
        assert isinstance(front, TensorValue) and front.contiguous is not False
        assert (to_torch(Tz((2, 4, 3)), "cpu") + to_torch(x, "cpu")).is_contiguous()


def test_transpose_then_view_in_every_spelling() -> None:
    """SC108 through the checker: every way to transpose or permute, then `.view()` that merges the
    moved axes; `.contiguous()`, `.reshape()`, `.flatten()`, einops, and views that keep the
    transposed shape are silent."""
    from shapecheck.testing import assert_marks

    assert_marks('''
import torch
import torch.nn.functional as F
from einops import rearrange
from jaxtyping import Float
from torch import Tensor


def spellings(x: Float[Tensor, "B T C"], m: Float[Tensor, "N M"], o: Float[Tensor, "B C T"]):
    a = x.transpose(1, 2).view(x.size(0), -1)  # SC108
    b = torch.transpose(x, 1, 2).view(-1)  # SC108
    c = x.permute(0, 2, 1).view(-1)  # SC108
    d = torch.permute(x, (0, 2, 1)).view(-1)  # SC108
    e = x.mT.view(-1)  # SC108
    f = m.T.view(-1)  # SC108
    g = m.t().view(-1)  # SC108
    h = torch.t(m).view(-1)  # SC108
    i = x.swapaxes(1, 2).view(-1)  # SC108
    j = torch.swapaxes(x, 1, 2).view(-1)  # SC108
    k = x.swapdims(1, 2).view(-1)  # SC108
    l = x.movedim(2, 1).view(-1)  # SC108
    n = torch.moveaxis(x, 2, 1).view(-1)  # SC108
    p = x.transpose(-1, -2).view((x.size(0), -1))  # SC108
    q = x.unsqueeze(1).expand(-1, 4, -1, -1).view(-1)  # SC108
    y = x.transpose(1, 2)
    z = y.view(-1)  # SC108
    r = F.gelu(x.transpose(1, 2)).view(-1)  # SC108
    s = (x.transpose(1, 2) * 2).view(-1)  # SC108
    t = x.transpose(1, 2).clone().view(-1)  # SC108
    return a, b, c, d, e, f, g, h, i, j, k, l, n, p, q, z, r, s, t


def fixed(x: Float[Tensor, "B T C"], o: Float[Tensor, "B C T"]):
    a = x.transpose(1, 2).contiguous().view(-1)
    b = x.transpose(1, 2).reshape(-1)
    c = x.transpose(1, 2).flatten()
    d = torch.flatten(x.transpose(1, 2), 1)
    e = x.transpose(1, 2).view_as(o)
    f = x.transpose(1, 2).view(o.shape)
    g = rearrange(x.transpose(1, 2), "b c t -> b (c t)")
    h = x.transpose(1, 2).softmax(-1).view(-1)
    i = (torch.zeros_like(o) + x.transpose(1, 2)).view(-1)
    j = x.transpose(1, 2).clone(memory_format=torch.contiguous_format).view(-1)
    k = x.permute(0, 1, 2).view(-1)
    return a, b, c, d, e, f, g, h, i, j, k
''', ["SC108"])


def _layout_case(fn, name: str):  # type: ignore[no-untyped-def]
    """(torch's `.view(-1)` works, we report SC108) after `fn` on a transposed input."""
    from ophelpers import to_value

    x = Tz((2, 4, 6), noncontiguous=True)
    base = torch.rand(2, 6, 4) * 0.5 + 0.25  # values every unary op accepts
    extra = (1.0,) if name.endswith(("clamp_min", "clamp_max")) else (0.0, 1.0) if any(k in name for k in ("clamp", "clip")) else ()
    y = fn(base.transpose(1, 2), *extra)
    try:
        y.view(-1)
        torch_ok = True
    except RuntimeError:
        torch_ok = False
    return torch_ok, to_value(x), [ConstValue(e) for e in extra]


def test_every_unary_op_and_activation_module_keeps_or_drops_the_layout_as_torch_does() -> None:
    """SC108 after an element-wise op on a transposed tensor exactly when torch's view fails."""
    import warnings

    from shapecheck.infer.ops import registry
    from shapecheck.infer.ops.elementwise import unary
    from shapecheck.infer.ops.nn_modules import _SHAPE_PRESERVING
    from shapecheck.infer.values import ModuleValue

    registry._load_families()
    view = lookup("Tensor.view")
    assert view is not None
    checked = 0
    for name, fn in sorted(registry.OPS.items()):
        if fn is not unary or name.startswith("numpy.") or name in ("-u", "+u", "~") or "threshold" in name:
            continue
        owner = {"torch.nn.functional.": F, "torch.special.": torch.special, "torch.Tensor.": torch.Tensor,
                 "Tensor.": torch.Tensor, "torch.": torch}
        prefix = next(p for p in owner if name.startswith(p))
        torch_fn = getattr(owner[prefix], name[len(prefix):], None)
        if torch_fn is None or name == "torch.dropout":
            continue
        torch_ok, x, extra = _layout_case(torch_fn, name)
        result = fn(OpCall(name, [x, *extra], {}))
        call = OpCall("Tensor.view", [result, ConstValue(-1)], {})
        view(call)
        assert any(f.code == "SC108" for f in call.findings) == (not torch_ok), name
        checked += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dropout2d/3d on 3-d input
        for name in _SHAPE_PRESERVING:
            if name == "Threshold":
                continue
            torch_ok, x, _ = _layout_case(getattr(torch.nn, name)(), name)
            module = registry.MODULES[f"torch.nn.{name}"]
            result = module(ModuleValue(f"torch.nn.{name}"), OpCall(name, [x], {}))
            call = OpCall("Tensor.view", [result, ConstValue(-1)], {})
            view(call)
            assert any(f.code == "SC108" for f in call.findings) == (not torch_ok), name
            checked += 1
    assert checked > 150


def test_every_binary_op_takes_the_first_operands_layout_as_torch_does() -> None:
    """A transposed left operand of the result's shape decides the layout; a contiguous one first,
    or a broadcast one, does not make us claim a layout."""
    from ophelpers import to_value

    from shapecheck.infer.ops import registry
    from shapecheck.infer.ops.elementwise import _ARITH, _COMPARE

    registry._load_families()
    view = lookup("Tensor.view")
    assert view is not None
    checked = 0
    for name, fn in sorted(registry.OPS.items()):
        if not (name.startswith("torch.") and not name.startswith("torch.Tensor.")) or fn.__name__ not in {
                f"binary_{s}" for s in [*_ARITH, *_COMPARE, "maximum"]}:
            continue
        torch_fn = getattr(torch, name[len("torch."):], None)
        if torch_fn is None:
            continue
        left = torch.rand(2, 6, 4).add(1).transpose(1, 2)
        for other, other_value, first in ((torch.rand(2, 4, 6).add(1), Tz((2, 4, 6)), True),
                                          (torch.rand(6).add(1), Tz((6,)), True),
                                          (torch.rand(2, 4, 6).add(1), Tz((2, 4, 6)), False)):
            a, b = (left, other) if first else (other, left)
            if "bitwise" in name or "logical" in name:
                a, b = a > 1.5, b > 1.5
            try:
                y = torch_fn(a, b)
            except RuntimeError:
                continue
            try:
                y.view(-1)
                torch_ok = True
            except RuntimeError:
                torch_ok = False
            values = [to_value(Tz((2, 4, 6), noncontiguous=True)), to_value(other_value)]
            result = fn(OpCall(name, values if first else values[::-1], {}))
            call = OpCall("Tensor.view", [result, ConstValue(-1)], {})
            view(call)
            ours = any(f.code == "SC108" for f in call.findings)
            assert not ours or not torch_ok, (name, first)  # never an SC108 torch does not raise
            assert ours == (not torch_ok) or not first, (name, first)
            checked += 1
    assert checked > 40
