"""The `shapecheck` command: check, rule, shapes, trace.

Imports are lazy: `shapecheck --help` loads typer only, and `shapecheck check` loads libcst only
when a file actually has to be parsed (a pre-commit run on cached or torch-free files never
does). Nothing here imports torch; `trace` hands over to `shapecheck.runtime`, which does.

Exit status (ruff's): 0 clean, 1 findings (or, with `--diff`, changes to make), 2 usage,
configuration or internal error (SC903). `--exit-zero` turns 1 into 0, never 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from shapecheck import __version__

if TYPE_CHECKING:
    from collections.abc import Callable

    from shapecheck.report import Report
    from shapecheck.runner import CheckOptions, RunResult

FORMATS = ("concise", "full", "json", "json-lines", "sarif", "github", "junit")
PROGRESS_MIN_FILES = 50

app = typer.Typer(
    name="shapecheck",
    help="Static and runtime tensor-shape and training-loop checks for PyTorch.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def fail(message: str) -> typer.Exit:
    """Print one line on stderr and return the exit (status 2) to raise."""
    sys.stderr.write(f"shapecheck: error: {message}\n")
    return typer.Exit(2)


def use_color(stream: object) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"shapecheck {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Static and runtime tensor-shape and training-loop checks for PyTorch."""


def _codes(values: Optional[list[str]]) -> Optional[list[str]]:
    if values is None:
        return None
    from shapecheck.config import split_codes

    return [c for v in values for c in split_codes(v)]


