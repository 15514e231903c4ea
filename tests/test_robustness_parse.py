"""Issue 14: no file makes the static check crash. libcst's native parser overflows the C stack
on ~1,300 nested brackets (SIGSEGV) and recursion-bound analyses failed on ~490-operand chains
(SC903); files CPython rejects were SC903 instead of SC901."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shapecheck.engine import lint_source
from shapecheck.parsing import (
    MAX_BRACKET_DEPTH,
    MAX_EXPRESSION_DEPTH,
    cpython_rejection,
    depth_problem,
    run_deep,
)

HEAD = "import torch\nt = torch.zeros(3, 4)\n"


def codes(source: str) -> list[str]:
    return [d.code for d in lint_source("f.py", source)]


def test_1400_nested_brackets_are_sc901_in_a_fresh_process_not_a_segfault(tmp_path: Path) -> None:
    # reproduces the SIGSEGV (exit 139, no output) of the issue; a fresh process, so that a
    # regression kills the child and not the test run
    (tmp_path / "deep.py").write_text(HEAD + "x = " + "(" * 1400 + "t" + ")" * 1400 + "\n")
    proc = subprocess.run([sys.executable, "-m", "shapecheck.cli", "check", "--no-cache", "deep.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("deep.py:3:205: SC901 error: could not parse the file: too many nested parentheses")


@pytest.mark.parametrize("opening, closing", [("(", ")"), ("[", "]"), ("f(", ")"), ("{1: ", "}"), ("t[", "]")])
def test_bracket_depth_over_cpythons_limit_is_sc901(opening: str, closing: str) -> None:
    n = MAX_BRACKET_DEPTH + 1
    source = HEAD + "x = " + opening * n + "1" + closing * n + "\n"
    problem = depth_problem(source)
    assert problem is not None and problem.message == "too many nested parentheses"
    assert codes(source) == ["SC901"]
    with pytest.raises(SyntaxError, match="too many nested parentheses"):
        compile(source, "f.py", "exec")  # the limit is CPython's own: SC901 is sound


def test_nested_f_strings_that_crashed_libcst_are_sc901() -> None:
    # 1,300 `f'{` crashed libcst (SIGSEGV); 3.11's tokenizer reads them as strings and braces
    assert codes(HEAD + "x = " + "f'{" * 1400 + "1" + "}'" * 1400 + "\n") == ["SC901"]


def test_bracket_depth_at_the_limit_is_parsed() -> None:
    n = MAX_BRACKET_DEPTH
    assert depth_problem("x = " + "(" * n + "1" + ")" * n + "\n") is None


@pytest.mark.parametrize(
    "chain",
    [
        lambda n: " + ".join(["u"] * n),  # unknown operands: the walk, not the labels (see the report)
        lambda n: " @ ".join(["t"] * n),
        lambda n: "-" * n + "t",
        lambda n: " and ".join(["t"] * n),
        lambda n: "t" + ".t()" * n,
        lambda n: "lambda: " * n + "t",
    ],
    ids=["plus", "matmul", "unary", "and", "method-chain", "lambda"],
)
def test_chains_cpython_compiles_are_analysed_and_longer_ones_are_sc901_never_sc903(chain) -> None:  # noqa: ANN001
    # 490 operands was the RecursionError (SC903) of the issue
    analysed = HEAD + "x = " + chain(490) + "\n"
    compile(analysed, "f.py", "exec")
    assert "SC903" not in codes(analysed) and "SC901" not in codes(analysed)
    too_long = HEAD + "x = " + chain(30_000) + "\n"
    problem = depth_problem(too_long)
    assert problem is not None and "too deep for shapecheck to analyse" in problem.message
    assert codes(too_long) == ["SC901"]


def test_elif_chains() -> None:
    ok = HEAD + "if t:\n    pass\n" + "elif t:\n    x = t + t\n" * 990
    assert "SC903" not in codes(ok)
    too_long = "if a:\n    pass\n" + "elif a:\n    pass\n" * (MAX_EXPRESSION_DEPTH + 1)
    assert depth_problem(too_long) is not None


def test_wide_is_not_deep() -> None:
    # commas end a chain: a 20,000-item literal of negative numbers is checked, not refused
    wide = "x = [" + ", ".join(f"-{i} * 2" for i in range(20_000)) + "]\n"
    assert depth_problem(wide) is None
    assert depth_problem("if a:\n    pass\n" * 5_000) is None  # many ifs, no elif chain


def test_indentation_over_cpythons_limit() -> None:
    source = "".join(" " * i + "if x:\n" for i in range(101)) + " " * 101 + "pass\n"
    problem = depth_problem(source)
    assert problem is not None and problem.message == "too many levels of indentation"
    with pytest.raises(SyntaxError):
        compile(source, "f.py", "exec")


def test_files_cpython_rejects_are_sc901_not_sc903() -> None:
    nul = HEAD + 'x = "a\0b"\n'
    digits = HEAD + "x = " + "1" * 5000 + "\n"
    for source, text in ((nul, "null bytes"), (digits, "4300 digits")):
        diags = lint_source("f.py", source)
        assert [d.code for d in diags] == ["SC901"]
        assert text in diags[0].message
    assert cpython_rejection(digits) is not None and cpython_rejection(HEAD) is None


def test_an_analysis_crash_on_a_file_cpython_rejects_is_sc901(monkeypatch: pytest.MonkeyPatch) -> None:
    import shapecheck.engine as engine

    def boom(*args: object, **kwargs: object) -> None:
        raise ValueError("a rule tripped over the file")

    monkeypatch.setattr(engine, "lint_module", boom)
    # `return` outside a function: libcst parses it, CPython's compiler rejects it
    assert [d.code for d in lint_source("f.py", HEAD + "return 1\n")] == ["SC901"]
    assert [d.code for d in lint_source("f.py", HEAD)] == ["SC903"]  # a valid file: our bug


def test_unterminated_tokens_are_left_to_the_parser() -> None:
    for source in ('x = """never closed\n', "x = (1,\n", "  x = 1\n"):
        assert depth_problem(source) is None
        assert codes(source) == ["SC901"]


