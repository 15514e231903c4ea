"""Training-loop rules (SC201-SC214): the order of backward/step/zero_grad, train/eval mode and
grad mode.

The rules only read facts: roles come from `shapecheck.infer.bindings` (what a name is bound to,
never what it is called), loop order from `shapecheck.infer.loops` (control flow, same-file
helpers inlined). SC214 is a local pattern on `F.dropout` calls.
"""

from __future__ import annotations

import re

import libcst as cst

from shapecheck.diagnostics import Fix, NodeEdit
from shapecheck.infer.bindings import _FUNCTIONAL_DROPOUT, Bindings, Role
from shapecheck.infer.loops import LoopFacts, eval_named
from shapecheck.rules.base import FileContext, Invalid, LintRule, Valid
from shapecheck.tree import line_of, tree_of

_FRAMEWORKS = ("torch", "lightning", "pytorch_lightning", "accelerate", "deepspeed", "transformers")


# Every loop finding needs one of these in the source (a backward, a step, a mode switch or a
# grad-mode context), or a function named like an evaluation (SC210/SC212): model files have none.
_LOOP_WORDS = ("backward", "step", "zero_grad", ".eval", ".train", "no_grad", "inference_mode", "set_grad_enabled")


def _loop_facts(ctx: FileContext) -> LoopFacts | None:
    """The file's loop facts, or None for files that cannot have a loop finding (no cost)."""
    if not any(ctx.names.imports(m) for m in _FRAMEWORKS):
        return None
    if not any(word in ctx.source for word in _LOOP_WORDS) and not any(
        eval_named(f) for f in tree_of(ctx).by_type.get(cst.FunctionDef, ())  # type: ignore[arg-type]
    ):
        return None
    return ctx.fact("training-loops", LoopFacts.build)


class _LoopRule(LintRule):
    """Reports the findings the loop analysis made for this rule's code."""

    def visit_Module(self, node: cst.Module) -> None:
        facts = _loop_facts(self.ctx)
        if facts is None:
            return
        found = facts.by_code(self.CODE)
        if not found:
            return
        line = line_of(self.ctx)
        for f in found:
            message, notes = f.render(line)
            self.report(f.node, message, notes=notes)


class MissingZeroGrad(_LoopRule):
    """## What it does
    Flags `optimizer.step()` in a loop that also calls `backward()` when nothing in the loop
    clears that optimizer's gradients: no `zero_grad()` on it or on the model it optimizes, no
    `p.grad = None` / `p.grad.zero_()`, and no helper function of the same file called in the
    loop that does it. Each optimizer is tracked on its own: in a GAN, `opt_G.zero_grad()` does
    not clear what `opt_D` steps. Also flags `opt.step(closure)` whose closure calls
    `backward()` without clearing (LBFGS evaluates the closure several times per step), and
    manual SGD updates (`for p in model.parameters(): p.data.add_(-lr * p.grad)`,
    `w -= lr * w.grad`) in a loop that clears nothing.

    ## Why is this bad?
    `backward()` adds into `.grad`. Without clearing, every step uses the sum of the gradients
    of all batches so far: the effective learning rate grows each iteration and training
    diverges or crawls, without any error.

    ## Example context
    Gradient accumulation is fine as long as the loop clears somewhere, even conditionally
    (`if (i + 1) % k == 0: opt.step(); opt.zero_grad()`). LBFGS closures that clear first and
    DeepSpeed engines (`engine.step()`) are not flagged, nor is an optimizer built inside the
    loop on tensors built there too (`x = z.detach().requires_grad_(); SGD([x]).step()`): each
    iteration starts from fresh gradients. The optimizer must be known: bound to a `torch.optim`
    class (or similar), a parameter whose same-file callers pass one, or one used with both
    `zero_grad()` and `step()`.

    ## Known problems
    A helper defined in another module that clears the gradients is not seen: the loop is then
    flagged. Suppress with `# noqa: SC201` on the step.
    """

    CODE = "SC201"
    VALID = [
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.CrossEntropyLoss()

for x, y in loader:
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
""",
            "zero_grad at the top of the loop",
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.AdamW(model.parameters())
accum = 4

for i, (x, y) in enumerate(loader):
    loss = nn.functional.cross_entropy(model(x), y) / accum
    loss.backward()
    if (i + 1) % accum == 0:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
""",
            "gradient accumulation with a periodic zero_grad",
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)

