"""Role resolution and bindings (shapecheck/infer/bindings.py): roles follow what names are
bound to, through aliases, unpacking, `.to()`, parameters and `self.x`, never their spelling."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from shapecheck.infer.bindings import ALL_KINDS, Bindings, Role, Stochastic


def _last_name(b: Bindings, name: str) -> cst.Name:
    found: list[cst.Name] = []

    class V(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name:
                found.append(node)

    b.module.visit(V())
    assert found, name
    return found[-1]


def role_of(source: str, name: str) -> Role | None:
    b = Bindings.from_source(textwrap.dedent(source))
    return b.role(_last_name(b, name))


@pytest.mark.parametrize(
    ("header", "ctor"),
    [
        ("import torch.optim as optim", "optim.SGD"),
        ("from torch import optim", "optim.Adam"),
        ("from torch.optim import SGD as S", "S"),
        ("import torch", "torch.optim.AdamW"),
        ("import bitsandbytes as bnb", "bnb.optim.Adam8bit"),
    ],
)
def test_optimizer_through_aliases(header: str, ctor: str) -> None:
    src = f"{header}\nthing = {ctor}(params, lr=1e-3)\nthing\n"
    assert role_of(src, "thing") is Role.OPTIMIZER


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("from torch.optim.lr_scheduler import StepLR\ns = StepLR(o, 3)\ns", Role.SCHEDULER),
        ("import torch.optim as optim\ns = optim.lr_scheduler.OneCycleLR(o, 1.0)\ns", Role.SCHEDULER),
        ("import torch.nn as nn\ncrit = nn.CrossEntropyLoss()\ncrit", Role.LOSS),
        ("from torch.utils.data import DataLoader\nld = DataLoader(ds, batch_size=4)\nld", Role.LOADER),
        ("import torch\nsc = torch.cuda.amp.GradScaler()\nsc", Role.SCALER),
        ("from torch.amp import GradScaler\nsc = GradScaler('cuda')\nsc", Role.SCALER),
        ("from accelerate import Accelerator\nacc = Accelerator()\nacc", Role.ACCELERATOR),
        ("import torchvision\nm = torchvision.models.resnet18()\nm", Role.MODEL),
        ("import timm\nm = timm.create_model('vit')\nm", Role.MODEL),
        ("from torch import nn\nm = nn.Sequential(nn.Linear(2, 2))\nm", Role.MODEL),
        ("from torch import nn\nm = nn.Linear(2, 2).to('cuda')\nm", Role.MODEL),
        ("import torch\nt = torch.zeros(3)\nt", None),
        ("m = build_model(cfg)\nm", None),
        ("x = 3\nx", None),
    ],
)
def test_constructor_roles(src: str, expected: Role | None) -> None:
    last = src.rsplit("\n", 1)[-1]
    assert role_of(src, last) is expected


def test_misleading_names_follow_the_binding() -> None:
    src = """
    import torch.nn as nn
    import torch.optim as optim

    class MyModel(nn.Module):
        pass

    optimizer = MyModel()
    model = optim.SGD(optimizer.parameters(), lr=0.1)
    optimizer, model
    """
    assert role_of(src, "optimizer") is Role.MODEL
    assert role_of(src, "model") is Role.OPTIMIZER


def test_local_subclasses_through_local_bases() -> None:
    src = """
    from torch import nn
    import torch

    class Base(nn.Module):
        pass

    class Deep(Base):
        pass

    class FocalLoss(nn.Module):
        pass

    class MyOpt(torch.optim.Optimizer):
        pass

    class NotAModel:
        pass

    a = Deep()
    c = FocalLoss()
    d = MyOpt([])
    e = NotAModel()
    a, c, d, e
    """
    assert role_of(src, "a") is Role.MODEL
    assert role_of(src, "c") is Role.LOSS
    assert role_of(src, "d") is Role.OPTIMIZER
    assert role_of(src, "e") is None


def test_parameters_from_call_sites_and_use() -> None:
    src = """
    import torch.optim as optim
    from torch import nn

    def train(net, opt, sched):
        opt.zero_grad()
        net(1).backward()
        opt.step()
        sched.step()

    m = nn.Linear(2, 2)
    train(m, optim.SGD(m.parameters(), lr=0.1), sched=optim.lr_scheduler.StepLR(None, 1))
    """
    b = Bindings.from_source(textwrap.dedent(src))
    fn = b.functions["train"][0]
    body_names = {n: None for n in ("net", "opt", "sched")}

    class V(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value in body_names and b.enclosing_function(node) is fn:
                body_names[node.value] = node  # type: ignore[assignment]

    b.module.visit(V())
    assert b.role(body_names["net"]) is Role.MODEL  # type: ignore[arg-type]
    assert b.role(body_names["opt"]) is Role.OPTIMIZER  # type: ignore[arg-type]
    assert b.role(body_names["sched"]) is Role.SCHEDULER  # type: ignore[arg-type]


def test_parameter_without_callers_from_use() -> None:
    src = """
    def step(model, optimizer, scheduler, x):
        optimizer.zero_grad()
        model(x).sum().backward()
        optimizer.step()
        scheduler.step()
        model.eval()
    """
    b = Bindings.from_source(textwrap.dedent(src))
    assert b.role(_last_name(b, "optimizer")) is Role.OPTIMIZER
    assert b.role(_last_name(b, "scheduler")) is None  # .step() alone is not enough
    assert b.role(_last_name(b, "model")) is Role.MODEL


def test_annotated_parameters() -> None:
    src = """
    import torch
    from torch import nn

    def fit(m: nn.Module, o: torch.optim.Optimizer):
        m, o
    """
    assert role_of(src, "m") is Role.MODEL
    assert role_of(src, "o") is Role.OPTIMIZER


def test_self_attributes_and_accelerate_unpacking() -> None:
    src = """
    import torch
    from torch import nn
    from accelerate import Accelerator

    class Trainer:
        def __init__(self):
            self.model = nn.Linear(2, 2)
            self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)

        def step(self):
            self.model, self.opt

    acc = Accelerator()
    model, optimizer = acc.prepare(nn.Linear(1, 1), torch.optim.Adam([]))
    model, optimizer
    """
    b = Bindings.from_source(textwrap.dedent(src))
    attrs: list[cst.Attribute] = []

    class V(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            if isinstance(node.value, cst.Name) and node.value.value == "self":
                attrs.append(node)

    b.module.visit(V())
    model_attr, opt_attr = attrs[-2], attrs[-1]
    assert b.role(model_attr) is Role.MODEL
    assert b.role(opt_attr) is Role.OPTIMIZER
    assert b.role(_last_name(b, "model")) is Role.MODEL
    assert b.role(_last_name(b, "optimizer")) is Role.OPTIMIZER


def test_ambiguity_is_unknown() -> None:
    src = """
    import torch
    from torch import nn
    if cond:
        thing = nn.Linear(2, 2)
    else:
        thing = torch.optim.SGD([], lr=0.1)
    thing
    """
    assert role_of(src, "thing") is None
    src2 = """
    from torch import nn
    model = None
    model = nn.Linear(2, 2)
    model = model.cuda()
    model
    """
    assert role_of(src2, "model") is Role.MODEL


def test_assigned_kinds() -> None:
    src = """
    total = 0
    for batch in loader:
        total += batch
    a, b = 1, 2
    total, a
    """
    b = Bindings.from_source(textwrap.dedent(src))
    total = _last_name(b, "total")
    assert [cst.Module([]).code_for_node(v) for v in b.assigned(total, total)] == ["0"]
    assert len(b.assigned(total, total, kinds=ALL_KINDS)) == 2
    a = _last_name(b, "a")
    assert [cst.Module([]).code_for_node(v) for v in b.assigned(a, a)] == ["1"]
    batch = _last_name(b, "batch")
    assert b.assigned(batch, batch) == []


def test_stochastic_layers() -> None:
    src = """
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision

    class Drop(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return F.dropout(self.fc(x), 0.1, training=self.training)

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.act = nn.ReLU()

    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Plain() for _ in range(3)])
            self.norm = nn.BatchNorm1d(2)

    class FromVision(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = torchvision.models.resnet18()

    a, b, c, d = Drop(), Plain(), Wrapper(), FromVision()
    e = nn.Sequential(nn.Linear(2, 2))
    a, b, c, d, e
    """
    b = Bindings.from_source(textwrap.dedent(src))
    verdicts = {n: b.stochastic_layers(_last_name(b, n)) for n in "abcde"}
    assert verdicts == {
        "a": Stochastic.YES,
        "b": Stochastic.NO,
        "c": Stochastic.YES,
        "d": Stochastic.MAYBE,
        "e": Stochastic.NO,
    }


def test_enclosing_helpers() -> None:
    src = "class A:\n    def f(self):\n        x = 1\n"
    b = Bindings.from_source(src)
    x = _last_name(b, "x")
    fn = b.enclosing_function(x)
    assert isinstance(fn, cst.FunctionDef) and fn.name.value == "f"
    cls = b.enclosing_class(x)
    assert isinstance(cls, cst.ClassDef) and cls.name.value == "A"


def test_parameters_handed_to_an_optimizer_make_a_model() -> None:
    src = """
    import torch
    from mylib import build_model

    net = build_model()
    other = build_model()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net, other
    """
    assert role_of(src, "net") is Role.MODEL
    assert role_of(src, "other") is None


def test_parameter_stepped_first_after_backward_is_an_optimizer() -> None:
    src = """
    def train(model, optimizer, scheduler, loader):
        for x, y in loader:
            model(x).sum().backward()
            optimizer.step()
            scheduler.step()
        optimizer, scheduler
    """
    assert role_of(src, "optimizer") is Role.OPTIMIZER
    assert role_of(src, "scheduler") is None
    src2 = """
    def rollout(env, policy, opt):
        loss = policy(1).sum()
        loss.backward()
        env.step(1)
        opt.step()
        env, opt
    """
    assert role_of(src2, "env") is None  # step(action) takes an argument: not an optimizer
    assert role_of(src2, "opt") is Role.OPTIMIZER


def test_scheduler_after_a_scaler_step_is_not_an_optimizer() -> None:
    src = """
    import torch
    scaler = torch.cuda.amp.GradScaler()

    def train(model, optimizer, scheduler, loader):
        for x, y in loader:
            scaler.scale(model(x).sum()).backward()
            scaler.step(optimizer)
            scheduler.step()
        scheduler
    """
    assert role_of(src, "scheduler") is None


def test_stochastic_layers_of_torch_containers() -> None:
    src = """
    import torch.nn as nn
    a = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))
    b = nn.LSTM(4, 4, num_layers=2, dropout=0.2)
    c = nn.LSTM(4, 4)
    d = nn.Sequential(make_block(), nn.ReLU())
    e = nn.Sequential(Encoder(), nn.ReLU())
    a, b, c, d, e
    """
    b = Bindings.from_source("from mypkg import Encoder\n" + textwrap.dedent(src))
    verdicts = {n: b.stochastic_layers(_last_name(b, n)) for n in "abcde"}
    assert verdicts == {
        "a": Stochastic.YES,
        "b": Stochastic.YES,
        "c": Stochastic.NO,
        "d": Stochastic.NO,  # lowercase helpers are not followed
        "e": Stochastic.MAYBE,  # an imported class
    }


def test_builtin_classes_in_init_are_not_layers() -> None:
    src = """
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self, n):
            super().__init__()
            if n < 1:
                raise ValueError("n must be positive")
            self.cfg = dict(n=n)
            self.fc = nn.Linear(n, n)

    net = Net(3)
    net
    """
    b = Bindings.from_source(textwrap.dedent(src))
    assert b.stochastic_layers(_last_name(b, "net")) is Stochastic.NO


def test_scheduler_stepped_before_a_cleared_optimizer_is_not_an_optimizer() -> None:
    # `scheduler.step()` is the first step after backward, but `optimizer` is visibly the
    # optimizer (cleared and stepped): `scheduler` is unknown, never a second optimizer
    src = """
    def train(model, optimizer, scheduler, loader):
        for x, y in loader:
            optimizer.zero_grad()
            model(x).sum().backward()
            scheduler.step()
            optimizer.step()
        optimizer, scheduler
    """
    assert role_of(src, "optimizer") is Role.OPTIMIZER
    assert role_of(src, "scheduler") is None


def test_scaler_and_its_optimizer_from_use() -> None:
    src = """
    def train(model, optimizer, scaler, loader):
        for x, y in loader:
            scaler.scale(model(x).sum()).backward()
            scaler.unscale_(optimizer)
            scaler.step(optimizer)
            scaler.update()
        scaler, optimizer
    """
    assert role_of(src, "scaler") is Role.SCALER
    assert role_of(src, "optimizer") is Role.OPTIMIZER


def test_trainer_parameter_handed_to_an_optimizer_is_a_model() -> None:
    src = """
    import torch

    class Trainer:
        def __init__(self, model):
            self.model = model
            self.opt = torch.optim.SGD(model.parameters(), lr=0.1)

        def validate(self, loader):
            self.model
    """
    b = Bindings.from_source(textwrap.dedent(src))
    attr = next(n for n in b.nodes(cst.Attribute) if n.attr.value == "model" and isinstance(b.parent(n), cst.Expr))
    assert b.role(attr) is Role.MODEL


def test_stochastic_layers_of_imported_blocks() -> None:
    # a model of this file built from layers of another library: plain graph/conv layers
    # have no mode-dependent behaviour; a dropout argument says yes; unknown blocks may
    src = """
    import torch.nn as nn
    from torch_geometric.nn import GCNConv, GATConv, GraphNorm
    from blocks import Encoder

    class GCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = GCNConv(16, 32)
            self.head = nn.Sequential(nn.ReLU(), nn.Linear(32, 2))

    class GAT(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = GATConv(16, 8, heads=8, dropout=0.6)

    class GATNoDrop(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = GATConv(16, 8, heads=8, dropout=0.0)

    class Normed(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = GraphNorm(16)

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = Encoder(16)

    a, b, c, d, e = GCN(), GAT(), GATNoDrop(), Normed(), Wrapped()
    a, b, c, d, e
    """
    b = Bindings.from_source(textwrap.dedent(src))
    verdicts = {n: b.stochastic_layers(_last_name(b, n)) for n in "abcde"}
    assert verdicts == {
        "a": Stochastic.NO,
        "b": Stochastic.YES,
        "c": Stochastic.NO,
        "d": Stochastic.MAYBE,
        "e": Stochastic.MAYBE,
    }


def test_roles_returned_by_functions_of_this_file() -> None:
    src = """
    import torch
    import torch.nn as nn

    def build_optimizer(model, lr):
        if lr > 1:
            raise ValueError(lr)
        return torch.optim.AdamW(model.parameters(), lr=lr)

    def build_either(model, kind):
        if kind == "sgd":
            return torch.optim.SGD(model.parameters(), lr=0.1)
        return nn.Linear(2, 2)

    class Lit(nn.Module):
        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters())

    net = Lit()
    opt = build_optimizer(net, 1e-3)
    mixed = build_either(net, "sgd")
    lit_opt = net.configure_optimizers()
    opt, mixed, lit_opt
    """
    assert role_of(src, "opt") is Role.OPTIMIZER
    assert role_of(src, "mixed") is None  # the returns disagree
    assert role_of(src, "lit_opt") is Role.OPTIMIZER


def test_model_class_of_a_long_rebinding_chain_is_memoised() -> None:
    # every `h = h.to(d)` sees all twelve bindings of `h`: unmemoised, 12**12 paths
    import time

    body = "\n".join("    h = h.to(d)" for _ in range(12))
    b = Bindings.from_source(f"def run(h, d):\n{body}\n    return h.sum()\n")
    call = next(c for c in b.nodes(cst.Call) if isinstance(c.func, cst.Attribute) and c.func.attr.value == "sum")
    start = time.perf_counter()
    assert b.model_class(call.func.value, call) is None  # type: ignore[attr-defined]
    assert time.perf_counter() - start < 2


def test_stochastic_layers_of_a_model_chosen_by_a_flag() -> None:
    # makemore: `model = MLP(cfg)` or `RNN(cfg)` by a flag, passed to a helper's parameter
    src = """
    import torch.nn as nn

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

    class RNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.GRUCell(2, 2)

    class Drop(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.1)

    def generate(model, x):
        return model(x)

    if flag:
        model = MLP()
    else:
        model = RNN()
    other = MLP() if flag else Drop()
    if flag:
        other = Drop()
    generate(model, 1)
    model, other
    """
    b = Bindings.from_source(textwrap.dedent(src))
    call = next(c for c in b.nodes(cst.Call) if isinstance(c.func, cst.Name) and c.func.value == "model")
    assert b.stochastic_layers(call.func, call) is Stochastic.NO
    assert b.stochastic_layers(_last_name(b, "model")) is Stochastic.NO
    assert b.stochastic_layers(_last_name(b, "other")) is Stochastic.MAYBE
