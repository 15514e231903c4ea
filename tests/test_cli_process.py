"""The CLI in fresh processes with the real rule registry: no torch on the static path, lazy
imports for a fast start, exit codes end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_cli_support import run_cli

PROBE = """
import sys
sys.argv = ["shapecheck", *sys.argv[1:]]
code = 0
try:
    from shapecheck.cli import main
    main()
except SystemExit as exc:
    code = exc.code
mods = {name: name in sys.modules for name in ("torch", "numpy", "jaxtyping", "libcst")}
sys.stderr.write("PROBE " + __import__("json").dumps({"code": code, **mods}) + "\\n")
"""


def probe(*args: str, cwd: Path) -> tuple[dict[str, object], str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("PROBE ")][-1]
    return json.loads(line[len("PROBE "):]), proc.stdout


def test_import_shapecheck_does_not_import_torch(tmp_path: Path) -> None:
    code = "import sys, shapecheck; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.stdout.strip() == "False False"


MODEL = """\
import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn


class Net(nn.Module):
    def __init__(self, d: int = 8) -> None:
        super().__init__()
        self.fc = nn.Linear(d, 2)

    def forward(self, x: Float[Tensor, "batch d"]) -> Float[Tensor, "batch 2"]:
        return F.log_softmax(self.fc(x), dim=-1)


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in [(torch.randn(4, 8), torch.zeros(4, dtype=torch.long))]:
    opt.zero_grad()
    loss = F.nll_loss(model(x), y)
    loss.backward()
    opt.step()
print(np.asarray([1.0]))
"""


def test_check_with_every_real_rule_never_imports_torch(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(MODEL)
    mods, _ = probe("check", "--no-cache", "--select", "ALL", "--exit-zero", "train.py", cwd=tmp_path)
    assert mods["code"] in (0, 2)  # 2 only if a rule in progress crashes (SC903); never a traceback
    assert mods["torch"] is False and mods["numpy"] is False and mods["jaxtyping"] is False


def test_help_and_torch_free_files_do_not_even_import_libcst(tmp_path: Path) -> None:
    mods, out = probe("--help", cwd=tmp_path)
    assert mods["libcst"] is False and "check" in out
    (tmp_path / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    mods, out = probe("check", "--no-cache", "setup.py", cwd=tmp_path)
    assert (mods["code"], mods["libcst"], out) == (0, False, "All checks passed!\n")


def test_warm_cached_run_does_not_import_libcst(tmp_path: Path) -> None:
    from shapecheck.cache import analysis_hash

    (tmp_path / "m.py").write_text("import torch\nx = torch.zeros(3)\n")
    for attempt in range(3):  # the cache key covers the rules' source: retry if the package is edited meanwhile
        analysis_hash.cache_clear()
        before = analysis_hash()
        cache = f"cache{attempt}"
        first, _ = probe("check", "--cache-dir", cache, "m.py", cwd=tmp_path)
        again, _ = probe("check", "--cache-dir", cache, "m.py", cwd=tmp_path)
        analysis_hash.cache_clear()
        if analysis_hash() == before:
            break
    assert first["libcst"] is True
    assert (again["code"], again["libcst"]) == (first["code"], False)


def test_syntax_error_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("import torch\n\ndef f(x:\n    return x\n")
    proc = run_cli("check", "--no-cache", "--select", "SC901", ".", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == "bad.py:3:6: SC901 error: could not parse the file: '(' was never closed\nFound 1 error.\n"
    assert proc.stderr == ""


def test_usage_error_exit_2(tmp_path: Path) -> None:
    proc = run_cli("check", "--no-such-flag", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