def clear(m):
    for p in m.parameters():
        p.grad = None

for x, y in loader:
    clear(model)
    nn.functional.mse_loss(model(x), y).backward()
    opt.step()
""",
            "a helper in the same file clears the gradients",
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(10, 1)
opt = torch.optim.LBFGS(model.parameters())

for x, y in loader:
    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss
    opt.step(closure)
""",
            "LBFGS closure",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.CrossEntropyLoss()

for x, y in loader:
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()  # SC201
"""
        ),
        Invalid(
            """
import torch.optim as optim
from torch import nn

net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
opt = optim.Adam(net.parameters())
opt.zero_grad()  # once, before the loop: not enough

for epoch in range(10):
    for x, y in loader:
        nn.functional.mse_loss(net(x), y).backward()
        opt.step()  # SC201
"""
        ),
        Invalid(
            """
import torch
from torch import nn

def train(model, optimizer, loader):
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()  # SC201

model = nn.Linear(3, 3)
train(model, torch.optim.SGD(model.parameters(), lr=0.01), [])
"""
        ),
    ]


class ZeroGradAfterBackward(_LoopRule):
    """## What it does
    Flags `zero_grad()` that runs after `backward()` and before the `step()` of the same
    optimizer, on every path through the step (branches, `try`, helpers of the same file).

    ## Why is this bad?
    It wipes the gradients that `backward()` just computed. With the default
    `set_to_none=True` the optimizer skips every parameter: the model never changes and the
    loss stays flat, with no error.

    ## Example context
    In a GAN, clearing one network's gradients between the other network's backward and step is
    fine, so the zeroed optimizer must be the one that steps (`model.zero_grad()` counts when the
    loop steps a single optimizer).

    ## Known problems
    A zero_grad on only some paths before the step is not reported (errors are reported only
    when they happen on every path).
    """

    CODE = "SC202"
    VALID = [
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

for x, y in loader:
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
""",
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

for x, y in loader:
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    optimizer.zero_grad()
""",
            "clearing right after the step",
        ),
        Valid(
            """
import torch
from torch import nn

netD, netG = nn.Linear(4, 1), nn.Linear(2, 4)
optD = torch.optim.Adam(netD.parameters())
optG = torch.optim.Adam(netG.parameters())

for real, z in loader:
    optD.zero_grad()
    lossD = netD(real).mean() - netD(netG(z).detach()).mean()
    lossD.backward()
    optG.zero_grad()  # the other network's optimizer
    optD.step()
    lossG = -netD(netG(z)).mean()
    lossG.backward()
    optG.step()
""",
            "GAN: clearing another optimizer",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

for x, y in loader:
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.zero_grad()  # SC202
    optimizer.step()
"""
        ),
        Invalid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
opt = torch.optim.Adam(model.parameters())

def train_step(x, y):
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    model.zero_grad()  # SC202
    opt.step()
    return loss.item()
"""
        ),
        Invalid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
scaler = torch.cuda.amp.GradScaler()

for x, y in loader:
    with torch.autocast("cuda"):
        loss = nn.functional.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    if clip:
        opt.zero_grad()  # SC202
    else:
        opt.zero_grad(set_to_none=True)  # SC202
    scaler.step(opt)
    scaler.update()
"""
        ),
    ]


