"""SC701/SC702/SC705: host-device traffic in the training step, on realistic training code.

Each flagged program has a clean twin that differs only in the pattern. torch is the oracle
twice: on the CPU, a dispatch mode counts the host reads (`aten._local_scalar_dense`, what
`.item()`, `float()`, `if t:` and tensor formatting run) and records the tensors copied with
`.to()`, so a test shows the flagged line runs on every iteration (and the clean twin's every k
steps) and that the copied value never changes; on a CUDA machine, `set_sync_debug_mode("error")`
shows the flagged step synchronises and the clean one does not (skipped without CUDA).
"""

from __future__ import annotations

import inspect
import textwrap

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from shapecheck.engine import lint_source
from shapecheck.rules.base import expected_marks

CODES = ["SC701", "SC702", "SC705"]


def findings(src: str, codes: list[str] = CODES) -> set[tuple[int, str]]:
    return {(d.location.row, d.code) for d in lint_source("train.py", src, codes)}


def check(src: str) -> None:
    src = textwrap.dedent(src)
    assert findings(src) == expected_marks(src)


# A small classifier and data, shared by the programs below (kept out of the checked source:
# the rules see only what the programs write).
def _env(device: str = "cpu") -> dict:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    data = [(torch.randn(4, 8), torch.randint(0, 3, (4,))) for _ in range(12)]
    return {
        "torch": torch,
        "model": model.to(device),
        "loader": data,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "criterion": torch.nn.CrossEntropyLoss(),
        "device": device,
    }


