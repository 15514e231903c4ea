"""Views and reshapes: `view reshape flatten unflatten permute transpose t T mT swapaxes movedim
unsqueeze squeeze expand expand_as repeat tile contiguous narrow ravel`.

Element counts: `view`/`reshape` keep every element. SC101 when the counts definitely differ
(`(b, 12)` into `(b, 5, -1)` with 12 % 5 != 0, or `(6,)` into `(4,)`); a `-1` takes
`numel // known` (symbolic: `(b, s, d)` into `(b, -1)` gives `(b, s * d)`). Results of
transpose/permute/T/mT/expand are marked `contiguous=False`; `.view()` that regroups axes of such a
tensor is SC108 (torch raises "view size is not compatible with input tensor's size and stride").
"""

from __future__ import annotations

import dataclasses

from shapecheck.infer import messages
from shapecheck.infer.ops._common import (
    ABSENT,
    ERROR,
    UNSURE,
    dim_arg,
    int_items,
    normalize_dim,
    op_title,
    product,
    rank_only,
    size_args,
    size_args_partial,
    tensor,
    unknown_like,
)
from shapecheck.infer.ops.registry import OpCall, op
from shapecheck.infer.values import UNKNOWN, DtypeValue, TensorValue, Value, as_int
from shapecheck.shapes import Dim, Shape, compare
from shapecheck.shapes.dims import can_be_one, exact_quotient


def _m(*names: str) -> list[str]:
    return [f"Tensor.{n}" for n in names] + [f"torch.Tensor.{n}" for n in names]


def _dims(t: TensorValue) -> list[Dim] | None:
    return None if t.shape.rank is None else [t.shape[i] for i in range(t.shape.rank)]


def reshape_to(call: OpCall, t: TensorValue, sizes: list[Dim] | None, origin: str, target_label: str = "") -> Value:
    """`t` reshaped to `sizes` (one may be -1), with the element-count check."""
    if sizes is None:
        return unknown_like(t, origin=origin, contiguous=True)
    target = target_label or "(" + ", ".join(str(s) for s in sizes) + ")"
    name = op_title(call)
    inferred = [i for i, s in enumerate(sizes) if s.value == -1]
    if len(inferred) > 1:
        call.report("SC101", *messages.op_error(f"{name}: only one size can be -1, got {target}"))
        return UNKNOWN
    for s in sizes:
        if s.value is not None and s.value < -1:
            call.report("SC101", *messages.op_error(f"{name}: invalid size {s.value} in {target}"))
            return UNKNOWN
    numel = t.shape.numel()
    known = product(s for i, s in enumerate(sizes) if i not in inferred)
    if numel is None:
        out = [Dim.unknown() if i in inferred else s for i, s in enumerate(sizes)]
        return dataclasses.replace(t, shape=Shape.of(*out), origin=origin, contiguous=True)
    numel = call.facts.simplify(numel) if call.facts is not None else numel
    if inferred:
        if known.value == 0:
            call.report("SC101", *messages.op_error(
                f"{name}: cannot infer -1 in {target}: the other sizes multiply to 0"))
            return UNKNOWN
        ratio = constant_ratio(numel, known)
        if ratio is not None and ratio[0] % ratio[1] != 0:
            call.report("SC101", *messages.bad_inferred_size(name, t.shape, target, numel, known))
            return UNKNOWN
        missing = numel // known
        if call.facts is not None:
            missing = call.facts.simplify(missing)
        out = [missing if i in inferred else s for i, s in enumerate(sizes)]
        return dataclasses.replace(t, shape=Shape.of(*out), origin=origin, contiguous=True)
    if compare(numel, known, call.facts) == "different":
        call.report("SC101", *messages.element_count(name, t.shape, target, numel, known))
        return UNKNOWN
    if call.facts is not None:
        sizes = [call.facts.simplify(s) for s in sizes]
    return dataclasses.replace(t, shape=Shape.of(*sizes), origin=origin, contiguous=True)


