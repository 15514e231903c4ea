"""SC703, SC704, SC706 on realistic training scripts: flagged and clean twins.

The programs are condensed from real code (pytorch/examples `imagenet/main.py`,
`distributed/ddp-tutorial-series/multigpu.py`, `fast_neural_style`, `dcgan`; nanoGPT
`train.py`); each flagged twin changes one thing. torch is the oracle for the claims SC704
makes (a DistributedSampler splits the indices; without `set_epoch` every epoch has the same
order).
"""

from __future__ import annotations

import textwrap

import pytest

from shapecheck.config import expand_selector
from shapecheck.testing import assert_marks, lint_snippet

CODES = ["SC703", "SC704", "SC706"]


def twin(source: str, old: str, new: str) -> str:
    """`source` with one change (which must apply exactly once)."""
    source, old, new = textwrap.dedent(source), old.lstrip("\n"), new.lstrip("\n")
    if old.endswith("\n") and new and not new.endswith("\n"):
        new += "\n"
    assert source.count(old) == 1, old
    return source.replace(old, new)


# -- pytorch/examples imagenet/main.py (condensed: main_worker, train, validate) ------------------
IMAGENET = """
import os

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.utils.data
import torch.utils.data.distributed
import torchvision.datasets as datasets
import torchvision.models as models
import torchvision.transforms as transforms


def main_worker(gpu, ngpus_per_node, args):
    args.gpu = gpu
    use_accel = not args.no_accel and torch.accelerator.is_available()
    if use_accel:
        device = torch.accelerator.current_accelerator()
    else:
        device = torch.device("cpu")

    if args.distributed:
        dist.init_process_group(backend=args.dist_backend, init_method=args.dist_url,
                                world_size=args.world_size, rank=args.rank)
    model = models.__dict__[args.arch]()
    if args.distributed:
        torch.cuda.set_device(args.gpu)
        model.cuda(device)
        args.batch_size = int(args.batch_size / ngpus_per_node)
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[args.gpu])
    criterion = nn.CrossEntropyLoss().to(device)
    optimizer = torch.optim.SGD(model.parameters(), args.lr, momentum=args.momentum,
                                weight_decay=args.weight_decay)

    if args.dummy:
        train_dataset = datasets.FakeData(1281167, (3, 224, 224), 1000, transforms.ToTensor())
        val_dataset = datasets.FakeData(50000, (3, 224, 224), 1000, transforms.ToTensor())
    else:
        normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
        train_dataset = datasets.ImageFolder(
            os.path.join(args.data, 'train'),
            transforms.Compose([
                transforms.RandomResizedCrop(224),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                normalize,
            ]))
        val_dataset = datasets.ImageFolder(
            os.path.join(args.data, 'val'),
            transforms.Compose([
                transforms.Resize(256),
                transforms.CenterCrop(224),
                transforms.ToTensor(),
                normalize,
            ]))

    if args.distributed:
        train_sampler = torch.utils.data.distributed.DistributedSampler(train_dataset)
        val_sampler = torch.utils.data.distributed.DistributedSampler(val_dataset, shuffle=False, drop_last=True)
    else:
        train_sampler = None
        val_sampler = None

    train_loader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.batch_size, shuffle=(train_sampler is None),
        num_workers=args.workers, pin_memory=True, sampler=train_sampler)

    val_loader = torch.utils.data.DataLoader(
        val_dataset, batch_size=args.batch_size, shuffle=False,
        num_workers=args.workers, pin_memory=True, sampler=val_sampler)

    for epoch in range(args.start_epoch, args.epochs):
        if args.distributed:
            train_sampler.set_epoch(epoch)
        train(train_loader, model, criterion, optimizer, epoch, device, args)
        validate(val_loader, model, criterion, device)


def train(train_loader, model, criterion, optimizer, epoch, device, args):
    model.train()
    for i, (images, target) in enumerate(train_loader):
        images = images.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        output = model(images)
        loss = criterion(output, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def validate(val_loader, model, criterion, device):
    model.eval()
    with torch.no_grad():
        for i, (images, target) in enumerate(val_loader):
            images = images.to(device, non_blocking=True)
            output = model(images)
            loss = criterion(output, target.to(device, non_blocking=True))
"""


def test_imagenet_is_clean() -> None:
    assert_marks(IMAGENET, CODES)


def test_imagenet_without_sampler_is_sc704() -> None:
    source = twin(
        IMAGENET,
        """
    train_loader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.batch_size, shuffle=(train_sampler is None),
        num_workers=args.workers, pin_memory=True, sampler=train_sampler)
""",
        """
    train_loader = torch.utils.data.DataLoader(  # SC704
        train_dataset, batch_size=args.batch_size, shuffle=True,
        num_workers=args.workers, pin_memory=True)
""",
    )
    (d,) = assert_marks(source, CODES)
    assert "every rank iterates the whole dataset" in d.message
    assert any("DistributedDataParallel" in n and "line 30" in n for n in d.notes)


def test_imagenet_validation_loader_without_sampler_is_clean() -> None:
    # only rank 0 evaluating, or every rank evaluating everything, is a choice: not flagged
    source = twin(IMAGENET, "num_workers=args.workers, pin_memory=True, sampler=val_sampler)",
                  "num_workers=args.workers, pin_memory=True)")
    assert_marks(source, CODES)


def test_imagenet_without_set_epoch_is_sc704() -> None:
    source = twin(IMAGENET, """
        if args.distributed:
            train_sampler.set_epoch(epoch)
""", "")
    source = twin(source, "train_sampler = torch.utils.data.distributed.DistributedSampler(train_dataset)",
                  "train_sampler = torch.utils.data.distributed.DistributedSampler(train_dataset)  # SC704")
    (d,) = assert_marks(source, CODES)
    assert "set_epoch" in d.message and any("epoch loop at line" in n for n in d.notes)


