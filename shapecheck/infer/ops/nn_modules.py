"""`torch.nn` module classes called in `forward`: the constructor arguments (kept on the
`ModuleValue`) fix the contract, the call checks the input against it and gives the output.

Linear, Bilinear, Conv*/ConvTranspose*, pooling, BatchNorm/LayerNorm/GroupNorm/RMSNorm/InstanceNorm,
Embedding, Dropout*, Identity, Flatten/Unflatten, every activation, Softmax/LogSoftmax, Upsample,
padding layers, MultiheadAttention, LSTM/GRU/RNN, TransformerEncoderLayer/DecoderLayer,
einops' Rearrange/Reduce layers (in einops_ops.py). Sequential/ModuleList/ModuleDict belong to
the interpreter (it chains the children).
"""

from __future__ import annotations

import dataclasses

from shapecheck.infer import messages
from shapecheck.infer.ops._common import as_bool, as_str, dim_items, tensor, unknown_like
from shapecheck.infer.ops.functional import (
    adaptive_shape,
    channels_check,
    check_size,
    conv_shape,
    embedding_shape,
    interpolate_shape,
    norm_trailing,
    pad_shape,
    pool_shape,
    tuple_arg,
)
from shapecheck.infer.ops.matmul import linear_shapes
from shapecheck.infer.ops.registry import OpCall, module
from shapecheck.infer.ops.views import flatten, unflatten
from shapecheck.infer.values import UNKNOWN, ConstValue, ModuleValue, TensorValue, TupleValue, Value, as_dim, as_int
from shapecheck.shapes import Dim, Shape

NN = "torch.nn."


def _input(call: OpCall) -> TensorValue | None:
    return tensor(call.arg(0, "input"))


def _label(call: OpCall) -> str:
    return call.label(0, "input")


def _module_title(m: ModuleValue) -> str:
    return m.qualname.rsplit(".", 1)[-1]


@module(f"{NN}Linear", f"{NN}LazyLinear")
def linear(m: ModuleValue, call: OpCall) -> Value:
    """Linear(in_features, out_features): (..., in) -> (..., out)."""
    x = _input(call)
    if x is None:
        return UNKNOWN
    lazy = m.qualname.endswith("LazyLinear")
    out_f = as_dim(m.kwarg("out_features", 0 if lazy else 1))
    in_f = None if lazy else as_dim(m.kwarg("in_features", 0))
    if out_f is None:
        out_f = Dim.unknown()  # (..., ?): the leading axes pass through whatever the feature sizes
    if in_f is not None and x.shape.known and x.shape.suffix and not check_size(
            call, "in_features", in_f, x, -1, _label(call),
            "Linear acts on the LAST axis: it must equal in_features (flatten or permute first if needed)"):
        return UNKNOWN
    weight = TensorValue(Shape.of(out_f, in_f if in_f is not None else Dim.unknown()))
    return linear_shapes(call, x, weight, None, [_label(call), f"{_module_title(m)}.weight"])


@module(f"{NN}Bilinear")
def bilinear(m: ModuleValue, call: OpCall) -> Value:
    """Bilinear(in1, in2, out): (..., in1), (..., in2) -> (..., out)."""
    x1, x2 = tensor(call.arg(0, "input1")), tensor(call.arg(1, "input2"))
    in1, in2, out = (as_dim(m.kwarg(n, i)) for i, n in enumerate(("in1_features", "in2_features", "out_features")))
    if x1 is None or x2 is None or out is None:
        return UNKNOWN
    if x1.shape.rank is None or x2.shape.rank is None:
        return unknown_like(x1, origin="linear")
    if x1.shape.rank != x2.shape.rank or x1.shape.rank == 0:
        call.report("SC101", *messages.op_error(
            f"Bilinear: input1 {x1.shape} and input2 {x2.shape} must have the same batch axes"))
        return UNKNOWN
    for a in range(x1.shape.rank - 1):
        if not check_size(call, "the batch size of input1", x1.shape[a], x2, a, call.label(1, "input2")):
            return UNKNOWN
    if in1 is not None and not check_size(call, "in1_features", in1, x1, -1, call.label(0, "input1")):
        return UNKNOWN
    if in2 is not None and not check_size(call, "in2_features", in2, x2, -1, call.label(1, "input2")):
        return UNKNOWN
    return dataclasses.replace(x1, shape=Shape.of(*x1.shape.dims[:-1], out), origin="linear")


