"""Indexing: `x[...]` (ints, slices, `None`, `...`, boolean masks, integer index tensors),
`gather`, `index_select`, `take_along_dim`, `masked_select`, `nonzero`, and `t[i]` on tuples.

`index(value, subscript)` is registered as `__getitem__`. Integer index tensors follow NumPy's
advanced indexing: their shapes broadcast together and the result axes go where the indexed axes
were when the index tensors are adjacent, at the front otherwise. A boolean mask consumes as many
axes as it has and gives one axis of data-dependent (unknown) size.
"""

from __future__ import annotations

import dataclasses

from shapecheck.infer import messages
from shapecheck.infer.ops._common import ABSENT, ERROR, dim_arg, op_title, rank_only, tensor, unknown_like
from shapecheck.infer.ops.registry import OpCall, op
from shapecheck.infer.values import (
    UNKNOWN,
    ConstValue,
    DimValue,
    EllipsisValue,
    SliceValue,
    TensorValue,
    TupleValue,
    Value,
    as_int,
)
from shapecheck.shapes import Dim, Shape, broadcast, compare

_BOOL = ("bool", "uint8")
_INT = ("int64", "int32", "int16", "int8", "int", "long")


def _slice_size(size: Dim, s: SliceValue) -> Dim:
    """The length of `x[start:stop:step]` along an axis of `size`."""
    start, stop, step = (None if _is_none(v) else as_int(v) for v in (s.start, s.stop, s.step))
    unknown_parts = [v for v, raw in zip((start, stop, step), (s.start, s.stop, s.step)) if v is None and not _is_none(raw)]
    if unknown_parts:
        return Dim.unknown()
    if size.value is not None:
        return Dim.const(len(range(*slice(start, stop, step).indices(size.value))))
    if step not in (None, 1):
        return Dim.unknown()
    # symbolic size: `[:]`, `[1:]`, `[:-1]`, `[1:-1]` (assumes the axis is long enough, as the code does)
    if start is None or start >= 0:
        begin = start or 0
        if stop is None:
            return size - begin if begin else size
        if stop < 0:
            return size + stop - begin
    return Dim.unknown()


def _is_none(v: Value | None) -> bool:
    return v is None or (isinstance(v, ConstValue) and v.value is None)


def _is_index_tensor(v: Value) -> bool:
    return isinstance(v, TensorValue)


