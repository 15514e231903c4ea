"""Score shapecheck on real programs with injected, torch-confirmed bugs. No torch needed.

    .venv/bin/python benchmarks/realcode/run.py                 # score (seconds)
    .venv/bin/python benchmarks/realcode/run.py --confirm       # rerun torch on new/changed mutants first
    .venv/bin/python benchmarks/realcode/run.py --keep /tmp/m   # keep the checked files for a look

Regenerates the mutants (mutate.py, deterministic), keeps those `confirmed.json` says torch
confirmed with the same sha256, writes them and the originals into one temporary folder, and runs
`shapecheck check --output-format json --no-cache -j 2 --select ALL` on it once; the default-rules
figures are the findings of the rules on by default (`--separate` runs the two selections apart).
A mutant is *detected* when it has a finding the original does not (code + message, line numbers
ignored, counted as a multiset). Prints, and writes to
`results.md` / `results.json`: every finding on the originals (the target is none), and per
operator the confirmed mutants, the detected ones and the recall.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from mutate import OPERATORS, SHAPE_OPERATORS, TRAINING_OPERATORS, Mutant, mutants  # noqa: E402

PROGRAMS = HERE / "programs"
CONFIRMED = HERE / "confirmed.json"
SELECTIONS = {"default": [], "all": ["--select", "ALL"]}


def _shapecheck() -> list[str]:
    exe = Path(sys.executable).parent / "shapecheck"
    if exe.exists():
        return [str(exe)]
    venv = ROOT / ".venv" / "bin" / "shapecheck"
    if venv.exists():
        return [str(venv)]
    found = shutil.which("shapecheck")
    if found:
        return [found]
    raise SystemExit("shapecheck is not installed: pip install -c constraints.txt -e . first")


_LINE = re.compile(r"\b(line|lines|row)\s+\d+|:\d+(:\d+)?\b")


def _key(finding: dict[str, Any]) -> tuple[str, str]:
    """What makes two findings the same across a mutant and its original: code and message,
    without line numbers (a removed statement shifts every line below it)."""
    return finding["code"], _LINE.sub(r"\1 N", finding["message"])


def check(folder: Path, extra: list[str], jobs: int) -> tuple[dict[str, list[dict[str, Any]]], float]:
    """file name -> its findings; and the wall time of the one shapecheck process."""
    cmd = [*_shapecheck(), "check", "--output-format", "json", "--no-cache", "--exit-zero", "-j", str(jobs), *extra, "."]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"shapecheck failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    by_file: dict[str, list[dict[str, Any]]] = {}
    for finding in json.loads(proc.stdout or "[]"):
        by_file.setdefault(Path(finding["filename"]).name, []).append(finding)
    return by_file, seconds


def load(confirm_first: bool, jobs: int) -> tuple[dict[str, str], list[Mutant], dict[str, Any], list[str]]:
    if confirm_first:
        import confirm

        confirm.confirm(None, jobs, 180.0, force=False)
    if not CONFIRMED.exists():
        raise SystemExit(f"{CONFIRMED} is missing: run with --confirm (needs torch)")
    data = json.loads(CONFIRMED.read_text())
    sources = {p.stem: p.read_text(encoding="utf-8") for p in sorted(PROGRAMS.glob("*.py"))}
    verdicts = {(e["program"], e["operator"], e["site"]): e for e in data["mutants"]}
    stale: list[str] = []
    for name, src in sources.items():
        info = data["programs"].get(name)
        if info is None or info["sha256"] != _sha(src):
            stale.append(f"{name} (program not confirmed in this version)")
    every = [m for name, src in sources.items() for m in mutants(name, src)]
    for m in every:
        entry = verdicts.get((m.program, m.operator, m.site))
        if entry is None or entry["sha256"] != m.sha256:
            stale.append(m.filename)
    return sources, every, data, stale


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _default_on() -> Any:
    """Whether a code is on by default, from shapecheck's rule table (no torch, no rules loaded)."""
    from shapecheck.diagnostics import RULES

    return lambda code: RULES[code].default if code in RULES else True


