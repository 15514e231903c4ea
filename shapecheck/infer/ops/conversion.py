"""Conversions that keep the shape and change dtype, device or autograd state:
`.to .cuda .cpu .float .half .double .long .int .bool .bfloat16 .type .type_as .detach .clone
.requires_grad_ .numpy .pin_memory`, `torch.from_numpy`, NumPy's `.astype`.
"""

from __future__ import annotations

import dataclasses

from shapecheck.infer.ops._common import as_bool, tensor
from shapecheck.infer.ops.creation import device_of, dtype_of
from shapecheck.infer.ops.registry import OpCall, op
from shapecheck.infer.values import UNKNOWN, ConstValue, DeviceValue, DtypeValue, TensorValue, Value, as_int

_CASTS = {
    "float": "float32", "half": "float16", "double": "float64", "long": "int64", "int": "int32", "bool": "bool",
    "bfloat16": "bfloat16", "short": "int16", "byte": "uint8", "char": "int8", "cfloat": "complex64",
}


def _m(*names: str) -> list[str]:
    return [f"Tensor.{n}" for n in names] + [f"torch.Tensor.{n}" for n in names]


@op(*_m("to"))
def to(call: OpCall) -> Value:
    """`x.to(device)`, `x.to(dtype)`, `x.to(device, dtype)`, `x.to(other)`, `x.to(device=..., dtype=...)`."""
    t = tensor(call.arg(0))
    if t is None:
        return UNKNOWN
    device, dtype = t.device, t.dtype
    for arg in call.args[1:]:
        if isinstance(arg, TensorValue):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, DtypeValue):
            dtype = arg.dtype
        elif isinstance(arg, DeviceValue):
            device = arg.device
        elif isinstance(arg, ConstValue) and isinstance(arg.value, str):
            device = arg.value
        elif isinstance(arg, ConstValue) and isinstance(arg.value, bool):
            continue  # non_blocking / copy given by position
        elif as_int(arg) is not None:
            device = f"cuda:{as_int(arg)}"
        else:
            return dataclasses.replace(t, device=None, dtype=None)  # an unknown device or dtype
    if "device" in call.kwargs:
        device = device_of(call.kwargs["device"])
    if "dtype" in call.kwargs:
        dtype = dtype_of(call.kwargs["dtype"])
    return dataclasses.replace(t, device=device, dtype=dtype)


@op(*_m("cuda"))
def cuda(call: OpCall) -> Value:
    t = tensor(call.arg(0))
    if t is None:
        return UNKNOWN
    arg = call.arg(1, "device")
    device = "cuda" if arg is None or (isinstance(arg, ConstValue) and arg.value is None) else device_of(arg)
    if device is not None and device.isdigit():
        device = f"cuda:{device}"
    return dataclasses.replace(t, device=device)


@op(*_m("cpu"))
def cpu(call: OpCall) -> Value:
    t = tensor(call.arg(0))
    return UNKNOWN if t is None else dataclasses.replace(t, device="cpu")


@op(*_m(*_CASTS))
def cast(call: OpCall) -> Value:
    t = tensor(call.arg(0))
    if t is None:
        return UNKNOWN
    return dataclasses.replace(t, dtype=_CASTS[call.name.rsplit(".", 1)[-1]])


@op(*_m("type", "astype"))
def type_(call: OpCall) -> Value:
    """`x.type(torch.float16)` / NumPy `a.astype(np.float32)`; `x.type()` (no argument) is a string."""
    t = tensor(call.arg(0))
    if t is None or len(call.args) < 2 and "dtype" not in call.kwargs:
        return UNKNOWN
    return dataclasses.replace(t, dtype=dtype_of(call.arg(1, "dtype")))


@op(*_m("type_as"))
def type_as(call: OpCall) -> Value:
    t, other = tensor(call.arg(0)), tensor(call.arg(1, "other"))
    if t is None:
        return UNKNOWN
    return dataclasses.replace(t, dtype=other.dtype if other is not None else None)


@op(*_m("detach", "detach_"), "torch.detach")
def detach(call: OpCall) -> Value:
    t = tensor(call.arg(0))
    return UNKNOWN if t is None else dataclasses.replace(t, requires_grad=False, origin="detach")


@op(*_m("clone", "copy"), "torch.clone", "numpy.copy")
def clone(call: OpCall) -> Value:
    """A torch clone keeps a permuted tensor's memory order (`memory_format=torch.preserve_format`
    by default), so `x.transpose(1, 2).clone().view(-1)` still fails; any `memory_format=` given
    is left alone (contiguous_format makes it contiguous)."""
    t = tensor(call.arg(0))
    if t is None:
        return UNKNOWN
    if t.library == "torch" and t.contiguous is False and t.layout is not None and "memory_format" not in call.kwargs:
        return t
    return dataclasses.replace(t, contiguous=True, layout=None)


@op(*_m("requires_grad_"))
def requires_grad_(call: OpCall) -> Value:
    t = tensor(call.arg(0))
    if t is None:
        return UNKNOWN
    flag = as_bool(call.arg(1, "requires_grad"), default=True)
    return dataclasses.replace(t, requires_grad=flag)


@op(*_m("numpy"))
def to_numpy(call: OpCall) -> Value:
    t = tensor(call.arg(0))
    return UNKNOWN if t is None else dataclasses.replace(t, library="numpy", device=None, requires_grad=None)


@op(*_m("pin_memory", "share_memory_", "coalesce"))
def same(call: OpCall) -> Value:
    t = tensor(call.arg(0))
    return UNKNOWN if t is None else t
