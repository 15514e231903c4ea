"""`shapecheck.trace()`: every report triggered by a small real training loop, absent on a clean one."""

from __future__ import annotations

import inspect
import re
import math
from collections.abc import Callable

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from torch import nn  # noqa: E402

import shapecheck  # noqa: E402
from shapecheck.runtime.findings import shown_path  # noqa: E402
from shapecheck.runtime.tracer import Tracer  # noqa: E402

HERE = __file__


def _line_of(fn: Callable[..., object], text: str) -> int:
    """Line number of the first line of `fn`'s source containing `text`."""
    lines, start = inspect.getsourcelines(fn)
    for offset, line in enumerate(lines):
        if text in line:
            return start + offset
    raise AssertionError(f"{text!r} not in {fn.__name__}")


def _kinds(t: Tracer) -> list[str]:
    return [f.kind for f in t.findings]


def _data(n: int = 32, d: int = 8, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


def _mlp(d: int = 8, classes: int = 4, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(d, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, classes))


def clean_loop(model: nn.Module, steps: int = 3) -> None:
    x, y = _data()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        _ = loss.item()  # after the step: not a sync inside the step
    model.eval()
    with torch.no_grad():
        model(x)


def test_clean_training_loop_has_no_findings_and_a_module_table() -> None:
    model = _mlp(dropout=0.1)
    with shapecheck.trace(print_summary=False) as t:
        clean_loop(model)
    assert t.findings == []
    paths = list(t.modules)
    assert paths == ["Sequential", "Sequential.0", "Sequential.1", "Sequential.2", "Sequential.3"]
    first = t.modules["Sequential.0"]
    assert (first.type, first.inputs, first.output, first.calls) == ("Linear", ["(32, 8) float32"], "(32, 16) float32", 4)
    assert set(first.stats) >= {"mean", "std", "zero_fraction"}
    assert "dead_fraction" in t.modules["Sequential.1"].stats
    data = t.to_json()
    assert data["optimizer_steps"] == 3 and data["total_ops"] == sum(data["op_counts"].values())
    assert data["op_counts"]["aten.addmm.default"] >= 6  # 2 linears x 3 steps (+ eval)
    assert "aten.threshold_backward.default" in data["op_counts"]  # backward ops are seen


def test_broadcast_trap_in_a_regression_loss() -> None:
    def step() -> None:
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        x, y = torch.randn(8, 3), torch.randn(8)
        pred = model(x)  # (8, 1)
        loss = ((pred - y) ** 2).mean()  # (8, 1) - (8,) -> (8, 8)
        loss.backward()

    with shapecheck.trace(print_summary=False) as t:
        step()
    [f] = [f for f in t.findings if f.kind == "broadcast-trap"]
    assert (f.filename, f.line) == (HERE, _line_of(step, "loss = ((pred - y)"))
    assert f.message.startswith("aten.sub.Tensor: (8, 1) and (8,) broadcast to (8, 8), larger than every input")
    assert f.notes[:4] == ["aligned from the right:", "     8     1", "           8", "     8     8  result"]


def test_explicit_outer_product_and_bias_add_are_not_traps() -> None:
    with shapecheck.trace(print_summary=False) as t:
        a, b = torch.randn(8), torch.randn(5)
        outer = a[:, None] * b[None, :]
        biased = torch.randn(4, 8, 16) + torch.randn(16)
        fixed = nn.Linear(3, 1)(torch.randn(8, 3)).squeeze(1) - torch.randn(8)
    assert outer.shape == (8, 5) and biased.shape == (4, 8, 16) and fixed.shape == (8,)
    assert t.findings == []


def test_host_sync_inside_the_step_only() -> None:
    def loop() -> None:
        model = _mlp()
        x, y = _data()
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        for _ in range(2):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            if loss.item() > 100:  # sync before backward: inside the step
                break
            loss.backward()
            opt.step()
            print(f"{loss.item():.3f}")  # after the step: fine

    with shapecheck.trace(print_summary=False) as t:
        loop()
    syncs = [f for f in t.findings if f.kind == "host-sync"]
    assert [(f.line, f.count, f.severity) for f in syncs] == [(_line_of(loop, "if loss.item() > 100"), 2, "info")]
    assert "would force a host-device sync" in syncs[0].message  # CPU tensor: it *would* sync on a GPU


def test_float64_creeping_in_from_numpy() -> None:
    def step() -> None:
        model = _mlp()
        x = torch.tensor(np.random.default_rng(0).normal(size=(32, 8)))  # float64
        weights = torch.from_numpy(np.ones(4))  # float64 class weights
        out = model(x.float())
        loss = (out * weights).mean()
        loss.backward()

    with shapecheck.trace(print_summary=False) as t:
        step()
    lines = sorted(f.line for f in t.findings if f.kind == "float64")
    assert _line_of(step, "loss = (out * weights)") in lines
    assert all(f.kind == "float64" for f in t.findings)

    with shapecheck.trace(print_summary=False) as clean:
        model = _mlp()
        x = torch.tensor(np.random.default_rng(0).normal(size=(32, 8)), dtype=torch.float32)
        model(x).mean().backward()
    assert clean.findings == []


def test_gradients_accumulating_without_zero_grad() -> None:
    def loop(zero: str) -> None:
        model = _mlp()
        x, y = _data()
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        for i in range(4):
            if zero == "every-step":
                opt.zero_grad()
            if zero == "keep-tensors":
                opt.zero_grad(set_to_none=False)
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            if zero == "accumulate-2":
                if i % 2 == 1:
                    opt.step()
                    opt.zero_grad()
            else:
                opt.step()

    with shapecheck.trace(print_summary=False) as bad:
        loop("never")
    [f] = [f for f in bad.findings if f.kind == "grad-accumulation"]
    assert f.line == _line_of(loop, "loss.backward()")
    assert "gradients accumulate across optimizer steps" in f.message
    for zero in ("every-step", "keep-tensors", "accumulate-2"):
        with shapecheck.trace(print_summary=False) as good:
            loop(zero)
        assert good.findings == [], zero


def test_gradient_shape_differs_from_parameter() -> None:
    model = _mlp()
    x, y = _data()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with shapecheck.trace(print_summary=False) as t:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        model[2].bias.grad.data = torch.zeros(16)  # gradient surgery gone wrong
        with pytest.raises(RuntimeError):
            opt.step()  # torch itself fails, after our pre-step check
    [f] = [f for f in t.findings if f.kind == "grad-mismatch"]
    assert f.message == ("Sequential.2.bias.grad is (16,) torch.float32 on cpu, but the parameter is (4,) "
                         "torch.float32 on cpu")
    assert f.severity == "error" and t.has_errors


def test_parameter_that_never_gets_a_gradient() -> None:
    class WithUnused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(8, 4)
            self.aux_head = nn.Linear(8, 2)  # built, never used in forward

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

    with shapecheck.trace(print_summary=False) as t:
        clean_loop(WithUnused(), steps=2)
    [f] = t.findings
    assert f.kind == "param-without-grad"
    assert f.message.startswith("2 parameter(s) never received a gradient in 2 optimizer step(s): "
                                "WithUnused.aux_head.weight, WithUnused.aux_head.bias")


def test_dropout_and_batchnorm_in_training_mode_under_no_grad() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 4))
    x, _ = _data()

    def evaluate(call_eval: bool) -> None:
        if call_eval:
            model.eval()
        with torch.no_grad():
            model(x)
        model.train()

    with shapecheck.trace(print_summary=False) as bad:
        evaluate(False)
    assert sorted((f.kind, f.module) for f in bad.findings) == [
        ("train-mode-under-no-grad", "Sequential.1"), ("train-mode-under-no-grad", "Sequential.3")]
    assert "BatchNorm1d at Sequential.1 runs in training mode under no_grad" in bad.findings[0].message
    with shapecheck.trace(print_summary=False) as good:
        evaluate(True)
    assert good.findings == []