def test_run_deep_returns_raises_and_restores_the_recursion_limit() -> None:
    limit = sys.getrecursionlimit()

    def depth(n: int) -> int:
        return 0 if n == 0 else 1 + depth(n - 1)

    assert run_deep(depth, 20_000) == 20_000  # beyond the default limit of 1,000
    with pytest.raises(KeyError):
        run_deep(dict().__getitem__, "missing")
    assert sys.getrecursionlimit() == limit


def test_string_annotations_too_deep_or_unencodable_are_unknown_not_a_crash() -> None:
    # the text of a string literal reached libcst's parser unguarded: a 1,400-deep string
    # annotation crashed the process; "\udc80" (a lone surrogate once evaluated) was SC903
    deep = "(" * 1400 + "Tensor" + ")" * 1400
    source = HEAD + f'from torch import Tensor\n\ndef f(x: "{deep}") -> "tuple[Tensor, Tensor]":\n    return x\n'
    assert codes(source) == []
    assert codes(HEAD + 'x = "\\udc80"\ny: "\\udc80" = t\n') == []


def test_same_text_whose_imports_resolve_differently_gets_its_own_cache_entry(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # the real rules and the project index: a/model.py and b/model.py are byte-identical, but
    # `.layers` is a different module for each; one shared entry made the warm run report b's
    # SC101 on a (or a's silence on b)
    from test_cli_support import invoke

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHAPECHECK_CACHE_DIR", raising=False)
    for pkg, width in (("a", 5), ("b", 3)):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
        (tmp_path / pkg / "model.py").write_text("import torch\nfrom .layers import make\n\ny = make() @ torch.zeros(5, 2)\n")
        (tmp_path / pkg / "layers.py").write_text(f"import torch\n\n\ndef make():\n    return torch.zeros(4, {width})\n")
    for _ in ("cold", "warm"):
        code, out, _ = invoke("check", "--no-progress", "-j", "1")
        assert code == 1
        assert [line.split(":")[0] for line in out.splitlines() if "SC101" in line] == ["b/model.py"]


@pytest.mark.parametrize("newline", ["\r", "\r\n"])
def test_depth_is_measured_with_the_parsers_line_ends(newline: str) -> None:
    # found by benchmarks/fuzz: a CR-only file was one line to the pre-check's tokenizer, which
    # gave up early, and libcst crashed on the 1,400 brackets further down
    source = newline.join(["import torch", "def f():", "        a = 1", "    b = 2", "x = " + "(" * 1400 + "1" + ")" * 1400, ""])
    problem = depth_problem(source)
    assert problem is not None and (problem.row, problem.message) == (5, "too many nested parentheses")


def test_brackets_after_a_tokenizer_error_are_still_counted() -> None:
    source = 'import torch\nif t:\n        a = 1\n    b = "#(("\nx = ' + "(" * 1400 + "1" + ")" * 1400 + "\n"
    problem = depth_problem(source)
    assert problem is not None and problem.row == 5
    assert codes(source) == ["SC901"]
