"""A printable HTML rendering of a Markdown document (the safety files), with
print CSS (A4, page breaks before annexes, tables that do not split rows).

Rendered by markdown-it-py with raw HTML disabled: model strings are data,
so any markup in them is shown as text, never interpreted. PDF: print this
file from a browser (no PDF engine is installed with the kit: WeasyPrint
needs system Pango libraries that a controller may not have).
"""

from __future__ import annotations

from functools import cache
from html import escape

from markdown_it import MarkdownIt

PRINT_CSS = """
@page { size: A4; margin: 18mm 15mm; }
body { font-family: system-ui, sans-serif; font-size: 10.5pt; color: #111; max-width: 60rem; margin: 1.5rem auto; }
table { border-collapse: collapse; width: 100%; margin: 0.4rem 0 1rem; font-size: 9.5pt; }
th, td { border: 1px solid #999; padding: 0.2rem 0.4rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #eee; }
tr { break-inside: avoid; }
h2 { break-after: avoid; border-bottom: 1px solid #ccc; }
h2:last-of-type { break-before: page; }
code, pre { font-size: 8.5pt; }
pre { background: #f6f6f6; padding: 0.4rem; white-space: pre-wrap; }
"""


@cache
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def printable_html(markdown: str, title: str) -> str:
    body = _renderer().render(markdown)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
        f"<title>{escape(title)}</title><style>{PRINT_CSS}</style></head><body>\n{body}</body></html>\n"
    )
