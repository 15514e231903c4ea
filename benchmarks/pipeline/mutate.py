"""Mutation operators that inject GPU-pipeline and distributed-training bugs (SC7xx, SC502) into
real programs, and near-miss twins that must stay silent.

`mutants(name, source)` returns one `Mutant` per site, at most `CAP` per operator, spread evenly
over the sites. Deterministic: the same source gives the same mutants byte for byte, so
`confirmed.json` keys each verdict by the mutant's sha256 and nothing is stored but the originals.
The edits are line edits located with `ast` (a statement inserted after `X.backward()` at its
indentation, a keyword removed from a call...).

Mutants (the bug a practitioner writes; the rule that should find it):

    per_step_item        after `loss.backward()`: print(f"loss {loss.item():.4f}")          SC701
    per_step_print       after `loss.backward()`: print(loss)                                SC701
    per_step_cpu         epoch_preds = [] before the loop; after backward:
                         epoch_preds.append(out.detach().argmax(-1).cpu())                   SC701
    if_tensor            after backward: if torch.isnan(loss): raise FloatingPointError(..)  SC701
    invariant_copy       before backward: loss_weight = torch.tensor(1.0).to(DEVICE);
                         loss = loss * loss_weight                                           SC702
    cpu_one_side         loss = crit(out, y) -> crit(out.cpu(), y) and y's .to(DEVICE) dropped SC705
    num_workers_zero     DataLoader(.., num_workers=N) -> num_workers=0 (also {'num_workers': N})
                         SC703 when the dataset is not a TensorDataset (decided under torch;
                         on a TensorDataset the mutant is the twin `tensordataset_workers_zero`)
    pin_false_nonblocking pin_memory=True -> False where batches move with non_blocking=True;
                         x.pin_memory().to(d, non_blocking=True) -> x.to(d, non_blocking=True)  SC502
    drop_distributed_sampler  DataLoader(.., sampler=DistributedSampler(ds)) -> no sampler
                         (and `loader.sampler.set_epoch(e)` dropped with it)                 SC704
    drop_set_epoch       `sampler.set_epoch(epoch)` -> pass                                  SC704

Near-miss twins (must stay silent):

    logged_item          the per_step_item print under `if STEP % 10 == 0:` (STEP: the loop's counter)
    eval_item            print(f"{out.float().mean().item():.4f}") in an evaluation loop (no backward)
    cpu_only_item        per_step_item in a script whose device checks answer False (never on a GPU)
    device_accumulate    running_loss = torch.zeros((), device=DEVICE) before the loop;
                         running_loss += loss.detach() after backward
    tensordataset_workers_zero  (num_workers_zero on a TensorDataset loader; see above)
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

MUTANT_OPERATORS = (
    "per_step_item",
    "per_step_print",
    "per_step_cpu",
    "if_tensor",
    "invariant_copy",
    "cpu_one_side",
    "num_workers_zero",
    "pin_false_nonblocking",
    "drop_distributed_sampler",
    "drop_set_epoch",
)
TWIN_OPERATORS = ("logged_item", "eval_item", "cpu_only_item", "device_accumulate")
OPERATORS = MUTANT_OPERATORS + TWIN_OPERATORS
# The codes a mutant of each operator should get (the twins: none).
EXPECTED = {
    "per_step_item": "SC701", "per_step_print": "SC701", "per_step_cpu": "SC701", "if_tensor": "SC701",
    "invariant_copy": "SC702", "cpu_one_side": "SC705", "num_workers_zero": "SC703",
    "pin_false_nonblocking": "SC502", "drop_distributed_sampler": "SC704", "drop_set_epoch": "SC704",
    "tensordataset_workers_zero": "",
}
CAP = 1  # one site per operator and program: the torch runs take ~8 s each on this machine


@dataclass(frozen=True)
class Mutant:
    program: str
    operator: str
    site: int  # index among all sites of this operator in the program (before the cap)
    line: int  # 1-based line of the edit in the original
    before: str
    after: str
    source: str

    @property
    def twin(self) -> bool:
        return self.operator in TWIN_OPERATORS

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    @property
    def filename(self) -> str:
        return f"{self.program}__{self.operator}__{self.site}.py"


# An edit: (line index 0-based, number of lines replaced, new lines). Applied bottom-up.
Edit = tuple[int, int, list[str]]


class Program:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.splitlines(keepends=True)
        if self.lines and not self.lines[-1].endswith("\n"):
            self.lines[-1] += "\n"
        self.tree = ast.parse(source)
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node

    def text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""

    def indent(self, node: ast.stmt) -> str:
        line = self.lines[node.lineno - 1]
        return line[: len(line) - len(line.lstrip())]

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        while node in self.parent:
            node = self.parent[node]
            yield node

    def function(self, node: ast.AST) -> ast.AST:
        for a in self.ancestors(node):
            if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                return a
        return self.tree

    def loop(self, node: ast.AST) -> ast.For | ast.While | None:
        """The innermost loop around node in the same function."""
        for a in self.ancestors(node):
            if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                return None
            if isinstance(a, (ast.For, ast.While)):
                return a
        return None

    def outer_loop(self, node: ast.AST) -> ast.For | ast.While | None:
        """The outermost loop of node's function whose body holds node (an epoch loop)."""
        found = None
        for a in self.ancestors(node):
            if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                break
            if isinstance(a, (ast.For, ast.While)):
                found = a
        return found

    def apply(self, edits: list[Edit]) -> str:
        lines = list(self.lines)
        for start, n, new in sorted(edits, key=lambda e: e[0], reverse=True):
            lines[start:start + n] = new
        return "".join(lines)


