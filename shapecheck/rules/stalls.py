"""Host-device traffic in the training step (SC701, SC702, SC705): reads of accelerator values
on the host and host-to-device copies that run on every iteration.

The rules only read `shapecheck.infer.traffic` (built on `shapecheck.infer.accelerator`): which
loops are training steps, what runs on every iteration (helpers of the same file inlined, `if`
arms left out), and where each value lives. A value counts as on the accelerator only when a move to a device that may be one
(`.to(device)`, `.cuda()`, `device=`) is on its way: a CPU-only script is silent.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from shapecheck.infer.traffic import CopySite, SyncSite, Traffic, traffic_of
from shapecheck.rules.base import Invalid, LintRule, Valid
from shapecheck.tree import line_of, short_code


def _facts(rule: LintRule) -> Traffic | None:
    facts = traffic_of(rule.ctx)
    return facts if facts.f.flow is not None else None


def _loop_head(node: cst.CSTNode) -> str:
    if isinstance(node, cst.For):
        return f"for {short_code(node.target)} in {short_code(node.iter)}"
    if isinstance(node, cst.While):
        return f"while {short_code(node.test)}"
    return "the loop"


def _via(site: SyncSite | CopySite, line: Callable[[cst.CSTNode], int]) -> list[str]:
    """A note for an event inside a helper the loop calls."""
    if site.site is site.node:
        return []
    return [f"it runs on every iteration through `{short_code(site.site)}` (line {line(site.site)})"]


class HostSyncInStep(LintRule):
    """## What it does
    Flags a read of a tensor that lives on the accelerator into host memory, `.item()`,
    `.tolist()`, `.cpu()`, `.to("cpu")`, `float(t)`/`int(t)`, `if t:`/`assert t`, or a logging
    call that formats it (`print(t)`, f-strings, `"%f" % t`, `logger.info(...)`,
    `writer.add_scalar(tag, t, step)`, `pbar.set_postfix(loss=t)`), that runs on **every**
    iteration of a training loop (a loop that steps an optimizer and calls `backward()`, also in
    an inner gradient-accumulation loop; helpers of the same file that the loop calls count).
    Also, in any loop, reading the elements of a tensor on the accelerator one at a time
    (`for i in range(len(preds)): preds[i].item()`, `for p in preds: int(p)`): a sync per element.

    A value is on the accelerator when the code visibly put it there: the batch moved with
    `.to(device)` / `.cuda()` (with `device` a GPU or a variable that may be one), a model's
    output on such a batch, a loss computed from it, a tensor created with `device=`.

    Silent under an `if` (logging every k steps), in loops without a backward/step (evaluation),
    on `.to("cpu", non_blocking=True)`, in scripts that never move anything to a device, and in
    loops whose backward is `accelerator.backward`/`fabric.backward` or Lightning's (the
    framework owns the loop).

    ## Why is this bad?
    CUDA runs asynchronously: the CPU queues kernels and moves on. Reading a value back makes the
    CPU wait until every queued kernel has finished, so the next step cannot be queued while the
    GPU works, and the GPU idles while the CPU prepares it. Once per step, that is a stall every
    step; typical small models lose 10-30% of their throughput.

    ## Known problems
    A value whose origin we cannot follow (a function of another file, an unknown loader) is
    not known to be on the accelerator and stays silent. `tqdm`'s `set_postfix(loss=loss.item())`
    is reported: it is a sync per step.
    """

    CODE = "SC701"
    VALID = [
        Valid(
            """
import torch

def train(model, loader, optimizer, criterion, device, log_every=100):
    model.train()
    running = torch.zeros((), device=device)
    for step, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        running += loss.detach()                 # stays on the device
        if step % log_every == 0:
            print(f"loss {running.item() / log_every:.4f}")   # one sync every k steps
            running.zero_()
""",
            "accumulate on the device, read every k steps",
        ),
        Valid(
            """
import torch

def evaluate(model, loader, device):
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            correct += (model(x).argmax(1) == y).sum().item()   # no training step here
    return correct
""",
            "an evaluation loop",
        ),
        Valid(
            """
import torch
import torch.nn as nn

