"""The input pipeline of a training loop (SC703, SC704, SC706): a single-process DataLoader in
front of a GPU, DDP ranks that all read the whole dataset, cudnn.benchmark with shapes that vary.

The rules read `shapecheck.infer.distributed` (which `DataLoader(...)` calls a training loop
iterates, what its dataset does per item, whether the model is DDP-wrapped) on top of
`shapecheck.infer.accelerator` (which loops are training steps; loops run by accelerate, Fabric
or Lightning are not: the framework owns the device and the samplers). A file that never moves
anything to an accelerator has no training loop here, so it is silent.
"""

from __future__ import annotations


import libcst as cst

from shapecheck.infer.distributed import DataFacts, data_facts, zero_workers
from shapecheck.infer.flow import kwarg
from shapecheck.rules.base import Invalid, LintRule, Valid
from shapecheck.tree import line_of, short_code


def _facts(rule: LintRule, word: str) -> DataFacts | None:
    if word not in rule.ctx.source:
        return None
    facts = data_facts(rule.ctx)
    return facts if facts.step_loops else None


class DataloaderStarvesGpu(LintRule):
    """## What it does
    Flags a `DataLoader(...)` built in this file without `num_workers` (or with
    `num_workers=0`) when a training loop of the file (a loop that calls `backward()` and steps
    an optimizer) iterates it and moves its batches to an accelerator (`x.to(device)`,
    `batch[0].cuda()`, `[t.to(device) for t in batch]`), and its dataset visibly does work for
    every item: a `torchvision.datasets`/`torchaudio.datasets` dataset (decoding, transforms),
    or a dataset class of this file whose `__getitem__` opens files, decodes, tokenizes, calls a
    transform or encodes a slice of its text element by element (`[self.stoi[c] for c in
    self.data[i:i + n]]`, minGPT's CharDataset).

    The loader is followed through names, `self.x`, `enumerate`/`tqdm`/`iter`, helpers and
    methods of this file that return it, tuples unpacked from a helper, constructor arguments
    and parameters of the function that holds the loop, and `next(it)` in a `while` loop
    (`it = iter(loader)`); the dataset through `Subset`, `random_split` and a same-file
    `types.SimpleNamespace` of classes.

    ## Why is this bad?
    With `num_workers=0` every batch is loaded in the training process itself, between two
    steps: the GPU has finished the step and waits, idle, while the CPU reads and transforms
    the next batch. Worker processes (`num_workers=4`, or about `os.cpu_count()` divided by the
    GPUs) build batches ahead while the GPU computes; add `pin_memory=True` so the copies can be
    asynchronous and `persistent_workers=True` so the workers survive between epochs.

    Silent on purpose: a `TensorDataset` or a dataset class that only indexes tensors already in
    memory, encoded once in `__init__` (workers would only add inter-process copies), a dataset we cannot see (imported from
    another file: it may be in memory), `num_workers` held in a variable or passed in
    `**kwargs`, a loop whose batches stay on the CPU (`.to("cpu")`, no move at all), and loops
    run by accelerate, Fabric or Lightning.

    `non_blocking=True` without `pin_memory=True` is SC502 (nonblocking-without-pinned): that
    rule is about the copy, this one about building the batch; fixing both is the usual recipe.

    ## Known problems
    An `IterableDataset` is never flagged (its workers would need sharding). A dataset class
    whose `__getitem__` calls a function of another file counts as doing work.
    """

    CODE = "SC703"
    VALID = [
        Valid(
            """
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
train_set = datasets.CIFAR10("data", train=True, download=True, transform=transforms.ToTensor())
train_loader = DataLoader(train_set, batch_size=128, shuffle=True, num_workers=4,
                          pin_memory=True, persistent_workers=True)
model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

for epoch in range(10):
    for images, labels in train_loader:
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
""",
            "worker processes build the batches",
        ),
        Valid(
            """
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

X, y = torch.randn(10_000, 20), torch.randint(0, 2, (10_000,))
loader = DataLoader(TensorDataset(X, y), batch_size=256, shuffle=True)
model = nn.Linear(20, 2).cuda()
opt = torch.optim.Adam(model.parameters())

for epoch in range(5):
    for xb, yb in loader:
        xb, yb = xb.cuda(), yb.cuda()
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
""",
            "an in-memory TensorDataset: workers would only add copies",
        ),
        Valid(
            """
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

train_set = datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor())
loader = DataLoader(train_set, batch_size=64, shuffle=True)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01)

for images, labels in loader:
    loss = nn.functional.cross_entropy(model(images), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
""",
            "a CPU-only script: nothing waits for the loader but the CPU itself",
        ),
        Valid(
            """
import lightning as L
import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

class LitClassifier(L.LightningModule):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.model(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters())

train_loader = DataLoader(datasets.MNIST("data", download=True, transform=transforms.ToTensor()), batch_size=64)
trainer = L.Trainer(accelerator="gpu", devices=1)
trainer.fit(LitClassifier(torch.nn.Linear(784, 10)), train_loader)
""",
            "Lightning owns the loop",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
train_set = datasets.CIFAR10("data", train=True, download=True, transform=transforms.Compose([
    transforms.RandomCrop(32, padding=4),
    transforms.RandomHorizontalFlip(),
    transforms.ToTensor(),
]))
train_loader = DataLoader(train_set, batch_size=128, shuffle=True)  # SC703
model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

for epoch in range(10):
    for images, labels in train_loader:
        images, labels = images.to(device), labels.to(device)
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""
        ),
        Invalid(
            """
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

class CaptionImages(Dataset):
    def __init__(self, paths, labels, transform):
        self.paths, self.labels, self.transform = paths, labels, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        image = Image.open(self.paths[i]).convert("RGB")
        return self.transform(image), self.labels[i]

def train_one_epoch(model, loader, optimizer, criterion):
    model.train()
    for step, (images, labels) in enumerate(tqdm(loader)):
        images = images.cuda(non_blocking=True)
        labels = labels.cuda(non_blocking=True)
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

def main(paths, labels, transform, model, optimizer, criterion):
    dataset = CaptionImages(paths, labels, transform)
    loader = DataLoader(dataset, batch_size=32, shuffle=True, num_workers=0, pin_memory=True)  # SC703
    for epoch in range(20):
        train_one_epoch(model, loader, optimizer, criterion)
"""
        ),
    ]

    def visit_Module(self, node: cst.Module) -> None:
        facts = _facts(self, "DataLoader")
        if facts is None:
            return
        line = line_of(self.ctx)
        seen: set[int] = set()
        for step in facts.step_loops:
            loaders = facts.loaders(step)
            if not loaders:
                continue
            move = facts.batch_move(step)
            if move is None:
                continue
            for loader in loaders:
                if id(loader) in seen or not zero_workers(facts, loader):
                    continue
                work = facts.per_item_work(facts.loader_arg(loader, "dataset"), loader)
                if work is None:
                    continue
                seen.add(id(loader))
                workers = facts.loader_arg(loader, "num_workers")
                how = "with num_workers=0" if workers is not None else "without num_workers"
                self.report(
                    loader,
                    f"`{short_code(loader.func)}(...)` {how} builds every batch in the training process, while the GPU waits",
                    notes=[
                        f"{work}; the training loop at line {line(step.node)} moves the batches to the accelerator "
                        f"(`{short_code(move)}`, line {line(move)}).",
                        "The next batch is only loaded after the step, so the GPU idles while the CPU builds it. Worker "
                        "processes prepare batches ahead: `num_workers=4` (up to os.cpu_count() // GPUs), with "
                        "`pin_memory=True` and `persistent_workers=True`.",
                    ],
                )


