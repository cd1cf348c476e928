"""HTML (BeautifulSoup with lxml): the page's own text, with headings as the heading path,
lists and data tables row by row; scripts, styles, navigation, forms, hidden elements and
site headers/footers are dropped."""

from __future__ import annotations

import re
from typing import Any

from knowledge.extraction import base, builder, registry, textnorm

REASON_HTML_DAMAGED = "the web page could not be read"

# fmt: off
_HTML_DROP = [
    "script", "style", "noscript", "template", "svg", "nav", "footer", "aside", "form",
    "iframe", "object", "embed", "canvas", "button", "select", "textarea", "input", "dialog",
    "head", "link", "meta",
]
_HTML_BLOCKS = {
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "header", "hgroup", "hr", "html", "legend",
    "li", "main", "menu", "ol", "option", "p", "pre", "section", "summary", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "ul",
}
# fmt: on
_HTML_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_HTML_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_HTML_WS = re.compile(r"\s+")


class _HtmlWalker:
    def __init__(self, out: builder.Builder) -> None:
        self.builder = out
        self.inline: list[str] = []
        self.prefix = ""
        self.list_depth = 0

    def flush(self) -> None:
        text = "".join(self.inline)
        self.inline = []
        if not text.strip():
            return
        if self.prefix:
            for i, line in enumerate(text.split("\n")):
                self.builder.line((self.prefix if i == 0 else "") + line)
            self.prefix = ""
        else:
            self.builder.add(text)

    def walk(self, node: Any) -> None:
        from bs4 import element as bs4_element

        for child in node.children:
            if isinstance(child, bs4_element.Tag):
                self.tag(child)
            elif type(child) is bs4_element.NavigableString:  # not comments, doctypes, CDATA
                self.inline.append(_HTML_WS.sub(" ", str(child)))

    def tag(self, tag: Any) -> None:
        name = tag.name
        if name in _HTML_HEADINGS:
            self.flush()
            self.builder.heading(_HTML_HEADINGS[name], tag.get_text(" "))
        elif name == "br":
            self.inline.append("\n")
        elif name == "pre":
            self.flush()
            self.builder.end_block()
            self.builder.add(tag.get_text())
        elif name == "table" and not _html_layout_table(tag):
            self.flush()
            self.builder.end_block()
            caption = tag.find("caption")
            if caption is not None:
                self.builder.add(caption.get_text(" "))
            for row in _html_table_rows(tag):
                self.builder.line(row)
            self.builder.end_block()
        elif name == "li":
            self.flush()
            self.prefix = "- "
            self.walk(tag)
            self.flush()
            self.prefix = ""
        elif name in ("ul", "ol", "dl"):
            self.flush()
            if not self.list_depth:  # a nested list stays in its parent's block
                self.builder.end_block()
            self.list_depth += 1
            self.walk(tag)
            self.flush()
            self.list_depth -= 1
            if not self.list_depth:
                self.builder.end_block()
        elif name in _HTML_BLOCKS:
            self.flush()
            self.walk(tag)
            self.flush()
        elif name == "img":
            return
        else:
            self.walk(tag)


def _html_layout_table(table: Any) -> bool:
    """Tables that lay out a page (headings or tables inside) are read as blocks."""
    return table.find(["table", *_HTML_HEADINGS]) is not None


def _html_table_rows(table: Any) -> list[str]:
    rows = []
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue
        cells = [
            textnorm.one_line(c.get_text(" ")) for c in tr.find_all(["td", "th"], recursive=False)
        ]
        cells = [c for c in cells if c]
        if cells:
            rows.append(" | ".join(cells))
    return rows


def _html_hidden(tag: Any) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = attrs.get("style")
    return bool(style) and bool(_HTML_HIDDEN_STYLE.search(str(style)))


def read(data: bytes, *, max_pages: int, max_chars: int) -> base.Extracted:
    from bs4 import BeautifulSoup, UnicodeDammit

    if len(data) > 4 * max_chars + 4:
        base.check_chars(len(data) // 4, max_chars)
    dammit = UnicodeDammit(data, is_html=True)
    markup = dammit.unicode_markup
    if markup is None:
        markup = data.decode("cp1252", errors="replace")
    soup = BeautifulSoup(markup, "lxml")
    del markup

    title_tag = soup.find("title")
    title = title_tag.get_text(" ") if title_tag is not None else ""
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for tag in soup.find_all(_html_hidden):
        tag.decompose()
    # Site headers (logo, menu) are boilerplate; an article's own header is content.
    for tag in soup.find_all("header"):
        if tag.find_parent(["article", "main"]) is None:
            tag.decompose()

    out = builder.Builder(max_chars)
    walker = _HtmlWalker(out)
    walker.walk(soup.body if soup.body is not None else soup)
    walker.flush()
    sections = out.finish()
    if not title:
        first_h1 = soup.find("h1")
        title = first_h1.get_text(" ") if first_h1 is not None else ""
    return base.Extracted(sections=sections, title=title)


READER = registry.Reader(name="html", read=read, damaged=REASON_HTML_DAMAGED, aliases=("htm",))
