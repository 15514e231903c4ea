"""The pytest plugin `--shapecheck=PKG`, exercised with pytester, and the import hook under it."""

from __future__ import annotations

import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]

# Imported here, before any in-process pytester run: pytester restores `sys.modules` after
# each run, and torch cannot be imported a second time in one process (it segfaults).
torch = pytest.importorskip("torch")
pytest.importorskip("jaxtyping")

PACKAGE = {
    "mypkg/__init__.py": "",
    "mypkg/ops.py": """
        import torch
        from jaxtyping import Float
        from torch import Tensor, nn
        from typing import no_type_check


        def pairwise(x: Float[Tensor, "n d"], y: Float[Tensor, "m d"]) -> Float[Tensor, "n m"]:
            return x @ y.T


        def unchecked(x):
            return x


        @no_type_check
        def opted_out(x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
            return x


        class Head(nn.Module):
            def __init__(self, d_model: int) -> None:
                super().__init__()
                self.fc = nn.Linear(d_model, 2)

            def forward(self, x: Float[Tensor, "b d_model"]) -> Float[Tensor, "b 2"]:
                return self.fc(x)
    """,
}

TESTS = """
    import torch
    from mypkg import ops


    def test_good():
        assert ops.pairwise(torch.zeros(3, 4), torch.zeros(5, 4)).shape == (3, 5)
        assert ops.Head(4)(torch.zeros(2, 4)).shape == (2, 2)


    def test_wrong_feature_dim():
        ops.pairwise(torch.zeros(3, 4), torch.zeros(5, 6))  # matmul would fail anyway


    def test_wrong_module_input():
        ops.Head(4)(torch.zeros(2, 3))


    def test_opted_out_and_unannotated():
        assert ops.opted_out(torch.zeros(2, 2)).shape == (2, 2)
        assert ops.unchecked(3) == 3
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    for path, text in PACKAGE.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    pytester.makepyfile(test_usage=textwrap.dedent(TESTS))
    pytester.syspathinsert()
    return pytester


def test_plugin_checks_annotated_functions_of_the_package(project: pytest.Pytester) -> None:
    result = project.runpytest("--shapecheck=mypkg", "-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "shapecheck: runtime checks on mypkg",
        "*ShapeError: *test_usage.py:11: pairwise(): argument 'y': dim 'd' (axis 1) is 6, but 'd' is already 4",
        "*ShapeError: *test_usage.py:15: Head.forward(): argument 'x': dim 'd_model' (axis 1) is 3, "
        "but 'd_model' is already 4",
        "shapecheck: 2 annotated function(s)/class(es) checked in mypkg",
    ])


def test_without_the_option_nothing_is_checked(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    # test_wrong_feature_dim fails in torch's matmul; the module call runs fine unchecked
    # (Linear(4, 2) on (2, 3) fails in torch too): both fail with RuntimeError, not ShapeError.
    result.assert_outcomes(passed=2, failed=2)
    assert "ShapeError" not in result.stdout.str()
    assert "shapecheck:" not in result.stdout.str()


def test_plugin_does_not_import_torch_unless_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_light="""
        import sys

        def test_torch_not_loaded():
            assert "torch" not in sys.modules
            assert "shapecheck.runtime.decorator" not in sys.modules
    """)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_import_hook_covers_already_imported_modules_and_uninstalls(project: pytest.Pytester) -> None:
    from shapecheck import ShapeError
    from shapecheck.runtime.importhook import install_import_hook

    sys.modules.pop("mypkg", None)
    sys.modules.pop("mypkg.ops", None)
    import mypkg.ops as ops  # imported before the hook: processed on install

    try:
        with install_import_hook(["mypkg"]) as hook:
            assert hook.checked == 2
            with pytest.raises(ShapeError, match="argument 'y'"):
                ops.pairwise(torch.zeros(3, 4), torch.zeros(5, 6))
        assert hook not in sys.meta_path
    finally:
        sys.modules.pop("mypkg", None)
        sys.modules.pop("mypkg.ops", None)
