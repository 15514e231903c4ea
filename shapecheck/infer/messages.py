"""Every shape message, one function each (mypy's `messages.py`): rules and shape functions never
format diagnostic text themselves. Each function returns `(message, notes)`: one line saying what
fails, then notes with the shapes aligned from the right and the failing axis marked (built by the
domain's `explain_broadcast` / `explain_mismatch`), and the likely intent.
"""

from __future__ import annotations

from collections.abc import Sequence

from shapecheck.shapes import Shape, explain_broadcast, explain_mismatch

Message = tuple[str, list[str]]


# --- op shape functions (shapecheck/infer/ops/) -------------------------------------------------


def dim_out_of_range(op: str, label: str, dim: int, rank: int) -> Message:
    valid = f"[{-max(rank, 1)}, {max(rank, 1) - 1}]"
    return (
        f"{op}: {label}={dim} is out of range for a {rank}-d tensor (valid: {valid})",
        [f"a {rank}-d tensor has axes 0..{rank - 1}, or -{rank}..-1 counted from the right" if rank else
         "a 0-d tensor (a scalar) only accepts dim 0 or -1"],
    )


def dim_repeated(op: str, dims: Sequence[int]) -> Message:
    return (f"{op}: dim {tuple(dims)} names the same axis twice", [])


def broadcast_error(op: str, shapes: Sequence[Shape], labels: Sequence[str], result: object) -> Message:
    described = " and ".join(f"{label} is {shape}" for label, shape in zip(labels, shapes))
    return (
        f"{op}: shapes cannot broadcast: {described}",
        explain_broadcast(list(shapes), list(labels), result)  # type: ignore[arg-type]
        + ["broadcasting aligns shapes from the right; each axis pair must be equal or contain a 1"],
    )


def broadcast_assumption(op: str, shapes: Sequence[Shape], labels: Sequence[str], result: object, pairs: Sequence[tuple[object, object]]) -> Message:
    assumed = ", ".join(f"{a} == {b}" for a, b in pairs)
    described = " and ".join(f"{label} is {shape}" for label, shape in zip(labels, shapes))
    return (
        f"{op}: {described}: this only works if {assumed}",
        explain_broadcast(list(shapes), list(labels), result)  # type: ignore[arg-type]
        + [f"the code assumes {assumed}; differently named dims are assumed to be different sizes"],
    )


def broadcast_trap(op: str, shapes: Sequence[Shape], labels: Sequence[str], result: object, result_shape: Shape) -> Message:
    described = " and ".join(f"{label} is {shape}" for label, shape in zip(labels, shapes))
    return (
        f"{op}: {described}: the result broadcasts to {result_shape}, larger than every operand",
        explain_broadcast(list(shapes), list(labels), result)  # type: ignore[arg-type]
        + [_trap_hint(shapes, labels)],
    )


def _trap_hint(shapes: Sequence[Shape], labels: Sequence[str]) -> str:
    """Name the likely fix when one operand is the other with a trailing 1: (N,) vs (N, 1)."""
    if len(shapes) == 2:
        for i, j in ((0, 1), (1, 0)):
            a, b = shapes[i], shapes[j]
            if a.rank is not None and b.rank is not None and a.rank == b.rank + 1 and a.rank > 0 and a[-1].value == 1:
                return (f"did you mean {labels[i]}.squeeze(-1) or {labels[j]}.unsqueeze(-1)? "
                        "(if every pair is intended, make it explicit with [:, None])")
    return ("a size-1 axis was stretched against an axis the other operand has elsewhere; "
            "squeeze/unsqueeze one side so the axes line up (or index with None if every pair is intended)")


def contraction_mismatch(op: str, a: Shape, b: Shape, labels: Sequence[str], axis_a: int, axis_b: int, hint: str = "") -> Message:
    da, db = a[axis_a], b[axis_b]
    notes = explain_mismatch(a, b, list(labels), axis_a, axis_b)
    if hint:
        notes.append(hint)
    return (f"{op}: {labels[0]} is {a} and {labels[1]} is {b}: inner dims {da} and {db} differ", notes)


def contraction_assumption(op: str, a: Shape, b: Shape, labels: Sequence[str], axis_a: int, axis_b: int) -> Message:
    da, db = a[axis_a], b[axis_b]
    return (
        f"{op}: {labels[0]} is {a} and {labels[1]} is {b}: this only works if {da} == {db}",
        explain_mismatch(a, b, list(labels), axis_a, axis_b)
        + [f"the code assumes {da} == {db}; differently named dims are assumed to be different sizes"],
    )


def rank_error(op: str, label: str, shape: Shape, expected: str) -> Message:
    return (f"{op}: expects {expected}, but {label} is {shape} ({shape.rank}-d)", [])


def element_count(op: str, shape: Shape, target: str, have: object, want: object) -> Message:
    return (
        f"{op}: cannot reshape {shape} ({have} elements) into {target} ({want} elements)",
        ["view/reshape keep every element: the product of the new sizes must equal the old one"],
    )


