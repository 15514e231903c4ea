"""A safe fix never changes what working code does (DESIGN.md's applicability, issues 11 and 14).

1. Every safe fix that applies to a rule example (the pages under `rules/`) or a fixture is
   applied, and the program before and after is run with torch on the same inputs and seeds:
   the results must agree. Examples are driven by a small table (`DRIVERS`); an example with a
   safe fix and no driver fails the test, so a new safe fix comes with its check.
2. `--fix --unsafe-fixes` leaves every example and fixture parseable, and a second run
   changes nothing.
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libcst as cst
import pytest
import torch
from torch import nn

from shapecheck.fix.apply import fix_source
from shapecheck.rules import all_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures").rglob("*.py"))


def _examples() -> list[tuple[str, str, str]]:
    out = []
    for code, rule in all_rules().items():
        for kind, items in (("INVALID", rule.INVALID), ("VALID", rule.VALID)):
            for i, ex in enumerate(items):
                out.append((f"{code}-{kind}-{i}", code, textwrap.dedent(ex.code)))
    return out


EXAMPLES = _examples()


def _run(source: str, drive: Callable[[dict[str, Any]], Any]) -> tuple[Any, str]:
    namespace: dict[str, Any] = {"__name__": "example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        torch.manual_seed(0)
        exec(compile(source, "<example>", "exec"), namespace)  # noqa: S102 - our own examples
        torch.manual_seed(1)
        result = drive(namespace)
    return result, out.getvalue()


def _same(a: Any, b: Any) -> None:
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-5, abs=1e-6)
    else:
        assert a == b


class _Tiny(nn.Module):
    def __init__(self, d_in: int = 4, d_out: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def _loader(n: int, make: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(7)
    torch.manual_seed(int(torch.randint(0, 1000, (1,), generator=g)))
    return [make() for _ in range(n)]


def _train_loop(fn_name: str, d_out: int, target: Callable[[int], torch.Tensor], with_opt: bool = True) -> Callable[[dict[str, Any]], Any]:
    def drive(ns: dict[str, Any]) -> Any:
        torch.manual_seed(3)
        model = _Tiny(4, d_out)
        loader = _loader(3, lambda: (torch.randn(5, 4), target(5)))
        args: list[Any] = [model, loader]
        if with_opt:
            args.append(torch.optim.SGD(model.parameters(), lr=0.1))
        result = ns[fn_name](*args)
        return result, [p.detach().clone() for p in model.parameters()]

    return drive


def _call(fn_name: str, *make: Callable[[], Any]) -> Callable[[dict[str, Any]], Any]:
    def drive(ns: dict[str, Any]) -> Any:
        torch.manual_seed(5)
        return ns[fn_name](*(m() for m in make))

    return drive


def _module(cls_name: str, *ctor: Any, x: Callable[[], torch.Tensor], train: bool = True) -> Callable[[dict[str, Any]], Any]:
    def drive(ns: dict[str, Any]) -> Any:
        torch.manual_seed(9)
        m = ns[cls_name](*ctor)
        m.train(train)
        inp = x()
        torch.manual_seed(11)
        return m(inp)

    return drive


# `(code, kind, index)` of an example with a safe fix -> how to run it.
DRIVERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "SC214-INVALID-3": _module("GNN", 6, x=lambda: torch.randn(4, 6)),
    "SC302-INVALID-0": _call("loss", lambda: torch.randn(6, 2) * 4, lambda: torch.rand(6, 2)),
    "SC302-INVALID-1": _train_loop("train", 1, lambda n: torch.rand(n), with_opt=False),
    "SC303-INVALID-0": _call("log_probs", lambda: torch.randn(4, 5) * 3),
    "SC303-INVALID-1": _call("lse", lambda: torch.randn(3, 6) * 3),
    "SC303-INVALID-2": _call("log_p", lambda: torch.randn(10) * 5),
    "SC303-INVALID-4": _call("log_p", lambda: torch.randn(10) * 5),
    "SC401-INVALID-0": _train_loop("train", 3, lambda n: torch.randint(0, 3, (n,))),
    "SC401-INVALID-1": _train_loop("validate", 3, lambda n: torch.randn(n, 3), with_opt=False),
    "SC401-INVALID-3": _train_loop("epoch", 3, lambda n: torch.randn(n, 3)),
    "SC405-INVALID-1": _module("Net", x=lambda: torch.randn(2, 4)),
    "SC501-INVALID-0": _module("Masked", x=lambda: torch.randn(3, 5)),
    "SC501-INVALID-1": lambda ns: ns["Decoder"]()(torch.randn(2, 4), torch.randn(2, 4, 4)),
    "SC501-INVALID-2": _module("Noisy", x=lambda: torch.randn(4, 16)),
    "SC501-INVALID-3": lambda ns: ns["train"](_Tiny(4, 2), _loader(2, lambda: (torch.randn(3, 4), torch.randn(3, 2))), "cpu"),
}


_UNSAFE_RUNS: dict[str, Any] = {}


def _unsafe_fixed(source: str) -> Any:
    """`fix_source(..., unsafe=True)`, once per source (the three tests share it)."""
    if source not in _UNSAFE_RUNS:
        _UNSAFE_RUNS[source] = fix_source("example.py", source, None, unsafe=True)
    return _UNSAFE_RUNS[source]


def _safe_fixed(source: str) -> tuple[str, list[str]]:
    if not _unsafe_fixed(source).applied:
        return source, []  # no fix at all, safe or not: nothing to check
    result = fix_source("example.py", source, None, unsafe=False)
    return result.source, sorted({d.code for d in result.applied})


@pytest.mark.parametrize(("name", "code", "source"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_safe_fixes_of_the_examples_compute_the_same(name: str, code: str, source: str) -> None:
    fixed, applied = _safe_fixed(source)
    if not applied:
        return
    assert name in DRIVERS, f"{name} has a safe fix ({applied}) but no driver in DRIVERS to check it"
    drive = DRIVERS[name]
    before = _run(source, drive)
    after = _run(fixed, drive)
    _same(before[0], after[0])
    assert before[1] == after[1]


@pytest.mark.parametrize("path", FIXTURES, ids=[p.relative_to(ROOT).as_posix() for p in FIXTURES])
def test_safe_fixes_of_the_fixtures_keep_the_program(path: Path) -> None:
    """Fixtures are whole programs: running the module (definitions, module-level training
    code on random data) before and after the safe fixes gives the same module-level tensors
    and the same output."""
    source = path.read_text(encoding="utf-8")
    fixed, applied = _safe_fixed(source)
    if not applied:
        return

    def module_tensors(ns: dict[str, Any]) -> list[Any]:
        return [v.detach() for k, v in sorted(ns.items()) if isinstance(v, torch.Tensor)]

    try:
        before = _run(source, module_tensors)
    except Exception as exc:  # a buggy fixture may crash by design: then only structure is checked
        pytest.skip(f"{path.name} does not run as a module ({type(exc).__name__}); parse/idempotence only")
    after = _run(fixed, module_tensors)
    _same(before[0], after[0])
    assert before[1] == after[1]


@pytest.mark.parametrize(
    "source",
    [e[2] for e in EXAMPLES] + [p.read_text(encoding="utf-8") for p in FIXTURES],
    ids=[e[0] for e in EXAMPLES] + [p.relative_to(ROOT).as_posix() for p in FIXTURES],
)
def test_unsafe_fixes_parse_and_converge(source: str) -> None:
    result = _unsafe_fixed(source)
    if not result.applied:
        return
    cst.parse_module(result.source)
    compile(result.source, "<fixed>", "exec")
    again = fix_source("example.py", result.source, None, unsafe=True)
    assert again.source == result.source and not again.applied
