"""nn modules and their functional forms against torch (modules built on the meta device)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ophelpers import Tz, agree, agree_module, ours_module
from strategies import shapes, sizes

from shapecheck.infer.ops.registry import OpCall, lookup_module
from shapecheck.infer.values import UNKNOWN, ConstValue, DimValue, ModuleValue, TensorValue, TupleValue
from shapecheck.shapes import Dim, Shape

SETTINGS = settings(max_examples=25, deadline=None)
small = st.integers(1, 3)


@SETTINGS
@given(shape=shapes(0, 4), in_f=sizes, out_f=sizes)
def test_linear(shape, in_f, out_f) -> None:  # type: ignore[no-untyped-def]
    agree_module("torch.nn.Linear", (in_f, out_f), {}, Tz(shape))
    agree("torch.nn.functional.linear", F.linear, Tz(shape), Tz((out_f, in_f)))


@SETTINGS
@given(lead=shapes(0, 2), a=sizes, b=sizes, in1=sizes, in2=sizes, out=sizes)
def test_bilinear(lead, a, b, in1, in2, out) -> None:  # type: ignore[no-untyped-def]
    assume(lead)
    agree_module("torch.nn.Bilinear", (in1, in2, out), {}, Tz((*lead, a)), Tz((*lead, b)))


@st.composite
def conv_case(draw: st.DrawFn, n: int) -> tuple:  # type: ignore[type-arg]
    batched = draw(st.booleans())
    c_in = draw(small)
    spatial = tuple(draw(st.integers(1, 9)) for _ in range(n))
    shape = ((draw(small),) if batched else ()) + (draw(st.sampled_from([c_in, c_in, c_in + 1])),) + spatial
    kwargs = {
        "stride": draw(st.integers(1, 3)),
        "padding": draw(st.sampled_from([0, 1, 2, "same", "valid"])),
        "dilation": draw(st.integers(1, 2)),
    }
    if kwargs["padding"] == "same":
        kwargs["stride"] = 1
    return c_in, draw(small), draw(st.integers(1, 4)), kwargs, shape


@pytest.mark.parametrize("n,cls,fname", [(1, "torch.nn.Conv1d", "torch.nn.functional.conv1d"),
                                         (2, "torch.nn.Conv2d", "torch.nn.functional.conv2d"),
                                         (3, "torch.nn.Conv3d", "torch.nn.functional.conv3d")])
@SETTINGS
@given(data=st.data())
def test_conv(n: int, cls: str, fname: str, data) -> None:  # type: ignore[no-untyped-def]
    c_in, c_out, k, kwargs, shape = data.draw(conv_case(n))
    agree_module(cls, (c_in, c_out, k), kwargs, Tz(shape))
    agree(fname, getattr(F, f"conv{n}d"), Tz(shape), Tz((c_out, c_in) + (k,) * n), None, **kwargs)


@pytest.mark.parametrize("n,cls", [(1, "torch.nn.ConvTranspose1d"), (2, "torch.nn.ConvTranspose2d")])
@SETTINGS
@given(data=st.data(), output_padding=st.integers(0, 1))
def test_conv_transpose(n: int, cls: str, data, output_padding) -> None:  # type: ignore[no-untyped-def]
    c_in, c_out, k, kwargs, shape = data.draw(conv_case(n))
    if isinstance(kwargs["padding"], str):
        kwargs["padding"] = 0
    # CPU: the meta kernel does not check the channels. But where the output would be empty the
    # batched CPU kernel returns an empty tensor while meta (and the batch-1 CPU kernel) raise: we
    # follow meta there and report it.
    module = getattr(torch.nn, cls.rsplit(".", 1)[1])(c_in, c_out, k, **kwargs, output_padding=output_padding)
    try:
        empty = module(torch.zeros(shape)).numel() == 0
    except RuntimeError:
        empty = False
    agree_module(cls, (c_in, c_out, k), {**kwargs, "output_padding": output_padding}, Tz(shape),
                 device="meta" if empty else "cpu")


POOLS = [(1, "torch.nn.MaxPool1d", "torch.nn.functional.max_pool1d"), (2, "torch.nn.MaxPool2d", "torch.nn.functional.max_pool2d"),
         (1, "torch.nn.AvgPool1d", "torch.nn.functional.avg_pool1d"), (2, "torch.nn.AvgPool2d", "torch.nn.functional.avg_pool2d")]


@pytest.mark.parametrize("n,cls,fname", POOLS)
@SETTINGS
@given(batched=st.booleans(), spatial=st.lists(st.integers(1, 9), min_size=2, max_size=2), k=st.integers(1, 4),
       stride=st.one_of(st.none(), st.integers(1, 3)), padding=st.integers(0, 2), ceil=st.booleans())
def test_pool(n: int, cls: str, fname: str, batched, spatial, k, stride, padding, ceil) -> None:  # type: ignore[no-untyped-def]
    shape = ((2,) if batched else ()) + (3,) + tuple(spatial[:n])
    agree_module(cls, (k, stride, padding), {"ceil_mode": ceil}, Tz(shape))
    agree(fname, getattr(F, fname.rsplit(".", 1)[1]), Tz(shape), k, stride, padding)


@SETTINGS
@given(shape=shapes(2, 4), out=st.lists(st.one_of(st.none(), st.integers(1, 4)), min_size=2, max_size=2))
def test_adaptive_pool(shape, out) -> None:  # type: ignore[no-untyped-def]
    agree_module("torch.nn.AdaptiveAvgPool2d", (tuple(out),), {}, Tz(shape))
    agree_module("torch.nn.AdaptiveMaxPool1d", (out[1] or 1,), {}, Tz(shape))


@pytest.mark.parametrize("cls", ["torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d", "torch.nn.BatchNorm3d"])
@SETTINGS
@given(shape=shapes(1, 5), c=small)
def test_batch_norm(cls: str, shape, c) -> None:  # type: ignore[no-untyped-def]
    if len(shape) >= 2 and shape[0] * (1 if len(shape) == 2 else shape[2]) == 1:
        shape = (2, *shape[1:])  # batch statistics of one value are a training-time error, not a shape one
    try:
        agree_module(cls, (c,), {}, Tz(shape))
    except AssertionError as exc:
        if "more than 1 value per channel" not in str(exc):
            raise


@SETTINGS
@given(shape=shapes(0, 4), normalized=shapes(1, 2))
def test_layer_norm_group_norm(shape, normalized) -> None:  # type: ignore[no-untyped-def]
    agree_module("torch.nn.LayerNorm", (normalized,), {}, Tz(shape))
    agree_module("torch.nn.RMSNorm", (normalized,), {}, Tz(shape))
    agree("torch.nn.functional.layer_norm", F.layer_norm, Tz(shape), normalized)
    try:
        agree_module("torch.nn.GroupNorm", (1, normalized[0]), {}, Tz(shape))
    except AssertionError as exc:
        if "more than 1 value per channel" not in str(exc):  # a training-time statistic, not a shape error
            raise


@SETTINGS
@given(shape=shapes(0, 3), dim=sizes)
def test_embedding_and_one_hot(shape, dim) -> None:  # type: ignore[no-untyped-def]
    agree_module("torch.nn.Embedding", (10, dim), {}, Tz(shape, torch.int64))
    agree("torch.nn.functional.embedding", F.embedding, Tz(shape, torch.int64), Tz((10, dim)))


@pytest.mark.parametrize("name", ["torch.nn.ReLU", "torch.nn.GELU", "torch.nn.Dropout", "torch.nn.Identity", "torch.nn.Tanh",
                                  "torch.nn.LeakyReLU", "torch.nn.Dropout2d"])
@SETTINGS
@given(shape=shapes(1, 4))
def test_shape_preserving_modules(name: str, shape) -> None:  # type: ignore[no-untyped-def]
    if name == "torch.nn.Dropout2d" and len(shape) not in (3, 4):
        return  # Dropout2d warns on other ranks
    agree_module(name, (), {}, Tz(shape))


@SETTINGS
@given(shape=shapes(0, 4), start=st.integers(-3, 3), end=st.integers(-3, 3), dim=st.integers(-4, 3))
def test_flatten_softmax_modules(shape, start, end, dim) -> None:  # type: ignore[no-untyped-def]
    agree_module("torch.nn.Flatten", (start, end), {}, Tz(shape))
    if len(shape) >= 1:
        agree_module("torch.nn.Softmax", (dim,), {}, Tz(shape), device="cpu")  # meta skips the dim check


@SETTINGS
@given(spatial=shapes(1, 3), size=st.integers(1, 6), scale=st.sampled_from([2, 0.5, 1.5, 3]), use_size=st.booleans())
def test_interpolate(spatial, size, scale, use_size) -> None:  # type: ignore[no-untyped-def]
    shape = (2, 3, *spatial)
    if use_size:
        agree("torch.nn.functional.interpolate", F.interpolate, Tz(shape), size=size)
    else:
        agree("torch.nn.functional.interpolate", F.interpolate, Tz(shape), scale_factor=scale)


@SETTINGS
@given(shape=shapes(0, 4), pads=st.lists(st.integers(-1, 2), max_size=6))
def test_pad(shape, pads) -> None:  # type: ignore[no-untyped-def]
    if not pads:
        return
    agree("torch.nn.functional.pad", F.pad, Tz(shape), tuple(pads))


@SETTINGS
@given(batch=shapes(0, 2), L=sizes, S=sizes, E=sizes, E2=sizes, Ev=sizes, S2=sizes)
def test_sdpa(batch, L, S, E, E2, Ev, S2) -> None:  # type: ignore[no-untyped-def]
    agree("torch.nn.functional.scaled_dot_product_attention", F.scaled_dot_product_attention,
          Tz((*batch, L, E)), Tz((*batch, S, E2)), Tz((*batch, S2, Ev)))


@SETTINGS
@given(L=sizes, S=sizes, N=sizes, N2=sizes, heads=st.sampled_from([1, 2]), batch_first=st.booleans(),
       e=st.sampled_from([2, 4]), e_in=st.sampled_from([2, 4]))
def test_multihead_attention(L, S, N, N2, heads, batch_first, e, e_in) -> None:  # type: ignore[no-untyped-def]
    q = (N, L, e_in) if batch_first else (L, N, e_in)
    kv = (N2, S, e) if batch_first else (S, N2, e)
    agree_module("torch.nn.MultiheadAttention", (e, heads), {"batch_first": batch_first}, Tz(q), Tz(kv), Tz(kv))


@pytest.mark.parametrize("cls", ["torch.nn.LSTM", "torch.nn.GRU", "torch.nn.RNN"])
@SETTINGS
@given(shape=shapes(1, 4), hidden=sizes, layers=st.integers(1, 2), batch_first=st.booleans(), bidir=st.booleans())
def test_rnn(cls: str, shape, hidden, layers, batch_first, bidir) -> None:  # type: ignore[no-untyped-def]
    input_size = shape[-1] if shape[-1] != 5 else 4
    agree_module(cls, (input_size, hidden, layers), {"batch_first": batch_first, "bidirectional": bidir}, Tz(shape))


def test_lstm_proj_size() -> None:
    agree_module("torch.nn.LSTM", (3, 5), {"proj_size": 2, "batch_first": True}, Tz((4, 7, 3)))


@SETTINGS
@given(shape=shapes(1, 4), batch_first=st.booleans())
def test_transformer_encoder_layer(shape, batch_first) -> None:  # type: ignore[no-untyped-def]
    agree_module("torch.nn.TransformerEncoderLayer", (4, 2), {"dim_feedforward": 8, "batch_first": batch_first}, Tz(shape))


# --- symbolic forms ------------------------------------------------------------------------------

def d(name: str) -> DimValue:
    return DimValue(Dim.sym(name))


def call_module(qualname: str, args: tuple, kwargs: dict, *inputs: TensorValue) -> tuple[object, OpCall]:  # type: ignore[type-arg]
    fn = lookup_module(qualname)
    assert fn is not None
    m = ModuleValue(qualname, args, tuple(kwargs.items()))
    call = OpCall(qualname, list(inputs), {}, labels=["x"])
    return fn(m, call), call


def test_linear_symbolic_widening() -> None:
    out, call = call_module("torch.nn.Linear", (d("d_model"), DimValue(Dim.sym("d_model") * 4)), {},
                            TensorValue(Shape.of("b", "s", "d_model")))
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, s, 4 * d_model)" and not call.findings


def test_linear_in_features_mismatch() -> None:
    out, call = call_module("torch.nn.Linear", (ConstValue(512), ConstValue(10)), {}, TensorValue(Shape.of("b", 256)))
    assert out is UNKNOWN and [f.code for f in call.findings] == ["SC101"]
    assert "512" in call.findings[0].message and "256" in call.findings[0].message


def test_conv_symbolic_sizes() -> None:
    x = TensorValue(Shape.of("b", 3, "h", "w"))
    out, call = call_module("torch.nn.Conv2d", (ConstValue(3), ConstValue(16), ConstValue(3)), {"padding": ConstValue(1)}, x)
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, 16, h, w)" and not call.findings
    out, call = call_module("torch.nn.Conv2d", (ConstValue(3), ConstValue(16), ConstValue(3)),
                            {"padding": ConstValue(1), "stride": ConstValue(2)}, x)
    assert isinstance(out, TensorValue) and str(out.shape) == "(b, 16, (h + 1) // 2, (w + 1) // 2)"  # == (h - 1) // 2 + 1
    out, call = call_module("torch.nn.Conv2d", (ConstValue(1), ConstValue(16), ConstValue(3)), {}, x)
    assert out is UNKNOWN and [f.code for f in call.findings] == ["SC101"]


def test_lstm_returns_output_and_state() -> None:
    out, call = call_module("torch.nn.LSTM", (d("d"), d("h")), {"batch_first": ConstValue(True), "num_layers": ConstValue(2)},
                            TensorValue(Shape.of("b", "s", "d")))
    assert isinstance(out, TupleValue) and str(out.items[0].shape) == "(b, s, h)"  # type: ignore[union-attr]
    state = out.items[1]
    assert isinstance(state, TupleValue) and [str(t.shape) for t in state.items] == ["(2, b, h)", "(2, b, h)"]  # type: ignore[union-attr]


def test_ours_module_helper_reports_unknown_for_unknown_input() -> None:
    result, call = ours_module("torch.nn.Linear", (4, 5), {}, ())
    assert result is UNKNOWN and not call.findings
