"""Harness for checking shape functions against PyTorch on the meta device.

A test describes one call once, with `Tz((2, 3))` standing for a tensor; `agree(...)` runs it
through torch (meta tensors: no memory, no compute) and through our registered shape function,
and asserts the two agree: same result shape(s) when torch succeeds, an error finding exactly
when torch raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from shapecheck.infer.ops.registry import OpCall, lookup, lookup_module
from shapecheck.infer.values import (
    ELLIPSIS,
    UNKNOWN,
    SliceValue,
    ConstValue,
    DtypeValue,
    ModuleValue,
    ShapeValue,
    TensorValue,
    TupleValue,
    Value,
)
from shapecheck.shapes import Shape

ERROR_CODES = frozenset({"SC101", "SC105", "SC106", "SC108"})


@dataclass(frozen=True)
class Tz:
    """A tensor in a test case: its shape and torch dtype."""

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    noncontiguous: bool = False


@dataclass(frozen=True)
class Size:
    """A torch.Size argument (`x.view(y.shape)`)."""

    dims: tuple[int, ...]


_DTYPE_NAMES = {torch.float32: "float32", torch.int64: "int64", torch.bool: "bool", torch.float64: "float64",
                torch.float16: "float16", torch.int32: "int32"}


def to_torch(arg: Any, device: str = "meta") -> Any:
    if isinstance(arg, Tz):
        if arg.noncontiguous:  # the same shape, as the result of a transpose of the last two axes
            swapped = (*arg.shape[:-2], arg.shape[-1], arg.shape[-2])
            return torch.empty(swapped, dtype=arg.dtype, device=device).transpose(-1, -2)
        if device == "cpu":
            return torch.zeros(arg.shape, dtype=arg.dtype)
        return torch.empty(arg.shape, dtype=arg.dtype, device=device)
    if isinstance(arg, Size):
        return torch.Size(arg.dims)
    if isinstance(arg, list):
        return [to_torch(a, device) for a in arg]
    if isinstance(arg, tuple):
        return tuple(to_torch(a, device) for a in arg)
    return arg


def to_value(arg: Any) -> Value:
    if isinstance(arg, Tz):
        # what our transpose marks: non-contiguous unless the swapped axes keep the memory order
        contiguous = to_torch(arg).is_contiguous() if arg.noncontiguous else True
        rank = len(arg.shape)
        layout = (*range(rank - 2), rank - 1, rank - 2) if not contiguous else None
        return TensorValue(Shape.of(*arg.shape), dtype=_DTYPE_NAMES.get(arg.dtype), device="meta",
                           contiguous=contiguous, origin="transpose" if arg.noncontiguous else None, layout=layout)
    if isinstance(arg, Size):
        return ShapeValue(Shape.of(*arg.dims))
    if isinstance(arg, slice):
        return SliceValue(to_value(arg.start), to_value(arg.stop), to_value(arg.step))
    if arg is Ellipsis:
        return ELLIPSIS
    if isinstance(arg, (list, tuple)):
        return TupleValue(tuple(to_value(a) for a in arg))
    if isinstance(arg, torch.dtype):
        return DtypeValue(_DTYPE_NAMES.get(arg, str(arg).removeprefix("torch.")))
    if arg is None or isinstance(arg, (bool, int, float, str)):
        return ConstValue(arg)
    raise TypeError(f"no abstract value for {arg!r}")


def torch_outcome(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                  device: str = "meta") -> tuple[bool, Any, str]:
    """(succeeded, result shapes, error text)."""
    try:
        out = fn(*[to_torch(a, device) for a in args], **{k: to_torch(v, device) for k, v in kwargs.items()})
    except Exception as exc:  # torch raises RuntimeError, IndexError, ValueError, TypeError
        return False, None, f"{type(exc).__name__}: {exc}"
    return True, _shapes_of(out), ""


def _shapes_of(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    if isinstance(out, (tuple, list)):
        return tuple(_shapes_of(o) for o in out)
    return None


def ours(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Value, OpCall]:
    fn = lookup(name)
    assert fn is not None, f"no shape function registered for {name!r}"
    call = OpCall(name, [to_value(a) for a in args], {k: to_value(v) for k, v in kwargs.items()},
                  labels=[f"arg{i}" for i in range(len(args))])
    return fn(call), call


def ours_module(qualname: str, ctor: tuple[Any, ...], ctor_kwargs: dict[str, Any], inputs: tuple[Any, ...]) -> tuple[Value, OpCall]:
    fn = lookup_module(qualname)
    assert fn is not None, f"no module shape function registered for {qualname!r}"
    module = ModuleValue(qualname, tuple(to_value(a) for a in ctor), tuple((k, to_value(v)) for k, v in ctor_kwargs.items()))
    call = OpCall(qualname, [to_value(a) for a in inputs], {}, labels=[f"input{i}" for i in range(len(inputs))])
    return fn(module, call), call


def value_shapes(value: Value) -> Any:
    """Concrete shapes of our result, mirroring `_shapes_of`; a tensor of unknown shape gives '?'."""
    if isinstance(value, TensorValue):
        s = value.shape
        if s.rank is None:
            return "?"
        dims = [s[i].value for i in range(s.rank)]
        return "?" if None in dims else tuple(dims)
    if isinstance(value, TupleValue):
        return tuple(value_shapes(v) for v in value.items)
    return "?" if value is UNKNOWN else None


def compare_outcomes(where: str, ok: bool, expected: Any, error: str, result: Value, call: OpCall) -> None:
    errors = [f for f in call.findings if f.code in ERROR_CODES and (f.code != "SC105" or f.severity == "error")]
    if ok:
        assert not errors, f"{where}: torch succeeds with {expected} but we report {[(f.code, f.message) for f in errors]}"
        got = value_shapes(result)
        assert got == expected, f"{where}: torch gives {expected}, we infer {got} ({result})"
    else:
        assert errors, f"{where}: torch raises ({error.splitlines()[0][:200]}) but we report nothing (result {result})"
        assert result is UNKNOWN, f"{where}: after an error the result must be UNKNOWN, got {result}"


def agree(name: str, torch_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Assert op `name` agrees with `torch_fn` on these arguments; returns whether torch succeeded."""
    return _agree("meta", name, torch_fn, args, kwargs)


