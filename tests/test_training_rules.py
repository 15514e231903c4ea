"""Training-loop rules beyond the documented examples: control flow (try, while, nested loops,
early exits), helpers of the same file, framework patterns, and misleading names. Every case
runs all SC2xx rules at once, so one rule's finding cannot hide another's false positive."""

from __future__ import annotations

import pytest

from shapecheck.testing import assert_marks, lint_snippet

TRAINING = ["SC201", "SC202", "SC203", "SC204", "SC210", "SC211", "SC212", "SC213", "SC214"]

HEADER = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return self.fc(self.drop(x))

"""

SILENT = {
    "zero_grad inside try, backward under autocast": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    try:
        opt.zero_grad()
        with torch.autocast("cuda"):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    except RuntimeError:
        continue
""",
    "OOM handler clears and skips the step": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    loss = F.cross_entropy(model(x), y)
    try:
        loss.backward()
    except RuntimeError:
        opt.zero_grad()
        continue
    opt.step()
    opt.zero_grad()
""",
    "while loop with p.grad = None": """
model = Net()
opt = optim.Adam(model.parameters())
step = 0
while step < 1000:
    for p in model.parameters():
        p.grad = None
    F.mse_loss(model(torch.randn(4, 8)), torch.zeros(4, 2)).backward()
    opt.step()
    step += 1
""",
    "p.grad.zero_() and model.zero_grad(set_to_none=True)": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)
for i, (x, y) in enumerate(loader):
    if i % 2:
        model.zero_grad(set_to_none=True)
    else:
        for p in model.parameters():
            if p.grad is not None:
                p.grad.detach_()
                p.grad.zero_()
    F.cross_entropy(model(x), y).backward()
    opt.step()
""",
    "reinforcement learning: env.step is not an optimizer": """
policy = Net()
opt = optim.Adam(policy.parameters(), lr=1e-3)
for episode in range(100):
    state = env.reset()
    log_probs = []
    for t in range(200):
        action = policy(state).argmax()
        state, reward, done, _ = env.step(action)
        if done:
            break
    opt.zero_grad()
    torch.stack(log_probs).sum().backward()
    opt.step()
""",
    "trainer class: helper method steps and zeroes under accumulation": """
class Trainer:
    def __init__(self, model, accum=4):
        self.model = model
        self.opt = optim.AdamW(model.parameters())
        self.sched = optim.lr_scheduler.CosineAnnealingLR(self.opt, 100)
        self.accum = accum

    def optimizer_step(self):
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)

    def fit(self, loader):
        self.model.train()
        for i, (x, y) in enumerate(loader):
            loss = F.cross_entropy(self.model(x), y) / self.accum
            loss.backward()
            if (i + 1) % self.accum == 0:
                self.optimizer_step()

Trainer(Net()).fit([])
""",
    "two losses, retain_graph": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    opt.zero_grad()
    out = model(x)
    F.cross_entropy(out, y).backward(retain_graph=True)
    out.pow(2).mean().backward()
    opt.step()
""",
    "scheduler stepped after the optimizer inside an if": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)
sched = optim.lr_scheduler.LinearLR(opt)
for i, (x, y) in enumerate(loader):
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()
    if i < 100:
        sched.step()
""",
    "evaluation function with unknown callers": """
@torch.no_grad()
def evaluate(model, loader):
    return [model(x) for x in loader]

def score(model: nn.Module, loader):
    with torch.no_grad():
        for x in loader:
            model(x)
""",
    "evaluation of a model without dropout or batchnorm": """
class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return torch.relu(self.fc(x))

model = Linear()
with torch.no_grad():
    for x in loader:
        model(x)
""",
    "set_grad_enabled with a flag is unknown": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)

def run_epoch(loader, train):
    model.train(train)
    for x, y in loader:
        with torch.set_grad_enabled(train):
            loss = F.cross_entropy(model(x), y)
        if train:
            opt.zero_grad()
            loss.backward()
            opt.step()

for epoch in range(3):
    run_epoch([], True)
    run_epoch([], False)
