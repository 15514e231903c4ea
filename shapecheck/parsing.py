"""A parse that no file can turn into a crash, and a deep stack for the analysis of deep trees.

libcst's native parser recurses on the C stack: about 1,300 nested brackets, or about 20,000
chained `and`/`-`/`elif`, overflow the 8 MiB main-thread stack and kill the process (SIGSEGV,
no output). Its parse time also grows quadratically with nesting (800 nested subscripts: 14 s).
So before parsing, one pass of the standard tokenizer measures the nesting, and a file deeper
than the limits below is reported as SC901 instead of parsed:

- more than 200 nested brackets, or 100 levels of indentation: CPython's own tokenizer rejects
  these ("too many nested parentheses", "too many levels of indentation"), so saying so is sound;
- an expression whose operators, trailers and brackets could nest more than
  `MAX_EXPRESSION_DEPTH` nodes deep, or an `if` with more than `MAX_EXPRESSION_DEPTH` `elif`s.
  CPython compiles some of these (a 1,500-operand sum), so the message says shapecheck cannot
  analyse the file, not that it is invalid. Commas, `=` and `;` end a chain: a 50,000-item list
  literal is wide, not deep, and is checked. A colon does not (`lambda: lambda: ...` nests).

The measure over-counts (it ignores precedence: `a*b + c*d` counts 3 links for a tree 2 deep), so
it errs towards reporting a pathological expression, never towards a crash. The pre-check is the
only guard for the parser itself: libcst's native parser overflows at the same depth (~1,300
brackets) whatever the calling thread's stack. `run_deep` then runs the analysis (Python code that
recurses over the tree) in a thread with a large stack and a raised recursion limit, so that every
tree within these limits is analysed without a RecursionError.

`cpython_rejection(source)` is CPython's verdict on a file (its SyntaxError or ValueError
message): the engine asks it only when an analysis fails, to report "CPython rejects this file"
(SC901, the user's to fix) instead of an internal error (SC903, ours).
"""

from __future__ import annotations

import io
import sys
import threading
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

MAX_BRACKET_DEPTH = 200  # CPython's tokenizer (MAXLEVEL): "too many nested parentheses"
MAX_INDENT = 99  # CPython's tokenizer (MAXINDENT 100): "too many levels of indentation"
MAX_EXPRESSION_DEPTH = 2000  # libcst parses this in ~2 s at worst (a chain of .t() calls)
MAX_INT_DIGITS = 4300  # sys.int_info.default_max_str_digits: CPython rejects longer decimal literals

DEEP_STACK_BYTES = 512 * 1024 * 1024  # reserved address space; only the pages touched are used
DEEP_RECURSION_LIMIT = 60_000

# tokens that add a level to the tree of the expression they appear in
_LINK_OPS = frozenset(
    "+ - * / // % @ ** << >> & | ^ ~ < > <= >= == != . -> := ( [ {".split()
)
_LINK_NAMES = frozenset({"and", "or", "not", "if", "else", "lambda", "await", "in", "is", "yield", "for"})
_CHAIN_ENDS = frozenset({",", ";", "=", "+=", "-=", "*=", "/=", "//=", "%=", "@=", "**=", ">>=", "<<=",
                         "&=", "|=", "^="})
_OPEN = frozenset("([{")
_CLOSE = frozenset(")]}")


@dataclass(frozen=True)
class TooDeep:
    """Where a file is deeper than shapecheck parses, and the one-line reason."""

    row: int
    column: int
    message: str


def depth_problem(source: str) -> TooDeep | None:
    """The first place `source` nests deeper than it is safe to parse, or None.

    >>> depth_problem("x = " + "(" * 300 + "1" + ")" * 300).message
    'too many nested parentheses'
    >>> depth_problem("x = [1, -2, 3]") is None
    True
    """
    if "\0" in source:
        row = source.count("\n", 0, source.index("\0")) + 1
        return TooDeep(row, 1, "source code cannot contain null bytes")
    counts: list[int] = [0]  # per open bracket: links since the last comma/colon at that level
    total = 0  # sum(counts): the depth the open chains could reach together
    indent = 0
    elifs: dict[int, int] = {}
    prev_type = tokenize.NEWLINE
    line_start = True
    reached = 0  # offset of the last line the tokenizer read
    lines = io.StringIO(source, newline=None)  # CR and CRLF end lines, as in libcst and CPython

    def readline() -> str:
        nonlocal reached
        line = lines.readline()
        reached += len(line)
        return line

    try:
        for tok in tokenize.generate_tokens(readline):
            kind, text = tok.type, tok.string
            if kind == tokenize.INDENT:
                indent += 1
                if indent > MAX_INDENT:
                    return TooDeep(tok.start[0], 1, "too many levels of indentation")
                continue
            if kind == tokenize.DEDENT:
                indent -= 1
                continue
            if kind in (tokenize.NEWLINE, tokenize.ENDMARKER):
                counts, total, line_start, prev_type = [0], 0, True, kind
                continue
            if kind in (tokenize.NL, tokenize.COMMENT):
                continue
            if kind == tokenize.OP:
                if text in _OPEN:
                    counts[-1] += 1
                    total += 1
                    counts.append(0)
                    if len(counts) - 1 > MAX_BRACKET_DEPTH:
                        return TooDeep(tok.start[0], tok.start[1] + 1, "too many nested parentheses")
                elif text in _CLOSE:
                    if len(counts) > 1:
                        total -= counts.pop()
                elif text in _CHAIN_ENDS:
                    total -= counts[-1]
                    counts[-1] = 0
                elif text in _LINK_OPS:
                    counts[-1] += 1
                    total += 1
            elif kind == tokenize.NAME:
                if line_start and text == "if":
                    elifs[indent] = 0
                elif line_start and text == "elif":
                    elifs[indent] = elifs.get(indent, 0) + 1
                    if elifs[indent] > MAX_EXPRESSION_DEPTH:
                        return TooDeep(tok.start[0], tok.start[1] + 1,
                                       f"more than {MAX_EXPRESSION_DEPTH} `elif` branches in one `if`: too deep for "
                                       "shapecheck to analyse")
                elif text in _LINK_NAMES:
                    counts[-1] += 1
                    total += 1
            elif kind == tokenize.STRING:
                if prev_type == tokenize.STRING:  # implicit concatenation nests in libcst
                    counts[-1] += 1
                    total += 1
            elif kind == tokenize.NUMBER and len(text) > MAX_INT_DIGITS and text.isdigit():
                return TooDeep(tok.start[0], tok.start[1] + 1,
                               f"Exceeds the limit ({MAX_INT_DIGITS} digits) for integer string conversion")
            if total > MAX_EXPRESSION_DEPTH:
                return TooDeep(tok.start[0], tok.start[1] + 1,
                               f"an expression nested more than {MAX_EXPRESSION_DEPTH} operations deep: too deep "
                               "for shapecheck to analyse")
            line_start = False
            prev_type = kind
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # the parser reports the error, with a better message; but it may still recurse through
        # what follows before it gets there: count the brackets of the rest, roughly
        return _rough_brackets(source.replace("\r\n", "\n").replace("\r", "\n"), reached, len(counts) - 1)
    return None