class StepBeforeBackward(_LoopRule):
    """## What it does
    Flags `optimizer.step()` that runs right after the gradients were cleared and before the
    iteration's `backward()`: cleared earlier in the same iteration, or at the end of the previous
    one (`loss = model.training_step(b); opt.step(); loss.backward(); opt.zero_grad()`).

    ## Why is this bad?
    The step sees only zeroed (or `None`) gradients, and the gradients computed afterwards are
    cleared again before the next step: the model is never updated. Usually a statement moved
    one line too far up.

    ## Example context
    A step at the top of the loop that uses the previous iteration's gradients, with the clearing
    after it (`opt.step(); opt.zero_grad(); loss.backward()`), works (one step late) and is not
    flagged. Nor is gradient accumulation that steps at the top of the loop under an `if`.

    ## Known problems
    Only reported when every path to the step has cleared the gradients (in this iteration, or
    at the end of the previous one).
    """

    CODE = "SC203"
    VALID = [
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

for x, y in loader:
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
"""
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

for i, (x, y) in enumerate(loader):
    if i > 0 and i % 4 == 0:
        optimizer.step()
        optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
""",
            "accumulation that steps at the top of the next window",
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
opt = torch.optim.LBFGS(model.parameters())

def closure():
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    return loss

for _ in range(20):
    opt.step(closure)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

for x, y in loader:
    optimizer.zero_grad()
    optimizer.step()  # SC203
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
"""
        ),
        Invalid(
            """
import torch
from torch import nn

def fit(model, loader, epochs):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for batch in loader:
            opt.zero_grad()
            opt.step()  # SC203
            model(batch).sum().backward()
"""
        ),
        Invalid(
            """
import torch
from torch import nn

model = nn.Linear(2, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)

def update():
    opt.step()

while True:
    opt.zero_grad()
    update()  # SC203
    loss = model(torch.randn(4, 2)).pow(2).mean()
    loss.backward()
"""
        ),
    ]


class SchedulerBeforeOptimizer(_LoopRule):
    """## What it does
    Flags `scheduler.step()` that comes before `optimizer.step()` in the same iteration, per
    batch or at the top of the epoch loop (before the batch loop that steps the optimizer).

    ## Why is this bad?
    Since PyTorch 1.1 the scheduler is stepped after the optimizer. Stepping it first skips the
    first value of the schedule (the warm-up start or the initial learning rate), and PyTorch
    warns at run time.

    ## Example context
    `scheduler` must be bound to a `torch.optim.lr_scheduler` class (or a `transformers`
    schedule) and `optimizer` to an optimizer. `ReduceLROnPlateau.step(val_loss)` after the
    validation pass is fine.

    When a loop steps two optimizers (a GAN), only the step of the optimizer the scheduler was
    built on counts (`OneCycleLR(opt_G, ...)`: `opt_G.step()`).

    ## Known problems
    When the scheduler's optimizer cannot be told (built elsewhere), any optimizer step after
    the scheduler counts.
    """

    CODE = "SC204"
    VALID = [
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)

for epoch in range(90):
    for x, y in loader:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    scheduler.step()
"""
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.AdamW(model.parameters())
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=1000)

for x, y in loader:
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    scheduler.step()
""",
            "per-batch scheduler after the step",
        ),
        Valid(
            """
from torch import nn, optim

model = nn.Linear(10, 2)
optimizer = optim.SGD(model.parameters(), lr=0.1)
plateau = optim.lr_scheduler.ReduceLROnPlateau(optimizer)

def run_epoch():
    for x, y in loader:
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()

for epoch in range(10):
    run_epoch()
    plateau.step(validate())
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
from torch import nn

model = nn.Linear(10, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)

for epoch in range(90):
    scheduler.step()  # SC204
    for x, y in loader:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
"""
        ),
        Invalid(
            """
from torch import nn, optim
from torch.optim.lr_scheduler import OneCycleLR

model = nn.Linear(10, 2)
opt = optim.AdamW(model.parameters())
sched = OneCycleLR(opt, max_lr=1e-3, total_steps=1000)

for x, y in loader:
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    sched.step()  # SC204
    opt.step()
"""
        ),
        Invalid(
            """
import torch
from torch import nn

def train(model, optimizer, scheduler, loader):
    for x, y in loader:
        scheduler.step()  # SC204
        optimizer.zero_grad()
        model(x).sum().backward()
        optimizer.step()

