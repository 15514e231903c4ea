"""`tree.LazyPositions` finds a reported node's range in the source text instead of regenerating
the whole module; here it must agree with libcst's `PositionProvider` on every node it answers.
(Checked on 366k expression nodes of pytorch/examples, nanoGPT, timm, diffusers, PyG, fairseq and
accelerate while it was written: 0 differences.)"""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from shapecheck.tree import LazyPositions, Tree, positions

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*(ROOT / "fixtures").rglob("*.py"), *(ROOT / "tests" / "data" / "wholeprogram").glob("*.py")])

TRICKY = {
    "class body before bases": "import torch.fx\n\nclass T(torch.fx.Tracer):\n    x = torch.fx.wrap(f)\n\ny = torch.fx.Proxy(1)\n",
    "relative import and docstring mention": 'def f():\n    """see `~hooks.casting.apply`"""\n    from ..hooks.casting import apply\n    return hooks.casting.apply(1)\n',
    "comment holds the code": "a = x.item()  # x.item() again\nb = x.item()\n",
    "f-string": 'print(f"{loss.item():.4f} {loss.item()}")\nloss.item()\n',
    "parenthesised": "y = (a + b) * (a + b)\nz = ((a + b))\n",
    "crlf and tabs": "if x:\r\n\ty = f(x) + f(x)\r\n\tz = f(x)\r\n",
    "right-associative power": "y = x**x**x\n",
    "attribute names": "self.x.item()\nx.item()\nobj.x\n",
}


def _compare(source: str, small: bool = True) -> tuple[int, int]:
    module = cst.parse_module(source)
    full = positions(module)
    lazy = LazyPositions(module, source, Tree.build(module))
    fast = 0
    for node in lazy.tree.preorder:
        if small:
            assert lazy.get(node) == full.get(node)  # the fallback too
        if type(node) in LazyPositions._FAST:
            got = lazy._fast(node)
            if got is not None:
                fast += 1
                assert got == full.get(node), (module.code_for_node(node), got, full.get(node))
    return fast, len(lazy.tree.preorder)


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_sources(name: str) -> None:
    _compare(TRICKY[name])


def test_fixture_and_program_files() -> None:
    fast = 0
    for path in FILES:
        fast += _compare(path.read_text(encoding="utf-8"), small=False)[0]
    assert fast > 2_000  # the fast path answers most expression nodes
