"""The release as users get it: the wheel built from this tree installs into a clean environment
and checks a fixture; one version number (shapecheck/__init__.py) everywhere it is cited; the
README cites only files that exist. (`python -m build` + `twine check` is the full release
check; it downloads the build backend, so it is not run here: see the README's release notes.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from test_cli_support import ROOT

from shapecheck import __version__


def _build_wheel(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "shapecheck", src / "shapecheck",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(out), str(src)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("*.whl")
    return wheel


def test_wheel_installs_into_a_clean_environment_and_checks_a_fixture(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    assert wheel.name == f"shapecheck-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(f"shapecheck-{__version__}.dist-info/METADATA").decode()
    assert "shapecheck/py.typed" in names and "shapecheck/server/lsp.py" in names
    assert not any(n.startswith(("tests/", "fixtures/")) for n in names)
    assert f"Version: {__version__}" in metadata and "Requires-Dist: pygls>=2" in metadata
    assert 'Requires-Dist: tomli>=1.1; python_version < "3.11"' in metadata
    assert "torch" not in [re.split(r"[<>=;\[ ]", line.split(": ", 1)[1])[0]
                           for line in metadata.splitlines() if line.startswith("Requires-Dist:")
                           and "extra ==" not in line]

    # a clean environment: the wheel unpacked into its own site-packages; the dependencies
    # (libcst, typer, ...) are borrowed from this environment by path, without its .pth hooks,
    # so the editable install of the working tree is not visible
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                    "--target", str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "work"
    shutil.copytree(ROOT / "fixtures" / "buggy", work)
    proc = subprocess.run(
        [str(python), "-c", "import sys, shapecheck.cli as c; print(c.__file__, file=sys.stderr); "
                            "sys.argv = ['shapecheck', 'check', '--no-cache', '--output-format', 'json', '.']; c.main()"],
        cwd=work, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SHAPECHECK_CACHE_DIR")},
    )
    assert str(site) in proc.stderr.splitlines()[0], proc.stderr  # the installed copy, not the tree
    assert proc.returncode == 1, proc.stderr
    found = json.loads(proc.stdout)
    assert found and {d["filename"] for d in found} <= {p.name for p in work.glob("*.py*")}
    assert "torch" not in proc.stderr


def test_one_version_everywhere() -> None:
    readme = (ROOT / "README.md").read_text()
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert re.findall(r"rev: (v[\w.]+)", readme) == [f"v{__version__}"]
    assert re.findall(r"rev: (v[\w.]+)", hooks) == [f"v{__version__}"]
    assert 'dynamic = ["version"]' in (ROOT / "pyproject.toml").read_text()


def test_readme_cites_only_what_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    # markdown links and backticked repository paths
    cited = set(re.findall(r"\]\(((?!https?:|#)[^)\s]+)\)", readme))
    cited |= {p for p in re.findall(r"`((?:rules|benchmarks|shapecheck|tests|fixtures|docs)/[\w./-]+)`", readme)}
    missing = sorted(p for p in cited if not (ROOT / p.split("#")[0]).exists())
    assert missing == []
    for gone in ("research/", "seed §", "DESIGN.md §"):
        assert gone not in readme, gone
