"""The loop analysis itself (shapecheck/infer/loops.py): event order, helper inlining with
parameters renamed, loop depth, and the path-sensitive gradient states behind SC202/SC203."""

from __future__ import annotations

import textwrap

import libcst as cst

from shapecheck.infer.bindings import Bindings
from shapecheck.infer.loops import GradStates, Seq, TreeBuilder, flat, grad_context


def build(source: str) -> tuple[Bindings, TreeBuilder]:
    b = Bindings.from_source(textwrap.dedent(source))
    return b, TreeBuilder(b, b.names)


def events(source: str, node_type: type = cst.For, index: int = 0) -> list[tuple[str, str | None, int]]:
    b, tb = build(source)
    node = b.nodes(node_type)[index]
    return [(f.ev.kind, f.ev.key, f.depth) for f in flat(tb.body(node)) if f.ev.kind not in ("loop-end",)]


PRELUDE = """
import torch
from torch import nn, optim
model = nn.Linear(2, 2)
opt = optim.SGD(model.parameters(), lr=0.1)
sched = optim.lr_scheduler.StepLR(opt, 1)
scaler = torch.cuda.amp.GradScaler()
"""


def test_events_in_source_order_with_roles() -> None:
    src = PRELUDE + """
for x in loader:
    opt.zero_grad()
    scaler.scale(model(x).sum()).backward()
    scaler.step(opt)
    scaler.update()
    sched.step()
    env.step(1)
"""
    assert events(src) == [
        ("zero", "opt", 0),
        ("model-call", "model", 0),
        ("backward", None, 0),  # the receiver is a call: no key
        ("step", "opt", 0),
        ("sched", "sched", 0),
    ]


def test_helpers_are_inlined_with_parameters_renamed() -> None:
    src = PRELUDE + """
def clear(o):
    o.zero_grad()

def train_one(net, o):
    net.train()
    clear(o)
    net(1).sum().backward()
    o.step()

for epoch in range(3):
    train_one(model, opt)
    model.eval()
"""
    assert events(src) == [
        ("call-site", None, 0),
        ("train", "model", 0),
        ("call-site", None, 0),
        ("zero", "opt", 0),
        ("model-call", "model", 0),
        ("backward", None, 0),
        ("step", "opt", 0),
        ("eval", "model", 0),
    ]


def test_nested_loops_have_depth_and_recursion_is_cut() -> None:
    src = PRELUDE + """
def forever():
    forever()

for epoch in range(3):
    forever()
    for x in loader:
        opt.step()
"""
    kinds = events(src)
    assert ("step", "opt", 1) in kinds
    assert ("loop-start", None, 0) in kinds


def _states(source: str) -> dict[str, set[str]]:
    b, tb = build(source)
    loop = b.nodes(cst.For)[0]
    tree: Seq = tb.body(loop)
    gs = GradStates("opt", {})
    gs.run(tree)
    return {cst.Module([]).code_for_node(c.step.node): {s for s, _ in c.states} for c in gs.checks.values()}


def test_grad_states_join_branches() -> None:
    src = PRELUDE + """
for x in loader:
    model(x).sum().backward()
    if x:
        opt.zero_grad()
    opt.step()
"""
    assert _states(src) == {"opt.step()": {"bw", "zbw"}}  # only on one path: not an error


def test_grad_states_exits_end_paths() -> None:
    src = PRELUDE + """
for x in loader:
    try:
        model(x).sum().backward()
    except RuntimeError:
        opt.zero_grad()
        continue
    opt.step()
"""
    assert _states(src) == {"opt.step()": {"bw"}}


def test_grad_states_every_path_cleared_after_backward() -> None:
    src = PRELUDE + """
for x in loader:
    model(x).sum().backward()
    if x:
        opt.zero_grad()
    else:
        model.zero_grad()
    opt.step()
"""
    assert _states(src) == {"opt.step()": {"zbw"}}


def test_grad_context() -> None:
    b, _ = build(
        """
import torch

@torch.no_grad()
def f(x):
    with torch.enable_grad():
        a = x.sum()
    b = x.sum()
    with torch.inference_mode(False):
        c = x.sum()
    with torch.set_grad_enabled(flag):
        d = x.sum()
"""
    )
    calls = [c for c in b.nodes(cst.Call) if isinstance(c.func, cst.Attribute) and c.func.attr.value == "sum"]
    modes = [(grad_context(b, b.names, c) or ("caller",))[0] for c in calls]
    assert modes == ["on", "off", "on", "off"]  # set_grad_enabled(flag) is unknown: the decorator rules


def test_chain_mode_of_constructors_and_rebindings() -> None:
    from shapecheck.infer.loop_events import _chain_mode

    def mode(expr: str) -> str | None:
        call = cst.parse_expression(expr)
        assert isinstance(call, cst.Call)
        return _chain_mode(call)

    assert mode("Net()") == "train"
    assert mode("torchvision.models.resnet18(num_classes=10)") == "train"
    assert mode("torchvision.models.resnet18().to(device)") == "train"
    assert mode("Net().to(device).eval()") == "eval"
    assert mode("AutoModel.from_pretrained(name).cuda()") == "eval"
    assert mode("model.to(device)") is None  # an existing model keeps its mode
    assert mode("self.model.cuda()") is None


def test_rebinding_chains_stay_cheap() -> None:
    """`h = h.float()` rebound many times: every binding of `h` refers to `h` again, and the
    class of `h` was once walked through every path (exponential); memoised now."""
    import time

    from shapecheck.testing import lint_snippet

    body = "\n".join("    h = h.float()" for _ in range(12))
    src = f"""
import torch
from torch import nn

model = nn.Linear(4, 4)
opt = torch.optim.SGD(model.parameters(), lr=0.1)

def run(h):
{body}
    return h.sum()

for x in loader:
    opt.zero_grad()
    h = model(x)
    h.mean().backward()
    opt.step()
    run(h).item()
"""
    lint_snippet("import torch\n", ["SC201"])  # warm-up: imports and registries
    start = time.perf_counter()
    lint_snippet(src, ["SC201", "SC210", "SC212"])
    assert time.perf_counter() - start < 5