m = nn.Linear(2, 2)
o = torch.optim.SGD(m.parameters(), lr=0.1)
train(m, o, torch.optim.lr_scheduler.ExponentialLR(o, 0.9), [])
"""
        ),
    ]


class EvalWithoutEvalMode(_LoopRule):
    """## What it does
    Flags the model call in an evaluation loop when the model is still in training mode. An
    evaluation loop is a loop with no backward that runs a model under `torch.no_grad()` /
    `inference_mode()` or inside a function named like eval/evaluate/validate/test/predict/infer.
    A function that trains nothing and runs the model under `no_grad()` without a loop
    (`@torch.no_grad() def test(): out = model(data.x)`) is one too, and so is a loop with no
    backward that runs a model after the loop that trained it (a tutorial's test loop). The model is in training
    mode when it was built (or set `.train()`) and no `.eval()` / `.train(False)` runs before the
    call: in the function, in a helper called earlier in the loop, before the call in the
    same-file callers, or, in an epoch loop, after the training pass of the previous iteration.
    `model = model.to(device)` keeps the mode `model` had: for a parameter, the caller's.

    ## Why is this bad?
    `no_grad()` does not change the mode: Dropout still drops units and BatchNorm normalises with
    the batch's statistics and updates its running averages with evaluation data. The reported
    metrics are wrong (noisy, pessimistic) and the BatchNorm statistics drift.

    ## Example context
    Silent when the model has no Dropout/BatchNorm-like layer (a local class built only from
    `Linear`, `Conv`, activations, or plain layers of other libraries such as PyG's `GCNConv`
    without a `dropout=` argument), when the function deliberately calls `.train()` (Monte
    Carlo dropout), and when the mode cannot be known (an evaluation function whose callers are
    in another file). Models from other files, `torchvision`/`timm` are assumed to have such
    layers. Loops in pytest `test_*` functions are not evaluation loops.

    ## Known problems
    The mode is tracked per name: `model.module.eval()` does not count for `model`.
    """

    CODE = "SC210"
    VALID = [
        Valid(
            """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Linear(8, 2))

    def forward(self, x):
        return self.body(x)

model = Net()

@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    return sum((model(x).argmax(1) == y).sum().item() for x, y in loader)

evaluate(model, [])
"""
        ),
        Valid(
            """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.drop(x))

def validate(model, loader):
    with torch.no_grad():
        for x, y in loader:
            print(model(x))

model = Net()
model.eval()
validate(model, [])
""",
            "the caller sets eval mode",
        ),
        Valid(
            """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.drop(x))

def mc_predict(model, x, samples=20):
    model.train()  # Monte Carlo dropout: dropout on at test time, on purpose
    with torch.no_grad():
        preds = [model(x) for _ in range(samples)]
        for _ in range(samples):
            preds.append(model(x))
    return torch.stack(preds).mean(0)

mc_predict(Net(), torch.randn(1, 4))
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        return self.fc(self.bn(x))

model = Net()

with torch.no_grad():
    for x, y in test_loader:
        out = model(x)  # SC210
"""
        ),
        Invalid(
            """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(self.drop(x))

@torch.no_grad()
def evaluate(model, loader):
    correct = 0
    for x, y in loader:
        correct += (model(x).argmax(1) == y).sum().item()  # SC210
    return correct

model = Net()
evaluate(model, [])
"""
        ),
        Invalid(
            """
import torch
import torchvision

model = torchvision.models.resnet18()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

def train_epoch(loader):
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

def validate(loader):
    with torch.no_grad():
        for x, y in loader:
            model(x)  # SC210

for epoch in range(10):
    train_epoch([])
    validate([])
"""
        ),
    ]


class TrainModeNotRestored(_LoopRule):
    """## What it does
    Flags `model.eval()` (directly, or in a helper called) inside a loop that trains that model
    when the loop never calls `model.train()` (directly or in a helper): the next iteration's
    `backward()` then runs in eval mode. Helpers include callbacks of the same file: a method of
    a callback/logger object (`logger.on_epoch_end(model)`), a function passed as an argument
    (`fit(..., on_epoch_end=log_samples)`) or iterated from a list (`for cb in callbacks:`).

    ## Why is this bad?
    A validation pass at the end of each epoch leaves the model in eval mode: from the second
    epoch on, training runs with Dropout off and BatchNorm frozen on its running statistics.
    Nothing crashes; the model just learns worse than it should.

    ## Example context
    `model.train()` at the top of the epoch loop, or at the start of the training function the
    loop calls, restores the mode. The model must be the one called before `backward()` in the
    loop (an EMA copy that is only evaluated is not flagged).

    ## Known problems
    The mode is tracked per name (`model` and `model.module` are different). A `train()`
    anywhere in the loop counts as restoring, even if it is placed after the validation pass.
    """

    CODE = "SC211"
    VALID = [
        Valid(
            """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1), nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)

