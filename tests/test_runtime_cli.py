"""`shapecheck trace SCRIPT`: run_trace's exit status, JSON, summary, argv, and the dry run."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from shapecheck.runtime.cli import run_trace  # noqa: E402

TRAIN = """
    import sys
    import torch
    from torch import nn

    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 1)

        def forward(self, x):
            shift = torch.zeros(1{DEVICE})
            return self.fc(x) + shift


    model = Net().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(16, 8).to(device)
    y = torch.randn(16).to(device)
    for step in range({STEPS}):
        {ZERO}
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        print("loss", loss.item())
"""


def _script(tmp_path: Path, name: str = "train.py", *, device: bool = True, zero: bool = True,
            steps: int = 2, body: str | None = None) -> Path:
    text = body if body is not None else TRAIN.format(
        DEVICE=", device=x.device" if device else "", STEPS=steps, ZERO="opt.zero_grad()" if zero else "pass")
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _run(path: Path, *args: str, dry_run: bool = False, json_path: Path | None = None, nan: bool = False,
         device: str | None = None) -> int:
    return run_trace(path, list(args), dry_run=dry_run, json_path=json_path, detect_nan=nan, device=device)


def test_warnings_only_exit_zero_with_summary_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _script(tmp_path, zero=False)
    out_json = tmp_path / "trace.json"
    assert _run(script, json_path=out_json) == 0
    captured = capsys.readouterr()
    assert captured.out.count("loss ") == 2  # the script's own output is untouched
    assert "warning [broadcast-trap]" in captured.err and "warning [grad-accumulation]" in captured.err
    data = json.loads(out_json.read_text())
    assert {"script", "args", "dry_run", "exit_status", "findings", "modules", "op_counts", "total_ops"} <= set(data)
    kinds = {f["kind"] for f in data["findings"]}
    assert kinds == {"broadcast-trap", "grad-accumulation"}
    trap = next(f for f in data["findings"] if f["kind"] == "broadcast-trap")
    assert trap["source"] == "loss = ((model(x) - y) ** 2).mean()" and trap["related_rule"] == "SC102"
    assert [m["path"] for m in data["modules"]] == ["Net", "Net.fc"]
    assert data["op_counts"]["aten.addmm.default"] == 2


def test_script_failure_gives_its_status_and_a_clean_traceback(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    script = _script(tmp_path, body="import torch\nx = torch.ones(2, 3) @ torch.ones(4, 5)\n")
    assert _run(script) == 1
    err = capsys.readouterr().err
    assert "mat1 and mat2 shapes cannot be multiplied" in err
    assert "shapecheck/runtime" not in err.split("RuntimeError")[0]  # our frames are trimmed
    assert "shapecheck trace: 0 finding(s)" in err


def test_sys_exit_status_and_argv(tmp_path: Path) -> None:
    script = _script(tmp_path, body="import sys\nopen(sys.argv[2], 'w').write(repr(sys.argv[1:]))\n"
                                    "sys.exit(int(sys.argv[1]))\n")
    marker = tmp_path / "argv.txt"
    assert _run(script, "3", str(marker)) == 3
    assert marker.read_text() == repr(["3", str(marker)])
    assert _run(script, "0", str(marker)) == 0


def test_error_severity_finding_fails_the_run(tmp_path: Path) -> None:
    body = "import torch\nx = torch.linspace(-1, 1, 5)\ny = torch.log(x)\nprint(y.shape)\n"
    script = _script(tmp_path, body=body)
    assert _run(script) == 0  # NaN checks are opt-in
    assert _run(script, nan=True) == 1


def test_dry_run_catches_the_missing_device_on_fake_cuda(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _script(tmp_path, "bad.py", device=False)
    out_json = tmp_path / "dry.json"
    assert _run(bad, dry_run=True, json_path=out_json) == 1
    data = json.loads(out_json.read_text())
    [finding] = data["findings"]
    assert finding["kind"] == "device-mismatch" and finding["source"] == "return self.fc(x) + shift"
    assert "(16, 1) on cuda:0, (1,) on cpu" in finding["message"]
    assert data["dry_run"] is True
    capsys.readouterr()

    good = _script(tmp_path, "good.py", device=True)
    original = torch.cuda.is_available
    assert _run(good, dry_run=True, json_path=out_json) == 0
    assert torch.cuda.is_available is original  # the script's fake `cuda` is gone again
    kinds = [f["kind"] for f in json.loads(out_json.read_text())["findings"]]
    # The broadcast trap is found on fake tensors too; the run stops at loss.item() (no values).
    assert kinds == ["broadcast-trap", "dry-run-stopped"]


def test_usage_errors_exit_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path / "missing.py") == 2
    assert "no such file" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert _run(_script(tmp_path), device="cuda") == 2
        assert "add --dry-run to run on a fake cuda device" in capsys.readouterr().err


def test_shapecheck_trace_command_end_to_end(tmp_path: Path) -> None:
    cli = pytest.importorskip("shapecheck.cli")
    from typer.testing import CliRunner

    script = _script(tmp_path, device=False)
    result = CliRunner().invoke(cli.app, ["trace", "--dry-run", str(script)])
    assert result.exit_code == 1, result.output