class DdpWithoutDistributedSampler(LintRule):
    """## What it does
    Flags, in a file that trains a `torch.nn.parallel.DistributedDataParallel` model:

    - a `DataLoader(...)` built in this file without `sampler=`/`batch_sampler=` that the
      training loop of the DDP model iterates, over a map-style dataset we can see (a
      torchvision/torchaudio dataset, a `TensorDataset`, a dataset class of this file with
      `__getitem__`, a list), not built per rank;
    - a `DistributedSampler(...)` (shuffling, the default) of the training loader when the
      training loop runs inside an epoch loop (around it, or around a call of the function that
      holds it) and the file never calls `set_epoch(...)`.

    ## Why is this bad?
    DDP only synchronises gradients; it does not split the data. Without a
    `DistributedSampler` every rank iterates the whole dataset: each epoch does world_size
    times the work, and the ranks see the same batches (with `shuffle=True` each rank shuffles
    on its own seed, so they overlap at random), so adding GPUs adds no data per step.
    `DataLoader(ds, sampler=DistributedSampler(ds))` gives each rank a disjoint
    1/world_size of the indices.

    A `DistributedSampler` shuffles with the seed `seed + epoch`, and its epoch stays 0 until
    `sampler.set_epoch(epoch)` is called: without it every epoch visits the data in the same
    order. Call it at the start of each epoch, before the loader is iterated.

    The model counts as DDP when a callee of the training loop (or of a helper it runs) may
    hold a `DistributedDataParallel(...)` on some path: `if args.distributed: model = DDP(model)`
    among `DataParallel` and CPU alternatives, `self.model = DDP(self.model)` in a trainer's
    constructor. The loader is followed as in SC703: through helpers and methods that build it
    (`self._prepare_dataloader(dataset)`), constructor arguments, tuples unpacked from a
    helper and `x if c else None`.

    Silent on purpose: a loader that comes from another file or is built with `**kwargs`, an
    `IterableDataset` or a dataset we cannot see, a dataset built per rank
    (`MyData(path, rank=rank)`, `Subset(ds, indices[rank::world_size])`), loaders only
    evaluation loops iterate, `nn.DataParallel` (one process), and FSDP, DeepSpeed, accelerate
    and Lightning code (they insert distributed samplers themselves). Any `set_epoch(...)` call
    in the file silences the second half.

    ## Known problems
    A model wrapped in another file is not seen as DDP. A helper that runs both the training
    and the evaluation pass (`_run_epoch(epoch, loader, train=False)`) counts its evaluation
    loader as a training loader.
    """

    CODE = "SC704"
    VALID = [
        Valid(
            """
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

def train(rank, world_size, epochs):
    torch.distributed.init_process_group("nccl", rank=rank, world_size=world_size)
    dataset = TensorDataset(torch.randn(2048, 20), torch.randn(2048, 1))
    sampler = DistributedSampler(dataset)
    loader = DataLoader(dataset, batch_size=32, sampler=sampler, pin_memory=True)
    model = DDP(torch.nn.Linear(20, 1).to(rank), device_ids=[rank])
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for source, targets in loader:
            source, targets = source.to(rank), targets.to(rank)
            optimizer.zero_grad()
            loss = F.mse_loss(model(source), targets)
            loss.backward()
            optimizer.step()
""",
            "a DistributedSampler, with set_epoch",
        ),
        Valid(
            """
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from torchvision import datasets, transforms

def main(rank, epochs):
    train_set = datasets.MNIST("data", train=True, transform=transforms.ToTensor())
    val_set = datasets.MNIST("data", train=False, transform=transforms.ToTensor())
    sampler = DistributedSampler(train_set)
    train_loader = DataLoader(train_set, batch_size=64, sampler=sampler, num_workers=4)
    val_loader = DataLoader(val_set, batch_size=256, num_workers=4)
    model = DDP(torch.nn.Linear(784, 10).cuda(rank), device_ids=[rank])
    optimizer = torch.optim.Adam(model.parameters())
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in train_loader:
            x, y = x.cuda(rank).flatten(1), y.cuda(rank)
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        if rank == 0:
            with torch.no_grad():
                for x, y in val_loader:
                    model(x.cuda(rank).flatten(1))
""",
            "a validation loader without DistributedSampler (only rank 0 evaluates)",
        ),
        Valid(
            """
import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

accelerator = Accelerator()
train_set = datasets.CIFAR10("data", transform=transforms.ToTensor())
loader = DataLoader(train_set, batch_size=64, shuffle=True)
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 10))
optimizer = torch.optim.Adam(model.parameters())
model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
for epoch in range(3):
    for x, y in loader:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        accelerator.backward(loss)
        optimizer.step()
""",
            "accelerate shards the loader itself",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

def main(rank, world_size, epochs):
    torch.distributed.init_process_group("nccl", rank=rank, world_size=world_size)
    train_set = datasets.CIFAR10("data", train=True, transform=transforms.ToTensor())
    loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=4)  # SC704
    model = DDP(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 10)).to(rank), device_ids=[rank])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(epochs):
        for images, labels in loader:
            images, labels = images.to(rank), labels.to(rank)
            optimizer.zero_grad()
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
"""
        ),
        Invalid(
            """
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

