"""Rule families, one module each; a rule is found by walking the module for `LintRule`
subclasses (Fixit's `find_rules`), so a new rule is one class in its family module."""

from __future__ import annotations

import importlib
import inspect
from functools import cache

from shapecheck.rules.base import LintRule

FAMILY_MODULES = ("shape", "training", "loss", "autograd", "device", "init", "stalls", "pipeline")


@cache
def all_rules() -> dict[str, type[LintRule]]:
    """code -> rule class, for every rule implemented so far."""
    found: dict[str, type[LintRule]] = {}
    for family in FAMILY_MODULES:
        try:
            module = importlib.import_module(f"shapecheck.rules.{family}")
        except ModuleNotFoundError as exc:
            if exc.name == f"shapecheck.rules.{family}":
                continue
            raise
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, LintRule) and obj is not LintRule and obj.CODE and obj.__module__ == module.__name__:
                if obj.CODE in found and found[obj.CODE] is not obj:
                    raise RuntimeError(f"two rules claim {obj.CODE}: {found[obj.CODE]} and {obj}")
                found[obj.CODE] = obj
    return dict(sorted(found.items()))