def _rough_brackets(text: str, start: int, depth: int) -> TooDeep | None:
    """Bracket depth from `start` on, skipping comments and one-line strings (a fallback for text
    the tokenizer gave up on: errs towards reporting, never towards a crash)."""
    quote = ""
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote or ch == "\n":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif ch in "([{":
            depth += 1
            if depth > MAX_BRACKET_DEPTH:
                row = text.count("\n", 0, i) + 1
                return TooDeep(row, i - (text.rfind("\n", 0, i) + 1) + 1, "too many nested parentheses")
        elif ch in ")]}":
            depth = max(0, depth - 1)
        i += 1
    return None


def parse_expression(text: str) -> Any:
    """`libcst.parse_expression(text)` for text taken from the checked file (a string annotation,
    a jaxtyping spec): text too deep for the native parser, or holding a lone surrogate (`"\\udc80"`
    evaluates to one, and libcst cannot encode it), raises `libcst.ParserSyntaxError` like any
    other text that is not an expression, instead of crashing the process or the analysis."""
    import libcst as cst

    problem = depth_problem(text)
    if problem is None:
        try:
            return cst.parse_expression(text)
        except (UnicodeError, RecursionError, MemoryError) as exc:
            message = f"cannot parse: {type(exc).__name__}"
    else:
        message = problem.message
    raise cst.ParserSyntaxError(message, lines=[text], raw_line=1, raw_column=0)


def cpython_rejection(source: str) -> str | None:
    """CPython's reason for rejecting `source` (parse or compile), or None when it accepts it."""
    try:
        compile(source, "<file>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{exc.msg} (line {exc.lineno})" if exc.lineno else exc.msg
    except ValueError as exc:  # null bytes, over-long int literals
        return str(exc)
    except (RecursionError, MemoryError, OverflowError):
        return None  # CPython could not decide either: not a verdict on the file
    return None


T = TypeVar("T")
_DEEP_LOCK = threading.Lock()


def run_deep(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """`fn(*args, **kwargs)` on a thread with a `DEEP_STACK_BYTES` stack and the recursion limit
    raised to `DEEP_RECURSION_LIMIT`, re-raising what it raises.

    The recursion limit is process-wide: it is raised for the duration of the call only, and the
    calls are serialised, so a caller's own thread never runs with a limit its stack cannot take
    for longer than one analysis. Already on such a thread: a plain call.
    """
    if getattr(_LOCAL, "deep", False):
        return fn(*args, **kwargs)
    box: dict[str, object] = {}

    def target() -> None:
        _LOCAL.deep = True
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as is
            box["error"] = exc

    with _DEEP_LOCK:
        old_limit = sys.getrecursionlimit()
        for stack, limit in ((DEEP_STACK_BYTES, DEEP_RECURSION_LIMIT), (DEEP_STACK_BYTES // 8, DEEP_RECURSION_LIMIT // 8)):
            old_size = threading.stack_size()
            try:
                threading.stack_size(stack)
                thread = threading.Thread(target=target, name="shapecheck-deep", daemon=True)
            finally:
                threading.stack_size(old_size)
            sys.setrecursionlimit(max(old_limit, limit))
            try:
                thread.start()  # RuntimeError when the address space (ulimit -v) has no room
            except (RuntimeError, MemoryError):
                sys.setrecursionlimit(old_limit)
                continue
            try:
                thread.join()
            finally:
                sys.setrecursionlimit(old_limit)
            break
        else:
            return fn(*args, **kwargs)  # no thread to be had: the caller's stack and limit
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


_LOCAL = threading.local()
