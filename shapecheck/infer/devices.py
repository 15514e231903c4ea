"""Device facts the device rules read: the known device of a tensor or model (SC503), and
whether a value in `forward` lives on the model's device (an input, a parameter or buffer, a
module's output), which `infer/placement.py` walks towards.

    a = torch.zeros(4, device="cuda:0")        device_of(a) -> ("cuda:0", ...)
    y = torch.randn(3).cpu()                   device_of(y) -> ("cpu", "`.cpu()`")
    def forward(self, x): h = self.fc(x)       forward_device(h) -> True
"""

from __future__ import annotations

import libcst as cst

from shapecheck.infer.flow import Flow, kwarg, literal_number, literal_string, positional
from shapecheck.infer.placement import PARAM_MODULES


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


_NOT_TENSOR_ANNOTATIONS = frozenset({"int", "float", "bool", "str", "None", "list", "dict", "tuple"})


_HOST_METHODS = frozenset({"cpu", "numpy", "item", "tolist", "size", "dim", "numel", "stride", "data_ptr", "get_device"})


def _param_module(flow: Flow, func: cst.BaseExpression, at: cst.CSTNode) -> bool:
    """`self.fc` bound to `nn.Linear(...)` (or a Sequential that starts with one): a module
    whose parameters a CPU input would meet."""
    if not isinstance(func, (cst.Name, cst.Attribute)):
        return False
    origins = flow.origins(func, at, peel=False)
    if not origins or len(origins) != 1 or not isinstance(origins[0], cst.Call):
        return False
    q = flow.ctx.qualify(origins[0].func) or ""
    if q == "torch.nn.Sequential":
        first = positional(origins[0])[:1]
        return bool(first) and isinstance(first[0], cst.Call) and (flow.ctx.qualify(first[0].func) or "") in PARAM_MODULES
    return q in PARAM_MODULES


def _forward_device(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode, fn: cst.FunctionDef, depth: int = 0) -> bool:
    """Whether `expr` in `forward` may be on the model's device: an input (a parameter of
    forward that is not an int/bool/str), a parameter or buffer of the module, a module's
    output, or anything computed from those on the device."""
    if depth > 14:
        return False
    if isinstance(expr, cst.Name):
        scope = flow.scope_of(at)
        if expr.value == scope.self_name:
            return False
        binds = flow.reaching(expr.value, at)
        for b in binds or []:
            if b.always and b.stmt is fn:
                if _tensor_param(fn, expr.value):
                    return True
            elif b.value is not None and _forward_device(flow, b.value, b.value, fn, depth + 1):
                return True
        return False
    if isinstance(expr, cst.Attribute):
        if flow.is_self_attr(expr, at):
            binds = flow.attr_bindings(expr, at) or []
            for b in binds:
                if isinstance(b.value, cst.Call) and (flow.ctx.qualify(b.value.func) or "") in (
                    "torch.nn.Parameter", "torch.nn.parameter.Parameter"
                ):
                    return True
            return _registered_buffer(flow, expr.attr.value)
        if expr.attr.value in ("weight", "bias") and isinstance(expr.value, cst.Attribute):
            return flow.is_self_attr(expr.value, at)
        return expr.attr.value in ("T", "mT") and _forward_device(flow, expr.value, expr, fn, depth + 1)
    if isinstance(expr, cst.Call):
        func = expr.func
        if _param_module(flow, func, expr):
            return True
        q = flow.ctx.qualify(func) or ""
        if q.startswith("torch.") and not q.startswith("torch.nn.init."):
            if kwarg(expr, "device") is not None or "shape_as_tensor" in q:
                return False  # `torch.onnx.operators.shape_as_tensor(x)`: the sizes, on the CPU
            return any(_forward_device(flow, a.value, expr, fn, depth + 1) for a in expr.args)
        if isinstance(func, cst.Attribute):
            if func.attr.value in _HOST_METHODS:
                return False
            if flow.is_self_attr(func, expr):
                # `self.encoder(frames)`: a submodule fed an input runs where the input is
                return any(_forward_device(flow, a.value, expr, fn, depth + 1) for a in expr.args)
            return _forward_device(flow, func.value, expr, fn, depth + 1)
        return False
    if isinstance(expr, cst.Subscript):
        return _forward_device(flow, expr.value, expr, fn, depth + 1)
    if isinstance(expr, cst.BinaryOperation):
        return _forward_device(flow, expr.left, expr, fn, depth + 1) or _forward_device(flow, expr.right, expr, fn, depth + 1)
    if isinstance(expr, cst.UnaryOperation):
        return _forward_device(flow, expr.expression, expr, fn, depth + 1)
    return False


