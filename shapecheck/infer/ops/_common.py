"""Helpers shared by the shape functions: reading arguments as tensors, dims and dim lists,
normalising `dim=` arguments (negative dims, SC106), and building result tensors.

Everything here follows the registry's rule: when something is not known, say so (`None`) and
let the caller return an unknown result without a finding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from shapecheck.infer import messages
from shapecheck.infer.ops.registry import OpCall
from shapecheck.infer.values import (
    UNKNOWN,
    ConstValue,
    ShapeValue,
    TensorValue,
    TupleValue,
    Value,
    as_dim,
    as_int,
)
from shapecheck.shapes import Dim, Shape

# Origins that say "the extra axis is on purpose": an elementwise op fed by one of these does
# not get an SC102 broadcast-trap warning (`x[:, None] - x[None, :]` is a pairwise difference).
EXPLICIT_ORIGINS = frozenset({"unsqueeze", "index-none", "einsum", "einops", "view", "reshape", "expand"})


def tensor(value: Value | None) -> TensorValue | None:
    return value if isinstance(value, TensorValue) else None


def rank_of(value: Value | None) -> int | None:
    t = tensor(value)
    return None if t is None else t.shape.rank


def unknown_like(t: TensorValue | None, **changes: object) -> Value:
    """A tensor of unknown shape that keeps what is known of `t` (dtype, device)."""
    if t is None:
        return UNKNOWN
    return dataclasses.replace(t, shape=Shape.unknown(), **changes)  # type: ignore[arg-type]


def rank_only(t: TensorValue, rank: int, **changes: object) -> TensorValue:
    """A tensor of known rank whose sizes are not known (`x.transpose(i, j)` with `i`, `j` unknown):
    what is known of `t` (dtype, device) is kept."""
    return dataclasses.replace(t, shape=Shape.of(*[Dim.unknown()] * rank), **changes)  # type: ignore[arg-type]


def is_none(value: Value | None) -> bool:
    return isinstance(value, ConstValue) and value.value is None


def as_bool(value: Value | None, default: bool | None = None) -> bool | None:
    """True/False for a literal bool (or 0/1), `default` when absent, None when unknown."""
    if value is None:
        return default
    if isinstance(value, ConstValue) and isinstance(value.value, (bool, int)):
        return bool(value.value)
    return None


def as_float(value: Value | None) -> float | None:
    if isinstance(value, ConstValue) and isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
        return float(value.value)
    return None


def as_str(value: Value | None) -> str | None:
    if isinstance(value, ConstValue) and isinstance(value.value, str):
        return value.value
    return None


def int_items(value: Value | None) -> list[int] | None:
    """A tuple/list of literal ints (or a single int as a one-item list), else None."""
    if isinstance(value, TupleValue):
        out = [as_int(item) for item in value.items]
        return None if any(v is None for v in out) else out  # type: ignore[return-value]
    n = as_int(value)
    return None if n is None else [n]


def dim_items(value: Value | None) -> list[Dim] | None:
    """Sizes given as a tuple/list/torch.Size (or one size), as Dims; None if any is unknown."""
    if isinstance(value, ShapeValue):
        if value.shape.rank is None:
            return None
        return [value.shape[i] for i in range(value.shape.rank)]
    if isinstance(value, TupleValue):
        out: list[Dim] = []
        for item in value.items:
            d = as_dim(item)
            if d is None:
                return None
            out.append(d)
        return out
    d = as_dim(value)
    return None if d is None else [d]


def size_args(call: OpCall, start: int, keyword: str = "size") -> list[Dim] | None:
    """Sizes given as varargs (`zeros(2, 3)`, `view(b, -1)`) or one sequence (`zeros((2, 3))`,
    `view(x.shape)`), or by keyword (`zeros(size=(2, 3))`)."""
    if keyword in call.kwargs:
        return dim_items(call.kwargs[keyword])
    rest = call.args[start:]
    if len(rest) == 1 and isinstance(rest[0], (TupleValue, ShapeValue)):
        return dim_items(rest[0])
    out: list[Dim] = []
    for item in rest:
        d = as_dim(item)
        if d is None:
            return None
        out.append(d)
    return out


def dim_items_partial(value: Value | None) -> list[Dim] | None:
    """As `dim_items`, but when the number of sizes is known (a tuple/list literal, a torch.Size of
    known rank) an item that is not known becomes an unknown dim: `(n, 3)` with `n` unknown is
    a rank-2 shape `(?, 3)`. None when even the count is unknown."""
    exact = dim_items(value)
    if exact is not None:
        return exact
    if not isinstance(value, TupleValue):
        return None
    out: list[Dim] = []
    for item in value.items:
        if isinstance(item, (TupleValue, ShapeValue)):
            return None  # nested sizes are not a shape
        d = as_dim(item)
        out.append(d if d is not None else Dim.unknown())
    return out


def size_args_partial(call: OpCall, start: int, keyword: str = "size") -> list[Dim] | None:
    """As `size_args`, keeping the rank when some sizes are not known: `zeros(n, m)` and
    `view(b, -1)` with `n`, `m`, `b` unknown have rank 2 (several varargs are each one size; a
    single unknown argument could be a whole tuple, so its rank stays unknown)."""
    exact = size_args(call, start, keyword)
    if exact is not None:
        return exact
    if keyword in call.kwargs:
        return dim_items_partial(call.kwargs[keyword])
    rest = call.args[start:]
    if len(rest) == 1:
        return dim_items_partial(rest[0])
    out: list[Dim] = []
    for item in rest:
        if isinstance(item, (TupleValue, ShapeValue)):
            return None
        d = as_dim(item)
        out.append(d if d is not None else Dim.unknown())
    return out or None


def normalize_dim(call: OpCall, dim: int, rank: int, *, extra: int = 0, label: str = "dim") -> int | None:
    """`dim` in [-rank-extra, rank+extra) made non-negative; SC106 and None when out of range.

    `extra` is 1 for ops that may address one past the end (`unsqueeze`, `stack`). As torch does,
    a scalar (rank 0) accepts dim 0 and -1.
    """
    # (NumPy is not consistent on 0-d arrays: np.sum accepts axis=0, np.mean rejects it; we accept)
    size = max(rank + extra, 1)
    if -size <= dim < size:
        return dim + size if dim < 0 else dim
    call.report("SC106", *messages.dim_out_of_range(_op_name(call), label, dim, rank + extra))
    return None


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


ABSENT = _Sentinel("ABSENT")  # the argument was not given (or given as None)
UNSURE = _Sentinel("UNSURE")  # given, but its value is not known
ERROR = _Sentinel("ERROR")  # known and wrong: already reported


def dim_arg(call: OpCall, position: int, rank: int, *, name: str = "dim", extra: int = 0) -> int | _Sentinel:
    """Read and normalise one dim argument: an int, or ABSENT / UNSURE / ERROR (reported)."""
    value = call.arg(position, name)
    if value is None or is_none(value):
        return ABSENT
    n = as_int(value)
    if n is None:
        return UNSURE
    d = normalize_dim(call, n, rank, extra=extra, label=name)
    return ERROR if d is None else d


def dims_arg(call: OpCall, position: int, rank: int, *, name: str = "dim") -> list[int] | _Sentinel:
    """A dim or a tuple/list of dims, normalised; ABSENT / UNSURE / ERROR as `dim_arg`."""
    value = call.arg(position, name)
    if value is None or is_none(value):
        return ABSENT
    items = int_items(value)
    if items is None:
        return UNSURE
    out: list[int] = []
    for item in items:
        d = normalize_dim(call, item, rank, label=name)
        if d is None:
            return ERROR
        out.append(d)
    if len(set(out)) != len(out):
        call.report("SC106", *messages.dim_repeated(_op_name(call), items))
        return ERROR
    return out


def product(dims: Iterable[Dim]) -> Dim:
    total = Dim.const(1)
    for d in dims:
        total = total * d
    return total


def _op_name(call: OpCall) -> str:
    name = call.name
    if name.startswith("Tensor."):
        return "." + name[len("Tensor."):] + "()"
    return name.rsplit(".", 1)[-1] + "()" if name[:1].isalpha() else name


def op_title(call: OpCall) -> str:
    """How messages name the op: `.view()`, `matmul()`, `@`."""
    return _op_name(call)


def tail(shape: Shape, n: int) -> list[Dim] | None:
    """The last `n` dims, known even behind a variadic prefix (`(*batch, seq, d)`); None if not."""
    if not shape.known:
        return None
    suffix = shape.suffix
    return list(suffix[len(suffix) - n:]) if len(suffix) >= n else None


def with_prefix(shape: Shape, drop: int, new: Sequence[Dim]) -> Shape | None:
    """`shape` with its last `drop` dims replaced by `new`, keeping any variadic prefix:
    `(*batch, seq, d)` -> `(*batch, seq, out)` for a Linear."""
    if tail(shape, drop) is None:
        return None
    axes = list(shape.axes)
    kept = axes[: len(axes) - drop] if drop else axes
    return Shape.of(*kept, *new)