def constant_ratio(a: Dim, b: Dim) -> tuple[int, int] | None:
    """(p, q) with a / b == p / q for EVERY value of the symbols, or None if the ratio is not a
    constant: `12 * b` over `5 * b` is 12/5 (never an integer: a -1 there can never be inferred)."""
    if a.is_unknown or b.is_unknown:
        return None
    ones = {name: 1 for name in a.symbols() | b.symbols()}
    p, q = a.evaluate(ones), b.evaluate(ones)
    if p is None or q is None or q <= 0 or p < 0:
        return None
    return (p, q) if a * q == b * p else None


def merged_groups(before: Shape, after: Shape) -> list[list[int]] | None:
    """The groups of input axes (size-1 axes left out) that a reshape from `before` to `after`
    merges into one output axis, as torch's view algorithm chunks them: grow whichever side is
    smaller until the products agree. None when symbolic sizes leave it open."""
    if before.rank is None or after.rank is None:
        return None
    inp = [(k, d) for k, d in enumerate(before.dims) if d.value != 1]
    out = [d for d in after.dims if d.value != 1]
    groups: list[list[int]] = []
    i = j = 0
    while i < len(inp) and j < len(out):
        members, a, b = [inp[i][0]], inp[i][1], out[j]
        while compare(a, b) != "equal":
            if a.value is not None and b.value is not None:
                grow_input = a.value < b.value
            elif exact_quotient(a, b) is not None:
                grow_input = False  # the input axis is split over several outputs
            elif exact_quotient(b, a) is not None:
                grow_input = True
            else:
                return None
            if grow_input:
                i += 1
                if i >= len(inp):
                    return None
                members.append(inp[i][0])
                a = a * inp[i][1]
            else:
                j += 1
                if j >= len(out):
                    return None
                b = b * out[j]
        if len(members) > 1:
            groups.append(members)
        i += 1
        j += 1
    return groups


def view_breaks_layout(t: TensorValue, after: Shape) -> bool:
    """Whether `.view()` to `after` needs a copy of the non-contiguous `t` (torch raises).

    With a known layout (a permuted contiguous tensor) merging axes p < q works only when they are
    in memory order with nothing but size-1 axes between them in the base; otherwise (expand, or a
    layout we lost) any merge is reported, as before."""
    groups = merged_groups(t.shape, after)
    if not groups:
        return False  # only splits (always a view), or sizes that leave it open
    if t.layout is None or len(t.layout) != t.shape.rank:  # unknown, or left stale by an op that reshaped
        return True
    dims = list(t.shape.dims)
    base_size = {t.layout[k]: dims[k] for k in range(len(dims))}
    for group in groups:
        for p, q in zip(group, group[1:]):
            lo, hi = t.layout[p], t.layout[q]
            if lo > hi:
                return True
            between = [base_size[b] for b in range(lo + 1, hi)]
            if any(d.is_unknown for d in between):
                return False
            # a named axis between them (`h` in (b, s, h, d) -> transpose(1, 2) -> view(b, h, -1))
            # is taken to be > 1, as the annotation that named it means
            if any(d.value != 1 for d in between):
                return True
    return False


