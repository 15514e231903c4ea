"""Joining and splitting: `cat concat concatenate stack hstack vstack split chunk unbind`.

`cat` needs every axis but `dim` to agree (SC101 when two definitely differ, SC103 when two
differently named dims must be equal); `stack` needs identical shapes. A 1-d tensor of size 0 is
skipped by `cat`, as torch does (the legacy "empty tensor" rule).
"""

from __future__ import annotations

import dataclasses

from shapecheck.infer import messages
from shapecheck.infer.ops._common import ERROR, UNSURE, dim_arg, op_title, tensor
from shapecheck.infer.ops.registry import OpCall, op
from shapecheck.infer.values import UNKNOWN, ConstValue, TensorValue, TupleValue, Value, as_dim, as_int
from shapecheck.shapes import Dim, Shape, compare
from shapecheck.shapes.dims import exact_quotient


def _tensors(call: OpCall) -> tuple[list[TensorValue], list[str]] | None:
    seq = call.arg(0, "tensors")
    if not isinstance(seq, TupleValue) or not seq.items:
        return None
    out = [tensor(v) for v in seq.items]
    if any(t is None for t in out):
        return None
    return [t for t in out if t is not None], [f"{call.label(0, 'tensors')}[{i}]" for i in range(len(out))]


def _some_tensors(call: OpCall) -> tuple[list[TensorValue], list[str], int] | None:
    """The known tensors of a list where some are not known (`cat([x, h], -1)` with `h` unknown),
    their labels and the list's length; None when none is known or the list itself is not."""
    seq = call.arg(0, "tensors")
    if not isinstance(seq, TupleValue) or not seq.items:
        return None
    known = [(t, f"{call.label(0, 'tensors')}[{i}]") for i, t in enumerate(tensor(v) for v in seq.items) if t is not None]
    if not known or any(t.shape.rank is None for t, _ in known):
        return None
    return [t for t, _ in known], [label for _, label in known], len(seq.items)


def _partial_join(call: OpCall, new_axis: bool) -> Value:
    """cat / stack of a list with some unknown tensors: the known ones must still agree with each
    other (SC101 if two of them cannot), and they fix the rank and every axis but the joined one
    (a 1-d empty tensor, skipped by cat, does not change that)."""
    got = _some_tensors(call)
    if got is None:
        return UNKNOWN
    tensors, labels, count = got
    kept = [(t, label) for t, label in zip(tensors, labels) if new_axis or not (t.shape.rank == 1 and t.shape[0].value == 0)]
    if not kept:
        return _joined(tensors, Shape.unknown())
    shapes, labels = [t.shape for t, _ in kept], [label for _, label in kept]
    rank = shapes[0].rank or 0
    if any(sh.rank != rank for sh in shapes) or (rank == 0 and not new_axis):
        return _joined(tensors, Shape.unknown())  # the complete check reports these when it can
    d = dim_arg(call, 1, rank, name=_dim_key(call), extra=1 if new_axis else 0)
    if d is ERROR:
        return UNKNOWN
    if d is UNSURE:
        return _joined(tensors, Shape.unknown())
    d = d if isinstance(d, int) else 0
    if not _agree_except(call, shapes, labels, None if new_axis else d):
        return UNKNOWN
    dims = list(shapes[0].dims)
    if new_axis:
        dims.insert(d, Dim.const(count))
        return dataclasses.replace(_joined(tensors, Shape.of(*dims)), origin="stack")
    dims[d] = Dim.unknown()
    return _joined(tensors, Shape.of(*dims))


def _dim_key(call: OpCall) -> str:
    return "axis" if call.name.startswith("numpy.") or "axis" in call.kwargs else "dim"


def _agree_except(call: OpCall, shapes: list[Shape], labels: list[str], skip: int | None) -> bool:
    """Every axis but `skip` matches across the shapes; reports and returns False otherwise."""
    first = shapes[0]
    for i, s in enumerate(shapes[1:], start=1):
        for axis in range(first.rank or 0):
            if axis == skip:
                continue
            a, b = first[axis], s[axis]
            verdict = compare(a, b, call.facts)
            if verdict == "different":
                call.report("SC101", *messages.join_mismatch(op_title(call), shapes, labels, i, axis, skip))
                return False
            if verdict == "unknown" and not a.is_const and not a.is_unknown and not b.is_const and not b.is_unknown:
                call.report("SC103", *messages.size_assumption(op_title(call), f"axis {axis} of {labels[0]}", a, b, s, labels[i], axis))
    return True


def _joined(tensors: list[TensorValue], shape: Shape) -> TensorValue:
    first = tensors[0]
    dtypes = {t.dtype for t in tensors}
    devices = {t.device for t in tensors}
    return TensorValue(shape, dtype=dtypes.pop() if len(dtypes) == 1 else None,
                       device=devices.pop() if len(devices) == 1 else None, library=first.library, origin="cat")


