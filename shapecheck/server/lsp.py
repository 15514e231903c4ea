"""The LSP side of `shapecheck server` (pygls 2, lsprotocol): messages in, `Session` calls,
messages out. No analysis here."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from shapecheck import __version__
from shapecheck.diagnostics import Applicability, Diagnostic, Severity
from shapecheck.server.session import ClientSettings, Session

SOURCE = "shapecheck"
FIX_ALL = f"{lsp.CodeActionKind.SourceFixAll.value}.shapecheck"
SEVERITY = {
    Severity.ERROR: lsp.DiagnosticSeverity.Error,
    Severity.WARNING: lsp.DiagnosticSeverity.Warning,
    Severity.INFO: lsp.DiagnosticSeverity.Information,
}
CONFIG_NAMES = ("pyproject.toml", "shapecheck.toml", ".shapecheck.toml")


class ShapecheckServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("shapecheck", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.session: Session | None = None
        self.last: dict[str, list[Diagnostic]] = {}

    # ---- helpers

    def get_session(self) -> Session:
        if self.session is None:
            self.session = Session(Path.cwd())
        return self.session

    def path_of(self, uri: str) -> Path | None:
        path = to_fs_path(uri)
        return Path(path).resolve() if path else None

    def publish(self, uri: str) -> None:
        doc = self.workspace.get_text_document(uri)
        path = self.path_of(uri)
        if path is None or path.suffix not in (".py", ".pyi"):
            return
        session = self.get_session()
        diagnostics = session.lint(path, doc.source)
        self.last[uri] = diagnostics
        items = [self.to_lsp(doc, d) for d in diagnostics]
        if session.config_error:
            items.append(lsp.Diagnostic(
                range=lsp.Range(start=lsp.Position(0, 0), end=lsp.Position(0, 0)),
                message=f"shapecheck configuration error: {session.config_error}",
                severity=lsp.DiagnosticSeverity.Error, source=SOURCE,
            ))
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=items, version=doc.version))

    def to_range(self, doc: Any, row: int, col: int, end_row: int, end_col: int) -> lsp.Range:
        server = lsp.Range(start=lsp.Position(max(row - 1, 0), max(col - 1, 0)),
                           end=lsp.Position(max(end_row - 1, 0), max(end_col - 1, 0)))
        return doc.position_codec.range_to_client_units(doc.lines, server)

    def to_lsp(self, doc: Any, d: Diagnostic) -> lsp.Diagnostic:
        end = d.end_location if (d.end_location.row, d.end_location.column) >= (d.location.row, d.location.column) \
            else d.location
        return lsp.Diagnostic(
            range=self.to_range(doc, d.location.row, d.location.column, end.row, end.column),
            message=d.message + ("".join(f"\n{n}" for n in d.notes) if d.notes else ""),
            severity=SEVERITY.get(d.severity or d.info.severity, lsp.DiagnosticSeverity.Error),
            code=d.code,
            code_description=lsp.CodeDescription(href=d.url),
            source=SOURCE,
            data={"code": d.code, "row": d.location.row, "column": d.location.column},
        )

    def find(self, uri: str, item: lsp.Diagnostic) -> Diagnostic | None:
        data = item.data if isinstance(item.data, dict) else {}
        for d in self.last.get(uri, []):
            if d.code == data.get("code", item.code) and d.location.row == data.get("row", item.range.start.line + 1) \
                    and d.location.column == data.get("column", d.location.column):
                return d
        return None

    def edit(self, uri: str, version: int | None, edits: list[lsp.TextEdit]) -> lsp.WorkspaceEdit:
        return lsp.WorkspaceEdit(document_changes=[lsp.TextDocumentEdit(
            text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            edits=edits,  # type: ignore[arg-type]
        )])


def _whole(doc: Any) -> lsp.Range:
    lines = doc.lines
    end = lsp.Position(len(lines), 0)
    return lsp.Range(start=lsp.Position(0, 0), end=end)


def make_server() -> ShapecheckServer:
    server = ShapecheckServer()

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: ShapecheckServer, params: lsp.InitializeParams) -> None:
        root: Path | None = None
        if params.workspace_folders:
            path = to_fs_path(params.workspace_folders[0].uri)
            root = Path(path) if path else None
        elif params.root_uri:
            path = to_fs_path(params.root_uri)
            root = Path(path) if path else None
        elif params.root_path:
            root = Path(params.root_path)
        ls.session = Session(root or Path.cwd(), ClientSettings.from_json(params.initialization_options))

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ShapecheckServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ShapecheckServer, params: lsp.DidChangeTextDocumentParams) -> None:
        # coalesce: changes that arrived together are analysed once, at the last version
        uri, version = params.text_document.uri, params.text_document.version
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            ls.publish(uri)
            return

        def publish_if_current() -> None:
            doc = ls.workspace.get_text_document(uri)
            if doc.version is None or doc.version == version:
                ls.publish(uri)

        loop.call_soon(publish_if_current)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ShapecheckServer, params: lsp.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        path = ls.path_of(uri)
        session = ls.get_session()
        if path is not None and path.name in CONFIG_NAMES:
            session.reload()
            for other in list(ls.workspace.text_documents):
                ls.publish(other)
            return
        ls.publish(uri)
        if path is None:
            return
        opened = {ls.path_of(u): u for u in ls.workspace.text_documents}
        for stale in session.saved(path, [p for p in opened if p is not None]):
            ls.publish(opened[stale])

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ShapecheckServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        path = ls.path_of(uri)
        if path is not None:
            ls.get_session().closed(path)
        ls.last.pop(uri, None)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: ShapecheckServer, params: lsp.DidChangeConfigurationParams) -> None:
        session = ls.get_session()
        session.client = ClientSettings.from_json(params.settings, session.client)
        session.reload()
        for uri in list(ls.workspace.text_documents):
            ls.publish(uri)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched(ls: ShapecheckServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        if any((to_fs_path(c.uri) or "").endswith(CONFIG_NAMES) for c in params.changes):
            ls.get_session().reload()
        for uri in list(ls.workspace.text_documents):
            ls.publish(uri)

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix, FIX_ALL], resolve_provider=False),
    )
    def code_action(ls: ShapecheckServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        doc = ls.workspace.get_text_document(uri)
        path = ls.path_of(uri)
        session = ls.get_session()
        only = params.context.only
        actions: list[lsp.CodeAction] = []
        kinds = [str(getattr(k, "value", k)) for k in only or ()]
        want_quickfix = not kinds or "quickfix" in kinds
        want_fix_all = not kinds or any(k in ("source", "source.fixAll", FIX_ALL) for k in kinds)
        if want_quickfix:
            for item in params.context.diagnostics:
                if item.source != SOURCE:
                    continue
                d = ls.find(uri, item)
                if d is None:
                    continue
                fix = d.fix
                # an unsafe fix is offered too (labelled, never preferred): choosing a quick fix
                # is the review that --unsafe-fixes stands for on the command line; fix-all
                # applies unsafe fixes only with {"unsafeFixes": true}
                usable = fix is not None and fix.edits and fix.applicability in (
                    Applicability.SAFE, Applicability.UNSAFE)
                if usable:
                    assert fix is not None
                    edits = [lsp.TextEdit(range=ls.to_range(doc, e.location.row, e.location.column,
                                                            e.end_location.row, e.end_location.column),
                                          new_text=e.content) for e in fix.edits]
                    unsafe = "" if fix.applicability is Applicability.SAFE else " (unsafe)"
                    actions.append(lsp.CodeAction(
                        title=f"{d.code}: {fix.message}{unsafe}", kind=lsp.CodeActionKind.QuickFix,
                        diagnostics=[item], is_preferred=fix.applicability is Applicability.SAFE,
                        edit=ls.edit(uri, doc.version, edits)))
                noqa = session.noqa_line(doc.source, d)
                if noqa is not None:
                    row, text = noqa
                    old = doc.lines[row - 1].rstrip("\r\n") if row - 1 < len(doc.lines) else ""
                    rng = ls.to_range(doc, row, 1, row, len(old) + 1)
                    actions.append(lsp.CodeAction(
                        title=f"{d.code}: disable for this line (# noqa)", kind=lsp.CodeActionKind.QuickFix,
                        diagnostics=[item], edit=ls.edit(uri, doc.version, [lsp.TextEdit(range=rng, new_text=text)])))
        if want_fix_all and path is not None:
            new = session.fix_all(path, doc.source)
            if new is not None:
                actions.append(lsp.CodeAction(
                    title="shapecheck: fix all", kind=FIX_ALL,
                    edit=ls.edit(uri, doc.version, [lsp.TextEdit(range=_whole(doc), new_text=new)])))
        return actions

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: ShapecheckServer, params: lsp.HoverParams) -> lsp.Hover | None:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        path = ls.path_of(params.text_document.uri)
        if path is None:
            return None
        pos = doc.position_codec.position_from_client_units(doc.lines, params.position)
        text = ls.get_session().hover(path, doc.source, pos.line + 1, pos.character + 1)
        if text is None:
            return None
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))

    @server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT, lsp.InlayHintOptions(resolve_provider=False))
    def inlay_hint(ls: ShapecheckServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        path = ls.path_of(params.text_document.uri)
        if path is None:
            return []
        hints = ls.get_session().inlay_hints(path, doc.source, params.range.start.line + 1, params.range.end.line + 1)
        out = []
        for row, col, label in hints:
            pos = doc.position_codec.position_to_client_units(doc.lines, lsp.Position(row - 1, col - 1))
            out.append(lsp.InlayHint(position=pos, label=label, kind=lsp.InlayHintKind.Type, padding_left=False))
        return out

    return server


def uri_of(path: Path) -> str:
    return from_fs_path(str(path)) or path.as_uri()


if __name__ == "__main__":  # pragma: no cover
    make_server().start_io()
    sys.exit(0)
