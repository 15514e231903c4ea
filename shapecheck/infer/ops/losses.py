"""Losses, module and functional forms, with their input/target contracts (SC105).

- element-wise losses (`mse l1 smooth_l1 huber kl_div`): input and target broadcast. When their
  shapes differ and broadcasting stretches one of them (`(N, 1)` against `(N,)` gives `(N, N)`),
  torch only warns and the loss silently compares every prediction with every target: SC105
  warning. When they cannot broadcast at all: SC105 error.
- `binary_cross_entropy[_with_logits]`: target must have the input's exact shape (SC105 error).
- `cross_entropy`/`nll_loss`: input (N, C, *d) or (C,); class-index target (N, *d) (int dtype),
  or class probabilities of the input's shape (float dtype). A target of shape (N, 1) with input
  (N, C) is the classic mistake (SC105 error: squeeze the target). `weight` must have C entries.

The result is a scalar, or with `reduction="none"` the per-element shape.
"""

from __future__ import annotations

import dataclasses

from shapecheck.infer import messages
from shapecheck.infer.ops._common import as_str, tensor
from shapecheck.infer.ops.registry import OpCall, module, op
from shapecheck.infer.values import UNKNOWN, ModuleValue, TensorValue, Value
from shapecheck.shapes import Dim, Shape, broadcast, compare, explain_broadcast, explain_mismatch

F = "torch.nn.functional."
NN = "torch.nn."
_INTS = frozenset({"int", "int64", "int32", "int16", "int8", "uint8", "long"})
_FLOATS = frozenset({"float", "float32", "float64", "float16", "bfloat16", "half", "double"})


def _error(call: OpCall, title: str, x: TensorValue, y: TensorValue, reason: str, hint: str = "",
           aligned: list[str] | None = None) -> Value:
    call.report("SC105", *messages.loss_mismatch(title, x.shape, y.shape, reason, hint, aligned or []), severity="error")
    return UNKNOWN


def _same_shape_hint(call: OpCall, x: TensorValue, y: TensorValue) -> str:
    """The fix for a target that differs from the input by a trailing 1: squeeze one, or unsqueeze the other."""
    lx, ly = call.label(0, "output"), call.label(1, "target")
    rx, ry = x.shape.rank or 0, y.shape.rank or 0
    if rx == ry + 1 and rx and x.shape[rx - 1].value == 1:
        return f"a {x.shape} output against {y.shape} targets: use {lx}.squeeze(-1) (or {ly}.unsqueeze(-1))"
    if ry == rx + 1 and ry and y.shape[ry - 1].value == 1:
        return f"a {x.shape} output against {y.shape} targets: use {ly}.squeeze(-1) (or {lx}.unsqueeze(-1))"
    return "BCE compares each prediction with the target at the same position: the shapes must be equal"


def _result(x: TensorValue, shape: Shape | None, reduction: str | None) -> Value:
    fields = {"origin": "loss", "contiguous": True, "dtype": x.dtype}
    if reduction is None:
        return dataclasses.replace(x, shape=Shape.unknown(), **fields)  # type: ignore[arg-type]
    if reduction == "none":
        return dataclasses.replace(x, shape=shape if shape is not None else Shape.unknown(), **fields)  # type: ignore[arg-type]
    return dataclasses.replace(x, shape=Shape.of(), **fields)  # type: ignore[arg-type]


def elementwise_loss(call: OpCall, title: str, x: TensorValue, y: TensorValue, reduction: str | None) -> Value:
    result = broadcast(x.shape, y.shape, facts=call.facts)
    if not result.ok:
        if result.error is None:
            return _result(x, None, reduction)
        call.report("SC105", *messages.broadcast_error(title, [x.shape, y.shape], ["input", "target"], result), severity="error")
        return UNKNOWN
    shape = result.shape
    named = [(a, b) for a, b in result.assumptions if _named(a) and _named(b)]
    if named:  # `(B, T)` against a flattened `(B * T,)`: runs only if T == B * T
        call.report("SC105", *messages.broadcast_assumption(title, [x.shape, y.shape], ["input", "target"], result, named),
                    severity="warning")
    elif shape is not None and (result.is_trap or _stretches_input(shape, x.shape)):
        call.report("SC105", *messages.loss_broadcast(title, x.shape, y.shape, shape, result), severity="warning")
    return _result(x, shape, reduction)


def _named(d: object) -> bool:
    return isinstance(d, Dim) and not d.is_const and not d.is_unknown


def _stretches_input(result: Shape, x: Shape) -> bool:
    """The target made the broadcast result larger than the input: every prediction is compared
    with several targets (a smaller target broadcast over the input is left alone)."""
    if result.rank is None or x.rank is None:
        return False
    if result.rank != x.rank:
        return True
    return any(compare(result[i], x[i]) == "different" for i in range(x.rank))


