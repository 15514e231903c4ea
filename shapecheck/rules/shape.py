"""Shape rules SC101-SC111, SC190: each reads the file's `inference` fact (computed once by
`shapecheck.infer.interpreter.analyse_file`) and reports the findings of its code at the node the
interpreter or the op's shape function stored. No rule here derives anything itself (pyright's
checker/evaluator split): a missing fact is added to `shapecheck/infer/`.
"""

from __future__ import annotations

from typing import ClassVar

import libcst as cst

from shapecheck.diagnostics import Severity
from shapecheck.infer import messages
from shapecheck.infer.interpreter import FileAnalysis, analyse_file, source_of
from shapecheck.rules.base import FileContext, Invalid, LintRule, Valid


def inference(ctx: FileContext) -> FileAnalysis:
    return ctx.fact("inference", analyse_file)


class _ShapeRule(LintRule):
    """Reports the stored findings of `CODE`, once per file."""

    def visit_Module(self, node: cst.Module) -> bool:
        analysis = inference(self.ctx)
        for finding in analysis.by_code(self.CODE):
            severity = Severity(finding.severity) if finding.severity else None
            self.report(finding.node, finding.message, notes=finding.notes, severity=severity)
        return False


_HEADER = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from jaxtyping import Float, Int
'''.lstrip("\n")


def _ex(body: str) -> str:
    return _HEADER + "\n" + body.strip("\n") + "\n"


class ShapeMismatch(_ShapeRule):
    """## What it does
    Flags operations whose operands cannot combine for any sizes consistent with the
    annotations: a broadcast that fails, a matmul/linear whose inner dims differ, a `view` or
    `reshape` whose element count cannot match, a `cat` of tensors that disagree off the
    concatenation axis. einops patterns and einsum equations that are rejected whatever the
    input (no `->`, an output axis the input lacks, a new `repeat` axis without its size,
    unbalanced or nested parentheses, a term count that is not the operand count) are errors
    even when the tensor's shape is unknown, and so is an `einops.layers.torch.Rearrange` built
    with such a pattern in `__init__` (einops raises in its constructor).

    ## Why is this bad?
    The line raises a `RuntimeError` the first time it runs: for every batch, on every device.
    Catching it statically saves a launch (and, on a cluster, a queue wait).

    ## Known problems
    Only shapes the interpreter can follow are checked: values from unannotated parameters,
    unknown ops or data loaders are unknown, and unknowns are never reported.
    """

    CODE: ClassVar[str] = "SC101"
    INVALID = [
        Invalid(_ex('''
def project(x: Float[Tensor, "batch 784"], w: Float[Tensor, "512 10"]):
    return x @ w  # SC101
'''), "matmul inner dims differ"),
        Invalid(_ex('''
def add(a: Float[Tensor, "4 3"], b: Float[Tensor, "4"]):
    return a + b  # SC101
'''), "the course's failing broadcast (seed 1.5.3, example 3)"),
        Invalid(_ex('''
def flatten(x: Float[Tensor, "b 3 32 32"]):
    return x.view(x.size(0), 3 * 32 * 31)  # SC101
'''), "view element count"),
        Invalid(_ex('''
from einops import rearrange


def patches(x):
    return rearrange(x, "b c h w -> b (h w) d")  # SC101
'''), "an output axis the input lacks: einops raises for every input"),
    ]
    VALID = [
        Valid(_ex('''
def project(x: Float[Tensor, "batch 784"], w: Float[Tensor, "784 10"]):
    return x @ w
'''), "inner dims agree"),
        Valid(_ex('''
def add(a: Float[Tensor, "32 128"], b: Float[Tensor, "128"]):
    return a + b
'''), "the standard bias add (seed 1.5.3, example 1)"),
        Valid(_ex('''
def flatten(x):
    return x.view(x.size(0), -1)
'''), "unknown shapes are never reported"),
        Valid(_ex('''
from einops import rearrange


def patches(x):
    return rearrange(x, "b c h w -> b (h w) c")
