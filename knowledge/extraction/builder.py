"""Collect a reader's blocks into sections, a new section at each heading, with the
heading path above each block ("Office hours > Weekend")."""

from __future__ import annotations

from knowledge.extraction import base, textnorm

# A "heading" longer than this is a paragraph someone styled as a heading: keep it as text.
MAX_HEADING_CHARS = 200


class Builder:
    """Collects blocks into sections, starting a new section at each heading."""

    def __init__(self, max_chars: int) -> None:
        self.sections: list[base.Section] = []
        self._path: list[tuple[int, str]] = []
        self._blocks: list[str] = []
        self._lines: list[str] = []
        self._chars = 0
        self._max_chars = max_chars
        self._body_since_heading = False

    def add(self, text: str) -> None:
        """A paragraph (may contain single line breaks)."""
        self._end_lines()
        text = textnorm.clean(text)
        if text:
            self._push(text)

    def line(self, text: str) -> None:
        """A list item or table row; consecutive lines form one block."""
        text = textnorm.one_line(text)
        if text:
            self._lines.append(text)

    def end_block(self) -> None:
        self._end_lines()

    def heading(self, level: int, text: str) -> None:
        text = textnorm.one_line(text)
        if not text:
            return
        if len(text) > MAX_HEADING_CHARS:
            self.add(text)
            return
        self._flush()
        self._keep_bare_heading(level)
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, text))
        self._body_since_heading = False

    def finish(self) -> list[base.Section]:
        self._flush()
        self._keep_bare_heading(0)
        return self.sections

    def _keep_bare_heading(self, next_level: int) -> None:
        # A heading left with no text under it (the next heading is not nested below it)
        # would vanish; keep its words as text under its parent heading.
        if self._path and not self._body_since_heading and next_level <= self._path[-1][0]:
            parent = base.HEADING_SEPARATOR.join(t for _, t in self._path[:-1])
            self._count(self._path[-1][1])
            self.sections.append(base.Section(text=self._path[-1][1], heading=parent))
            self._body_since_heading = True

    def _end_lines(self) -> None:
        if self._lines:
            self._push("\n".join(self._lines))
            self._lines = []

    def _push(self, text: str) -> None:
        self._count(text)
        self._blocks.append(text)
        self._body_since_heading = True

    def _count(self, text: str) -> None:
        # Stop early rather than build a huge result only to refuse it afterwards.
        self._chars += len(text)
        base.check_chars(self._chars, self._max_chars)

    def _flush(self) -> None:
        self._end_lines()
        if self._blocks:
            heading = base.HEADING_SEPARATOR.join(t for _, t in self._path)
            self.sections.append(base.Section(text="\n\n".join(self._blocks), heading=heading))
            self._blocks = []
