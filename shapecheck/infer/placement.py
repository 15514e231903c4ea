"""Where a tensor created without `device=` goes before it is moved: does it meet a tensor that
lives on the model's device (a `forward` input, a parameter, a batch the loop moved)?

    def forward(self, x):
        h = torch.zeros(x.size(0), 51)      # created on the CPU
        h = self.lstm(x, h)                 # meets x inside an LSTM: the meeting point
        pos = torch.arange(n)
        pos = pos.to(x.device)              # moved first: never meets anything on the CPU
        table = torch.outer(pos_cpu, freq)  # CPU with CPU: still CPU, followed further
        return table                        # returned: the caller decides (unknown, silent)

`meeting(...)` follows the value from its creation through expressions, names (by their
reaching bindings) and calls, and returns the first node where it meets a device tensor
without a move, or None. Anything it does not model (a call to an unknown function or module,
an element of a loop over it, a return, a 0-dim element) ends the walk: silence on unknowns.
Indexing a CUDA tensor with a CPU index tensor is allowed by PyTorch, so an index is not a
meeting point.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from shapecheck.infer.flow import Flow, kwarg

# Methods whose result stays where the receiver is (and keeps the receiver's role).
_KEEPS = frozenset(
    {
        "float", "double", "half", "bfloat16", "long", "int", "bool", "byte", "view", "reshape", "squeeze",
        "unsqueeze", "flatten", "unflatten", "contiguous", "clone", "detach", "permute", "transpose", "t", "expand",
        "expand_as", "repeat", "abs", "exp", "log", "sqrt", "sin", "cos", "sum", "mean", "cumsum", "argsort",
        "sort", "triu", "tril", "neg", "reciprocal", "pow", "masked_fill", "masked_fill_", "fill_", "zero_",
        "add", "sub", "mul", "div", "matmul", "mm", "bmm", "max", "min", "softmax", "log_softmax", "sigmoid",
        "tanh", "relu", "requires_grad_", "mT", "T", "chunk", "split", "repeat_interleave", "outer", "floor",
        "ceil", "round", "clamp", "clamp_", "type", "__getitem__", "narrow", "roll", "flip", "where",
    }
)
# Modules with parameters: a CPU input meets their weights.
PARAM_MODULES = frozenset(
    "torch.nn." + n
    for n in (
        "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
        "Embedding", "EmbeddingBag", "LayerNorm", "GroupNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "RMSNorm",
        "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "MultiheadAttention", "TransformerEncoderLayer",
        "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder", "Transformer", "PReLU",
    )
)
_MOVE_METHODS = frozenset({"cuda", "type_as", "to"})
_DTYPES = frozenset(
    "torch." + n
    for n in (
        "float", "float32", "float64", "float16", "bfloat16", "half", "double", "long", "int", "int64", "int32",
        "int16", "int8", "uint8", "bool", "complex64", "complex128",
    )
)

DeviceTest = Callable[[cst.BaseExpression, cst.CSTNode], bool]


def is_move(flow: Flow, call: cst.Call) -> bool:
    """`.to(x.device)`, `.to(x)`, `.to(device)`, `.cuda()`, `.type_as(x)`: not `.to(torch.float32)`
    or `.to(dtype=...)`, which keep the tensor where it is."""
    if not isinstance(call.func, cst.Attribute):
        return False
    m = call.func.attr.value
    if m not in _MOVE_METHODS:
        return False
    if m != "to":
        return True
    if kwarg(call, "device") is not None:
        return True
    for arg in call.args:
        if arg.keyword is None and (flow.ctx.qualify(arg.value) or "") not in _DTYPES:
            return True
    return False


def meeting(
    flow: Flow,
    created: cst.Call,
    on_device: DeviceTest,
    *,
    within: cst.CSTNode,
    param_module: Callable[[cst.BaseExpression, cst.CSTNode], bool],
) -> cst.CSTNode | None:
    """The node where the value of `created` first meets a device tensor (`on_device(expr, at)`)
    inside `within`, with no move in between; None when it is moved first, or when it leaves
    what we can follow. `param_module(func, at)`: the call runs a module with parameters."""
    seen: set[int] = set()
    work: list[cst.CSTNode] = [created]
    steps = 0
    while work and steps < 400:
        steps += 1
        expr = work.pop()
        if id(expr) in seen:
            continue
        seen.add(id(expr))
        hit = _climb(flow, expr, on_device, within, param_module, work)
        if hit is not None:
            return hit
    return None


def _climb(
    flow: Flow,
    expr: cst.CSTNode,
    on_device: DeviceTest,
    within: cst.CSTNode,
    param_module: Callable[[cst.BaseExpression, cst.CSTNode], bool],
    work: list[cst.CSTNode],
) -> cst.CSTNode | None:
    parent = flow.parents.get(expr)
    if parent is None:
        return None
    if isinstance(parent, cst.Attribute) and parent.value is expr:
        call = flow.parents.get(parent)
        if isinstance(call, cst.Call) and call.func is parent:
            if is_move(flow, call):
                return None
            if parent.attr.value == "cpu":
                work.append(call)
                return None
            others = [a.value for a in call.args]
            if any(on_device(o, call) for o in others):
                return call  # `cpu.mul(x)`, `cpu.masked_fill(x > 0, 1)`
            if parent.attr.value in _KEEPS:
                work.append(call)
            return None
        if parent.attr.value in ("T", "mT", "shape", "device", "dtype"):
            if parent.attr.value in ("T", "mT"):
                work.append(parent)
            return None
        return None
    if isinstance(parent, cst.Arg):
        call = flow.parents.get(parent)
        if isinstance(call, cst.Call):
            return _as_argument(flow, expr, call, on_device, param_module, work)
        return None
    if isinstance(parent, cst.Element):
        container = flow.parents.get(parent)
        holder = flow.parents.get(container) if container is not None else None
        if isinstance(holder, cst.Arg):
            call = flow.parents.get(holder)
            if isinstance(call, cst.Call) and param_module(call.func, call):
                return call  # `self.lstm(x, (h, c))`: the state meets the weights
            if isinstance(call, cst.Call) and (flow.ctx.qualify(call.func) or "") in ("torch.cat", "torch.stack", "torch.concat"):
                siblings = [e.value for e in getattr(container, "elements", []) if e.value is not expr]
                if any(on_device(o, call) for o in siblings):
                    return call  # `torch.cat([feats, padding])`: joined with a device tensor
                return _as_argument(flow, container, call, on_device, param_module, work)
        return None
    if isinstance(parent, (cst.BinaryOperation, cst.Comparison, cst.ComparisonTarget)):
        if isinstance(parent, cst.ComparisonTarget):
            parent = flow.parents.get(parent)
            if not isinstance(parent, cst.Comparison):
                return None
        operands = [parent.left, parent.right] if isinstance(parent, cst.BinaryOperation) else [
            parent.left, *(t.comparator for t in parent.comparisons)
        ]
        for other in operands:
            if other is not expr and on_device(other, parent):
                return parent
        work.append(parent)
        return None
    if isinstance(parent, cst.UnaryOperation):
        work.append(parent)
        return None
    if isinstance(parent, cst.Subscript):
        if parent.value is expr:
            work.append(parent)  # `mask[:, None]` is still the CPU tensor
        return None  # a CPU index into a CUDA tensor is allowed
    if isinstance(parent, cst.Assign) and parent.value is expr:
        if len(parent.targets) != 1 or not isinstance(parent.targets[0].target, cst.Name):
            return None
        name = parent.targets[0].target.value
        for use in flow.name_uses.get(name, []):
            if use is parent.targets[0].target or not flow.is_ancestor(within, use):
                continue
            binds = flow.reaching(name, use)
            if binds and any(b.stmt is parent for b in binds) and _is_load(flow, use):
                work.append(use)
        return None
    if isinstance(parent, cst.AugAssign) and parent.value is expr:
        if on_device(parent.target, parent):
            return parent
        return None
    return None


def _as_argument(
    flow: Flow,
    expr: cst.CSTNode,
    call: cst.Call,
    on_device: DeviceTest,
    param_module: Callable[[cst.BaseExpression, cst.CSTNode], bool],
    work: list[cst.CSTNode],
) -> cst.CSTNode | None:
    func = call.func
    q = flow.ctx.qualify(func) or ""
    if param_module(func, call):
        return call
    others = [a.value for a in call.args if a.value is not expr]
    if q.startswith("torch.") and not q.startswith(("torch.nn.init.", "torch.save", "torch.utils.")):
        if kwarg(call, "device") is not None or "tensor_shape" in q:
            return None  # `reshape_from_tensor_shape(x, shape)`: a shape tensor belongs on the CPU
        if any(on_device(o, call) for o in others):
            return call
        work.append(call)
        return None
    if isinstance(func, cst.Attribute) and not q.startswith("torch."):
        if on_device(func.value, call):
            return call  # `x.masked_fill(cpu_mask, 0)`, `scores + ...`
        return None
    return None


def _is_load(flow: Flow, name: cst.Name) -> bool:
    parent = flow.parents.get(name)
    if isinstance(parent, cst.AssignTarget) and parent.target is name:
        return False
    if isinstance(parent, (cst.For, cst.CompFor)) and parent.target is name:
        return False
    return not (isinstance(parent, cst.AugAssign) and parent.target is name)