""",
    "mode set by the caller through a helper": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)

def train_one_epoch(net, loader):
    net.train()
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

def test(net, loader):
    with torch.no_grad():
        for x, y in loader:
            net(x)

for epoch in range(3):
    train_one_epoch(model, [])
    model.eval()
    test(model, [])
""",
    "functional dropout with positional training flag, and outside modules": """
class Block(nn.Module):
    def forward(self, x):
        return F.dropout(x, 0.1, self.training)

class NotAModule:
    def forward(self, x):
        return F.dropout(x, 0.1)
""",
    "misleading names: `optimizer` is a model, `model` an optimizer": """
optimizer = Net()
model = optim.SGD(optimizer.parameters(), lr=0.1)
for x, y in loader:
    model.zero_grad()
    F.cross_entropy(optimizer(x), y).backward()
    model.step()
""",
    "optimizer of unknown origin is never judged": """
model = Net()
opt = build_optimizer(model)
for x, y in loader:
    F.cross_entropy(model(x), y).backward()
    opt.step()
""",
    "a step called under no_grad that sets the grad mode itself": """
model = Net()

def train_step(x):
    with torch.enable_grad():
        loss = model(x).sum()
    loss.backward()

with torch.no_grad():
    train_step(torch.randn(2, 8))
""",
    "a model built in eval mode": """
model = Net().to("cuda").eval()
with torch.no_grad():
    for x in loader:
        model(x)
""",
    "a Hugging Face model from from_pretrained is in eval mode": """
from transformers import AutoModelForCausalLM
lm = AutoModelForCausalLM.from_pretrained("gpt2").to("cuda")
with torch.no_grad():
    for batch in loader:
        lm(**batch)
""",
    "gradient visualisation of a fresh model per iteration": """
for act in ["relu", "tanh"]:
    net = Net()
    opt = optim.SGD(net.parameters(), lr=0.1)
    net.eval()
    opt.zero_grad()
    F.cross_entropy(net(x), y).backward()
    opt.step()
""",
    "a pytest test running the model under no_grad": """
def test_output_shapes():
    model = Net()
    with torch.no_grad():
        for batch in (1, 2, 4):
            assert model(torch.randn(batch, 8)).shape == (batch, 2)
""",
    "enable_grad inside an inference_mode function": """
model = Net()

@torch.inference_mode()
def explain(x):
    with torch.enable_grad():
        x = x.detach().requires_grad_()
        model(x).sum().backward()
    return x.grad
""",
}

FLAGGED = {
    "while loop, no clearing": """
model = Net()
opt = optim.Adam(model.parameters())
it = iter(loader)
while True:
    x, y = next(it)
    F.cross_entropy(model(x), y).backward()
    opt.step()  # SC201
""",
    "trainer class: self.optimizer never cleared": """
class Trainer:
    def __init__(self):
        self.model = Net()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01)

    def train(self, loader):
        self.model.train()
        for x, y in loader:
            loss = F.cross_entropy(self.model(x), y)
            loss.backward()
            self.optimizer.step()  # SC201
""",
    "helper called in the loop steps without clearing": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)

def update(loss):
    loss.backward()
    opt.step()

for x, y in loader:
    update(F.cross_entropy(model(x), y))  # SC201
""",
    "helper clears between backward and step": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)

def reset_grads():
    opt.zero_grad()

for x, y in loader:
    F.cross_entropy(model(x), y).backward()
    reset_grads()  # SC202
    opt.step()
""",
    "aliases: from torch.optim import SGD as S": """
from torch.optim import SGD as S
from torch.optim.lr_scheduler import StepLR as Sched
net = Net()
o = S(net.parameters(), lr=0.1)
s = Sched(o, 10)
for x, y in loader:
    s.step()  # SC204
    o.zero_grad()
    F.cross_entropy(net(x), y).backward()
    o.step()
""",
    "parameters resolved through the caller": """
def train(m, o, data):
    for x, y in data:
        F.cross_entropy(m(x), y).backward()
        o.step()  # SC201

net = Net()
train(net, optim.SGD(net.parameters(), lr=0.1), [])
""",
    "parameters of a function called from another file": """
def train_epoch(model, optimizer, scheduler, loader):
    model.train()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()  # SC201
        scheduler.step()
""",
    "trainer class built with the objects it trains": """
class Trainer:
    def __init__(self, model, optimizer, scheduler):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler

    def fit(self, loader):
        for x, y in loader:
            self.scheduler.step()  # SC204
            self.optimizer.zero_grad()
            F.cross_entropy(self.model(x), y).backward()
            self.optimizer.step()

net = Net()
opt = optim.SGD(net.parameters(), lr=0.1)
Trainer(net, opt, optim.lr_scheduler.StepLR(opt, 5)).fit([])
""",
    "eval mode never restored, while loop": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)
step = 0
while step < 100:
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()
    step += 1
    if step % 10 == 0:
        model.train(False)  # SC211
        with torch.no_grad():
            model(x)
""",
    "validation first, training second: eval mode from iteration 2": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)

def train_epoch(loader):
    model.train()
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

@torch.no_grad()
def validate(loader):
    return [model(x) for x in loader] + [model(x) for x in loader]

def evaluate(loader):
    with torch.no_grad():
        for x in loader:
            model(x)  # SC210

for epoch in range(5):
    evaluate([])
    train_epoch([])
""",
    "training step called under no_grad": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)