def test_imagenet_single_epoch_without_set_epoch_is_clean() -> None:
    # one pass over the data: the order of later epochs does not exist
    source = twin(IMAGENET, """
    for epoch in range(args.start_epoch, args.epochs):
        if args.distributed:
            train_sampler.set_epoch(epoch)
        train(train_loader, model, criterion, optimizer, epoch, device, args)
        validate(val_loader, model, criterion, device)
""", """
    train(train_loader, model, criterion, optimizer, 0, device, args)
    validate(val_loader, model, criterion, device)
""")
    assert_marks(source, CODES)


def test_imagenet_without_workers_is_sc703() -> None:
    source = twin(
        IMAGENET,
        """
    train_loader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.batch_size, shuffle=(train_sampler is None),
        num_workers=args.workers, pin_memory=True, sampler=train_sampler)
""",
        """
    train_loader = torch.utils.data.DataLoader(  # SC703
        train_dataset, batch_size=args.batch_size, shuffle=(train_sampler is None),
        pin_memory=True, sampler=train_sampler)
""",
    )
    (d,) = assert_marks(source, CODES)
    assert "ImageFolder" in d.notes[0] or "FakeData" in d.notes[0]
    assert "num_workers=4" in d.notes[1] and "persistent_workers=True" in d.notes[1]


def test_imagenet_validation_loader_without_workers_is_clean() -> None:
    # SC703 is about the training loop: the GPU waiting in an evaluation pass is not flagged
    source = twin(IMAGENET, """
        val_dataset, batch_size=args.batch_size, shuffle=False,
        num_workers=args.workers, pin_memory=True, sampler=val_sampler)
""", """
        val_dataset, batch_size=args.batch_size, shuffle=False, pin_memory=True, sampler=val_sampler)
""")
    assert_marks(source, CODES)


def test_imagenet_on_the_cpu_is_clean() -> None:
    # no device anywhere: the loader only competes with the CPU that trains
    source = IMAGENET
    for old, new in (
        ("""
    use_accel = not args.no_accel and torch.accelerator.is_available()
    if use_accel:
        device = torch.accelerator.current_accelerator()
    else:
        device = torch.device("cpu")
""", ""),
        ("""
    if args.distributed:
        torch.cuda.set_device(args.gpu)
        model.cuda(device)
        args.batch_size = int(args.batch_size / ngpus_per_node)
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[args.gpu])
    criterion = nn.CrossEntropyLoss().to(device)
""", "    criterion = nn.CrossEntropyLoss()"),
        ("num_workers=args.workers, pin_memory=True, sampler=train_sampler)", "sampler=train_sampler)"),
        ("""
        images = images.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        output = model(images)
""", "        output = model(images)"),
        ("""
            images = images.to(device, non_blocking=True)
            output = model(images)
            loss = criterion(output, target.to(device, non_blocking=True))
""", """
            output = model(images)
            loss = criterion(output, target)
"""),
    ):
        source = twin(source, old, new)
    assert ".to(" not in source and "cuda" not in source and "accelerator" not in source
    assert_marks(source, CODES)


# -- pytorch/examples distributed/ddp-tutorial-series/multigpu.py ---------------------------------
# (MyTrainDataset from datautils.py is inlined, so the dataset is visible)
MULTIGPU = """
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, DataLoader

import torch.multiprocessing as mp
from torch.utils.data.distributed import DistributedSampler
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.distributed import init_process_group, destroy_process_group
import os


class MyTrainDataset(Dataset):
    def __init__(self, size):
        self.size = size
        self.data = [(torch.rand(20), torch.rand(1)) for _ in range(size)]

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        return self.data[index]


def ddp_setup(rank, world_size):
    os.environ["MASTER_ADDR"] = "localhost"
    os.environ["MASTER_PORT"] = "12355"
    torch.cuda.set_device(rank)
    init_process_group(backend="nccl", rank=rank, world_size=world_size)


class Trainer:
    def __init__(self, model, train_data, optimizer, gpu_id, save_every):
        self.gpu_id = gpu_id
        self.model = model.to(gpu_id)
        self.train_data = train_data
        self.optimizer = optimizer
        self.save_every = save_every
        self.model = DDP(model, device_ids=[gpu_id])

    def _run_batch(self, source, targets):
        self.optimizer.zero_grad()
        output = self.model(source)
        loss = F.cross_entropy(output, targets)
        loss.backward()
        self.optimizer.step()

    def _run_epoch(self, epoch):
        b_sz = len(next(iter(self.train_data))[0])
        print(f"[GPU{self.gpu_id}] Epoch {epoch} | Batchsize: {b_sz} | Steps: {len(self.train_data)}")
        self.train_data.sampler.set_epoch(epoch)
        for source, targets in self.train_data:
            source = source.to(self.gpu_id)
            targets = targets.to(self.gpu_id)
            self._run_batch(source, targets)

    def _save_checkpoint(self, epoch):
        ckp = self.model.module.state_dict()
        torch.save(ckp, "checkpoint.pt")

    def train(self, max_epochs):
        for epoch in range(max_epochs):
            self._run_epoch(epoch)
            if self.gpu_id == 0 and epoch % self.save_every == 0:
                self._save_checkpoint(epoch)


def load_train_objs():
    train_set = MyTrainDataset(2048)
    model = torch.nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    return train_set, model, optimizer


def prepare_dataloader(dataset, batch_size):
    return DataLoader(
        dataset,
        batch_size=batch_size,
        pin_memory=True,
        shuffle=False,
        sampler=DistributedSampler(dataset)
    )


def main(rank, world_size, save_every, total_epochs, batch_size):
    ddp_setup(rank, world_size)
    model = torch.nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    dataset = MyTrainDataset(2048)
    train_data = prepare_dataloader(dataset, batch_size)
    trainer = Trainer(model, train_data, optimizer, rank, save_every)
    trainer.train(total_epochs)
    destroy_process_group()


if __name__ == "__main__":
    world_size = torch.cuda.device_count()
    mp.spawn(main, args=(world_size, 10, 50, 32), nprocs=world_size)
"""