def bad_inferred_size(op: str, shape: Shape, target: str, have: object, known: object) -> Message:
    return (
        f"{op}: cannot reshape {shape} ({have} elements) into {target}: "
        f"{have} is not a multiple of {known}, so -1 has no valid size",
        ["-1 takes the size that keeps the element count; the other sizes must divide it"],
    )


_PERMUTING = frozenset({"transpose", "permute", "expand", "unsqueeze", "squeeze", "index", "index-none", "view", "flatten", "narrow"})


def view_noncontiguous(origin: str | None) -> Message:
    if origin in _PERMUTING:
        source = f"the result of {origin}"
    elif origin:
        source = f"the result of {origin}, which keeps the memory order of its transposed or permuted input,"
    else:
        source = "a non-contiguous tensor (an element-wise result keeps the memory order of its transposed input)"
    return (
        f".view() on {source}: its memory is not laid out in the new order",
        ["use .reshape(...) (copies when needed), or call .contiguous() before .view(...)"],
    )


def ambiguous_squeeze(shape: Shape, axes: Sequence[int]) -> Message:
    names = ", ".join(f"axis {a} ({shape[a]})" for a in axes)
    return (
        f".squeeze() without dim on {shape}: {names} may be 1 at run time and would be dropped too",
        ["a batch of one example loses its batch axis; pass the axis: .squeeze(dim)"],
    )


def size_mismatch(op: str, what: str, expected: object, got: object, shape: Shape, label: str, axis: int, hint: str = "") -> Message:
    notes = [f"{label} is {shape}; axis {axis} has size {got}, but {what} is {expected}"]
    if hint:
        notes.append(hint)
    return (f"{op}: expected {what} {expected}, got {got} in {label} {shape}", notes)


def size_assumption(op: str, what: str, expected: object, got: object, shape: Shape, label: str, axis: int) -> Message:
    return (
        f"{op}: {label} is {shape}: this only works if {got} == {expected} ({what})",
        [f"the code assumes {got} == {expected}; differently named dims are assumed to be different sizes"],
    )


def join_mismatch(op: str, shapes: Sequence[Shape], labels: Sequence[str], i: int, axis: int, dim: int | None) -> Message:
    along = f" except along dim {dim}" if dim is not None else ""
    notes = explain_mismatch(shapes[0], shapes[i], [labels[0], labels[i]], axis, axis)
    return (
        f"{op}: all tensors must have the same shape{along}: {labels[0]} is {shapes[0]}, {labels[i]} is {shapes[i]}",
        notes,
    )


def join_rank(op: str, shapes: Sequence[Shape], labels: Sequence[str], i: int) -> Message:
    return (f"{op}: tensors must have the same number of dims: {labels[0]} is {shapes[0]}, {labels[i]} is {shapes[i]}", [])


def op_error(text: str, *notes: str) -> Message:
    """A message whose wording is specific to one op (einsum/einops patterns, conv sizes...)."""
    return (text, list(notes))


def per_channel_constant(op: str, vec_label: str, vec: Shape, label: str, shape: Shape) -> Message:
    """A `(C,)` constant against `(B, C, H, W)`: it lines up with the last axis, not the channels."""
    c, last = vec[0], shape[-1]
    trailing = ", 1" * (shape.rank - 2) if shape.rank is not None else ", 1, 1"
    nones = ", None" * ((shape.rank or 4) - 2)
    return (
        f"{op}: {vec_label} {vec} has one value per channel of {label} {shape}, but broadcasting aligns it with the "
        f"last axis ({last}), not the channel axis (dim 1): this only works if {last} == {c}",
        [f"broadcasting aligns shapes from the right: {vec} lines up with {last}",
         f"for a per-channel constant use {vec_label}.view(1, {c}{trailing}) or {vec_label}[:{nones}]"],
    )


def loss_broadcast(op: str, input_shape: Shape, target_shape: Shape, result_shape: Shape, result: object = None) -> Message:
    aligned = explain_broadcast([input_shape, target_shape], ["input", "target"], result) if result is not None else []  # type: ignore[arg-type]
    return (
        f"{op}: input is {input_shape} and target is {target_shape}: they broadcast to {result_shape}, "
        "so the loss compares every prediction with every target",
        aligned + ["element-wise losses need input and target of the same shape; "
                   "squeeze the (N, 1) side or unsqueeze the (N,) side"],
    )


def loss_mismatch(op: str, input_shape: Shape, target_shape: Shape, reason: str, hint: str = "",
                  aligned: Sequence[str] = ()) -> Message:
    return (f"{op}: input is {input_shape} and target is {target_shape}: {reason}", [*aligned, *([hint] if hint else [])])


