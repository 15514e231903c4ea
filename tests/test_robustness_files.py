"""Issue 14: no tree, cache state or file system situation makes `check` crash, hang, lose an
edit or lie. Each test reproduces one bug of the issue (they failed before the fix)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_support import BUGGY, fake_rules, invoke, project  # noqa: F401 - fixtures

import shapecheck.runner as runner
from shapecheck.cache import Cache
from shapecheck.config import ConfigError, Settings
from shapecheck.files import UnreadableFile, discover, read_regular

pytestmark = pytest.mark.usefixtures("fake_rules")

FIXABLE = "import torch\nfrom torch import nn\n\nmodel = nn.Linear(3, 4)\ny = model.forward(torch.zeros(2, 3))\n"


# --- reading ---------------------------------------------------------------------------------


def test_fifo_and_dev_zero_are_reported_not_read(project: Path) -> None:
    os.mkfifo(project / "pipe.py")  # blocked the run forever
    (project / "zero.py").symlink_to("/dev/zero")  # read until memory ran out
    (project / "m.py").write_text(BUGGY)
    code, out, _ = invoke("check", "--no-cache", "--no-progress")
    assert code == 1
    lines = out.splitlines()
    assert "pipe.py:1:1: SC901 error: could not read the file: not a regular file (a FIFO)" in lines
    assert "zero.py:1:1: SC901 error: could not read the file: not a regular file (a character device)" in lines
    assert any(line.startswith("m.py:5:") for line in lines)


def test_read_regular_bounds_the_size(tmp_path: Path) -> None:
    big = tmp_path / "big.py"
    big.write_bytes(b"x = 1\n" * 100)
    assert read_regular(big) == b"x = 1\n" * 100
    with pytest.raises(UnreadableFile, match="larger than"):
        read_regular(big, limit=10)
    with pytest.raises(UnreadableFile, match="a folder"):
        read_regular(tmp_path)


# --- discovery -------------------------------------------------------------------------------


def test_unreadable_subfolder_is_a_diagnostic_not_a_traceback(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "a.py").write_text(BUGGY)
    secret = project / "secret"
    secret.mkdir()
    (secret / "b.py").write_text(BUGGY)
    real_scandir, real_stat = os.scandir, os.stat

    # the tests run as root, who reads everything: refuse like a chmod 000 folder does
    def scandir(path):  # noqa: ANN001, ANN202
        if Path(path) == secret:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def stat(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - the issue's traceback
        if Path(path).parent == secret and Path(path).name in (".gitignore", ".ignore", ".git"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "stat", stat)
    code, out, _ = invoke("check", "--no-cache", "--no-progress")
    assert code == 1
    assert "secret:1:1: SC901 error: could not read the folder: Permission denied" in out.splitlines()
    assert "a.py:5:" in out


@pytest.mark.parametrize("line", ["!", "build\\", "\\"])
def test_invalid_gitignore_lines_are_skipped_as_git_does(tmp_path: Path, line: str) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text(f"{line}\nout/\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gitignore").write_text(f"{line}\n")
    for name in ("a.py", "out/b.py", "sub/c.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("import torch\n")
    found = discover([tmp_path], Settings(root=tmp_path))
    assert [f.relative_to(tmp_path.resolve()).as_posix() for f in found] == ["a.py", "sub/c.py"]


def test_invalid_exclude_setting_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid exclude pattern '!'"):
        discover([tmp_path], Settings(root=tmp_path, exclude=("!",)))


# --- cache -----------------------------------------------------------------------------------


def test_cache_dir_holding_the_project_is_refused_and_marks_nothing(project: Path) -> None:
    (project / "m.py").write_text(BUGGY)
    code, _, err = invoke("check", "--cache-dir", ".", "--no-progress")
    assert code == 2 and "contains files being checked (m.py)" in err
    assert not (project / ".gitignore").exists()  # a `*` here hid every file from git and check
    code, _, _ = invoke("check", "--no-progress")
    assert code == 1


def test_existing_cache_folder_gets_no_ignore_file_a_new_one_does(project: Path) -> None:
    (project / "src").mkdir()
    (project / "src" / "m.py").write_text(BUGGY)
    (project / "shared").mkdir()
    invoke("check", "src", "--cache-dir", "shared", "--no-progress")
    assert not (project / "shared" / ".gitignore").exists()
    assert (project / "shared" / "v1" / ".gitignore").read_text().endswith("*\n")
    invoke("check", "src", "--cache-dir", "fresh", "--no-progress")
    assert (project / "fresh" / ".gitignore").exists()


def test_crafted_cache_entries_are_misses(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    deep = tmp_path / "v1" / "aa" / ("aa" + "0" * 62 + ".json")
    deep.parent.mkdir(parents=True)
    deep.write_text("[" * 100_000 + "]" * 100_000)  # RecursionError in json
    assert cache.get("aa" + "0" * 62, "m.py") is None
    fifo_key = "bb" + "0" * 62
    (tmp_path / "v1" / "bb").mkdir()
    os.mkfifo(tmp_path / "v1" / "bb" / f"{fifo_key}.json")  # blocked the run
    assert cache.get(fifo_key, "m.py") is None
    wrong = "cc" + "0" * 62
    (tmp_path / "v1" / "cc").mkdir()
    for payload in ({"diagnostics": [{"code": 5}]}, {"deps": 3, "diagnostics": []}, [1], {"diagnostics": "x"}):
        (tmp_path / "v1" / "cc" / f"{wrong}.json").write_text(json.dumps(payload))
        assert cache.get(wrong, "m.py") is None, payload


# --- --fix -----------------------------------------------------------------------------------


def _edit_during_the_run(monkeypatch: pytest.MonkeyPatch, action) -> None:  # noqa: ANN001
    real = runner._fix_loop

    def fix_loop(task, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        out = real(task, *args, **kwargs)
        action(task.path)  # the user saves (or deletes) the file while the run is going
        return out

    monkeypatch.setattr(runner, "_fix_loop", fix_loop)


def test_fix_never_overwrites_an_edit_saved_during_the_run(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "m.py").write_text(FIXABLE)
    _edit_during_the_run(monkeypatch, lambda p: p.write_text(FIXABLE + "# the user's new line\n"))
    code, out, err = invoke("check", "--fix", "--no-cache", "--no-progress")
    assert (project / "m.py").read_text() == FIXABLE + "# the user's new line\n"
    assert "m.py: fixes not written: the file changed while shapecheck was running" in err
    assert "SC405" in out and code == 1  # still reported: nothing was fixed


def test_fix_never_recreates_a_file_deleted_during_the_run(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "m.py").write_text(FIXABLE)
    _edit_during_the_run(monkeypatch, lambda p: p.unlink())
    _, _, err = invoke("check", "--fix", "--no-cache", "--no-progress")
    assert not (project / "m.py").exists()
    assert "m.py: fixes not written" in err


def test_fix_on_a_read_only_file_says_so(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "m.py").write_text(FIXABLE)
    real_open = os.open

    def ro_open(path, flags, *args):  # noqa: ANN001, ANN002, ANN202 - root ignores chmod 444
        if flags & os.O_WRONLY and Path(path).name == "m.py":
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", ro_open)
    code, out, err = invoke("check", "--fix", "--no-cache", "--no-progress")
    assert "m.py: fixes not written: cannot write the file: Permission denied" in err
    assert "SC903" not in out and code == 1


@pytest.mark.parametrize("newlines", [["\r\n", "\n", "\r\n", "\n", "\r\n"], ["\r"] * 5], ids=["mixed", "cr-only"])
def test_fix_keeps_every_line_ending(project: Path, newlines: list[str]) -> None:
    lines = FIXABLE.splitlines()
    (project / "m.py").write_bytes("".join(a + b for a, b in zip(lines, newlines)).encode())
    code, _, _ = invoke("check", "--fix", "--no-cache", "--no-progress")
    fixed = lines[:-1] + ["y = model(torch.zeros(2, 3))"]
    assert (project / "m.py").read_bytes() == "".join(a + b for a, b in zip(fixed, newlines)).encode()
    assert code == 0


def test_diff_without_final_newline_is_a_patch_git_applies(project: Path) -> None:
    (project / "m.py").write_text(FIXABLE.rstrip("\n"))
    code, out, _ = invoke("check", "--diff", "--no-cache", "--no-progress")
    assert code == 1 and out.endswith("+y = model(torch.zeros(2, 3))\n\\ No newline at end of file\n")
    (project / "p.diff").write_text(out)
    subprocess.run(["git", "init", "-q", "."], check=True, cwd=project)
    proc = subprocess.run(["git", "apply", "p.diff"], cwd=project, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (project / "m.py").read_text() == FIXABLE.rstrip("\n").replace(".forward(", "(")


# --- workers ---------------------------------------------------------------------------------


def test_a_worker_that_dies_does_not_hang_the_run(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(6):
        (project / f"m{i}.py").write_text(BUGGY)
    (project / "killer.py").write_text(BUGGY + "# KILL\n")
    real = runner.check_task

    def check_task(task):  # noqa: ANN001, ANN202 - a native crash of the parser, say
        if b"# KILL" in task.content:
            os.kill(os.getpid(), 9)
        return real(task)

    monkeypatch.setattr(runner, "check_task", check_task)
    code, out, _ = invoke("check", "--no-cache", "--no-progress", "-j", "2")
    assert code == 2
    assert "killer.py:1:1: SC903 error: internal error while analysing this file: the worker process died (signal 9)" in out
    assert all(f"m{i}.py:5:" in out for i in range(6))


# --- output ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["concise", "sarif", "gitlab", "rdjson", "json", "junit"])
def test_non_utf8_file_names_in_every_output(project: Path, fmt: str) -> None:
    name = os.fsdecode(b"caf\xe9.py")  # latin-1 name: a lone surrogate in Python
    (project / name).write_text(BUGGY)
    code, _, _ = invoke("check", "--no-cache", "--no-progress", "--output-format", fmt, "-o", "report.out")
    assert code == 1
    data = (project / "report.out").read_bytes()
    if fmt == "sarif":
        assert b'"uri": "caf%E9.py"' in data
    elif fmt == "concise":
        assert data.startswith(b"caf\xe9.py:5:")
    elif fmt == "junit":
        import xml.dom.minidom

        assert "caf\ufffd.py" in data.decode("utf-8") and xml.dom.minidom.parseString(data)
    else:
        json.loads(data)


def test_report_to_a_full_disk_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("import torch\nx = torch.zeros(3) + torch.zeros(4)\n")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "shapecheck.cli", "check", "--no-cache", "m.py"], cwd=tmp_path,
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == "shapecheck: error: cannot write the report: No space left on device\n"


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "shapecheck.cli", "check", "--bogus"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("shapecheck: error: No such option '--bogus'")
    assert len(proc.stderr.splitlines()) == 1 and "╭" not in proc.stderr


def _busy_tree(folder: Path, n: int = 24) -> None:
    body = "\n".join(f"def h{i}(x, w):\n    y = x @ w\n    return torch.relu(y).sum(-1)\n" for i in range(300))
    for i in range(n):
        (folder / f"m{i}.py").write_text("import torch\n" + body)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_pool_quietly(tmp_path: Path, sig: str) -> None:
    # pool workers printed BrokenPipe tracebacks on SIGTERM, and Ctrl-C waited for every queued file
    import signal
    import time

    _busy_tree(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "shapecheck.cli", "check", "--no-cache", "-j", "2", "."],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(1.0)
    os.killpg(proc.pid, getattr(signal, sig)) if sig == "SIGINT" else proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err, err.decode()
    deadline = time.time() + 20
    while time.time() < deadline:  # the workers die with their parent
        alive = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if not alive:
            break
        time.sleep(0.2)
    assert not alive
    assert proc.returncode in (0, 1, 130, -signal.SIGTERM, -signal.SIGINT)  # a signal during start-up kills it