model = nn.Linear(10, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    x, y = torch.randn(32, 10), torch.randn(32, 1)
    loss = nn.functional.mse_loss(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(loss.item())                         # CPU only: no device anywhere
""",
            "a CPU-only script",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch

def train(model, loader, optimizer, criterion, device):
    model.train()
    running_loss = 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()  # SC701
    return running_loss / len(loader)
"""
        ),
        Invalid(
            """
import torch

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

def fit(model, loader, opt, epochs):
    for epoch in range(epochs):
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            if torch.isnan(loss):  # SC701
                raise RuntimeError("loss is NaN")
            opt.zero_grad()
            loss.backward()
            opt.step()
            print(f"epoch {epoch} loss {loss:.3f}")  # SC701
"""
        ),
    ]

    def visit_Module(self, node: cst.Module) -> None:
        facts = _facts(self)
        if facts is None:
            return
        sites = [s for s in facts.syncs() if s.other is None]
        if not sites:
            return
        line = line_of(self.ctx)
        # one finding per statement: `print(f"{d.item()} {g.item()}")` is one place to change
        by_stmt: dict[int, list[SyncSite]] = {}
        for s in sites:
            by_stmt.setdefault(id(facts.flow.statement_of(s.node)), []).append(s)  # type: ignore[union-attr]
        for group in by_stmt.values():
            s, rest = group[0], group[1:]
            what = short_code(s.value)
            if s.per_element is not None:
                self.report(
                    s.node,
                    f"`{short_code(s.node)}` reads from the accelerator one element at a time, in "
                    f"`{_loop_head(s.loop.node)}`: a sync per element",
                    notes=[
                        f"`{what}` is on the accelerator (from `{short_code(s.move)}`, line {line(s.move)}); each read waits "
                        "for the GPU and copies a single value",
                        "compute on the whole tensor (`(preds == labels).sum().item()`), or read it once before the "
                        "loop (`values = preds.tolist()`)",
                    ],
                )
                continue
            if s.how == "if":
                message = f"`if {what}:` reads a tensor on the accelerator on every iteration of this training loop"
                fix = ("test it every k steps, or keep the check on the device (`torch.nan_to_num`, "
                       "`torch.where`); `bool(tensor)` waits for the GPU like `.item()`")
            elif s.how in ("print()",) or s.how in (".info()", ".debug()", ".warning()", ".write()", ".set_postfix()", ".set_description()", ".add_scalar()"):
                message = f"`{short_code(s.node)}` formats a tensor on the accelerator on every iteration of this training loop"
                fix = "print every k steps (`if step % log_every == 0:`), with the value accumulated on the device"
            elif s.how in (".cpu()", '.to("cpu")'):
                message = f"`{what}{s.how}` copies from the accelerator to the host on every iteration of this training loop"
                fix = ("keep the results on the device (`preds.append(out.detach())`), then `torch.cat(...)` "
                       "and move them once, after the loop")
            else:
                message = f"`{short_code(s.node)}` waits for the accelerator on every iteration of this training loop"
                fix = (f"accumulate on the device (`running += {what}.detach()`) and read it every k steps: "
                       "`if step % log_every == 0: print(running.item() / log_every)`")
            notes = [
                f"`{what}` is on the accelerator (from `{short_code(s.move)}`, line {line(s.move)}); reading it on the host "
                "makes the CPU wait until every queued kernel has run, so the next step is not queued while the GPU works",
                *_via(s, line),
                *([f"the same statement also reads {', '.join(f'`{short_code(r.node)}`' for r in rest)}"] if rest else []),
                fix,
            ]
            self.report(s.node, message, notes=notes)


