"""Word (.docx, WordprocessingML transitional and strict), read with a hardened lxml parser
straight from the ZIP package: headings from paragraph styles and outline levels, lists,
tables row by row, text boxes, content controls; deleted revisions, field codes and
properties are never text. Encrypted and legacy .doc files get their own reasons, and zip
bombs are refused from the declared member sizes before anything is inflated."""

from __future__ import annotations

import io
import logging
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from knowledge.extraction import base, builder, registry, textnorm

logger = logging.getLogger(__name__)

# DOCX (ZIP) safety limits, checked on the declared sizes before anything is decompressed.
# zipfile never inflates a member past its declared size (it stops and fails the CRC
# check), so the declared sizes bound the real work.
DOCX_MAX_UNCOMPRESSED = 200 * 1024 * 1024
DOCX_MAX_RATIO = 100
DOCX_RATIO_MIN_SIZE = 1024 * 1024  # small members may compress very well, legitimately
DOCX_MAX_MEMBERS = 10_000

_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Stream name of an encrypted OOXML package inside its OLE container (UTF-16LE).
_OLE_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")

REASON_DOCX_ENCRYPTED = (
    "encrypted or password-protected Word document: remove the password and upload again"
)
REASON_DOC_LEGACY = (
    "this is an old Word 97-2003 (.doc) file, not .docx: save it as .docx and upload again"
)
REASON_DOCX_DAMAGED = (
    "the Word document is damaged or incomplete (was the upload cut off?): open it in "
    "Word, save it again and upload the new file"
)
REASON_DOCX_NOT_WORD = "this file is not a Word document: save it as .docx and upload again"
REASON_DOCX_BOMB = (
    "the Word document is suspiciously large once unpacked and was refused for safety; "
    "save it again without embedded files and upload again"
)

_W_TRANSITIONAL = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_W_STRICT = "http://purl.oclc.org/ooxml/wordprocessingml/main"
_M_TRANSITIONAL = "http://schemas.openxmlformats.org/officeDocument/2006/math"
_M_STRICT = "http://purl.oclc.org/ooxml/officeDocument/math"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_PKG_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)
_TOC_STYLE = re.compile(r"^toc\s*\d", re.I)


def _xml(data: bytes) -> Any:
    from lxml import etree

    # Hardened parser: no entities, no DTD, no network, libxml2's default size limits.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
    )
    return etree.fromstring(data, parser=parser)  # noqa: S320 - hardened parser above


def _text_of(element: Any) -> str:
    """The text of a text element. An entity reference the hardened parser left unresolved
    is a child node: the text after it is that node's tail, so it is read too (the reference
    itself is markup, not words)."""
    parts = [element.text or ""]
    parts.extend(child.tail or "" for child in element)
    return "".join(parts)


class _DocxPackage:
    def __init__(self, data: bytes) -> None:
        if data.startswith(_OLE_SIGNATURE):
            if _OLE_ENCRYPTED_PACKAGE in data:
                raise base.ExtractionError(REASON_DOCX_ENCRYPTED)
            raise base.ExtractionError(REASON_DOC_LEGACY)
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
            logger.info("DOCX is not a readable ZIP: %r", exc)
            raise base.ExtractionError(REASON_DOCX_DAMAGED) from exc
        self._check_sizes(infos)
        self.names = {info.filename for info in infos}

    @staticmethod
    def _check_sizes(infos: list[zipfile.ZipInfo]) -> None:
        if len(infos) > DOCX_MAX_MEMBERS:
            raise base.ExtractionError(REASON_DOCX_BOMB)
        total = 0
        for info in infos:
            total += info.file_size
            if info.file_size >= DOCX_RATIO_MIN_SIZE and (
                info.file_size > DOCX_MAX_RATIO * max(info.compress_size, 1)
            ):
                logger.warning(
                    "DOCX member %r refused: %d bytes from %d",
                    info.filename,
                    info.file_size,
                    info.compress_size,
                )
                raise base.ExtractionError(REASON_DOCX_BOMB)
        if total > DOCX_MAX_UNCOMPRESSED:
            logger.warning("DOCX refused: %d bytes uncompressed", total)
            raise base.ExtractionError(REASON_DOCX_BOMB)

    def read(self, name: str) -> bytes | None:
        if name not in self.names:
            return None
        try:
            return self.zip.read(name)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            logger.info("DOCX member %r unreadable: %r", name, exc)
            raise base.ExtractionError(REASON_DOCX_DAMAGED) from exc

    def relationships(self, part: str) -> list[tuple[str, str]]:
        """(type, target part name) of the relationships of ``part`` ("" for the package)."""
        folder, base = posixpath.split(part)
        rels = self.read(posixpath.join(folder, "_rels", f"{base}.rels"))
        if rels is None:
            return []
        out = []
        for rel in _xml(rels).iter(_PKG_RELS):
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External" or not target:
                continue
            if target.startswith("/"):
                name = target.lstrip("/")
            else:
                name = posixpath.normpath(posixpath.join(folder, target))
            out.append((rel.get("Type", ""), name))
        return out

    def related(self, part: str, kind: str) -> str | None:
        for rel_type, name in self.relationships(part):
            if rel_type.rsplit("/", 1)[-1] == kind and name in self.names:
                return name
        return None


