"""Discovery: extensions, default excludes, exclude/extend-exclude, .gitignore, --force-exclude."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli_support import fake_rules, invoke, project  # noqa: F401 - fixtures

from shapecheck.config import ConfigError, Settings
from shapecheck.files import discover


def touch(root: Path, *names: str) -> None:
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("import torch\n")


def rel(root: Path, files: list[Path]) -> list[str]:
    return [f.relative_to(root.resolve()).as_posix() for f in files]


def test_extensions_and_default_excludes(tmp_path: Path) -> None:
    touch(tmp_path, "a.py", "b.pyi", "c.ipynb", "d.txt", "e.pyc", "pkg/f.py",
          ".venv/lib/x.py", "venv/y.py", "build/z.py", "node_modules/n.py", "pkg/__pycache__/q.py", ".git/h.py")
    assert rel(tmp_path, discover([tmp_path], Settings(root=tmp_path))) == ["a.py", "b.pyi", "c.ipynb", "pkg/f.py"]


def test_exclude_replaces_and_extend_exclude_adds(tmp_path: Path) -> None:
    touch(tmp_path, "a.py", "gen/b.py", "build/c.py", "scratch/d.py", "scratch/sub/e.py")
    s = Settings(root=tmp_path, exclude=("gen",), extend_exclude=("scratch/*.py",))
    assert rel(tmp_path, discover([tmp_path], s)) == ["a.py", "build/c.py", "scratch/sub/e.py"]


def test_gitignore_respected_and_nested(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    touch(tmp_path, "a.py", "out/b.py", "pkg/c.py", "pkg/local.py", "pkg/keep_local.py")
    (tmp_path / ".gitignore").write_text("out/\n")
    (tmp_path / "pkg" / ".gitignore").write_text("*local.py\n!keep_local.py\n")
    found = rel(tmp_path, discover([tmp_path], Settings(root=tmp_path)))
    assert found == ["a.py", "pkg/c.py", "pkg/keep_local.py"]
    off = rel(tmp_path, discover([tmp_path], Settings(root=tmp_path, respect_gitignore=False)))
    assert off == ["a.py", "out/b.py", "pkg/c.py", "pkg/keep_local.py", "pkg/local.py"]


def test_gitignore_of_the_repository_applies_when_checking_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("src/generated/\n")
    touch(tmp_path, "src/a.py", "src/generated/b.py")
    assert rel(tmp_path, discover([tmp_path / "src"], Settings(root=tmp_path))) == ["src/a.py"]


def test_explicit_files_are_always_checked_unless_force_exclude(tmp_path: Path) -> None:
    touch(tmp_path, "build/gen.py", "notes.md", "ignored.py")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("ignored.py\n")
    s = Settings(root=tmp_path)
    explicit = [tmp_path / "build/gen.py", tmp_path / "ignored.py"]
    assert rel(tmp_path, discover(explicit, s)) == ["build/gen.py", "ignored.py"]
    assert discover(explicit, s, force_exclude=True) == []
    assert rel(tmp_path, discover([tmp_path / "notes.md"], s)) == ["notes.md"]  # any extension, if named


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or directory"):
        discover([tmp_path / "nope"], Settings(root=tmp_path))


def test_duplicates_are_checked_once(tmp_path: Path) -> None:
    touch(tmp_path, "a.py")
    assert len(discover([tmp_path, tmp_path / "a.py"], Settings(root=tmp_path))) == 1


@pytest.mark.usefixtures("fake_rules")
def test_force_exclude_from_the_cli_with_config(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.shapecheck]\nextend-exclude = ['legacy']\n")
    (project / "legacy").mkdir()
    (project / "legacy" / "old.py").write_text("import torch\nx = (\n")
    assert invoke("check", "--no-cache", "legacy/old.py")[0] == 1
    assert invoke("check", "--no-cache", "--force-exclude", "legacy/old.py") == (0, "", "")
    assert invoke("check", "--no-cache")[:2] == (0, "")  # the directory walk skips it too


def test_git_info_exclude(tmp_path: Path) -> None:
    (tmp_path / ".git" / "info").mkdir(parents=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("private_*.py\n")
    touch(tmp_path, "a.py", "private_notes.py")
    assert rel(tmp_path, discover([tmp_path], Settings(root=tmp_path))) == ["a.py"]


def test_directory_symlinks_are_not_followed(tmp_path: Path) -> None:
    touch(tmp_path, "pkg/a.py")
    (tmp_path / "pkg" / "loop").symlink_to(tmp_path / "pkg", target_is_directory=True)
    assert rel(tmp_path, discover([tmp_path], Settings(root=tmp_path))) == ["pkg/a.py"]


@pytest.mark.usefixtures("fake_rules")
def test_unreadable_file_is_sc901_not_a_traceback(project: Path) -> None:
    (project / "dangling.py").symlink_to(project / "gone.py")
    (project / "m.py").write_text("import torch\n")
    code, out, _ = invoke("check", "--no-cache", "--no-progress")
    assert code == 1
    assert out.splitlines()[0] == "dangling.py:1:1: SC901 error: could not read the file: No such file or directory"
