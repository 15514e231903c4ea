"""Tensor creation: `zeros ones empty full rand randn randint arange linspace eye tensor randperm`,
the `*_like` and `Tensor.new_*` families, and their NumPy counterparts.

Sizes come as varargs, one tuple/list/torch.Size, or `size=`. `device=` and `dtype=` are tracked:
without `device=` a torch factory creates on the CPU (the default device), which is what the
device rules need to see the "created on CPU inside forward" bug. A torch factory without
`dtype=` gives float32 (int64 for `randint`/`arange` of ints/`randperm`).
"""

from __future__ import annotations

import dataclasses
import math

from shapecheck.infer import messages
from shapecheck.infer.ops._common import as_str, dim_items, dim_items_partial, op_title, size_args, size_args_partial, tensor
from shapecheck.infer.ops.registry import OpCall, op
from shapecheck.infer.values import (
    UNKNOWN,
    ConstValue,
    DeviceValue,
    DimValue,
    DtypeValue,
    ShapeValue,
    TensorValue,
    TupleValue,
    Value,
    as_dim,
    as_int,
)
from shapecheck.shapes import Dim, Shape

_DTYPE_ALIASES = {
    "float": "float32", "float32": "float32", "float64": "float64", "double": "float64", "half": "float16",
    "float16": "float16", "bfloat16": "bfloat16", "int": "int32", "int32": "int32", "int64": "int64", "long": "int64",
    "int16": "int16", "short": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool", "complex64": "complex64",
}


def dtype_of(value: Value | None) -> str | None:
    """A dtype argument (`torch.float16`, `"float32"`, `np.int64`) as a dtype name; None if unknown."""
    if isinstance(value, DtypeValue):
        return value.dtype
    name = as_str(value)
    if name is not None:
        return _DTYPE_ALIASES.get(name.removeprefix("torch.").removeprefix("numpy."), None)
    return None


def device_of(value: Value | None) -> str | None:
    """A device argument (`"cuda"`, `torch.device("cuda:0")`, `x.device`) as a string; None if unknown."""
    if isinstance(value, DeviceValue):
        return value.device
    name = as_str(value)
    if name is not None:
        return name
    n = as_int(value)
    return f"cuda:{n}" if n is not None else None


def _fields(call: OpCall, default_dtype: str | None, like: TensorValue | None = None) -> dict[str, object]:
    numpy = call.name.startswith("numpy.")
    dtype = dtype_of(call.kwargs.get("dtype")) if "dtype" in call.kwargs else (like.dtype if like else default_dtype)
    if "device" in call.kwargs:
        device = device_of(call.kwargs["device"])
    elif like is not None:
        device = like.device
    else:
        device = None if numpy else "cpu"
    requires_grad = None
    if "requires_grad" in call.kwargs and isinstance(call.kwargs["requires_grad"], ConstValue):
        requires_grad = bool(call.kwargs["requires_grad"].value)
    elif not numpy:
        requires_grad = False if like is None else None
    library = "numpy" if numpy else "torch"
    return {"dtype": dtype, "device": device, "requires_grad": requires_grad, "library": library, "origin": "creation"}


def _new(call: OpCall, sizes: list[Dim] | None, default_dtype: str | None = "float32", like: TensorValue | None = None) -> Value:
    fields = _fields(call, default_dtype if not call.name.startswith("numpy.") else "float64", like)
    if sizes is None:
        return TensorValue(Shape.unknown(), **fields)  # type: ignore[arg-type]
    for s in sizes:
        if s.value is not None and s.value < 0:
            call.report("SC101", *messages.op_error(f"{op_title(call)}: negative size {s.value} in {tuple(str(d) for d in sizes)}"))
            return UNKNOWN
    return TensorValue(Shape.of(*sizes), **fields)  # type: ignore[arg-type]


@op(*[f"torch.{n}" for n in ("zeros", "ones", "empty", "rand", "randn")],
    "numpy.random.randn", "numpy.random.rand")
def factory(call: OpCall) -> Value:
    return _new(call, size_args_partial(call, 0))


