"""The registry as a whole: docs/ops.md is current, names are well formed, families load."""

from __future__ import annotations

from shapecheck.infer.ops import coverage, registry


def test_ops_doc_is_current() -> None:
    current = coverage.DOC.read_text(encoding="utf-8") if coverage.DOC.exists() else ""
    assert current == coverage.render(), "docs/ops.md is stale: run python -m shapecheck.infer.ops.coverage"


def test_every_family_registers_and_most_names_are_oracle_tested() -> None:
    table = coverage.rows()
    families = {row[2] for row in table}
    assert {"elementwise", "matmul", "reduction", "views", "joining", "indexing", "creation", "conversion",
            "nn_modules", "losses", "einsum", "einops_ops", "functional"} <= families
    tested = sum(1 for row in table if row[4])
    assert tested / len(table) > 0.8


def test_names_follow_the_registry_conventions() -> None:
    registry._load_families()
    symbols = {"+", "-", "*", "/", "//", "%", "**", "@", "==", "!=", "<", "<=", ">", ">=", "&", "|", "^", "-u", "+u", "~",
               "__getitem__"}
    for name in registry.OPS:
        assert name in symbols or name.startswith(("torch.", "Tensor.", "numpy.", "einops.")), name
    for name in registry.MODULES:
        assert name.startswith(("torch.nn.", "einops.layers.")), name


def test_key_ops_are_registered_under_every_spelling() -> None:
    registry._load_families()
    for names in [("torch.matmul", "Tensor.matmul", "@", "torch.Tensor.matmul"),
                  ("torch.nn.functional.linear",), ("Tensor.view", "Tensor.reshape", "torch.reshape"),
                  ("torch.softmax", "Tensor.softmax", "torch.nn.functional.softmax"), ("__getitem__",)]:
        fns = {registry.OPS[n] for n in names}
        assert len(fns) == 1 or names[0] == "Tensor.view", names
    assert "torch.nn.Linear" in registry.MODULES and "torch.nn.LSTM" in registry.MODULES
