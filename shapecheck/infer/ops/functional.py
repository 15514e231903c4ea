"""`torch.nn.functional` ops with spatial arithmetic or parameter contracts, shared with the
module classes in `nn_modules.py`: convolutions, transposed convolutions, pooling, adaptive
pooling, `interpolate`, `pad`, `one_hot`, `embedding`, `layer_norm`/`group_norm`/`batch_norm`,
`scaled_dot_product_attention`.

Output sizes are floor expressions over Dims, so a symbolic height stays symbolic:
conv 3x3 padding 1 keeps `h`; stride 2 gives `(h - 1) // 2 + 1`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from shapecheck.infer import messages
from shapecheck.infer.ops._common import as_float, as_str, dim_items, int_items, tensor, unknown_like
from shapecheck.infer.ops.registry import OpCall, op
from shapecheck.infer.values import UNKNOWN, ConstValue, TensorValue, TupleValue, Value, as_dim, as_int
from shapecheck.shapes import Dim, Shape, broadcast, compare

F = "torch.nn.functional."


def tuple_arg(value: Value | None, n: int, default: int | None = None) -> list[int] | None:
    """An int or n-tuple of ints (kernel_size=3 / (3, 3)) as n ints; None if unknown."""
    if value is None or (isinstance(value, ConstValue) and value.value is None):
        return [default] * n if default is not None else None
    items = int_items(value)
    if items is None:
        return None
    if len(items) == 1:
        return items * n
    return items if len(items) == n else None


def _named(d: Dim) -> bool:
    return not d.is_const and not d.is_unknown


def check_size(call: OpCall, what: str, expected: Dim, t: TensorValue, axis: int, label: str, hint: str = "") -> bool:
    """Axis `axis` of t must be `expected` (e.g. in_channels): SC101 if it definitely is not,
    SC103 if two differently named dims must be equal. False after an SC101."""
    got = t.shape[axis]
    verdict = compare(got, expected, call.facts)
    pos = axis + t.shape.rank if axis < 0 and t.shape.rank is not None else axis
    if verdict == "different":
        call.report("SC101", *messages.size_mismatch(_title(call), what, expected, got, t.shape, label, pos, hint))
        return False
    if verdict == "unknown" and _named(got) and _named(expected):
        call.report("SC103", *messages.size_assumption(_title(call), what, expected, got, t.shape, label, pos))
    return True


def _title(call: OpCall) -> str:
    name = call.name
    if name.startswith("torch.nn.functional."):
        return "F." + name[len("torch.nn.functional."):] + "()"
    if name.startswith("torch.nn."):
        return name[len("torch.nn."):]
    return name


def spatial_rank_ok(call: OpCall, t: TensorValue, n: int, label: str, what: str) -> bool | None:
    """Input of an n-d spatial op is (N, C, *n) or unbatched (C, *n). None if rank unknown."""
    rank = t.shape.rank
    if rank is None:
        return None
    if rank not in (n + 1, n + 2):
        call.report("SC101", *messages.rank_error(_title(call), label, t.shape, f"a {n + 1}-d (unbatched) or {n + 2}-d (batched) input for {what}"))
        return False
    return True


def conv_out(size: Dim, k: int, s: int, p: int, d: int) -> Dim:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv_transpose_out(size: Dim, k: int, s: int, p: int, d: int, op_: int) -> Dim:
    return (size - 1) * s - 2 * p + d * (k - 1) + op_ + 1


def _positive(call: OpCall, t: TensorValue, sizes: Sequence[Dim], what: str, label: str, allow_zero: bool = False) -> bool:
    bad = [s for s in sizes if s.value is not None and (s.value < 0 if allow_zero else s.value <= 0)]
    if bad:
        call.report("SC101", *messages.op_error(
            f"{_title(call)}: {label} {t.shape} is too small for {what}: the output size would be {bad[0].value}",
            "the kernel (with dilation) must fit inside the padded input"))
        return False
    return True


def conv_shape(call: OpCall, t: TensorValue, n: int, out_channels: Dim, in_channels: Dim | None, kernel: list[int] | None,
               stride: list[int] | None, padding: list[int] | str | None, dilation: list[int] | None, label: str,
               transposed: bool = False, output_padding: list[int] | None = None) -> Value:
    """The shared conv/conv-transpose shape function (modules and F.* both land here)."""
    ok = spatial_rank_ok(call, t, n, label, f"conv{n}d")
    if ok is False:
        return UNKNOWN
    fields = {"origin": "conv", "contiguous": True}
    if ok is None:
        return unknown_like(t, **fields)
    channel_axis = t.shape.rank - n - 1  # type: ignore[operator]
    if in_channels is not None and not check_size(call, "in_channels", in_channels, t, channel_axis, label):
        return UNKNOWN
    lead = list(t.shape.dims[:channel_axis])
    spatial = list(t.shape.dims[channel_axis + 1:])
    if kernel is None or stride is None or dilation is None or padding is None:
        return dataclasses.replace(t, shape=Shape.of(*lead, out_channels, *[Dim.unknown()] * n), **fields)  # type: ignore[arg-type]
    if isinstance(padding, str):
        if padding == "same":
            out = spatial
        elif padding == "valid":
            out = [conv_out(L, k, s, 0, d) for L, k, s, d in zip(spatial, kernel, stride, dilation)]
        else:
            return unknown_like(t, **fields)
    elif transposed:
        opad = output_padding or [0] * n
        for o, s_, d_ in zip(opad, stride, dilation):
            if o >= max(s_, d_):
                call.report("SC101", *messages.op_error(
                    f"{_title(call)}: output_padding {o} must be smaller than the stride ({s_}) or the dilation ({d_})"))
                return UNKNOWN
        out = [conv_transpose_out(L, k, s, p, d, o) for L, k, s, p, d, o in zip(spatial, kernel, stride, padding, dilation, opad)]
    else:
        out = [conv_out(L, k, s, p, d) for L, k, s, p, d in zip(spatial, kernel, stride, padding, dilation)]
    if call.facts is not None:
        out = [call.facts.simplify(o) for o in out]
    # An output size of 0 is reported for transposed convolutions too: the meta kernel and the
    # unbatched (or batch-1) CPU kernel raise "Output size is too small"; only the batched CPU
    # kernel returns an empty tensor, which no training code wants.
    if not _positive(call, t, out, f"kernel {tuple(kernel)}", label):
        return UNKNOWN
    return dataclasses.replace(t, shape=Shape.of(*lead, out_channels, *out), **fields)  # type: ignore[arg-type]


def _padding(value: Value | None, n: int) -> list[int] | str | None:
    s = as_str(value)
    if s is not None:
        return s
    return tuple_arg(value, n, 0)


def _conv_functional(n: int, transposed: bool = False):  # type: ignore[no-untyped-def]
    def shape_fn(call: OpCall) -> Value:
        t, w = tensor(call.arg(0, "input")), tensor(call.arg(1, "weight"))
        if t is None or w is None:
            return UNKNOWN
        if w.shape.rank is None:
            return unknown_like(t, origin="conv")
        if w.shape.rank != n + 2:
            call.report("SC101", *messages.rank_error(_title(call), call.label(1, "weight"), w.shape, f"a {n + 2}-d weight"))
            return UNKNOWN
        if transposed:
            # conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation)
            groups = as_int(call.arg(6, "groups")) if call.arg(6, "groups") is not None else 1
            out_c = w.shape[1] * groups if groups else Dim.unknown()
            in_c = w.shape[0]
            return conv_shape(call, t, n, out_c, in_c, [w.shape[2 + i].value for i in range(n)] if all(
                w.shape[2 + i].value is not None for i in range(n)) else None,  # type: ignore[arg-type]
                tuple_arg(call.arg(3, "stride"), n, 1), _padding(call.arg(4, "padding"), n),
                tuple_arg(call.arg(7, "dilation"), n, 1), call.label(0, "input"), True,
                tuple_arg(call.arg(5, "output_padding"), n, 0))
        groups = as_int(call.arg(6, "groups")) if call.arg(6, "groups") is not None else 1
        in_c = w.shape[1] * groups if groups else None
        kernel = [w.shape[2 + i].value for i in range(n)]
        return conv_shape(call, t, n, w.shape[0], in_c, kernel if None not in kernel else None,  # type: ignore[arg-type]
                          tuple_arg(call.arg(3, "stride"), n, 1), _padding(call.arg(4, "padding"), n),
                          tuple_arg(call.arg(5, "dilation"), n, 1), call.label(0, "input"))

    shape_fn.__name__ = f"conv{n}d" if not transposed else f"conv_transpose{n}d"
    return shape_fn


for _n in (1, 2, 3):
    op(f"{F}conv{_n}d", f"torch.conv{_n}d")(_conv_functional(_n))
    op(f"{F}conv_transpose{_n}d", f"torch.conv_transpose{_n}d")(_conv_functional(_n, True))


def pool_shape(call: OpCall, t: TensorValue, n: int, kernel: list[int] | None, stride: list[int] | None,
               padding: list[int] | None, dilation: list[int] | None, ceil_mode: bool | None, label: str, kind: str) -> Value:
    ok = spatial_rank_ok(call, t, n, label, f"{kind}{n}d")
    if ok is False:
        return UNKNOWN
    fields = {"origin": "pool", "contiguous": True}
    if ok is None or kernel is None or stride is None or padding is None or dilation is None or ceil_mode is None:
        return unknown_like(t, **fields) if ok is None else dataclasses.replace(
            t, shape=Shape.of(*t.shape.dims[: t.shape.rank - n], *[Dim.unknown()] * n), **fields)  # type: ignore[operator,arg-type]
    for k, p, d in zip(kernel, padding, dilation):
        if k <= 0 or d <= 0:
            return unknown_like(t, **fields)
        effective = d * (k - 1) + 1 if kind == "max_pool" else k
        if p * 2 > effective:
            call.report("SC101", *messages.op_error(
                f"{_title(call)}: padding {p} is more than half the kernel size {k}",
                "pooling pads at most half of the (effective) kernel on each side"))
            return UNKNOWN
    if any(s <= 0 for s in stride):
        return unknown_like(t, **fields)
    rank = t.shape.rank or 0
    lead = list(t.shape.dims[: rank - n])
    spatial = list(t.shape.dims[rank - n:])
    out = []
    for L, k, s, p, d in zip(spatial, kernel, stride, padding, dilation):
        span = L + 2 * p - d * (k - 1) - 1
        if not ceil_mode:
            out.append(span // s + 1)
            continue
        if L.value is None:
            out.append(Dim.unknown())
            continue
        size = -(-span.value // s) + 1 if span.value is not None else None  # type: ignore[operator]
        if size is not None and (size - 1) * s >= L.value + p:
            size -= 1
        out.append(Dim.const(size) if size is not None else Dim.unknown())
    if call.facts is not None:
        out = [call.facts.simplify(o) for o in out]
    if not _positive(call, t, out, f"kernel {tuple(kernel)}", label):
        return UNKNOWN
    return dataclasses.replace(t, shape=Shape.of(*lead, *out), **fields)  # type: ignore[arg-type]


def _pool_functional(n: int, kind: str):  # type: ignore[no-untyped-def]
    def shape_fn(call: OpCall) -> Value:
        t = tensor(call.arg(0, "input"))
        if t is None:
            return UNKNOWN
        kernel = tuple_arg(call.arg(1, "kernel_size"), n)
        stride_value = call.arg(2, "stride")
        stride = kernel if stride_value is None or (isinstance(stride_value, ConstValue) and stride_value.value is None) \
            or (isinstance(stride_value, TupleValue) and not stride_value.items) else tuple_arg(stride_value, n)
        padding = tuple_arg(call.arg(3, "padding"), n, 0)
        if kind == "max_pool":
            dilation = tuple_arg(call.arg(4, "dilation"), n, 1)
            ceil = call.arg(5, "ceil_mode")
        else:
            dilation = [1] * n
            ceil = call.arg(4, "ceil_mode")
        ceil_mode = False if ceil is None else (bool(ceil.value) if isinstance(ceil, ConstValue) else None)
        out = pool_shape(call, t, n, kernel, stride, padding, dilation, ceil_mode, call.label(0, "input"), kind)
        ret = call.arg(6, "return_indices") if kind == "max_pool" else None
        if isinstance(out, TensorValue) and isinstance(ret, ConstValue) and ret.value is True:
            return TupleValue((out, dataclasses.replace(out, dtype="int64")))
        return out

    shape_fn.__name__ = f"{kind}{n}d"
    return shape_fn


for _n in (1, 2, 3):
    op(f"{F}max_pool{_n}d", f"torch.max_pool{_n}d")(_pool_functional(_n, "max_pool"))
    op(f"{F}avg_pool{_n}d", f"torch.avg_pool{_n}d")(_pool_functional(_n, "avg_pool"))


def _adaptive_shortcut(t: TensorValue, n: int, output_size: Value | None, call: OpCall) -> Shape | None:
    """The shape when adaptive average pooling takes torch's shortcut (output all 1, or equal to
    the input's last n sizes) on an input whose rank is not n + 1 / n + 2; None otherwise."""
    rank = t.shape.rank
    if n == 1 or rank is None or rank in (n + 1, n + 2) or rank < n:
        return None
    items = list(output_size.items) if isinstance(output_size, TupleValue) else [output_size] * n
    if len(items) != n:
        return None
    if rank < n + 1 and isinstance(output_size, TupleValue):
        return None  # torch reads a tuple output_size against the input's sizes: it needs n + 1 dims
    spatial = list(t.shape.dims[rank - n:])
    sizes = [None if v is None or (isinstance(v, ConstValue) and v.value is None) else as_dim(v) for v in items]
    if all(s is not None and s.value == 1 for s in sizes):
        return Shape.of(*t.shape.dims[: rank - n], *[1] * n)
    if all(s is None or compare(s, d, call.facts) == "equal" for s, d in zip(sizes, spatial)):
        return t.shape
    return None