@app.command()
def check(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or directories (default: .).")] = None,
    select: Annotated[Optional[list[str]], typer.Option(help="Rules to enable: codes, prefixes or ALL (replaces the config).")] = None,
    extend_select: Annotated[Optional[list[str]], typer.Option(help="Rules to enable on top of the selection.")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(help="Rules to disable: codes or prefixes.")] = None,
    output_format: Annotated[
        str, typer.Option(envvar="SHAPECHECK_OUTPUT_FORMAT", help=f"One of: {', '.join(FORMATS)}.")
    ] = "concise",
    output_file: Annotated[Optional[Path], typer.Option("--output-file", "-o", help="Write the report here instead of stdout.")] = None,
    statistics: Annotated[bool, typer.Option(help="Print a count per rule instead of each finding.")] = False,
    exit_zero: Annotated[bool, typer.Option(help="Exit 0 even with findings (errors still exit 2).")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Cache directory (default .shapecheck_cache; env SHAPECHECK_CACHE_DIR).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Worker processes (default: every core).")] = None,
    fix: Annotated[bool, typer.Option(help="Apply safe fixes and report what remains.")] = False,
    unsafe_fixes: Annotated[bool, typer.Option(help="Also apply (with --fix) and show fixes that may change behaviour.")] = False,
    diff: Annotated[bool, typer.Option(help="Print the fixes as a unified diff; write nothing (exit 1 if any).")] = False,
    show_fixes: Annotated[bool, typer.Option(help="With --fix, list what was fixed.")] = False,
    force_exclude: Annotated[bool, typer.Option(help="Apply excludes to paths given explicitly (for pre-commit).")] = False,
    config: Annotated[Optional[Path], typer.Option(help="Read [tool.shapecheck] from this file instead of the nearest pyproject.toml.")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Never show a progress bar.")] = False,
) -> None:
    """Check files for shape and training-loop bugs."""
    from shapecheck.config import ConfigError, Layer, discover_settings, resolve_selection
    from shapecheck.files import discover
    from shapecheck.runner import CheckOptions, load_apply_fixes, run_check

    fmt = output_format.lower()
    if fmt not in FORMATS:
        raise fail(f"unknown output format {output_format!r} (choose from {', '.join(FORMATS)})")
    cwd = Path.cwd()
    targets = list(paths) if paths else [Path(".")]
    try:
        settings = discover_settings(targets, config, cwd)
        cli_layer = Layer(_codes(select), _codes(extend_select) or (), _codes(ignore) or ())
        selected = resolve_selection([settings.config, cli_layer])
        files = discover(targets, settings, force_exclude=force_exclude)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if (fix or diff) and load_apply_fixes() is None:
        raise fail("--fix/--diff need shapecheck.fix.apply, which this installation lacks")
    options = CheckOptions(
        selected=selected,
        settings=settings,
        cwd=cwd,
        use_cache=not no_cache,
        cache_dir=cache_dir,
        jobs=jobs,
        fix=fix and not diff,
        diff=diff,
        unsafe_fixes=unsafe_fixes,
        force_exclude=force_exclude,
    )
    if not files:
        if not force_exclude:
            sys.stderr.write("warning: no Python files found under the given path(s)\n")
        # machine formats still get a (valid, empty) document; text formats print nothing
        text = "" if fmt in ("concise", "full") else _render_report(fmt, _empty_report(), statistics, False)
        _emit(text, output_file, fmt)
        raise typer.Exit(0)
    show_progress = (not no_progress) and len(files) >= PROGRESS_MIN_FILES and use_color(sys.stderr)
    result = _run_with_progress(files, options, run_check) if show_progress else run_check(files, options)
    raise typer.Exit(_finish(result, fmt, output_file, statistics, exit_zero, diff, show_fixes, unsafe_fixes))


def _empty_report() -> Report:
    from shapecheck.report import Report

    return Report([])


def _run_with_progress(files: list[Path], options: CheckOptions, run_check: Callable[..., RunResult]) -> RunResult:
    """A transient rich progress bar on stderr (only called when stderr is a terminal)."""
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

        return run_check(files, options, progress=advance)


def _render_report(fmt: str, report: Report, statistics: bool, color: bool) -> str:
    from shapecheck.report import RichStyler, Styler, render
    from shapecheck.report.statistics import render_json, render_text

    if statistics:
        return render_json(report) if fmt in ("json", "json-lines", "sarif") else render_text(report)
    styler = RichStyler() if color and fmt in ("concise", "full") else Styler()
    return render(fmt, report, styler)


def _emit(text: str, output_file: Optional[Path], fmt: str, color: bool = False) -> None:
    if output_file is not None:
        try:
            output_file.parent.mkdir(parents=True, exist_ok=True)
            output_file.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot write {output_file}: {exc.strerror or exc}") from None
        return
    if not text:
        return
    if color:
        from rich.console import Console

        Console(file=sys.stdout, highlight=False, soft_wrap=True, emoji=False).print(text, end="")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _finish(result: RunResult, fmt: str, output_file: Optional[Path], statistics: bool, exit_zero: bool,
            diff: bool, show_fixes: bool, unsafe_fixes: bool) -> int:
    from shapecheck.report import Report
    from shapecheck.report.summary import plural

    internal = result.internal_errors
    if diff:
        diffs = "".join(f.diff for f in result.files if f.diff)
        _emit(diffs, output_file, fmt)
        n = len(result.fixed)
        sys.stderr.write(f"Would fix {plural(n, 'error')}.\n" if n else "No errors would be fixed.\n")
        for d in internal:
            sys.stderr.write(f"{d.filename}: {d.code} {d.message}\n")
        return 2 if internal else (1 if diffs else 0)
    report = Report(
        result.diagnostics,
        files=[f.display for f in result.checked],
        unsafe_fixes=unsafe_fixes,
        fixed=len(result.fixed),
    )
    # colour (rich markup) only for the text formats on a terminal: JSON/SARIF/XML are never styled
    color = output_file is None and fmt in ("concise", "full") and not statistics and use_color(sys.stdout)
    _emit(_render_report(fmt, report, statistics, color), output_file, fmt, color)
    if show_fixes and result.fixed:
        sys.stderr.write(_fixed_summary(result))
    if internal:
        return 2
    if result.diagnostics and not exit_zero:
        return 1
    return 0


def _fixed_summary(result: RunResult) -> str:
    from collections import Counter

    lines = [f"Fixed {len(result.fixed)} error{'s' if len(result.fixed) != 1 else ''}:"]
    for f in result.files:
        if not f.fixed:
            continue
        lines.append(f"- {f.display}:")
        for code, n in sorted(Counter(d.code for d in f.fixed).items()):
            lines.append(f"    {n} × {code} ({_name(code)})")
    return "\n".join(lines) + "\n"


def _name(code: str) -> str:
    from shapecheck.diagnostics import RULES

    return RULES[code].name


@app.command()
def rule(
    code: Annotated[Optional[str], typer.Argument(help="A rule code (SC101) or name (shape-mismatch).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="List every rule.")] = False,
) -> None:
    """Explain a rule: what it flags, why, an example and the fix."""
    from shapecheck.diagnostics import BY_NAME, RULES

    if all_:
        from shapecheck.rules import all_rules

        implemented = all_rules()
        width = max(len(info.name) for info in RULES.values())
        lines = [f"{'code':<6}  {'name':<{width}}  {'severity':<8}  {'default':<7}  implemented"]
        for c, info in RULES.items():
            impl = "yes" if c in implemented or info.family == "tool" else "no"
            lines.append(
                f"{c:<6}  {info.name:<{width}}  {info.severity.value:<8}  {'on' if info.default else 'off':<7}  {impl}"
            )
        sys.stdout.write("\n".join(lines) + "\n")
        return
    if code is None:
        raise fail("give a rule code (e.g. `shapecheck rule SC101`) or --all")
    key = code.strip()
    info = RULES.get(key.upper()) or BY_NAME.get(key.lower())
    if info is None:
        raise fail(f"unknown rule {code!r} (see `shapecheck rule --all`)")
    from shapecheck.rules import all_rules

    rule_cls = all_rules().get(info.code)
    if rule_cls is not None:
        from shapecheck.docs import render_page

        text = render_page(rule_cls)
    else:
        default = "on" if info.default else "off (opt-in: select it explicitly)"
        text = (
            f"# {info.name} ({info.code})\n\nFamily: {info.family} · Severity: {info.severity.value} · "
            f"Default: {default}\n\n{info.summary[0].upper()}{info.summary[1:]}.\n"
        )
        if info.family != "tool":
            text += "\nThis rule is not implemented yet.\n"
    if use_color(sys.stdout):
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        sys.stdout.write(text)


@app.command()
def shapes(
    file: Annotated[Path, typer.Argument(help="The Python file to explain.")],
    function: Annotated[Optional[str], typer.Option(help="Only this function (or Class.method).")] = None,
) -> None:
    """Print the source with the inferred shape of each tensor-valued assignment beside it."""
    if not file.is_file():
        raise fail(f"{file}: no such file")
    try:
        from shapecheck.infer.explain import run_shapes
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("shapecheck.infer"):
            raise fail("`shapes` is not available: shapecheck.infer.explain is missing from this installation") from None
        raise
    raise typer.Exit(run_shapes(file, function, use_color(sys.stdout)))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def trace(
    ctx: typer.Context,
    script: Annotated[Path, typer.Argument(help="The training script to run under the tracer.")],
    dry_run: Annotated[bool, typer.Option(help="Run on meta tensors: shapes only, no compute.")] = False,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Write the findings as JSON here.")] = None,
    nan: Annotated[bool, typer.Option("--nan", help="Also report the first op that produces NaN/Inf.")] = False,
    device: Annotated[Optional[str], typer.Option(help="Device to check against (e.g. cuda, or a fake cuda on CPU).")] = None,
) -> None:
    """Run SCRIPT [ARGS]... with runtime shape and device checks."""
    if not script.is_file():
        raise fail(f"{script}: no such file")
    try:
        from shapecheck.runtime.cli import run_trace
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("shapecheck.runtime"):
            raise fail("`trace` is not available: shapecheck.runtime.cli is missing from this installation") from None
        if exc.name == "torch":
            raise fail("`trace` needs PyTorch: pip install 'shapecheck[torch]'") from None
        raise
    raise typer.Exit(
        run_trace(script, list(ctx.args), dry_run=dry_run, json_path=json_path, detect_nan=nan, device=device)
    )


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
