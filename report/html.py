"""Tiny HTML helpers: every string from an artifact goes through :func:`esc`."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa;line-height:1.4}
main{max-width:1100px;margin:0 auto;padding:1rem 1.5rem 3rem}
header{background:#263238;color:#fff;padding:1rem 1.5rem}
header h1{margin:0 0 .3rem;font-size:1.4rem} header p{margin:0;opacity:.85}
nav{background:#eceff1;padding:.5rem 1.5rem;font-size:.9rem}
nav a{margin-right:1rem;color:#1565c0;text-decoration:none}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5rem 1.2rem 1rem;
margin:1rem 0}
h2{font-size:1.2rem;border-bottom:1px solid #eee;padding-bottom:.3rem}
h3{font-size:1rem;margin-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.2rem .6rem;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f5f5f5}
img{max-width:100%;height:auto;display:block;margin:.5rem 0}
pre{background:#f5f5f5;padding:.6rem;overflow:auto;font-size:.8rem;max-height:22rem}
.banner{padding:.7rem 1rem;border-radius:6px;margin:1rem 0;font-weight:600}
.ok{background:#e8f5e9;border:1px solid #81c784}
.bad{background:#ffebee;border:1px solid #e57373}
.warn{background:#fff8e1;border:1px solid #ffd54f}
.muted{color:#666;font-size:.9rem}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    """A table; cells are escaped; columns in ``numeric`` are right-aligned."""
    head = "".join(
        f"<th{' class=num' if i in numeric else ''}>{esc(h)}</th>" for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in numeric else ''}>{esc(c)}</td>" for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(data_uri: str, alt: str) -> str:
    return f'<img src="{esc(data_uri)}" alt="{esc(alt)}">'


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def paragraph(text: str, css: str = "") -> str:
    return f"<p{f' class={css}' if css else ''}>{esc(text)}</p>"


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole document: inline CSS, no scripts, nothing fetched."""
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t, _ in sections)
    body = "".join(section(a, t, b) for a, t, b in sections)
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
    )
