"""Random-data datasets with torchvision's constructor signatures (only what the examples use)."""

from __future__ import annotations

from typing import Any

import torch


class _Random(torch.utils.data.Dataset):
    def __init__(self, size: int, shape: tuple[int, ...], classes: int, transform: Any = None, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(size, *shape, generator=g)
        self.labels = torch.randint(0, classes, (size,), generator=g)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = self.images[i]
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.labels[i])


def MNIST(root: str = "", train: bool = True, download: bool = False, transform: Any = None, **_: Any) -> _Random:
    return _Random(256 if train else 128, (1, 28, 28), 10, transform, seed=0 if train else 1)


def FakeData(size: int = 64, image_size: tuple[int, ...] = (3, 64, 64), num_classes: int = 10,
             transform: Any = None, **_: Any) -> _Random:
    return _Random(min(size, 64), tuple(image_size), num_classes, transform)


def CIFAR10(root: str = "", train: bool = True, download: bool = False, transform: Any = None, **_: Any) -> _Random:
    return _Random(128, (3, 32, 32), 10, transform)
