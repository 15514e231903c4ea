"""Gradient facts the autograd rules read: which tensors are leaves that require grad, which
values carry a graph, where backward() is called, which loops run a new forward each iteration,
which helpers add an argument to a running total, how an accumulation loop gates its step.

    w = torch.randn(3, requires_grad=True)          leaf_requiring_grad -> True
    w = torch.randn(3, requires_grad=True) * 0.01   inner_leaf -> the randn call (w is not a leaf)
    for p in model.parameters(): p -= lr * p.grad   steps_by_own_grad / parameter_loop_var
    def update(self, val): self.sum += val * n      accumulates_param(update, "val") -> "self.sum"
"""

from __future__ import annotations

import libcst as cst

from shapecheck.infer.flow import Binding, Flow, kwarg, positional
from shapecheck.names import dotted


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)



def _backward_receivers(flow: Flow) -> list[tuple[str, cst.Call]]:
    """(`dotted receiver`, call) for every `x.backward()` in the file."""
    out: list[tuple[str, cst.Call]] = []
    for call in flow.method_calls("backward"):
        assert isinstance(call.func, cst.Attribute)
        name = dotted(call.func.value)
        if name is not None:
            out.append((name, call))
    return out


def _inside(flow: Flow, node: cst.CSTNode, container: cst.CSTNode) -> bool:
    return flow.is_ancestor(container, node)


_TENSOR_FACTORIES = frozenset(
    f"torch.{n}"
    for n in ("zeros", "ones", "empty", "full", "tensor", "as_tensor", "randn", "rand", "randint", "arange", "linspace", "eye")
)


def _is_tensor_init(flow: Flow, expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Call) and (flow.ctx.qualify(expr.func) or "") in _TENSOR_FACTORIES


_DATA_WORDS = ("loader", "batch", "dataset", "data", "iterator", "epoch", "steps")


_EVAL_WORDS = ("valid", "eval", "test", "infer", "predict", "score")


def _data_loop(flow: Flow, loop: cst.CSTNode, fn: cst.FunctionDef | None) -> bool:
    """A loop over batches (a loader, batches, a dataset) or inside an evaluation function:
    each iteration runs a new forward pass, as opposed to a loop over the terms of one."""
    if fn is not None and any(w in fn.name.value.lower() for w in _EVAL_WORDS):
        return True
    if not isinstance(loop, cst.For):
        return isinstance(loop, cst.While)
    names = {n.value.lower() for n in _names_in(loop.iter)}
    return any(w in n for n in names for w in _DATA_WORDS)


def _names_in(expr: cst.CSTNode) -> list[cst.Name]:
    out: list[cst.Name] = []
    stack = [expr]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Name):
            out.append(cur)
        stack.extend(cur.children)
    return out


def _is_continue(stmt: cst.CSTNode) -> bool:
    if isinstance(stmt, cst.Continue):
        return True
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Continue)


def method_of(call: cst.Call) -> str | None:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def _aug_assigns(flow: Flow, name: str, within: cst.CSTNode) -> list[cst.AugAssign]:
    out: list[cst.AugAssign] = []
    scope = flow.scope_of(within)
    for b in scope.bindings.get(name, []):
        if isinstance(b.stmt, cst.AugAssign) and flow.is_ancestor(within, b.stmt):
            out.append(b.stmt)
    return out


def _modulus(test: cst.BaseExpression) -> cst.BaseExpression | None:
    """`k` in `(i + 1) % k == 0`, `step % k == k - 1`, `not (i + 1) % k`."""
    stack: list[cst.CSTNode] = [test]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.BinaryOperation) and isinstance(cur.operator, cst.Modulo):
            return cur.right
        if isinstance(cur, (cst.Comparison, cst.BooleanOperation, cst.UnaryOperation, cst.ComparisonTarget, cst.BinaryOperation)):
            stack.extend(cur.children)
    return None


_LEAF_FACTORIES = _TENSOR_FACTORIES | {"torch.zeros_like", "torch.ones_like", "torch.randn_like", "torch.empty_like", "torch.full_like", "torch.rand_like"}


_PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})


_NO_GRAPH_METHODS = frozenset({"detach", "item", "tolist", "numpy", "requires_grad_", "data"})


_MAYBE_SELF_METHODS = frozenset({"to", "cuda", "cpu", "type", "float", "double", "half", "contiguous", "type_as"})


def _true(expr: cst.BaseExpression | None) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "True"


def leaf_requiring_grad(flow: Flow, expr: cst.BaseExpression) -> bool:
    """`torch.zeros(3, requires_grad=True)`, `nn.Parameter(...)`, `x.requires_grad_()`."""
    if not isinstance(expr, cst.Call):
        return False
    q = flow.ctx.qualify(expr.func) or ""
    if q in _PARAMETER:
        return not (isinstance(kwarg(expr, "requires_grad", 1), cst.Name) and kwarg(expr, "requires_grad", 1).value == "False")  # type: ignore[union-attr]
    if q in _LEAF_FACTORIES:
        return _true(kwarg(expr, "requires_grad"))
    if isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "requires_grad_" and not q.startswith("torch."):
        args = positional(expr)
        return not args or _true(args[0])
    return False