def train_step(x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()

with torch.no_grad():
    for x, y in loader:
        train_step(x, y)  # SC213
""",
    "inference script that forgets eval()": """
model = Net()
model.load_state_dict(torch.load("net.pt"))
with torch.inference_mode():
    for x in loader:
        print(model(x).argmax(1))  # SC210
""",
    "backward in a no_grad block under set_grad_enabled(False)": """
model = Net()
with torch.set_grad_enabled(False):
    out = model(torch.randn(2, 8))
    loss = out.sum()
    loss.backward()  # SC213
""",
}


@pytest.mark.parametrize("source", list(SILENT.values()), ids=list(SILENT))
def test_silent(source: str) -> None:
    assert_marks(HEADER + source, TRAINING)


@pytest.mark.parametrize("source", list(FLAGGED.values()), ids=list(FLAGGED))
def test_flagged(source: str) -> None:
    diagnostics = assert_marks(HEADER + source, TRAINING)
    assert diagnostics


def test_messages_name_lines_and_objects() -> None:
    source = HEADER + """
model = Net()
optimizer = optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
"""
    (d,) = lint_snippet(source, ["SC202"])
    row = source.splitlines().index("    loss.backward()") + 1
    assert d.message == (
        f"`optimizer.zero_grad()` runs after backward() (line {row}) and before `optimizer.step()` "
        f"(line {row + 2}): the step sees zeroed gradients"
    )
    assert any("set_to_none=True" in n for n in d.notes)


def _apply(source: str, edit: object) -> str:
    lines = source.splitlines()
    start = sum(len(line) + 1 for line in lines[: edit.location.row - 1]) + edit.location.column - 1  # type: ignore[attr-defined]
    end = sum(len(line) + 1 for line in lines[: edit.end_location.row - 1]) + edit.end_location.column - 1  # type: ignore[attr-defined]
    return source[:start] + edit.content + source[end:]  # type: ignore[attr-defined]


def test_dropout_fix_adds_training_keyword_unsafe_when_intent_unknown() -> None:
    # a lone F.dropout may be on at inference on purpose: the fix would change working code
    source = HEADER + """
class Head(nn.Module):
    def forward(self, x):
        return F.dropout(x, p=0.2)
"""
    (d,) = lint_snippet(source, ["SC214"])
    assert d.fix is not None and d.fix.applicability.value == "unsafe"
    (edit,) = d.fix.edits
    assert edit.content == "F.dropout(x, p=0.2, training=self.training)"
    assert lint_snippet(_apply(source, edit), ["SC214"]) == []


def test_dropout_fix_is_safe_when_the_class_passes_the_mode_elsewhere() -> None:
    source = HEADER + """
class Head(nn.Module):
    def forward(self, x):
        x = F.dropout(x, p=0.2, training=self.training)
        return F.dropout(x, p=0.2)
"""
    (d,) = lint_snippet(source, ["SC214"])
    assert d.fix is not None and d.fix.applicability.value == "safe"
    assert any("probably meant to as well" in n for n in d.notes)
    (edit,) = d.fix.edits
    assert lint_snippet(_apply(source, edit), ["SC214"]) == []


@pytest.mark.parametrize(
    "line",
    [
        "x = F.dropout(x, p=self.p)  # always applies dropout",
        "x = F.dropout(x, p=self.p)  # MC dropout: keep sampling at test time",
        "# Monte Carlo dropout, on at inference for uncertainty\n        x = F.dropout(x, p=self.p)",
    ],
)
def test_dropout_said_to_be_deliberate_is_silent(line: str) -> None:
    source = HEADER + f"""
class Prenet2(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        {line}
        return x
"""
    assert lint_snippet(source, ["SC214"]) == []


def test_dropout_safe_fix_keeps_training_mode_output() -> None:
    """The safe fix changes nothing in training mode: same seed, same output (torch as oracle)."""
    torch = pytest.importorskip("torch")
    source = HEADER + """
class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        x = F.dropout(self.fc(x), p=0.5, training=self.training)
        return F.dropout(x, p=0.5)
"""
    (d,) = lint_snippet(source, ["SC214"])
    assert d.fix is not None and d.fix.applicability.value == "safe"
    fixed = _apply(source, d.fix.edits[0])
    outputs = []
    for code in (source, fixed):
        ns: dict[str, object] = {}
        exec(compile(code, "example.py", "exec"), ns)
        torch.manual_seed(0)
        head = ns["Head"]()  # type: ignore[operator]
        x = torch.randn(4, 8)
        torch.manual_seed(1)
        outputs.append(head.train()(x))
    assert torch.equal(outputs[0], outputs[1])


def test_files_without_torch_are_skipped() -> None:
    source = """
for x in range(3):
    opt.step()
    loss.backward()
"""
    assert lint_snippet(source, TRAINING) == []


def test_bad_input_does_not_crash() -> None:
    source = HEADER + """
def f(*args, **kwargs):
    for a in args:
        a.step(*args)
        a.backward(**kwargs)
        f(*args)
        lambda: a.zero_grad()
    f(**kwargs)

def g():
    return g()

for i in g():
    g().step()
    (lambda m: m)(model).eval()
"""
    diagnostics = lint_snippet(source, TRAINING)
    assert not [d for d in diagnostics if d.code in ("SC901", "SC903")]


def test_mc_dropout_through_a_helper_is_deliberate() -> None:
    source = HEADER + """
def enable_dropout(m):
    for layer in m.modules():
        if isinstance(layer, nn.Dropout):
            layer.train()

@torch.no_grad()
def mc_predict(model, loader):
    enable_dropout(model)
    for x in loader:
        model(x)

mc_predict(Net(), [])
"""
    assert_marks(source, TRAINING)


def test_training_phase_then_evaluation_without_eval() -> None:
    source = HEADER + """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)

def train(loader):
    model.train(mode=True)
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

train([])
with torch.no_grad():
    for x, y in []:
        model(x)  # SC210
"""
    assert_marks(source, TRAINING)


# ---------------------------------------------------------------------------------------------
# Issue 11: patterns found on real code (false findings removed, missed bugs found). Each
# flagged case has a clean twin written the way real repositories write it.

PRECISION_SILENT = {
    "after training, a loop sums a loss that is backpropagated after it (PyG mem_pool)": """
model = Net()
optimizer = optim.Adam(model.parameters(), lr=1e-3)

def train():
    model.train()
    for x, y in train_loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    kl_loss = 0.0
    optimizer.zero_grad()
    for x, y in train_loader:
        kl_loss += model(x).pow(2).mean()
    kl_loss.backward()
    optimizer.step()

train()
""",
    "manual SGD over model.parameters() that clears (pytorch/examples regression)": """
fc = nn.Linear(4, 1)
for batch_idx in range(300):
    x, y = get_batch()
    output = F.smooth_l1_loss(fc(x), y)
    fc.zero_grad()
    output.backward()
    for param in fc.parameters():
        param.data.add_(-0.1 * param.grad)
""",
    "manual SGD on tensors from scratch, grads zeroed after the update": """
w = torch.randn(8, 2, requires_grad=True)
b = torch.zeros(2, requires_grad=True)
for x, y in loader:
    loss = F.cross_entropy(x @ w + b, y)
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
        b -= 0.1 * b.grad
        w.grad.zero_()
        b.grad.zero_()
""",
    "test loop after the training loop, in eval mode under no_grad (tutorial style)": """
model = Net()
optimizer = optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(5):
    for images, labels in train_loader:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

model.eval()
with torch.no_grad():
    correct = 0
    for images, labels in test_loader:
        outputs = model(images)
        correct += (outputs.argmax(1) == labels).sum().item()
""",
    "REINFORCE: the rollout keeps the graph on purpose, inside the episode loop": """
policy = Net()
optimizer = optim.Adam(policy.parameters(), lr=1e-2)
for episode in range(1000):
    log_probs, rewards = [], []
    for t in range(200):
        probs = F.softmax(policy(state), dim=-1)
        action = torch.multinomial(probs, 1)
        log_probs.append(torch.log(probs[0, action]))
        state, reward = env_step(action)
        rewards.append(reward)
    optimizer.zero_grad()
    loss = -torch.stack(log_probs).sum() * sum(rewards)
    loss.backward()
    optimizer.step()
""",
    "GAN: the discriminator's scheduler after its own optimizer, before the generator's": """
netD, netG = Net(), Net()
opt_D = optim.Adam(netD.parameters(), lr=2e-4)
opt_G = optim.Adam(netG.parameters(), lr=2e-4)
sched_D = optim.lr_scheduler.OneCycleLR(opt_D, max_lr=1e-3, total_steps=1000)
for real, z in loader:
    opt_D.zero_grad()
    (netD(netG(z).detach()).mean() - netD(real).mean()).backward()
    opt_D.step()
    sched_D.step()
    opt_G.zero_grad()
    (-netD(netG(z)).mean()).backward()
    opt_G.step()
""",
    "evaluation loop in a helper of a no_grad evaluation function": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)

def run_batches(net, loader):
    total = 0.0
    for x, y in loader:
        total += F.cross_entropy(net(x), y).item()
    return total

@torch.no_grad()
def evaluate(net, loader):
    net.eval()
    return run_batches(net, loader)

def train_epoch(loader):
    model.train()
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

for epoch in range(10):
    train_epoch(train_loader)
    evaluate(model, val_loader)
""",
    "loss from a method, the step at the top uses the previous iteration's gradients": """
class LitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def training_step(self, batch):
        x, y = batch
        return F.cross_entropy(self.fc(x), y)

model = LitNet()
optimizer = optim.SGD(model.parameters(), lr=0.1)
for batch in loader:
    optimizer.step()
    optimizer.zero_grad()
    loss = model.training_step(batch)
    loss.backward()
""",
    "loss from a method, cleared at the end after the step": """
def train(model, optimizer, loader):
    model.train()
    for batch in loader:
        loss = model.training_step(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
""",
    "micro-batches: the inner loop may not run, clearing at the end": """
model = Net()
opt = optim.AdamW(model.parameters())
for batch in loader:
    for micro in batch.split(4):
        F.mse_loss(model(micro), torch.zeros(4, 2)).backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
""",
    "evaluation of a graph model without dropout or batchnorm (PyG graphland)": """
from torch_geometric.nn import GCNConv

class GCN(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.conv = GCNConv(16, hidden)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x, edge_index):
        return self.head(self.conv(x, edge_index))

model = GCN(64)
optimizer = optim.Adam(model.parameters(), lr=1e-3)

@torch.no_grad()
def evaluate(data):
    return model(data.x, data.edge_index).argmax(1)

for step in range(100):
    optimizer.zero_grad()
    F.cross_entropy(model(data.x, data.edge_index), data.y).backward()
    optimizer.step()
    evaluate(data)
""",
    "callback object restores train mode": """
class SampleLogger:
    def on_epoch_end(self, model, epoch):
        model.eval()
        with torch.no_grad():
            print(epoch, model(torch.randn(1, 8)))
        model.train()

model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)
logger = SampleLogger()
model.train()
for epoch in range(10):
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    logger.on_epoch_end(model, epoch)
""",
    "callback function passed to fit(); fit() sets train mode each epoch": """
def log_samples(net, epoch):
    net.eval()
    with torch.no_grad():
        print(epoch, net(torch.randn(1, 8)))

def fit(model, opt, loader, epochs, on_epoch_end):
    for epoch in range(epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        on_epoch_end(model, epoch)

model = Net()
fit(model, optim.SGD(model.parameters(), lr=0.1), [], 10, on_epoch_end=log_samples)
""",
    "@torch.no_grad() evaluation helper without a loop that calls eval()": """
model = Net()
optimizer = optim.Adam(model.parameters(), lr=0.01)

def train():
    model.train()
    optimizer.zero_grad()
    F.cross_entropy(model(data.x), data.y).backward()
    optimizer.step()

@torch.no_grad()
def test():
    model.eval()
    out = model(data.x)
    return (out.argmax(1) == data.y).float().mean().item()

for epoch in range(200):
    train()
    test()
""",
    "model received as a parameter and moved to the device: its mode is the caller's (PyG gpse)": """
@torch.no_grad()
def encode(model, batch, device):
    model = model.to(device)
    outs = []
    for b in batch:
        outs.append(model(b.to(device)))
    return torch.cat(outs)
""",
    "model received as a parameter and moved; the caller sets eval mode": """
@torch.no_grad()
def evaluate(model, loader, device):
    model = model.to(device)
    for x, y in loader:
        model(x.to(device))

net = Net()
net.eval()
evaluate(net, [], "cuda")
""",
    "eval() inside a helper called in the loop, before the model runs (PyG citation benchmark)": """
def inference(model, data):
    model.eval()
    model(data)

@torch.no_grad()
def run_inference(model, data, epochs):
    model = model.to("cuda")
    for epoch in range(1, epochs + 1):
        inference(model, data)

run_inference(Net(), None, 10)
""",
    "teacher under no_grad inside a training step is not an evaluation": """
student, teacher = Net(), Net()
opt = optim.SGD(student.parameters(), lr=0.1)

def distill_step(x):
    with torch.no_grad():
        target = teacher(x)
    opt.zero_grad()
    F.mse_loss(student(x), target).backward()
    opt.step()

teacher.eval()
for x in loader:
    distill_step(x)
""",
    "AMP: clip between unscale_ and step, zero_grad after the update": """
def train(model, optimizer, scaler, loader):
    for x, y in loader:
        with torch.autocast("cuda"):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
""",
    "trainer method: evaluation loop under no_grad": """
class Trainer:
    def __init__(self, model, train_loader, val_loader):
        self.model = model
        self.opt = optim.SGD(model.parameters(), lr=0.1)
        self.train_loader = train_loader
        self.val_loader = val_loader

    @torch.no_grad()
    def validate(self):
        self.model.eval()
        losses = []
        for x, y in self.val_loader:
            losses.append(F.cross_entropy(self.model(x), y).item())
        return sum(losses) / len(losses)

    def fit(self, epochs):
        for epoch in range(epochs):
            self.model.train()
            for x, y in self.train_loader:
                self.opt.zero_grad()
                F.cross_entropy(self.model(x), y).backward()
                self.opt.step()
            self.validate()
""",
    "fresh optimizer on a fresh latent each sampling step (diffusers pix2pix-zero)": """
unet = Net()
for t in timesteps:
    x_in = latents.detach().clone()
    x_in.requires_grad = True
    opt = torch.optim.SGD([x_in], lr=0.1)
    with torch.enable_grad():
        loss = unet(x_in).pow(2).mean()
        loss.backward()
        opt.step()
    latents = x_in.detach()
""",
    "GAN: each optimizer zeroed through its own model (pytorch/examples dcgan)": """
netD, netG = Net(), Net()
optimizerD = optim.Adam(netD.parameters(), lr=2e-4)
optimizerG = optim.Adam(netG.parameters(), lr=2e-4)
for real, noise in loader:
    netD.zero_grad()
    errD = F.binary_cross_entropy_with_logits(netD(real), torch.ones(8, 2))
    errD.backward()
    optimizerD.step()
    netG.zero_grad()
    errG = F.binary_cross_entropy_with_logits(netD(netG(noise)), torch.ones(8, 2))
    errG.backward()
    optimizerG.step()
""",
    "GAN: both optimizers zeroed": """
netD, netG = Net(), Net()
opt_D = optim.Adam(netD.parameters(), lr=2e-4)
opt_G = optim.Adam(netG.parameters(), lr=2e-4)
for real, z in loader:
    opt_D.zero_grad()
    loss_D = netD(real).mean() - netD(netG(z).detach()).mean()
    loss_D.backward()
    opt_D.step()
    opt_G.zero_grad()
    loss_G = -netD(netG(z)).mean()
    loss_G.backward()
    opt_G.step()
""",
    "LBFGS closure that clears first (pytorch/examples time_sequence_prediction)": """
seq = Net()
optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
for i in range(15):
    def closure():
        optimizer.zero_grad()
        loss = F.mse_loss(seq(inp), target)
        loss.backward()
        return loss
    optimizer.step(closure)
""",
}