def adaptive_shape(call: OpCall, t: TensorValue, n: int, output_size: Value | None, label: str, average: bool = True) -> Value:
    shortcut = _adaptive_shortcut(t, n, output_size, call) if average else None
    if shortcut is not None:
        # torch's adaptive average pooling to size 1 (a global mean) or to the input's own size
        # skips the rank check: any rank >= n works
        return dataclasses.replace(t, shape=shortcut, origin="pool", contiguous=True)
    ok = spatial_rank_ok(call, t, n, label, f"adaptive pooling {n}d")
    if ok is False:
        return UNKNOWN
    fields = {"origin": "pool", "contiguous": True}
    if ok is None:
        return unknown_like(t, **fields)
    rank = t.shape.rank or 0
    spatial = list(t.shape.dims[rank - n:])
    if isinstance(output_size, TupleValue):
        items = list(output_size.items)
    else:
        items = [output_size] * n
    if len(items) != n:
        call.report("SC101", *messages.op_error(f"{_title(call)}: output_size has {len(items)} entries, expected {n}"))
        return UNKNOWN
    out = []
    for L, item in zip(spatial, items):
        if item is None or (isinstance(item, ConstValue) and item.value is None):
            out.append(L)
        else:
            d = as_dim(item)
            out.append(d if d is not None else Dim.unknown())
    return dataclasses.replace(t, shape=Shape.of(*t.shape.dims[: rank - n], *out), **fields)  # type: ignore[arg-type]


