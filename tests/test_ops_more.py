"""The remaining spellings against torch/NumPy/einops: functional pools and transposed convs,
norms, padding/upsampling layers, `*_as`, `new_*`, counts and norms."""

from __future__ import annotations

import warnings

import einops
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Tz, agree, agree_cpu, agree_module, agree_numpy, ours_module, value_shapes
from strategies import related_shapes, shapes, sizes

SETTINGS = settings(max_examples=20, deadline=None)


@pytest.mark.parametrize("name,fn,n", [
    ("torch.nn.functional.adaptive_avg_pool1d", F.adaptive_avg_pool1d, 1),
    ("torch.nn.functional.adaptive_avg_pool2d", F.adaptive_avg_pool2d, 2),
    ("torch.nn.functional.adaptive_max_pool2d", F.adaptive_max_pool2d, 2),
    ("torch.nn.functional.adaptive_avg_pool3d", F.adaptive_avg_pool3d, 3),
])
@SETTINGS
@given(shape=shapes(2, 5), out=sizes)
def test_functional_adaptive_pools(name: str, fn, n: int, shape, out) -> None:  # type: ignore[no-untyped-def]
    if "avg" in name and all(d == out for d in shape[-n:]):
        return  # torch skips its rank check when the output equals the input size (not modelled)
    agree(name, fn, Tz(shape), out)


@pytest.mark.parametrize("name,fn,n", [
    ("torch.nn.functional.conv_transpose1d", F.conv_transpose1d, 1),
    ("torch.nn.functional.conv_transpose2d", F.conv_transpose2d, 2),
])
@SETTINGS
@given(batch=st.booleans(), c_in=sizes, c_w=sizes, c_out=sizes, length=st.integers(1, 6), k=st.integers(1, 3),
       stride=st.integers(1, 2), padding=st.integers(0, 1))
def test_functional_conv_transpose(name: str, fn, n: int, batch, c_in, c_w, c_out, length, k, stride, padding) -> None:  # type: ignore[no-untyped-def]
    shape = ((2,) if batch else ()) + (c_in,) + (length,) * n
    try:  # an empty output: the batched CPU kernel returns it, meta raises, and so do we (see test_ops_nn)
        empty = fn(torch.zeros(shape), torch.zeros((c_w, c_out) + (k,) * n), None, stride, padding).numel() == 0
    except RuntimeError:
        empty = False
    weight = Tz((c_w, c_out) + (k,) * n)
    if empty:
        agree(name, fn, Tz(shape), weight, None, stride, padding)
    else:
        agree_cpu(name, fn, Tz(shape), weight, None, stride, padding)


@pytest.mark.parametrize("cls,n", [("torch.nn.MaxPool3d", 3), ("torch.nn.AvgPool3d", 3), ("torch.nn.AdaptiveAvgPool3d", 3),
                                   ("torch.nn.AdaptiveMaxPool3d", 3), ("torch.nn.ConvTranspose3d", 3)])
@SETTINGS
@given(shape=shapes(3, 5), k=st.integers(1, 2))
def test_3d_layers(cls: str, n: int, shape, k) -> None:  # type: ignore[no-untyped-def]
    if cls.endswith("ConvTranspose3d"):
        agree_module(cls, (shape[-4] if len(shape) >= 4 else 1, 2, k), {}, Tz(shape), device="cpu")
    elif "Adaptive" in cls and all(d == k for d in shape[-n:]):
        return  # the identity shortcut of adaptive pooling skips the rank check (not modelled)
    else:
        agree_module(cls, (k,), {}, Tz(shape))


@SETTINGS
@given(shape=shapes(1, 4), c=sizes, groups=st.integers(1, 3))
def test_functional_norms(shape, c, groups) -> None:  # type: ignore[no-untyped-def]
    for name, fn, args in [("torch.nn.functional.batch_norm", F.batch_norm, (Tz((c,)), Tz((c,)))),
                           ("torch.nn.functional.group_norm", F.group_norm, (groups,)),
                           ("torch.nn.functional.instance_norm", F.instance_norm, (Tz((c,)), Tz((c,))))]:
        try:
            agree_cpu(name, fn, Tz(shape), *args)
        except AssertionError as exc:
            if "more than 1 value per channel" not in str(exc) and "more than 1 spatial element" not in str(exc):
                raise