def _conv(n: int, transposed: bool = False):  # type: ignore[no-untyped-def]
    def shape_fn(m: ModuleValue, call: OpCall) -> Value:
        x = _input(call)
        if x is None:
            return UNKNOWN
        in_c = as_dim(m.kwarg("in_channels", 0))
        out_c = as_dim(m.kwarg("out_channels", 1))
        kernel = tuple_arg(m.kwarg("kernel_size", 2), n)
        stride = tuple_arg(m.kwarg("stride", 3), n, 1)
        pad_value = m.kwarg("padding", 4)
        padding = as_str(pad_value) or tuple_arg(pad_value, n, 0)
        if transposed:
            output_padding = tuple_arg(m.kwarg("output_padding", 5), n, 0)
            dilation = tuple_arg(m.kwarg("dilation", 8), n, 1)
        else:
            output_padding = None
            dilation = tuple_arg(m.kwarg("dilation", 5), n, 1)
        if out_c is None:
            out_c = Dim.unknown()  # the batch and spatial axes are still known
        return conv_shape(call, x, n, out_c, in_c, kernel, stride, padding, dilation, _label(call), transposed, output_padding)

    shape_fn.__name__ = f"Conv{n}d" if not transposed else f"ConvTranspose{n}d"
    return shape_fn


for _n in (1, 2, 3):
    module(f"{NN}Conv{_n}d")(_conv(_n))
    module(f"{NN}ConvTranspose{_n}d")(_conv(_n, True))


def _pool(n: int, kind: str):  # type: ignore[no-untyped-def]
    def shape_fn(m: ModuleValue, call: OpCall) -> Value:
        x = _input(call)
        if x is None:
            return UNKNOWN
        kernel = tuple_arg(m.kwarg("kernel_size", 0), n)
        stride_value = m.kwarg("stride", 1)
        stride = kernel if stride_value is None or (isinstance(stride_value, ConstValue) and stride_value.value is None) \
            else tuple_arg(stride_value, n)
        padding = tuple_arg(m.kwarg("padding", 2), n, 0)
        if kind == "max_pool":
            dilation = tuple_arg(m.kwarg("dilation", 3), n, 1)
            ceil = as_bool(m.kwarg("ceil_mode", 5), default=False)
            ret = as_bool(m.kwarg("return_indices", 4), default=False)
        else:
            dilation, ret = [1] * n, False
            ceil = as_bool(m.kwarg("ceil_mode", 3), default=False)
        out = pool_shape(call, x, n, kernel, stride, padding, dilation, ceil, _label(call), kind)
        if ret and isinstance(out, TensorValue):
            return TupleValue((out, dataclasses.replace(out, dtype="int64")))
        return out

    shape_fn.__name__ = f"{kind}{n}d"
    return shape_fn


def _adaptive(n: int):  # type: ignore[no-untyped-def]
    def shape_fn(m: ModuleValue, call: OpCall) -> Value:
        x = _input(call)
        if x is None:
            return UNKNOWN
        out = adaptive_shape(call, x, n, m.kwarg("output_size", 0), _label(call), "Max" not in m.qualname)
        if "Max" in m.qualname and as_bool(m.kwarg("return_indices", 1), default=False) and isinstance(out, TensorValue):
            return TupleValue((out, dataclasses.replace(out, dtype="int64")))
        return out

    shape_fn.__name__ = f"adaptive{n}d"
    return shape_fn


for _n in (1, 2, 3):
    module(f"{NN}MaxPool{_n}d")(_pool(_n, "max_pool"))
    module(f"{NN}AvgPool{_n}d")(_pool(_n, "avg_pool"))
    module(f"{NN}AdaptiveAvgPool{_n}d", f"{NN}AdaptiveMaxPool{_n}d")(_adaptive(_n))


_BN_RANKS = {"BatchNorm1d": (2, 3), "BatchNorm2d": (4,), "BatchNorm3d": (5,),
             "InstanceNorm1d": (2, 3), "InstanceNorm2d": (3, 4), "InstanceNorm3d": (4, 5)}


