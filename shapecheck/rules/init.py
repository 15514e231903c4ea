"""Initialisation and optimiser hygiene: constant weight init, Adam's L2 decay, biases that
BatchNorm cancels (SC601-SC603)."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


@dataclass
class _ConstInit:
    """One constant initialisation of a Linear/Conv weight."""

    call: cst.Call
    target: cst.BaseExpression  # `self.fc.weight`
    layer: cst.BaseExpression  # `self.fc`
    value: float  # nan: a constant we cannot read
    every_layer: bool  # `if isinstance(m, nn.Linear): ...`: applied to every layer of the kind


def _const_init(flow: Flow, node: cst.Call, *, deliberate_ok: bool = False) -> _ConstInit | None:
    """`nn.init.zeros_(self.fc.weight)`, `self.fc.weight.data.fill_(0.1)`, ... on a Linear/Conv.
    A zero init that looks deliberate (an output layer by name) is None unless `deliberate_ok`:
    it is still constant when it is the layer after another constant one."""
    func = node.func
    q = flow.ctx.qualify(func) or ""
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
                return None  # `.fill_(x)` with a tensor or unknown value
    else:
        return None
    if target is None:
        return None
    if isinstance(target, cst.Attribute) and target.attr.value == "data":
        target = target.value
    if not (isinstance(target, cst.Attribute) and target.attr.value == "weight"):
        return None
    layer = target.value
    if not deliberate_ok and value == 0.0 and (_looks_final(_layer_name(layer)) or _is_last_of_sequence(layer) or _guarded_as_final(flow, node)):
        return None
    if not deliberate_ok and _guarded_as_final(flow, node) and not isinstance(layer, cst.Name):
        return None
    if _layer_kind(flow, layer, node) != "linear":
        return None
    every = isinstance(layer, cst.Name) and _guarded_by_isinstance(flow, layer.value, node) and not _guarded_as_final(flow, node)
    return _ConstInit(node, target, layer, value, every)


def _guarded_by_isinstance(flow: Flow, name: str, node: cst.CSTNode) -> bool:
    for anc in flow.ancestors(node):
        if isinstance(anc, cst.If) and flow.in_body_of(node, anc) and _isinstance_kinds(flow, anc.test, name):
            return True
        if isinstance(anc, cst.FunctionDef):
            break
    return False


# Calls a unit-wise identical tensor passes through and stays unit-wise identical.
_ELEMENTWISE = frozenset(
    {
        "relu", "relu_", "gelu", "silu", "tanh", "sigmoid", "elu", "leaky_relu", "selu", "softplus", "mish",
        "hardswish", "relu6", "squeeze", "unsqueeze", "contiguous", "float", "half", "to",
    }
)
_ACTIVATION_MODULES = frozenset(
    _NN + n for n in ("ReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "ELU", "LeakyReLU", "SELU", "Softplus", "Mish", "Hardswish", "ReLU6")
)


def _self_attr(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode) -> str | None:
    if isinstance(expr, cst.Attribute) and flow.is_self_attr(expr, at):
        return expr.attr.value
    return None


def _producers(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> set[str]:
    """The layers `self.<name>` whose output `expr` is, through activations and names."""
    if depth > 8:
        return set()
    if isinstance(expr, cst.Name):
        binds = flow.reaching(expr.value, at)
        out: set[str] = set()
        for b in binds or []:
            if b.value is not None:
                out |= _producers(flow, b.value, b.value, depth + 1)
        return out
    if not isinstance(expr, cst.Call):
        return set()
    func = expr.func
    name = _self_attr(flow, func, expr)
    if name is not None:
        origins = flow.origins(func, expr, peel=False) or []
        if len(origins) == 1 and isinstance(origins[0], cst.Call):
            q = flow.ctx.qualify(origins[0].func) or ""
            if q in LINEAR_CONV:
                return {name}
            if q in _ACTIVATION_MODULES and expr.args:
                return _producers(flow, expr.args[0].value, at, depth + 1)
        return set()
    q = flow.ctx.qualify(func) or ""
    short = q.rsplit(".", 1)[-1] if q.startswith("torch.") else None
    if short in _ELEMENTWISE and expr.args:
        return _producers(flow, expr.args[0].value, at, depth + 1)
    if isinstance(func, cst.Attribute) and not q.startswith("torch.") and func.attr.value in _ELEMENTWISE:
        return _producers(flow, func.value, at, depth + 1)
    return set()


def _feeds(flow: Flow, cls: cst.ClassDef) -> set[tuple[str, str]]:
    """`(a, b)`: in `forward`, the output of Linear/Conv `self.a` goes into `self.b` with only
    unit-wise ops between (`self.b(F.relu(self.a(x)))`, or through local names)."""
    fn = flow.method(cls, "forward")
    if fn is None:
        return set()
    edges: set[tuple[str, str]] = set()
    for call in _calls_in(fn):
        b = _self_attr(flow, call.func, call)
        if b is None or not call.args:
            continue
        for a in _producers(flow, call.args[0].value, call):
            if a != b:
                edges.add((a, b))
    return edges


def _calls_in(fn: cst.FunctionDef) -> list[cst.Call]:
    calls: list[cst.Call] = []

    class _V(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            calls.append(node)

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is fn

    fn.visit(_V())
    return calls


def _width(flow: Flow, layer: cst.BaseExpression, at: cst.CSTNode) -> str | None:
    """`64` for `nn.Linear(32, 64)`: the number of output units, as written."""
    origins = flow.origins(layer, at, peel=False) or []
    if len(origins) != 1 or not isinstance(origins[0], cst.Call):
        return None
    q = flow.ctx.qualify(origins[0].func) or ""
    arg = kwarg(origins[0], "out_features" if "Linear" in q else "out_channels", 1)
    return _code(arg) if arg is not None else None


def _what(value: float) -> str:
    return "zeros" if value == 0.0 else f"the constant {value:g}" if value == value else "a constant"


class ConstantWeightInit(LintRule):
    """## What it does
    Flags a constant initialisation (`nn.init.zeros_`, `ones_`, `constant_`, `.fill_()`,
    `.zero_()`, also through `.data`) of a `Linear`/`Conv` weight where it traps units in
    symmetry, and says which units stay identical:

    - an init function that sets the weight of *every* `nn.Linear`/`nn.Conv` to a constant
      (`if isinstance(m, nn.Linear): nn.init.constant_(m.weight, 0.01)`, applied with
      `model.apply`): consecutive layers are then all constant;
    - a layer `self.a` set to a constant whose output `forward` feeds (through activations only)
      into a layer `self.b` whose weight is constant too: the units between them stay identical.

    Silent on a single constant layer whose next layer is random or unknown: a random next
    layer sends each unit its own gradient, so the units drift apart and train. That covers the
    deliberate zero inits of real code: a residual branch's output projection
    (`x + self.proj(h)`), a LoRA `up` matrix, an adaLN/modulation layer, a final layer
    (ReZero, Fixup, torchvision's `zero_init_residual`, DiT's adaLN-Zero). Silent as well on
    biases, normalisation layers, embeddings and layers of unknown type, and on zero inits
    selected by name (`if name.startswith("head"):`).

    ## Why is this bad?
    A unit's weight gradient is its upstream signal times the gradient flowing back to it. When
    a layer's weights are all equal, its units compute the same value; when the next layer's
    weights are all equal too, every unit gets the same gradient back. Equal units with equal
    gradients stay equal forever: the layer behaves like a single unit.
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
        self.fc = nn.Linear(d, 4 * d)
        self.mix = nn.Linear(4 * d, d)
        nn.init.zeros_(self.mix.weight)   # residual branch starts as identity

    def forward(self, x):
        return x + self.mix(self.fc(x).relu())
