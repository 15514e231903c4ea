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


@pytest.mark.parametrize("b,t,v", [(4, 8, 100), (2, 5, 5), (1, 3, 7), (3, 1, 4), (2, 6, 6)])
def test_cross_entropy_on_sequence_logits(b: int, t: int, v: int) -> None:
    """(B, T, V) logits with (B, T) targets: torch reads T as the class axis (fails unless T == V);
    the flattened and transposed spellings are the fix."""
    logits, targets = Tz((b, t, v)), Tz((b, t), torch.int64)
    ok = agree_cpu("torch.nn.functional.cross_entropy", F.cross_entropy, logits, targets)
    agree_cpu("torch.nn.functional.nll_loss", F.nll_loss, logits, targets, reduction="none")
    agree_module("torch.nn.CrossEntropyLoss", (), {}, logits, targets, device="cpu")
    agree_module("torch.nn.NLLLoss", (), {}, logits, targets, device="cpu")
    assert ok == (t == v)
    agree_cpu("torch.nn.functional.cross_entropy", F.cross_entropy, Tz((b * t, v)), Tz((b * t,), torch.int64))
    agree_cpu("torch.nn.functional.cross_entropy", F.cross_entropy, Tz((b, v, t)), targets, ignore_index=-1)
    agree_cpu("torch.nn.functional.cross_entropy", F.cross_entropy, logits, Tz((b, t, v)), label_smoothing=0.1)
    if not ok:
        _, call = ours("torch.nn.functional.cross_entropy", (logits, targets), {})
        assert "class axis at dim 1" in call.findings[0].message
        assert "view(-1, " in call.findings[0].notes[0] and "transpose(1, 2)" in call.findings[0].notes[0]


def test_cross_entropy_on_symbolic_sequence_logits_is_a_warning() -> None:
    """(B, T, V) with (B, T) runs only if T == V: a warning that names the assumption."""
    from shapecheck.infer.ops.registry import OpCall, lookup, lookup_module
    from shapecheck.infer.values import ModuleValue, TensorValue
    from shapecheck.shapes import Shape

    logits = TensorValue(Shape.of("B", "T", "V"), dtype="float32")
    targets = TensorValue(Shape.of("B", "T"), dtype="int64")
    fn = lookup("torch.nn.functional.cross_entropy")
    assert fn is not None
    call = OpCall("torch.nn.functional.cross_entropy", [logits, targets], {}, labels=["logits", "y"])
    fn(call)
    assert [(f.code, f.severity) for f in call.findings] == [("SC105", "warning")]
    assert "T == V" in call.findings[0].message and "logits.view(-1, V) and y.view(-1)" in call.findings[0].notes[0]
    module = lookup_module("torch.nn.CrossEntropyLoss")
    assert module is not None
    call = OpCall("torch.nn.CrossEntropyLoss", [logits, targets], {})
    module(ModuleValue("torch.nn.CrossEntropyLoss"), call)
    assert [(f.code, f.severity) for f in call.findings] == [("SC105", "warning")]
    for fixed in ([TensorValue(Shape.of("B", "V", "T")), targets], [logits, TensorValue(Shape.of("B", "T", "V"), dtype="float32")],
                  [TensorValue(Shape.of("B * T", "V")), TensorValue(Shape.of("B * T"), dtype="int64")]):
        call = OpCall("torch.nn.functional.cross_entropy", list(fixed), {})
        fn(call)
        assert not call.findings, fixed


@pytest.mark.parametrize("name,cls", [("mse_loss", "MSELoss"), ("l1_loss", "L1Loss"), ("smooth_l1_loss", "SmoothL1Loss"),
                                      ("binary_cross_entropy", "BCELoss"),
                                      ("binary_cross_entropy_with_logits", "BCEWithLogitsLoss")])
@pytest.mark.parametrize("out,target", [((8, 1), (8,)), ((8,), (8, 1))])
def test_unflattened_targets(name: str, cls: str, out, target) -> None:  # type: ignore[no-untyped-def]
    """(N, 1) output against (N,) targets: torch broadcasts the element-wise losses to (N, N) with a
    UserWarning (SC105 warning) and raises for BCE (SC105 error); the notes align the shapes."""
    fn = getattr(F, name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raised = not agree(f"torch.nn.functional.{name}", fn, Tz(out), Tz(target))
        agree_module(f"torch.nn.{cls}", (), {}, Tz(out), Tz(target))
    _, call = ours(f"torch.nn.functional.{name}", (Tz(out), Tz(target)), {})
    (finding,) = call.findings
    assert finding.code == "SC105" and finding.severity == ("error" if raised else "warning")
    assert raised or any("target size" in str(w.message) for w in caught)  # torch's own broadcast warning
    assert any(line.strip().startswith("input  :") for line in finding.notes)
    assert any("squeeze" in line for line in finding.notes)
    _, fixed = ours(f"torch.nn.functional.{name}", (Tz(out), Tz(out)), {})
    assert not fixed.findings


def test_cross_entropy_on_logits_of_unknown_width_names_the_class_count() -> None:
    from shapecheck.infer.ops.registry import OpCall, lookup
    from shapecheck.infer.values import TensorValue
    from shapecheck.shapes import Dim, Shape

    fn = lookup("torch.nn.functional.cross_entropy")
    assert fn is not None
    call = OpCall("torch.nn.functional.cross_entropy", [TensorValue(Shape.of("B", "T", Dim.unknown()), dtype="float32"),
                                                         TensorValue(Shape.of("B", "T"), dtype="int64")], {})
    fn(call)
    assert [(f.code, f.severity) for f in call.findings] == [("SC105", "warning")]
    assert call.findings[0].message.endswith("T == the class count")


def test_flattened_target_against_an_unflattened_input() -> None:
    """(B, T) predictions against a flattened (B * T,) target: torch raises for concrete sizes
    (unless T == B * T); with symbols it is a warning that names the assumption."""
    agree("torch.nn.functional.mse_loss", F.mse_loss, Tz((4, 5)), Tz((20,)))
    agree("torch.nn.functional.l1_loss", F.l1_loss, Tz((1, 5)), Tz((5,)))
    from shapecheck.infer.ops.registry import OpCall, lookup
    from shapecheck.infer.values import TensorValue
    from shapecheck.shapes import Shape

    fn = lookup("torch.nn.functional.mse_loss")
    assert fn is not None
    call = OpCall("torch.nn.functional.mse_loss", [TensorValue(Shape.of("B", "T")), TensorValue(Shape.of("B * T"))], {})
    fn(call)
    assert [(f.code, f.severity) for f in call.findings] == [("SC105", "warning")] and "T == B * T" in call.findings[0].message
    fine = OpCall("torch.nn.functional.mse_loss", [TensorValue(Shape.of("B", "T")), TensorValue(Shape.of("B", "T"))], {})
    fn(fine)
    assert not fine.findings