def score(jobs: int, keep: Path | None, confirm_first: bool, separate: bool = False) -> dict[str, Any]:
    sources, every, data, stale = load(confirm_first, jobs)
    verdicts = {(e["program"], e["operator"], e["site"]): e for e in data["mutants"]}
    good_programs = {k for k, v in data["programs"].items() if v["ok"] and v["deterministic"] and k in sources}
    confirmed = [m for m in every
                 if m.program in good_programs
                 and (e := verdicts.get((m.program, m.operator, m.site))) is not None
                 and e["sha256"] == m.sha256 and e["confirmed"]]
    tmp = Path(tempfile.mkdtemp(prefix="realcode-check-")) if keep is None else keep
    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
    try:
        for name in sorted(good_programs):
            (tmp / f"{name}.py").write_text(sources[name], encoding="utf-8")
        for m in confirmed:
            (tmp / m.filename).write_text(m.source, encoding="utf-8")
        if separate:
            runs = {sel: check(tmp, extra, jobs) for sel, extra in SELECTIONS.items()}
        else:  # one `--select ALL` run; the default selection is its findings of default-on rules
            every, seconds = check(tmp, SELECTIONS["all"], jobs)
            on = _default_on()
            runs = {"default": ({f: [x for x in fs if on(x["code"])] for f, fs in every.items()}, seconds),
                    "all": (every, seconds)}
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    result: dict[str, Any] = {
        "programs": len(sources),
        "programs_running": len(good_programs),
        "unannotated_programs": sum("jaxtyping" not in sources[p] for p in good_programs),
        "stale": stale,
        "selections": {},
    }
    for sel, (by_file, seconds) in runs.items():
        originals = {p: by_file.get(f"{p}.py", []) for p in sorted(good_programs)}
        per_op: dict[str, dict[str, Any]] = {}
        mutant_rows = []
        for m in confirmed:
            base = Counter(_key(f) for f in originals[m.program])
            new = Counter(_key(f) for f in by_file.get(m.filename, [])) - base
            codes = sorted({code for code, _ in new})
            row = per_op.setdefault(m.operator, {"confirmed": 0, "detected": 0, "codes": Counter()})
            row["confirmed"] += 1
            row["detected"] += bool(new)
            row["codes"].update(codes)
            mutant_rows.append({"mutant": m.filename, "line": m.line, "before": m.before, "after": m.after,
                                "detected": bool(new), "codes": codes,
                                "findings": [f"{c}: {msg}" for c, msg in new][:3]})
        totals = {}
        for family, ops in (("shape", SHAPE_OPERATORS), ("training", TRAINING_OPERATORS), ("all", OPERATORS)):
            n = sum(per_op.get(op, {}).get("confirmed", 0) for op in ops)
            d = sum(per_op.get(op, {}).get("detected", 0) for op in ops)
            totals[family] = {"confirmed": n, "detected": d, "recall": round(d / n, 3) if n else None}
        result["selections"][sel] = {
            "seconds": round(seconds, 1),
            "files": len(good_programs) + len(confirmed),
            "original_findings": [
                {"program": p, "code": f["code"], "line": f["location"]["row"], "message": f["message"]}
                for p, fs in originals.items() for f in fs],
            "operators": {op: {"confirmed": v["confirmed"], "detected": v["detected"],
                               "recall": round(v["detected"] / v["confirmed"], 3),
                               "codes": dict(sorted(v["codes"].items()))}
                          for op in OPERATORS if (v := per_op.get(op))},
            "totals": totals,
            "mutants": mutant_rows,
        }
    return result


def _pct(d: int, n: int) -> str:
    return f"{100 * d / n:.0f}%" if n else "-"


