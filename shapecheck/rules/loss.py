"""Losses and numerics: what feeds a loss, and logs that should be fused (SC301-SC304).

Every rule here asks "what produced this value?" through `shapecheck.infer.flow`, which follows
names through assignments, `self.x` through the class, and a local model's `forward` returns.
"""

from __future__ import annotations

import libcst as cst

from shapecheck.diagnostics import Fix, NodeEdit
from shapecheck.infer.flow import (
    LABEL_TARGET_LOSSES,
    LOSS_OPS,
    Flow,
    alias_for,
    flow_of,
    kwarg,
    method_name,
    one_line,
    op_of,
    op_at_call_site,
    origin_call,
    positional,
    value_ops,
)
from shapecheck.rules.base import Invalid, LintRule, Valid

_CE_OPS = frozenset({"cross_entropy", "nll_loss"})
_BCE_OPS = frozenset({"binary_cross_entropy", "bce_with_logits"})


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def loss_input(call: cst.Call) -> cst.BaseExpression | None:
    return kwarg(call, "input", 0)


def op_input(flow: Flow, call: cst.Call) -> cst.BaseExpression | None:
    """The tensor an elementwise op / softmax / sigmoid is applied to: `torch.f(x)`, `x.f()`,
    or `layer(x)` for a module instance."""
    q = flow.ctx.qualify(call.func) or ""
    if isinstance(call.func, cst.Attribute) and not q.startswith("torch.") and call.func.attr.value in (
        "softmax", "log_softmax", "sigmoid", "exp", "sum", "log",
    ):
        return call.func.value
    return kwarg(call, "input", 0)


def _wrap_if_needed(expr: cst.BaseExpression, replaced: cst.CSTNode, flow: Flow) -> cst.BaseExpression:
    """Parenthesise `expr` when it replaces an atom that something is called or indexed on."""
    parent = flow.parents.get(replaced)
    atomic = isinstance(expr, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) or expr.lpar
    if atomic or not isinstance(parent, (cst.Attribute, cst.Subscript, cst.BinaryOperation, cst.UnaryOperation)):
        return expr
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _cheap_candidate(call: cst.Call) -> bool:
    """Quick filter for visit_Call: could this call be a loss? (every rule sees every call)."""
    func = call.func
    if isinstance(func, cst.Call):
        return True
    name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else ""
    return bool(name) and bool(call.args)


class SoftmaxBeforeCrossEntropy(LintRule):
    """## What it does
    Flags `CrossEntropyLoss` / `F.cross_entropy` fed the output of `softmax` or `log_softmax`,
    and `NLLLoss` / `F.nll_loss` fed the output of `softmax`. The value is followed through
    assignments, `self.` attributes, `nn.Softmax` layers, an `nn.Sequential` ending in
    `nn.Softmax`, the `forward` of a model class (defined in this file or, through the project
    index, in another one) and the returns of a helper function of this file.

    ## Why is this bad?
    `CrossEntropyLoss` expects raw logits: it applies `log_softmax` itself. Softmax'ed input is
    squashed twice, the loss can never reach 0, gradients shrink and training stalls, and no
    error is ever raised. `NLLLoss` expects log-probabilities: fed probabilities it computes
    `-p[y]` instead of `-log p[y]`. (`log_softmax` before `CrossEntropyLoss` computes the right
    value, since `log_softmax` is idempotent, but it is redundant and usually means the model
    was written for `NLLLoss`.)

    ## Known problems
    A `forward` that returns softmax only in eval mode (`if not self.training`) has two
    returns that disagree, so it is not flagged.
    """

    CODE = "SC301"
    VALID = [
        Valid(
            """
import torch.nn as nn
import torch.nn.functional as F

criterion = nn.CrossEntropyLoss()

def step(model, x, y):
    logits = model(x)
    loss = criterion(logits, y)          # raw logits: CrossEntropyLoss applies log_softmax
    probs = F.softmax(logits, dim=1)     # probabilities for reporting only
    return loss, probs
""",
            "CrossEntropyLoss fed logits",
        ),
        Valid(
            """
import torch.nn.functional as F

def loss_fn(logits, y):
    return F.nll_loss(F.log_softmax(logits, dim=-1), y)
""",
            "log_softmax + NLLLoss",
        ),
        Valid(
            """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 3)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        logits = self.fc(x)
        if self.training:
            return logits
        return self.softmax(logits)

model = Net()
criterion = nn.CrossEntropyLoss()

def step(x, y):
    return criterion(model(x), y)
""",
            "softmax only at inference: the returns disagree, not flagged",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch.nn as nn
import torch.nn.functional as F

criterion = nn.CrossEntropyLoss()

def step(model, x, y):
    probs = F.softmax(model(x), dim=1)
    loss = criterion(probs, y)  # SC301
    return loss
"""
        ),
        Invalid(
            """
import torch
import torch.nn as nn

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10), nn.Softmax(dim=1))
        self.loss_fn = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.net(x)

    def training_step(self, x, y):
        out = self(x)
        return self.loss_fn(self.net(x), y)  # SC301
