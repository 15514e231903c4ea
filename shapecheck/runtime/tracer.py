"""`with shapecheck.trace():` a dispatch-level tracer for forward and backward.

    with shapecheck.trace() as t:          # prints a summary on exit
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    t.findings, t.modules, t.to_json()

Mechanisms (measured costs in research/runtime-anchors.md §3):
- a `TorchDispatchMode` sees every ATen op, backward included: op counts, device mixing,
  broadcast traps, host syncs, float64, NaN/Inf, the first cross-entropy value;
- global module forward hooks give module paths, the per-module shape table, activation
  statistics, and Dropout/BatchNorm left in training mode under `no_grad`;
- global optimizer step hooks and per-parameter gradient hooks check gradients: shape and
  device against the parameter, parameters that never get one, and an optimizer stepping on a
  gradient that still held its last step's value when backward added to it (no `zero_grad`);
  the pre-step hook also takes our mode off the stack until the post-step hook: the optimizer's
  own ops (Adam's step counter `.item()`) are not user code, and skipping them halves the cost;
- the training step, where host syncs matter, is the span from a top-level forward whose
  output reaches backward() (a hook on that output says so) to optimizer.step(): syncs wait in
  a pending list until the forward is known to be one (a logging or probe forward never is);
- module and optimizer hooks are process-wide, so they act for the tracing thread only;
- the user's source line is found by walking frames past torch and shapecheck, and only
  when there is something to report, so the per-op cost stays small;
- a few ops carry one bug check each (`opchecks.py`): probabilities fed to cross-entropy,
  a loss summed with its graph across steps, a broadcast inside a loss function.

Value statistics (activation mean/std, dead ReLUs, the first loss, probabilities into a loss)
read tensor values and so synchronise with the GPU: they are taken once per module and for the
first few losses; `stats=False` turns all of them off.
NaN/Inf checks (`detect_nan=True`) sync on every op and are off by default.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from shapecheck.runtime import _torch_compat as compat
from shapecheck.runtime.findings import KINDS, Finding, ModuleRow, shape_text
from shapecheck.runtime.opchecks import OpChecks

_OWN_DIR = os.path.dirname(os.path.abspath(__file__))
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_STDLIB = os.path.dirname(os.path.abspath(os.__file__))
# Frames that are never "the user's line": torch, shapecheck.runtime, and the stdlib glue
# between `shapecheck trace` and the script (runpy) or around `with trace():` (contextlib).
_SKIP_PREFIXES = (_OWN_DIR, _TORCH_DIR, "<frozen", os.path.join(_STDLIB, "runpy.py"),
                  os.path.join(_STDLIB, "contextlib.py"))

aten = torch.ops.aten
_SYNC_OPS = {aten._local_scalar_dense.default, aten.nonzero.default, aten.equal.default}
_DEVICE_EXEMPT = {aten._to_copy.default, aten.copy_.default, aten.index.Tensor, aten.index_put_.default,
                  aten.index_put.default, aten._index_put_impl_.default, aten.lift_fresh.default,
                  aten.set_.source_Storage_storage_offset, aten.set_.source_Tensor}
_NLL_OPS = {aten.nll_loss_forward.default, aten.nll_loss2d_forward.default}
_COPY_OPS = {aten._to_copy.default, aten.copy_.default}
_RELU_OPS = {aten.relu.default, aten.relu_.default}
_LOG_SOFTMAX = {aten._log_softmax.default}
_ADD_OPS = {aten.add.Tensor, aten.add_.Tensor}
# Loss kernels that F.mse_loss & co. call after `torch.broadcast_tensors` (F.l1_loss decomposes into a sub).
_LOSS_OPS = {aten.mse_loss.default, aten.smooth_l1_loss.default, aten.huber_loss.default, aten.sub.Tensor}
_ZERO_OPS = {aten.zero_.default, aten._foreach_zero_.default}
_EXPAND_OPS = {aten.expand.default}
_SIMPLEX_BUDGET = 8  # cross-entropy/NLL inputs checked for probabilities (each one syncs)
_RELU_BUDGET = 32  # functional relu calls whose dead fraction is measured (each one syncs)
_NORM_TYPES, _BATCHNORM = compat.norm_layer_types()
_RELU_TYPES: tuple[type, ...] = (nn.ReLU, nn.ReLU6)
_FLOAT64 = torch.float64
_MAX_PER_KIND = 50


def user_frame(depth: int = 1) -> tuple[str, int]:
    """(filename, line) of the innermost frame that is the user's code."""
    frame: Any = sys._getframe(depth)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(_SKIP_PREFIXES):
            return name, frame.f_lineno
        frame = frame.f_back
    return "", 0


