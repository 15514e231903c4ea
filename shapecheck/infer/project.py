"""The project index: which file defines `mypkg.layers.Block`, parsed only when a call needs it.

Constructing a `ProjectIndex` only records file paths and the dotted module names they may go by
(`src/mypkg/layers.py` answers to `layers`, `mypkg.layers` and `src.mypkg.layers`; a name two
files could answer to is ambiguous and resolves to nothing). A file is parsed and summarised the
first time a lookup lands in it, then cached, so a `check` over a repository pays only for the
cross-file calls it actually makes.

    >>> index = ProjectIndex([Path("src/mypkg/layers.py")])
    >>> index.lookup("mypkg.layers.Block")      # doctest: +SKIP
    (ModuleSummary('mypkg.layers'), 'Block')
"""

from __future__ import annotations

from pathlib import Path

import libcst as cst

from shapecheck.infer.summary import ModuleSummary

_AMBIGUOUS = Path("<ambiguous>")


class ProjectIndex:
    def __init__(self, files: list[Path] | tuple[Path, ...] = ()) -> None:
        self._paths: dict[str, Path] = {}
        self._summaries: dict[Path, ModuleSummary | None] = {}
        for path in files:
            self.add(Path(path))

    def add(self, path: Path) -> None:
        if path.suffix != ".py":
            return
        parts = list(path.with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts = parts[:-1]
        parts = [p for p in parts if p not in ("/", "")]
        for start in range(len(parts)):
            name = ".".join(parts[start:])
            if not name or not all(p.isidentifier() for p in parts[start:]):
                continue
            previous = self._paths.get(name)
            self._paths[name] = path if previous is None or previous == path else _AMBIGUOUS

    def name_of(self, path: Path) -> str:
        """The dotted module name of `path`: its stem under every enclosing folder that is a
        package (has an `__init__.py`); what relative imports in that file are relative to."""
        parts = [path.stem]  # `pkg/__init__.py` -> `pkg.__init__`: `.x` in it is `pkg.x`
        folder = path.parent
        for _ in range(64):
            if not (folder / "__init__.py").exists() or not folder.name.isidentifier():
                break
            parts.insert(0, folder.name)
            folder = folder.parent
        return ".".join(parts)

    def module_path(self, dotted: str) -> Path | None:
        path = self._paths.get(dotted)
        return None if path is None or path == _AMBIGUOUS else path

    def summary(self, dotted: str) -> ModuleSummary | None:
        """The summary of module `dotted`, parsed on first use; None if unknown or unparsable."""
        path = self.module_path(dotted)
        if path is None:
            return None
        if path not in self._summaries:
            self._summaries[path] = _load(path, dotted)
        return self._summaries[path]

    def lookup(self, qualified: str) -> tuple[ModuleSummary, str] | None:
        """`'mypkg.layers.Block'` -> (summary of mypkg.layers, 'Block'), when the project has it."""
        module, _, attr = qualified.rpartition(".")
        if not module:
            return None
        summary = self.summary(module)
        if summary is None or (attr not in summary.functions and attr not in summary.classes):
            return None
        return summary, attr


def _load(path: Path, dotted: str) -> ModuleSummary | None:
    from shapecheck.files import read_regular  # never blocks on a FIFO, never reads /dev/zero
    from shapecheck.parsing import depth_problem  # never hands libcst a file that overflows it

    try:
        source = read_regular(path).decode("utf-8")
        if depth_problem(source) is not None:
            return None
        module = cst.parse_module(source)
    except (OSError, UnicodeDecodeError, cst.ParserSyntaxError, RecursionError, MemoryError):
        return None  # the file's own lint reports it; here it simply resolves nothing
    return ModuleSummary.build(module, name=dotted)
