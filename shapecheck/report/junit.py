"""JUnit XML: one testsuite, a testcase per checked file, a <failure> per diagnostic.

CI systems (GitLab, Jenkins, Azure) show a file with findings as a failed test.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from shapecheck.report import Report, Styler, location_prefix


def render(report: Report, style: Styler) -> str:
    by_file: dict[str, list] = {name: [] for name in report.files}
    for d in report.diagnostics:
        by_file.setdefault(d.filename, []).append(d)
    failed = sum(1 for ds in by_file.values() if ds)
    n = len(by_file)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name="shapecheck" tests="{n}" failures="{failed}" errors="0">',
        f'  <testsuite name="shapecheck" tests="{n}" failures="{failed}" errors="0" skipped="0">',
    ]
    for name in sorted(by_file):
        ds = by_file[name]
        if not ds:
            out.append(f"    <testcase name={quoteattr(name)} classname=\"shapecheck\"/>")
            continue
        out.append(f"    <testcase name={quoteattr(name)} classname=\"shapecheck\">")
        for d in ds:
            text = f"{location_prefix(d)}: {d.code} {d.message}"
            if d.notes:
                text += "\n" + "\n".join(d.notes)
            out.append(
                f"      <failure message={quoteattr(f'{d.code} {d.message}')} type={quoteattr(d.code)}>"
                f"{escape(text)}</failure>"
            )
        out.append("    </testcase>")
    out += ["  </testsuite>", "</testsuites>"]
    # XML cannot carry a non-UTF-8 file name's bytes (lone surrogates here): U+FFFD instead
    return ("\n".join(out) + "\n").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