def test_multigpu_is_clean() -> None:
    # an in-memory dataset (no SC703), a DistributedSampler, and set_epoch on loader.sampler
    assert_marks(MULTIGPU, CODES)


def test_multigpu_without_set_epoch_is_sc704() -> None:
    source = twin(MULTIGPU, "        self.train_data.sampler.set_epoch(epoch)\n", "")
    source = twin(source, "        sampler=DistributedSampler(dataset)", "        sampler=DistributedSampler(dataset)  # SC704")
    (d,) = assert_marks(source, CODES)
    # the loader travels main -> prepare_dataloader -> Trainer.__init__ -> self.train_data,
    # and the epoch loop is in Trainer.train, around the call of _run_epoch
    row = source.splitlines().index("        for epoch in range(max_epochs):") + 1
    assert any(f"epoch loop at line {row}" in n for n in d.notes)


def test_multigpu_sampler_without_shuffle_needs_no_set_epoch() -> None:
    source = twin(MULTIGPU, "        self.train_data.sampler.set_epoch(epoch)\n", "")
    source = twin(source, "sampler=DistributedSampler(dataset)", "sampler=DistributedSampler(dataset, shuffle=False)")
    assert_marks(source, CODES)


def test_multigpu_without_sampler_is_sc704() -> None:
    source = twin(MULTIGPU, """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        pin_memory=True,
        shuffle=False,
        sampler=DistributedSampler(dataset)
    )
""", """
    return DataLoader(  # SC704
        dataset,
        batch_size=batch_size,
        pin_memory=True,
        shuffle=True,
    )
""")
    assert_marks(source, CODES)


def test_multigpu_dataset_sharded_by_rank_is_clean() -> None:
    source = twin(MULTIGPU, "        sampler=DistributedSampler(dataset)\n", "")
    source = twin(source, "dataset = MyTrainDataset(2048)", "dataset = MyTrainDataset(2048 // world_size, seed=rank)")
    assert_marks(source, CODES)


def test_multigpu_dataset_from_another_file_is_clean() -> None:
    # the tutorial imports MyTrainDataset from datautils.py: it may be anything (an
    # IterableDataset that shards itself), so nothing is said
    source = twin(MULTIGPU, """
class MyTrainDataset(Dataset):
    def __init__(self, size):
        self.size = size
        self.data = [(torch.rand(20), torch.rand(1)) for _ in range(size)]

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        return self.data[index]
""", "from datautils import MyTrainDataset")
    source = twin(source, "        sampler=DistributedSampler(dataset)\n", "")
    assert_marks(source, CODES)


def test_multigpu_iterable_dataset_is_clean() -> None:
    source = twin(MULTIGPU, """
    def __getitem__(self, index):
        return self.data[index]
""", """
    def __iter__(self):
        return iter(self.data)
""")
    source = twin(source, "class MyTrainDataset(Dataset):", "class MyTrainDataset(torch.utils.data.IterableDataset):")
    source = twin(source, "        sampler=DistributedSampler(dataset)\n", "")
    assert_marks(source, CODES)


def test_fsdp_is_not_ddp() -> None:
    source = twin(MULTIGPU, "from torch.nn.parallel import DistributedDataParallel as DDP",
                  "from torch.distributed.fsdp import FullyShardedDataParallel as DDP")
    source = twin(source, "        sampler=DistributedSampler(dataset)\n", "")
    assert_marks(source, CODES)


# -- nanoGPT train.py (condensed): DDP without a DataLoader --------------------------------------
NANOGPT = """
import os
import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.distributed import init_process_group
from model import GPTConfig, GPT

batch_size, block_size, max_iters = 12, 1024, 600000
device = 'cuda'
ddp = int(os.environ.get('RANK', -1)) != -1
if ddp:
    init_process_group(backend='nccl')
    ddp_local_rank = int(os.environ['LOCAL_RANK'])
    device = f'cuda:{ddp_local_rank}'
    torch.cuda.set_device(device)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True

def get_batch(split):
    data = np.memmap(os.path.join('data', f'{split}.bin'), dtype=np.uint16, mode='r')
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([torch.from_numpy((data[i:i+block_size]).astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy((data[i+1:i+1+block_size]).astype(np.int64)) for i in ix])
    x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x, y

model = GPT(GPTConfig())
model.to(device)
optimizer = model.configure_optimizers(0.1, 6e-4, (0.9, 0.95), 'cuda')
if ddp:
    model = DDP(model, device_ids=[ddp_local_rank])

X, Y = get_batch('train')
iter_num = 0
while True:
    logits, loss = model(X, Y)
    X, Y = get_batch('train')
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    iter_num += 1
    if iter_num > max_iters:
        break
"""


def test_nanogpt_is_clean() -> None:
    # each rank draws its own random offsets: no sampler needed, no DataLoader at all
    assert_marks(NANOGPT, CODES)


