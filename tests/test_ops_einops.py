"""einops patterns checked without the tensor's shape, against einops itself.

einops' layers (`Rearrange`, `Reduce`) prepare their recipes for every rank in the constructor,
without a tensor: what they reject, `einops.rearrange` rejects for every input. That is the
oracle for `pattern_problem`: we report a pattern exactly when the layer constructor raises.
"""

from __future__ import annotations

import warnings

import einops
import pytest
import torch
from einops.einops import _prepare_recipes_for_all_dims
from einops.layers.torch import Rearrange, Reduce
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Tz, agree, to_value

from shapecheck.infer.ops.einops_ops import pattern_problem
from shapecheck.infer.ops.registry import OpCall, lookup, lookup_module
from shapecheck.infer.values import UNKNOWN, ConstValue, ModuleValue, TensorValue, TupleValue
from shapecheck.testing import assert_marks


def einops_rejects(kind: str, pattern: str, axes: dict[str, int], reduction: str = "mean") -> bool:
    """Whether einops raises on the pattern before it sees a tensor (the layers' constructor check)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # einops warns on axis names that are keywords
        try:
            if kind == "rearrange":
                Rearrange(pattern, **axes)
            elif kind == "reduce":
                Reduce(pattern, reduction, **axes)
            else:  # no Repeat layer: the same recipe preparation the layers run
                _prepare_recipes_for_all_dims(pattern, "repeat", tuple(axes))
        except Exception:  # EinopsError, or ValueError from the '->' split
            return True
    return False


def rejects_every_tensor(kind: str, pattern: str, axes: dict[str, int], reduction: str = "mean") -> bool:
    fn = getattr(einops, kind)
    for rank in range(0, 6):
        for size in (1, 2, 6):
            x = torch.zeros((size,) * rank)
            try:
                fn(x, pattern, reduction, **axes) if kind == "reduce" else fn(x, pattern, **axes)
            except Exception:
                continue
            return False
    return True


BAD = [
    ("rearrange", "b 1 c h w", {}),  # vit-pytorch vat.py / vat_siglip.py / vaat.py
    ("rearrange", "b c h -> b h c -> b", {}),
    ("rearrange", "b (c h -> b c h", {}),
    ("rearrange", "b c h) -> b c h", {}),
    ("rearrange", "b ((c h)) -> b c h", {}),
    ("rearrange", "b c c -> b c", {}),
    ("rearrange", "... c ... -> c ...", {}),
    ("rearrange", "b c h w -> b (h w) d", {}),  # an output axis the input lacks
    ("rearrange", "b c h -> b c h", {"k": 2}),  # a size for an axis the pattern does not use
    ("rearrange", "b c h -> b c (h 2)", {}),  # anonymous axes are for reduce/repeat
    ("rearrange", "b _c h -> b _c h", {}),
    ("rearrange", "(b ...) c -> b c", {}),
    ("rearrange", "b c -> ... b c", {}),
    ("rearrange", "b (h d) n -> b h n d", {}),  # two unknown sizes in one composite axis
    ("rearrange", "b c.h -> b c h", {}),
    ("repeat", "b d -> b n d", {}),  # a new axis without its size
    ("repeat", "b d -> d", {}),
    ("reduce", "b n d -> b n d e", {}),
    ("reduce", "b n d -> b 2", {}),
]

GOOD = [
    ("rearrange", "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", {"p1": 4, "p2": 4}),
    ("rearrange", "b n (h d) -> b h n d", {"h": 8}),
    ("rearrange", "b ... c -> b (...) c", {}),
    ("rearrange", "b 1 d -> b d", {}),
    ("rearrange", "b d -> b 1 d", {}),
    ("rearrange", "b () d -> b d", {}),
    ("repeat", "d -> b n d", {"b": 2, "n": 3}),
    ("repeat", "h w -> (h 2) (w r)", {"r": 2}),
    ("repeat", "() n d -> b n d", {"b": 4}),
    ("reduce", "b c (h 2) (w 2) -> b c h w", {}),
    ("reduce", "b ... d -> b d", {}),
    ("reduce", "b n d -> b d", {}),
]


@pytest.mark.parametrize("kind,pattern,axes", BAD)
def test_patterns_einops_always_rejects_are_errors_without_a_shape(kind: str, pattern: str, axes: dict[str, int]) -> None:
    assert einops_rejects(kind, pattern, axes) and rejects_every_tensor(kind, pattern, axes)
    fn = lookup(f"einops.{kind}")
    assert fn is not None
    args = [UNKNOWN, ConstValue(pattern)] + ([ConstValue("mean")] if kind == "reduce" else [])
    call = OpCall(f"einops.{kind}", args, {k: ConstValue(v) for k, v in axes.items()})
    assert fn(call) is UNKNOWN
    assert [f.code for f in call.findings] == ["SC101"] and "invalid pattern" in call.findings[0].message


@pytest.mark.parametrize("kind,pattern,axes", GOOD)
def test_valid_patterns_are_silent_without_a_shape(kind: str, pattern: str, axes: dict[str, int]) -> None:
    assert not einops_rejects(kind, pattern, axes)
    assert pattern_problem(kind, pattern, axes) is None
    fn = lookup(f"einops.{kind}")
    assert fn is not None
    args = [UNKNOWN, ConstValue(pattern)] + ([ConstValue("mean")] if kind == "reduce" else [])
    call = OpCall(f"einops.{kind}", args, {k: ConstValue(v) for k, v in axes.items()})
    fn(call)
    assert not call.findings


TOKENS = ["a", "b", "c", "d", "1", "2", "0", "_x", "y_", "...", "(", ")", " ", ".", "()"]
CLEAN = ["a", "b", "c", "d", "1", "2", "...", "(a b)", "(c 2)", "(b ...)"]  # mostly valid pieces


@st.composite
def pattern_case(draw: st.DrawFn) -> tuple[str, str, dict[str, int], str]:
    tokens = draw(st.sampled_from([TOKENS, CLEAN, CLEAN]))

    def side() -> str:
        return " ".join(draw(st.lists(st.sampled_from(tokens), max_size=5)))
    arrow = draw(st.sampled_from([" -> "] * 6 + ["", " -> x -> "]))
    pattern = side() + arrow + side()
    kind = draw(st.sampled_from(["rearrange", "reduce", "repeat"]))
    axes = {name: 2 for name in draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=2, unique=True))}
    reduction = draw(st.sampled_from(["mean", "mean", "max", "avg"]))
    return kind, pattern, axes, reduction


@settings(max_examples=400, deadline=None)
@given(case=pattern_case())
def test_pattern_problems_agree_with_einops(case: tuple[str, str, dict[str, int], str]) -> None:
    kind, pattern, axes, reduction = case
    ours_rejects = pattern_problem(kind, pattern, axes, reduction if kind == "reduce" else None) is not None
    assert ours_rejects == einops_rejects(kind, pattern, axes, reduction), (kind, pattern, axes, reduction)


def test_layer_built_with_a_bad_pattern_is_an_error_where_it_is_built() -> None:
    fn = lookup("einops.layers.torch.Rearrange")
    assert fn is not None
    call = OpCall("einops.layers.torch.Rearrange", [ConstValue("b c h w -> b (h w) d")], {})
    built = fn(call)
    assert isinstance(built, ModuleValue) and built.qualname == "einops.layers.torch.Rearrange"
    assert [f.code for f in call.findings] == ["SC101"]
    with pytest.raises(einops.EinopsError):
        Rearrange("b c h w -> b (h w) d")
    # calling it is not reported a second time
    result, called = ours_module_call(built)
    assert result is UNKNOWN and not called.findings
    fine = OpCall("einops.layers.torch.Reduce", [ConstValue("b n d -> b d"), ConstValue("mean")], {})
    assert isinstance(lookup("einops.layers.torch.Reduce")(fine), ModuleValue) and not fine.findings  # type: ignore[misc]


def ours_module_call(module: ModuleValue):  # type: ignore[no-untyped-def]
    fn = lookup_module(module.qualname)
    assert fn is not None
    call = OpCall(module.qualname, [to_value(Tz((2, 3, 4, 5)))], {})
    return fn(module, call), call


def test_through_the_checker_in_init_and_forward() -> None:
    assert_marks('''
import torch
from torch import nn
from einops import rearrange, repeat, reduce
from einops.layers.torch import Rearrange, Reduce


class Patches(nn.Module):
    def __init__(self, dim, p, fmap):
        super().__init__()
        self.to_patch = nn.Sequential(Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=p, p2=p), nn.LayerNorm(dim))
        self.bad = Rearrange('b c h w -> b (h w) d')  # SC101
        self.pool = Reduce('b n d -> b d', 'mean')
        self.fmap = fmap

    def forward(self, x, video):
        video = rearrange(video, 'b 1 c h w')  # SC101
        x = self.to_patch(x)
        y = repeat(x, 'b d -> b n d')  # SC101
        z = rearrange(x, 'b (h w) d -> b d h w', **self.fmap)
        return self.pool(x) + y + z
''', ["SC101"])


def test_known_shapes_still_checked() -> None:
    agree("einops.rearrange", einops.rearrange, Tz((2, 3, 4)), "b c h -> b (c h)")
    agree("einops.rearrange", einops.rearrange, Tz((2, 3, 4)), "b c -> c b")
    agree("einops.reduce", einops.reduce, Tz((2, 3, 4)), "b c h -> b", "max")


EQUATIONS_BAD = ["ij,jk->ikk", "ij,jk->iz", "ij,jk,kl->il", "i1,jk->ik", "ij,jk->ik->i", "...ij...->ij", "ij.,jk->ik"]
EQUATIONS_GOOD = ["ij,jk->ik", "ij,jk", "iJ,Jk->ik", "...ij,...jk->...ik", "ii,i->i", "bhqd,bhkd->bhqk"]


def _torch_einsum_rejects_every_shape(equation: str) -> bool:
    for rank in range(0, 5):
        for size in (1, 3):
            try:
                torch.einsum(equation, torch.zeros((size,) * rank), torch.zeros((size,) * rank))
            except Exception:
                continue
            return False
    return True


@pytest.mark.parametrize("equation", EQUATIONS_BAD + EQUATIONS_GOOD)
def test_einsum_equation_checked_without_shapes(equation: str) -> None:
    fn = lookup("torch.einsum")
    assert fn is not None
    call = OpCall("torch.einsum", [ConstValue(equation), UNKNOWN, UNKNOWN], {})
    fn(call)
    if equation in EQUATIONS_BAD:
        assert _torch_einsum_rejects_every_shape(equation)
        assert [f.code for f in call.findings] == ["SC101"], equation
    else:
        assert not call.findings, equation
    listed = OpCall("torch.einsum", [ConstValue(equation), UNKNOWN], {})  # `einsum(eq, operands)`: a list of any length
    fn(listed)
    # only the operand count needs to know how many operands there are
    assert bool(listed.findings) == (equation in EQUATIONS_BAD and equation != "ij,jk,kl->il"), equation


def test_einsum_output_ellipsis_alone_stands_for_no_axes() -> None:
    agree("torch.einsum", torch.einsum, "ij->...ij", Tz((2, 3)))
    agree("einops.einsum", einops.einsum, Tz((2, 3)), Tz((3, 4)), "i j, j k -> i z")
    agree("einops.einsum", einops.einsum, Tz((2, 3)), Tz((3, 4)), "i j, j k")


LAYER_CASES = [(kind, pattern, axes) for kind, pattern, axes in BAD + GOOD if kind != "repeat"]


def agree_layer(qualname: str, pattern: str, axes: dict[str, int], reduction: str = "mean") -> None:
    """Building `qualname(pattern, ...)`: SC101 exactly when einops' constructor raises."""
    kind = "rearrange" if qualname.endswith("Rearrange") else "reduce"
    fn = lookup(qualname)
    assert fn is not None
    args = [ConstValue(pattern)] + ([ConstValue(reduction)] if kind == "reduce" else [])
    call = OpCall(qualname, args, {k: ConstValue(v) for k, v in axes.items()})
    built = fn(call)
    assert isinstance(built, ModuleValue) and built.qualname == qualname
    assert bool(call.findings) == einops_rejects(kind, pattern, axes, reduction), (qualname, pattern, axes)


