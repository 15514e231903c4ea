"""Element-wise ops: binary arithmetic and comparisons (broadcasting), unary math, activations,
`where`, `clamp`, `masked_fill`, shape-preserving functional ops (dropout, normalize).

Broadcasting is the domain's `broadcast`; this module turns its result into findings:
SC101 when the shapes cannot broadcast for any sizes, SC103 when they only can if two
differently named dims are equal, SC102 when the result is larger than every operand (the
`(N,) - (N, 1) -> (N, N)` trap) unless an operand's axis was added on purpose (`origin`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from shapecheck.infer import messages
from shapecheck.infer.ops._common import (
    EXPLICIT_ORIGINS,
    ABSENT,
    ERROR,
    dim_arg,
    normalize_dim,
    op_title,
    rank_of,
    tensor,
)
from shapecheck.infer.ops.registry import OpCall, op
from shapecheck.infer.values import UNKNOWN, ConstValue, DimValue, TensorValue, Value, as_dim
from shapecheck.shapes import BroadcastResult, Dim, Shape, broadcast, compare

# operator symbol -> (torch function names, Tensor method names, numpy function names)
_ARITH: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "+": (("add",), ("add", "__add__", "__radd__"), ("add",)),
    "-": (("sub", "subtract"), ("sub", "subtract", "__sub__", "__rsub__"), ("subtract",)),
    "*": (("mul", "multiply"), ("mul", "multiply", "__mul__", "__rmul__"), ("multiply",)),
    "/": (("div", "divide", "true_divide"), ("div", "divide", "true_divide", "__truediv__"), ("divide", "true_divide")),
    "//": (("floor_divide",), ("floor_divide", "__floordiv__"), ("floor_divide",)),
    "%": (("remainder", "fmod"), ("remainder", "fmod", "__mod__"), ("remainder", "mod", "fmod")),
    "**": (("pow", "float_power"), ("pow", "float_power", "__pow__"), ("power", "float_power")),
    "&": (("bitwise_and", "logical_and"), ("bitwise_and", "logical_and", "__and__"), ("bitwise_and", "logical_and")),
    "|": (("bitwise_or", "logical_or"), ("bitwise_or", "logical_or", "__or__"), ("bitwise_or", "logical_or")),
    "^": (("bitwise_xor", "logical_xor"), ("bitwise_xor", "logical_xor", "__xor__"), ("bitwise_xor", "logical_xor")),
}
_COMPARE: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "==": (("eq",), ("eq", "__eq__"), ("equal",)),
    "!=": (("ne", "not_equal"), ("ne", "not_equal", "__ne__"), ("not_equal",)),
    "<": (("lt", "less"), ("lt", "less", "__lt__"), ("less",)),
    "<=": (("le", "less_equal"), ("le", "less_equal", "__le__"), ("less_equal",)),
    ">": (("gt", "greater"), ("gt", "greater", "__gt__"), ("greater",)),
    ">=": (("ge", "greater_equal"), ("ge", "greater_equal", "__ge__"), ("greater_equal",)),
}
_OTHER_BINARY = ("maximum", "minimum", "fmax", "fmin", "atan2", "hypot", "copysign", "xlogy", "nextafter")

_INT_DTYPES = frozenset({"int", "int8", "int16", "int32", "int64", "uint8", "bool"})


def _names(torch_fns: Sequence[str], methods: Sequence[str], numpy_fns: Sequence[str]) -> list[str]:
    names = [f"torch.{n}" for n in torch_fns]
    names += [f"Tensor.{n}" for n in methods] + [f"torch.Tensor.{n}" for n in methods]
    names += [f"numpy.{n}" for n in numpy_fns]
    return names


def _is_operand(value: Value) -> bool:
    return isinstance(value, (TensorValue, DimValue)) or (
        isinstance(value, ConstValue) and isinstance(value.value, (int, float, bool))
    )


def _result_dtype(tensors: Sequence[TensorValue], symbol: str) -> str | None:
    if symbol in _COMPARE:
        return "bool"
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) != 1:
        return None
    (dtype,) = dtypes
    if symbol == "/" and dtype in _INT_DTYPES:
        return "float32"
    return dtype


def _join_device(tensors: Sequence[TensorValue]) -> str | None:
    devices = {t.device for t in tensors}
    return devices.pop() if len(devices) == 1 else None


def broadcast_call(
    call: OpCall,
    operands: Sequence[tuple[Value, str]],
    *,
    title: str,
    trap: bool = True,
    dtype: str | None | object = ABSENT,
    origin: str | None = None,
) -> Value:
    """Broadcast `operands` (tensors and Python scalars) and report what fails.

    Scalars take part as shape `()`. An operand that is UNKNOWN (could be a tensor of any shape)
    makes the result a tensor of unknown shape, silently.
    """
    tensors = [(v, label) for v, label in operands if isinstance(v, TensorValue)]
    if not tensors:
        return UNKNOWN
    first = tensors[0][0]
    result_dtype = dtype if dtype is not ABSENT else _result_dtype([t for t, _ in tensors], title)
    fields = {
        "dtype": result_dtype,
        "device": _join_device([t for t, _ in tensors]),
        "contiguous": True,
        "origin": origin,
        "library": first.library,
        "requires_grad": None,
    }
    if any(not _is_operand(v) for v, _ in operands):
        return TensorValue(Shape.unknown(), **fields)  # type: ignore[arg-type]
    shapes = [t.shape for t, _ in tensors]
    labels = [label for _, label in tensors]
    result = broadcast(*shapes, facts=call.facts)
    if (title in _ARITH or title in _COMPARE) and len(labels) == 2:
        name = f"{labels[0]} {title} {labels[1]}"  # reads like the code: `pred - target`
    else:
        name = op_title(call) if title not in _ARITH and title not in _COMPARE else title
    channel = _per_channel_constant(call, [t for t, _ in tensors], labels) if title in _PER_CHANNEL_OPS else None
    if not result.ok:
        if result.error is not None:
            message, notes = messages.broadcast_error(name, shapes, labels, result)
            call.report("SC101", message, notes + (channel[1][-1:] if channel else []))
            return UNKNOWN
        return TensorValue(Shape.unknown(), **fields)  # type: ignore[arg-type]
    shape = result.shape if result.shape is not None else Shape.unknown()
    named = [(a, b) for a, b in result.assumptions if _named(a) and _named(b)]
    if channel is not None:
        call.report("SC103", *channel)
    elif named:
        call.report("SC103", *messages.broadcast_assumption(name, shapes, labels, result, named))
    elif trap and result.is_trap and _rank_padded(result, shapes) and not any(
        t.origin in EXPLICIT_ORIGINS for t, _ in tensors
    ):
        call.report("SC102", *messages.broadcast_trap(name, shapes, labels, result, shape))
    return TensorValue(shape, **fields)  # type: ignore[arg-type]


_PER_CHANNEL_OPS = frozenset({"+", "-", "*", "/"})


def _per_channel_constant(call: OpCall, tensors: Sequence[TensorValue], labels: Sequence[str]) -> tuple[str, list[str]] | None:
    """A `(C,)` vector meeting a `(B, C, H, W)` tensor whose last axis is not C (for certain, or as
    far as is known): the size says "one value per channel", but broadcasting aligns it with W.
    `(x - mean) / std` with ImageNet's 3-value mean and std is the classic case. Returns the
    message and the fix note, or None when the intent is not visible."""
    if len(tensors) != 2:
        return None
    for v, i in ((0, 1), (1, 0)):
        vec, x = tensors[v].shape, tensors[i].shape
        if vec.rank != 1 or x.rank not in (4, 5):
            continue
        c = vec[0]
        if c.value == 1 or compare(c, x[1], call.facts) != "equal" or compare(c, x[-1], call.facts) == "equal":
            continue
        return messages.per_channel_constant(op_title(call) if call.name not in _PER_CHANNEL_OPS else
                                             f"{labels[0]} {call.name} {labels[1]}", labels[v], vec, labels[i], x)
    return None


def _rank_padded(result: BroadcastResult, shapes: list[Shape]) -> bool:
    """Whether an operand of lower rank was padded on the left and stretched: the implicit part
    of `(N) - (N, 1) -> (N, N)`. Operands of equal rank with explicit 1s, `(3, 1) + (1, 3)`, are
    the course's deliberate outer product (seed §1.5.3 example 2), not a trap."""
    for i, axis in result.stretched:
        rank = shapes[i].rank
        if rank is not None and -axis > rank:
            return True
    return False


