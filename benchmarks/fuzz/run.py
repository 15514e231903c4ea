"""Fuzz and adversarial harness for the static CLI (issue 14).

    .venv/bin/pip install -e '.[fuzz]' -c constraints.txt    # hypothesmith, optional
    .venv/bin/python benchmarks/fuzz/run.py                    # full run (~20-40 min on 2 cores)
    .venv/bin/python benchmarks/fuzz/run.py --scale 0.05       # a smoke run (~2 min)

Every input runs through the real CLI in a fresh process, under a wall-clock timeout and an
address-space cap (RLIMIT_AS), and each run is classified:

- traceback: "Traceback (most recent call last)" on stdout or stderr;
- bad exit: a status outside {0, 1, 2} (a signal, such as SIGSEGV, included);
- SC903: an internal error reported for a file;
- hang: the timeout expired;
- memory: MemoryError, or the peak RSS over `--mem-mb`.

Generated inputs (hypothesmith programs, random PyTorch programs, text, byte and semantic mutants
of the fixtures and of mirrored real repositories) are checked in batches of `--batch` files per
process; a batch that crashes or hangs is re-run file by file to name the culprit. Hostile
cases (`hostile.py`) run one per process. Batches of mutants also run with `--fix` and `--diff`
(on copies), and a sample with `shapes`. Results: `results.json` and a table on stdout; a failing
input is saved under `failures/` to reproduce.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import hostile  # noqa: E402

CLASSES = ("traceback", "bad_exit", "sc903", "hang", "memory")
TREE = ROOT  # the shapecheck checked: a snapshot of HEAD by default (see `snapshot`)


def snapshot() -> Path:
    """`shapecheck/` as committed at HEAD, in a temporary folder: the working tree is shared with
    other engineers' half-saved edits, which must not count as findings."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-tree-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", "shapecheck"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    os.chmod(folder, 0o755)
    return folder


@dataclass
class Outcome:
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float
    problems: list[str] = field(default_factory=list)


