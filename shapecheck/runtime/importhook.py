"""Check every annotated function of chosen packages: `install_import_hook(["mypkg"])`.

After a module of a chosen package is executed, each function and class *defined in it* whose
annotations mention jaxtyping arrays is replaced in the module's namespace by its
`shapecheck.check` version (classes are decorated in place). Calls that look the name up at call
time (`mypkg.f(...)`, `from mypkg import f` after the import, calls between functions of the
module) go through the check; a reference taken while the module was still executing (a
decorator registry, a default argument) keeps the unchecked function. `@typing.no_type_check`
opts a function or class out. Modules already imported are processed on install, too.

Unlike jaxtyping's hook we do not rewrite source: no AST pass, no separate bytecode cache.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import inspect
import sys
import types
from collections.abc import Iterable, Sequence
from typing import Any


def _matches(name: str, packages: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def instrument_module(module: types.ModuleType) -> int:
    """Decorate the annotated functions and classes defined in `module`; how many."""
    from shapecheck.runtime.decorator import _has_arrays, check

    count = 0
    for name, obj in list(vars(module).items()):
        if getattr(obj, "__module__", None) != module.__name__ or getattr(obj, "__no_type_check__", False):
            continue
        if hasattr(obj, "__shapecheck_plan__"):
            continue
        if inspect.isfunction(obj) and _has_arrays(obj, None):
            setattr(module, name, check(obj))
            count += 1
        elif inspect.isclass(obj) and "__shapecheck_checked__" not in vars(obj) and _mentions_arrays(obj):
            check(obj)
            # Counted only when something of it is really checked (a method, a property, a field).
            count += 1 if vars(obj).get("__shapecheck_checked__", 0) else 0
    return count


def _mentions_arrays(cls: type) -> bool:
    """A method, property or dataclass field of `cls` is annotated with a jaxtyping array."""
    import dataclasses

    from shapecheck.runtime.decorator import _field_specs, _has_arrays, _member_function

    for member in vars(cls).values():
        fn = _member_function(member)
        if inspect.isfunction(fn) and not getattr(fn, "__no_type_check__", False) and _has_arrays(fn, None):
            return True
    return dataclasses.is_dataclass(cls) and bool(_field_specs(cls, None))


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader, hook: ImportHook) -> None:
        self._inner = inner
        self._hook = hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._inner.exec_module(module)
        self._hook.checked += instrument_module(module)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ... of the real loader
        return getattr(self._inner, name)


class ImportHook(importlib.abc.MetaPathFinder):
    """A meta path finder that wraps the loader of matching modules; see the module doc."""

    def __init__(self, packages: Iterable[str]) -> None:
        self.packages = tuple(p.strip() for p in packages if p.strip())
        self.checked = 0
        self._busy = False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if self._busy or not _matches(fullname, self.packages):
            return None
        self._busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._busy = False
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, self)
        return spec

    def uninstall(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)

    def __enter__(self) -> ImportHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def install_import_hook(packages: Iterable[str]) -> ImportHook:
    """Check annotated functions of `packages` (and their subpackages) from now on."""
    hook = ImportHook(packages)
    sys.meta_path.insert(0, hook)
    for name, module in list(sys.modules.items()):
        if module is not None and _matches(name, hook.packages):
            hook.checked += instrument_module(module)
    return hook