@op("numpy.zeros", "numpy.ones", "numpy.empty", "numpy.random.random")
def np_factory(call: OpCall) -> Value:
    shape = call.arg(0, "shape")
    return _new(call, _sizes(shape))


def _sizes(value: Value | None) -> list[Dim] | None:
    return dim_items_partial(value)


def _fill_dtype(fill: Value | None) -> str | None:
    if isinstance(fill, ConstValue):
        if isinstance(fill.value, bool):
            return "bool"
        if isinstance(fill.value, int):
            return "int64"
        if isinstance(fill.value, float):
            return "float32"
    return None


@op("torch.full", "numpy.full")
def full(call: OpCall) -> Value:
    return _new(call, _sizes(call.arg(0, "size") if not call.name.startswith("numpy.") else call.arg(0, "shape")),
                _fill_dtype(call.arg(1, "fill_value")))


@op("torch.randint")
def randint(call: OpCall) -> Value:
    """`randint(high, size)` or `randint(low, high, size)`."""
    if "size" in call.kwargs:
        size = call.kwargs["size"]
    else:
        size = next((a for a in call.args if isinstance(a, (TupleValue, ShapeValue))), None)
    return _new(call, _sizes(size), "int64")


@op("torch.randperm")
def randperm(call: OpCall) -> Value:
    n = as_dim(call.arg(0, "n"))
    return _new(call, [n] if n is not None else None, "int64")


@op("torch.arange", "numpy.arange")
def arange(call: OpCall) -> Value:
    """`arange(end)`, `arange(start, end[, step])`: ceil((end - start) / step) elements."""
    values = [call.arg(0, "start"), call.arg(1, "end"), call.arg(2, "step")]
    given = [v for v in values if v is not None]
    if "end" in call.kwargs and "start" not in call.kwargs and len(call.args) == 0:
        given = [call.kwargs["end"]]
    if len(given) == 1:
        start, end, step = ConstValue(0), given[0], ConstValue(1)
    elif len(given) == 2:
        start, end, step = given[0], given[1], ConstValue(1)
    elif len(given) == 3:
        start, end, step = given
    else:
        return UNKNOWN
    numbers = [_number(v) for v in (start, end, step)]
    is_int = all(isinstance(v, ConstValue) and isinstance(v.value, int) or isinstance(v, DimValue) for v in (start, end, step))
    dtype = "int64" if is_int else "float32"
    if all(n is not None for n in numbers):
        s, e, st = numbers  # type: ignore[misc]
        if st == 0 or (e - s) * st < 0:  # type: ignore[operator]
            call.report("SC101", *messages.op_error(f"{op_title(call)}: the range from {s} to {e} by {st} is invalid",
                                                     "the step must be non-zero and point from start towards end"))
            return UNKNOWN
        return _new(call, [Dim.const(max(0, math.ceil((e - s) / st)))], dtype)  # type: ignore[operator]
    d_start, d_end = as_dim(start), as_dim(end)
    if as_int(step) == 1 and d_start is not None and d_end is not None:
        return _new(call, [d_end - d_start], dtype)
    return _new(call, [Dim.unknown()], dtype)


def _number(v: Value | None) -> float | int | None:
    if isinstance(v, ConstValue) and isinstance(v.value, (int, float)) and not isinstance(v.value, bool):
        return v.value
    return None


@op("torch.linspace", "torch.logspace", "numpy.linspace", "numpy.logspace")
def linspace(call: OpCall) -> Value:
    steps = call.arg(2, "num" if call.name.startswith("numpy.") else "steps")
    if steps is None and call.name.startswith("numpy."):
        steps = ConstValue(50)
    n = as_dim(steps)
    if n is not None and n.value is not None and n.value < 0:
        call.report("SC101", *messages.op_error(f"{op_title(call)}: number of steps must be non-negative"))
        return UNKNOWN
    return _new(call, [n] if n is not None else None)


@op("torch.eye", "numpy.eye")
def eye(call: OpCall) -> Value:
    n = as_dim(call.arg(0, "N" if call.name.startswith("numpy.") else "n"))
    m_value = call.arg(1, "M" if call.name.startswith("numpy.") else "m")
    m = n if m_value is None or (isinstance(m_value, ConstValue) and m_value.value is None) else as_dim(m_value)
    if n is None or m is None:
        return _new(call, None)
    return _new(call, [n, m])