def _adaptive_functional(n: int):  # type: ignore[no-untyped-def]
    def shape_fn(call: OpCall) -> Value:
        t = tensor(call.arg(0, "input"))
        if t is None:
            return UNKNOWN
        out = adaptive_shape(call, t, n, call.arg(1, "output_size"), call.label(0, "input"), "max" not in call.name)
        ret = call.arg(2, "return_indices")
        if "max" in call.name and isinstance(out, TensorValue) and isinstance(ret, ConstValue) and ret.value is True:
            return TupleValue((out, dataclasses.replace(out, dtype="int64")))
        return out

    shape_fn.__name__ = f"adaptive_pool{n}d"
    return shape_fn


for _n in (1, 2, 3):
    op(f"{F}adaptive_avg_pool{_n}d", f"{F}adaptive_max_pool{_n}d", f"torch.adaptive_avg_pool{_n}d")(_adaptive_functional(_n))


def interpolate_shape(call: OpCall, t: TensorValue, size: Value | None, scale: Value | None, label: str) -> Value:
    """`interpolate(x, size=...)` or `scale_factor=...` on the spatial axes (all but the first two)."""
    rank = t.shape.rank
    fields = {"origin": "interpolate", "contiguous": True}
    if rank is None:
        return unknown_like(t, **fields)
    if rank < 3:
        call.report("SC101", *messages.rank_error(_title(call), label, t.shape, "a batched input (N, C, *spatial) of 3 to 5 dims"))
        return UNKNOWN
    n = rank - 2
    has_size = size is not None and not (isinstance(size, ConstValue) and size.value is None)
    has_scale = scale is not None and not (isinstance(scale, ConstValue) and scale.value is None)
    if has_size == has_scale:
        if has_size:
            call.report("SC101", *messages.op_error(f"{_title(call)}: only one of size or scale_factor should be given"))
            return UNKNOWN
        return unknown_like(t, **fields)
    spatial = list(t.shape.dims[2:])
    if has_size:
        sizes = dim_items(size)
        if sizes is None:
            return unknown_like(t, **fields)
        if len(sizes) == 1:
            sizes = sizes * n
        if len(sizes) != n:
            call.report("SC101", *messages.op_error(
                f"{_title(call)}: size has {len(sizes)} entries but {label} {t.shape} has {n} spatial axes"))
            return UNKNOWN
        out = sizes
    else:
        if isinstance(scale, TupleValue):
            factors = [as_float(v) for v in scale.items]
        else:
            factors = [as_float(scale)] * n
        if len(factors) != n:
            call.report("SC101", *messages.op_error(
                f"{_title(call)}: scale_factor has {len(factors)} entries but {label} {t.shape} has {n} spatial axes"))
            return UNKNOWN
        out = []
        for L, f in zip(spatial, factors):
            if f is None:
                out.append(Dim.unknown())
            elif L.value is not None:
                out.append(Dim.const(math.floor(L.value * f)))
            elif float(f).is_integer():
                out.append(L * int(f))
            else:
                out.append(Dim.unknown())
    if not _positive(call, t, out, "this size/scale_factor", label):
        return UNKNOWN
    return dataclasses.replace(t, shape=Shape.of(*t.shape.dims[:2], *out), **fields)  # type: ignore[arg-type]