""",
            "zero-init of the last layer of a residual branch",
        ),
        Valid(
            """
import torch.nn as nn

class LoRALinear(nn.Module):
    def __init__(self, d_in, d_out, rank=4):
        super().__init__()
        self.down = nn.Linear(d_in, rank, bias=False)
        self.up = nn.Linear(rank, d_out, bias=False)
        nn.init.normal_(self.down.weight, std=1 / rank)
        nn.init.zeros_(self.up.weight)    # the adapter starts as a no-op; down is random

    def forward(self, x):
        return self.up(self.down(x))
""",
            "LoRA: zero `up` after a random `down`",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.hidden = nn.Conv2d(16, 16, 1)
        self.conv.weight.data.fill_(0.01)  # SC601
        nn.init.constant_(self.hidden.weight, 0.5)

    def forward(self, x):
        return self.hidden(self.conv(x).relu())
"""
        ),
        Invalid(
            """
import torch.nn as nn

def init(m):
    if isinstance(m, nn.Linear):
        m.weight.data.zero_()  # SC601
        m.bias.data.zero_()

model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
model.apply(init)
"""
        ),
        Invalid(
            """
import torch.nn as nn
import torch.nn.functional as F

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)
        nn.init.ones_(self.fc1.weight)  # SC601
        nn.init.zeros_(self.fc2.weight)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        return self.fc2(h)
"""
        ),
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._feeds: dict[cst.ClassDef, set[tuple[str, str]]] = {}
        self._class_inits: dict[cst.ClassDef, dict[str, _ConstInit]] = {}

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in _INIT_METHODS:
            return
        flow = flow_of(self.ctx)
        init = _const_init(flow, node)
        if init is None:
            return
        what = _what(init.value)
        if init.every_layer:
            self.report(
                node,
                f"`{_code(init.target)}` set to {what} for every {_kinds_text(flow, init)} layer: "
                "the units of every hidden layer start identical and stay identical",
                notes=[
                    "Consecutive layers both constant: each unit computes the same value and gets the same gradient "
                    "back from the next layer, so no unit ever differs from its neighbours.",
                    "Use a random init (nn.init.kaiming_normal_/xavier_uniform_, or the layer's default); "
                    "zero-init only biases, or one chosen layer (a residual branch's output, a head) on purpose.",
                ],
            )
            return
        a = _self_attr(flow, init.layer, node)
        cls = flow.class_of(node)
        if a is None or cls is None:
            return
        inits = self._inits_of(flow, cls)
        for src, dst in sorted(self._feeds_of(flow, cls)):
            if src != a or dst not in inits:
                continue
            other = inits[dst]
            width = _width(flow, init.layer, node)
            units = f"the {width} output units" if width else "the output units"
            self.report(
                node,
                f"`{_code(init.target)}` initialised to {what} and the next layer `{_code(other.target)}` to "
                f"{_what(other.value)}: {units} of `{_code(init.layer)}` start identical and stay identical",
                notes=[
                    f"`{_code(init.layer)}` feeds `{_code(other.layer)}` in forward. Equal weights make its units equal; "
                    f"the equal weights of `{_code(other.layer)}` send every unit the same gradient, so they never differ.",
                    "Use a random init for one of the two (nn.init.kaiming_normal_/xavier_uniform_, or the layer's "
                    "default); a zero init is fine on a single layer whose neighbours are random.",
                ],
            )
            return

    def _inits_of(self, flow: Flow, cls: cst.ClassDef) -> dict[str, _ConstInit]:
        if cls not in self._class_inits:
            found: dict[str, _ConstInit] = {}
            for method in _INIT_METHODS:
                for call in flow.method_calls(method):
                    if flow.class_of(call) is not cls:
                        continue
                    init = _const_init(flow, call, deliberate_ok=True)
                    if init is not None and not init.every_layer:
                        name = _self_attr(flow, init.layer, call)
                        if name is not None:
                            found.setdefault(name, init)
            self._class_inits[cls] = found
        return self._class_inits[cls]

    def _feeds_of(self, flow: Flow, cls: cst.ClassDef) -> set[tuple[str, str]]:
        if cls not in self._feeds:
            self._feeds[cls] = _feeds(flow, cls)
        return self._feeds[cls]


_INIT_METHODS = ("zeros_", "ones_", "constant_", "constant", "fill_", "zero_")


def _kinds_text(flow: Flow, init: _ConstInit) -> str:
    for anc in flow.ancestors(init.call):
        if isinstance(anc, cst.If) and flow.in_body_of(init.call, anc) and isinstance(init.layer, cst.Name):
            test = anc.test
            while isinstance(test, cst.BooleanOperation):
                test = test.left
            if isinstance(test, cst.Call) and len(test.args) == 2:
                return _code(test.args[1].value)
    return "Linear/Conv"


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