def index(call: OpCall, t: TensorValue, subscript: Value) -> Value:
    items = list(subscript.items) if isinstance(subscript, TupleValue) else [subscript]
    rank = t.shape.rank
    if rank is None:
        return unknown_like(t, origin="index")
    # how many axes each item consumes
    consumed = 0
    for item in items:
        if isinstance(item, TensorValue):
            if item.shape.rank is None or item.dtype not in _BOOL + _INT:
                return unknown_like(t, origin="index")  # mask or index? the result shape differs
            consumed += item.shape.rank if item.dtype in _BOOL else 1
        elif isinstance(item, (EllipsisValue,)) or _is_none(item):
            continue
        elif isinstance(item, (ConstValue, DimValue, SliceValue)):
            if isinstance(item, ConstValue) and not isinstance(item.value, int):
                return unknown_like(t, origin="index")
            consumed += 1
        else:
            return unknown_like(t, origin="index")
    ellipses = sum(isinstance(i, EllipsisValue) for i in items)
    if ellipses > 1:
        return unknown_like(t, origin="index")  # NumPy rejects it; torch accepts it with odd rules
    if consumed > rank:
        call.report("SC101", *messages.op_error(
            f"indexing: too many indices for {call.label(0)} {t.shape}: {consumed} axes indexed, it has {rank}",
            "each integer, slice or index tensor takes one axis (a boolean mask takes as many as it has)"))
        return UNKNOWN
    # expand the ellipsis
    if ellipses:
        at = next(i for i, v in enumerate(items) if isinstance(v, EllipsisValue))
        items = items[:at] + [SliceValue(ConstValue(None), ConstValue(None), ConstValue(None))] * (rank - consumed) + items[at + 1:]
    else:
        items = items + [SliceValue(ConstValue(None), ConstValue(None), ConstValue(None))] * (rank - consumed)
    out: list[Dim | str] = []
    advanced: list[tuple[int, Shape]] = []  # (position in out, broadcast shape contribution)
    advanced_positions: list[int] = []
    axis = 0
    has_none = False
    for k, item in enumerate(items):
        if _is_none(item):
            out.append(Dim.const(1))
            has_none = True
            continue
        if isinstance(item, SliceValue):
            out.append(_slice_size(t.shape[axis], item))
            axis += 1
            continue
        if isinstance(item, (ConstValue, DimValue)):
            i = as_int(item)
            size = t.shape[axis]
            if i is not None and size.value is not None and not -size.value <= i < size.value:
                call.report("SC101", *messages.op_error(
                    f"indexing: index {i} is out of bounds for axis {axis} of {call.label(0)} {t.shape} (size {size.value})"))
                return UNKNOWN
            axis += 1
            continue
        assert isinstance(item, TensorValue)
        if item.dtype in _BOOL:
            n = item.shape.rank or 0
            for j in range(n):
                m, s = item.shape[j], t.shape[axis + j]
                if compare(m, s, call.facts) == "different":
                    call.report("SC101", *messages.op_error(
                        f"indexing: the mask {item.shape} does not match axis {axis + j} of {call.label(0)} {t.shape} "
                        f"(size {m} vs {s})", "a boolean mask must have the shape of the axes it indexes"))
                    return UNKNOWN
            advanced.append((len(out), Shape.of(Dim.unknown()) if n else Shape.of(Dim.unknown())))
            axis += n
        else:
            advanced.append((len(out), item.shape))
            axis += 1
        advanced_positions.append(k)
        out.append("ADV")
    if advanced:
        shapes = [s for _, s in advanced]
        result = broadcast(*shapes, facts=call.facts)
        if not result.ok:
            call.report("SC101", *messages.op_error(
                "indexing: index tensors cannot be broadcast together: " + ", ".join(str(s) for s in shapes)))
            return UNKNOWN
        if result.shape is None or result.shape.rank is None:
            return unknown_like(t, origin="index")
        bdims = list(result.shape.dims)
        adjacent = advanced_positions == list(range(advanced_positions[0], advanced_positions[-1] + 1))
        rest = [d for d in out if d != "ADV"]
        if adjacent:
            first = out.index("ADV")
            before = [d for d in out[:first] if d != "ADV"]
            after = [d for d in out[first:] if d != "ADV"]
            final = before + bdims + after
        else:
            final = bdims + rest
    else:
        final = out
    origin = "index-none" if has_none else "index"
    return dataclasses.replace(t, shape=Shape.of(*final), origin=origin, contiguous=None if advanced else t.contiguous)


@op("__getitem__")
def getitem(call: OpCall) -> Value:
    target, sub = call.arg(0), call.arg(1)
    if sub is None:
        return UNKNOWN
    if isinstance(target, TupleValue):
        i = as_int(sub)
        if i is not None and -len(target.items) <= i < len(target.items):
            return target.items[i]
        if isinstance(sub, SliceValue):
            parts = [None if _is_none(v) else as_int(v) for v in (sub.start, sub.stop, sub.step)]
            if all(p is not None or _is_none(v) for p, v in zip(parts, (sub.start, sub.stop, sub.step))):
                return TupleValue(target.items[slice(*parts)])
        return UNKNOWN
    t = tensor(target)
    if t is None:
        return UNKNOWN
    return index(call, t, sub)


