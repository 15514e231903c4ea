"""The fixer: edits applied in one sorted pass, overlaps left for the next round, applicability
respected, a round that would not parse dropped whole, and `fix_source` converging."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from shapecheck.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from shapecheck.fix.apply import apply_fixes, fix_source


def _diag(edits: list[tuple[int, int, int, int, str]], applicability: Applicability = Applicability.SAFE) -> Diagnostic:
    fix = Fix(applicability, "fix", [], [Edit(c, Location(r1, c1), Location(r2, c2)) for r1, c1, r2, c2, c in edits])
    return Diagnostic("SC405", "m", "x.py", Location(1, 1), Location(1, 1), fix=fix)


def test_edits_applied_right_to_left_in_one_pass() -> None:
    src = "a = f(x)\nb = g(y)\n"
    out, applied = apply_fixes(src, [_diag([(2, 5, 2, 6, "h")]), _diag([(1, 5, 1, 6, "k")])], unsafe=False)
    assert out == "a = k(x)\nb = h(y)\n"
    assert len(applied) == 2


def test_overlapping_edit_waits_for_next_round() -> None:
    src = "a = f(g(x))\n"
    outer = _diag([(1, 5, 1, 12, "z")])
    inner = _diag([(1, 7, 1, 11, "y")])
    out, applied = apply_fixes(src, [outer, inner], unsafe=False)
    assert out == "a = z\n" and applied == [outer]


def test_unsafe_only_when_asked_and_display_only_never() -> None:
    src = "a = f(x)\n"
    unsafe = _diag([(1, 5, 1, 6, "g")], Applicability.UNSAFE)
    display = _diag([(1, 7, 1, 8, "y")], Applicability.DISPLAY_ONLY)
    assert apply_fixes(src, [unsafe, display], unsafe=False) == (src, [])
    out, applied = apply_fixes(src, [unsafe, display], unsafe=True)
    assert out == "a = g(x)\n" and applied == [unsafe]


def test_round_that_breaks_syntax_is_dropped() -> None:
    src = "a = f(x)\n"
    out, applied = apply_fixes(src, [_diag([(1, 5, 1, 6, "(")])], unsafe=True)
    assert out == src and applied == []


def test_edit_outside_the_file_is_ignored() -> None:
    src = "a = 1\n"
    out, applied = apply_fixes(src, [_diag([(9, 1, 9, 2, "b")])], unsafe=True)
    assert out == src and applied == []


def test_fix_source_runs_rounds_until_stable() -> None:
    # two fixes on nested calls overlap: the second one lands in the next round
    src = textwrap.dedent(
        """
        def run(model, decoder, x):
            return decoder.forward(model.forward(x))
        """
    )
    result = fix_source("x.py", src, ["SC405"], unsafe=True)  # unannotated parameters: unsafe
    assert result.source == textwrap.dedent(
        """
        def run(model, decoder, x):
            return decoder(model(x))
        """
    )
    assert len(result.applied) == 2 and result.remaining == []


def test_fix_source_leaves_unsafe_fixes_as_remaining() -> None:
    src = textwrap.dedent(
        """
        import torch

        criterion = torch.nn.BCEWithLogitsLoss()

        def step(model, x, y):
            return criterion(torch.sigmoid(model(x)), y)
        """
    )
    safe_only = fix_source("x.py", src, ["SC302"])
    assert safe_only.source == src and not safe_only.applied
    assert [d.code for d in safe_only.remaining] == ["SC302"]
    assert safe_only.remaining[0].fix is not None
    assert safe_only.remaining[0].fix.applicability is Applicability.UNSAFE
    fixed = fix_source("x.py", src, ["SC302"], unsafe=True)
    assert "criterion(model(x), y)" in fixed.source and fixed.remaining == []


def test_fix_source_on_unparsable_source_changes_nothing() -> None:
    result = fix_source("x.py", "def f(:\n", None)
    assert result.source == "def f(:\n" and not result.applied
    assert [d.code for d in result.remaining] == ["SC901"]


def test_json_carries_the_fix() -> None:
    src = "import torch.nn as nn\nm = nn.Linear(2, 2)\n\ndef f(x):\n    return m.forward(x)\n"
    result = fix_source("x.py", src, ["SC405"])
    assert result.applied
    payload = result.applied[0].to_json()["fix"]
    assert payload["applicability"] == "safe"
    assert payload["edits"] == [
        {"content": "m", "location": {"row": 5, "column": 12}, "end_location": {"row": 5, "column": 21}}
    ]


def test_multiline_calls_keep_their_layout_or_get_no_fix() -> None:
    src = textwrap.dedent(
        """
        import torch
        import torch.nn as nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = nn.Linear(3, 3)

            def forward(self, x):
                y = self.inner.forward(
                    x,
                    1,
                )
                mask = torch.zeros(
                    x.size(0),
                    3,
                )
                return y * mask, torch.log(torch.softmax(
                    x,
                    dim=1))
        """
    )
    result = fix_source("x.py", src, ["SC405", "SC501", "SC303"])
    assert result.source == textwrap.dedent(
        """
        import torch
        import torch.nn as nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = nn.Linear(3, 3)

            def forward(self, x):
                y = self.inner(
                    x,
                    1,
                )
                mask = torch.zeros(x.size(0), 3, device=x.device)
                return y * mask, torch.log(torch.softmax(
                    x,
                    dim=1))
        """
    )
    assert [(d.code, d.fix) for d in result.remaining] == [("SC303", None)]


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_accepted_edits_never_overlap_and_apply_like_one_by_one(data: st.DataObject) -> None:
    """Whatever edits come in, the accepted ones are disjoint and the result equals applying
    them one at a time from the end of the file (ruff's invariant)."""
    names = ["a", "bb", "ccc"]
    rows = data.draw(st.lists(st.lists(st.sampled_from(names), min_size=1, max_size=4), min_size=1, max_size=4))
    src = "".join(" = ".join(r) + "\n" for r in rows) if all(len(r) > 1 for r in rows) else "x = 1\n"
    lines = src.splitlines()
    edits = []
    for _ in range(data.draw(st.integers(0, 6))):
        row = data.draw(st.integers(1, len(lines)))
        line = lines[row - 1]
        a = data.draw(st.integers(1, len(line) + 1))
        b = data.draw(st.integers(a, len(line) + 1))
        edits.append((row, a, row, b, data.draw(st.sampled_from(["z", "yy", ""]))))
    diags = [_diag([e]) for e in edits]
    out, applied = apply_fixes(src, diags, unsafe=False)
    spans = sorted(
        (d.fix.edits[0].location.row, d.fix.edits[0].location.column, d.fix.edits[0].end_location.column, d.fix.edits[0].content)
        for d in applied
        if d.fix is not None
    )
    for (r1, a1, b1, _), (r2, a2, b2, _) in zip(spans, spans[1:]):
        assert r1 != r2 or b1 <= a2 and not (a1 == b1 == a2 == b2)
    expected = src.splitlines(keepends=True)
    for row, a, b, content in reversed(spans):
        line = expected[row - 1]
        expected[row - 1] = line[: a - 1] + content + line[b - 1 :]
    if applied:
        assert out == "".join(expected)
    else:
        assert out == src
