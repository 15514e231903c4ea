"""Pass counts of the jaxtyping-parity table under `@shapecheck.check` and under
`jaxtyping.jaxtyped(typechecker=beartype.beartype)` (needs beartype installed).

    .venv/bin/python benchmarks/runtime_real/parity.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

import shapecheck  # noqa: E402
from test_runtime_jaxtyping_parity import CASES, run_case  # noqa: E402


def tally(name: str, dec: object) -> None:
    passed = total = 0
    failures: list[str] = []
    for case in sorted(CASES):
        p, n, f = run_case(case, dec)  # type: ignore[arg-type]
        passed, total, failures = passed + p, total + n, failures + f
    print(f"{name}: {passed}/{total} calls as jaxtyping's semantics say")
    for line in failures:
        print(f"    {line}")


def main() -> None:
    tally("@shapecheck.check", shapecheck.check)
    try:
        from beartype import beartype
        from jaxtyping import jaxtyped
    except ImportError:
        print("jaxtyping+beartype: beartype is not installed (pip install beartype)")
        return
    tally("jaxtyping+beartype", jaxtyped(typechecker=beartype))


if __name__ == "__main__":
    main()