def _named(d: object) -> bool:
    return isinstance(d, Dim) and not d.is_const and not d.is_unknown


def _int_arith(symbol: str, a: Dim, b: Dim) -> Value:
    """`d // h`, `h * w`, `n + 1` on Python ints known symbolically."""
    if symbol == "+":
        out = a + b
    elif symbol == "-":
        out = a - b
    elif symbol == "*":
        out = a * b
    elif symbol == "//" and b.value != 0:
        out = a // b
    elif symbol == "%" and b.value != 0:
        out = a % b
    else:
        return UNKNOWN
    return ConstValue(out.value) if out.value is not None else DimValue(out)


def _binary(symbol: str, swapped: bool = False):  # type: ignore[no-untyped-def]
    def shape_fn(call: OpCall) -> Value:
        a = call.arg(0, "input")
        b = call.arg(1, "other")
        if a is None or b is None:
            return UNKNOWN
        if swapped:
            a, b = b, a
        if not isinstance(a, TensorValue) and not isinstance(b, TensorValue):
            da, db = as_dim(a), as_dim(b)
            if call.name == symbol and da is not None and db is not None and isinstance(a, DimValue) | isinstance(b, DimValue):
                return _int_arith(symbol, da, db)
            return UNKNOWN
        labels = [call.label(0, "left operand"), call.label(1, "right operand")]
        if swapped:
            labels.reverse()
        out = broadcast_call(call, [(a, labels[0]), (b, labels[1])], title=symbol)
        if call.name.endswith("_") and isinstance(a, TensorValue) and isinstance(out, TensorValue):
            return _inplace_check(call, a, out)
        return _keep_layout(out, [v for v in (a, b) if isinstance(v, TensorValue)])

    shape_fn.__name__ = f"binary_{symbol}"
    return shape_fn


