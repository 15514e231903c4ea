"""Branch conditions the interpreter can decide.

With the caller's values (`Net(pool='cls')`, `forward(x, mask=None)`, a 4-d input), many `if`s
are decided: `if mask is not None`, `if x.ndim == 3`, `if self.pool == 'mean'`. Running only the
branch that executes is what keeps whole-program inference honest: the other branch would
otherwise see values it never sees at run time (an `unsqueeze` meant for 3-d inputs applied to
a 4-d one) and report errors that cannot happen.

A condition that cannot be decided but reads a tensor's shape (`if x.dim() == 3`, `if
x.size(1) != c`) guards code written for *other* shapes: the branches still run, silently.
"""

from __future__ import annotations

import libcst as cst

from shapecheck.infer.values import (
    ConstValue,
    DeviceValue,
    DimValue,
    DtypeValue,
    ModuleValue,
    ObjectValue,
    ShapeValue,
    TensorValue,
    TupleValue,
    Value,
)
from shapecheck.tree import child_nodes

_SHAPE_READS = frozenset({"shape", "ndim", "dim", "size", "ndimension", "numel", "nelement"})


def truth(value: Value) -> bool | None:
    """Python truthiness of an abstract value, when it is known."""
    if isinstance(value, ConstValue):
        return bool(value.value)
    if isinstance(value, DimValue):
        n = value.dim.value
        return bool(n) if n is not None else None
    if isinstance(value, (ModuleValue, ObjectValue, DeviceValue, DtypeValue)):
        return True
    if isinstance(value, TupleValue):
        return bool(value.items)
    if isinstance(value, ShapeValue) and value.shape.rank is not None:
        return value.shape.rank > 0
    return None


def _number(value: Value) -> int | float | str | None:
    if isinstance(value, ConstValue) and not isinstance(value.value, bool):
        return value.value
    if isinstance(value, DimValue):
        return value.dim.value
    return None


def _is_none(value: Value) -> bool | None:
    if isinstance(value, ConstValue):
        return value.value is None
    if isinstance(value, (TensorValue, ModuleValue, ObjectValue, DimValue, ShapeValue, TupleValue,
                          DeviceValue, DtypeValue)):
        return False
    return None


def compare(op: cst.BaseCompOp, left: Value, right: Value) -> ConstValue | None:
    """`left op right` for non-tensor operands, when decided."""
    if isinstance(op, (cst.Is, cst.IsNot)):
        if isinstance(right, ConstValue) and right.value is None:
            known = _is_none(left)
        elif isinstance(left, ConstValue) and left.value is None:
            known = _is_none(right)
        elif isinstance(left, ConstValue) and isinstance(right, ConstValue) and isinstance(left.value, bool):
            known = left.value is right.value
        else:
            return None
        if known is None:
            return None
        return ConstValue(known if isinstance(op, cst.Is) else not known)
    if isinstance(op, (cst.In, cst.NotIn)):
        a = _number(left)
        if a is None or not isinstance(right, TupleValue):
            return None
        items = [_number(v) for v in right.items]
        if any(i is None for i in items):
            return None
        found = a in items
        return ConstValue(found if isinstance(op, cst.In) else not found)
    if isinstance(left, DimValue) and isinstance(right, DimValue) and isinstance(op, (cst.Equal, cst.NotEqual)):
        if left.dim == right.dim:  # the same symbol: equal for every size
            return ConstValue(isinstance(op, cst.Equal))
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return None
    try:
        if isinstance(op, cst.Equal):
            return ConstValue(a == b)
        if isinstance(op, cst.NotEqual):
            return ConstValue(a != b)
        if isinstance(a, str) or isinstance(b, str):
            return None
        if isinstance(op, cst.LessThan):
            return ConstValue(a < b)
        if isinstance(op, cst.LessThanEqual):
            return ConstValue(a <= b)
        if isinstance(op, cst.GreaterThan):
            return ConstValue(a > b)
        if isinstance(op, cst.GreaterThanEqual):
            return ConstValue(a >= b)
    except TypeError:
        return None
    return None


def reads_shape(node: cst.BaseExpression) -> bool:
    """Whether a condition looks at a tensor's shape or rank (`x.dim() == 3`, `len(x.shape)`)."""
    stack: list[cst.CSTNode] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, cst.Attribute) and n.attr.value in _SHAPE_READS:
            return True
        if isinstance(n, cst.Call) and isinstance(n.func, cst.Name) and n.func.value in ("len", "isinstance"):
            return True
        stack.extend(child_nodes(n))
    return False
