"""`shapecheck server`: a language server (LSP over stdio) on pygls 2.

- diagnostics on open, change and save, with the settings of each file's nearest config;
- code actions: each finding's fix, "fix all" (`source.fixAll.shapecheck`), and "disable with
  `# noqa`" for every finding (ruff's set);
- hover: the inferred shape, dtype and device of the name under the cursor (the `shapes` view,
  live), and a rule's page on a code in a `# noqa:` comment;
- inlay hints with shapes at assignments (off by default: `{"inlayHints": true}` in the
  initialization options or `workspace/didChangeConfiguration`).

The logic lives in `session.py` (no pygls, tested in-process); `lsp.py` only converts between
LSP messages and it. Importing this package does not import pygls: `shapecheck check` never pays
for the server.
"""

from __future__ import annotations


def main() -> None:
    """Serve over stdin/stdout until the client exits."""
    from shapecheck.server.lsp import make_server

    make_server().start_io()
