"""pytest plugin (entry point `pytest11`): `pytest --shapecheck=PKG[,PKG2]`.

Checks the jaxtyping annotations of every function and class of PKG at runtime during the
tests (see `shapecheck.runtime.importhook`). The hook is installed before conftest files are
loaded, so packages they import are covered. This module imports neither torch nor the rest
of the runtime unless `--shapecheck` is given.
"""

from __future__ import annotations

from typing import Any

import pytest

_STATE: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shapecheck")
    group.addoption("--shapecheck", action="append", default=[], metavar="PKG",
                    help="check jaxtyping annotations of every function in PKG at runtime "
                         "(repeat or separate with commas)")


def _packages(values: list[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    packages = _packages(getattr(early_config.known_args_namespace, "shapecheck", None) or [])
    if not packages:
        return
    from shapecheck.runtime.importhook import install_import_hook

    _STATE["hook"] = install_import_hook(packages)


def pytest_report_header(config: pytest.Config) -> str | None:
    hook = _STATE.get("hook")
    if hook is None:
        return None
    return f"shapecheck: runtime checks on {', '.join(hook.packages)}"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    hook = _STATE.get("hook")
    if hook is not None:
        terminalreporter.write_line(
            f"shapecheck: {hook.checked} annotated function(s)/class(es) checked in {', '.join(hook.packages)}")


def pytest_unconfigure(config: pytest.Config) -> None:
    hook = _STATE.pop("hook", None)
    if hook is not None:
        hook.uninstall()