# -- pytorch/examples fast_neural_style (condensed train()) ------------------------------------
NEURAL_STYLE = """
import numpy as np
import torch
from torch.optim import Adam
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision import transforms

from transformer_net import TransformerNet
from vgg import Vgg16
import utils


def train(args):
    if args.accel:
        device = torch.accelerator.current_accelerator()
    else:
        device = torch.device("cpu")

    transform = transforms.Compose([
        transforms.Resize(args.image_size),
        transforms.CenterCrop(args.image_size),
        transforms.ToTensor(),
        transforms.Lambda(lambda x: x.mul(255))
    ])
    train_dataset = datasets.ImageFolder(args.dataset, transform)
    train_loader = DataLoader(train_dataset, batch_size=args.batch_size)

    transformer = TransformerNet().to(device)
    optimizer = Adam(transformer.parameters(), args.lr)
    mse_loss = torch.nn.MSELoss()
    vgg = Vgg16(requires_grad=False).to(device)

    for e in range(args.epochs):
        transformer.train()
        for batch_id, (x, _) in enumerate(train_loader):
            optimizer.zero_grad()
            x = x.to(device)
            y = transformer(x)
            features_y = vgg(utils.normalize_batch(y))
            features_x = vgg(utils.normalize_batch(x))
            content_loss = args.content_weight * mse_loss(features_y.relu2_2, features_x.relu2_2)
            content_loss.backward()
            optimizer.step()
"""


def test_neural_style_is_sc703() -> None:
    source = twin(NEURAL_STYLE, "train_loader = DataLoader(train_dataset, batch_size=args.batch_size)",
                  "train_loader = DataLoader(train_dataset, batch_size=args.batch_size)  # SC703")
    (d,) = assert_marks(source, CODES)
    assert "`datasets.ImageFolder`" in d.notes[0] and "`x.to(device)`" in d.notes[0]


def test_neural_style_with_workers_is_clean() -> None:
    source = twin(NEURAL_STYLE, "DataLoader(train_dataset, batch_size=args.batch_size)",
                  "DataLoader(train_dataset, batch_size=args.batch_size, num_workers=args.workers, pin_memory=True)")
    assert_marks(source, CODES)


def test_neural_style_on_the_cpu_is_clean() -> None:
    source = twin(NEURAL_STYLE, """
    if args.accel:
        device = torch.accelerator.current_accelerator()
    else:
        device = torch.device("cpu")
""", '    device = "cpu"')
    assert_marks(source, CODES)


def test_loader_from_kwargs_is_clean() -> None:
    # pytorch/examples mnist: `num_workers` comes in `**cuda_kwargs` on the GPU path
    source = twin(NEURAL_STYLE, "train_loader = DataLoader(train_dataset, batch_size=args.batch_size)",
                  "train_loader = DataLoader(train_dataset, **train_kwargs)")
    assert_marks(source, CODES)


def test_dataset_that_indexes_memory_is_clean() -> None:
    source = twin(NEURAL_STYLE, "    train_dataset = datasets.ImageFolder(args.dataset, transform)\n",
                  "    train_dataset = Cached(torch.load(args.dataset))\n")
    source = twin(source, "import utils\n", '''import utils


class Cached(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i].float(), 0
''')
    assert_marks(source, CODES)


def test_dataset_that_reads_files_is_sc703() -> None:
    source = twin(NEURAL_STYLE, "    train_dataset = datasets.ImageFolder(args.dataset, transform)\n",
                  "    train_dataset = Frames(sorted(os.listdir(args.dataset)), transform)\n")
    source = twin(source, "train_loader = DataLoader(train_dataset, batch_size=args.batch_size)",
                  "train_loader = DataLoader(train_dataset, batch_size=args.batch_size)  # SC703")
    source = twin(source, "import utils\n", '''import utils
import os
from PIL import Image


class Frames(torch.utils.data.Dataset):
    def __init__(self, paths, transform):
        self.paths, self.transform = paths, transform

    def __len__(self):
        return len(self.paths)

    def load(self, i):
        return self.transform(Image.open(self.paths[i]).convert("RGB"))

    def __getitem__(self, i):
        return self.load(i), 0
''')
    (d,) = assert_marks(source, CODES)
    assert "`Frames.__getitem__` calls `self.load(...)`" in d.notes[0]


def test_accelerate_loop_is_clean() -> None:
    source = twin(NEURAL_STYLE, "            content_loss.backward()", "            accelerator.backward(content_loss)")
    source = twin(source, "    transformer = TransformerNet().to(device)\n", """
    accelerator = Accelerator()
    transformer = TransformerNet().to(device)
""")
    source = twin(source, "import utils\n", "import utils\nfrom accelerate import Accelerator\n")
    assert_marks(source, CODES)


# -- SC706 ---------------------------------------------------------------------------------------
# pytorch/examples dcgan/main.py (condensed): benchmark with a fixed image size
DCGAN = """
import random
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.backends.cudnn as cudnn
import torch.optim as optim
import torch.utils.data
import torchvision.datasets as dset
import torchvision.transforms as transforms

from models import Generator, Discriminator

opt = parse_args()
cudnn.benchmark = True
device = torch.device("cuda:0" if opt.cuda else "cpu")
dataset = dset.ImageFolder(root=opt.dataroot,
                           transform=transforms.Compose([
                               transforms.Resize(opt.imageSize),
                               transforms.CenterCrop(opt.imageSize),
                               transforms.ToTensor(),
                           ]))
dataloader = torch.utils.data.DataLoader(dataset, batch_size=opt.batchSize,
                                         shuffle=True, num_workers=int(opt.workers))
netG = Generator(opt.ngpu).to(device)
netD = Discriminator(opt.ngpu).to(device)
criterion = nn.BCELoss()
optimizerD = optim.Adam(netD.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))

for epoch in range(opt.niter):
    for i, data in enumerate(dataloader, 0):
        netD.zero_grad()
        real_cpu = data[0].to(device)
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), 1.0, dtype=real_cpu.dtype, device=device)
        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        optimizerD.step()
"""


def test_dcgan_is_clean() -> None:
    assert_marks(DCGAN, CODES)
    assert_marks(DCGAN, ["SC706"])


