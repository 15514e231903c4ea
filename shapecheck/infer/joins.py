"""Joining abstract values where control flow meets (mypy's binder, much smaller).

After `if/else` each name gets the join of its value on every branch that falls through; a loop
body is run once to see what it changes, its state is joined with the state before the loop,
and the body is run again from that joined state (one widening step: a dim that changes from
one iteration to the next becomes unknown, a rank that changes makes the shape unknown).
Anything the branches disagree on becomes unknown, never an error:

    if flag:  x = torch.zeros(b, 4)      # (b, 4)
    else:     x = torch.zeros(b, 5)      # (b, 5)
    x                                    # (b, ?)

Loops nested more than two deep skip the probe: names they assign start unknown (bounded work
on generated code). Known limits: no narrowing on conditions (`if x.dim() == 2:` does not refine `x`), and aliasing
is not modelled (`y = x; x.unsqueeze_(0)` leaves `y` stale: in-place ops keep shapes anyway).
"""

from __future__ import annotations

from collections.abc import Sequence

from shapecheck.infer.values import (
    UNKNOWN,
    ConstValue,
    DataValue,
    DictValue,
    DimValue,
    ListValue,
    ModuleValue,
    ObjectValue,
    ShapeValue,
    TensorValue,
    TupleValue,
    Value,
)
from shapecheck.shapes import Dim, Shape, Variadic


def join_dim(a: Dim, b: Dim) -> Dim:
    return a if (a == b and not a.is_unknown) else Dim.unknown()


def join_shape(a: Shape, b: Shape) -> Shape:
    if a.rank is None or b.rank is None:
        return a if (a.rank is None and b.rank is None and _same_dims(a, b)) else Shape.unknown()
    if a.rank != b.rank:
        return Shape.unknown()
    return Shape.of(*(join_dim(x, y) for x, y in zip(a.dims, b.dims)))


def _same_dims(a: Shape, b: Shape) -> bool:
    try:
        return tuple(a.dims) == tuple(b.dims) and any(isinstance(d, Variadic) for d in a.dims)
    except TypeError:
        return False


def _same(a: object, b: object) -> object | None:
    return a if a == b else None


def _dtype_class(d: str) -> str | None:
    if d in ("float", "int", "bool", "complex"):
        return d
    if d.startswith("float") or d in ("bfloat16", "half", "double"):
        return "float"
    if d.startswith(("int", "uint")) or d == "long":
        return "int"
    if d.startswith("complex"):
        return "complex"
    return None


def join_dtype(a: str | None, b: str | None) -> str | None:
    """Equal dtypes stay; `float32` and `float` (or `float16`) meet at the class `float`."""
    if a == b or a is None or b is None:
        return a if a == b else None
    ca, cb = _dtype_class(a), _dtype_class(b)
    return ca if ca is not None and ca == cb else None


def join(a: Value, b: Value) -> Value:
    if a is b:
        return a
    if isinstance(a, TensorValue) and isinstance(b, TensorValue):
        contiguous = a.contiguous if a.contiguous == b.contiguous else None
        return TensorValue(
            join_shape(a.shape, b.shape),
            dtype=join_dtype(a.dtype, b.dtype),
            device=_same(a.device, b.device),  # type: ignore[arg-type]
            contiguous=contiguous,
            requires_grad=_same(a.requires_grad, b.requires_grad),  # type: ignore[arg-type]
            origin=_same(a.origin, b.origin),  # type: ignore[arg-type]
            library=a.library if a.library == b.library else "torch",
        )
    if isinstance(a, DimValue) and isinstance(b, DimValue):
        return a if a.dim == b.dim and not a.dim.is_unknown else UNKNOWN
    if isinstance(a, ShapeValue) and isinstance(b, ShapeValue):
        return ShapeValue(join_shape(a.shape, b.shape))
    if isinstance(a, TupleValue) and isinstance(b, TupleValue) and len(a.items) == len(b.items):
        return TupleValue(tuple(join(x, y) for x, y in zip(a.items, b.items)))
    if isinstance(a, (ConstValue, ModuleValue)) and a == b:
        return a
    if (isinstance(a, ModuleValue) and isinstance(b, ModuleValue) and a.qualname == b.qualname
            and a.args == b.args and a.kwargs == b.kwargs and len(a.children) == len(b.children) and a.children):
        # two `ModuleList([Attention(..), FeedForward(..)])` built by one loop: members pairwise
        children = tuple(join(x, y) for x, y in zip(a.children, b.children))
        return UNKNOWN if any(c is UNKNOWN for c in children) else ModuleValue(a.qualname, a.args, a.kwargs, a.user_class, children)
    if isinstance(a, ObjectValue) and isinstance(b, ObjectValue) and a.qualname == b.qualname:
        return a
    if isinstance(a, DictValue) and isinstance(b, DictValue):
        keys = {k for k, _ in a.items} & {k for k, _ in b.items}
        items = tuple((k, join(v, b.get(k) or UNKNOWN)) for k, v in a.items if k in keys)
        partial = a.partial or b.partial or len(keys) < max(len(a.items), len(b.items))
        return DictValue(items, partial)
    if isinstance(a, (TupleValue, ListValue)) and isinstance(b, (TupleValue, ListValue)) and (
            isinstance(a, ListValue) or isinstance(b, ListValue)):
        return _join_lists(a, b)
    if isinstance(a, DataValue) and isinstance(b, DataValue) and a.kind == b.kind:
        item = join(a.item, b.item)
        return DataValue(a.kind, item, a.length if a.length == b.length else None) if item is not UNKNOWN else UNKNOWN
    return UNKNOWN


def join_env(a: dict[str, Value], b: dict[str, Value]) -> dict[str, Value]:
    """Names bound on only one side may be unbound on the other: unknown."""
    out: dict[str, Value] = {}
    for name in a.keys() | b.keys():
        if name in a and name in b:
            out[name] = join(a[name], b[name])
        else:
            out[name] = UNKNOWN
    return out


def join_all(values: Sequence[Value]) -> Value:
    """The join of one or more values (the returns of a function, the members of a list)."""
    out = values[0]
    for v in values[1:]:
        out = join(out, v)
    return out


def _join_lists(a: TupleValue | ListValue, b: TupleValue | ListValue) -> Value:
    """A list before a loop that appends, joined with the list after it: the same prefix, and a
    tail that may repeat."""
    pa, ta = (a.items, None) if isinstance(a, TupleValue) else (a.prefix, a.tail)
    pb, tb = (b.items, None) if isinstance(b, TupleValue) else (b.prefix, b.tail)
    if len(pa) != len(pb):
        return UNKNOWN
    prefix = tuple(join(x, y) for x, y in zip(pa, pb))
    tail = ta if tb is None else tb if ta is None else join(ta, tb)
    if tail is None or tail is UNKNOWN or any(v is UNKNOWN for v in prefix):
        return UNKNOWN
    return ListValue(prefix, tail)
