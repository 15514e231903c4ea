"""Tensor-only transforms with torchvision's names."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Compose:
    def __init__(self, transforms: list[Any]) -> None:
        self.transforms = transforms

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x


class ToTensor:
    def __call__(self, x: Any) -> torch.Tensor:
        return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


class Normalize(nn.Module):
    """As torchvision's: an nn.Module whose forward checks its std and normalises."""

    def __init__(self, mean: Any, std: Any) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)
        std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device)
        if (std == 0).any():
            raise ValueError("std evaluated to zero, leading to division by zero.")
        if mean.ndim == 1:
            mean = mean.view(-1, 1, 1)
        if std.ndim == 1:
            std = std.view(-1, 1, 1)
        return (x - mean) / std


class Resize:
    def __init__(self, size: Any) -> None:
        self.size = size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        size = (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)
        return nn.functional.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0]


class CenterCrop(Resize):
    pass
