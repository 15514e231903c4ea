"""On a CUDA machine: trace a real forward/backward/step of a small GPT and a CNN on the GPU and
check the device findings there (run by `benchmarks/gpu_check.sh`; exits 0 with a note without CUDA).

Checks: the clean GPT (AdamW fused) and CNN steps have no findings; `.item()` between backward and
step is a `host-sync` *warning* (a real sync on CUDA, not the CPU run's info); a tensor created in
forward without `device=` is a `device-mismatch` error naming its line; the fake-cuda dry run of the
same model on the GPU machine agrees; the tracer's cost on the GPU step is printed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

import runtime_models as rm  # noqa: E402
import shapecheck  # noqa: E402


def gpt_step(model: nn.Module, opt: torch.optim.Optimizer, sync: bool = False) -> None:
    x = torch.randint(0, model.config.vocab_size, (8, model.config.block_size), device="cuda")
    _, loss = model(x, x)
    loss.backward()
    if sync:
        print(f"{loss.item():.3f}")  # a host-device sync inside the step
    opt.step()
    opt.zero_grad(set_to_none=True)


class LeakyCNN(nn.Module):
    def __init__(self, leak: bool) -> None:
        super().__init__()
        self.leak = leak
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x).flatten(1)
        scale = torch.ones(16) if self.leak else torch.ones(16, device=x.device)  # the bug: no device=
        return self.head(h * scale)


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_check: CUDA is not available here; nothing to check")
        return 0
    failures = []
    torch.manual_seed(0)
    cfg = rm.GPTConfig(block_size=64, vocab_size=256, n_layer=4, n_head=4, n_embd=128)
    model = rm.GPT(cfg).cuda()
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95), "cuda")  # fused AdamW
    with shapecheck.trace(print_summary=False) as t:
        for _ in range(3):
            gpt_step(model, opt)
    if t.findings:
        failures.append(f"clean GPT step: {[(f.kind, f.line) for f in t.findings]}")
    with shapecheck.trace(print_summary=False) as t:
        for _ in range(2):
            gpt_step(model, opt, sync=True)
    syncs = [(f.kind, f.severity) for f in t.findings]
    if syncs != [("host-sync", "warning")]:
        failures.append(f"sync inside the step: {syncs}")
    for leak in (False, True):
        cnn = LeakyCNN(leak).cuda()
        cnn_opt = torch.optim.SGD(cnn.parameters(), lr=0.1)
        x, y = torch.randn(16, 3, 32, 32, device="cuda"), torch.randint(0, 10, (16,), device="cuda")
        with shapecheck.trace(print_summary=False) as t:
            try:
                nn.functional.cross_entropy(cnn(x), y).backward()
                cnn_opt.step()
            except RuntimeError:
                pass  # torch fails on the mix after the tracer reported it
        kinds = [f.kind for f in t.findings]
        if kinds != (["device-mismatch"] if leak else []):
            failures.append(f"CNN leak={leak}: {kinds}")
        dry = shapecheck.dry_run(LeakyCNN(leak), torch.empty(16, 3, 32, 32), device="cuda",
                                 loss_fn=lambda out, _: out.sum(), target=None)
        if [f.kind for f in dry.findings] != (["device-mismatch"] if leak else []):
            failures.append(f"CNN dry run leak={leak}: {[f.kind for f in dry.findings]}")
    for label, ctx in (("bare", None), ("traced", True)):
        torch.cuda.synchronize()
        start = time.perf_counter()
        if ctx:
            with shapecheck.trace(print_summary=False):
                for _ in range(20):
                    gpt_step(model, opt)
        else:
            for _ in range(20):
                gpt_step(model, opt)
        torch.cuda.synchronize()
        print(f"GPT step on {torch.cuda.get_device_name()}: {label} {(time.perf_counter() - start) / 20 * 1e3:.2f} ms")
    for line in failures:
        print("FAIL", line)
    print("gpu_check:", "ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