def test_dcgan_multiscale_is_sc706() -> None:
    source = twin(DCGAN, "cudnn.benchmark = True", "cudnn.benchmark = True  # SC706")
    source = twin(source, "        real_cpu = data[0].to(device)\n", """
        real_cpu = data[0].to(device)
        scale = random.uniform(0.5, 1.5)
        real_cpu = F.interpolate(real_cpu, scale_factor=scale, mode="bilinear")
""")
    (d,) = assert_marks(source, ["SC706"])
    row = source.splitlines().index('        real_cpu = F.interpolate(real_cpu, scale_factor=scale, mode="bilinear")') + 1
    assert f"random scale factor (line {row})" in d.notes[0]


def test_dcgan_fixed_scales_are_clean() -> None:
    source = twin(DCGAN, "        real_cpu = data[0].to(device)\n", """
        real_cpu = data[0].to(device)
        real_cpu = F.interpolate(real_cpu, size=random.choice((64, 96, 128)))
""")
    assert_marks(source, ["SC706"])


def test_sc706_is_off_by_default() -> None:
    source = twin(DCGAN, "        real_cpu = data[0].to(device)\n", """
        real_cpu = data[0].to(device)
        real_cpu = F.interpolate(real_cpu, size=random.randint(48, 96))
""")
    assert "SC706" not in expand_selector("SC7") and "SC706" in expand_selector("SC706")
    assert not [d for d in lint_snippet(source, sorted(expand_selector("SC"))) if d.code == "SC706"]
    assert [d.code for d in lint_snippet(source, ["SC706"])] == ["SC706"]


def test_padded_batches_only_vary_in_the_training_loop() -> None:
    source = """
    import torch
    from torch.nn.utils.rnn import pad_sequence
    from torch.utils.data import DataLoader

    torch.backends.cudnn.benchmark = True

    def collate(batch):
        seqs, labels = zip(*batch)
        return pad_sequence(seqs, batch_first=True), torch.tensor(labels)

    def evaluate(model, dataset, device):
        loader = DataLoader(dataset, batch_size=64, collate_fn=collate)
        with torch.no_grad():
            for tokens, labels in loader:
                model(tokens.to(device))

    def train(model, loader, optimizer, device):
        for tokens, labels in loader:
            loss = model(tokens.to(device), labels.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    """
    assert_marks(source, ["SC706"])


# -- torch as the oracle -------------------------------------------------------------------------
def test_oracle_distributed_sampler_splits_and_needs_set_epoch() -> None:
    """What SC704 says, checked on torch: without a DistributedSampler both ranks see every
    index; with it, disjoint halves; without set_epoch, every epoch the same order."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset
    from torch.utils.data.distributed import DistributedSampler

    data = TensorDataset(torch.arange(64))

    def indices(loader: DataLoader) -> list[int]:
        return [int(i) for (batch,) in loader for i in batch]

    plain = [indices(DataLoader(data, batch_size=8, shuffle=True)) for _rank in range(2)]
    assert sorted(plain[0]) == sorted(plain[1]) == list(range(64))  # each rank: the whole dataset

    samplers = [DistributedSampler(data, num_replicas=2, rank=r, shuffle=True, seed=0) for r in range(2)]
    halves = [indices(DataLoader(data, batch_size=8, sampler=s)) for s in samplers]
    assert not set(halves[0]) & set(halves[1]) and sorted(halves[0] + halves[1]) == list(range(64))

    sampler = samplers[0]
    epochs = [list(sampler) for _epoch in range(3)]  # the loop never calls set_epoch
    assert epochs[0] == epochs[1] == epochs[2]
    shuffled = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        shuffled.append(list(sampler))
    assert shuffled[0] == epochs[0] and shuffled[1] != shuffled[0] and shuffled[2] != shuffled[1]


def test_oracle_programs_match_the_rule() -> None:
    """The two loaders of the oracle, written as DDP training scripts: SC704 flags the first
    (no sampler) and the second only without its set_epoch."""
    base = """
    import torch
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.data import DataLoader, TensorDataset
    from torch.utils.data.distributed import DistributedSampler

    def run(rank, epochs):
        data = TensorDataset(torch.arange(64).float().unsqueeze(1), torch.zeros(64, 1))
        loader = LOADER
        model = DDP(torch.nn.Linear(1, 1).to(rank), device_ids=[rank])
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for epoch in range(epochs):
            SET_EPOCH
            for x, y in loader:
                loss = torch.nn.functional.mse_loss(model(x.to(rank)), y.to(rank))
                opt.zero_grad()
                loss.backward()
                opt.step()
    """
    plain = base.replace("LOADER", "DataLoader(data, batch_size=8, shuffle=True)  # SC704").replace("SET_EPOCH", "pass")
    assert_marks(plain, CODES)
    sampled = base.replace("LOADER", "DataLoader(data, batch_size=8, sampler=DistributedSampler(data))")
    assert_marks(sampled.replace("SET_EPOCH", "loader.sampler.set_epoch(epoch)"), CODES)
    assert_marks(sampled.replace("SET_EPOCH", "pass").replace("sampler=DistributedSampler(data))",
                                                             "sampler=DistributedSampler(data))  # SC704"), CODES)


# -- the shapes of the benchmark programs (benchmarks/pipeline/programs) -----------------------
def test_multigpu_objects_from_a_tuple_helper_without_sampler_is_sc704() -> None:
    # the tutorial's main(): `dataset, model, optimizer = load_train_objs()`; the dataset is
    # found through the helper's returned tuple
    main = """
    model = torch.nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    dataset = MyTrainDataset(2048)
    train_data = prepare_dataloader(dataset, batch_size)
"""
    unpacked = """
    dataset, model, optimizer = load_train_objs()
    train_data = prepare_dataloader(dataset, batch_size)
