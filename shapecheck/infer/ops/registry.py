"""The op registry: one shape function per op, registered under every name it is called by.

Names are: qualified function names (`torch.matmul`, `torch.nn.functional.linear`,
`numpy.matmul`), tensor methods as `Tensor.<name>` (`Tensor.view`; the receiver is `args[0]`),
operators by symbol (`+`, `-`, `*`, `/`, `//`, `%`, `**`, `@`, `==`, `<`, ..., unary `-u`, `~`),
and module classes by qualified class name (`torch.nn.Linear`) in `MODULES`.

How the interpreter calls you (shapecheck/infer/interpreter.py):
- methods: `x.view(b, -1)` -> `Tensor.view` with args `[x, b, -1]`; properties `x.T`, `x.mT`, `x.H`
  -> `Tensor.T` / `Tensor.mT` with args `[x]`.
- subscripts: `x[a, b]` -> `__getitem__` with args `[x, index]` where `index` is one Value: a
  `TupleValue` for several items, `SliceValue` for `a:b`, `ConstValue(None)` for `None`,
  `ELLIPSIS` for `...`, a `TensorValue` for masks / index tensors.
- starred arguments are expanded when their length is known (`*x.shape[:-1]`); when not, the op
  is not called at all and the result is UNKNOWN.
- `x.shape`, `x.size()`, `x.size(i)`, `x.dim()`, `x.ndim`, `x.numel()`, `len(x)`, `x.device`,
  `x.dtype` are answered by the interpreter (not registered ops).
- `torch.nn.Sequential` / `ModuleList` / `ModuleDict` are handled by the interpreter (chaining,
  loops); register shape functions for leaf modules only. Calling a ModuleValue `m(x)` ->
  `MODULES[m.qualname](m, OpCall(name=m.qualname, args=[x, ...]))`.
- `call.facts` is the function's `shapecheck.shapes.Facts`: the interpreter already records
  `b | a` for every `a // b` size passed to view/reshape/unflatten and for `assert a % b == 0`.
- SC102 findings: the interpreter drops them when an operand's `origin` shows explicit intent
  (`unsqueeze`, `index-none`, `einsum`, `einops`, `view`, `reshape`, `expand`), so set `origin`.
- SC109, SC110, SC111, SC104 and SC190 are the interpreter's; do not report them.

A shape function takes an `OpCall` and returns a `Value`. When operands cannot combine it calls
`call.report(...)` and returns `UNKNOWN` (one bad matmul, one SC101: after an error the result
is unknown, as mypy does). When anything it needs is unknown it returns `UNKNOWN` or a tensor
of unknown shape, and reports nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shapecheck.infer.values import UNKNOWN, ModuleValue, Value


@dataclass
class ShapeFinding:
    """A finding raised by a shape function; the shape rules turn these into diagnostics."""

    code: str  # "SC101", "SC102", "SC103", "SC105", "SC106", "SC107", "SC108", "SC111" ...
    message: str
    notes: list[str] = field(default_factory=list)
    node: Any = None  # libcst node to report at; defaults to the call
    severity: str | None = None  # "error"/"warning" to override the code's default (SC105 is W or E)


@dataclass
class OpCall:
    name: str  # the registered name it was called by
    args: list[Value]
    kwargs: dict[str, Value]
    node: Any = None  # the libcst Call / BinaryOperation / Subscript
    arg_nodes: list[Any] = field(default_factory=list)  # libcst nodes of args, when available
    facts: Any = None  # shapecheck.shapes facts in scope (divisibility, equalities)
    findings: list[ShapeFinding] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # source text of each arg, for messages

    def arg(self, position: int, name: str | None = None, default: Value | None = None) -> Value | None:
        if name is not None and name in self.kwargs:
            return self.kwargs[name]
        if position < len(self.args):
            return self.args[position]
        return default

    def label(self, position: int, fallback: str = "") -> str:
        if position < len(self.labels) and self.labels[position]:
            return self.labels[position]
        return fallback or f"argument {position + 1}"

    def report(
        self,
        code: str,
        message: str,
        notes: list[str] | None = None,
        node: Any = None,
        severity: str | None = None,
    ) -> None:
        self.findings.append(ShapeFinding(code, message, list(notes or []), node or self.node, severity))


OpFunction = Callable[[OpCall], Value]
ModuleFunction = Callable[[ModuleValue, OpCall], Value]

OPS: dict[str, OpFunction] = {}
MODULES: dict[str, ModuleFunction] = {}


def op(*names: str) -> Callable[[OpFunction], OpFunction]:
    def register(fn: OpFunction) -> OpFunction:
        for name in names:
            if name in OPS and OPS[name] is not fn:
                raise RuntimeError(f"op {name!r} registered twice: {OPS[name].__name__} and {fn.__name__}")
            OPS[name] = fn
        return fn

    return register


def module(*names: str) -> Callable[[ModuleFunction], ModuleFunction]:
    """Register the shape function of calling an instance of module class(es) `names`."""

    def register(fn: ModuleFunction) -> ModuleFunction:
        for name in names:
            if name in MODULES and MODULES[name] is not fn:
                raise RuntimeError(f"module {name!r} registered twice")
            MODULES[name] = fn
        return fn

    return register


def lookup(name: str) -> OpFunction | None:
    _load_families()
    return OPS.get(name)


def lookup_module(qualname: str) -> ModuleFunction | None:
    _load_families()
    return MODULES.get(qualname)


def call_op(name: str, call: OpCall) -> Value:
    fn = lookup(name)
    return fn(call) if fn is not None else UNKNOWN


_loaded = False
_load_error: Exception | None = None
NOT_FAMILIES = ("registry", "coverage")  # modules of this package that register no ops


def _load_families() -> None:
    """Import every family module once so their decorators register.

    A family that fails to import fails every lookup (each file then reports SC903), never
    just the first one: a half-filled registry would silently check less."""
    global _loaded, _load_error
    if _loaded:
        if _load_error is not None:
            raise _load_error
        return
    _loaded = True
    import importlib
    import pkgutil

    import shapecheck.infer.ops as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name not in NOT_FAMILIES and not info.name.startswith("_"):
            try:
                importlib.import_module(f"shapecheck.infer.ops.{info.name}")
            except Exception as exc:  # noqa: BLE001 - re-raised on every lookup
                _load_error = _load_error or exc
    if _load_error is not None:
        raise _load_error
