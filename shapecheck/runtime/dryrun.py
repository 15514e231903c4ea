"""Dry run: a model (or a whole script) on fake tensors, with a fake `cuda`, under the tracer.

    report = shapecheck.dry_run(model, torch.empty(32, 3, 224, 224), device="cuda")
    report.findings   # e.g. device-mismatch at `mask = torch.zeros(n)` inside forward

Fake tensors (`FakeTensorMode`) carry shape, dtype and device but no data: an op runs its
meta kernel, so a forward/backward of any size costs milliseconds and no memory.

Faking `cuda` on a machine without CUDA: torch lets fake tensors *claim* `cuda`, but a CPU-only
build aborts the process (a C++ `terminate`, not an exception) as soon as autograd or an in-place
update such as BatchNorm's running-stat `copy_` asks for a CUDA device guard. So, when CUDA is
not available, the fake accelerator is a fake `meta` device: it behaves like a separate device
(mixing it with `cpu` fails exactly as `cuda` with `cpu` does), autograd works, and the tracer
prints it as `cuda:0`. Every device the user's code names as `cuda` (`device="cuda"`, `.to("cuda")`,
`.cuda()`, `torch.cuda.is_available()` in a script) is redirected to it. With CUDA available the
fake tensors are on the real `cuda` device type (still no memory or compute).
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from shapecheck.runtime import _torch_compat as compat
from shapecheck.runtime.errors import ShapeError
from shapecheck.runtime.tracer import Tracer, _make_mode, user_frame

__all__ = ["dry_run", "fake_environment"]

# Captured before any dry run patches `torch.cuda.is_available` for a script.
_cuda_available = torch.cuda.is_available


def stand_in(device: str | torch.device) -> torch.device:
    """The device fake tensors use for `device` (`meta` stands in for `cuda` without CUDA)."""
    dev = torch.device(device)
    if dev.type == "cuda" and not _cuda_available():
        return torch.device("meta")
    if dev.type == "cuda" and dev.index is None:
        return torch.device("cuda", 0)
    return dev


def _redirect(value: Any, target: torch.device) -> Any:
    if isinstance(value, (str, torch.device)):
        try:
            dev = torch.device(value)
        except (RuntimeError, TypeError):
            return value
        if dev.type == "cuda":
            return target
    return value


_VALUE_READS = {torch.Tensor.item: "item", torch.Tensor.tolist: "tolist", torch.Tensor.__bool__: "bool",
                torch.Tensor.__int__: "int", torch.Tensor.__float__: "float", torch.Tensor.__index__: "index",
                torch.Tensor.numpy: "numpy", torch.Tensor.__array__: "numpy"}
_HALVING_LIMIT = 1000  # 0.5 ** 1000 is still a positive float


def _placeholder(t: torch.Tensor, how: str, reads: int = 0) -> Any:
    """A stand-in for the value a real tensor would give (fake tensors have none).

    Integers are 1 (an index 1 is as valid as 0 in a sampler's permutation; Adam divides by
    `1 - beta ** step`), truth values False (`if torch.isnan(loss):`), arrays are ones. A float
    read from a tensor of the autograd graph (a loss) halves at each read (1.0, 0.5, 0.25...): a
    script that loops until its loss is small (`while loss.item() > 1e-3:`) ends instead of
    spinning forever on a constant; other floats (Adam's step counter) are 1.0.
    """
    if how == "numpy":
        import numpy as np

        dtype = str(t.dtype).replace("torch.", "")
        return np.ones(tuple(t.shape), dtype=dtype if dtype != "bfloat16" else "float32")
    graph = t.requires_grad or t.grad_fn is not None  # a loss; not Adam's step counter (1 - beta ** step)
    number: Any = 0.5 ** min(reads, _HALVING_LIMIT) if graph else 1.0
    one: Any = False if t.dtype == torch.bool else (1 if not t.dtype.is_floating_point else number)
    if how == "bool":
        return False
    if how in ("int", "index"):
        return 1
    if how == "float":
        return number
    if how == "item" or t.dim() == 0:
        return one
    out: Any = one
    for size in reversed(tuple(t.shape)):
        out = [out if not isinstance(out, list) else list(out) for _ in range(int(size))]
    return out


class StopDryRun(BaseException):
    """Raised from the optimizer hook once the dry run has seen enough steps.

    A BaseException, so neither the tracer's guards nor the script's `except Exception` stop it.
    """


class DryRunTimeout(StopDryRun):
    """Raised by a timer when a dry run exceeds its wall-time bound (a loop that never ends)."""


@contextlib.contextmanager
def _time_bound(seconds: float | None) -> Iterator[None]:
    """Raise `DryRunTimeout` in the main thread after `seconds` (POSIX timers; elsewhere no bound)."""
    import signal
    import threading

    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise DryRunTimeout

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _function_mode(target: torch.device, tracer: Tracer | None = None) -> Any:
    base = compat.function_mode_base()

    class _FakeAccelerator(base):  # type: ignore[misc, valid-type]
        """Send every `cuda` the code names to the fake accelerator `target`."""

        def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                               kwargs: dict[str, Any] | None = None) -> Any:
            how = _VALUE_READS.get(func)
            if how is not None and args and compat.is_fake(args[0]):
                reads = 0
                if tracer is not None:
                    tracer.placeholders += 1
                    reads = tracer.placeholders
                    tracer.value_read(args[0], how)
                return _placeholder(args[0], how, reads)
            if func is torch.Tensor.__format__ and args and compat.is_fake(args[0]):
                t, spec = args[0], args[1] if len(args) > 1 else ""
                if t.dim() == 0:  # f"{loss:.4f}": what .item() would give
                    if tracer is not None:
                        tracer.placeholders += 1
                    return format(_placeholder(t, "item", tracer.placeholders if tracer else 0), spec)
                return f"<fake tensor {tuple(t.shape)} {str(t.dtype).replace('torch.', '')}>"
            if func is torch.Tensor.pin_memory:
                return args[0]  # page-locked memory needs a real accelerator; nothing to pin on fakes
            kwargs = dict(kwargs or {})
            if "device" in kwargs:
                kwargs["device"] = _redirect(kwargs["device"], target)
            if func is torch.Tensor.cuda:
                device = target if not args[1:] else _redirect(torch.device("cuda", int(args[1])), target)
                return torch.Tensor.to(args[0], device, **{k: v for k, v in kwargs.items()
                                                           if k in ("non_blocking", "memory_format")})
            if func is torch.Tensor.to:
                args = (args[0], *(_redirect(a, target) for a in args[1:]))
            return func(*args, **kwargs)

    return _FakeAccelerator()


def _move_module(module: nn.Module, device: torch.device) -> None:
    for t in [*module.parameters(), *module.buffers()]:
        if compat.is_fake(t):
            compat.move_fake_in_place(t, device)


@contextlib.contextmanager
def _patched_torch(target: torch.device, tracer: Tracer | None = None) -> Iterator[None]:
    """For scripts: `torch.cuda.*` answers as on a GPU, `model.to("cuda")` moves fakes in place,
    `torch.save` writes nothing, fused/foreach optimizers take the plain path."""
    original_to, original_cuda = nn.Module.to, nn.Module.cuda

    def module_to(self: nn.Module, *args: Any, **kwargs: Any) -> nn.Module:
        device, dtype = compat.parse_to(*args, **kwargs)
        if device is not None:
            _move_module(self, stand_in(device) if torch.device(device).type == "cuda" else device)
        if dtype is not None:
            return original_to(self, dtype)
        return self

    def module_cuda(self: nn.Module, device: Any = None) -> nn.Module:
        _move_module(self, target)
        return self

    nn.Module.to, nn.Module.cuda = module_to, module_cuda  # type: ignore[method-assign, assignment]
    saved: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, value: Any) -> None:
        saved.append((owner, name, getattr(owner, name, _ABSENT)))
        setattr(owner, name, value)

    # Without CUDA, what a training script asks about the device answers as on one recent GPU.
    if target.type == "meta":
        for name, fake in _fake_cuda_api().items():
            patch(torch.cuda, name, fake)
        accelerator = getattr(torch, "accelerator", None)
        if accelerator is not None:
            for name, fake in _fake_accelerator_api().items():
                patch(accelerator, name, fake)
    # torch.save cannot pickle fake tensors, and a dry run must not overwrite real checkpoints:
    # what is saved is kept in memory, and torch.load of the same path gives it back.
    saved_objects: dict[str, Any] = {}
    patch(torch, "save", _skip_save(tracer, saved_objects))
    patch(torch, "load", _load_saved(torch.load, saved_objects))
    # DataLoader workers are other processes: fake tensors and the fake device do not cross.
    loader_init = torch.utils.data.DataLoader.__init__

    def loader_in_process(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > 6:  # num_workers given positionally
            args = (*args[:6], 0, *args[7:])
        kwargs.update({"num_workers": 0} if len(args) <= 6 else {})
        for key in ("persistent_workers", "prefetch_factor", "pin_memory"):
            kwargs.pop(key, None)
        loader_init(self, *args, **kwargs)

    patch(torch.utils.data.DataLoader, "__init__", loader_in_process)
    # Fused and foreach optimizer kernels refuse the stand-in device: the dry run checks the
    # shapes the optimizer sees, not which kernel updates them.
    optimizer_init = torch.optim.Optimizer.__init__

    def init_without_fused(self: Any, params: Any, defaults: dict[str, Any]) -> None:
        defaults = dict(defaults)
        for key in ("fused", "foreach", "capturable"):
            if defaults.get(key):
                defaults[key] = False if key != "foreach" else None
        optimizer_init(self, params, defaults)

    patch(torch.optim.Optimizer, "__init__", init_without_fused)
    try:
        yield
    finally:
        nn.Module.to, nn.Module.cuda = original_to, original_cuda  # type: ignore[method-assign]
        for owner, name, value in reversed(saved):
            if value is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


_ABSENT = object()
_GIB = 1 << 30


def _fake_cuda_api() -> dict[str, Any]:
    import types

    props = types.SimpleNamespace(name="fake cuda (shapecheck dry run)", major=8, minor=0, total_memory=80 * _GIB,
                                  multi_processor_count=108, is_integrated=False, uuid="fake")
    return {"is_available": lambda: True, "device_count": lambda: 1, "current_device": lambda: 0,
            "is_initialized": lambda: True, "init": lambda: None,
            "synchronize": lambda *a, **k: None, "empty_cache": lambda: None,
            "manual_seed": lambda *a: None, "manual_seed_all": lambda *a: None, "seed": lambda: None,
            "set_device": lambda *a: None, "get_device_name": lambda *a: props.name,
            "get_device_capability": lambda *a: (8, 0), "get_device_properties": lambda *a: props,
            "is_bf16_supported": lambda *a, **k: True, "mem_get_info": lambda *a: (80 * _GIB, 80 * _GIB),
            "memory_allocated": lambda *a: 0, "max_memory_allocated": lambda *a: 0,
            "memory_reserved": lambda *a: 0, "max_memory_reserved": lambda *a: 0,
            "reset_peak_memory_stats": lambda *a: None, "current_stream": lambda *a: _FakeStream(),
            "default_stream": lambda *a: _FakeStream(), "is_current_stream_capturing": lambda: False}


class _FakeStream:
    """What optimizers and scripts ask of the current stream, on the fake device."""

    device = property(lambda self: torch.device("cuda", 0))

    def is_capturing(self) -> bool:
        return False

    def synchronize(self) -> None:
        return None

    def wait_stream(self, other: Any) -> None:
        return None

    def query(self) -> bool:
        return True


def _fake_accelerator_api() -> dict[str, Any]:
    return {"is_available": lambda *a, **k: True, "current_accelerator": lambda *a, **k: torch.device("cuda"),
            "device_count": lambda: 1, "current_device_index": lambda: 0, "current_device_idx": lambda: 0,
            "set_device_index": lambda *a: None, "set_device_idx": lambda *a: None,
            "synchronize": lambda *a: None, "current_stream": lambda *a: _FakeStream()}


def _file_key(f: Any) -> str | None:
    import os

    try:
        return os.path.abspath(os.fspath(f))
    except TypeError:
        name = getattr(f, "name", None)
        return os.path.abspath(name) if isinstance(name, str) else None


def _skip_save(tracer: Tracer | None, kept: dict[str, Any]) -> Any:
    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        if tracer is not None:
            tracer.skipped_saves += 1
        key = _file_key(f)
        if key is not None:
            kept[key] = obj

    return save


def _load_saved(original: Any, kept: dict[str, Any]) -> Any:
    def load(f: Any, *args: Any, **kwargs: Any) -> Any:
        key = _file_key(f)
        if key is not None and key in kept:
            return kept[key]  # saved earlier in this dry run: nothing was written
        return original(f, *args, **kwargs)

    return load


@contextlib.contextmanager
def fake_environment(device: str = "cuda", *, patch_torch: bool = False, print_summary: bool = False,
                     max_steps: int | None = None, max_seconds: float | None = None) -> Iterator[Tracer]:
    """Fake tensors + fake accelerator + tracer; yields the tracer. Used by `dry_run` and the CLI.

    Reading a value (`.item()`, `.tolist()`, `bool(t)`) gives a placeholder (1, a halving float,
    False) so loops, samplers and logging go on; `max_steps` ends the run after that many optimizer
    steps, `max_seconds` after that much wall time (main thread only), Ctrl-C at once: each
    keeps the findings so far.
    """
    compat.require_torch("dry run")
    target = stand_in(device)
    tracer = Tracer(stats=False, dry_run=True)
    tracer.max_steps = max_steps
    if target.type == "meta":
        tracer.device_names["meta"] = "cuda:0"
    fake = compat.fake_tensor_mode(allow_non_fake_inputs=True)
    patches = _patched_torch(target, tracer) if patch_torch else contextlib.nullcontext()
    tracer.install_hooks()
    try:
        with _quiet_fake_logs(), _time_bound(max_seconds), patches, fake, _function_mode(target, tracer):
            tracer.attach(_make_mode(tracer))
            try:
                yield tracer
            finally:
                tracer.detach()
    except DryRunTimeout:
        tracer.interrupted = True
        tracer.report("dry-run-stopped",
                      f"the dry run reached its time bound ({max_seconds:g} s) after {tracer._steps} optimizer "
                      "step(s): a loop that waits for a value fake tensors do not have (a loss threshold, a "
                      "convergence test), or a long data or evaluation loop; the findings so far are below",
                      where=("", 0), module="")
    except StopDryRun:
        tracer.report("dry-run-stopped",
                      f"the dry run ended after {tracer._steps} optimizer step(s): forward, backward and step "
                      "were checked; the rest of the script was not run", where=("", 0), module="")
    except BaseException as exc:  # noqa: BLE001 - turned into a finding, then re-raised if foreign
        if isinstance(exc, KeyboardInterrupt) and not patch_torch:
            raise  # `dry_run(model, ...)` in the user's own program: Ctrl-C is theirs
        if not record_failure(tracer, exc):
            raise
    finally:
        tracer.remove_hooks()
        tracer.finish()
        if print_summary:
            from shapecheck.runtime.render import print_summary as show

            show(tracer)


_SHAPE_WORDS = ("shape", "size", "dimension", "mat1 and mat2", "must match", "broadcast", "expected input",
                "out of range", "cannot be multiplied", "rank", "numel", "invalid for input of size",
                "reduction dim", "must have the same", "dims", "channels")
_DTYPE_WORDS = ("dtype", "scalar type", "expected both vectors to have same", "but found float", "but found double",
                "but found long", "but found half", "but found bfloat16", "scalar types", "input type (",
                "indices must be long", "expected dtype")
# Limits of fake tensors and of the stand-in device, not bugs of the script.
_MACHINERY_WORDS = ("fake", "meta tensor", "'meta'", "data pointer", "data_ptr", "not implemented for",
                    "tensor subclass", "could not run", "accelerator", "not compiled with cuda", "symbolic",
                    "data-dependent", "cannot copy out of meta")


def _classify(exc: BaseException) -> str:
    """The finding kind for an exception raised in a fake run."""
    if isinstance(exc, ShapeError):
        return "shape-error"
    text = str(exc).lower()
    if isinstance(exc, NotImplementedError) or isinstance(exc, compat.UnsupportedTorch):
        return "dry-run-unsupported"
    if isinstance(exc, RuntimeError):
        if any(w in text for w in _DTYPE_WORDS):
            return "dtype-mismatch"
        if any(w in text for w in _SHAPE_WORDS) and not any(w in text for w in ("fake", "meta tensor")):
            return "shape-error"
        if any(w in text for w in _MACHINERY_WORDS):
            return "dry-run-unsupported"
        return "runtime-error"
    if isinstance(exc, AssertionError) and _raised_in_torch(exc):
        return "dry-run-unsupported"  # e.g. "Torch not compiled with CUDA enabled" from an API we do not fake
    return ""


def _raised_in_torch(exc: BaseException) -> bool:
    from shapecheck.runtime.tracer import _TORCH_DIR

    frames = list(traceback.walk_tb(exc.__traceback__))
    return bool(frames) and frames[-1][0].f_code.co_filename.startswith(_TORCH_DIR)


def record_failure(tracer: Tracer, exc: BaseException) -> bool:
    """Turn an exception from a fake run into a finding; False when it is not ours to absorb.

    The kind says what failed: a device mix, a shape, a dtype, an op the fake tensors cannot
    run (a limit of the dry run, reported as info, never as a bug of the script), or another
    runtime error of the script. Exceptions of the script's own logic are re-raised.
    """
    where = _user_line(exc)
    first = tracer.rename_devices(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
    if isinstance(exc, compat.device_mismatch_error()) or "same device" in str(exc):
        if not any(f.kind == "device-mismatch" for f in tracer.findings):
            tracer.report("device-mismatch", first, where=where)
        return True
    if isinstance(exc, compat.fake_errors()):
        tracer.report("dry-run-stopped",
                      "the dry run stopped at an op whose output shape depends on values (nonzero, boolean-mask "
                      "indexing, unique): fake tensors have none; everything before this line was checked",
                      where=where)
        return True
    if isinstance(exc, KeyboardInterrupt):
        tracer.report("dry-run-stopped", f"interrupted (Ctrl-C) after {tracer._steps} optimizer step(s); the findings "
                                         "so far are below", where=where, module="")
        tracer.interrupted = True
        return True
    kind = _classify(exc)
    if not kind:
        return False
    if kind == "shape-error" and isinstance(exc, ShapeError):
        tracer.report(kind, str(exc).splitlines()[0], where=where, notes=str(exc).splitlines()[1:])
    elif kind == "dry-run-unsupported":
        tracer.report(kind, f"the dry run cannot go on here ({type(exc).__name__}: {first}); this is a limit of "
                            "fake tensors, not a bug in the script; everything before this line was checked",
                      where=where)
    else:
        tracer.report(kind, f"{type(exc).__name__}: {first}" if kind == "runtime-error" else first, where=where)
    return True


def _user_line(exc: BaseException) -> tuple[str, int]:
    from shapecheck.runtime.tracer import _SKIP_PREFIXES

    found = ("", 0)
    for frame, line in traceback.walk_tb(exc.__traceback__):
        if not frame.f_code.co_filename.startswith(_SKIP_PREFIXES):
            found = (frame.f_code.co_filename, line)
    return found if found[0] else user_frame(2)


@contextlib.contextmanager
def _quiet_fake_logs() -> Iterator[None]:
    """Fake-tensor kernels log a noisy ERROR block for every failing meta kernel."""
    import logging

    loggers = [logging.getLogger(n) for n in ("torch._subclasses.fake_tensor", "torch._subclasses")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _fake_like(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    fake = torch.empty_strided(tuple(t.shape), tuple(t.stride()), dtype=t.dtype, device=device)
    if t.requires_grad:
        fake.requires_grad_(True)
    return fake


def dry_run(model: nn.Module, *inputs: Any, device: str = "cuda", loss_fn: Any = None, target: Any = None,
            backward: bool = True, print_summary: bool = False, **kwargs: Any) -> Tracer:
    """Run `model(*inputs, **kwargs)` on fake tensors with model and inputs on a fake `device`.

    Nothing is computed and no memory is allocated; the model itself is not modified (its
    parameters are swapped for fakes with `torch.func.functional_call`). With `loss_fn`, the
    loss `loss_fn(output, target)` is computed too; with `backward`, gradients flow back.
    Returns the tracer: `.findings` (device mixing, broadcast traps, op errors with the line
    inside `forward`), `.modules` (the shape of every submodule), `.to_json()`.
    """
    with fake_environment(device, print_summary=print_summary) as tracer:
        dev = stand_in(device)
        state = {n: _fake_like(t, dev) for n, t in [*model.named_parameters(), *model.named_buffers()]}
        fake_inputs = [_fake_like(x, dev) if isinstance(x, torch.Tensor) else x for x in inputs]
        fake_kwargs = {k: _fake_like(v, dev) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        fake_target = _fake_like(target, dev) if isinstance(target, torch.Tensor) else target
        out = torch.func.functional_call(model, state, tuple(fake_inputs), fake_kwargs)
        result = loss_fn(out, fake_target) if loss_fn is not None else out
        if backward and isinstance(result, torch.Tensor) and result.requires_grad:
            (result if result.dim() == 0 else result.sum()).backward()
    return tracer


def run_script_dry(path: str, device: str) -> Tracer:
    """Run a script file (already set up as __main__ by the caller) inside a fake environment."""
    import runpy

    with fake_environment(device, patch_torch=True, max_steps=2) as tracer:
        runpy.run_path(path, run_name="__main__")
    return tracer


if __name__ == "__main__":  # pragma: no cover - manual use
    sys.exit("use `shapecheck trace --dry-run SCRIPT` or shapecheck.dry_run(model, *inputs)")