'''), "a valid pattern on an unknown shape"),
    ]


class BroadcastTrap(_ShapeRule):
    """## What it does
    Flags an implicit broadcast whose result is larger than every operand, such as
    `(N,) - (N, 1) -> (N, N)`: a size-1 (or missing) axis is stretched against an axis the
    other operand also has elsewhere.

    ## Why is this bad?
    Nothing fails: the loss is just computed over an `N x N` matrix instead of `N` values, and
    the model trains on nonsense (the course's "column vector trap", seed 1.5.4).

    ## Known problems
    Silent when the intent is explicit: an operand made by `x[:, None]`, `unsqueeze`, `view`,
    `reshape`, `expand`, `einsum` or einops says the outer product is on purpose, and so do
    operands of equal rank whose size-1 axes are all written out (`(n, 1) + (1, m)`, the
    course's outer product): only a rank-padded operand makes the broadcast implicit.
    """

    CODE: ClassVar[str] = "SC102"
    INVALID = [
        Invalid(_ex('''
def mse(pred: Float[Tensor, "n"], target: Float[Tensor, "n 1"]):
    return ((pred - target) ** 2).mean()  # SC102
'''), "prediction (N) against a column target (N, 1)"),
        Invalid(_ex('''
def residual(y: Float[Tensor, "batch"], y_hat: Float[Tensor, "batch 1"]):
    r = y_hat - y  # SC102
    return r
'''), "the trap the other way round"),
        Invalid(_ex('''
def weigh(scores: Float[Tensor, "n 1"], weights: Float[Tensor, "n"]):
    return scores * weights  # SC102
'''), "per-sample weights against a column"),
    ]
    VALID = [
        Valid(_ex('''
def mse(pred: Float[Tensor, "n"], target: Float[Tensor, "n 1"]):
    return ((pred - target.squeeze(1)) ** 2).mean()
'''), "shapes match exactly"),
        Valid(_ex('''
def pairwise(x: Float[Tensor, "n"]):
    return x[:, None] - x[None, :]
'''), "explicit outer difference"),
        Valid(_ex('''
def add_bias(x: Float[Tensor, "n c"], bias: Float[Tensor, "c"]):
    return x + bias
'''), "a per-feature bias (seed 1.5.2, case A)"),
        Valid(_ex('''
def grid(col: Float[Tensor, "n 1"], row: Float[Tensor, "1 m"]):
    return col + row
'''), "the course's outer product: both size-1 axes written out, no rank padding"),
    ]


class DimConflict(_ShapeRule):
    """## What it does
    Flags an operation that only works if two differently named dims are equal, for example
    adding a `(batch, d)` tensor to a `(seq, d)` one. The message names the assumption.
    Also a per-channel constant that broadcasting lines up with the wrong axis: a `(3,)` mean
    against a `(B, 3, H, W)` image batch meets `W`, not the channels, so it only runs if `W == 3`
    (when `W` is a known size other than 3 it is an SC101 error, with the same fix).

    ## Why is this bad?
    The code runs only when the sizes happen to coincide (a square test input, a batch size
    equal to the sequence length) and crashes or silently mixes axes otherwise.

    ## Known problems
    If the two names really are the same size, use one name in the annotations.
    """

    CODE: ClassVar[str] = "SC103"
    INVALID = [
        Invalid(_ex('''
def add(x: Float[Tensor, "batch d"], pos: Float[Tensor, "seq d"]):
    return x + pos  # SC103
'''), "batch vs seq"),
        Invalid(_ex('''
def scores(q: Float[Tensor, "b s d"], k: Float[Tensor, "b s e"]):
    return q @ k.transpose(1, 2)  # SC103
'''), "matmul inner dims named differently"),
        Invalid(_ex('''
def gate(h: Float[Tensor, "b hidden"], g: Float[Tensor, "b d_model"]):
    return h * g  # SC103
'''), "two feature sizes"),
        Invalid(_ex('''
def normalize(images: Float[Tensor, "b 3 h w"]):
    mean = torch.tensor([0.485, 0.456, 0.406])
    return images - mean  # SC103
'''), "per-channel mean against the width axis"),
    ]
    VALID = [
        Valid(_ex('''
def add(x: Float[Tensor, "b s d"], pos: Float[Tensor, "s d"]):
    return x + pos
'''), "positional encoding broadcast over the batch"),
        Valid(_ex('''
def scores(q: Float[Tensor, "b s d"], k: Float[Tensor, "b t d"]):
    return q @ k.transpose(1, 2)
'''), "attention scores (b, s, t)"),
        Valid(_ex('''
def gate(h, g):
    return h * g
'''), "unannotated: unknown, silent"),
        Valid(_ex('''
