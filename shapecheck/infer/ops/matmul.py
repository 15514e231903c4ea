"""Matrix products: `matmul @ mm bmm mv dot outer addmm baddbmm linear`.

The contracted axes must agree: SC101 when they definitely differ (`(b, 512) @ (256, 10)`),
SC103 when they are two differently named dims (`(b, seq) @ (d_model, h)` only works if
seq == d_model). Batch axes of `matmul` broadcast (reported like any broadcast); `bmm` does
not broadcast.
"""

from __future__ import annotations

from shapecheck.infer import messages
from shapecheck.infer.ops._common import op_title, tail, tensor, with_prefix
from shapecheck.infer.ops.elementwise import broadcast_call
from shapecheck.infer.ops.registry import OpCall, op
from shapecheck.infer.values import UNKNOWN, TensorValue, Value
from shapecheck.shapes import Dim, Shape, broadcast, compare


def _named(d: Dim) -> bool:
    return not d.is_const and not d.is_unknown


def check_inner(call: OpCall, a: TensorValue, b: TensorValue, axis_a: int, axis_b: int, labels: list[str], hint: str = "") -> bool:
    """The contracted sizes agree (or might); False after reporting a definite mismatch.

    axis_a/axis_b are negative axes into a.shape/b.shape (the shapes may have a variadic prefix)."""
    da, db = a.shape[axis_a], b.shape[axis_b]
    verdict = compare(da, db, call.facts)
    if verdict == "different":
        call.report("SC101", *messages.contraction_mismatch(op_title(call), a.shape, b.shape, labels, _pos(a.shape, axis_a), _pos(b.shape, axis_b), hint))
        return False
    if verdict == "unknown" and _named(da) and _named(db):
        call.report("SC103", *messages.contraction_assumption(op_title(call), a.shape, b.shape, labels, _pos(a.shape, axis_a), _pos(b.shape, axis_b)))
    return True


def _pos(shape: Shape, axis: int) -> int:
    return axis + shape.rank if shape.rank is not None and axis < 0 else axis


def _out(a: TensorValue, b: TensorValue, shape: Shape | None, origin: str) -> TensorValue:
    dtype = a.dtype if a.dtype == b.dtype else None
    device = a.device if a.device == b.device else None
    return TensorValue(shape if shape is not None else Shape.unknown(), dtype=dtype, device=device, origin=origin, library=a.library)


def _labels(call: OpCall, first: int = 0) -> list[str]:
    return [call.label(first, "left operand"), call.label(first + 1, "right operand")]


def matmul_shapes(call: OpCall, a: TensorValue, b: TensorValue, labels: list[str]) -> Value:
    """torch.matmul's rules: 1-d operands get a 1 prepended/appended (then removed), batch axes broadcast."""
    ra, rb = a.shape.rank, b.shape.rank
    ta, tb = tail(a.shape, 2), tail(b.shape, 2)
    if ra == 0 or rb == 0:
        which = labels[0] if ra == 0 else labels[1]
        shape = a.shape if ra == 0 else b.shape
        call.report("SC101", *messages.rank_error(op_title(call), which, shape, "operands of at least 1 dim"))
        return UNKNOWN
    if ra == 1 and rb == 1:
        if not check_inner(call, a, b, -1, -1, labels):
            return UNKNOWN
        return _out(a, b, Shape.of(), "matmul")
    if ta is None and ra is None or tb is None and rb is None:
        # a variadic/unknown operand whose last two axes are not both known: only check the inner dim
        if tail(a.shape, 1) is not None and tail(b.shape, 2) is not None:
            if not check_inner(call, a, b, -1, -2, labels):
                return UNKNOWN
        return _out(a, b, None, "matmul")
    if rb == 1:
        # (..., n, k) @ (k,) -> (..., n)
        if not check_inner(call, a, b, -1, -1, labels):
            return UNKNOWN
        return _out(a, b, with_prefix(a.shape, 1, []), "matmul")
    if ra == 1:
        # (k,) @ (..., k, m) -> (..., m)
        if not check_inner(call, a, b, -1, -2, labels):
            return UNKNOWN
        return _out(a, b, with_prefix(b.shape, 2, [b.shape[-1]]), "matmul")
    if not check_inner(call, a, b, -1, -2, labels):
        return UNKNOWN
    batch_a, batch_b = with_prefix(a.shape, 2, []), with_prefix(b.shape, 2, [])
    if batch_a is None or batch_b is None:
        return _out(a, b, None, "matmul")
    result = broadcast(batch_a, batch_b, facts=call.facts)
    if not result.ok:
        if result.error is not None:
            call.report("SC101", *messages.broadcast_error(f"{op_title(call)} batch axes", [batch_a, batch_b], labels, result))
            return UNKNOWN
        return _out(a, b, None, "matmul")
    if result.shape is None or result.shape.rank is None:
        return _out(a, b, None, "matmul")
    dims = [result.shape[i] for i in range(result.shape.rank)] + [a.shape[-2], b.shape[-1]]
    return _out(a, b, Shape.of(*dims), "matmul")


