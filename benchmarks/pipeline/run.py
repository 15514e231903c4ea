"""Score the SC7xx (and SC502) rules on real programs, torch-confirmed mutants and near-miss twins.

    .venv/bin/python benchmarks/pipeline/run.py              # score (seconds; no torch needed)
    .venv/bin/python benchmarks/pipeline/run.py --keep /tmp/p   # keep the checked files
    .venv/bin/python benchmarks/pipeline/confirm.py          # first, when programs or operators change (torch)

Regenerates the mutants (mutate.py, deterministic), writes the originals (the static-only ones
too), every mutant and every twin into one temporary folder and runs
`shapecheck check --select SC7,SC502 --output-format json --no-cache --exit-zero` on it once.
Codes that no rule emits yet simply give no findings. A mutant is *detected* when it has a
finding of its expected code that its original does not have (code + message, line numbers
removed, counted as a multiset); a twin *fires* when it has any finding its original does not.
Writes results.md and results.json.
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

from mutate import EXPECTED, MUTANT_OPERATORS, TWIN_OPERATORS, mutants  # noqa: E402

PROGRAMS = HERE / "programs"
CONFIRMED = HERE / "confirmed.json"
SELECT = "SC7,SC502"
_LINE = re.compile(r"\b(line|lines|row)\s+\d+|:\d+(:\d+)?\b|\bL\d+\b")


def _shapecheck() -> list[str]:
    exe = ROOT / ".venv" / "bin" / "shapecheck"
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from shapecheck.cli import main; main()"]


def _key(f: dict[str, Any]) -> tuple[str, str]:
    return f["code"], _LINE.sub("N", f["message"])


def check(folder: Path) -> tuple[dict[str, list[dict[str, Any]]], float]:
    cmd = [*_shapecheck(), "check", "--select", SELECT, "--output-format", "json", "--no-cache", "--exit-zero",
           "--no-progress", "-j", "2", "."]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1, 2) or not proc.stdout.strip():
        raise SystemExit(f"shapecheck failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    by_file: dict[str, list[dict[str, Any]]] = {}
    for f in json.loads(proc.stdout):
        by_file.setdefault(Path(f["filename"]).name, []).append(f)
    return by_file, seconds


def score(keep: Path | None) -> dict[str, Any]:
    sources = {p.stem: p.read_text(encoding="utf-8") for p in sorted(PROGRAMS.glob("*.py"))}
    data = json.loads(CONFIRMED.read_text()) if CONFIRMED.exists() else {"programs": {}, "mutants": []}
    verdicts = {(e["program"], e["operator_generated"], e["site"]): e for e in data["mutants"]}
    import tomllib

    meta = tomllib.loads((HERE / "programs.toml").read_text(encoding="utf-8"))
    every = [m for name, src in sources.items() if not meta.get(name, {}).get("static_only") for m in mutants(name, src)]
    tmp = Path(tempfile.mkdtemp(prefix="pipeline-check-")) if keep is None else keep
    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
    try:
        for name, src in sources.items():
            (tmp / f"{name}.py").write_text(src, encoding="utf-8")
        for m in every:
            (tmp / m.filename).write_text(m.source, encoding="utf-8")
        by_file, seconds = check(tmp)
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    originals = {p: by_file.get(f"{p}.py", []) for p in sources}
    rows = []
    for m in every:
        v = verdicts.get((m.program, m.operator, m.site))
        stale = v is None or v["sha256"] != m.sha256
        op = v["operator"] if v and not stale else m.operator
        base = Counter(_key(f) for f in originals[m.program])
        mine = by_file.get(m.filename, [])
        new_keys = Counter(_key(f) for f in mine) - base
        new = [f for f in mine if _key(f) in new_keys]
        expected = EXPECTED.get(op, "")
        twin = m.twin or op == "tensordataset_workers_zero"
        rows.append({
            "mutant": m.filename, "operator": op, "twin": twin, "line": m.line, "before": m.before, "after": m.after,
            "stale": stale, "runs": bool(v and not stale and v.get("real_ok")),
            "confirmed": bool(v and not stale and v["confirmed"]), "why": v["why"] if v and not stale else "not confirmed yet",
            "expected": expected, "detected": bool(expected) and any(f["code"] == expected for f in new),
            "new_findings": [f"{f['code']} L{f['location']['row']}: {f['message'].splitlines()[0][:200]}" for f in new],
        })
    per_op: dict[str, dict[str, Any]] = {}
    for r in rows:
        d = per_op.setdefault(r["operator"], {"generated": 0, "confirmed": 0, "detected": 0, "detected_unconfirmed": 0,
                                              "twins": 0, "twins_running": 0, "twins_firing": 0, "codes": Counter()})
        d["generated"] += 1
        if r["twin"]:
            d["twins"] += 1
            d["twins_running"] += r["runs"]
            d["twins_firing"] += bool(r["new_findings"])
        else:
            d["confirmed"] += r["confirmed"]
            d["detected"] += r["confirmed"] and r["detected"]
            d["detected_unconfirmed"] += (not r["confirmed"]) and r["detected"]
        d["codes"].update({f.split()[0] for f in r["new_findings"]})
    for d in per_op.values():
        d["codes"] = dict(sorted(d["codes"].items()))
    return {
        "select": SELECT, "seconds": round(seconds, 1), "files": len(sources) + len(every),
        "torch": data.get("torch"),
        "programs": {p: {"static_only": bool(meta.get(p, {}).get("static_only")),
                         **{k: v for k, v in data["programs"].get(p, {}).items() if k != "sha256"}} for p in sources},
        "original_findings": [{"program": p, "code": f["code"], "line": f["location"]["row"],
                               "message": f["message"].splitlines()[0]} for p, fs in originals.items() for f in fs],
        "operators": per_op, "mutants": rows,
    }


def render(result: dict[str, Any]) -> str:
    L = ["# SC7xx pipeline evaluation", "",
         f"{len(result['programs'])} programs ({sum(v['static_only'] for v in result['programs'].values())} static-only), "
         f"`shapecheck check --select {result['select']}`, {result['files']} files in {result['seconds']} s; "
         f"mutants confirmed by `confirm.py` (torch {result['torch']}).", ""]
    found = result["original_findings"]
    L.append(f"## Findings on the originals: {len(found)}")
    L.append("")
    L += [f"- `{f['program']}.py:{f['line']}` {f['code']} {f['message'][:220]}" for f in found]
    L += ["", "## Mutants", "",
          "| operator | expected | generated | confirmed | detected (confirmed) | recall | detected (unconfirmed) | new codes |",
          "|---|---|---|---|---|---|---|---|"]
    ops = result["operators"]
    tn = td = 0
    for op in (*MUTANT_OPERATORS,):
        d = ops.get(op)
        if not d:
            continue
        tn += d["confirmed"]
        td += d["detected"]
        rec = f"{100 * d['detected'] / d['confirmed']:.0f}%" if d["confirmed"] else "-"
        L.append(f"| {op} | {EXPECTED[op]} | {d['generated']} | {d['confirmed']} | {d['detected']} | {rec} | "
                 f"{d['detected_unconfirmed']} | {', '.join(f'{c} {n}' for c, n in d['codes'].items())} |")
    L.append(f"| **total** | | | {tn} | {td} | **{100 * td / tn:.0f}%** | | |" if tn else "| **total** | | | 0 | 0 | - | | |")
    L += ["", "## Near-miss twins (must stay silent)", "",
          "| twin | generated | run clean | with a new finding |", "|---|---|---|---|"]
    for op in (*TWIN_OPERATORS, "tensordataset_workers_zero"):
        d = ops.get(op)
        if d:
            L.append(f"| {op} | {d['twins']} | {d['twins_running']} | {d['twins_firing']} |")
    L += ["", "## Every mutant and twin", "",
          "| mutant | line | edit | confirmed (why) | new findings |", "|---|---|---|---|---|"]
    for r in result["mutants"]:
        conf = "twin" if r["twin"] else ("yes" if r["confirmed"] else "no")
        L.append(f"| {r['mutant']} ({r['operator']}) | {r['line']} | `{r['after'][:90].replace('|', '/')}` | "
                 f"{conf}: {r['why'][:110].replace('|', '/')} | {'; '.join(x[:140] for x in r['new_findings']).replace('|', '/') or '-'} |")
    L.append("")
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", type=Path)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    result = score(args.keep)
    text = render(result)
    print(text)
    if not args.no_write:
        (HERE / "results.md").write_text(text, encoding="utf-8")
        (HERE / "results.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