@module(*[f"{NN}{name}" for name in _BN_RANKS], f"{NN}SyncBatchNorm")
def batch_norm(m: ModuleValue, call: OpCall) -> Value:
    """BatchNorm{1,2,3}d(num_features): channels on axis 1, rank fixed by the class."""
    x = _input(call)
    if x is None:
        return UNKNOWN
    name = _module_title(m)
    ranks = _BN_RANKS.get(name)
    channels = as_dim(m.kwarg("num_features", 0))
    if name.startswith("InstanceNorm") and x.shape.rank is not None and ranks is not None and x.shape.rank == ranks[0]:
        # unbatched instance norm: (C, *spatial), channels on axis 0
        if channels is not None and as_bool(m.kwarg("affine", 2), default=False) and not check_size(
                call, "num_features (channels)", channels, x, 0, _label(call)):
            return UNKNOWN
        return dataclasses.replace(x, origin="batch_norm")
    if name.startswith("InstanceNorm") and not as_bool(m.kwarg("affine", 2), default=False):
        channels = None  # without affine parameters InstanceNorm accepts any channel count (with a warning)
    return channels_check(call, x, channels, _label(call), 2, "batch_norm", ranks)


@module(f"{NN}LayerNorm", f"{NN}RMSNorm")
def layer_norm(m: ModuleValue, call: OpCall) -> Value:
    x = _input(call)
    if x is None:
        return UNKNOWN
    return norm_trailing(call, x, dim_items(m.kwarg("normalized_shape", 0)), _label(call), "layer_norm")


@module(f"{NN}GroupNorm")
def group_norm(m: ModuleValue, call: OpCall) -> Value:
    x = _input(call)
    if x is None:
        return UNKNOWN
    return channels_check(call, x, as_dim(m.kwarg("num_channels", 1)), _label(call), 2, "group_norm")


@module(f"{NN}Embedding")
def embedding(m: ModuleValue, call: OpCall) -> Value:
    """Embedding(num, dim): integer indices of any shape -> (*shape, dim)."""
    x = _input(call)
    dim = as_dim(m.kwarg("embedding_dim", 1))
    if x is None:
        return UNKNOWN
    # an unknown embedding_dim still adds one axis, and the vectors are the weight's floats, not the indices' ints
    return embedding_shape(call, x, dim if dim is not None else Dim.unknown())


_SHAPE_PRESERVING = [
    "Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "ReLU", "ReLU6", "GELU", "SiLU", "Mish", "ELU", "SELU", "CELU", "LeakyReLU", "PReLU", "RReLU", "Sigmoid", "Tanh",
    "Softplus", "Softsign", "Softshrink", "Hardshrink", "Tanhshrink", "Hardtanh", "Hardswish", "Hardsigmoid",
    "LogSigmoid", "Threshold",
]


# torch computes these out of place into a fresh contiguous tensor (checked in tests/test_ops_views.py)
_CONTIGUOUS_RESULT = frozenset({"RReLU", "LogSigmoid"})


@module(*[f"{NN}{name}" for name in _SHAPE_PRESERVING])
def shape_preserving(m: ModuleValue, call: OpCall) -> Value:
    x = _input(call)
    if x is None:
        return UNKNOWN
    name = _module_title(m)
    if name == "Identity":
        return x
    origin = name.lower()
    if x.contiguous is False and x.layout is not None and name not in _CONTIGUOUS_RESULT:
        return dataclasses.replace(x, origin=origin)  # element-wise: keeps a transposed input's memory order
    return dataclasses.replace(x, origin=origin, contiguous=True, layout=None)


@module(f"{NN}Softmax", f"{NN}LogSoftmax", f"{NN}Softmin")
def softmax(m: ModuleValue, call: OpCall) -> Value:
    x = _input(call)
    if x is None:
        return UNKNOWN
    from shapecheck.infer.ops.reduction import along_axis

    dim = m.kwarg("dim", 0)
    inner = OpCall(call.name, [x], {"dim": dim} if dim is not None else {}, call.node, facts=call.facts,
                   findings=call.findings, labels=call.labels)
    return along_axis(inner, x, 1, "log_softmax" if "Log" in m.qualname else "softmax")


@module(f"{NN}Flatten")
def flatten_module(m: ModuleValue, call: OpCall) -> Value:
    x = _input(call)
    if x is None:
        return UNKNOWN
    start = m.kwarg("start_dim", 0) or ConstValue(1)
    end = m.kwarg("end_dim", 1) or ConstValue(-1)
    return flatten(OpCall("Tensor.flatten", [x, start, end], {}, call.node, facts=call.facts, findings=call.findings,
                          labels=call.labels))