def test_backward_while_in_eval_mode() -> None:
    model = _mlp(dropout=0.3)
    x, y = _data()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    model.eval()  # forgot model.train()
    with shapecheck.trace(print_summary=False) as t:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert _kinds(t) == ["backward-in-eval-mode"]
    # A model without Dropout/BatchNorm behaves the same in both modes: nothing to say.
    plain = _mlp()
    plain.eval()
    with shapecheck.trace(print_summary=False) as quiet:
        nn.functional.cross_entropy(plain(x), y).backward()
    assert quiet.findings == []


def test_nan_detection_is_opt_in() -> None:
    def step() -> None:
        x = torch.linspace(-1, 1, 8, requires_grad=True)
        y = torch.log(x + 0.5)  # NaN for x < -0.5
        y.sum().backward()

    with shapecheck.trace(print_summary=False) as off:
        step()
    assert off.findings == []
    with shapecheck.trace(print_summary=False, detect_nan=True) as on:
        step()
    [f] = [f for f in on.findings if f.kind == "non-finite"]
    assert (f.line, f.op) == (_line_of(step, "torch.log"), "aten.log.default")


def test_first_loss_far_from_log_num_classes() -> None:
    x, y = _data(classes=10)

    def overconfident() -> nn.Module:
        model = _mlp(classes=10)
        with torch.no_grad():
            model[2].weight.mul_(60.0)  # over-confident logits at init
        return model

    with shapecheck.trace(print_summary=False) as bad:
        nn.functional.cross_entropy(overconfident()(x), y).backward()
    [f] = bad.findings
    assert f.kind == "initial-loss"
    assert re.match(r"first cross-entropy loss is \d+\.\d{3}, far from ln\(10\) = 2\.303", f.message)

    with shapecheck.trace(print_summary=False) as good:
        loss = nn.functional.cross_entropy(_mlp(classes=10)(x), y)
        loss.backward()
    assert abs(loss.item() - math.log(10)) < 0.5 and good.findings == []
    with shapecheck.trace(print_summary=False, stats=False) as off:  # stats=False turns it off, as documented
        nn.functional.cross_entropy(overconfident()(x), y).backward()
    assert off.findings == []