"""
    source = twin(MULTIGPU, main, unpacked)
    assert_marks(source, CODES)
    source = twin(source, "        self.train_data.sampler.set_epoch(epoch)\n", "")
    source = twin(source, """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        pin_memory=True,
        shuffle=False,
        sampler=DistributedSampler(dataset)
    )
""", """
    return DataLoader(  # SC704
        dataset,
        batch_size=batch_size,
        pin_memory=True,
        shuffle=False,
    )
""")
    assert_marks(source, CODES)


def test_tuple_helper_with_an_unknown_element_is_clean() -> None:
    # a helper whose tuple we cannot read (one return is not a tuple): unknown, silent
    source = twin(MULTIGPU, """
    model = torch.nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    dataset = MyTrainDataset(2048)
""", """
    dataset, model, optimizer = load_train_objs()
""")
    source = twin(source, """
    return train_set, model, optimizer
""", """
    if os.environ.get("OBJS"):
        return torch.load(os.environ["OBJS"])
    return train_set, model, optimizer
""")
    source = twin(source, "        sampler=DistributedSampler(dataset)\n", "")
    assert_marks(source, CODES)


IMAGENET_WRAPS = """
    model = models.__dict__[args.arch]()
    if args.distributed:
        torch.cuda.set_device(args.gpu)
        model.cuda(device)
        args.batch_size = int(args.batch_size / ngpus_per_node)
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[args.gpu])
"""
# the real main_worker: DDP on one path among DataParallel, a CPU model and DDP over all GPUs
IMAGENET_ALL_WRAPS = """
    if args.pretrained:
        model = models.__dict__[args.arch](pretrained=True)
    else:
        model = models.__dict__[args.arch]()
    if not use_accel:
        print('using CPU, this will be slow')
    elif args.distributed:
        if device.type == 'cuda':
            if args.gpu is not None:
                torch.cuda.set_device(args.gpu)
                model.cuda(device)
                args.batch_size = int(args.batch_size / ngpus_per_node)
                model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[args.gpu])
            else:
                model.cuda()
                model = torch.nn.parallel.DistributedDataParallel(model)
    elif device.type == 'cuda':
        model = torch.nn.DataParallel(model).cuda()
    else:
        model.to(device)
"""


def test_imagenet_ddp_on_one_path_of_many_is_clean_with_its_sampler() -> None:
    assert_marks(twin(IMAGENET, IMAGENET_WRAPS, IMAGENET_ALL_WRAPS), CODES)


def test_imagenet_ddp_on_one_path_of_many_without_sampler_is_sc704() -> None:
    source = twin(IMAGENET, IMAGENET_WRAPS, IMAGENET_ALL_WRAPS)
    source = twin(source, """
    train_loader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.batch_size, shuffle=(train_sampler is None),
        num_workers=args.workers, pin_memory=True, sampler=train_sampler)
""", """
    train_loader = torch.utils.data.DataLoader(  # SC704
        train_dataset, batch_size=args.batch_size, shuffle=(train_sampler is None),
        num_workers=args.workers, pin_memory=True)
""")
    (d,) = assert_marks(source, CODES)
    assert any("DistributedDataParallel" in n for n in d.notes)


def test_imagenet_data_parallel_only_is_not_ddp() -> None:
    # nn.DataParallel splits each batch inside one process: no sampler needed
    source = twin(IMAGENET, IMAGENET_WRAPS, """
    model = models.__dict__[args.arch]()
    model = torch.nn.DataParallel(model).cuda()
""")
    source = twin(source, "num_workers=args.workers, pin_memory=True, sampler=train_sampler)",
                  "num_workers=args.workers, pin_memory=True)")
    assert_marks(source, CODES)


# benchmarks/pipeline/programs/imagenet_ddp.py: torchvision replaced by same-file stand-ins
IMAGENET_STAND_INS = """
import types


class FakeData(torch.utils.data.Dataset):
    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None):
        self.size, self.image_size, self.num_classes, self.transform = size, image_size, num_classes, transform

    def __getitem__(self, index):
        rng = torch.Generator().manual_seed(index)
        img = torch.rand(*self.image_size, generator=rng)
        target = int(torch.randint(0, self.num_classes, (1,), generator=rng).item())
        if self.transform is not None:
            img = self.transform(img)
        return img, target

    def __len__(self):
        return self.size


class ToTensor:
    def __call__(self, img):
        return img


datasets = types.SimpleNamespace(FakeData=FakeData, ImageFolder=None)
transforms = types.SimpleNamespace(ToTensor=ToTensor)
"""


def _imagenet_with_stand_ins() -> str:
    source = twin(IMAGENET, "import torchvision.datasets as datasets\n", "")
    source = twin(source, "import torchvision.transforms as transforms\n", "")
    return twin(source, "\n\ndef main_worker(", IMAGENET_STAND_INS + "\n\ndef main_worker(")


def test_imagenet_stand_ins_are_clean() -> None:
    assert_marks(_imagenet_with_stand_ins(), CODES)


def test_imagenet_stand_ins_without_workers_is_sc703() -> None:
    # `datasets.FakeData` is the same-file class (through the namespace); `datasets.ImageFolder`
    # is None there, and calling None gives no dataset
    source = twin(_imagenet_with_stand_ins(), "num_workers=args.workers, pin_memory=True, sampler=train_sampler)",
                  "num_workers=0, pin_memory=True, sampler=train_sampler)")
    source = twin(source, "    train_loader = torch.utils.data.DataLoader(\n",
                  "    train_loader = torch.utils.data.DataLoader(  # SC703\n")
    (d,) = assert_marks(source, CODES)
    assert "FakeData.__getitem__" in d.notes[0] and "self.transform" in d.notes[0]


def test_imagenet_stand_ins_without_sampler_is_sc704() -> None:
    source = twin(_imagenet_with_stand_ins(), "num_workers=args.workers, pin_memory=True, sampler=train_sampler)",
                  "num_workers=args.workers, pin_memory=True)")
    source = twin(source, "    train_loader = torch.utils.data.DataLoader(\n",
                  "    train_loader = torch.utils.data.DataLoader(  # SC704\n")
    assert_marks(source, CODES)


def test_namespace_member_bound_to_an_unknown_class_is_clean() -> None:
    source = twin(_imagenet_with_stand_ins(), "datasets = types.SimpleNamespace(FakeData=FakeData, ImageFolder=None)",
                  "from somewhere import ImageFolder\ndatasets = types.SimpleNamespace(FakeData=FakeData, ImageFolder=ImageFolder)")
    source = twin(source, "num_workers=args.workers, pin_memory=True, sampler=train_sampler)",
                  "num_workers=0, pin_memory=True)")
    assert_marks(source, CODES)


# -- pytorch/examples distributed/minGPT-ddp (condensed: char_dataset.py, trainer.py, main.py) -----
MINGPT_DDP = """
import os
from dataclasses import dataclass

