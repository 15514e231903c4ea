"""Configuration: `[tool.shapecheck]` (pyproject.toml) or `shapecheck.toml`, per directory like
ruff, plus the command line; rule selection and per-rule severities.

**Which config applies to a file.** The nearest configuration file at or above the file's folder:
in each folder `.shapecheck.toml`, then `shapecheck.toml`, then a `pyproject.toml` that has a
`[tool.shapecheck]` table (ruff's order). Each file uses its own closest config, so
`check sub src` and `check src sub` give the same results, and a nested project's
`pyproject.toml` governs its own files. A file with no config above it uses the defaults, rooted at
the working directory. `--config FILE` makes FILE the only config for every file.
`extend = "../pyproject.toml"` loads another config first and applies this one on top (its
selection layers, then ours; scalar keys and lists of ours replace its).

**Selection** follows ruff's layering: the default set is every rule whose table entry says
`default=True`; then each layer (the extended configs, the config file, then the command line)
may *replace* the set with `select`, *add* to it with `extend-select`, and *remove* from it with
`ignore`:

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

**Severities.** `[tool.shapecheck.severity]` maps selectors to `error`/`warning`/`info`
(`"SC102" = "error"`, `"SC5" = "info"`); a longer selector wins over a shorter one, and a
config wins over the one it extends. `fail-level` (default `warning`) is the lowest severity that
makes `check` exit 1: an info finding never fails a build unless `fail-level = "info"`.

Every problem is a `ConfigError` whose message is one line; the CLI prints it and exits 2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapecheck.diagnostics import RULES, Severity



def _tomllib() -> Any:
    """The TOML parser, imported on first use (a run without a config file never pays for it):
    `tomllib` on 3.11+, the `tomli` dependency on 3.10 (marker in pyproject.toml)."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # pragma: no cover - Python 3.10
        import tomli
    except ModuleNotFoundError:  # pragma: no cover
        raise ConfigError("reading configuration on Python 3.10 needs the `tomli` package (pip install tomli)") from None
    return tomli  # pragma: no cover


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

# In each folder, the first of these that exists (and, for pyproject.toml, has our table) wins.
CONFIG_NAMES = (".shapecheck.toml", "shapecheck.toml", "pyproject.toml")
FAIL_LEVELS = ("error", "warning", "info")
MAX_EXTEND_DEPTH = 16
MAX_CONFIG_BYTES = 4 << 20

# key in the TOML table -> expected type, as the error message says it
_KEYS: dict[str, str] = {
    "select": "list of codes",
    "ignore": "list of codes",
    "extend-select": "list of codes",
    "per-file-ignores": "table of glob -> list of codes",
    "exclude": "list of glob patterns",
    "extend-exclude": "list of glob patterns",
    "respect-gitignore": "boolean",
    "cache-dir": "string",
    "extend": "string (a path to another config file)",
    "severity": "table of code -> 'error' | 'warning' | 'info'",
    "fail-level": "one of 'error', 'warning', 'info'",
}


@dataclass(frozen=True)
class Layer:
    """One source of selection settings (config file or command line); None = not given."""

    select: Sequence[str] | None = None
    extend_select: Sequence[str] = ()
    ignore: Sequence[str] = ()


@dataclass
class Settings:
    """Everything a run needs to know about the files one config governs."""

    root: Path
    config_path: Path | None = None
    config: Layer = field(default_factory=Layer)
    per_file_ignores: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    cache_dir: Path | None = None
    # the selection layers of the configs this one extends, outermost first
    base_layers: tuple[Layer, ...] = ()
    # (selector, severity) in the order they apply: later entries win
    severity: tuple[tuple[str, Severity], ...] = ()
    fail_level: str | None = None
    extends: tuple[Path, ...] = ()

    @property
    def all_excludes(self) -> tuple[str, ...]:
        return (*self.exclude, *self.extend_exclude)

    @property
    def layers(self) -> list[Layer]:
        return [*self.base_layers, self.config]

    def severity_of(self, code: str, default: Severity) -> Severity:
        """The configured severity of `code` (the most specific selector of the nearest config)."""
        out = default
        for selector, sev in self.severity:
            if selector == "ALL" or code.startswith(selector):
                out = sev
        return out


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


# ---------------------------------------------------------------------------------------------
# reading files


