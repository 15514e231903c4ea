"""File discovery: which files `shapecheck check PATHS` looks at.

Directories are walked for `.py`, `.pyi` and `.ipynb` files. A file or directory is skipped when
it matches an `exclude`/`extend-exclude` pattern (gitignore syntax, matched against the path
relative to the project root and against its own name, as ruff does) or, with
`respect-gitignore` (the default), a `.gitignore` / `.git/info/exclude` rule.

Files passed explicitly on the command line are always checked, whatever their extension or the
excludes, unless `--force-exclude` is given: pre-commit passes every staged file by name, and the
hook must still honour the project's excludes.

Only regular files are checked (a FIFO named `x.py` would block the run, a symlink to
`/dev/zero` would read forever): every read goes through `read_regular`, which never blocks,
never reads more than `MAX_FILE_BYTES`, and says what a non-regular `x.py` is (SC901). A folder that cannot be listed is returned as a path
of its own, so that the run reports it (SC901 "could not read the folder") and goes on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from shapecheck.config import ConfigError, Settings

EXTENSIONS = (".py", ".pyi", ".ipynb")
MAX_FILE_BYTES = 32 * 1024 * 1024  # 16x the largest file of the real-code corpus; a bigger .py is generated data


class UnreadableFile(OSError):
    """A path `read_regular` will not read; str() is the one-line reason."""


def read_regular(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file `path`. Raises `UnreadableFile` (an OSError) with a clear
    reason for a folder, FIFO, socket or device (never blocks: opened non-blocking, checked with
    fstat before any read), for a file over `limit` bytes, and for any OS error."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UnreadableFile(exc.strerror or str(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFile(f"not a regular file ({_kind(st.st_mode)})")
        if st.st_size > limit:
            raise UnreadableFile(f"larger than {limit // (1024 * 1024)} MiB ({st.st_size} bytes)")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:  # grew while being read
                raise UnreadableFile(f"larger than {limit // (1024 * 1024)} MiB")
            chunks.append(chunk)
        return b"".join(chunks)
    except UnreadableFile:
        raise
    except OSError as exc:
        raise UnreadableFile(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a plain file"


def _spec(lines: Iterable[str], *, strict: bool = False) -> pathspec.PathSpec:
    """A gitignore spec. Git skips a pattern it cannot read (`!`, `build\\`); so do we, except
    in the user's own `exclude` settings (`strict`), where it is a configuration error."""
    patterns = [ln for ln in lines if ln.strip()]
    try:
        return pathspec.GitIgnoreSpec.from_lines(patterns)
    except (ValueError, TypeError) as exc:  # GitIgnorePatternError is a ValueError
        good: list[str] = []
        for pattern in patterns:
            try:
                pathspec.GitIgnoreSpec.from_lines([pattern])
            except (ValueError, TypeError):
                if strict:
                    raise ConfigError(f"invalid exclude pattern {pattern!r}: {exc}") from None
                continue
            good.append(pattern)
        return pathspec.GitIgnoreSpec.from_lines(good)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # an unsearchable folder: EACCES from stat
        return False


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
            if _is_file(p):
                try:
                    text = read_regular(p, 1 << 20).decode("utf-8", errors="replace")
                except OSError:
                    continue
                found.append(_IgnoreFile(directory, _spec(text.splitlines())))
        info = directory / ".git" / "info" / "exclude"
        if _is_file(info):
            try:
                text = read_regular(info, 1 << 20).decode("utf-8", errors="replace")
            except OSError:
                return found
            found.append(_IgnoreFile(directory, _spec(text.splitlines())))
        return found

    @classmethod
    def above(cls, directory: Path) -> GitIgnores:
        """Ignore files of `directory` and its parents, up to the enclosing git repository's root."""
        chain: list[Path] = []
        for d in (directory, *directory.parents):
            chain.append(d)
            try:
                if (d / ".git").exists():
                    break
            except OSError:
                continue
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
        self.spec = _spec(settings.all_excludes, strict=True)

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
        try:
            exists = given.exists()
        except OSError as exc:
            raise ConfigError(f"{given}: {exc.strerror or exc}") from None
        if not exists:
            raise ConfigError(f"{given}: no such file or directory")
        path = given.resolve()
        if not path.is_dir():  # a file, or a FIFO/device given by name: reading it says what it is
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
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            continue  # removed while we walked
        except OSError:
            yield directory  # the run reports it: "could not read the folder: Permission denied"
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if not is_dir and path.suffix not in EXTENSIONS:
                continue
            # a FIFO, device or dangling symlink named x.py is yielded too: `read_regular` says
            # what it is (SC901) without blocking or reading /dev/zero forever
            if excluder.excluded(path, is_dir) or (respect_gitignore and ign.ignored(path, is_dir)):
                continue
            if is_dir:
                if not entry.is_symlink():
                    stack.append((path, ign))
            else:
                yield path
