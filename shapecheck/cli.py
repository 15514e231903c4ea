"""The `shapecheck` command: check, rule, shapes, server, trace.

This module only declares the commands and turns flags into requests: `check` is carried out by
`shapecheck.checkrun`, `server` by `shapecheck.server`. Imports are lazy: `shapecheck --help`
loads typer only, `shapecheck check` loads libcst only when a file actually has to be parsed (a
pre-commit run on cached or torch-free files never does), and only `server` imports pygls.
Nothing here imports torch; `trace` hands over to `shapecheck.runtime`, which does.

Exit status (ruff's, with severities): 0 clean or only findings below the fail level (default
`warning`: info never fails), 1 findings at or above it (or, with `--diff`, changes to make),
2 usage, configuration or internal error (SC903). `--exit-zero` turns 1 into 0, never 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from shapecheck import __version__

FORMATS = ("concise", "full", "json", "json-lines", "sarif", "github", "gitlab", "rdjson", "junit")

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


def _codes(values: Optional[list[str]], flag: str = "--select") -> Optional[list[str]]:
    if values is None:
        return None
    from shapecheck.config import split_codes

    out = [c for v in values for c in split_codes(v)]
    if not out or any(not v.strip() for v in values):
        # ruff rejects it too: an empty `--select ""` would otherwise silently turn every rule off
        raise fail(f"{flag} needs at least one code, prefix or ALL (got an empty value)")
    return out


FAIL_LEVELS = ("error", "warning", "info")


@app.command()
def check(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or directories (default: .); `-` reads stdin.")] = None,
    select: Annotated[Optional[list[str]], typer.Option(help="Rules to enable: codes, prefixes or ALL (replaces the config).")] = None,
    extend_select: Annotated[Optional[list[str]], typer.Option(help="Rules to enable on top of the selection.")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(help="Rules to disable: codes or prefixes.")] = None,
    output_format: Annotated[
        str, typer.Option(envvar="SHAPECHECK_OUTPUT_FORMAT", help=f"One of: {', '.join(FORMATS)}.")
    ] = "concise",
    output_file: Annotated[Optional[Path], typer.Option("--output-file", "-o", help="Write the report here instead of stdout.")] = None,
    statistics: Annotated[bool, typer.Option(help="Print a count per rule instead of each finding.")] = False,
    exit_zero: Annotated[bool, typer.Option(help="Exit 0 even with findings (errors still exit 2).")] = False,
    fail_level: Annotated[
        Optional[str], typer.Option(help="Lowest severity that fails the run: error, warning (default) or info.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Cache directory (default .shapecheck_cache; env SHAPECHECK_CACHE_DIR).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Worker processes (default: every core).")] = None,
    fix: Annotated[bool, typer.Option(help="Apply safe fixes and report what remains.")] = False,
    unsafe_fixes: Annotated[bool, typer.Option(help="Also apply (with --fix) and show fixes that may change behaviour.")] = False,
    diff: Annotated[bool, typer.Option(help="Print the fixes as a unified diff; write nothing (exit 1 if any).")] = False,
    show_fixes: Annotated[bool, typer.Option(help="With --fix, list what was fixed.")] = False,
    add_noqa: Annotated[bool, typer.Option(help="Add `# noqa: CODE` to every line with a finding (ruff's --add-noqa).")] = False,
    baseline: Annotated[
        Optional[Path], typer.Option(help="Baseline file: recorded when absent, then only findings not in it are reported.")
    ] = None,
    update_baseline: Annotated[bool, typer.Option(help="With --baseline, re-record it from this run.")] = False,
    force_exclude: Annotated[bool, typer.Option(help="Apply excludes to paths given explicitly (for pre-commit).")] = False,
    config: Annotated[Optional[Path], typer.Option(help="Use this config file for every file instead of each file's nearest one.")] = None,
    stdin_filename: Annotated[
        Optional[str], typer.Option(help="With `-`: the path stdin stands for (config, per-file-ignores, messages).")
    ] = None,
    show_settings: Annotated[bool, typer.Option(help="Print the settings that apply to the first path, then exit.")] = False,
    show_files: Annotated[bool, typer.Option(help="Print the files that would be checked, then exit.")] = False,
    watch: Annotated[bool, typer.Option(help="Re-run when a checked file changes (polling; Ctrl-C stops).")] = False,
    quiet: Annotated[int, typer.Option("--quiet", "-q", count=True, help="-q: findings only, no summary; -qq: nothing (exit status only).")] = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say on stderr which configs apply and what was cached.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Never show a progress bar.")] = False,
) -> None:
    """Check files for shape and training-loop bugs."""
    from shapecheck.checkrun import CheckRequest, run_request
    from shapecheck.config import ConfigError, Layer

    fmt = output_format.lower()
    if fmt not in FORMATS:
        raise fail(f"unknown output format {output_format!r} (choose from {', '.join(FORMATS)})")
    if fail_level is not None and fail_level.lower() not in FAIL_LEVELS:
        raise fail(f"unknown --fail-level {fail_level!r} (choose from {', '.join(FAIL_LEVELS)})")
    targets = list(paths) if paths else [Path(".")]
    request = CheckRequest(
        targets=targets,
        cli_layer=Layer(_codes(select, "--select"), _codes(extend_select, "--extend-select") or (),
                        _codes(ignore, "--ignore") or ()),
        fmt=fmt, output_file=output_file, statistics=statistics, exit_zero=exit_zero,
        fail_level=fail_level.lower() if fail_level else None, use_cache=not no_cache, cache_dir=cache_dir,
        jobs=jobs, fix=fix, unsafe_fixes=unsafe_fixes, diff=diff, show_fixes=show_fixes, add_noqa=add_noqa,
        baseline=baseline, update_baseline=update_baseline, force_exclude=force_exclude, config=config,
        stdin=any(str(t) == "-" for t in targets), stdin_filename=stdin_filename, show_settings=show_settings,
        show_files=show_files, watch=watch, quiet=quiet, verbose=verbose, progress=not no_progress,
        color=use_color, cwd=Path.cwd(),
    )
    try:
        status = run_request(request)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(status)


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
    if not file.exists():
        raise fail(f"{file}: no such file")
    _shapes_guard(file)
    from shapecheck.parsing import run_deep

    if file.suffix == ".ipynb":
        raise typer.Exit(run_deep(_notebook_shapes, file, function))
    try:
        from shapecheck.infer.explain import run_shapes
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("shapecheck.infer"):
            raise fail("`shapes` is not available: shapecheck.infer.explain is missing from this installation") from None
        raise
    try:
        code = run_deep(run_shapes, file, function, use_color(sys.stdout))
    except Exception as exc:  # noqa: BLE001 - SC903's equivalent: one line, never a traceback
        raise fail(f"{file}: internal error while analysing the file: {type(exc).__name__}: {exc} "
                   "(please report this at https://github.com/shapecheck/shapecheck/issues)") from None
    raise typer.Exit(code)


def _shapes_guard(file: Path) -> None:
    """`shapes` reads only a regular file (not a FIFO, not /dev/zero) and never hands libcst one
    it cannot parse without crashing (as `check`'s SC901)."""
    from shapecheck.files import read_regular
    from shapecheck.parsing import depth_problem
    from shapecheck.runner import decode

    try:
        raw = read_regular(file)
        text = raw.decode("utf-8") if file.suffix == ".ipynb" else decode(raw)
    except (OSError, UnicodeDecodeError, SyntaxError, LookupError) as exc:
        raise fail(f"{file}: cannot read: {exc}") from None
    if file.suffix == ".ipynb":
        from shapecheck.notebooks import NotebookError, notebook_source

        try:
            text = notebook_source(text).source
        except (NotebookError, ValueError, TypeError, RecursionError) as exc:
            raise fail(f"{file}: cannot read the notebook: {exc}") from None
    problem = depth_problem(text)
    if problem is not None:
        raise fail(f"{file}:{problem.row}:{problem.column}: cannot parse: {problem.message}")


def _notebook_shapes(file: Path, function: Optional[str]) -> int:
    """`shapes nb.ipynb`: each code cell under a `# %% cell N` header, its own lines (magics
    included) with the inferred shapes beside the assignments."""
    from shapecheck.infer.explain import function_lines, reveal
    from shapecheck.notebooks import NotebookError, notebook_source

    try:
        nb = notebook_source(file.read_text(encoding="utf-8"))
        shapes = reveal(nb.source, function, file)
        span = function_lines(nb.source, function) if function else None
    except (OSError, UnicodeDecodeError, NotebookError) as exc:
        raise fail(f"{file}: cannot read the notebook: {getattr(exc, 'strerror', None) or exc}") from None
    except Exception as exc:  # noqa: BLE001 - libcst's parse error, or an analysis failure: one line
        raise fail(f"{file}: cannot analyse the notebook: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
    if function and span is None:
        raise fail(f"no function {function!r} in {file}")
    first, last = span or (1, len(nb.line_map) - 1)
    by_cell: dict[int, list[tuple[str, str]]] = {}
    for row in range(first, last + 1):
        cell, local = nb.cell_row(row)
        cell_lines = nb.cells[cell - 1].splitlines() if cell - 1 < len(nb.cells) else []
        text = cell_lines[local - 1] if local - 1 < len(cell_lines) else ""
        note = "# " + "; ".join(f"{t}: {d}" for t, d in shapes[row]) if row in shapes else ""
        by_cell.setdefault(cell, []).append((text, note))
    out = []
    for cell, rows in by_cell.items():
        width = max((len(t) for t, n in rows if n), default=0)
        out.append(f"# %% cell {cell}")
        out.extend((t.ljust(width) + "  " + n if n else t).rstrip() for t, n in rows)
    sys.stdout.write("\n".join(out) + "\n")
    return 0


# Everything after SCRIPT belongs to the script (as with `python -m`): our options come first.
@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               "allow_interspersed_args": False})
def trace(
    ctx: typer.Context,
    script: Annotated[Path, typer.Argument(help="The training script to run under the tracer.")],
    dry_run: Annotated[bool, typer.Option(help="Run on meta tensors: shapes only, no compute.")] = False,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Write the findings as JSON here.")] = None,
    nan: Annotated[bool, typer.Option("--nan", help="Also report the first op that produces NaN/Inf.")] = False,
    device: Annotated[Optional[str], typer.Option(help="Device to check against (e.g. cuda, or a fake cuda on CPU).")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Dry run: stop after this many seconds (default 300).")] = None,
) -> None:
    """Run SCRIPT [ARGS]... with runtime shape and device checks.

    Options go before SCRIPT; everything after it is the script's own arguments.
    """
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
        run_trace(script, list(ctx.args), dry_run=dry_run, json_path=json_path, detect_nan=nan, device=device,
                  **({"max_seconds": timeout} if timeout is not None else {}))
    )