def same_shape_loss(call: OpCall, title: str, x: TensorValue, y: TensorValue, reduction: str | None) -> Value:
    """BCE: the target must have exactly the input's shape."""
    if x.shape.rank is None or y.shape.rank is None:
        return _result(x, None, reduction)
    if x.shape.rank != y.shape.rank:
        explained = explain_broadcast([x.shape, y.shape], ["input", "target"], broadcast(x.shape, y.shape, facts=call.facts))
        aligned = [line for line in explained if line.lstrip().startswith(("input ", "target "))]  # no broadcast here
        return _error(call, title, x, y, "the target must have exactly the input's shape",
                      _same_shape_hint(call, x, y), aligned)
    for i in range(x.shape.rank):
        verdict = compare(x.shape[i], y.shape[i], call.facts)
        if verdict == "different":
            return _error(call, title, x, y, f"axis {i} differs ({x.shape[i]} vs {y.shape[i]}); the shapes must be equal",
                          aligned=explain_mismatch(x.shape, y.shape, ["input", "target"], i, i))
    return _result(x, x.shape, reduction)


def class_loss(call: OpCall, title: str, x: TensorValue, y: TensorValue, weight: Value | None, reduction: str | None,
               allow_probabilities: bool) -> Value:
    """cross_entropy / nll_loss."""
    rx, ry = x.shape.rank, y.shape.rank
    if rx is None or ry is None:
        return _result(x, None, reduction)
    if rx == 0:
        return _error(call, title, x, y, "the input needs a class axis: (N, C) or (C,)")
    class_axis = 0 if rx == 1 else 1
    classes = x.shape[class_axis]
    w = tensor(weight)
    if w is not None and w.shape.rank == 1 and compare(w.shape[0], classes, call.facts) == "different":
        return _error(call, title, x, y, f"weight has {w.shape[0]} entries but the input has {classes} classes (axis {class_axis})")
    expected = [x.shape[i] for i in range(rx) if i != class_axis]
    if rx == 1 and ry == 1 and (y.dtype in _INTS or not allow_probabilities):
        # torch accepts a (1,) index target for a (C,) input; cross_entropy reads a (C,) target of the
        # input's own shape as probabilities first
        if allow_probabilities and compare(x.shape[0], y.shape[0], call.facts) == "equal":
            return _error(call, title, x, y, "a target of the input's shape holds class probabilities and must be float",
                          "for a class index use a 0-d target (or shape (1,))")
        if compare(y.shape[0], Dim.const(1), call.facts) == "different":
            return _error(call, title, x, y, "for a 1-d input (C,) the target is one class index: shape () or (1,)")
        return _result(x, Shape.of(), reduction)
    if ry == rx and y.dtype not in _INTS:
        if not allow_probabilities:
            return _error(call, title, x, y, "the target must hold class indices of shape "
                          f"{Shape.of(*expected)}", "squeeze the class axis: target.squeeze(1)")
        if y.dtype is None and ry == 2 and y.shape[1].value == 1 and classes.value != 1:
            return _error(call, title, x, y, f"a (N, 1) target: class indices must have shape {Shape.of(*expected)}",
                          "squeeze it: target.squeeze(1) (or target.view(-1))")
        for i in range(rx):
            if compare(x.shape[i], y.shape[i], call.facts) == "different":
                return _error(call, title, x, y,
                              f"a target of the input's rank holds class probabilities and must have the input's shape "
                              f"(axis {i}: {x.shape[i]} vs {y.shape[i]})",
                              f"for class indices the target is {Shape.of(*expected)}")
        return _result(x, Shape.of(*expected), reduction)
    if ry == rx:  # integer target with a class axis: the (N, 1) mistake
        return _error(call, title, x, y, f"class indices must have shape {Shape.of(*expected)}, without the class axis",
                      "squeeze the extra axis: target.squeeze(1) (or target.view(-1))")
    if ry != rx - 1:
        return _error(call, title, x, y, f"the target must be {Shape.of(*expected)} (class indices) or the input's shape "
                      "(probabilities)")
    if y.dtype in _FLOATS:
        return _error(call, title, x, y, "class-index targets must be integers (torch.long)", "use target.long()")
    if rx >= 3 and _sequence_logits(call, x, y):
        return _sequence_mistake(call, title, x, y, expected, reduction)
    for i, d in enumerate(expected):
        verdict = compare(d, y.shape[i], call.facts)
        if verdict == "different":
            return _error(call, title, x, y, f"target axis {i} is {y.shape[i]} but the input has {d} there",
                          "input (N, C, *d) goes with target (N, *d)")
    return _result(x, y.shape, reduction)


