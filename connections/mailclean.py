"""Mail and message cleaning (pure): HTML bodies to text, quoted replies and signatures
stripped, and one message (or one Teams thread) rendered as a virtual document's text by
its source's ``mail_tier`` (DESIGN §9):

* ``metadata`` — the headers only (subject, from, to, date);
* ``snippet`` (the default) — the headers and the first 500 characters of the cleaned body;
* ``body`` — the headers and the cleaned body up to ``max_chars``.

Cleaning removes what repeats other messages: ``>`` quoted lines, "On … wrote:" blocks,
Outlook "From: … Sent: …" header blocks, "-----Original Message-----" and everything under
them, and a signature after a ``-- `` line. PII neutralisation is not done here: the
ingestion pipeline does it on the rendered text, From/To lines included.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bs4 import BeautifulSoup

SNIPPET_CHARS = 500

_BLOCK_TAGS = (
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre", "hr",
)
# Containers mail clients put the quoted previous message in.
_QUOTE_SELECTORS = (
    "blockquote",
    "div.gmail_quote",
    "div#divRplyFwdMsg",
    "div#appendonsend",
    "div.moz-cite-prefix",
    "div.yahoo_quoted",
)

_ORIGINAL = re.compile(r"^\s*-{2,}\s*(original message|forwarded message)\s*-{2,}\s*$", re.IGNORECASE)
_ON_WROTE_START = re.compile(r"^\s*On\s.+", re.IGNORECASE)
_WROTE_END = re.compile(r"wrote:\s*$", re.IGNORECASE)
_HEADER_LINE = re.compile(r"^\s*\*?(from|sent|date|to|cc|subject)\s*:\*?\s*", re.IGNORECASE)
_RULE = re.compile(r"^\s*_{8,}\s*$")


def html_to_text(html: str) -> str:
    """Visible text of an HTML body, one line per block, with quoted containers removed."""
    soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "head", "title"]):
        tag.decompose()
    for selector in _QUOTE_SELECTORS:
        for tag in soup.select(selector):
            tag.decompose()
    for tag in soup.find_all(_BLOCK_TAGS):
        if tag.name == "br":
            tag.replace_with("\n")
        else:
            tag.insert_before("\n")
            tag.insert_after("\n")
    text = soup.get_text()
    text = text.replace("\xa0", " ")
    return "\n".join(line.rstrip() for line in text.splitlines())


def _is_outlook_header_block(lines: list[str], start: int) -> bool:
    """A "From:" line followed, within a few lines, by "Sent:"/"Date:" and "To:"/"Subject:"."""
    if not re.match(r"^\s*\*?from\s*:", lines[start], re.IGNORECASE):
        return False
    window = [line.strip().lower().lstrip("*") for line in lines[start + 1 : start + 6]]
    has_sent = any(line.startswith(("sent:", "date:", "sent*:", "date*:")) for line in window)
    has_to = any(line.startswith(("to:", "subject:", "to*:", "subject*:")) for line in window)
    return has_sent and has_to


def strip_quotes_and_signature(text: str) -> str:
    """Cut the text at the first quoted-reply marker or signature separator; drop ``>`` lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if line in ("-- ", "--") or line.rstrip() == "--":
            break  # the signature separator ("-- ") and everything after it
        if _ORIGINAL.match(line):
            break
        if _is_outlook_header_block(lines, i):
            break
        if _ON_WROTE_START.match(line):
            joined = line if _WROTE_END.search(line) else f"{line} {lines[i + 1] if i + 1 < len(lines) else ''}"
            if _WROTE_END.search(joined) and len(joined) <= 400:
                break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    while kept and (_RULE.match(kept[-1]) or not kept[-1].strip()):
        kept.pop()
    return _squeeze("\n".join(kept))


def _squeeze(text: str) -> str:
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def clean_body(body: str, *, content_type: str = "text") -> str:
    text = html_to_text(body) if content_type.lower() == "html" else body
    return strip_quotes_and_signature(text)


def cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = max(head.rfind(" "), head.rfind("\n"))
    if space >= limit * 0.6:
        head = head[:space]
    return head.rstrip() + "…"


def format_address(name: str | None, address: str | None) -> str:
    """"Name <address>", or whichever part exists (display names may be null)."""
    name = (name or "").strip()
    address = (address or "").strip()
    if name and address and name.lower() != address.lower():
        return f"{name} <{address}>"
    return name or address


def format_date(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class MailText:
    subject: str
    sender: str
    to: Sequence[str]
    sent_at: datetime | None
    body: str
    content_type: str = "text"


def render_message(message: MailText, *, tier: str, max_chars: int) -> str:
    """The virtual document text of one mail at ``tier`` (metadata | snippet | body)."""
    headers = [f"Subject: {message.subject.strip() or '(no subject)'}"]
    if message.sender:
        headers.append(f"From: {message.sender}")
    recipients = [r for r in message.to if r]
    if recipients:
        headers.append(f"To: {', '.join(recipients)}")
    if message.sent_at is not None:
        headers.append(f"Date: {format_date(message.sent_at)}")
    head = "\n".join(headers)
    if tier == "metadata":
        return head
    body = clean_body(message.body, content_type=message.content_type)
    limit = SNIPPET_CHARS if tier == "snippet" else max_chars
    body = cut(body, limit)
    return f"{head}\n\n{body}" if body else head


@dataclass(frozen=True)
class ThreadPost:
    author: str | None  # display names may be null (Graph): shown as "Unknown"
    sent_at: datetime | None
    body: str
    content_type: str = "html"
    deleted: bool = False


def render_thread(*, title: str, posts: Sequence[ThreadPost], tier: str, max_chars: int) -> str:
    """One Teams thread (root post then replies) as one document. Deleted posts leave the text;
    a thread whose root is deleted renders nothing (the caller removes the document)."""
    if not posts or posts[0].deleted:
        return ""
    lines = [f"Thread: {title.strip()}" if title.strip() else "Thread"]
    started = posts[0].sent_at
    if started is not None:
        lines.append(f"Started: {format_date(started)}")
    head = "\n".join(lines)
    if tier == "metadata":
        return head
    parts: list[str] = []
    for post in posts:
        if post.deleted:
            continue
        text = clean_body(post.body, content_type=post.content_type)
        if not text:
            continue
        when = format_date(post.sent_at)
        parts.append(f"{post.author or 'Unknown'}{' (' + when + ')' if when else ''}: {text}")
    body = "\n\n".join(parts)
    body = cut(body, SNIPPET_CHARS if tier == "snippet" else max_chars)
    return f"{head}\n\n{body}" if body else head
