"""The runtime half on real code: `shapecheck trace` and `shapecheck trace --dry-run` on the
training scripts of nanoGPT, minGPT (chargpt), pytorch/examples (mnist, word_language_model
Transformer and LSTM, dcgan) and three vit-pytorch models, with random data, a few steps, CPU.

    .venv/bin/python benchmarks/runtime_real/run.py [--before COMMIT] [--only NAME] [--json OUT]

The repositories come from the `fetch` mirrors (/work/.mirror/owner+name/repo). Scripts run
unmodified; what is adapted is their input: random token files for nanoGPT, a random text for
chargpt and the word model, a torchvision stand-in with random datasets (`stubs/`), small
sizes and step counts passed as the scripts' own arguments. vit-pytorch has no training script:
`drivers/vit_train.py` trains its ViT, SimpleViT and CaiT.

`--before COMMIT` runs the same cases with shapecheck as of COMMIT (`git archive`), for a
before/after table. Findings are printed as `kind file:line`; verdicts are given in README.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MIRRORS = Path(os.environ.get("SHAPECHECK_MIRRORS", "/work/.mirror"))
PY = sys.executable


@dataclass
class Case:
    name: str
    repo: str  # owner+name under MIRRORS
    script: str  # path inside the extracted repo (or under HERE for drivers)
    trace_args: list[str]
    dry_args: list[str]
    cwd: str = ""  # relative to the extracted repo
    pythonpath: list[str] = field(default_factory=list)  # relative to the extracted repo
    driver: bool = False


NANOGPT_ARGS = ["--dataset=tiny", "--compile=False", "--eval_iters=2", "--eval_interval=2", "--log_interval=1",
                "--max_iters=3", "--batch_size=4", "--block_size=32", "--n_layer=2", "--n_head=2", "--n_embd=64",
                "--gradient_accumulation_steps=2", "--always_save_checkpoint=False", "--out_dir=out-tiny"]
CHARGPT_ARGS = ["--trainer.max_iters=3", "--model.model_type=gpt-nano", "--data.block_size=32",
                "--trainer.batch_size=4", "--trainer.num_workers=0", "--system.work_dir=out_chargpt"]

CASES = [
    Case("nanoGPT", "karpathy+nanoGPT", "train.py", [*NANOGPT_ARGS, "--device=cpu", "--dtype=float32"],
         [*NANOGPT_ARGS, "--device=cuda"]),
    Case("minGPT-chargpt", "karpathy+minGPT", "projects/chargpt/chargpt.py", [*CHARGPT_ARGS, "--trainer.device=cpu"],
         [*CHARGPT_ARGS, "--trainer.device=cuda"], cwd="projects/chargpt", pythonpath=["."]),
    Case("examples-mnist", "pytorch+examples", "mnist/main.py", ["--epochs", "1", "--dry-run", "--no-accel",
                                                                 "--test-batch-size", "64"],
         ["--epochs", "1", "--dry-run", "--test-batch-size", "64"], cwd="mnist"),
    Case("examples-wlm-transformer", "pytorch+examples", "word_language_model/main.py",
         ["--model", "Transformer", "--epochs", "1", "--dry-run", "--emsize", "32", "--nhid", "32", "--bptt", "8",
          "--batch_size", "4", "--save", "out.pt"],
         ["--model", "Transformer", "--epochs", "1", "--dry-run", "--emsize", "32", "--nhid", "32", "--bptt", "8",
          "--batch_size", "4", "--save", "out.pt", "--accel"], cwd="word_language_model"),
    Case("examples-wlm-lstm", "pytorch+examples", "word_language_model/main.py",
         ["--model", "LSTM", "--epochs", "1", "--dry-run", "--emsize", "32", "--nhid", "32", "--bptt", "8",
          "--batch_size", "4", "--save", "out.pt"],
         ["--model", "LSTM", "--epochs", "1", "--dry-run", "--emsize", "32", "--nhid", "32", "--bptt", "8",
          "--batch_size", "4", "--save", "out.pt", "--accel"], cwd="word_language_model"),
    Case("examples-dcgan", "pytorch+examples", "dcgan/main.py",
         ["--dataset", "fake", "--niter", "1", "--batchSize", "8", "--imageSize", "64", "--nz", "16", "--ngf", "8",
          "--ndf", "8", "--workers", "0", "--outf", "out-dcgan", "--manualSeed", "1"],
         ["--dataset", "fake", "--niter", "1", "--batchSize", "8", "--imageSize", "64", "--nz", "16", "--ngf", "8",
          "--ndf", "8", "--workers", "0", "--outf", "out-dcgan", "--manualSeed", "1", "--accel"], cwd="dcgan"),
    Case("vit-pytorch", "lucidrains+vit-pytorch", "drivers/vit_train.py", ["--device", "cpu"], ["--device", "cuda"],
         pythonpath=["."], driver=True),
]


def extract(repo: str, dest: Path) -> Path:
    """The newest snapshot of a mirrored repository, as files."""
    out = dest / repo
    if not out.exists():
        out.mkdir(parents=True)
        git_dir = next((MIRRORS / repo).glob("**/HEAD")).parent if not (MIRRORS / repo / "repo").exists() \
            else MIRRORS / repo / "repo"
        # Python files only: the mirrors keep large data files as absent blobs.
        archive = subprocess.run(["git", f"--git-dir={git_dir}", "archive", "HEAD", "--", "*.py"], check=True,
                                 capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


def prepare_data(root: Path, case: Case) -> None:
    """Random inputs where the scripts read files."""
    import numpy as np

    rng = np.random.default_rng(0)
    if case.name == "nanoGPT":
        data = root / "data" / "tiny"
        data.mkdir(parents=True, exist_ok=True)
        for split in ("train", "val"):
            rng.integers(0, 65, 20_000, dtype=np.uint16).tofile(data / f"{split}.bin")
        with open(data / "meta.pkl", "wb") as f:
            pickle.dump({"vocab_size": 65}, f)
    if case.name.startswith("minGPT"):
        text = "O God, O God!\n" + "".join(rng.choice(list("abcdefghij klmnop\n"), 20_000))  # its prompt
        (root / "projects" / "chargpt" / "input.txt").write_text(text)
        script = root / "projects" / "chargpt" / "chargpt.py"  # its sample at iteration 0: 20 tokens, not 500
        script.write_text(script.read_text().replace("model.generate(x, 500,", "model.generate(x, 20,"))
    if case.name.startswith("examples-wlm"):
        corpus = root / "word_language_model" / "data" / "wikitext-2"
        corpus.mkdir(parents=True, exist_ok=True)
        words = [f"w{i}" for i in range(50)]
        for split, n in (("train", 3000), ("valid", 400), ("test", 400)):
            lines = [" ".join(rng.choice(words, 12)) for _ in range(n // 12)]
            (corpus / f"{split}.txt").write_text("\n".join(lines) + "\n")


def shapecheck_root(before: str | None, work: Path) -> Path:
    if not before:
        return ROOT
    out = work / f"shapecheck-{before[:10]}"
    if not out.exists():
        out.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", before, "shapecheck"], check=True,
                                 capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


def run_case(case: Case, mode: str, sc_root: Path, work: Path, timeout: float) -> dict:
    repo = extract(case.repo, work)
    prepare_data(repo, case)
    script = (HERE / case.script) if case.driver else repo / case.script
    cwd = repo / case.cwd
    out_json = work / f"{case.name}-{mode}-{sc_root.name}.json"
    out_json.unlink(missing_ok=True)
    paths = [str(sc_root), str(HERE / "stubs"), *(str(repo / p) for p in case.pythonpath)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "CUDA_VISIBLE_DEVICES": ""}
    opts = ["--json", str(out_json)] + (["--dry-run"] if mode == "dry-run" else [])
    args = case.dry_args if mode == "dry-run" else case.trace_args
    cmd = [PY, "-c", "import sys; from shapecheck.cli import main; sys.argv[0] = 'shapecheck'; main()",
           "trace", *opts, "--", str(script), *args]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        status, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        status, err = "timeout", (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else str(exc.stderr)
    seconds = time.perf_counter() - start
    data = json.loads(out_json.read_text()) if out_json.exists() else {}
    findings = [f"{f['kind']} {Path(f['filename']).name if f['filename'] else '-'}:{f['line']}"
                + (f" x{f['count']}" if f.get("count", 1) > 1 else "") for f in data.get("findings", [])]
    tail = [line for line in err.strip().splitlines() if line.strip()][-1:] if not data else []
    return {"case": case.name, "mode": mode, "exit": status, "steps": data.get("optimizer_steps"),
            "ops": data.get("total_ops"), "seconds": round(seconds, 1), "findings": findings, "error": tail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="also run shapecheck as of this commit")
    parser.add_argument("--only", action="append", default=[], help="case names (repeatable)")
    parser.add_argument("--modes", default="trace,dry-run")
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--json", type=Path, help="write all results here")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "shapecheck-runtime-real")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    roots = [("after", shapecheck_root(None, args.work))]
    if args.before:
        roots.insert(0, ("before", shapecheck_root(args.before, args.work)))
    results = []
    for case in CASES:
        if args.only and case.name not in args.only:
            continue
        for mode in args.modes.split(","):
            for label, root in roots:
                r = run_case(case, mode, root, args.work, args.timeout)
                r["version"] = label
                results.append(r)
                print(f"{r['case']:<26} {mode:<8} {label:<6} exit={r['exit']!s:<8} steps={r['steps']!s:<5} "
                      f"ops={r['ops']!s:<7} {r['seconds']:>6.1f}s  findings={len(r['findings'])}", flush=True)
                for f in r["findings"]:
                    print(f"      {f}")
                for line in r["error"]:
                    print(f"      ! {line[:160]}")
    for label, _ in roots:
        mine = [r for r in results if r["version"] == label]
        traced = [r for r in mine if r["mode"] == "trace"]
        dry = [r for r in mine if r["mode"] == "dry-run"]
        # A dry run succeeds when it ends with status 0 and nothing it could not run: stopped after its
        # second optimizer step, or the script ran to its end (no optimizer, or its own --dry-run).
        ok_dry = sum(1 for r in dry if r["exit"] == 0 and not any("unsupported" in f for f in r["findings"]))
        print(f"{label}: trace findings {sum(len(r['findings']) for r in traced)} on {len(traced)} runs; "
              f"dry runs that reach their second optimizer step or the script's end {ok_dry}/{len(dry)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
