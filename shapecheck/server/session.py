"""What the language server knows and computes, without any LSP: the open workspace's settings
(each file's nearest config, as `check`), lint results of editor buffers, fixes, `# noqa`
edits, hover text and inlay hints. Rows and columns are 1-based code points here, as in
`Diagnostic`; `lsp.py` converts to the client's encoding.

Incremental: a buffer that is what is on disk is first looked up in `check`'s cache; a buffer
is re-analysed when its text changes (results are memoised by content);
on a save, the project index (the summaries of the files that calls resolve into) is dropped
and the open files whose analysis looked into the saved file are re-analysed: their
dependencies are recorded at each analysis, as the cache records them for `check`.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from shapecheck.config import ConfigError, Layer, Settings
from shapecheck.diagnostics import RULES, Diagnostic
from shapecheck.workspace import Workspace

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_DIRECTIVE = re.compile(r"#\s*(?:noqa|shapecheck\s*:\s*(?:noqa|ignore))", re.IGNORECASE)
_CODE = re.compile(r"\b[A-Z]{2}\d{3}\b", re.IGNORECASE)
MAX_PROJECT_FILES = 20000


@dataclass
class ClientSettings:
    """What the editor may set (initializationOptions / didChangeConfiguration)."""

    inlay_hints: bool = False
    unsafe_fixes: bool = False
    config: Path | None = None

    @classmethod
    def from_json(cls, data: object, base: ClientSettings | None = None) -> ClientSettings:
        out = replace(base) if base else cls()
        if isinstance(data, dict):
            data = data.get("shapecheck", data)
        if not isinstance(data, dict):
            return out
        if isinstance(data.get("inlayHints"), bool):
            out.inlay_hints = data["inlayHints"]
        if isinstance(data.get("unsafeFixes"), bool):
            out.unsafe_fixes = data["unsafeFixes"]
        if isinstance(data.get("config"), str) and data["config"]:
            out.config = Path(data["config"]).expanduser()
        return out


@dataclass
class _Analysis:
    digest: str
    diagnostics: list[Diagnostic]
    deps: set[Path] = field(default_factory=set)
    from_cache: bool = False  # answered by `check`'s cache: dependencies not known here


class Session:
    def __init__(self, root: Path, client: ClientSettings | None = None) -> None:
        self.root = root.resolve()
        self.client = client or ClientSettings()
        self.config_error: str | None = None
        self._analyses: dict[Path, _Analysis] = {}
        self._reveals: dict[str, dict[int, list[tuple[str, str]]] | None] = {}
        self.reload()

    # ---- settings

    def reload(self) -> None:
        """Re-read every config (a config file changed, or the client's settings did)."""
        from shapecheck.runner import forget_project

        try:
            self.ws: Workspace | None = Workspace(self.root, self.client.config, Layer())
            self.config_error = None
        except ConfigError as exc:
            self.ws, self.config_error = None, str(exc)
        self._options: dict[tuple[int, bool], object] = {}
        self._project: list[Path] | None = None
        self._files: list[Path] | None = None
        self._analyses.clear()
        forget_project()

    def settings_for(self, path: Path) -> Settings | None:
        if self.ws is None:
            return None
        probe = path if path.exists() else path.parent
        try:
            return self.ws.settings_for(probe if probe.exists() else self.root)
        except ConfigError as exc:
            self.config_error = str(exc)
            return None

    def _options_for(self, settings: Settings, fix: bool) -> object:
        from shapecheck.runner import CheckOptions

        assert self.ws is not None
        key = (id(settings), fix)
        if key not in self._options:
            self._options[key] = CheckOptions(
                selected=self.ws.selected_for(settings), settings=settings, cwd=self.root, use_cache=False,
                fix=fix, unsafe_fixes=self.client.unsafe_fixes,
            )
        return self._options[key]

    def all_files(self) -> list[Path]:
        """What `check` finds in the workspace (paths only)."""
        if self._files is None:
            try:
                self._files = self.ws.discover([self.root]) if self.ws is not None else []
            except ConfigError:
                self._files = []
        return self._files

    def project_files(self) -> list[Path]:
        """The workspace's .py files (the index parses one when a call resolves into it)."""
        if self._project is None:
            self._project = [f for f in self.all_files() if f.suffix == ".py"][:MAX_PROJECT_FILES]
        return self._project

    def _from_check_cache(self, path: Path, text: str, settings: Settings) -> list[Diagnostic] | None:
        """`check`'s cached answer when the buffer is what is on disk (opening a file costs a
        lookup); None otherwise."""
        from dataclasses import replace as replace_options

        from shapecheck.runner import cached_diagnostics

        try:
            if path.read_bytes() != text.encode("utf-8"):
                return None
        except (OSError, UnicodeEncodeError):
            return None
        assert self.ws is not None
        group = [f for f in self.all_files() if self.ws.settings_for(f) is settings]
        if path not in group:
            return None
        options = replace_options(self._options_for(settings, fix=False), use_cache=True)  # type: ignore[type-var]
        try:
            return cached_diagnostics(path, text.encode("utf-8"), options, group)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - the cache is an optimisation: any failure is a miss
            return None

    # ---- diagnostics and fixes

    def lint(self, path: Path, text: str) -> list[Diagnostic]:
        """The findings of the buffer `text` of `path` (memoised by content)."""
        from shapecheck.runner import check_source, last_dependencies

        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        hit = self._analyses.get(path)
        if hit is not None and hit.digest == digest:
            return hit.diagnostics
        settings = self.settings_for(path)
        if settings is None or self.ws is None:
            return []
        if hit is None:  # first look at this file: `check` may have answered it already
            cached = self._from_check_cache(path, text, settings)
            if cached is not None:
                for d in cached:
                    d.filename = str(path)
                    self.ws.apply_severity(d, settings)
                self._analyses[path] = _Analysis(digest, cached, set(), from_cache=True)
                return cached
        options = self._options_for(settings, fix=False)
        _, result = check_source(str(path), text, options, path=path, project_files=self.project_files())  # type: ignore[arg-type]
        for d in result.diagnostics:
            self.ws.apply_severity(d, settings)
        self._analyses[path] = _Analysis(digest, result.diagnostics, last_dependencies() - {path})
        return result.diagnostics

    def saved(self, path: Path, open_paths: list[Path]) -> list[Path]:
        """`path` changed on disk: forget what was derived from it; the open files to re-lint."""
        from shapecheck.runner import forget_project

        forget_project()
        stale = [p for p in open_paths if p != path and (
            path in self._analyses.get(p, _Analysis("", [])).deps or self._analyses.get(p, _Analysis("", [])).from_cache)]
        for p in stale:
            self._analyses.pop(p, None)
        return stale

    def closed(self, path: Path) -> None:
        self._analyses.pop(path, None)

    def fix_all(self, path: Path, text: str) -> str | None:
        """The buffer with every applicable fix applied (re-linted between rounds, as `--fix`);
        None when nothing changes."""
        from shapecheck.runner import check_source

        settings = self.settings_for(path)
        if settings is None or path.suffix == ".ipynb":
            return None
        options = self._options_for(settings, fix=True)
        new, _ = check_source(str(path), text, options, path=path, project_files=self.project_files())  # type: ignore[arg-type]
        return new if new != text else None

    @staticmethod
    def noqa_line(text: str, d: Diagnostic) -> tuple[int, str] | None:
        """(row, new text of that row) that adds `# noqa: CODE` for `d`; None when impossible."""
        from shapecheck.suppress import add_noqa

        new, n = add_noqa(text, [d])
        if not n:
            return None
        old_lines, new_lines = text.splitlines(), new.splitlines()
        for row, (a, b) in enumerate(zip(old_lines, new_lines), start=1):
            if a != b:
                return row, b
        return None

    # ---- hover and inlay hints

    def _reveal(self, path: Path, text: str) -> dict[int, list[tuple[str, str]]] | None:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if digest not in self._reveals:
            if len(self._reveals) > 64:
                self._reveals.clear()
            try:
                from shapecheck.infer.explain import reveal

                self._reveals[digest] = reveal(text, None, path if path.exists() else None)
            except Exception:  # noqa: BLE001 - a buffer mid-edit does not parse: no shapes, no error
                self._reveals[digest] = None
        return self._reveals[digest]

    def _expressions(self, path: Path, text: str) -> list[tuple[int, int, int, int, str]] | None:
        """(start row, start col, end row, end col, description) of every expression the
        interpreter evaluated in this file's own functions with something known (rows and
        columns 1-based, end exclusive); memoised by content."""
        digest = "expr:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if digest not in self._reveals:
            if len(self._reveals) > 64:
                self._reveals.clear()
            try:
                self._reveals[digest] = _evaluated_expressions(text, self.project_files())  # type: ignore[assignment]
            except Exception:  # noqa: BLE001 - mid-edit or an analysis failure: no hover, no error
                self._reveals[digest] = None
        return self._reveals[digest]  # type: ignore[return-value]

    def hover(self, path: Path, text: str, row: int, column: int) -> str | None:
        """Markdown for the position (1-based row and column): a rule's page on a code in a
        suppression comment, else the inferred shape of the name under the cursor."""
        lines = text.splitlines()
        if not 1 <= row <= len(lines):
            return None
        line = lines[row - 1]
        page = self._rule_hover(text, line, row, column)
        if page is not None:
            return page
        if path.suffix == ".ipynb" or not line.strip():
            return None
        # the innermost evaluated expression under the cursor (`x @ w`, `self.fc(x)`, a name)
        best = None
        for r0, c0, r1, c1, desc in self._expressions(path, text) or ():
            if (r0, c0) <= (row, column) < (r1, c1) or (r0, c0) <= (row, column) == (r1, c1):
                size = (r1 - r0, c1 - c0 if r1 == r0 else c1)
                if best is None or size < best[0]:
                    best = (size, r0, c0, r1, c1, desc)
        if best is not None:
            _, r0, c0, r1, c1, desc = best
            source = _slice(lines, r0, c0, r1, c1)
            if len(source) > 60:
                source = source[:57] + "..."
            return f"```\n{source}: {desc}\n```\nshape inferred by shapecheck"
        name = _name_at(line, column - 1)
        if name is None:
            return None
        shapes = self._reveal(path, text)
        if shapes is None:
            return None  # mid-edit, does not parse
        fn = _enclosing_function(text, row)
        first = fn.lineno if fn is not None else 1
        for r in range(row, first - 1, -1):
            for target, desc in reversed(shapes.get(r, [])):
                if target == name:
                    where = "" if r == row else f" (assigned on line {r})"
                    return f"```\n{target}: {desc}\n```\nshape inferred by shapecheck{where}"
        return _parameter_hover(fn, name)

    @staticmethod
    def _rule_hover(text: str, line: str, row: int, column: int) -> str | None:
        m = _DIRECTIVE.search(line)
        if m is None or column - 1 < m.start():
            return None
        from shapecheck.suppress import comments_by_row

        comment = comments_by_row(text).get(row)
        if comment is None or comment[0] > m.start():
            return None  # the `#` is inside a string
        for code in _CODE.finditer(line, m.end()):
            if code.start() <= column - 1 < code.end():
                return rule_page(code.group(0).upper())
        return None

    def inlay_hints(self, path: Path, text: str, first: int, last: int) -> list[tuple[int, int, str]]:
        """(row, column after the target, label) for each assignment in rows first..last, when
        the client turned inlay hints on."""
        if not self.client.inlay_hints or path.suffix == ".ipynb":
            return []
        shapes = self._reveal(path, text) or {}
        lines = text.splitlines()
        out: list[tuple[int, int, str]] = []
        for row in range(max(1, first), min(last, len(lines)) + 1):
            for target, desc in shapes.get(row, []):
                line = lines[row - 1]
                at = _target_end(line, target)
                if at is not None:
                    out.append((row, at + 1, f": {desc}"))
        return out


def _evaluated_expressions(text: str, project_files: list[Path]) -> list[tuple[int, int, int, int, str]]:
    import libcst as cst

    from shapecheck.infer.explain import describe
    from shapecheck.infer.interpreter import Interpreter
    from shapecheck.infer.project import ProjectIndex
    from shapecheck.infer.summary import ModuleSummary
    from shapecheck.infer.values import TensorValue, TupleValue
    from shapecheck.tree import positions

    module = cst.parse_module(text)
    interpreter = Interpreter(ModuleSummary.build(module), ProjectIndex(project_files) if project_files else None)
    seen: dict[cst.CSTNode, object] = {}

    def observe(node: cst.BaseExpression, value: object) -> None:
        if isinstance(value, (TensorValue, TupleValue)):
            seen[node] = value  # the last pass wins: loops are widened
    interpreter.observe = observe
    interpreter.analyse()
    ranges = positions(module)
    out: list[tuple[int, int, int, int, str]] = []
    for node, value in seen.items():
        rng = ranges.get(node)
        desc = describe(value)  # type: ignore[arg-type]
        if rng is None or desc.strip("?() ,") == "":
            continue
        out.append((rng.start.line, rng.start.column + 1, rng.end.line, rng.end.column + 1, desc))
    return out


def _slice(lines: list[str], r0: int, c0: int, r1: int, c1: int) -> str:
    if r0 == r1:
        return lines[r0 - 1][c0 - 1: c1 - 1]
    parts = [lines[r0 - 1][c0 - 1:], *lines[r0: r1 - 1], lines[r1 - 1][: c1 - 1]]
    return " ".join(p.strip() for p in parts)


def rule_page(code: str) -> str | None:
    info = RULES.get(code)
    if info is None:
        return None
    from shapecheck.rules import all_rules

    rule = all_rules().get(code)
    if rule is not None:
        from shapecheck.docs import render_page

        return render_page(rule)
    return f"# {info.name} ({code})\n\n{info.summary[0].upper()}{info.summary[1:]}.\n\nSeverity: {info.severity.value}."


def _name_at(line: str, index: int) -> str | None:
    """The dotted name under `index` (0-based), up to the segment the cursor is in:
    `self.q(x)` with the cursor on `q` -> `self.q`; on `self` -> `self`."""
    for m in _NAME.finditer(line):
        if m.start() <= index < m.end() or (index == m.end() and index > m.start()):
            cut = line.find(".", index, m.end())
            return line[m.start(): cut if cut >= 0 else m.end()]
    return None


def _enclosing_function(text: str, row: int) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The innermost function around `row` (None when none, or the text does not parse)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    best: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            end = getattr(node, "end_lineno", None) or node.lineno
            if node.lineno <= row <= end and (best is None or node.lineno > best.lineno):
                best = node
    return best


_JAXTYPING = re.compile(r"^\w+\[\s*[\w.]+\s*,\s*(['\"])(?P<dims>.*)\1\s*\]$")


def _parameter_hover(fn: ast.FunctionDef | ast.AsyncFunctionDef | None, name: str) -> str | None:
    """A parameter's jaxtyping annotation, read as a shape: `x: Float[Tensor, "b s d"]` ->
    `x: (b, s, d)`; what the analysis starts from in this function."""
    if fn is None:
        return None
    args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
    for arg in args:
        if arg.arg != name or arg.annotation is None:
            continue
        annotation = ast.unparse(arg.annotation)
        m = _JAXTYPING.match(annotation)
        if m is None:
            return None
        dims = m.group("dims").split()
        return (f"```\n{name}: ({', '.join(dims)})\n```\n"
                f"from its annotation `{annotation}` (the dims are bound per call)")
    return None


def _target_end(line: str, target: str) -> int | None:
    """0-based column just after `target` where the line assigns to it, else None."""
    start = 0
    while True:
        at = line.find(target, start)
        if at < 0:
            return None
        end = at + len(target)
        before = line[at - 1] if at else " "
        after = line[end:].lstrip()
        if (before in " (,\t" or at == len(line) - len(line.lstrip())) and after[:1] in ("=", ":", ",", ")") \
                and not after.startswith("=="):
            return end
        start = end