for epoch in range(10):
    model.train()
    for x, y in train_loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        for x, y in val_loader:
            model(x)
"""
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1), nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)

def train_one_epoch(model, loader):
    model.train()
    for x, y in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

def evaluate(model, loader):
    model.eval()
    with torch.no_grad():
        return [model(x) for x, _ in loader]

for epoch in range(10):
    train_one_epoch(model, train_loader)
    evaluate(model, val_loader)
""",
            "the training function restores the mode",
        ),
        Valid(
            """
import copy
import torch
from torch import nn

model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1), nn.Linear(8, 2))
ema = copy.deepcopy(model)
opt = torch.optim.SGD(model.parameters(), lr=0.1)

for x, y in loader:
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    ema.eval()
""",
            "an evaluation-only copy",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1), nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)

model.train()
for epoch in range(10):
    for x, y in train_loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()  # SC211
    with torch.no_grad():
        for x, y in val_loader:
            model(x)
"""
        ),
        Invalid(
            """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
opt = torch.optim.Adam(model.parameters())

def validate(net):
    net.eval()
    with torch.no_grad():
        return sum(net(x).sum().item() for x, _ in val_loader)

for epoch in range(10):
    for x, y in train_loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    validate(model)  # SC211
"""
        ),
        Invalid(
            """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1), nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)

for step, (x, y) in enumerate(loader):
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    if step % 100 == 0:
        model.eval()  # SC211
        with torch.no_grad():
            print(model(x).argmax(1).eq(y).float().mean())
"""
        ),
    ]


class EvalWithoutNoGrad(_LoopRule):
    """## What it does
    Flags an evaluation loop (no backward; after `model.eval()`, in a function named like
    eval/evaluate/validate/test/predict/infer, or after the loop that trained the model) that
    runs a model with autograd on: not under
    `torch.no_grad()` / `torch.inference_mode()`, the function not decorated with them, and the
    same-file callers not wrapping the call.

    ## Why is this bad?
    `model.eval()` changes Dropout and BatchNorm, not autograd: every forward pass records a
    graph, which costs memory (often enough to run out on large models) and time.

    ## Example context
    Silent when the callers are in another file (they may wrap the call), when the loop
    computes gradients (`torch.autograd.grad`, saliency maps, adversarial examples), and in
    pytest `test_*` functions.

    Nested loops of one evaluation are reported once, at the outer loop; an evaluation loop in
    a helper is judged through its same-file callers (`evaluate()` calls `model.eval()` and then
    `run_batches(model, loader)`).

    ## Known problems
    `torch.set_grad_enabled(flag)` with a variable flag is treated as unknown (silent).
    """

    CODE = "SC212"
    VALID = [
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(8, 2)

def evaluate(model, loader):
    model.eval()
    with torch.inference_mode():
        for x, y in loader:
            model(x)

evaluate(model, [])
"""
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(8, 2)

@torch.no_grad()
def predict(model, loader):
    model.eval()
    return [model(x).argmax(1) for x in loader]

def predict_all(model, loader):
    out = []
    for x in loader:
        out.append(model(x))
    return out

predict(model, [])
with torch.no_grad():
    predict_all(model, [])
""",
            "decorated, and wrapped by the caller",
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(8, 2)

def saliency(model, loader):
    model.eval()
    for x in loader:
        x.requires_grad_(True)
        g, = torch.autograd.grad(model(x).sum(), x)

saliency(model, [])
""",
            "gradients are the point",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
from torch import nn

model = nn.Linear(8, 2)

