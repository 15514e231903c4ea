"""The interpreter, tested through its reveal (`shapecheck shapes`): each snippet marks lines with
`# reveal: <description>` (mypy's `reveal_type` style) and the inferred value of the assignment on
that line must read exactly so.

The op shape functions live in `shapecheck/infer/ops/`; a few that these tests lean on are
registered here when the ops package does not provide them (so these tests pin the interpreter,
not the ops).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from shapecheck.engine import lint_source
from shapecheck.infer.explain import describe, reveal, run_shapes
from shapecheck.infer.ops import registry
from shapecheck.infer.ops.registry import OpCall
from shapecheck.infer.project import ProjectIndex
from shapecheck.infer.values import UNKNOWN, ModuleValue, TensorValue, TupleValue, Value, as_dim, as_int
from shapecheck.shapes import Shape

HEADER = """\
from __future__ import annotations
import torch
import torch.nn as nn
from torch import Tensor
from jaxtyping import Float, Int
"""

REVEAL = re.compile(r"#\s*reveal:\s*(.+?)\s*$")


def _linear(module: ModuleValue, call: OpCall) -> Value:
    x = call.arg(0)
    out = as_dim(module.kwarg("out_features", 1))
    if not isinstance(x, TensorValue) or out is None or x.shape.rank is None:
        return UNKNOWN
    return TensorValue(Shape.of(*x.shape.dims[:-1], out), x.dtype, origin="linear")


def _chunk(call: OpCall) -> Value:
    x, n = call.arg(0), as_int(call.arg(1, "chunks"))
    dim = as_int(call.arg(2, "dim", None)) or 0
    if not isinstance(x, TensorValue) or n is None or x.shape.rank is None:
        return UNKNOWN
    axis = dim % x.shape.rank
    dims = list(x.shape.dims)
    dims[axis] = dims[axis] // n
    return TupleValue(tuple(TensorValue(Shape.of(*dims), x.dtype) for _ in range(n)))


def _zeros(call: OpCall) -> Value:
    dims = [as_dim(a) for a in call.args]
    if any(d is None for d in dims):
        return UNKNOWN
    return TensorValue(Shape.of(*dims), "float32", origin="creation")  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def minimal_ops(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """These three always use the tiny versions above, so the expectations pin the interpreter
    (binding, joins, calls), not the details of the real shape functions."""
    registry._load_families()
    monkeypatch.setitem(registry.OPS, "Tensor.chunk", _chunk)
    monkeypatch.setitem(registry.OPS, "torch.zeros", _zeros)
    monkeypatch.setitem(registry.MODULES, "torch.nn.Linear", lambda m, c: _linear(
        ModuleValue(m.qualname, m.args, (("out_features", m.kwarg("out_features", 1) or UNKNOWN),)), c))
    yield


def check_reveals(body: str, path: Path | None = None) -> dict[int, list[tuple[str, str]]]:
    source = HEADER + textwrap.dedent(body)
    found = reveal(source, path=path)
    expected = {}
    for row, line in enumerate(source.splitlines(), start=1):
        m = REVEAL.search(line)
        if m:
            expected[row] = m.group(1)
    assert expected, "a reveal test needs # reveal: marks"
    problems = []
    for row, want in expected.items():
        got = found.get(row)
        got_text = "; ".join(desc for _, desc in got) if got else "<nothing>"
        if got_text != want:
            problems.append(f"line {row}: expected {want!r}, inferred {got_text!r}\n    {source.splitlines()[row - 1]}")
    assert not problems, "\n".join(problems)
    return found


def findings(body: str, codes: list[str] | None = None, project: ProjectIndex | None = None) -> list[str]:
    source = HEADER + textwrap.dedent(body)
    select = codes or [f"SC1{n:02d}" for n in range(1, 12)] + ["SC190"]
    return [f"{d.location.row}:{d.code}" for d in lint_source("t.py", source, select, project=project)]


# ---------------------------------------------------------------------- seeding and statements


def test_parameters_seeded_from_annotations_and_shape_arithmetic() -> None:
    check_reveals('''
    def f(x: Float[Tensor, "b s d"], m: Int[Tensor, "b s"]):
        y = x                          # reveal: (b, s, d) float
        n = m                          # reveal: (b, s) int
        b, s, d = x.shape
        z = torch.zeros(b, s * 2, d + 1)   # reveal: (b, 2 * s, d + 1) float32
        w = torch.zeros(x.size(0), x.shape[-1])  # reveal: (b, d) float32
        v = torch.zeros(len(x), x.ndim, x.dim())  # reveal: (b, 3, 3) float32
    ''')


def test_tuple_unpacking_and_annotated_tuple_returns() -> None:
    check_reveals('''
    def split(x: Float[Tensor, "n d"]) -> tuple[Float[Tensor, "n k"], Float[Tensor, "n"]]:
        ...

    def g(x: Float[Tensor, "b e"]):
        a, c = split(x)                # reveal: (b, ?) float; (b) float
        pair = split(x)                # reveal: ((b, ?) float, (b) float)
        first, second = torch.zeros(2, 5, 3)  # reveal: (5, 3) float32; (5, 3) float32
    ''')


def test_if_else_joins_disagreeing_dims_to_unknown() -> None:
    check_reveals('''
    def f(x: Float[Tensor, "b d"], flag: bool):
        if flag:
            y = torch.zeros(x.shape[0], 4)
        else:
            y = torch.zeros(x.shape[0], 5)
        z = y                          # reveal: (b, ?) float32
        if flag:
            w = torch.zeros(3, 3)
        else:
            w = torch.zeros(3)
        u = w                          # reveal: ? float32
        if flag:
            return x
        else:
            v = torch.zeros(7)
        t = v                          # reveal: (7) float32
    ''')


def test_loops_widen_what_changes_and_keep_what_does_not() -> None:
    check_reveals('''
    def f(x: Float[Tensor, "b d"], n: int):
        h = torch.zeros(x.shape[0], 8)
        acc = torch.zeros(1, 8)
        for _ in range(n):
            h = h * 2                  # reveal: (b, 8) float32
            acc = torch.zeros(acc.shape[0] + 1, 8)
        out = h                        # reveal: (b, 8) float32
        total = acc                    # reveal: (?, 8) float32
    ''')


def test_while_with_break_and_try() -> None:
    check_reveals('''
    def f(x: Float[Tensor, "b d"]):
        y = torch.zeros(2, 2)
        while True:
            y = torch.zeros(3, 3)
            break
        try:
            z = torch.zeros(x.shape[0])
        except ValueError:
            z = torch.zeros(x.shape[0])
        out = z                        # reveal: (b) float32
    ''')


def test_with_statement_and_augmented_assignment() -> None:
    check_reveals('''
    def f(x: Float[Tensor, "b d"]):
        with torch.no_grad():
            y = torch.zeros(x.shape[0], 3)   # reveal: (b, 3) float32
        y += 1                               # reveal: (b, 3) float32
    ''')


def test_annotated_assignment_refines_unknown_axes() -> None:
    check_reveals('''
    def f(data, w: Float[Tensor, "d k"]):
        x: Float[Tensor, "n d"] = data.load()   # reveal: (n, d) float
        y = x @ w                               # reveal: (n, k) float
    ''')


# ---------------------------------------------------------------------- facts: divisibility


def test_multi_head_round_trip_ends_where_it_started() -> None:
    found = check_reveals('''
    def heads(x: Float[Tensor, "b s d"], h: int) -> Float[Tensor, "b s d"]:
        b, s, d = x.shape
        q = x.view(b, s, h, d // h)            # reveal: (b, s, h, d // h) float
        q = q.transpose(1, 2)                  # reveal: (b, h, s, d // h) float
        q = q.transpose(1, 2)                  # reveal: (b, s, h, d // h) float
        y = q.reshape(b, s, h * (d // h))      # reveal: (b, s, d) float
        return y
    ''')
    assert found
    assert findings('''
    def heads(x: Float[Tensor, "b s d"], h: int) -> Float[Tensor, "b s d"]:
        b, s, d = x.shape
        q = x.view(b, s, h, d // h).transpose(1, 2)
        return q.transpose(1, 2).reshape(b, s, h * (d // h))
    ''') == []


def test_assert_records_divisibility_for_the_class() -> None:
    check_reveals('''
    class Heads(nn.Module):
        def __init__(self, d_model: int, n_heads: int):
            super().__init__()
            assert d_model % n_heads == 0
            self.h = n_heads
            self.e = d_model // n_heads

        def forward(self, x: Float[Tensor, "b s d_model"]) -> Float[Tensor, "b s d_model"]:
            b, s, _ = x.shape
            q = x.view(b, s, self.h, self.e)       # reveal: (b, s, n_heads, d_model // n_heads) float
            y = q.reshape(b, s, self.h * self.e)   # reveal: (b, s, d_model) float
            return y
    ''')


# ---------------------------------------------------------------------- classes and calls


def test_class_scoped_dims_match_constructor_parameters() -> None:
    check_reveals('''
    class Block(nn.Module):
        def __init__(self, d_model: int, hidden: int = 256):
            super().__init__()
            self.up = nn.Linear(d_model, hidden)
            self.down = nn.Linear(hidden, d_model)
            self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.Linear(hidden, d_model))

        def forward(self, x: Float[Tensor, "b s d_model"]):
            h = self.up(x)             # reveal: (b, s, hidden) float
            y = self.down(h)           # reveal: (b, s, d_model) float
            z = self.net(x)            # reveal: (b, s, d_model) float
            return y + x
    ''')


def test_module_list_loop_keeps_shape_preserving_layers() -> None:
    check_reveals('''
    class Stack(nn.Module):
        def __init__(self, d: int, n: int):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(d, d) for _ in range(n)])
            self.seq = nn.Sequential(*[nn.Linear(d, d) for _ in range(n)])

        def forward(self, x: Float[Tensor, "b d"]):
            for layer in self.layers:
                x = layer(x)           # reveal: (b, d) float
            y = x                      # reveal: (b, d) float
            first = self.layers[0](x)  # reveal: (b, d) float
            z = self.seq(x)            # reveal: (b, d) float
    ''')


def test_call_to_annotated_function_binds_dims_like_jaxtyping() -> None:
    check_reveals('''
    def attend(q: Float[Tensor, "n d"], k: Float[Tensor, "m d"]) -> Float[Tensor, "n m"]:
        ...

    def use(a: Float[Tensor, "b e"], c: Float[Tensor, "t e"]):
        s = attend(a, c)               # reveal: (b, t) float
        s2 = attend(c, a)              # reveal: (t, b) float
    ''')
    assert findings('''
    def attend(q: Float[Tensor, "n d"], k: Float[Tensor, "m d"]) -> Float[Tensor, "n m"]:
        ...

    def use(a: Float[Tensor, "b 64"], c: Float[Tensor, "t 32"]):
        return attend(a, c)
    ''', ["SC104"]) == ["11:SC104"]


def test_method_calls_and_unannotated_helpers_are_followed() -> None:
    check_reveals('''
    def double(x):
        return torch.zeros(x.shape[0], 2 * x.shape[1])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 10)

        def features(self, x):
            return self.fc(x)

        def forward(self, x: Float[Tensor, "b 784"]):
            y = self.features(x)       # reveal: (b, 10) float
            z = double(y)              # reveal: (b, 20) float32
            return z

    def main(batch: Float[Tensor, "n 784"]):
        model = Net()
        out = model(batch)             # reveal: (n, 20) float32
    ''')


def test_unknowns_stay_silent() -> None:
    assert findings('''
    def train(model, loader, opt):
        for x, y in loader:
            out = model(x)
            loss = (out - y) ** 2
            loss.mean().backward()
            z = out.view(32, -1).squeeze()
            w = z.softmax(0) @ y.T
    ''') == []


# ---------------------------------------------------------------------- annotations


def test_aliases_type_alias_and_string_annotations() -> None:
    check_reveals('''
    from typing import TypeAlias
    Vec = Float[Tensor, "d"]
    Mat: TypeAlias = Float[Tensor, "n d"]

    def f(v: Vec, m: "Mat", s: "Float[Tensor, 'k d']"):
        a = v                          # reveal: (d) float
        b = m                          # reveal: (n, d) float
        c = s                          # reveal: (k, d) float
    ''')


def test_invalid_annotation_reported_once_at_the_annotation() -> None:
    assert findings('''
    Bad = Float[Tensor, "a, b"]

    def f(x: Bad, y: Float[Tensor, "*a *b"]) -> Float[Tensor, "n"]:
        return x
    ''', ["SC190"]) == ["7:SC190", "9:SC190"]


# ---------------------------------------------------------------------- project index


def test_project_index_resolves_annotated_callees_in_other_files(tmp_path: Path) -> None:
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text(HEADER + textwrap.dedent('''
    def pool(x: Float[Tensor, "b s d"]) -> Float[Tensor, "b d"]:
        return x.mean(1)

    class Proj(nn.Module):
        def __init__(self, d: int, k: int):
            super().__init__()
            self.fc = nn.Linear(d, k)

        def forward(self, x: Float[Tensor, "b d"]) -> Float[Tensor, "b k"]:
            return self.fc(x)
    '''))
    index = ProjectIndex([pkg / "__init__.py", pkg / "layers.py"])
    assert index.module_path("mypkg.layers") == pkg / "layers.py"
    main = tmp_path / "main.py"
    main.write_text(HEADER + textwrap.dedent('''
    from mypkg.layers import Proj, pool
    from .mypkg import layers

    def f(x: Float[Tensor, "n t 16"]):
        p = pool(x)                    # reveal: (n, 16) float
        out = Proj(16, 4)(p)           # reveal: (n, 4) float
    '''))
    source = main.read_text()
    found = reveal(source, path=main)
    assert found[11] == [("p", "(n, 16) float")]
    assert found[12] == [("out", "(n, 4) float")]
    bad = HEADER + "from mypkg.layers import pool\n\ndef g(x: Float[Tensor, 'n d']):\n    return pool(x)\n"
    codes = [d.code for d in lint_source(str(main), bad, ["SC104"], project=index)]
    assert codes == ["SC104"]
    assert ProjectIndex([pkg / "missing.py"]).lookup("missing.f") is None


def test_relative_imports_resolve_against_the_file_s_package(tmp_path: Path) -> None:
    pkg = tmp_path / "models"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "blocks.py").write_text(HEADER + textwrap.dedent('''
    def widen(x: Float[Tensor, "b d"]) -> Float[Tensor, "b 2*d"]:
        ...
    '''))
    model = pkg / "model.py"
    model.write_text(HEADER + "from .blocks import widen\n\ndef f(x: Float[Tensor, 'n 3']):\n    y: Float[Tensor, 'n 5'] = widen(x)\n    return y\n")
    index = ProjectIndex([pkg / "__init__.py", pkg / "blocks.py", model])
    assert index.name_of(model) == "models.model"
    found = lint_source(str(model), model.read_text(), ["SC104"], project=index)
    assert [(d.location.row, d.code) for d in found] == [(9, "SC104")]
    assert "(n, 6)" in found[0].message


# ---------------------------------------------------------------------- shapes command


def test_run_shapes_prints_source_with_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.py"
    path.write_text(HEADER + 'def f(x: Float[Tensor, "b d"]):\n    y = x.T\n    return y\n')
    assert run_shapes(path, None, color=False) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == "    y = x.T  # y: (d, b) float"
    assert run_shapes(path, "f", color=False) == 0
    assert capsys.readouterr().out.splitlines()[0] == 'def f(x: Float[Tensor, "b d"]):'
    assert run_shapes(path, "nope", color=False) == 2
    assert "no function 'nope'" in capsys.readouterr().err


def test_run_shapes_bad_input_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_shapes(tmp_path / "absent.py") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read" in err
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    assert run_shapes(broken) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot parse" in err


def test_describe_values() -> None:
    assert describe(UNKNOWN) == "?"
    assert describe(TensorValue(Shape.unknown(), "int64", "cuda")) == "? int64 cuda"
    assert describe(TupleValue((TensorValue(Shape.of("b")), UNKNOWN))) == "((b), ?)"


def test_mutated_lists_become_unknown() -> None:
    found = check_reveals('''
    def f(x: Float[Tensor, "b d"]):
        pair = [x, x]
        stacked = torch.stack(pair)    # reveal: (2, b, d) float
        outs = []
        for _ in range(3):
            outs.append(x)
        y = torch.cat(outs, dim=1)     # reveal: <nothing>
        pair[0] = torch.zeros(1)
        z = torch.stack(pair)          # reveal: <nothing>
    ''')
    assert found


def test_annotated_parameters_in_init_are_known_in_methods() -> None:
    check_reveals('''
    class Unembed(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.W_U: Float[Tensor, "d_model d_vocab"] = nn.Parameter(cfg.initial_unembed())
            self.b = nn.Parameter(torch.zeros(4, 3))

        def forward(self, residual: Float[Tensor, "batch pos d_model"]):
            w = self.W_U                       # reveal: (d_model, d_vocab) float
            bias = self.b                      # reveal: (4, 3) float32
    ''')


def test_run_shapes_method_filter_and_colour(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.py"
    path.write_text(HEADER + textwrap.dedent('''
    class A:
        def f(self, x: Float[Tensor, "n"]):
            y = x[None]
            return y

    class B:
        def f(self, x: Float[Tensor, "m"]):
            z = x
            return z
    '''))
    assert run_shapes(path, "B.f", color=True) == 0
    out = capsys.readouterr().out
    assert "z = x" in out and "z: (m) float" in out and "class A" not in out and "y = x" not in out


def test_optional_annotations_describe_the_tensor_when_present() -> None:
    check_reveals('''
    from typing import Optional

    def f(x: Float[Tensor, "b s"], mask: Float[Tensor, "s s"] | None = None, bias: Optional[Float[Tensor, "s"]] = None):
        m = mask                       # reveal: (s, s) float
        c = bias                       # reveal: (s) float
        if mask is None:
            mask = torch.zeros(x.shape[1], x.shape[1])
        y = mask                       # reveal: (s, s) float
    ''')


def test_class_constants_and_helper_built_attributes() -> None:
    check_reveals('''
    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, planes: int):
            super().__init__()
            self._build(planes)

        def _build(self, planes):
            self.fc = nn.Linear(planes, planes * self.expansion)

        def forward(self, x: Float[Tensor, "b planes"]):
            y = self.fc(x)                 # reveal: (b, 4 * planes) float
    ''')


def test_transformer_fixture_is_inferred_end_to_end() -> None:
    """The clean transformer fixture is silent because every shape is *known* and right, not
    because inference gave up: the fused qkv split, the head split and the merge all resolve."""
    path = Path(__file__).resolve().parent.parent / "fixtures" / "clean" / "shape_transformer_block.py"
    source = path.read_text(encoding="utf-8")
    found = reveal(source, path=path)
    lines = source.splitlines()

    def described(fragment: str) -> str:
        row = next(i for i, line in enumerate(lines, start=1) if fragment in line)
        return "; ".join(desc for _, desc in found.get(row, []))

    assert described("q, k, v = self.qkv(x).split(d, dim=2)") == "; ".join(["(b, s, d_model) float"] * 3)
    assert described("q = q.view(b, s, self.n_heads") == "(b, n_heads, s, d_model // n_heads) float"
    assert described("att = (q @ k.transpose(-2, -1))") == "(b, n_heads, s, s) float"
    assert described("y = y.transpose(1, 2).contiguous().view(") == "(b, s, d_model) float"