def _tensor_param(fn: cst.FunctionDef, name: str) -> bool:
    """A parameter of forward that may be a tensor: not annotated as int/bool/str..., and not
    defaulting to a number, string or bool."""
    for p in [*fn.params.params, *fn.params.kwonly_params, *fn.params.posonly_params]:
        if p.name.value != name:
            continue
        if p.annotation is not None:
            ann = _code(p.annotation.annotation)
            if ann.split("[")[0].split("|")[0].strip() in _NOT_TENSOR_ANNOTATIONS:
                return False
        if p.default is not None and (
            literal_number(p.default) is not None
            or literal_string(p.default) is not None
            or (isinstance(p.default, cst.Name) and p.default.value in ("True", "False"))
        ):
            return False
        return True
    return False


def _registered_buffer(flow: Flow, attr: str) -> bool:
    for call in flow.method_calls("register_buffer"):
        args = positional(call)
        if args and literal_string(args[0]) == attr:
            return True
    return False


# -- SC503 ------------------------------------------------------------------------------------
_KEEP_DEVICE = frozenset(
    {"float", "double", "half", "long", "int", "bool", "view", "reshape", "squeeze", "unsqueeze", "flatten",
     "contiguous", "clone", "detach", "permute", "transpose", "t", "abs", "exp", "log", "sum", "mean",
     "requires_grad_"}
)


_NONSCALAR = frozenset(f"torch.{n}" for n in ("zeros", "ones", "empty", "full", "rand", "randn", "arange", "linspace", "eye", "randint"))


def _device_literal(flow: Flow, expr: cst.BaseExpression | None, depth: int = 0) -> str | None:
    """'cuda', 'cpu', 'cuda:1' from `"cuda"`, `torch.device("cuda:1")`, or a name bound to one."""
    if expr is None or depth > 5:
        return None
    s = literal_string(expr)
    if s is not None:
        return s if s.split(":")[0] in ("cpu", "cuda", "mps", "meta", "xpu") else None
    if isinstance(expr, cst.Call) and (flow.ctx.qualify(expr.func) or "") == "torch.device":
        args = positional(expr)
        if len(args) == 1:
            return _device_literal(flow, args[0], depth + 1)
        if len(args) == 2 and literal_string(args[0]) and isinstance(args[1], cst.Integer):
            return f"{literal_string(args[0])}:{args[1].value}"
        return None
    if isinstance(expr, (cst.Name, cst.Attribute)):
        binds = flow.bindings_of(expr, expr)
        if not binds or any(b.value is None for b in binds):
            return None
        devs = {_device_literal(flow, b.value, depth + 1) for b in binds if b.value is not None}
        return devs.pop() if len(devs) == 1 else None
    return None