@module(f"{NN}Unflatten")
def unflatten_module(m: ModuleValue, call: OpCall) -> Value:
    x = _input(call)
    dim, sizes = m.kwarg("dim", 0), m.kwarg("unflattened_size", 1)
    if x is None or dim is None or sizes is None:
        return UNKNOWN if x is None else unknown_like(x)
    return unflatten(OpCall("Tensor.unflatten", [x, dim, sizes], {}, call.node, facts=call.facts, findings=call.findings,
                            labels=call.labels))


@module(f"{NN}Upsample", f"{NN}UpsamplingNearest2d", f"{NN}UpsamplingBilinear2d")
def upsample(m: ModuleValue, call: OpCall) -> Value:
    x = _input(call)
    if x is None:
        return UNKNOWN
    return interpolate_shape(call, x, m.kwarg("size", 0), m.kwarg("scale_factor", 1), _label(call))


_PADS = {"ZeroPad1d": 1, "ZeroPad2d": 2, "ZeroPad3d": 3, "ConstantPad1d": 1, "ConstantPad2d": 2, "ConstantPad3d": 3}


@module(*[f"{NN}{name}" for name in _PADS])
def pad_module(m: ModuleValue, call: OpCall) -> Value:
    x = _input(call)
    if x is None:
        return UNKNOWN
    n = _PADS[_module_title(m)]
    padding = m.kwarg("padding", 0)
    pads = dim_items(padding)
    if pads is not None and len(pads) == 1:
        pads = pads * (2 * n)
    return pad_shape(call, x, pads, _label(call))


@module(f"{NN}MultiheadAttention")
def multihead_attention(m: ModuleValue, call: OpCall) -> Value:
    """MultiheadAttention(embed_dim, num_heads, ..., batch_first=False)(query, key, value) ->
    (attn_output like query, attn_weights (N, L, S) averaged over heads, or None)."""
    q, k, v = (tensor(call.arg(i, n)) for i, n in ((0, "query"), (1, "key"), (2, "value")))
    if q is None or k is None or v is None:
        return UNKNOWN
    embed = as_dim(m.kwarg("embed_dim", 0))
    kdim = as_dim(m.kwarg("kdim", 6)) or embed
    vdim = as_dim(m.kwarg("vdim", 7)) or embed
    batch_first = as_bool(m.kwarg("batch_first", 8), default=False)
    if any(t.shape.rank is None for t in (q, k, v)) or batch_first is None:
        return TupleValue((unknown_like(q, origin="attention"), UNKNOWN))
    embed_known = embed is not None
    if embed is None:  # torch needs query's last axis to be embed_dim: the output is query's shape
        embed = q.shape[-1] if q.shape.rank else Dim.unknown()
        kdim, vdim = as_dim(m.kwarg("kdim", 6)), as_dim(m.kwarg("vdim", 7))
    rank = q.shape.rank
    if rank not in (2, 3) or k.shape.rank != rank or v.shape.rank != rank:
        call.report("SC101", *messages.op_error(
            f"MultiheadAttention: query {q.shape}, key {k.shape} and value {v.shape} must all be 3-d (batched) or 2-d",
            "batched inputs are (L, N, E), or (N, L, E) with batch_first=True"))
        return UNKNOWN
    for t, dim, label in ((q, embed, "query"), (k, kdim, "key"), (v, vdim, "value")):
        if dim is None or (label == "query" and not embed_known):
            continue
        if not check_size(call, f"the feature size of {label}", dim, t, -1, label):
            return UNKNOWN
    seq_axis = 1 if rank == 3 and batch_first else 0
    if not check_size(call, "the sequence length of key", k.shape[seq_axis], v, seq_axis, "value"):
        return UNKNOWN
    if rank == 3:
        b = 0 if batch_first else 1
        for t, label in ((k, "key"), (v, "value")):
            if not check_size(call, "the batch size of query", q.shape[b], t, b, label,
                              "check batch_first: (L, N, E) by default, (N, L, E) with batch_first=True"):
                return UNKNOWN
    out = dataclasses.replace(q, shape=Shape.of(*q.shape.dims[:-1], embed), origin="attention", contiguous=True)
    need = call.kwargs.get("need_weights", call.arg(4))
    if isinstance(need, ConstValue) and need.value is False:
        return TupleValue((out, ConstValue(None)))
    L, S = q.shape[seq_axis], k.shape[seq_axis]
    average = as_bool(call.kwargs.get("average_attn_weights"), default=True)
    heads = as_dim(m.kwarg("num_heads", 1))
    lead = ([q.shape[0 if batch_first else 1]] if rank == 3 else [])
    if average:
        weights_shape = Shape.of(*lead, L, S)
    elif heads is not None:
        weights_shape = Shape.of(*lead, heads, L, S)
    else:
        return TupleValue((out, UNKNOWN))
    return TupleValue((out, dataclasses.replace(out, shape=weights_shape, origin="softmax")))


