"""Confirm every mutant with torch, and cache the verdicts in `confirmed.json`.

    .venv/bin/python benchmarks/realcode/run.py --confirm            # confirm, then score
    .venv/bin/python benchmarks/realcode/confirm.py [-j 2] [--force] [--programs mnist vae]

Each original and each mutant runs as `__main__` (argparse defaults, `sys.argv` = the file alone)
in a child process forked from a parent that has already imported torch, so a run costs the
program's own time and not torch's 1-4 s import. The child seeds torch/numpy/random with 0,
records the output shapes of every `nn.Module` call through
`torch.nn.modules.module.register_module_forward_hook`, and reports the exception, if any. A run
longer than `--timeout` seconds (180) is killed.

Verdicts:

- original: it must run without an exception, twice, with the same shape trace (deterministic);
- shape mutant: confirmed if it raises a shape error (RuntimeError/ValueError/IndexError/
  AssertionError or an einops error whose message speaks of sizes, shapes, dims, channels...),
  or if the module output shapes it recorded differ from the original's (compared up to the
  point where it stopped). A mutant that runs to the end with the same shapes ("no-effect", e.g.
  a softmax over another axis of the same size) or fails for another reason does not count;
- training-loop mutant: confirmed if it runs to the end without an exception (its bug is in what
  it computes, not in a crash).

Results are keyed by (program, operator, site) and carry the mutant's sha256: a verdict is
reused until the program, the operator or this harness changes the mutant's bytes (`--force`
reruns everything).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mutate import SHAPE_OPERATORS, Mutant, mutants  # noqa: E402

PROGRAMS = HERE / "programs"
CONFIRMED = HERE / "confirmed.json"
MAX_TRACE = 200_000
SHAPE_WORDS = re.compile(
    r"size|shape|dimension|\bdims?\b|mat1|mat2|broadcast|stride|expected input|channels|elements"
    r"|out of range|\baxes\b|\baxis\b|\brank\b",
    re.I,
)
SHAPE_ERRORS = {"RuntimeError", "ValueError", "IndexError", "AssertionError", "EinopsError", "AxisError"}


def program_sources() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(PROGRAMS.glob("*.py"))}


def all_mutants(sources: dict[str, str]) -> list[Mutant]:
    return [m for name, src in sources.items() for m in mutants(name, src)]


def is_shape_error(error: dict[str, Any] | None) -> bool:
    return bool(error) and error["type"] in SHAPE_ERRORS and bool(SHAPE_WORDS.search(error["message"]))


# --- the child ----------------------------------------------------------------------------------


def _shapes(value: Any, depth: int = 0) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if depth < 3 and isinstance(value, (tuple, list)):
        return [_shapes(v, depth + 1) for v in value[:16]]
    if depth < 3 and isinstance(value, dict):
        return {str(k): _shapes(v, depth + 1) for k, v in list(value.items())[:16]}
    return None


def _run_child(path: Path, out: Path) -> None:
    """Runs in the forked child: execute `path` as __main__, write the trace and error to `out`."""
    import random
    import runpy
    import traceback

    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    trace: list[Any] = []

    def hook(module: Any, inputs: Any, output: Any) -> None:
        if len(trace) < MAX_TRACE:
            trace.append([type(module).__name__, _shapes(output)])

    torch.nn.modules.module.register_module_forward_hook(hook)
    sys.argv = [str(path)]
    error = None
    t0 = time.perf_counter()
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            error = {"type": "SystemExit", "message": str(exc.code), "line": None}
    except BaseException as exc:  # noqa: BLE001 - the verdict needs every failure
        line = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == str(path):
                line = frame.lineno
        error = {"type": type(exc).__name__, "message": str(exc)[:600], "line": line}
    seconds = time.perf_counter() - t0
    out.write_text(json.dumps({"error": error, "trace": trace, "seconds": round(seconds, 2)}))


def run_many(jobs: list[tuple[str, Path]], workers: int, timeout: float) -> dict[str, dict[str, Any]]:
    """Run each (key, file) in a forked child, `workers` at a time; key -> result."""
    import einops  # noqa: F401 - imported once, before the forks
    import numpy  # noqa: F401
    import torch
    import torch.nn.functional  # noqa: F401
    import torch.utils.data  # noqa: F401

    torch.set_num_threads(1)
    results: dict[str, dict[str, Any]] = {}
    pending = list(jobs)
    running: dict[int, tuple[str, Path, float]] = {}
    killed: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="realcode-run-") as tmp:
        while pending or running:
            while pending and len(running) < workers:
                key, path = pending.pop(0)
                out = Path(tmp) / f"{len(results) + len(running)}-{os.getpid()}-{len(pending)}.json"
                workdir = Path(tempfile.mkdtemp(dir=tmp))
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:  # the child
                    code = 0
                    try:
                        os.chdir(workdir)
                        devnull = os.open(os.devnull, os.O_WRONLY)
                        os.dup2(devnull, 1)
                        os.dup2(devnull, 2)
                        _run_child(path, out)
                    except BaseException:  # noqa: BLE001
                        code = 1
                    finally:
                        os._exit(code)
                running[pid] = (key, out, time.monotonic())
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                now = time.monotonic()
                for child, (_, _, start) in running.items():
                    if now - start > timeout and child not in killed:
                        os.kill(child, signal.SIGKILL)
                        killed.add(child)
                time.sleep(0.01)
                continue
            key, out, start = running.pop(pid)
            if pid in killed:
                results[key] = {"error": {"type": "Timeout", "message": f"killed after {timeout:.0f} s", "line": None},
                                "trace": [], "seconds": round(time.monotonic() - start, 2)}
            elif out.exists():
                results[key] = json.loads(out.read_text())
            else:
                results[key] = {"error": {"type": "Died", "message": f"the process died (wait status {status})",
                                          "line": None}, "trace": [], "seconds": round(time.monotonic() - start, 2)}
    return results


# --- verdicts -----------------------------------------------------------------------------------


def _fmt(shape: Any) -> str:
    if isinstance(shape, list) and all(isinstance(d, int) for d in shape):
        return "(" + ", ".join(map(str, shape)) + ")"
    return json.dumps(shape)


def trace_difference(original: list[Any], mutant: list[Any], finished: bool) -> str | None:
    """The first module call whose output shape differs, in words; None if none does."""
    for i, (a, b) in enumerate(zip(original, mutant)):
        if a != b:
            return f"module call #{i} {b[0]}: output {_fmt(b[1])}, originally {a[0]} {_fmt(a[1])}"
    if finished and len(original) != len(mutant):
        return f"{len(mutant)} module calls, originally {len(original)}"
    return None


def verdict(m: Mutant, result: dict[str, Any], original_trace: list[Any]) -> tuple[bool, str, str]:
    """(confirmed, outcome, message) for one mutant run."""
    error = result["error"]
    message = f"{error['type']}: {error['message']}" if error else ""
    if m.operator not in SHAPE_OPERATORS:
        return (error is None, "runs" if error is None else "error", message)
    if is_shape_error(error):
        return True, "crash", message
    diff = trace_difference(original_trace, result["trace"], finished=error is None)
    if diff is not None:
        return True, "shape-diff", diff + (f" (then {message})" if message else "")
    return False, ("no-effect" if error is None else "error"), message


def confirm(programs: list[str] | None, workers: int, timeout: float, force: bool) -> dict[str, Any]:
    import torch

    sources = program_sources()
    if programs:
        unknown = sorted(set(programs) - set(sources))
        if unknown:
            raise SystemExit(f"unknown programs: {', '.join(unknown)} (see {PROGRAMS})")
    cached: dict[str, Any] = json.loads(CONFIRMED.read_text()) if CONFIRMED.exists() else {"programs": {}, "mutants": []}
    old = {(e["program"], e["operator"], e["site"]): e for e in cached["mutants"]}
    old_programs = cached.get("programs", {})
    every = all_mutants(sources)
    if programs:
        todo = set(programs)
    elif force:
        todo = set(sources)
    else:  # the programs that changed or have a mutant without a current verdict
        todo = {m.program for m in every
                if (e := old.get((m.program, m.operator, m.site))) is None or e["sha256"] != m.sha256}
        todo |= {name for name, src in sources.items()
                 if old_programs.get(name, {}).get("sha256") != _sha(src)}
    with tempfile.TemporaryDirectory(prefix="realcode-mutants-") as tmp:
        jobs: list[tuple[str, Path]] = []
        for name in sorted(todo):
            path = Path(tmp) / f"{name}.py"
            path.write_text(sources[name], encoding="utf-8")
            jobs += [(f"{name}#a", path), (f"{name}#b", path)]
        fresh: list[Mutant] = []
        for m in every:
            entry = old.get((m.program, m.operator, m.site))
            if m.program in todo and (force or entry is None or entry["sha256"] != m.sha256):
                path = Path(tmp) / m.filename
                path.write_text(m.source, encoding="utf-8")
                jobs.append((m.filename, path))
                fresh.append(m)
        print(f"running {len(jobs)} programs and mutants ({workers} at a time)...", file=sys.stderr)
        t0 = time.perf_counter()
        results = run_many(jobs, workers, timeout)
        print(f"  done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    prog_info = {k: v for k, v in old_programs.items() if k in sources and k not in todo}
    traces: dict[str, list[Any]] = {}
    for name in sorted(todo):
        a, b = results[f"{name}#a"], results[f"{name}#b"]
        traces[name] = a["trace"]
        prog_info[name] = {
            "sha256": _sha(sources[name]),
            "ok": a["error"] is None and b["error"] is None,
            "error": f"{a['error']['type']}: {a['error']['message']}" if a["error"] else None,
            "deterministic": a["trace"] == b["trace"],
            "module_calls": len(a["trace"]),
            "seconds": a["seconds"],
        }
    entries: list[dict[str, Any]] = []
    fresh_keys = {(m.program, m.operator, m.site) for m in fresh}
    for m in every:
        key = (m.program, m.operator, m.site)
        if key not in fresh_keys:
            if key in old and old[key]["sha256"] == m.sha256:
                entries.append(old[key])
            continue
        ok = prog_info[m.program]["ok"] and prog_info[m.program]["deterministic"]
        confirmed, outcome, message = verdict(m, results[m.filename], traces[m.program])
        if not ok:
            confirmed, outcome, message = False, "original-fails", prog_info[m.program]["error"] or "nondeterministic"
        entries.append({
            "program": m.program, "operator": m.operator, "family": m.family, "site": m.site,
            "line": m.line, "before": m.before, "after": m.after, "sha256": m.sha256,
            "confirmed": confirmed, "outcome": outcome, "message": message[:400],
        })
    data = {"torch": torch.__version__, "programs": dict(sorted(prog_info.items())), "mutants": entries}
    CONFIRMED.write_text(json.dumps(data, indent=1) + "\n")
    return data


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def summary(data: dict[str, Any]) -> str:
    bad = [f"  {k}: {v['error'] or 'nondeterministic shapes'}" for k, v in data["programs"].items()
           if not (v["ok"] and v["deterministic"])]
    lines = [f"{len(data['programs'])} programs, {len(bad)} failing" + (":" if bad else ""), *bad]
    by_op: dict[str, list[int]] = {}
    for e in data["mutants"]:
        c = by_op.setdefault(e["operator"], [0, 0])
        c[0] += 1
        c[1] += e["confirmed"]
    for op, (n, k) in by_op.items():
        lines.append(f"  {op:24s} {k:4d} confirmed of {n:4d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per run (generous: a loaded machine runs 5x slower)")
    parser.add_argument("--force", action="store_true", help="rerun every mutant, not only new or changed ones")
    parser.add_argument("--programs", nargs="*", help="only these programs (file stems)")
    args = parser.parse_args(argv)
    data = confirm(args.programs, args.jobs, args.timeout, args.force)
    print(summary(data))


if __name__ == "__main__":
    main()
