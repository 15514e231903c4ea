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
                torch.Tensor.__int__: "int", torch.Tensor.__float__: "float", torch.Tensor.__index__: "index"}


def _placeholder(t: torch.Tensor, how: str) -> Any:
    """A stand-in for the value a real tensor would give (fake tensors have none).

    1 / 1.0 for numbers (not 0: Adam divides by `1 - beta ** step.item()`, and an index 1 is
    as valid as 0 in a sampler's permutation), False for truth values (`if torch.isnan(loss):`).
    """
    one: Any = False if t.dtype == torch.bool else (1 if not t.dtype.is_floating_point else 1.0)
    if how == "bool":
        return False
    if how in ("int", "index"):
        return 1
    if how == "float":
        return 1.0
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


def _function_mode(target: torch.device, tracer: Tracer | None = None) -> Any:
    base = compat.function_mode_base()

    class _FakeAccelerator(base):  # type: ignore[misc, valid-type]
        """Send every `cuda` the code names to the fake accelerator `target`."""

        def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                               kwargs: dict[str, Any] | None = None) -> Any:
            how = _VALUE_READS.get(func)
            if how is not None and args and compat.is_fake(args[0]):
                if tracer is not None:
                    tracer.placeholders += 1
                    tracer.value_read(args[0], how)
                return _placeholder(args[0], how)
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
def _patched_torch(target: torch.device) -> Iterator[None]:
    """For scripts: `torch.cuda.is_available()` says yes, `model.to("cuda")` moves fakes in place."""
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
    # Without CUDA, the calls a training script makes around the device answer as on one GPU.
    fakes: dict[str, Any] = {}
    if target.type == "meta":
        fakes = {"is_available": lambda: True, "device_count": lambda: 1, "current_device": lambda: 0,
                 "synchronize": lambda *a, **k: None, "empty_cache": lambda: None,
                 "manual_seed": lambda *a: None, "manual_seed_all": lambda *a: None,
                 "set_device": lambda *a: None, "get_device_name": lambda *a: "fake cuda (shapecheck dry run)"}
    saved = {name: getattr(torch.cuda, name) for name in fakes if hasattr(torch.cuda, name)}
    for name, fake in fakes.items():
        setattr(torch.cuda, name, fake)
    try:
        yield
    finally:
        nn.Module.to, nn.Module.cuda = original_to, original_cuda  # type: ignore[method-assign]
        for name in fakes:
            if name in saved:
                setattr(torch.cuda, name, saved[name])
            else:
                delattr(torch.cuda, name)


@contextlib.contextmanager
def fake_environment(device: str = "cuda", *, patch_torch: bool = False, print_summary: bool = False,
                     max_steps: int | None = None) -> Iterator[Tracer]:
    """Fake tensors + fake accelerator + tracer; yields the tracer. Used by `dry_run` and the CLI.

    Reading a value (`.item()`, `.tolist()`, `bool(t)`) gives a placeholder (1, 1.0, False) so
    loops, samplers and logging go on; `max_steps` ends the run after that many optimizer steps.
    """
    compat.require_torch("dry run")
    target = stand_in(device)
    tracer = Tracer(stats=False, dry_run=True)
    tracer.max_steps = max_steps
    if target.type == "meta":
        tracer.device_names["meta"] = "cuda:0"
    fake = compat.fake_tensor_mode(allow_non_fake_inputs=True)
    patches = _patched_torch(target) if patch_torch else contextlib.nullcontext()
    tracer.install_hooks()
    try:
        with _quiet_fake_logs(), patches, fake, _function_mode(target, tracer):
            tracer.attach(_make_mode(tracer))
            try:
                yield tracer
            finally:
                tracer.detach()
    except StopDryRun:
        tracer.report("dry-run-stopped",
                      f"the dry run ended after {tracer._steps} optimizer step(s): forward, backward and step "
                      "were checked; the rest of the script was not run", where=("", 0), module="")
    except BaseException as exc:  # noqa: BLE001 - turned into a finding, then re-raised if foreign
        if not record_failure(tracer, exc):
            raise
    finally:
        tracer.remove_hooks()
        tracer.finish()
        if print_summary:
            from shapecheck.runtime.render import print_summary as show

            show(tracer)


def record_failure(tracer: Tracer, exc: BaseException) -> bool:
    """Turn an exception from a fake run into a finding; False when it is not ours to absorb."""
    where = _user_line(exc)
    if isinstance(exc, compat.device_mismatch_error()) or "same device" in str(exc):
        if not any(f.kind == "device-mismatch" for f in tracer.findings):
            tracer.report("device-mismatch", tracer.rename_devices(str(exc).splitlines()[0]), where=where)
        return True
    if isinstance(exc, compat.fake_errors()):
        tracer.report("dry-run-stopped",
                      "the dry run stopped at an op whose output shape depends on values (nonzero, boolean-mask "
                      "indexing, unique): fake tensors have none; everything before this line was checked",
                      where=where)
        return True
    if isinstance(exc, ShapeError):
        tracer.report("shape-error", str(exc).splitlines()[0], where=where, notes=str(exc).splitlines()[1:])
        return True
    if isinstance(exc, RuntimeError) and not isinstance(exc, compat.UnsupportedTorch):
        tracer.report("shape-error", tracer.rename_devices(str(exc).strip().splitlines()[0]), where=where)
        return True
    return False


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
