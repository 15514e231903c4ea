"""Speed of `shapecheck check` against the floor of any libcst tool, the bare parse.

    .venv/bin/python benchmarks/bench_check.py [--files 500] [--repeat 3] [--keep DIR]
    .venv/bin/python benchmarks/bench_check.py --real DIR [DIR ...]   # real code instead (copied)

Generates a corpus (benchmarks/corpus.py) in a temporary directory, then times whole processes,
as research/perf-baseline.md does (start-up included, median of --repeat runs):

- bare `libcst.parse_module` over every file, one process;
- `shapecheck check -j1 --no-cache` (all default rules);
- `shapecheck check --no-cache` (-j default: every core);
- a warm cached run (after one run that fills the cache).

The package is first copied into the temporary directory and run from there (PYTHONPATH), so
edits to the working tree during a long measurement cannot change the code being measured or
invalidate the cache between the fill and the warm run. Prints files/s, wall time and the ratio to the bare parse. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import ROOT, generate  # noqa: E402

PARSE_ALL = """
import sys
import libcst
for name in sys.argv[1:]:
    with open(name, encoding="utf-8") as fh:
        libcst.parse_module(fh.read())
"""


def timed(cmd: list[str], cwd: Path, repeat: int, env: dict[str, str], before: object = None) -> float:
    runs = []
    for _ in range(repeat):
        if callable(before):
            before()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        runs.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return statistics.median(runs)


def warm_run(exe: list[str], work: Path, repeat: int, env: dict[str, str], cache: Path) -> float:
    """Fill the cache with one run, then time re-runs."""
    shutil.rmtree(cache, ignore_errors=True)
    subprocess.run([*exe, "corpus"], cwd=work, env=env, stdout=subprocess.DEVNULL, check=False)
    return timed([*exe, "corpus"], work, repeat, env)


def real_corpus(dest: Path, roots: list[Path]) -> list[Path]:
    """Copy the .py files of real checkouts (whole-program inference needs their folders kept)."""
    files: list[Path] = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            target = dest / root.name / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            files.append(target)
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=500, help="corpus size (default 500)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    ap.add_argument("--keep", type=Path, default=None, help="generate the corpus here and keep it")
    ap.add_argument("--real", type=Path, nargs="+", default=None,
                    help="measure on the .py files of these folders (e.g. checkouts of pytorch/examples, nanoGPT)")
    args = ap.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="shapecheck-bench-"))
    try:
        corpus = work / "corpus"
        if corpus.exists():
            shutil.rmtree(corpus)
        files = real_corpus(corpus, args.real) if args.real else generate(corpus, args.files)
        cache = work / "cache"
        snapshot = work / "src"
        shutil.rmtree(snapshot, ignore_errors=True)
        shutil.copytree(ROOT / "shapecheck", snapshot / "shapecheck",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        env = {**os.environ, "SHAPECHECK_CACHE_DIR": str(cache), "NO_COLOR": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(snapshot), os.environ.get("PYTHONPATH", "")]))}
        exe = [sys.executable, "-m", "shapecheck.cli", "check", "--exit-zero", "--no-progress"]
        n = len(files)
        lines = sum(len(f.read_text().splitlines()) for f in files)
        mentions = sum(1 for f in files if any(w in f.read_text() for w in ("torch", "numpy", "jax", "einops")))
        rows: list[tuple[str, float]] = []
        rows.append(("bare libcst.parse_module (1 process)",
                     timed([sys.executable, "-c", PARSE_ALL, *map(str, files)], work, args.repeat, env)))
        rows.append(("shapecheck check -j1 --no-cache", timed([*exe, "-j1", "--no-cache", "corpus"], work, args.repeat, env)))
        rows.append((f"shapecheck check --no-cache (-j{os.cpu_count()})",
                     timed([*exe, "--no-cache", "corpus"], work, args.repeat, env)))
        rows.append(("shapecheck check, warm cache", warm_run(exe, work, args.repeat, env, cache)))

        base = rows[0][1]
        print(f"corpus: {n} files, {lines} lines, {n - mentions} never mention a tensor library; "
              f"{os.cpu_count()} cores; median of {args.repeat}")
        print(f"{'run':<42} {'wall s':>8} {'files/s':>9} {'x parse':>8}")
        for name, secs in rows:
            print(f"{name:<42} {secs:>8.2f} {n / secs:>9.1f} {secs / base:>8.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
