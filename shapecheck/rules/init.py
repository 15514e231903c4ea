"""Initialisation and optimiser hygiene: constant weight init, Adam's L2 decay, biases that
BatchNorm cancels (SC601-SC603)."""

from __future__ import annotations

import re

import libcst as cst

from shapecheck.infer.flow import Flow, flow_of, has_star, kwarg, literal_number, positional
from shapecheck.names import dotted
from shapecheck.rules.base import Invalid, LintRule, Valid


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


_NN = "torch.nn."
LINEAR_CONV = frozenset(
    _NN + n
    for n in (
        "Linear", "LazyLinear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
        "ConvTranspose3d", "LazyConv1d", "LazyConv2d", "LazyConv3d",
    )
)
BATCHNORMS = frozenset(
    _NN + n for n in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d")
)
NORMS = BATCHNORMS | frozenset(
    _NN + n
    for n in ("LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "RMSNorm", "LocalResponseNorm")
)
_INIT_FUNCS = {
    "torch.nn.init.zeros_": 0.0,
    "torch.nn.init.ones_": 1.0,
    "torch.nn.init.constant_": None,
    "torch.nn.init.constant": None,
}
# Layers whose zero init is a deliberate technique: the last layer of a residual branch or an
# output head (ReZero/Fixup, torchvision's zero_init_residual, DiT's adaLN-Zero, zero-init heads).
# Symmetry between units only matters for hidden layers: an output layer's units get different
# gradients from different targets.
_FINAL_TOKENS = frozenset(
    {"out", "output", "proj", "head", "final", "last", "classifier", "logits", "readout", "residual", "zero", "fc_out"}
)


def _layer_name(layer: cst.BaseExpression) -> str | None:
    if isinstance(layer, cst.Attribute):
        return layer.attr.value
    if isinstance(layer, cst.Name):
        return layer.value
    return None


def _looks_final(name: str | None) -> bool:
    if not name:
        return False
    if name.lower() in _FINAL_TOKENS:
        return True
    tokens = {t for t in re.split(r"[_\d]+", name.lower()) if t}
    return bool(tokens & _FINAL_TOKENS) or name.lower().startswith(("out", "head", "final", "last"))


def _layer_kind(flow: Flow, layer: cst.BaseExpression, at: cst.CSTNode) -> str | None:
    """'linear' (Linear/Conv), 'norm', 'other' or None (unknown), from the layer's constructor
    or an enclosing `if isinstance(layer, ...)`."""
    name = dotted(layer)
    if name is not None:
        for anc in flow.ancestors(at):
            if isinstance(anc, cst.If) and flow.in_body_of(at, anc):
                kinds = _isinstance_kinds(flow, anc.test, name)
                if kinds:
                    if "norm" in kinds:
                        return "norm"
                    if kinds == {"linear"}:
                        return "linear"
                    return "other"
    origins = flow.origins(layer, at, peel=True)
    if not origins:
        return None
    kinds: set[str] = set()
    for origin in origins:
        if not isinstance(origin, cst.Call):
            return None
        q = flow.ctx.qualify(origin.func) or ""
        kinds.add("linear" if q in LINEAR_CONV else "norm" if q in NORMS else "other" if q.startswith(_NN) else "?")
    if "?" in kinds or len(kinds) != 1:
        return None
    return kinds.pop()


def _isinstance_kinds(flow: Flow, test: cst.BaseExpression, name: str) -> set[str]:
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _isinstance_kinds(flow, test.left, name) or _isinstance_kinds(flow, test.right, name)
    if not (isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance"):
        return set()
    args = positional(test)
    if len(args) != 2 or dotted(args[0]) != name:
        return set()
    classes = [e.value for e in args[1].elements] if isinstance(args[1], cst.Tuple) else [args[1]]
    kinds: set[str] = set()
    for c in classes:
        q = flow.ctx.qualify(c) or ""
        kinds.add("linear" if q in LINEAR_CONV else "norm" if q in NORMS else "other")
    return kinds


class ConstantWeightInit(LintRule):
    """## What it does
    Flags a constant initialisation (`nn.init.zeros_`, `ones_`, `constant_`, `.fill_()`,
    `.zero_()`, also through `.data`) of the `.weight` of a `Linear`/`Conv` layer: known from
    the layer's constructor (`self.fc = nn.Linear(...)`) or an enclosing
    `if isinstance(m, nn.Linear):`.

    Silent on biases, on normalisation layers (weight 1, bias 0 is their standard init), on
    layers of unknown type, on embeddings, and on a *zero* init of a layer whose name marks it
    as an output or the last layer of a residual branch (`out`, `proj`, `head`, `final`, `last`,
    `classifier`, `fc_out`, `out_proj`...) or of the last layer of a `Sequential`
    (`self.net[-1].weight`), or inside an `if` that selects such layers by name or option
    (`if name.startswith("head"):`, `if cfg.zero_init_fc:`): zero-initialising those is a
    deliberate technique (torchvision's `zero_init_residual`, ReZero, adaLN-Zero, timm's heads).

    ## Why is this bad?
    Every unit of the layer starts identical, so every unit receives the same gradient and
    stays identical: the layer behaves like a single unit and never breaks symmetry. With
    zeros the gradient reaching earlier layers is zero too.
    """

    CODE = "SC601"
    VALID = [
        Valid(
            """
import torch.nn as nn

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.bn = nn.BatchNorm1d(64)
        self.head = nn.Linear(64, 10)
        nn.init.kaiming_normal_(self.fc1.weight)
        nn.init.zeros_(self.fc1.bias)
        nn.init.ones_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)
        nn.init.zeros_(self.head.weight)     # deliberate zero-init of the output head
""",
            "biases, norms, a zero-initialised head",
        ),
        Valid(
            """
import torch.nn as nn

def init_weights(m):
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(m.weight)
        nn.init.constant_(m.bias, 0)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.constant_(m.weight, 1)
        nn.init.constant_(m.bias, 0)
""",
            "torchvision-style init function",
        ),
        Valid(
            """
import torch.nn as nn

class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        nn.init.zeros_(self.mlp[-1].weight)   # residual branch starts as identity
""",
            "zero-init of the last layer of a residual branch",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch.nn as nn

fc = nn.Linear(256, 256)
nn.init.zeros_(fc.weight)  # SC601
"""
        ),
        Invalid(
            """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.hidden = nn.Linear(16, 16)
        self.conv.weight.data.fill_(0.01)  # SC601
        nn.init.constant_(self.hidden.weight, 0.5)  # SC601
"""
        ),
        Invalid(
            """
import torch.nn as nn

def init(m):
    if isinstance(m, nn.Linear):
        m.weight.data.zero_()  # SC601
        m.bias.data.zero_()
"""
        ),
        Invalid(
            """
import torch.nn as nn

class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.out = nn.Linear(32, 4)
        nn.init.ones_(self.out.weight)  # SC601
"""
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        q = self.ctx.qualify(func) or ""
        target: cst.BaseExpression | None
        value: float | None
        if q in _INIT_FUNCS:
            target = kwarg(node, "tensor", 0)
            value = _INIT_FUNCS[q]
            if value is None:
                v = kwarg(node, "val", 1)
                value = literal_number(v) if v is not None else None
                if value is None:
                    value = float("nan")  # a constant we cannot read: still constant
        elif isinstance(func, cst.Attribute) and func.attr.value in ("fill_", "zero_") and not q.startswith("torch."):
            target = func.value
            if func.attr.value == "zero_":
                value = 0.0
            else:
                args = positional(node)
                value = literal_number(args[0]) if args else None
                if value is None:
                    return  # `.fill_(x)` with a tensor or unknown value
        else:
            return
        if target is None:
            return
        if isinstance(target, cst.Attribute) and target.attr.value == "data":
            target = target.value
        if not (isinstance(target, cst.Attribute) and target.attr.value == "weight"):
            return
        layer = target.value
        flow = flow_of(self.ctx)
        zero = value == 0.0
        if zero and (_looks_final(_layer_name(layer)) or _is_last_of_sequence(layer) or _guarded_as_final(flow, node)):
            return
        if _layer_kind(flow, layer, node) != "linear":
            return
        what = "zeros" if zero else f"the constant {value:g}" if value == value else "a constant"
        self.report(
            node,
            f"`{_code(target)}` initialised to {what}: every unit starts identical and stays identical",
            notes=[
                "Units with equal weights get equal gradients, so the layer never breaks symmetry"
                + (" (and zeros stop the gradient to earlier layers)." if zero else "."),
                "Use a random init (nn.init.kaiming_normal_/xavier_uniform_, or the layer's default); "
                "zero-init only biases, or the last layer of a residual branch / output head on purpose.",
            ],
        )


_FINAL_HINTS = ("head", "classifier", "zero_init", "final", "last", "out", "proj", "residual", "fc")


def _guarded_as_final(flow: Flow, node: cst.CSTNode) -> bool:
    """Inside `if name.startswith("head"):` / `if cfg.zero_init_fc:` (timm's init functions):
    the zero init is chosen by name for the head or a residual branch."""
    for anc in flow.ancestors(node):
        if isinstance(anc, cst.If) and flow.in_body_of(node, anc):
            test = _code(anc.test).lower()
            if any(h in test for h in _FINAL_HINTS):
                return True
        if isinstance(anc, cst.FunctionDef):
            break
    return False


def _is_last_of_sequence(layer: cst.BaseExpression) -> bool:
    """`self.net[-1]`: the last layer of a Sequential/ModuleList."""
    if not isinstance(layer, cst.Subscript) or len(layer.slice) != 1:
        return False
    el = layer.slice[0].slice
    return isinstance(el, cst.Index) and literal_number(el.value) == -1


class AdamWeightDecay(LintRule):
    """## What it does
    Flags `torch.optim.Adam(..., weight_decay=w)` with `w` a known non-zero number (a literal,
    or a name bound to one), unless `decoupled_weight_decay=True`.

    ## Why is this bad?
    Adam's `weight_decay` adds `w * param` to the gradient, which is then divided by Adam's
    adaptive denominator: parameters with large gradients are barely decayed. That is L2
    regularisation, not weight decay, and it regularises worse (Loshchilov & Hutter,
    "Decoupled Weight Decay Regularization"). `torch.optim.AdamW` applies the decay directly to
    the weights, which is usually what is meant.

    ## Known problems
    L2 regularisation may be intended; that is why this rule is off by default.
    """

    CODE = "SC602"
    VALID = [
        Valid(
            """
import torch

def make(model):
    return torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
""",
            "AdamW",
        ),
        Valid(
            """
import torch.optim as optim

def make(model, wd):
    a = optim.Adam(model.parameters(), lr=1e-3)
    b = optim.Adam(model.parameters(), lr=1e-3, weight_decay=0)
    c = optim.Adam(model.parameters(), lr=1e-3, weight_decay=wd)    # unknown value
    return a, b, c
""",
            "no decay, or an unknown one",
        ),
        Valid(
            """
import torch

def make(params):
    return torch.optim.Adam(params, weight_decay=0.1, decoupled_weight_decay=True)
""",
            "decoupled decay asked for explicitly",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch

def make(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-2)  # SC602
"""
        ),
        Invalid(
            """
from torch.optim import Adam

WD = 5e-4
opt = Adam([], 1e-3, (0.9, 0.999), 1e-8, WD)  # SC602
"""
        ),
        Invalid(
            """
import torch.optim as optim

def make(model):
    decay = 0.05
    return optim.Adam(model.parameters(), weight_decay=decay)  # SC602
"""
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if (self.ctx.qualify(node.func) or "") != "torch.optim.Adam":
            return
        dec = kwarg(node, "decoupled_weight_decay")
        if isinstance(dec, cst.Name) and dec.value == "True":
            return
        wd = kwarg(node, "weight_decay", 4)
        if wd is None:
            return
        value = literal_number(wd)
        if value is None and isinstance(wd, cst.Name):
            flow = flow_of(self.ctx)
            binds = flow.reaching(wd.value, node)
            if binds and all(b.value is not None for b in binds):
                vals = {literal_number(b.value) for b in binds if b.value is not None}
                if len(vals) == 1:
                    value = vals.pop()
        if value is None or value == 0:
            return
        self.report(
            node,
            f"Adam(weight_decay={value:g}) is L2 regularisation, not weight decay: AdamW is probably meant",
            notes=[
                "Adam adds the decay to the gradient, then divides by its adaptive denominator, so parameters "
                "with large gradients are hardly decayed. torch.optim.AdamW decays the weights directly.",
            ],
        )


def _has_bias(call: cst.Call, q: str) -> bool:
    pos = 2 if q.endswith(("Linear",)) and "Bilinear" not in q else 3 if "Bilinear" in q else 7
    bias = kwarg(call, "bias", pos)
    if bias is None:
        return not has_star(call)
    return isinstance(bias, cst.Name) and bias.value == "True"


class BiasBeforeBatchnorm(LintRule):
    """## What it does
    Flags a `Conv`/`Linear` layer built with a bias (the default) whose output goes straight
    into a `BatchNorm`: consecutive layers of an `nn.Sequential(...)`, or `self.bn(self.conv(x))`
    / `x = self.conv(x); x = self.bn(x)` in `forward`. The finding is on the layer's
    constructor, where `bias=False` goes.

    ## Why is this bad?
    BatchNorm subtracts the per-channel mean, which removes any constant per-channel offset:
    the bias is cancelled exactly. It costs parameters, memory and a little compute, and its
    gradient is always zero. (PyTorch's profiler reports the same pattern.)

    ## Known problems
    Adding `bias=False` changes the `state_dict` keys, so old checkpoints no longer load
    strictly; off by default.
    """

    CODE = "SC603"
    VALID = [
        Valid(
            """
import torch.nn as nn

block = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
""",
            "bias=False before BatchNorm",
        ),
        Valid(
            """
import torch.nn as nn

block = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.BatchNorm2d(64))
""",
            "an activation in between",
        ),
        Valid(
            """
import torch.nn as nn
import torch.nn.functional as F

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        x = self.conv(x)
        x = F.relu(x)
        return self.bn(x)
""",
            "BatchNorm after the activation",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch.nn as nn

block = nn.Sequential(
    nn.Conv2d(3, 64, 3, padding=1),  # SC603
    nn.BatchNorm2d(64),
    nn.ReLU(),
)
"""
        ),
        Invalid(
            """
import torch.nn as nn

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)  # SC603
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x)).relu()
"""
        ),
        Invalid(
            """
import torch.nn as nn

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 64, bias=True)  # SC603
        self.norm = nn.BatchNorm1d(64)

    def forward(self, x):
        h = self.fc(x)
        h = self.norm(h)
        return h
"""
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        q = self.ctx.qualify(node.func) or ""
        if q == "torch.nn.Sequential":
            layers = [a.value for a in node.args if a.keyword is None and not a.star]
            for first, second in zip(layers, layers[1:]):
                if isinstance(first, cst.Call) and isinstance(second, cst.Call):
                    q1 = self.ctx.qualify(first.func) or ""
                    q2 = self.ctx.qualify(second.func) or ""
                    if q1 in LINEAR_CONV and q2 in BATCHNORMS and _has_bias(first, q1):
                        self._report(first, q1, q2)
            return
        # `self.bn(...)` in a method: is its input straight from a biased conv/linear?
        if not (isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Name)):
            return
        args = positional(node)
        if len(args) != 1:
            return
        flow = flow_of(self.ctx)
        if not flow.is_self_attr(node.func, node):
            return
        bn = self._ctor(flow, node.func, node)
        if bn is None or (self.ctx.qualify(bn.func) or "") not in BATCHNORMS:
            return
        inner = args[0]
        if isinstance(inner, cst.Name):
            binds = flow.reaching(inner.value, node)
            if not binds or len(binds) != 1 or binds[0].value is None:
                return
            inner = binds[0].value
        if not (isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) and flow.is_self_attr(inner.func, node)):
            return
        layer = self._ctor(flow, inner.func, inner)
        if layer is None:
            return
        q1 = self.ctx.qualify(layer.func) or ""
        if q1 in LINEAR_CONV and _has_bias(layer, q1):
            self._report(layer, q1, self.ctx.qualify(bn.func) or "BatchNorm")

    def _ctor(self, flow: Flow, attr: cst.BaseExpression, at: cst.CSTNode) -> cst.Call | None:
        origins = flow.origins(attr, at, peel=False)
        if not origins or len(origins) != 1 or not isinstance(origins[0], cst.Call):
            return None
        return origins[0]

    def _report(self, layer: cst.Call, q1: str, q2: str) -> None:
        a, b = q1.rsplit(".", 1)[-1], q2.rsplit(".", 1)[-1]
        self.report(
            layer,
            f"{a} with a bias directly followed by {b}: the bias is cancelled, use bias=False",
            notes=[f"{b} subtracts the per-channel mean, which removes any constant offset: the bias only costs parameters."],
        )