@op("torch.gather", "Tensor.gather", "torch.Tensor.gather", "torch.take_along_dim", "Tensor.take_along_dim")
def gather(call: OpCall) -> Value:
    """`gather(x, dim, index)`: the result has index's shape; index has x's rank and is no larger
    than x on the other axes. (`take_along_dim(x, index, dim)` takes the same shapes.)"""
    t = tensor(call.arg(0, "input"))
    take = call.name.endswith("take_along_dim")
    idx = tensor(call.arg(1, "indices") if take else call.arg(2, "index"))
    if t is not None and idx is None and not take and t.shape.rank is not None and t.shape.rank >= 2:
        if dim_arg(call, 1, t.shape.rank) is ERROR:
            return UNKNOWN
        return rank_only(t, t.shape.rank, origin="gather", contiguous=True, layout=None)  # index has the input's rank
    if t is None or idx is None:
        return UNKNOWN
    if t.shape.rank is None or idx.shape.rank is None:
        return unknown_like(t, origin="gather")
    rank = t.shape.rank
    d = dim_arg(call, 2 if take else 1, rank)
    if d is ERROR:
        return UNKNOWN
    if take:
        if d is ABSENT:  # no dim: both are flattened, the result is 1-d with one entry per index
            n = idx.shape.numel()
            return dataclasses.replace(t, shape=Shape.of(n) if n is not None else Shape.unknown(), origin="gather",
                                       contiguous=True, layout=None)
        if not isinstance(d, int):
            return unknown_like(t, origin="gather")
        if rank == 0:  # unlike most ops, take_along_dim gives a 0-d input no dim 0
            call.report("SC106", *messages.dim_out_of_range(op_title(call), "dim", d, 0))
            return UNKNOWN
        shapes = [Shape.of(*[1 if i == d else s for i, s in enumerate(t.shape.dims)]), Shape.of(*[1 if i == d else s for i, s in enumerate(idx.shape.dims)])]
        if idx.shape.rank != rank:
            call.report("SC101", *messages.op_error(f"{op_title(call)}: input {t.shape} and indices {idx.shape} need the same number of dims"))
            return UNKNOWN
        result = broadcast(*shapes, facts=call.facts)
        if not result.ok or result.shape is None:
            call.report("SC101", *messages.op_error(f"{op_title(call)}: input {t.shape} and indices {idx.shape} do not broadcast off dim {d}"))
            return UNKNOWN
        return dataclasses.replace(t, shape=result.shape.replace(d, idx.shape[d]), origin="gather")
    if idx.shape.rank != rank and not (rank == 0 and idx.shape.rank == 1 or rank == 1 and idx.shape.rank == 0):
        call.report("SC101", *messages.op_error(
            f"{op_title(call)}: index {idx.shape} must have as many dims as {call.label(0)} {t.shape}",
            "gather picks, along dim, one element per index entry: index has the input's rank"))
        return UNKNOWN
    if isinstance(d, int) and idx.shape.rank == rank:
        for i in range(rank):
            a, b = idx.shape[i], t.shape[i]
            if i != d and a.value is not None and b.value is not None and a.value > b.value:
                call.report("SC101", *messages.op_error(
                    f"{op_title(call)}: index {idx.shape} is larger than {call.label(0)} {t.shape} on axis {i}",
                    "off the gathered dim, index may not be larger than the input"))
                return UNKNOWN
    return dataclasses.replace(t, shape=idx.shape, origin="gather", contiguous=True)


@op("torch.index_select", "Tensor.index_select", "torch.Tensor.index_select")
def index_select(call: OpCall) -> Value:
    """`index_select(x, dim, index)`: axis dim becomes len(index) (index is 1-d)."""
    t, idx = tensor(call.arg(0, "input")), tensor(call.arg(2, "index"))
    if t is None or idx is None:
        return UNKNOWN
    rank = t.shape.rank
    if rank is None or idx.shape.rank is None:
        return unknown_like(t, origin="index")
    d = dim_arg(call, 1, rank)
    if d is ERROR:
        return UNKNOWN
    if idx.shape.rank > 1:
        call.report("SC101", *messages.rank_error(op_title(call), call.label(2, "index"), idx.shape, "a 1-d index"))
        return UNKNOWN
    if not isinstance(d, int):
        return unknown_like(t, origin="index")
    if rank == 0:
        return t
    n = idx.shape[0] if idx.shape.rank == 1 else Dim.const(1)
    return dataclasses.replace(t, shape=t.shape.replace(d, n), origin="index", contiguous=True)


@op("torch.masked_select", "Tensor.masked_select", "torch.Tensor.masked_select")
def masked_select(call: OpCall) -> Value:
    t, mask = tensor(call.arg(0, "input")), call.arg(1, "mask")
    if t is None:
        return UNKNOWN
    if isinstance(mask, TensorValue):
        result = broadcast(t.shape, mask.shape, facts=call.facts)
        if not result.ok and result.error is not None:
            call.report("SC101", *messages.broadcast_error(op_title(call), [t.shape, mask.shape], [call.label(0), call.label(1, "mask")], result))
            return UNKNOWN
    return dataclasses.replace(t, shape=Shape.of(Dim.unknown()), origin="index")