PRECISION_FLAGGED = {
    "manual SGD over model.parameters() never clears (pytorch/examples regression)": """
fc = nn.Linear(4, 1)
for batch_idx in range(300):
    x, y = get_batch()
    output = F.smooth_l1_loss(fc(x), y)
    output.backward()
    for param in fc.parameters():  # SC201
        param.data.add_(-0.1 * param.grad)
""",
    "manual SGD on tensors from scratch never clears": """
w = torch.randn(8, 2, requires_grad=True)
b = torch.zeros(2, requires_grad=True)
for x, y in loader:
    loss = F.cross_entropy(x @ w + b, y)
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad  # SC201
        b -= 0.1 * b.grad  # SC201
""",
    "test loop after the training loop, autograd on and never in eval mode (tutorial style)": """
model = Net()
optimizer = optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(5):
    for images, labels in train_loader:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

correct = 0
for images, labels in test_loader:  # SC212
    outputs = model(images)  # SC210
    correct += (outputs.argmax(1) == labels).sum().item()
""",
    "torchvision model built at module level, predicted under no_grad between epochs": """
import torchvision

model = torchvision.models.resnet18(num_classes=10)
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

@torch.no_grad()
def predict(images):
    return model(images).softmax(-1)  # SC210

for epoch in range(10):
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    print(predict(x[:4]))
""",
    "GAN: the generator's scheduler stepped before the generator's optimizer": """
netD, netG = Net(), Net()
opt_D = optim.Adam(netD.parameters(), lr=2e-4)
opt_G = optim.Adam(netG.parameters(), lr=2e-4)
sched_G = optim.lr_scheduler.OneCycleLR(opt_G, max_lr=1e-3, total_steps=1000)
for real, z in loader:
    opt_D.zero_grad()
    (netD(netG(z).detach()).mean() - netD(real).mean()).backward()
    opt_D.step()
    opt_G.zero_grad()
    (-netD(netG(z)).mean()).backward()
    sched_G.step()  # SC204
    opt_G.step()
""",
    "nested evaluation loops without no_grad: reported once, at the outer loop": """
model = Net().eval()
for images in batches:  # SC212
    feats = []
    for img in images:
        feats.append(model(img))
    print(torch.stack(feats).shape)
""",
    "evaluation loop in a helper of the evaluation function, autograd on": """
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)

def run_batches(net, loader):
    total = 0.0
    for x, y in loader:  # SC212
        total += F.cross_entropy(net(x), y).item()
    return total

def evaluate(net, loader):
    net.eval()
    return run_batches(net, loader)

def train_epoch(loader):
    model.train()
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

for epoch in range(10):
    train_epoch(train_loader)
    evaluate(model, val_loader)
""",
    "optimizer returned by the model's configure_optimizers(), step before backward": """
class LitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.fc(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)

model = LitNet()
optimizer = model.configure_optimizers()
for i, batch in enumerate(loader):
    optimizer.zero_grad()
    loss = model.training_step(batch, i)
    optimizer.step()  # SC203
    loss.backward()
""",
    "loss from a method, step before backward, gradients cleared at the end of the iteration": """
class LitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def training_step(self, batch):
        x, y = batch
        return F.cross_entropy(self.fc(x), y)

model = LitNet()
optimizer = optim.SGD(model.parameters(), lr=0.1)
for batch in loader:
    loss = model.training_step(batch)
    optimizer.step()  # SC203
    loss.backward()
    optimizer.zero_grad()
""",
    "loss from a method of an unknown model, step before backward": """
def train(model, optimizer, loader):
    model.train()
    for batch in loader:
        optimizer.zero_grad()
        loss = model.training_step(batch)
        optimizer.step()  # SC203
        loss.backward()
""",
    "evaluation of a graph model with attention dropout, never in eval mode": """
from torch_geometric.nn import GATConv

class GAT(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.conv = GATConv(16, hidden, heads=8, dropout=0.6)
        self.head = nn.Linear(8 * hidden, 2)

    def forward(self, x, edge_index):
        return self.head(self.conv(x, edge_index))

model = GAT(8)
optimizer = optim.Adam(model.parameters(), lr=5e-3)

@torch.no_grad()
def evaluate(data):
    return model(data.x, data.edge_index).argmax(1)  # SC210

for step in range(100):
    optimizer.zero_grad()
    F.cross_entropy(model(data.x, data.edge_index), data.y).backward()
    optimizer.step()
    evaluate(data)
""",
    "callback object switches the model to eval and never back": """
class SampleLogger:
    def __init__(self, every):
        self.every = every

    def on_epoch_end(self, model, epoch):
        model.eval()
        with torch.no_grad():
            print(epoch, model(torch.randn(1, 8)))

model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)
logger = SampleLogger(1)
model.train()
for epoch in range(10):
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    logger.on_epoch_end(model, epoch)  # SC211
""",
    "callback function passed to fit() switches to eval and never back": """
def log_samples(net, epoch):
    net.eval()
    with torch.no_grad():
        print(epoch, net(torch.randn(1, 8)))

def fit(model, opt, loader, epochs, on_epoch_end):
    model.train()
    for epoch in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        on_epoch_end(model, epoch)  # SC211

model = Net()
fit(model, optim.SGD(model.parameters(), lr=0.1), [], 10, on_epoch_end=log_samples)
""",
    "one of a list of callbacks switches to eval": """
def log_samples(net, epoch):
    net.eval()
    with torch.no_grad():
        print(epoch, net(torch.randn(1, 8)))

def save(net, epoch):
    torch.save(net.state_dict(), f"ckpt{epoch}.pt")

callbacks = [save, log_samples]
model = Net()
opt = optim.SGD(model.parameters(), lr=0.1)
model.train()
for epoch in range(10):
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for cb in callbacks:
        cb(model, epoch)  # SC211
""",
    "@torch.no_grad() evaluation helper without a loop never calls eval() (PyG full-batch test)": """
model = Net()
optimizer = optim.Adam(model.parameters(), lr=0.01)

def train():
    model.train()
    optimizer.zero_grad()
    F.cross_entropy(model(data.x), data.y).backward()
    optimizer.step()

@torch.no_grad()
def test():
    out = model(data.x)  # SC210
    return (out.argmax(1) == data.y).float().mean().item()

for epoch in range(200):
    train()
    test()
""",
    "evaluation helper with the model as a parameter, moved to the device, never in eval mode": """
@torch.no_grad()
def evaluate(model, loader, device):
    model = model.to(device)
    correct = 0
    for x, y in loader:
        correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()  # SC210
    return correct

net = Net()
evaluate(net, [], "cuda")
""",
    "AMP: zero_grad(set_to_none=True) between scaled backward and scaler.step, roles from use": """
def train(model, optimizer, scaler, loader):
    for x, y in loader:
        with torch.autocast("cuda"):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.zero_grad(set_to_none=True)  # SC202
        scaler.step(optimizer)
        scaler.update()
""",
    "trainer method: evaluation loop in a helper, autograd on": """
class Trainer:
    def __init__(self, model, train_loader, val_loader):
        self.model = model
        self.opt = optim.SGD(model.parameters(), lr=0.1)
        self.train_loader = train_loader
        self.val_loader = val_loader

    def validate(self):
        self.model.eval()
        losses = []
        for x, y in self.val_loader:  # SC212
            losses.append(F.cross_entropy(self.model(x), y).item())
        return sum(losses) / len(losses)

    def fit(self, epochs):
        for epoch in range(epochs):
            self.model.train()
            for x, y in self.train_loader:
                self.opt.zero_grad()
                F.cross_entropy(self.model(x), y).backward()
                self.opt.step()
            self.validate()
""",
    "fresh optimizer each iteration on a persistent model still accumulates": """
model = Net()
for x, y in loader:
    opt = optim.SGD(model.parameters(), lr=0.1)
    F.cross_entropy(model(x), y).backward()
    opt.step()  # SC201
""",
    "GAN: opt_D never zeroed, opt_G is": """
netD, netG = Net(), Net()
opt_D = optim.Adam(netD.parameters(), lr=2e-4)
opt_G = optim.Adam(netG.parameters(), lr=2e-4)
for real, z in loader:
    loss_D = netD(real).mean() - netD(netG(z).detach()).mean()
    loss_D.backward()
    opt_D.step()  # SC201
    opt_G.zero_grad()
    loss_G = -netD(netG(z)).mean()
    loss_G.backward()
    opt_G.step()
""",
    "GAN: netG.zero_grad() does not clear the discriminator's optimizer": """
netD, netG = Net(), Net()
optimizerD = optim.Adam(netD.parameters(), lr=2e-4)
optimizerG = optim.Adam(netG.parameters(), lr=2e-4)
for real, noise in loader:
    errD = F.binary_cross_entropy_with_logits(netD(real), torch.ones(8, 2))
    errD.backward()
    optimizerD.step()  # SC201
    netG.zero_grad()
    errG = F.binary_cross_entropy_with_logits(netD(netG(noise)), torch.ones(8, 2))
    errG.backward()
    optimizerG.step()
""",
    "LBFGS closure without zero_grad": """
seq = Net()
optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
for i in range(15):
    def closure():
        loss = F.mse_loss(seq(inp), target)
        loss.backward()
        return loss
    optimizer.step(closure)  # SC201
""",
    "LBFGS closure without zero_grad, cleared only outside it": """
seq = Net()
optimizer = optim.LBFGS(seq.parameters())

def closure():
    loss = F.mse_loss(seq(inp), target)
    loss.backward()
    return loss

for i in range(15):
    optimizer.zero_grad()
    optimizer.step(closure)  # SC201
""",
}


@pytest.mark.parametrize("source", list(PRECISION_SILENT.values()), ids=list(PRECISION_SILENT))
def test_real_code_patterns_silent(source: str) -> None:
    assert_marks(HEADER + source, TRAINING)


@pytest.mark.parametrize("source", list(PRECISION_FLAGGED.values()), ids=list(PRECISION_FLAGGED))
def test_real_code_bugs_flagged(source: str) -> None:
    assert assert_marks(HEADER + source, TRAINING)


def test_gan_message_says_which_optimizer_was_cleared() -> None:
    (d,) = lint_snippet(HEADER + PRECISION_FLAGGED["GAN: opt_D never zeroed, opt_G is"], ["SC201"])
    assert "`opt_D.step()`" in d.message
    assert any("`opt_G.zero_grad()` clears only that optimizer's parameters" in n for n in d.notes)


def test_lbfgs_message_teaches_the_closure() -> None:
    (d,) = lint_snippet(HEADER + PRECISION_FLAGGED["LBFGS closure without zero_grad"], ["SC201"])
    assert "closure `closure`" in d.message and "never clears" in d.message
    assert any("several times per step" in n for n in d.notes)
    assert any("`optimizer.zero_grad()` as the first line of `closure`" in n for n in d.notes)
