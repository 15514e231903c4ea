"""The shape rules' wording (pinned, as jaxtyping pins its messages), severities, and the
silences the rules promise: unknowns, files without tensors, one finding per mistake."""

from __future__ import annotations

import textwrap

from shapecheck.diagnostics import Severity
from shapecheck.engine import lint_source
from shapecheck.rules.shape import AnnotationMismatch, InvalidAnnotation
from shapecheck.testing import lint_snippet

HEADER = """\
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from jaxtyping import Float, Int
"""

SHAPE_CODES = ["SC101", "SC102", "SC103", "SC104", "SC105", "SC106", "SC107", "SC108", "SC109", "SC110", "SC111", "SC190"]


def run(body: str, codes: list[str] | None = None) -> list:
    return lint_snippet(HEADER + textwrap.dedent(body), codes or SHAPE_CODES)


def test_sc104_return_message_aligns_both_shapes_and_marks_the_axis() -> None:
    [d] = run('''
    def head(x: Float[Tensor, "b 512"], w: Float[Tensor, "512 10"]) -> Float[Tensor, "b 100"]:
        return x @ w
    ''', ["SC104"])
    assert d.severity is Severity.ERROR
    assert d.message == "the return value is (b, 10) but its annotation says (b, 100): axis 1 is 10, not 100"
    assert d.notes == [
        "  annotated : (b, 100)",
        "                  ^^^",
        "  inferred  : (b, 10)",
        "                  ^^",
        "  annotated's axis -1 (100) must equal inferred's axis -1 (10)",
        "fix the computation, or the annotation if it is the annotation that is wrong",
    ]


def test_sc104_argument_message_names_the_binding() -> None:
    [d] = run('''
    def dot(a: Float[Tensor, "n"], b: Float[Tensor, "n"]) -> Float[Tensor, ""]:
        return (a * b).sum()

    def use(x: Float[Tensor, "3"], y: Float[Tensor, "4"]):
        return dot(x, y)
    ''', ["SC104"])
    assert d.message == "dot(): argument `b` has n=4 at axis 0, but n=3 was bound by an earlier argument"
    assert "dims bound so far: n=3" in d.notes
    assert (d.location.row, d.location.column) == (11, 19)  # at the argument `y`


def test_sc104_keyword_argument_and_rank() -> None:
    [d] = run('''
    def norm(x: Float[Tensor, "b d"]) -> Float[Tensor, "b d"]:
        return x

    def use(v: Float[Tensor, "d"]):
        return norm(x=v)
    ''', ["SC104"])
    assert d.message == "norm(): argument `x` is (d) but the annotation expects (?, ?) (rank 1 vs 2)"
    assert d.location.column == 19


def test_sc109_sc110_sc111_wording() -> None:
    found = {d.code: d for d in run('''
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(8, 16)

        def forward(self, x: Float[Tensor, "batch seq 8"]):
            out, _ = self.rnn(x)
            flat = out.reshape(32, -1)
            return flat.softmax(dim=0)
    ''')}
    assert found["SC109"].message == (
        "reshape(32, ...) hard-codes the batch size: the input is (batch, seq, 16), its first axis `batch` varies, "
        "and the last batch is usually smaller than 32"
    )
    assert found["SC110"].message == (
        "LSTM was built without batch_first=True, so it reads (batch, seq, 8) as (seq, batch, feature): "
        "the batch and time axes are swapped"
    )
    assert found["SC110"].severity is Severity.WARNING
    # the reshape's result has a literal first axis: no batch name left, so no SC111
    assert "SC111" not in found


def test_sc190_reads_like_jaxtyping() -> None:
    [d] = run('''
    def f(x: Float[Tensor, "batch, channels"]):
        return x
    ''', ["SC190"])
    assert d.message == 'invalid jaxtyping annotation Float[Tensor, "batch, channels"]: Axes should be separated with spaces, not commas'
    assert (d.location.row, d.location.column) == (7, 10)


def test_sc190_string_annotation_and_alias_once() -> None:
    found = run('''
    Img = Float[Tensor, "c ... h ..."]

    def f(x: "Float[Tensor, '... c ...']", y: Img, z: Img):
        return x
    ''', ["SC190"])
    assert [(d.location.row, d.code) for d in found] == [(7, "SC190"), (9, "SC190")]


def test_one_bad_op_one_finding_then_unknown() -> None:
    found = run('''
    def f(x: Float[Tensor, "b 784"], w: Float[Tensor, "512 10"]):
        y = x @ w
        z = y + 1
        return z.softmax(dim=5)
    ''')
    assert [d.code for d in found] == ["SC101"]


def test_files_without_tensor_imports_cost_nothing_and_report_nothing() -> None:
    source = "def f(x):\n    return x.view(32, -1).squeeze()\n"
    assert lint_source("plain.py", source, SHAPE_CODES) == []


def test_unannotated_training_script_is_silent() -> None:
    assert run('''
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = x.view(x.size(0), -1)
            return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)

    def train(model, loader, optimizer):
        for data, target in loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
    ''') == []


def test_loop_widening_never_reports_on_the_widened_value() -> None:
    assert run('''
    def grow(x: Float[Tensor, "b d"], n: int):
        h = x
        for _ in range(n):
            h = torch.cat([h, x], dim=1)
        return h + x[:, :1]
    ''') == []


def test_branch_join_is_silent_where_branches_disagree() -> None:
    assert run('''
    def f(x: Float[Tensor, "b d"], w1: Float[Tensor, "d 4"], w2: Float[Tensor, "d 5"], flag: bool):
        y = x @ w1 if flag else x @ w2
        return y + torch.ones(4)
    ''') == []


def test_rules_carry_examples_and_docs() -> None:
    for rule in (AnnotationMismatch, InvalidAnnotation):
        assert len(rule.INVALID) >= 3 and len(rule.VALID) >= 3


def test_sc104_constructor_fixes_class_dims() -> None:
    found = run('''
    class Block(nn.Module):
        def __init__(self, d_model: int):
            super().__init__()
            self.fc = nn.Linear(d_model, d_model)

        def forward(self, x: Float[Tensor, "b s d_model"]) -> Float[Tensor, "b s d_model"]:
            return self.fc(x)

    def run_block(x: Float[Tensor, "b s 256"]):
        block = Block(512)
        ok = Block(256)(x)
        return block(x)
    ''', ["SC104", "SC101"])
    assert [(d.location.row, d.code) for d in found] == [(18, "SC104")]
    assert found[0].message == (
        "Block.forward(): argument `x` has d_model=256 at axis 2, but d_model=512 was bound by the constructor"
    )