class SplitDeviceMetric(LintRule):
    """## What it does
    Flags a loss or metric whose inputs are split between devices on every iteration of a
    training loop: one side is brought back with `.cpu()` (or `.to("cpu")`) while the other is
    a batch tensor the loop never moved (`criterion(out.cpu(), y)`, `(out.argmax(1).cpu() == y)`),
    or, worse, a tensor the loop did move (that one raises on a GPU).

    ## Why is this bad?
    The model runs on the accelerator, then `.cpu()` copies its output back and waits for the
    GPU (a sync per step), and the loss or metric is computed on the CPU. Moving the target
    once (`y = y.to(device)`) keeps everything on the device; read the metric every k steps.
    When the other side *is* on the accelerator the op raises "Expected all tensors to be on
    the same device" as soon as it runs on a GPU.

    ## Known problems
    The `.cpu()` result is followed through method chains, call arguments and one assignment.
    """

    CODE = "SC705"
    VALID = [
        Valid(
            """
def train(model, loader, optimizer, criterion, device):
    correct = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        out = model(x)
        loss = criterion(out, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        correct += (out.argmax(1) == y).sum()      # both on the device
    return correct.item()
""",
            "both sides on the device",
        ),
        Valid(
            """
def train(model, loader, optimizer, criterion, device, log_every=50):
    for step, (x, y) in enumerate(loader):
        out = model(x.to(device))
        loss = criterion(out, y.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % log_every == 0:
            acc = (out.argmax(1).cpu() == y).float().mean()   # every k steps
            print(step, acc.item())
""",
            "a host metric every k steps",
        ),
    ]
    INVALID = [
        Invalid(
            """
def train(model, loader, optimizer, criterion, device):
    for x, y in loader:
        x = x.to(device)
        out = model(x)
        loss = criterion(out.cpu(), y)  # SC705
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""
        ),
        Invalid(
            """
def train(model, loader, optimizer, criterion, device):
    correct = 0
    for x, y in loader:
        x = x.to(device)
        out = model(x)
        loss = criterion(out, y.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        pred = out.argmax(dim=1).cpu()  # SC705
        correct += (pred == y).sum().item()
    return correct
"""
        ),
    ]

    def visit_Module(self, node: cst.Module) -> None:
        facts = _facts(self)
        if facts is None:
            return
        sites = [s for s in facts.syncs() if s.other is not None]
        if not sites:
            return
        line = line_of(self.ctx)
        for s in sites:
            other = short_code(s.other)  # type: ignore[arg-type]
            moved = short_code(s.value)
            if s.other_move is not None:
                message = (f"`{moved}{s.how}` is on the CPU but `{other}` is on the accelerator: they meet on every "
                           "iteration and raise \"Expected all tensors to be on the same device\" on a GPU")
                notes = [f"`{other}` comes from `{short_code(s.other_move)}` (line {line(s.other_move)})",
                         *_via(s, line), f"drop `{s.how}` and compute it on the device; read the result every k steps"]
            else:
                message = (f"`{moved}{s.how}` brings the model's output back to meet `{other}`, which never left the "
                           "host: a copy and a sync on every iteration, and the computation runs on the CPU")
                notes = [f"`{moved}` is on the accelerator (from `{short_code(s.move)}`, line {line(s.move)}); "
                         f"`{other}` comes from `{_loop_head(s.loop.node)}` and is not moved", *_via(s, line),
                         f"move `{other}` once (`{other} = {other}.to(device)`) and drop `{s.how}`: "
                         "the loss or metric then stays on the device"]
            self.report(s.node, message, notes=notes)


class RepeatedHostToDeviceCopy(LintRule):
    """## What it does
    Flags a host-to-device copy of a tensor that is the same on every iteration of a training
    loop: `torch.tensor([1.0, 5.0]).to(device)`, `weights.cuda()` with `weights` built before
    the loop, `torch.tensor(class_weights, device=device)`, `torch.arange(10).to(device)`.
    Random factories (`torch.randn(...)`) give new values each time and are not flagged, nor are
    tensors built from the batch or the step, nor factories that create on the device
    (`torch.zeros(n, device=device)` allocates there without a copy).

    ## Why is this bad?
    Each iteration builds the tensor in pageable host memory and copies it to the GPU; a copy
    from pageable memory blocks the host until it is done. The value never changes: build it on
    the device once, before the loop.

    ## Known problems
    The rule does not move the line: hoisting is safe only if nothing in the loop mutates the
    tensor in place, which we do not check.
    """

    CODE = "SC702"
    VALID = [
        Valid(
            """
import torch

def train(model, loader, optimizer, device):
    class_weights = torch.tensor([1.0, 5.0], device=device)     # once, before the loop
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = torch.nn.functional.cross_entropy(model(x), y, weight=class_weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
""",
            "built once on the device",
        ),
        Valid(
            """
import torch

def train(model, loader, optimizer, device):
    for x, y in loader:
        x = x.to(device)
        noise = torch.randn(x.shape).to(device)      # new values every step
        loss = model(x + noise).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
""",
            "random values change every step",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch

def train(model, loader, optimizer, device):
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        class_weights = torch.tensor([1.0, 5.0]).to(device)  # SC702
        loss = torch.nn.functional.cross_entropy(model(x), y, weight=class_weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""
        ),
        Invalid(
            """
import torch

mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)

def train(model, loader, optimizer, criterion):
    for images, labels in loader:
        images = (images.cuda() - mean.cuda())  # SC702
        loss = criterion(model(images), labels.cuda())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""
        ),
    ]

    def visit_Module(self, node: cst.Module) -> None:
        facts = _facts(self)
        if facts is None:
            return
        sites = facts.copies()
        if not sites:
            return
        line = line_of(self.ctx)
        for s in sites:
            message = (f"`{short_code(s.node)}` copies the same host tensor to the accelerator on every iteration of "
                       "this training loop")
            notes = [
                f"`{short_code(s.value)}` does not change inside `{_loop_head(s.loop.node)}` (line {line(s.loop.node)}); "
                "a copy from pageable host memory blocks until it is done",
                *_via(s, line),
                "build it on the device once, before the loop (e.g. `torch.tensor(..., device=device)`)",
            ]
            self.report(s.node, message, notes=notes)
