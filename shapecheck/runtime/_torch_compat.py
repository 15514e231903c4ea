"""The one module that touches private torch APIs; a torch upgrade should break only this file.

Private names used: `torch.utils._python_dispatch.TorchDispatchMode` (the op tracer),
`torch._subclasses.fake_tensor.FakeTensorMode` / `FakeTensor.fake_device` (the dry run),
`torch._C._nn._parse_to`, `torch._C._current_autograd_node`, the autograd engine's `queue_callback`,
`torch.utils._python_dispatch._get_current_dispatch_mode`, `Tensor._version`, the `_DropoutNd`/`_BatchNorm` bases,
`torch.overrides.TorchFunctionMode` (public, but grouped here with its siblings).
Tested with torch 2.1-2.13 APIs; older versions are refused with a clear message.
"""

from __future__ import annotations

from typing import Any

import torch

MIN_TORCH = (2, 1)


class UnsupportedTorch(RuntimeError):
    """The installed torch lacks an API the runtime checker needs."""


def torch_version() -> tuple[int, int]:
    parts = torch.__version__.split("+")[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (ValueError, IndexError):  # a local or odd build string: assume recent
        return (99, 0)


def require_torch(feature: str) -> None:
    """Raise `UnsupportedTorch` when torch is older than what `feature` was written for."""
    if torch_version() < MIN_TORCH:
        raise UnsupportedTorch(
            f"shapecheck {feature} needs torch >= {MIN_TORCH[0]}.{MIN_TORCH[1]}; "
            f"found torch {torch.__version__}. Upgrade torch or use the static checker only."
        )


def _is_compiling_fn() -> Any:
    compiler = getattr(torch, "compiler", None)
    fn = getattr(compiler, "is_compiling", None)
    if fn is not None:
        return fn
    dynamo = getattr(torch, "_dynamo", None)
    return getattr(dynamo, "is_compiling", lambda: False)


is_compiling = _is_compiling_fn()


def _is_fx_tracing_fn() -> Any:
    fn = getattr(getattr(torch, "fx", None), "_symbolic_trace", None)
    for name in ("is_fx_symbolic_tracing", "is_fx_tracing"):  # the latter warns in torch >= 2.9
        found = getattr(fn, name, None)
        if found is not None:
            return found
    return lambda: False


#: True while `torch.fx.symbolic_trace` runs: arguments are Proxies, not tensors.
is_fx_tracing = _is_fx_tracing_fn()


def dispatch_mode_base() -> type:
    """`TorchDispatchMode`: sees every ATen op, forward and backward."""
    require_torch("trace")
    from torch.utils._python_dispatch import TorchDispatchMode

    return TorchDispatchMode


def current_dispatch_mode() -> Any:
    """The innermost active `TorchDispatchMode` (the top of this thread's mode stack), or None."""
    from torch.utils import _python_dispatch

    getter = getattr(_python_dispatch, "_get_current_dispatch_mode", None)
    return getter() if getter is not None else None


def function_mode_base() -> type:
    """`TorchFunctionMode`: sees the Python-level torch API (`Tensor.to`, `Tensor.cuda`)."""
    from torch.overrides import TorchFunctionMode

    return TorchFunctionMode


def fake_tensor_mode(**kwargs: Any) -> Any:
    """A new `FakeTensorMode`: ops run on meta kernels, tensors carry a fake device."""
    require_torch("dry run")
    from torch._subclasses.fake_tensor import FakeTensorMode

    return FakeTensorMode(**kwargs)


def is_fake(t: Any) -> bool:
    from torch._subclasses.fake_tensor import FakeTensor

    return isinstance(t, FakeTensor)


def move_fake_in_place(t: Any, device: torch.device) -> None:
    """Change the device a fake tensor claims to live on, keeping its identity.

    `nn.Module.to` on fake parameters tries `swap_tensors`, which fails for fake tensors
    (they carry weak references); changing `fake_device` keeps the very same Parameter
    objects, like `.to()` does on real tensors, so optimizers built before `.to()` still work.
    """
    t.fake_device = device
    if getattr(t, "constant", None) is not None:
        # `torch.tensor(1.0)` keeps its real value as a CPU constant, and ops on it would run on
        # that constant and come back on the CPU; a moved tensor is no longer that constant.
        t.constant = None


def fake_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a fake run raises for data-dependent ops (`.item()`, `nonzero`)."""
    from torch._subclasses import fake_tensor

    names = ("DynamicOutputShapeException", "DataDependentOutputException", "UnsupportedFakeTensorException")
    found = tuple(getattr(fake_tensor, n) for n in names if hasattr(fake_tensor, n))
    try:
        from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

        found = (*found, GuardOnDataDependentSymNode)
    except ImportError:
        pass
    return found


def device_mismatch_error() -> type[BaseException]:
    from torch._subclasses import fake_tensor

    return getattr(fake_tensor, "FakeTensorDeviceMismatchError", RuntimeError)


def parse_to(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """(device, dtype) from the arguments of `Module.to(...)`, as torch itself parses them."""
    device, dtype, _, _ = torch._C._nn._parse_to(*args, **kwargs)
    return device, dtype


def norm_layer_types() -> tuple[tuple[type, ...], type]:
    """(Dropout and BatchNorm base classes, the BatchNorm base): behave differently in train/eval."""
    from torch.nn.modules.batchnorm import _BatchNorm
    from torch.nn.modules.dropout import _DropoutNd

    return (_DropoutNd, _BatchNorm), _BatchNorm


def tensor_version(t: Any) -> int:
    """The in-place modification counter of a tensor (`zero_()`, `add_()` bump it)."""
    return int(t._version)


def at_backward_end(callback: Any) -> bool:
    """Run `callback()` when the backward pass running now ends (call it from a tensor hook)."""
    engine = getattr(getattr(torch.autograd, "Variable", None), "_execution_engine", None)
    queue = getattr(engine, "queue_callback", None)
    if queue is None:
        return False
    try:
        queue(callback)
    except RuntimeError:  # not inside a backward pass
        return False
    return True


def current_autograd_node() -> Any:
    """The autograd node running now (in backward), or None."""
    fn = getattr(torch._C, "_current_autograd_node", None)
    return fn() if fn is not None else None
