"""Property tests of issue 14's guarantees (hypothesis, derandomized by the `ci` profile): no
source makes the engine raise or crash, the depth pre-check never lets libcst see a file deeper
than it takes, `--diff` is a patch that applies, fixes keep line endings, and no cache entry
makes the cache raise. The long version (hypothesmith programs, mutants of real files, the
hostile-file catalogue, in fresh processes under a timeout and a memory cap) is
`benchmarks/fuzz/run.py`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shapecheck.cache import Cache
from shapecheck.diagnostics import RULES, Applicability, Diagnostic, Edit, Fix, Location
from shapecheck.engine import lint_source
from shapecheck.fix.apply import apply_fixes
from shapecheck.parsing import MAX_BRACKET_DEPTH, depth_problem
from shapecheck.runner import unified_diff

# Python-ish token soup: enough structure to reach the parser and the analyses often
TOKENS = st.sampled_from([
    "t", "x", "torch.zeros(3, 4)", "torch", ".", "(", ")", "[", "]", "{", "}", ",", ":", " + ", " @ ", "-",
    " and ", " not ", " if ", " else ", "lambda ", "\n", "\n    ", "\r\n", "\r", "def f(x):", "return ",
    "for i in range(3):", "x = ", " = ", "'s'", '"""', "#", "\\\n", "\0", "1" * 40, "model(x)",
    ".view(-1)", ".sum(dim=1)", "loss.backward()", "opt.step()", "nn.Linear(3, 4)", "async ", "await ",
    "yield", "*", "**", "@dec\n", "class C(nn.Module):", "\t", "é", "\ufeff",
])
HEAD = "import torch\nfrom torch import nn\n"


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=60))
def test_no_source_makes_the_engine_raise_or_report_an_internal_error(tokens: list[str]) -> None:
    source = HEAD + "".join(tokens)
    diagnostics = lint_source("f.py", source)
    assert all(d.code in RULES for d in diagnostics)
    assert not [d for d in diagnostics if d.code == "SC903"], diagnostics


@settings(max_examples=40)
@given(st.lists(st.sampled_from(["(", "[", "{", "f(", "a[", "-", " + a", ".t()", " and a", "lambda: "]),
                min_size=1, max_size=8),
       st.integers(0, 3 * MAX_BRACKET_DEPTH))
def test_deep_nesting_is_refused_before_the_parser_or_parsed(openers: list[str], n: int) -> None:
    body = "".join(openers[i % len(openers)] for i in range(n))
    closers = "".join({"(": ")", "[": "]", "{": "}", "f(": ")", "a[": "]"}.get(o, "")
                      for o in reversed([openers[i % len(openers)] for i in range(n)]))
    source = HEAD + "x = " + body + "a" + closers + "\n"
    problem = depth_problem(source)
    brackets = sum(1 for i in range(n) if openers[i % len(openers)] in ("(", "[", "{", "f(", "a["))
    if brackets > MAX_BRACKET_DEPTH:
        assert problem is not None
    codes = [d.code for d in lint_source("f.py", source)]  # in-process: a regression would crash the run
    assert "SC903" not in codes


# any character but LF inside a line: CR, form feed, U+0085 and U+2028 are not line ends to `patch`
LINE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=12)


def _patch(old: str, diff: str) -> str:
    """Apply a unified diff the way `patch` reads it (including `\\ No newline at end of file`)."""
    lines = [ln + "\n" for ln in old.split("\n")]
    lines[-1] = lines[-1][:-1]
    lines = [ln for ln in lines if ln]
    out: list[str] = []
    pos = 0
    rows = [ln + "\n" for ln in diff.split("\n")][:-1]
    i = 2
    while i < len(rows):
        header = rows[i]
        assert header.startswith("@@ -"), header
        first, _, count = header.split()[1][1:].partition(",")
        start = int(first) if count == "0" else int(first) - 1  # an empty range names the line before
        out.extend(lines[pos:start])
        pos = start
        i += 1
        while i < len(rows) and not rows[i].startswith("@@"):
            tag, text = rows[i][0], rows[i][1:]
            if i + 1 < len(rows) and rows[i + 1].startswith("\\ No newline"):
                text = text[:-1]  # the marker: this line has no newline in its file
                i += 1
            if tag in " -":
                assert lines[pos] == text
                pos += 1
            if tag in " +":
                out.append(text)
            i += 1
    out.extend(lines[pos:])
    return "".join(out)


@settings(max_examples=200)
@given(st.lists(LINE, max_size=8), st.lists(LINE, max_size=8), st.booleans(), st.booleans())
def test_diff_is_a_patch_that_applies(old_lines: list[str], new_lines: list[str], old_nl: bool, new_nl: bool) -> None:
    old = "\n".join(old_lines) + ("\n" if old_nl and old_lines else "")
    new = "\n".join(new_lines) + ("\n" if new_nl and new_lines else "")
    diff = unified_diff(old, new, "f.py")
    if old == new:
        assert diff == ""
        return
    assert diff.endswith("\n")
    assert _patch(old, diff) == new


@settings(max_examples=100)
@given(st.lists(st.tuples(st.sampled_from(["a = f(x)", "b = g(y)", "pass"]), st.sampled_from(["\n", "\r\n", "\r"])),
                min_size=1, max_size=6),
       st.data())
def test_fixes_keep_each_lines_ending(lines: list[tuple[str, str]], data: st.DataObject) -> None:
    source = "".join(text + nl for text, nl in lines)
    row = data.draw(st.integers(1, len(lines)))
    text, nl = lines[row - 1]
    insert = data.draw(st.booleans())
    content = "import os\nimport sys\n" if insert else "z"
    end = Location(row, 1) if insert else Location(row, 2)
    fix = Fix(Applicability.SAFE, "f", [], [Edit(content, Location(row, 1), end)])
    new, applied = apply_fixes(source, [Diagnostic("SC405", "m", "f.py", Location(row, 1), Location(row, 1), fix=fix)],
                               unsafe=False)
    assert applied
    expected = list(lines)
    if insert:
        expected[row - 1:row - 1] = [("import os", nl), ("import sys", nl)]
    else:
        expected[row - 1] = ("z" + text[1:], nl)
    assert new == "".join(t + n for t, n in expected)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["code", "message", "deps", "diagnostics", "location", "row", "column", "fix", "edits", "severity"]), inner,
        max_size=5),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cache")
    (directory / "v1" / "ab").mkdir(parents=True)
    return directory


@settings(max_examples=150)
@given(JSON)
def test_no_cache_entry_makes_the_cache_raise(cache_dir: Path, entry: object) -> None:
    directory = cache_dir
    key = "ab" + "0" * 62
    path = directory / "v1" / "ab" / f"{key}.json"
    path.write_text(json.dumps(entry))
    got = Cache(directory).get(key, "m.py", {})
    assert got is None or all(isinstance(d, Diagnostic) for d in got)