def _keep_layout(out: Value, tensors: Sequence[TensorValue]) -> Value:
    """An element-wise result takes its memory order from the first tensor operand when that one
    has the result's shape (torch's TensorIterator orders the output's strides by the first
    input whose strides decide): `(x.transpose(1, 2) * 2).view(-1)` fails as the transpose's
    own `.view(-1)` does. Only a layout we know (a permuted contiguous tensor) is carried."""
    if not isinstance(out, TensorValue) or not tensors:
        return out
    first = tensors[0]
    if first.contiguous is not False or first.layout is None or first.library != "torch":
        return out
    if out.shape.rank is None or first.shape.rank != out.shape.rank or any(
            compare(first.shape[i], out.shape[i]) != "equal" for i in range(out.shape.rank)):
        return out
    return dataclasses.replace(out, contiguous=False, layout=first.layout)


def _inplace_check(call: OpCall, receiver: TensorValue, out: TensorValue) -> Value:
    """`x.add_(y)` writes into x: the broadcast result must be x's own shape."""
    rank_r, rank_o = receiver.shape.rank, out.shape.rank
    grows = rank_r is not None and rank_o is not None and (
        rank_o > rank_r or any(compare(out.shape[i], receiver.shape[i]) == "different" for i in range(rank_r))
    )
    if grows:
        call.report("SC101", *messages.op_error(
            f"{op_title(call)}: writes in place into {call.label(0)} {receiver.shape}, "
            f"but the operands broadcast to the larger {out.shape}",
            "an in-place op cannot grow its receiver; use the out-of-place form",
        ))
        return UNKNOWN
    return dataclasses.replace(receiver, dtype=receiver.dtype, origin=receiver.origin)


for _symbol, (_fns, _methods, _np) in {**_ARITH, **_COMPARE}.items():
    _inplace = [f"{m}_" for m in _methods if not m.startswith("__")]
    op(_symbol, *_names(_fns, _methods, _np), *[f"Tensor.{m}" for m in _inplace])(_binary(_symbol))

op(*_names(_OTHER_BINARY, _OTHER_BINARY, ("maximum", "minimum", "fmax", "fmin", "arctan2", "hypot", "copysign")))(
    _binary("maximum")
)


# --- unary ---------------------------------------------------------------------------------------