@dataclass
class _Style:
    name: str = ""
    based_on: str = ""
    outline: int | None = None
    numbered: bool = False


class _DocxReader:
    def __init__(self, root: Any, max_chars: int) -> None:
        w = root.tag[1 : root.tag.index("}")]
        m = _M_STRICT if w == _W_STRICT else _M_TRANSITIONAL
        self.w = "{" + w + "}"
        q = self.w
        self.t_p, self.t_tbl, self.t_tr, self.t_tc = q + "p", q + "tbl", q + "tr", q + "tc"
        self.t_t, self.m_t = q + "t", "{" + m + "}t"
        self.t_txbx = q + "txbxContent"
        self.t_ppr, self.t_tcpr = q + "pPr", q + "tcPr"
        self.t_val = q + "val"
        self.text_map = {
            q + "tab": " ",
            q + "ptab": " ",
            q + "br": "\n",
            q + "cr": "\n",
            q + "noBreakHyphen": "-",
        }
        # Never text: properties, deleted or moved-away revisions, field instructions,
        # the VML copy of a shape (mc:Fallback duplicates mc:Choice), content-control
        # properties and placeholders.
        # fmt: off
        skip = [
            "pPr", "rPr", "tblPr", "trPr", "tcPr", "sectPr", "tblGrid", "del", "moveFrom",
            "instrText", "delText", "delInstrText", "sdtPr", "sdtEndPr", "fldData", "altChunk",
            "commentReference", "footnoteReference", "endnoteReference",
        ]
        # fmt: on
        self.skip = {q + n for n in skip} | {_MC + "Fallback"}
        self.row_wrappers = {q + n for n in ("sdt", "sdtContent", "customXml", "ins", "moveTo")}
        self.styles: dict[str, _Style] = {}
        self.builder = builder.Builder(max_chars)
        self.title = ""
        self.root = root

    # styles ----------------------------------------------------------------------------

    def load_styles(self, xml: bytes | None) -> None:
        if not xml:
            return
        q = self.w
        for style in _xml(xml).iter(q + "style"):
            style_id = style.get(q + "styleId")
            if not style_id:
                continue
            info = _Style()
            name = style.find(q + "name")
            info.name = (name.get(self.t_val, "") if name is not None else "").strip()
            based = style.find(q + "basedOn")
            info.based_on = based.get(self.t_val, "") if based is not None else ""
            ppr = style.find(self.t_ppr)
            if ppr is not None:
                info.outline = self._outline(ppr)
                info.numbered = self._numbered(ppr)
            self.styles[style_id] = info

    def _outline(self, ppr: Any) -> int | None:
        outline = ppr.find(self.w + "outlineLvl")
        if outline is None:
            return None
        try:
            return int(outline.get(self.t_val, ""))
        except ValueError:
            return None

    def _numbered(self, ppr: Any) -> bool:
        numpr = ppr.find(self.w + "numPr")
        if numpr is None:
            return False
        num_id = numpr.find(self.w + "numId")
        return num_id is None or num_id.get(self.t_val, "") != "0"

    def _style_info(self, style_id: str) -> tuple[str, int | None, bool]:
        """(name, heading level, is list) following basedOn, cycles and depth bounded."""
        name, level, numbered = "", None, False
        seen: set[str] = set()
        current = style_id
        while current and current not in seen and len(seen) < 20:
            seen.add(current)
            style = self.styles.get(current)
            if style is None:
                break
            if not name:
                name = style.name
            match = _HEADING_STYLE.match(style.name)
            if level is None and match:
                level = int(match.group(1))
            if level is None and style.outline is not None:
                level = style.outline + 1 if style.outline < 9 else 0
            numbered = numbered or style.numbered
            current = style.based_on
        return name, (level or None), numbered

    # body ------------------------------------------------------------------------------

    def run(self) -> None:
        body = self.root.find(self.w + "body")
        if body is None:
            raise base.ExtractionError(REASON_DOCX_NOT_WORD)
        self.blocks(body)

    def blocks(self, container: Any) -> None:
        for child in container:
            tag = child.tag
            if tag == self.t_p:
                self.paragraph(child)
            elif tag == self.t_tbl:
                self.builder.end_block()
                rows = self.table_rows(child, " | ")
                for row in rows:
                    self.builder.line(row)
                self.builder.end_block()
            elif isinstance(tag, str) and tag not in self.skip:
                self.blocks(child)  # sdt, sdtContent, customXml, ins, AlternateContent…

    def paragraph(self, p: Any) -> None:
        boxes: list[Any] = []
        text = textnorm.clean(self.inline(p, boxes))
        if text:
            style_id, direct_outline, direct_list = "", None, False
            ppr = p.find(self.t_ppr)
            if ppr is not None:
                pstyle = ppr.find(self.w + "pStyle")
                style_id = pstyle.get(self.t_val, "") if pstyle is not None else ""
                direct_outline = self._outline(ppr)
                direct_list = self._numbered(ppr)
            name, level, style_list = self._style_info(style_id)
            if direct_outline is not None:
                level = direct_outline + 1 if direct_outline < 9 else None
            lowered = name.lower()
            if _TOC_STYLE.match(lowered):
                pass  # table-of-contents entries: titles and page numbers, pure noise
            elif level:
                self.builder.heading(level, text)
            elif lowered == "title":
                self.title = self.title or text
                self.builder.add(text)
            elif direct_list or style_list or lowered.startswith("list"):
                self.builder.line("- " + text)
            else:
                self.builder.add(text)
        # Text boxes anchored in the paragraph come after it, as blocks of their own.
        for box in boxes:
            self.blocks(box)

    def inline(self, element: Any, boxes: list[Any]) -> str:
        parts: list[str] = []
        self._inline(element, parts, boxes)
        return "".join(parts)

    def _inline(self, element: Any, parts: list[str], boxes: list[Any]) -> None:
        for child in element:
            tag = child.tag
            if tag == self.t_t or tag == self.m_t:
                parts.append(_text_of(child))
            elif tag in self.text_map:
                parts.append(self.text_map[tag])
            elif tag == self.t_txbx:
                boxes.append(child)
            elif isinstance(tag, str) and tag not in self.skip:
                self._inline(child, parts, boxes)

    def _children(self, element: Any, tag: str) -> Iterator[Any]:
        """Children with ``tag``, looking through content controls and revision marks."""
        for child in element:
            if child.tag == tag:
                yield child
            elif child.tag in self.row_wrappers:
                yield from self._children(child, tag)

    def table_rows(self, tbl: Any, separator: str) -> list[str]:
        rows = []
        for tr in self._children(tbl, self.t_tr):
            cells = []
            for tc in self._children(tr, self.t_tc):
                if self._continues_merge(tc):
                    continue  # a merged cell's text is in the first cell only
                text = self.cell_text(tc)
                if text:
                    cells.append(text)
            if cells:
                rows.append(separator.join(cells))
        return rows

    def _continues_merge(self, tc: Any) -> bool:
        tcpr = tc.find(self.t_tcpr)
        if tcpr is None:
            return False
        for name in ("vMerge", "hMerge"):
            merge = tcpr.find(self.w + name)
            if merge is not None and merge.get(self.t_val, "continue") != "restart":
                return True
        return False

    def cell_text(self, tc: Any) -> str:
        parts: list[str] = []
        self._cell_parts(tc, parts)
        return " ".join(p for p in parts if p)

    def _cell_parts(self, container: Any, parts: list[str]) -> None:
        for child in container:
            tag = child.tag
            if tag == self.t_p:
                boxes: list[Any] = []
                parts.append(textnorm.one_line(self.inline(child, boxes)))
                for box in boxes:
                    self._cell_parts(box, parts)
            elif tag == self.t_tbl:
                parts.append("; ".join(self.table_rows(child, ", ")))
            elif isinstance(tag, str) and tag not in self.skip:
                self._cell_parts(child, parts)


