"""Is this object an `nn.Module`? The receiver facts SC405 needs: a torch.nn layer, an instance
of a Module subclass (resolved through the bases, in this file and through the project index),
an element of a ModuleList/Sequential, or something known not to be one (an imported module or
function, a plain class).

    import my_ext as ext                 ext            -> NOT_MODULE
    class Flip(pkg.base.Transform): ...  Flip()         -> NOT_MODULE (Transform has plain bases)
    self.layers = nn.ModuleList(...)     self.layers[0] -> ELEMENT
    model = Net().to(device)             model          -> MODULE
"""

from __future__ import annotations

import libcst as cst

from shapecheck.infer.flow import Binding, Flow

MODULE = "module"  # an nn.Module instance: a torch.nn layer, a local or project Module subclass
ELEMENT = "element"  # an element of a ModuleList/Sequential attribute (`self.layers[i]`, a loop over it)
NOT_MODULE = "not-module"  # known not to be one: an imported module or function, a plain class


def module_status(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode) -> str | None:
    """Whether `expr` is an `nn.Module` instance (MODULE / ELEMENT), known not to be one
    (NOT_MODULE), or unknown (None). Names are followed to their bindings, parameters to their
    annotations, classes through their bases (in this file, then the project index)."""
    if isinstance(expr, cst.Name):
        binds = flow.reaching(expr.value, at)
        if binds is None:
            return None
        statuses = {_binding_status(flow, b, at) for b in binds}
    elif isinstance(expr, cst.Attribute) and flow.is_self_attr(expr, at):
        binds = flow.attr_bindings(expr, at)
        if not binds:
            return None
        statuses = {_value_status(flow, b.value, b.value) if b.value is not None else None for b in binds}
    elif isinstance(expr, cst.Attribute):
        root = _root(expr)
        binds = flow.reaching(root.value, at) if isinstance(root, cst.Name) else None
        if binds and all(isinstance(b.stmt, (cst.Import, cst.ImportFrom)) for b in binds):
            return NOT_MODULE  # `lib.ops.forward(x)`: an attribute of an imported module
        return None
    else:
        statuses = {_value_status(flow, expr, at)}
    if NOT_MODULE in statuses:
        return NOT_MODULE
    if None in statuses:
        return None
    return ELEMENT if ELEMENT in statuses else MODULE


def _root(expr: cst.BaseExpression) -> cst.BaseExpression:
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return expr


def _binding_status(flow: Flow, b: Binding, at: cst.CSTNode) -> str | None:
    stmt = b.stmt
    if isinstance(stmt, (cst.Import, cst.ImportFrom)):
        return NOT_MODULE  # a Python module, function or class object: not an instance
    if isinstance(stmt, cst.FunctionDef) and b.always:  # a parameter: read its annotation
        for p in flow.scopes[stmt].params if stmt in flow.scopes else []:
            if p.name.value == b.name and p.annotation is not None:
                return _class_status(flow, p.annotation.annotation)
        return None
    if isinstance(stmt, cst.For) and isinstance(stmt.target, cst.Name) and stmt.target.value == b.name:
        return ELEMENT if _is_module_container(flow, stmt.iter, stmt) else None
    if b.value is None:
        return None
    return _value_status(flow, b.value, b.value)


def _value_status(flow: Flow, value: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> str | None:
    if depth > 6:
        return None
    if isinstance(value, cst.Name):
        binds = flow.reaching(value.value, at)
        if not binds or len(binds) != 1:
            return None
        return _binding_status(flow, binds[0], at)
    if isinstance(value, cst.Subscript):
        return ELEMENT if _is_module_container(flow, value.value, at) else None
    if isinstance(value, cst.Call):
        if isinstance(value.func, cst.Attribute) and value.func.attr.value in ("to", "cuda", "cpu", "train", "eval", "float", "half", "double", "requires_grad_"):
            inner = _value_status(flow, value.func.value, at, depth + 1)
            return inner if inner in (MODULE, ELEMENT) else None
        return _class_status(flow, value.func)
    return None


def _is_module_container(flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode) -> bool:
    """`self.layers` bound to `nn.ModuleList(...)`/`nn.Sequential(...)`."""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("enumerate", "zip", "reversed"):
        return any(_is_module_container(flow, a.value, at) for a in expr.args)
    origins = flow.origins(expr, at, peel=False) if isinstance(expr, (cst.Name, cst.Attribute)) else None
    if not origins:
        return False
    return all(
        isinstance(o, cst.Call)
        and (flow.ctx.qualify(o.func) or "") in ("torch.nn.ModuleList", "torch.nn.Sequential", "torch.nn.ModuleDict")
        for o in origins
    )


def _class_status(flow: Flow, cls_expr: cst.BaseExpression, depth: int = 0) -> str | None:
    """Whether instances of the class named by `cls_expr` are nn.Modules."""
    if isinstance(cls_expr, cst.Name) and cls_expr.value in flow.classes:
        return _local_class_status(flow, flow.classes[cls_expr.value], depth)
    if isinstance(cls_expr, cst.SimpleString):
        return None
    q = flow.ctx.qualify(cls_expr)
    if q is None:
        return None
    return qualified_class_status(flow, q, depth)


_PLAIN_BASES = frozenset({"object", "Exception", "dict", "list", "tuple", "str", "int", "float", "abc.ABC", "ABC", "typing.Generic", "typing.Protocol"})


def _local_class_status(flow: Flow, cls: cst.ClassDef, depth: int) -> str | None:
    if depth > 6:
        return None
    statuses: set[str | None] = set()
    for base in cls.bases:
        if base.keyword is not None:
            continue  # metaclass=...
        if isinstance(base.value, cst.Name) and base.value.value in flow.classes:
            statuses.add(_local_class_status(flow, flow.classes[base.value.value], depth + 1))
            continue
        q = flow.ctx.qualify(base.value) or ""
        statuses.add(NOT_MODULE if q in _PLAIN_BASES or q.startswith("typing.") else qualified_class_status(flow, q, depth + 1))
    if MODULE in statuses:
        return MODULE
    return NOT_MODULE if statuses <= {NOT_MODULE} else None


def qualified_class_status(flow: Flow, q: str, depth: int = 0) -> str | None:
    if q.startswith("torch.nn.") and q.rsplit(".", 1)[-1][:1].isupper() and not q.startswith("torch.nn.functional."):
        return MODULE
    if q.startswith(("pytorch_lightning.", "lightning.")) and q.endswith("Module"):
        return MODULE
    project = getattr(flow.ctx, "project", None)
    if project is None or depth > 6 or q.startswith(("torch.", "numpy.", "typing.", "collections.")):
        return None
    found = project.lookup(q)
    if found is None:
        return None
    summary, attr = found
    info = summary.classes.get(attr)
    if info is None:
        return NOT_MODULE if attr in summary.functions else None
    if info.is_module:
        return MODULE
    statuses = set()
    for base in info.bases:
        if base in _PLAIN_BASES or base.startswith("typing."):
            statuses.add(NOT_MODULE)
            continue
        statuses.add(qualified_class_status(flow, base, depth + 1))
    if not statuses:
        return NOT_MODULE
    if MODULE in statuses:
        return MODULE
    return NOT_MODULE if statuses == {NOT_MODULE} else None
