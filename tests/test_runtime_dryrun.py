"""Dry runs on fake tensors with a fake `cuda`: device bugs caught on a CPU-only machine."""

from __future__ import annotations

import inspect

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import shapecheck  # noqa: E402

HERE = __file__


def _line(fn: object, text: str) -> int:
    lines, start = inspect.getsourcelines(fn)  # type: ignore[arg-type]
    return start + next(i for i, line in enumerate(lines) if text in line)


class PositionalNoCuda(nn.Module):
    """A model whose forward creates a tensor without device=: breaks once on the GPU."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.proj = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1]).float()
        pos = positions[None, :, None] / x.shape[1]
        return self.norm(self.proj(x) + pos)


class PositionalOnDevice(PositionalNoCuda):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1], device=x.device).float()
        pos = positions[None, :, None] / x.shape[1]
        return self.norm(self.proj(x) + pos)


def test_tensor_created_without_device_in_forward_is_caught_on_fake_cuda() -> None:
    model = PositionalNoCuda()
    report = shapecheck.dry_run(model, torch.empty(4, 10, 16), device="cuda")
    [f] = report.findings
    assert (f.kind, f.severity, f.filename) == ("device-mismatch", "error", HERE)
    assert f.line == _line(PositionalNoCuda.forward, "self.proj(x) + pos")
    assert f.module == "PositionalNoCuda"
    assert f.message.startswith("aten.add.Tensor mixes devices: (4, 10, 16) on cuda:0, (1, 10, 1) on cpu.")
    assert report.has_errors
    # The real model is untouched: its parameters are still real CPU tensors.
    assert model.proj.weight.device.type == "cpu" and type(model.proj.weight) is nn.Parameter


def test_creation_line_is_named_in_the_note() -> None:
    class Masked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mask = torch.ones(8)
            return self.fc(x) * mask

    [f] = shapecheck.dry_run(Masked(), torch.empty(2, 8)).findings
    assert f.notes == [f"the cpu tensor (8,) was created at {HERE}:{_line(Masked.forward, 'torch.ones(8)')}: "
                       "pass device=x.device (x: an input of forward) when creating it"]


def test_clean_model_forward_and_backward_without_findings() -> None:
    model = PositionalOnDevice()
    target = torch.empty(4, 10, 16)
    report = shapecheck.dry_run(model, torch.empty(4, 10, 16), device="cuda",
                                loss_fn=nn.functional.mse_loss, target=target)
    assert report.findings == []
    assert report.modules["PositionalOnDevice.proj"].output == "(4, 10, 16) float32"
    assert "aten.mm.default" in report.op_count_table()  # backward ran (weight gradient)


def test_a_huge_model_costs_no_memory_or_compute() -> None:
    model = nn.Linear(4, 4)
    model.weight = nn.Parameter(torch.empty(50_000, 50_000, device="meta"))  # 10 GB if real
    model.bias = nn.Parameter(torch.empty(50_000, device="meta"))
    report = shapecheck.dry_run(model, torch.empty(64, 50_000, device="meta"))
    assert report.findings == [] and report.modules["Linear"].output == "(64, 50000) float32"


def test_shape_error_in_forward_becomes_a_finding_at_its_line() -> None:
    class Wrong(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(8, 16)
            self.b = nn.Linear(32, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.a(x))

    [f] = shapecheck.dry_run(Wrong(), torch.empty(2, 8)).findings
    assert (f.kind, f.line) == ("shape-error", _line(Wrong.forward, "self.b(self.a(x))"))


def test_annotated_module_is_checked_during_the_dry_run() -> None:
    from jaxtyping import Float

    @shapecheck.check
    class Head(nn.Module):
        def __init__(self, d_model: int) -> None:
            super().__init__()
            self.fc = nn.Linear(d_model, 2)

        def forward(self, x: Float[torch.Tensor, "b d_model"]) -> Float[torch.Tensor, "b 2"]:
            return self.fc(x)

    assert shapecheck.dry_run(Head(8), torch.empty(3, 8)).findings == []
    [f] = shapecheck.dry_run(Head(8), torch.empty(3, 6)).findings
    assert f.kind == "shape-error" and "dim 'd_model' (axis 1) is 6, but 'd_model' is already 8" in f.message


def test_cpu_dry_run_is_silent_on_the_same_model() -> None:
    assert shapecheck.dry_run(PositionalNoCuda(), torch.empty(4, 10, 16), device="cpu").findings == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_real_cuda_build_fakes_cuda_itself() -> None:
    report = shapecheck.dry_run(PositionalNoCuda().cuda(), torch.empty(4, 10, 16), device="cuda")
    assert [f.kind for f in report.findings] == ["device-mismatch"]
    assert "cuda:0" in report.findings[0].message


def test_copy_to_host_inside_the_step_is_a_sync_in_a_script_dry_run(tmp_path: object) -> None:
    import textwrap
    from pathlib import Path

    from shapecheck.runtime.cli import run_trace

    script = Path(str(tmp_path)) / "sync.py"
    script.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        model = nn.Linear(4, 2).cuda()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x = torch.randn(8, 4).cuda()
        out = model(x)
        host = out.cpu()
        out.sum().backward()
        opt.step()
    """))
    json_path = Path(str(tmp_path)) / "out.json"
    assert run_trace(script, [], dry_run=True, json_path=json_path, detect_nan=False, device=None) == 0
    import json

    [f] = json.loads(json_path.read_text())["findings"]
    assert (f["kind"], f["line"], f["severity"]) == ("host-sync", 8, "warning")
    assert "copies a cuda:0 tensor to the host" in f["message"]


LOADER_SCRIPT = """
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.cuda.manual_seed_all(0)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))

        def forward(self, x):
            temperature = torch.ones(3{DEVICE})
            return self.body(x) / temperature


    loader = DataLoader(TensorDataset(torch.randn(64, 10), torch.randint(0, 3, (64,))), batch_size=16, shuffle=True)
    model = Net().to(device)
    opt = torch.optim.Adam(model.parameters())
    for epoch in range(100):
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            print(f"{{loss.item():.3f}}")
        if loss.item() != loss.item():
            break
    torch.cuda.synchronize()
"""


@pytest.mark.parametrize("device_arg", ["", ", device=x.device"])
def test_script_dry_run_goes_through_loader_adam_and_item(tmp_path: object, device_arg: str) -> None:
    import json
    import textwrap
    from pathlib import Path

    from shapecheck.runtime.cli import run_trace

    script = Path(str(tmp_path)) / "train.py"
    script.write_text(textwrap.dedent(LOADER_SCRIPT.format(DEVICE=device_arg)))
    out = Path(str(tmp_path)) / "out.json"
    saved = (torch.cuda.is_available, torch.cuda.synchronize, torch.cuda.manual_seed_all, nn.Module.to)
    status = run_trace(script, [], dry_run=True, json_path=out, detect_nan=False, device=None)
    # The script's fake cuda is gone again.
    assert (torch.cuda.is_available, torch.cuda.synchronize, torch.cuda.manual_seed_all, nn.Module.to) == saved
    data = json.loads(out.read_text())
    kinds = [f["kind"] for f in data["findings"]]
    if device_arg:
        assert (status, kinds, data["optimizer_steps"]) == (0, ["dry-run-stopped"], 2)
        assert data["findings"][0]["message"].startswith("the dry run ended after 2 optimizer step(s)")
    else:
        assert (status, kinds) == (1, ["device-mismatch"])
        assert data["findings"][0]["source"] == "return self.body(x) / temperature"