@op("torch.nonzero", "Tensor.nonzero", "torch.Tensor.nonzero", "torch.argwhere", "Tensor.argwhere")
def nonzero(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    if t.shape.rank is None:
        return unknown_like(t, dtype="int64", origin="nonzero")
    return dataclasses.replace(t, shape=Shape.of(Dim.unknown(), t.shape.rank), dtype="int64", origin="nonzero")


@op("torch.scatter", "Tensor.scatter", "Tensor.scatter_", "torch.scatter_add", "Tensor.scatter_add", "Tensor.scatter_add_",
    "torch.index_add", "Tensor.index_add", "Tensor.index_add_", "Tensor.index_fill", "Tensor.index_fill_",
    "torch.index_copy", "Tensor.index_copy", "Tensor.index_copy_", "torch.scatter_reduce", "Tensor.scatter_reduce",
    "Tensor.scatter_reduce_", "torch.index_fill")
def scatter(call: OpCall) -> Value:
    """Writes into a copy of (or into) `self` along `dim`: the result has self's shape.

    `scatter`/`scatter_add`/`scatter_reduce(dim, index, src)`: index has self's rank, is no larger
    than self off `dim` and no larger than src anywhere; src has index's rank (an empty index
    skips every check, as torch does). `index_add`/`index_copy(dim, index, source)`: index is a
    vector, source is self with axis `dim` of len(index). `index_fill(dim, index, value)`: index
    is a vector or a scalar."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    if rank is None:
        return dataclasses.replace(t, origin="scatter")
    d = dim_arg(call, 1, rank)
    if d is ERROR:
        return UNKNOWN
    short = call.name.rsplit(".", 1)[-1].rstrip("_")
    idx = tensor(call.arg(2, "index"))
    dim = d if isinstance(d, int) else None
    if short in ("scatter", "scatter_add", "scatter_reduce"):
        problem = _scatter_problem(call, t, dim, idx, tensor(call.arg(3, "src")))
    elif short in ("index_add", "index_copy"):
        problem = _index_add_problem(call, t, dim, idx, tensor(call.arg(3, "source")))
    else:
        problem = "the index must be a vector or a scalar" if idx is not None and (idx.shape.rank or 0) > 1 else None
    if problem is not None:
        call.report("SC101", *messages.op_error(f"{op_title(call)}: {problem}",
                                                "index and src of scatter/gather line up axis by axis with self"))
        return UNKNOWN
    return dataclasses.replace(t, origin="scatter")


def _size(shape: Shape, axis: int) -> Dim:
    """torch's `ensure_nonempty_size`: a 0-d tensor counts as one axis of size 1."""
    return shape[axis] if shape.rank else Dim.const(1)


def _larger(a: Dim, b: Dim) -> bool:
    return a.value is not None and b.value is not None and a.value > b.value


def _scatter_problem(call: OpCall, t: TensorValue, dim: int | None, idx: TensorValue | None,
                     src: TensorValue | None) -> str | None:
    if idx is None or idx.shape.rank is None or t.shape.rank is None:
        return None
    if any(idx.shape[i].value == 0 for i in range(idx.shape.rank)):
        return None  # an empty index writes nothing and torch checks nothing
    rank = max(t.shape.rank, 1)
    if max(idx.shape.rank, 1) != rank:
        return f"index {idx.shape} must have as many dims as {call.label(0)} {t.shape}"
    if src is not None and src.shape.rank is not None and max(src.shape.rank, 1) != rank:
        return f"index {idx.shape} must have as many dims as src {src.shape}"
    for k in range(rank):
        i = _size(idx.shape, k)
        if k != dim and dim is not None and _larger(i, _size(t.shape, k)):
            return f"index {idx.shape} is larger than {call.label(0)} {t.shape} on axis {k} (only axis {dim} may be larger)"
        if src is not None and src.shape.rank is not None and _larger(i, _size(src.shape, k)):
            return f"index {idx.shape} is larger than src {src.shape} on axis {k}"
    return None


def _index_add_problem(call: OpCall, t: TensorValue, dim: int | None, idx: TensorValue | None,
                       src: TensorValue | None) -> str | None:
    if idx is None or idx.shape.rank is None:
        return None
    if idx.shape.rank > 1:
        return f"the index must be a vector, but it is {idx.shape}"
    if src is None or src.shape.rank is None or t.shape.rank is None or dim is None or not t.shape.rank or not src.shape.rank:
        return None
    if src.shape.rank != t.shape.rank:
        return f"source {src.shape} must have the shape of {call.label(0)} {t.shape} except on axis {dim}"
    n = idx.shape[0] if idx.shape.rank == 1 else Dim.const(1)
    if compare(src.shape[dim], n, call.facts) == "different":
        return f"source {src.shape} has {src.shape[dim]} entries on axis {dim} but the index has {n}"
    for k in range(t.shape.rank):
        if k != dim and compare(src.shape[k], t.shape[k], call.facts) == "different":
            return f"source {src.shape} must have the shape of {call.label(0)} {t.shape} except on axis {dim} (axis {k} differs)"
    return None