def device_of(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> tuple[str, str] | None:
    """(device, why) for a tensor whose device is certain and which is not a 0-dim scalar, else None.
    'numpy' stands for a NumPy array (host memory)."""
    if depth > 10:
        return None
    if isinstance(expr, cst.Name):
        binds = flow.reaching(expr.value, at)
        if not binds or any(b.value is None for b in binds):
            return None
        found = {device_of(flow, b.value, b.value, depth + 1) for b in binds if b.value is not None}
        if len(found) != 1 or None in found:
            return None
        return found.pop()
    if not isinstance(expr, cst.Call):
        return None
    q = flow.ctx.qualify(expr.func) or ""
    if q.startswith("numpy.") and q.split(".")[-1] in ("array", "zeros", "ones", "arange", "asarray", "random.randn", "randn", "linspace", "empty", "full", "eye"):
        return "numpy", f"`{_code(expr.func)}(...)` is a NumPy array"
    if q in _NONSCALAR:
        dev = kwarg(expr, "device")
        if dev is None:
            if "set_default_device" in flow.ctx.source:
                return None
            return "cpu", f"`{_code(expr.func)}(...)` without device= is created on the CPU"
        lit = _device_literal(flow, dev)
        return (lit, f"`{_code(expr.func)}(..., device={_code(dev)})`") if lit else None
    func = expr.func
    if isinstance(func, cst.Attribute) and not q.startswith(("torch.", "numpy.")):
        m = func.attr.value
        if m == "cuda":
            args = positional(expr)
            if not args:
                return _if_nonscalar(flow, func.value, at, depth, "cuda", "`.cuda()`")
            if isinstance(args[0], cst.Integer):
                return _if_nonscalar(flow, func.value, at, depth, f"cuda:{args[0].value}", f"`.cuda({args[0].value})`")
            return None
        if m == "cpu":
            return _if_nonscalar(flow, func.value, at, depth, "cpu", "`.cpu()`")
        if m == "numpy":
            return _if_nonscalar(flow, func.value, at, depth, "numpy", "`.numpy()`")
        if m == "to":
            dev_arg = kwarg(expr, "device", 0)
            lit = _device_literal(flow, dev_arg)
            if lit is not None:
                return _if_nonscalar(flow, func.value, at, depth, lit, f"`.to({_code(dev_arg)})`")  # type: ignore[arg-type]
            return None
        if m in _KEEP_DEVICE and m not in ("sum", "mean"):
            return device_of(flow, func.value, at, depth + 1)
    return None


def _if_nonscalar(flow: Flow, inner: cst.BaseExpression, at: cst.CSTNode, depth: int, dev: str, why: str) -> tuple[str, str] | None:
    """A moved tensor counts only when it is known not to be a 0-dim scalar (those may mix)."""
    if _nonscalar(flow, inner, at, depth + 1):
        return dev, why
    return None


def _nonscalar(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode, depth: int) -> bool:
    if depth > 10:
        return False
    if isinstance(expr, cst.Name):
        binds = flow.reaching(expr.value, at)
        return bool(binds) and all(b.value is not None and _nonscalar(flow, b.value, b.value, depth + 1) for b in binds)
    if isinstance(expr, cst.Call):
        q = flow.ctx.qualify(expr.func) or ""
        if q in _NONSCALAR:
            return any(not (isinstance(a.value, cst.Tuple) and not a.value.elements) for a in expr.args if a.keyword is None)
        if q.startswith("numpy."):
            return True
        if q in ("torch.from_numpy",):
            return True
        if isinstance(expr.func, cst.Attribute) and not q.startswith("torch.") and expr.func.attr.value in (
            "cuda", "cpu", "to", "float", "double", "half", "long", "view", "reshape", "contiguous", "clone", "detach"
        ):
            return _nonscalar(flow, expr.func.value, at, depth + 1)
    return False


def _module_device(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode) -> tuple[str, str] | None:
    """The device of a model bound to `Net().to("cuda")` / `nn.Linear(...).cuda()`, when the file
    never moves it again (Module.to works in place, so any later `model.to(...)` makes it unknown)."""
    if not isinstance(expr, cst.Name):
        return None
    binds = flow.reaching(expr.value, at)
    if not binds or len(binds) != 1 or binds[0].value is None:
        return None
    value = binds[0].value
    for m in ("to", "cuda", "cpu"):
        if any(flow.receiver_name(c) == expr.value for c in flow.method_calls(m)):
            if not (isinstance(value, cst.Call) and _chain_contains(value, flow, expr.value)):
                return None
    chain = value
    moved: tuple[str, str] | None = None
    while isinstance(chain, cst.Call) and isinstance(chain.func, cst.Attribute):
        if flow.local_class(chain) is not None or (flow.ctx.qualify(chain.func) or "").startswith("torch."):
            break  # the constructor: `nn.Sequential(...)`
        m = chain.func.attr.value
        if m == "cuda" and moved is None:
            moved = ("cuda", "`.cuda()`")
        elif m == "cpu" and moved is None:
            moved = ("cpu", "`.cpu()`")
        elif m == "to" and moved is None:
            lit = _device_literal(flow, kwarg(chain, "device", 0))
            if lit is None:
                return None
            moved = (lit, f"`.to({_code(kwarg(chain, 'device', 0))})`")  # type: ignore[arg-type]
        elif m not in ("train", "eval", "float", "half", "double"):
            return None
        chain = chain.func.value
    if not isinstance(chain, cst.Call):
        return None
    q = flow.ctx.qualify(chain.func) or ""
    local = flow.local_class(chain)
    is_module = q.startswith("torch.nn.") or (local is not None and flow.is_module_subclass(local) is True)
    if not is_module:
        return None
    return moved if moved is not None else ("cpu", f"`{_code(chain.func)}(...)` has its parameters on the CPU")


def _chain_contains(value: cst.Call, flow: Flow, name: str) -> bool:
    # the only moves of `name` are the ones inside its own binding
    return all(flow.is_ancestor(value, c) for m in ("to", "cuda", "cpu") for c in flow.method_calls(m)
               if flow.receiver_name(c) == name)


def _compatible(a: str, b: str) -> bool:
    if a == b:
        return True
    ta, _, ia = a.partition(":")
    tb, _, ib = b.partition(":")
    if "numpy" in (a, b):
        return {ta, tb} <= {"numpy", "cpu"}
    return ta == tb and (not ia or not ib)
