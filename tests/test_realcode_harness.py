"""The real-code mutation harness (benchmarks/realcode): each operator's rewrite, determinism, and
the verdict/scoring helpers. Fast: no torch, no shapecheck process; the evaluation itself is
`python benchmarks/realcode/run.py`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent.parent / "benchmarks" / "realcode"
sys.path.insert(0, str(HARNESS))

import confirm  # noqa: E402
import mutate  # noqa: E402
import run  # noqa: E402

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom einops import rearrange\n"

# operator, a line of real code, the line after the mutation ("" when the line is removed)
CASES = [
    ("drop_unsqueeze", "y = mask.unsqueeze(1) * x", "y = mask * x"),
    ("drop_unsqueeze", "x = x.unsqueeze(1)", ""),
    ("drop_unsqueeze", "y = t[:, None] + u", "y = t[:] + u"),
    ("linear_in_features", "fc1 = nn.Linear(9216, 128)", "fc1 = nn.Linear(18432, 128)"),
    ("linear_in_features", "fc = nn.Linear(7*7*32, n)", "fc = nn.Linear(7*7, n)"),
    ("linear_in_features", "fc = nn.Linear(hidden_size, n)", "fc = nn.Linear(hidden_size * 2, n)"),
    ("conv_channels", "c = nn.Conv2d(32, 64, 3, 1)", "c = nn.Conv2d(64, 64, 3, 1)"),
    ("transpose_before_view", "y = y.transpose(1, 2).contiguous().view(B, T, C)", "y = y.transpose(1, 2).view(B, T, C)"),
    ("transpose_before_view", "y = y.permute(0, 2, 1).reshape(B, -1)", "y = y.permute(0, 2, 1).view(B, -1)"),
    ("cat_dim", "z = torch.cat([a, b], dim=1)", "z = torch.cat([a, b], dim=0)"),
    ("cat_dim", "z = torch.cat(outputs, -1)", "z = torch.cat(outputs, -2)"),
    ("cat_dim", "z = torch.cat([a, b])", "z = torch.cat([a, b], dim=1)"),
    ("softmax_dim", "p = F.softmax(att, dim=-1)", "p = F.softmax(att, dim=-2)"),
    ("softmax_dim", "p = att.softmax(dim = -1)", "p = att.softmax(dim = -2)"),
    ("softmax_dim", "sm = nn.Softmax(dim=1)", "sm = nn.Softmax(dim=0)"),
    ("sum_dim", "s = x.sum(1)", "s = x.sum(0)"),
    ("sum_dim", "m = torch.mean(x, dim=2)", "m = torch.mean(x, dim=1)"),
    ("hardcoded_batch_view", "x = x.view(x.size(0), -1)", "x = x.view(64, -1)"),
    ("hardcoded_batch_view", "x = x.reshape(-1, 28, 28)", "x = x.reshape(64, 28, 28)"),
    ("batch_first_flip", "rnn = nn.LSTM(28, 64, batch_first=True)", "rnn = nn.LSTM(28, 64, batch_first=False)"),
    ("batch_first_flip", "rnn = nn.GRU(10, 20, 2)", "rnn = nn.GRU(10, 20, 2, batch_first=True)"),
    ("swap_matmul", "att = q @ k.transpose(-2, -1)", "att = k.transpose(-2, -1) @ q"),
    ("swap_matmul", "s = torch.mm(a, w)", "s = torch.mm(w, a)"),
    ("head_split", "k = k.view(B, T, self.n_head, C // self.n_head)", "k = k.view(B, T, C // self.n_head, self.n_head)"),
    ("head_split", "k = k.view(b, n, self.num_heads, self.head_dim)", "k = k.view(b, n, self.head_dim, self.num_heads)"),
    ("head_split", "q = rearrange(t, 'b n (h d) -> b h n d', h = self.heads)", "q = rearrange(t, 'b n (h d) -> b h n d', d = self.heads)"),
    ("drop_flatten", "x = torch.flatten(x, 1)", ""),
    ("drop_flatten", "h = self.fc(x.flatten(1))", "h = self.fc(x)"),
    ("wrong_permute", "y = x.permute(0, 2, 1)", "y = x.permute(0, 1, 2)"),
    ("drop_zero_grad", "optimizer.zero_grad()", ""),
    ("softmax_before_ce", "loss = F.cross_entropy(logits, y)", "loss = F.cross_entropy(torch.softmax(logits, dim=1), y)"),
    ("drop_eval", "model.eval()", ""),
    ("accumulate_loss_graph", "total_loss += loss.item()", "total_loss += loss"),
    ("accumulate_loss_graph", "losses.append(loss.item())", "losses.append(loss)"),
]


@pytest.mark.parametrize(("operator", "line", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_operator_rewrites_the_line(operator: str, line: str, expected: str) -> None:
    source = HEADER + "for step in range(2):\n    " + line + "\n    print(step)\n"
    found = mutate.mutants("p", source, operators=(operator,))
    assert len(found) == 1, [m.after for m in found]
    assert found[0].before == line
    assert found[0].after == expected
    assert found[0].line == 6
    assert found[0].family == ("shape" if operator in mutate.SHAPE_OPERATORS else "training")


def test_no_grad_block_is_unwrapped_and_loss_accumulation_inside_it_is_not_a_site() -> None:
    source = HEADER + "with torch.no_grad():\n    out = model(x)\n    test_loss += loss.item()\n"
    assert [m.operator for m in mutate.mutants("p", source)] == ["drop_no_grad"]
    (m,) = mutate.mutants("p", source, operators=("drop_no_grad",))
    assert "with torch.no_grad" not in m.source and "\nout = model(x)\ntest_loss += loss.item()\n" in m.source


def test_removing_the_only_statement_of_a_block_leaves_pass() -> None:
    source = HEADER + "def reset():\n    opt.zero_grad()\n"
    (m,) = mutate.mutants("p", source, operators=("drop_zero_grad",))
    assert m.source.endswith("def reset():\n    pass\n")


def test_sites_are_capped_evenly_and_deterministically() -> None:
    source = HEADER + "".join(f"l{i} = nn.Linear({i + 1}, 4)\n" for i in range(7))
    first = mutate.mutants("p", source, operators=("linear_in_features",))
    assert [m.site for m in first] == [0, 3, 6]
    assert [m.sha256 for m in first] == [m.sha256 for m in mutate.mutants("p", source, operators=("linear_in_features",))]
    assert len({m.filename for m in first}) == 3


def test_hardcoded_batch_uses_the_programs_batch_size() -> None:
    src = "parser.add_argument('--batch-size', type=int, default=128, metavar='N')\n"
    assert mutate.program_batch_size(src) == 128
    assert mutate.program_batch_size("batch_size = 100\n") == 100
    assert mutate.program_batch_size("x = 1\n") == 64


def test_a_real_program_yields_mutants_of_both_families() -> None:
    assert len(list((HARNESS / "programs").glob("*.py"))) >= 32
    path = HARNESS / "programs" / "ex_mnist.py"
    found = mutate.mutants(path.stem, path.read_text(encoding="utf-8"))
    assert {m.family for m in found} == {"shape", "training"}
    assert all(m.source != path.read_text(encoding="utf-8") and m.program == "ex_mnist" for m in found)


def test_shape_errors_are_told_from_other_failures() -> None:
    assert confirm.is_shape_error({"type": "RuntimeError", "message": "mat1 and mat2 shapes cannot be multiplied (64x9216 and 18432x128)"})
    assert confirm.is_shape_error({"type": "EinopsError", "message": "Shape mismatch, can't divide axis of length 7 in chunks of 2"})
    assert not confirm.is_shape_error({"type": "NameError", "message": "name 'x' is not defined"})
    assert not confirm.is_shape_error({"type": "RuntimeError", "message": "Trying to backward through the graph a second time"})
    assert not confirm.is_shape_error(None)


def test_verdicts() -> None:
    shape = mutate.Mutant("p", "cat_dim", 0, 1, "a", "b", "src")
    training = mutate.Mutant("p", "drop_zero_grad", 0, 1, "a", "", "src")
    original = [["Linear", [64, 10]], ["Linear", [64, 2]]]
    crash = {"error": {"type": "RuntimeError", "message": "Sizes of tensors must match except in dimension 1", "line": 3}, "trace": []}
    assert confirm.verdict(shape, crash, original)[:2] == (True, "crash")
    differs = {"error": None, "trace": [["Linear", [64, 10]], ["Linear", [128, 2]]]}
    confirmed, outcome, message = confirm.verdict(shape, differs, original)
    assert (confirmed, outcome) == (True, "shape-diff") and "(128, 2)" in message and "(64, 2)" in message
    same = {"error": None, "trace": original}
    assert confirm.verdict(shape, same, original)[:2] == (False, "no-effect")
    assert confirm.verdict(training, same, original)[:2] == (True, "runs")
    assert confirm.verdict(training, crash, original)[:2] == (False, "error")


def test_findings_are_compared_without_line_numbers() -> None:
    a = {"code": "SC101", "message": "x (line 12) and y cannot broadcast"}
    b = {"code": "SC101", "message": "x (line 13) and y cannot broadcast"}
    assert run._key(a) == run._key(b)
    assert run._key(a) != run._key({"code": "SC102", "message": a["message"]})


def test_numpy_and_the_programs_own_classes_are_not_sites() -> None:
    source = HEADER + (
        "import numpy as np\n"
        "class Transformer(nn.Module):\n    pass\n"
        "a = np.concatenate([x, y], axis=1)\n"
        "t = Transformer(dim, depth)\n"
        "r = nn.GRU(10, 20)\n"
    )
    found = mutate.mutants("p", source, operators=("cat_dim", "batch_first_flip"))
    assert [(m.operator, m.before) for m in found] == [("batch_first_flip", "r = nn.GRU(10, 20)")]


@pytest.mark.parametrize("ending", ["", "\n"])
def test_mutants_parse_in_a_file_without_a_final_newline(ending: str) -> None:
    import libcst

    source = HEADER + "def f(x):\n    x = x.view(x.size(0), -1)\n    return x\n\nprint(f)" + ending
    (m,) = mutate.mutants("p", source, operators=("hardcoded_batch_view",))
    libcst.parse_module(m.source)
    assert m.source == source.replace("x.view(x.size(0), -1)", "x.view(64, -1)")