def requires_grad(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> bool:
    """Whether `expr` is known to require grad (a grad leaf, or an op on one)."""
    if depth > 10:
        return False
    if isinstance(expr, (cst.Name, cst.Attribute)):
        binds = flow.bindings_of(expr, at)
        if not binds or any(b.value is None for b in binds):
            return False
        return all(requires_grad(flow, b.value, b.value, depth + 1) for b in binds if b.value is not None)
    if leaf_requiring_grad(flow, expr):
        return True
    return nonleaf_with_grad(flow, expr, at, depth)


def nonleaf_with_grad(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> bool:
    """An op result on tensors that require grad: `w * 2`, `w.sum()`, `torch.exp(w)`."""
    if isinstance(expr, cst.BinaryOperation):
        return requires_grad(flow, expr.left, at, depth + 1) or requires_grad(flow, expr.right, at, depth + 1)
    if isinstance(expr, cst.UnaryOperation):
        return requires_grad(flow, expr.expression, at, depth + 1)
    if isinstance(expr, cst.Call):
        func = expr.func
        q = flow.ctx.qualify(func) or ""
        if leaf_requiring_grad(flow, expr):
            return False
        if isinstance(func, cst.Attribute) and not q.startswith("torch."):
            m = func.attr.value
            if m in _NO_GRAPH_METHODS or m in _MAYBE_SELF_METHODS or m.endswith("_"):
                return False
            return requires_grad(flow, func.value, at, depth + 1)
        if q.startswith("torch.") and q not in _LEAF_FACTORIES and q not in _PARAMETER:
            return any(requires_grad(flow, a.value, at, depth + 1) for a in expr.args if not a.keyword)
    return False


def _inner_leaf(flow: Flow, value: cst.BaseExpression) -> cst.Call | None:
    """The creation call with `requires_grad=True` written inside a larger expression:
    `torch.randn(3, requires_grad=True) * 0.01`, `torch.zeros(3, requires_grad=True).cuda()`."""
    stack: list[cst.CSTNode] = [value]
    while stack:
        cur = stack.pop()
        if cur is not value and isinstance(cur, cst.Call) and leaf_requiring_grad(flow, cur):
            return cur
        if isinstance(cur, (cst.BinaryOperation, cst.UnaryOperation)):
            stack.extend(cur.children)
        elif isinstance(cur, cst.Call) and isinstance(cur.func, cst.Attribute):
            stack.append(cur.func.value)
    return None


def _accumulates_param(fn: cst.FunctionDef, param: str) -> str | None:
    """The running total `fn` adds its parameter `param` to: `agg += param`,
    `self.sum += param * n`, `agg = agg + param` (None if it does not)."""
    found: list[str] = []

    class _V(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is fn

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            if isinstance(node.operator, cst.AddAssign) and _mentions(node.value, param):
                found.append(_code(node.target))

        def visit_Assign(self, node: cst.Assign) -> None:
            v = node.value
            if (
                len(node.targets) == 1
                and isinstance(v, cst.BinaryOperation)
                and isinstance(v.operator, cst.Add)
                and _code(v.left) == _code(node.targets[0].target)
                and _mentions(v.right, param)
            ):
                found.append(_code(node.targets[0].target))

    fn.visit(_V())
    return found[0] if found else None


def _mentions(expr: cst.BaseExpression, name: str) -> bool:
    """`expr` is `name`, or `name * n` / `n * name` (a weighted running sum)."""
    if isinstance(expr, cst.Name):
        return expr.value == name
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Multiply, cst.Divide)):
        return _mentions(expr.left, name) or _mentions(expr.right, name)
    return False


def _steps_by_own_grad(node: cst.CSTNode, target: cst.BaseExpression) -> bool:
    """`p -= lr * p.grad`, `p.add_(p.grad, alpha=-lr)`: an in-place update of `p` by its own
    gradient. Only a leaf that requires grad has a `.grad` to read, so `p` is one."""
    name = _code(target)
    if isinstance(node, cst.AugAssign):
        reads = node.value
    elif isinstance(node, cst.Call):
        reads = node
    else:
        return False
    stack: list[cst.CSTNode] = [reads]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Attribute) and cur.attr.value == "grad" and _code(cur.value) == name:
            return True
        stack.extend(cur.children)
    return False


def _parameter_loop_var(flow: Flow, b: Binding) -> bool:
    """`p` bound by `for p in model.parameters():` (or `for n, p in model.named_parameters():`)."""
    stmt = b.stmt
    if not isinstance(stmt, cst.For):
        return False
    it = stmt.iter
    if not (isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute)):
        return False
    m = it.func.attr.value
    if m == "parameters":
        return isinstance(stmt.target, cst.Name) and stmt.target.value == b.name
    if m == "named_parameters" and isinstance(stmt.target, cst.Tuple) and len(stmt.target.elements) == 2:
        second = stmt.target.elements[1].value
        return isinstance(second, cst.Name) and second.value == b.name
    return False