@op("torch.matmul", "Tensor.matmul", "torch.Tensor.matmul", "@", "Tensor.__matmul__", "torch.Tensor.__matmul__", "numpy.matmul")
def matmul(call: OpCall) -> Value:
    a, b = tensor(call.arg(0, "input")), tensor(call.arg(1, "other"))
    if a is None or b is None:
        return UNKNOWN
    return matmul_shapes(call, a, b, _labels(call))


def _exact_rank(call: OpCall, t: TensorValue, label: str, rank: int, what: str) -> bool | None:
    """True if t has `rank` dims, None if unknown, False (reported) if it definitely has not."""
    if t.shape.rank is None:
        return None
    if t.shape.rank != rank:
        call.report("SC101", *messages.rank_error(op_title(call), label, t.shape, what))
        return False
    return True


@op("torch.mm", "Tensor.mm", "torch.Tensor.mm")
def mm(call: OpCall) -> Value:
    a, b = tensor(call.arg(0, "input")), tensor(call.arg(1, "mat2"))
    if a is None or b is None:
        return UNKNOWN
    labels = _labels(call)
    ok = [_exact_rank(call, t, label, 2, "2-d matrices") for t, label in ((a, labels[0]), (b, labels[1]))]
    if False in ok:
        return UNKNOWN
    if None in ok:
        return _out(a, b, None, "mm")
    if not check_inner(call, a, b, -1, -2, labels):
        return UNKNOWN
    return _out(a, b, Shape.of(a.shape[0], b.shape[1]), "mm")


@op("torch.bmm", "Tensor.bmm", "torch.Tensor.bmm")
def bmm(call: OpCall) -> Value:
    a, b = tensor(call.arg(0, "input")), tensor(call.arg(1, "mat2"))
    if a is None or b is None:
        return UNKNOWN
    labels = _labels(call)
    return _bmm_shapes(call, a, b, labels)


def _bmm_shapes(call: OpCall, a: TensorValue, b: TensorValue, labels: list[str]) -> Value:
    ok = [_exact_rank(call, t, label, 3, "3-d batches of matrices") for t, label in ((a, labels[0]), (b, labels[1]))]
    if False in ok:
        return UNKNOWN
    if None in ok:
        return _out(a, b, None, "bmm")
    if not check_inner(call, a, b, 0, 0, labels, "bmm() does not broadcast: both batches must have the same size"):
        return UNKNOWN
    if not check_inner(call, a, b, -1, -2, labels):
        return UNKNOWN
    return _out(a, b, Shape.of(a.shape[0], a.shape[1], b.shape[2]), "bmm")


@op("torch.mv", "Tensor.mv", "torch.Tensor.mv")
def mv(call: OpCall) -> Value:
    a, b = tensor(call.arg(0, "input")), tensor(call.arg(1, "vec"))
    if a is None or b is None:
        return UNKNOWN
    labels = _labels(call)
    ok = [_exact_rank(call, a, labels[0], 2, "a 2-d matrix"), _exact_rank(call, b, labels[1], 1, "a 1-d vector")]
    if False in ok:
        return UNKNOWN
    if None in ok:
        return _out(a, b, None, "mv")
    if not check_inner(call, a, b, -1, -1, labels):
        return UNKNOWN
    return _out(a, b, Shape.of(a.shape[0]), "mv")


@op("torch.dot", "Tensor.dot", "torch.Tensor.dot")
def dot(call: OpCall) -> Value:
    a, b = tensor(call.arg(0, "input")), tensor(call.arg(1, "tensor"))
    if a is None or b is None:
        return UNKNOWN
    labels = _labels(call)
    ok = [_exact_rank(call, t, label, 1, "1-d vectors") for t, label in ((a, labels[0]), (b, labels[1]))]
    if False in ok:
        return UNKNOWN
    if None in ok:
        return _out(a, b, Shape.of(), "dot")
    if not check_inner(call, a, b, -1, -1, labels):
        return UNKNOWN
    return _out(a, b, Shape.of(), "dot")


@op("torch.outer", "torch.ger", "Tensor.outer", "torch.Tensor.outer")
def outer(call: OpCall) -> Value:
    a, b = tensor(call.arg(0, "input")), tensor(call.arg(1, "vec2"))
    if a is None or b is None:
        return UNKNOWN
    labels = _labels(call)
    ok = [_exact_rank(call, t, label, 1, "1-d vectors") for t, label in ((a, labels[0]), (b, labels[1]))]
    if False in ok:
        return UNKNOWN
    if None in ok:
        return _out(a, b, None, "outer")
    return _out(a, b, Shape.of(a.shape[0], b.shape[0]), "outer")


def _add_input(call: OpCall, product: Value, base: Value | None) -> Value:
    """addmm/baddbmm/linear bias: `input` broadcasts to the product's shape (it may not grow it)."""
    if not isinstance(product, TensorValue) or base is None:
        return product
    if not isinstance(base, TensorValue):
        return product
    out = broadcast_call(call, [(base, call.label(0, "input")), (product, "the product")], title=op_title(call), trap=False)
    if not isinstance(out, TensorValue):
        return UNKNOWN
    ro, rp = out.shape.rank, product.shape.rank
    if ro is not None and rp is not None and (
        ro > rp or any(compare(out.shape[i], product.shape[i], call.facts) == "different" for i in range(rp))
    ):
        call.report("SC101", *messages.op_error(
            f"{op_title(call)}: {call.label(0, 'input')} {base.shape} does not broadcast to the product's shape {product.shape}"))
        return UNKNOWN
    return product