import torch
from torch.distributed import destroy_process_group, init_process_group
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, random_split
from torch.utils.data.distributed import DistributedSampler

from model import GPT, GPTConfig, create_optimizer


class CharDataset(Dataset):
    def __init__(self, data_cfg):
        data = open(data_cfg.path).read()
        chars = sorted(list(set(data)))
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.itos = {i: ch for i, ch in enumerate(chars)}
        self.block_size = data_cfg.block_size
        self.vocab_size = len(chars)
        self.data = data

    def __len__(self):
        return len(self.data) - self.block_size

    def __getitem__(self, idx):
        chunk = self.data[idx:idx + self.block_size + 1]
        dix = [self.stoi[s] for s in chunk]
        x = torch.tensor(dix[:-1], dtype=torch.long)
        y = torch.tensor(dix[1:], dtype=torch.long)
        return x, y


@dataclass
class TrainerConfig:
    max_epochs: int = None
    batch_size: int = None
    data_loader_workers: int = None
    grad_norm_clip: float = None


class Trainer:
    def __init__(self, trainer_config, model, optimizer, train_dataset, test_dataset=None):
        self.config = trainer_config
        self.local_rank = int(os.environ["LOCAL_RANK"])
        self.global_rank = int(os.environ["RANK"])
        self.train_dataset = train_dataset
        self.train_loader = self._prepare_dataloader(train_dataset)
        self.test_loader = self._prepare_dataloader(test_dataset) if test_dataset else None
        self.epochs_run = 0
        self.model = model.to(self.local_rank)
        self.optimizer = optimizer
        self.model = DDP(self.model, device_ids=[self.local_rank])

    def _prepare_dataloader(self, dataset: Dataset):
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            pin_memory=True,
            shuffle=False,
            num_workers=self.config.data_loader_workers,
            sampler=DistributedSampler(dataset)
        )

    def _run_batch(self, source, targets, train: bool = True) -> float:
        with torch.set_grad_enabled(train):
            _, loss = self.model(source, targets)
        if train:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_norm_clip)
            self.optimizer.step()
        return loss.item()

    def _run_epoch(self, epoch: int, dataloader: DataLoader, train: bool = True):
        dataloader.sampler.set_epoch(epoch)
        for iter, (source, targets) in enumerate(dataloader):
            step_type = "Train" if train else "Eval"
            source = source.to(self.local_rank)
            targets = targets.to(self.local_rank)
            batch_loss = self._run_batch(source, targets, train)
            if iter % 100 == 0:
                print(f"[RANK{self.global_rank}] Epoch {epoch} | Iter {iter} | {step_type} Loss {batch_loss:.5f}")

    def train(self):
        for epoch in range(self.epochs_run, self.config.max_epochs):
            epoch += 1
            self._run_epoch(epoch, self.train_loader, train=True)
            if self.test_loader:
                self._run_epoch(epoch, self.test_loader, train=False)


def get_train_objs(gpt_cfg, opt_cfg, data_cfg):
    dataset = CharDataset(data_cfg)
    train_len = int(len(dataset) * data_cfg.train_split)
    train_set, test_set = random_split(dataset, [train_len, len(dataset) - train_len])
    gpt_cfg.vocab_size = dataset.vocab_size
    gpt_cfg.block_size = dataset.block_size
    model = GPT(gpt_cfg)
    optimizer = create_optimizer(model, opt_cfg)
    return model, optimizer, train_set, test_set


def main(cfg):
    init_process_group(backend="nccl")
    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    trainer_cfg = TrainerConfig(**cfg['trainer_config'])
    model, optimizer, train_data, test_data = get_train_objs(cfg['gpt'], cfg['opt'], cfg['data'])
    trainer = Trainer(trainer_cfg, model, optimizer, train_data, test_data)
    trainer.train()
    destroy_process_group()
"""

MINGPT_DDP_LOADER = """
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            pin_memory=True,
            shuffle=False,
            num_workers=self.config.data_loader_workers,
            sampler=DistributedSampler(dataset)
        )
"""


def test_mingpt_ddp_is_clean() -> None:
    assert_marks(MINGPT_DDP, CODES)


def test_mingpt_ddp_without_sampler_is_sc704() -> None:
    # the loader comes from `self._prepare_dataloader(...)`, the test loader is `... if test_dataset
    # else None`, the dataset a `random_split` part of a CharDataset unpacked from get_train_objs()
    source = twin(MINGPT_DDP, "        dataloader.sampler.set_epoch(epoch)\n", "")
    source = twin(source, MINGPT_DDP_LOADER, """
        return DataLoader(  # SC704
            dataset,
            batch_size=self.config.batch_size,
            pin_memory=True,
            shuffle=False,
            num_workers=self.config.data_loader_workers,
        )
