"""The real pre-commit hook: `pre-commit try-repo <a copy of this project> shapecheck --all-files`
in a throwaway git repository. pre-commit pip-installs the package into its own environment
(from PyPI: libcst, typer, rich, pathspec; never torch), so this test needs network access and
takes a minute or two (two hook installs: try-repo always builds its environment in a fresh
temporary store). It stays in the default run: it is the only test of the hook as users run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from test_cli_support import ROOT

TRAINING_BUG = """\
import torch
from torch import nn

model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.MSELoss()
loader = [(torch.randn(8, 4), torch.randn(8, 2))]
for epoch in range(10):
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
"""

CLEAN = """\
import torch
from torch import nn

model = nn.Linear(4, 2)
print(model(torch.randn(3, 4)).shape)
"""


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=cwd, check=True, capture_output=True,
    )


def copy_project(dest: Path) -> Path:
    """The package as it is in this working tree, committed in a fresh repository."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".shapecheck_cache")
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "constraints.txt"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "shapecheck", dest / "shapecheck", ignore=ignore)
    git("init", "-q", cwd=dest)
    git("add", ".", cwd=dest)
    git("commit", "-q", "-m", "snapshot", cwd=dest)
    return dest


def try_repo(repo: Path, work: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("SHAPECHECK_CACHE_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(repo), "shapecheck", "--all-files"],
        cwd=work, env=env, capture_output=True, text=True, timeout=900,
    )


def test_pre_commit_hook_fails_on_bugs_and_passes_clean_code(tmp_path: Path) -> None:
    repo = copy_project(tmp_path / "shapecheck-src")
    work = tmp_path / "user-project"
    work.mkdir()
    (work / "model.py").write_text(CLEAN)
    (work / "README.md").write_text("not python\n")
    git("init", "-q", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "clean", cwd=work)
    home = tmp_path / "pre-commit-home"  # try-repo keeps its store in a temp dir; this holds the rest

    clean = try_repo(repo, work, home)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Passed" in clean.stdout

    (work / "broken.py").write_text("import torch\nx = torch.zeros(3\n")
    (work / "train.py").write_text(TRAINING_BUG)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "bugs", cwd=work)
    failing = try_repo(repo, work, home)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "Failed" in failing.stdout
    assert "broken.py:2:" in failing.stdout and "SC901" in failing.stdout
    sys.path.insert(0, str(ROOT))
    from shapecheck.rules import all_rules

    if "SC201" in all_rules():
        assert "train.py:12:9: SC201" in failing.stdout
    assert "model.py" not in failing.stdout  # the clean file stays silent next to the buggy ones
