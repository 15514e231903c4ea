"""Runtime overhead: the decorator per call, the tracer per op.

    .venv/bin/python benchmarks/bench_runtime.py [--quick]

1. `@shapecheck.check` on a 2-argument function (tiny CPU tensors, so the checking cost is
   not hidden behind compute) vs the undecorated function vs
   `jaxtyping.jaxtyped(typechecker=beartype.beartype)` (skipped when beartype is missing).
   Two rows for ours: repeated shapes (the training-loop case, served from the per-function
   memo of passed checks) and fresh shapes every call (a full check each time).
2. `shapecheck.trace()` on one training step (forward, backward, optimizer step) of a small
   MLP, a small transformer encoder and a small nanoGPT, single-threaded: added microseconds
   per traced ATen op, next to a bare pass-through `TorchDispatchMode` (the floor for any op
   tracer), and the traced step's time over the bare step's (default `trace()`, and
   `stats=False`). The optimizer's own ops are not traced (its step is not user code).
Targets: < 10 us per decorated call, < 5 us per traced op. Numbers vary with the machine and
its load; every row is the minimum of several repeats of process CPU time (not wall time).
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time
import timeit
from collections.abc import Callable
from typing import Any

import torch
from jaxtyping import Float, jaxtyped
from torch import Tensor, nn

import shapecheck
from shapecheck.runtime._torch_compat import dispatch_mode_base


# CPU time of this process, not wall time: on a shared machine the wall clock also counts the
# time other processes hold the cores.
_clock = time.process_time


def _per_call_us(fn: Callable[[], Any], number: int, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat, timer=_clock)) / number * 1e6


def bench_decorator(number: int) -> list[tuple[str, float]]:
    def add(x: Float[Tensor, "b d"], y: Float[Tensor, "b d"]) -> Float[Tensor, "b d"]:
        return x

    ours = shapecheck.check(add)
    x, y = torch.zeros(4, 8), torch.zeros(4, 8)
    fresh = [(torch.zeros(b, 8), torch.zeros(b, 8)) for b in range(1, 600)]
    it = iter(range(10**9))

    def ours_fresh() -> None:
        a, b = fresh[next(it) % len(fresh)]
        ours(a, b)

    rows = [
        ("undecorated", _per_call_us(lambda: add(x, y), number)),
        ("shapecheck.check (same shapes)", _per_call_us(lambda: ours(x, y), number)),
        ("shapecheck.check (new shapes each call)", _per_call_us(ours_fresh, number)),
    ]
    try:
        import beartype
    except ImportError:
        rows.append(("jaxtyped(typechecker=beartype): skipped, beartype not installed", float("nan")))
    else:
        theirs = jaxtyped(typechecker=beartype.beartype)(add)
        rows.append((f"jaxtyped(typechecker=beartype {beartype.__version__})",
                     _per_call_us(lambda: theirs(x, y), number // 4)))
    return rows


def _mlp_step() -> Callable[[], None]:
    torch.manual_seed(0)
    model = nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(64, 64), nn.ReLU())], nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def _transformer_step() -> Callable[[], None]:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True, dropout=0.1)
    model = nn.Sequential(nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False))
    head = nn.Linear(64, 10)
    opt = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=1e-3)
    x, y = torch.randn(8, 16, 64), torch.randint(0, 10, (8,))

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(head(model(x).mean(1)), y).backward()
        opt.step()

    return step


class _PassThrough(dispatch_mode_base()):  # type: ignore[misc]
    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return func(*args, **(kwargs or {}))


def _step_time(step: Callable[[], None], ctx: Callable[[], Any], steps: int, repeat: int = 5) -> float:
    with ctx():
        for _ in range(3):
            step()
    best = float("inf")
    for _ in range(repeat):
        with ctx():
            t0 = _clock()
            for _ in range(steps):
                step()
            best = min(best, (_clock() - t0) / steps)
    return best


def _nanogpt_step() -> Callable[[], None]:
    """One nanoGPT training step (the GPT of tests/runtime_models.py, written like nanoGPT's model.py):
    4 layers, d=128, 4 heads, block 64, batch 8, AdamW, clipping."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import runtime_models as rm

    torch.manual_seed(0)
    cfg = rm.GPTConfig(block_size=64, vocab_size=256, n_layer=4, n_head=4, n_embd=128)
    model = rm.GPT(cfg)
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95), "cpu")
    x = torch.randint(0, cfg.vocab_size, (8, cfg.block_size))
    y = torch.randint(0, cfg.vocab_size, (8, cfg.block_size))

    def step() -> None:
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


STEP_MODELS = (("MLP (4x Linear 64, SGD)", _mlp_step), ("transformer (2 layers d=64, AdamW)", _transformer_step),
               ("nanoGPT (4 layers d=128, AdamW)", _nanogpt_step))


def bench_tracer(steps: int) -> list[tuple[str, int, float, float, float, float, float]]:
    """Per model: traced ops, bare step us, pass-through mode us/op, tracer us/op, and the ratio
    of a traced step to the bare one with the default `trace()` and with `trace(stats=False)`."""
    rows = []
    for name, make in STEP_MODELS:
        step = make()
        with shapecheck.trace(print_summary=False, stats=False) as probe:
            step()
        ops = sum(probe.op_counts.values())
        base = _step_time(step, contextlib.nullcontext, steps)
        floor = _step_time(step, _PassThrough, steps)
        quiet = _step_time(step, lambda: shapecheck.trace(print_summary=False, stats=False), steps)
        full = _step_time(step, lambda: shapecheck.trace(print_summary=False), steps)
        rows.append((name, ops, base * 1e6, (floor - base) / ops * 1e6, (quiet - base) / ops * 1e6,
                     full / base, quiet / base))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    number, steps = (2000, 5) if args.quick else (20000, 30)
    print(f"python {platform.python_version()}, torch {torch.__version__}, {platform.processor() or platform.machine()}")
    print("\ndecorator, 2 tensor arguments + return (us per call):")
    for label, us in bench_decorator(number):
        print(f"  {label:<50} {us:8.2f}")
    print("\ntracer, one training step (forward + backward; optimizer.step() untraced), 1 thread:")
    print(f"  {'model':<36} {'ops':>5} {'step us':>9} {'passthrough us/op':>18} {'shapecheck us/op':>17} "
          f"{'ratio':>6} {'ratio stats=False':>18}")
    for name, ops, base, floor, traced, full, quiet in bench_tracer(steps):
        print(f"  {name:<36} {ops:>5} {base:>9.0f} {floor:>18.2f} {traced:>17.2f} {full:>5.2f}x {quiet:>17.2f}x")


if __name__ == "__main__":
    main()