@op("torch.cat", "torch.concat", "torch.concatenate", "numpy.concatenate")
def cat(call: OpCall) -> Value:
    got = _tensors(call)
    if got is None:
        return _partial_join(call, new_axis=False)
    tensors, labels = got
    if any(t.shape.rank is None for t in tensors):
        return _joined(tensors, Shape.unknown())
    kept = [(t, label) for t, label in zip(tensors, labels) if not (t.shape.rank == 1 and t.shape[0].value == 0)]
    if not kept:
        return _joined(tensors, Shape.of(0))
    shapes, labels = [t.shape for t, _ in kept], [label for _, label in kept]
    rank = shapes[0].rank or 0
    for i, s in enumerate(shapes[1:], start=1):
        if s.rank != rank:
            call.report("SC101", *messages.join_rank(op_title(call), shapes, labels, i))
            return UNKNOWN
    if rank == 0:
        call.report("SC101", *messages.op_error(f"{op_title(call)}: zero-dimensional tensors cannot be concatenated",
                                                 "use torch.stack to join scalars into a vector"))
        return UNKNOWN
    d = dim_arg(call, 1, rank, name=_dim_key(call))
    if d is ERROR:
        return UNKNOWN
    if not isinstance(d, int):
        d = 0 if d is not UNSURE else None
    if d is None:
        return _joined(tensors, Shape.unknown())
    if not _agree_except(call, shapes, labels, d):
        return UNKNOWN
    total = Dim.const(0)
    for s in shapes:
        total = total + s[d]
    return _joined(tensors, shapes[0].replace(d, total))


@op("torch.stack", "numpy.stack")
def stack(call: OpCall) -> Value:
    got = _tensors(call)
    if got is None:
        return _partial_join(call, new_axis=True)
    tensors, labels = got
    if any(t.shape.rank is None for t in tensors):
        return _joined(tensors, Shape.unknown())
    shapes = [t.shape for t in tensors]
    rank = shapes[0].rank or 0
    for i, s in enumerate(shapes[1:], start=1):
        if s.rank != rank:
            call.report("SC101", *messages.op_error(
                f"{op_title(call)}: stack expects tensors of equal shape: {labels[0]} is {shapes[0]}, {labels[i]} is {s}",
                "stack adds a new axis; every tensor must have exactly the same shape (cat joins along an existing axis)"))
            return UNKNOWN
    d = dim_arg(call, 1, rank, name=_dim_key(call), extra=1)
    if d is ERROR:
        return UNKNOWN
    if not _agree_except(call, shapes, labels, None):
        return UNKNOWN
    if d is UNSURE:  # where the new axis goes is not known; the rank is
        return _joined(tensors, Shape.of(*[Dim.unknown()] * (rank + 1)))
    d = 0 if not isinstance(d, int) else d
    dims = list(shapes[0].dims)
    dims.insert(d, Dim.const(len(tensors)))
    out = _joined(tensors, Shape.of(*dims))
    return dataclasses.replace(out, origin="stack")


def _pieces(t: TensorValue, d: int, sizes: list[Dim]) -> TupleValue:
    return TupleValue(tuple(dataclasses.replace(t, shape=t.shape.replace(d, s), origin="split") for s in sizes))