"""
        ),
        Invalid(
            """
import torch
import torch.nn.functional as F

def loss(logits, y):
    return F.nll_loss(torch.softmax(logits, 1), y)  # SC301
"""
        ),
        Invalid(
            """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(20, 5)

    def forward(self, x):
        return self.fc(x).softmax(dim=-1)

model = Net()
criterion = nn.CrossEntropyLoss()
for x, y in []:
    loss = criterion(model(x), y)  # SC301
"""
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not _cheap_candidate(node):
            return
        flow = flow_of(self.ctx)
        op = op_of(flow, node)
        if op not in _CE_OPS:
            return
        arg = loss_input(node)
        if arg is None:
            return
        ops = value_ops(flow, arg, node)
        if not ops or len(ops) != 1:
            return
        (made_by,) = ops
        loss_name = "CrossEntropyLoss" if op == "cross_entropy" else "NLLLoss"
        if made_by == "softmax":
            if op == "cross_entropy":
                self.report(
                    arg,
                    f"softmax output fed to {loss_name}: softmax is applied twice",
                    notes=[
                        "CrossEntropyLoss applies log_softmax itself: softmax is applied twice, "
                        "the loss cannot reach 0, gradients shrink and training stalls.",
                        "Pass the logits (the output before softmax); keep softmax for reporting probabilities.",
                    ],
                )
            else:
                self.report(
                    arg,
                    "softmax output fed to NLLLoss, which expects log-probabilities",
                    notes=[
                        "NLLLoss computes -input[y]: fed probabilities it minimises -p[y], not -log p[y].",
                        "Use log_softmax instead of softmax (or CrossEntropyLoss on the logits).",
                    ],
                )
        elif made_by == "log_softmax" and op == "cross_entropy":
            self.report(
                arg,
                "log_softmax output fed to CrossEntropyLoss, which applies log_softmax again",
                notes=[
                    "CrossEntropyLoss = log_softmax + NLLLoss. The value is the same (log_softmax is "
                    "idempotent) but the work is done twice: pass the logits, or use NLLLoss.",
                ],
            )


class SigmoidBeforeBce(LintRule):
    """## What it does
    Flags `BCELoss` / `F.binary_cross_entropy` fed the output of `sigmoid`, and
    `BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits` fed a sigmoid output (a double
    sigmoid). The value is followed through assignments, `self.` attributes, `nn.Sigmoid`
    layers, an `nn.Sequential` closed by `nn.Sigmoid`, a model's `forward` (in this file or
    another file of the project) and a helper's returns.

    ## Why is this bad?
    `sigmoid` then `BCELoss` computes `log(sigmoid(z))`, which underflows to `log(0) = -inf`
    for saturated logits; BCELoss clamps it at -100 and the gradient vanishes.
    `BCEWithLogitsLoss` on the logits computes the same loss with the log-sum-exp trick, stable
    for every logit. Feeding a sigmoid output to `BCEWithLogitsLoss` is worse: the sigmoid is
    applied twice and the loss is simply wrong.

    ## Fix safety
    The fix drops the sigmoid from the loss input and switches the criterion to its
    with-logits form (`nn.BCEWithLogitsLoss`, `F.binary_cross_entropy_with_logits`): the same
    value, computed stably. It is safe when the sigmoid is written inside the loss call and the
    criterion is the functional form or a local `nn.BCELoss(...)` called only here. It is unsafe
    when the sigmoid output is a named value (it may be used elsewhere, e.g. for accuracy),
    when the criterion is an attribute or called in several places (every use changes), and
    for the double sigmoid (dropping it changes the loss value). No fix is offered when either
    edit cannot be made (the sigmoid's input is a larger expression held in a name, or the
    criterion's constructor is not found in this file), and none when the sigmoid is inside a
    callee (`forward` ends in `torch.sigmoid`, a Sequential closes with `nn.Sigmoid`):
    replacing `model(x)` by its argument would delete the model from the loss; only the callee
    can change (return logits).
    """

    CODE = "SC302"
    VALID = [
        Valid(
            """
import torch.nn as nn

criterion = nn.BCEWithLogitsLoss()

def step(model, x, y):
    logits = model(x).squeeze(1)
    return criterion(logits, y.float())
""",
            "BCEWithLogitsLoss on logits",
        ),
        Valid(
            """
import torch
import torch.nn.functional as F

def loss(logits, y):
    probs = torch.sigmoid(logits)          # for the metric
    acc = ((probs > 0.5) == y).float().mean()
    return F.binary_cross_entropy_with_logits(logits, y), acc
""",
            "sigmoid only for the metric",
        ),
        Valid(
            """
import torch.nn as nn

criterion = nn.BCELoss()

def step(model, x, y):
    return criterion(model(x), y)   # model is not known to end in a sigmoid
""",
            "unknown producer",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
import torch.nn.functional as F

def loss(logits, y):
    return F.binary_cross_entropy(torch.sigmoid(logits), y)  # SC302
""",
            expected_fixed="""
import torch
import torch.nn.functional as F

def loss(logits, y):
    return F.binary_cross_entropy_with_logits(logits, y)
""",
        ),
        Invalid(
            """
import torch
import torch.nn as nn

def train(model, loader):
    criterion = nn.BCELoss()
    for x, y in loader:
        loss = criterion(torch.sigmoid(model(x)).squeeze(1), y)  # SC302
""",
            expected_fixed="""
import torch
import torch.nn as nn

def train(model, loader):
    criterion = nn.BCEWithLogitsLoss()
    for x, y in loader:
        loss = criterion(model(x).squeeze(1), y)
""",
        ),
        Invalid(
            """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 1)
        self.act = nn.Sigmoid()

    def forward(self, x):
        return self.act(self.fc(x))

model = Net()
criterion = nn.BCELoss()
for x, y in []:
    loss = criterion(model(x), y)  # SC302
"""
        ),
        Invalid(
            """
import torch
import torch.nn as nn

criterion = nn.BCEWithLogitsLoss()

def step(model, x, y):
    p = model(x).sigmoid()
    return criterion(p, y)  # SC302
"""
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not _cheap_candidate(node):
            return
        flow = flow_of(self.ctx)
        op = op_of(flow, node)
        if op not in _BCE_OPS:
            return
        arg = loss_input(node)
        if arg is None:
            return
        ops = value_ops(flow, arg, node)
        if ops != {"sigmoid"}:
            return
        sig = origin_call(flow, arg, node, "sigmoid")
        if sig is not None and op_at_call_site(flow, sig) != "sigmoid":
            # the sigmoid is inside a callee (`forward` ends in one, a Sequential closes with
            # nn.Sigmoid): replacing the call by its argument would delete the model from the
            # loss. Only the callee can change (return logits): no fix here.
            sig = None
        if op == "bce_with_logits":
            fix = None
            if sig is not None and flow.is_ancestor(node, sig):
                inner = op_input(flow, sig)
                if inner is not None and one_line(inner):
                    fix = Fix.unsafe(
                        "Remove the sigmoid: BCEWithLogitsLoss applies it",
                        NodeEdit(sig, _wrap_if_needed(inner, sig, flow)),
                    )
            self.report(
                arg,
                "sigmoid output fed to BCEWithLogitsLoss: the sigmoid is applied twice",
                notes=[
                    "BCEWithLogitsLoss applies sigmoid itself: this loss is computed on sigmoid(sigmoid(z)), "
                    "which lies in (0.5, 0.73) and cannot fit the targets.",
                    "Pass the logits.",
                ],
                fix=fix,
            )
            return
        self.report(
            arg,
            "sigmoid output fed to BCELoss: numerically unstable, use BCEWithLogitsLoss on the logits",
            notes=[
                "log(sigmoid(z)) underflows to log(0) for large |z|; BCELoss clamps it at -100 and the gradient "
                "vanishes. BCEWithLogitsLoss computes the same loss from the logits with the log-sum-exp trick.",
                "Drop the sigmoid and use nn.BCEWithLogitsLoss / F.binary_cross_entropy_with_logits.",
            ],
            fix=self._fix(flow, node, arg, sig),
        )

    def _fix(self, flow: Flow, call: cst.Call, arg: cst.BaseExpression, sig: cst.Call | None) -> Fix | None:
        if sig is None:
            return None
        inner = op_input(flow, sig)
        if inner is None:
            return None
        safe = True
        edits: list[NodeEdit] = []
        if flow.is_ancestor(call, sig):
            edits.append(NodeEdit(sig, _wrap_if_needed(inner, sig, flow)))
        elif isinstance(arg, cst.Name) and isinstance(inner, cst.Name):
            # `p = torch.sigmoid(z); criterion(p, y)` -> `criterion(z, y)`; p may be used elsewhere
            edits.append(NodeEdit(arg, inner))
            safe = False
        else:
            return None
        crit = self._criterion_edit(flow, call)
        if crit is None:
            return None
        edit, crit_safe = crit
        edits.append(edit)
        if not one_line(*(e.replacement for e in edits)):
            return None
        safe = safe and crit_safe
        message = "Use BCEWithLogitsLoss on the logits (drop the sigmoid)"
        return Fix.safe(message, *edits) if safe else Fix.unsafe(message, *edits)

    def _criterion_edit(self, flow: Flow, call: cst.Call) -> tuple[NodeEdit, bool] | None:
        ctx = self.ctx
        func = call.func
        q = ctx.qualify(func) or ""
        if q == "torch.nn.functional.binary_cross_entropy":
            new = _renamed(ctx, func, "binary_cross_entropy_with_logits", "torch.nn.functional")
            return (NodeEdit(func, new), True) if new is not None else None
        if isinstance(func, cst.Call):
            new = _renamed(ctx, func.func, "BCEWithLogitsLoss", "torch.nn")
            return (NodeEdit(func.func, new), True) if new is not None else None
        binds = flow.bindings_of(func, call)
        if not binds or len(binds) != 1 or binds[0].value is None:
            return None
        origins = flow.origins(binds[0].value, binds[0].value)
        if not origins or len(origins) != 1 or not isinstance(origins[0], cst.Call):
            return None
        ctor = origins[0]
        if (ctx.qualify(ctor.func) or "") not in ("torch.nn.BCELoss", "torch.nn.modules.loss.BCELoss"):
            return None
        new = _renamed(ctx, ctor.func, "BCEWithLogitsLoss", "torch.nn")
        if new is None:
            return None
        single_use = isinstance(func, cst.Name) and len(flow.uses_of(func.value, flow.scope_of(binds[0].stmt))) == 2
        if isinstance(func, cst.Name) and flow.scope_of(binds[0].stmt) is not flow.scope_of(call):
            single_use = single_use and len(flow.name_uses.get(func.value, [])) == 2
        return NodeEdit(ctor.func, new), single_use


def _renamed(ctx, func: cst.BaseExpression, new_name: str, module: str) -> cst.BaseExpression | None:  # type: ignore[no-untyped-def]
    """`F.binary_cross_entropy` -> `F.binary_cross_entropy_with_logits`; a bare imported name
    -> the module's local spelling plus the new name (None when the module is not imported)."""
    if isinstance(func, cst.Attribute):
        return func.with_changes(attr=cst.Name(new_name))
    prefix = alias_for(ctx, module)
    if prefix is None:
        return None
    return cst.parse_expression(f"{prefix}.{new_name}")


class UnstableLog(LintRule):
    """## What it does
    Flags `log(softmax(x, d))`, `log(sum(exp(x), d))` (also `x.exp().sum(d).log()`) and
    `log(sigmoid(x))`, in function or method form, also through a named intermediate.

    ## Why is this bad?
    Each composition computes a small number and then its log: softmax and sigmoid underflow
    to 0 for large logits and `log(0)` is `-inf`; `exp` overflows to `inf` for logits above
    ~88 (float32). `log_softmax`, `logsumexp` and `logsigmoid` compute the same values with
    the max-subtraction trick, finite for every input, and faster.

    ## Fix safety
    The rewrite computes the same value (up to rounding, and without the overflow), so it is
    safe: `log(F.softmax(x, d))` -> `F.log_softmax(x, d)`, `torch.log(torch.sum(torch.exp(x), d))`
    -> `torch.logsumexp(x, d)` (`x.exp().sum(d).log()` -> `x.logsumexp(d)`), `log(sigmoid(x))`
    -> `F.logsigmoid(x)` (written with the file's own alias of `torch.nn.functional`, else
    fully qualified; no import is added). A fix is offered only when the whole composition is
    written in one expression; through a named intermediate, or when the softmax/sigmoid is
    inside a callee (`torch.log(model(x))` with `forward` ending in a sigmoid: rewriting the
    call would drop the model), the finding carries no fix.

    ## Known problems
    `log(softmax(x) + eps)` is not flagged (the epsilon is deliberate, if worse), nor a sum
    without `dim` (logsumexp needs one).
    """

    CODE = "SC303"
    VALID = [
        Valid(
            """
import torch
import torch.nn.functional as F

def nll(logits, y):
    logp = F.log_softmax(logits, dim=-1)
    lse = torch.logsumexp(logits, dim=-1)
    ls = F.logsigmoid(logits)
    return F.nll_loss(logp, y), lse, ls
""",
            "the fused forms",
        ),
        Valid(
            """
import torch

def entropy(logits):
    p = torch.softmax(logits, dim=-1)
    return -(p * torch.log(p + 1e-9)).sum(-1)
""",
            "deliberate epsilon: not flagged",
        ),
        Valid(
            """
import torch

def total_log_mass(x):
    return torch.log(torch.exp(x).sum())   # no dim: logsumexp needs one
""",
            "sum without dim",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
import torch.nn.functional as F

def log_probs(logits):
    return torch.log(F.softmax(logits, dim=1))  # SC303
""",
            expected_fixed="""
import torch
import torch.nn.functional as F

def log_probs(logits):
    return F.log_softmax(logits, dim=1)
""",
        ),
        Invalid(
            """
import torch

def lse(x):
    a = torch.log(torch.sum(torch.exp(x), dim=1, keepdim=True))  # SC303
    b = x.exp().sum(-1).log()  # SC303
    return a, b
""",
            expected_fixed="""
import torch

def lse(x):
    a = torch.logsumexp(x, dim=1, keepdim=True)
    b = x.logsumexp(-1)
    return a, b
""",
        ),
        Invalid(
            """
import torch

def log_p(z):
    return torch.log(torch.sigmoid(z))  # SC303
""",
            expected_fixed="""
import torch

def log_p(z):
    return torch.nn.functional.logsigmoid(z)
""",
        ),
        Invalid(
            """
import torch
import torch.nn.functional as F

def loss(logits, y):
    probs = F.softmax(logits, 1)
    return F.nll_loss(torch.log(probs), y)  # SC303
"""
        ),
        Invalid(
            """
import torch.nn.functional as F

def log_p(z):
    return z.sigmoid().log()  # SC303
""",
            expected_fixed="""
import torch.nn.functional as F

def log_p(z):
    return F.logsigmoid(z)
""",
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            if func.attr.value != "log":
                return
        elif not isinstance(func, cst.Name):
            return
        flow = flow_of(self.ctx)
        if op_of(flow, node) != "log":
            return
        inner = op_input(flow, node)
        if inner is None:
            return
        if isinstance(inner, cst.Call):
            inner_op = op_of(flow, inner)
            if inner_op == "sum":
                self._sum_exp(flow, node, inner)
                return
            if inner_op in ("softmax", "sigmoid"):
                self._direct(flow, node, inner, inner_op, whole=op_at_call_site(flow, inner) == inner_op)
                return
        ops = value_ops(flow, inner, node)
        if ops in ({"softmax"}, {"sigmoid"}):
            (what,) = ops
            fused = "log_softmax" if what == "softmax" else "F.logsigmoid"
            self.report(
                node,
                f"log of a {what} output: use {fused}, which is stable",
                notes=[
                    f"`{_code(inner)}` holds a {what} output; its log underflows to -inf where the {what} "
                    f"rounds to 0. Compute {fused} from the logits instead.",
                ],
            )

    def _direct(self, flow: Flow, log: cst.Call, inner: cst.Call, what: str, *, whole: bool) -> None:
        """`whole`: the softmax/sigmoid is the inner call itself, not a callee's last op
        (`torch.log(model(x))` with `forward` ending in a sigmoid): only then is there a fix."""
        x = op_input(flow, inner) if whole else None
        fix: Fix | None = None
        if what == "softmax":
            replacement = self._log_softmax(inner) if whole else None
            if replacement is not None and one_line(replacement):
                fix = Fix.safe("Use log_softmax", NodeEdit(log, replacement))
            self.report(
                log,
                "log(softmax(x)) is unstable: use log_softmax(x)",
                notes=[
                    "softmax rounds small probabilities to 0 and log(0) = -inf; log_softmax computes "
                    "x - logsumexp(x) directly, finite for every input.",
                ],
                fix=fix,
            )
            return
        if x is not None and (inner.func.__class__ is not cst.Call):
            prefix = alias_for(self.ctx, "torch.nn.functional")
            if prefix is not None:
                bare = x.with_changes(lpar=[], rpar=[]) if getattr(x, "lpar", None) else x
                new = cst.Call(func=cst.parse_expression(f"{prefix}.logsigmoid"), args=[cst.Arg(bare)])
                fix = Fix.safe("Use logsigmoid", NodeEdit(log, new)) if one_line(new) else None
        self.report(
            log,
            "log(sigmoid(x)) is unstable: use F.logsigmoid(x)",
            notes=[
                "sigmoid(x) rounds to 0 for x below about -88 (float32) and log(0) = -inf; logsigmoid computes "
                "-softplus(-x), finite for every input.",
            ],
            fix=fix,
        )

    def _log_softmax(self, call: cst.Call) -> cst.Call | None:
        func = call.func
        q = self.ctx.qualify(func) or ""
        if isinstance(func, cst.Attribute) and func.attr.value == "softmax":
            return call.with_changes(func=func.with_changes(attr=cst.Name("log_softmax")))
        if q in ("torch.softmax", "torch.nn.functional.softmax", "torch.special.softmax") and isinstance(func, cst.Name):
            new = _renamed(self.ctx, func, "log_softmax", q.rpartition(".")[0])
            return call.with_changes(func=new) if new is not None else None
        return None

    def _sum_exp(self, flow: Flow, log: cst.Call, total: cst.Call) -> None:
        q_sum = self.ctx.qualify(total.func) or ""
        is_method_sum = isinstance(total.func, cst.Attribute) and not q_sum.startswith("torch.")
        summed = op_input(flow, total)
        if not isinstance(summed, cst.Call) or op_of(flow, summed) != "exp":
            return
        rest = list(total.args) if is_method_sum else list(total.args[1:])
        if not rest or any(a.star for a in rest):
            return  # no dim: logsumexp needs one
        if kwarg(total, "input") is not None and not is_method_sum:
            return
        x = op_input(flow, summed)
        if x is None:
            return
        fix: Fix | None = None
        if not any(a.keyword is not None and a.keyword.value == "dtype" for a in rest):
            rest[-1] = rest[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            log_is_method = method_name(log) == "log" and isinstance(log.func, cst.Attribute) and log.func.value is total
            exp_is_method = isinstance(summed.func, cst.Attribute) and summed.func.value is x
            if log_is_method and is_method_sum and exp_is_method:
                new: cst.BaseExpression = cst.Call(func=cst.Attribute(value=x, attr=cst.Name("logsumexp")), args=rest)
                fix = Fix.safe("Use logsumexp", NodeEdit(log, new)) if one_line(new) else None
            else:
                prefix = alias_for(self.ctx, "torch")
                if prefix is not None:
                    first = cst.Arg(value=x.with_changes(lpar=[], rpar=[]) if x.lpar else x)
                    new = cst.Call(func=cst.parse_expression(f"{prefix}.logsumexp"), args=[first, *rest])
                    fix = Fix.safe("Use logsumexp", NodeEdit(log, new)) if one_line(new) else None
        self.report(
            log,
            "log(sum(exp(x))) overflows: use logsumexp(x, dim)",
            notes=[
                "exp(x) is inf for x above ~88 (float32), so the log is inf; logsumexp subtracts the max first "
                "and gives the same value, finite.",
            ],
            fix=fix,
        )


# -- SC304 ------------------------------------------------------------------------------------
_CUT, _CONST, _LIVE = "cut", "const", "live"
_CUT_OPS = frozenset({"argmax", "argmin", "round", "floor", "ceil", "sign", "compare", "item", "detach", "numpy", "tolist"})
_CUT_BUILTINS = frozenset({"float", "int", "bool", "round", "len"})
_PASS_METHODS = frozenset(
    {
        "float", "double", "half", "mean", "sum", "view", "reshape", "squeeze", "unsqueeze", "flatten", "to",
        "cuda", "cpu", "abs", "neg", "pow", "sqrt", "exp", "log", "clamp", "clone", "contiguous", "mul", "div",
        "add", "sub", "prod", "max", "min", "norm", "square", "type_as", "long", "scale",
    }
)
_PASS_FUNCS = frozenset(
    {
        "torch.mean", "torch.sum", "torch.stack", "torch.cat", "torch.abs", "torch.exp", "torch.log",
        "torch.pow", "torch.sqrt", "torch.clamp", "torch.square", "torch.prod",
    }
)


def grad_status(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> tuple[str, cst.CSTNode | None]:
    """Whether a gradient can flow from `expr` back into anything: 'cut' (every path goes
    through argmax/round/comparison/.item()/.detach()/torch.tensor(...)), 'const' (a literal),
    or 'live' (a path may exist, or we do not know). Returns the culprit node for 'cut'."""
    if depth > 12:
        return _LIVE, None
    if isinstance(expr, (cst.Integer, cst.Float)):
        return _CONST, None
    if isinstance(expr, cst.Comparison):
        return _CUT, expr
    if isinstance(expr, cst.UnaryOperation):
        return grad_status(flow, expr.expression, at, depth + 1)
    if isinstance(expr, cst.BinaryOperation):
        return _combine([grad_status(flow, expr.left, at, depth + 1), grad_status(flow, expr.right, at, depth + 1)])
    if isinstance(expr, cst.Subscript):
        return grad_status(flow, expr.value, at, depth + 1)
    if isinstance(expr, (cst.List, cst.Tuple)):
        return _combine([grad_status(flow, e.value, at, depth + 1) for e in expr.elements])
    if isinstance(expr, (cst.Name, cst.Attribute)):
        binds = flow.bindings_of(expr, at)
        if not binds or any(b.value is None for b in binds):
            return _LIVE, None
        return _combine([grad_status(flow, b.value, b.value, depth + 1) for b in binds if b.value is not None])
    if not isinstance(expr, cst.Call):
        return _LIVE, None
    q = flow.ctx.qualify(expr.func) or ""
    if isinstance(expr.func, cst.Name) and expr.func.value in _CUT_BUILTINS and q == expr.func.value:
        return _CUT, expr
    op = op_of(flow, expr)
    if op == "tensor" or q in ("torch.tensor", "torch.as_tensor"):
        rg = kwarg(expr, "requires_grad")
        if rg is not None and not (isinstance(rg, cst.Name) and rg.value == "False"):
            data = kwarg(expr, "data", 0)
            status, culprit = grad_status(flow, data, at, depth + 1) if data is not None else (_LIVE, None)
            return (_CUT, expr) if status == _CUT else (_LIVE, None)
        return _CUT, expr
    if op in _CUT_OPS:
        return _CUT, expr
    if op in LOSS_OPS:
        args = [a.value for a in expr.args if not a.star and (a.keyword is None or a.keyword.value in ("input", "target"))]
        if op in LABEL_TARGET_LOSSES:
            args = args[:1]
        return _combine([grad_status(flow, a, at, depth + 1) for a in args]) if args else (_LIVE, None)
    if q in _PASS_FUNCS:
        args = [a.value for a in expr.args if a.keyword is None and not a.star]
        return _combine([grad_status(flow, a, at, depth + 1) for a in args]) if args else (_LIVE, None)
    if isinstance(expr.func, cst.Attribute) and not q.startswith("torch.") and expr.func.attr.value in _PASS_METHODS:
        parts = [grad_status(flow, expr.func.value, at, depth + 1)]
        parts += [grad_status(flow, a.value, at, depth + 1) for a in expr.args if a.keyword is None and not a.star]
        return _combine(parts)
    return _LIVE, None


def _combine(parts: list[tuple[str, cst.CSTNode | None]]) -> tuple[str, cst.CSTNode | None]:
    if not parts or any(s == _LIVE for s, _ in parts):
        return _LIVE, None
    for s, culprit in parts:
        if s == _CUT:
            return _CUT, culprit
    return _CONST, None


class LossNotDifferentiable(LintRule):
    """## What it does
    Flags `x.backward()` (and `torch.autograd.backward(x)`) when every path from `x` back to
    its inputs goes through an operation with no gradient: `argmax`/`argmin`, `round`/`floor`/
    `ceil`/`sign`, comparisons, `.item()`, `.detach()`, `.numpy()`/`.tolist()`, `float(...)`, or
    a tensor rebuilt from data (`torch.tensor(loss.item(), requires_grad=True)`). The value is
    followed through assignments; for classification losses only the input (not the label
    target) counts.

    ## Why is this bad?
    No gradient reaches the model's parameters: `backward()` either raises ("element 0 of
    tensors does not require grad") or, with a tensor rebuilt with `requires_grad=True`, runs
    and fills nothing, so the loss never moves. Accuracy-like quantities (argmax, comparisons)
    are metrics, not losses: optimise a differentiable surrogate such as cross-entropy.

    ## Known problems
    Any unknown producer (a call into another file, a function parameter) counts as
    differentiable, so only certain cuts are reported.
    """

    CODE = "SC304"
    VALID = [
        Valid(
            """
import torch.nn.functional as F

def step(model, opt, x, y):
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean()   # a metric, not backpropagated
    loss.backward()
    opt.step()
    return loss.item(), acc.item()
""",
            "metric computed beside the loss",
        ),
        Valid(
            """
import torch

x = torch.tensor([1.0, 2.0], requires_grad=True)
y = (x ** 2).sum()
y.backward()
""",
            "a leaf created with requires_grad=True gets its gradient",
        ),
        Valid(
            """
import torch
import torch.nn.functional as F

def step(model, x, y):
    total = torch.tensor(0.0)
    for head in model.heads:
        total = total + F.mse_loss(head(x), y)
    total.backward()
""",
            "an accumulator that starts as a constant tensor",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
import torch.nn.functional as F

def step(model, x, y):
    loss = F.cross_entropy(model(x), y)
    loss = torch.tensor(loss.item(), requires_grad=True)
    loss.backward()  # SC304
"""
        ),
        Invalid(
            """
def step(model, x, y):
    pred = model(x).argmax(dim=1)
    loss = 1.0 - (pred == y).float().mean()
    loss.backward()  # SC304
"""
        ),
        Invalid(
            """
import torch.nn as nn

criterion = nn.CrossEntropyLoss()

def step(model, opt, x, y):
    logits = model(x)
    loss = criterion(logits.detach(), y)
    loss.backward()  # SC304
    opt.step()
"""
        ),
        Invalid(
            """
def step(model, x):
    pred = model(x).round()
    loss = (pred - 3).abs().mean()
    loss.backward()  # SC304
"""
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        target: cst.BaseExpression | None = None
        if isinstance(func, cst.Attribute) and func.attr.value == "backward":
            q = self.ctx.qualify(func) or ""
            if q in ("torch.autograd.backward",):
                target = kwarg(node, "tensors", 0)
            elif not q.startswith("torch."):
                if positional(node):  # `accelerator.backward(loss)`, `engine.backward(loss)`
                    return
                target = func.value
        if target is None:
            return
        flow = flow_of(self.ctx)
        status, culprit = grad_status(flow, target, node)
        if status != _CUT:
            return
        text = _code(culprit) if culprit is not None else ""
        if len(text) > 60:
            text = text[:57] + "..."
        why = f"`{text}`" if text else "a non-differentiable op"
        self.report(
            node,
            "backward() on a value with no gradient path: it is built from " + why,
            notes=[
                "argmax, round, comparisons, .item(), .detach(), .numpy() and torch.tensor(...) of data cut the "
                "graph: no gradient reaches the model's parameters, so backward() raises or updates nothing.",
                "Backpropagate a differentiable loss (e.g. cross_entropy on the logits); keep accuracy as a metric.",
            ],
        )


__all__ = ["LossNotDifferentiable", "SigmoidBeforeBce", "SoftmaxBeforeCrossEntropy", "UnstableLog"]