def _calls(tree: ast.AST, attr: str) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attr:
            yield node


def _stmt_of(p: Program, node: ast.AST) -> ast.stmt:
    for a in (node, *p.ancestors(node)):
        if isinstance(a, ast.stmt):
            return a
    raise ValueError("no statement")


def _loss_expr(p: Program, call: ast.Call) -> str | None:
    """`loss` in loss.backward(), self.loss.backward(), scaler.scale(loss).backward()."""
    recv = call.func.value  # type: ignore[attr-defined]
    if isinstance(recv, ast.Call) and isinstance(recv.func, ast.Attribute) and recv.func.attr == "scale" and recv.args:
        recv = recv.args[0]
    if isinstance(recv, (ast.Name, ast.Attribute)):
        return p.text(recv)
    return None


def _backwards(p: Program) -> Iterator[tuple[ast.stmt, str]]:
    """Every `LOSS.backward()` expression statement (with a nameable loss) in a training step."""
    for call in _calls(p.tree, "backward"):
        if call.args or call.keywords:  # accelerator.backward(loss), fabric.backward(loss): the framework's step
            continue
        stmt = _stmt_of(p, call)
        if not (isinstance(stmt, ast.Expr) and stmt.value is call):
            continue
        loss = _loss_expr(p, call)
        if loss is None:
            continue
        yield stmt, loss


def _insert_after(p: Program, stmt: ast.stmt, body: list[str]) -> Edit:
    ind = p.indent(stmt)
    return (stmt.end_lineno, 0, [ind + b + "\n" for b in body])  # type: ignore[operator]


def _insert_before(p: Program, stmt: ast.stmt, body: list[str]) -> Edit:
    ind = p.indent(stmt)
    return (stmt.lineno - 1, 0, [ind + b + "\n" for b in body])


def _device_expr(p: Program, near: ast.AST) -> str | None:
    """The device argument of the nearest `.to(DEVICE)` call on a batch: in the function, the
    class, then the module (the first positional argument that is a name or attribute)."""
    scopes = [p.function(near)]
    for a in p.ancestors(near):
        if isinstance(a, ast.ClassDef):
            scopes.append(a)
    scopes.append(p.tree)
    for scope in scopes:
        for call in sorted(_calls(scope, "to"), key=lambda c: c.lineno):
            if call.args and isinstance(call.args[0], (ast.Name, ast.Attribute)) and p.text(call.args[0]) not in ("torch.float32", "torch.long"):
                recv = p.text(call.func.value)  # type: ignore[attr-defined]
                if "model" in recv.lower() or recv.startswith("nn.") or "criterion" in recv:
                    continue
                return p.text(call.args[0])
    return None