_UNARY = (
    "abs neg negative exp exp2 expm1 log log2 log10 log1p sqrt rsqrt square sin cos tan asin acos atan sinh cosh "
    "tanh asinh acosh atanh sigmoid erf erfc erfinv floor ceil round trunc frac sign sgn reciprocal "
    "nan_to_num relu logit i0 lgamma digamma positive conj angle deg2rad rad2deg"
).split()
_UNARY_PREDICATES = "isnan isinf isfinite isposinf isneginf logical_not signbit".split()
_ACTIVATIONS_F = (
    "relu relu6 gelu silu mish elu selu celu leaky_relu softplus softsign tanhshrink hardtanh hardswish "
    "hardsigmoid logsigmoid sigmoid tanh rrelu hardshrink softshrink threshold "
).split()
_NUMPY_UNARY = "abs negative exp expm1 log log2 log10 log1p sqrt square sin cos tan tanh floor ceil round trunc sign reciprocal".split()


def _unary_names() -> list[str]:
    names = [f"torch.{n}" for n in _UNARY + _UNARY_PREDICATES]
    names += [f"Tensor.{n}" for n in _UNARY + _UNARY_PREDICATES]
    names += [f"torch.Tensor.{n}" for n in _UNARY + _UNARY_PREDICATES]
    names += [f"Tensor.{n}_" for n in _UNARY]
    names += [f"torch.nn.functional.{n}" for n in _ACTIVATIONS_F ]
    names += [f"torch.nn.functional.{n}_" for n in ("relu", "elu", "leaky_relu", "hardtanh", "celu", "selu", "rrelu", "threshold")]
    names += [f"numpy.{n}" for n in _NUMPY_UNARY] + ["numpy.isnan", "numpy.isinf", "numpy.isfinite", "numpy.logical_not"]
    names += ["torch.special.expit", "torch.special.erf", "torch.special.logit"]
    names += ["torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
              "torch.nn.functional.dropout3d", "torch.nn.functional.alpha_dropout", "torch.nn.functional.feature_alpha_dropout",
              "torch.dropout", "torch.clamp", "torch.clip", "Tensor.clamp", "Tensor.clip", "Tensor.clamp_", "Tensor.clip_",
              "torch.Tensor.clamp", "numpy.clip", "Tensor.clamp_min", "Tensor.clamp_max", "torch.clamp_min", "torch.clamp_max",
              "-u", "~", "+u"]
    return names


_PREDICATE_NAMES = frozenset(_UNARY_PREDICATES) | {"~"}
# element-wise ops whose result torch allocates contiguous whatever the input's layout (checked
# against torch in tests/test_ops_views.py); every other one keeps a transposed input's layout
_CONTIGUOUS_RESULT = frozenset({"logsigmoid", "rrelu"})


@op(*_unary_names())
def unary(call: OpCall) -> Value:
    """Shape-preserving: the result has the input's shape. `clamp(x, min=t)` with a tensor bound
    broadcasts like any binary op."""
    x = call.arg(0, "input")
    t = tensor(x)
    if t is None:
        if isinstance(x, DimValue) and call.name == "-u":
            return DimValue(Dim.const(0) - x.dim)
        if isinstance(x, ConstValue) and call.name in ("-u", "+u") and isinstance(x.value, (int, float)):
            return ConstValue(-x.value if call.name == "-u" else x.value)
        return UNKNOWN
    short = call.name.rsplit(".", 1)[-1]
    if short in ("clamp", "clip", "clamp_", "clip_", "clamp_min", "clamp_max"):
        bounds = [(v, n) for n, v in ((n, call.arg(i, n)) for i, n in ((1, "min"), (2, "max"))) if isinstance(v, TensorValue)]
        if bounds:
            return broadcast_call(call, [(t, call.label(0)), *[(v, n) for v, n in bounds]], title=short, trap=False, dtype=t.dtype)
    dtype = "bool" if short in _PREDICATE_NAMES else t.dtype
    origin = short if short not in ("-u", "+u") else t.origin
    if short.endswith("_") and short not in ("relu_", "elu_"):
        return dataclasses.replace(t, dtype=dtype)
    if t.contiguous is False and t.layout is not None and t.library == "torch" and short not in _CONTIGUOUS_RESULT:
        return dataclasses.replace(t, dtype=dtype, origin=origin)  # the result keeps its input's memory order
    return dataclasses.replace(t, dtype=dtype, origin=origin, contiguous=True, layout=None)