@op("torch.addmm", "Tensor.addmm", "torch.Tensor.addmm")
def addmm(call: OpCall) -> Value:
    """`addmm(input, mat1, mat2)` = input + mat1 @ mat2; input broadcasts to (n, m)."""
    a, b = tensor(call.arg(1, "mat1")), tensor(call.arg(2, "mat2"))
    if a is None or b is None:
        return UNKNOWN
    sub = OpCall(call.name, [a, b], {}, call.node, facts=call.facts, findings=call.findings,
                 labels=[call.label(1, "mat1"), call.label(2, "mat2")])
    return _add_input(call, mm(sub), call.arg(0, "input"))


@op("torch.baddbmm", "Tensor.baddbmm", "torch.Tensor.baddbmm")
def baddbmm(call: OpCall) -> Value:
    """`baddbmm(input, batch1, batch2)` = input + batch1 @ batch2 (no batch broadcasting)."""
    a, b = tensor(call.arg(1, "batch1")), tensor(call.arg(2, "batch2"))
    if a is None or b is None:
        return UNKNOWN
    sub = OpCall(call.name, [a, b], {}, call.node, facts=call.facts, findings=call.findings)
    product = _bmm_shapes(sub, a, b, [call.label(1, "batch1"), call.label(2, "batch2")])
    return _add_input(call, product, call.arg(0, "input"))


def linear_shapes(call: OpCall, x: TensorValue, weight: TensorValue, bias: Value | None, labels: list[str]) -> Value:
    """`F.linear(x, W, b)` = x @ W.T + b: x (..., in), W (out, in) -> (..., out)."""
    rw = weight.shape.rank
    if rw is None:
        return TensorValue(Shape.unknown(), dtype=x.dtype, device=x.device, origin="linear", library=x.library)
    if rw not in (1, 2):
        call.report("SC101", *messages.rank_error(op_title(call), labels[1], weight.shape, "a weight of 1 or 2 dims"))
        return UNKNOWN
    if x.shape.rank == 0:
        call.report("SC101", *messages.rank_error(op_title(call), labels[0], x.shape, "an input of at least 1 dim"))
        return UNKNOWN
    if tail(x.shape, 1) is None:
        return TensorValue(Shape.unknown(), dtype=x.dtype, device=x.device, origin="linear", library=x.library)
    if not check_inner(call, x, weight, -1, -1, labels):
        return UNKNOWN
    out_dims = [weight.shape[0]] if rw == 2 else []
    shape = with_prefix(x.shape, 1, out_dims)
    result = TensorValue(shape if shape is not None else Shape.unknown(), dtype=x.dtype, device=x.device, origin="linear", library=x.library)
    if isinstance(bias, TensorValue) and bias.shape.rank is not None and shape is not None:
        return _add_input(call, result, bias)
    return result


@op("torch.nn.functional.linear")
def linear(call: OpCall) -> Value:
    x, w = tensor(call.arg(0, "input")), tensor(call.arg(1, "weight"))
    if x is None or w is None:
        return UNKNOWN
    return linear_shapes(call, x, w, call.arg(2, "bias"), [call.label(0, "input"), call.label(1, "weight")])


@op("torch.cdist")
def cdist(call: OpCall) -> Value:
    """`cdist(x1 (*, P, M), x2 (*, R, M))` -> (*, P, R); the batch axes broadcast."""
    a, b = tensor(call.arg(0, "x1")), tensor(call.arg(1, "x2"))
    if a is None or b is None:
        return UNKNOWN
    labels = _labels(call)
    for t, label in ((a, labels[0]), (b, labels[1])):
        if t.shape.rank is not None and t.shape.rank < 2:
            call.report("SC101", *messages.rank_error(op_title(call), label, t.shape, "at least 2 dims (..., points, features)"))
            return UNKNOWN
    if tail(a.shape, 2) is None or tail(b.shape, 2) is None:
        return _out(a, b, None, "cdist")
    if not check_inner(call, a, b, -1, -1, labels, "both point sets need the same number of features"):
        return UNKNOWN
    batch_a, batch_b = with_prefix(a.shape, 2, []), with_prefix(b.shape, 2, [])
    if batch_a is None or batch_b is None:
        return _out(a, b, None, "cdist")
    result = broadcast(batch_a, batch_b, facts=call.facts)
    if not result.ok:
        call.report("SC101", *messages.broadcast_error(f"{op_title(call)} batch axes", [batch_a, batch_b], labels, result))
        return UNKNOWN
    if result.shape is None or not result.shape.known:
        return _out(a, b, None, "cdist")
    return _out(a, b, Shape.of(*result.shape.axes, a.shape[-2], b.shape[-2]), "cdist")
