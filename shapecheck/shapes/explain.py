"""Shape explanations in the course's style: shapes aligned from the right, one column per axis,
a caret line under the axis that failed or was stretched, then one sentence per axis.

    pred   :    (N)
    target : (N, 1)
    result : (N, N)
              ^  ^
    axis -2: pred has no axis here: padded to (1, N), then stretched to N
    axis -1: target's 1 is stretched to N (from pred)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shapecheck.shapes.broadcast import BroadcastResult
from shapecheck.shapes.dims import Dim
from shapecheck.shapes.shape import Shape

INDENT = "  "
UNKNOWN_RANK = str(Shape.unknown())


def _cells(shape: Shape | None) -> list[str] | None:
    if shape is None or shape.is_unknown:
        return None
    return [str(a) for a in shape.axes]


class _Grid:
    """Right-aligned columns of axis cells; remembers where each column starts."""

    def __init__(self, rows: list[list[str] | None]) -> None:
        self.ncols = max((len(r) for r in rows if r is not None), default=0)
        self.widths = [1] * self.ncols
        for r in rows:
            if r is None:
                continue
            offset = self.ncols - len(r)
            for j, cell in enumerate(r):
                self.widths[offset + j] = max(self.widths[offset + j], len(cell))
        natural = 1 + sum(self.widths) + 2 * max(self.ncols - 1, 0) + 1
        self.total = max(natural, len(UNKNOWN_RANK)) if any(r is None for r in rows) else natural
        self.starts = []
        pos = 1 + self.total - natural  # shift right when a wider "(*?)" sets the width
        for w in self.widths:
            self.starts.append(pos)
            pos += w + 2

    def render(self, cells: list[str] | None, fallback: str) -> str:
        if cells is None:
            return fallback.rjust(self.total)
        if not cells:
            return "()".rjust(self.total)
        first = self.ncols - len(cells)
        parts = [" " * (self.starts[first] - 1), "("]
        for j, cell in enumerate(cells):
            col = first + j
            parts.append(cell.rjust(self.widths[col]))
            parts.append(", " if j < len(cells) - 1 else ")")
        return "".join(parts)

    def carets(self, right_axes: Sequence[int]) -> str:
        """Carets under the columns of the given negative axes."""
        line = [" "] * self.total
        for axis in right_axes:
            col = self.ncols + axis
            if 0 <= col < self.ncols:
                for k in range(self.starts[col], self.starts[col] + self.widths[col]):
                    line[k] = "^"
        return "".join(line).rstrip()


def _has_symbols(shape: Shape) -> bool:
    return any(isinstance(a, Dim) and a.symbols() for a in shape.axes)


def _fill(shape: Shape, values: Mapping[str, int]) -> Shape:
    """The shape with known sizes substituted (what the user saw at run time)."""
    env = {k: Dim.const(v) for k, v in values.items()}
    return Shape(tuple(a.substitute(env) if isinstance(a, Dim) else a for a in shape.axes))


def _padded(shape: Shape, rank: int) -> str:
    missing = rank - len(shape.axes)
    return str(Shape(tuple([Dim.const(1)] * max(missing, 0)) + shape.axes))


def explain_broadcast(
    shapes: Sequence[Shape],
    labels: Sequence[str],
    result: BroadcastResult,
    values: Mapping[str, int] | None = None,
) -> list[str]:
    """Lines showing how `shapes` broadcast (or fail to), labelled by `labels`.

    With `values` (dim sizes seen at run time, `{"N": 64}`), a second column shows the same
    shapes with the sizes filled in, as the course does: `(N, 1)    (64, 1)`."""
    labels = list(labels) + [f"operand {i}" for i in range(len(labels), len(shapes))]
    names = labels[: len(shapes)] + ["result"]
    all_shapes = list(shapes) + [result.shape]
    rows = [_cells(s) for s in all_shapes]
    grid = _Grid(rows)
    concrete: list[str] | None = None
    if values and any(s is not None and not s.is_unknown and _has_symbols(s) for s in all_shapes):
        filled = [_cells(_fill(s, values)) if s is not None else None for s in all_shapes]
        second = _Grid(filled)
        concrete = [second.render(row, UNKNOWN_RANK) if s is not None else "" for row, s in zip(filled, all_shapes)]
    width = max(len(n) for n in names)
    lines: list[str] = []
    for k, (name, shape, row) in enumerate(zip(names, all_shapes, rows)):
        text = "fails" if shape is None else grid.render(row, UNKNOWN_RANK)
        if concrete is not None and concrete[k]:
            text = text.ljust(grid.total) + "    " + concrete[k]
        lines.append(f"{INDENT}{name.ljust(width)} : {text}")
    prefix = INDENT + " " * width + "   "
    notes: list[str] = []
    marked: list[int] = []
    if result.error is not None:
        err = result.error
        marked.append(err.axis)
        sizes = ", ".join(f"{labels[i]} has {dim}" for i, _, dim in err.operands)
        notes.append(f"axis {err.axis}: {sizes}: sizes must be equal, or one of them 1")
    else:
        assert result.shape is not None
        notes.extend(_stretch_notes(shapes, labels, result, marked))
        for (a, b), axis in zip(result.assumptions, result.assumption_axes or [None] * len(result.assumptions)):
            where = f"axis {axis}: " if axis is not None else ""
            if axis is not None:
                marked.append(axis)
            if a.is_const and not b.is_const:
                a, b = b, a  # `batch == 10` reads better than `10 == batch`
            if b.value == 1 and a.value != 1:
                notes.append(f"{where}assumes {a} == 1: otherwise it cannot broadcast")
            else:
                notes.append(f"{where}assumes {a} == {b}: sizes broadcast only when equal or one of them is 1")
        if result.is_trap:
            notes.append(f"the result {result.shape} is larger than every input")
    if marked:
        lines.append(prefix + grid.carets(marked).lstrip("\n"))
    lines.extend(INDENT + n for n in notes)
    return [line.rstrip() for line in lines]


def _stretch_notes(
    shapes: Sequence[Shape], labels: Sequence[str], result: BroadcastResult, marked: list[int]
) -> list[str]:
    """One line per stretched operand: which axes, padded to what, stretched to whose size."""
    res = result.shape
    assert res is not None
    notes: list[str] = []
    for i, shape in enumerate(shapes):
        axes = sorted(a for j, a in result.stretched if j == i)
        if not axes:
            continue
        marked.extend(axes)
        rank = shape.rank
        padded = [a for a in axes if rank is not None and -a > rank]
        ones = [a for a in axes if a not in padded]
        for group, how in ((padded, "padded"), (ones, "ones")):
            if not group:
                continue
            targets = ", ".join(_sourced(shapes, labels, result, a) for a in group)
            where = ("axis " if len(group) == 1 else "axes ") + ", ".join(str(a) for a in group)
            if how == "padded":
                full = _padded(shape, res.rank if res.rank is not None else -group[0])
                notes.append(f"{where}: {labels[i]} padded to {full} and stretched to {targets}")
            else:
                notes.append(f"{where}: {_possessive(labels[i])} 1 stretched to {targets}")
    return notes


def _possessive(label: str) -> str:
    return f"{label}'" if label.endswith("s") else f"{label}'s"


def _sourced(shapes: Sequence[Shape], labels: Sequence[str], result: BroadcastResult, axis: int) -> str:
    """`target's N`: the size on `axis` and the first operand that brought it."""
    assert result.shape is not None
    size = result.shape[axis]
    for j in range(len(shapes)):
        if (j, axis) not in result.stretched:
            return f"{_possessive(labels[j])} {size}"
    return str(size)


def explain_mismatch(a: Shape, b: Shape, labels: Sequence[str], axis_a: int, axis_b: int) -> list[str]:
    """Two shapes whose axes `axis_a` of `a` and `axis_b` of `b` must agree (matmul, cat, linear).

        x      : (B, 784)
                     ^^^
        weight : (10, 512)
                      ^^^
        x's axis -1 (784) must equal weight's axis -1 (512)
    """
    la, lb = (list(labels) + ["a", "b"])[:2] if len(labels) < 2 else list(labels)[:2]
    width = max(len(la), len(lb))
    lines: list[str] = []
    for label, shape, axis in ((la, a, axis_a), (lb, b, axis_b)):
        lines.append(f"{INDENT}{label.ljust(width)} : {shape}")
        caret = _caret_under(shape, axis)
        if caret:
            lines.append(INDENT + " " * width + "   " + caret)
    lines.append(f"{INDENT}{_possessive(la)} axis {axis_a} ({_dim_at(a, axis_a)}) must equal "
                 f"{_possessive(lb)} axis {axis_b} ({_dim_at(b, axis_b)})")
    return lines


def _dim_at(shape: Shape, axis: int) -> str:
    try:
        return str(shape[axis])
    except IndexError:
        return "?"


def _caret_under(shape: Shape, axis: int) -> str:
    if shape.is_unknown:
        return ""
    cells = [str(x) for x in shape.axes]
    n = len(cells)
    vi = shape.variadic_index
    if vi is None:
        j = axis + n if axis < 0 else axis
    else:
        j = axis + n if axis < 0 else axis
        if (axis < 0 and j <= vi) or (axis >= 0 and j >= vi):
            return ""
    if not 0 <= j < n:
        return ""
    start = 1 + sum(len(c) + 2 for c in cells[:j])
    return " " * start + "^" * len(cells[j])
