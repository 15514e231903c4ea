"""Where shapes come from in real programs: the data pipeline and the configuration.

Real training scripts never annotate `forward`; the sizes are in the driver code. This module
models the library objects that carry them (DESIGN §2a), as values the interpreter passes on:

- `TensorDataset(X, y)`: one sample is `(X[i], y[i])`;
- torchvision datasets with their known sample shapes (MNIST `1x28x28`, CIFAR `3x32x32`, ...)
  and the transforms that change them (`ToTensor`, `Resize`, `CenterCrop`, `Grayscale`, ...);
- `DataLoader(ds, batch_size=64)`: iterating yields collated batches `(B, *sample)`. `B` is the
  batch size only when every batch has it (`drop_last=True`, or a dataset whose known length the
  batch size divides); otherwise it is the symbol `batch`, which may be smaller (or 1) on the
  last batch;
- `argparse` defaults (`args.batch_size`) and string-keyed dicts (`config['n_embd']`).

Nothing here guesses: a transform or a dataset it does not know gives an unknown sample.
"""

from __future__ import annotations

from shapecheck.infer.values import (
    UNKNOWN,
    ConstValue,
    DataValue,
    DictValue,
    DimValue,
    ModuleValue,
    ObjectValue,
    TensorValue,
    TupleValue,
    Value,
    as_dim,
    as_int,
)
from shapecheck.shapes import Dim, Shape

BATCH = "batch"  # the symbol of a loader's batch axis when the last batch may be smaller

LOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
TENSOR_DATASETS = frozenset({"torch.utils.data.TensorDataset", "torch.utils.data.dataset.TensorDataset"})
SPLITS = frozenset({"torch.utils.data.random_split", "torch.utils.data.dataset.random_split"})
SUBSETS = frozenset({"torch.utils.data.Subset", "torch.utils.data.dataset.Subset"})
WRAPPERS = frozenset({  # calling them is calling the model inside
    "torch.nn.DataParallel", "torch.nn.parallel.DataParallel", "torch.nn.parallel.DistributedDataParallel",
    "torch.compile",
})
TRAINERS = frozenset({  # Lightning: `trainer.fit(model, loader)` runs model.training_step(batch, i)
    "pytorch_lightning.Trainer", "lightning.Trainer", "lightning.pytorch.Trainer",
    "pytorch_lightning.trainer.trainer.Trainer", "lightning.pytorch.trainer.trainer.Trainer",
})
PASS_THROUGH = frozenset({"tqdm.tqdm", "tqdm.auto.tqdm", "tqdm.notebook.tqdm", "tqdm"})

# (channels, height, width, train-set size, test-set size) of a sample once it is a tensor
_VISION: dict[str, tuple[int, int, int, int | None, int | None]] = {
    "MNIST": (1, 28, 28, 60000, 10000),
    "FashionMNIST": (1, 28, 28, 60000, 10000),
    "KMNIST": (1, 28, 28, 60000, 10000),
    "QMNIST": (1, 28, 28, None, None),
    "EMNIST": (1, 28, 28, None, None),
    "CIFAR10": (3, 32, 32, 50000, 10000),
    "CIFAR100": (3, 32, 32, 50000, 10000),
    "SVHN": (3, 32, 32, None, None),
    "STL10": (3, 96, 96, None, None),
}
_TRANSFORM_THIRD = frozenset({"MNIST", "FashionMNIST", "KMNIST", "CIFAR10", "CIFAR100", "SVHN"})
VISION_PREFIXES = ("torchvision.datasets.", "torchvision.datasets.mnist.", "torchvision.datasets.cifar.")
TRANSFORM_PREFIXES = ("torchvision.transforms.", "torchvision.transforms.v2.", "torchvision.transforms.transforms.")
# transforms that keep a tensor's shape (and dtype class) as it is
_SHAPE_KEEPING = frozenset({
    "Normalize", "RandomHorizontalFlip", "RandomVerticalFlip", "ColorJitter", "RandomErasing",
    "ConvertImageDtype", "RandomAutocontrast", "RandomEqualize", "RandomInvert", "RandomPosterize",
    "RandomAdjustSharpness", "GaussianBlur", "RandomApply", "RandomGrayscale", "AutoAugment",
    "RandAugment", "TrivialAugmentWide", "AugMix", "RandomRotation", "RandomAffine", "RandomPerspective",
    "ToDtype",
})