def normalize(images: Float[Tensor, "b 3 h w"]):
    mean = torch.tensor([0.485, 0.456, 0.406])
    return images - mean[:, None, None]
'''), "per-channel mean viewed as (3, 1, 1)"),
    ]


class AnnotationMismatch(_ShapeRule):
    """## What it does
    Flags a value that contradicts its jaxtyping annotation: a returned tensor whose shape is
    not the return annotation, an annotated assignment, or an argument to an annotated function
    that contradicts the dims bound by earlier arguments (jaxtyping binds dims per call).

    ## Why is this bad?
    With jaxtyping's runtime checker on, the call raises; with it off, the annotation lies to
    every reader and to every tool that trusts it.

    ## Known problems
    Dims are compared symbolically: `n` and `m` may be equal, so they are never a mismatch; a
    rank difference, `3` vs `4`, or `n` vs `n + 1` are.
    """

    CODE: ClassVar[str] = "SC104"
    INVALID = [
        Invalid(_ex('''
def pool(x: Float[Tensor, "b s d"]) -> Float[Tensor, "b d"]:
    return x.mean(dim=1, keepdim=True)  # SC104
'''), "keepdim=True keeps an axis the annotation drops"),
        Invalid(_ex('''
def head(x: Float[Tensor, "b 512"], w: Float[Tensor, "512 10"]):
    logits: Float[Tensor, "b 100"] = x @ w  # SC104
    return logits
'''), "annotated assignment"),
        Invalid(_ex('''
def dot(a: Float[Tensor, "n"], b: Float[Tensor, "n"]) -> Float[Tensor, ""]:
    return (a * b).sum()


def use(x: Float[Tensor, "3"], y: Float[Tensor, "4"]):
    return dot(x, y)  # SC104
'''), "an argument contradicts the dim bound by the first"),
    ]
    VALID = [
        Valid(_ex('''
def pool(x: Float[Tensor, "b s d"]) -> Float[Tensor, "b d"]:
    return x.mean(dim=1)
'''), "the right axis"),
        Valid(_ex('''
def dot(a: Float[Tensor, "n"], b: Float[Tensor, "n"]) -> Float[Tensor, ""]:
    return (a * b).sum()


def use(x: Float[Tensor, "m"], y: Float[Tensor, "m"]):
    return dot(x, y)
'''), "dims bound consistently across the call"),
        Valid(_ex('''