def render(result: dict[str, Any], data: dict[str, Any]) -> str:
    default, every = result["selections"]["default"], result["selections"]["all"]
    outcomes: dict[str, Counter[str]] = {}
    for e in data["mutants"]:
        outcomes.setdefault(e["operator"], Counter())[e["outcome"]] += 1
    lines = [
        "# Real-code mutation evaluation",
        "",
        f"{result['programs']} programs ({result['programs_running']} run clean under torch, "
        f"{result['unannotated_programs']} without jaxtyping annotations); "
        f"generated by `mutate.py`, confirmed by `confirm.py` (torch {data.get('torch', '?')}), "
        "scored by `run.py`. A mutant is detected when it has a finding its original does not.",
        "",
    ]
    if result["stale"]:
        lines += [f"**{len(result['stale'])} mutants or programs are not confirmed in their current version "
                  "(run `run.py --confirm`); they are left out.**", ""]
    for title, sel in (("default rules", default), ("`--select ALL`", every)):
        found = sel["original_findings"]
        lines.append(f"Findings on the originals, {title}: **{len(found)}**" + (":" if found else ""))
        lines += [f"- `{f['program']}.py:{f['line']}` {f['code']} {f['message']}" for f in found]
        lines.append("")
    lines += [
        "| operator | family | generated | confirmed | detected (default) | recall | detected (ALL) | recall (ALL) | codes (default) | outcomes under torch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for op in OPERATORS:
        d = default["operators"].get(op, {"confirmed": 0, "detected": 0, "codes": {}})
        a = every["operators"].get(op, {"confirmed": 0, "detected": 0})
        generated = sum(outcomes.get(op, Counter()).values())
        family = "shape" if op in SHAPE_OPERATORS else "training"
        codes = ", ".join(f"{c} {n}" for c, n in d["codes"].items())
        outs = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.get(op, Counter()).items()))
        lines.append(f"| {op} | {family} | {generated} | {d['confirmed']} | {d['detected']} | "
                     f"{_pct(d['detected'], d['confirmed'])} | {a['detected']} | {_pct(a['detected'], a['confirmed'])} | {codes} | {outs} |")
    for family in ("shape", "training", "all"):
        d, a = default["totals"][family], every["totals"][family]
        lines.append(f"| **{family} total** | | | {d['confirmed']} | {d['detected']} | **{_pct(d['detected'], d['confirmed'])}** "
                     f"| {a['detected']} | {_pct(a['detected'], a['confirmed'])} | | |")
    lines += ["", "Per program (default rules): confirmed shape / training mutants and how many were detected.", "",
              "| program | shape detected | training detected |", "|---|---|---|"]
    per_prog: dict[str, list[int]] = {}
    for row in default["mutants"]:
        program, operator = row["mutant"].split("__")[:2]
        c = per_prog.setdefault(program, [0, 0, 0, 0])
        k = 0 if operator in SHAPE_OPERATORS else 2
        c[k] += 1
        c[k + 1] += row["detected"]
    for program, (n_s, d_s, n_t, d_t) in sorted(per_prog.items()):
        lines.append(f"| {program} | {d_s} / {n_s} | {d_t} / {n_t} |")
    lines += ["", f"shapecheck wall time: {every['seconds']} s for {every['files']} files (`--select ALL`, `-j 2`, "
              "no cache; the default-rules figures are that run's findings of the rules on by default).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--confirm", action="store_true", help="run torch on new or changed mutants first")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="write the checked files here and keep them")
    parser.add_argument("--no-write", action="store_true", help="print only; leave results.md/json alone")
    parser.add_argument("--separate", action="store_true",
                        help="run shapecheck twice (default rules, then --select ALL) instead of filtering one ALL run")
    args = parser.parse_args(argv)
    result = score(args.jobs, args.keep, args.confirm, args.separate)
    data = json.loads(CONFIRMED.read_text())
    text = render(result, data)
    print(text)
    if not args.no_write:
        (HERE / "results.md").write_text(text, encoding="utf-8")
        (HERE / "results.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
