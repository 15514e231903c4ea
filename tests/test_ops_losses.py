"""Loss contracts against torch (meta device) and the SC105 findings."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Tz, agree, agree_cpu, agree_module, ours, ours_module
from strategies import related_shapes, shapes, sizes

SETTINGS = settings(max_examples=25, deadline=None)
reductions = st.sampled_from(["mean", "sum", "none"])


@pytest.mark.parametrize("name", ["torch.nn.functional.mse_loss", "torch.nn.functional.l1_loss",
                                  "torch.nn.functional.smooth_l1_loss", "torch.nn.functional.huber_loss"])
@SETTINGS
@given(pair=related_shapes(2), reduction=reductions)
def test_elementwise_losses(name: str, pair, reduction) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns on broadcasting targets: that is our SC105 warning
        agree(name, getattr(F, name.rsplit(".", 1)[1]), Tz(pair[0]), Tz(pair[1]), reduction=reduction)


@pytest.mark.parametrize("name,cls", [("torch.nn.functional.binary_cross_entropy", "torch.nn.BCELoss"),
                                      ("torch.nn.functional.binary_cross_entropy_with_logits", "torch.nn.BCEWithLogitsLoss")])
@SETTINGS
@given(pair=related_shapes(2), reduction=reductions)
def test_bce_needs_same_shape(name: str, cls: str, pair, reduction) -> None:  # type: ignore[no-untyped-def]
    agree(name, getattr(F, name.rsplit(".", 1)[1]), Tz(pair[0]), Tz(pair[1]), reduction=reduction)
    agree_module(cls, (), {"reduction": reduction}, Tz(pair[0]), Tz(pair[1]))


@st.composite
def class_case(draw: st.DrawFn) -> tuple:  # type: ignore[type-arg]
    x = draw(shapes(1, 4))
    kind = draw(st.sampled_from(["index", "index", "prob", "n1", "random"]))
    class_axis = 0 if len(x) == 1 else 1
    rest = tuple(d for i, d in enumerate(x) if i != class_axis)
    if kind == "index":
        return x, Tz(rest, torch.int64)
    if kind == "prob":
        return x, Tz(x)
    if kind == "n1":
        return x, Tz((x[0], 1), torch.int64)
    return x, Tz(draw(shapes(0, 3)), draw(st.sampled_from([torch.int64, torch.float32])))


@SETTINGS
@given(case=class_case(), reduction=reductions)
def test_cross_entropy_and_nll(case, reduction) -> None:  # type: ignore[no-untyped-def]
    x, target = case  # CPU: the meta kernel skips the spatial target check for 4-d inputs
    agree_cpu("torch.nn.functional.cross_entropy", F.cross_entropy, Tz(x), target, reduction=reduction)
    if target.dtype == torch.int64:  # NLL takes class indices only; a float target is a dtype error, not a shape one
        agree_cpu("torch.nn.functional.nll_loss", F.nll_loss, Tz(x), target, reduction=reduction)
    agree_module("torch.nn.CrossEntropyLoss", (), {"reduction": reduction}, Tz(x), target, device="cpu")


@SETTINGS
@given(n=sizes, c=sizes, w=sizes)
def test_cross_entropy_weight(n, c, w) -> None:  # type: ignore[no-untyped-def]
    agree("torch.nn.functional.cross_entropy", F.cross_entropy, Tz((n, c)), Tz((n,), torch.int64), Tz((w,)))


def test_mse_broadcast_trap_is_a_warning() -> None:
    result, call = ours("torch.nn.functional.mse_loss", (Tz((8, 1)), Tz((8,))), {})
    assert [(f.code, f.severity) for f in call.findings] == [("SC105", "warning")]
    assert "(8, 8)" in call.findings[0].message


def test_cross_entropy_n1_target_is_an_error() -> None:
    result, call = ours_module("torch.nn.CrossEntropyLoss", (), {}, (Tz((8, 10)), Tz((8, 1), torch.int64)))
    assert [(f.code, f.severity) for f in call.findings] == [("SC105", "error")]
    assert "squeeze" in " ".join(call.findings[0].notes)
