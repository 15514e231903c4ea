"""A tiny stand-in for torchvision, for the runtime evaluation only (torchvision is not installed
here, and the datasets would be downloaded). Datasets give random tensors; transforms work on
tensors; `Normalize` is an nn.Module, as in torchvision (its forward runs in training mode)."""

from . import datasets, transforms, utils  # noqa: F401

__version__ = "0.0-shapecheck-stub"
