"""`shapecheck check`: flags, exit codes, selection, fixes and bad input, in-process with fake rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli_support import BUGGY, CLEAN, fake_rules, invoke, project  # noqa: F401 - fixtures

from shapecheck import __version__

pytestmark = pytest.mark.usefixtures("fake_rules", "project")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_concise_output_exit_1_and_summary(project: Path) -> None:
    write(project / "m.py", BUGGY)
    code, out, _ = invoke("check", "--no-cache")
    assert code == 1
    assert out == (
        "m.py:5:5: SC405 [*] warning: `model.forward(...)` skips the module's hooks\n"
        "m.py:6:1: SC601 warning: weights initialised to a constant\n"
        "Found 2 warnings.\n"
        "[*] 1 fixable with the `--fix` option.\n"
        "(1 hidden fix can be enabled with the `--unsafe-fixes` option.)\n"
    )


def test_clean_exit_0(project: Path) -> None:
    write(project / "m.py", CLEAN)
    code, out, _ = invoke("check", "--no-cache", ".")
    assert (code, out) == (0, "All checks passed!\n")


def test_unsafe_fixes_flag_marks_unsafe_fix(project: Path) -> None:
    write(project / "m.py", BUGGY)
    _, out, _ = invoke("check", "--no-cache", "--unsafe-fixes")
    assert "m.py:6:1: SC601 [*] warning: weights" in out
    assert "[*] 2 fixable" in out and "hidden" not in out


def test_exit_zero(project: Path) -> None:
    write(project / "m.py", BUGGY)
    assert invoke("check", "--no-cache", "--exit-zero")[0] == 0


def test_version() -> None:
    code, out, _ = invoke("--version")
    assert (code, out) == (0, f"shapecheck {__version__}\n")


@pytest.mark.parametrize(
    ("args", "codes"),
    [
        ((), {"SC405", "SC601"}),
        (("--select", "SC4"), {"SC405"}),
        (("--select", "SC6"), {"SC601"}),  # a prefix does not enable the opt-in SC602
        (("--select", "SC602"), {"SC602"}),  # an exact code does
        (("--select", "ALL"), {"SC405", "SC601", "SC602"}),  # ALL does
        (("--select", "ALL", "--ignore", "SC60"), {"SC405"}),
        (("--extend-select", "SC602"), {"SC405", "SC601", "SC602"}),
        (("--ignore", "SC405,SC601"), set()),
        (("--select", "sc405 SC601"), {"SC405", "SC601"}),
        (("--select", "SC405", "--select", "SC601"), {"SC405", "SC601"}),
    ],
)
def test_selection(project: Path, args: tuple[str, ...], codes: set[str]) -> None:
    write(project / "m.py", BUGGY)
    code, out, _ = invoke("check", "--no-cache", "--output-format", "json", *args)
    found = {d["code"] for d in json.loads(out)}
    assert found == codes
    assert code == (1 if codes - {"SC602"} else 0)  # SC602 is info: a note never fails a build


@pytest.mark.parametrize("flag", ["--select", "--ignore", "--extend-select"])
def test_unknown_code_is_one_line_exit_2(project: Path, flag: str) -> None:
    write(project / "m.py", BUGGY)
    code, out, err = invoke("check", flag, "SC999")
    assert code == 2 and out == ""
    assert err == "shapecheck: error: unknown rule selector 'SC999' (see `shapecheck rule --all`)\n"


def test_nonexistent_path_exit_2(project: Path) -> None:
    code, _, err = invoke("check", "nope.py")
    assert code == 2 and err == "shapecheck: error: nope.py: no such file or directory\n"


def test_unknown_output_format_exit_2(project: Path) -> None:
    code, _, err = invoke("check", "--output-format", "xml")
    assert code == 2 and "unknown output format 'xml'" in err and err.count("\n") == 1


def test_output_format_from_env(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project / "m.py", BUGGY)
    monkeypatch.setenv("SHAPECHECK_OUTPUT_FORMAT", "json-lines")
    _, out, _ = invoke("check", "--no-cache")
    assert [json.loads(line)["code"] for line in out.splitlines()] == ["SC405", "SC601"]


def test_output_file(project: Path) -> None:
    write(project / "m.py", BUGGY)
    code, out, _ = invoke("check", "--no-cache", "--output-format", "json", "-o", "out/report.json")
    assert code == 1 and out == ""
    data = json.loads((project / "out" / "report.json").read_text())
    assert [d["code"] for d in data] == ["SC405", "SC601"]


def test_statistics(project: Path) -> None:
    write(project / "a.py", BUGGY)
    write(project / "b.py", BUGGY.replace("nn.init.zeros_(model.weight)\n", ""))
    code, out, _ = invoke("check", "--no-cache", "--statistics")
    assert code == 1
    assert out == "2\tSC405\t[*] forward-called-directly\n1\tSC601\t[ ] constant-weight-init\n"
    _, out, _ = invoke("check", "--no-cache", "--statistics", "--output-format", "json")
    assert json.loads(out)[0] == {"code": "SC405", "name": "forward-called-directly", "count": 2, "fixable": True}


def test_no_files_is_a_warning_exit_0(project: Path) -> None:
    write(project / "notes.txt", "torch")
    code, out, err = invoke("check")
    assert (code, out) == (0, "")
    assert "no Python files found" in err


def test_files_without_tensor_libraries_are_not_parsed(project: Path) -> None:
    # a syntax error that is never reported: the file never mentions torch/numpy/jax/einops
    write(project / "setup_helpers.py", "def broken(:\n")
    write(project / "m.py", CLEAN)
    code, out, _ = invoke("check", "--no-cache")
    assert (code, out) == (0, "All checks passed!\n")


def test_syntax_errors_are_reported_whatever_the_selection(project: Path) -> None:
    write(project / "a.py", "import torch\nx = (\n")
    assert invoke("check", "--no-cache", "--select", "SC4")[1].startswith("a.py:2:5: SC901")
    assert invoke("check", "--no-cache", "--select", "SC4", "--ignore", "SC901")[:2] == (0, "All checks passed!\n")


def test_syntax_error_is_sc901_and_the_run_goes_on(project: Path) -> None:
    write(project / "a.py", "import torch\nx = (\n")
    write(project / "b.py", BUGGY)
    code, out, _ = invoke("check", "--no-cache")
    assert code == 1
    assert out.splitlines()[0] == "a.py:2:5: SC901 error: could not parse the file: '(' was never closed"
    assert "b.py:5:5: SC405" in out


def test_undecodable_file_is_sc901_not_a_traceback(project: Path) -> None:
    (project / "latin.py").write_bytes(b"import torch\nx = '\xff\xfe'\n")
    code, out, _ = invoke("check", "--no-cache")
    assert code == 1
    assert out.startswith("latin.py:1:1: SC901 error: could not decode the file:")


def test_coding_cookie_is_honoured(project: Path) -> None:
    (project / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nimport torch\nx = '\xe9'\n")
    assert invoke("check", "--no-cache")[:2] == (0, "All checks passed!\n")


def test_internal_error_is_sc903_names_the_file_and_exits_2(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_cli_support import FakeForward

    def visit_Call(self: FakeForward, node: object) -> None:  # libcst finds visitors by __name__
        raise ValueError("rule exploded")

    monkeypatch.setattr(FakeForward, "visit_Call", visit_Call)
    write(project / "a.py", BUGGY)
    write(project / "b.py", "import torch\nx = (\n")
    code, out, _ = invoke("check", "--no-cache")
    assert code == 2
    lines = out.splitlines()
    assert lines[0].startswith("a.py:1:1: SC903 error: internal error while analysing this file: ValueError: rule exploded")
    assert lines[1].startswith("b.py:2:5: SC901")  # the other file was still checked
    # --exit-zero never hides a crash
    assert invoke("check", "--no-cache", "--exit-zero")[0] == 2


def test_internal_error_is_not_suppressible_or_cached(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_cli_support import FakeForward

    calls = []

    def visit_Call(self: FakeForward, node: object) -> None:
        calls.append(1)
        raise ValueError("rule exploded")

    monkeypatch.setattr(FakeForward, "visit_Call", visit_Call)
    write(project / "a.py", "# shapecheck: noqa\n" + BUGGY)
    assert invoke("check")[0] == 2
    n = len(calls)
    assert invoke("check")[0] == 2
    assert len(calls) > n  # re-analysed, not served from the cache


@pytest.mark.parametrize("jobs", ["1", "2", "4"])
def test_jobs_give_the_same_output(project: Path, jobs: str) -> None:
    for i in range(12):
        write(project / f"pkg/m{i:02}.py", BUGGY if i % 3 else CLEAN)
    write(project / "pkg/broken.py", "import torch\ndef f(:\n")
    baseline = invoke("check", "--no-cache", "-j", "1", "--output-format", "json")
    assert invoke("check", "--no-cache", "-j", jobs, "--output-format", "json") == baseline
    assert baseline[0] == 1 and len(json.loads(baseline[1])) == 17


def test_jobs_must_be_positive(project: Path) -> None:
    assert invoke("check", "-j", "0")[0] == 2


def test_fix_writes_safe_fixes_and_reports_the_rest(project: Path) -> None:
    path = write(project / "m.py", BUGGY)
    code, out, err = invoke("check", "--no-cache", "--fix", "--show-fixes")
    assert code == 1
    assert "y = model(torch.zeros(2, 3))\n" in path.read_text()
    assert "zeros_(model.weight)" in path.read_text()  # the unsafe fix was not applied
    assert out == "m.py:6:1: SC601 warning: weights initialised to a constant\nFound 2 findings (1 fixed, 1 remaining: 1 warning).\n" \
        "(1 hidden fix can be enabled with the `--unsafe-fixes` option.)\n"
    assert err == "Fixed 1 finding:\n- m.py:\n    1 × SC405 (forward-called-directly)\n"


def test_fix_with_unsafe_fixes_fixes_everything(project: Path) -> None:
    path = write(project / "m.py", BUGGY)
    code, out, _ = invoke("check", "--no-cache", "--fix", "--unsafe-fixes")
    assert code == 0
    assert out == "Found 2 findings (2 fixed, 0 remaining).\n"
    text = path.read_text()
    assert "model(torch.zeros(2, 3))" in text and "nn.init.xavier_uniform_(model.weight)" in text


def test_fix_loops_until_nothing_changes(project: Path) -> None:
    # each round fixes the outer `.forward` only after the inner edit is applied (overlapping edits)
    path = write(project / "m.py", "import torch\ny = a.forward(b.forward(c.forward(x)))\n")
    code, out, _ = invoke("check", "--no-cache", "--fix")
    assert path.read_text() == "import torch\ny = a(b(c(x)))\n"
    assert (code, out) == (0, "Found 3 findings (3 fixed, 0 remaining).\n")


def test_diff_writes_nothing_and_exits_1(project: Path) -> None:
    path = write(project / "m.py", BUGGY)
    code, out, err = invoke("check", "--no-cache", "--diff")
    assert code == 1
    assert path.read_text() == BUGGY
    assert out == (
        "--- a/m.py\n+++ b/m.py\n@@ -2,6 +2,6 @@\n from torch import nn\n \n model = nn.Linear(3, 4)\n"
        "-y = model.forward(torch.zeros(2, 3))\n+y = model(torch.zeros(2, 3))\n"
        " nn.init.zeros_(model.weight)\n opt = Adam(model.parameters(), weight_decay=0.1)\n"
    )
    assert err == "Would fix 1 finding.\n"


def test_diff_on_clean_code_exits_0(project: Path) -> None:
    write(project / "m.py", CLEAN)
    assert invoke("check", "--no-cache", "--diff") == (0, "", "No findings would be fixed.\n")


def test_fix_keeps_crlf_line_endings(project: Path) -> None:
    path = project / "m.py"
    path.write_bytes(BUGGY.replace("\n", "\r\n").encode())
    invoke("check", "--no-cache", "--fix")
    data = path.read_bytes()
    assert b"y = model(torch.zeros(2, 3))\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


def test_fix_without_apply_module_is_a_clear_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shapecheck.runner

    monkeypatch.setattr(shapecheck.runner, "load_apply_fixes", lambda: None)
    write(project / "m.py", BUGGY)
    code, _, err = invoke("check", "--fix")
    assert code == 2 and "shapecheck.fix.apply" in err


def test_noqa_on_the_line(project: Path) -> None:
    write(project / "m.py", BUGGY.replace("(2, 3))\n", "(2, 3))  # noqa: SC405\n"))
    _, out, _ = invoke("check", "--no-cache", "--output-format", "json")
    assert [d["code"] for d in json.loads(out)] == ["SC601"]


def test_per_file_ignores_from_config(project: Path) -> None:
    write(project / "pyproject.toml", '[tool.shapecheck]\nper-file-ignores = { "tests/**" = ["SC4"] }\n')
    write(project / "tests/test_m.py", BUGGY)
    write(project / "m.py", BUGGY)
    _, out, _ = invoke("check", "--no-cache", "--output-format", "json")
    assert [(d["filename"], d["code"]) for d in json.loads(out)] == [
        ("m.py", "SC405"), ("m.py", "SC601"), ("tests/test_m.py", "SC601")]


def test_unused_suppression_sc902_when_selected(project: Path) -> None:
    write(project / "m.py", CLEAN.replace("(2, 3))\n", "(2, 3))  # noqa: SC405, E501\n"))
    assert invoke("check", "--no-cache")[0] == 0  # SC902 is off by default
    code, out, _ = invoke("check", "--no-cache", "--extend-select", "SC902")
    assert code == 0  # info
    assert invoke("check", "--no-cache", "--extend-select", "SC902", "--fail-level", "info")[0] == 1
    assert out.splitlines()[0] == "m.py:5:31: SC902 info: unused `# noqa` directive (unused: SC405)"


def test_cache_serves_a_warm_run(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_cli_support import FakeForward

    write(project / "m.py", BUGGY)
    first = invoke("check")
    assert (project / ".shapecheck_cache" / ".gitignore").exists()
    calls = []
    original = FakeForward.visit_Call

    def visit_Call(self: FakeForward, node: object) -> None:
        calls.append(1)
        original(self, node)  # type: ignore[arg-type]

    monkeypatch.setattr(FakeForward, "visit_Call", visit_Call)
    assert invoke("check") == first
    assert calls == []  # nothing was parsed
    # a different selection is a different key
    invoke("check", "--select", "SC405")
    assert calls
    # an edited file is re-analysed
    calls.clear()
    write(project / "m.py", BUGGY + "z = model.forward(y)\n")
    code, out, _ = invoke("check")
    assert calls and "m.py:8:5: SC405" in out


def test_no_cache_writes_nothing(project: Path) -> None:
    write(project / "m.py", BUGGY)
    invoke("check", "--no-cache")
    assert not (project / ".shapecheck_cache").exists()


def test_cache_dir_option_and_env(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project / "m.py", BUGGY)
    invoke("check", "--cache-dir", "elsewhere")
    assert (project / "elsewhere" / "v1").is_dir()
    monkeypatch.setenv("SHAPECHECK_CACHE_DIR", str(project / "from_env"))
    invoke("check")
    assert (project / "from_env" / "v1").is_dir()
    assert not (project / ".shapecheck_cache").exists()


def test_cache_key_covers_rule_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    import shapecheck.cache as cache

    key = cache.cache_key(b"import torch\n", ["SC101"], [])
    assert key == cache.cache_key(b"import torch\n", ["SC101"], [])
    assert key != cache.cache_key(b"import torch\n", ["SC101", "SC102"], [])
    assert key != cache.cache_key(b"import torch\n", ["SC101"], ["SC1"])
    assert key != cache.cache_key(b"import torch \n", ["SC101"], [])
    monkeypatch.setattr(cache, "analysis_hash", lambda: "a rule was edited")
    assert key != cache.cache_key(b"import torch\n", ["SC101"], [])


def test_help_lists_the_commands() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for command in ("check", "rule", "shapes", "trace"):
        assert command in out


def test_cache_tracks_cross_file_dependencies(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file's entry is stale when a module its analysis looked into changed, and only then."""
    import libcst as cst
    import shapecheck.rules
    from test_cli_support import FAKE_RULES

    from shapecheck.rules.base import LintRule

    checked: list[str] = []

    class CrossFile(LintRule):
        CODE = "SC603"

        def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
            checked.append(self.ctx.path.name)
            if isinstance(node.module, cst.Name) and self.ctx.project is not None:
                path = self.ctx.project.module_path(node.module.value)
                if path is not None and "BAD" in path.read_text():
                    self.report(node, "imports a module marked BAD")

    monkeypatch.setattr(shapecheck.rules, "all_rules", lambda: {**FAKE_RULES, "SC603": CrossFile})
    write(project / "helpers.py", "import torch\nOK = 1\n")
    write(project / "a.py", "import torch\nfrom helpers import OK\n")
    write(project / "other.py", "import torch\nfrom os import path\n")

    def run() -> str:
        return invoke("check", "--select", "SC603", "-j", "1")[1]

    assert run() == "All checks passed!\n"
    checked.clear()
    assert run() == "All checks passed!\n" and checked == []  # warm
    write(project / "other.py", "import torch\nfrom os import sep\n")
    run()
    assert checked == ["other.py"]  # a.py does not depend on other.py
    checked.clear()
    write(project / "helpers.py", "import torch\nOK = 1  # BAD\n")
    assert run().startswith("a.py:2:1: SC603 info: imports a module marked BAD")
    assert checked == ["a.py"]  # helpers.py itself has no import-from; a.py depended on it


