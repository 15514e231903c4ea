"""NumPy/PyTorch broadcasting over symbolic shapes, recording what happened on every axis.

Shapes are aligned from the right and padded with 1 on the left; on each axis the sizes must be
equal or 1. Concrete sizes decide; symbolic ones may only *assume*: `batch` against `seq` is
compatible if `batch == seq` (or one of them is 1), so the pair goes to `assumptions` and the
caller decides how loudly to say so (SC103). Only sizes that can never agree are a failure.

All axes in the result are NEGATIVE, counted from the right (-1 is the last axis): broadcasting
aligns on the right, so the same index names the axis in every operand and in the result, even
when a shape has a variadic segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shapecheck.shapes.dims import Dim, Facts, can_be_one, compare
from shapecheck.shapes.shape import Shape, Variadic

_PAD = "pad"  # the operand has no axis here (padded with 1)
_VAR = "var"  # the axis falls inside the operand's variadic segment (size unknown)


@dataclass(frozen=True)
class BroadcastFailure:
    """Sizes that definitely cannot broadcast on `axis` (negative, from the right).

    `operands` holds `(operand index, axis in that operand (negative), size)` for the clashing
    operands."""

    axis: int
    operands: tuple[tuple[int, int, Dim], ...]

    def __str__(self) -> str:
        parts = [f"{dim} (operand {i})" for i, _, dim in self.operands]
        return f"axis {self.axis}: " + " vs ".join(parts)


@dataclass
class BroadcastResult:
    """What `broadcast` found. `shape` is None on failure (then `error` says where)."""

    shape: Shape | None
    error: BroadcastFailure | None = None
    assumptions: list[tuple[Dim, Dim]] = field(default_factory=list)
    stretched: list[tuple[int, int]] = field(default_factory=list)
    is_trap: bool = False
    assumption_axes: list[int] = field(default_factory=list)  # the axis of each assumption

    @property
    def ok(self) -> bool:
        return self.error is None

    def stretched_operands(self, axis: int) -> list[int]:
        """Operand indices stretched (from 1 or by padding) on result axis `axis`."""
        return [i for i, a in self.stretched if a == axis]


def broadcast(*shapes: Shape, facts: Facts | None = None) -> BroadcastResult:
    """Broadcast shapes per NumPy/PyTorch. Unknown rank anywhere -> unknown result, no error."""
    if not shapes:
        return BroadcastResult(Shape.of())
    if any(s.is_unknown for s in shapes):
        return BroadcastResult(Shape.unknown())
    suffixes = [s.suffix for s in shapes]
    has_var = [s.variadic_index is not None for s in shapes]
    depth = max(len(sfx) for sfx in suffixes)
    var_lens = [len(sfx) for sfx, v in zip(suffixes, has_var) if v]
    fixed_depth = min(var_lens) if var_lens else depth

    result = BroadcastResult(None)
    out: list[Dim] = []
    absorbed_clean = True  # no fixed axis left of `fixed_depth`: the variadic passes through as is
    for k in range(1, depth + 1):
        contribs: list[Dim | str] = []
        for sfx, var in zip(suffixes, has_var):
            if k <= len(sfx):
                contribs.append(sfx[-k])
            else:
                contribs.append(_VAR if var else _PAD)
        dim = _broadcast_axis(-k, contribs, facts, result)
        if k <= fixed_depth:
            out.append(dim if dim is not None else Dim.unknown())
        elif any(isinstance(c, Dim) for c in contribs):
            absorbed_clean = False  # even a 1: `(*b, 3)` with `(1, 3)` is `(1, 3)` when b is empty
    if result.error is not None:
        result.shape = None
        result.stretched = []
        return result
    out.reverse()
    if var_lens:
        names = {s.variadic.name for s in shapes if s.variadic is not None}
        same = len(names) == 1 and absorbed_clean and all(len(s) == fixed_depth for s, v in zip(suffixes, has_var) if v)
        name = names.pop() if same else None
        # Padding on the left of the variadic cannot be represented; it lives inside the segment.
        result.stretched = [(i, a) for i, a in result.stretched if -a <= fixed_depth]
        result.shape = Shape((Variadic(name), *out))
    else:
        result.shape = Shape(tuple(out))
        stretched_ops = {i for i, _ in result.stretched}
        result.is_trap = len(shapes) >= 2 and all(i in stretched_ops for i in range(len(shapes)))
    return result


def _broadcast_axis(axis: int, contribs: list[Dim | str], facts: Facts | None, result: BroadcastResult) -> Dim | None:
    var_present = False
    known: list[tuple[int, Dim]] = []
    unknowns: list[tuple[int, Dim]] = []
    for i, c in enumerate(contribs):
        if c is _VAR:
            var_present = True
        elif c is not _PAD and c.value != 1:  # type: ignore[union-attr]
            (unknowns if c.is_unknown else known).append((i, c))  # type: ignore[union-attr,arg-type]

    dim: Dim | None
    if known and all(d == known[0][1] for _, d in known):  # the common case: one size, maybe stretched
        dim = known[0][1]
    elif known:
        rep_i, rep = next(((i, d) for i, d in known if not can_be_one(d, facts)), known[0])
        failed = False
        for i, d in known:
            if i == rep_i:
                continue
            verdict = compare(d, rep, facts)
            if verdict == "equal":
                continue
            if verdict == "different":
                if not can_be_one(d, facts):
                    if result.error is None:
                        result.error = BroadcastFailure(axis, ((rep_i, axis, rep), (i, axis, d)))
                    failed = True
                else:
                    _assume(result, axis, d, Dim.const(1))
            else:
                _assume(result, axis, *((rep, d) if rep_i < i else (d, rep)))  # in operand order
        dim = None if failed else rep
    elif unknowns:
        first = unknowns[0][1]
        dim = first if all(d == first for _, d in unknowns) and not var_present else Dim.unknown()
    else:
        dim = Dim.unknown() if var_present else Dim.const(1)

    if dim is not None and not dim.is_unknown and dim.value != 1:
        for i, c in enumerate(contribs):
            if c is _PAD or (c is not _VAR and c.value == 1):  # type: ignore[union-attr]
                result.stretched.append((i, axis))
    return dim


def _assume(result: BroadcastResult, axis: int, a: Dim, b: Dim) -> None:
    if (a, b) not in result.assumptions and (b, a) not in result.assumptions:
        result.assumptions.append((a, b))
        result.assumption_axes.append(axis)