def evaluate(model, loader):
    model.eval()
    total = 0.0
    for x, y in loader:  # SC212
        total += nn.functional.cross_entropy(model(x), y).item()
    return total

evaluate(model, [])
"""
        ),
        Invalid(
            """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
model.eval()
preds = []
for x in test_loader:  # SC212
    preds.append(model(x).argmax(1))
"""
        ),
        Invalid(
            """
import torch
from torch import nn

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)

def run_validation(net, loader):
    net.eval()
    while True:  # SC212
        x = next(loader, None)
        if x is None:
            break
        net(x)

run_validation(Classifier(), iter([]))
"""
        ),
    ]


class BackwardUnderNoGrad(_LoopRule):
    """## What it does
    Flags `backward()` inside `torch.no_grad()` / `torch.inference_mode()` (a `with` block or a
    decorated function) on a loss computed in that same grad-disabled region, and calls made
    under `no_grad()` of a function of the same file that computes its loss and calls
    `backward()` without setting the grad mode itself. `with torch.enable_grad():` inside resets
    the mode.

    ## Why is this bad?
    A tensor computed with autograd off has no graph: `backward()` raises
    `RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn`.
    It usually comes from a misplaced `with` block or a copied `@torch.no_grad()` decorator.

    ## Example context
    Calling `backward()` under `no_grad()` on a loss computed *outside* it works (the graph was
    recorded already) and is not flagged.

    ## Known problems
    Losses passed in as parameters are not followed into the caller.
    """

    CODE = "SC213"
    VALID = [
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(4, 1)
x = torch.randn(8, 4)

loss = model(x).pow(2).mean()
loss.backward()
with torch.no_grad():
    for p in model.parameters():
        p -= 0.1 * p.grad
"""
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(4, 1)

@torch.no_grad()
def attack(x):
    with torch.enable_grad():
        x = x.clone().requires_grad_(True)
        loss = model(x).sum()
        loss.backward()
    return x + 0.1 * x.grad.sign()
""",
            "enable_grad inside no_grad",
        ),
        Valid(
            """
import torch
from torch import nn

model = nn.Linear(4, 1)
loss = model(torch.randn(2, 4)).sum()
with torch.no_grad():
    loss.backward()  # the graph was recorded outside: this works
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
from torch import nn

model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)

with torch.no_grad():
    loss = model(torch.randn(8, 4)).pow(2).mean()
    loss.backward()  # SC213
    opt.step()
"""
        ),
        Invalid(
            """
import torch
from torch import nn

model = nn.Linear(4, 1)

@torch.no_grad()
def train_step(x, y):
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()  # SC213
    return loss.item()
"""
        ),
        Invalid(
            """
import torch
from torch import nn

model = nn.Linear(4, 1)
scaler = torch.cuda.amp.GradScaler()

with torch.inference_mode():
    scaler.scale(model(torch.randn(2, 4)).sum()).backward()  # SC213
"""
        ),
    ]


class FunctionalDropoutInEval(LintRule):
    """## What it does
    Flags `F.dropout(x, p)` (and `dropout1d/2d/3d`, `alpha_dropout`, `feature_alpha_dropout`)
    called in a method of an `nn.Module` subclass without `training=`.

    ## Why is this bad?
    The functional form does not know the module's mode: `training` defaults to `True`, so
    dropout stays on after `model.eval()` and evaluation and inference are noisy and worse.
    `nn.Dropout` layers, or `training=self.training`, follow the mode.

    ## Fix safety
    The fix adds `training=self.training`, which is what `nn.Dropout` does; it changes nothing in
    training mode and turns dropout off in eval mode. That is a change of behaviour whenever the
    dropout was meant to stay on at inference, so the fix is safe only when the class shows the
    intent itself (another functional dropout in it passes `training=self.training`: this one
    was forgotten) and unsafe otherwise.

    ## Example context
    An explicit `training=True` (Monte Carlo dropout) or `training=False` is respected; so is
    a third positional argument. Silent when a comment on the call says dropout is meant at
    inference (`# always applies dropout`, `# MC dropout`, `# at test time`), and in classes or
    methods named for it (`MCDropout`, `mc_forward`, `BayesianMLP`, Tacotron's `Prenet`).

    ## Known problems
    Only methods of classes whose bases are known to be `nn.Module` (directly or through classes
    of the same file) are checked.
    """

    CODE = "SC214"
    VALID = [
        Valid(
            """
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(F.dropout(x, p=0.5, training=self.training))
"""
        ),
        Valid(
            """
import torch.nn.functional as F
from torch import nn

class MCDropoutNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(F.dropout(x, 0.1, True))  # always on, on purpose
"""
        ),
        Valid(
            """
import torch.nn.functional as F

def augment(x):
    return F.dropout(x, 0.1)  # a plain function, not a module
"""
        ),
        Valid(
            """
import torch.nn.functional as F
from torch import nn

class Prenet(nn.Module):
    def __init__(self, in_dim, n_units, n_layers, dropout=0.5):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(in_dim if i == 0 else n_units, n_units) for i in range(n_layers))
        self.dropout = dropout

    def forward(self, x):
        for layer in self.layers:
            x = F.dropout(F.relu(layer(x)), p=self.dropout)  # always applies dropout, as in Tacotron 2
        return x