def _read_toml(path: Path) -> dict[str, Any]:
    """The TOML document at `path`; every failure is one ConfigError line."""
    tomllib = _tomllib()
    try:
        if not path.is_file():
            if path.exists():
                raise ConfigError(f"cannot read config file {path}: not a regular file")
            raise ConfigError(f"config file not found: {path}")
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: config file larger than {MAX_CONFIG_BYTES >> 20} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start}); TOML files must be UTF-8") from None
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None


def _table_of(data: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """The shapecheck table of a parsed config file; None when a pyproject.toml has none."""
    tool = data.get("tool")
    if tool is not None and not isinstance(tool, dict):
        raise ConfigError(f"{path}: `tool` must be a table, got {_short(tool)}")
    if tool is not None and "shapecheck" in tool:
        table = tool["shapecheck"]
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.shapecheck] must be a table, got {_short(table)}")
        return table
    if path.name == "pyproject.toml":
        return None
    standalone = {k: v for k, v in data.items() if k != "tool"}
    return standalone


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_config(path: Path) -> bool:
    """Whether `path` is a config file for its folder. A pyproject.toml counts only with a
    `[tool.shapecheck]` table; one that mentions shapecheck but cannot be read or parsed is an
    error, never silently skipped."""
    try:
        if not path.is_file():
            return False
    except OSError:
        return False
    if path.name != "pyproject.toml":
        return True
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if b"shapecheck" not in raw:
        return False  # not ours (and not parsed: an unrelated pyproject.toml costs nothing)
    return _table_of(_read_toml(path), path) is not None


def find_config(start: Path) -> Path | None:
    """The nearest config file at or above `start` (see the module docstring)."""
    start = start.resolve()
    if start.is_file():
        start = start.parent
    for directory in (start, *start.parents):
        for name in CONFIG_NAMES:
            candidate = directory / name
            if _is_config(candidate):
                return candidate
    return None