@op(f"{F}interpolate", f"{F}upsample")
def interpolate(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    return interpolate_shape(call, t, call.arg(1, "size"), call.arg(2, "scale_factor"), call.label(0, "input"))


def pad_shape(call: OpCall, t: TensorValue, pads: list[Dim] | None, label: str) -> Value:
    """`F.pad(x, (left, right, top, bottom, ...))`: pads the last axes, starting from the last."""
    fields = {"origin": "pad", "contiguous": True}
    rank = t.shape.rank
    if pads is None or rank is None:
        return unknown_like(t, **fields)
    if len(pads) % 2:
        call.report("SC101", *messages.op_error(f"{_title(call)}: the padding has an odd number of entries ({len(pads)})",
                                                 "pads come in (before, after) pairs, last axis first"))
        return UNKNOWN
    if len(pads) // 2 > rank:
        call.report("SC101", *messages.op_error(
            f"{_title(call)}: {len(pads) // 2} axes padded but {label} {t.shape} has only {rank}"))
        return UNKNOWN
    dims = list(t.shape.dims)
    for i in range(len(pads) // 2):
        axis = rank - 1 - i
        dims[axis] = dims[axis] + pads[2 * i] + pads[2 * i + 1]
        if dims[axis].value is not None and dims[axis].value < 0:
            call.report("SC101", *messages.op_error(
                f"{_title(call)}: padding {tuple(str(p) for p in pads)} makes axis {axis} of {label} {t.shape} negative"))
            return UNKNOWN
    return dataclasses.replace(t, shape=Shape.of(*dims), **fields)  # type: ignore[arg-type]


@op(f"{F}pad", "torch.constant_pad_nd")
def pad(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    mode = as_str(call.arg(2, "mode")) or "constant"
    if mode != "constant":
        return unknown_like(t, origin="pad")  # reflect/replicate/circular have rank and size limits of their own
    return pad_shape(call, t, dim_items(call.arg(1, "pad")), call.label(0, "input"))


@op(f"{F}one_hot")
def one_hot(call: OpCall) -> Value:
    t = tensor(call.arg(0, "tensor"))
    if t is None:
        return UNKNOWN
    n = as_dim(call.arg(1, "num_classes"))
    classes = Dim.unknown() if n is None or n.value == -1 else n
    if t.shape.rank is None and not t.shape.known:
        return unknown_like(t, dtype="int64", origin="one_hot")
    return dataclasses.replace(t, shape=Shape.of(*t.shape.axes, classes), dtype="int64", origin="one_hot")


def embedding_shape(call: OpCall, t: TensorValue, dim: Dim) -> Value:
    if not t.shape.known:
        return unknown_like(t, dtype=None, origin="embedding")
    return dataclasses.replace(t, shape=Shape.of(*t.shape.axes, dim), dtype="float32", origin="embedding", contiguous=True)


@op(f"{F}embedding")
def embedding(call: OpCall) -> Value:
    t, w = tensor(call.arg(0, "input")), tensor(call.arg(1, "weight"))
    if t is None or w is None:
        return UNKNOWN
    if w.shape.rank is None:
        return unknown_like(t, origin="embedding", dtype=w.dtype, device=w.device)
    if w.shape.rank != 2:
        call.report("SC101", *messages.rank_error(_title(call), call.label(1, "weight"), w.shape, "a 2-d weight"))
        return UNKNOWN
    out = embedding_shape(call, t, w.shape[1])
    return dataclasses.replace(out, dtype=w.dtype, device=w.device) if isinstance(out, TensorValue) else out


def norm_trailing(call: OpCall, t: TensorValue, normalized: list[Dim] | None, label: str, origin: str) -> Value:
    """LayerNorm/RMSNorm: the last len(normalized_shape) axes must be normalized_shape."""
    fields = {"origin": origin, "contiguous": True}
    if normalized is None or not t.shape.known:
        return dataclasses.replace(t, **fields)  # type: ignore[arg-type]
    if t.shape.rank is not None and t.shape.rank < len(normalized):
        call.report("SC101", *messages.rank_error(_title(call), label, t.shape, f"at least {len(normalized)} dims (normalized_shape {tuple(str(d) for d in normalized)})"))
        return UNKNOWN
    if len(t.shape.suffix) < len(normalized):
        return dataclasses.replace(t, **fields)  # type: ignore[arg-type]
    for i, d in enumerate(normalized):
        axis = -len(normalized) + i
        if not check_size(call, "normalized_shape", d, t, axis, label,
                          "LayerNorm normalises the LAST axes; they must equal normalized_shape"):
            return UNKNOWN
    return dataclasses.replace(t, **fields)  # type: ignore[arg-type]


@op(f"{F}layer_norm", f"{F}rms_norm", "torch.layer_norm")
def layer_norm(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    return norm_trailing(call, t, dim_items(call.arg(1, "normalized_shape")), call.label(0, "input"), "layer_norm")


def channels_check(call: OpCall, t: TensorValue, channels: Dim | None, label: str, min_rank: int, origin: str,
                   ranks: tuple[int, ...] | None = None) -> Value:
    """BatchNorm/GroupNorm/InstanceNorm: axis 1 (channels) must be `channels`."""
    fields = {"origin": origin, "contiguous": True}
    rank = t.shape.rank
    if rank is None:
        return dataclasses.replace(t, **fields)  # type: ignore[arg-type]
    if (ranks is not None and rank not in ranks) or rank < min_rank:
        expected = " or ".join(f"{r}-d" for r in ranks) if ranks else f"at least {min_rank}-d"
        call.report("SC101", *messages.rank_error(_title(call), label, t.shape, f"a {expected} input"))
        return UNKNOWN
    if channels is not None and not check_size(call, "num_features (channels, axis 1)", channels, t, 1, label,
                                               "normalisation layers read channels from axis 1: (N, C, ...)"):
        return UNKNOWN
    return dataclasses.replace(t, **fields)  # type: ignore[arg-type]


@op(f"{F}batch_norm", f"{F}instance_norm")
def batch_norm(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    mean = tensor(call.arg(1, "running_mean"))
    channels = mean.shape[0] if mean is not None and mean.shape.rank == 1 else None
    return channels_check(call, t, channels, call.label(0, "input"), 2, "batch_norm")


@op(f"{F}group_norm")
def group_norm(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    groups = as_int(call.arg(1, "num_groups"))
    if groups and t.shape.rank is not None and t.shape.rank >= 2:
        c = t.shape[1].value
        if c is not None and c % groups:
            call.report("SC101", *messages.op_error(f"{_title(call)}: {c} channels cannot be split into {groups} groups"))
            return UNKNOWN
    return channels_check(call, t, None, call.label(0, "input"), 2, "group_norm")


def attention_shape(call: OpCall, q: TensorValue, k: TensorValue, v: TensorValue) -> Value:
    """q (..., L, E), k (..., S, E), v (..., S, Ev) -> (..., L, Ev)."""
    fields = {"origin": "attention", "contiguous": True}
    if any(len(x.shape.suffix) < 2 and x.shape.rank is None for x in (q, k, v)):
        return unknown_like(q, **fields)
    for x, label in ((q, "query"), (k, "key"), (v, "value")):
        if x.shape.rank is not None and x.shape.rank < 2:
            call.report("SC101", *messages.rank_error(_title(call), label, x.shape, "at least 2 dims (..., seq, features)"))
            return UNKNOWN
    from shapecheck.infer.ops.matmul import check_inner

    if not check_inner(call, q, k, -1, -1, ["query", "key"], "query and key must have the same feature size E"):
        return UNKNOWN
    if not check_inner(call, k, v, -2, -2, ["key", "value"], "key and value must have the same sequence length S"):
        return UNKNOWN
    batch = [Shape.of(*x.shape.axes[:-2]) for x in (q, k, v)]
    result = broadcast(*batch, facts=call.facts)
    if not result.ok:
        call.report("SC101", *messages.broadcast_error(_title(call) + " batch axes", batch, ["query", "key", "value"], result))
        return UNKNOWN
    if result.shape is None or not result.shape.known:
        return unknown_like(q, **fields)
    return dataclasses.replace(q, shape=Shape.of(*result.shape.axes, q.shape[-2], v.shape[-1]), **fields)  # type: ignore[arg-type]


@op(f"{F}scaled_dot_product_attention")
def scaled_dot_product_attention(call: OpCall) -> Value:
    q, k, v = (tensor(call.arg(i, n)) for i, n in ((0, "query"), (1, "key"), (2, "value")))
    if q is None or k is None or v is None:
        return UNKNOWN
    return attention_shape(call, q, k, v)


@op(f"{F}glu", "torch.glu")
def glu(call: OpCall) -> Value:
    """`F.glu(x, dim=-1)`: axis `dim` is halved; it must have an even size."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = t.shape.rank
    if rank is None:
        return unknown_like(t, origin="glu")
    if rank == 0:
        call.report("SC101", *messages.rank_error(_title(call), call.label(0, "input"), t.shape, "at least 1 dim"))
        return UNKNOWN
    from shapecheck.infer.ops._common import ERROR, dim_arg

    d = dim_arg(call, 1, rank)
    if d is ERROR:
        return UNKNOWN
    axis = rank - 1 if not isinstance(d, int) else d
    if not isinstance(d, int) and call.arg(1, "dim") is not None:
        return unknown_like(t, origin="glu")
    size = t.shape[axis]
    if size.value is not None and size.value % 2:
        call.report("SC101", *messages.op_error(
            f"{_title(call)}: axis {axis} of {call.label(0, 'input')} {t.shape} has odd size {size.value}; glu halves it"))
        return UNKNOWN
    return dataclasses.replace(t, shape=t.shape.replace(axis, size // 2), origin="glu", contiguous=True)
