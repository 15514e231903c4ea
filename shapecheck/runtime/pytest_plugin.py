"""pytest plugin (entry point `pytest11`): `pytest --shapecheck=PKG`. Imports torch only when used."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shapecheck")
    group.addoption("--shapecheck", action="append", default=[], metavar="PKG",
                    help="check jaxtyping annotations of every function in PKG at runtime")