def _string_list(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: `{key}` must be a {_KEYS.get(key, 'list of strings')}, got {_short(value)}")
    return tuple(value)


def load_config(path: Path, _chain: tuple[Path, ...] = ()) -> Settings:
    """Settings from the config file `path` (following `extend`)."""
    data = _read_toml(path)
    table = _table_of(data, path)
    if table is None:
        table = {}
    return settings_from_table(table, path, _chain)


def settings_from_table(table: dict[str, Any], path: Path, _chain: tuple[Path, ...] = ()) -> Settings:
    for key in table:
        if key not in _KEYS:
            hint = ""
            if key.replace("_", "-") in _KEYS:
                hint = f" (did you mean `{key.replace('_', '-')}`?)"
            raise ConfigError(f"{path}: unknown key `{key}` in [tool.shapecheck]{hint}")
    source = str(path)
    root = path.resolve().parent
    base: Settings | None = None
    if "extend" in table:
        target = table["extend"]
        if not isinstance(target, str) or not target:
            raise ConfigError(f"{path}: `extend` must be a {_KEYS['extend']}, got {_short(target)}")
        base_path = (root / Path(target).expanduser()).resolve()
        chain = (*_chain, path.resolve())
        if base_path in chain:
            raise ConfigError(f"{path}: `extend` makes a cycle ({' -> '.join(str(p) for p in (*chain, base_path))})")
        if len(chain) > MAX_EXTEND_DEPTH:
            raise ConfigError(f"{path}: `extend` chain longer than {MAX_EXTEND_DEPTH} files")
        base = load_config(base_path, chain)
    select = _string_list(table["select"], "select", path) if "select" in table else None
    extend_select = _string_list(table.get("extend-select", []), "extend-select", path)
    ignore = _string_list(table.get("ignore", []), "ignore", path)
    for selectors, for_ignore in ((select or (), False), (extend_select, False), (ignore, True)):
        expand_all(selectors, for_ignore=for_ignore, source=source)  # validates the codes
    per_file = list(base.per_file_ignores) if base else []
    if "per-file-ignores" in table:
        pfi_raw = table["per-file-ignores"]
        if not isinstance(pfi_raw, dict):
            raise ConfigError(f"{path}: `per-file-ignores` must be a {_KEYS['per-file-ignores']}, got {_short(pfi_raw)}")
        for pattern, codes in pfi_raw.items():
            codes_t = _string_list(codes, f"per-file-ignores.{pattern}", path)
            expand_all(codes_t, for_ignore=True, source=source)
            per_file.append((pattern, codes_t))
    respect = table.get("respect-gitignore", base.respect_gitignore if base else True)
    if not isinstance(respect, bool):
        raise ConfigError(f"{path}: `respect-gitignore` must be a boolean, got {_short(respect)}")
    cache_dir = table.get("cache-dir")
    if cache_dir is not None and not isinstance(cache_dir, str):
        raise ConfigError(f"{path}: `cache-dir` must be a string, got {_short(cache_dir)}")
    severity = list(base.severity) if base else []
    if "severity" in table:
        severity.extend(_severities(table["severity"], path))
    fail_level = table.get("fail-level", base.fail_level if base else None)
    if fail_level is not None and fail_level not in FAIL_LEVELS:
        raise ConfigError(f"{path}: `fail-level` must be {_KEYS['fail-level']}, got {_short(fail_level)}")
    if "exclude" in table:
        exclude = _string_list(table["exclude"], "exclude", path)
    else:
        exclude = base.exclude if base else DEFAULT_EXCLUDE
    extend_exclude = (*(base.extend_exclude if base else ()),
                      *_string_list(table.get("extend-exclude", []), "extend-exclude", path))
    return Settings(
        root=root,
        config_path=path,
        config=Layer(select, extend_select, ignore),
        per_file_ignores=per_file,
        exclude=exclude,
        extend_exclude=extend_exclude,
        respect_gitignore=respect,
        cache_dir=(root / cache_dir) if cache_dir else (base.cache_dir if base else None),
        base_layers=(*base.base_layers, base.config) if base else (),
        severity=tuple(severity),
        fail_level=fail_level,
        extends=(*base.extends, base.config_path) if base and base.config_path else (),
    )


def _severities(raw: Any, path: Path) -> list[tuple[str, Severity]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: `severity` must be a {_KEYS['severity']}, got {_short(raw)}")
    out: list[tuple[str, Severity]] = []
    for selector, level in raw.items():
        expand_all([selector], for_ignore=True, source=str(path))
        if level not in FAIL_LEVELS:
            raise ConfigError(
                f"{path}: `severity.{selector}` must be 'error', 'warning' or 'info', got {_short(level)}")
        out.append((selector.strip().upper(), Severity(level)))
    # the most specific selector applies last, so it wins
    out.sort(key=lambda item: 0 if item[0] == "ALL" else len(item[0]))
    return out


class ConfigResolver:
    """The settings of each file: its nearest config (cached per folder), or `--config FILE` for
    all, or the defaults rooted at `cwd`."""

    def __init__(self, cwd: Path, override: Path | None = None) -> None:
        self.cwd = cwd.resolve()
        self._override = load_config(override) if override is not None else None
        self._by_dir: dict[Path, Settings] = {}
        self._by_config: dict[Path, Settings] = {}
        self._default: Settings | None = None

    @property
    def default(self) -> Settings:
        if self._default is None:
            self._default = Settings(root=self.cwd)
        return self._default

    def for_path(self, path: Path) -> Settings:
        """Settings for a file or folder (a folder's own config applies to it)."""
        if self._override is not None:
            return self._override
        path = path.resolve()
        directory = path if path.is_dir() else path.parent
        return self._for_dir(directory)

    def _for_dir(self, directory: Path) -> Settings:
        hit = self._by_dir.get(directory)
        if hit is not None:
            return hit
        chain: list[Path] = []
        found: Settings | None = None
        d = directory
        while True:
            if d in self._by_dir:
                found = self._by_dir[d]
                break
            chain.append(d)
            config = next((d / n for n in CONFIG_NAMES if _is_config(d / n)), None)
            if config is not None:
                found = self._by_config.get(config) or load_config(config)
                self._by_config[config] = found
                break
            if d.parent == d:
                found = self.default
                break
            d = d.parent
        for c in chain:
            self._by_dir[c] = found
        return found


def discover_settings(paths: Sequence[Path], config: Path | None, cwd: Path) -> Settings:
    """The settings of the first path (or the working directory): `--config FILE`, else its
    nearest config, else the defaults rooted at the working directory. (`check` resolves each
    file's own config with `ConfigResolver`; this is the one-path view.)"""
    resolver = ConfigResolver(cwd, config)
    start = paths[0] if paths else cwd
    return resolver.for_path(start if start.exists() else cwd)