@module(f"{NN}LSTM", f"{NN}GRU", f"{NN}RNN")
def rnn(m: ModuleValue, call: OpCall) -> Value:
    """(L, N, H_in) -> output (L, N, D * H_out), h_n (D * num_layers, N, H_out) [, c_n]; batch_first
    puts N first in input and output (not in h_n); unbatched (L, H_in) drops N."""
    x = _input(call)
    if x is None:
        return UNKNOWN
    lstm = m.qualname.endswith("LSTM")
    input_size = as_dim(m.kwarg("input_size", 0))
    hidden = as_dim(m.kwarg("hidden_size", 1))
    layers = as_int(m.kwarg("num_layers", 2)) if m.kwarg("num_layers", 2) is not None else 1
    offset = 1 if m.qualname.endswith("RNN") else 0  # RNN has `nonlinearity` at position 3
    batch_first = as_bool(m.kwarg("batch_first", 4 + offset), default=False)
    bidirectional = as_bool(m.kwarg("bidirectional", 6 + offset), default=False)
    proj = as_int(m.kwarg("proj_size", 7)) if lstm and m.kwarg("proj_size", 7) is not None else 0
    if batch_first is None or bidirectional is None or proj is None:
        return UNKNOWN
    hidden = hidden if hidden is not None else Dim.unknown()  # the sequence and batch axes are still known
    rank = x.shape.rank
    if rank is None:
        return UNKNOWN
    if rank not in (2, 3):
        call.report("SC101", *messages.rank_error(_module_title(m), _label(call), x.shape,
                                                  "a 3-d input (L, N, H_in) (or (N, L, H_in) with batch_first=True) or 2-d unbatched"))
        return UNKNOWN
    if input_size is not None and not check_size(call, "input_size", input_size, x, -1, _label(call),
                                                 "the last axis is the feature size; check batch_first and the axis order"):
        return UNKNOWN
    d = 2 if bidirectional else 1
    h_out = Dim.const(proj) if proj else hidden
    out_dims = list(x.shape.dims[:-1]) + [h_out * d]
    fields = {"origin": m.qualname.rsplit(".", 1)[-1].lower(), "contiguous": True}
    output = dataclasses.replace(x, shape=Shape.of(*out_dims), **fields)  # type: ignore[arg-type]
    batch = [] if rank == 2 else [x.shape[0] if batch_first else x.shape[1]]
    stacked = Dim.const(d * layers) if layers is not None else Dim.unknown()
    h_n = dataclasses.replace(x, shape=Shape.of(stacked, *batch, h_out), **fields)  # type: ignore[arg-type]
    if lstm:
        c_n = dataclasses.replace(x, shape=Shape.of(stacked, *batch, hidden), **fields)  # type: ignore[arg-type]
        return TupleValue((output, TupleValue((h_n, c_n))))
    return TupleValue((output, h_n))


@module(f"{NN}TransformerEncoderLayer", f"{NN}TransformerDecoderLayer", f"{NN}TransformerEncoder",
        f"{NN}TransformerDecoder")
def transformer_layer(m: ModuleValue, call: OpCall) -> Value:
    """Shape-preserving on src (S, N, E) / (N, S, E): the last axis must be d_model."""
    x = _input(call)
    if x is None:
        return UNKNOWN
    inner = m.kwarg("encoder_layer", 0) if "Encoder" in m.qualname else m.kwarg("decoder_layer", 0)
    owner = m if m.qualname.endswith("Layer") else inner
    d_model = as_dim(owner.kwarg("d_model", 0)) if isinstance(owner, ModuleValue) else None
    if x.shape.rank is not None and x.shape.rank not in (2, 3):
        call.report("SC101", *messages.rank_error(_module_title(m), _label(call), x.shape, "a 3-d (batched) or 2-d input"))
        return UNKNOWN
    if d_model is not None and x.shape.known and x.shape.suffix and not check_size(call, "d_model", d_model, x, -1, _label(call)):
        return UNKNOWN
    return dataclasses.replace(x, origin="transformer", contiguous=True)

