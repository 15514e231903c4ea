"""SC7xx census: `shapecheck check --select SC7` on census.py's pinned corpus, with hand verdicts in
verdicts_sc7.toml (same keys and verdict kinds as verdicts.toml: bug / harmless / false).

    python benchmarks/census/sc7_census.py                  # export from /work/.mirror, check, compare
    python benchmarks/census/sc7_census.py --list           # every finding with its verdict
    python benchmarks/census/sc7_census.py --write-missing  # append unjudged findings as "todo"

Exit status 1 when a finding has no verdict or is judged false.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

import census  # noqa: E402

VERDICTS = HERE / "verdicts_sc7.toml"
SELECT = "SC7"


def check(tree: Path, repo: census.Repo, jobs: int) -> list[dict]:
    targets = [p or "." for p in repo.paths]
    proc = subprocess.run(
        [sys.executable, "-c", "from shapecheck.cli import main; main()", "check", *targets, "--select", SELECT,
         "--output-format", "json", "--no-cache", "--exit-zero", "--no-progress", "-j", str(jobs)],
        capture_output=True, text=True, cwd=tree)
    if proc.returncode not in (0, 1, 2) or not proc.stdout.strip():
        raise SystemExit(f"sc7 census: shapecheck failed on {repo.name} (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    findings = json.loads(proc.stdout)
    for f in findings:
        f["repo"] = repo.name
        f["path"] = (tree / f["filename"]).resolve().relative_to(tree.resolve()).as_posix()
    return findings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "shapecheck-census")
    ap.add_argument("--repo", action="append")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--write-missing", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    census.VERDICTS = VERDICTS  # the SC7 verdicts live in their own file
    verdicts = census.load_verdicts()
    repos = [r for r in census.REPOS if not args.repo or r.name in args.repo]
    findings: list[dict] = []
    t0 = time.perf_counter()
    for repo in repos:
        tree = census.export(repo, args.work)
        found = check(tree, repo, args.jobs)
        cache: dict[Path, list[str]] = {}
        for f in found:
            f["line"] = census.line_text(tree, f, cache)
        findings += found
        print(f"  {repo.name}: {len(found)} SC7 findings", flush=True)
    census.key_findings(findings)
    by_verdict: collections.Counter = collections.Counter()
    by_code: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    missing = []
    for f in findings:
        v = verdicts.get(f["key"])
        f["verdict"] = v["verdict"] if v else "none"
        f["why"] = v.get("why", "") if v else ""
        if f["verdict"] in ("none", "todo"):
            missing.append(f)
        by_verdict[f["verdict"]] += 1
        by_code[f["code"]][f["verdict"]] += 1
    if args.list:
        for f in findings:
            print(f"{f['verdict']:8} {f['repo']}:{f['path']}:{f['location']['row']}: {f['code']} {f['message'].splitlines()[0][:160]}")
            print(f"{'':8}   | {f['line'][:150]}")
            if f["why"]:
                print(f"{'':8}   = {f['why'][:200]}")
    print(f"sc7 census: {len(repos)} repositories, {len(findings)} findings in {time.perf_counter() - t0:.0f} s")
    print("  by verdict: " + ", ".join(f"{k} {n}" for k, n in sorted(by_verdict.items())))
    for code in sorted(by_code):
        print(f"  {code}: " + ", ".join(f"{k} {n}" for k, n in sorted(by_code[code].items())))
    if missing and args.write_missing:
        census.append_verdicts([f for f in missing if f["verdict"] == "none"])
    if args.json:
        args.json.write_text(json.dumps(findings, indent=1, default=list), encoding="utf-8")
    return 1 if missing or by_verdict["false"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