@SETTINGS
@given(shape=shapes(0, 3), classes=st.integers(1, 4))
def test_one_hot(shape, classes) -> None:  # type: ignore[no-untyped-def]
    agree_cpu("torch.nn.functional.one_hot", F.one_hot, Tz(shape, torch.int64), classes)


@SETTINGS
@given(pair=related_shapes(2))
def test_kl_div(pair) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agree("torch.nn.functional.kl_div", F.kl_div, Tz(pair[0]), Tz(pair[1]), reduction="sum")


@pytest.mark.parametrize("cls,arg", [("torch.nn.ZeroPad2d", 1), ("torch.nn.ConstantPad1d", (1, 2)), ("torch.nn.ZeroPad1d", 2)])
@SETTINGS
@given(shape=shapes(1, 4))
def test_padding_layers(cls: str, arg, shape) -> None:  # type: ignore[no-untyped-def]
    if cls.endswith("ConstantPad1d"):
        agree_module(cls, (arg, 0.0), {}, Tz(shape))
    else:
        agree_module(cls, (arg,), {}, Tz(shape))


@SETTINGS
@given(spatial=shapes(1, 2), scale=st.sampled_from([2, 3]), size=sizes)
def test_upsample_and_unflatten(spatial, scale, size) -> None:  # type: ignore[no-untyped-def]
    agree_module("torch.nn.Upsample", (None, scale), {}, Tz((2, 3, *spatial)))
    agree_module("torch.nn.Upsample", (size,), {}, Tz((2, 3, *spatial)))
    agree_module("torch.nn.Unflatten", (1, (3, 1)), {}, Tz((2, 3, *spatial)))


@SETTINGS
@given(shape=shapes(0, 3), dim=st.one_of(st.none(), st.integers(-3, 2)), keepdim=st.booleans())
def test_norm_and_count(shape, dim, keepdim) -> None:  # type: ignore[no-untyped-def]
    if dim is None:
        agree("torch.norm", torch.norm, Tz(shape))
        agree_cpu("torch.count_nonzero", torch.count_nonzero, Tz(shape))
    else:
        agree("Tensor.norm", torch.Tensor.norm, Tz(shape), 2, dim, keepdim)
        agree("torch.linalg.vector_norm", torch.linalg.vector_norm, Tz(shape), 2, dim, keepdim)
        agree_cpu("torch.count_nonzero", torch.count_nonzero, Tz(shape), dim)


@SETTINGS
@given(pair=related_shapes(2))
def test_as_family(pair) -> None:  # type: ignore[no-untyped-def]
    agree("Tensor.expand_as", torch.Tensor.expand_as, Tz(pair[0]), Tz(pair[1]))
    agree("Tensor.reshape_as", torch.Tensor.reshape_as, Tz(pair[0]), Tz(pair[1]))
    agree("Tensor.view_as", torch.Tensor.view_as, Tz(pair[0]), Tz(pair[1]))


@SETTINGS
@given(shape=shapes(0, 3), n=st.integers(0, 5))
def test_new_and_numpy_factories(shape, n) -> None:  # type: ignore[no-untyped-def]
    agree("Tensor.new_zeros", torch.Tensor.new_zeros, Tz((2,)), shape)
    agree("Tensor.new_full", torch.Tensor.new_full, Tz((2,)), shape, 1.0)
    agree("torch.randperm", torch.randperm, n, device="meta")
    agree_numpy("numpy.zeros", np.zeros, shape)
    agree_numpy("numpy.ones", np.ones, shape)
    agree("Tensor.type", torch.Tensor.type, Tz(shape), torch.float16)


def test_einops_layers() -> None:
    from einops.layers.torch import Rearrange, Reduce

    for cls, pattern, kwargs, shape in [(Rearrange, "b c h w -> b (c h w)", {}, (2, 3, 4, 5)),
                                        (Reduce, "b c (h 2) w -> b c h w", {"reduction": "max"}, (2, 3, 4, 5)),
                                        (Rearrange, "b (h d) -> b h d", {"h": 3}, (2, 12))]:
        expected = tuple(cls(pattern, **kwargs)(torch.empty(shape, device="meta")).shape)
        qualname = f"einops.layers.torch.{cls.__name__}"
        result, call = ours_module(qualname, (pattern,), {k: v for k, v in kwargs.items()}, (Tz(shape),))
        assert value_shapes(result) == expected and not call.findings
    assert einops is not None
