"""Reductions (`sum mean max min amax amin argmax argmin std var prod norm logsumexp all any`)
with `dim`/`keepdim` (NumPy: `axis`/`keepdims`), and ops that keep the shape but address one axis
(`softmax log_softmax cumsum cumprod`), plus `topk sort argsort kthvalue`.

`x.max(dim)` / `torch.max(x, dim)` return `(values, indices)`; `torch.max(x, y)` is the
element-wise maximum. A dim outside the rank is SC106.
"""

from __future__ import annotations

import dataclasses

from shapecheck.infer import messages
from shapecheck.infer.ops._common import (
    ABSENT,
    ERROR,
    UNSURE,
    as_bool,
    dim_arg,
    dims_arg,
    op_title,
    rank_only,
    tensor,
    unknown_like,
)
from shapecheck.infer.ops.elementwise import broadcast_call
from shapecheck.infer.ops.registry import OpCall, op
from shapecheck.infer.values import UNKNOWN, TensorValue, TupleValue, Value, as_dim, as_int
from shapecheck.shapes import Dim, Shape, compare


def _names(*ops: str, numpy: bool = True) -> list[str]:
    out: list[str] = []
    for name in ops:
        out += [f"torch.{name}", f"Tensor.{name}", f"torch.Tensor.{name}"]
        if numpy:
            out.append(f"numpy.{name}")
    return out


def _dim_value(call: OpCall, position: int) -> tuple[Value | None, str]:
    """The `dim` argument by position or as `dim=` / `axis=` (NumPy and torch both accept axis)."""
    for key in ("dim", "axis"):
        if key in call.kwargs:
            return call.kwargs[key], key
    return call.arg(position), "dim"


def _keepdim(call: OpCall, position: int) -> bool | None:
    for key in ("keepdim", "keepdims"):
        if key in call.kwargs:
            return as_bool(call.kwargs[key])
    if call.name.startswith("numpy."):
        return False
    return as_bool(call.arg(position), default=False)


def reduce_shape(call: OpCall, t: TensorValue, dim_position: int, keep_position: int, *, dtype: str | None | object = ABSENT,
                 origin: str = "reduction") -> Value:
    """Remove (or keep as 1) the reduced axes; no dim reduces everything."""
    new_dtype = t.dtype if dtype is ABSENT else dtype
    keep = _keepdim(call, keep_position)
    rank = t.shape.rank
    value, key = _dim_value(call, dim_position)
    fields = {"dtype": new_dtype, "origin": origin, "contiguous": True}
    if value is None or (hasattr(value, "value") and getattr(value, "value") is None):
        if keep is None:
            return unknown_like(t, **fields)
        if keep and rank is None:
            return unknown_like(t, **fields)
        return dataclasses.replace(t, shape=Shape.of(*([1] * rank)) if keep and rank is not None else Shape.of(), **fields)  # type: ignore[arg-type]
    if rank is None:
        return unknown_like(t, **fields)
    sub = OpCall(call.name, [t, value], {}, call.node, facts=call.facts, labels=call.labels)
    dims = dims_arg(sub, 1, rank, name=key)
    call.findings.extend(sub.findings)
    if dims is ERROR:
        return UNKNOWN
    if dims is UNSURE and keep:
        return rank_only(t, rank, **fields)  # which axes is not known, but they stay as 1s
    if dims is UNSURE or keep is None or dims is ABSENT:
        return unknown_like(t, **fields)
    assert isinstance(dims, list)
    if rank == 0:
        return dataclasses.replace(t, shape=Shape.of(), **fields)  # type: ignore[arg-type]
    if not dims:  # dim=() reduces everything in torch
        return dataclasses.replace(t, shape=Shape.of(*([1] * rank)) if keep else Shape.of(), **fields)  # type: ignore[arg-type]
    out = [Dim.const(1) if i in dims else t.shape[i] for i in range(rank)] if keep else [
        t.shape[i] for i in range(rank) if i not in dims
    ]
    return dataclasses.replace(t, shape=Shape.of(*out), **fields)  # type: ignore[arg-type]