def agree_cpu(name: str, torch_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """As `agree`, with small real CPU tensors: for ops whose meta kernels skip torch's checks
    (meta `softmax`/`sort`/`cummax` accept any dim on small tensors; the CPU kernels do not)."""
    return _agree("cpu", name, torch_fn, args, kwargs)


def _agree(device: str, name: str, torch_fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    ok, expected, error = torch_outcome(torch_fn, args, kwargs, device)
    result, call = ours(name, args, kwargs)
    compare_outcomes(f"{name}{args}{kwargs or ''}", ok, expected, error, result, call)
    return ok


def _build(cls: Any, ctor: tuple[Any, ...], ctor_kwargs: dict[str, Any], device: str) -> Any:
    try:
        return cls(*ctor, **ctor_kwargs, device=device)
    except TypeError:
        return cls(*ctor, **ctor_kwargs)


def agree_module(qualname: str, ctor: tuple[Any, ...], ctor_kwargs: dict[str, Any], *inputs: Any, device: str = "meta") -> bool:
    """Build `qualname(*ctor, **ctor_kwargs)` on meta, call it on `inputs`, compare with ours.

    A constructor that torch itself rejects is not a shape question: the case is skipped (False).
    `device="cpu"` for modules whose meta kernels skip checks (ConvTranspose's channel check)."""
    module_path, _, cls_name = qualname.rpartition(".")
    cls = getattr(torch.nn, cls_name) if module_path == "torch.nn" else None
    assert cls is not None, qualname
    try:
        module = _build(cls, ctor, ctor_kwargs, device)
    except Exception:
        return False
    ok, expected, error = torch_outcome(module, inputs, {}, device)
    result, call = ours_module(qualname, ctor, ctor_kwargs, inputs)
    compare_outcomes(f"{qualname}{ctor}{ctor_kwargs}{inputs}", ok, expected, error, result, call)
    return ok


def agree_numpy(name: str, np_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """As `agree` with NumPy as the oracle: `Tz` becomes `np.zeros` (and a numpy-library value)."""
    import numpy as np

    def to_np(arg: Any) -> Any:
        if isinstance(arg, Tz):
            return np.zeros(arg.shape, dtype=np.bool_ if arg.dtype == torch.bool else np.float32)
        if isinstance(arg, (list, tuple)):
            return type(arg)(to_np(a) for a in arg)
        return arg

    def to_np_value(arg: Any) -> Value:
        value = to_value(arg)
        if isinstance(value, TensorValue):
            return TensorValue(value.shape, dtype=value.dtype, library="numpy")
        if isinstance(value, TupleValue):
            return TupleValue(tuple(to_np_value(a) for a in arg))
        return value

    try:
        out = np_fn(*[to_np(a) for a in args], **{k: to_np(v) for k, v in kwargs.items()})
        ok, expected, error = True, _np_shapes(out), ""
    except Exception as exc:  # numpy raises ValueError, AxisError (an IndexError), TypeError
        ok, expected, error = False, None, f"{type(exc).__name__}: {exc}"
    fn = lookup(name)
    assert fn is not None, name
    call = OpCall(name, [to_np_value(a) for a in args], {k: to_np_value(v) for k, v in kwargs.items()},
                  labels=[f"arg{i}" for i in range(len(args))])
    compare_outcomes(f"{name}{args}{kwargs or ''}", ok, expected, error, fn(call), call)
    return ok


def _np_shapes(out: Any) -> Any:
    if hasattr(out, "shape"):
        return tuple(out.shape)
    if isinstance(out, (tuple, list)):
        return tuple(_np_shapes(o) for o in out)
    return ()
