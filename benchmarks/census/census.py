"""Real-code census: every finding of `shapecheck check --select ALL` on a pinned set of public
repositories, each judged by hand in `verdicts.toml`.

    python benchmarks/census/census.py                 # export the pinned commits from /work/.mirror
    python benchmarks/census/census.py --root DIR      # or read checkouts DIR/<owner>+<name>/
    python benchmarks/census/census.py --list          # print every finding with its verdict
    python benchmarks/census/census.py --write-missing # append findings without a verdict, as "todo"

A finding is keyed stably, so that the verdicts survive edits elsewhere in a file: the repository,
the path inside it, the code and the stripped text of the line it points at (plus an ordinal when
one line holds several findings of one code). Verdicts:

- ``bug``: a true bug (the code does something its author did not mean);
- ``harmless``: the statement is correct, but the code works as meant;
- ``false``: the finding is wrong.

The report counts findings by verdict and by code, lists verdicts nothing matched any more (a
finding that went away) and flags findings that have no verdict. The exit status is 1 when a
finding has no verdict or is judged false, so the census can gate a change.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VERDICTS = HERE / "verdicts.toml"
MIRROR = Path(os.environ.get("SHAPECHECK_MIRROR", "/work/.mirror"))
VERDICT_KINDS = ("bug", "harmless", "false")


@dataclass(frozen=True)
class Repo:
    name: str  # owner/name, as GitHub spells it
    commit: str
    paths: tuple[str, ...]  # the parts checked ("" = the whole repository)

    @property
    def slug(self) -> str:
        return self.name.replace("/", "+")


# The pinned corpus: the repositories of issue 11, at the commits judged in verdicts.toml.
REPOS = (
    Repo("pytorch/examples", "77f55b912142e11fcfdf5b530231fb9c52f181e8", ("",)),
    Repo("karpathy/nanoGPT", "3adf61e154c3fe3fca428ad6bc3818b27a3b8291", ("",)),
    Repo("karpathy/minGPT", "37baab71b9abea1b76ab957409a1cc2fbfba8a26", ("",)),
    Repo("lucidrains/vit-pytorch", "69d24fe9e3024c0d4b02761123b8583a24ebed1e", ("",)),
    Repo("Lightning-AI/pytorch-lightning", "7f0c3436cd3f6ad3753125672024fc415cbcb414", ("examples",)),
    Repo("huggingface/pytorch-image-models", "aa4b5850c1543fa488abf260f18390eda46cf85d", ("",)),
    Repo("huggingface/diffusers", "58eb52c0803ea9af3abec60841c2a093bdf1f951", ("src",)),
    Repo("pyg-team/pytorch_geometric", "5c6461b2305ad068a6d61165b3c55852a11aaa41", ("torch_geometric", "examples")),
    Repo("facebookresearch/fairseq", "3d262bb25690e4eb2e7d3c1309b1e9c406ca4b99", ("fairseq", "examples")),
)


def export(repo: Repo, dest: Path) -> Path:
    """The pinned commit's files under dest/<slug>, exported from the mirror's bare git dir."""
    out = dest / repo.slug
    if out.is_dir():
        return out
    git_dir = MIRROR / repo.slug / "repo"
    if not git_dir.is_dir():
        raise SystemExit(f"census: no checkout of {repo.name}: pass --root DIR or fetch it to {git_dir}")
    tmp = dest / (repo.slug + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    # Python files only: the mirrors may lack large data files, and nothing else is checked.
    specs = [f":(glob){p + '/' if p else ''}**/*.py" for p in repo.paths]
    archive = subprocess.run(
        ["git", f"--git-dir={git_dir}", "archive", "--format=tar", repo.commit, "--", *specs],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryFile() as fh:
        fh.write(archive)
        fh.seek(0)
        with tarfile.open(fileobj=fh) as tar:
            tar.extractall(tmp, filter="data")
    tmp.rename(out)
    return out


def check(tree: Path, repo: Repo, jobs: int, ignore: str | None = None) -> list[dict]:
    targets = [p or "." for p in repo.paths]
    extra = ["--ignore", ignore] if ignore else []
    proc = subprocess.run(
        [sys.executable, "-c", "from shapecheck.cli import main; main()", "check", *targets, "--select", "ALL", *extra,
         "--output-format", "json", "--no-cache", "--exit-zero", "--no-progress", "-j", str(jobs)],
        capture_output=True,
        text=True,
        cwd=tree,
    )
    if proc.returncode not in (0, 1, 2) or not proc.stdout.strip():
        # exit 2 with a JSON report is an internal error in some file (SC903, listed as a
        # finding); no report at all means the run itself failed: never count that as clean
        raise SystemExit(f"census: shapecheck failed on {repo.name} (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    findings = json.loads(proc.stdout or "[]")
    for f in findings:
        f["repo"] = repo.name
        f["path"] = (tree / f["filename"]).resolve().relative_to(tree.resolve()).as_posix()
    return findings


def fix_check(tree: Path, repo: Repo, work: Path, jobs: int) -> tuple[int, int, list[str]]:
    """`check --fix --unsafe-fixes` on a copy of the tree, twice: every changed file must still
    parse and the second run must change nothing. Returns (files, files changed, problems)."""
    import ast
    import shutil

    copy = work / (repo.slug + ".fixed")
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(tree, copy)
    before = {p: p.read_bytes() for p in copy.rglob("*.py")}
    targets = [p or "." for p in repo.paths]
    cmd = [sys.executable, "-c", "from shapecheck.cli import main; main()", "check", *targets, "--select", "ALL",
           "--fix", "--unsafe-fixes", "--no-cache", "--exit-zero", "--no-progress", "-j", str(jobs)]
    problems: list[str] = []
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=copy)
    if first.returncode not in (0, 1):
        problems.append(f"{repo.name}: --fix exited {first.returncode}: {first.stderr[-500:]}")
    after = {p: p.read_bytes() for p in copy.rglob("*.py")}
    changed = [p for p in after if before.get(p) != after[p]]
    for p in changed:
        try:
            ast.parse(after[p])
        except SyntaxError as exc:
            problems.append(f"{repo.name}:{p.relative_to(copy)}: no longer parses after --fix: {exc}")
    subprocess.run(cmd, capture_output=True, text=True, cwd=copy)
    again = {p: p.read_bytes() for p in copy.rglob("*.py")}
    problems += [f"{repo.name}:{p.relative_to(copy)}: a second --fix changed it again" for p in again if again[p] != after[p]]
    shutil.rmtree(copy)
    return len(before), len(changed), problems


def line_text(tree: Path, finding: dict, cache: dict[Path, list[str]]) -> str:
    path = tree / finding["path"]
    if path not in cache:
        try:
            cache[path] = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            cache[path] = []
    lines = cache[path]
    row = finding["location"]["row"]
    return lines[row - 1].strip() if 0 < row <= len(lines) else ""


def key_findings(findings: list[dict]) -> None:
    """Give each finding its stable key; several of one code on one line get ordinals."""
    seen: collections.Counter = collections.Counter()
    for f in sorted(findings, key=lambda f: (f["repo"], f["path"], f["location"]["row"], f["location"]["column"])):
        base = (f["repo"], f["path"], f["code"], f["line"])
        seen[base] += 1
        f["key"] = (*base, seen[base])


def load_verdicts() -> dict[tuple, dict]:
    if not VERDICTS.is_file():
        return {}
    data = tomllib.loads(VERDICTS.read_text(encoding="utf-8"))
    out = {}
    for v in data.get("finding", []):
        if v.get("verdict") not in (*VERDICT_KINDS, "todo"):
            raise SystemExit(f"census: bad verdict {v.get('verdict')!r} in {VERDICTS}: {v}")
        out[(v["repo"], v["path"], v["code"], v["line"], v.get("n", 1))] = v
    return out


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def append_verdicts(findings: list[dict]) -> None:
    with VERDICTS.open("a", encoding="utf-8") as fh:
        for f in findings:
            repo, path, code, line, n = f["key"]
            fh.write("\n[[finding]]\n")
            fh.write(f"repo = {toml_str(repo)}\npath = {toml_str(path)}\ncode = {toml_str(code)}\n")
            fh.write(f"line = {toml_str(line)}\n")
            if n != 1:
                fh.write(f"n = {n}\n")
            fh.write('verdict = "todo"\n')
            fh.write(f"why = {toml_str(f['message'][:300])}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, help="folder with checkouts named <owner>+<name>")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "shapecheck-census",
                    help="where to export the pinned commits (reused between runs)")
    ap.add_argument("--repo", action="append", help="only these repositories (owner/name)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--list", action="store_true", help="print every finding with its verdict")
    ap.add_argument("--write-missing", action="store_true", help="append unjudged findings as 'todo'")
    ap.add_argument("--json", type=Path, help="write the findings with their verdicts here")
    ap.add_argument("--ignore", help="codes to leave out (a partial census: 'gone' is then not meaningful for them)")
    ap.add_argument("--fix-check", action="store_true",
                    help="also run --fix --unsafe-fixes twice on a copy: files must parse, the second run change nothing")
    args = ap.parse_args(argv)

    repos = [r for r in REPOS if not args.repo or r.name in args.repo]
    verdicts = load_verdicts()
    findings: list[dict] = []
    n_files = 0
    fix_problems = 0
    t0 = time.perf_counter()
    for repo in repos:
        tree = (args.root / repo.slug) if args.root else export(repo, args.work)
        if not tree.is_dir():
            raise SystemExit(f"census: {tree} is not a folder")
        n_files += sum(1 for p in repo.paths for _ in (tree / p).rglob("*.py"))
        found = check(tree, repo, args.jobs, args.ignore)
        cache: dict[Path, list[str]] = {}
        for f in found:
            f["line"] = line_text(tree, f, cache)
        findings += found
        if args.fix_check:
            n, changed, problems = fix_check(tree, repo, args.work, args.jobs)
            print(f"fix-check {repo.name}: {n} files, {changed} changed by --fix --unsafe-fixes, {len(problems)} problems")
            for line in problems:
                print("  " + line)
            fix_problems += len(problems)
    elapsed = time.perf_counter() - t0
    key_findings(findings)

    by_verdict: collections.Counter = collections.Counter()
    by_code: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    missing = []
    for f in findings:
        v = verdicts.get(f["key"])
        f["verdict"] = v["verdict"] if v else "none"
        if f["verdict"] in ("none", "todo"):
            missing.append(f)
        by_verdict[f["verdict"]] += 1
        by_code[f["code"]][f["verdict"]] += 1
    matched = {f["key"] for f in findings}
    ignored = tuple(c.strip() for c in (args.ignore or "").split(",") if c.strip())
    gone = [
        v for k, v in verdicts.items()
        if k not in matched and any(v["repo"] == r.name for r in repos) and not v["code"].startswith(ignored or ("\0",))
    ]

    if args.list:
        for f in findings:
            repo, path, code, line, _ = f["key"]
            print(f"{f['verdict']:8} {repo}:{path}:{f['location']['row']}: {code} {f['message'].splitlines()[0][:160]}")
            print(f"{'':8}   | {line[:150]}")
    print(f"census: {len(repos)} repositories, {n_files} files, {len(findings)} findings in {elapsed:.0f} s")
    print("  by verdict: " + ", ".join(f"{k} {by_verdict[k]}" for k in (*VERDICT_KINDS, "todo", "none") if by_verdict[k]))
    for code in sorted(by_code):
        print(f"  {code}: " + ", ".join(f"{k} {n}" for k, n in sorted(by_code[code].items())))
    if gone:
        print(f"  {len(gone)} judged findings no longer reported:")
        for v in gone:
            print(f"    [{v['verdict']}] {v['repo']}:{v['path']}: {v['code']} | {v['line'][:100]}")
    if missing:
        print(f"  {len(missing)} findings without a verdict:")
        for f in missing:
            print(f"    {f['repo']}:{f['path']}:{f['location']['row']}: {f['code']} {f['message'].splitlines()[0][:120]}")
        if args.write_missing:
            append_verdicts([f for f in missing if f["verdict"] == "none"])
    if args.json:
        args.json.write_text(json.dumps(findings, indent=1, default=list), encoding="utf-8")
    return 1 if missing or by_verdict["false"] or fix_problems else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
