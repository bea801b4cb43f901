"""Parse a report page back into what a reader sees: text, images, links, scripts."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from html.parser import HTMLParser

from PIL import Image


@dataclass
class Page:
    text: str = ""
    images: list[str] = field(default_factory=list)  # src attributes
    urls: list[str] = field(default_factory=list)  # every src/href
    scripts: int = 0
    section_ids: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self.chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.page.images.append(values.get("src") or "")
        if tag in ("script", "link", "iframe", "object", "embed"):
            self.page.scripts += 1
        if tag == "section" and values.get("id"):
            self.page.section_ids.append(values["id"] or "")
        for key in ("src", "href"):
            if values.get(key):
                self.page.urls.append(values[key] or "")

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def parse(html: str) -> Page:
    parser = _Parser()
    parser.feed(html)
    parser.page.text = " ".join(" ".join(parser.chunks).split())
    return parser.page


def decode_png(src: str) -> Image.Image:
    """The image of a ``data:image/png;base64`` URI (fails on anything else)."""
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:60]
    image = Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :])))
    image.load()
    return image
