"""Run one program under torch and record what its GPU pipeline does, for `confirm.py`.

    python probe.py fake OUT.json PROGRAM.py [ARGS...]   # fake tensors, fake `cuda` (the dry run's environment)
    python probe.py real OUT.json PROGRAM.py [ARGS...]   # plain CPU run: does it still run; values copied
    python probe.py ddp  OUT.json PROGRAM.py [ARGS...]   # real run, several processes: the indices each
                                                         # rank's loaders hand out (via sitecustomize)

Events, each with the program's line (the innermost frame in PROGRAM.py) and the optimizer step
count at that moment (`step`: backward() calls so far):

- `sync:<op>`: a value read from a tensor on the accelerator (item, tolist, bool, float, int,
  repr/str/format of the tensor): each waits for the device (`aten._local_scalar_dense` or a
  device-to-host copy on a real GPU);
- `d2h`: `.cpu()` / `.to("cpu")` of a tensor on the accelerator;
- `h2d`: `.to(accelerator)` / `.cuda()` of a host tensor, with `non_blocking`, whether the source
  is pinned (came from `.pin_memory()` or from a loader asked for `pin_memory=True`), the loader
  it came from, and (real mode) its value when small;
- `loader`: a DataLoader built: requested num_workers / pin_memory, the dataset's class and
  whether it is a TensorDataset, the sampler's class;
- `batch`: a loader handed out a batch.

The fake mode is `shapecheck.runtime.dryrun.fake_environment(device="cuda", patch_torch=True)`:
tensors carry shape, dtype and device and no data; the accelerator is the `meta` device standing
in for `cuda`. On top of it, for distributed programs, `mp.spawn` runs the first rank in-process,
the process group is a stand-in of world size 1 and DistributedDataParallel/DataParallel pass
through (no collective runs on fake tensors): the sampler code and the step code are the program's.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import time

MODE = os.environ.get("PIPELINE_PROBE_MODE", "")
OUT = os.environ.get("PIPELINE_PROBE_OUT", "")
PROG = os.environ.get("PIPELINE_PROBE_PROG", "")
EVENTS: list[dict] = []
STATE = {"step": 0, "exc": None}
ACCEL = ("meta", "cuda")
MAX_EVENTS = 20000


def user_line() -> int:
    f = sys._getframe(1)
    while f is not None:
        if f.f_code.co_filename == PROG:
            return f.f_lineno
        f = f.f_back
    return 0


def record(kind: str, **info: object) -> None:
    if len(EVENTS) < MAX_EVENTS:
        EVENTS.append({"kind": kind, "line": info.pop("line", None) or user_line(), "step": STATE["step"], **info})


def _install_common(torch: object) -> None:
    import torch  # noqa: F811
    from torch.utils.data import DataLoader, TensorDataset
    from torch.utils.data import dataloader as dl


    init = DataLoader.__init__

    def loader_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        dataset = args[0] if args else kwargs.get("dataset")
        line = user_line()
        workers = kwargs.get("num_workers", args[6] if len(args) > 6 else 0)
        pin = kwargs.get("pin_memory", args[8] if len(args) > 8 else False)
        init(self, *args, **kwargs)
        base = dataset
        while hasattr(base, "dataset") and type(base).__name__ == "Subset":
            base = base.dataset
        self._pipeline = {"line": line, "pin": bool(pin)}
        record("loader", line=line, num_workers=int(workers or 0), pin_memory=bool(pin),
               dataset=type(dataset).__name__, base_dataset=type(base).__name__,
               tensordataset=isinstance(base, TensorDataset), sampler=type(self.sampler).__name__,
               rank=_rank())

    DataLoader.__init__ = loader_init

    it_init = dl._BaseDataLoaderIter.__init__
    it_next = dl._BaseDataLoaderIter.__next__
    it_index = dl._BaseDataLoaderIter._next_index
    counters: dict[int, int] = {}

    def iter_init(self, loader):  # type: ignore[no-untyped-def]
        it_init(self, loader)
        info = getattr(loader, "_pipeline", {"line": 0, "pin": False})
        n = counters.get(info["line"], 0)
        counters[info["line"]] = n + 1
        self._pipeline = {**info, "iter": n, "indices": []}
        if MODE == "ddp":
            EVENTS.append({"kind": "epoch", "line": info["line"], "iter": n, "rank": _rank(),
                           "indices": self._pipeline["indices"], "len": len(loader.sampler) if hasattr(loader.sampler, "__len__") else None})

    def next_index(self):  # type: ignore[no-untyped-def]
        idx = it_index(self)
        info = getattr(self, "_pipeline", None)
        if info is not None and MODE == "ddp":
            info["indices"].extend(int(i) for i in (idx if isinstance(idx, (list, tuple)) else [idx]))
        return idx

    def iter_next(self):  # type: ignore[no-untyped-def]
        batch = it_next(self)
        info = getattr(self, "_pipeline", None)
        if info is not None and MODE != "ddp":
            record("batch", loader=info["line"])
            _tag(batch, info["line"], info["pin"])
        return batch

    dl._BaseDataLoaderIter.__init__ = iter_init
    dl._BaseDataLoaderIter.__next__ = iter_next
    dl._BaseDataLoaderIter._next_index = next_index


def _rank() -> int:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return int(dist.get_rank())
    except Exception:  # noqa: BLE001
        pass
    return int(os.environ.get("RANK", "0"))


def _tag(batch: object, line: int, pinned: bool) -> None:
    import torch

    if isinstance(batch, torch.Tensor):
        try:
            batch._pipeline_loader = line  # type: ignore[attr-defined]
            batch._pipeline_pinned = pinned  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001
            pass
    elif isinstance(batch, (list, tuple)):
        for b in batch:
            _tag(b, line, pinned)
    elif isinstance(batch, dict):
        for b in batch.values():
            _tag(b, line, pinned)


def _target_device(args: tuple, kwargs: dict) -> object:
    import torch

    cands = [kwargs.get("device")] + list(args[1:])
    for c in cands:
        if isinstance(c, torch.Tensor):
            return c.device
        if isinstance(c, int) and not isinstance(c, bool):
            return torch.device("cuda", c)
        if isinstance(c, (str, torch.device)):
            try:
                return torch.device(c)
            except Exception:  # noqa: BLE001
                continue
    return None


def _probe_mode(real: bool) -> object:
    import torch
    from torch.overrides import TorchFunctionMode

    T = torch.Tensor
    reads = {T.item: "item", T.tolist: "tolist", T.__bool__: "bool", T.__float__: "float", T.__int__: "int",
             T.__index__: "index", T.numpy: "numpy", T.__repr__: "repr", T.__str__: "str", T.__format__: "format"}

    class Probe(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            kwargs = dict(kwargs or {})
            t = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if t is not None and func is T.backward:
                out = func(*args, **kwargs)
                STATE["step"] += 1  # `step`: backward() calls so far (manual SGD loops have no optimizer)
                return out
            if t is not None:
                dev = t.device.type
                if func in reads and dev in ACCEL and not real:
                    record("sync:" + reads[func])
                elif func is T.cpu and dev in ACCEL:
                    record("d2h")
                elif func in (T.to, T.cuda):
                    if func is T.cuda:
                        target = torch.device("cuda")
                    else:
                        target = _target_device(args, kwargs)
                        if len(args) > 1 and isinstance(args[1], int) and not isinstance(args[1], bool) and not real:
                            args = (args[0], f"cuda:{args[1]}", *args[2:])  # .to(rank): the fake env redirects 'cuda'
                    if target is not None:
                        if target.type == "cpu" and dev in ACCEL:
                            record("d2h")
                        elif (target.type in ACCEL and dev == "cpu") or (real and target.type == "cpu"):
                            info = {"non_blocking": bool(kwargs.get("non_blocking", False)),
                                    "pinned": bool(getattr(t, "_pipeline_pinned", False)),
                                    "loader": getattr(t, "_pipeline_loader", None), "id": id(t)}
                            if real and t.numel() <= 16:
                                info["value"] = t.detach().flatten().tolist()
                            record("h2d", **info)
                elif func is T.pin_memory:
                    out = func(*args, **kwargs)
                    try:
                        out._pipeline_pinned = True
                    except Exception:  # noqa: BLE001
                        pass
                    return out
            return func(*args, **kwargs)

    return Probe()


def _fake_distributed() -> None:
    """One in-process rank of world size 1: no collective runs on fake tensors."""
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from torch import nn

    class PassThrough(nn.Module):
        def __init__(self, module, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__()
            self.module = module

        def forward(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return self.module(*args, **kwargs)

    torch.nn.parallel.DistributedDataParallel = PassThrough
    torch.nn.parallel.distributed.DistributedDataParallel = PassThrough
    torch.nn.DataParallel = PassThrough
    torch.nn.parallel.DataParallel = PassThrough
    dist.init_process_group = lambda *a, **k: None
    dist.destroy_process_group = lambda *a, **k: None
    dist.is_initialized = lambda: True
    dist.get_rank = lambda *a, **k: 0
    dist.get_world_size = lambda *a, **k: 1
    dist.barrier = lambda *a, **k: None
    dist.all_reduce = lambda *a, **k: None
    mp.spawn = lambda fn, args=(), nprocs=1, **k: fn(0, *args)


def main() -> int:
    global MODE, OUT, PROG
    MODE, OUT, prog = sys.argv[1], sys.argv[2], sys.argv[3]
    PROG = os.path.abspath(prog)
    os.environ.update(PIPELINE_PROBE_MODE=MODE, PIPELINE_PROBE_OUT=OUT, PIPELINE_PROBE_PROG=PROG)
    sys.argv = [PROG, *sys.argv[4:]]
    sys.path.insert(0, os.path.dirname(PROG))
    import torch

    torch.manual_seed(0)
    result: dict = {"mode": MODE, "ok": False, "error": None, "steps": 0}
    t0 = time.perf_counter()
    try:
        if MODE == "fake":
            from shapecheck.runtime.dryrun import fake_environment

            _fake_distributed()
            with fake_environment("cuda", patch_torch=True, max_steps=int(os.environ.get("PIPELINE_MAX_STEPS", "6"))) as tracer:
                _install_common(torch)
                module_to = torch.nn.Module.to

                def to_rank(self, *args, **kwargs):  # model.to(rank): the fake env redirects 'cuda', not ints
                    if args and isinstance(args[0], int) and not isinstance(args[0], bool):
                        args = (f"cuda:{args[0]}", *args[1:])
                    return module_to(self, *args, **kwargs)

                torch.nn.Module.to = to_rank
                with _probe_mode(real=False):
                    runpy.run_path(PROG, run_name="__main__")
            result["tracer"] = [f"{f.kind}: {f.message[:200]}" for f in tracer.findings]
            bad = [f for f in tracer.findings if f.kind in ("device-mismatch", "runtime-error", "shape-error", "dtype-mismatch")
                   or (f.kind == "dry-run-unsupported" and STATE["step"] < 2)]
            result["ok"] = not bad
            if bad:
                result["error"] = f"{bad[0].kind}: {bad[0].message[:300]}"
        else:
            _install_common(torch)
            if MODE == "real":
                with _probe_mode(real=True):
                    runpy.run_path(PROG, run_name="__main__")
            else:
                runpy.run_path(PROG, run_name="__main__")
            result["ok"] = True
    except SystemExit as exc:
        result["ok"] = exc.code in (0, None)
        if not result["ok"]:
            result["error"] = f"SystemExit({exc.code})"
    except BaseException as exc:  # noqa: BLE001
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["steps"] = STATE["step"]
    result["events"] = EVENTS
    _write(result, OUT)
    return 0


def _write(result: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


def child_hook() -> None:
    """In a process spawned by a program under `probe.py ddp` (imported from sitecustomize)."""
    import atexit

    if MODE != "ddp" or not OUT:
        return
    import torch

    _install_common(torch)
    path = f"{OUT}.{os.getpid()}"
    atexit.register(lambda: _write({"mode": "ddp-child", "rank": _rank(), "events": EVENTS}, path))


if __name__ == "__main__":
    sys.exit(main())
