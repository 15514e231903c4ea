"""Where a training loop's batches come from: the facts behind SC703, SC704 and SC706.

Built on `shapecheck.infer.accelerator` (which loops are training steps, where values live) and
answered once per file (`data_facts(ctx)`):

- **Which `DataLoader(...)` calls does a training loop iterate?** `loaders(step)` follows the
  loop's iterable through names, `self.x` attributes, wrappers (`enumerate`, `tqdm`, `iter`),
  same-file helpers and `self.helper()` methods that return a loader, `a, b = helper()` tuples,
  either arm of `x if c else None` (None is never iterated) and parameters whose every same-file
  caller (constructors included) passes one; a `while` loop's loaders are what it pulls with
  `next(it)`, `it = iter(loader)` (minGPT's trainer):

      def train(loader, model, opt, device):        # train(train_loader, ...) below
          for i, (x, y) in enumerate(tqdm(loader)):  # -> the DataLoader(...) call of main()
              ...
      train_loader = DataLoader(ds, batch_size=64)
      train(train_loader, model, opt, device)

  Any candidate that is not a `torch.utils.data.DataLoader(...)` call makes the answer None.
- **What does its dataset do per item?** `per_item_work(ds)` names the work a map-style
  dataset does in `__getitem__` (a torchvision/torchaudio dataset decodes and transforms; a
  same-file `Dataset` class that opens files, tokenizes, calls a transform or encodes a slice of
  its text element by element, `[self.stoi[c] for c in chunk]`), or None (in-memory
  `TensorDataset`, plain indexing of pre-encoded tensors, or a class we cannot see). Datasets are
  followed through `Subset`, `ConcatDataset`, `random_split` and a same-file namespace
  (`datasets = types.SimpleNamespace(FakeData=FakeData)`). `map_style(ds)` says whether the
  dataset is visibly map-style (indexable), `sharded(ds)` whether it was already split by rank.
- **Is the loop's model wrapped in `DistributedDataParallel`?** `ddp_wrap(step)`: a callee of the
  loop or of a helper it runs that holds the wrapped model on some path (`if args.distributed:
  model = DDP(model)`, `self.model = DDP(self.model)`).
- **Do the loop's input sizes vary?** `varying_sizes(step)`: `F.interpolate` with a random
  `size`/`scale_factor` in the loop, or a `collate_fn` of this file that pads to the longest
  sequence of the batch (`pad_sequence`).

Everything we cannot follow is unknown, and unknown is silence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from shapecheck.infer.accelerator import PipelineFacts, StepLoop, pipeline_facts
from shapecheck.infer.bindings import Bindings
from shapecheck.infer.flow import argument_for, flow_of, has_star, kwarg, literal_number, local_function, positional
from shapecheck.infer.loop_events import flat
from shapecheck.names import dotted
from shapecheck.tree import short_code, tree_of

LOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
DDP = frozenset({"torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.distributed.DistributedDataParallel",
                 "torch.nn.DistributedDataParallel"})
DISTRIBUTED_SAMPLERS = frozenset({"torch.utils.data.distributed.DistributedSampler", "torch.utils.data.DistributedSampler"})
_WRAPPERS = frozenset({"enumerate", "iter", "tqdm", "tqdm.tqdm", "tqdm.auto.tqdm", "tqdm.notebook.tqdm", "tqdm.rich.tqdm"})
_TENSOR_DATASETS = frozenset({"torch.utils.data.TensorDataset", "torch.utils.data.dataset.TensorDataset"})
_SUBSETS = frozenset({"torch.utils.data.Subset", "torch.utils.data.dataset.Subset"})
_NAMESPACES = frozenset({"types.SimpleNamespace", "argparse.Namespace"})
_SPLITS = frozenset({"torch.utils.data.random_split", "torch.utils.data.dataset.random_split"})
_CONCATS = frozenset({"torch.utils.data.ConcatDataset", "torch.utils.data.dataset.ConcatDataset"})
_ITERABLE_BASES = frozenset({"torch.utils.data.IterableDataset", "torch.utils.data.dataset.IterableDataset",
                             "torch.utils.data.IterDataPipe", "torch.utils.data.datapipes.datapipe.IterDataPipe"})
# Library datasets whose __getitem__ reads/decodes a sample and applies transforms.
_WORK_PREFIXES = ("torchvision.datasets.", "torchaudio.datasets.")
_INTERPOLATE = frozenset({"torch.nn.functional.interpolate", "torch.nn.functional.upsample",
                          "torch.nn.functional.upsample_bilinear", "torch.nn.functional.upsample_nearest"})
_PAD_SEQUENCE = frozenset({"torch.nn.utils.rnn.pad_sequence"})
_RANDOM_PREFIXES = ("random.", "numpy.random.")
_RANDOM_TORCH = frozenset({"torch.randint", "torch.rand", "torch.randn", "torch.randperm", "torch.multinomial"})
# Calls in `__getitem__` that cost nothing worth a worker process: conversions of values already
# in memory, shape methods, builtins.
_CHEAP_BUILTINS = frozenset({"int", "float", "len", "str", "bool", "min", "max", "range", "slice", "tuple", "list",
                             "dict", "isinstance", "super", "divmod", "abs", "round", "zip", "enumerate", "sum",
                             "getattr", "hasattr", "type", "print", "iter", "next", "sorted", "reversed", "map"})
_CHEAP_METHODS = frozenset({"long", "float", "int", "double", "half", "bool", "clone", "view", "reshape", "unsqueeze",
                            "squeeze", "item", "size", "to", "contiguous", "astype", "copy", "flatten", "permute",
                            "transpose", "t", "tolist", "numpy", "get", "keys", "values", "items", "index",
                            "__getitem__", "format", "type", "dim", "detach", "expand", "repeat", "view_as",
                            "append", "extend", "split", "strip", "manual_seed"})
_CHEAP_MODULES = ("torch.", "numpy.", "math.", "random.")
_EXPENSIVE_TORCH = frozenset({"torch.load", "numpy.load", "numpy.fromfile", "numpy.loadtxt", "numpy.genfromtxt"})
_RANK_WORDS = ("rank", "world_size", "num_replicas", "shard", "num_shards", "process_index")


@dataclass(frozen=True)
class Variation:
    """Where a loop's input sizes vary: the node and a short description."""

    node: cst.CSTNode
    what: str


