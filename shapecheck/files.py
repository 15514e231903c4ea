"""File discovery: which files `shapecheck check PATHS` looks at.

Directories are walked for `.py`, `.pyi` and `.ipynb` files. A file or directory is skipped when
it matches an `exclude`/`extend-exclude` pattern (gitignore syntax, matched against the path
relative to the project root and against its own name, as ruff does) or, with
`respect-gitignore` (the default), a `.gitignore` / `.git/info/exclude` rule.

Files passed explicitly on the command line are always checked, whatever their extension or the
excludes, unless `--force-exclude` is given: pre-commit passes every staged file by name, and the
hook must still honour the project's excludes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from shapecheck.config import ConfigError, Settings

EXTENSIONS = (".py", ".pyi", ".ipynb")


def _spec(lines: Iterable[str]) -> pathspec.PathSpec:
    return pathspec.GitIgnoreSpec.from_lines([ln for ln in lines if ln.strip()])


@dataclass
class _IgnoreFile:
    base: Path
    spec: pathspec.PathSpec


@dataclass
class GitIgnores:
    """The .gitignore rules in force at a directory: each file's patterns apply below its folder."""

    files: list[_IgnoreFile] = field(default_factory=list)

    @staticmethod
    def read(directory: Path) -> list[_IgnoreFile]:
        found: list[_IgnoreFile] = []
        for name in (".gitignore", ".ignore"):
            p = directory / name
            if p.is_file():
                try:
                    found.append(_IgnoreFile(directory, _spec(p.read_text(encoding="utf-8", errors="replace").splitlines())))
                except OSError:
                    pass
        info = directory / ".git" / "info" / "exclude"
        if info.is_file():
            try:
                found.append(_IgnoreFile(directory, _spec(info.read_text(encoding="utf-8", errors="replace").splitlines())))
            except OSError:
                pass
        return found

    @classmethod
    def above(cls, directory: Path) -> GitIgnores:
        """Ignore files of `directory` and its parents, up to the enclosing git repository's root."""
        chain: list[Path] = []
        for d in (directory, *directory.parents):
            chain.append(d)
            if (d / ".git").exists():
                break
        else:
            chain = [directory]  # not in a repository: only the directory's own ignore files
        files: list[_IgnoreFile] = []
        for d in reversed(chain):
            files.extend(cls.read(d))
        return cls(files)

    def below(self, directory: Path) -> GitIgnores:
        extra = self.read(directory)
        return GitIgnores(self.files + extra) if extra else self

    def ignored(self, path: Path, is_dir: bool) -> bool:
        for f in self.files:
            try:
                rel = path.relative_to(f.base).as_posix()
            except ValueError:
                continue
            if f.spec.match_file(rel + "/" if is_dir else rel):
                return True
        return False


class Excluder:
    """`exclude` + `extend-exclude` patterns, matched like ruff: against the path relative to the
    project root and against the bare name (so `build` excludes every `build/` folder)."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.root
        self.spec = _spec(settings.all_excludes)

    def excluded(self, path: Path, is_dir: bool) -> bool:
        suffix = "/" if is_dir else ""
        if self.spec.match_file(path.name + suffix):
            return True
        try:
            rel = path.relative_to(self.root).as_posix()
        except ValueError:
            rel = path.as_posix().lstrip("/")
        return bool(self.spec.match_file(rel + suffix))

    def excluded_anywhere(self, path: Path) -> bool:
        """`path` or one of its parents below the root is excluded (used by --force-exclude)."""
        if self.excluded(path, path.is_dir()):
            return True
        try:
            parts = path.relative_to(self.root).parts[:-1]
        except ValueError:
            return False
        current = self.root
        for part in parts:
            current = current / part
            if self.excluded(current, True):
                return True
        return False


def discover(paths: Sequence[Path], settings: Settings, *, force_exclude: bool = False) -> list[Path]:
    """Every file to check, absolute, sorted, without duplicates. Raises ConfigError for a path
    that does not exist."""
    excluder = Excluder(settings)
    found: dict[Path, None] = {}
    for given in paths:
        if not given.exists():
            raise ConfigError(f"{given}: no such file or directory")
        path = given.resolve()
        if path.is_file():
            if force_exclude:
                if excluder.excluded_anywhere(path):
                    continue
                if settings.respect_gitignore and GitIgnores.above(path.parent).ignored(path, False):
                    continue
            found[path] = None
            continue
        if force_exclude and excluder.excluded_anywhere(path):
            continue
        ignores = GitIgnores.above(path) if settings.respect_gitignore else GitIgnores()
        for file in _walk(path, excluder, ignores, settings.respect_gitignore):
            found[file] = None
    return sorted(found)


def _walk(top: Path, excluder: Excluder, ignores: GitIgnores, respect_gitignore: bool) -> Iterable[Path]:
    stack: list[tuple[Path, GitIgnores]] = [(top, ignores)]
    while stack:
        directory, ign = stack.pop()
        if respect_gitignore and directory != top:
            ign = ign.below(directory)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if excluder.excluded(path, is_dir) or (respect_gitignore and ign.ignored(path, is_dir)):
                continue
            if is_dir:
                if not entry.is_symlink():
                    stack.append((path, ign))
            elif path.suffix in EXTENSIONS:
                yield path