class _Reads(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.reads += 1
        return func(*args, **(kwargs or {}))


def run_train(src: str, device: str = "cpu") -> int:
    """Runs `train(model, loader, optimizer, criterion, device)` from `src`; host reads."""
    env = _env(device)
    exec(compile(textwrap.dedent(src), "train.py", "exec"), env)
    with _Reads() as mode:
        env["train"](env["model"], env["loader"], env["optimizer"], env["criterion"], env["device"])
    return mode.reads


# -- SC701 --------------------------------------------------------------------------------------

PER_STEP = """
def train(model, loader, optimizer, criterion, device):
    model.train()
    running_loss = 0.0
    for batch_idx, (data, target) in enumerate(loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()  # SC701
    return running_loss
"""

EVERY_K = """
def train(model, loader, optimizer, criterion, device, log_interval=5):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % log_interval == 0:
            print("step", batch_idx, "loss", loss.item())
"""


def test_per_step_item_flagged_and_every_k_silent() -> None:
    check(PER_STEP)
    check(EVERY_K)


def test_torch_counts_one_read_per_iteration() -> None:
    assert run_train(PER_STEP) == 12  # every one of the 12 iterations
    assert run_train(EVERY_K) == 3  # iterations 0, 5, 10


def test_gradient_accumulation_logging_silent_and_per_micro_step_flagged() -> None:
    clean = """
    import torch

    def train(model, loader, optimizer, criterion, device, accum=4):
        running = torch.zeros((), device=device)
        for i, (x, y) in enumerate(loader):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = criterion(model(x), y) / accum
            loss.backward()
            running += loss.detach()
            if (i + 1) % accum == 0:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                print(f"loss {running.item():.4f}")
                running.zero_()
    """
    check(clean)
    assert run_train(clean) == 3
    flagged = clean.replace("running += loss.detach()", "running += loss.item()  # SC701").replace(
        "running = torch.zeros((), device=device)", "running = 0.0"
    ).replace('print(f"loss {running.item():.4f}")', "print(running)").replace("running.zero_()", "running = 0.0")
    check(flagged)
    assert run_train(flagged) == 12


def test_nanogpt_style_while_loop_with_micro_steps() -> None:
    src = """
    import torch

    device = "cuda"
    data = torch.randint(0, 65, (10000,))

    def get_batch(block_size=8, batch_size=4):
        ix = torch.randint(len(data) - block_size, (batch_size,))
        x = torch.stack([data[i:i + block_size] for i in ix])
        y = torch.stack([data[i + 1:i + 1 + block_size] for i in ix])
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)

    def train(model, optimizer, accum=4, max_iters=100, log_interval=10):
        X, Y = get_batch()
        iter_num = 0
        while True:
            for micro_step in range(accum):
                logits, loss = model(X, Y)
                loss = loss / accum
                X, Y = get_batch()
                loss.backward()
                print(loss.item())  # SC701
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if iter_num % log_interval == 0:
                lossf = loss.item() * accum     # nanoGPT's own read: every log_interval steps
                print(f"iter {iter_num}: loss {lossf:.4f}")
            iter_num += 1
            if iter_num > max_iters:
                break
    """
    check(src)
    check(src.replace("print(loss.item())  # SC701", ""))


def test_mingpt_trainer_pattern() -> None:
    src = """
    import torch

    class Trainer:
        def __init__(self, model, optimizer, loader):
            self.model, self.optimizer, self.loader = model, optimizer, loader
            self.device = "cuda" if torch.cuda.is_available() else "cpu"

        def run(self, max_iters=100):
            data_iter = iter(self.loader)
            for it in range(max_iters):
                batch = next(data_iter)
                batch = [t.to(self.device) for t in batch]
                x, y = batch
                logits, self.loss = self.model(x, y)
                self.model.zero_grad(set_to_none=True)
                self.loss.backward()
                self.optimizer.step()
                print(f"iter {it}: loss {self.loss.item():.5f}")  # SC701
    """
    check(src)
    check(src.replace("  # SC701", "").replace('"cuda" if torch.cuda.is_available() else "cpu"', '"cpu"'))


def test_values_through_zip_and_enumerate_targets() -> None:
    check(
        """
        import torch

        def train(model, vgg, loader, optimizer, gram_style, device):
            for x, _ in loader:
                x = x.to(device)
                features = vgg(model(x))
                style_loss = 0.0
                for ft, gm in zip(features, gram_style):
                    style_loss += torch.nn.functional.mse_loss(ft, gm)
                optimizer.zero_grad()
                style_loss.backward()
                optimizer.step()
                print(style_loss.item())  # SC701
        """
    )


def test_helper_that_reads_the_loss_is_flagged_where_it_reads() -> None:
    check(
        """
        import torch

        def train_step(model, x, y, optimizer, criterion):
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            return loss.item()  # SC701

        def train(model, loader, optimizer, criterion, device):
            losses = []
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                losses.append(train_step(model, x, y, optimizer, criterion))
            return losses
        """
    )


def test_nan_guard_print_and_tqdm_postfix_are_syncs() -> None:
    src = """
    import torch
    from tqdm import tqdm

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def train(model, loader, optimizer, criterion, device=device):
        pbar = tqdm(loader)
        for x, y in pbar:
            x, y = x.to(device), y.to(device)
            loss = criterion(model(x), y)
            if not torch.isfinite(loss):  # SC701
                raise FloatingPointError("loss diverged")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            pbar.set_postfix(loss=loss.item())  # SC701
    """
    check(src)


def test_logging_calls_that_format_a_tensor_are_syncs() -> None:
    src = """
    import logging

    import torch
    from torch.utils.tensorboard import SummaryWriter

    logger = logging.getLogger(__name__)
    writer = SummaryWriter()

    def train(model, loader, optimizer, criterion, device):
        for step, (x, y) in enumerate(loader):
            x, y = x.to(device), y.to(device)
            loss = criterion(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            writer.add_scalar("train/loss", loss, step)  # SC701
            logger.info("step %d loss %.4f" % (step, loss))  # SC701
            if step % 100 == 0:
                logger.info(f"loss {loss:.4f}")
    """
    check(src)
    assert run_train(src.replace("from torch.utils.tensorboard import SummaryWriter", "").replace("writer = SummaryWriter()", "").replace(
        'writer.add_scalar("train/loss", loss, step)  # SC701', "")) == 12 + 1


def test_cpu_only_code_is_silent() -> None:
    check(PER_STEP.replace("  # SC701", "").replace("def train(model, loader, optimizer, criterion, device):",
                                                    "def train(model, loader, optimizer, criterion, device='cpu'):\n    device = 'cpu'"))
    check(
        """
        import torch
        import torch.nn as nn

        model = nn.Linear(10, 1)
        opt = torch.optim.Adam(model.parameters())
        for step in range(100):
            x = torch.randn(16, 10)
            loss = model(x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            print(step, float(loss))
        """
    )


def test_device_decided_on_the_cpu_by_constants_or_callers_is_silent() -> None:
    body = """
    import torch

    def train(model, loader, optimizer, criterion, device):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = criterion(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            print(loss.item()){mark}

    use_cuda = {flag}
    device = torch.device("cuda" if use_cuda else "cpu")
    model = torch.nn.Linear(4, 2).to(device)
    train(model, [], torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.CrossEntropyLoss(), device)
    """
    check(body.format(flag="False", mark=""))
    check(body.format(flag="torch.cuda.is_available()", mark="  # SC701"))
    check(body.format(flag="False", mark="  # SC701").replace("torch.device(\"cuda\" if use_cuda else \"cpu\")", "\"cuda:0\""))


def test_evaluation_loop_and_async_copy_are_silent() -> None:
    check(
        """
        import torch

        def evaluate(model, loader, criterion, device):
            model.eval()
            total = 0.0
            with torch.no_grad():
                for x, y in loader:
                    x, y = x.to(device), y.to(device)
                    total += criterion(model(x), y).item()
            return total / len(loader)

        def train(model, loader, optimizer, criterion, device):
            host = []
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                host.append(loss.detach().to("cpu", non_blocking=True))
            return host
        """
    )


def test_frameworks_own_their_loops() -> None:
    check(
        """
        import torch
        from accelerate import Accelerator

        accelerator = Accelerator()

        def train(model, loader, optimizer, criterion):
            model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
            for x, y in loader:
                x = x.to(accelerator.device)
                loss = criterion(model(x), y)
                accelerator.backward(loss)
                optimizer.step()
                optimizer.zero_grad()
                print(loss.item())
        """
    )
    check(
        """
        import torch
        import lightning as L

        class Classifier(L.LightningModule):
            def __init__(self, net):
                super().__init__()
                self.net = net

            def training_step(self, batch, batch_idx):
                x, y = batch
                loss = torch.nn.functional.cross_entropy(self.net(x.to(self.device)), y)
                self.log("loss", loss.item())
                return loss

            def configure_optimizers(self):
                return torch.optim.Adam(self.parameters())
        """
    )


def test_lightning_module_through_a_local_base_is_the_frameworks() -> None:
    check(
        """
        import torch
        import lightning as L

        class Base(L.LightningModule):
            pass

        class Lit(Base):
            def fit_inner(self, loader, opt):
                for x, y in loader:
                    loss = torch.nn.functional.mse_loss(self(x.to(self.device)), y.to(self.device))
                    self.manual_backward(loss)
                    opt.step()
                    print(loss.item())
        """
    )


ELEMENTS = """
import torch

def evaluate(model, loader, device):
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            preds = model(x).argmax(1)
            for i in range(len(preds)):
                if preds[i].item() == y[i].item():  # SC701
                    correct += 1
    return correct
"""


def test_element_by_element_reads_are_a_sync_each() -> None:
    check(ELEMENTS)
    whole = ELEMENTS.replace(
        "            for i in range(len(preds)):\n                if preds[i].item() == y[i].item():  # SC701\n                    correct += 1\n",
        "            correct += (preds == y).sum().item()\n",
    )
    check(whole)
    check(
        """
        import torch

        def accuracies(model, data, device):
            data = data.to(device)
            pred = model(data.x).argmax(-1)
            return [int((pred[m] == data.y[m]).sum()) / int(m.sum()) for m in (data.train_mask, data.val_mask)]
        """
    )
    env = _env()
    for src, reads in ((ELEMENTS, 2 * 48), (whole, 12)):
        exec(compile(textwrap.dedent(src), "eval.py", "exec"), env)
        with _Reads() as mode:
            env["evaluate"](env["model"], env["loader"], "cpu")
        assert mode.reads == reads  # torch: two reads per element (12 batches of 4) against one per batch


# -- SC702 --------------------------------------------------------------------------------------

COPY = """
import torch

def train(model, loader, optimizer, criterion, device):
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        weights = torch.tensor([1.0, 2.0, 0.5]).to(device)  # SC702
        loss = torch.nn.functional.cross_entropy(model(x), y, weight=weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""


def _copied_values(src: str, marker: str) -> list[torch.Tensor]:
    """The tensors `.to()` copies on the line holding `marker`, iteration after iteration."""
    row = next(i for i, line in enumerate(textwrap.dedent(src).splitlines(), 1) if marker in line)
    seen: list[torch.Tensor] = []
    original = torch.Tensor.to

    def recording_to(self, *args, **kwargs):
        frame = inspect.currentframe().f_back  # type: ignore[union-attr]
        if frame is not None and frame.f_code.co_filename == "train.py" and frame.f_lineno == row:
            seen.append(self.detach().clone())
        return original(self, *args, **kwargs)

    torch.Tensor.to = recording_to  # type: ignore[method-assign]
    try:
        run_train(src)
    finally:
        torch.Tensor.to = original  # type: ignore[method-assign]
    return seen


def test_invariant_copy_flagged_and_torch_sees_the_same_value_each_iteration() -> None:
    check(COPY)
    values = _copied_values(COPY, "torch.tensor([1.0, 2.0, 0.5])")
    assert len(values) == 12 and all(torch.equal(v, values[0]) for v in values)


def test_copies_that_change_or_create_on_device_are_silent() -> None:
    random = COPY.replace("torch.tensor([1.0, 2.0, 0.5]).to(device)  # SC702", "torch.rand(3).to(device) + 0.5")
    check(random)
    values = _copied_values(random, "torch.rand(3)")
    assert len(values) == 12 and not all(torch.equal(v, values[0]) for v in values)  # torch: a new value every iteration
    check(COPY.replace("torch.tensor([1.0, 2.0, 0.5]).to(device)  # SC702", "torch.ones(3, device=device)"))
    check(
        """
        import torch

        def train(model, loader, optimizer, criterion, device):
            weights = torch.tensor([1.0, 2.0, 0.5]).to(device)
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                pos = torch.arange(x.size(1)).to(device)
                loss = torch.nn.functional.cross_entropy(model(x + pos), y, weight=weights)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """
    )


def test_loop_carried_state_and_module_flags_are_silent() -> None:
    check(
        """
        import torch

        def train(model, loader, optimizer, criterion, device):
            hidden = torch.zeros(2, 4, 16)
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                hidden = hidden.to(device).detach()     # a no-op after the first iteration
                out, hidden = model(x, hidden)
                loss = criterion(out, y)
                if model.training:                      # a Python bool, not a tensor
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        """
    )


def test_copy_and_split_on_a_cpu_only_device_are_silent() -> None:
    cpu = "\ndevice = \"cpu\"\n"
    for src in (COPY, SPLIT):
        body = textwrap.dedent(src).replace("def train(model, loader, optimizer, criterion, device):",
                                            "def train(model, loader, optimizer, criterion):")
        check(cpu + body.replace("  # SC702", "").replace("  # SC705", ""))


def test_invariant_copy_in_a_trainer_method() -> None:
    check(
        """
        import torch

        class Trainer:
            def __init__(self, model, optimizer, device):
                self.model, self.optimizer, self.device = model, optimizer, device
                self.class_weights = torch.tensor([0.2, 0.8])

            def fit(self, loader):
                for x, y in loader:
                    x, y = x.to(self.device), y.to(self.device)
                    w = self.class_weights.to(self.device)  # SC702
                    loss = torch.nn.functional.cross_entropy(self.model(x), y, weight=w)
                    self.optimizer.zero_grad()
                    loss.backward()
                    self.optimizer.step()
        """
    )


# -- SC705 --------------------------------------------------------------------------------------

SPLIT = """
def train(model, loader, optimizer, criterion, device):
    correct = 0
    for x, y in loader:
        x = x.to(device)
        out = model(x)
        loss = criterion(out.cpu(), y)  # SC705
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return correct
"""


def test_split_loss_flagged_and_same_device_twin_silent() -> None:
    check(SPLIT)
    clean = SPLIT.replace("x = x.to(device)", "x, y = x.to(device), y.to(device)").replace(
        "criterion(out.cpu(), y)  # SC705", "criterion(out, y)"
    )
    check(clean)
    run_train(SPLIT)
    run_train(clean)  # both run on the CPU: the split costs only on an accelerator


def test_split_metric_after_assignment_and_crash_variant() -> None:
    check(
        """
        def train(model, loader, optimizer, criterion, device):
            correct = 0
            for x, y in loader:
                x = x.to(device)
                out = model(x)
                loss = criterion(out, y.to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                pred = out.argmax(dim=1).cpu()  # SC705
                correct += (pred == y).sum()
            return correct
        """
    )
    check(
        """
        def train(model, loader, optimizer, criterion, device):
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                out = model(x)
                loss = criterion(out.cpu(), y)  # SC705
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """
    )


# -- on a CUDA machine: the syncs are real --------------------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@needs_cuda
@pytest.mark.parametrize("src, syncs", [(PER_STEP, True), (EVERY_K.replace("% log_interval == 0", "< 0"), False)])
def test_cuda_sync_debug_mode_confirms(src: str, syncs: bool) -> None:
    env = _env("cuda")
    exec(compile(textwrap.dedent(src), "train.py", "exec"), env)
    env["loader"] = [(x.pin_memory(), y.pin_memory()) for x, y in env["loader"]]
    env["train"](env["model"], env["loader"][:1], env["optimizer"], env["criterion"], "cuda")  # warm-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        if syncs:
            with pytest.raises(RuntimeError, match="synchroniz"):
                env["train"](env["model"], env["loader"], env["optimizer"], env["criterion"], "cuda")
        else:
            env["train"](env["model"], env["loader"], env["optimizer"], env["criterion"], "cuda")
    finally:
        torch.cuda.set_sync_debug_mode("default")


@needs_cuda
def test_cuda_split_with_moved_target_raises() -> None:
    src = SPLIT.replace("x = x.to(device)", "x, y = x.to(device), y.to(device)")
    with pytest.raises(RuntimeError, match="same device|device"):
        run_train(src, "cuda")
