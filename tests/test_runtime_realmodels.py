"""The tracer on code written like nanoGPT, vit-pytorch and pytorch/examples: silent on the clean
training steps, and each injected bug found at its line.

The models live in `runtime_models.py`; see its docstring for what each one mirrors. Every
false finding of the first real-code evaluation (issue 12) has a case here, built from the real
pattern: Adam's own `.item()`, the Normalize transform and probe forwards outside the step, the
sinusoidal positional encoding, DCGAN's generator step, a probe forward of zeros, tracing a
trained model, and `stats=False`.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("einops")

from torch import nn  # noqa: E402

import shapecheck  # noqa: E402
from shapecheck.runtime.tracer import Tracer  # noqa: E402

import runtime_models as rm  # noqa: E402


def _line(fn: Callable[..., Any], text: str) -> int:
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


def _summary(t: Tracer) -> list[tuple[str, str, int]]:
    return [(f.kind, f.severity, f.line) for f in t.findings]


def _traced(build: Callable[[], Any], train: Callable[..., Any], **kw: Any) -> Tracer:
    with shapecheck.trace(print_summary=False, **kw) as t:
        torch.manual_seed(0)
        model = build()
        train(*model) if isinstance(model, tuple) else train(model)
    return t


# --- clean code: no findings ------------------------------------------------------------------


def test_nanogpt_style_training_is_silent() -> None:
    """AdamW (its step counter .item() is the optimizer's, not the user's), micro-steps, clipping."""
    t = _traced(lambda: rm.GPT(rm.GPTConfig()), rm.nanogpt_train)
    assert t.findings == [] and t._steps == 2
    # The optimizer is not traced: no AdamW op (foreach lerp/addcdiv) is counted.
    assert not any("_foreach_addcdiv" in str(op) or "_foreach_lerp" in str(op) for op in t.op_counts)


def test_vit_style_training_is_silent() -> None:
    assert _traced(rm.ViT, rm.vit_train).findings == []


def test_mnist_example_with_normalize_transform_is_silent() -> None:
    assert _traced(rm.MnistNet, rm.mnist_train).findings == []


def test_probe_forward_of_zeros_is_not_a_dead_relu() -> None:
    t = _traced(rm.ProbedNet, rm.mnist_train)
    assert t.findings == []
    assert 0 <= t.modules["ProbedNet.features.1"].stats["dead_fraction"] < 0.5  # measured on the real batch


def test_word_language_model_with_sinusoidal_encoding_is_silent() -> None:
    """(L, 1) * (D/2,) in the encoding is an outer product made explicit by unsqueeze(1), as SC102 reads it;
    the loop has no optimizer (SGD on p.data), so the step ends with backward and loss.item() after it is fine."""
    t = _traced(rm.TransformerModel, rm.wlm_train)
    assert t.findings == []


def test_dcgan_step_is_not_gradient_accumulation() -> None:
    """errG.backward() adds into netD's gradients after optimizerD.step(); netD.zero_grad() clears them
    before optimizerD steps again, so no step ever uses an accumulated gradient."""
    t = _traced(rm.dcgan_nets, rm.dcgan_train, stats=True)
    assert t.findings == []


def test_dcgan_without_discriminator_zero_grad_is_accumulation() -> None:
    t = _traced(rm.dcgan_nets, lambda g, d: rm.dcgan_train(g, d, bug="no-zero-grad"))
    [f] = t.findings
    # Named where backward() first added onto the gradient D's last step used.
    assert f.kind == "grad-accumulation" and f.line == _line(rm.dcgan_train, "errG.backward()")


def test_optimizer_ops_are_traced_on_request() -> None:
    model = nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), foreach=True)
    for trace_optimizer in (False, True):
        with shapecheck.trace(print_summary=False, trace_optimizer=trace_optimizer) as t:
            model(torch.randn(3, 4)).sum().backward()
            opt.step()
        assert any("_foreach" in str(op) for op in t.op_counts) is trace_optimizer


# --- the step span and host syncs ---------------------------------------------------------------


def test_host_sync_only_between_a_forward_that_reaches_backward_and_the_step() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.Adam(model.parameters())

    def loop() -> None:
        x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
        for _ in range(2):
            logged = model(x)  # a training-mode forward that never reaches backward
            print_me = logged.mean().item()
            loss = nn.functional.cross_entropy(model(x), y)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) if False else None
            loss.backward()
            if loss.item() > 10:  # between backward and step: inside
                pass
            opt.step()
            opt.zero_grad()
            assert print_me == print_me and norm is None

    with shapecheck.trace(print_summary=False) as t:
        loop()
    # First iteration: no step seen yet, the step ends with backward; second: up to opt.step().
    assert _summary(t) == [("host-sync", "info", _line(loop, "if loss.item() > 10"))]


def test_cpu_tensors_that_stay_on_the_host_are_not_syncs() -> None:
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with shapecheck.trace(print_summary=False) as t:
        for _ in range(2):
            lengths = torch.tensor([3, 4])
            loss = model(torch.randn(5, 4)).pow(2).mean()
            n = int(lengths.sum().item())  # a CPU tensor in a GPU run too
            loss.backward()
            opt.step()
            opt.zero_grad()
    assert n == 7 and t.findings == []


def test_trace_ignores_other_threads() -> None:
    seen: list[str] = []

    def other() -> None:
        nn.Sequential(nn.Linear(2, 2))(torch.randn(3, 2))
        seen.append("done")

    with shapecheck.trace(print_summary=False) as t:
        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
        nn.Linear(2, 3)(torch.randn(4, 2))
    assert seen == ["done"] and list(t.modules) == ["Linear"]


def test_steps_option_detaches_after_k_steps() -> None:
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 4), torch.randn(8)
    with shapecheck.trace(print_summary=False, steps=1) as t:
        for _ in range(3):
            loss = ((model(x) - y) ** 2).mean()  # a broadcast trap, seen in the first step only
            loss.backward()
            opt.step()
            opt.zero_grad()
    [f] = t.findings
    assert f.kind == "broadcast-trap" and f.count == 1 and t._steps == 1
    with pytest.raises(ValueError, match="positive int"):
        with shapecheck.trace(steps=0):
            pass


# --- injected bugs ------------------------------------------------------------------------------


def test_softmax_fed_to_cross_entropy() -> None:
    t = _traced(rm.ViT, lambda m: rm.vit_train(m, bug="softmax"))
    [f] = [f for f in t.findings if f.kind == "softmax-before-cross-entropy"]
    assert f.line == _line(rm.vit_train, "loss = criterion(output, label)") and f.count == 2
    assert f.message.startswith("cross-entropy of probabilities") and f.related == "SC301"


def test_probabilities_fed_to_nll_loss() -> None:
    def step() -> None:
        logits = nn.Linear(4, 3)(torch.randn(8, 4))
        loss = nn.functional.nll_loss(logits.softmax(dim=1), torch.randint(0, 3, (8,)))
        loss.backward()

    with shapecheck.trace(print_summary=False) as t:
        step()
    [f] = t.findings
    assert f.kind == "softmax-before-cross-entropy" and f.message.startswith("NLL loss of probabilities")
    with shapecheck.trace(print_summary=False, stats=False) as off:
        step()
    assert off.findings == []


def test_loss_accumulated_with_its_graph() -> None:
    t = _traced(rm.MnistNet, lambda m: rm.mnist_train(m, bug="loss-graph"))
    [f] = t.findings
    assert (f.kind, f.line, f.related) == ("loss-accumulated-with-graph", _line(rm.mnist_train, "total += loss"),
                                           "SC401")
    g = _traced(lambda: rm.GPT(rm.GPTConfig(n_layer=1)), lambda m: rm.nanogpt_train(m, iters=2, accum=1,
                                                                                     bug="loss-graph"))
    assert [f.kind for f in g.findings] == ["loss-accumulated-with-graph"]


@pytest.mark.parametrize("bug", ["mse-broadcast", "l1-broadcast"])
def test_broadcast_inside_a_loss_function(bug: str) -> None:
    with pytest.warns(UserWarning, match="target size"), shapecheck.trace(print_summary=False) as t:
        rm.regression_train(bug)
    [f] = t.findings
    name = "mse_loss" if bug == "mse-broadcast" else "l1_loss"
    assert f.kind == "loss-shape-mismatch" and f.related == "SC105"
    assert f.message.startswith(f"{name}: input (32, 1) and target (32,) broadcast to (32, 32) inside the loss")
    assert f.notes[1:4] == ["    32     1", "          32", "    32    32  compared"]


def test_clean_regression_is_silent() -> None:
    with shapecheck.trace(print_summary=False) as t:
        rm.regression_train()
    assert t.findings == []
