"""Issue 14's done-criterion: `check` time grows near-linearly with file size (800 small helpers
cost at most 6x what 200 cost). Prints the CPU seconds of one in-process lint per size.

    .venv/bin/python benchmarks/fuzz/scaling.py
"""

from __future__ import annotations

import time


def helpers(n: int) -> str:
    """`n` small helpers with unannotated parameters, each calling the previous one, and a call
    of each at module level: the shape of file that made `bindings._param_role_from_use` quadratic."""
    out = ["import torch", "import torch.nn.functional as F", ""]
    for i in range(n):
        call = f"helper_{i - 1}(h, w, b, mask) + torch.relu(h)" if i else "torch.relu(h)"
        out += [f"def helper_{i}(x, w, b, mask):", "    h = F.linear(x, w, b)", "    h = h.masked_fill(mask, 0.0)",
                f"    return {call}", ""]
    out += ["x = torch.randn(4, 8)", "w = torch.randn(8, 8)", "b = torch.zeros(8)", "m = x > 0"]
    out += [f"r{i} = helper_{i}(x, w, b, m)" for i in range(n)]
    return "\n".join(out) + "\n"


def main() -> None:
    from shapecheck.engine import lint_source

    lint_source("warm.py", helpers(5))  # imports and caches out of the measurement
    costs = {}
    for n in (200, 400, 800, 1600):
        source = helpers(n)
        start = time.process_time()
        lint_source(f"h{n}.py", source)
        costs[n] = time.process_time() - start
        print(f"{n:>5} helpers ({source.count(chr(10)):>6} lines): {costs[n]:6.2f} s CPU  ({costs[n] / costs[200]:.1f}x 200)")
    ratio = costs[800] / costs[200]
    print(f"800/200 = {ratio:.1f}x ({'ok' if ratio <= 6 else 'SUPERLINEAR'}: the bar is 6x)")


if __name__ == "__main__":
    main()
