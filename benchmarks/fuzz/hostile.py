"""The hostile-file catalogue: each case builds a small tree in a fresh folder and names the CLI
arguments to run on it. Deep nesting, long chains, 50,000-line files, encodings, line endings,
NUL bytes, FIFOs, symlinks, unreadable paths, broken notebooks, crafted caches, hostile output
targets. A case is `(name, build)`; `build(folder)` returns `(argv, options)`, where options may
ask to run as an unprivileged user (`as_nobody`) or to send stdout to `/dev/full`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

HEAD = "import torch\nt = torch.zeros(3, 4)\n"
Case = tuple[str, Callable[[Path], tuple[list[str], dict[str, Any]]]]


def _write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    return path


def _one(name: str, data: str | bytes, *extra: str, filename: str = "f.py", command: str = "check",
         **options: Any) -> Case:
    def build(folder: Path) -> tuple[list[str], dict[str, Any]]:
        _write(folder, filename, data)
        if command == "shapes":
            return ["shapes", filename], options
        return ["check", "--no-cache", *extra, "."], options

    return name, build


def _helpers(n: int) -> str:
    out = [HEAD]
    for i in range(n):
        out += [f"def helper_{i}(x, w, b):", "    h = x @ w + b", f"    return helper_{i - 1}(h, w, b) if {i} else h", ""]
    return "\n".join(out)


def _notebook(cells: Any, **top: Any) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5, **top})


def _code_cell(source: Any) -> dict[str, Any]:
    return {"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}


def cases() -> list[Case]:
    out: list[Case] = []
    for n in (199, 201, 1400, 5000, 100_000):
        out.append(_one(f"brackets-{n}", HEAD + "x = " + "(" * n + "t" + ")" * n + "\n"))
        out.append(_one(f"subscripts-{n}", HEAD + "x = " + "t[" * n + "0" + "]" * n + "\n"))
    out.append(_one("fstrings-1400", HEAD + "x = " + "f'{" * 1400 + "1" + "}'" * 1400 + "\n"))
    for n in (490, 990, 1900, 30_000):
        for op in (" + ", " @ ", " and ", " ** ", " < "):
            out.append(_one(f"chain{op.strip()}-{n}", HEAD + "x = " + op.join(["t"] * n) + "\n"))
        out.append(_one(f"unary-{n}", HEAD + "x = " + "-" * n + "t\n"))
        out.append(_one(f"methods-{n}", HEAD + "x = t" + ".t()" * n + "\n"))
        out.append(_one(f"lambdas-{n}", HEAD + "x = " + "lambda: " * n + "t\n"))
        out.append(_one(f"elif-{n}", HEAD + "if t:\n    pass\n" + "elif t:\n    x = t + t\n" * n))
        out.append(_one(f"strings-{n}", HEAD + "x = " + " ".join(["'a'"] * n) + "\n"))
    out.append(_one("indent-99", "".join(" " * i + "if t:\n" for i in range(99)) + " " * 99 + "pass\n"))
    out.append(_one("indent-150", "".join(" " * i + "if t:\n" for i in range(150)) + " " * 150 + "pass\n"))
    out.append(_one("helpers-12500 (50,000 lines)", _helpers(12_500)))
    out.append(_one("one-line-1MB", HEAD + "x = [" + ", ".join(["t"] * 300_000) + "]\n"))
    out.append(_one("wide-dict-50000", HEAD + "x = {" + ", ".join(f"{i}: -{i}" for i in range(50_000)) + "}\n"))
    out.append(_one("long-string-20MB", HEAD + "x = '" + "a" * 20_000_000 + "'\n"))
    out.append(_one("over-size-40MB", HEAD + "#" + "a" * 40_000_000 + "\n"))
    out.append(_one("int-5000-digits", HEAD + "x = " + "7" * 5000 + "\n"))
    out.append(_one("float-overflow", HEAD + "x = 1e999999 * t\ny = t.view(10**100)\n"))
    out.append(_one("nul-in-code", HEAD + "x = t\0\n"))
    out.append(_one("nul-in-string", HEAD + "x = 'a\0b'\n"))
    out.append(_one("nul-first", "\0" + HEAD))
    out.append(_one("empty", ""))
    out.append(_one("bom-only", b"\xef\xbb\xbf"))
    out.append(_one("torch-comment-only", "# torch\n"))
    out.append(_one("backslash-eof", HEAD + "x = t \\"))
    out.append(_one("form-feeds", HEAD + "\x0c\nx = t\x0c\n\x0c"))
    out.append(_one("tabs-and-spaces", HEAD + "if t:\n\tx = t\n        y = t\n"))
    out.append(_one("unterminated-triple", HEAD + 'x = """never closed\n' * 3))
    out.append(_one("unicode-idents", HEAD + "ñ = t\nπ = ñ @ ñ.T\n\u2028\n"))
    out.append(_one("surrogate-escape", HEAD + "x = '\\udc80'\n"))
    for label, data in (("latin1-cookie", b"# -*- coding: latin-1 -*-\n" + HEAD.encode() + b"s = '\xe9'\n"),
                        ("utf16-bom", ("\ufeff" + HEAD).encode("utf-16")),
                        ("bad-cookie", b"# coding: nonsense\n" + HEAD.encode()),
                        ("lying-cookie", b"# coding: ascii\n" + HEAD.encode() + b"s = '\xc3\xa9'\n"),
                        ("bom-and-latin1-cookie", b"\xef\xbb\xbf# coding: latin-1\n" + HEAD.encode()),
                        ("invalid-utf8", HEAD.encode() + b"s = '\xff\xfe'\n"),
                        ("cp1252-cookie", b"# vim: set fileencoding=cp1252 :\n" + HEAD.encode() + b"s = '\x93'\n")):
        out.append(_one(f"encoding-{label}", data))
    fixable = "import torch\nfrom torch import nn\n\n\ndef run(model: nn.Module, x):\n    return model.forward(x)\n"
    for label, nl in (("crlf", "\r\n"), ("cr", "\r"), ("mixed", None)):
        lines = fixable.splitlines()
        text = "".join(ln + (nl if nl else ("\r\n" if i % 2 else "\n")) for i, ln in enumerate(lines))
        out.append(_one(f"fix-{label}", text, "--fix"))
        out.append(_one(f"diff-{label}", text, "--diff"))
    out.append(_one("diff-no-final-newline", fixable.rstrip("\n"), "--diff"))
    out.append(_one("fix-no-final-newline", fixable.rstrip("\n"), "--fix"))
    out.append(_one("fix-deep-file", fixable + "x = " + "(" * 1400 + "1" + ")" * 1400 + "\n", "--fix"))

    def fs_case(name: str, make: Callable[[Path], list[str] | None], **options: Any) -> Case:
        def build(folder: Path) -> tuple[list[str], dict[str, Any]]:
            _write(folder, "ok.py", HEAD + "x = t @ t\n")
            argv = make(folder)
            return argv or ["check", "--no-cache", "."], options
        return name, build

    out.append(fs_case("fifo-in-tree", lambda d: os.mkfifo(d / "pipe.py")))
    out.append(fs_case("fifo-explicit", lambda d: [os.mkfifo(d / "pipe.py"), ["check", "--no-cache", "pipe.py"]][1]))
    out.append(fs_case("fifo-shapes", lambda d: [os.mkfifo(d / "pipe.py"), ["shapes", "pipe.py"]][1]))
    out.append(fs_case("dev-zero-symlink", lambda d: (d / "zero.py").symlink_to("/dev/zero")))
    out.append(fs_case("dev-zero-explicit", lambda d: [(d / "zero.py").symlink_to("/dev/zero"),
                                                      ["check", "--no-cache", "zero.py"]][1]))
    out.append(fs_case("dangling-symlink", lambda d: (d / "gone.py").symlink_to(d / "nowhere.py")))
    out.append(fs_case("symlink-loop", lambda d: (d / "loop.py").symlink_to(d / "loop.py")))
    out.append(fs_case("dir-symlink-loop", lambda d: (d / "sub").symlink_to(d, target_is_directory=True)))

    def sock(d: Path) -> None:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(d / "sock.py"))
        s.close()

    out.append(fs_case("socket", sock))
    out.append(fs_case("dir-named-py", lambda d: (d / "pkg.py").mkdir()))
    out.append(fs_case("1000-files", lambda d: [_write(d, f"pkg/m{i}.py", HEAD) for i in range(1000)] and None))
    out.append(fs_case("odd-names", lambda d: [
        _write(d, os.fsdecode(b"caf\xe9.py"), HEAD + "x = torch.zeros(3) + torch.zeros(4)\n"),
        _write(d, "new\nline.py", HEAD), _write(d, "-dash.py", HEAD), _write(d, "sp ace.py", HEAD),
        _write(d, "x" * 250 + ".py", HEAD)] and None))
    for fmt in ("sarif", "junit", "gitlab", "rdjson", "github", "json"):
        out.append(fs_case(f"odd-names-{fmt}", lambda d, fmt=fmt: [
            _write(d, os.fsdecode(b"caf\xe9.py"), HEAD + "x = torch.zeros(3) + torch.zeros(4)\n"),
            ["check", "--no-cache", "--output-format", fmt, "-o", "report.out", "."]][1]))

    def unreadable_file(d: Path) -> None:
        p = _write(d, "secret.py", HEAD)
        p.chmod(0)

    def unreadable_dir(d: Path) -> None:
        _write(d, "sub/inner.py", HEAD)
        _write(d, "sub/.gitignore", "x\n")
        (d / "sub").chmod(0)

    out.append(fs_case("unreadable-file", unreadable_file, as_nobody=True))
    out.append(fs_case("unreadable-folder", unreadable_dir, as_nobody=True))
    out.append(fs_case("unreadable-fix", lambda d: [_write(d, "m.py", fixable).chmod(0o444),
                                                    ["check", "--no-cache", "--fix", "."]][1], as_nobody=True))
    out.append(fs_case("unwritable-cache", lambda d: [(d / "c").mkdir(), (d / "c").chmod(0o555),
                                                      ["check", "--cache-dir", "c", "."]][1], as_nobody=True))
    for line in ("!", "build\\", "\\", "[", "**/**/***"):
        out.append(fs_case(f"gitignore-{line!r}", lambda d, line=line: [(d / ".git").mkdir(),
                                                                         _write(d, ".gitignore", line + "\n"),
                                                                         _write(d, "sub/.gitignore", line + "\n")]
                           and None))
    out.append(fs_case("exclude-bang", lambda d: _write(d, "pyproject.toml", '[tool.shapecheck]\nexclude = ["!"]\n')
                       and None))
    out.append(fs_case("cache-dir-dot", lambda d: ["check", "--cache-dir", ".", "."]))
    out.append(fs_case("cache-dir-is-file", lambda d: [_write(d, "c", "x"), ["check", "--cache-dir", "c", "."]][1]))

    def crafted_cache(kind: str) -> Callable[[Path], list[str]]:
        def make(d: Path) -> list[str]:
            # one warm run to learn the entry names, then every entry replaced
            import subprocess
            import sys

            subprocess.run([sys.executable, "-m", "shapecheck.cli", "check", "--cache-dir", "c", "."], cwd=d,
                           capture_output=True, timeout=300)
            for entry in (d / "c").rglob("*.json"):
                entry.unlink()
                if kind == "deep":
                    entry.write_text("[" * 100_000 + "]" * 100_000)
                elif kind == "fifo":
                    os.mkfifo(entry)
                elif kind == "types":
                    entry.write_text(json.dumps({"deps": [], "diagnostics": [{"code": 5, "location": "x"}]}))
                else:
                    entry.write_bytes(b"\xff\xfe\0garbage")
            return ["check", "--cache-dir", "c", "."]
        return make

    for kind in ("deep", "fifo", "types", "garbage"):
        out.append(fs_case(f"cache-entry-{kind}", crafted_cache(kind)))
    out.append(fs_case("stdout-dev-full", lambda d: None, stdout="/dev/full"))
    out.append(fs_case("stdout-closed-pipe", lambda d: None, stdout="closed"))
    out.append(fs_case("output-into-folder", lambda d: ["check", "--no-cache", "-o", ".", "."]))
    out.append(fs_case("output-dev-full", lambda d: ["check", "--no-cache", "-o", "/dev/full", "."]))
    out.append(fs_case("jobs-2-deep", lambda d: [[_write(d, f"m{i}.py", HEAD) for i in range(6)],
                                                 _write(d, "deep.py", HEAD + "x = " + "(" * 1400 + "t" + ")" * 1400),
                                                 ["check", "--no-cache", "-j", "2", "."]][2]))
    out.append(fs_case("usage-error", lambda d: ["check", "--bogus"]))
    out.append(fs_case("bad-jobs", lambda d: ["check", "-j", "0", "."]))
    out.append(fs_case("shapes-deep", lambda d: [_write(d, "deep.py", HEAD + "x = " + "(" * 1400 + "t" + ")" * 1400),
                                                 ["shapes", "deep.py"]][1]))
    out.append(fs_case("shapes-chain", lambda d: [_write(d, "c.py", HEAD + "x = " + " + ".join(["t"] * 990)),
                                                  ["shapes", "c.py"]][1]))
    out.append(fs_case("shapes-nul", lambda d: [_write(d, "n.py", HEAD + "x = 'a\0'"), ["shapes", "n.py"]][1]))
    out.append(fs_case("shapes-latin1", lambda d: [_write(d, "l.py", b"# coding: latin-1\n" + HEAD.encode() + b"s='\xe9'\n"),
                                                   ["shapes", "l.py"]][1]))
    # broken notebooks
    nbs = {
        "nb-invalid-json": "{not json",
        "nb-empty": "",
        "nb-cells-not-list": _notebook(5),
        "nb-source-int": _notebook([_code_cell(5)]),
        "nb-source-list-of-ints": _notebook([_code_cell([1, 2])]),
        "nb-no-cells": json.dumps({"nbformat": 4}),
        "nb-top-level-list": "[1, 2]",
        "nb-nbformat-3": json.dumps({"nbformat": 3, "worksheets": [{"cells": []}]}),
        "nb-deep-json": "[" * 100_000 + "]" * 100_000,
        "nb-deep-cell": _notebook([_code_cell(HEAD + "x = " + "(" * 1400 + "t" + ")" * 1400)]),
        "nb-magics": _notebook([_code_cell("%matplotlib inline\n!pip install torch\nimport torch\nx = torch.zeros(3) @ torch.zeros(4)\n")]),
        "nb-cell-type-missing": _notebook([{"source": "import torch"}]),
        "nb-huge": _notebook([_code_cell(HEAD + "x = t @ t.T\n") for _ in range(3000)]),
        "nb-nul": _notebook([_code_cell(HEAD + "x = 'a\0'")]),
        "nb-latin1": b'{"cells": [{"cell_type": "code", "source": "import torch\\ns = \'\xe9\'"}], "nbformat": 4}',
    }
    for name, data in nbs.items():
        out.append(_one(name, data, filename="nb.ipynb"))
        out.append(_one(f"{name} --fix", data, "--fix", filename="nb.ipynb"))
        out.append(_one(f"{name} shapes", data, filename="nb.ipynb", command="shapes"))
    return out
