"""`[tool.shapecheck]` in pyproject.toml, CLI overrides, and rule selection.

Selection follows ruff's layering: the default set is every rule whose table entry says
`default=True`; then each layer (the config file, then the command line) may *replace* the set
with `select`, *add* to it with `extend-select`, and *remove* from it with `ignore`:

    >>> sorted(resolve_selection([Layer(select=["SC20"], ignore=["SC204"])]))
    ['SC201', 'SC202', 'SC203', 'SC901', 'SC903']

Selectors are `ALL`, a full code (`SC602`) or a prefix (`SC6`, `SC60`). Opt-in rules (off by
default: SC602, SC603, SC902) are enabled only by `ALL` or by their exact code, never by a
shorter prefix: `--select SC6` means "the init family as shipped", and a hygiene rule nobody
asked for by name should not start firing because a family was selected. `ignore` removes
everything a selector covers, opt-in or not.

SC901 (the file does not parse) and SC903 (internal error) are not rules but the tool reporting
that it could not check a file, so a `select` keeps them (ruff always reports syntax errors):
`--select SC2` on a broken file still says it is broken. `ignore = ["SC901"]` silences parse
errors explicitly; SC903 cannot be silenced.

Every problem is a `ConfigError` whose message is one line; the CLI prints it and exits 2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapecheck.diagnostics import RULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None  # type: ignore[assignment]


class ConfigError(Exception):
    """A configuration or usage problem, reported as one line on stderr (exit status 2)."""


DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".git-rewrite",
    ".hg",
    ".ipynb_checkpoints",
    ".mypy_cache",
    ".nox",
    ".pants.d",
    ".pyenv",
    ".pytest_cache",
    ".pytype",
    ".ruff_cache",
    ".shapecheck_cache",
    ".svn",
    ".tox",
    ".venv",
    ".vscode",
    "__pypackages__",
    "__pycache__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
)

# key in the TOML table -> (attribute, expected type description)
_KEYS: dict[str, str] = {
    "select": "list of codes",
    "ignore": "list of codes",
    "extend-select": "list of codes",
    "per-file-ignores": "table of glob -> list of codes",
    "exclude": "list of glob patterns",
    "extend-exclude": "list of glob patterns",
    "respect-gitignore": "boolean",
    "cache-dir": "string",
}


@dataclass(frozen=True)
class Layer:
    """One source of selection settings (config file or command line); None = not given."""

    select: Sequence[str] | None = None
    extend_select: Sequence[str] = ()
    ignore: Sequence[str] = ()


@dataclass
class Settings:
    """Everything a run needs to know, after merging the config file and the command line."""

    root: Path
    config_path: Path | None = None
    config: Layer = field(default_factory=Layer)
    per_file_ignores: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    cache_dir: Path | None = None

    @property
    def all_excludes(self) -> tuple[str, ...]:
        return (*self.exclude, *self.extend_exclude)


def expand_selector(selector: str, *, for_ignore: bool = False, source: str = "") -> set[str]:
    """The codes one selector names; unknown selectors raise ConfigError.

    >>> sorted(expand_selector("SC60"))
    ['SC601']
    >>> sorted(expand_selector("SC602"))
    ['SC602']
    """
    sel = selector.strip().upper()
    where = f" in {source}" if source else ""
    if not sel:
        raise ConfigError(f"empty rule selector{where}")
    if sel == "ALL":
        return set(RULES)
    covered = [code for code in RULES if code.startswith(sel)]
    if not covered:
        raise ConfigError(f"unknown rule selector {selector!r}{where} (see `shapecheck rule --all`)")
    if for_ignore or sel in RULES:
        return set(covered)
    return {code for code in covered if RULES[code].default}


def expand_all(selectors: Iterable[str], *, for_ignore: bool = False, source: str = "") -> set[str]:
    out: set[str] = set()
    for s in selectors:
        out |= expand_selector(s, for_ignore=for_ignore, source=source)
    return out


ALWAYS_SELECTED = frozenset({"SC901", "SC903"})


def resolve_selection(layers: Iterable[Layer]) -> frozenset[str]:
    """The codes enabled after applying each layer in order (see the module docstring)."""
    enabled = {code for code, info in RULES.items() if info.default}
    for layer in layers:
        if layer.select is not None:
            enabled = expand_all(layer.select) | ALWAYS_SELECTED
        enabled |= expand_all(layer.extend_select)
        enabled -= expand_all(layer.ignore, for_ignore=True)
    return frozenset(enabled)


def split_codes(value: str) -> list[str]:
    """`"SC101,SC2 SC3"` -> ['SC101', 'SC2', 'SC3'] (commas or whitespace, as ruff)."""
    return [part for part in value.replace(",", " ").split() if part]


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start` that has a [tool.shapecheck] table."""
    start = start.resolve()
    if start.is_file():
        start = start.parent
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if "[tool.shapecheck" in text or "tool.shapecheck" in text:
                return candidate
    return None