def split_heads(x: Float[Tensor, "b s d"], h: int) -> Float[Tensor, "b h s e"]:
    b, s, d = x.shape
    return x.view(b, s, h, d // h).transpose(1, 2)
'''), "names it cannot prove different are fine"),
    ]


class LossShapeMismatch(_ShapeRule):
    """## What it does
    Flags a loss whose input and target shapes disagree: `mse_loss` of `(N, 1)` against `(N,)`
    (PyTorch broadcasts to `(N, N)` with only a warning), a cross-entropy target of `(N, 1)`
    instead of `(N,)`, a class count that differs between logits and weights, a binary
    cross-entropy target whose shape is not the input's, and language-model logits `(B, T, V)`
    passed with `(B, T)` targets: for an input of rank 3 or more the class axis is dim 1, so
    torch reads `T` classes (an error when `T` and `V` differ for certain, a warning naming
    the assumption `T == V` when they are symbols).

    ## Why is this bad?
    The broadcasting cases run and train on a loss averaged over every pair of samples; the
    others raise at the first step. A warning when the loss still runs, an error when it cannot.
    """

    CODE: ClassVar[str] = "SC105"
    INVALID = [
        Invalid(_ex('''
def loss(pred: Float[Tensor, "n 1"], target: Float[Tensor, "n"]):
    return F.mse_loss(pred, target)  # SC105
'''), "regression output (N, 1) against targets (N,)"),
        Invalid(_ex('''
def loss(logits: Float[Tensor, "n classes"], labels: Int[Tensor, "n 1"]):
    return F.cross_entropy(logits, labels)  # SC105
'''), "class indices as a column"),
        Invalid(_ex('''
criterion = nn.BCEWithLogitsLoss()


def loss(logits: Float[Tensor, "n 1"], targets: Float[Tensor, "n"]):
    return criterion(logits, targets)  # SC105
'''), "module form"),
        Invalid(_ex('''
def lm_loss(logits: Float[Tensor, "b t v"], targets: Int[Tensor, "b t"]):
    return F.cross_entropy(logits, targets)  # SC105
'''), "sequence logits: the class axis is dim 1"),
    ]
    VALID = [
        Valid(_ex('''
def loss(pred: Float[Tensor, "n 1"], target: Float[Tensor, "n"]):
    return F.mse_loss(pred.squeeze(1), target)
'''), "shapes match"),
        Valid(_ex('''
def lm_loss(logits: Float[Tensor, "b t v"], targets: Int[Tensor, "b t"]):
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
'''), "sequence logits flattened (or `logits.transpose(1, 2)`)"),
        Valid(_ex('''
def loss(logits: Float[Tensor, "n classes"], labels: Int[Tensor, "n"]):
    return F.cross_entropy(logits, labels)
'''), "class indices (N,)"),
        Valid(_ex('''
def loss(model, x, y):
    return F.mse_loss(model(x), y)
'''), "unknown shapes: silent"),
    ]


class DimOutOfRange(_ShapeRule):
    """## What it does
    Flags a `dim=`/`axis=` argument outside the tensor's rank, e.g. `softmax(dim=2)` on a 2-d
    tensor.

    ## Why is this bad?
    `IndexError: Dimension out of range` at runtime; often a sign the tensor has fewer axes
    than the author thought (a missing batch axis).
    """

    CODE: ClassVar[str] = "SC106"
    INVALID = [
        Invalid(_ex('''
def probs(logits: Float[Tensor, "b c"]):
    return logits.softmax(dim=2)  # SC106
'''), "softmax past the last axis"),
        Invalid(_ex('''
def total(x: Float[Tensor, "n"]):
    return x.sum(dim=1)  # SC106
'''), "a 1-d tensor has one axis"),
        Invalid(_ex('''
def swap(x: Float[Tensor, "rows cols"]):
    return x.transpose(0, 2)  # SC106
'''), "transpose of an axis that does not exist"),
    ]
    VALID = [
        Valid(_ex('''
def probs(logits: Float[Tensor, "b c"]):
    return logits.softmax(dim=-1)
'''), "negative dims count from the right"),
        Valid(_ex('''
def total(x: Float[Tensor, "n"]):
    return x.sum(dim=0)
'''), "in range"),
        Valid(_ex('''
def total(x):
    return x.sum(dim=5)
'''), "unknown rank: silent"),
    ]


class AmbiguousSqueeze(_ShapeRule):
    """## What it does
    Flags `squeeze()` without a `dim` on a tensor with a symbolic axis that may be 1, typically
    the batch axis.

    ## Why is this bad?
    When the last batch has one sample, `squeeze()` drops the batch axis too, and the code
    after it sees a tensor of the wrong rank (or silently broadcasts).

    ## Fix safety
    Name the axis: `x.squeeze(-1)`.
    """

    CODE: ClassVar[str] = "SC107"
    INVALID = [
        Invalid(_ex('''
def scores(x: Float[Tensor, "batch 1"]):
    return x.squeeze()  # SC107
'''), "drops the batch axis when batch == 1"),
        Invalid(_ex('''
def logits(x: Float[Tensor, "b n 1"]):
    y = x.squeeze()  # SC107
    return y
'''), "two symbolic axes"),
        Invalid(_ex('''
def flat(x: Float[Tensor, "b 1 d"]):
    return torch.squeeze(x)  # SC107
'''), "function form"),
    ]
    VALID = [
        Valid(_ex('''
def scores(x: Float[Tensor, "batch 1"]):
    return x.squeeze(-1)
'''), "the axis is named"),
        Valid(_ex('''
x = torch.zeros(4, 1, 3)
y = x.squeeze()
'''), "concrete shape: squeeze() is exact"),
        Valid(_ex('''
def scores(x):
    return x.squeeze()
'''), "unknown shape: silent"),
    ]


class ViewOfNoncontiguous(_ShapeRule):
    """## What it does
    Flags `.view()` applied to the result of `transpose`, `permute`, `.T`, `.mT` or `expand`
    without `.contiguous()` in between (also through a variable), in every spelling:
    `torch.transpose`, `swapaxes`/`swapdims`, `movedim`/`moveaxis`, `.t()`, `.mH`, `view_as`.
    Element-wise ops and `clone()` keep their input's memory order, as torch does, so
    `F.gelu(x.transpose(1, 2)).view(b, -1)` fails too; a view that only splits axes, or keeps
    the transposed shape, works and is silent.

    ## Why is this bad?
    `RuntimeError: view size is not compatible with input tensor's size and stride`: the
    transposed tensor's memory is not laid out in the new shape's order.

    ## Fix safety
    `.reshape(...)` (copies when needed) or `.contiguous().view(...)` keep the meaning.
    """

    CODE: ClassVar[str] = "SC108"
    INVALID = [
        Invalid(_ex('''
def merge_heads(x: Float[Tensor, "b h s e"]):
    b, h, s, e = x.shape
    return x.transpose(1, 2).view(b, s, h * e)  # SC108
'''), "transpose then view"),
        Invalid(_ex('''
def merge_heads(x: Float[Tensor, "b h s e"]):
    b, h, s, e = x.shape
    y = x.permute(0, 2, 1, 3)
    return y.view(b, s, h * e)  # SC108
'''), "through a variable"),
        Invalid(_ex('''
def flat(x: Float[Tensor, "n m"]):
    return x.T.view(-1)  # SC108
'''), ".T then view"),
    ]
    VALID = [
        Valid(_ex('''
def merge_heads(x: Float[Tensor, "b h s e"]):
    b, h, s, e = x.shape
    return x.transpose(1, 2).contiguous().view(b, s, h * e)
'''), "contiguous first"),
        Valid(_ex('''
def merge_heads(x: Float[Tensor, "b h s e"]):
    b, h, s, e = x.shape
    return x.transpose(1, 2).reshape(b, s, h * e)
'''), "reshape copies when it must"),
        Valid(_ex('''
def flat(x: Float[Tensor, "n m"]):
    return x.view(-1)
'''), "a fresh tensor is contiguous"),
    ]


class HardcodedBatchSize(_ShapeRule):
    """## What it does
    Flags a literal batch size in `view`/`reshape` on axis 0 inside an `nn.Module` method when
    the input's first axis is a symbolic batch (`x.view(32, -1)`).

    ## Why is this bad?
    A `DataLoader` without `drop_last=True` yields a smaller last batch; the view then fails
    (or, worse, silently regroups samples). Inference with batch size 1 fails too.
    """

    CODE: ClassVar[str] = "SC109"
    INVALID = [
        Invalid(_ex('''
class Net(nn.Module):
    def forward(self, x: Float[Tensor, "batch 1 28 28"]):
        return x.view(64, -1)  # SC109
'''), "batch size written into the view"),
        Invalid(_ex('''
BATCH = 32


class Net(nn.Module):
    def forward(self, x: Float[Tensor, "b c h w"]):
        return x.reshape(BATCH, -1)  # SC109
'''), "through a module constant"),
        Invalid(_ex('''
class Head(nn.Module):
    def forward(self, x: Float[Tensor, "n d"]):
        y = x.view((16, -1, 4))  # SC109
        return y
'''), "size as a tuple"),
    ]
    VALID = [
        Valid(_ex('''
class Net(nn.Module):
    def forward(self, x: Float[Tensor, "batch 1 28 28"]):
        return x.view(x.size(0), -1)
'''), "the actual batch size"),
        Valid(_ex('''
class Net(nn.Module):
    def forward(self, x: Float[Tensor, "64 784"]):
        return x.view(64, 28, 28)
'''), "a batch size the annotation fixes"),
        Valid(_ex('''
def make_grid(x: Float[Tensor, "b c h w"]):
    return x.reshape(8, -1)
'''), "outside model code (a plotting helper)"),
    ]


class RnnBatchFirst(_ShapeRule):
    """## What it does
    Flags `(batch, seq, feature)` data (by its annotation's dim names: `batch`/`b`/`n`/`bs`
    then `seq`/`s`/`t`/`len`/`time`) fed to an `nn.LSTM`/`GRU`/`RNN` built without
    `batch_first=True`, or `(seq, batch, feature)` data fed to one built with it.

    ## Why is this bad?
    Nothing fails when the sizes allow it: the RNN runs over the batch as if it were time and
    mixes samples, and the model silently learns nothing useful.
    """

    CODE: ClassVar[str] = "SC110"
    INVALID = [
        Invalid(_ex('''
class Tagger(nn.Module):
    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(d, hidden)

    def forward(self, x: Float[Tensor, "batch seq d"]):
        out, _ = self.lstm(x)  # SC110
        return out
'''), "batch-first data, seq-first LSTM"),
        Invalid(_ex('''
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(32, 64, batch_first=False)

    def forward(self, x: Float[Tensor, "b t 32"]):
        return self.rnn(x)  # SC110
'''), "explicit batch_first=False"),
        Invalid(_ex('''
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(32, 64, batch_first=True)

    def forward(self, x: Float[Tensor, "seq batch 32"]):
        return self.rnn(x)  # SC110
'''), "seq-first data, batch-first RNN"),
    ]
    VALID = [
        Valid(_ex('''
class Tagger(nn.Module):
    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(d, hidden, batch_first=True)

    def forward(self, x: Float[Tensor, "batch seq d"]):
        out, _ = self.lstm(x)
        return out
'''), "batch_first=True"),
        Valid(_ex('''
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(32, 64)

    def forward(self, x: Float[Tensor, "seq batch 32"]):
        return self.rnn(x)
'''), "seq-first data, default layout"),
        Valid(_ex('''
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(32, 64)

    def forward(self, x: Float[Tensor, "a c 32"]):
        return self.rnn(x)
'''), "names that say nothing about the layout"),
    ]


class ReductionOverBatch(_ShapeRule):
    """## What it does
    Flags `softmax`/`log_softmax`/`normalize` (function, method or `nn.Softmax` module) over an
    axis annotated as the batch (`dim=0` on `(batch, classes)`).

    ## Why is this bad?
    Each sample's probabilities then depend on the other samples in the batch; the outputs
    change with the batch size and the loss trains the wrong thing. It never crashes.
    """

    CODE: ClassVar[str] = "SC111"
    INVALID = [
        Invalid(_ex('''
def probs(logits: Float[Tensor, "batch classes"]):
    return F.softmax(logits, dim=0)  # SC111
'''), "softmax over the batch"),
        Invalid(_ex('''
def logp(logits: Float[Tensor, "b c"]):
    return logits.log_softmax(0)  # SC111
'''), "method form"),
        Invalid(_ex('''
class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.softmax = nn.Softmax(dim=0)

    def forward(self, x: Float[Tensor, "n c"]):
        return self.softmax(x)  # SC111
'''), "nn.Softmax(dim=0)"),
    ]
    VALID = [
        Valid(_ex('''
def probs(logits: Float[Tensor, "batch classes"]):
    return F.softmax(logits, dim=-1)
'''), "over the classes"),
        Valid(_ex('''
def attention(scores: Float[Tensor, "b q k"]):
    return scores.softmax(dim=-1)
'''), "over the keys"),
        Valid(_ex('''
def mix(w: Float[Tensor, "experts d"]):
    return w.softmax(dim=0)
'''), "axis 0 is not a batch"),
    ]


class InvalidAnnotation(LintRule):
    """## What it does
    Flags a jaxtyping annotation that jaxtyping itself would reject: dims separated by commas,
    two variadic axes, `##name`, a shape that is not a string...

    ## Why is this bad?
    jaxtyping raises when the annotation is evaluated (at import, or at the first checked call),
    and a static checker cannot read the shapes the author meant.
    """

    CODE: ClassVar[str] = "SC190"
    INVALID = [
        Invalid(_ex('''
def f(x: Float[Tensor, "batch, channels"]):  # SC190
    return x
'''), "commas between dims"),
        Invalid(_ex('''
def f(x: Float[Tensor, "*batch *rest"]):  # SC190
    return x
'''), "two variadic dims"),
        Invalid(_ex('''
Image = Float[Tensor, "c h w 3 ##x"]  # SC190


def f(x: Image):
    return x
'''), "in an alias"),
    ]
    VALID = [
        Valid(_ex('''
def f(x: Float[Tensor, "batch channels"]):
    return x
'''), "spaces between dims"),
        Valid(_ex('''
def f(x: Float[Tensor, "*batch c"], y: Int[Tensor, ""]):
    return x
'''), "one variadic, a scalar"),
        Valid(_ex('''
Image = Float[Tensor, "c h w"]


def f(x: Image, n: "int"):
    return x
'''), "aliases and other string annotations"),
    ]

    def visit_Module(self, node: cst.Module) -> bool:
        for annotation, error in inference(self.ctx).annotation_errors:
            message, notes = messages.invalid_annotation(source_of(annotation), error.message)
            self.report(annotation, message, notes=notes)
        return False