class Trainer:
    def __init__(self, model, loader, optimizer, gpu_id):
        self.model = DistributedDataParallel(model.to(gpu_id), device_ids=[gpu_id])
        self.loader, self.optimizer, self.gpu_id = loader, optimizer, gpu_id

    def run_epoch(self):
        for source, targets in self.loader:
            source, targets = source.to(self.gpu_id), targets.to(self.gpu_id)
            self.optimizer.zero_grad()
            F.mse_loss(self.model(source), targets).backward()
            self.optimizer.step()

    def train(self, epochs):
        for epoch in range(epochs):
            self.run_epoch()

def main(rank):
    dataset = TensorDataset(torch.randn(2048, 20), torch.randn(2048, 1))
    loader = DataLoader(dataset, batch_size=32, sampler=DistributedSampler(dataset))  # SC704
    model = torch.nn.Linear(20, 1)
    Trainer(model, loader, torch.optim.SGD(model.parameters(), lr=1e-3), rank).train(10)
"""
        ),
    ]

    def visit_Module(self, node: cst.Module) -> None:
        facts = _facts(self, "Distributed")
        if facts is None:
            return
        line = line_of(self.ctx)
        flow = facts.flow
        assert flow is not None
        set_epoch = bool(flow.method_calls("set_epoch"))
        seen: set[int] = set()
        for step in facts.step_loops:
            loaders = facts.loaders(step)
            if not loaders:
                continue
            ddp = facts.ddp_wrap(step)
            for loader in loaders:
                if id(loader) in seen:
                    continue
                dataset = facts.loader_arg(loader, "dataset")
                no_sampler = (
                    facts.loader_arg(loader, "sampler") is None and facts.loader_arg(loader, "batch_sampler") is None
                    and not any(a.star for a in loader.args)
                )
                if ddp is not None and no_sampler and facts.map_style(dataset, loader) and not facts.sharded(dataset, loader):
                    seen.add(id(loader))
                    self.report(
                        loader,
                        f"`{short_code(loader.func)}(...)` without a DistributedSampler feeds a DDP model: every rank "
                        "iterates the whole dataset",
                        notes=[
                            f"The model is wrapped in `{short_code(ddp.func)}` (line {line(ddp)}) and trained on this loader in "
                            f"the loop at line {line(step.node)}.",
                            "DDP averages gradients but does not split the data: each epoch does world_size times the "
                            "work, and the ranks see the same (or randomly overlapping) batches.",
                            "Pass `sampler=DistributedSampler(dataset)` (drop `shuffle=True`: the sampler shuffles) and "
                            "call `sampler.set_epoch(epoch)` at the start of each epoch.",
                        ],
                    )
                    continue
                if set_epoch:
                    continue
                sampler = facts.distributed_sampler(loader)
                if sampler is None or _no_shuffle(sampler):
                    continue
                epoch = facts.epoch_loop(step)
                if epoch is None:
                    continue
                seen.add(id(loader))
                self.report(
                    sampler,
                    "`DistributedSampler` without `set_epoch()`: every epoch shuffles the data in the same order",
                    notes=[
                        f"The sampler seeds its shuffle with `seed + epoch`, and its epoch stays 0 unless "
                        f"`set_epoch(epoch)` is called; the epoch loop at line {line(epoch)} runs the training loop "
                        f"at line {line(step.node)} again and again with the same permutation.",
                        "Call `sampler.set_epoch(epoch)` (or `loader.sampler.set_epoch(epoch)`) at the start of each "
                        "epoch, before iterating the loader.",
                    ],
                )


def _no_shuffle(sampler: cst.Call) -> bool:
    """`DistributedSampler(ds, shuffle=False)` (or `shuffle` held in a variable: unknown)."""
    shuffle = kwarg(sampler, "shuffle", 3)
    return shuffle is not None and not (isinstance(shuffle, cst.Name) and shuffle.value == "True")


class CudnnBenchmarkVaryingShapes(LintRule):
    """## What it does
    Flags `torch.backends.cudnn.benchmark = True` in a file whose training loop visibly feeds
    input sizes that change from step to step:

    - `F.interpolate(x, size=...)`/`scale_factor=...` in the training loop with a size drawn at
      random (`random.randint`, `random.uniform`, `np.random.*`, `torch.randint`), followed
      through names (multi-scale training);
    - a `DataLoader` of the training loop whose `collate_fn` is a function of this file that
      pads each batch to its longest sequence (`pad_sequence`).

    The finding is on the assignment; a note names the line where the sizes vary.

    ## Why is this bad?
    With `benchmark = True` cuDNN times every convolution (and RNN) algorithm the first time it
    sees an input shape and caches the winner for that shape. When the shape changes from step
    to step, steps keep paying for a new benchmark, which can be much slower than running the
    default algorithm, and the cache grows with each shape. Leave benchmark off for such a loop,
    or make the sizes come from a small fixed set (bucketed lengths, padding to a fixed
    maximum, a few fixed scales).

    Silent on purpose: a size drawn with `random.choice` from a literal list (a few fixed
    shapes are benchmarked once each, then cached), sizes that only vary outside a training
    loop, `benchmark` set from a variable.

    ## Known problems
    Off by default. The model is not looked at: benchmark only changes cuDNN convolutions and
    RNNs, so a padded-text transformer with `benchmark = True` loses nothing. Variable-length data without a visible padding collate function (a
    tokenizer's own padding, a bucketing sampler of another file) is not seen.
    """

    CODE = "SC706"
    VALID = [
        Valid(
            """
import torch
import torch.nn.functional as F
from torch.backends import cudnn

cudnn.benchmark = True

def train(model, loader, optimizer, device, epochs):
    for epoch in range(epochs):
        for images, targets in loader:
            images = images.to(device, non_blocking=True)
            images = F.interpolate(images, size=(224, 224), mode="bilinear")
            loss = F.cross_entropy(model(images), targets.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
""",
            "a fixed input size",
        ),
        Valid(
            """
import random
import torch
import torch.nn.functional as F

torch.backends.cudnn.benchmark = True

def train(model, loader, optimizer, device):
    for images, targets in loader:
        images = images.to(device)
        size = random.choice([320, 416, 512])
        images = F.interpolate(images, size=size, mode="bilinear")
        loss = F.mse_loss(model(images), targets.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
""",
            "three fixed scales: each is benchmarked once, then cached",
        ),
    ]
    INVALID = [
        Invalid(
            """
import random
import torch
import torch.nn.functional as F

torch.backends.cudnn.benchmark = True  # SC706

def train(model, loader, optimizer, device, epochs):
    for epoch in range(epochs):
        for images, targets in loader:
            images = images.to(device, non_blocking=True)
            size = random.randint(10, 19) * 32
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
            loss = model(images, targets.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
"""
        ),
        Invalid(
            """
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

torch.backends.cudnn.benchmark = True  # SC706

def collate(batch):
    seqs, labels = zip(*batch)
    return pad_sequence(seqs, batch_first=True), torch.tensor(labels)

def train(model, dataset, optimizer, criterion, device):
    loader = DataLoader(dataset, batch_size=32, shuffle=True, collate_fn=collate, num_workers=2)
    for tokens, labels in loader:
        tokens, labels = tokens.to(device), labels.to(device)
        loss = criterion(model(tokens), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""
        ),
    ]

    def visit_Assign(self, node: cst.Assign) -> None:
        if not (isinstance(node.value, cst.Name) and node.value.value == "True"):
            return
        if not any(self.ctx.qualify(t.target) == "torch.backends.cudnn.benchmark" for t in node.targets):
            return
        facts = _facts(self, "benchmark")
        if facts is None:
            return
        for step in facts.step_loops:
            varies = facts.varying_sizes(step)
            if varies is None:
                continue
            line = line_of(self.ctx)
            self.report(
                node,
                "`cudnn.benchmark = True` while the training loop's input sizes change from step to step: cuDNN "
                "benchmarks again for every new shape",
                notes=[
                    f"{varies.what} (line {line(varies.node)}), in the training loop at line {line(step.node)}.",
                    "benchmark=True times every algorithm once per input shape; with shapes that keep changing, steps "
                    "keep paying for new benchmarks. Leave it off here, or draw sizes from a small fixed set "
                    "(bucketed lengths, a fixed max length, a few fixed scales).",
                ],
            )
            return