def _string_list(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: `{key}` must be a {_KEYS.get(key, 'list of strings')}, got {value!r}")
    return tuple(value)


def load_config(path: Path) -> Settings:
    """Read `[tool.shapecheck]` from `path` (a pyproject.toml or a standalone shapecheck.toml)."""
    if tomllib is None:  # pragma: no cover
        raise ConfigError("reading configuration on Python 3.10 needs the `tomli` package")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("shapecheck", {})
    else:
        table = data.get("tool", {}).get("shapecheck", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.shapecheck] must be a table")
    return settings_from_table(table, path)


def settings_from_table(table: dict[str, Any], path: Path) -> Settings:
    for key in table:
        if key not in _KEYS:
            hint = ""
            if key.replace("_", "-") in _KEYS:
                hint = f" (did you mean `{key.replace('_', '-')}`?)"
            raise ConfigError(f"{path}: unknown key `{key}` in [tool.shapecheck]{hint}")
    source = str(path)
    select = _string_list(table["select"], "select", path) if "select" in table else None
    extend_select = _string_list(table.get("extend-select", []), "extend-select", path)
    ignore = _string_list(table.get("ignore", []), "ignore", path)
    for selectors, for_ignore in ((select or (), False), (extend_select, False), (ignore, True)):
        expand_all(selectors, for_ignore=for_ignore, source=source)  # validates the codes
    pfi_raw = table.get("per-file-ignores", {})
    if not isinstance(pfi_raw, dict):
        raise ConfigError(f"{path}: `per-file-ignores` must be a {_KEYS['per-file-ignores']}, got {pfi_raw!r}")
    per_file: list[tuple[str, tuple[str, ...]]] = []
    for pattern, codes in pfi_raw.items():
        codes_t = _string_list(codes, f"per-file-ignores.{pattern}", path)
        expand_all(codes_t, for_ignore=True, source=source)
        per_file.append((pattern, codes_t))
    respect = table.get("respect-gitignore", True)
    if not isinstance(respect, bool):
        raise ConfigError(f"{path}: `respect-gitignore` must be a boolean, got {respect!r}")
    cache_dir = table.get("cache-dir")
    if cache_dir is not None and not isinstance(cache_dir, str):
        raise ConfigError(f"{path}: `cache-dir` must be a string, got {cache_dir!r}")
    root = path.resolve().parent
    return Settings(
        root=root,
        config_path=path,
        config=Layer(select, extend_select, ignore),
        per_file_ignores=per_file,
        exclude=_string_list(table["exclude"], "exclude", path) if "exclude" in table else DEFAULT_EXCLUDE,
        extend_exclude=_string_list(table.get("extend-exclude", []), "extend-exclude", path),
        respect_gitignore=respect,
        cache_dir=(root / cache_dir) if cache_dir else None,
    )


def discover_settings(paths: Sequence[Path], config: Path | None, cwd: Path) -> Settings:
    """Settings from `--config FILE`, else the nearest configured pyproject.toml above the first
    path (or the working directory), else the defaults rooted at the working directory."""
    if config is not None:
        return load_config(config)
    start = paths[0] if paths else cwd
    found = find_config(start if start.exists() else cwd)
    if found is None and paths:
        found = find_config(cwd)
    if found is None:
        return Settings(root=cwd.resolve())
    return load_config(found)