def loss_sequence_classes(op: str, input_shape: Shape, target_shape: Shape, expected: Shape, fixes: str,
                          assumption: str = "") -> Message:
    """`(B, T, V)` logits with `(B, T)` targets: the class axis is dim 1."""
    return (
        f"{op} reads the class axis at dim 1: input {input_shape} has {input_shape[1]} classes, so the target must be "
        f"{expected}, but target {target_shape} is the input without its last axis"
        + (f": this only works if {assumption}" if assumption else ""),
        [f"did you mean {fixes}?",
         "for inputs of rank 3 or more the classes are on dim 1: (N, C, d1, ...) goes with targets (N, d1, ...)"],
    )


# --- interpreter (shapecheck/infer/interpreter.py) ----------------------------------------------


def _bindings_note(bindings: dict[str, object]) -> list[str]:
    if not bindings:
        return []
    return ["dims bound so far: " + ", ".join(f"{k}={v}" for k, v in bindings.items())]


def _axis_lines(expected: Shape, actual: Shape, labels: Sequence[str], axis: int | None) -> list[str]:
    if axis is None or expected.rank is None or actual.rank is None:
        width = max(len(labels[0]), len(labels[1]))
        return [f"  {labels[0].ljust(width)} : {expected}", f"  {labels[1].ljust(width)} : {actual}"]
    return explain_mismatch(expected, actual, labels, axis - actual.rank, axis - actual.rank)


def annotation_mismatch(target: str, expected: Shape, actual: Shape, axis: int | None, kind: str) -> Message:
    """SC104 on an annotated assignment or a return value."""
    what = "the return value" if kind == "return" else f"`{target}`"
    if axis is None:
        head = f"{what} is {actual} but its annotation says {expected}: the ranks differ ({actual.rank} vs {expected.rank})"
    else:
        head = f"{what} is {actual} but its annotation says {expected}: axis {axis} is {actual[axis]}, not {expected[axis]}"
    notes = _axis_lines(expected, actual, ["annotated", "inferred"], axis)
    notes.append("fix the computation, or the annotation if it is the annotation that is wrong")
    return head, notes


def argument_mismatch(function: str, param: str, label: str, expected: Shape, actual: Shape, axis: int | None,
                      name: str | None, bindings: dict[str, object], bound_by: str = "an earlier argument") -> Message:
    """SC104 on an argument to an annotated function (dims bound across the call, as jaxtyping)."""
    if axis is None:
        head = f"{function}(): argument `{param}` is {actual} but the annotation expects {expected} (rank {actual.rank} vs {expected.rank})"
    elif name is not None:
        head = (f"{function}(): argument `{param}` has {name}={actual[axis]} at axis {axis}, "
                f"but {name}={bindings.get(name)} was bound by {bound_by}")
    else:
        head = f"{function}(): argument `{param}` is {actual} but the annotation expects {expected}: axis {axis} is {actual[axis]}, not {expected[axis]}"
    notes = _axis_lines(expected, actual, ["expected", label or param], axis)
    notes += _bindings_note(bindings)
    notes.append("jaxtyping binds each named dim at its first use in a call; every later use must agree")
    return head, notes


def hardcoded_batch_size(op: str, literal: int, shape: Shape, batch: object) -> Message:
    """SC109: `x.view(32, -1)` in model code."""
    return (
        f"{op}({literal}, ...) hard-codes the batch size: the input is {shape}, its first axis `{batch}` varies, "
        f"and the last batch is usually smaller than {literal}",
        [f"use the actual size: {op}(x.size(0), ...) or {op}(-1, ...) on a later axis",
         "a DataLoader without drop_last=True yields a smaller final batch"],
    )


def reduction_over_batch(op: str, dim: int, shape: Shape, name: str) -> Message:
    """SC111: softmax / normalisation over the batch axis."""
    return (
        f"{op}(dim={dim}) normalises over `{name}`, the batch axis of {shape}: every sample now depends on the others",
        [f"axis {dim} of {shape} is `{name}`; classes/features are usually the last axis: {op}(dim=-1)",
         "normalising across the batch mixes samples and changes with the batch size"],
    )


def rnn_batch_first(kind: str, shape: Shape, expects_batch_first: bool) -> Message:
    """SC110: (batch, seq, feat) data into an RNN built without batch_first=True (or the reverse)."""
    if not expects_batch_first:
        return (
            f"{kind} was built without batch_first=True, so it reads {shape} as (seq, batch, feature): "
            f"the batch and time axes are swapped",
            [f"nn.{kind} defaults to (seq, batch, feature) inputs",
             f"build it with nn.{kind}(..., batch_first=True), or pass x.transpose(0, 1)"],
        )
    return (
        f"{kind} was built with batch_first=True, so it reads {shape} as (batch, seq, feature): "
        f"the batch and time axes are swapped",
        [f"drop batch_first=True, or pass x.transpose(0, 1)"],
    )


def invalid_annotation(text: str, reason: str) -> Message:
    """SC190: a jaxtyping annotation that jaxtyping itself would reject."""
    return (f"invalid jaxtyping annotation {text}: {reason}", ["jaxtyping raises on this annotation at import time"])
