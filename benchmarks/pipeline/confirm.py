"""Confirm the pipeline mutants under torch (CPU only) and record the verdicts in confirmed.json.

    .venv/bin/python benchmarks/pipeline/confirm.py            # new or changed programs/mutants only
    .venv/bin/python benchmarks/pipeline/confirm.py --force    # everything again (about 15 minutes on 2 cores)

Every original, mutant and twin runs twice through `probe.py` (one process each, in a fresh
temporary folder): a plain CPU run (`real`: does it still run; the values a `.to()` copies) and a
run on fake tensors with a fake `cuda` (`fake`: which lines read values from the accelerator,
copy to or from it, at which backward() count). The DDP programs' originals and sampler mutants
also run with 2 processes on gloo (`ddp`: the sample indices each rank's loaders hand out).

A mutant is confirmed when its real run ends cleanly (as the original's does) and:

- per_step_item / per_step_print / per_step_cpu / if_tensor: the fake run reads a value from the
  accelerator (or copies to the host) at the inserted lines after at least 2 different backward()
  counts, i.e. on every iteration it ran;
- invariant_copy: the fake run copies host->accelerator at the inserted lines after at least 2
  backward() counts, and the real run shows the copied value is the same each time;
- cpu_one_side: the fake run ends without a device error and copies accelerator->host at the loss
  line after at least 2 backward() counts;
- num_workers_zero: a loader the fake run asked for num_workers > 0 in the original now asks for 0,
  it hands out batches after at least 2 backward() counts (it feeds the training loop) and its
  dataset is not a TensorDataset (on a TensorDataset the mutant becomes the silent twin
  `tensordataset_workers_zero`);
- pin_false_nonblocking: the fake run has more `non_blocking=True` host->accelerator copies of
  unpinned tensors than the original, after at least 2 backward() counts;
- drop_distributed_sampler: with 2 ranks, the first full pass of a loader on rank 0 and rank 1
  share at least half their samples (the original's passes are disjoint but for padding);
- drop_set_epoch: with 2 ranks, every full pass of a loader on a rank has the same order, where the
  original's orders differ.

Twins are not confirmed (they are correct code); their real run must end cleanly.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from mutate import MUTANT_OPERATORS, Mutant, mutants  # noqa: E402

PROGRAMS = HERE / "programs"
CONFIRMED = HERE / "confirmed.json"
META = tomllib.loads((HERE / "programs.toml").read_text(encoding="utf-8"))
SYNC_OPS = ("per_step_item", "per_step_print", "per_step_cpu", "if_tensor")
DDP_OPS = ("drop_distributed_sampler", "drop_set_epoch")
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
_port = [29700]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def runnable() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(PROGRAMS.glob("*.py"))
            if not META.get(p.stem, {}).get("static_only")}


def all_mutants(sources: dict[str, str]) -> list[Mutant]:
    return [m for name, src in sources.items() for m in mutants(name, src)]


def run_probe(mode: str, name: str, source: str, timeout: float) -> dict[str, Any]:
    """Run `source` (the program `name`, or one of its mutants `name__op__site`) under probe.py."""
    work = Path(tempfile.mkdtemp(prefix=f"pipeline-{mode}-"))
    try:
        prog = work / f"{name}.py"
        prog.write_text(source, encoding="utf-8")
        out = work / "probe.json"
        meta = META.get(name.split("__")[0], {})
        args = list(meta.get("fake_args", [])) if mode == "fake" else []
        env = {**os.environ, "PYTHONPATH": f"{HERE / 'site'}{os.pathsep}{ROOT}", "PYTHONHASHSEED": "0"}
        _port[0] += 1  # every run its own rendezvous port: parallel runs of one DDP program must not meet
        port = _port[0] + 97 * (os.getpid() % 50)
        env["MASTER_PORT"] = str(port)
        if mode == "ddp":
            env.update(PIPELINE_WORLD_SIZE="2")
            if meta.get("ddp") == "imagenet":
                args = ["--dist-backend", "gloo", "--dist-url", f"tcp://127.0.0.1:{port}", "--world-size", "1",
                        "--rank", "0", "--multiprocessing-distributed"]
        try:
            proc = subprocess.run([PYTHON, str(HERE / "probe.py"), mode, str(out), str(prog), *args], cwd=work,
                                  env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"timeout {timeout:g} s", "events": []}
        if not out.exists():
            return {"ok": False, "error": f"no report (exit {proc.returncode}): {proc.stderr[-400:]}", "events": []}
        result = json.loads(out.read_text())
        if mode == "ddp":
            children = []
            for f in work.glob("probe.json.*"):
                try:
                    d = json.loads(f.read_text())
                except json.JSONDecodeError:
                    continue
                if d.get("events"):
                    children.append(d)
            result["children"] = children
        if proc.returncode != 0 and result.get("ok"):
            result["ok"], result["error"] = False, f"exit {proc.returncode}"
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def changed_lines(original: str, mutant: str) -> set[int]:
    a, b = original.splitlines(), mutant.splitlines()
    out: set[int] = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            out.update(range(j1 + 1, j2 + 1))
    return out


def _steps(events: list[dict], kinds: tuple[str, ...], lines: set[int] | None = None) -> set[int]:
    return {e["step"] for e in events if e["kind"].startswith(kinds) and (lines is None or e["line"] in lines)}


def _loaders(events: list[dict]) -> list[dict]:
    return [e for e in events if e["kind"] == "loader"]


def _passes(run: dict[str, Any]) -> dict[tuple[int, int], list[list[int]]]:
    """(rank, loader creation order on that rank) -> the index lists of its complete passes."""
    out: dict[tuple[int, int], list[list[int]]] = {}
    for child in run.get("children", []):
        lines: list[int] = []
        for e in child["events"]:
            if e["kind"] != "epoch":
                continue
            if e["line"] not in lines:
                lines.append(e["line"])
            if e.get("len") and len(e["indices"]) >= e["len"]:
                out.setdefault((e["rank"], lines.index(e["line"])), []).append(e["indices"])
    return out


def _overlap(passes: dict[tuple[int, int], list[list[int]]], k: int) -> tuple[int, int] | None:
    a, b = passes.get((0, k)), passes.get((1, k))
    if not a or not b:
        return None
    return len(set(a[0]) & set(b[0])), len(a[0])


def _repeats(passes: dict[tuple[int, int], list[list[int]]], k: int) -> bool | None:
    p = passes.get((0, k))
    if not p or len(p) < 2:
        return None
    return all(x == p[0] for x in p[1:])


def judge(m: Mutant, original: str, runs: dict[str, dict[str, Any]], base: dict[str, dict[str, Any]]) -> tuple[bool, str, str]:
    """(confirmed, operator as counted, why)."""
    real, fake = runs["real"], runs.get("fake", {})
    if not real.get("ok"):
        return False, m.operator, f"does not run: {real.get('error')}"
    if m.twin:
        return False, m.operator, "twin: runs"
    if m.operator == "num_workers_zero" and not fake:
        return False, m.operator, "no fake run"
    lines = changed_lines(original, m.source)
    ev = fake.get("events", [])
    if m.operator in SYNC_OPS:
        if not fake.get("ok"):
            return False, m.operator, f"fake run failed: {fake.get('error')}"
        s = _steps(ev, ("sync:", "d2h"), lines)
        return len(s) >= 2, m.operator, f"value reads/host copies at the inserted lines after {len(s)} distinct backward counts"
    if m.operator == "invariant_copy":
        if not fake.get("ok"):
            return False, m.operator, f"fake run failed: {fake.get('error')}"
        s = _steps(ev, ("h2d",), lines)
        values = [tuple(e.get("value") or ()) for e in real.get("events", []) if e["kind"] == "h2d" and e["line"] in lines]
        same = len(values) >= 2 and len(set(values)) == 1
        return len(s) >= 2 and same, m.operator, (f"host->device copies at the inserted line after {len(s)} backward counts; "
                                                  f"{len(values)} copies in the CPU run, values {'identical' if same else 'differ/missing'}")
    if m.operator == "cpu_one_side":
        if not fake.get("ok"):
            return False, m.operator, f"fake run failed: {fake.get('error')}"
        s = _steps(ev, ("d2h",), lines)
        return len(s) >= 2, m.operator, f"device->host copies at the loss line after {len(s)} backward counts"
    if m.operator == "num_workers_zero":
        if not fake.get("ok"):
            return False, m.operator, f"fake run failed: {fake.get('error')}"
        before, after = _loaders(base["fake"].get("events", [])), _loaders(ev)
        hit = [(b, a) for b, a in zip(before, after) if b["num_workers"] > 0 and a["num_workers"] == 0]
        if not hit:
            return False, m.operator, "no loader's num_workers changed in the fake run (the setting is on a path not taken)"
        for _, a in hit:
            feeds = {e["step"] for e in ev if e["kind"] == "batch" and e.get("loader") == a["line"]}
            if len(feeds) >= 2:
                if a["tensordataset"]:
                    return False, "tensordataset_workers_zero", f"loader L{a['line']} over a TensorDataset feeds the training loop"
                return True, m.operator, (f"loader L{a['line']} over {a['base_dataset']} with num_workers 0 hands out batches "
                                          f"after {len(feeds)} backward counts")
        return False, m.operator, "the changed loader does not feed a training loop (an evaluation loader)"
    if m.operator == "pin_false_nonblocking":
        if not fake.get("ok"):
            return False, m.operator, f"fake run failed: {fake.get('error')}"

        def unpinned(events: list[dict]) -> list[dict]:
            return [e for e in events if e["kind"] == "h2d" and e.get("non_blocking") and not e.get("pinned")]
        n0, n1 = len(unpinned(base["fake"].get("events", []))), unpinned(ev)
        s = {e["step"] for e in n1}
        return len(n1) > n0 and len(s) >= 2, m.operator, (f"non_blocking copies of unpinned host tensors: {n0} -> {len(n1)}, "
                                                           f"after {len(s)} backward counts")
    if m.operator in DDP_OPS:
        ddp, ddp0 = runs.get("ddp", {}), base.get("ddp", {})
        if not ddp.get("ok"):
            return False, m.operator, f"2-rank run failed: {ddp.get('error')}"
        p1, p0 = _passes(ddp), _passes(ddp0)
        ks = sorted({k for _, k in p0} | {k for _, k in p1})
        if m.operator == "drop_distributed_sampler":
            for k in ks:
                o1, o0 = _overlap(p1, k), _overlap(p0, k)
                if o1 and o0 is not None and o1[0] * 2 >= o1[1] and o1[0] > o0[0]:
                    return True, m.operator, f"loader #{k}: ranks 0 and 1 share {o1[0]} of {o1[1]} samples per pass (original: {o0[0]})"
            return False, m.operator, f"no loader whose ranks share samples: {[(k, _overlap(p1, k), _overlap(p0, k)) for k in ks]}"
        for k in ks:
            r1, r0 = _repeats(p1, k), _repeats(p0, k)
            if r1 and r0 is False:
                return True, m.operator, f"loader #{k}: rank 0's {len(p1[(0, k)])} passes have one order (original: orders differ)"
        return False, m.operator, f"no loader whose order repeats only without set_epoch: {[(k, _repeats(p1, k), _repeats(p0, k)) for k in ks]}"
    return False, m.operator, "unknown operator"


def confirm(force: bool, jobs: int, timeout: float, only: list[str] | None = None) -> dict[str, Any]:
    import torch

    sources = runnable()
    if only:
        sources = {k: v for k, v in sources.items() if k in only}
    old = json.loads(CONFIRMED.read_text()) if CONFIRMED.exists() and not force else {"programs": {}, "mutants": []}
    old_m = {(e["program"], e["operator_generated"], e["site"]): e for e in old["mutants"]}
    data: dict[str, Any] = {"torch": torch.__version__, "programs": dict(old["programs"]), "mutants": []}
    base: dict[str, dict[str, dict[str, Any]]] = {}

    def prog_runs(name: str) -> tuple[str, dict[str, dict[str, Any]]]:
        src = sources[name]
        modes = ["real", "fake"] + (["ddp"] if META.get(name, {}).get("ddp") else [])
        return name, {mode: run_probe(mode, name, src, timeout) for mode in modes}

    with ThreadPoolExecutor(jobs) as pool:
        for name, runs in pool.map(prog_runs, sorted(sources)):
            base[name] = runs
            data["programs"][name] = {"sha256": sha(sources[name]), "real_ok": runs["real"].get("ok"),
                                      "real_error": runs["real"].get("error"), "fake_ok": runs["fake"].get("ok"),
                                      "fake_error": runs["fake"].get("error"), "fake_backward_calls": runs["fake"].get("steps"),
                                      "ddp_ok": runs.get("ddp", {}).get("ok")}
            print(f"{name}: real {runs['real'].get('ok')} fake {runs['fake'].get('ok')} "
                  f"{runs['fake'].get('error') or ''} {runs['real'].get('error') or ''}", flush=True)

    todo = []
    for m in all_mutants(sources):
        e = old_m.get((m.program, m.operator, m.site))
        if e is not None and e["sha256"] == m.sha256 and data["programs"][m.program]["sha256"] == old["programs"].get(m.program, {}).get("sha256"):
            data["mutants"].append(e)
        else:
            todo.append(m)

    def run_one(m: Mutant) -> dict[str, Any]:
        modes = ["real"] + ([] if m.twin else ["fake"]) + (["ddp"] if m.operator in DDP_OPS else [])
        runs = {mode: run_probe(mode, m.filename[:-3], m.source, timeout) for mode in modes}
        ok, op, why = judge(m, sources[m.program], runs, base[m.program])
        return {"program": m.program, "operator_generated": m.operator, "operator": op, "site": m.site, "line": m.line,
                "before": m.before, "after": m.after, "sha256": m.sha256, "twin": m.twin or op == "tensordataset_workers_zero",
                "confirmed": ok, "why": why, "real_ok": runs["real"].get("ok"), "error": runs["real"].get("error")}

    print(f"{len(todo)} mutants to run ({len(data['mutants'])} cached)", flush=True)
    with ThreadPoolExecutor(jobs) as pool:
        for row in pool.map(run_one, todo):
            data["mutants"].append(row)
            print(f"  {row['program']}__{row['operator_generated']}__{row['site']}: {row['operator']} "
                  f"{'CONFIRMED' if row['confirmed'] else '-'} {row['why'][:150]}", flush=True)
    data["mutants"].sort(key=lambda e: (e["program"], e["operator_generated"], e["site"]))
    CONFIRMED.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=240.0)
    ap.add_argument("--program", action="append")
    args = ap.parse_args(argv)
    confirm(args.force, args.jobs, args.timeout, args.program)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