""",
            "dropout kept on at inference on purpose, and said so",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        x = F.dropout(x, p=0.5)  # SC214
        return self.fc(x)
""",
            expected_fixed="""
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        x = F.dropout(x, p=0.5, training=self.training)  # SC214
        return self.fc(x)
""",
        ),
        Invalid(
            """
import torch
from torch import nn

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)

    def forward(self, x):
        return torch.nn.functional.dropout2d(self.conv(x), 0.2)  # SC214
""",
            expected_fixed="""
import torch
from torch import nn

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)

    def forward(self, x):
        return torch.nn.functional.dropout2d(self.conv(x), 0.2, training=self.training)  # SC214
""",
        ),
        Invalid(
            """
from torch import nn
from torch.nn import functional as F

class Base(nn.Module):
    pass

class Encoder(Base):
    def embed(me, x):
        return F.dropout(x, 0.1)  # SC214

    def forward(self, x):
        return self.embed(x)
""",
            expected_fixed="""
from torch import nn
from torch.nn import functional as F

class Base(nn.Module):
    pass

class Encoder(Base):
    def embed(me, x):
        return F.dropout(x, 0.1, training=me.training)  # SC214

    def forward(self, x):
        return self.embed(x)
""",
        ),
        Invalid(
            """
import torch.nn.functional as F
from torch import nn

class GNN(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.lin1 = nn.Linear(hidden, hidden)
        self.lin2 = nn.Linear(hidden, hidden)

    def forward(self, x):
        x = F.dropout(self.lin1(x).relu(), p=0.3)  # SC214
        return F.dropout(self.lin2(x).relu(), p=0.3, training=self.training)
""",
            "the same class passes the mode elsewhere: a forgotten argument (safe fix)",
            expected_fixed="""
import torch.nn.functional as F
from torch import nn

class GNN(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.lin1 = nn.Linear(hidden, hidden)
        self.lin2 = nn.Linear(hidden, hidden)

    def forward(self, x):
        x = F.dropout(self.lin1(x).relu(), p=0.3, training=self.training)  # SC214
        return F.dropout(self.lin2(x).relu(), p=0.3, training=self.training)
""",
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
        if "dropout" not in name:
            return
        q = self.ctx.qualify(func)
        if q not in _FUNCTIONAL_DROPOUT:
            return
        if any(a.keyword is not None and a.keyword.value == "training" for a in node.args):
            return
        if len([a for a in node.args if a.keyword is None]) >= 3 or any(a.star for a in node.args):
            return
        bindings: Bindings = self.ctx.fact("bindings", Bindings.build)
        method, cls = self._method(bindings, node)
        if method is None or cls is None:
            return
        if bindings.class_role(cls) not in (Role.MODEL, Role.LOSS):
            return
        params = [*method.params.posonly_params, *method.params.params]
        if not params or any(
            isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod")
            for d in method.decorators
        ):
            return
        me = params[0].name.value
        if _deliberate_dropout(bindings, node, method, cls):
            return
        new_arg = cst.Arg(
            value=cst.Attribute(cst.Name(me), cst.Name("training")),
            keyword=cst.Name("training"),
            equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
        )
        new_call = node.with_changes(args=[*node.args, new_arg])
        shown = cst.Module([]).code_for_node(func)
        sibling = _follows_mode_elsewhere(bindings, cls, node)
        notes = [
            "the functional form defaults to training=True and does not follow the module's mode",
            f"pass `training={me}.training` (what nn.Dropout does), or use an nn.Dropout layer; if dropout "
            "at inference is intended (Monte Carlo dropout), say so with `training=True`",
        ]
        if sibling is not None:
            notes.insert(1, f"`{cst.Module([]).code_for_node(sibling)}` in the same class does pass the mode: this call was probably meant to as well")
        edit = NodeEdit(node, new_call)
        title = f"Pass `training={me}.training`"
        # Safe only when the class itself shows the intent (another dropout call passes the
        # mode); otherwise the dropout may be on at inference on purpose and the fix would
        # change what working code does.
        fix = Fix.safe(title, edit) if sibling is not None else Fix.unsafe(title, edit)
        self.report(
            node,
            f"`{shown}` in `{cls.name.value}.{method.name.value}` without `training=`: dropout stays on after `.eval()`",
            notes=notes,
            fix=fix,
        )

    @staticmethod
    def _method(bindings: Bindings, node: cst.CSTNode) -> tuple[cst.FunctionDef | None, cst.ClassDef | None]:
        """The method (of a class) whose body contains `node`, nested functions included."""
        method: cst.FunctionDef | None = None
        for a in bindings.ancestors(node):
            if isinstance(a, cst.FunctionDef):
                method = a
            elif isinstance(a, cst.ClassDef):
                return method, a
            elif isinstance(a, cst.Module):
                break
        return None, None


# Words in a comment next to the call (or in the class/method name) that say dropout at inference
# is meant: Tacotron's prenet ("always applies dropout"), Monte Carlo dropout, Bayesian layers.
_DELIBERATE_COMMENT = re.compile(
    r"\balways\b|\bmc\b|monte[ -]?carlo|on purpose|deliberate|intentional|\b(at|during|even in) "
    r"(test|inference|eval)|test[ -]time|inference[ -]time|uncertainty|bayesian",
    re.IGNORECASE,
)
_DELIBERATE_NAME = re.compile(r"(^|_)mc(_|$)|^MC[A-Z]|MCDropout|MonteCarlo|Bayes|Prenet|PreNet", re.IGNORECASE)


def _deliberate_dropout(bindings: Bindings, node: cst.Call, method: cst.FunctionDef, cls: cst.ClassDef) -> bool:
    """Evidence that dropout is meant to stay on in eval mode: a comment on the statement (or
    the lines just above it) saying so, or a class/method named for Monte Carlo dropout."""
    if _DELIBERATE_NAME.search(cls.name.value) or _DELIBERATE_NAME.search(method.name.value):
        return True
    for a in bindings.ancestors(node):
        if isinstance(a, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            code = cst.Module([]).code_for_node(a)
            if isinstance(a, cst.BaseCompoundStatement):
                code = code.split("\n", 1)[0]  # the header line only
            comments = re.findall(r"#[^\n]*", code)
            return any(_DELIBERATE_COMMENT.search(c) for c in comments)
    return False


def _follows_mode_elsewhere(bindings: Bindings, cls: cst.ClassDef, node: cst.Call) -> cst.Call | None:
    """Another functional dropout in the same class that passes `training=<self>.training`."""
    names = bindings.names
    for other in bindings.nodes(cst.Call):
        if other is node or bindings.enclosing_class(other) is not cls:
            continue
        if names.qualify(other.func) not in _FUNCTIONAL_DROPOUT:  # type: ignore[attr-defined]
            continue
        for a in other.args:
            v = a.value
            if a.keyword is not None and a.keyword.value == "training" and isinstance(v, cst.Attribute) and v.attr.value == "training":
                return other
    return None