def test_progress_bar_goes_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    import shapecheck.cli as cli
    from shapecheck.runner import RunResult

    class TTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = TTY()
    monkeypatch.setattr("sys.stderr", err)
    seen = []

    def fake_run(files: list[Path], progress=None) -> RunResult:  # noqa: ANN001
        for _ in files:
            progress(1)
            seen.append(1)
        return RunResult([])

    from shapecheck.checkrun import _with_progress

    assert cli.use_color(err)
    result = _with_progress([Path("a.py"), Path("b.py")], fake_run)
    assert result.files == [] and len(seen) == 2
    assert "checking" in err.getvalue() and "2/2" in err.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli.use_color(err)


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit", "github"])
def test_machine_formats_are_never_styled_on_a_terminal(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                         fmt: str) -> None:
    import shapecheck.cli as cli

    write(project / "m.py", BUGGY)
    monkeypatch.setattr(cli, "use_color", lambda stream: True)
    code, out, _ = invoke("check", "--no-cache", "--output-format", fmt)
    monkeypatch.setattr(cli, "use_color", lambda stream: False)
    assert (code, out) == invoke("check", "--no-cache", "--output-format", fmt)[:2]


def test_text_format_is_styled_on_a_terminal(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shapecheck.cli as cli

    write(project / "m.py", BUGGY)
    monkeypatch.setattr(cli, "use_color", lambda stream: True)
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, out, _ = invoke("check", "--no-cache")
    assert "\x1b[" in out and "SC405" in out
