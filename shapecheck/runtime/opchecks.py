"""Checks the tracer runs on a few ops only, one bug each (the `_SLOW` flags of `tracer.py`).

- `softmax-before-cross-entropy`: the input of `_log_softmax` (what cross_entropy runs) or of
  `nll_loss` whose rows are already probabilities (non-negative, summing to 1);
- `loss-accumulated-with-graph`: a 0-dim tensor of the autograd graph summed across optimizer
  steps (`total += loss`), which keeps every iteration's graph alive;
- `loss-shape-mismatch`: `F.mse_loss` & co. call `torch.broadcast_tensors` before their kernel,
  so the kernel sees two expanded operands; their original shapes come from the last `expand`s;
- zeroing ops (`zero_grad(set_to_none=False)`) that clear gradients the accumulation check watches.

A mixin of `Tracer`: it reads the tracer's state and reports through `Tracer.report`.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import torch

from shapecheck.runtime import _torch_compat as compat
from shapecheck.runtime.findings import shape_text


class OpChecks:
    """The per-op bug checks; see the module docstring. State lives on the `Tracer`."""

    report: Any
    stats: bool
    _busy: bool
    _steps: int
    _stale: dict[int, tuple[Any, tuple[str, int]]]
    _expands: Any
    _simplex_budget: int
    _log_probs: dict[int, Any]
    _accumulators: dict[int, tuple[Any, int]]
    _first_loss_checked: bool

    def _before_special(self, func: Any, flags: int, args: tuple[Any, ...]) -> None:
        if flags & 512 and self._stale:  # zero_grad(set_to_none=False) clears the stale gradients
            zeroed = args[0] if isinstance(args[0], (list, tuple)) else (args[0],)
            ids = {id(t) for t in zeroed}
            for pid, (ref, _) in list(self._stale.items()):
                if id(ref()) in ids:
                    del self._stale[pid]
        if flags & 256 and compat.current_autograd_node() is None:
            self._loss_broadcast(func, args)

    def _after_special(self, func: Any, flags: int, args: tuple[Any, ...], out: Any) -> None:
        if flags & 1024 and isinstance(out, torch.Tensor):
            self._expands.append((weakref.ref(out), tuple(args[0].shape)))
        elif flags & 128:
            self._loss_accumulation(args, out)
        elif flags & 64 and self._simplex_budget > 0 and self.stats and isinstance(out, torch.Tensor):
            if compat.current_autograd_node() is None and self._rows_are_probabilities(args[0], int(args[1])):
                self._log_probs[id(out)] = weakref.ref(out)

    def _rows_are_probabilities(self, x: Any, dim: int) -> bool:
        """Every row of `x` along `dim` is non-negative and sums to 1 (a softmax output). Syncs once."""
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point or x.numel() == 0 or x.dim() == 0:
            return False
        if x.shape[dim] < 2 or compat.is_fake(x) or x.device.type == "meta":
            return False
        self._simplex_budget -= 1
        self._busy = True
        try:
            with torch.no_grad():
                x = x.detach().float()
                return bool((x.min() >= 0) & ((x.sum(dim) - 1).abs().max() < 1e-3))
        finally:
            self._busy = False

    def _probabilities_into_nll(self, args: tuple[Any, ...]) -> None:
        inp = args[0]
        if not isinstance(inp, torch.Tensor) or compat.current_autograd_node() is not None:
            return
        ref = self._log_probs.pop(id(inp), None)
        if ref is not None and ref() is inp:
            self.report("softmax-before-cross-entropy",
                        "cross-entropy of probabilities: its input rows are already a softmax (non-negative, summing "
                        "to 1), and cross_entropy applies log_softmax again; the loss barely moves and gradients vanish",
                        op="aten.nll_loss_forward.default",
                        notes=["pass the logits (the output before softmax) to cross_entropy / nn.CrossEntropyLoss"])
        elif self._rows_are_probabilities(inp, 1 if inp.dim() > 1 else 0):
            self._first_loss_checked = True  # the loss value says nothing about initialisation now
            self.report("softmax-before-cross-entropy",
                        "NLL loss of probabilities: its input rows are non-negative and sum to 1, but nll_loss "
                        "expects log-probabilities",
                        op="aten.nll_loss_forward.default",
                        notes=["use log_softmax instead of softmax before nn.NLLLoss, or cross_entropy on the logits"])

    def _loss_accumulation(self, args: tuple[Any, ...], out: Any) -> None:
        """`total_loss += loss` across optimizer steps keeps every iteration's graph alive."""
        if not isinstance(out, torch.Tensor) or out.dim() != 0 or compat.current_autograd_node() is not None:
            return
        carries = False
        for a in args[:2]:
            if isinstance(a, torch.Tensor) and a.dim() == 0 and (a.requires_grad or a.grad_fn is not None):
                carries = True
                seen = self._accumulators.get(id(a))
                if seen is not None and seen[0]() is a and seen[1] < self._steps:
                    self.report("loss-accumulated-with-graph",
                                "a loss that still has its graph is summed across optimizer steps: every "
                                "iteration's graph (and its activations) stays in memory",
                                op="aten.add.Tensor",
                                notes=["accumulate loss.item() (or loss.detach()) for logging"])
        if carries:
            if len(self._accumulators) > 1024:
                self._accumulators.clear()
            step = min([self._accumulators[id(a)][1] for a in args[:2]
                        if isinstance(a, torch.Tensor) and id(a) in self._accumulators
                        and self._accumulators[id(a)][0]() is a] + [self._steps])
            self._accumulators[id(out)] = (weakref.ref(out), step)

    def _loss_broadcast(self, func: Any, args: tuple[Any, ...]) -> None:
        """F.mse_loss/l1_loss/smooth_l1/huber broadcast input and target before the kernel runs."""
        tensors = [a for a in args[:2] if isinstance(a, torch.Tensor)]
        if len(tensors) != 2 or tensors[0].shape != tensors[1].shape or tensors[0].dim() == 0:
            return
        stretched = [any(st == 0 and sz > 1 for st, sz in zip(t.stride(), t.shape)) for t in tensors]
        if not all(stretched):
            return  # only one side expanded: a scalar-like target, or the user's own expand
        originals = []
        for t in tensors:
            shape = next((s for ref, s in reversed(self._expands) if ref() is t), None)
            originals.append(shape if shape is not None else
                             tuple(1 if st == 0 else sz for st, sz in zip(t.stride(), t.shape)))
        full = tensors[0].shape
        if math.prod(full) <= max(math.prod(s) for s in originals):
            return
        name = str(func).split(".")[1]
        if name == "sub":
            name = "l1_loss"
        rank = len(full)
        aligned = [" " * (6 * (rank - len(s))) + "".join(f"{int(n):>6}" for n in s) for s in originals]
        self.report("loss-shape-mismatch",
                    f"{name}: input {shape_text(originals[0])} and target {shape_text(originals[1])} broadcast to "
                    f"{shape_text(full)} inside the loss: every prediction is compared with every target",
                    op=str(func),
                    notes=["aligned from the right:", *aligned, "".join(f"{int(n):>6}" for n in full) + "  compared",
                           "make the shapes equal first (pred.squeeze(-1), or target.unsqueeze(-1))"])