def vision_dataset(qualified: str, args: list[Value], kwargs: dict[str, Value]) -> Value | None:
    """`datasets.MNIST(root, train=True, transform=...)`: samples `(image, label)`."""
    if not qualified.startswith(VISION_PREFIXES):
        return None
    name = qualified.rpartition(".")[2]
    known = _VISION.get(name)
    if known is None:
        return None
    c, h, w, n_train, n_test = known
    transform = kwargs.get("transform", args[2] if len(args) > 2 and name in _TRANSFORM_THIRD else None)
    image = apply_transform(transform, TensorValue(Shape.of(c, h, w), "uint8", "cpu", origin="pil")) if transform else UNKNOWN
    train = kwargs.get("train", args[1] if len(args) > 1 else ConstValue(True))
    length = None
    if isinstance(train, ConstValue) and isinstance(train.value, bool):
        n = n_train if train.value else n_test
        length = Dim.const(n) if n is not None else None
    return DataValue("dataset", TupleValue((image, ConstValue(0))), length)


def apply_transform(transform: Value, image: TensorValue) -> Value:
    """The sample after `transform` (a PIL image of `image`'s shape goes in); unknown when any
    step is not modelled, or when the result is still a PIL image."""
    steps: list[Value]
    if isinstance(transform, ModuleValue) and transform.qualname.endswith(".Compose"):
        listed = transform.args[0] if transform.args else UNKNOWN
        if not isinstance(listed, TupleValue):
            return UNKNOWN
        steps = list(listed.items)
    else:
        steps = [transform]
    value: TensorValue = image
    for step in steps:
        if not (isinstance(step, ModuleValue) and step.qualname.startswith(TRANSFORM_PREFIXES)):
            return UNKNOWN
        name = step.qualname.rpartition(".")[2]
        dims = list(value.shape.dims)
        if name in ("ToTensor",):
            value = TensorValue(value.shape, "float32", "cpu", origin="ToTensor")
        elif name in ("PILToTensor", "ToImage"):
            value = TensorValue(value.shape, "uint8", "cpu", origin="ToTensor")
        elif name in ("Resize", "CenterCrop", "RandomCrop", "RandomResizedCrop"):
            size = step.kwarg("size", 0)
            hw = _size_pair(size, square=name != "Resize" or dims[1] == dims[2])
            if hw is None:
                return UNKNOWN
            value = TensorValue(Shape.of(dims[0], *hw), value.dtype, value.device, origin=value.origin)
        elif name == "Grayscale":
            n = as_int(step.kwarg("num_output_channels", 0)) or 1
            value = TensorValue(Shape.of(n, dims[1], dims[2]), value.dtype, value.device, origin=value.origin)
        elif name == "Pad":
            pad = as_int(step.kwarg("padding", 0))
            if pad is None:
                return UNKNOWN
            value = TensorValue(Shape.of(dims[0], dims[1] + 2 * pad, dims[2] + 2 * pad), value.dtype, value.device,
                                origin=value.origin)
        elif name not in _SHAPE_KEEPING:
            return UNKNOWN
    return value if value.origin == "ToTensor" else UNKNOWN


def _size_pair(size: Value | None, square: bool) -> tuple[Dim, Dim] | None:
    if isinstance(size, TupleValue) and len(size.items) == 2:
        a, b = as_dim(size.items[0]), as_dim(size.items[1])
        return (a, b) if a is not None and b is not None else None
    if isinstance(size, TupleValue) and len(size.items) == 1:
        size = size.items[0]
    d = as_dim(size)
    if d is None or not square:  # Resize(n) on a non-square image keeps the aspect ratio
        return None
    return d, d


def tensor_dataset(args: list[Value]) -> Value:
    """`TensorDataset(X, y)`: sample i is `(X[i], y[i])`; all tensors share the first axis."""
    items: list[Value] = []
    length: Dim | None = None
    for a in args:
        if not (isinstance(a, TensorValue) and a.shape.rank is not None and a.shape.rank >= 1):
            items.append(UNKNOWN)
            continue
        first = a.shape.dims[0]
        if length is None and not first.is_unknown:
            length = first
        items.append(TensorValue(Shape.of(*a.shape.dims[1:]), a.dtype, a.device, origin="index", library=a.library))
    return DataValue("dataset", TupleValue(tuple(items)), length)


def subset(dataset: Value) -> Value:
    """`Subset(ds, idx)`, one part of `random_split`: the same samples, an unknown length."""
    return DataValue("dataset", dataset.item) if isinstance(dataset, DataValue) and dataset.kind == "dataset" else UNKNOWN


def random_split(dataset: Value, lengths: Value) -> Value:
    if not isinstance(lengths, TupleValue):
        return UNKNOWN
    part = subset(dataset)
    return TupleValue(tuple(part for _ in lengths.items)) if part is not UNKNOWN else UNKNOWN