def _flags(func: Any) -> int:
    """Bit flags computed once per op: 1 pointwise, 2 device-exempt, 4 sync, 8 nll, 16 copy, 32 relu,
    64 log_softmax, 128 add, 256 loss kernel, 512 zeroing, 1024 expand."""
    flags = 0
    try:
        if torch.Tag.pointwise in func.tags:
            flags |= 1
    except AttributeError:
        pass
    if func in _DEVICE_EXEMPT:
        flags |= 2
    if func in _SYNC_OPS:
        flags |= 4
    if func in _NLL_OPS:
        flags |= 8
    if func in _COPY_OPS:
        flags |= 16
    if func in _RELU_OPS:
        flags |= 32
    for bit, ops in ((64, _LOG_SOFTMAX), (128, _ADD_OPS), (256, _LOSS_OPS), (512, _ZERO_OPS), (1024, _EXPAND_OPS)):
        if func in ops:
            flags |= bit
    return flags


_SLOW = 64 | 128 | 256 | 512 | 1024  # flags handled outside the hot path


class Tracer(OpChecks):
    """State of one `trace()`: what was seen and what is wrong with it."""

    def __init__(self, *, detect_nan: bool = False, stats: bool = True, dry_run: bool = False,
                 trace_optimizer: bool = False, steps: int | None = None) -> None:
        self.detect_nan = detect_nan
        self.trace_optimizer = trace_optimizer
        self.full_steps = steps  # after this many optimizer steps the tracer detaches itself
        self.stats = stats and not dry_run
        self.dry_run = dry_run
        self.findings: list[Finding] = []
        self._by_key: dict[tuple[str, str, int, str], Finding] = {}
        self._ops: dict[int, list[Any]] = {}  # id(op) -> [count, flags, op]
        self.modules: dict[str, ModuleRow] = {}
        self._paths: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()
        self._stack: list[str] = []
        self._busy = False  # our own tensor ops (statistics) must not be traced
        self._in_step = False  # between a forward whose output reached backward() and optimizer.step()
        self._open_forward = False  # a top-level forward with grad ran since the last step: syncs are pending
        self._event_seq = 0
        self._event_seq_at_forward = 0
        self._end_queued = False
        self._pending: list[tuple[int, dict[str, Any]]] = []  # syncs waiting to learn if they are in a step
        self._thread = threading.get_ident()
        self._mode: Any = None
        self._mode_on = False
        self._detached = False
        self._born: weakref.WeakSet[nn.Module] = weakref.WeakSet()  # modules built while tracing
        self._foreign_model = False  # a model built before the trace ran: it may be trained already
        self._weights_loaded = False  # a copy_ into a Parameter (load_state_dict): not a fresh model
        self._relu_done: set[str] = set()
        self._simplex_budget = _SIMPLEX_BUDGET
        self._log_probs: dict[int, Any] = {}  # id -> weakref of log_softmax outputs of probabilities
        self._expands: deque[tuple[Any, tuple[int, ...]]] = deque(maxlen=8)
        self._accumulators: dict[int, tuple[Any, int]] = {}  # id(sum of losses) -> (weakref, step)
        self._stale: dict[int, tuple[Any, tuple[str, int]]] = {}  # id(param) -> (weakref(grad), backward line)
        self._steps = 0
        self._first_loss_checked = False
        self._relu_budget = _RELU_BUDGET
        self._warned_modules: set[Any] = set()
        self._param_names: dict[int, str] = {}  # id(param): tensors cannot be weak dict keys (== is elementwise)
        self._param_owner: dict[int, nn.Module] = {}
        self._hooked: set[int] = set()
        self._after_step: dict[int, tuple[Any, int]] = {}  # id(param) -> (grad, version) after step
        self._no_grad_ever: dict[int, str] = {}
        self._got_grad: set[int] = set()
        self._handles: list[Any] = []
        self._kind_counts: dict[str, int] = {}
        self._created: dict[int, tuple[Any, str, int]] = {}  # id -> (weakref, file, line) of tensors made in forward
        self.internal_errors = 0
        self.placeholders = 0  # dry run: values read from fake tensors (.item() -> 1)
        self.skipped_saves = 0  # dry run: torch.save calls that wrote nothing
        self.interrupted = False  # the run ended on Ctrl-C or at its time bound
        self.deadline: float | None = None  # time.monotonic() bound of a dry run
        self.max_steps: int | None = None  # dry run: stop after this many optimizer steps
        self.device_names: dict[str, str] = {}  # dry run: the `meta` stand-in prints as `cuda:0`

    # --- findings ------------------------------------------------------------------------

    def report(self, kind: str, message: str, *, op: str = "", module: str | None = None,
               where: tuple[str, int] | None = None, notes: list[str] | None = None,
               severity: str | None = None) -> Finding | None:
        """Record a finding at the user's line; repeats at one line only bump its count."""
        filename, line = where if where is not None else user_frame(2)
        mod = self._stack[-1] if module is None and self._stack else (module or "")
        key = (kind, filename, line, mod)
        found = self._by_key.get(key)
        if found is not None:
            found.count += 1
            return found
        if self._kind_counts.get(kind, 0) >= _MAX_PER_KIND:
            return None
        self._kind_counts[kind] = self._kind_counts.get(kind, 0) + 1
        finding = Finding(kind, message, severity or KINDS[kind][0], filename, line, mod, op, 1, notes or [])
        self._by_key[key] = finding
        self.findings.append(finding)
        return finding

    # --- the op handler ------------------------------------------------------------------

    def on_op(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # Keyed by id(func): OpOverload.__hash__ is Python code, and this runs for every op.
        entry = self._ops.get(id(func))
        if entry is None:
            entry = self._ops[id(func)] = [0, _flags(func), func]
        entry[0] += 1
        flags = entry[1]
        tensor = torch.Tensor
        first_dev = None
        max_numel = -1
        mixed = False
        for a in args:
            if isinstance(a, tensor):
                dev = a.device
                if first_dev is None:
                    first_dev = dev
                elif dev != first_dev and not (flags & 2):
                    mixed = True
                if flags & 1:
                    n = a.numel()
                    if n > max_numel:
                        max_numel = n
            elif isinstance(a, (list, tuple)) and a and isinstance(a[0], tensor):
                for b in a:
                    if isinstance(b, tensor):
                        if first_dev is None:
                            first_dev = b.device
                        elif b.device != first_dev and not (flags & 2):
                            mixed = True
        # A bug in a rule must never break the user's program: rules are guarded, the op is not.
        try:
            if mixed:
                self._device_mismatch(func, args)
            if flags & 4:
                self._sync(func, args)
            elif flags & 16:
                if self._in_step or self._open_forward:
                    self._copy_to_host(func, args, kwargs)
                if args and type(args[0]) is nn.Parameter:
                    self._weights_loaded = True  # load_state_dict copies into the parameters
            if flags & _SLOW:
                self._before_special(func, flags, args)
        except Exception as exc:  # noqa: BLE001
            self.internal_error(exc)
        out = func(*args, **kwargs)
        try:
            if flags & _SLOW:
                self._after_special(func, flags, args, out)
            if type(out) is tensor or isinstance(out, tensor):
                odt = out.dtype
                if odt is _FLOAT64:
                    self._float64(func, args)
                if flags & 1 and max_numel >= 0 and out.numel() > max_numel and out.dim() > 0:
                    self._broadcast(func, args, out)
                if self.detect_nan and odt.is_floating_point:
                    self._nan(func, args, out)
                if first_dev is None and self._stack:
                    self._remember_creation(out)
                if flags & 32 and self._relu_budget > 0 and self.stats:
                    self._functional_relu(out, args[0])
            elif flags & 8:
                if self._simplex_budget > 0 and self.stats:
                    self._probabilities_into_nll(args)
                if not self._first_loss_checked:
                    self._first_loss(args, out)
        except Exception as exc:  # noqa: BLE001
            self._busy = False
            self.internal_error(exc)
        return out

    def internal_error(self, exc: BaseException) -> None:
        """Say once that a check failed internally; the traced program goes on."""
        self.internal_errors += 1
        if self.internal_errors == 1:
            print(f"shapecheck: internal error in the tracer ({type(exc).__name__}: {exc}); "
                  "the program continues, some checks are skipped", file=sys.stderr)

    def _device_mismatch(self, func: Any, args: tuple[Any, ...]) -> None:
        devices = []
        for a in args:
            items = a if isinstance(a, (list, tuple)) else (a,)
            for b in items:
                if isinstance(b, torch.Tensor) and not (b.dim() == 0 and b.device.type == "cpu"):
                    devices.append(f"{shape_text(b.shape)} on {self.device_name(b.device)}")
        if len({d.split(" on ")[1] for d in devices}) < 2:
            return  # only CPU scalars differ: torch allows that
        notes = []
        for a in args:
            seen = self._created.get(id(a)) if isinstance(a, torch.Tensor) else None
            if seen is not None and seen[0]() is a:
                notes.append(f"the {self.device_name(a.device)} tensor {shape_text(a.shape)} was created at "
                             f"{seen[1]}:{seen[2]}: pass device=x.device (x: an input of forward) when creating it")
        self.report("device-mismatch",
                    f"{func} mixes devices: " + ", ".join(devices)
                    + ". A tensor created without device= (or not moved with .to(device)) meets the model's.",
                    op=str(func), notes=notes)

    def _remember_creation(self, out: torch.Tensor) -> None:
        if len(self._created) > 4096:
            self._created.clear()
        try:
            ref = weakref.ref(out)
        except TypeError:
            return
        filename, line = user_frame(3)
        self._created[id(out)] = (ref, filename, line)

    def device_name(self, device: torch.device) -> str:
        text = str(device)
        return self.device_names.get(device.type, text) if self.device_names else text

    def rename_devices(self, text: str) -> str:
        for old, new in self.device_names.items():
            text = text.replace(f" {old} ", f" {new} ").replace(f" {old}!", f" {new}!").replace(f" {old},", f" {new},")
        return text

    # --- host syncs: only inside the training step ------------------------------------------
    #
    # The step is the span from a forward whose output reaches backward() to optimizer.step().
    # A sync is seen before we know whether the forward around it will reach backward() (a
    # logging forward, a probe forward in __init__, a transform never do), so it waits in
    # `_pending` until the output's gradient hook confirms the step, and is dropped otherwise.

    def _sync_event(self, **report: Any) -> None:
        if self._in_step:
            self.report(**report)
        elif self._open_forward and len(self._pending) < 256:
            self._event_seq += 1
            report.setdefault("where", user_frame(3))
            report.setdefault("module", self._stack[-1] if self._stack else "")
            self._pending.append((self._event_seq, report))

    def _confirm_step(self, start: int) -> None:
        """The output of a forward that began at event `start` reached backward(): a training step."""
        if self._detached:
            return
        self._in_step = True
        if not self._steps and not self._end_queued:
            # No optimizer.step() seen yet (a loop that updates p.data by hand, or the first
            # iteration): the step ends with this backward pass, so later logging is not in it.
            self._end_queued = compat.at_backward_end(self._backward_done)
        keep = []
        for seq, report in self._pending:
            if seq > start:
                self.report(**report)
            else:
                keep.append((seq, report))
        self._pending = keep

    def _backward_done(self) -> None:
        self._end_queued = False
        if not self._steps:
            self._in_step = self._open_forward = False
            self._pending.clear()

    def _watch_output(self, output: Any, depth: int = 0) -> int:
        """Hook the tensors of a top-level forward's output: their gradient means a training step."""
        if isinstance(output, torch.Tensor):
            if output.requires_grad and output.grad_fn is not None:
                start = self._event_seq_at_forward
                output.register_hook(lambda grad: self._confirm_step(start))
                return 1
            return 0
        hooked = 0
        if depth < 2:
            values = output.values() if isinstance(output, dict) else output if isinstance(output, (tuple, list)) else ()
            for v in list(values)[:8]:
                hooked += self._watch_output(v, depth + 1)
                if hooked >= 4:
                    break
        return hooked

    def _accelerator(self, t: torch.Tensor) -> str | None:
        """"forces" / "would force" when `t` is (or would be, in a GPU run) on an accelerator, else None.

        On a CPU run we cannot tell which CPU tensors a GPU run would hold on the GPU; a tensor in
        the autograd graph (the loss, an activation) would be there, so only those are reported.
        Adam's step counter, a DataLoader batch before `.to(device)` or lengths for
        `pack_padded_sequence` stay on the CPU in a GPU run too.
        """
        dev = t.device.type
        if dev == "cpu":
            return "would force" if (t.requires_grad or t.grad_fn is not None) else None
        if dev == "meta" and not self.dry_run:
            return None  # meta tensors have no data: nothing to wait for
        return "forces"

    def _sync(self, func: Any, args: tuple[Any, ...]) -> None:
        if not (self._in_step or self._open_forward):
            return
        src = args[0] if args and isinstance(args[0], torch.Tensor) else None
        how = self._accelerator(src) if src is not None else None
        if how is None:
            return
        what = {"aten._local_scalar_dense.default": ".item() / bool(tensor) / float(tensor)",
                "aten.nonzero.default": "nonzero() / boolean-mask indexing",
                "aten.equal.default": "torch.equal()"}.get(str(func), str(func))
        self._sync_event(kind="host-sync",
                         message=f"{what} inside the training step {how} a host-device sync (the CPU waits for the GPU)",
                         op=str(func), severity="info" if how == "would force" else None,
                         notes=["keep values on the device inside the step; read them (.item()) after "
                                "optimizer.step(), or every N steps"])

    def value_read(self, t: torch.Tensor, how: str) -> None:
        """A dry run read a value of a fake tensor (`.item()`, `bool(t)`): a sync on a real GPU."""
        if not (self._in_step or self._open_forward) or t.device.type == "cpu":
            return
        what = {"bool": "bool(tensor)", "int": "int(tensor)", "float": "float(tensor)", "index": "a tensor index",
                "tolist": ".tolist()"}.get(how, ".item()")
        self._sync_event(kind="host-sync",
                         message=f"{what} inside the training step forces a host-device sync (the CPU waits for the GPU)",
                         op=f"Tensor.{how}",
                         notes=["keep values on the device inside the step; read them (.item()) after "
                                "optimizer.step(), or every N steps"])

    def _copy_to_host(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """`.cpu()`, `.tolist()`, `.numpy()` of an accelerator tensor: a device-to-host copy waits."""
        if func is aten._to_copy.default:
            src, dst = args[0], kwargs.get("device")
            dst_type = dst.type if isinstance(dst, torch.device) else None
        else:
            src, dst_t = (args[1], args[0]) if len(args) > 1 else (None, None)
            dst_type = dst_t.device.type if isinstance(dst_t, torch.Tensor) else None
        if not isinstance(src, torch.Tensor) or dst_type != "cpu" or src.device.type == "cpu":
            return
        if src.device.type == "meta" and not self.dry_run:
            return
        self._sync_event(kind="host-sync",
                         message=f".cpu() / .tolist() / .numpy() inside the training step copies a "
                                 f"{self.device_name(src.device)} tensor to the host and waits for the GPU",
                         op=str(func),
                         notes=["keep values on the device inside the step; move them after optimizer.step()"])

    def _float64(self, func: Any, args: tuple[Any, ...]) -> None:
        dtypes = [a.dtype for a in args if isinstance(a, torch.Tensor)]
        has64 = _FLOAT64 in dtypes
        if has64 and not any(d.is_floating_point and d is not _FLOAT64 for d in dtypes):
            return  # float64 in, float64 out: the origin was reported where it appeared
        if compat.current_autograd_node() is not None:
            return  # backward of a float64 op: the forward origin was already reported
        how = "float64 meets float32 and promotes the result" if has64 else "this op creates a float64 tensor"
        self.report("float64", f"{func}: {how}; float64 runs far slower on GPUs and mixes badly with "
                               "float32 parameters (torch.tensor(numpy_array) and np.float64 scalars are the usual source)",
                    op=str(func))

    def _broadcast(self, func: Any, args: tuple[Any, ...], out: torch.Tensor) -> None:
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if len(tensors) < 2 or compat.current_autograd_node() is not None:
            return
        if all(t.dim() == out.dim() for t in tensors):
            return  # every operand spelled out its rank (x[:, None] * y[None, :]): explicit intent
        for t in tensors:
            base = t._base
            if base is not None and t.dim() > base.dim():
                # Made by unsqueeze / x[:, None] / view(-1, 1): the outer product is on purpose, as SC102
                # reads it (the sinusoidal encoding's `position * div_term`, (L, 1) * (D/2,)).
                return
        shapes = [shape_text(t.shape) for t in tensors]
        rank = out.dim()
        aligned = [" " * (6 * (rank - t.dim())) + "".join(f"{int(s):>6}" for s in t.shape) for t in tensors]
        self.report("broadcast-trap",
                    f"{func}: {' and '.join(shapes)} broadcast to {shape_text(out.shape)}, larger than every input "
                    f"({out.numel()} elements)",
                    op=str(func),
                    notes=["aligned from the right:", *aligned, "".join(f"{int(s):>6}" for s in out.shape) + "  result",
                           "a size-1 axis was stretched against an axis the other operand lacks; "
                           "if this is meant, write it explicitly (x[:, None], unsqueeze)."])

    def _nan(self, func: Any, args: tuple[Any, ...], out: torch.Tensor) -> None:
        self._busy = True
        try:
            if bool(torch.isfinite(out).all()):
                return
            inputs_finite = all(bool(torch.isfinite(a).all()) for a in args
                                if isinstance(a, torch.Tensor) and a.dtype.is_floating_point)
        finally:
            self._busy = False
        if inputs_finite:
            self.report("non-finite", f"{func} produced NaN/Inf from finite inputs", op=str(func))

    def _first_loss(self, args: tuple[Any, ...], out: Any) -> None:
        """The first cross-entropy of a freshly initialised model should be near ln(C).

        Fresh means: every top-level module that ran was built inside the trace, no weights were
        copied into its parameters (load_state_dict: resume, fine-tune), and no optimizer stepped.
        A model built before `trace()` started may have been trained, so it is not judged.
        """
        if compat.current_autograd_node() is not None:
            return
        self._first_loss_checked = True
        if (not self.stats or self._steps or self.dry_run or self._foreign_model or self._weights_loaded
                or not self._born):
            return
        logp = args[0]
        reduction = args[3] if len(args) > 3 else 1
        if not isinstance(logp, torch.Tensor) or reduction != 1 or logp.dim() == 0:
            return
        classes = int(logp.shape[1] if logp.dim() > 1 else logp.shape[0])
        if classes < 2:
            return
        self._busy = True
        try:
            value = float(out[0].detach())
        finally:
            self._busy = False
        expected = math.log(classes)
        if not math.isfinite(value) or value > 2 * expected or value < 0.5 * expected:
            self.report("initial-loss",
                        f"first cross-entropy loss is {value:.3f}, far from ln({classes}) = {expected:.3f} "
                        "expected at initialisation",
                        notes=["a fresh classifier should predict near-uniform probabilities; a much larger loss "
                               "means over-confident logits (initialisation or input scaling), a much smaller one "
                               "a leak of the labels or a model that is not fresh"])

    # --- module hooks ----------------------------------------------------------------------

    def path_of(self, module: nn.Module) -> str:
        path = self._paths.get(module)
        if path is not None:
            return path
        if self._stack:
            path = f"{self._stack[-1]}.<{type(module).__name__}>"
            self._paths[module] = path
            return path
        root = type(module).__name__
        for name, sub in module.named_modules():
            # Overwritten: a probe forward in __init__ may have named a submodule as a root first.
            self._paths[sub] = f"{root}.{name}" if name else root
            for pname, p in sub.named_parameters(recurse=False):
                if p is not None:
                    self._param_names.setdefault(id(p), f"{root}.{name}.{pname}" if name else f"{root}.{pname}")
                    self._param_owner[id(p)] = module
        return self._paths[module]

    def pre_forward(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if self._busy:
            return
        if not self._mode_on and self._mode is not None and not self._detached:
            self.resume()  # an optimizer step raised between our pre- and post-step hooks
        path = self.path_of(module)
        self._stack.append(path)
        grad = torch.is_grad_enabled()
        if len(self._stack) == 1:
            if module not in self._born:
                self._foreign_model = True
            if grad:
                self._open_forward = True
                self._event_seq_at_forward = self._event_seq
                self._hook_params(module)
            elif not self._steps or self._in_step:
                self._in_step = False  # an evaluation forward: no step is open
        if module.training and not grad and isinstance(module, _NORM_TYPES) and path not in self._warned_modules:
            self._warned_modules.add(path)
            kind = "BatchNorm" if isinstance(module, _BATCHNORM) else "Dropout"
            effect = ("normalises with the batch's statistics and updates its running averages"
                      if kind == "BatchNorm" else "still zeroes activations at random")
            self.report("train-mode-under-no-grad",
                        f"{type(module).__name__} at {path} runs in training mode under no_grad: it {effect}; "
                        "call model.eval() before evaluating (and model.train() after)", module=path)
        row = self.modules.get(path)
        if row is None:
            row = self.modules[path] = ModuleRow(path, type(module).__name__)
            row.inputs = [_describe(a) for a in args]
        row.calls += 1
        row.training = module.training

    def post_forward(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self._busy or not self._stack:
            return None
        path = self._stack.pop()
        if not self._stack and torch.is_grad_enabled():
            self._watch_output(output)
        row = self.modules.get(path)
        if row is None:
            return None
        tensor_out = isinstance(output, torch.Tensor) and output.dtype.is_floating_point and output.numel() > 0
        if not row.output:
            row.output = _describe(output)
            if self.stats and tensor_out and not list(module.children()):
                self._activation_stats(row, output)
        if self.stats and tensor_out and isinstance(module, _RELU_TYPES) and path not in self._relu_done \
                and torch.is_grad_enabled() and compat.is_fake(output) is False:
            self._busy = True
            try:
                measured = _dead_fraction(output, args[0] if args else None)
            finally:
                self._busy = False
            if measured is not None:
                self._relu_done.add(path)
                frac, units = measured
                row.stats["dead_fraction"] = round(frac, 4)
                if frac >= 0.5:
                    self._report_dead(f"{type(module).__name__} at {row.path}", frac, units, row.path)
        return None

    def _activation_stats(self, row: ModuleRow, out: torch.Tensor) -> None:
        if compat.is_fake(out):
            return
        self._busy = True
        try:
            with torch.no_grad():
                o = out.detach().float()
                row.stats["mean"] = round(float(o.mean()), 4)
                row.stats["std"] = round(float(o.std()), 4) if o.numel() > 1 else 0.0
                row.stats["zero_fraction"] = round(float((o == 0).float().mean()), 4)
        finally:
            self._busy = False

    def _functional_relu(self, out: torch.Tensor, inp: Any) -> None:
        """Dead units of `F.relu`/`torch.relu` in forward code (nn.ReLU modules are measured above)."""
        if out.dim() < 2 or compat.current_autograd_node() is not None:
            return
        if self._stack and self.modules.get(self._stack[-1], ModuleRow("", "")).type in ("ReLU", "ReLU6"):
            return
        if not torch.is_grad_enabled() or compat.is_fake(out):
            return
        self._busy = True
        try:
            with torch.no_grad():
                measured = _dead_fraction(out, inp)
        finally:
            self._busy = False
        if measured is None:
            return
        self._relu_budget -= 1
        frac, units = measured
        if frac >= 0.5:
            self._report_dead("relu", frac, units, None)

    def _report_dead(self, what: str, frac: float, units: int, module: str | None) -> None:
        self.report("dead-relu",
                    f"{what}: {frac:.0%} of its {units} units output 0 for the whole batch "
                    "(dead ReLUs: no gradient flows through them)",
                    module=module,
                    notes=["check the initialisation and learning rate; the layer before may have a "
                           "large negative bias, or inputs are not normalised"])

    # --- gradients ------------------------------------------------------------------------

    def _hook_params(self, root: nn.Module) -> None:
        for p in root.parameters():
            if p.requires_grad and id(p) not in self._hooked:
                self._hooked.add(id(p))
                self._no_grad_ever.setdefault(id(p), self._param_names.get(id(p), "?"))
                self._handles.append(p.register_hook(self._grad_hook(p)))

    def _grad_hook(self, param: torch.Tensor) -> Any:
        ref = weakref.ref(param)

        def hook(grad: torch.Tensor) -> None:
            try:
                check(grad)
            except Exception as exc:  # noqa: BLE001 - never break the traced program
                self.internal_error(exc)
            return None

        def check(grad: torch.Tensor) -> None:
            p = ref()
            if p is None or self._busy or self._detached:
                return None
            pid = id(p)
            self._got_grad.add(pid)
            snapshot = self._after_step.pop(pid, None)
            if snapshot is not None and p.grad is not None and p.grad is snapshot[0] \
                    and compat.tensor_version(p.grad) == snapshot[1]:
                # backward() adds onto the gradient the last step used. That is a bug only if the
                # optimizer steps again without a zero_grad in between (DCGAN's generator step
                # back-propagates through D after D's step; D's zero_grad comes before D's next step).
                self._stale[pid] = (weakref.ref(p.grad), user_frame(2))
            owner = self._param_owner.get(pid)
            if owner is not None and not owner.training and self._has_norm_layers(owner):
                path = self._paths.get(owner, type(owner).__name__)
                if ("eval-bw", path) not in self._warned_modules:
                    self._warned_modules.add(("eval-bw", path))
                    self.report("backward-in-eval-mode",
                                f"backward() while {path} is in eval mode: its Dropout/BatchNorm layers behave as in "
                                "evaluation during training; call model.train() before the training step",
                                module=path)
            return None

        return hook

    @staticmethod
    def _has_norm_layers(module: nn.Module) -> bool:
        return any(isinstance(m, _NORM_TYPES) for m in module.modules())

    def pre_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._detached:
            return
        stale: tuple[str, int] | None = None
        stale_name = ""
        for group in optimizer.param_groups:
            for p in group["params"]:
                g = p.grad
                if self._stale:
                    seen = self._stale.pop(id(p), None)
                    if seen is not None and g is not None and seen[0]() is g and stale is None:
                        stale, stale_name = seen[1], self._param_names.get(id(p), "a parameter")
                if g is None:
                    continue
                if g.shape != p.shape or g.device != p.device or g.dtype != p.dtype:
                    name = self._param_names.get(id(p), f"a parameter of shape {shape_text(p.shape)}")
                    self.report("grad-mismatch",
                                f"{name}.grad is {shape_text(g.shape)} {g.dtype} on {g.device}, but the parameter is "
                                f"{shape_text(p.shape)} {p.dtype} on {p.device}",
                                module="")
        if stale is not None:
            self.report("grad-accumulation",
                        f"gradients accumulate across optimizer steps: {stale_name}.grad still held the last step's "
                        "gradient when backward() added the new one, and the optimizer steps on the sum; call "
                        "optimizer.zero_grad() every step", where=stale, module="")
        if not self.trace_optimizer:
            self.suspend()  # the optimizer's own ops are not user code (Adam's step counter .item())

    def post_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._detached:
            return
        self._steps += 1
        self._in_step = False
        self._open_forward = False
        self._pending.clear()
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._after_step[id(p)] = (p.grad, compat.tensor_version(p.grad))
        if self.full_steps is not None and self._steps >= self.full_steps:
            self._detached = True  # hooks stay registered (removing them inside a hook is unsafe) but idle
            self.suspend()
        else:
            self.resume()
        if self.max_steps is not None and self._steps >= self.max_steps:
            from shapecheck.runtime.dryrun import StopDryRun

            raise StopDryRun

    # --- the dispatch mode: on, off around optimizer steps, off for good after `steps` -----

    def attach(self, mode: Any) -> None:
        self._mode = mode
        mode.__enter__()
        self._mode_on = True

    def suspend(self) -> None:
        """Take our dispatch mode off the stack (it must be on top: the ops below are not ours)."""
        if self._mode_on and compat.current_dispatch_mode() is self._mode:
            self._mode.__exit__(None, None, None)
            self._mode_on = False

    def resume(self) -> None:
        if not self._mode_on and self._mode is not None and not self._detached:
            self._mode.__enter__()
            self._mode_on = True

    def detach(self) -> None:
        """End of the trace: our mode leaves the stack whatever state it was in."""
        self._detached = True
        if self._mode_on:
            if compat.current_dispatch_mode() is self._mode:
                self._mode.__exit__(None, None, None)
            self._mode_on = False

    # --- lifecycle ------------------------------------------------------------------------

    def _born_hook(self, module: nn.Module, name: str, value: Any) -> None:
        self._born.add(module)
        if isinstance(value, nn.Module):
            self._born.add(value)

    def install_hooks(self) -> None:
        from torch.nn.modules import module as module_hooks
        from torch.optim import optimizer as optim_hooks

        try:  # always_call: the module stack stays right when a forward raises
            post = module_hooks.register_module_forward_hook(self._guard(self.post_forward), always_call=True)
        except TypeError:
            post = module_hooks.register_module_forward_hook(self._guard(self.post_forward))
        self._handles += [
            module_hooks.register_module_forward_pre_hook(self._guard(self.pre_forward)),
            post,
            optim_hooks.register_optimizer_step_pre_hook(self._guard(self.pre_step)),
            optim_hooks.register_optimizer_step_post_hook(self._guard(self.post_step)),
        ]
        for name in ("register_module_module_registration_hook", "register_module_parameter_registration_hook",
                     "register_module_buffer_registration_hook"):
            register = getattr(module_hooks, name, None)
            if register is not None:
                self._handles.append(register(self._guard(self._born_hook)))

    def _guard(self, hook: Any) -> Any:
        """Run a global hook for this trace's thread only, never letting it break the program.

        Module and optimizer hooks are process-wide; another thread's modules are not ours.
        """
        thread = self._thread

        def guarded(*args: Any) -> None:
            if threading.get_ident() != thread:
                return None
            try:
                hook(*args)
            except Exception as exc:  # noqa: BLE001 - never break the traced program
                self._busy = False
                self.internal_error(exc)
            return None  # a forward hook returning a value would replace the module's output

        return guarded

    def remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def finish(self) -> None:
        """End-of-trace findings: parameters that never received a gradient."""
        if self._steps == 0:
            return
        never = [name for pid, name in self._no_grad_ever.items() if pid not in self._got_grad]
        if never:
            shown = ", ".join(never[:8]) + (f" and {len(never) - 8} more" if len(never) > 8 else "")
            self.report("param-without-grad",
                        f"{len(never)} parameter(s) never received a gradient in {self._steps} optimizer step(s): "
                        f"{shown}; they are not used in the loss (or are cut off by .detach()/no_grad)",
                        where=("", 0), module="")

    # --- output ---------------------------------------------------------------------------

    @property
    def op_counts(self) -> dict[Any, int]:
        """How many times each ATen op ran, keyed by the op."""
        return {func: count for count, _, func in self._ops.values()}

    def op_count_table(self) -> dict[str, int]:
        return {str(k): v for k, v in sorted(self.op_counts.items(), key=lambda kv: -kv[1])}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "findings": [f.to_json() for f in self.findings],
            "modules": [row.to_json() for row in self.modules.values()],
            "op_counts": self.op_count_table(),
            "total_ops": sum(self.op_counts.values()),
            "optimizer_steps": self._steps,
        }

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def summary(self) -> str:
        from shapecheck.runtime.render import render_text

        return render_text(self)


def _dead_fraction(out: torch.Tensor, inp: Any = None) -> tuple[float, int] | None:
    """(fraction of units that are 0 for the whole batch, number of units) of a ReLU output mask.

    The unit axis is the channel axis of 4-D/5-D (conv) outputs, else the last axis (features).
    None when the batch says nothing about dead units: fewer than 2 samples per unit, or every
    sample alike (a probe forward of `torch.zeros(1, ...)` in `__init__` to size a layer): judged on
    the ReLU's input `inp`, since a fully dead output is alike too.
    """
    if out.dim() < 2:
        return None
    unit_axis = 1 if out.dim() in (4, 5) else out.dim() - 1
    units = int(out.shape[unit_axis])

    def per_unit(t: torch.Tensor) -> torch.Tensor:
        return t.detach().movedim(unit_axis, 0).reshape(units, -1)

    zero = per_unit(out == 0)
    if zero.shape[1] < 2:
        return None
    if isinstance(inp, torch.Tensor) and inp is not out and inp.shape == out.shape:
        pre = per_unit(inp)
        if bool((pre == pre[:, :1]).all()):
            return None
    else:  # in place (ReLU(inplace=True)): the input is gone; an all-zero output still counts as dead
        post = per_unit(out)
        if bool((post == post[:, :1]).all()) and not bool(zero.all()):
            return None
    dead = zero.all(dim=1)
    return float(dead.float().mean()), units


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"{shape_text(value.shape)} {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, (tuple, list)):
        inner = [_describe(v) for v in value[:4]]
        return "[" + ", ".join(inner) + (", ..." if len(value) > 4 else "") + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in list(value.items())[:4]) + "}"
    return type(value).__name__


def _make_mode(tracer: Tracer) -> Any:
    base = compat.dispatch_mode_base()

    class _OpMode(base):  # type: ignore[misc, valid-type]
        def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                               kwargs: dict[str, Any] | None = None) -> Any:
            if tracer._busy:
                return func(*args, **(kwargs or {}))
            return tracer.on_op(func, args, kwargs or {})

    return _OpMode()


@contextmanager
def trace(*, detect_nan: bool = False, stats: bool = True, print_summary: bool = True,
          steps: int | None = None, trace_optimizer: bool = False, _dry_run: bool = False) -> Iterator[Tracer]:
    """Trace every op (forward and backward) inside the block; see the module docstring.

    `detect_nan=True` checks each op's output for NaN/Inf (a device sync per op).
    `stats=False` skips every check that reads values: activation statistics, dead ReLUs, the
    first loss, probabilities fed to cross-entropy (no syncs).
    `steps=k` checks the first k optimizer steps, then the tracer detaches (full speed after).
    `trace_optimizer=True` also traces the ops inside `optimizer.step()` (off: they are not user code).
    The summary is printed to stderr on exit unless `print_summary=False`.
    """
    compat.require_torch("trace")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ValueError(f"trace(steps=...) must be a positive int, got {steps!r}")
    tracer = Tracer(detect_nan=detect_nan, stats=stats, dry_run=_dry_run, trace_optimizer=trace_optimizer,
                    steps=steps)
    tracer.install_hooks()
    try:
        tracer.attach(_make_mode(tracer))
        yield tracer
    finally:
        tracer.detach()
        tracer.remove_hooks()
        tracer.finish()
        if print_summary:
            from shapecheck.runtime.render import print_summary as show

            show(tracer)
