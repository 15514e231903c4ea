"""Device and data: tensors created off-device in forward, non_blocking without pinned memory,
known devices that meet in one op (SC501-SC503)."""

from __future__ import annotations

import re

import libcst as cst

from shapecheck.diagnostics import Fix, NodeEdit
from shapecheck.infer.devices import _compatible, _forward_device, _module_device, _param_module, device_of
from shapecheck.infer.flow import (
    LOSS_OPS,
    Flow,
    flow_of,
    has_star,
    kwarg,
    literal_number,
    literal_string,
    one_line,
    op_of,
    positional,
)
from shapecheck.infer.placement import meeting
from shapecheck.names import dotted
from shapecheck.rules.base import Invalid, LintRule, Valid
from shapecheck.tree import short_code


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


# Factories whose result lands on the default device unless `device=` says otherwise.
CREATION = frozenset(
    f"torch.{n}"
    for n in (
        "zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm", "arange", "linspace",
        "logspace", "eye", "tensor", "as_tensor", "tril_indices", "triu_indices",
    )
)
# Chained calls that move or match the result: `torch.zeros(n).to(x)`.
_MOVES = frozenset({"to", "cuda", "type_as", "new_tensor"})
# Attributes only tensors have (numpy arrays and PyG `Data` objects have `size`, `shape`,
# `reshape`, `view`, `sum`...): reading one proves `x.device` exists.
_TENSOR_HINTS = frozenset(
    {"device", "unsqueeze", "permute", "new_zeros", "new_ones", "new_empty", "new_full", "masked_fill",
     "masked_fill_", "contiguous", "type_as", "detach", "numel", "dim", "is_cuda", "softmax", "bmm", "mT"}
)


def _is_scalar_data(expr: cst.BaseExpression | None) -> bool:
    """`torch.tensor(2.0)`, `torch.tensor(-1)`, `torch.tensor(1.0 / 0.01)`: a 0-dim tensor, which
    PyTorch lets meet a CUDA tensor."""
    if isinstance(expr, cst.UnaryOperation):
        return _is_scalar_data(expr.expression)
    if isinstance(expr, cst.BinaryOperation):
        return _is_scalar_data(expr.left) and _is_scalar_data(expr.right)
    if isinstance(expr, (cst.Integer, cst.Float)):
        return True
    if (isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name)  # `2.0 / torch.pi`
            and expr.value.value in ("math", "torch", "np", "numpy") and expr.attr.value in ("pi", "e", "tau", "inf")):
        return True
    if (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and isinstance(expr.func.value, cst.Name)
            and expr.func.value.value == "math" and len(expr.args) == 1):  # `math.sqrt(2.0)`
        return _is_scalar_data(expr.args[0].value)
    return isinstance(expr, cst.Name) and expr.value in ("True", "False")


def _empty_placeholder(call: cst.Call) -> bool:
    """`torch.empty([0])`, `torch.zeros(0)`: an empty placeholder argument, never read."""
    args = positional(call)
    if len(args) != 1:
        return False
    size = args[0]
    if isinstance(size, (cst.List, cst.Tuple)) and len(size.elements) == 1:
        size = size.elements[0].value
    return literal_number(size) == 0


def _cpu_only_program(source: str, cls_name: str) -> bool:
    """The file instantiates the class (`seq = Sequence()`) and never mentions a device: a
    script that runs on the CPU, where the created tensor cannot meet a device tensor."""
    if not re.search(rf"(?<!class )\b{re.escape(cls_name)}\(", source):
        return False
    if "__main__" not in source and not re.search(rf"^\S.*(?<!class )\b{re.escape(cls_name)}\(", source, re.M):
        return False  # built only inside functions (a library's factory): not a script
    return not any(word in source for word in ("cuda", "device", ".to(", "mps", "xpu", "accelerator", "Trainer", "Fabric"))


_STATE_HELPERS = frozenset({"init_hidden", "init_hidden_state", "initHidden", "init_state", "begin_state", "reset_hidden", "zero_state", "initial_state"})
_WEIGHTED_LOSSES = frozenset(
    "torch.nn." + n for n in ("CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss")
)


