"""What `shapecheck check` does once its options are parsed: discover, run each config's files,
fix notebooks, add noqa, apply the baseline, report, and choose the exit status.

The command-line layer (`cli.py`) only turns flags into a `CheckRequest`. Every problem the user
can cause is a `ConfigError` (one line on stderr, exit 2).

Exit status: 0 clean (or only findings below the fail level: an info finding never fails a
build unless `--fail-level info`), 1 findings at or above the fail level (or, with `--diff`,
changes to make), 2 usage, configuration or internal error (SC903). `--exit-zero` turns 1 into 0.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shapecheck.config import ConfigError, Layer, Settings

if TYPE_CHECKING:
    from shapecheck.report import Report
    from shapecheck.runner import CheckOptions, RunResult
    from shapecheck.workspace import Workspace

PROGRESS_MIN_FILES = 50
TEXT_FORMATS = ("concise", "full")


@dataclass
class CheckRequest:
    targets: list[Path]
    cli_layer: Layer
    fmt: str = "concise"
    output_file: Path | None = None
    statistics: bool = False
    exit_zero: bool = False
    fail_level: str | None = None
    use_cache: bool = True
    cache_dir: Path | None = None
    jobs: int | None = None
    fix: bool = False
    unsafe_fixes: bool = False
    diff: bool = False
    show_fixes: bool = False
    add_noqa: bool = False
    baseline: Path | None = None
    update_baseline: bool = False
    force_exclude: bool = False
    config: Path | None = None
    stdin: bool = False
    stdin_filename: str | None = None
    show_settings: bool = False
    show_files: bool = False
    watch: bool = False
    quiet: int = 0
    verbose: bool = False
    progress: bool = True
    color: Callable[[object], bool] = lambda stream: False
    cwd: Path = dataclasses.field(default_factory=Path.cwd)

    def options(self, settings: Settings, selected: frozenset[str], **changes: object) -> CheckOptions:
        from shapecheck.runner import CheckOptions

        options = CheckOptions(
            selected=selected, settings=settings, cwd=self.cwd, use_cache=self.use_cache,
            cache_dir=self.cache_dir, jobs=self.jobs, fix=self.fix and not self.diff, diff=self.diff,
            unsafe_fixes=self.unsafe_fixes, force_exclude=self.force_exclude,
        )
        return dataclasses.replace(options, **changes) if changes else options  # type: ignore[arg-type]


def run_request(req: CheckRequest) -> int:
    """The exit status of `check`; raises ConfigError for anything the user must fix."""
    from shapecheck.workspace import Workspace

    if req.stdin and len(req.targets) > 1:
        raise ConfigError("`-` (stdin) cannot be combined with other paths")
    if req.stdin_filename is not None and not req.stdin:
        raise ConfigError("--stdin-filename needs `-` as the path")
    if req.update_baseline and req.baseline is None:
        raise ConfigError("--update-baseline needs --baseline FILE")
    if req.add_noqa and (req.fix or req.diff or req.stdin):
        raise ConfigError("--add-noqa cannot be combined with --fix, --diff or stdin")
    if (req.fix or req.diff) and _apply_fixes_missing():
        raise ConfigError("--fix/--diff need shapecheck.fix.apply, which this installation lacks")
    ws = Workspace(req.cwd, req.config, req.cli_layer)
    if req.show_settings:
        where = Path(req.stdin_filename) if req.stdin and req.stdin_filename else req.targets[0]
        sys.stdout.write(_settings_text(ws, where, req))
        return 0
    if req.stdin:
        return _check_stdin(ws, req)
    if req.watch:
        return _watch(req)
    files = ws.discover(req.targets, force_exclude=req.force_exclude)
    if req.show_files:
        from shapecheck.runner import display_name

        sys.stdout.write("".join(f"{display_name(f, req.cwd)}\n" for f in files))
        return 0
    return _once(ws, req, files)


def _apply_fixes_missing() -> bool:
    from shapecheck.runner import load_apply_fixes

    return load_apply_fixes() is None


def _settings_text(ws: Workspace, where: Path, req: CheckRequest) -> str:
    from shapecheck.workspace import settings_summary

    absolute = where if where.is_absolute() else req.cwd / where
    probe = absolute if absolute.exists() else absolute.parent
    settings = ws.settings_for(probe if probe.exists() else req.cwd)
    level = req.fail_level or settings.fail_level or "warning"
    return settings_summary(settings, ws.selected_for(settings), where, level)


def _once(ws: Workspace, req: CheckRequest, files: list[Path]) -> int:
    from shapecheck.runner import run_check

    if not files:
        if not req.force_exclude and req.quiet < 2:
            sys.stderr.write("warning: no Python files found under the given path(s)\n")
        # machine formats still get a (valid, empty) document; text formats print nothing
        if req.fmt not in TEXT_FORMATS:
            from shapecheck.report import Report

            emit(render_report(req.fmt, Report([]), req.statistics, False), req.output_file)
        return 0
    if req.verbose:
        for settings, group in ws.groups(files):
            sys.stderr.write(f"shapecheck: {len(group)} file(s) use {settings.config_path or 'the defaults'}\n")
    if req.progress and len(files) >= PROGRESS_MIN_FILES and req.color(sys.stderr):
        result = _with_progress(files, lambda fs, progress: ws.run(fs, req.options, run_check, progress))
    else:
        result = ws.run(files, req.options, run_check)
    if req.fix or req.diff:
        _fix_notebooks(result, ws, req)
    if req.verbose:
        cached = sum(1 for f in result.files if f.cached)
        skipped = sum(1 for f in result.files if f.skipped)
        sys.stderr.write(f"shapecheck: {len(result.files)} file(s): {cached} answered from the cache, "
                         f"{skipped} never mention torch/numpy/jax/einops (not parsed)\n")
    if req.add_noqa:
        return _add_noqa(result)
    return finish(result, ws, req)


def _with_progress(files: list[Path], run: Callable[..., RunResult]) -> RunResult:
    """A transient rich progress bar on stderr (only when stderr is a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # auto_refresh=False: no refresh thread is running when the worker pool forks
    with Progress(
        TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(file=sys.stderr), transient=True, auto_refresh=False,
    ) as bar:
        task = bar.add_task("check", total=len(files))

        def advance(n: int) -> None:
            bar.advance(task, n)
            bar.refresh()

        return run(files, advance)


# ---------------------------------------------------------------------------------------------
# notebooks, --add-noqa, stdin, --watch


def _parses(source: str) -> bool:
    import libcst

    try:
        libcst.parse_module(source)
    except Exception:  # noqa: BLE001 - any parser failure means "do not write"
        return False
    return True


def _fix_notebooks(result: RunResult, ws: Workspace, req: CheckRequest) -> None:
    """Write the fixes of notebook findings into their cells (the runner fixes .py files), then
    re-check those notebooks for what remains. With --diff: the changed cells as a diff."""
    from shapecheck.notebooks import NotebookError, fix_notebook
    from shapecheck.runner import fix_applies, run_check

    def applies(d: object) -> bool:
        return fix_applies(d, req.unsafe_fixes)  # type: ignore[arg-type]

    written: list[Path] = []
    for f in result.files:
        if f.path.suffix != ".ipynb" or not any(applies(d) for d in f.diagnostics):
            continue
        try:
            text = f.path.read_text(encoding="utf-8")
            new, applied, cells = fix_notebook(text, f.diagnostics, applies, _parses)
        except (OSError, UnicodeDecodeError, NotebookError) as exc:
            sys.stderr.write(f"{f.display}: fixes not applied: {exc}\n")
            continue
        if not applied:
            continue
        f.fixed = applied
        if req.diff:
            f.diff = "".join(
                "".join(difflib.unified_diff(old.splitlines(keepends=True), cell.splitlines(keepends=True),
                                             fromfile=f"a/{f.display}:cell {n}", tofile=f"b/{f.display}:cell {n}"))
                for n, old, cell in cells)
            f.diagnostics = [d for d in f.diagnostics if all(d is not a for a in applied)]
            continue
        try:
            f.path.write_text(new, encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"{f.display}: fixes not written: {exc.strerror or exc}\n")
            f.fixed = []
            continue
        written.append(f.path)
    if written:
        again = ws.run(written, lambda s, sel: req.options(s, sel, fix=False, diff=False), run_check)
        fresh = {r.path: r for r in again.files}
        for f in result.files:
            if f.path in fresh:
                f.diagnostics = fresh[f.path].diagnostics


def _add_noqa(result: RunResult) -> int:
    """`--add-noqa`: write the directives and say how many; exit 0 (2 on an internal error)."""
    from shapecheck.report.summary import plural
    from shapecheck.runner import _write, decode
    from shapecheck.suppress import add_noqa

    total = 0
    for f in result.files:
        if not f.diagnostics:
            continue
        if f.path.suffix == ".ipynb":
            sys.stderr.write(f"{f.display}: --add-noqa does not edit notebooks "
                             f"({plural(len(f.diagnostics), 'finding')} left as they are)\n")
            continue
        try:
            raw = f.path.read_bytes()
            new, n = add_noqa(decode(raw), f.diagnostics)
            if n:
                _write(f.path, raw, new)
        except (OSError, UnicodeDecodeError, SyntaxError, LookupError) as exc:
            sys.stderr.write(f"{f.display}: not edited: {getattr(exc, 'strerror', None) or exc}\n")
            continue
        total += n
    sys.stderr.write(f"Added {plural(total, 'noqa directive')}.\n")
    return 2 if result.internal_errors else 0


def _check_stdin(ws: Workspace, req: CheckRequest) -> int:
    """`check - [--stdin-filename PATH]`: the report on stdout; with --fix, the fixed source on
    stdout and the report on stderr (ruff's behaviour); with --diff, the diff on stdout."""
    from shapecheck.diagnostics import Diagnostic, Location
    from shapecheck.runner import FileResult, RunResult, check_source, decode

    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
    display = req.stdin_filename or "-"
    path = Path(display)
    absolute = path if path.is_absolute() else req.cwd / path
    probe = absolute if absolute.exists() else absolute.parent
    settings = ws.settings_for(probe if probe.exists() else req.cwd)
    if req.force_exclude and req.stdin_filename:
        from shapecheck.files import Excluder

        if Excluder(settings).excluded_anywhere(absolute):
            # an excluded file (pre-commit, editors' format-on-save): nothing to report, and
            # --fix hands the source back unchanged, as ruff does
            if req.fix:
                sys.stdout.write(raw.decode("utf-8", errors="surrogateescape"))
            return 0
    options = req.options(settings, ws.selected_for(settings), use_cache=False)
    source: str | None
    try:
        source = decode(raw)
    except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
        source = None
        new = raw.decode("utf-8", errors="replace")
        result = FileResult(path, display, [Diagnostic("SC901", f"could not decode the input: {exc}", display,
                                                       Location(1, 1), Location(1, 1))])
    else:
        files = [absolute.resolve()] if absolute.suffix == ".py" and absolute.exists() else []
        new, result = check_source(display, source, options, path=path, project_files=files)
    for d in (*result.diagnostics, *result.fixed):
        ws.apply_severity(d, settings)
    run = RunResult([result])
    if req.diff:
        sys.stdout.write(result.diff)
        sys.stdout.flush()
        return 2 if run.internal_errors else (1 if result.diff else 0)
    if req.fix:
        sys.stdout.write(new if source is not None else raw.decode("utf-8", errors="replace"))
        sys.stdout.flush()
    return finish(run, ws, req, to_stderr=req.fix)


def _watch(req: CheckRequest, interval: float = 0.5, rounds: int | None = None) -> int:
    """Re-run whenever a file under the targets (or a config) is added, removed or modified:
    mtime/size polling, no dependency, any filesystem. Ctrl-C ends it with the last status."""
    import time

    from shapecheck.workspace import Workspace

    def snapshot(paths: list[Path]) -> dict[Path, tuple[int, int]]:
        out = {}
        for p in paths:
            try:
                st = p.stat()
            except OSError:
                continue
            out[p] = (st.st_mtime_ns, st.st_size)
        return out

    status = 0
    previous: dict[Path, tuple[int, int]] | None = None
    last_error: str | None = None
    done = 0
    try:
        while rounds is None or done < rounds:
            try:
                ws = Workspace(req.cwd, req.config, req.cli_layer)
                files = ws.discover(req.targets, force_exclude=req.force_exclude)
                configs = sorted({s.config_path for s, _ in ws.groups(files) if s.config_path})
            except ConfigError as exc:
                # a broken config: say so once, keep polling until it is fixed
                if str(exc) != last_error:
                    sys.stderr.write(f"shapecheck: error: {exc}\n")
                    last_error, status, previous = str(exc), 2, None
                    done += 1
                if rounds is None or done < rounds:
                    time.sleep(interval)
                continue
            last_error = None
            current = snapshot([*files, *configs])
            if current != previous:
                if previous is not None:
                    sys.stderr.write("shapecheck: a file changed, checking again\n")
                status = _once(ws, req, files)
                previous = current
                done += 1
            if rounds is None or done < rounds:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    return status


# ---------------------------------------------------------------------------------------------
# reporting and the exit status


def render_report(fmt: str, report: Report, statistics: bool, color: bool) -> str:
    from shapecheck.report import RichStyler, Styler, render
    from shapecheck.report.statistics import render_json, render_text

    if statistics:
        return render_json(report) if fmt in ("json", "json-lines", "sarif") else render_text(report)
    styler = RichStyler() if color and fmt in TEXT_FORMATS else Styler()
    return render(fmt, report, styler)


def emit(text: str, output_file: Path | None, color: bool = False, stream: object = None) -> None:
    if output_file is not None:
        try:
            output_file.parent.mkdir(parents=True, exist_ok=True)
            output_file.write_text(text, encoding="utf-8", errors="surrogateescape")  # a non-UTF-8 file name as it is on disk
        except OSError as exc:
            raise ConfigError(f"cannot write {output_file}: {exc.strerror or exc}") from None
        return
    if not text:
        return
    out = stream or sys.stdout
    if color:
        from rich.console import Console

        Console(file=out, highlight=False, soft_wrap=True, emoji=False).print(text, end="")  # type: ignore[arg-type]
    else:
        out.write(text)  # type: ignore[attr-defined]
        out.flush()  # type: ignore[attr-defined]


def finish(result: RunResult, ws: Workspace, req: CheckRequest, to_stderr: bool = False) -> int:
    from shapecheck.report import Report
    from shapecheck.report.summary import plural
    from shapecheck.workspace import fails

    internal = result.internal_errors
    if req.diff:
        diffs = "".join(f.diff for f in result.files if f.diff)
        emit(diffs, req.output_file)
        n = len(result.fixed)
        sys.stderr.write(f"Would fix {plural(n, 'finding')}.\n" if n else "No findings would be fixed.\n")
        for d in internal:
            sys.stderr.write(f"{d.filename}: {d.code} {d.message}\n")
        return 2 if internal else (1 if diffs else 0)
    diagnostics = result.diagnostics
    baselined = 0
    if req.baseline is not None:
        from shapecheck import baseline

        if req.update_baseline or not req.baseline.exists():
            n = baseline.record(req.baseline, diagnostics, req.cwd)
            sys.stderr.write(f"Recorded {plural(n, 'finding')} in the baseline {req.baseline}.\n")
            diagnostics = [d for d in diagnostics if d.code == "SC903"]
        else:
            diagnostics, baselined = baseline.filter_new(req.baseline, diagnostics, req.cwd)
    report = Report(
        diagnostics,
        files=[f.display for f in result.checked],
        unsafe_fixes=req.unsafe_fixes,
        fixed=len(result.fixed),
        fixed_diagnostics=result.fixed,
        show_summary=req.quiet == 0,
    )
    stream = sys.stderr if to_stderr else sys.stdout
    # colour (rich markup) only for the text formats on a terminal: JSON/SARIF/XML are never styled
    color = req.output_file is None and req.fmt in TEXT_FORMATS and not req.statistics and req.color(stream)
    if req.quiet < 2:
        emit(render_report(req.fmt, report, req.statistics, color), req.output_file, color, stream)
        if baselined and req.quiet == 0 and req.fmt in TEXT_FORMATS:
            sys.stderr.write(f"({plural(baselined, 'finding')} in the baseline not shown.)\n")
    if req.show_fixes and result.fixed:
        sys.stderr.write(_fixed_summary(result))
    if internal:
        return 2

    def level_of(d: object) -> str:
        return ws.fail_level_for(req.cwd / d.filename, req.fail_level)  # type: ignore[attr-defined]

    if fails(diagnostics, level_of) and not req.exit_zero:
        return 1
    return 0


def _fixed_summary(result: RunResult) -> str:
    from shapecheck.diagnostics import RULES
    from shapecheck.report.summary import plural

    lines = [f"Fixed {plural(len(result.fixed), 'finding')}:"]
    for f in result.files:
        if not f.fixed:
            continue
        lines.append(f"- {f.display}:")
        for code, n in sorted(Counter(d.code for d in f.fixed).items()):
            lines.append(f"    {n} × {code} ({RULES[code].name})")
    return "\n".join(lines) + "\n"