@pytest.mark.parametrize("kind,pattern,axes", LAYER_CASES)
def test_layers_checked_where_they_are_built(kind: str, pattern: str, axes: dict[str, int]) -> None:
    if kind == "rearrange":
        agree_layer("einops.layers.torch.Rearrange", pattern, axes)
    else:
        agree_layer("einops.layers.torch.Reduce", pattern, axes)
        agree_layer("einops.layers.torch.Reduce", pattern, axes, "avg")


def agree_pack(shapes: list[tuple[int, ...]], pattern: str) -> bool:
    """einops.pack, then unpack with its packed shapes: the same shapes, and SC101 exactly when einops raises."""
    fn, back = lookup("einops.pack"), lookup("einops.unpack")
    assert fn is not None and back is not None
    tensors = [torch.zeros(s) for s in shapes]
    call = OpCall("einops.pack", [TupleValue(tuple(to_value(Tz(s)) for s in shapes)), ConstValue(pattern)], {})
    result = fn(call)
    try:
        packed, ps = einops.pack(tensors, pattern)
    except Exception:
        assert result is UNKNOWN and [f.code for f in call.findings] == ["SC101"], (shapes, pattern)
        return False
    assert not call.findings and isinstance(result, TupleValue), (shapes, pattern, call.findings)
    ours_packed, ours_ps = result.items
    assert isinstance(ours_packed, TensorValue) and tuple(d.value for d in ours_packed.shape.dims) == tuple(packed.shape)
    unpacked = back(OpCall("einops.unpack", [ours_packed, ours_ps, ConstValue(pattern)], {}))
    assert isinstance(unpacked, TupleValue)
    assert [tuple(d.value for d in u.shape.dims) for u in unpacked.items] == [tuple(u.shape) for u in einops.unpack(packed, ps, pattern)]  # type: ignore[union-attr]
    return True