class DataFacts:
    """Per-file facts about the data pipeline of the training loops (`data_facts(ctx)`)."""

    def __init__(self, ctx: object) -> None:
        self.ctx = ctx
        self.pipeline: PipelineFacts = pipeline_facts(ctx)
        self.names = ctx.names  # type: ignore[attr-defined]
        # the pipeline facts build flow and bindings only for files with a training loop; SC502
        # asks about loaders in any file
        self.flow = self.pipeline.flow or flow_of(ctx)  # type: ignore[arg-type]
        self.bindings: Bindings = self.pipeline.bindings or ctx.fact("bindings", Bindings.build)  # type: ignore[attr-defined]
        self._loaders: dict[int, list[cst.Call] | None] = {}

    @classmethod
    def build(cls, ctx: object) -> DataFacts:
        return cls(ctx)

    @property
    def step_loops(self) -> list[StepLoop]:
        return self.pipeline.step_loops

    def qualify(self, expr: cst.BaseExpression) -> str:
        return self.names.qualify(expr) or ""

    # -- following values ----------------------------------------------------------------------
    def values(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> list[cst.BaseExpression] | None:
        """The expressions that may give `expr` its value at `at`: names and `self.x` followed
        through their reaching bindings, parameters through every same-file caller, calls of
        same-file functions through their returns. None: some candidate is unknown."""
        flow = self.flow
        if flow is None or depth > 10:
            return None
        if isinstance(expr, cst.Name):
            if expr.value in ("None", "True", "False"):
                return [expr]
            binds = flow.reaching(expr.value, at)
            if not binds:
                return None
            out: list[cst.BaseExpression] = []
            for b in binds:
                if b.value is not None:
                    sub = self.values(b.value, b.value, depth + 1)
                elif b.always and isinstance(b.stmt, cst.FunctionDef):
                    sub = self._param_values(b.stmt, b.name, depth)
                else:
                    sub = self._unpacked_values(b.stmt, b.name, depth)
                if sub is None:
                    return None
                out.extend(sub)
            return out
        if isinstance(expr, cst.Attribute) and flow.is_self_attr(expr, at):
            binds = flow.attr_bindings(expr, at)
            if not binds or any(b.value is None for b in binds):
                return None
            out = []
            for b in binds:
                sub = self.values(b.value, b.value, depth + 1)  # type: ignore[arg-type]
                if sub is None:
                    return None
                out.extend(sub)
            return out
        if isinstance(expr, cst.IfExp):  # `make(ds) if ds else None`: either arm
            body = self.values(expr.body, at, depth + 1)
            orelse = self.values(expr.orelse, at, depth + 1)
            return None if body is None or orelse is None else [*body, *orelse]
        if isinstance(expr, cst.Call):
            fn = local_function(flow, expr.func) or self._self_method(expr.func, at)
            if fn is not None:
                rets = [r.value for r in flow.returns(fn)]
                if not rets or any(r is None for r in rets):
                    return None
                out = []
                for r in rets:
                    sub = self.values(r, r, depth + 1)  # type: ignore[arg-type]
                    if sub is None:
                        return None
                    out.extend(sub)
                return out
        return [expr]

    def _self_method(self, func: cst.BaseExpression, at: cst.CSTNode) -> cst.FunctionDef | None:
        """`self.helper(...)` inside a method: the class's (or a same-file base's) `def helper`."""
        flow = self.flow
        if flow is None or not isinstance(func, cst.Attribute) or not flow.is_self_attr(func, at):
            return None
        owner = flow.scope_of(at).owner
        if owner is None:
            return None
        for cls in self._class_chain(owner):
            fn = flow.method(cls, func.attr.value)
            if fn is not None:
                return fn if not any(isinstance(d.decorator, cst.Name) and d.decorator.value == "property"
                                     for d in fn.decorators) else None
        return None

    def _unpacked_values(self, stmt: cst.CSTNode, name: str, depth: int) -> list[cst.BaseExpression] | None:
        """`a, b = helper()` where every return of `helper` is a tuple of that length: the
        element for `name`; `train, test = random_split(ds, ...)`: the split (a subset of `ds`)."""
        if not isinstance(stmt, cst.Assign) or len(stmt.targets) != 1:
            return None
        target = stmt.targets[0].target
        if not isinstance(target, (cst.Tuple, cst.List)):
            return None
        elems = target.elements
        if any(isinstance(e, cst.StarredElement) for e in elems):
            return None
        index = next((i for i, e in enumerate(elems) if isinstance(e.value, cst.Name) and e.value.value == name), None)
        if index is None:
            return None
        rhs = self.values(stmt.value, stmt.value, depth + 1)
        if rhs is None:
            return None
        out: list[cst.BaseExpression] = []
        for v in rhs:
            if isinstance(v, (cst.Tuple, cst.List)) and len(v.elements) == len(elems) and not any(
                isinstance(e, cst.StarredElement) for e in v.elements
            ):
                sub = self.values(v.elements[index].value, v.elements[index].value, depth + 1)
                if sub is None:
                    return None
                out.extend(sub)
            elif isinstance(v, cst.Call) and self.qualify(v.func) in _SPLITS:
                out.append(v)
            else:
                return None
        return out

    def _param_values(self, fn: cst.FunctionDef, name: str, depth: int) -> list[cst.BaseExpression] | None:
        """Every same-file caller's argument for parameter `name` of `fn` (None if any is unknown)."""
        params = [*fn.params.posonly_params, *fn.params.params]
        names = [p.name.value for p in params]
        kwonly = {p.name.value: p for p in fn.params.kwonly_params}
        if name not in names and name not in kwonly:
            return None
        callers = self.bindings.callers(fn)
        if not callers:
            return None
        out: list[cst.BaseExpression] = []
        for call, bound in callers:
            arg = argument_for(fn, call, name, bound=bound)
            if arg is None:
                param = params[names.index(name)] if name in names else kwonly[name]
                if param.default is None or has_star(call):
                    return None
                arg = param.default
            sub = self.values(arg, call, depth + 1)
            if sub is None:
                return None
            out.extend(sub)
        return out

    # -- loaders -------------------------------------------------------------------------------
    def loaders(self, step: StepLoop) -> list[cst.Call] | None:
        """The `DataLoader(...)` calls a training loop iterates (None: not all visible): a `for`
        loop's iterable, or what a `while` loop pulls with `next(it)` (`it = iter(loader)`,
        minGPT's trainer)."""
        key = id(step.node)
        if key not in self._loaders:
            node = step.node
            if isinstance(node, cst.For):
                self._loaders[key] = self._loader_calls(node.iter, node)
            elif isinstance(node, cst.While):
                self._loaders[key] = self._next_loaders(node)
            else:
                self._loaders[key] = None
        return self._loaders[key]

    def _next_loaders(self, node: cst.While) -> list[cst.Call] | None:
        out: list[cst.Call] = []
        for _, call in self._next_pulls(node):
            found = self._loader_calls(positional(call)[0], call)
            if found is None:
                return None
            out.extend(found)
        unique = list({id(c): c for c in out}.values())
        return unique or None

    def _next_pulls(self, node: cst.While) -> Iterator[tuple[cst.Assign, cst.Call]]:
        """`batch = next(it)` statements of a `while` loop's body."""
        for call in self.calls_in(node.body):
            if not (isinstance(call.func, cst.Name) and call.func.value == "next" and self.qualify(call.func) in ("next", "builtins.next", "")
                    and (self.flow is None or local_function(self.flow, call.func) is None)
                    and len(call.args) == 1 and not call.args[0].keyword and not call.args[0].star):
                continue
            stmt = self.flow.statement_of(call) if self.flow is not None else None
            if isinstance(stmt, cst.Assign) and stmt.value is call:
                yield stmt, call

    def _loader_calls(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> list[cst.Call] | None:
        if depth > 4:
            return None
        vals = self.values(expr, at)
        if not vals:
            return None
        out: list[cst.Call] = []
        for v in vals:
            if isinstance(v, cst.Name) and v.value == "None":
                continue  # `self.test_loader = ... if test_dataset else None`: None is never iterated
            if not isinstance(v, cst.Call):
                return None
            q = self.qualify(v.func)
            if q in LOADERS:
                out.append(v)
            elif q in _WRAPPERS and positional(v):
                sub = self._loader_calls(positional(v)[0], v, depth + 1)
                if sub is None:
                    return None
                out.extend(sub)
            else:
                return None
        unique = list({id(c): c for c in out}.values())  # one loader passed by two callers
        return unique or None

    def loader_arg(self, call: cst.Call, name: str) -> cst.BaseExpression | None:
        """A `DataLoader` argument by name or position (torch's signature)."""
        return kwarg(call, name, _LOADER_POSITIONS.get(name))

    # -- batches -------------------------------------------------------------------------------
    def batch_move(self, step: StepLoop) -> cst.Call | None:
        """The first `.to(device)`/`.cuda()` in the loop body of a value the loop target binds
        (`x.to(device)`, `batch[0].cuda()`, `batch["image"].to(device)`), with a device that
        may be an accelerator."""
        node = step.node
        flow = self.flow
        if flow is None:
            return None
        if isinstance(node, cst.For):
            targets = {n.value for n in _names(node.target)}
            pulls: set[int] = {id(node)}
        elif isinstance(node, cst.While):
            assigns = [stmt for stmt, _ in self._next_pulls(node)]
            targets = {n.value for stmt in assigns for t in stmt.targets for n in _names(t.target)}
            pulls = {id(stmt) for stmt in assigns}
        else:
            return None
        for call in self.calls_in(node.body):
            func = call.func
            if not isinstance(func, cst.Attribute) or func.attr.value not in ("to", "cuda"):
                continue
            base = func.value
            while isinstance(base, (cst.Subscript, cst.Attribute)):
                base = base.value
            if not isinstance(base, cst.Name):
                continue
            name, at = base.value, call
            comp = _comprehension_over(flow, call, name)  # `[t.to(device) for t in batch]`
            if comp is not None:
                name, at = comp.for_in.iter.value, comp  # type: ignore[attr-defined]
            if name not in targets:
                continue
            if isinstance(node, cst.For):
                binds = flow.reaching(name, at)
                if not binds or not all(b.stmt is node for b in binds):
                    continue
            elif not self._pulled(node, name, at, pulls):
                continue
            if func.attr.value == "cuda":
                dev = kwarg(call, "device", 0)
                if dev is None or self.pipeline.device_target(dev, call) != "host":
                    return call
                continue
            dev = kwarg(call, "device")
            if dev is None:
                pos = positional(call)
                dev = pos[0] if pos else None
            if dev is not None and self.pipeline.device_target(dev, call) == "accel":
                return call
        return None

    def _pulled(self, node: cst.While, name: str, at: cst.CSTNode, pulls: set[int]) -> bool:
        """In a `while` loop, `name` at `at` holds what `next(it)` returned: every binding of
        it in the loop body before `at` is a `name = next(it)` (the loop analysis does not
        carry bindings across a `try`/`except` that pulls again)."""
        flow = self.flow
        assert flow is not None
        binds = flow.reaching(name, at)
        if binds:
            return all(id(b.stmt) in pulls for b in binds)
        order = flow.order.get(flow.statement_of(at), 0)
        scope = flow.scope_of(at)
        inside = [b for b in scope.bindings.get(name, []) if flow.is_ancestor(node.body, b.stmt) and b.order < order]
        return bool(inside) and all(id(b.stmt) in pulls for b in inside)

    def calls_in(self, node: cst.CSTNode) -> Iterator[cst.Call]:
        """Calls under `node` in source order, not inside nested functions, classes or lambdas."""
        children = tree_of(self.ctx).children
        stack = [node]
        while stack:
            cur = stack.pop()
            if isinstance(cur, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and cur is not node:
                continue
            if isinstance(cur, cst.Call):
                yield cur
            stack.extend(reversed(children.get(cur, [])))

    # -- datasets ------------------------------------------------------------------------------
    def dataset_calls(self, expr: cst.BaseExpression | None, at: cst.CSTNode) -> list[cst.BaseExpression] | None:
        """The dataset expressions behind `expr`, through `Subset`/`ConcatDataset`."""
        if expr is None:
            return None
        vals = self.values(expr, at)
        if not vals:
            return None
        out: list[cst.BaseExpression] = []
        for v in vals:
            if isinstance(v, cst.Call):
                q = self.qualify(v.func)
                if q in _SUBSETS or q in _SPLITS:
                    inner = self.dataset_calls(kwarg(v, "dataset", 0), v)
                    if inner is None:
                        return None
                    out.extend(inner)
                    continue
                if q in _CONCATS:
                    parts = kwarg(v, "datasets", 0)
                    if not isinstance(parts, (cst.List, cst.Tuple)):
                        return None
                    for el in parts.elements:
                        inner = self.dataset_calls(el.value, v)
                        if inner is None:
                            return None
                        out.extend(inner)
                    continue
                if self._calls_none(v):
                    continue
            out.append(v)
        return out or None

    def per_item_work(self, expr: cst.BaseExpression | None, at: cst.CSTNode) -> str | None:
        """What a map-style dataset does for each item, when every candidate visibly does work
        (None: in memory, plain indexing, or not visible)."""
        datasets = self.dataset_calls(expr, at)
        if not datasets:
            return None
        found: str | None = None
        for ds in datasets:
            if not isinstance(ds, cst.Call):
                return None
            q = self.qualify(ds.func)
            if q.startswith(_WORK_PREFIXES):
                name = dotted(ds.func) or q
                found = found or f"`{name}` reads and transforms every sample in `__getitem__`"
                continue
            cls = self._local_class(ds)
            if cls is None or self._iterable(cls):
                return None
            getitem = self._getitem(cls)
            if getitem is None:
                return None
            work = self._work_call(getitem, cls)
            if work is not None:
                found = found or f"`{cls.name.value}.__getitem__` calls `{short_code(work.func, 40)}(...)` for every sample"
                continue
            loop = self._encoding_loop(getitem)
            if loop is None:
                return None
            found = found or (f"`{cls.name.value}.__getitem__` encodes a slice of its data element by element in Python "
                              f"(`{short_code(loop, 40)}`) for every sample")
        return found

    def map_style(self, expr: cst.BaseExpression | None, at: cst.CSTNode) -> bool:
        """Whether every candidate dataset is visibly map-style (an indexable dataset of a known
        kind or a same-file class with `__getitem__` that is not an `IterableDataset`)."""
        datasets = self.dataset_calls(expr, at)
        if not datasets:
            return False
        for ds in datasets:
            if isinstance(ds, (cst.List, cst.ListComp, cst.Tuple)):
                continue
            if not isinstance(ds, cst.Call):
                return False
            q = self.qualify(ds.func)
            if q.startswith(_WORK_PREFIXES) or q in _TENSOR_DATASETS:
                continue
            cls = self._local_class(ds)
            if cls is None or self._iterable(cls) or self._getitem(cls) is None:
                return False
        return True

    def sharded(self, expr: cst.BaseExpression | None, at: cst.CSTNode) -> bool:
        """The dataset was built per rank: an argument of its construction mentions the rank,
        the world size or shards (`MyData(path, rank=rank)`, `load(shard=args.local_rank)`)."""
        datasets = [*(self.dataset_calls(expr, at) or []), *((self.values(expr, at) or []) if expr is not None else [])]
        for ds in datasets:  # the wrappers too: `Subset(ds, indices[rank::world_size])`
            text = _text(ds).lower()
            if any(w in text for w in _RANK_WORDS):
                return True
        return False

    def _local_class(self, call: cst.Call) -> cst.ClassDef | None:
        """`MyData(...)` of a class of this file, also through a same-file namespace
        (`datasets = types.SimpleNamespace(FakeData=FakeData)`; `datasets.FakeData(...)`)."""
        flow = self.flow
        if flow is None:
            return None
        func = self._namespace_member(call.func) or call.func
        if not isinstance(func, cst.Name):
            return None
        return flow.classes.get(func.value)

    def _namespace_member(self, expr: cst.BaseExpression) -> cst.BaseExpression | None:
        """`ns.X` where `ns` is bound once, at module level, to `types.SimpleNamespace(X=value)`
        (or `argparse.Namespace`): the value expression."""
        flow = self.flow
        if flow is None or not isinstance(expr, cst.Attribute) or not isinstance(expr.value, cst.Name):
            return None
        binds = flow.scopes[flow.ctx.module].bindings.get(expr.value.value) or []
        if len(binds) != 1 or not isinstance(binds[0].value, cst.Call):
            return None
        ns = binds[0].value
        if self.qualify(ns.func) not in _NAMESPACES:
            return None
        return kwarg(ns, expr.attr.value)

    def _calls_none(self, call: cst.BaseExpression) -> bool:
        """`ns.X(...)` with `X=None` in the namespace: raises TypeError, so it never gives a value."""
        if not isinstance(call, cst.Call):
            return False
        member = self._namespace_member(call.func)
        return isinstance(member, cst.Name) and member.value == "None"

    def _class_chain(self, cls: cst.ClassDef) -> Iterator[cst.ClassDef]:
        seen: set[int] = set()
        todo = [cls]
        while todo:
            cur = todo.pop()
            if id(cur) in seen:
                continue
            seen.add(id(cur))
            yield cur
            for base in cur.bases:
                if isinstance(base.value, cst.Name) and self.flow is not None and base.value.value in self.flow.classes:
                    todo.append(self.flow.classes[base.value.value])

    def _iterable(self, cls: cst.ClassDef) -> bool:
        for c in self._class_chain(cls):
            for base in c.bases:
                q = self.qualify(base.value)
                if q in _ITERABLE_BASES or q.endswith("IterableDataset") or q.endswith("IterDataPipe"):
                    return True
            if self.flow is not None and self.flow.method(c, "__iter__") is not None:
                return True
        return False

    def _getitem(self, cls: cst.ClassDef) -> cst.FunctionDef | None:
        for c in self._class_chain(cls):
            if self.flow is not None:
                fn = self.flow.method(c, "__getitem__")
                if fn is not None:
                    return fn
        return None

    def _work_call(self, fn: cst.FunctionDef, cls: cst.ClassDef, depth: int = 0) -> cst.Call | None:
        """The first call in `__getitem__` that does real work (I/O, decoding, a transform,
        tokenizing): anything but conversions of in-memory values and builtins. A method of the
        class itself (`self.load(i)`) is looked into."""
        for call in self.calls_in(fn.body):
            func = call.func
            q = self.qualify(func)
            if q in _EXPENSIVE_TORCH:
                return call
            if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"
                    and self.flow is not None):
                method = next((m for c in self._class_chain(cls) if (m := self.flow.method(c, func.attr.value))), None)
                if method is not None:
                    if depth >= 2:
                        return call
                    inner = self._work_call(method, cls, depth + 1)
                    if inner is not None:
                        return call
                    continue
            if q.startswith(_CHEAP_MODULES):
                continue  # conversions, random indices, arithmetic (the expensive loaders are above)
            if isinstance(func, cst.Name):
                if func.value in _CHEAP_BUILTINS:
                    continue
                return call
            if isinstance(func, cst.Attribute):
                if func.attr.value in _CHEAP_METHODS:
                    continue
                return call
        return None

    def _encoding_loop(self, fn: cst.FunctionDef) -> cst.BaseExpression | None:
        """A comprehension of `__getitem__` that maps each element of a slice of the data
        through a lookup or a call (`[self.stoi[s] for s in self.data[i:i + n]]`): tokenizing a
        sample in Python. A loop over a few tensors (`tuple(t[i] for t in self.tensors)`) is not
        one: its iterable is not a slice."""
        children = tree_of(self.ctx).children
        stack: list[cst.CSTNode] = [fn.body]
        while stack:
            cur = stack.pop()
            if isinstance(cur, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                continue
            if isinstance(cur, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
                comp = cur.for_in
                if (comp.inner_for_in is None and isinstance(comp.target, cst.Name)
                        and self._sliced(comp.iter, comp) and _maps(cur.elt, comp.target.value)):
                    return cur
            stack.extend(children.get(cur, []))
        return None

    def _sliced(self, expr: cst.BaseExpression, at: cst.CSTNode) -> bool:
        """`data[i:j]`, directly or through a name bound once to it."""
        if isinstance(expr, cst.Name) and self.flow is not None:
            binds = self.flow.reaching(expr.value, at)
            if not binds or len(binds) != 1 or binds[0].value is None:
                return False
            expr = binds[0].value
        return isinstance(expr, cst.Subscript) and any(isinstance(el.slice, cst.Slice) for el in expr.slice)

    # -- distributed ---------------------------------------------------------------------------
    def ddp_wrap(self, step: StepLoop) -> cst.Call | None:
        """The `DistributedDataParallel(...)` call that made a model the loop calls: a callee of
        the loop (or of a helper it calls) that may hold the wrapped model on some path
        (`if args.distributed: model = DDP(model)`; `self.model = DDP(self.model)`)."""
        seen: set[int] = set()
        for call in self._loop_calls(step):
            for v in self._may_values(call.func, call, seen):
                if isinstance(v, cst.Call) and self.qualify(v.func) in DDP:
                    return v
        return None

    def _loop_calls(self, step: StepLoop) -> Iterator[cst.Call]:
        """The calls of the loop body and of the same-file helpers it runs (as inlined by the
        loop analysis), whose callee is a name or `self.x`."""
        bodies: list[cst.CSTNode] = [step.node.body]  # type: ignore[attr-defined]
        flow = self.flow
        if flow is not None:
            for f in flat(step.tree):
                if f.ev.kind == "call-site" and isinstance(f.ev.node, cst.Call):
                    fn = local_function(flow, f.ev.node.func) or self._self_method(f.ev.node.func, f.ev.node)
                    if fn is not None:
                        bodies.append(fn.body)
        for body in bodies:
            for call in self.calls_in(body):
                func = call.func
                if isinstance(func, cst.Name) or (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)):
                    yield call

    def _may_values(self, expr: cst.BaseExpression, at: cst.CSTNode, seen: set[int],
                    depth: int = 0) -> list[cst.BaseExpression]:
        """What `expr` may hold on some path: every binding of a name in its function (or the
        module), of `self.x` in the class, and what same-file callers pass for a parameter.
        Each binding and argument is read once per question (`seen`)."""
        flow = self.flow
        if flow is None or depth > 6:
            return []
        if isinstance(expr, cst.Name):
            scope = flow.scope_of(at)
            binds = scope.bindings.get(expr.value) or flow.scopes[flow.ctx.module].bindings.get(expr.value) or []
            out: list[cst.BaseExpression] = []
            for b in binds:
                if b.value is not None:
                    if id(b.value) not in seen:
                        seen.add(id(b.value))
                        out.extend(self._may_values(b.value, b.value, seen, depth + 1))
                elif b.always and isinstance(b.stmt, cst.FunctionDef):
                    for call, arg in self._caller_args(b.stmt, b.name):
                        if id(arg) not in seen:
                            seen.add(id(arg))
                            out.extend(self._may_values(arg, call, seen, depth + 1))
            return out
        if isinstance(expr, cst.Attribute) and flow.is_self_attr(expr, at):
            out = []
            for b in flow.attr_bindings(expr, at) or []:
                if b.value is not None and id(b.value) not in seen:
                    seen.add(id(b.value))
                    out.extend(self._may_values(b.value, b.value, seen, depth + 1))
            return out
        return [expr]

    def _caller_args(self, fn: cst.FunctionDef, name: str) -> Iterator[tuple[cst.Call, cst.BaseExpression]]:
        """The argument every same-file caller of `fn` passes for parameter `name` (when visible)."""
        for call, bound in self.bindings.callers(fn):
            arg = argument_for(fn, call, name, bound=bound)
            if arg is not None:
                yield call, arg

    def distributed_sampler(self, loader: cst.Call) -> cst.Call | None:
        """The `DistributedSampler(...)` a loader samples with (one of the candidates)."""
        sampler = self.loader_arg(loader, "sampler")
        if sampler is None:
            return None
        for v in self.values(sampler, loader) or []:
            if isinstance(v, cst.Call) and self.qualify(v.func) in DISTRIBUTED_SAMPLERS:
                return v
        return None

    def epoch_loop(self, step: StepLoop) -> cst.CSTNode | None:
        """A loop that runs the training loop more than once: around it in the same function,
        or around a same-file call of the function that holds it (any caller, three levels:
        `train()` -> `_run_epoch(epoch, self.train_loader)` -> the loop)."""
        flow = self.flow
        if flow is None:
            return None
        nodes: list[cst.CSTNode] = [step.node]
        for _ in range(3):
            callers: list[cst.CSTNode] = []
            for node in nodes:
                loops = flow.loops_around(node)
                if loops:
                    return loops[0]
                fn = flow.function_of(node)
                if fn is not None:
                    callers.extend(call for call, _ in self.bindings.callers(fn))
            if not callers:
                return None
            nodes = callers[:8]
        return None

    # -- input sizes ---------------------------------------------------------------------------
    def varying_sizes(self, step: StepLoop) -> Variation | None:
        node = step.node
        for call in self.calls_in(node.body):  # type: ignore[attr-defined]
            if self.qualify(call.func) in _INTERPOLATE:
                for name, pos in (("size", 1), ("scale_factor", 2)):
                    arg = kwarg(call, name, pos)
                    if arg is not None and self._random(arg, call):
                        return Variation(call, f"`{short_code(call.func, 40)}(..., {name}=...)` resizes the batch to a random {name.replace('_', ' ')}")
        for loader in self.loaders(step) or []:
            collate = self.loader_arg(loader, "collate_fn")
            if collate is None or self.flow is None:
                continue
            fn = local_function(self.flow, collate) if isinstance(collate, cst.Name) else None
            if fn is None:
                continue
            for call in self.calls_in(fn.body):
                if self.qualify(call.func) in _PAD_SEQUENCE:
                    return Variation(call, f"`{fn.name.value}` pads each batch to its longest sequence with `pad_sequence`")
        return None

    def _random(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int = 0) -> bool:
        if depth > 6:
            return False
        if isinstance(expr, cst.Call):
            q = self.qualify(expr.func)
            if q in ("random.choice", "numpy.random.choice"):
                return False  # one of a fixed set of sizes: each is benchmarked once, then cached
            if q.startswith(_RANDOM_PREFIXES) or q in _RANDOM_TORCH:
                return True
            if isinstance(expr.func, cst.Name) and expr.func.value in ("int", "round", "tuple", "list"):
                return any(self._random(a.value, at, depth + 1) for a in expr.args)
            return False
        if isinstance(expr, cst.BinaryOperation):
            return self._random(expr.left, at, depth + 1) or self._random(expr.right, at, depth + 1)
        if isinstance(expr, (cst.Tuple, cst.List)):
            return any(self._random(e.value, at, depth + 1) for e in expr.elements)
        if isinstance(expr, cst.Name) and self.flow is not None:
            binds = self.flow.reaching(expr.value, at)
            return bool(binds) and any(b.value is not None and self._random(b.value, b.value, depth + 1) for b in binds)  # type: ignore[union-attr]
        return False


# DataLoader(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers, collate_fn, pin_memory, ...)
_LOADER_POSITIONS = {"dataset": 0, "batch_size": 1, "shuffle": 2, "sampler": 3, "batch_sampler": 4,
                     "num_workers": 5, "collate_fn": 6, "pin_memory": 7}


def zero_workers(facts: DataFacts, loader: cst.Call) -> bool:
    """`num_workers` absent or literally 0 (and no `**kwargs` that may carry it)."""
    if has_star(loader):
        return False
    nw = facts.loader_arg(loader, "num_workers")
    return nw is None or literal_number(nw) == 0


def _comprehension_over(flow: object, call: cst.CSTNode, var: str) -> cst.BaseComp | None:
    """The comprehension around `call` whose target is `var` and whose iterable is a name."""
    for anc in flow.ancestors(call):  # type: ignore[attr-defined]
        if isinstance(anc, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) or isinstance(anc, cst.BaseSmallStatement):
            return None
        if isinstance(anc, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
            comp = anc.for_in
            if isinstance(comp.target, cst.Name) and comp.target.value == var and isinstance(comp.iter, cst.Name):
                return anc
            return None
    return None


def _maps(elt: cst.BaseExpression, var: str) -> bool:
    """`elt` looks `var` up (`vocab[var]`) or passes it to a call (`ord(var)`, `vocab.get(var)`)."""
    if isinstance(elt, cst.Subscript):
        return any(isinstance(el.slice, cst.Index) and isinstance(el.slice.value, cst.Name)
                   and el.slice.value.value == var for el in elt.slice)
    if isinstance(elt, cst.Call):
        return any(isinstance(a.value, cst.Name) and a.value.value == var for a in elt.args)
    return False


def _names(target: cst.BaseExpression) -> Iterator[cst.Name]:
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            yield from _names(el.value)
    elif isinstance(target, cst.StarredElement):
        yield from _names(target.value)


def _text(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)




def data_facts(ctx: object) -> DataFacts:
    return ctx.fact("data-pipeline", DataFacts.build)  # type: ignore[attr-defined]