def _loss_assign(p: Program, backward: ast.stmt, loss: str) -> ast.Assign | None:
    """The `LOSS = f(OUT, Y, ...)` assignment before the backward statement in its function."""
    fn = p.function(backward)
    best = None
    for node in ast.walk(fn):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and p.text(node.targets[0]) == loss
                and isinstance(node.value, ast.Call) and len(node.value.args) >= 2
                and node.lineno < backward.lineno):
            if best is None or node.lineno > best.lineno:
                best = node
    return best


# ---------------------------------------------------------------------------------------------
# operators: each yields (line, edits)

def per_step_item(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for stmt, loss in _backwards(p):
        yield stmt.lineno, [_insert_after(p, stmt, [f'print(f"loss {{{loss}.item():.4f}}")'])]


def per_step_print(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for stmt, loss in _backwards(p):
        yield stmt.lineno, [_insert_after(p, stmt, [f"print({loss})"])]


def per_step_cpu(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for stmt, loss in _backwards(p):
        assign = _loss_assign(p, stmt, loss)
        loop = p.outer_loop(stmt)
        if assign is None or loop is None:
            continue
        out = assign.value.args[0]  # type: ignore[attr-defined]
        if not isinstance(out, (ast.Name, ast.Attribute, ast.Subscript)):
            continue
        yield stmt.lineno, [_insert_before(p, loop, ["epoch_preds = []"]),
                            _insert_after(p, stmt, [f"epoch_preds.append({p.text(out)}.detach().argmax(-1).cpu())"])]


def if_tensor(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for stmt, loss in _backwards(p):
        yield stmt.lineno, [_insert_after(p, stmt, [f"if torch.isnan({loss}):",
                                                    '    raise FloatingPointError("the loss is nan")'])]


def invariant_copy(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for stmt, loss in _backwards(p):
        device = _device_expr(p, stmt)
        if device is None:
            continue
        yield stmt.lineno, [_insert_before(p, stmt, [f"loss_weight = torch.tensor(1.0).to({device})",
                                                     f"{loss} = {loss} * loss_weight"])]


def cpu_one_side(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for stmt, loss in _backwards(p):
        assign = _loss_assign(p, stmt, loss)
        if assign is None:
            continue
        call = assign.value
        out, tgt = call.args[0], call.args[1]  # type: ignore[attr-defined]
        if not (isinstance(out, ast.Name) and isinstance(tgt, ast.Name)):
            continue
        # the move of the target, in the function, the class, then the module
        moves = []
        scopes = [p.function(stmt)] + [a for a in p.ancestors(stmt) if isinstance(a, ast.ClassDef)]
        for scope in scopes:
            moves = [c for c in _calls(scope, "to") if isinstance(c.func.value, ast.Name)  # type: ignore[attr-defined]
                     and c.func.value.id == tgt.id and c.lineno < assign.lineno + 1000]  # type: ignore[attr-defined]
            if moves:
                break
        if len(moves) != 1 or moves[0].lineno == assign.lineno:
            continue
        move = moves[0]
        mline = p.lines[move.lineno - 1]
        seg = p.text(move)
        if move.lineno != move.end_lineno or seg not in mline:
            continue
        aline = p.lines[assign.lineno - 1]
        if assign.lineno != assign.end_lineno:
            continue
        call_text = p.text(call)
        new_call = call_text.replace(f"({out.id},", f"({out.id}.cpu(),", 1)
        if new_call == call_text:
            continue
        yield assign.lineno, [(move.lineno - 1, 1, [mline.replace(seg, tgt.id, 1)]),
                              (assign.lineno - 1, 1, [aline.replace(call_text, new_call, 1)])]


_WORKERS_KW = re.compile(r"num_workers\s*=\s*[^,)\n]+")
_WORKERS_KEY = re.compile(r"""(['"]num_workers['"]\s*:\s*)[^,}\n]+""")


def num_workers_zero(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for node in ast.walk(p.tree):
        if isinstance(node, ast.Call) and p.text(node.func).endswith("DataLoader"):
            for kw in node.keywords:
                if kw.arg == "num_workers" and not (isinstance(kw.value, ast.Constant) and kw.value.value == 0):
                    i = kw.lineno - 1
                    line = p.lines[i]
                    new = _WORKERS_KW.sub("num_workers=0", line, count=1)
                    if new != line:
                        yield kw.lineno, [(i, 1, [new])]
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == "num_workers" and not (isinstance(v, ast.Constant) and v.value == 0):
                    i = k.lineno - 1
                    line = p.lines[i]
                    new = _WORKERS_KEY.sub(r"\g<1>0", line, count=1)
                    if new != line:
                        yield k.lineno, [(i, 1, [new])]


def pin_false_nonblocking(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    if "non_blocking=True" not in p.source:
        return
    for i, line in enumerate(p.lines):
        if "pin_memory=True" in line and not line.lstrip().startswith("#"):
            yield i + 1, [(i, 1, [line.replace("pin_memory=True", "pin_memory=False", 1)])]
        elif ".pin_memory().to(" in line and "non_blocking=True" in line:
            yield i + 1, [(i, 1, [line.replace(".pin_memory().to(", ".to(")])]


def _is_dist_sampler(p: Program, value: ast.AST) -> bool:
    if isinstance(value, ast.Call) and p.text(value.func).endswith("DistributedSampler"):
        return True
    if isinstance(value, ast.Name):  # sampler=train_sampler, assigned from DistributedSampler(...)
        for node in ast.walk(p.tree):
            if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == value.id for t in node.targets)
                    and isinstance(node.value, ast.Call) and p.text(node.value.func).endswith("DistributedSampler")):
                return True
    return False


def drop_distributed_sampler(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for node in ast.walk(p.tree):
        if not (isinstance(node, ast.Call) and p.text(node.func).endswith("DataLoader")):
            continue
        for kw in node.keywords:
            if kw.arg != "sampler" or not _is_dist_sampler(p, kw.value):
                continue
            i = kw.lineno - 1
            line = p.lines[i]
            seg = "sampler=" + p.text(kw.value)
            if kw.lineno != kw.end_lineno or seg not in line:
                continue
            new = line.replace(", " + seg, "", 1) if ", " + seg in line else line.replace(seg, "", 1)
            if new.strip() in ("", ","):
                new = ""
            edits: list[Edit] = [(i, 1, [new] if new else [])]
            # `loader.sampler.set_epoch(e)` needs the sampler: a practitioner drops it with it
            for call in _calls(p.tree, "set_epoch"):
                recv = call.func.value  # type: ignore[attr-defined]
                if isinstance(recv, ast.Attribute) and recv.attr == "sampler":
                    st = _stmt_of(p, call)
                    edits.append((st.lineno - 1, 1, [p.indent(st) + "pass\n"]))
            yield kw.lineno, edits


def drop_set_epoch(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for call in _calls(p.tree, "set_epoch"):
        st = _stmt_of(p, call)
        if isinstance(st, ast.Expr) and st.lineno == st.end_lineno:
            yield st.lineno, [(st.lineno - 1, 1, [p.indent(st) + "pass\n"])]


def _loop_counter(p: Program, loop: ast.AST | None) -> str | None:
    if isinstance(loop, ast.For):
        t = loop.target
        if isinstance(t, ast.Tuple) and t.elts and isinstance(t.elts[0], ast.Name) and "enumerate" in p.text(loop.iter):
            return t.elts[0].id
        if isinstance(t, ast.Name) and p.text(loop.iter).startswith("range("):
            return t.id
    return None


def logged_item(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for stmt, loss in _backwards(p):
        step = _loop_counter(p, p.loop(stmt))
        if step is None:
            continue
        yield stmt.lineno, [_insert_after(p, stmt, [f"if {step} % 10 == 0:",
                                                    f'    print(f"loss {{{loss}.item():.4f}}")'])]


def _under_no_grad(p: Program, node: ast.AST) -> bool:
    for a in p.ancestors(node):
        if isinstance(a, ast.With) and any("no_grad" in p.text(i.context_expr) or "inference_mode" in p.text(i.context_expr)
                                           for i in a.items):
            return True
    return False


def eval_item(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for loop in ast.walk(p.tree):
        if not isinstance(loop, ast.For) or not _under_no_grad(p, loop):
            continue
        if any(True for _ in _calls(loop, "backward")):
            continue
        moves = [c for c in ast.walk(loop) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
                 and c.func.attr in ("to", "cuda")]
        if not moves and "loader" not in p.text(loop.iter).lower():
            continue  # a loop over batches of a loader, not `for k in topk`
        for st in loop.body:
            if (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)
                    and isinstance(st.value, ast.Call) and "to" not in p.text(st.value.func).split(".")[-1:]):
                name = st.targets[0].id
                yield st.lineno, [_insert_after(p, st, [f'print(f"eval {{{name}.float().mean().item():.4f}}")'])]
                break


_DEVICE_CHECKS = (("torch.cuda.is_available()", "False"), ("torch.accelerator.is_available()", "False"),
                  ("torch.backends.mps.is_available()", "False"))


def cpu_only_item(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    if "DistributedDataParallel" in p.source or not any(a in p.source for a, _ in _DEVICE_CHECKS):
        return
    for line, edits in per_step_item(p):
        extra: list[Edit] = []
        for i, text in enumerate(p.lines):
            new = text
            for a, b in _DEVICE_CHECKS:
                new = new.replace(a, b)
            if new != text:
                extra.append((i, 1, [new]))
        # an edit on the same line as the insertion point must merge; inserts have n == 0
        yield line, edits + extra


def device_accumulate(p: Program) -> Iterator[tuple[int, list[Edit]]]:
    for stmt, loss in _backwards(p):
        loop = p.outer_loop(stmt)
        device = _device_expr(p, stmt)
        if loop is None or device is None:
            continue
        yield stmt.lineno, [_insert_before(p, loop, [f"running_loss = torch.zeros((), device={device})"]),
                            _insert_after(p, stmt, [f"running_loss += {loss}.detach()"])]


FUNCTIONS: dict[str, Callable[[Program], Iterator[tuple[int, list[Edit]]]]] = {
    name: globals()[name] for name in OPERATORS
}


def _spread(n: int, cap: int) -> list[int]:
    if n <= cap:
        return list(range(n))
    return sorted({round(i * (n - 1) / (cap - 1)) for i in range(cap)}) if cap > 1 else [0]


def mutants(name: str, source: str, cap: int = CAP) -> list[Mutant]:
    p = Program(source)
    out: list[Mutant] = []
    for op in OPERATORS:
        sites = list(FUNCTIONS[op](p))
        for k in _spread(len(sites), cap):
            line, edits = sites[k]
            new = p.apply(edits)
            try:
                ast.parse(new)
            except SyntaxError:
                continue
            if new == p.source or new == "".join(p.lines):
                continue
            before = p.lines[line - 1].strip()
            changed = [e for e in edits if e[2]]
            after = " | ".join(x.strip() for e in changed for x in e[2])[:300]
            out.append(Mutant(name, op, k, line, before, after, new))
    return out


if __name__ == "__main__":  # pragma: no cover - manual look
    import sys
    from pathlib import Path

    for path in sys.argv[1:] or sorted((Path(__file__).parent / "programs").glob("*.py")):
        path = Path(path)
        ms = mutants(path.stem, path.read_text(encoding="utf-8"))
        print(f"{path.stem}: {len(ms)}")
        for m in ms:
            print(f"  {m.operator:26} {m.site} L{m.line}: {m.before[:60]!r} -> {m.after[:110]!r}")
