"""Render a finished trace: findings with their source lines, the module table, op totals."""

from __future__ import annotations

import sys
from typing import Any

from shapecheck.runtime.findings import Finding, shown_path

_ORDER = {"error": 0, "warning": 1, "info": 2}
_MAX_ROWS = 60


def _finding_lines(f: Finding) -> list[str]:
    where = f"{shown_path(f.filename)}:{f.line}" if f.filename else "(end of trace)"
    times = f" (x{f.count})" if f.count > 1 else ""
    lines = [f"{where}: {f.severity} [{f.kind}]{times} {f.message}"]
    if f.source:
        lines.append(f"    {f.line} | {f.source}")
    if f.module:
        lines.append(f"    in module {f.module}")
    lines += [f"    {n}" for n in f.notes]
    return lines


def render_text(tracer: Any) -> str:
    """Plain-text summary (what `print_summary` shows, without colour)."""
    findings = sorted(tracer.findings, key=lambda f: (_ORDER.get(f.severity, 3), f.filename, f.line))
    out = [f"shapecheck trace: {len(findings)} finding(s), {sum(tracer.op_counts.values())} ops, "
           f"{tracer._steps} optimizer step(s)"]
    for f in findings:
        out += _finding_lines(f)
    if tracer.modules:
        out.append("")
        out.append("module shapes (first call):")
        rows = list(tracer.modules.values())
        hidden = max(0, len(rows) - _MAX_ROWS)
        rows = rows[:_MAX_ROWS]
        width = max(len(r.path) for r in rows)
        twidth = max(len(r.type) for r in rows)
        for r in rows:
            stats = ""
            if r.stats:
                stats = "  mean={mean} std={std}".format(**r.stats)
                if "dead_fraction" in r.stats:
                    stats += f" dead={r.stats['dead_fraction']:.0%}"
            mode = "" if r.training else " [eval]"
            out.append(f"  {r.path.ljust(width)}  {r.type.ljust(twidth)}  x{r.calls}  "
                       f"{', '.join(r.inputs)} -> {r.output}{mode}{stats}")
        if hidden:
            out.append(f"  ... and {hidden} more modules (all of them are in the JSON: --json FILE / .to_json())")
    return "\n".join(out)


def print_summary(tracer: Any, file: Any = None) -> None:
    """Print the summary to stderr (coloured on a terminal, via rich)."""
    stream = file or sys.stderr
    try:
        from rich.console import Console
        from rich.markup import escape
    except ImportError:  # rich is a dependency, but the summary must never crash a run
        print(render_text(tracer), file=stream)
        return
    console = Console(file=stream, highlight=False, soft_wrap=True)
    colours = {"error": "bold red", "warning": "yellow", "info": "cyan"}
    for line in render_text(tracer).splitlines():
        text = escape(line)
        for sev, colour in colours.items():
            if f": {sev} [" in line:
                text = f"[{colour}]{text}[/]"
        console.print(text)
