"""Issue 13 on the command line, with the fake rules of test_cli_support (SC405 warning with a
safe fix, SC601 warning with an unsafe fix, SC602 info, opt-in): per-directory config and
argument order, extend, severities and the exit status, stdin, --show-settings/--show-files,
-q/-v, --add-noqa, the baseline, --watch, the gitlab and rdjson formats, and the config loader's
hostile inputs from issue 14."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_cli_support import BUGGY, CLEAN, fake_rules, invoke, project  # noqa: F401 - fixtures
from typer.testing import CliRunner

pytestmark = pytest.mark.usefixtures("fake_rules", "project")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def invoke_stdin(text: str, *args: str) -> tuple[int, str, str]:
    from shapecheck.cli import app

    result = CliRunner().invoke(app, list(args), input=text, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def codes_by_file(*args: str) -> list[tuple[str, str]]:
    _, out, _ = invoke("check", "--no-cache", "--output-format", "json", *args)
    return [(d["filename"], d["code"]) for d in json.loads(out)]


# ---- per-directory config ------------------------------------------------------------------


def test_each_file_uses_its_nearest_config_whatever_the_argument_order(project: Path) -> None:
    write(project / "pyproject.toml", "[tool.shapecheck]\nselect = ['ALL']\n")
    write(project / "src" / "a.py", BUGGY)
    write(project / "sub" / "pyproject.toml", "[tool.shapecheck]\nignore = ['SC405']\n")
    write(project / "sub" / "b.py", BUGGY)
    expected = [
        ("src/a.py", "SC405"), ("src/a.py", "SC601"), ("src/a.py", "SC602"),  # ALL
        ("sub/b.py", "SC601"),  # the defaults (SC602 is opt-in) minus SC405: no inheritance without `extend`
    ]
    assert codes_by_file("sub", "src") == expected
    assert codes_by_file("src", "sub") == expected
    assert codes_by_file(".") == expected
    assert codes_by_file("sub/b.py", "src/a.py") == expected
    # a pyproject.toml without our table is not a config: the parent's applies
    write(project / "src" / "pyproject.toml", "[project]\nname = 'x'\n")
    assert codes_by_file("src") == expected[:3]


def test_extend(project: Path) -> None:
    write(project / "pyproject.toml", "[tool.shapecheck]\nselect = ['ALL']\n[tool.shapecheck.per-file-ignores]\n'b.py' = ['SC601']\n")
    write(project / "sub" / "shapecheck.toml", "extend = '../pyproject.toml'\nignore = ['SC405']\n")
    write(project / "sub" / "b.py", BUGGY)
    assert codes_by_file("sub") == [("sub/b.py", "SC602")]
    _, out, _ = invoke("check", "--show-settings", "sub/b.py")
    assert f'extends = ["{project.resolve() / "pyproject.toml"}"]' in out
    assert 'per-file-ignores = ["SC601"]' in out
    write(project / "pyproject.toml", "[tool.shapecheck]\nextend = 'sub/shapecheck.toml'\n")
    code, _, err = invoke("check", "sub")
    assert code == 2 and "`extend` makes a cycle" in err and err.count("\n") == 1


def test_standalone_shapecheck_toml_wins_over_pyproject_in_the_same_folder(project: Path) -> None:
    write(project / "pyproject.toml", "[tool.shapecheck]\nselect = ['ALL']\n")
    write(project / "shapecheck.toml", "select = ['SC4']\n")
    write(project / "m.py", BUGGY)
    assert codes_by_file() == [("m.py", "SC405")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"tool = 5\n# shapecheck\n", "`tool` must be a table, got 5"),
        (b"[tool]\nshapecheck = 5\n", "[tool.shapecheck] must be a table, got 5"),
        (b"[tool.shapecheck]\nselect = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
        ("[tool.shapecheck]\n# caf\u00e9\nselect = ['SC4']\n".encode("latin-1"), "not UTF-8"),
        (b"[tool.shapecheck]\nseverity = { SC405 = 'fatal' }\n", "must be 'error', 'warning' or 'info'"),
        (b"[tool.shapecheck]\nfail-level = 'never'\n", "`fail-level` must be one of"),
        (b"[tool.shapecheck]\nextend = 'nope.toml'\n", "config file not found"),
    ],
)
def test_config_loader_never_tracebacks(project: Path, content: bytes, message: str) -> None:
    (project / "pyproject.toml").write_bytes(content)
    write(project / "m.py", BUGGY)
    code, out, err = invoke("check")
    assert code == 2 and out == ""
    assert err.startswith("shapecheck: error: ") and err.count("\n") == 1 and message in err, err


def test_unrelated_non_utf8_pyproject_is_not_ours(project: Path) -> None:
    (project / "pyproject.toml").write_bytes("[project]\nname = 'caf\u00e9'\n".encode("latin-1"))
    write(project / "m.py", CLEAN)
    assert invoke("check", "--no-cache")[:2] == (0, "All checks passed!\n")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_pyproject_is_an_error(project: Path) -> None:
    path = write(project / "pyproject.toml", "[tool.shapecheck]\n")
    path.chmod(0)
    try:
        code, _, err = invoke("check")
    finally:
        path.chmod(0o644)
    assert code == 2 and "cannot read config file" in err


@pytest.mark.parametrize("flag", ["--select", "--extend-select", "--ignore"])
def test_empty_selector_is_an_error(project: Path, flag: str) -> None:
    write(project / "m.py", BUGGY)
    code, out, err = invoke("check", flag, "")
    assert (code, out) == (2, "") and "needs at least one code" in err


# ---- severities and the exit status -----------------------------------------------------------


def test_info_never_fails_a_build_unless_asked(project: Path) -> None:
    write(project / "m.py", "import torch\nopt = Adam(p, weight_decay=0.1)\n")
    code, out, _ = invoke("check", "--no-cache", "--select", "SC602")
    assert (code, out) == (0, "m.py:2:7: SC602 info: Adam(weight_decay=...) is L2 regularisation\nFound 1 info.\n")
    assert invoke("check", "--no-cache", "--select", "SC602", "--fail-level", "info")[0] == 1
    write(project / "m.py", BUGGY)
    assert invoke("check", "--no-cache", "--fail-level", "error")[0] == 0  # two warnings
    assert invoke("check", "--no-cache", "--fail-level", "bogus")[0] == 2
    _, out, _ = invoke("check", "--no-cache", "--select", "ALL")
    assert "Found 2 warnings and 1 info." in out


def test_severity_override_and_fail_level_in_config(project: Path) -> None:
    write(project / "pyproject.toml",
          "[tool.shapecheck]\nfail-level = 'error'\n[tool.shapecheck.severity]\nSC6 = 'info'\nSC405 = 'error'\n")
    write(project / "m.py", BUGGY)
    code, out, _ = invoke("check", "--no-cache")
    assert code == 1
    assert out.splitlines()[:3] == [
        "m.py:5:5: SC405 [*] error: `model.forward(...)` skips the module's hooks",
        "m.py:6:1: SC601 info: weights initialised to a constant",
        "Found 1 error and 1 info.",
    ]
    _, out, _ = invoke("check", "--no-cache", "--output-format", "json")
    assert [d["severity"] for d in json.loads(out)] == ["error", "info"]
    write(project / "pyproject.toml", "[tool.shapecheck]\nfail-level = 'error'\n")
    assert invoke("check", "--no-cache")[0] == 0
    assert invoke("check", "--no-cache", "--fail-level", "warning")[0] == 1  # the command line wins


# ---- stdin ----------------------------------------------------------------------------------


def test_stdin_with_a_filename(project: Path) -> None:
    write(project / "pyproject.toml", "[tool.shapecheck.per-file-ignores]\n'tests/**' = ['SC601']\n")
    code, out, _ = invoke_stdin(BUGGY, "check", "-", "--stdin-filename", "pkg/m.py")
    assert code == 1 and out.splitlines()[:2] == [
        "pkg/m.py:5:5: SC405 [*] warning: `model.forward(...)` skips the module's hooks",
        "pkg/m.py:6:1: SC601 warning: weights initialised to a constant",
    ]
    _, out, _ = invoke_stdin(BUGGY, "check", "-", "--stdin-filename", "tests/test_m.py", "--output-format", "json")
    assert [d["code"] for d in json.loads(out)] == ["SC405"]  # per-file-ignores by the given name
    _, out, _ = invoke_stdin(BUGGY, "check", "-")
    assert out.startswith("-:5:5: SC405")
    assert not list(project.glob("**/*.py"))  # nothing written


def test_stdin_fix_prints_the_fixed_source_and_reports_on_stderr(project: Path) -> None:
    code, out, err = invoke_stdin(BUGGY, "check", "-", "--stdin-filename", "m.py", "--fix")
    assert out == BUGGY.replace("model.forward(", "model(")
    assert "m.py:6:1: SC601 warning" in err and "1 fixed" in err and code == 1
    code, out, _ = invoke_stdin(CLEAN, "check", "-", "--fix")
    assert (code, out) == (0, CLEAN)
    code, out, _ = invoke_stdin(BUGGY, "check", "-", "--diff")
    assert code == 1 and "-y = model.forward(torch.zeros(2, 3))" in out and "+y = model(torch.zeros(2, 3))" in out


def test_stdin_force_exclude(project: Path) -> None:
    write(project / "pyproject.toml", "[tool.shapecheck]\nextend-exclude = ['gen/']\n")
    assert invoke_stdin(BUGGY, "check", "-", "--stdin-filename", "gen/m.py", "--force-exclude") == (0, "", "")
    assert invoke_stdin(BUGGY, "check", "-", "--stdin-filename", "gen/m.py", "--force-exclude", "--fix")[:2] == (0, BUGGY)
    assert invoke_stdin(BUGGY, "check", "-", "--stdin-filename", "gen/m.py")[0] == 1  # named explicitly: checked


def test_stdin_misuse(project: Path) -> None:
    write(project / "m.py", BUGGY)
    assert invoke_stdin("", "check", "-", "m.py")[0] == 2
    assert invoke("check", "--stdin-filename", "x.py")[0] == 2


# ---- --show-settings, --show-files, -q, -v ------------------------------------------------------


def test_show_files_and_settings(project: Path) -> None:
    write(project / "pyproject.toml", "[tool.shapecheck]\nextend-exclude = ['gen']\n[tool.shapecheck.severity]\nSC405 = 'error'\n")
    write(project / "a.py", BUGGY)
    write(project / "gen" / "b.py", BUGGY)
    write(project / "pkg" / "c.ipynb", "{}")
    assert invoke("check", "--show-files") == (0, "a.py\npkg/c.ipynb\n", "")
    code, out, _ = invoke("check", "--show-settings", "a.py")
    assert code == 0
    assert f'config = "{project.resolve() / "pyproject.toml"}"' in out
    assert 'severity = {SC405 = "error"}' in out and 'fail-level = "warning"' in out
    assert 'selected = ["SC101",' in out and '"SC602"' not in out
    assert invoke("check", "--show-settings", "--select", "SC6", "a.py")[1].count('"SC6') == 1


def test_quiet_and_verbose(project: Path) -> None:
    write(project / "m.py", BUGGY)
    code, out, _ = invoke("check", "--no-cache", "-q")
    assert code == 1 and out == (
        "m.py:5:5: SC405 [*] warning: `model.forward(...)` skips the module's hooks\n"
        "m.py:6:1: SC601 warning: weights initialised to a constant\n")
    assert invoke("check", "--no-cache", "-qq") == (1, "", "")
    code, _, err = invoke("check", "--no-cache", "-v")
    assert "1 file(s) use the defaults" in err and "0 answered from the cache" in err


# ---- adoption: --add-noqa and the baseline ------------------------------------------------------


def test_add_noqa(project: Path) -> None:
    path = write(project / "m.py", BUGGY.replace("nn.init.zeros_(model.weight)", "nn.init.zeros_(model.weight)  # why"))
    code, out, err = invoke("check", "--no-cache", "--add-noqa")
    assert (code, out, err) == (0, "", "Added 2 noqa directives.\n")
    text = path.read_text()
    assert "y = model.forward(torch.zeros(2, 3))  # noqa: SC405\n" in text
    assert "nn.init.zeros_(model.weight)  # why  # noqa: SC601\n" in text
    assert invoke("check", "--no-cache")[:2] == (0, "All checks passed!\n")
    assert invoke("check", "--no-cache", "--add-noqa")[2] == "Added 0 noqa directives.\n"
    assert invoke("check", "--add-noqa", "--fix")[0] == 2


def test_baseline_reports_only_new_findings(project: Path) -> None:
    path = write(project / "m.py", BUGGY)
    code, out, err = invoke("check", "--no-cache", "--baseline", "base.json")
    assert code == 0 and out == "All checks passed!\n" and "Recorded 2 findings in the baseline" in err
    data = json.loads((project / "base.json").read_text())
    assert [(e["file"], e["code"]) for e in data["findings"]] == [("m.py", "SC405"), ("m.py", "SC601")]
    # lines moved: still the same findings
    path.write_text("# a new comment line\n" + BUGGY)
    code, out, err = invoke("check", "--no-cache", "--baseline", "base.json")
    assert (code, out) == (0, "All checks passed!\n") and "2 findings in the baseline not shown" in err
    # a new finding is reported, the old ones are not
    path.write_text(BUGGY + "z = model.forward(torch.ones(1, 3))\n")
    code, out, _ = invoke("check", "--no-cache", "--baseline", "base.json")
    assert code == 1 and out.splitlines()[0] == "m.py:8:5: SC405 [*] warning: `model.forward(...)` skips the module's hooks"
    assert "Found 1 warning." in out
    # re-recorded
    assert invoke("check", "--no-cache", "--baseline", "base.json", "--update-baseline")[0] == 0
    assert invoke("check", "--no-cache", "--baseline", "base.json")[:2] == (0, "All checks passed!\n")
    (project / "base.json").write_text("[1, 2")
    code, _, err = invoke("check", "--no-cache", "--baseline", "base.json")
    assert code == 2 and "not a shapecheck baseline" in err


def test_watch_reruns_when_a_file_changes(project: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from shapecheck import checkrun
    from shapecheck.config import Layer

    path = write(project / "m.py", BUGGY)
    sleeps = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:
            path.write_text(CLEAN + "\n# edited\n")

    monkeypatch.setattr("time.sleep", fake_sleep)
    req = checkrun.CheckRequest(targets=[Path(".")], cli_layer=Layer(), use_cache=False, cwd=project)
    status = checkrun._watch(req, interval=0.0, rounds=2)
    out, err = capsys.readouterr()
    assert status == 0 and "Found 2 warnings." in out and out.endswith("All checks passed!\n")
    assert "a file changed, checking again" in err


def test_watch_survives_a_broken_config(project: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from shapecheck import checkrun
    from shapecheck.config import Layer

    write(project / "m.py", BUGGY)
    config = write(project / "pyproject.toml", "[tool.shapecheck]\nselekt = 1\n")
    sleeps = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            config.write_text("[tool.shapecheck]\nselect = ['SC4']\n")

    monkeypatch.setattr("time.sleep", fake_sleep)
    req = checkrun.CheckRequest(targets=[Path(".")], cli_layer=Layer(), use_cache=False, cwd=project)
    status = checkrun._watch(req, interval=0.0, rounds=2)
    out, err = capsys.readouterr()
    assert err.count("unknown key `selekt`") == 1  # said once, not at every poll
    assert status == 1 and out.endswith("Found 1 warning.\n[*] 1 fixable with the `--fix` option.\n")


# ---- formats -------------------------------------------------------------------------------


def test_gitlab_and_rdjson(project: Path) -> None:
    write(project / "m.py", BUGGY)
    _, out, _ = invoke("check", "--no-cache", "--output-format", "gitlab")
    items = json.loads(out)
    assert [(i["check_name"], i["severity"], i["location"]) for i in items] == [
        ("SC405", "minor", {"path": "m.py", "lines": {"begin": 5, "end": 5}}),
        ("SC601", "minor", {"path": "m.py", "lines": {"begin": 6, "end": 6}}),
    ]
    assert len({i["fingerprint"] for i in items}) == 2
    _, out, _ = invoke("check", "--no-cache", "--output-format", "rdjson")
    doc = json.loads(out)
    first = doc["diagnostics"][0]
    assert doc["source"]["name"] == "shapecheck" and first["code"]["value"] == "SC405"
    assert first["location"]["range"] == {"start": {"line": 5, "column": 5}, "end": {"line": 5, "column": 37}}
    assert first["suggestions"] == [{"range": {"start": {"line": 5, "column": 5}, "end": {"line": 5, "column": 18}},
                                     "text": "model"}]
    assert "suggestions" not in doc["diagnostics"][1]  # unsafe fix: not without --unsafe-fixes


def test_check_and_help_never_import_the_server(project: Path) -> None:
    import subprocess
    import sys

    write(project / "m.py", "x = 1\n")  # never mentions torch: not parsed, the CLI path alone
    code = ("import sys\nimport shapecheck.cli as c\nsys.argv = ['shapecheck', *sys.argv[1:]]\n"
            "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pygls', 'lsprotocol', 'torch', 'tomllib') if m in sys.modules), file=sys.stderr)\n")
    for args in (["--help"], ["check", "--no-cache", "m.py"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], cwd=project, capture_output=True, text=True, timeout=120)
        assert proc.stderr.strip().splitlines()[-1] == "[]", proc.stderr