def read(data: bytes, *, max_pages: int, max_chars: int) -> base.Extracted:
    package = _DocxPackage(data)
    main = package.related("", "officeDocument")
    if main is None:
        main = "word/document.xml" if "word/document.xml" in package.names else None
    if main is None:
        raise base.ExtractionError(REASON_DOCX_NOT_WORD)
    xml = package.read(main)
    if xml is None:
        raise base.ExtractionError(REASON_DOCX_NOT_WORD)
    root = _xml(xml)
    del xml
    if not isinstance(root.tag, str) or root.tag not in (
        f"{{{_W_TRANSITIONAL}}}document",
        f"{{{_W_STRICT}}}document",
    ):
        raise base.ExtractionError(REASON_DOCX_NOT_WORD)
    reader = _DocxReader(root, max_chars)
    styles = package.related(main, "styles")
    if styles is not None:
        try:
            reader.load_styles(package.read(styles))
        except Exception as exc:  # headings degrade to paragraphs, text is still there
            logger.info("DOCX styles unreadable: %r", exc)
    reader.run()
    return base.Extracted(
        sections=reader.builder.finish(), title=_docx_title(package) or reader.title
    )


def _docx_title(package: _DocxPackage) -> str:
    core = package.related("", "core-properties") or (
        "docProps/core.xml" if "docProps/core.xml" in package.names else None
    )
    if core is None:
        return ""
    try:
        xml = package.read(core)
        element = _xml(xml).find(_DC_TITLE) if xml else None
    except Exception as exc:  # the title is a nicety; never fail the document for it
        logger.info("DOCX core properties unreadable: %r", exc)
        return ""
    return _text_of(element) if element is not None else ""


READER = registry.Reader(name="docx", read=read, damaged=REASON_DOCX_DAMAGED)