@op(*_names("sum", "mean", "prod", "nansum", "nanmean", "amax", "amin", "std", "var"))
def reduction(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    return reduce_shape(call, t, 1, 2, origin=call.name.rsplit(".", 1)[-1])


@op(*_names("all", "any"))
def all_any(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    return reduce_shape(call, t, 1, 2, dtype="bool" if t.library == "torch" else "bool", origin="all")


@op(*_names("argmax", "argmin"))
def argmax(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    return reduce_shape(call, t, 1, 2, dtype="int64", origin="argmax")


@op(*_names("count_nonzero", numpy=False))
def count_nonzero(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    return reduce_shape(call, t, 1, 99, dtype="int64", origin="count_nonzero")


@op(*_names("logsumexp", numpy=False))
def logsumexp(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    return reduce_shape(call, t, 1, 2, origin="logsumexp")


@op("torch.norm", "Tensor.norm", "torch.Tensor.norm", "torch.linalg.norm", "torch.linalg.vector_norm", "numpy.linalg.norm")
def norm(call: OpCall) -> Value:
    """`norm(x, p, dim, keepdim)`; `linalg.norm(x, ord, dim, keepdim)`."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    return reduce_shape(call, t, 2, 3, origin="norm")


def _tuple_of(values: TensorValue, indices: TensorValue) -> TupleValue:
    return TupleValue((values, indices))


@op(*_names("max", "min"))
def max_min(call: OpCall) -> Value:
    """`x.max()` -> scalar; `x.max(dim)` -> (values, indices); `torch.max(x, y)` -> element-wise."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    second = call.arg(1, "dim")
    if isinstance(second, TensorValue) or "other" in call.kwargs:
        other = call.kwargs.get("other", second)
        return broadcast_call(call, [(t, call.label(0)), (other, call.label(1, "other"))], title=op_title(call), trap=True)
    if call.name.startswith("numpy."):
        return reduce_shape(call, t, 1, 99, origin="max")
    if second is None and "axis" not in call.kwargs:
        return reduce_shape(call, t, 1, 2, origin="max")
    values = reduce_shape(call, t, 1, 2, origin="max")
    if not isinstance(values, TensorValue):
        return values
    return _tuple_of(values, dataclasses.replace(values, dtype="int64", origin="argmax"))


@op(*_names("median", "mode", "nanmedian", numpy=False), "torch.kthvalue", "Tensor.kthvalue", "torch.Tensor.kthvalue")
def median(call: OpCall) -> Value:
    """`median(x)` -> scalar; `median(x, dim)` / `mode(x, dim)` / `kthvalue(x, k, dim)` -> (values, indices)."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    kth = call.name.endswith("kthvalue")
    dim_pos, keep_pos = (2, 3) if kth else (1, 2)
    if call.name.endswith("mode") and call.arg(1, "dim") is None:
        call = OpCall(call.name, call.args, {**call.kwargs, "dim": _const(-1)}, call.node, facts=call.facts,
                      findings=call.findings, labels=call.labels)
    if kth and call.arg(2, "dim") is None:
        call = OpCall(call.name, call.args, {**call.kwargs, "dim": _const(-1)}, call.node, facts=call.facts,
                      findings=call.findings, labels=call.labels)
    values = reduce_shape(call, t, dim_pos, keep_pos, origin="median")
    if call.arg(dim_pos, "dim") is None or not isinstance(values, TensorValue):
        return values
    return _tuple_of(values, dataclasses.replace(values, dtype="int64", origin="argmax"))


def _const(n: int) -> Value:
    from shapecheck.infer.values import ConstValue

    return ConstValue(n)


# --- shape-preserving ops along one axis -----------------------------------------------------------


def along_axis(call: OpCall, t: TensorValue, position: int, origin: str, *, default: int | None = None,
               dtype: str | None | object = ABSENT) -> Value:
    """The result has t's shape; the `dim` argument must address an axis of t."""
    fields = {"origin": origin, "contiguous": True}
    if dtype is not ABSENT:
        fields["dtype"] = dtype
    rank = t.shape.rank
    if rank is not None:
        value, key = _dim_value(call, position)
        if value is None and default is not None:
            value = _const(default)
        if value is not None:
            sub = OpCall(call.name, [t, value], {}, call.node, facts=call.facts, labels=call.labels)
            d = dim_arg(sub, 1, rank, name=key)
            call.findings.extend(sub.findings)
            if d is ERROR:
                return UNKNOWN
    return dataclasses.replace(t, **fields)  # type: ignore[arg-type]


@op("torch.softmax", "torch.log_softmax", "Tensor.softmax", "Tensor.log_softmax", "torch.Tensor.softmax",
    "torch.Tensor.log_softmax", "torch.nn.functional.softmax", "torch.nn.functional.log_softmax",
    "torch.nn.functional.softmin", "torch.special.softmax", "torch.special.log_softmax")
def softmax(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    return along_axis(call, t, 1, call.name.rsplit(".", 1)[-1])


@op(*_names("cumsum", "cumprod", "logcumsumexp", numpy=False), "Tensor.cumsum_", "numpy.cumsum", "numpy.cumprod")
def cumsum(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    if call.name.startswith("numpy.") and call.arg(1, "axis") is None:
        numel = t.shape.numel()
        return dataclasses.replace(t, shape=Shape.of(numel) if numel is not None else Shape.unknown(), origin="cumsum")
    return along_axis(call, t, 1, "cumsum")


@op("torch.cummax", "torch.cummin", "Tensor.cummax", "Tensor.cummin", "torch.Tensor.cummax", "torch.Tensor.cummin")
def cummax(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    values = along_axis(call, t, 1, "cummax")
    if not isinstance(values, TensorValue):
        return values
    return _tuple_of(values, dataclasses.replace(values, dtype="int64"))


@op("torch.sort", "Tensor.sort", "torch.Tensor.sort")
def sort(call: OpCall) -> Value:
    """(values, indices) of t's shape, sorted along `dim` (default -1)."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    if isinstance(call.arg(1), type(_const(0))) and isinstance(getattr(call.arg(1), "value", None), bool):
        call = OpCall(call.name, [t], {**call.kwargs, "descending": call.args[1]}, call.node, facts=call.facts,
                      findings=call.findings, labels=call.labels)
    values = along_axis(call, t, 1, "sort", default=-1)
    if not isinstance(values, TensorValue):
        return values
    return _tuple_of(values, dataclasses.replace(values, dtype="int64", origin="argsort"))


@op("torch.argsort", "Tensor.argsort", "torch.Tensor.argsort")
def argsort(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    return along_axis(call, t, 1, "argsort", default=-1, dtype="int64")


@op("torch.topk", "Tensor.topk", "torch.Tensor.topk")
def topk(call: OpCall) -> Value:
    """`topk(x, k, dim=-1)` -> (values, indices): axis `dim` becomes k; k larger than that axis fails."""
    t = tensor(call.arg(0, "input"))
    k = as_dim(call.arg(1, "k"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    if rank is None or k is None:
        return _tuple_of(unknown_like(t, origin="topk"), unknown_like(t, dtype="int64", origin="topk"))  # type: ignore[arg-type]
    value, key = _dim_value(call, 2)
    sub = OpCall(call.name, [t, value if value is not None else _const(-1)], {}, call.node, facts=call.facts, labels=call.labels)
    d = dim_arg(sub, 1, rank, name=key)
    call.findings.extend(sub.findings)
    if d is ERROR:
        return UNKNOWN
    if d is UNSURE or not isinstance(d, int):
        return _tuple_of(unknown_like(t, origin="topk"), unknown_like(t, dtype="int64", origin="topk"))  # type: ignore[arg-type]
    size = t.shape[d] if rank > 0 else Dim.const(1)
    kv = as_int(call.arg(1, "k"))
    if kv is not None and (kv < 0 or (size.value is not None and kv > size.value)):
        call.report("SC101", *messages.op_error(
            f"{op_title(call)}: k={kv} is larger than axis {d} of {call.label(0)} {t.shape} (size {size})",
            "topk picks k elements along dim; k must be at most that axis's size"))
        return UNKNOWN
    if rank > 0 and compare(k, size, call.facts) == "equal":
        k = size
    shape = Shape.of(*[k if i == d else t.shape[i] for i in range(rank)]) if rank > 0 else Shape.of()
    values = dataclasses.replace(t, shape=shape, origin="topk", contiguous=True)
    return _tuple_of(values, dataclasses.replace(values, dtype="int64"))


@op("torch.nn.functional.cosine_similarity", "torch.cosine_similarity", "torch.nn.functional.pairwise_distance",
    "torch.pairwise_distance")
def cosine_similarity(call: OpCall) -> Value:
    """x1 and x2 broadcast, then `dim` (default 1; -1 for pairwise_distance) is reduced away."""
    a, b = tensor(call.arg(0, "x1")), tensor(call.arg(1, "x2"))
    if a is None or b is None:
        return UNKNOWN
    joined = broadcast_call(call, [(a, call.label(0, "x1")), (b, call.label(1, "x2"))], title=op_title(call), trap=False)
    if not isinstance(joined, TensorValue):
        return joined
    pairwise = call.name.endswith("pairwise_distance")
    if pairwise:
        keep = as_bool(call.arg(4, "keepdim"), default=False)
        call = OpCall(call.name, [joined], {"dim": _const(-1), "keepdim": _const(bool(keep)) if keep is not None else UNKNOWN},
                      call.node, facts=call.facts, findings=call.findings, labels=call.labels)
        return reduce_shape(call, joined, 1, 2, origin="pairwise_distance")
    dim = call.arg(2, "dim")
    call = OpCall(call.name, [joined], {"dim": dim if dim is not None else _const(1)}, call.node, facts=call.facts,
                  findings=call.findings, labels=call.labels)
    return reduce_shape(call, joined, 1, 99, origin="cosine_similarity")
