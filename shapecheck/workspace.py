"""One `check` over many folders, each file under its own nearest config (ruff's hierarchy).

`Workspace` resolves every file's settings (`config.ConfigResolver`), discovers the files of
each path with the settings that govern that path, groups the files by config and runs each
group with its own selection, then applies the per-rule severity overrides. What a file gets
depends only on the file and its config, never on the order of the paths:
`check sub src` and `check src sub` give the same output.

It is shared by the CLI and the editor server, so both see the same settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shapecheck.config import ConfigError, ConfigResolver, Layer, Settings, resolve_selection
from shapecheck.diagnostics import Diagnostic

DEFAULT_FAIL_LEVEL = "warning"


class Workspace:
    def __init__(self, cwd: Path, config: Path | None = None, cli_layer: Layer | None = None) -> None:
        self.cwd = cwd
        self.resolver = ConfigResolver(cwd, config)
        self.cli_layer = cli_layer or Layer()
        self._selected: dict[int, frozenset[str]] = {}
        # validate the command line's selectors once, even when no file is found
        resolve_selection([self.cli_layer])

    def settings_for(self, path: Path) -> Settings:
        return self.resolver.for_path(path)

    def selected_for(self, settings: Settings) -> frozenset[str]:
        key = id(settings)
        if key not in self._selected:
            self._selected[key] = resolve_selection([*settings.layers, self.cli_layer])
        return self._selected[key]

    def discover(self, targets: Sequence[Path], *, force_exclude: bool = False) -> list[Path]:
        """Every file to check: each path walked with the settings that govern it, then every
        walked file filtered by the excludes of its own nearest config."""
        from shapecheck.files import Excluder, discover

        found: set[Path] = set()
        excluders: dict[int, Excluder] = {}
        for target in targets:
            if not target.exists():
                raise ConfigError(f"{target}: no such file or directory")
            walk_settings = self.settings_for(target)
            files = discover([target], walk_settings, force_exclude=force_exclude)
            explicit = target.resolve() if target.is_file() else None
            for f in files:
                own = self.settings_for(f)
                if own is not walk_settings and f != explicit:
                    excluder = excluders.get(id(own))
                    if excluder is None:
                        excluder = excluders[id(own)] = Excluder(own)
                    if excluder.excluded_anywhere(f):
                        continue
                found.add(f)
        return sorted(found)

    def groups(self, files: Sequence[Path]) -> list[tuple[Settings, list[Path]]]:
        by_settings: dict[int, tuple[Settings, list[Path]]] = {}
        for f in files:
            s = self.settings_for(f)
            by_settings.setdefault(id(s), (s, []))[1].append(f)
        return sorted(by_settings.values(), key=lambda g: str(g[0].root))

    def run(self, files: Sequence[Path], make_options: Callable[[Settings, frozenset[str]], Any],
            run_check: Callable[..., Any], progress: Callable[[int], Any] | None = None) -> Any:
        """Check `files`, one run per config; the merged `RunResult`, severities overridden."""
        from shapecheck.runner import RunResult

        results = []
        for settings, group in self.groups(files):
            options = make_options(settings, self.selected_for(settings))
            result = run_check(group, options, progress=progress) if progress else run_check(group, options)
            for f in result.files:
                for d in (*f.diagnostics, *f.fixed):
                    self.apply_severity(d, settings)
            results.extend(result.files)
        results.sort(key=lambda r: r.display)
        return RunResult(results)

    @staticmethod
    def apply_severity(d: Diagnostic, settings: Settings) -> None:
        if settings.severity and d.code not in ("SC901", "SC903"):
            d.severity = settings.severity_of(d.code, d.severity or d.info.severity)

    def fail_level_for(self, path: Path, override: str | None) -> str:
        if override:
            return override
        return self.settings_for(path).fail_level or DEFAULT_FAIL_LEVEL


def fails(diagnostics: Sequence[Diagnostic], level_of: Callable[[Diagnostic], str]) -> bool:
    """Whether a finding reaches its file's fail level (SC901/SC903 always do)."""
    return any(
        d.code in ("SC901", "SC903") or (d.severity or d.info.severity).at_least(level_of(d))
        for d in diagnostics
    )


def settings_summary(settings: Settings, selected: frozenset[str], path: Path, fail_level: str) -> str:
    """`--show-settings FILE`: what applies to FILE, one `key = value` per line (TOML-ish)."""
    from shapecheck.suppress import PerFileIgnores

    try:
        rel = path.resolve().relative_to(settings.root).as_posix()
    except ValueError:
        rel = path.as_posix()
    file_ignores = PerFileIgnores(settings.per_file_ignores).codes_for(rel)

    def q(items: Sequence[object]) -> str:
        return "[" + ", ".join(f'"{i}"' for i in items) + "]"

    lines = [
        f"file = \"{path}\"",
        f"config = \"{settings.config_path}\"" if settings.config_path else "config = \"(none: defaults)\"",
        f"extends = {q([str(p) for p in settings.extends])}",
        f"root = \"{settings.root}\"",
        f"selected = {q(sorted(selected))}",
        f"per-file-ignores = {q(file_ignores)}",
        "severity = {" + ", ".join(f'{s} = "{v.value}"' for s, v in settings.severity) + "}",
        f"fail-level = \"{fail_level}\"",
        f"exclude = {q(settings.exclude)}",
        f"extend-exclude = {q(settings.extend_exclude)}",
        f"respect-gitignore = {str(settings.respect_gitignore).lower()}",
        f"cache-dir = \"{settings.cache_dir}\"" if settings.cache_dir else "cache-dir = \"(default)\"",
    ]
    return "\n".join(lines) + "\n"

