"""`shapecheck trace --dry-run` on scripts written like real training code.

Each case is something a real script did that stopped the first dry runs (issue 12): device
probes (`is_bf16_supported`, `torch.accelerator`), fused AdamW, a 0-dim `torch.tensor` parameter,
`.numpy()` in a transform, `torch.save`, a loop waiting for a small loss, Ctrl-C, and the
script's own `--dry-run`/`--device` flags.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from shapecheck.runtime.cli import run_trace  # noqa: E402

REAL_SCRIPT = """
    import argparse
    import math
    import numpy as np
    import torch
    from torch import nn

    parser = argparse.ArgumentParser()
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", default="")
    parser.add_argument("--nan", action="store_true")
    args = parser.parse_args()
    assert args.dry_run and args.device == "cpu-please" and args.json == "mine.json" and args.nan

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    assert torch.accelerator.is_available() and torch.accelerator.current_accelerator().type == "cuda"
    assert torch.cuda.get_device_capability() >= (8, 0)


    def to_array(img):  # torchvision's ToPILImage / a numpy transform
        return np.asarray(img.numpy(), dtype=np.float32)


    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's 0-dim parameter
            self.register_buffer("temperature", torch.tensor(2.0))

        def forward(self, x):
            return self.fc(x) * self.logit_scale.exp() / self.temperature


    model = Model().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device == "cuda")
    for step in range(10):
        x = torch.randn(16, 8, device=device)
        y = torch.randint(0, 4, (16,), device=device)
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        preview = to_array(model(x).detach().cpu())
        torch.save({"model": model.state_dict(), "step": step}, "checkpoint.pt")
        print(step, preview.shape, f"{loss.item():.3f}")
"""


def _write(tmp_path: Path, text: str, name: str = "train.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _trace(path: Path, *args: str, **kw: object) -> tuple[int, dict]:
    out = path.parent / "trace.json"
    status = run_trace(path, list(args), dry_run=True, json_path=out, detect_nan=False, device=None, **kw)
    return status, json.loads(out.read_text())


def test_a_real_style_script_reaches_its_second_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    script = _write(tmp_path, REAL_SCRIPT)
    saved = (torch.save, torch.cuda.is_bf16_supported, torch.accelerator.is_available, torch.optim.Optimizer.__init__)
    status, data = _trace(script, "--dry-run", "--device", "cpu-please", "--json", "mine.json", "--nan")
    assert (status, data["optimizer_steps"]) == (0, 2), capsys.readouterr().err
    assert [f["kind"] for f in data["findings"]] == ["dry-run-stopped"]
    assert not (tmp_path / "checkpoint.pt").exists()  # torch.save wrote nothing
    assert "0 (16, 4)" in capsys.readouterr().out  # .numpy() gave an array of the right shape
    assert (torch.save, torch.cuda.is_bf16_supported, torch.accelerator.is_available,
            torch.optim.Optimizer.__init__) == saved


def test_failures_are_labelled_by_their_kind(tmp_path: Path) -> None:
    dtype = _write(tmp_path, """
        import torch
        from torch import nn
        tokens = torch.rand(2, 5, device="cuda") * 100  # float token ids
        emb = nn.Embedding(100, 8).cuda()(tokens)
    """, "dtype.py")
    status, data = _trace(dtype)
    [f] = data["findings"]
    assert (status, f["kind"], f["line"], f["severity"]) == (1, "dtype-mismatch", 5, "error")
    assert "'indices' to have one of the following scalar types: Long, Int" in f["message"]
    shape = _write(tmp_path, """
        import torch
        y = torch.randn(2, 4, device="cuda") @ torch.randn(5, 4, device="cuda")
    """, "shape.py")
    assert [f["kind"] for f in _trace(shape)[1]["findings"]] == ["shape-error"]
    unsupported = _write(tmp_path, """
        import torch
        x = torch.randn(3, device="cuda")
        sparse = x.to_sparse()  # no meta kernel
    """, "unsupported.py")
    status, data = _trace(unsupported)
    [f] = data["findings"]
    assert (status, f["kind"], f["severity"]) == (0, "dry-run-unsupported", "info")
    assert "a limit of fake tensors, not a bug in the script" in f["message"]


def test_a_loop_waiting_for_a_small_loss_ends(tmp_path: Path) -> None:
    script = _write(tmp_path, """
        import torch
        from torch import nn
        model = nn.Linear(3, 1).cuda()
        x = torch.randn(8, 3).cuda()
        loss = model(x).pow(2).mean()
        while loss.item() > 1e-4:  # the fake value halves at each read
            loss = model(x).pow(2).mean()
        print("converged")
        while True:  # and a loop no value ends: the time bound
            pass
    """)
    status, data = _trace(script, max_seconds=1.0)
    [f] = data["findings"]
    assert status == 0 and f["kind"] == "dry-run-stopped" and "reached its time bound (1 s)" in f["message"]


def test_ctrl_c_prints_the_findings_so_far(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _write(tmp_path, """
        import torch
        trap = torch.randn(4, 1, device="cuda") - torch.randn(4, device="cuda")
        raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a long loop
    """)
    status, data = _trace(script)
    assert status == 130
    assert [f["kind"] for f in data["findings"]] == ["broadcast-trap", "dry-run-stopped"]
    err = capsys.readouterr().err
    assert "interrupted (Ctrl-C)" in err and "warning [broadcast-trap]" in err


def test_script_flags_after_the_script_path_belong_to_the_script(tmp_path: Path) -> None:
    cli = pytest.importorskip("shapecheck.cli")
    from typer.testing import CliRunner

    script = _write(tmp_path, "import sys\nprint('ARGS', sys.argv[1:])\n")
    result = CliRunner().invoke(cli.app, ["trace", "--dry-run", str(script), "--dry-run", "--device", "x", "--nan"])
    assert result.exit_code == 0 and "ARGS ['--dry-run', '--device', 'x', '--nan']" in result.output
    bad = CliRunner().invoke(cli.app, ["trace", "--device", "banana", str(script)])
    assert bad.exit_code == 2 and "--device banana: not a device torch knows" in bad.output
    assert "Traceback" not in bad.output
