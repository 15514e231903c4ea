"""Rule pages: rendered from each rule's docstring and its first INVALID/VALID examples.

`python -m shapecheck.docs` writes `rules/<CODE>.md`; a test fails when a page is stale, and
`shapecheck rule CODE` prints the same rendering, so the page, the CLI and the executed
examples cannot drift apart.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from shapecheck.diagnostics import RULES
from shapecheck.rules import all_rules
from shapecheck.rules.base import LintRule

PAGES_DIR = Path(__file__).resolve().parent.parent / "rules"


def render_page(rule: type[LintRule]) -> str:
    info = rule.info()
    doc = inspect.cleandoc(rule.__doc__ or "").strip()
    default = "on" if info.default else "off (opt-in: select it explicitly)"
    lines = [
        f"# {info.name} ({info.code})",
        "",
        f"Family: {info.family} · Severity: {info.severity.value} · Default: {default}",
        "",
        doc,
        "",
    ]
    if rule.INVALID:
        lines += ["## Example", "", "```python", rule.INVALID[0].code.strip("\n"), "```", ""]
    if rule.VALID:
        lines += ["## Use instead", "", "```python", rule.VALID[0].code.strip("\n"), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def render_index() -> str:
    implemented = all_rules()
    lines = ["# Rules", "", "| code | name | severity | default | summary |", "|---|---|---|---|---|"]
    for code, info in RULES.items():
        if code not in implemented and info.family != "tool":
            continue
        link = f"[{code}]({code}.md)" if code in implemented else code
        lines.append(
            f"| {link} | {info.name} | {info.severity.value} | {'on' if info.default else 'off'} | {info.summary} |"
        )
    return "\n".join(lines) + "\n"


README = PAGES_DIR.parent / "README.md"
TABLE_START, TABLE_END = "<!-- rule-table:start -->", "<!-- rule-table:end -->"


def readme_with_table(text: str) -> str:
    """The README with the rule table between its markers replaced by the current one."""
    head, sep, rest = text.partition(TABLE_START)
    _, sep2, tail = rest.partition(TABLE_END)
    if not sep or not sep2:
        return text
    table = render_index().split("\n", 2)[2].replace("](", "](rules/")
    return f"{head}{TABLE_START}\n{table}{TABLE_END}{tail}"


def expected_pages() -> dict[str, str]:
    pages = {f"{code}.md": render_page(rule) for code, rule in all_rules().items()}
    pages["README.md"] = render_index()
    return pages


def main() -> int:
    PAGES_DIR.mkdir(exist_ok=True)
    for name, text in expected_pages().items():
        (PAGES_DIR / name).write_text(text, encoding="utf-8")
    if README.exists():
        README.write_text(readme_with_table(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {len(expected_pages())} pages to {PAGES_DIR} and the README's rule table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