@app.command()
def server() -> None:
    """Run the language server (LSP over stdin/stdout) for editors."""
    try:
        from shapecheck.server import main as serve

        import pygls  # noqa: F401 - a clear message when the dependency is missing
    except ModuleNotFoundError as exc:
        raise fail(f"`server` needs pygls: pip install 'pygls>=2' ({exc.name} is missing)") from None
    serve()


def main() -> None:
    """Console entry point. A usage error is one line (not click's 5-line box); a report that
    cannot be written (`> /dev/full`, a closed pipe) is one line and exit 2, never a traceback."""
    import click

    try:
        try:
            code = app(standalone_mode=False)
            sys.stdout.flush()
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} -h')" if exc.ctx is not None else ""
            if exc.format_message().strip():  # empty after no_args_is_help printed the help
                sys.stderr.write(f"shapecheck: error: {exc.format_message()}{hint}\n")
            code = exc.exit_code
        except click.ClickException as exc:
            sys.stderr.write(f"shapecheck: error: {exc.format_message()}\n")
            code = exc.exit_code
        except (click.Abort, KeyboardInterrupt):
            sys.stderr.write("shapecheck: interrupted\n")
            # Leave now: the pool's manager thread may still be writing to a pipe the killed
            # workers closed, and the interpreter's shutdown would print its "Exception ignored".
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(130)
    except BrokenPipeError:
        _silence_stdout()
        code = 2  # the reader went away: nothing to say, and no one to say it to
    except OSError as exc:
        _silence_stdout()
        sys.stderr.write(f"shapecheck: error: cannot write the report: {exc.strerror or exc}\n")
        code = 2
    sys.exit(code if isinstance(code, int) else 0)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    main()
