"""Content-hash cache of each file's final diagnostics (after suppression).

The key is sha256 over: the file's path and bytes (two files with the same text whose relative
imports resolve to different modules have different results), the tool version, the selected codes, the
per-file-ignores that apply to the file, a hash of the source of every rule/inference module
(editing a rule invalidates everything), and, when a cross-file project index is in use, the list
of files in the project (adding or removing a file can change what a call resolves to). The value
is the diagnostics' JSON plus the *dependencies*: every other project file whose summary the
analysis looked up, with its content hash. An entry whose dependency changed is a miss, so
editing `layers.py` re-checks the files that call into it and nothing else (mypy's and ruff's
approach). SC903 (a crash) is never stored: a re-run retries.

Layout: `<cache-dir>/v1/<2 hex>/<key>.json`, written atomically (tmp file + rename) so parallel
workers and interrupted runs never leave a torn entry. A folder the cache creates gets a
`.gitignore` of `*`; a folder that already existed never does (`--cache-dir .` must not make git
and shapecheck blind to the project), and the runner refuses a cache folder that holds the files
being checked. Entries are untrusted input: read without blocking, bounded in size, and anything
malformed (a 100,000-deep JSON array, a FIFO) is a miss.
Default `<project root>/.shapecheck_cache`, or `$SHAPECHECK_CACHE_DIR`, or `--cache-dir`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from shapecheck import __version__
from shapecheck.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, Severity

CACHE_VERSION = "v1"
MAX_ENTRY_BYTES = 8 * 1024 * 1024
_PACKAGE = Path(__file__).resolve().parent
# modules whose source decides what a file's diagnostics are
_ANALYSIS_DIRS = ("rules", "infer", "shapes", "fix")
_ANALYSIS_FILES = ("engine.py", "names.py", "diagnostics.py", "suppress.py", "notebooks.py", "cache.py")


@cache
def analysis_hash() -> str:
    """sha256 over the source of every module that decides a file's diagnostics."""
    h = hashlib.sha256(__version__.encode())
    files: list[Path] = [_PACKAGE / f for f in _ANALYSIS_FILES]
    for d in _ANALYSIS_DIRS:
        files.extend(sorted((_PACKAGE / d).rglob("*.py")))
    for f in files:
        try:
            h.update(f.relative_to(_PACKAGE).as_posix().encode())
            h.update(f.read_bytes())
        except OSError:
            continue
    return h.hexdigest()


def default_cache_dir(root: Path) -> Path:
    env = os.environ.get("SHAPECHECK_CACHE_DIR")
    return Path(env) if env else root / ".shapecheck_cache"


def cache_key(content: bytes, selected: Iterable[str], file_ignores: Iterable[str], extra: str = "",
              path: str = "") -> str:
    h = hashlib.sha256()
    for part in (analysis_hash(), ",".join(sorted(selected)), ",".join(sorted(file_ignores)), extra, path):
        h.update(part.encode())
        h.update(b"\0")
    h.update(content)
    return h.hexdigest()


def diagnostic_from_json(data: dict[str, Any], filename: str) -> Diagnostic:
    """The inverse of `Diagnostic.to_json` (the filename is the caller's: entries are path-free)."""
    fix = None
    if data.get("fix"):
        f = data["fix"]
        fix = Fix(
            Applicability(f["applicability"]),
            f["message"],
            [],
            [
                Edit(
                    e["content"],
                    Location(e["location"]["row"], e["location"]["column"]),
                    Location(e["end_location"]["row"], e["end_location"]["column"]),
                )
                for e in f["edits"]
            ],
        )
    return Diagnostic(
        data["code"],
        data["message"],
        filename,
        Location(data["location"]["row"], data["location"]["column"]),
        Location(data["end_location"]["row"], data["end_location"]["column"]),
        Severity(data["severity"]) if data.get("severity") else None,
        list(data.get("notes", [])),
        fix,
        data.get("cell"),
        data.get("noqa_row") if data.get("noqa_row") != data["location"]["row"] else None,
    )


class Cache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory / CACHE_VERSION

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str, filename: str, hashes: dict[str, str] | None = None) -> list[Diagnostic] | None:
        """The stored diagnostics, or None on a miss (absent, unreadable, or a dependency changed).
        `hashes`: path -> current content sha256 of the project's files."""
        from shapecheck.files import read_regular

        try:
            raw = json.loads(read_regular(self._path(key), MAX_ENTRY_BYTES).decode("utf-8"))
            for dep, digest in raw.get("deps", {}).items():
                if (hashes or {}).get(dep) != digest:
                    return None
            out = [diagnostic_from_json(d, filename) for d in raw["diagnostics"]]
            if not all(isinstance(d.code, str) and isinstance(d.message, str) for d in out):
                return None
            return out
        except Exception:  # noqa: BLE001 - a crafted entry (RecursionError, wrong types...) is a miss
            return None

    def put(self, key: str, diagnostics: list[Diagnostic], deps: dict[str, str] | None = None) -> None:
        if any(d.code == "SC903" for d in diagnostics):
            return
        path = self._path(key)
        try:
            _make_owned(self.directory.parent)
            _make_owned(self.directory)
            path.parent.mkdir(exist_ok=True)
            data = json.dumps({
                "deps": deps or {},
                "diagnostics": [{**d.to_json(), "filename": ""} for d in diagnostics],
            })
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only tree still gets its report; the cache is an optimisation


def _make_owned(directory: Path) -> None:
    """Create `directory` with a `.gitignore` of `*` in it; a folder that exists is left as it is
    (it may be the user's: `--cache-dir .` must not hide the project from git)."""
    if directory.is_dir():
        return
    try:
        directory.mkdir(parents=True)
    except FileExistsError:
        return  # another worker made it (and writes the marker)
    (directory / ".gitignore").write_text("# created by shapecheck\n*\n", encoding="utf-8")


def holds_any(directory: Path, files: Iterable[Path]) -> Path | None:
    """The first of `files` (absolute) inside `directory`, or None: a cache folder must not be
    one the run checks."""
    try:
        top = directory.resolve()
    except (OSError, RuntimeError):
        return None
    for f in files:
        if f == top or top in f.parents:
            return f
    return None


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