def _sequence_logits(call: OpCall, x: TensorValue, y: TensorValue) -> bool:
    """The target is the input without its last axis: `(B, T, V)` logits against `(B, T)`
    targets, the layout of a language model's output. For an input of rank 3 or more torch
    reads the classes at dim 1, so this works only when the axes after dim 1 are all equal."""
    rx = x.shape.rank or 0
    return all(compare(x.shape[i], y.shape[i], call.facts) == "equal" for i in range(rx - 1)) and any(
        compare(x.shape[i], x.shape[i + 1], call.facts) != "equal" for i in range(1, rx - 1))


def _sequence_mistake(call: OpCall, title: str, x: TensorValue, y: TensorValue, expected: list[Dim],
                      reduction: str | None) -> Value:
    """SC105 for `(B, T, V)` logits with `(B, T)` targets: an error when the sizes differ for
    certain (`T = 8`, `V = 100`), a warning when the code only runs if they are equal (`T == V`)."""
    rx = x.shape.rank or 0
    last = x.shape[rx - 1]
    verdicts = [compare(x.shape[i], x.shape[i + 1], call.facts) for i in range(1, rx - 1)]
    lx, ly = call.label(0, "logits"), call.label(1, "targets")
    moved = f"{lx}.transpose(1, 2)" if rx == 3 else f"{lx}.movedim(-1, 1)"
    fixes = f"{lx}.view(-1, {last}) and {ly}.view(-1), or {moved}"
    if "different" in verdicts:
        call.report("SC105", *messages.loss_sequence_classes(title, x.shape, y.shape, Shape.of(*expected), fixes),
                    severity="error")
        return UNKNOWN
    names = ["the class count" if i == rx - 1 else f"axis {i}" for i in range(1, rx)]
    equal = " == ".join(names[i - 1] if x.shape[i].is_unknown else str(x.shape[i]) for i in range(1, rx))
    call.report("SC105", *messages.loss_sequence_classes(title, x.shape, y.shape, Shape.of(*expected), fixes, equal),
                severity="warning")
    return _result(x, y.shape, reduction)


def _reduction(value: Value | None) -> str | None:
    if value is None:
        return "mean"
    s = as_str(value)
    return s


_ELEMENTWISE = {"mse_loss": 4, "l1_loss": 4, "smooth_l1_loss": 4, "huber_loss": 2, "kl_div": 4}
_SAME = {"binary_cross_entropy": 5, "binary_cross_entropy_with_logits": 5}
_CLASS = {"cross_entropy": 6, "nll_loss": 6}


def _functional(name: str, position: int):  # type: ignore[no-untyped-def]
    def shape_fn(call: OpCall) -> Value:
        x, y = tensor(call.arg(0, "input")), tensor(call.arg(1, "target"))
        if x is None or y is None:
            return UNKNOWN
        reduction = _reduction(call.arg(position, "reduction"))
        title = f"F.{name}()"
        if name in _ELEMENTWISE:
            return elementwise_loss(call, title, x, y, reduction)
        if name in _SAME:
            return same_shape_loss(call, title, x, y, reduction)
        return class_loss(call, title, x, y, call.arg(2, "weight"), reduction, name == "cross_entropy")

    shape_fn.__name__ = name
    return shape_fn


for _name, _pos in {**_ELEMENTWISE, **_SAME, **_CLASS}.items():
    op(f"{F}{_name}")(_functional(_name, _pos))

# module class -> (functional name, position of `reduction` in the constructor, position of `weight`)
_MODULES = {
    "MSELoss": ("mse_loss", 2, None), "L1Loss": ("l1_loss", 2, None), "SmoothL1Loss": ("smooth_l1_loss", 2, None),
    "HuberLoss": ("huber_loss", 0, None), "KLDivLoss": ("kl_div", 2, None),
    "BCELoss": ("binary_cross_entropy", 3, 0), "BCEWithLogitsLoss": ("binary_cross_entropy_with_logits", 3, 0),
    "CrossEntropyLoss": ("cross_entropy", 4, 0), "NLLLoss": ("nll_loss", 4, 0),
}


@module(*[f"{NN}{name}" for name in _MODULES])
def loss_module(m: ModuleValue, call: OpCall) -> Value:
    name, reduction_pos, weight_pos = _MODULES[m.qualname.rsplit(".", 1)[-1]]
    x, y = tensor(call.arg(0, "input")), tensor(call.arg(1, "target"))
    if x is None or y is None:
        return UNKNOWN
    reduction = _reduction(m.kwarg("reduction", reduction_pos))
    title = m.qualname.rsplit(".", 1)[-1]
    if name in _ELEMENTWISE:
        return elementwise_loss(call, title, x, y, reduction)
    if name in _SAME:
        return same_shape_loss(call, title, x, y, reduction)
    weight = m.kwarg("weight", weight_pos) if weight_pos is not None else None
    return class_loss(call, title, x, y, weight, reduction, name == "cross_entropy")