class TensorWithoutDevice(LintRule):
    """## What it does
    Flags `torch.zeros/ones/empty/full/rand/randn/randint/arange/linspace/eye/tensor(...)`
    without `device=` where the new tensor can meet a tensor on the model's device without a
    move in between:

    - inside the `forward` of an `nn.Module`: the value is followed (through names, arithmetic,
      `torch.*` functions and tensor methods) until it meets an input of `forward`, a parameter
      or buffer, or a module's output, or goes into a layer with parameters
      (`self.lstm(x, (h, c))`). The message names the meeting point;
    - in a training/evaluation loop, when it meets a batch the loop moved with `.to(device)` /
      `.cuda()`, or a value computed from one (`output = model(x)`): in an arithmetic operator,
      or in a loss (`label = torch.ones(b)` then `criterion(output, label)`, GAN labels);
    - returned as created by an `init_hidden()`-style helper of an `nn.Module` (the recurrent
      state meets the input on the model's device);
    - as the `weight=`/`pos_weight=` of a loss module (`nn.CrossEntropyLoss(weight=...)`) in a
      function that moves its data to a device, when the criterion itself is never moved.

    Silent in a script that builds the model and never mentions a device (it runs on the CPU),
    and when the tensor is moved first (`.to(x.device)`, `.to(x)`, `.cuda()`, `.type_as(x)`; not
    `.to(torch.float32)`), when it is only used as an index (a CPU index into a CUDA tensor is
    allowed), returned, or passed to something we cannot follow (the caller or callee decides),
    and on 0-dim `torch.tensor(2.0)` scalars, `*_like` factories, `x.new_zeros(...)` and buffers.

    ## Why is this bad?
    The tensor is created on the CPU (the default device) while the inputs are on the GPU once
    the model is moved: "RuntimeError: Expected all tensors to be on the same device". The bug
    hides on CPU-only test machines.

    ## Fix safety
    In a loop the fix adds `device=x.device` with `x` the moved batch: safe. In `forward` it
    adds `device=x.device`, with `x` the first parameter of `forward` after `self`, only when
    that parameter is known to be a tensor: annotated as one, or used as one in `forward`
    (combined with a tensor in arithmetic, passed to a layer, `x.device`, `x.unsqueeze(...)`).
    Otherwise there is no fix: `x` may be a dict, a NumPy array or a PyG `Data` object, and
    `x.device` would not exist.
    """

    CODE = "SC501"
    VALID = [
        Valid(
            """
import torch
import torch.nn as nn

class Positional(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.register_buffer("scale", torch.ones(d))

    def forward(self, x):
        pos = torch.arange(x.size(1), device=x.device)
        mask = torch.zeros(x.shape[:2], dtype=torch.bool).to(x.device)
        noise = torch.randn_like(x)
        return (x + pos[None, :, None]) * self.scale + noise * mask[..., None]
""",
            "device=x.device, moved right away, *_like, a buffer",
        ),
        Valid(
            """
import torch
import torch.nn as nn

class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)
        self.eps = torch.tensor(1e-6)

    def forward(self, x):
        h = x.new_zeros(x.size(0), 8)
        return self.fc(x + h) * torch.tensor(0.5)
""",
            "__init__, new_zeros and a 0-dim scalar",
        ),
        Valid(
            """
import torch

def make_batch(n):
    return torch.zeros(n, 3)     # not in a forward
""",
            "outside forward",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
import torch.nn as nn

class Masked(nn.Module):
    def forward(self, x):
        mask = torch.zeros(x.size(0), x.size(1))  # SC501
        return x * mask
""",
            expected_fixed="""
import torch
import torch.nn as nn

class Masked(nn.Module):
    def forward(self, x):
        mask = torch.zeros(x.size(0), x.size(1), device=x.device)
        return x * mask
""",
        ),
        Invalid(
            """
import torch
import torch.nn as nn

class Decoder(nn.Module):
    def forward(self, tokens: torch.Tensor, scores: torch.Tensor):
        T = tokens.shape[1]
        causal = torch.triu(torch.ones(T, T), diagonal=1).bool()  # SC501
        pos = torch.arange(T)  # SC501
        return scores.masked_fill(causal, float("-inf")), tokens + pos
""",
            expected_fixed="""
import torch
import torch.nn as nn

class Decoder(nn.Module):
    def forward(self, tokens: torch.Tensor, scores: torch.Tensor):
        T = tokens.shape[1]
        causal = torch.triu(torch.ones(T, T, device=tokens.device), diagonal=1).bool()
        pos = torch.arange(T, device=tokens.device)
        return scores.masked_fill(causal, float("-inf")), tokens + pos
""",
        ),
        Invalid(
            """
import torch
import torch.nn as nn

class Noisy(nn.Module):
    def forward(self, h):
        return h + torch.randn(4, 16) * 0.1  # SC501
""",
            expected_fixed="""
import torch
import torch.nn as nn

class Noisy(nn.Module):
    def forward(self, h):
        return h + torch.randn(4, 16, device=h.device) * 0.1
""",
        ),
        Invalid(
            """
import torch

def train(model, loader, device):
    for x, y in loader:
        x = x.to(device)
        noise = torch.randn(x.shape)  # SC501
        model(x + 0.1 * noise)
""",
            expected_fixed="""
import torch

def train(model, loader, device):
    for x, y in loader:
        x = x.to(device)
        noise = torch.randn(x.shape, device=x.device)
        model(x + 0.1 * noise)
""",
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        q = self.ctx.qualify(node.func)
        if q not in CREATION or has_star(node):
            return
        if kwarg(node, "device") is not None:
            return
        if q in ("torch.tensor", "torch.as_tensor") and _is_scalar_data(kwarg(node, "data", 0)):
            return
        if _empty_placeholder(node):
            return
        flow = flow_of(self.ctx)
        fn = flow.function_of(node)
        if fn is not None and fn.name.value in _STATE_HELPERS and flow.class_of(fn) is not None:
            self._state_helper(flow, node, fn)
            return
        if self._loss_weight(flow, node):
            return
        if fn is None or fn.name.value != "forward" or flow.class_of(fn) is None:
            self._in_device_loop(flow, node)
            return
        cls = flow.class_of(fn)
        assert cls is not None
        if flow.is_module_subclass(cls) is False:
            return
        if _cpu_only_program(self.ctx.source, cls.name.value):
            return  # the script builds this model and never uses a device: nothing to meet
        meets = meeting(
            flow, node, lambda e, at: _forward_device(flow, e, at, fn), within=fn,
            param_module=lambda f, at: _param_module(flow, f, at),
        )
        if meets is None:
            return  # moved first, returned, or passed where we cannot follow: silence
        fix = self._fix(flow, node, fn)
        self.report(
            node,
            f"`{_code(node.func)}(...)` in forward without device=: the tensor is created on the CPU and meets "
            f"the inputs in `{short_code(meets)}`",
            notes=[
                "Once the model and its inputs are on the GPU this fails with \"Expected all tensors to be on "
                "the same device\" (and it hides on CPU-only machines).",
                "Pass `device=x.device` (and dtype=x.dtype if it matters), or use x.new_zeros(...) / torch.zeros_like(x).",
            ],
            fix=fix,
        )

    def _in_device_loop(self, flow: Flow, node: cst.Call) -> None:
        """In a loop over batches moved to a device (`x = x.to(device)`), a tensor created without
        device= that meets such a batch in an arithmetic operator, directly or through the name
        it is bound to. Anything less direct stays silent (CPU-side metrics are common)."""
        loops = flow.loops_around(node)
        if not loops:
            return
        loop = loops[0]
        parent = flow.parents.get(node)
        partners: list[cst.BaseExpression] = []
        if isinstance(parent, cst.BinaryOperation):
            partners.extend(self._arith_partners(flow, node))
        elif isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name):
            name = parent.targets[0].target.value
            for use in flow.name_uses.get(name, []):
                if isinstance(flow.parents.get(use), cst.BinaryOperation) and flow.is_ancestor(loop, use):
                    partners.extend(self._arith_partners(flow, use))
        if not partners:
            # `label = torch.ones(b)` ... `criterion(output, label)` with `output = model(x)` of a
            # moved batch: the same walk as in forward, with the loop's moved batches as roots
            meets = meeting(
                flow, node, lambda e, at: self._loop_device(flow, e, at, loop) is not None, within=loop,
                param_module=lambda f, at: self._loss_call(flow, at),
            )
            if meets is not None:
                moved = self._meeting_partner(flow, meets, loop)
                if moved is not None:
                    partners = [cst.Name(moved)]
        for partner in partners:
            moved = self._moved_batch(flow, partner, loop) if isinstance(partner, cst.Name) and partner in flow.parents else partner.value if isinstance(partner, cst.Name) else None
            if moved is None:
                continue
            device = cst.Arg(value=cst.Attribute(value=cst.Name(moved), attr=cst.Name("device")), keyword=cst.Name("device"),
                             equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                   whitespace_after=cst.SimpleWhitespace("")))
            fix = None
            if "\n" not in _code(node):
                args = list(node.args)
                if args and isinstance(args[-1].comma, cst.Comma):
                    args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                fix = Fix.safe(f"Add `device={moved}.device`", NodeEdit(node, node.with_changes(args=[*args, device])))
            self.report(
                node,
                f"`{_code(node.func)}(...)` without device= meets `{moved}`, which this loop moved to a device",
                notes=[
                    f"`{moved}` was moved with .to()/.cuda(); the new tensor is on the CPU, so on a GPU this fails "
                    "with \"Expected all tensors to be on the same device\".",
                    f"Pass `device={moved}.device`.",
                ],
                fix=fix,
            )
            return

    def _loss_call(self, flow: Flow, call: cst.CSTNode) -> bool:
        """A CPU tensor passed to a loss together with a device tensor: `criterion(out, label)`.
        (The device argument is checked by the caller of this predicate through `on_device`.)"""
        if not isinstance(call, cst.Call):
            return False
        if op_of(flow, call) not in LOSS_OPS:
            return False
        return any(self._loop_device(flow, a.value, call, None) is not None for a in call.args)

    def _loop_device(self, flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode, loop: cst.CSTNode | None,
                     depth: int = 0) -> str | None:
        """The moved batch `expr` is, or is computed from (`model(x)`, `x * 2`, `out.view(-1)`)."""
        if depth > 6:
            return None
        if isinstance(expr, cst.Name):
            if loop is None:
                loops = flow.loops_around(at)
                loop = loops[0] if loops else None
            if loop is None:
                return None
            moved = self._moved_batch(flow, expr, loop)
            if moved is not None:
                return moved
            binds = flow.reaching(expr.value, at)
            if not binds or len(binds) != 1 or binds[0].value is None or not flow.is_ancestor(loop, binds[0].stmt):
                return None
            return self._loop_device(flow, binds[0].value, binds[0].value, loop, depth + 1)
        if isinstance(expr, cst.Call):
            q = flow.ctx.qualify(expr.func) or ""
            if isinstance(expr.func, cst.Attribute) and not q.startswith("torch."):
                if expr.func.attr.value in ("cpu", "numpy", "item", "tolist"):
                    return None
                inner = self._loop_device(flow, expr.func.value, at, loop, depth + 1)
                if inner is not None:
                    return inner
            for a in expr.args:  # `model(x)`: a module fed a moved batch runs on its device
                inner = self._loop_device(flow, a.value, at, loop, depth + 1)
                if inner is not None:
                    return inner
            return None
        if isinstance(expr, cst.BinaryOperation):
            return self._loop_device(flow, expr.left, at, loop, depth + 1) or self._loop_device(flow, expr.right, at, loop, depth + 1)
        if isinstance(expr, cst.Subscript):
            return self._loop_device(flow, expr.value, at, loop, depth + 1)
        return None

    def _meeting_partner(self, flow: Flow, meets: cst.CSTNode, loop: cst.CSTNode) -> str | None:
        parts: list[cst.BaseExpression] = []
        if isinstance(meets, cst.Call):
            parts = [a.value for a in meets.args]
            if isinstance(meets.func, cst.Attribute):
                parts.append(meets.func.value)
        elif isinstance(meets, cst.BinaryOperation):
            parts = [meets.left, meets.right]
        for part in parts:
            moved = self._loop_device(flow, part, meets, loop)
            if moved is not None:
                return moved
        return None

    def _state_helper(self, flow: Flow, node: cst.Call, fn: cst.FunctionDef) -> None:
        """`def init_hidden(self, bsz): return torch.zeros(n, bsz, h)` in an nn.Module: the
        state is made for the model's input, which lives on the model's device."""
        cls = flow.class_of(fn)
        if cls is None or flow.is_module_subclass(cls) is not True:
            return
        cur: cst.CSTNode = node
        parent = flow.parents.get(cur)
        while isinstance(parent, (cst.Element, cst.Tuple, cst.List)):
            cur, parent = parent, flow.parents.get(parent)
        if not isinstance(parent, cst.Return):
            return  # only a state returned as created (a moved or combined one is fine)
        self.report(
            node,
            f"`{_code(node.func)}(...)` in `{fn.name.value}()` without device=: the state is created on the CPU",
            notes=[
                f"The model and its inputs go to the GPU, the state from `{fn.name.value}()` stays on the CPU: the "
                "first forward fails with \"Expected all tensors to be on the same device\" (input and hidden).",
                "Create it where the parameters are: `weight = next(self.parameters())` then "
                "`weight.new_zeros(...)`, or pass `device=weight.device`.",
            ],
        )

    def _loss_weight(self, flow: Flow, node: cst.Call) -> bool:
        """`nn.CrossEntropyLoss(weight=torch.tensor([...]))` in a file that moves its batches to
        a device, with a criterion that is never moved: the class weights stay on the CPU."""
        parent = flow.parents.get(node)
        holder: cst.CSTNode | None = None
        if isinstance(parent, cst.Arg) and parent.keyword is not None and parent.keyword.value in ("weight", "pos_weight"):
            holder = flow.parents.get(parent)
        elif isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name):
            name = parent.targets[0].target.value
            for use in flow.name_uses.get(name, []):
                arg = flow.parents.get(use)
                if isinstance(arg, cst.Arg) and arg.keyword is not None and arg.keyword.value in ("weight", "pos_weight"):
                    if any(flow.receiver_name(c) == name for m in ("to", "cuda") for c in flow.method_calls(m)):
                        return False
                    holder = flow.parents.get(arg)
                    break
        if not isinstance(holder, cst.Call):
            return False
        q = flow.ctx.qualify(holder.func) or ""
        if q not in _WEIGHTED_LOSSES:
            return False
        if not self._moves_to_device(flow, flow.function_of(holder)):
            return True  # a CPU-only function: the weight is where the logits are
        # `criterion = nn.CrossEntropyLoss(weight=w).to(device)` or `criterion.to(device)` later
        above = flow.parents.get(holder)
        if isinstance(above, cst.Attribute) and above.attr.value in ("to", "cuda"):
            return True
        stmt = flow.statement_of(holder)
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            crit = dotted(stmt.targets[0].target)
            if crit is not None and any(flow.receiver_name(c) == crit for m in ("to", "cuda") for c in flow.method_calls(m)):
                return True
        self.report(
            node,
            f"`{_code(node.func)}(...)` without device= is the `weight` of {q.rsplit('.', 1)[-1]}, "
            "which this file feeds device tensors: the weight stays on the CPU",
            notes=[
                "Loss modules keep `weight` as a buffer: it moves only with `criterion.to(device)`. With the logits on "
                "cuda this fails with \"Expected all tensors to be on the same device\".",
                "Create the weight with `device=device`, or move the criterion: `criterion = nn.CrossEntropyLoss(weight=w).to(device)`.",
            ],
        )
        return True

    @staticmethod
    def _moves_to_device(flow: Flow, fn: cst.FunctionDef | None) -> bool:
        """Whether `fn` (the module when None) moves something to a device."""
        if any(flow.function_of(c) is fn for c in flow.method_calls("cuda")):
            return True
        for call in flow.method_calls("to"):
            if flow.function_of(call) is not fn:
                continue
            args = positional(call)
            dev = kwarg(call, "device") or (args[0] if args else None)
            if dev is None:
                continue
            text = _code(dev)
            if "device" in text or "cuda" in text:
                return True
        return False

    @staticmethod
    def _arith_partners(flow: Flow, node: cst.CSTNode) -> list[cst.BaseExpression]:
        """The names combined with `node` in the arithmetic expression around it
        (`x + 0.1 * noise` -> [x]); none across shifts (not tensor arithmetic here)."""
        top: cst.CSTNode = node
        while isinstance(flow.parents.get(top), cst.BinaryOperation):
            top = flow.parents[top]
            if isinstance(top, cst.BinaryOperation) and isinstance(top.operator, (cst.LeftShift, cst.RightShift)):
                return []
        out: list[cst.BaseExpression] = []
        stack: list[cst.CSTNode] = [top]
        while stack:
            cur = stack.pop()
            if isinstance(cur, cst.BinaryOperation):
                stack.extend([cur.left, cur.right])
            elif isinstance(cur, cst.Name) and cur is not node:
                out.append(cur)
        return out

    @staticmethod
    def _moved_batch(flow: Flow, expr: cst.BaseExpression, loop: cst.CSTNode) -> str | None:
        """`x` when `x` is bound, inside `loop`, to `<...>.to(...)` or `<...>.cuda()`."""
        if not isinstance(expr, cst.Name):
            return None
        binds = flow.reaching(expr.value, expr)
        if not binds or len(binds) != 1 or binds[0].value is None or not flow.is_ancestor(loop, binds[0].stmt):
            return None
        value = binds[0].value
        if (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Attribute)
            and value.func.attr.value in ("to", "cuda")
            and (value.func.attr.value == "cuda" or value.args)
            and not (flow.ctx.qualify(value.func) or "").startswith("torch.")
        ):
            return expr.value
        return None

    def _moved(self, flow: Flow, node: cst.Call, fn: cst.FunctionDef) -> bool:
        cur: cst.CSTNode = node
        # `torch.zeros(n).bool().to(x.device)`: follow the method chain upward
        while True:
            parent = flow.parents.get(cur)
            if isinstance(parent, cst.Attribute) and parent.value is cur:
                call = flow.parents.get(parent)
                if not isinstance(call, cst.Call):
                    return False
                if parent.attr.value in _MOVES:
                    return True
                cur = call
                continue
            break
        # `mask = torch.zeros(n)` ... `mask = mask.to(x.device)` / `mask.cuda()`
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name):
            name = parent.targets[0].target.value
            for method in _MOVES:
                for call in flow.method_calls(method):
                    if flow.receiver_name(call) == name and flow.function_of(call) is fn:
                        return True
            # `r = torch.randperm(n)` used only as an index (`x[:, r]`): CPU indices are fine
            uses = [u for u in flow.name_uses.get(name, []) if flow.function_of(u) is fn and u is not parent.targets[0].target]
            if uses and all(self._index_use(flow, u) for u in uses):
                return True
        # `self.register_buffer("m", torch.zeros(n))` moves with the module; an index tensor
        # used right in a subscript (`x[torch.arange(n), y]`) may live on the CPU
        for anc in flow.ancestors(node):
            if isinstance(anc, cst.SubscriptElement):
                return True
            if isinstance(anc, cst.Call) and isinstance(anc.func, cst.Attribute) and anc.func.attr.value == "register_buffer":
                return True
            if isinstance(anc, cst.BaseSmallStatement):
                break
        return False

    @staticmethod
    def _index_use(flow: Flow, use: cst.Name) -> bool:
        parent = flow.parents.get(use)
        if isinstance(parent, cst.Index):
            return isinstance(flow.parents.get(parent), cst.SubscriptElement)
        return False

    def _fix(self, flow: Flow, node: cst.Call, fn: cst.FunctionDef) -> Fix | None:
        params = list(fn.params.params)
        if len(params) < 2 or params[1].star:
            return None
        param = params[1]
        pname = param.name.value
        device = cst.parse_expression(f"{pname}.device")
        arg = cst.Arg(value=device, keyword=cst.Name("device"), equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))
        args = list(node.args)
        base = node
        if "\n" in _code(node):
            # a call written over several lines is re-laid on one line (its arguments kept),
            # since a multi-line replacement would lose its indentation
            if not one_line(*(a.value for a in args)):
                return None
            args = [
                cst.Arg(value=a.value, keyword=a.keyword, star=a.star,
                        equal=a.equal if a.keyword is not None else cst.MaybeSentinel.DEFAULT)
                for a in args
            ]
            base = node.with_changes(
                whitespace_before_args=cst.SimpleWhitespace(""), whitespace_after_func=cst.SimpleWhitespace("")
            )
        elif args:
            last = args[-1]
            if isinstance(last.comma, cst.Comma):
                args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        new = base.with_changes(args=[*args, arg])
        message = f"Add `device={pname}.device`"
        if self._is_tensor_param(flow, param, fn):
            return Fix.safe(message, NodeEdit(node, new))
        return None  # `x.device` on something that may not be a tensor: no fix at all

    def _is_tensor_param(self, flow: Flow, param: cst.Param, fn: cst.FunctionDef) -> bool | None:
        """True: annotated or used as a tensor; False: unknown; None: used as a mapping."""
        if param.annotation is not None:
            ann = _code(param.annotation.annotation)
            return "Tensor" in ann and "[" not in ann.split("Tensor")[0].split(".")[-1] or ann.startswith(("Float[", "Int[", "Bool[", "Shaped[", "Num[", "Real["))
        name = param.name.value
        tensor = False
        for use in flow.name_uses.get(name, []):
            if flow.function_of(use) is not fn:
                continue
            parent = flow.parents.get(use)
            if isinstance(parent, cst.Subscript) and parent.value is use and any(
                isinstance(el.slice, cst.Index) and literal_string(el.slice.value) is not None for el in parent.slice
            ):
                return None  # `batch["x"]`: a mapping, not a tensor
            if isinstance(parent, cst.Attribute) and parent.value is use and parent.attr.value in _TENSOR_HINTS:
                tensor = True
            elif isinstance(parent, cst.BinaryOperation) and not isinstance(parent.operator, (cst.Modulo, cst.LeftShift, cst.RightShift)):
                other = parent.right if parent.left is use else parent.left
                tensor = tensor or _torch_valued(flow, other, fn)
            elif isinstance(parent, cst.Arg):
                call = flow.parents.get(parent)
                if isinstance(call, cst.Call) and (
                    _param_module(flow, call.func, call)
                    or (flow.ctx.qualify(call.func) or "").startswith(("torch.nn.functional.", "torch.matmul", "torch.cat", "torch.stack"))
                ):
                    tensor = True
        return tensor


def _torch_valued(flow: Flow, expr: cst.BaseExpression, fn: cst.FunctionDef) -> bool:
    """`torch.ones(...)`, `self.fc(h)`, or a name bound to one: combining a parameter with such a
    value in arithmetic means the parameter is a tensor (a PyG `Data` or a dict would raise)."""
    if isinstance(expr, cst.Name):
        binds = flow.reaching(expr.value, expr)
        return bool(binds) and all(b.value is not None and _torch_valued(flow, b.value, fn) for b in binds or [])
    if isinstance(expr, cst.BinaryOperation):
        return _torch_valued(flow, expr.left, fn) or _torch_valued(flow, expr.right, fn)
    if isinstance(expr, cst.Call):
        q = flow.ctx.qualify(expr.func) or ""
        if q in CREATION or _param_module(flow, expr.func, expr):
            return True
        if isinstance(expr.func, cst.Attribute) and not q.startswith("torch."):
            return _torch_valued(flow, expr.func.value, fn)
    return False


_LOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
_WRAPPERS = frozenset({"enumerate", "tqdm", "tqdm.tqdm", "tqdm.auto.tqdm", "iter"})


class NonblockingWithoutPinned(LintRule):
    """## What it does
    Flags `.to(device, non_blocking=True)` / `.cuda(non_blocking=True)` on

    - a batch that comes from iterating a `DataLoader` built without `pin_memory=True` (the
      loader is followed through assignments, `enumerate(...)`/`tqdm(...)`, `self.x`, helpers
      that return it and the parameters of the function that holds the loop; a batch passed to
      a helper that moves it counts when every same-file caller passes such a batch);
    - a tensor visibly built in pageable host memory and not pinned since: `torch.stack`/
      `torch.cat` of such tensors, `torch.from_numpy(...)`, `torch.tensor(...)` and factories
      (`torch.zeros`, `torch.randint`, ...) without `device=` or `pin_memory=True`, copied to a
      device that may be an accelerator.

    ## Why is this bad?
    An asynchronous host-to-device copy needs page-locked (pinned) host memory; from ordinary
    pageable memory the copy is staged and mostly synchronous, so `non_blocking=True` buys
    little. `DataLoader(..., pin_memory=True)` gives pinned batches, and `x.pin_memory()` pins
    a tensor you build yourself (nanoGPT's `get_batch` does
    `x.pin_memory().to(device, non_blocking=True)`); then the copy overlaps with compute.

    ## Known problems
    A `pin_memory` passed as a variable is unknown and stays silent, and so is any tensor we
    cannot follow to where it was built (it may be pinned), or a file that sets a default
    device. See also SC703, the other half of "the DataLoader starves the GPU": no worker
    processes.
    """

    CODE = "SC502"
    VALID = [
        Valid(
            """
from torch.utils.data import DataLoader

def train(ds, model, device):
    loader = DataLoader(ds, batch_size=64, pin_memory=True, num_workers=4)
    for x, y in loader:
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        model(x)
""",
            "pinned loader",
        ),
        Valid(
            """
from torch.utils.data import DataLoader

def train(ds, model, device):
    loader = DataLoader(ds, batch_size=64)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        model(x)
""",
            "blocking copies",
        ),
        Valid(
            """
from torch.utils.data import DataLoader

def train(ds, model, device, pin):
    loader = DataLoader(ds, batch_size=64, pin_memory=pin)
    for x, y in loader:
        model(x.to(device, non_blocking=True))
""",
            "pin_memory unknown",
        ),
    ]
    INVALID = [
        Invalid(
            """
from torch.utils.data import DataLoader

def train(ds, model, device):
    loader = DataLoader(ds, batch_size=64, shuffle=True)
    for x, y in loader:
        x = x.to(device, non_blocking=True)  # SC502
        model(x)
"""
        ),
        Invalid(
            """
import torch
from tqdm import tqdm

train_loader = torch.utils.data.DataLoader(range(10), batch_size=2, pin_memory=False)
for step, (inputs, labels) in enumerate(tqdm(train_loader)):
    inputs = inputs.cuda(non_blocking=True)  # SC502
"""
        ),
        Invalid(
            """
from torch.utils.data import DataLoader

class Trainer:
    def __init__(self, ds):
        self.loader = DataLoader(ds, batch_size=8)

    def run(self, model):
        for batch in self.loader:
            model(batch.to("cuda", non_blocking=True))  # SC502
"""
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("to", "cuda"):
            return
        nb = kwarg(node, "non_blocking")
        if not (isinstance(nb, cst.Name) and nb.value == "True"):
            return
        base = func.value
        while isinstance(base, cst.Subscript):
            base = base.value
        if not isinstance(base, cst.Name):
            return
        flow = flow_of(self.ctx)
        if self._to_host(node):
            return  # `.to("cpu", non_blocking=True)`: no host-to-device copy
        loaders = self._batch_loaders(flow, base.value, node)
        if loaders is not None:
            if any(self._pinned(loader) for loader in loaders):
                return
            loader = loaders[0]
            self.report(
                node,
                "non_blocking=True on a batch from a DataLoader without pin_memory=True",
                notes=[
                    f"`{_code(loader.func)}(...)` yields pageable memory: the copy cannot overlap with compute.",
                    "Build the DataLoader with pin_memory=True (or drop non_blocking=True).",
                ],
            )
            return
        made = self._pageable(flow, base, node)
        if made is None or not self._to_accelerator(node):
            return
        self.report(
            node,
            f"non_blocking=True on `{base.value}`, a tensor in pageable memory",
            notes=[
                f"`{base.value}` is built by `{short_code(made)}`, in ordinary (pageable) host memory: the copy is "
                "staged through a pinned buffer and does not overlap with compute.",
                f"Pin it first (`{base.value}.pin_memory().to(device, non_blocking=True)`, as nanoGPT's get_batch "
                "does), or drop non_blocking=True.",
            ],
        )

    def _pinned(self, loader: cst.Call) -> bool:
        """`pin_memory=` anything but a literal False (a variable: unknown, counted as pinned)."""
        pin = kwarg(loader, "pin_memory", 7)
        return pin is not None and not (isinstance(pin, cst.Name) and pin.value == "False")

    def _copy_device(self, node: cst.Call) -> cst.BaseExpression | None:
        if node.func.attr.value == "cuda":  # type: ignore[attr-defined]
            return None
        dev = kwarg(node, "device")
        if dev is None:
            pos = positional(node)
            dev = pos[0] if pos else None
        return dev

    def _to_host(self, node: cst.Call) -> bool:
        dev = self._copy_device(node)
        text = literal_string(dev) if dev is not None else None
        return text is not None and text.lower().startswith("cpu")

    def _to_accelerator(self, node: cst.Call) -> bool:
        """`.cuda(...)`, or `.to(d)` with a device that may be an accelerator."""
        if node.func.attr.value == "cuda":  # type: ignore[attr-defined]
            return True
        dev = self._copy_device(node)
        if dev is None:
            return False
        from shapecheck.infer.accelerator import pipeline_facts

        pipeline = pipeline_facts(self.ctx)
        if pipeline.flow is None:  # no training code: the pipeline facts are not built; read names
            return self._literal_accelerator(flow_of(self.ctx), dev, node)
        return pipeline.device_target(dev, node) == "accel"

    def _literal_accelerator(self, flow: Flow, dev: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> bool:
        """`"cuda"`, `"cuda" if c else "cpu"`, `torch.device("cuda:0")`, or a name bound to one."""
        if depth > 6:
            return False
        text = literal_string(dev)
        if text is not None:
            return text.lower().startswith(("cuda", "mps", "xpu"))
        if isinstance(dev, cst.IfExp):
            return any(self._literal_accelerator(flow, arm, at, depth + 1) for arm in (dev.body, dev.orelse))
        if isinstance(dev, cst.Call) and (self.ctx.qualify(dev.func) or "") == "torch.device" and dev.args:
            return self._literal_accelerator(flow, dev.args[0].value, at, depth + 1)
        if isinstance(dev, cst.Name):
            origins = flow.origins(dev, at, peel=False)
            return bool(origins) and any(self._literal_accelerator(flow, o, o, depth + 1) for o in origins)  # type: ignore[union-attr]
        return False

    def _device_context(self, flow: Flow, node: cst.CSTNode) -> bool:
        for anc in flow.ancestors(node):
            if isinstance(anc, cst.With) and any(
                isinstance(item.item, cst.Call) and (self.ctx.qualify(item.item.func) or "") == "torch.device"
                for item in anc.items
            ):
                return True
        return False

    def _batch_loaders(self, flow: Flow, name: str, at: cst.CSTNode, depth: int = 0) -> list[cst.Call] | None:
        """The DataLoaders whose batches `name` holds at `at`: bound by a `for` over a loader
        (followed through names, wrappers, helpers and the parameters of the function), or a
        parameter of a helper whose every same-file caller passes such a batch
        (`def to_device(batch, device)`). None: not (visibly) a batch."""
        loop = self._loop_binding(flow, name, at)
        if loop is not None:
            old = self._loader(flow, loop.iter, loop)
            if old is not None:
                return [old]
            from shapecheck.infer.distributed import data_facts

            found = data_facts(self.ctx)._loader_calls(loop.iter, loop)
            if not found or any(has_star(c) for c in found):
                return None  # `DataLoader(ds, **cfg)`: pin_memory may be in there
            return found
        if depth > 0:
            return None
        binds = flow.reaching(name, at)
        if not binds or len(binds) != 1 or not (binds[0].always and isinstance(binds[0].stmt, cst.FunctionDef)):
            return None
        from shapecheck.infer.distributed import data_facts

        facts = data_facts(self.ctx)
        fn = binds[0].stmt
        callers = facts.bindings.callers(fn)
        args = list(facts._caller_args(fn, name))
        if not callers or len(args) != len(callers):
            return None
        out: list[cst.Call] = []
        for call, arg in args:
            while isinstance(arg, cst.Subscript):
                arg = arg.value
            if not isinstance(arg, cst.Name):
                return None
            sub = self._batch_loaders(flow, arg.value, call, depth + 1)
            if sub is None:
                return None
            out.extend(sub)
        return out or None

    # Functions whose result is a new tensor in pageable host memory (no `device=`/`pin_memory=True`).
    _FACTORIES = frozenset(f"torch.{n}" for n in (
        "tensor", "from_numpy", "zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm", "arange",
        "linspace", "eye",
    ))
    _JOINS = frozenset({"torch.stack", "torch.cat", "torch.concat", "torch.vstack", "torch.hstack"})
    _CONVERSIONS = frozenset({"long", "float", "int", "half", "double", "bfloat16", "bool", "byte", "contiguous",
                              "view", "reshape", "unsqueeze", "squeeze", "flatten", "permute", "transpose", "t"})

    def _pageable(self, flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> cst.Call | None:
        """The call that visibly built `expr` in pageable host memory, when every value it may
        hold was (`torch.stack([torch.from_numpy(a) ...])`, a factory without `device=` or
        `pin_memory=True`); None when any is unknown or pinned (`.pin_memory()`)."""
        if depth > 6 or "set_default_device" in self.ctx.source or "set_default_tensor_type" in self.ctx.source:
            return None  # factories may land on the accelerator
        if isinstance(expr, cst.Name):
            binds = flow.reaching(expr.value, at)
            if not binds or any(b.value is None for b in binds):
                return None
            made = None
            for b in binds:
                sub = self._pageable(flow, b.value, b.value, depth + 1)  # type: ignore[arg-type]
                if sub is None:
                    return None
                made = made or sub
            return made
        if not isinstance(expr, cst.Call):
            return None
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in self._CONVERSIONS and not self.ctx.qualify(func):
            if func.attr.value in ("float", "long", "int", "half", "double", "bfloat16", "bool", "byte") and expr.args:
                return None
            return self._pageable(flow, func.value, at, depth + 1)
        q = self.ctx.qualify(func) or ""
        if q in self._FACTORIES:
            if has_star(expr) or kwarg(expr, "device") is not None or kwarg(expr, "pin_memory") is not None:
                return None
            if self._device_context(flow, expr):
                return None  # `with torch.device("cuda"):` makes factories allocate there
            return expr
        if q in self._JOINS:
            parts = kwarg(expr, "tensors", 0)
            if has_star(expr) or kwarg(expr, "out") is not None or parts is None:
                return None
            if isinstance(parts, (cst.ListComp, cst.GeneratorExp)):
                elements: list[cst.BaseExpression] = [parts.elt]
            elif isinstance(parts, (cst.List, cst.Tuple)) and parts.elements:
                elements = [e.value for e in parts.elements]
            else:
                return None
            for el in elements:
                if isinstance(el, cst.Name) or self._pageable(flow, el, at, depth + 1) is None:
                    return None  # a comprehension variable or a name in a list: not followed
            return expr
        return None

    def _loop_binding(self, flow: Flow, name: str, at: cst.CSTNode) -> cst.For | None:
        """The `for` loop whose target binds `name` (directly, not rebound since)."""
        binds = flow.reaching(name, at)
        if not binds or len(binds) != 1 or not isinstance(binds[0].stmt, cst.For):
            return None
        return binds[0].stmt

    def _loader(self, flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode) -> cst.Call | None:
        for _ in range(4):
            if isinstance(expr, cst.Call) and (self.ctx.qualify(expr.func) or "") in _WRAPPERS and positional(expr):
                expr = positional(expr)[0]
                continue
            break
        origins = flow.origins(expr, at, peel=False)
        if not origins or len(origins) != 1 or not isinstance(origins[0], cst.Call):
            return None
        call = origins[0]
        if has_star(call):
            return None  # `DataLoader(ds, **cfg)`: pin_memory may be in there
        return call if (self.ctx.qualify(call.func) or "") in _LOADERS else None


class DeviceMismatch(LintRule):
    """## What it does
    Flags an operation whose operands have different devices that are certain: a tensor moved
    with `.cuda()` / `.to("cuda")` or created with `device="cuda"` meeting one created on the
    CPU (a factory without `device=`, `.cpu()`) or a NumPy array, in an arithmetic operator,
    `torch.cat/stack/matmul/where/...`, or a model moved to one device called on a tensor on
    another. Names are followed through assignments. 0-dim tensors are never counted (PyTorch
    lets a CPU scalar meet a CUDA tensor), nor devices held in variables
    (`device = "cuda" if ... else "cpu"`).

    ## Why is this bad?
    It always fails: "RuntimeError: Expected all tensors to be on the same device, but found at
    least two devices, cuda:0 and cpu!" (or, with a NumPy array, "can't convert cuda:0 device
    type tensor to numpy").

    ## Known problems
    A file that calls `torch.set_default_device` is trusted to know its default device:
    factories without `device=` are then unknown.
    """

    CODE = "SC503"
    VALID = [
        Valid(
            """
import torch

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
x = torch.randn(8, 4, device=device)
w = torch.randn(4, 2).to(device)
y = x @ w
""",
            "one device, held in a variable",
        ),
        Valid(
            """
import torch

x = torch.randn(8, 4).cuda()
y = x * torch.tensor(2.0)         # a 0-dim CPU tensor may meet a CUDA tensor
z = x.cpu().numpy() + 1
""",
            "scalars and host-side NumPy",
        ),
        Valid(
            """
import torch
import torch.nn as nn

model = nn.Linear(4, 2)
model.to("cuda")
x = torch.randn(3, 4, device="cuda")
out = model(x)                     # moved in place above
""",
            "a model moved in place",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch

a = torch.randn(8, 4).cuda()
b = torch.randn(8, 4)
c = a + b  # SC503
"""
        ),
        Invalid(
            """
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 8), nn.ReLU()).to("cuda")
x = torch.randn(16, 4)
out = model(x)  # SC503
"""
        ),
        Invalid(
            """
import numpy as np
import torch

feats = torch.zeros(10, 3, device="cuda")
bias = np.ones((10, 3))
both = torch.cat([feats, torch.ones(10, 3, device="cpu")], dim=1)  # SC503
mixed = feats * bias  # SC503
"""
        ),
    ]

    _FUNCS = frozenset(
        f"torch.{n}" for n in ("cat", "concat", "stack", "matmul", "mm", "bmm", "add", "sub", "mul", "div", "where", "maximum", "minimum", "einsum", "dot")
    )

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, (cst.LeftShift, cst.RightShift)):
            return
        if not isinstance(node.left, (cst.Name, cst.Call)) or not isinstance(node.right, (cst.Name, cst.Call)):
            return
        flow = flow_of(self.ctx)
        self._compare(node, [(node.left, device_of(flow, node.left, node)), (node.right, device_of(flow, node.right, node))])

    def visit_Call(self, node: cst.Call) -> None:
        q = self.ctx.qualify(node.func) or ""
        if q in self._FUNCS:
            operands: list[cst.BaseExpression] = []
            for a in node.args:
                if a.keyword is not None or a.star:
                    continue
                if isinstance(a.value, (cst.List, cst.Tuple)):
                    operands.extend(e.value for e in a.value.elements if not isinstance(e, cst.StarredElement))
                elif isinstance(a.value, (cst.Name, cst.Call)):
                    operands.append(a.value)
            if len(operands) < 2:
                return
            flow = flow_of(self.ctx)
            self._compare(node, [(o, device_of(flow, o, node)) for o in operands])
            return
        if isinstance(node.func, cst.Name) and len(node.args) >= 1 and not q.startswith(("torch.", "numpy.")):
            flow = flow_of(self.ctx)
            mdev = _module_device(flow, node.func, node)
            if mdev is None:
                return
            first = node.args[0].value
            if node.args[0].keyword is not None or node.args[0].star:
                return
            self._compare(node, [(node.func, mdev), (first, device_of(flow, first, node))], model=True)

    def _compare(self, node: cst.CSTNode, items: list[tuple[cst.BaseExpression, tuple[str, str] | None]], *, model: bool = False) -> None:
        known = [(e, d) for e, d in items if d is not None]
        for i, (ea, da) in enumerate(known):
            for eb, db in known[i + 1 :]:
                if da is None or db is None or _compatible(da[0], db[0]):
                    continue
                if "numpy" in (da[0], db[0]) and "cpu" in (da[0], db[0]):
                    continue
                what = "the model" if model else "this op"
                self.report(
                    node,
                    f"`{_code(ea)}` is on {da[0]} and `{_code(eb)}` on {db[0]}: they cannot meet in {what}",
                    notes=[
                        f"`{_code(ea)}`: {da[1]}; `{_code(eb)}`: {db[1]}.",
                        "PyTorch raises \"Expected all tensors to be on the same device\". Create or move both to "
                        "one device (e.g. `device=x.device`, `.to(device)`).",
                    ],
                )
                return