""")
    (d,) = assert_marks(source, CODES)
    row = source.splitlines().index("        self.model = DDP(self.model, device_ids=[self.local_rank])") + 1
    assert any(f"wrapped in `DDP` (line {row})" in n for n in d.notes)


def test_mingpt_ddp_without_set_epoch_is_sc704() -> None:
    # `_run_epoch` has two callers (train and test), both in the epoch loop of train()
    source = twin(MINGPT_DDP, "        dataloader.sampler.set_epoch(epoch)\n", "")
    source = twin(source, "            sampler=DistributedSampler(dataset)\n",
                  "            sampler=DistributedSampler(dataset)  # SC704\n")
    (d,) = assert_marks(source, CODES)
    row = source.splitlines().index("        for epoch in range(self.epochs_run, self.config.max_epochs):") + 1
    assert any(f"epoch loop at line {row}" in n for n in d.notes)


def test_mingpt_ddp_without_workers_is_sc703() -> None:
    # CharDataset encodes every character of its chunk through `self.stoi` for each sample
    source = twin(MINGPT_DDP, "            num_workers=self.config.data_loader_workers,\n", "")
    source = twin(source, "        return DataLoader(\n", "        return DataLoader(  # SC703\n")
    (d,) = assert_marks(source, CODES)
    assert "CharDataset.__getitem__" in d.notes[0] and "self.stoi[s] for s in chunk" in d.notes[0]


def test_mingpt_ddp_pre_encoded_dataset_without_workers_is_clean() -> None:
    # encoded once in __init__, indexed per item: nothing for a worker to do
    source = twin(MINGPT_DDP, """
        chunk = self.data[idx:idx + self.block_size + 1]
        dix = [self.stoi[s] for s in chunk]
        x = torch.tensor(dix[:-1], dtype=torch.long)
        y = torch.tensor(dix[1:], dtype=torch.long)
        return x, y
""", """
        chunk = self.ids[idx:idx + self.block_size + 1]
        return chunk[:-1], chunk[1:]
""")
    source = twin(source, "        self.data = data\n",
                  "        self.data = data\n        self.ids = torch.tensor([self.stoi[c] for c in data], dtype=torch.long)\n")
    source = twin(source, "            num_workers=self.config.data_loader_workers,\n", "")
    assert_marks(source, CODES)


# -- minGPT mingpt/trainer.py + projects/chargpt (condensed): a `while True` loop on next(it) ------
MINGPT_CHARGPT = """
import time

import torch
from torch.utils.data import DataLoader, Dataset

from mingpt.model import GPT


class CharDataset(Dataset):
    def __init__(self, config, data):
        self.config = config
        chars = sorted(list(set(data)))
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.vocab_size = len(chars)
        self.data = data

    def __len__(self):
        return len(self.data) - self.config.block_size

    def __getitem__(self, idx):
        chunk = self.data[idx:idx + self.config.block_size + 1]
        dix = [self.stoi[s] for s in chunk]
        x = torch.tensor(dix[:-1], dtype=torch.long)
        y = torch.tensor(dix[1:], dtype=torch.long)
        return x, y


class Trainer:
    def __init__(self, config, model, train_dataset):
        self.config = config
        self.model = model
        self.train_dataset = train_dataset
        self.device = 'cuda' if torch.cuda.is_available() else 'cpu'
        self.model = self.model.to(self.device)

    def run(self):
        model, config = self.model, self.config
        self.optimizer = model.configure_optimizers(config)
        train_loader = DataLoader(
            self.train_dataset,
            sampler=torch.utils.data.RandomSampler(self.train_dataset, replacement=True, num_samples=int(1e10)),
            shuffle=False,
            pin_memory=True,
            batch_size=config.batch_size,
            num_workers=config.num_workers,
        )
        model.train()
        self.iter_num = 0
        data_iter = iter(train_loader)
        while True:
            try:
                batch = next(data_iter)
            except StopIteration:
                data_iter = iter(train_loader)
                batch = next(data_iter)
            batch = [t.to(self.device) for t in batch]
            x, y = batch
            logits, self.loss = model(x, y)
            model.zero_grad(set_to_none=True)
            self.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_norm_clip)
            self.optimizer.step()
            self.iter_num += 1
            if config.max_iters is not None and self.iter_num >= config.max_iters:
                break


def main(config, text):
    train_dataset = CharDataset(config.data, text)
    model = GPT(config.model)
    trainer = Trainer(config.trainer, model, train_dataset)
    trainer.run()
"""


def test_mingpt_chargpt_is_clean() -> None:
    assert_marks(MINGPT_CHARGPT, CODES)


def test_mingpt_chargpt_without_workers_is_sc703() -> None:
    source = twin(MINGPT_CHARGPT, "            num_workers=config.num_workers,\n", "            num_workers=0,\n")
    source = twin(source, "        train_loader = DataLoader(\n", "        train_loader = DataLoader(  # SC703\n")
    (d,) = assert_marks(source, CODES)
    assert "`t.to(self.device)`" in d.notes[0]


def test_mingpt_chargpt_on_the_cpu_is_clean() -> None:
    source = twin(MINGPT_CHARGPT, "            num_workers=config.num_workers,\n", "            num_workers=0,\n")
    source = twin(source, "        self.device = 'cuda' if torch.cuda.is_available() else 'cpu'\n",
                  "        self.device = 'cpu'\n")
    assert_marks(source, CODES)


def test_mingpt_chargpt_next_of_something_else_is_clean() -> None:
    # `next()` of an iterator that is not (visibly) a DataLoader's: unknown
    source = twin(MINGPT_CHARGPT, "            num_workers=config.num_workers,\n", "            num_workers=0,\n")
    source = twin(source, "                data_iter = iter(train_loader)\n", "                data_iter = make_batches(self.train_dataset)\n")
    assert_marks(source, CODES)