def test_first_loss_is_not_judged_on_a_trained_model() -> None:
    """Resume and fine-tune: the weights come from a checkpoint, or training began before the trace."""
    x, y = _data(classes=10)
    trained = _mlp(classes=10)
    with torch.no_grad():
        trained[2].weight.mul_(60.0)  # stands for a model trained to confident predictions
    with shapecheck.trace(print_summary=False) as started_late:  # built before the trace
        nn.functional.cross_entropy(trained(x), y).backward()
    assert started_late.findings == []
    checkpoint = trained.state_dict()
    with shapecheck.trace(print_summary=False) as resumed:  # built inside, then loaded
        model = _mlp(classes=10)
        model.load_state_dict(checkpoint)
        nn.functional.cross_entropy(model(x), y).backward()
    assert resumed.findings == []


def test_dead_relu_fraction() -> None:
    model = _mlp()
    with torch.no_grad():
        model[0].bias.fill_(-50.0)  # every pre-activation negative: all 16 units dead
    x, y = _data()
    with shapecheck.trace(print_summary=False) as t:
        nn.functional.cross_entropy(model(x), y).backward()
    [f] = [f for f in t.findings if f.kind == "dead-relu"]
    assert f.message.startswith("ReLU at Sequential.1: 100% of its 16 units output 0 for the whole batch")
    assert t.modules["Sequential.1"].stats["dead_fraction"] == 1.0


def test_device_mixing_is_reported_before_torch_fails() -> None:
    def step() -> None:
        a = torch.zeros(3, device="meta")
        b = torch.ones(3)
        a * b

    with shapecheck.trace(print_summary=False) as t, pytest.raises(RuntimeError):
        step()
    [f] = t.findings
    assert (f.kind, f.line) == ("device-mismatch", _line_of(step, "a * b"))
    assert f.message.startswith("aten.mul.Tensor mixes devices: (3,) on meta, (3,) on cpu.")


def test_summary_text_lists_findings_with_source() -> None:
    with shapecheck.trace(print_summary=False) as t:
        _ = torch.randn(4, 1) + torch.randn(4)
    text = t.summary()
    assert text.splitlines()[0] == "shapecheck trace: 1 finding(s), 3 ops, 0 optimizer step(s)"
    assert f"{shown_path(HERE)}:" in text and "warning [broadcast-trap]" in text
    assert "_ = torch.randn(4, 1) + torch.randn(4)" in text





def test_a_failing_forward_keeps_module_paths_right() -> None:
    class Boom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise ValueError("boom")

    outer = nn.Sequential(nn.Linear(4, 4), Boom())
    with shapecheck.trace(print_summary=False) as t:
        with pytest.raises(ValueError):
            outer(torch.zeros(2, 4))
        _ = torch.randn(3, 1) - torch.randn(3)  # outside any module now
    [f] = t.findings
    assert f.kind == "broadcast-trap" and f.module == ""


def test_a_broken_rule_does_not_break_the_program(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*args: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(Tracer, "_broadcast", broken)
    monkeypatch.setattr(Tracer, "post_forward", broken)
    with shapecheck.trace(print_summary=False) as t:
        y = nn.Linear(1, 1)(torch.randn(4, 1)) - torch.randn(4)
    assert y.shape == (4, 4) and t.internal_errors == 2
    assert "shapecheck: internal error in the tracer (KeyError: 'oops')" in capsys.readouterr().err


def test_dead_units_of_functional_relu_in_forward() -> None:
    class Net(nn.Module):
        def __init__(self, bias: float) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 16)
            self.out = nn.Linear(16, 4)
            with torch.no_grad():
                self.fc.bias.fill_(bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.fc(x))
            return self.out(h)

    x, y = _data()
    with shapecheck.trace(print_summary=False) as bad:
        nn.functional.cross_entropy(Net(-50.0)(x), y).backward()
    [f] = bad.findings
    assert f.kind == "dead-relu" and f.line == _line_of(Net.forward, "torch.relu")
    assert f.message.startswith("relu: 100% of its 16 units output 0 for the whole batch") and f.module == "Net"
    with shapecheck.trace(print_summary=False) as good:
        nn.functional.cross_entropy(Net(0.0)(x), y).backward()
    assert good.findings == []