@op("torch.where", "numpy.where", "Tensor.where", "torch.Tensor.where")
def where(call: OpCall) -> Value:
    """`where(cond, x, y)`: the three broadcast together. `where(cond)` alone is a tuple of index
    tensors whose length is data-dependent: unknown."""
    if call.name.startswith("Tensor") or call.name.startswith("torch.Tensor"):
        operands = [(call.arg(1, "condition"), call.label(1, "condition")), (call.arg(0, "input"), call.label(0)),
                    (call.arg(2, "other"), call.label(2, "other"))]
    else:
        operands = [(call.arg(i, n), call.label(i, n)) for i, n in ((0, "condition"), (1, "input"), (2, "other"))]
    if any(v is None for v, _ in operands):
        return UNKNOWN
    values = [(v, label) for v, label in operands if v is not None]
    dtypes = [v.dtype for v, _ in values[1:] if isinstance(v, TensorValue)]
    if values[0][0] is UNKNOWN:
        # a condition not known may be larger than the values: diffusers builds a (b, t) result
        # from a (b, t) mask and a (t,) position vector. The values still fix the dtype.
        dtype = dtypes[0] if len(set(dtypes)) == 1 and dtypes else None
        known = [v for v, _ in values[1:] if isinstance(v, TensorValue)]
        return TensorValue(Shape.unknown(), dtype, known[0].device if known else None) if known else UNKNOWN
    return broadcast_call(call, values, title="where()", trap=True, dtype=dtypes[0] if len(set(dtypes)) == 1 and dtypes else None)


@op("Tensor.masked_fill", "torch.Tensor.masked_fill", "torch.masked_fill", "Tensor.masked_fill_")
def masked_fill(call: OpCall) -> Value:
    """`x.masked_fill(mask, v)`: mask broadcasts with x (out of place the result may grow, as torch
    does); in place the result is x's shape."""
    x, mask = tensor(call.arg(0, "input")), call.arg(1, "mask")
    if x is None or mask is None:
        return UNKNOWN
    if mask is UNKNOWN:
        # A mask says where to fill x: the result is x's shape. (torch would broadcast a mask
        # larger than x and grow the result; no working code relies on that, so a mask of
        # unknown shape is taken to fit x rather than losing x's shape downstream.)
        return dataclasses.replace(x, contiguous=True, layout=None) if not call.name.endswith("_") else x
    out = broadcast_call(call, [(x, call.label(0)), (mask, call.label(1, "mask"))], title="masked_fill()", trap=False, dtype=x.dtype)
    if isinstance(out, TensorValue):
        out = dataclasses.replace(out, origin=x.origin, requires_grad=x.requires_grad)
        if call.name.endswith("_"):
            return _inplace_check(call, x, out)
    return out


@op("torch.nn.functional.normalize")
def normalize(call: OpCall) -> Value:
    """`F.normalize(x, p, dim=1)`: shape-preserving, dim must exist."""
    t = tensor(call.arg(0, "input"))
    if t is None:
        return UNKNOWN
    rank = rank_of(t)
    if rank is not None:
        if dim_arg(call, 2, rank, name="dim") is ERROR:
            return UNKNOWN
        if call.arg(2, "dim") is None and normalize_dim(call, 1, rank) is None:
            return UNKNOWN
    return dataclasses.replace(t, origin="normalize", contiguous=True)


@op("Tensor.copy_", "torch.Tensor.copy_")
def copy_(call: OpCall) -> Value:
    """`x.copy_(src)`: src must broadcast to x's shape; the result is x."""
    x, src = tensor(call.arg(0, "input")), call.arg(1, "src")
    if x is None:
        return UNKNOWN
    if not isinstance(src, TensorValue):
        return x
    out = broadcast_call(call, [(x, call.label(0)), (src, call.label(1, "src"))], title="copy_()", trap=False, dtype=x.dtype)
    if not isinstance(out, TensorValue):
        return out
    return _inplace_check(call, x, out)


_FILLS = ("zero_", "fill_", "normal_", "uniform_", "bernoulli_", "exponential_", "random_", "geometric_",
          "log_normal_", "cauchy_", "fill_diagonal_")


@op(*[f"Tensor.{n}" for n in _FILLS], *[f"torch.Tensor.{n}" for n in _FILLS])
def fill_in_place(call: OpCall) -> Value:
    """In-place fills and random draws return their receiver, shape and all."""
    x = tensor(call.arg(0, "input"))
    return UNKNOWN if x is None else x
