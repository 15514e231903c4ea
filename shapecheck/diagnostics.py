"""Diagnostics, severities, fixes and the one table of rule codes.

Codes are written only here (ruff's `codes.rs`): a rule class names its code, this table
gives the code its name, severity, family and whether it is on by default.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only annotations use libcst: `import shapecheck.diagnostics` stays fast (CLI start-up)
    import libcst as cst

DOCS_URL = "https://github.com/shapecheck/shapecheck/blob/main/rules/{code}.md"


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def letter(self) -> str:
        return self.value[0].upper()

    @property
    def rank(self) -> int:
        """info 0 < warning 1 < error 2: `--fail-level warning` fails on ranks >= 1."""
        return _RANK[self.value]

    def at_least(self, level: str | Severity) -> bool:
        return self.rank >= _RANK[Severity(level).value]


_RANK = {"info": 0, "warning": 1, "error": 2}


class Applicability(str, enum.Enum):
    """How safe a fix is, as ruff says it: safe keeps the meaning, unsafe may change it."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    DISPLAY_ONLY = "display-only"


@dataclass(frozen=True)
class RuleInfo:
    code: str
    name: str
    severity: Severity
    family: str
    summary: str
    default: bool = True

    @property
    def url(self) -> str:
        return DOCS_URL.format(code=self.code)


E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO

_TABLE: list[tuple[str, str, Severity, str, str, bool]] = [
    # shapes
    ("SC101", "shape-mismatch", E, "shape", "operands cannot combine for any sizes", True),
    ("SC102", "broadcast-trap", W, "shape", "implicit broadcast makes the result larger than every operand", True),
    ("SC103", "dim-conflict", W, "shape", "two differently named dims must be equal for the code to run", True),
    ("SC104", "annotation-mismatch", E, "shape", "a value contradicts its jaxtyping annotation", True),
    ("SC105", "loss-shape-mismatch", W, "shape", "loss input and target shapes disagree", True),
    ("SC106", "dim-out-of-range", E, "shape", "dim/axis argument outside the tensor's rank", True),
    ("SC107", "ambiguous-squeeze", W, "shape", "squeeze() without dim on a tensor whose symbolic axis may be 1", True),
    ("SC108", "view-of-noncontiguous", E, "shape", ".view() on a transposed/permuted/expanded tensor", True),
    ("SC109", "hardcoded-batch-size", W, "shape", "literal batch size in view/reshape inside model code", True),
    ("SC110", "rnn-batch-first", W, "shape", "batch-first data fed to an RNN built without batch_first=True", True),
    ("SC111", "reduction-over-batch", W, "shape", "softmax/normalisation over the batch axis", True),
    ("SC190", "invalid-annotation", E, "shape", "a jaxtyping annotation that jaxtyping would reject", True),
    # training loop
    ("SC201", "missing-zero-grad", W, "training", "backward() and step() in a loop, gradients never cleared", True),
    ("SC202", "zero-grad-after-backward", E, "training", "zero_grad() between backward() and step()", True),
    ("SC203", "step-before-backward", E, "training", "optimizer.step() before backward() in the same iteration", True),
    ("SC204", "scheduler-before-optimizer", W, "training", "scheduler.step() before optimizer.step()", True),
    ("SC210", "eval-without-eval-mode", W, "training", "evaluation loop without model.eval()", True),
    ("SC211", "train-mode-not-restored", W, "training", "model.eval() in the epoch loop, never back to train()", True),
    ("SC212", "eval-without-no-grad", I, "training", "evaluation loop without no_grad()/inference_mode()", True),
    ("SC213", "backward-under-no-grad", E, "training", "backward() inside no_grad()/inference_mode()", True),
    ("SC214", "functional-dropout-in-eval", W, "training", "F.dropout in forward without training=self.training", True),
    # losses and numerics
    ("SC301", "softmax-before-cross-entropy", W, "loss", "softmax output fed to cross-entropy", True),
    ("SC302", "sigmoid-before-bce", W, "loss", "sigmoid output fed to BCELoss", True),
    ("SC303", "unstable-log", W, "loss", "log of softmax/sum-exp/sigmoid", True),
    ("SC304", "loss-not-differentiable", E, "loss", "backward() on a value with no gradient path", True),
    # autograd and memory
    ("SC401", "loss-accumulated-with-graph", W, "autograd", "loss tensor accumulated across iterations", True),
    ("SC402", "unscaled-grad-accumulation", W, "autograd", "gradient accumulation without dividing the loss", True),
    ("SC403", "nonleaf-grad", W, "autograd", ".grad of a non-leaf tensor without retain_grad()", True),
    ("SC404", "inplace-on-leaf", E, "autograd", "in-place op on a leaf tensor that requires grad", True),
    ("SC405", "forward-called-directly", W, "autograd", "model.forward(x) instead of model(x)", True),
    # device and data
    ("SC501", "tensor-without-device", W, "device", "tensor created in forward without device=", True),
    ("SC502", "nonblocking-without-pinned", I, "device", "non_blocking=True without pin_memory=True", True),
    ("SC503", "device-mismatch", E, "device", "tensors on different known devices meet in one op", True),
    # accelerator pipeline: host-device stalls and distributed training
    ("SC701", "host-sync-in-step", I, "pipeline", "host-device sync every iteration of a training loop", True),
    ("SC702", "repeated-host-to-device-copy", W, "pipeline", "loop-invariant tensor copied to the device every iteration", True),
    ("SC703", "dataloader-starves-gpu", I, "pipeline", "single-process DataLoader feeding a GPU training loop", True),
    ("SC704", "ddp-without-distributed-sampler", W, "pipeline", "DDP training without DistributedSampler or set_epoch()", True),
    ("SC705", "split-device-metric", W, "pipeline", "loss/metric with .cpu() on one side only, every step", True),
    ("SC706", "cudnn-benchmark-varying-shapes", I, "pipeline", "cudnn.benchmark with input sizes that vary", False),
    # init and optimiser
    ("SC601", "constant-weight-init", W, "init", "weights initialised to a constant", True),
    ("SC602", "adam-weight-decay", I, "init", "Adam(weight_decay=...) is L2, not decoupled decay", False),
    ("SC603", "bias-before-batchnorm", I, "init", "Conv/Linear bias directly followed by BatchNorm", False),
    # tool
    ("SC901", "syntax-error", E, "tool", "the file could not be parsed", True),
    ("SC902", "unused-suppression", I, "tool", "a suppression comment that suppresses nothing", False),
    ("SC903", "internal-error", E, "tool", "the analysis of this file failed", True),
]

