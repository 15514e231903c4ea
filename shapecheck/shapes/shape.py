"""Tensor shapes: a tuple of `Dim`s with at most one variadic segment, or entirely unknown rank."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

from shapecheck.shapes.dims import Dim
from shapecheck.shapes.expr import evaluate_expr


@dataclass(frozen=True)
class Variadic:
    """Any number of axes: `*batch` (named) or `...` (anonymous, name None)."""

    name: str | None = None

    def __str__(self) -> str:
        return f"*{self.name}" if self.name else "..."


Axis = Union[Dim, Variadic]


def _as_axis(x: Dim | Variadic | int | str) -> Axis:
    if isinstance(x, (Dim, Variadic)):
        return x
    if isinstance(x, str):
        if x == "...":
            return Variadic(None)
        if x.startswith("*"):
            return Variadic(x[1:] or None)
        if x.isidentifier():
            return Dim.sym(x)
        dim = evaluate_expr(x)
        if dim.is_unknown:
            raise ValueError(f"not a size expression: {x!r}")
        return dim
    if isinstance(x, int) and not isinstance(x, bool):
        return Dim.const(x)
    raise TypeError(f"not a dimension: {x!r}")


class Shape:
    """A tensor shape. `Shape.of(2, "n", "d // h", "*b")`; `Shape.unknown()` for an unknown rank.

    In `Shape.of`, an int is a constant, an identifier a symbol, another string a size expression
    (`"n + 1"`), `"*name"` / `"..."` a variadic segment.

    `rank` is None for an unknown shape or one with a variadic; `len()` works only when the rank
    is known. Indexing returns a `Dim` (negative indices ok); an index that falls in a variadic
    or an unknown shape gives a fresh unknown dim.
    """

    __slots__ = ("_axes", "_unknown", "_hash", "_variadic_index")

    def __init__(self, axes: tuple[Axis, ...] = (), unknown: bool = False) -> None:
        if not unknown and sum(isinstance(a, Variadic) for a in axes) > 1:
            raise ValueError("a shape has at most one variadic segment")
        self._axes: tuple[Axis, ...] = () if unknown else tuple(axes)
        self._unknown = unknown
        self._hash = hash(("?shape",)) if unknown else hash(self._axes)
        self._variadic_index: int | None = None
        for i, a in enumerate(self._axes):
            if isinstance(a, Variadic):
                self._variadic_index = i

    @staticmethod
    def of(*dims: Dim | Variadic | int | str) -> Shape:
        return Shape(tuple(_as_axis(d) for d in dims))

    @staticmethod
    def unknown() -> Shape:
        return Shape((), unknown=True)

    @staticmethod
    def scalar() -> Shape:
        return Shape(())

    # ----- structure ----------------------------------------------------------------------
    @property
    def known(self) -> bool:
        """False only for a shape of entirely unknown rank."""
        return not self._unknown

    @property
    def is_unknown(self) -> bool:
        return self._unknown

    @property
    def rank(self) -> int | None:
        if self._unknown or self.variadic_index is not None:
            return None
        return len(self._axes)

    @property
    def min_rank(self) -> int:
        """Number of fixed axes (the rank when there is no variadic)."""
        return sum(1 for a in self._axes if isinstance(a, Dim))

    @property
    def axes(self) -> tuple[Axis, ...]:
        """All entries, a `Variadic` marker included; () for an unknown shape."""
        return self._axes

    @property
    def dims(self) -> tuple[Axis, ...]:
        """Same as `axes`: the dims in order, with the `Variadic` marker where there is one
        (`prefix`/`suffix` give the plain dims around it)."""
        return self._axes

    @property
    def variadic_index(self) -> int | None:
        return self._variadic_index

    @property
    def variadic(self) -> Variadic | None:
        i = self.variadic_index
        v = self._axes[i] if i is not None else None
        return v if isinstance(v, Variadic) else None

    @property
    def prefix(self) -> tuple[Dim, ...]:
        """Dims before the variadic (all dims when there is none)."""
        i = self.variadic_index
        return self._axes if i is None else tuple(self._axes[:i])  # type: ignore[return-value]

    @property
    def suffix(self) -> tuple[Dim, ...]:
        """Dims after the variadic (all dims when there is none): the right-aligned known part."""
        i = self.variadic_index
        return self._axes if i is None else tuple(self._axes[i + 1:])  # type: ignore[return-value]

    def __bool__(self) -> bool:
        return True  # a Shape is always truthy: `if shape:` must not depend on (or need) the rank

    def __len__(self) -> int:
        r = self.rank
        if r is None:
            raise TypeError(f"rank of {self} is not known")
        return r

    def __iter__(self) -> Iterator[Dim]:
        r = self.rank
        if r is None:
            raise TypeError(f"cannot iterate over {self}: rank is not known")
        return iter(self._axes)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> Dim:
        if not isinstance(i, int):
            raise TypeError("Shape indices must be ints; use .axes for slicing")
        if self._unknown:
            return Dim.unknown()
        vi = self.variadic_index
        if vi is None:
            if -len(self._axes) <= i < len(self._axes):
                return self._axes[i]  # type: ignore[return-value]
            raise IndexError(f"axis {i} out of range for {self}")
        if i >= 0:
            return self._axes[i] if i < vi else Dim.unknown()  # type: ignore[return-value]
        after = len(self._axes) - vi - 1
        return self._axes[i] if -i <= after else Dim.unknown()  # type: ignore[return-value]

    def numel(self) -> Dim | None:
        """Product of the dims; None when the rank is not known."""
        if self.rank is None:
            return None
        total = Dim.const(1)
        for d in self._axes:
            total = total * d  # type: ignore[operator]
        return total

    def replace(self, i: int, dim: Dim | int | str) -> Shape:
        """A copy with axis `i` (known rank) replaced."""
        n = len(self)
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(f"axis {i} out of range for {self}")
        axes = list(self._axes)
        axes[j] = _as_axis(dim)
        return Shape(tuple(axes))

    # ----- equality & printing ------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Shape):
            return NotImplemented
        if self._unknown or other._unknown:
            return self is other  # two unknown shapes are not known to be equal
        return self._axes == other._axes

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple:
        return (Shape, (self._axes, self._unknown))  # re-hash on unpickling (str hashes differ per process)

    def __str__(self) -> str:
        if self._unknown:
            return "(*?)"
        return "(" + ", ".join(str(a) for a in self._axes) + ")"

    def __repr__(self) -> str:
        return f"Shape{self}"
