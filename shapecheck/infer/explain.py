"""`shapecheck shapes FILE`: the source with the inferred shape of each tensor-valued assignment
beside it, our `reveal_type` (mypy) and the shape thinking made visible:

    def forward(self, x: Float[Tensor, "b s d_model"]):
        q = self.q(x)                                  # q: (b, s, d_model) float
        q = q.view(b, s, self.h, d_model // self.h)    # q: (b, s, h, d_model // h) float

`reveal(source)` returns the same facts as data (line -> [(target, text)]) for tests.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import libcst as cst

from shapecheck.infer.interpreter import FileAnalysis, FunctionResult, Interpreter
from shapecheck.infer.project import ProjectIndex
from shapecheck.infer.summary import ModuleSummary
from shapecheck.infer.values import TensorValue, TupleValue, Value
from shapecheck.tree import positions as node_positions


def describe(value: Value) -> str:
    """`(b, s, d) float32 cuda`; `?` for an unknown shape; tuples as `((b, d), (b,))`."""
    if isinstance(value, TensorValue):
        parts = [str(value.shape) if value.shape.known else "?"]
        if value.dtype:
            parts.append(value.dtype)
        if value.device:
            parts.append(value.device)
        return " ".join(parts)
    if isinstance(value, TupleValue):
        return "(" + ", ".join(describe(v) for v in value.items) + ")"
    return "?"


def analyse_source(source: str, path: Path | None = None) -> tuple[cst.Module, FileAnalysis]:
    module = cst.parse_module(source)
    summary = ModuleSummary.build(module)
    project = None
    if path is not None:
        project = ProjectIndex(_nearby_files(_project_root(path.resolve())))
    return module, Interpreter(summary, project).analyse()


def _project_root(path: Path) -> Path:
    """The folder above the outermost package holding `path` (or its own folder)."""
    folder = path.parent
    while (folder / "__init__.py").exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def _nearby_files(root: Path, limit: int = 5000) -> list[Path]:
    """The .py files under the file's folder (hidden folders and virtualenvs skipped): paths only,
    the project index parses one only when a call resolves into it."""
    found: list[Path] = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        if any(p.startswith(".") or p in ("venv", "node_modules", "__pycache__", "site-packages") for p in parts[:-1]):
            continue
        found.append(path)
        if len(found) >= limit:
            break
    return sorted(found)


def _selected(functions: list[FunctionResult], function: str | None) -> list[FunctionResult]:
    if function is None:
        return functions
    return [f for f in functions if f.name == function or f.name == function.rpartition(".")[2]]


def _vague(value: Value) -> bool:
    """A tensor whose rank or some size is unknown (a caller's context may know better)."""
    if isinstance(value, TupleValue):
        return any(_vague(v) for v in value.items)
    return isinstance(value, TensorValue) and (value.shape.rank is None or any(getattr(d, "is_unknown", False) for d in value.shape.dims))


def reveal(source: str, function: str | None = None, path: Path | None = None) -> dict[int, list[tuple[str, str]]]:
    """line (1-based) -> [(target, description)] for every tensor-valued assignment."""
    module, analysis = analyse_source(source, path)
    positions = node_positions(module)
    out: dict[int, list[tuple[str, str]]] = defaultdict(list)
    # (line, target) already shown: a function's own run wins over its callers' contexts, and
    # the first call (usually the training loop) over later ones
    own: set[tuple[int, str]] = set()
    for fn in _selected(analysis.functions, function):
        for assignment in fn.assignments:
            rng = positions.get(assignment.node)
            if rng is None:
                continue
            entry = (assignment.target, describe(assignment.value))
            line = rng.start.line
            if fn.context and (line, assignment.target) in own:
                continue
            if not fn.context or not any(t == assignment.target for t, _ in out[line]):
                if not (not fn.context and _vague(assignment.value)):
                    own.add((line, assignment.target))  # a vague value of its own run gives way
            if entry in out[line]:
                continue
            # a target reassigned on the same line (loops): keep the last, widened value
            out[line] = [e for e in out[line] if e[0] != assignment.target] + [entry]
    return dict(out)


def function_lines(source: str, function: str) -> tuple[int, int] | None:
    """First and last line of the function (or `Class.method`) named `function`."""
    module = cst.parse_module(source)
    positions = node_positions(module)
    cls_name, _, fn_name = function.rpartition(".")
    for node, rng in positions.items():
        if isinstance(node, cst.FunctionDef) and node.name.value == fn_name:
            if cls_name:
                owner = [n for n, r in positions.items() if isinstance(n, cst.ClassDef) and n.name.value == cls_name
                         and r.start.line <= rng.start.line <= r.end.line]
                if not owner:
                    continue
            return rng.start.line, rng.end.line
    return None


def run_shapes(path: Path, function: str | None = None, color: bool = False) -> int:
    """Print `path` with inferred shapes beside its assignments. 0 on success, 2 on a file that
    cannot be read or parsed (one clear line on stderr)."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"shapecheck shapes: cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}", file=sys.stderr)
        return 2
    try:
        shapes = reveal(source, function, path)
    except cst.ParserSyntaxError as exc:
        print(f"shapecheck shapes: cannot parse {path}:{exc.raw_line}:{exc.raw_column + 1}: "
              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'invalid syntax'}", file=sys.stderr)
        return 2
    lines = source.splitlines()
    first, last = 1, len(lines)
    if function is not None:
        span = function_lines(source, function)
        if span is None:
            print(f"shapecheck shapes: no function {function!r} in {path}", file=sys.stderr)
            return 2
        first, last = span
    width = max((len(lines[i - 1]) for i in range(first, last + 1) if i in shapes), default=0)
    rendered: list[tuple[str, str]] = []
    for number in range(first, last + 1):
        text = lines[number - 1] if number - 1 < len(lines) else ""
        note = ""
        if number in shapes:
            note = "# " + "; ".join(f"{target}: {desc}" for target, desc in shapes[number])
        rendered.append((text, note))
    if color:
        from rich.console import Console
        from rich.text import Text

        console = Console(highlight=False)
        for text, note in rendered:
            line = Text(text.ljust(width) if note else text)
            if note:
                line.append("  " + note, style="bold cyan")
            console.print(line, soft_wrap=True)
    else:
        out = sys.stdout
        for text, note in rendered:
            out.write((text.ljust(width) + "  " + note if note else text).rstrip() + "\n")
    return 0