def _nested_shape(value: Value) -> tuple[list[Dim], str | None] | None:
    """Shape and dtype of a nested list/tuple literal (`[[1, 2], [3, 4]]` -> (2, 2), int64)."""
    if isinstance(value, ConstValue):
        if isinstance(value.value, bool):
            return [], "bool"
        if isinstance(value.value, int):
            return [], "int64"
        if isinstance(value.value, float):
            return [], "float32"
        return None
    if isinstance(value, DimValue):
        return [], "int64"
    if isinstance(value, TupleValue):
        if not value.items:
            return [Dim.const(0)], "float32"
        parts = [_nested_shape(v) for v in value.items]
        if any(p is None for p in parts):
            return None
        shapes = {tuple(p[0]) for p in parts if p is not None}
        if len(shapes) != 1:
            return None
        dtypes = {p[1] for p in parts if p is not None}
        dtype = "float32" if "float32" in dtypes else ("int64" if "int64" in dtypes else dtypes.pop())
        return [Dim.const(len(value.items)), *shapes.pop()], dtype
    if isinstance(value, ShapeValue) and value.shape.rank is not None:
        return [Dim.const(value.shape.rank)], "int64"
    return None


@op("torch.tensor", "torch.as_tensor", "torch.from_numpy", "numpy.array", "numpy.asarray")
def tensor_ctor(call: OpCall) -> Value:
    data = call.arg(0, "data")
    if data is None:
        return UNKNOWN
    t = tensor(data)
    numpy = call.name.startswith("numpy.")
    if t is not None:
        fields = _fields(call, t.dtype if not numpy else t.dtype, None)
        if "device" not in call.kwargs:
            fields["device"] = t.device if call.name == "torch.as_tensor" else (None if numpy else "cpu")
        if "dtype" not in call.kwargs:
            fields["dtype"] = t.dtype
        return TensorValue(t.shape, **fields)  # type: ignore[arg-type]
    nested = _nested_shape(data)
    if nested is None:
        return _new(call, None, None)
    dims, dtype = nested
    if numpy and dtype in ("int64", "float32"):
        dtype = {"int64": "int64", "float32": "float64"}[dtype]
    result = _new(call, dims, dtype)
    return result


@op(*[f"torch.{n}_like" for n in ("zeros", "ones", "empty", "rand", "randn", "randint")],
    "numpy.zeros_like", "numpy.ones_like", "numpy.empty_like")
def like(call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    fields = _fields(call, None, t)
    if call.name.startswith("numpy.") and "dtype" not in call.kwargs:
        fields["dtype"] = t.dtype
    return TensorValue(t.shape, **fields)  # type: ignore[arg-type]


@op("torch.full_like", "numpy.full_like")
def full_like(call: OpCall) -> Value:
    return like(call)


@op("Tensor.new_zeros", "Tensor.new_ones", "Tensor.new_empty", "Tensor.new_full", "Tensor.new_tensor")
def new_(call: OpCall) -> Value:
    """`x.new_zeros(size)`: x's dtype and device, the given size."""
    t = tensor(call.arg(0))
    if t is None:
        return UNKNOWN
    if call.name.endswith("new_tensor"):
        inner = OpCall("torch.tensor", call.args[1:], call.kwargs, call.node, facts=call.facts, findings=call.findings)
        out = tensor_ctor(inner)
        if isinstance(out, TensorValue):
            return dataclasses.replace(out, device=t.device if "device" not in call.kwargs else out.device,
                                       dtype=t.dtype if "dtype" not in call.kwargs else out.dtype)
        return out
    if call.name.endswith("new_full"):  # new_full(size, fill_value): one size argument
        sizes = _sizes(call.arg(1, "size"))
    else:  # new_zeros(2, 3) or new_zeros((2, 3)) or new_zeros(size=...)
        sizes = size_args_partial(call, 1)
    return _new(call, sizes, like=t)

