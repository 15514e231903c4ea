"""The op coverage table: every registered name, its family, its shape function, and whether
that shape function is checked against PyTorch in `tests/test_ops_*.py`.

`python -m shapecheck.infer.ops.coverage` writes `docs/ops.md`; `tests/test_ops_coverage.py`
fails when the file is stale. "Tested against torch" means one of the names sharing the shape
function appears as a string literal in an oracle test (the tests call `agree("torch.matmul", ...)`
with literal names, so the table can be built without running them).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from shapecheck.infer.ops import registry

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "ops.md"
TESTS = ROOT / "tests"


# `agree_partial` (tests/test_ops_partial.py) runs the full call in torch and checks what we infer
# with some arguments unknown; `agree_layer`, `agree_pack` (tests/test_ops_einops.py) check einops itself.
ORACLE_CALLS = frozenset({"agree", "agree_cpu", "agree_module", "agree_numpy", "agree_partial", "agree_layer", "agree_pack"})


def tested_names(tests_dir: Path = TESTS) -> set[str]:
    """String literals (decorators included) of the test functions in `tests/test_ops_*.py` that
    call the torch oracle (`agree`, `agree_cpu`, `agree_module`)."""
    names: set[str] = set()
    for path in sorted(tests_dir.glob("test_ops_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_level = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                        for t in node.targets if isinstance(t, ast.Name)}
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            calls = {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            if not calls & ORACLE_CALLS:
                continue
            decorators = [d for dec in fn.decorator_list for d in ast.walk(dec)]
            tables = [n for d in decorators if isinstance(d, ast.Name) and d.id in module_level
                      for n in ast.walk(module_level[d.id])]  # `@parametrize("name,fn", BINARY)`
            for node in [*ast.walk(fn), *decorators, *tables]:
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names.add(node.value)
    return names


def _family(fn: Callable[..., object]) -> str:
    return fn.__module__.rsplit(".", 1)[-1]


def rows(tests_dir: Path = TESTS) -> list[tuple[str, str, str, str, bool]]:
    """(name, kind, family, shape function, tested) for every registered op and module."""
    registry._load_families()
    literals = tested_names(tests_dir)
    by_fn: dict[int, list[str]] = defaultdict(list)
    entries: list[tuple[str, str, Callable[..., object]]] = []
    for name, fn in registry.OPS.items():
        entries.append((name, "op", fn))
        by_fn[id(fn)].append(name)
    for name, mfn in registry.MODULES.items():
        entries.append((name, "module", mfn))
        by_fn[id(mfn)].append(name)
    out = []
    for name, kind, fn in entries:
        tested = any(n in literals for n in by_fn[id(fn)])
        out.append((name, kind, _family(fn), fn.__name__, tested))
    return sorted(out, key=lambda r: (r[2], r[1], r[0]))


EXCEPTIONS = [
    "Meta kernels that skip a check torch's CPU kernels make (`softmax`/`sort`/`cummax` dims, `ConvTranspose` "
    "channels, `addmm`/`baddbmm` input, `expand(0, -1)`, `.mT` on 0-d, `narrow`, `glu`): those tests run on small "
    "CPU tensors and we follow the CPU behaviour.",
    "`x.view(...)` on a transposed/permuted/expanded tensor is SC108 only when the view merges axes (splitting an "
    "axis works); a permutation that keeps the non-size-1 axes in order keeps the tensor contiguous.",
    "A boolean mask gives an axis of unknown (data-dependent) size; a subscript with several `...` (NumPy rejects it, "
    "torch applies rules of its own) and a mask or index tensor of unknown dtype give an unknown shape.",
    "Training-time statistics checks (`BatchNorm`/`GroupNorm`/`InstanceNorm`: \"expected more than 1 value per "
    "channel\") are not shape errors and are not reported.",
    "NumPy's `axis=0` on 0-d arrays (accepted by `np.sum`, rejected by `np.mean`) is accepted.",
    "`x.T` on tensors of rank other than 2 (deprecated in torch) reverses the axes, as NumPy does.",
    "Sizes that depend on data or on unknown arguments (`split` of a symbolic axis into chunks of a fixed size, "
    "`interpolate` by a non-integer factor of a symbolic size, `one_hot` without `num_classes`) are unknown dims.",
    "`x.masked_fill(mask, v)` with a mask of unknown shape keeps x's shape (`torch.where(cond, x, v)` with an unknown condition does not: building a larger result from a mask and a smaller vector is common): torch "
    "would grow the result to a mask larger than x, which no working code relies on (a known mask broadcasts as "
    "torch does).",
    "An element-wise result keeps the memory order of its first operand only when that operand has the result's "
    "shape and a known permuted layout (SC108 after `gelu(x.transpose(1, 2))`); other mixes are taken as contiguous.",
    "einops patterns are checked as einops 0.8 does before it reads the tensor (its layers' constructor check); "
    "`einops.rearrange` on a list of tensors is not modelled.",
]


def _escape(text: str) -> str:
    """A `|` inside a table cell must be escaped in Markdown."""
    return text.replace("|", "\\|")


def render(tests_dir: Path = TESTS) -> str:
    table = rows(tests_dir)
    n_tested = sum(1 for r in table if r[4])
    families: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, _, family, _, tested in table:
        families[family][0] += 1
        families[family][1] += int(tested)
    lines = [
        "# Op coverage",
        "",
        "Generated by `python -m shapecheck.infer.ops.coverage` from the op registry",
        "(`shapecheck/infer/ops/`); do not edit by hand. A name is *tested against torch* when its",
        "shape function is exercised by a hypothesis oracle test in `tests/test_ops_*.py` that runs the",
        "real op (meta device, or small CPU tensors where the meta kernel skips a check) and compares",
        "the result shape and whether it raises (NumPy spellings are also checked against NumPy).",
        "",
        f"{len(table)} names ({sum(1 for r in table if r[1] == 'op')} ops, {sum(1 for r in table if r[1] == 'module')} "
        f"module classes); {n_tested} tested against torch.",
        "",
        "| family | names | tested against torch |",
        "|---|---|---|",
    ]
    for family in sorted(families):
        total, tested = families[family]
        lines.append(f"| `{family}` | {total} | {tested} |")
    lines += ["", "## Where we knowingly differ from the oracle", ""] + [f"- {item}" for item in EXCEPTIONS]
    lines += ["", "## Every name", "", "| name | kind | family | shape function | tested against torch |", "|---|---|---|---|---|"]
    for name, kind, family, fn_name, tested in table:
        cells = [_escape(name), kind, _escape(family), _escape(fn_name)]
        lines.append(f"| `{cells[0]}` | {cells[1]} | `{cells[2]}` | `{cells[3]}` | {'yes' if tested else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is stale: run python -m shapecheck.infer.ops.coverage", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
