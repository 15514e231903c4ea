"""Mutation operators that inject realistic shape and training-loop bugs into real programs.

Each operator finds every applicable *site* in a program (a libcst node) and rewrites it into one
buggy variant. `mutants(name, source)` returns one `Mutant` per site, at most `cap` per operator
(evenly spread over the sites, so a program with 20 `view` calls is not all first-layer
mutants). Everything is deterministic: the same source gives the same mutants, byte for byte,
so `confirmed.json` can key each result by the mutant's sha256 and the scoring step can
regenerate the files instead of storing them.

    >>> [m.operator for m in mutants("demo", "import torch\\ny = torch.cat([a, b], dim=1)\\n")]
    ['cat_dim']

Shape operators (the bug changes a shape; confirmed by running it with torch):

    drop_unsqueeze        x.unsqueeze(d) -> x, torch.unsqueeze(x, d) -> x, x[:, None] -> x[:]
    linear_in_features    nn.Linear(9216, 128) -> nn.Linear(18432, 128); Linear(d * 4, d) -> Linear(d, d)
    conv_channels         nn.Conv2d(32, 64, 3) -> nn.Conv2d(64, 64, 3) (in_channels, same rewrite)
    transpose_before_view y.transpose(1, 2).contiguous().view(..) -> y.transpose(1, 2).view(..);
                          y.permute(..).reshape(..) -> y.permute(..).view(..)
    cat_dim               torch.cat(xs, dim=1) -> torch.cat(xs, dim=0)
    softmax_dim           F.softmax(x, dim=-1) -> F.softmax(x, dim=-2) (also log_softmax, nn.Softmax)
    sum_dim               x.sum(1) -> x.sum(0) (also mean)
    hardcoded_batch_view  x.view(x.size(0), -1) -> x.view(64, -1), with the program's batch size
    batch_first_flip      nn.LSTM(.., batch_first=True) -> batch_first=False (or added where absent)
    swap_matmul           q @ k.transpose(-2, -1) -> k.transpose(-2, -1) @ q; torch.matmul/mm/bmm
    head_split            view(B, T, n_head, C // n_head) -> view(B, T, C // n_head, n_head);
                          rearrange(t, 'b n (h d) -> b h n d', h=heads) -> (.., d=heads)
    drop_flatten          torch.flatten(x, 1) -> x; nn.Flatten() dropped from a Sequential
    wrong_permute         x.permute(0, 2, 1) -> x.permute(0, 1, 2) (last two entries swapped)

Training-loop operators (the program still runs; the bug is in what it computes):

    drop_zero_grad        optimizer.zero_grad() removed
    softmax_before_ce     criterion(output, target) -> criterion(torch.softmax(output, dim=1), target)
    drop_eval             model.eval() removed
    accumulate_loss_graph total += loss.item() -> total += loss (also losses.append(loss.item()))
    drop_no_grad          `with torch.no_grad():` unwrapped (or the decorator removed)

The dim rewrite is one rule for every dim operator: d >= 1 -> d - 1, 0 -> 1, -1 -> -2,
d < -1 -> d + 1 (an off-by-one in the direction that stays in range most often).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

SHAPE_OPERATORS = (
    "drop_unsqueeze",
    "linear_in_features",
    "conv_channels",
    "transpose_before_view",
    "cat_dim",
    "softmax_dim",
    "sum_dim",
    "hardcoded_batch_view",
    "batch_first_flip",
    "swap_matmul",
    "head_split",
    "drop_flatten",
    "wrong_permute",
)
TRAINING_OPERATORS = (
    "drop_zero_grad",
    "softmax_before_ce",
    "drop_eval",
    "accumulate_loss_graph",
    "drop_no_grad",
)
OPERATORS = SHAPE_OPERATORS + TRAINING_OPERATORS
DEFAULT_CAP = 3


@dataclass(frozen=True)
class Mutant:
    program: str
    operator: str
    site: int  # index among all sites of this operator in the program (before the cap)
    line: int  # 1-based line of the mutated node in the original
    before: str  # the original line(s), stripped
    after: str  # the mutated line(s), stripped
    source: str

    @property
    def family(self) -> str:
        return "shape" if self.operator in SHAPE_OPERATORS else "training"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    @property
    def filename(self) -> str:
        return f"{self.program}__{self.operator}__{self.site}.py"


# A site: the node to replace and what to put there (a node, a FlattenSentinel, or
# RemoveFromParent()).
Site = tuple[cst.CSTNode, object]


# --- small helpers over libcst nodes ------------------------------------------------------------


def _attr_name(func: cst.BaseExpression) -> str | None:
    """`nn.Linear` -> 'Linear', `Linear` -> 'Linear', `x.view` -> 'view'."""
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


def _dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr.value}"
    return None


_TORCH = {"torch", "nn", "F", "torch.nn", "torch.nn.functional", "functional"}
_MODULES = _TORCH | {"np", "numpy", "einops"}


def _is_method(call: cst.Call, *names: str) -> bool:
    """`<expr>.name(...)` where <expr> is not a module alias like torch/F/nn."""
    if not isinstance(call.func, cst.Attribute) or call.func.attr.value not in names:
        return False
    return _dotted(call.func.value) not in _MODULES


def _is_function(call: cst.Call, *names: str, modules: set[str] = _MODULES) -> bool:
    """`torch.name(...)`, `F.name(...)`, `nn.name(...)` or a bare imported `name(...)`."""
    if isinstance(call.func, cst.Name):
        return call.func.value in names
    if isinstance(call.func, cst.Attribute) and call.func.attr.value in names:
        return _dotted(call.func.value) in modules
    return False




def _positional(call: cst.Call) -> list[cst.Arg]:
    return [a for a in call.args if a.keyword is None and a.star == ""]


def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def _arg(call: cst.Call, index: int, keyword: str) -> cst.Arg | None:
    """The argument at positional `index` or passed as `keyword`."""
    pos = _positional(call)
    if len(pos) > index:
        return pos[index]
    return _keyword(call, keyword)


def _int_value(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        return int(node.value, 0)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _int_value(node.expression)
        return None if inner is None else -inner
    return None


def _int_node(value: int) -> cst.BaseExpression:
    if value < 0:
        return cst.UnaryOperation(operator=cst.Minus(), expression=cst.Integer(str(-value)))
    return cst.Integer(str(value))


def _shift_dim(value: int) -> int:
    if value >= 1:
        return value - 1
    if value == 0:
        return 1
    if value == -1:
        return -2
    return value + 1


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _wrong_size(expr: cst.BaseExpression) -> cst.BaseExpression:
    """A realistic wrong feature/channel count: a literal doubled, a product missing its last
    factor (`4 * 4 * 50` -> `4 * 4`, `dim * mult` -> `dim`), anything else doubled."""
    value = _int_value(expr)
    if value is not None:
        return _int_node(value * 2 if value > 0 else value)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
        return expr.left.with_changes(lpar=[], rpar=[]) if expr.left.lpar else expr.left
    if isinstance(expr, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)):
        return cst.BinaryOperation(left=expr, operator=cst.Multiply(), right=cst.Integer("2"))
    return cst.BinaryOperation(
        left=expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]),
        operator=cst.Multiply(),
        right=cst.Integer("2"),
    )


def _replace_arg(call: cst.Call, old: cst.Arg, new_value: cst.BaseExpression) -> cst.Call:
    return call.with_changes(args=[a.with_changes(value=new_value) if a is old else a for a in call.args])


def _add_kwarg(call: cst.Call, name: str, value: cst.BaseExpression) -> cst.Call:
    args = list(call.args)
    if args:
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    args.append(cst.Arg(value=value, keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))))
    return call.with_changes(args=args)


def _calls(nodes: list[cst.CSTNode]) -> Iterator[cst.Call]:
    for node in nodes:
        if isinstance(node, cst.Call):
            yield node


# --- the operators ------------------------------------------------------------------------------
# Each takes the Program (all nodes in source order, parents, the batch size) and yields sites.


@dataclass
class Program:
    nodes: list[cst.CSTNode]
    parents: dict[cst.CSTNode, cst.CSTNode]
    batch_size: int
    ce_callables: set[str]  # names bound to nn.CrossEntropyLoss(): criterion, self.loss_fn

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.parents.get(node)

    def inside_no_grad(self, node: cst.CSTNode) -> bool:
        cur = self.parent(node)
        while cur is not None:
            if isinstance(cur, cst.With) and any(_is_no_grad(item.item) for item in cur.items):
                return True
            if isinstance(cur, cst.FunctionDef) and any(_is_no_grad(d.decorator) for d in cur.decorators):
                return True
            cur = self.parent(cur)
        return False


def _is_no_grad(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Call):
        expr = expr.func
    name = _dotted(expr) or ""
    return name.split(".")[-1] in ("no_grad", "inference_mode")


def _dropped_call(p: Program, call: cst.Call, receiver: cst.BaseExpression) -> Site:
    """`call` replaced by `receiver`; a line `x = x.unsqueeze(1)` is removed instead of left as
    `x = x`, as the author who forgot it would have written."""
    assign = p.parent(call)
    line = p.parent(assign) if assign is not None else None
    if (isinstance(assign, cst.Assign) and len(assign.targets) == 1 and assign.value is call
            and _code(assign.targets[0].target) == _code(receiver)
            and isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1):
        return line, _remove_statement(p, line)
    return call, receiver


def op_drop_unsqueeze(p: Program) -> Iterator[Site]:
    for node in p.nodes:
        if isinstance(node, cst.Call):
            if _is_method(node, "unsqueeze") and isinstance(node.func, cst.Attribute):
                yield _dropped_call(p, node, node.func.value)
            elif _is_function(node, "unsqueeze") and _positional(node):
                yield _dropped_call(p, node, _positional(node)[0].value)
        elif isinstance(node, cst.Subscript):
            elems = node.slice
            nones = [e for e in elems if isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Name)
                     and e.slice.value.value == "None"]
            if not nones:
                continue
            kept = [e for e in elems if e is not nones[0]]
            if not kept:
                yield node, node.value
            else:
                kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                yield node, node.with_changes(slice=kept)


def _size_arg_sites(p: Program, classes: tuple[str, ...], keyword: str) -> Iterator[Site]:
    for call in _calls(p.nodes):
        if _attr_name(call.func) not in classes:
            continue
        arg = _arg(call, 0, keyword)
        if arg is None:
            continue
        yield call, _replace_arg(call, arg, _wrong_size(arg.value))


def op_linear_in_features(p: Program) -> Iterator[Site]:
    yield from _size_arg_sites(p, ("Linear",), "in_features")


def op_conv_channels(p: Program) -> Iterator[Site]:
    convs = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
    yield from _size_arg_sites(p, convs, "in_channels")


_TRANSPOSING = ("transpose", "permute", "t", "swapaxes", "movedim", "mT", "T")


def _transposed(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
        return expr.func.attr.value in _TRANSPOSING or (
            _is_function(expr, "transpose", "permute") and isinstance(expr.func, cst.Attribute))
    if isinstance(expr, cst.Attribute):
        return expr.attr.value in ("T", "mT")
    return False


def op_transpose_before_view(p: Program) -> Iterator[Site]:
    for call in _calls(p.nodes):
        if _is_method(call, "contiguous") and isinstance(call.func, cst.Attribute) and _transposed(call.func.value):
            yield call, call.func.value
        elif _is_method(call, "reshape") and isinstance(call.func, cst.Attribute) and _transposed(call.func.value):
            yield call, call.with_changes(func=call.func.with_changes(attr=cst.Name("view")))


def _dim_sites(p: Program, match: Callable[[cst.Call], int | None], add_missing: int | None = None) -> Iterator[Site]:
    """Sites where the dim argument (at positional index `match(call)`, or `dim=`) is a literal."""
    for call in _calls(p.nodes):
        index = match(call)
        if index is None:
            continue
        arg = _arg(call, index, "dim")
        if arg is None:
            if add_missing is not None:
                yield call, _add_kwarg(call, "dim", _int_node(add_missing))
            continue
        value = _int_value(arg.value)
        if value is None:
            continue
        yield call, _replace_arg(call, arg, _int_node(_shift_dim(value)))


def op_cat_dim(p: Program) -> Iterator[Site]:
    yield from _dim_sites(p, lambda c: 1 if _is_function(c, "cat", "concat", "concatenate", modules=_TORCH) else None, add_missing=1)


def _softmax_index(call: cst.Call) -> int | None:
    if _is_function(call, "softmax", "log_softmax", modules=_TORCH):
        return 1
    if _is_method(call, "softmax", "log_softmax") or _attr_name(call.func) in ("Softmax", "LogSoftmax"):
        return 0
    return None


def op_softmax_dim(p: Program) -> Iterator[Site]:
    yield from _dim_sites(p, _softmax_index)


def op_sum_dim(p: Program) -> Iterator[Site]:
    def index(call: cst.Call) -> int | None:
        if _is_function(call, "sum", "mean", modules=_TORCH):
            return 1
        if _is_method(call, "sum", "mean"):
            return 0
        return None

    yield from _dim_sites(p, index)


def _shape_args(call: cst.Call) -> list[cst.Arg] | None:
    """The size arguments of `x.view(a, b, c)` / `x.reshape((a, b, c))`; None if not such a call."""
    if not _is_method(call, "view", "reshape"):
        return None
    pos = _positional(call)
    if len(pos) == 1 and isinstance(pos[0].value, (cst.Tuple, cst.List)):
        return [cst.Arg(value=e.value) for e in pos[0].value.elements]
    return pos if len(pos) == len(call.args) else None


def _replace_shape_args(call: cst.Call, new_values: list[cst.BaseExpression]) -> cst.Call:
    pos = _positional(call)
    if len(pos) == 1 and isinstance(pos[0].value, (cst.Tuple, cst.List)):
        seq = pos[0].value
        elements = [e.with_changes(value=v) for e, v in zip(seq.elements, new_values, strict=True)]
        return call.with_changes(args=[pos[0].with_changes(value=seq.with_changes(elements=elements))])
    return call.with_changes(args=[a.with_changes(value=v) for a, v in zip(call.args, new_values, strict=True)])


def op_hardcoded_batch_view(p: Program) -> Iterator[Site]:
    for call in _calls(p.nodes):
        args = _shape_args(call)
        if args is None or len(args) < 2:
            continue
        first = args[0].value
        value = _int_value(first)
        if value is not None and value != -1:
            continue  # already a literal
        new = [a.value for a in args]
        new[0] = cst.Integer(str(p.batch_size))
        yield call, _replace_shape_args(call, new)


_RNNS = ("LSTM", "GRU", "RNN", "TransformerEncoderLayer", "TransformerDecoderLayer", "Transformer",
         "MultiheadAttention")


def op_batch_first_flip(p: Program) -> Iterator[Site]:
    own = {n.name.value for n in p.nodes if isinstance(n, cst.ClassDef)}  # vit-pytorch's Transformer
    for call in _calls(p.nodes):
        if _attr_name(call.func) not in _RNNS or not isinstance(call.func, (cst.Attribute, cst.Name)):
            continue
        if isinstance(call.func, cst.Name) and call.func.value in own:
            continue
        if isinstance(call.func, cst.Attribute) and _dotted(call.func.value) not in _MODULES:
            continue
        arg = _keyword(call, "batch_first")
        if arg is None:
            yield call, _add_kwarg(call, "batch_first", cst.Name("True"))
        elif isinstance(arg.value, cst.Name) and arg.value.value in ("True", "False"):
            flipped = "False" if arg.value.value == "True" else "True"
            yield call, _replace_arg(call, arg, cst.Name(flipped))


def op_swap_matmul(p: Program) -> Iterator[Site]:
    for node in p.nodes:
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.MatrixMultiply):
            yield node, node.with_changes(left=node.right, right=node.left)
        elif isinstance(node, cst.Call) and _is_function(node, "matmul", "mm", "bmm"):
            pos = _positional(node)
            if len(pos) == 2 and len(node.args) == 2:
                a, b = node.args
                yield node, node.with_changes(args=[a.with_changes(value=b.value), b.with_changes(value=a.value)])


_GROUP = re.compile(r"\(([^()]*)\)")


def op_head_split(p: Program) -> Iterator[Site]:
    for call in _calls(p.nodes):
        args = _shape_args(call)
        if args is not None and len(args) >= 3:
            values = [a.value for a in args]
            codes = [_code(v) for v in values]
            swap = None
            for i, v in enumerate(values):  # view(B, T, n_head, C // n_head): swap the two
                if isinstance(v, cst.BinaryOperation) and isinstance(v.operator, (cst.FloorDivide, cst.Divide)):
                    divisor = _code(v.right)
                    others = [j for j, c in enumerate(codes) if j != i and c == divisor]
                    if others:
                        swap = (i, others[0])
                        break
            if swap is None:  # view(b, n, self.num_heads, self.head_dim)
                heads = [i for i, c in enumerate(codes) if "head" in c.lower()]
                if len(heads) == 2:
                    swap = (heads[0], heads[1])
            if swap is not None:
                i, j = swap
                values[i], values[j] = values[j], values[i]
                yield call, _replace_shape_args(call, values)
            continue
        # einops: rearrange(t, 'b n (h d) -> b h n d', h=heads) -> d=heads
        if _attr_name(call.func) not in ("rearrange", "Rearrange"):
            continue
        pattern_arg = _arg(call, 1 if _attr_name(call.func) == "rearrange" else 0, "pattern")
        if pattern_arg is None or not isinstance(pattern_arg.value, cst.SimpleString):
            continue
        pattern = pattern_arg.value.evaluated_value
        if not isinstance(pattern, str) or "->" not in pattern:
            continue
        lhs = pattern.split("->")[0]
        for kw in (a for a in call.args if a.keyword is not None):
            axis = kw.keyword.value
            for group in _GROUP.findall(lhs):
                axes = group.split()
                if axis in axes and len(axes) == 2:
                    other = axes[1 - axes.index(axis)]
                    if _keyword(call, other) is None and other.isidentifier():
                        yield call, call.with_changes(args=[
                            a.with_changes(keyword=cst.Name(other)) if a is kw else a for a in call.args])
                    break
            else:
                continue
            break


def op_drop_flatten(p: Program) -> Iterator[Site]:
    for node in p.nodes:
        if not isinstance(node, cst.Call):
            continue
        if _is_function(node, "flatten") and _positional(node):
            yield _dropped_call(p, node, _positional(node)[0].value)
        elif _is_method(node, "flatten") and isinstance(node.func, cst.Attribute):
            yield _dropped_call(p, node, node.func.value)
        elif _attr_name(node.func) == "Flatten":
            parent = p.parent(p.parent(node) or node)  # Arg -> Call(Sequential)
            if isinstance(parent, cst.Call) and _attr_name(parent.func) == "Sequential":
                yield p.parent(node), cst.RemoveFromParent()
        else:
            args = _shape_args(node)
            if args is not None and len(args) == 2 and _int_value(args[1].value) == -1 and _int_value(args[0].value) is None:
                assert isinstance(node.func, cst.Attribute)
                yield _dropped_call(p, node, node.func.value)  # x.view(x.size(0), -1) -> x


def op_wrong_permute(p: Program) -> Iterator[Site]:
    for call in _calls(p.nodes):
        if _is_method(call, "permute"):
            pos = _positional(call)
            if len(pos) == 1 and isinstance(pos[0].value, (cst.Tuple, cst.List)):
                seq = pos[0].value
                dims = [e.value for e in seq.elements]
                if len(dims) >= 2 and _code(dims[-1]) != _code(dims[-2]):
                    dims[-1], dims[-2] = dims[-2], dims[-1]
                    elements = [e.with_changes(value=v) for e, v in zip(seq.elements, dims, strict=True)]
                    yield call, call.with_changes(args=[pos[0].with_changes(value=seq.with_changes(elements=elements))])
            elif len(pos) >= 2 and len(pos) == len(call.args) and _code(pos[-1].value) != _code(pos[-2].value):
                values = [a.value for a in pos]
                values[-1], values[-2] = values[-2], values[-1]
                yield call, call.with_changes(args=[a.with_changes(value=v) for a, v in zip(call.args, values, strict=True)])


def _statement_call(node: cst.CSTNode, method: str) -> bool:
    """`x.method()` alone on its line."""
    if not isinstance(node, cst.SimpleStatementLine) or len(node.body) != 1:
        return False
    stmt = node.body[0]
    return (isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.Call)
            and isinstance(stmt.value.func, cst.Attribute) and stmt.value.func.attr.value == method)


def _remove_statement(p: Program, node: cst.CSTNode) -> object:
    """Remove a statement line; `pass` if it was alone in its block."""
    block = p.parent(node)
    if isinstance(block, cst.IndentedBlock) and len(block.body) == 1:
        return cst.SimpleStatementLine(body=[cst.Pass()])
    return cst.RemoveFromParent()


def op_drop_zero_grad(p: Program) -> Iterator[Site]:
    for node in p.nodes:
        if _statement_call(node, "zero_grad"):
            yield node, _remove_statement(p, node)


def op_drop_eval(p: Program) -> Iterator[Site]:
    for node in p.nodes:
        if _statement_call(node, "eval"):
            yield node, _remove_statement(p, node)


def op_softmax_before_ce(p: Program) -> Iterator[Site]:
    for call in _calls(p.nodes):
        is_ce = _is_function(call, "cross_entropy") or _dotted(call.func) in p.ce_callables
        pos = _positional(call)
        if not is_ce or not pos:
            continue
        wrapped = cst.parse_expression("torch.softmax(_, dim=1)")
        assert isinstance(wrapped, cst.Call)
        wrapped = wrapped.with_changes(args=[wrapped.args[0].with_changes(value=pos[0].value), wrapped.args[1]])
        yield call, _replace_arg(call, pos[0], wrapped)


def op_accumulate_loss_graph(p: Program) -> Iterator[Site]:
    for node in p.nodes:
        item: cst.Call | None = None
        if isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.AddAssign):
            item = node.value if isinstance(node.value, cst.Call) else None
        elif isinstance(node, cst.Call) and _is_method(node, "append") and len(node.args) == 1:
            value = node.args[0].value
            item = value if isinstance(value, cst.Call) else None
        if item is None or not _is_method(item, "item") or item.args or p.inside_no_grad(node):
            continue
        assert isinstance(item.func, cst.Attribute)
        if "loss" not in _code(item.func.value).lower():
            continue
        if isinstance(node, cst.AugAssign):
            yield node, node.with_changes(value=item.func.value)
        else:
            yield node, node.with_changes(args=[node.args[0].with_changes(value=item.func.value)])


def op_drop_no_grad(p: Program) -> Iterator[Site]:
    for node in p.nodes:
        if isinstance(node, cst.With) and len(node.items) == 1 and _is_no_grad(node.items[0].item):
            if isinstance(node.body, cst.IndentedBlock):
                yield node, cst.FlattenSentinel(node.body.body)
        elif isinstance(node, cst.FunctionDef):
            for deco in node.decorators:
                if _is_no_grad(deco.decorator):
                    yield node, node.with_changes(decorators=[d for d in node.decorators if d is not deco])


_OPERATOR_FUNCS: dict[str, Callable[[Program], Iterator[Site]]] = {
    name: globals()[f"op_{name}"] for name in OPERATORS
}


# --- driver -------------------------------------------------------------------------------------


class _Collect(cst.CSTVisitor):
    def __init__(self) -> None:
        self.nodes: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.nodes.append(node)
        return True


class _Replace(cst.CSTTransformer):
    def __init__(self, target: cst.CSTNode, new: object) -> None:
        self.target = target
        self.new = new

    def on_leave(self, original_node, updated_node):  # type: ignore[no-untyped-def]
        if original_node is self.target:
            return self.new
        return updated_node


def _statement(p: Program, node: cst.CSTNode) -> cst.CSTNode:
    """The statement a site lives in: the node itself if it is one, else its nearest statement."""
    cur: cst.CSTNode | None = node
    while cur is not None and not isinstance(cur, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        cur = p.parent(cur)
    if cur is None:
        raise ValueError("a site outside any statement")
    return cur


def _render(module: cst.Module, statements: list[cst.CSTNode], indent: str) -> list[str]:
    """`statements` as source lines at `indent`, through a throw-away `if _:` block, so that libcst
    lays out nested blocks and continuation lines exactly as it would in place."""
    if not statements:
        return []
    if not indent:
        return module.with_changes(body=statements, header=[], footer=[], has_trailing_newline=True).code.splitlines(keepends=True)
    wrapper = cst.If(test=cst.Name("_"), body=cst.IndentedBlock(body=statements, indent=indent))
    # has_trailing_newline: a file without a final newline would otherwise glue the next line on
    return module.with_changes(body=[wrapper], header=[], footer=[], has_trailing_newline=True).code.splitlines(keepends=True)[1:]


def _splice(module: cst.Module, lines: list[str], positions: Any, p: Program, node: cst.CSTNode,
            new: object) -> tuple[str, str, str]:
    """The mutated source, and the changed lines before/after. Only the statement that holds the
    site is transformed and re-rendered: a whole-module transform per mutant costs 10x more."""
    stmt = _statement(p, node)
    rng = positions[stmt]
    start, end = rng.start.line, rng.end.line
    indent = lines[start - 1][: rng.start.column]
    decorators = getattr(stmt, "decorators", ())
    if decorators:  # a def's range starts at `def`, below its decorators
        start = min(start, *(positions[d].start.line for d in decorators))
    replaced = stmt.visit(_Replace(node, new)) if stmt is not node else new
    if isinstance(replaced, cst.RemovalSentinel):
        statements: list[cst.CSTNode] = []
    elif isinstance(replaced, cst.FlattenSentinel):
        statements = list(replaced.nodes)
    else:
        assert isinstance(replaced, cst.CSTNode)
        # the comment lines above it stay where they are (outside the replaced lines), and so do
        # the comments after its last statement (a block's footer)
        if hasattr(replaced, "leading_lines"):
            replaced = replaced.with_changes(leading_lines=[])
        body = getattr(replaced, "body", None)
        if isinstance(body, cst.IndentedBlock) and body.footer:
            replaced = replaced.with_changes(body=body.with_changes(footer=[]))
        statements = [replaced]
    new_lines = _render(module, statements, indent)
    before, after = _changed_lines("".join(lines[start - 1 : end]), "".join(new_lines))
    return "".join(lines[: start - 1] + new_lines + lines[end:]), before, after


_BATCH_ARG = re.compile(r"""add_argument\(\s*['"]--batch[-_]size['"][^)]*?default\s*=\s*(\d+)""", re.S)
_BATCH_ASSIGN = re.compile(r"""\bbatch_size['"]?\s*[=:]\s*(\d+)""")


def program_batch_size(source: str) -> int:
    """The batch size a hurried author would hard-code: the argparse default, else the first
    `batch_size = N` / `batch_size=N` / `'batch_size': N`, else 64."""
    for pattern in (_BATCH_ARG, _BATCH_ASSIGN):
        match = pattern.search(source)
        if match:
            return int(match.group(1))
    return 64


def _ce_callables(nodes: list[cst.CSTNode]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call) and _attr_name(node.value.func) == "CrossEntropyLoss":
            for target in node.targets:
                name = _dotted(target.target)
                if name:
                    names.add(name)
    return names


def _spread(n: int, cap: int) -> list[int]:
    if n <= cap:
        return list(range(n))
    if cap == 1:
        return [0]
    return sorted({round(i * (n - 1) / (cap - 1)) for i in range(cap)})


def _changed_lines(before: str, after: str) -> tuple[str, str]:
    a, b = before.splitlines(), after.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            old = " / ".join(line.strip() for line in a[i1:i2][:3])
            new = " / ".join(line.strip() for line in b[j1:j2][:3])
            return old, new
    return "", ""


def mutants(program: str, source: str, operators: tuple[str, ...] = OPERATORS, cap: int = DEFAULT_CAP) -> list[Mutant]:
    """Every mutant of `source` (at most `cap` sites per operator), in operator order."""
    wrapper = MetadataWrapper(cst.parse_module(source))
    positions = wrapper.resolve(PositionProvider)
    parents = wrapper.resolve(ParentNodeProvider)
    collect = _Collect()
    wrapper.module.visit(collect)
    prog = Program(collect.nodes, dict(parents), program_batch_size(source), _ce_callables(collect.nodes))
    lines = source.splitlines(keepends=True)
    unterminated = bool(lines) and not lines[-1].endswith(("\n", "\r"))
    if unterminated:
        lines[-1] += "\n"
    result: list[Mutant] = []
    for name in operators:
        sites = list(_OPERATOR_FUNCS[name](prog))
        for index in _spread(len(sites), cap):
            node, new = sites[index]
            mutated, before, after = _splice(wrapper.module, lines, positions, prog, node, new)
            if unterminated and mutated.endswith("\n"):
                mutated = mutated[:-1]
            if mutated == source:
                continue
            result.append(Mutant(program, name, index, positions[node].start.line, before, after, mutated))
    return result