@settings(max_examples=60, deadline=None)
@given(lead=st.lists(st.integers(1, 3), max_size=2), trail=st.lists(st.integers(1, 3), max_size=1),
       stars=st.lists(st.lists(st.integers(1, 3), max_size=2), min_size=1, max_size=3), spoil=st.integers(0, 5))
def test_pack_and_unpack_agree_with_einops(lead, trail, stars, spoil) -> None:  # type: ignore[no-untyped-def]
    names = "abcdef"
    pattern = " ".join([*names[:len(lead)], "*", *names[len(lead):len(lead) + len(trail)]])
    shapes = [(*lead, *s, *trail) for s in stars]
    if spoil == 0 and shapes[-1]:
        shapes[-1] = (shapes[-1][0] + 1, *shapes[-1][1:])  # a shared axis that differs (or a rank too small)
    agree_pack(shapes, pattern)


@pytest.mark.parametrize("pattern", ["b * * d", "b d", "b * b", "b * _d", "b (c) *"])
def test_pack_patterns_rejected_whatever_the_tensors(pattern: str) -> None:
    for opname, args in (("einops.pack", [UNKNOWN, ConstValue(pattern)]), ("einops.unpack", [UNKNOWN, UNKNOWN, ConstValue(pattern)])):
        fn = lookup(opname)
        assert fn is not None
        call = OpCall(opname, args, {})
        assert fn(call) is UNKNOWN and [f.code for f in call.findings] == ["SC101"], (opname, pattern)
    with pytest.raises(einops.EinopsError):
        einops.pack([torch.zeros(2, 3, 4)], pattern)


def test_unpack_checks_the_packed_axis() -> None:
    fn = lookup("einops.unpack")
    assert fn is not None
    ps = TupleValue((TupleValue((ConstValue(3),)), TupleValue((ConstValue(2),))))
    call = OpCall("einops.unpack", [to_value(Tz((2, 7, 5))), ps, ConstValue("b * d")], {})
    assert fn(call) is UNKNOWN and [f.code for f in call.findings] == ["SC101"]
    with pytest.raises(einops.EinopsError):
        einops.unpack(torch.zeros(2, 7, 5), [(3,), (2,)], "b * d")
    wrong_rank = OpCall("einops.unpack", [to_value(Tz((2, 7))), ps, ConstValue("b * d")], {})
    assert fn(wrong_rank) is UNKNOWN and wrong_rank.findings
