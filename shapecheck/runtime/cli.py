"""`shapecheck trace SCRIPT [ARGS]...`: run a training script under the tracer.

Exit status (documented in the README):
- the script's own status when it fails (an uncaught exception is 1, `sys.exit(n)` is n);
- otherwise 1 when the trace has a finding of error severity (device mixing, a gradient
  whose shape/device differs from its parameter, NaN/Inf, an op that fails in a dry run);
- otherwise 0 (warnings and infos are printed, but do not fail the run, as with `-W` in Python).
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

from shapecheck.runtime.render import print_summary

from shapecheck.runtime.tracer import Tracer, trace

DRY_RUN_STEPS = 2  # a dry run of a script ends after this many optimizer steps
DRY_RUN_SECONDS = 300.0  # ... or after this much wall time (a loop waiting for a small loss)


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _print_script_error(exc: BaseException) -> None:
    """The script's traceback, without the frames of shapecheck, runpy and torch's dispatch glue."""
    from shapecheck.runtime.tracer import _OWN_DIR, _SKIP_PREFIXES

    frames = traceback.extract_tb(exc.__traceback__)
    mine = (_OWN_DIR, *(p for p in _SKIP_PREFIXES if p.endswith(".py")))
    user = [f for f in frames if not f.filename.startswith(mine)]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(user or frames),
             *traceback.format_exception_only(type(exc), exc)]
    sys.stderr.write("".join(lines))


def _run(script: Path) -> int:
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return _exit_code(exc)
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # noqa: BLE001 - the script's failure is reported, not ours
        _print_script_error(exc)
        return 1
    return 0


def _device_problem(device: str) -> str:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        return (f"--device {device}: not a device torch knows; use cpu, cuda, cuda:1, mps, xpu "
                "(with --dry-run, cuda is faked on any machine)")
    if dev.type not in ("cpu", "cuda", "mps", "xpu", "meta"):
        return f"--device {device}: the tracer supports cpu, cuda, mps, xpu and meta, not {dev.type}"
    return ""


def run_trace(script: Path, script_args: list[str], *, dry_run: bool, json_path: Path | None,
              detect_nan: bool, device: str | None, max_seconds: float | None = DRY_RUN_SECONDS) -> int:
    """Run `script` with `sys.argv = [script, *script_args]` inside the tracer; see module doc."""
    script = Path(script)
    if not script.is_file():
        print(f"shapecheck trace: {script}: no such file", file=sys.stderr)
        return 2
    if device and (problem := _device_problem(device)):
        print(f"shapecheck trace: {problem}", file=sys.stderr)
        return 2
    if max_seconds is not None and max_seconds <= 0:
        print(f"shapecheck trace: --timeout {max_seconds:g}: must be a positive number of seconds", file=sys.stderr)
        return 2
    if device and not dry_run:
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            print(f"shapecheck trace: --device {device}: CUDA is not available here; "
                  "add --dry-run to run on a fake cuda device", file=sys.stderr)
            return 2
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [str(script), *script_args]
    sys.path.insert(0, str(script.resolve().parent))
    status = 0
    tracer: Tracer | None = None
    try:
        if dry_run:
            from shapecheck.runtime.dryrun import fake_environment

            with fake_environment(device or "cuda", patch_torch=True, max_steps=DRY_RUN_STEPS,
                                  max_seconds=max_seconds) as tracer:
                try:
                    runpy.run_path(str(script), run_name="__main__")
                except SystemExit as exc:
                    status = _exit_code(exc)
            if tracer.interrupted and any("Ctrl-C" in f.message for f in tracer.findings):
                status = 130
        else:
            with trace(detect_nan=detect_nan, print_summary=False) as tracer:
                status = _run(script)
    except KeyboardInterrupt:  # outside the script (set-up, or a second Ctrl-C): still show what was found
        status = 130
    except Exception as exc:  # noqa: BLE001 - an unexpected failure of the fake run itself
        _print_script_error(exc)
        status = 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    if tracer is None:
        return status or 1
    print_summary(tracer)
    if json_path is not None:
        data: dict[str, Any] = {"script": str(script), "args": script_args, "dry_run": dry_run,
                                "exit_status": status, **tracer.to_json()}
        try:
            Path(json_path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"shapecheck trace: cannot write {json_path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if status:
        return status
    return 1 if tracer.has_errors else 0


def main() -> None:  # pragma: no cover - `python -m shapecheck.runtime.cli script.py`
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: python -m shapecheck.runtime.cli SCRIPT [ARGS]...")
    sys.exit(run_trace(Path(args[0]), args[1:], dry_run=bool(os.environ.get("SHAPECHECK_DRY_RUN")),
                       json_path=None, detect_nan=False, device=None))


if __name__ == "__main__":  # pragma: no cover
    main()