@op(*_m("view", "reshape"), "torch.reshape", "numpy.reshape")
def view(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    if call.name.startswith("numpy.") or call.name == "torch.reshape":
        sizes = size_args_partial(call, 1, keyword="newshape" if call.name.startswith("numpy.") else "shape")
    else:
        if len(call.args) == 2 and isinstance(call.args[1], DtypeValue) or "dtype" in call.kwargs:
            return unknown_like(t, origin="view")  # view(dtype) reinterprets the bytes
        sizes = size_args_partial(call, 1, keyword="size" if "size" in call.kwargs else "shape")
    is_view = call.name.endswith("view")
    out = reshape_to(call, t, sizes, "view" if is_view else "reshape")
    if is_view and t.contiguous is False and isinstance(out, TensorValue) and view_breaks_layout(t, out.shape):
        call.report("SC108", *messages.view_noncontiguous(t.origin))
        return UNKNOWN
    return out


@op(*_m("view_as", "reshape_as"))
def view_as(call: OpCall) -> Value:
    t, other = tensor(call.arg(0, "input")), tensor(call.arg(1, "other"))
    if t is None or other is None:
        return UNKNOWN
    is_view = call.name.endswith("view_as")
    out = reshape_to(call, t, _dims(other), "view" if is_view else "reshape", str(other.shape))
    if is_view and t.contiguous is False and isinstance(out, TensorValue) and view_breaks_layout(t, out.shape):
        call.report("SC108", *messages.view_noncontiguous(t.origin))
        return UNKNOWN
    return out


@op("torch.flatten", *_m("flatten"), "numpy.ravel", "torch.ravel", *_m("ravel"))
def flatten(call: OpCall) -> Value:
    """`flatten(x, start_dim=0, end_dim=-1)`: axes start..end merged into their product."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    short = call.name.rsplit(".", 1)[-1]
    if t.library == "numpy" or short == "ravel":
        numel = t.shape.numel()
        return dataclasses.replace(t, shape=Shape.of(numel) if numel is not None else Shape.unknown(), origin="flatten", contiguous=True)
    if rank is None:
        return unknown_like(t, origin="flatten")
    if rank == 0:
        start = dim_arg(call, 1, 0, name="start_dim")
        end = dim_arg(call, 2, 0, name="end_dim")
        if ERROR in (start, end):
            return UNKNOWN
        return dataclasses.replace(t, shape=Shape.of(1), origin="flatten", contiguous=True)
    start = dim_arg(call, 1, rank, name="start_dim")
    end = dim_arg(call, 2, rank, name="end_dim")
    if start is ERROR or end is ERROR:
        return UNKNOWN
    if start is UNSURE or end is UNSURE:
        return unknown_like(t, origin="flatten")
    s = 0 if start is ABSENT else start
    e = rank - 1 if end is ABSENT else end
    assert isinstance(s, int) and isinstance(e, int)
    if s > e:
        call.report("SC106", *messages.op_error(f"{op_title(call)}: start_dim {s} comes after end_dim {e}"))
        return UNKNOWN
    dims = _dims(t) or []
    merged = product(dims[s : e + 1])
    out = dims[:s] + [merged] + dims[e + 1 :]
    return dataclasses.replace(t, shape=Shape.of(*out), origin="flatten", contiguous=t.contiguous if s == e else True)


@op("torch.unflatten", *_m("unflatten"))
def unflatten(call: OpCall) -> Value:
    """`unflatten(x, dim, sizes)`: axis `dim` split into `sizes` (one may be -1)."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    if rank is None:
        return unknown_like(t, origin="view")
    d = dim_arg(call, 1, rank, name="dim")
    if d is ERROR:
        return UNKNOWN
    from shapecheck.infer.ops._common import dim_items

    sizes = dim_items(call.arg(2, "sizes"))
    if d is UNSURE or d is ABSENT or sizes is None:
        return unknown_like(t, origin="view")
    assert isinstance(d, int)
    if not sizes:
        call.report("SC101", *messages.op_error(f"{op_title(call)}: sizes must not be empty"))
        return UNKNOWN
    axis = TensorValue(Shape.of(t.shape[d]))
    sub = OpCall(call.name, [axis], {}, call.node, facts=call.facts, labels=call.labels)
    split = reshape_to(sub, axis, sizes, "view", "(" + ", ".join(str(s) for s in sizes) + ")")
    call.findings.extend(sub.findings)
    if not isinstance(split, TensorValue):
        return UNKNOWN
    dims = _dims(t) or []
    out = dims[:d] + list(split.shape.dims) + dims[d + 1 :]
    return dataclasses.replace(t, shape=Shape.of(*out), origin="view")


def _dim_list(call: OpCall, start: int, keyword: str) -> list[int] | None | object:
    """Dims given as varargs or one tuple/list: ints, or ABSENT/UNSURE."""
    if keyword in call.kwargs:
        items = int_items(call.kwargs[keyword])
        return items if items is not None else UNSURE
    rest = call.args[start:]
    if not rest:
        return ABSENT
    if len(rest) == 1:
        items = int_items(rest[0])
        return items if items is not None else UNSURE
    values = [as_int(v) for v in rest]
    return UNSURE if any(v is None for v in values) else values


@op("torch.permute", *_m("permute"))
def permute(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    order = _dim_list(call, 1, "dims")
    if rank is None or order is UNSURE or order is ABSENT:
        if rank is not None and order is UNSURE:  # a permutation keeps the rank (or torch raises)
            return rank_only(t, rank, origin="permute", contiguous=None, layout=None)
        return unknown_like(t, origin="permute", contiguous=False)
    assert isinstance(order, list)
    if len(order) != rank:
        call.report("SC101", *messages.op_error(
            f"{op_title(call)}: {call.label(0)} is {t.shape} ({rank}-d) but {len(order)} dims were given: {tuple(order)}",
            "permute needs exactly one entry per axis"))
        return UNKNOWN
    norm = []
    for d in order:
        n = normalize_dim(call, d, rank)
        if n is None:
            return UNKNOWN
        norm.append(n)
    if len(set(norm)) != rank:
        call.report("SC106", *messages.dim_repeated(op_title(call), order))
        return UNKNOWN
    return _reordered(t, _dims(t) or [], norm, "permute")


def _reordered(t: TensorValue, dims: list[Dim], order: list[int], origin: str) -> TensorValue:
    """`t` with its axes taken in `order`, tracking the memory layout for `.view()`'s SC108."""
    contiguous = t.contiguous if keeps_memory_order(dims, order) else False
    base = tuple(range(len(dims))) if t.contiguous else t.layout  # a layout survives only while non-contiguous
    layout = None if base is None or contiguous else tuple(base[i] for i in order)
    identity = order == list(range(len(dims)))
    return dataclasses.replace(t, shape=Shape.of(*[dims[i] for i in order]), origin=t.origin if identity else origin,
                               contiguous=contiguous, layout=layout)


def keeps_memory_order(dims: list[Dim], order: list[int]) -> bool:
    """A permutation keeps a tensor contiguous when the axes that are not size 1 stay in order."""
    moved = [i for i in order if dims[i].value != 1]
    return moved == sorted(moved)


def _swap(t: TensorValue, a: int, b: int, origin: str) -> TensorValue:
    dims = _dims(t) or []
    order = list(range(len(dims)))
    order[a], order[b] = order[b], order[a]
    return _reordered(t, dims, order, origin)


@op("torch.transpose", "torch.swapaxes", "torch.swapdims", *_m("transpose", "swapaxes", "swapdims", "transpose_"),
    "numpy.swapaxes")
def transpose(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    if t.library == "numpy" and call.name.endswith("transpose"):
        return _numpy_transpose(call, t)
    rank = t.shape.rank
    if rank is None:
        return unknown_like(t, origin="transpose", contiguous=False)
    names = ("axis0", "axis1") if "swapaxes" in call.name else ("dim0", "dim1")
    a = dim_arg(call, 1, rank, name=names[0])
    b = dim_arg(call, 2, rank, name=names[1])
    if a is ERROR or b is ERROR:
        return UNKNOWN
    if not isinstance(a, int) or not isinstance(b, int):  # which axes is not known: the rank is
        return rank_only(t, rank, origin="transpose", contiguous=None, layout=None)
    if rank == 0:
        return t
    return _swap(t, a, b, "transpose")


def _numpy_transpose(call: OpCall, t: TensorValue) -> Value:
    """numpy's transpose reverses the axes, or permutes by `axes`."""
    if call.arg(1, "axes") is not None:
        return permute(OpCall("Tensor.permute", call.args, {"dims": call.kwargs["axes"]} if "axes" in call.kwargs else {},
                              call.node, facts=call.facts, findings=call.findings, labels=call.labels))
    dims = _dims(t)
    if dims is None:
        return unknown_like(t, origin="transpose", contiguous=False)
    return dataclasses.replace(t, shape=Shape.of(*reversed(dims)), origin="transpose", contiguous=len(dims) < 2)


@op("numpy.transpose")
def np_transpose(call: OpCall) -> Value:
    t = tensor(call.arg(0, "a"))
    return UNKNOWN if t is None else _numpy_transpose(call, t)


@op("torch.t", *_m("t", "t_"))
def t_(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    if rank is None:
        return unknown_like(t, origin="transpose", contiguous=False)
    if rank > 2:
        call.report("SC101", *messages.rank_error(op_title(call), call.label(0), t.shape, "a tensor of at most 2 dims"))
        return UNKNOWN
    return _swap(t, 0, 1, "transpose") if rank == 2 else t


@op("Tensor.T", "torch.Tensor.T", "Tensor.H", "torch.Tensor.H")
def T(call: OpCall) -> Value:
    """`.T` reverses all axes (for 2-d: the transpose; NumPy too)."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    dims = _dims(t)
    if dims is None:
        return unknown_like(t, origin="transpose", contiguous=False)
    if len(dims) < 2:
        return t
    return _reordered(t, dims, list(reversed(range(len(dims)))), "transpose")


@op("Tensor.mT", "torch.Tensor.mT", "Tensor.mH", "torch.Tensor.mH", "torch.adjoint", "Tensor.adjoint")
def mT(call: OpCall) -> Value:
    """`.mT` swaps the last two axes (batched transpose); needs at least 2 dims."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    if not t.shape.known:
        return unknown_like(t, origin="transpose", contiguous=False)
    if t.shape.rank == 0:
        return t
    if t.shape.rank == 1:
        call.report("SC101", *messages.rank_error(op_title(call), call.label(0), t.shape, "a tensor of at least 2 dims"))
        return UNKNOWN
    if len(t.shape.suffix) < 2:
        return unknown_like(t, origin="transpose", contiguous=False)
    if t.shape.rank is not None:
        return _swap(t, t.shape.rank - 2, t.shape.rank - 1, "transpose")
    axes = list(t.shape.axes)
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return dataclasses.replace(t, shape=Shape.of(*axes), origin="transpose", contiguous=False, layout=None)


@op("torch.movedim", "torch.moveaxis", *_m("movedim", "moveaxis"), "numpy.moveaxis")
def movedim(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    src = int_items(call.arg(1, "source"))
    dst = int_items(call.arg(2, "destination"))
    if rank is None or src is None or dst is None:
        if rank is not None:
            return rank_only(t, rank, origin="permute", contiguous=None, layout=None)
        return unknown_like(t, origin="permute", contiguous=False)
    if len(src) != len(dst):
        call.report("SC101", *messages.op_error(
            f"{op_title(call)}: source {tuple(src)} and destination {tuple(dst)} name different numbers of axes"))
        return UNKNOWN
    s_norm, d_norm = [], []
    for d in src:
        n = normalize_dim(call, d, rank, label="source")
        if n is None:
            return UNKNOWN
        s_norm.append(n)
    for d in dst:
        n = normalize_dim(call, d, rank, label="destination")
        if n is None:
            return UNKNOWN
        d_norm.append(n)
    if len(set(s_norm)) != len(s_norm) or len(set(d_norm)) != len(d_norm):
        call.report("SC106", *messages.dim_repeated(op_title(call), src if len(set(s_norm)) != len(s_norm) else dst))
        return UNKNOWN
    if rank == 0:
        return t
    order: list[int | None] = [None] * rank
    for s, d in zip(s_norm, d_norm):
        order[d] = s
    rest = iter(i for i in range(rank) if i not in s_norm)
    final = [o if o is not None else next(rest) for o in order]
    return _reordered(t, _dims(t) or [], final, "permute")


@op("torch.unsqueeze", *_m("unsqueeze", "unsqueeze_"), "numpy.expand_dims")
def unsqueeze(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    key = "axis" if call.name.startswith("numpy.") else "dim"
    if rank is None:
        return unknown_like(t, origin="unsqueeze")
    d = dim_arg(call, 1, rank, name=key, extra=1)
    if d is ERROR:
        return UNKNOWN
    if not isinstance(d, int):
        return rank_only(t, rank + 1, origin="unsqueeze", contiguous=None, layout=None)
    dims = _dims(t) or []
    dims.insert(d, Dim.const(1))
    return dataclasses.replace(t, shape=Shape.of(*dims), origin="unsqueeze")


@op("torch.squeeze", *_m("squeeze", "squeeze_"), "numpy.squeeze")
def squeeze(call: OpCall) -> Value:
    """Without dim: drops every size-1 axis. A symbolic axis might be 1 at run time (a batch of one):
    SC107, and the result keeps it (the likely intent). With dim: drops that axis if it is 1."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    key = "axis" if call.name.startswith("numpy.") else "dim"
    if rank is None:
        return unknown_like(t, origin="squeeze")
    dims = _dims(t) or []
    value = call.arg(1, key)
    if value is None or (hasattr(value, "value") and getattr(value, "value") is None):
        maybe = [i for i, d in enumerate(dims) if d.value is None and not d.is_unknown and can_be_one(d, call.facts)]
        if maybe:
            call.report("SC107", *messages.ambiguous_squeeze(t.shape, maybe))
        if any(d.is_unknown for d in dims):
            return unknown_like(t, origin="squeeze")
        return dataclasses.replace(t, shape=Shape.of(*[d for d in dims if d.value != 1]), origin="squeeze")
    items = int_items(value)
    if items is None:
        return unknown_like(t, origin="squeeze")
    chosen = []
    for item in items:
        n = normalize_dim(call, item, rank, label=key)
        if n is None:
            return UNKNOWN
        chosen.append(n)
    if rank == 0:
        return t
    out = []
    for i, d in enumerate(dims):
        if i in chosen:
            if d.value == 1:
                continue
            if d.value is None and can_be_one(d, call.facts):
                return unknown_like(t, origin="squeeze")  # removed only if it is 1 at run time
            if t.library == "numpy":
                call.report("SC101", *messages.op_error(
                    f"{op_title(call)}: axis {i} of {t.shape} has size {d}, not 1: it cannot be squeezed"))
                return UNKNOWN
        out.append(d)
    return dataclasses.replace(t, shape=Shape.of(*out), origin="squeeze")


@op(*_m("expand"), "torch.broadcast_to", "numpy.broadcast_to", *_m("broadcast_to"))
def expand(call: OpCall) -> Value:
    """`expand(*sizes)`: -1 keeps an axis; an existing axis must be that size or 1; new axes go left."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    sizes = size_args_partial(call, 1, keyword="size" if "size" in call.kwargs else "shape")
    rank = t.shape.rank
    if sizes is None or rank is None:
        return unknown_like(t, origin="expand", contiguous=False)
    if len(sizes) < rank:
        call.report("SC101", *messages.op_error(
            f"{op_title(call)}: {call.label(0)} is {t.shape} ({rank}-d) but only {len(sizes)} sizes were given",
            "expand can add axes on the left but not drop any"))
        return UNKNOWN
    dims = _dims(t) or []
    lead = len(sizes) - rank
    out: list[Dim] = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s.value is not None and s.value < 0:
                call.report("SC101", *messages.op_error(f"{op_title(call)}: -1 is not allowed for a new leading axis (size {i})"))
                return UNKNOWN
            out.append(s)
            continue
        d = dims[i - lead]
        if s.value == -1:
            out.append(d)
            continue
        verdict = compare(d, s, call.facts)
        if verdict == "equal":
            out.append(d)
        elif d.value == 1:
            out.append(s)
        elif verdict == "different" and d.value is not None:
            call.report("SC101", *messages.size_mismatch(op_title(call), "size", s, d, t.shape, call.label(0), i - lead,
                                                          "only axes of size 1 can be expanded"))
            return UNKNOWN
        else:
            out.append(s if d.value is None else d)
    return dataclasses.replace(t, shape=Shape.of(*out), origin="expand", contiguous=False)


@op(*_m("expand_as"))
def expand_as(call: OpCall) -> Value:
    t, other = tensor(call.arg(0, "input")), tensor(call.arg(1, "other"))
    if t is None or other is None:
        return UNKNOWN
    dims = _dims(other)
    if dims is None:
        return unknown_like(t, origin="expand", contiguous=False)
    from shapecheck.infer.values import TupleValue, DimValue

    return expand(OpCall(call.name, [t, TupleValue(tuple(DimValue(d) for d in dims))], {}, call.node, facts=call.facts,
                         findings=call.findings, labels=call.labels))


@op(*_m("repeat"), "torch.tile", *_m("tile"), "numpy.tile")
def repeat(call: OpCall) -> Value:
    """`repeat(*reps)`: at least one rep per axis, new axes on the left; `tile` pads reps with 1s."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    reps = size_args_partial(call, 1, keyword="repeats" if "repeats" in call.kwargs else "dims")
    rank = t.shape.rank
    if reps is None or rank is None:
        return unknown_like(t, origin="repeat")
    if len(reps) < rank:
        if call.name.endswith("tile"):
            reps = [Dim.const(1)] * (rank - len(reps)) + reps
        else:
            call.report("SC101", *messages.op_error(
                f"{op_title(call)}: {call.label(0)} is {t.shape} ({rank}-d) but only {len(reps)} repeats were given",
                "repeat needs one count per axis (extra counts add axes on the left)"))
            return UNKNOWN
    if any(r.value is not None and r.value < 0 for r in reps):
        call.report("SC101", *messages.op_error(f"{op_title(call)}: repeat counts cannot be negative"))
        return UNKNOWN
    dims = [Dim.const(1)] * (len(reps) - rank) + (_dims(t) or [])
    return dataclasses.replace(t, shape=Shape.of(*[d * r for d, r in zip(dims, reps)]), origin="repeat", contiguous=True)


@op(*_m("contiguous"), "numpy.ascontiguousarray")
def contiguous(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    return dataclasses.replace(t, contiguous=True)


@op("torch.narrow", *_m("narrow"))
def narrow(call: OpCall) -> Value:
    """`narrow(x, dim, start, length)`: axis `dim` becomes `length`."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    if rank is None:
        return unknown_like(t)
    d = dim_arg(call, 1, rank)
    if d is ERROR:
        return UNKNOWN
    from shapecheck.infer.values import as_dim

    length = as_dim(call.arg(3, "length"))
    if not isinstance(d, int) or length is None or rank == 0:
        return unknown_like(t)
    start = as_int(call.arg(2, "start"))
    size = t.shape[d]
    if start is not None and length.value is not None and size.value is not None:
        begin = start + size.value if start < 0 else start
        if not 0 <= begin <= size.value or length.value < 0 or begin + length.value > size.value:
            call.report("SC101", *messages.op_error(
                f"{op_title(call)}: start {start} and length {length.value} do not fit axis {d} of {t.shape}"))
            return UNKNOWN
    return dataclasses.replace(t, shape=t.shape.replace(d, length))


@op("torch.flip", *_m("flip"), "torch.roll", *_m("roll"))
def flip(call: OpCall) -> Value:
    """`flip(x, dims)` / `roll(x, shifts, dims)`: the shape is kept; every dim must exist."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    value = call.arg(2, "dims") if call.name.endswith("roll") else None
    if not call.name.endswith("roll"):
        order = _dim_list(call, 1, "dims")
        value_items = order if isinstance(order, list) else None
    else:
        value_items = int_items(value) if value is not None else []
    if rank == 0 and value_items and call.name.endswith("roll"):
        call.report("SC106", *messages.dim_out_of_range(op_title(call), "dims", value_items[0], 0))
        return UNKNOWN
    if rank is not None and value_items is not None:
        for d in value_items:
            if normalize_dim(call, d, rank, label="dims") is None:
                return UNKNOWN
        if len(set(d % max(rank, 1) for d in value_items)) != len(value_items) and not call.name.endswith("roll"):
            call.report("SC106", *messages.dim_repeated(op_title(call), value_items))
            return UNKNOWN
    return dataclasses.replace(t, contiguous=True, origin=t.origin)


@op("torch.tril", "torch.triu", *_m("tril", "triu", "tril_", "triu_"))
def tril(call: OpCall) -> Value:
    """`tril/triu(x, diagonal=0)`: the shape is kept; the input needs at least 2 dims."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    if t.shape.rank is not None and t.shape.rank < 2:
        call.report("SC101", *messages.rank_error(op_title(call), call.label(0), t.shape, "a tensor of at least 2 dims"))
        return UNKNOWN
    return dataclasses.replace(t, origin=t.origin, contiguous=True)