def run_cli(argv: list[str], cwd: Path, timeout: float, mem_mb: int, *, as_nobody: bool = False,
            stdout: str | None = None) -> Outcome:
    """One CLI process under a timeout and RLIMIT_AS; classified."""
    cmd = [sys.executable, "-m", "shapecheck.cli", *argv]
    if as_nobody and os.geteuid() == 0 and shutil.which("setpriv"):
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    limit = mem_mb * 1024 * 1024

    def limits() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    out_target: Any = subprocess.PIPE
    handle = None
    if stdout == "/dev/full":
        handle = out_target = open("/dev/full", "w")  # noqa: SIM115
    env = {**os.environ, "PYTHONPATH": str(TREE), "NO_COLOR": "1"}
    env.pop("SHAPECHECK_CACHE_DIR", None)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=out_target, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            preexec_fn=limits, env=env)
    if stdout == "closed" and proc.stdout is not None:
        proc.stdout.close()
    box: dict[str, Any] = {}

    def reap() -> None:
        _, status, usage = os.wait4(proc.pid, 0)
        box["status"], box["rss"] = status, usage.ru_maxrss / 1024

    def drain(stream: Any, key: str) -> None:
        box[key] = stream.read() if stream is not None and not stream.closed else b""

    readers = [threading.Thread(target=drain, args=(proc.stderr, "err"), daemon=True)]
    if proc.stdout is not None and not proc.stdout.closed:
        readers.append(threading.Thread(target=drain, args=(proc.stdout, "out"), daemon=True))
    for r in readers:
        r.start()
    waiter = threading.Thread(target=reap, daemon=True)
    waiter.start()
    waiter.join(timeout)
    hung = waiter.is_alive()
    if hung:
        try:
            os.killpg(proc.pid, 9)
        except OSError:
            pass
        waiter.join(30)
    for r in readers:
        r.join(30)
    if handle is not None:
        handle.close()
    seconds = time.perf_counter() - start
    status = box.get("status")
    rc = None if status is None else (os.waitstatus_to_exitcode(status))
    proc.returncode = rc  # reaped by wait4: keep Popen from waiting again
    outcome = Outcome(rc, box.get("out", b"").decode("utf-8", "replace"), box.get("err", b"").decode("utf-8", "replace"),
                      seconds, box.get("rss", 0.0))
    text = outcome.stdout + outcome.stderr
    if hung:
        outcome.problems.append("hang")
    elif rc not in (0, 1, 2):
        outcome.problems.append("bad_exit")
    if "Traceback (most recent call last)" in text:
        outcome.problems.append("traceback")
    if "SC903" in text:
        outcome.problems.append("sc903")
    if "MemoryError" in text or outcome.max_rss_mb > mem_mb * 0.9:
        outcome.problems.append("memory")
    return outcome


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tried: Counter[str] = Counter()
        self.failures: dict[str, Counter[str]] = {}
        self.examples: list[dict[str, Any]] = []
        self.slowest: list[tuple[float, str]] = []
        self.peak_rss = 0.0
        self.faildir = HERE / "failures"

    def record(self, kind: str, name: str, outcome: Outcome, data: bytes | None = None) -> None:
        self.peak_rss = max(self.peak_rss, outcome.max_rss_mb)
        self.slowest = sorted([*self.slowest, (outcome.seconds, f"{kind}:{name}")], reverse=True)[:8]
        for p in outcome.problems:
            self.failures.setdefault(kind, Counter())[p] += 1
        if outcome.problems:
            entry = {"kind": kind, "name": name, "problems": outcome.problems, "rc": outcome.rc,
                     "seconds": round(outcome.seconds, 1), "tail": (outcome.stdout + outcome.stderr)[-800:]}
            self.examples.append(entry)
            print(f"  FAIL {kind} {name}: {outcome.problems} rc={outcome.rc}", flush=True)
            if data is not None:
                self.faildir.mkdir(exist_ok=True)
                (self.faildir / f"{kind}-{len(self.examples)}.py").write_bytes(data)

    # generated inputs, in batches ------------------------------------------------------------

    def batch(self, kind: str, items: list[tuple[str, bytes]], extra: list[str] | None = None,
              suffix: str = ".py") -> None:
        size = self.args.batch
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
                folder = Path(tmp)
                names = {}
                for i, (name, data) in enumerate(chunk):
                    fname = f"in{i:04d}{suffix}"
                    (folder / fname).write_bytes(data)
                    names[fname] = (name, data)
                argv = ["check", "--no-cache", "-j", "1", "--output-format", "json", "--exit-zero", *(extra or []), "."]
                outcome = run_cli(argv, folder, self.args.timeout * len(chunk) / 4 + 60, self.args.mem_mb)
                self.tried[kind] += len(chunk)
                self.peak_rss = max(self.peak_rss, outcome.max_rss_mb)
                self.slowest = sorted([*self.slowest, (outcome.seconds, f"{kind}:batch of {len(chunk)}")], reverse=True)[:8]
                if not outcome.problems:
                    continue
                if outcome.problems == ["sc903"] and extra is None:
                    try:
                        rows = json.loads(outcome.stdout)
                    except ValueError:
                        rows = None
                    if rows is not None:
                        for row in rows:
                            if row.get("code") == "SC903":
                                fname = Path(row["filename"]).name
                                name, data = names.get(fname, (fname, b""))
                                self.record(kind, name, Outcome(outcome.rc, row["message"], "", 0, 0, ["sc903"]), data)
                        continue
                # a crash or hang of the batch: one process per file, to name the input
                for fname, (name, data) in names.items():
                    with tempfile.TemporaryDirectory(prefix="fuzz1-") as one:
                        (Path(one) / fname).write_bytes(data)
                        single = run_cli(argv[:-1] + [fname], Path(one), self.args.timeout, self.args.mem_mb)
                    if single.problems:
                        self.record(kind, name, single, data)

    def shapes_sample(self, kind: str, items: list[tuple[str, bytes]]) -> None:
        for name, data in items:
            with tempfile.TemporaryDirectory(prefix="fuzzs-") as tmp:
                (Path(tmp) / "f.py").write_bytes(data)
                outcome = run_cli(["shapes", "f.py"], Path(tmp), self.args.timeout, self.args.mem_mb)
            self.tried[kind] += 1
            # `shapes` exits 2 with one line for a file it cannot parse: fine; a traceback is not
            self.record(kind, name, outcome, data)

    # hostile cases ---------------------------------------------------------------------------

    def hostile(self) -> None:
        for name, build in hostile.cases():
            with tempfile.TemporaryDirectory(prefix="fuzzh-") as tmp:
                folder = Path(tmp)
                os.chmod(folder, 0o777)  # setpriv'd runs must be able to enter it
                try:
                    argv, options = build(folder)
                except OSError as exc:
                    print(f"  skip {name}: {exc}")
                    continue
                outcome = run_cli(argv, folder, self.args.hostile_timeout, self.args.mem_mb, **options)
                # restore permissions so the folder can be removed
                for p in folder.rglob("*"):
                    try:
                        if not p.is_symlink():
                            p.chmod(0o755)
                    except OSError:
                        pass
            self.tried["hostile"] += 1
            self.record("hostile", name, outcome)
            if self.args.verbose:
                print(f"  {name}: rc={outcome.rc} {outcome.seconds:.1f}s {outcome.max_rss_mb:.0f}MB "
                      f"{(outcome.stdout + outcome.stderr).strip().splitlines()[-1:] or ''}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every generated count")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per input")
    parser.add_argument("--hostile-timeout", type=float, default=300.0)
    parser.add_argument("--mem-mb", type=int, default=4096)
    parser.add_argument("--only", choices=("hostile", "generated"), default=None)
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--live", action="store_true", help="check the working tree, not a snapshot of HEAD")
    args = parser.parse_args()
    global TREE
    if not args.live:
        TREE = snapshot()
    h = Harness(args)
    begin = time.perf_counter()
    n = lambda count: max(1, int(count * args.scale))  # noqa: E731
    if args.only != "generated":
        print("hostile catalogue", flush=True)
        h.hostile()
        save(h, args, begin, partial=True)
    if args.only != "hostile":
        seeds = generate.seed_sources()
        print(f"{len(seeds)} seed files", flush=True)
        enc = lambda items: [(name, text.encode("utf-8", "surrogatepass")) for name, text in items]  # noqa: E731
        print("torch programs", flush=True)
        programs = enc([(f"prog{i}", p) for i, p in enumerate(generate.torch_programs(n(3000), args.seed))])
        h.batch("torch_programs", programs)
        save(h, args, begin, partial=True)
        print("text mutants", flush=True)
        mutants = enc(list(generate.text_mutants(seeds, n(3000), args.seed)))
        h.batch("text_mutants", mutants)
        save(h, args, begin, partial=True)
        print("byte mutants", flush=True)
        h.batch("byte_mutants", list(generate.byte_mutants(seeds, n(1000), args.seed)))
        print("semantic mutants", flush=True)
        h.batch("semantic_mutants", enc(list(generate.semantic_mutants(seeds, n(1000)))))
        save(h, args, begin, partial=True)
        print("fix and diff on mutants and programs", flush=True)
        h.batch("fix_runs", mutants[: n(500)] + programs[: n(500)], ["--fix", "--unsafe-fixes"])
        h.batch("diff_runs", mutants[n(500): n(1000)], ["--diff"])
        print("shapes sample", flush=True)
        h.shapes_sample("shapes_runs", mutants[: n(60)] + programs[: n(60)])
        save(h, args, begin, partial=True)
        print("hypothesmith programs", flush=True)
        grammar = enc([(f"hm{i}", s) for i, s in enumerate(generate.hypothesmith_programs(n(600), args.seed))])
        h.batch("hypothesmith", grammar)
    result = save(h, args, begin)
    total, failed = result["total_inputs"], result["total_failures"]
    print(f"\n{'kind':<18} {'inputs':>7}  " + "  ".join(f"{c:>9}" for c in CLASSES))
    for kind, count in h.tried.items():
        row = h.failures.get(kind, Counter())
        print(f"{kind:<18} {count:>7}  " + "  ".join(f"{row.get(c, 0):>9}" for c in CLASSES))
    print(f"\n{total} inputs, {failed} failures, peak RSS {h.peak_rss:.0f} MB, {result['minutes']} min")
    return 1 if failed else 0


def save(h: Harness, args: argparse.Namespace, begin: float, partial: bool = False) -> dict[str, Any]:
    total = sum(h.tried.values())
    failed = sum(sum(c.values()) for c in h.failures.values())
    result = {
        "inputs": dict(h.tried), "total_inputs": total, "failures": {k: dict(v) for k, v in h.failures.items()},
        "total_failures": failed, "examples": h.examples[:50], "peak_rss_mb": round(h.peak_rss),
        "slowest": [(round(s, 1), name) for s, name in h.slowest], "minutes": round((time.perf_counter() - begin) / 60, 1),
        "scale": args.scale, "seed": args.seed, "timeout_s": args.timeout, "mem_cap_mb": args.mem_mb,
        "partial": partial,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    sys.exit(main())
