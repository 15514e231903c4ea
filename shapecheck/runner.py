"""Orchestration of `shapecheck check`: discover -> cache -> lint -> suppress -> (fix) -> results.

The parent process discovers files, reads them, drops files that never mention a tensor library
(they are not even parsed, as TorchFix does), and answers what it can from the cache. Only the
misses go to the worker processes (`-j`, default: every core), each with its own project index.
Results are sorted by path, so the output does not depend on `-j`.

libcst is imported only when some file must actually be parsed: a pre-commit run on files that
are all cached, or that never mention torch, never pays its 0.3 s import.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import sys
import tokenize
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapecheck.cache import Cache, cache_key, content_hash, default_cache_dir, holds_any
from shapecheck.config import ConfigError, Settings
from shapecheck.diagnostics import Applicability, Diagnostic, Location
from shapecheck.files import read_regular
from shapecheck.notebooks import NotebookError, notebook_source
from shapecheck.suppress import PerFileIgnores, apply_suppressions

# Files that mention none of these are skipped without a parse.
MENTIONS = re.compile(rb"torch|numpy|jax|einops")
MAX_FIX_ROUNDS = 10
PARALLEL_THRESHOLD = 4  # fewer files than this are linted in-process: a pool costs more than it saves

ApplyFixes = Callable[..., tuple[str, list[Diagnostic]]]


@dataclass(frozen=True)
class CheckOptions:
    selected: frozenset[str]
    settings: Settings
    cwd: Path
    use_cache: bool = True
    cache_dir: Path | None = None
    jobs: int | None = None
    fix: bool = False
    diff: bool = False
    unsafe_fixes: bool = False
    force_exclude: bool = False

    @property
    def fixing(self) -> bool:
        return self.fix or self.diff


@dataclass
class FileResult:
    path: Path
    display: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    skipped: bool = False  # never mentions torch/numpy/jax/einops: not parsed
    cached: bool = False
    fixed: list[Diagnostic] = field(default_factory=list)
    diff: str = ""
    unwritten: str = ""  # why the fixes of this file were not written (--fix), else empty


@dataclass
class RunResult:
    files: list[FileResult]

    @property
    def diagnostics(self) -> list[Diagnostic]:
        out = [d for f in self.files for d in f.diagnostics]
        out.sort(key=Diagnostic.sort_key)
        return out

    @property
    def fixed(self) -> list[Diagnostic]:
        return [d for f in self.files for d in f.fixed]

    @property
    def internal_errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.code == "SC903"]

    @property
    def checked(self) -> list[FileResult]:
        return [f for f in self.files if not f.skipped]


def display_name(path: Path, cwd: Path) -> str:
    """Path as printed: relative to the working directory when below it (ruff's choice)."""
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return str(path)


def fix_applies(d: Diagnostic, unsafe: bool) -> bool:
    if d.fix is None or not d.fix.edits:
        return False
    if d.fix.applicability is Applicability.SAFE:
        return True
    return unsafe and d.fix.applicability is Applicability.UNSAFE


def load_apply_fixes() -> ApplyFixes | None:
    """`shapecheck.fix.apply.apply_fixes`, or None while that module does not exist."""
    try:
        from shapecheck.fix.apply import apply_fixes
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("shapecheck.fix"):
            return None
        raise
    return apply_fixes


def decode(content: bytes) -> str:
    """Text of a Python file, honouring a BOM and a PEP 263 coding cookie."""
    import io

    encoding, _ = tokenize.detect_encoding(io.BytesIO(content).readline)
    text = content.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _folder_error(path: Path) -> str:
    try:
        with os.scandir(path):
            return "it changed while shapecheck was reading it"
    except OSError as exc:
        return exc.strerror or str(exc)


def _tool_error(filename: str, message: str) -> Diagnostic:
    return Diagnostic("SC901", message, filename, Location(1, 1), Location(1, 1))


@dataclass(frozen=True)
class _Task:
    path: Path
    display: str
    content: bytes
    file_ignores: tuple[str, ...]
    key: str | None


# per-process state: set in the parent before forking, or by the pool initializer
_STATE: dict[str, Any] = {}


def _init_worker(options: CheckOptions, files: list[Path], hashes: dict[str, str], worker: bool = False) -> None:
    if worker:
        _worker_quiet()
    _STATE["options"] = options
    _STATE["files"] = files
    _STATE["hashes"] = hashes
    _STATE.pop("project", None)


def _project() -> Any:
    """This process's project index (None when shapecheck.infer.project is unavailable).

    It records every project file a lookup resolves to (`touched`), so that the cache can store
    each file's dependencies."""
    if "project" not in _STATE:
        try:
            from shapecheck.infer.project import ProjectIndex
        except ImportError:
            _STATE["project"] = None
        else:

            class RecordingIndex(ProjectIndex):  # type: ignore[misc, valid-type]
                touched: set[Path]

                def module_path(self, dotted: str) -> Path | None:
                    path = super().module_path(dotted)
                    if path is not None:
                        self.touched.add(path)
                    return path

            index = RecordingIndex(list(_STATE.get("files", [])))
            index.touched = set()
            _STATE["project"] = index
    return _STATE["project"]


def _dependencies(own: Path) -> dict[str, str] | None:
    """The project files this file's analysis looked into, with their content hashes; None when
    one of them cannot be hashed (then the result is not cached)."""
    index = _STATE.get("project")
    touched: set[Path] = getattr(index, "touched", set())
    hashes: dict[str, str] = _STATE.get("hashes", {})
    deps: dict[str, str] = {}
    for path in touched:
        if path == own:
            continue
        digest = hashes.get(str(path))
        if digest is None:
            return None
        deps[str(path)] = digest
    return deps


def _reset_dependencies() -> None:
    index = _STATE.get("project")
    if index is not None and hasattr(index, "touched"):
        index.touched.clear()


def lint_text(display: str, source: str, options: CheckOptions, file_ignores: Sequence[str]) -> list[Diagnostic]:
    """Lint + suppress one already-decoded Python source."""
    from shapecheck.engine import lint_source

    diagnostics = lint_source(display, source, sorted(options.selected), project=_project())
    diagnostics = [d for d in diagnostics if d.code in options.selected or d.code == "SC903"]
    return apply_suppressions(
        source, diagnostics, file_ignores=file_ignores, selected=options.selected, filename=display
    )


def _lint_notebook(task: _Task, options: CheckOptions) -> list[Diagnostic]:
    try:
        nb = notebook_source(decode(task.content))
    except (NotebookError, UnicodeDecodeError, SyntaxError) as exc:
        return [_tool_error(task.display, f"could not read the notebook: {exc}")]
    # cell coordinates, "line N" in messages as "cell C, line M"; fixes in cell coordinates
    # (written into the cells by the CLI, see notebooks.fix_notebook)
    return [nb.localize(d) for d in lint_text(task.display, nb.source, options, task.file_ignores)]


def _fix_loop(task: _Task, source: str, diagnostics: list[Diagnostic], options: CheckOptions,
              apply_fixes: ApplyFixes) -> tuple[str, list[Diagnostic], list[Diagnostic]]:
    """Apply fixes, re-lint, repeat (at most MAX_FIX_ROUNDS, like ruff); return the new source,
    the remaining diagnostics and the fixed ones."""
    fixed: list[Diagnostic] = []
    for _ in range(MAX_FIX_ROUNDS):
        fixable = [d for d in diagnostics if fix_applies(d, options.unsafe_fixes)]
        if not fixable:
            break
        new_source, applied = apply_fixes(source, fixable, unsafe=options.unsafe_fixes)
        if not applied or new_source == source:
            break
        fixed.extend(applied)
        source = new_source
        diagnostics = lint_text(task.display, source, options, task.file_ignores)
    return source, diagnostics, fixed


def check_task(task: _Task) -> FileResult:
    """Everything for one file that is not answered from the cache. Never raises: a failure is SC903."""
    options: CheckOptions = _STATE["options"]
    result = FileResult(task.path, task.display)
    _project()
    _reset_dependencies()
    try:
        if task.path.suffix == ".ipynb":
            result.diagnostics = _lint_notebook(task, options)
        else:
            try:
                source = decode(task.content)
            except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
                result.diagnostics = [_tool_error(task.display, f"could not decode the file: {exc}")]
                return result
            result.diagnostics = lint_text(task.display, source, options, task.file_ignores)
            if options.fixing and any(fix_applies(d, options.unsafe_fixes) for d in result.diagnostics):
                apply_fixes = load_apply_fixes()
                if apply_fixes is not None:
                    new, remaining, fixed = _fix_loop(task, source, result.diagnostics, options, apply_fixes)
                    if new != source:
                        if options.diff:
                            result.fixed = fixed
                            result.diff = unified_diff(source, new, task.display)
                            result.diagnostics = remaining
                        else:
                            problem = write_fixed(task.path, task.content, new)
                            if problem is not None:
                                result.unwritten = problem  # the diagnostics stay as they were
                                return result
                            result.fixed = fixed
                            result.diagnostics = remaining
                            return result  # the file changed: its old cache key is stale
    except RecursionError as exc:
        from shapecheck.engine import internal_error

        result.diagnostics = [internal_error(task.display, exc)]
    except Exception as exc:  # noqa: BLE001 - one file failing never stops the run (SC903)
        from shapecheck.engine import internal_error

        result.diagnostics = [internal_error(task.display, exc)]
    if task.key is not None and options.use_cache and not result.diff:
        deps = _dependencies(task.path)
        if deps is not None:
            Cache(_cache_dir(options)).put(task.key, result.diagnostics, deps)
    return result


def unified_diff(old: str, new: str, display: str) -> str:
    """A patch `git apply` and `patch` accept: a last line without a newline gets the
    `\\ No newline at end of file` marker."""
    out: list[str] = []
    for line in difflib.unified_diff(_patch_lines(old), _patch_lines(new),
                                     fromfile=f"a/{display}", tofile=f"b/{display}"):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _patch_lines(text: str) -> list[str]:
    """Lines as patch tools count them: ended by LF only. `str.splitlines` also splits at CR,
    form feeds, U+0085 and U+2028, which would make hunks `git apply` rejects."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def encode_like(original: bytes, new_source: str) -> bytes:
    """`new_source` in the encoding (and BOM) of `original`. Line endings are the source's own:
    fixes are applied in place, and `apply_fixes` writes inserted lines with the ending of the
    line they go into, so a mixed or CR-only file keeps every ending it had."""
    import io

    encoding, _ = tokenize.detect_encoding(io.BytesIO(original).readline)
    if encoding == "utf-8-sig":
        encoding = "utf-8"
        new_source = "\ufeff" + new_source
    return new_source.encode(encoding)


def write_fixed(path: Path, original: bytes, new_source: str) -> str | None:
    """Write the fixed source over `path` if the file still holds `original`; else, or when it
    cannot be written, say why (None: written). A file saved or deleted while the run was going
    is left alone: the fixes were computed for the content read at the start, and writing them
    would lose the edit or re-create the file."""
    try:
        data = encode_like(original, new_source)
    except (UnicodeError, SyntaxError, LookupError) as exc:
        return f"the fixed source cannot be encoded like the original ({exc})"
    try:
        current = read_regular(path)
    except OSError as exc:
        return f"the file cannot be read any more ({exc})"
    if content_hash(current) != content_hash(original):
        return "the file changed while shapecheck was running (run it again)"
    try:
        # O_TRUNC without O_CREAT: never re-creates a file deleted since the read above
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return "the file was deleted while shapecheck was running"
    except OSError as exc:
        return f"cannot write the file: {exc.strerror or exc}"
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        return f"cannot write the file: {exc.strerror or exc} (it may now be incomplete)"
    finally:
        os.close(fd)
    return None


def _write(path: Path, original: bytes, new_source: str) -> None:
    """Kept for callers outside the runner (`--add-noqa`): raises OSError when not written."""
    problem = write_fixed(path, original, new_source)
    if problem is not None:
        raise OSError(problem)


def _cache_dir(options: CheckOptions) -> Path:
    if options.cache_dir is not None:
        return options.cache_dir
    if options.settings.cache_dir is not None and not os.environ.get("SHAPECHECK_CACHE_DIR"):
        return options.settings.cache_dir
    return default_cache_dir(options.settings.root)


def _file_list_digest(files: Sequence[Path]) -> str:
    """Changes when a file is added or removed: what a cross-file call resolves to may change."""
    return hashlib.sha256("\0".join(map(str, files)).encode()).hexdigest()


def _project_index_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("shapecheck.infer.project") is not None
    except (ImportError, ValueError):
        return False


def run_check(
    files: Sequence[Path],
    options: CheckOptions,
    *,
    progress: Callable[[int], Any] | None = None,
) -> RunResult:
    """Check the discovered `files` (absolute paths). `progress(n)` is called as files finish."""
    per_file = PerFileIgnores(options.settings.per_file_ignores)
    cache = Cache(_cache_dir(options)) if options.use_cache else None
    if cache is not None:
        inside = holds_any(_cache_dir(options), files)
        if inside is not None:
            raise ConfigError(f"the cache folder {_cache_dir(options)} contains files being checked "
                              f"({display_name(inside, options.cwd)}): give --cache-dir a folder of its own")
    extra = _file_list_digest(files) if cache is not None and _project_index_available() else ""
    results: list[FileResult] = []
    tasks: list[_Task] = []
    contents: dict[Path, bytes] = {}
    hashes: dict[str, str] = {}
    for path in files:
        display = display_name(path, options.cwd)
        try:
            contents[path] = read_regular(path)
        except OSError as exc:
            if _is_dir(path):  # `discover` yields a folder it could not list
                results.append(FileResult(path, display, [_tool_error(display, f"could not read the folder: {_folder_error(path)}")]))
                continue
            results.append(FileResult(path, display, [_tool_error(display, f"could not read the file: {exc}")]))
            continue
        hashes[str(path)] = content_hash(contents[path])
    for path, content in contents.items():
        display = display_name(path, options.cwd)
        if not MENTIONS.search(content):
            results.append(FileResult(path, display, skipped=True))
            if progress:
                progress(1)
            continue
        try:
            rel = path.relative_to(options.settings.root).as_posix()
        except ValueError:
            rel = path.as_posix()
        file_ignores = per_file.codes_for(rel)
        key = None
        if cache is not None:
            key = cache_key(content, options.selected, file_ignores, extra, str(path))
            hit = cache.get(key, display, hashes)
            if hit is not None and not (options.fixing and any(fix_applies(d, options.unsafe_fixes) for d in hit)):
                results.append(FileResult(path, display, hit, cached=True))
                if progress:
                    progress(1)
                continue
        tasks.append(_Task(path, display, content, file_ignores, key))
    results.extend(_run_tasks(tasks, options, list(files), hashes, progress))
    results.sort(key=lambda r: r.display)
    for r in results:
        if r.unwritten:
            sys.stderr.write(f"{r.display}: fixes not written: {r.unwritten}\n")
    return RunResult(results)


def _run_tasks(tasks: list[_Task], options: CheckOptions, files: list[Path], hashes: dict[str, str],
               progress: Callable[[int], Any] | None) -> Iterator[FileResult]:
    if not tasks:
        return iter(())
    import shapecheck.engine  # noqa: F401 - imported before forking, so workers inherit it

    jobs = options.jobs or os.cpu_count() or 1
    jobs = min(jobs, len(tasks))
    _init_worker(options, files, hashes)
    if jobs <= 1 or len(tasks) < PARALLEL_THRESHOLD:
        out = []
        for t in tasks:
            out.append(check_task(t))
            if progress:
                progress(1)
        return iter(out)
    return iter(_pool_map(tasks, options, files, hashes, jobs, progress))


def _pool_map(tasks: list[_Task], options: CheckOptions, files: list[Path], hashes: dict[str, str], jobs: int,
              progress: Callable[[int], Any] | None) -> list[FileResult]:
    """The tasks' results from `jobs` worker processes.

    A worker that dies (a native crash, the OOM killer) breaks the pool: the tasks it had not
    answered are then re-run one per process, so that the run finishes and the file that kills
    its process is named (SC903) instead of the run hanging or aborting.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ctx = _mp_context()
    # largest files first, so one big file does not finish last on a lone worker
    ordered = sorted(tasks, key=lambda t: -len(t.content))
    size = max(1, min(16, len(ordered) // (jobs * 8)))
    chunks = [ordered[i:i + size] for i in range(0, len(ordered), size)]
    out: list[FileResult] = []
    done: set[int] = set()
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(options, files, hashes, True))
    try:
        futures = {pool.submit(_check_chunk, chunk): n for n, chunk in enumerate(chunks)}
        for future in as_completed(futures):
            try:
                results = future.result()
            except BrokenProcessPool:
                continue
            done.add(futures[future])
            out.extend(results)
            if progress:
                progress(len(results))
    except BrokenProcessPool:
        pass
    except BaseException:
        # Ctrl-C: the workers ignore SIGINT (no tracebacks from them), so stop them here rather
        # than wait for every queued file
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    for n, chunk in enumerate(chunks):
        if n not in done:
            for task in chunk:
                out.append(_check_isolated(task, options, files, hashes, ctx))
                if progress:
                    progress(1)
    return out


def _mp_context() -> Any:
    import multiprocessing as mp

    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods and sys.platform != "darwin" else "spawn")


def _check_chunk(chunk: list[_Task]) -> list[FileResult]:
    return [check_task(t) for t in chunk]


def _worker_quiet() -> None:
    """A worker leaves Ctrl-C to the parent and dies with it (Linux: PR_SET_PDEATHSIG), so that
    a parent killed by SIGTERM or Ctrl-C leaves no worker printing BrokenPipe tracebacks."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            if os.getppid() == 1:  # the parent died before the call
                os._exit(0)
        except (OSError, AttributeError):
            pass


def _isolated_child(conn: Any, task: _Task, options: CheckOptions, files: list[Path], hashes: dict[str, str]) -> None:
    _init_worker(options, files, hashes, True)
    conn.send(check_task(task))
    conn.close()


def _check_isolated(task: _Task, options: CheckOptions, files: list[Path], hashes: dict[str, str], ctx: Any) -> FileResult:
    """`check_task(task)` in a process of its own; SC903 naming the signal if that process dies."""
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_isolated_child, args=(child, task, options, files, hashes), daemon=True)
    proc.start()
    child.close()
    try:
        result: FileResult = parent.recv()
    except (EOFError, OSError):
        proc.join()
        code = proc.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return FileResult(task.path, task.display, [Diagnostic(
            "SC903", f"internal error while analysing this file: the worker process died ({how})",
            task.display, Location(1, 1), Location(1, 1),
            notes=["please report this at https://github.com/shapecheck/shapecheck/issues"])])
    finally:
        parent.close()
    proc.join()
    return result


def check_source(display: str, source: str, options: CheckOptions, *, path: Path | None = None,
                 project_files: Sequence[Path] = ()) -> tuple[str, FileResult]:
    """Lint (and, with `options.fixing`, fix) a source that does not come from disk: stdin, an
    editor buffer. Returns the fixed source (the input when nothing was fixed) and the result.
    Nothing is cached or written; `path` (possibly absent on disk) decides per-file-ignores and
    whether it is a notebook. The project index (summaries of the files calls resolve into) is
    kept between calls with the same options and files; `forget_project()` drops it after a save.
    Never raises: a failure is SC903."""
    path = path if path is not None else Path(display)
    result = FileResult(path, display)
    if _STATE.get("options") is not options or _STATE.get("files") != list(project_files):
        _init_worker(options, list(project_files), {})
    _reset_dependencies()
    new = source
    try:
        absolute = path if path.is_absolute() else options.cwd / path
        try:
            rel = absolute.relative_to(options.settings.root).as_posix()
        except ValueError:
            rel = path.as_posix()
        file_ignores = PerFileIgnores(options.settings.per_file_ignores).codes_for(rel)
        task = _Task(path, display, source.encode("utf-8"), file_ignores, None)
        if path.suffix == ".ipynb":
            result.diagnostics = _lint_notebook(task, options)
            return new, result
        result.diagnostics = lint_text(display, source, options, file_ignores)
        if options.fixing and any(fix_applies(d, options.unsafe_fixes) for d in result.diagnostics):
            apply_fixes = load_apply_fixes()
            if apply_fixes is not None:
                new, result.diagnostics, result.fixed = _fix_loop(task, source, result.diagnostics, options, apply_fixes)
                if options.diff and new != source:
                    result.diff = unified_diff(source, new, display)
    except Exception as exc:  # noqa: BLE001 - RecursionError included: SC903, never a traceback
        from shapecheck.engine import internal_error

        result.diagnostics = [internal_error(display, exc)]
    return new, result


def forget_project() -> None:
    """Drop this process's project index (a project file changed on disk)."""
    _STATE.pop("project", None)


def last_dependencies() -> set[Path]:
    """The project files the last `check_source`/`check_task` analysis looked into."""
    return set(getattr(_STATE.get("project"), "touched", set()))


class _HashOnDemand(dict):  # type: ignore[type-arg]
    """path -> content hash, read the first time a cache entry asks about a dependency."""

    def get(self, key: str, default: Any = None) -> Any:  # noqa: ANN401
        if key not in self:
            try:
                self[key] = content_hash(read_regular(Path(key)))
            except OSError:
                self[key] = None
        return dict.get(self, key) if dict.get(self, key) is not None else default


def cached_diagnostics(path: Path, content: bytes, options: CheckOptions, files: Sequence[Path]) -> list[Diagnostic] | None:
    """What `run_check(files, options)` would answer from the cache for `path` holding `content`
    (None on a miss): the editor server uses it when a buffer is what is on disk, so opening a
    file that `check` already saw costs a lookup. The key is built exactly as in `run_check`
    (tests/test_server_session.py pins that the two agree)."""
    if not options.use_cache or path.suffix == ".ipynb" or not MENTIONS.search(content):
        return None
    extra = _file_list_digest(files) if _project_index_available() else ""
    try:
        rel = path.relative_to(options.settings.root).as_posix()
    except ValueError:
        rel = path.as_posix()
    file_ignores = PerFileIgnores(options.settings.per_file_ignores).codes_for(rel)
    key = cache_key(content, options.selected, file_ignores, extra, str(path))
    return Cache(_cache_dir(options)).get(key, display_name(path, options.cwd), _HashOnDemand())