def loader(dataset: Value, args: list[Value], kwargs: dict[str, Value], complete: bool) -> Value:
    """`DataLoader(ds, batch_size=64, drop_last=...)`. `complete`: no `**options` left unread
    (otherwise batch_size/drop_last/collate_fn may be hidden in them)."""
    if not (isinstance(dataset, DataValue) and dataset.kind == "dataset"):
        return UNKNOWN
    if "collate_fn" in kwargs or "batch_sampler" in kwargs:
        return UNKNOWN  # a custom collate builds batches its own way
    size = kwargs.get("batch_size", args[0] if args else (ConstValue(1) if complete else None))
    if isinstance(size, ConstValue) and size.value is None:
        return DataValue("loader", dataset.item)  # no automatic batching: a sample at a time
    n = as_dim(size) if size is not None else None
    drop_last = kwargs.get("drop_last", ConstValue(False) if complete else None)
    batch: Dim
    if n is not None and n.value is not None and isinstance(drop_last, ConstValue) and drop_last.value is True:
        batch = n
    elif n is not None and n.value is not None and _divides(n.value, dataset.length):
        batch = n  # every batch is full
    elif n is not None and n.value == 1:
        batch = n
    else:
        batch = Dim.sym(BATCH)
    item = collate(dataset.item, batch)
    return DataValue("loader", item) if item is not UNKNOWN else UNKNOWN


def _divides(n: int, length: Dim | None) -> bool:
    total = length.value if length is not None else None
    return total is not None and n > 0 and total % n == 0


def collate(sample: Value, batch: Dim) -> Value:
    """The default collate: tensors gain a leading batch axis, Python numbers become 1-d tensors."""
    if isinstance(sample, TensorValue):
        if sample.shape.rank is None:
            return TensorValue(Shape.unknown(), sample.dtype, sample.device, origin="batch", library="torch")
        return TensorValue(Shape.of(batch, *sample.shape.dims), sample.dtype, sample.device, origin="batch")
    if isinstance(sample, TupleValue):
        return TupleValue(tuple(collate(v, batch) for v in sample.items))
    if isinstance(sample, DictValue) and not sample.partial:
        return DictValue(tuple((k, collate(v, batch)) for k, v in sample.items))
    if isinstance(sample, (ConstValue, DimValue)):
        v = sample.value if isinstance(sample, ConstValue) else None
        dtype = "float64" if isinstance(v, float) else "bool" if isinstance(v, bool) else "int64"
        return TensorValue(Shape.of(batch), dtype, "cpu", origin="batch")
    return UNKNOWN


# ---------------------------------------------------------------------- argparse


PARSER = "argparse.ArgumentParser"
NAMESPACE = "argparse.Namespace"


def new_parser() -> ObjectValue:
    return ObjectValue(PARSER, {})


def parser_method(parser: ObjectValue, name: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """`add_argument` records a default; `parse_args()` gives a namespace of the defaults."""
    if name in ("add_argument_group", "add_mutually_exclusive_group"):
        return parser  # groups write to the same namespace
    if name == "add_argument":
        flags = [a.value for a in args if isinstance(a, ConstValue) and isinstance(a.value, str)]
        dest_value = kwargs.get("dest")
        dest = dest_value.value if isinstance(dest_value, ConstValue) and isinstance(dest_value.value, str) else None
        if dest is None:
            longs = [f for f in flags if f.startswith("--")]
            chosen = longs[0] if longs else (flags[0] if flags else None)
            if chosen is None:
                return UNKNOWN
            dest = chosen.lstrip("-").replace("-", "_")
        positional = bool(flags) and not flags[0].startswith("-")
        action = kwargs.get("action")
        act = action.value if isinstance(action, ConstValue) else None
        if "default" in kwargs:
            default = kwargs["default"]
            kind = kwargs.get("type")
            if isinstance(default, ConstValue) and isinstance(default.value, str) and kind is not None:
                default = UNKNOWN  # `type=` converts a string default: not modelled
        elif act == "store_true":
            default = ConstValue(False)
        elif act == "store_false":
            default = ConstValue(True)
        elif positional or "required" in kwargs:
            default = UNKNOWN
        else:
            default = ConstValue(None)
        if "nargs" in kwargs and not isinstance(default, TupleValue):
            default = UNKNOWN if not (isinstance(default, ConstValue) and default.value is None) else default
        parser.attrs[dest] = default
        return UNKNOWN
    if name == "set_defaults":
        parser.attrs.update(kwargs)
        return UNKNOWN
    if name in ("parse_args", "parse_known_args"):
        argv = args[0] if args else kwargs.get("args")
        if argv is not None and not (isinstance(argv, ConstValue) and argv.value is None) and argv != TupleValue(()):
            return UNKNOWN  # explicit argv: the defaults may not be what runs
        namespace = ObjectValue(NAMESPACE, dict(parser.attrs))
        return namespace if name == "parse_args" else TupleValue((namespace, UNKNOWN))
    return UNKNOWN
