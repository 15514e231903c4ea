"""Abstract values the interpreter tracks. Anything not modelled is `UNKNOWN`: no finding
is ever reported on an unknown (silence on unknowns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from shapecheck.shapes import Dim, Shape


@dataclass(frozen=True)
class Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()


@dataclass(frozen=True)
class TensorValue:
    """A tensor (torch or NumPy). `shape` may be `Shape.unknown()`; other fields None = unknown.

    dtype: exact torch dtype name ("float32", "int64", "bool", ...) or a class ("float", "int",
    "bool", "complex") when only the class is known. device: "cpu", "cuda", "cuda:0", "meta".
    contiguous: False right after transpose/permute/T/mT/expand (for SC108).
    origin: the op that produced it ("softmax", "sigmoid", "transpose", "unsqueeze", "annotation"...),
    read by the explanation and by rules that care where a value came from.
    """

    shape: Shape
    dtype: str | None = None
    device: str | None = None
    contiguous: bool | None = True
    # For a permuted view of a contiguous tensor: axis k is axis layout[k] of that contiguous base
    # (so `.view()` can tell which axes still merge); None when contiguous or not known.
    layout: tuple[int, ...] | None = None
    requires_grad: bool | None = None
    origin: str | None = None
    library: str = "torch"  # "torch" or "numpy"


@dataclass(frozen=True)
class ConstValue:
    """A Python literal: int, float, bool, str, None (e.g. `dim=-1`, `keepdim=True`, an einsum equation)."""

    value: int | float | bool | str | None


@dataclass(frozen=True)
class DimValue:
    """A Python int known only symbolically: `x.shape[0]`, `self.d_model`, `d // h`."""

    dim: Dim


@dataclass(frozen=True)
class ShapeValue:
    """`x.shape` / `x.size()`: a torch.Size."""

    shape: Shape


@dataclass(frozen=True)
class TupleValue:
    items: tuple[Value, ...]


@dataclass(frozen=True)
class SliceValue:
    start: Value
    stop: Value
    step: Value


@dataclass(frozen=True)
class EllipsisValue:
    """The `...` in a subscript (`x[..., 0]`)."""

    def __repr__(self) -> str:
        return "ELLIPSIS"


ELLIPSIS = EllipsisValue()


@dataclass(frozen=True, eq=False)
class ObjectValue:
    """An instance of a user class of the project (`self` inside its methods, `model = Net()`).

    `attrs` holds what `__init__` assigned to `self.<name>` (modules, dims, tensors); `qualname`
    names the class. Used by the interpreter only; shape functions never receive one.
    """

    qualname: str
    attrs: dict[str, Value] = field(default_factory=dict)
    is_module: bool = False
    bindings: dict[str, Dim] = field(default_factory=dict)  # class dims fixed by constructor args
    constructed: bool = False  # built by a call the program makes (`Net(...)`), not `self` in the abstract


@dataclass(frozen=True)
class DeviceValue:
    device: str | None  # "cpu", "cuda", "cuda:0"; None when not known


@dataclass(frozen=True)
class DtypeValue:
    dtype: str  # "float32", "int64", ...


@dataclass(frozen=True)
class ModuleValue:
    """An instance of a known module class: `nn.Linear(512, 10)` (constructor args kept as values).

    For a user nn.Module subclass, `qualname` is the class's dotted name in the project and
    `user_class` is True; calling it runs the interpreter on its `forward`.
    """

    qualname: str
    args: tuple[Value, ...] = ()
    kwargs: tuple[tuple[str, Value], ...] = ()
    user_class: bool = False
    children: tuple[Value, ...] = field(default=())  # Sequential / ModuleList members

    def kwarg(self, name: str, position: int | None = None) -> Value | None:
        for k, v in self.kwargs:
            if k == name:
                return v
        if position is not None and position < len(self.args):
            return self.args[position]
        return None


@dataclass(frozen=True)
class DictValue:
    """A dict with string keys (`{'batch_size': 64}`, `dict(n_embd=128)`). `partial`: other keys
    may be present (a join of two dicts keeps only what both agree on)."""

    items: tuple[tuple[str, Value], ...]
    partial: bool = False

    def get(self, key: str) -> Value | None:
        for k, v in self.items:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class DataValue:
    """The data pipeline: a dataset (`kind="dataset"`: `ds[i]` is one sample) or a loader
    (`kind="loader"`: iterating yields one collated batch). `item` is the sample or the batch;
    `length` the dataset's size when known."""

    kind: str
    item: Value
    length: Dim | None = None


@dataclass(frozen=True)
class ListValue:
    """A list built by `append` in a loop: the items appended before the loop (`prefix`), then
    an unknown number (maybe none) of items like `tail` (ResNet's `make_layer`)."""

    prefix: tuple[Value, ...]
    tail: Value


@dataclass(frozen=True)
class ClassValue:
    """A project class used as a value (`ResNet(ResidualBlock, [2, 2, 2])`); calling it constructs."""

    qualname: str


Value = Union[
    Unknown, TensorValue, ConstValue, DimValue, ShapeValue, TupleValue, SliceValue,
    DeviceValue, DtypeValue, ModuleValue, EllipsisValue, ObjectValue, DictValue, DataValue,
    ListValue, ClassValue,
]


def as_int(value: Value | None) -> int | None:
    """A concrete Python int, or None."""
    if isinstance(value, ConstValue) and isinstance(value.value, int) and not isinstance(value.value, bool):
        return value.value
    if isinstance(value, DimValue):
        return value.dim.value
    return None


def as_dim(value: Value | None) -> Dim | None:
    """A size as a Dim (concrete or symbolic), or None."""
    if isinstance(value, DimValue):
        return value.dim
    n = as_int(value)
    return Dim.const(n) if n is not None else None
