"""Latency of `shapecheck server` answering an edit, and of the warm pre-commit run.

    .venv/bin/python benchmarks/bench_server.py

1. A real LSP session over stdio (pygls client, `python -m shapecheck.server`): a ~300-line file is
   opened, then edited 10 times (full-document change); the time from sending the change to
   receiving its diagnostics, median and max.
2. In-process `Session.lint` on the same file (what the server spends per change).
3. `shapecheck check FILE` on one cached file (the pre-commit hook's case), wall time, median of 10.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "clean"


def make_source() -> str:
    """~300 lines of realistic code: two clean fixtures and 40 annotated helpers."""
    parts = [(FIXTURES / "training_mnist.py").read_text(), (FIXTURES / "training_dcgan.py").read_text()]
    parts.append("from jaxtyping import Float\nfrom torch import Tensor\n")
    parts += [f"\ndef helper{i}(a: Float[Tensor, 'n d'], w: Float[Tensor, 'd k']):\n    return a @ w\n"
              for i in range(20)]
    return "\n".join(parts)


async def lsp_latency(path: Path, text: str, edits: int = 10) -> list[float]:
    from lsprotocol import types as lsp
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("bench", "1")
    got: asyncio.Queue[object] = asyncio.Queue()

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params):  # noqa: ANN001 - pygls reads an annotation as the type to decode into
        got.put_nowait(params)

    await client.start_io(sys.executable, "-m", "shapecheck.server")

    await client.initialize_async(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(), root_uri=path.parent.as_uri()))
    client.initialized(lsp.InitializedParams())
    uri = path.as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        text_document=lsp.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    await asyncio.wait_for(got.get(), 60)
    times = []
    for version in range(2, edits + 2):
        start = time.perf_counter()
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text + f"\nx{version} = {version}\n")]))
        await asyncio.wait_for(got.get(), 60)
        times.append(time.perf_counter() - start)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return times


def main() -> None:
    text = make_source()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.py"
        path.write_text(text)
        print(f"file: {text.count(chr(10))} lines")
        times = asyncio.run(lsp_latency(path, text))
        print(f"server, change -> diagnostics over stdio: median {statistics.median(times) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms ({len(times)} edits)")

        from shapecheck.server.session import Session

        session = Session(Path(tmp))
        session.lint(path, text)
        inproc = []
        for i in range(10):
            start = time.perf_counter()
            session.lint(path, text + f"\ny{i} = {i}\n")
            inproc.append(time.perf_counter() - start)
        print(f"Session.lint per change: median {statistics.median(inproc) * 1000:.0f} ms")

        cmd = [sys.executable, "-m", "shapecheck.cli", "check", "model.py"]
        subprocess.run(cmd, cwd=tmp, capture_output=True)
        walls = []
        for _ in range(10):
            start = time.perf_counter()
            subprocess.run(cmd, cwd=tmp, capture_output=True)
            walls.append(time.perf_counter() - start)
        print(f"warm one-file `check` (pre-commit): median {statistics.median(walls):.3f} s, min {min(walls):.3f} s")


if __name__ == "__main__":
    main()