@op("torch.split", "Tensor.split", "torch.Tensor.split", "torch.split_with_sizes", "Tensor.split_with_sizes")
def split(call: OpCall) -> Value:
    """`split(x, n, dim)` -> pieces of n (the last smaller); `split(x, [a, b], dim)` -> sizes that
    must add up to the axis."""
    t = tensor(call.arg(0, "tensor"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    if rank is None:
        return UNKNOWN
    d = dim_arg(call, 2, rank)
    if d is ERROR:
        return UNKNOWN
    d = 0 if not isinstance(d, int) and d is not UNSURE else d
    if not isinstance(d, int) or rank == 0:
        if rank == 0:
            call.report("SC101", *messages.op_error(f"{op_title(call)}: a 0-d tensor cannot be split"))
        return UNKNOWN
    arg = call.arg(1, "split_size_or_sections")
    if arg is None:
        arg = call.arg(1, "split_size")
    size = t.shape[d]
    if isinstance(arg, TupleValue):
        sections = [as_dim(v) for v in arg.items]
        if any(s is None for s in sections):
            return UNKNOWN
        secs = [s for s in sections if s is not None]
        total = Dim.const(0)
        for s in secs:
            total = total + s
        if compare(total, size, call.facts) == "different":
            call.report("SC101", *messages.op_error(
                f"{op_title(call)}: sections {tuple(str(s) for s in secs)} add up to {total}, but axis {d} of "
                f"{call.label(0)} {t.shape} has size {size}", "split sizes must add up exactly to the axis size"))
            return UNKNOWN
        return _pieces(t, d, secs)
    n = as_int(arg)
    if n is None or size.value is None:
        # symbolic: `qkv.split(d_model, dim=2)` of a (b, s, 3 * d_model) tensor is three pieces of
        # d_model; only an exact, concrete number of equal pieces is modelled
        piece = as_dim(arg)
        count = exact_quotient(size, piece) if piece is not None else None
        if count is None or count.value is None or not 0 < count.value <= 64:
            return UNKNOWN
        return _pieces(t, d, [piece] * count.value)  # type: ignore[list-item]
    if n <= 0:
        if n < 0 or size.value != 0:
            call.report("SC101", *messages.op_error(f"{op_title(call)}: split size must be positive, got {n}"))
            return UNKNOWN
        return _pieces(t, d, [Dim.const(0)])
    count = max(1, -(-size.value // n))
    sizes = [Dim.const(min(n, size.value - i * n)) for i in range(count)]
    return _pieces(t, d, sizes)


@op("torch.chunk", "Tensor.chunk", "torch.Tensor.chunk")
def chunk(call: OpCall) -> Value:
    """`chunk(x, n, dim)`: pieces of ceil(size / n) (possibly fewer than n); `(b, s, 3 * d).chunk(3, -1)`
    gives three `(b, s, d)`."""
    t = tensor(call.arg(0, "input"))
    n = as_int(call.arg(1, "chunks"))
    if t is None or t.shape.rank is None:
        return UNKNOWN
    rank = t.shape.rank
    if rank == 0:
        call.report("SC101", *messages.op_error(f"{op_title(call)}: a 0-d tensor cannot be chunked"))
        return UNKNOWN
    d = dim_arg(call, 2, rank)
    if d is ERROR:
        return UNKNOWN
    d = 0 if not isinstance(d, int) and d is not UNSURE else d
    if n is None or not isinstance(d, int):
        return UNKNOWN
    if n <= 0:
        call.report("SC101", *messages.op_error(f"{op_title(call)}: chunks must be positive, got {n}"))
        return UNKNOWN
    size = t.shape[d]
    if size.value is None:
        piece = size // n
        if compare(piece * n, size, call.facts) != "equal":
            return UNKNOWN
        return _pieces(t, d, [piece] * n)
    if size.value == 0:
        return _pieces(t, d, [Dim.const(0)] * n)
    each = -(-size.value // n)
    count = -(-size.value // each)
    return _pieces(t, d, [Dim.const(min(each, size.value - i * each)) for i in range(count)])


@op("torch.unbind", "Tensor.unbind", "torch.Tensor.unbind")
def unbind(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None or t.shape.rank is None:
        return UNKNOWN
    rank = t.shape.rank
    d = dim_arg(call, 1, rank)
    if d is ERROR:
        return UNKNOWN
    if rank == 0:
        call.report("SC101", *messages.op_error(f"{op_title(call)}: a 0-d tensor cannot be unbound"))
        return UNKNOWN
    d = 0 if not isinstance(d, int) and d is not UNSURE else d
    if not isinstance(d, int):
        return UNKNOWN
    size = t.shape[d].value
    if size is None:
        return UNKNOWN
    dims = list(t.shape.dims)
    del dims[d]
    piece = dataclasses.replace(t, shape=Shape.of(*dims), origin="unbind")
    return TupleValue((piece,) * size)



@op("torch.meshgrid")
def meshgrid(call: OpCall) -> Value:
    """`torch.meshgrid(a, b, indexing="ij")`: one tensor per input, each of shape (len(a), len(b), ...);
    `indexing="xy"` swaps the first two axes. Inputs are 0-d or 1-d (a single list argument works too)."""
    items = list(call.args)
    if len(items) == 1 and isinstance(items[0], TupleValue):
        items = list(items[0].items)
    tensors = [tensor(v) for v in items]
    if not tensors or any(t is None or t.shape.rank is None for t in tensors):
        return UNKNOWN
    sizes: list[Dim] = []
    for t in tensors:
        assert t is not None and t.shape.rank is not None
        if t.shape.rank > 1:
            call.report("SC101", *messages.op_error(f"{op_title(call)}: expects 0-d or 1-d tensors, got {t.shape}",
                                                     "flatten the inputs first"))
            return UNKNOWN
        sizes.append(t.shape[0] if t.shape.rank == 1 else Dim.const(1))
    indexing = call.kwargs.get("indexing")
    if indexing is not None and not (isinstance(indexing, ConstValue) and indexing.value in ("ij", "xy")):
        return UNKNOWN
    if isinstance(indexing, ConstValue) and indexing.value == "xy" and len(sizes) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    first = tensors[0]
    assert first is not None
    return TupleValue(tuple(dataclasses.replace(first, shape=Shape.of(*sizes), contiguous=False, layout=None)
                            for _ in tensors))