RULES: dict[str, RuleInfo] = {
    code: RuleInfo(code, name, sev, family, summary, default)
    for code, name, sev, family, summary, default in _TABLE
}
BY_NAME: dict[str, RuleInfo] = {info.name: info for info in RULES.values()}


@dataclass(frozen=True)
class Location:
    """1-based row and column, as ruff writes them."""

    row: int
    column: int


@dataclass
class NodeEdit:
    """A fix edit as libcst nodes: replace `node` by `replacement` (None deletes a statement).

    Rules build these; the engine turns them into text `Edit`s once positions are known.
    """

    node: cst.CSTNode
    replacement: cst.CSTNode | None


@dataclass(frozen=True)
class Edit:
    content: str
    location: Location
    end_location: Location


@dataclass
class Fix:
    applicability: Applicability
    message: str
    node_edits: list[NodeEdit] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)

    @classmethod
    def safe(cls, message: str, *edits: NodeEdit) -> Fix:
        return cls(Applicability.SAFE, message, list(edits))

    @classmethod
    def unsafe(cls, message: str, *edits: NodeEdit) -> Fix:
        return cls(Applicability.UNSAFE, message, list(edits))

    def to_json(self) -> dict[str, Any]:
        return {
            "applicability": self.applicability.value,
            "message": self.message,
            "edits": [
                {
                    "content": e.content,
                    "location": {"row": e.location.row, "column": e.location.column},
                    "end_location": {"row": e.end_location.row, "column": e.end_location.column},
                }
                for e in self.edits
            ],
        }


@dataclass
class Diagnostic:
    """One finding. `message` is the one-line summary; `notes` the teaching detail under it
    (aligned shapes, dim bindings, the likely intent), printed by the `full` format."""

    code: str
    message: str
    filename: str
    location: Location
    end_location: Location
    severity: Severity | None = None
    notes: list[str] = field(default_factory=list)
    fix: Fix | None = None
    cell: int | None = None
    # where a `# noqa` for this finding goes: the start row, or the last row of the multi-line
    # string the finding starts in (ruff's `noqa_row`); None = the start row
    noqa_row: int | None = None

    def __post_init__(self) -> None:
        if self.severity is None:
            self.severity = RULES[self.code].severity

    @property
    def info(self) -> RuleInfo:
        return RULES[self.code]

    @property
    def url(self) -> str:
        return self.info.url

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.filename, self.location.row, self.location.column, self.code)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.info.name,
            "message": self.message,
            "severity": self.severity.value if self.severity else None,
            "filename": self.filename,
            "location": {"row": self.location.row, "column": self.location.column},
            "end_location": {"row": self.end_location.row, "column": self.end_location.column},
            "fix": self.fix.to_json() if self.fix else None,
            "noqa_row": self.noqa_row or self.location.row,
            "url": self.url,
            "cell": self.cell,
            "notes": list(self.notes),
        }
