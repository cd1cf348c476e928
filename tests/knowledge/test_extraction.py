"""Text extraction: small inline samples per type and encoding, then the real-world corpus
in ../shared/eval/docs (every file ends ready with text or failed with a reason)."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import multiprocessing
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import docx
import pypdf
import pytest
from docx.oxml import parse_xml

from knowledge import extraction
from knowledge.extraction import ExtractionError, extract, registry, textnorm
from knowledge.extraction import docx as docx_reader

EVAL_DOCS = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "docs"
HAS_CRYPTOGRAPHY = importlib.util.find_spec("cryptography") is not None


def reason_of(data: bytes, **kwargs: Any) -> str:
    with pytest.raises(ExtractionError) as info:
        extract(data, **kwargs)
    assert info.value.reason
    return info.value.reason


# --- builders -------------------------------------------------------------------------


def make_pdf(pages: list[str], *, title: str = "") -> bytes:
    """A minimal valid PDF, one Helvetica text line per line of each page."""
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    page_ids = [4 + 2 * i for i in range(len(pages))]
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objects[2] = f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode()
    for page_id, text in zip(page_ids, pages, strict=True):
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in text.split("\n"):
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_id + 1)
        )
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    info = ""
    if title:
        info_id = max(objects) + 1
        objects[info_id] = f"<< /Title ({title}) >>".encode("latin-1")
        info = f" /Info {info_id} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for object_id in sorted(objects):
        offsets[object_id] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (object_id, objects[object_id])
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for object_id in range(1, size):
        out += b"%010d 00000 n \n" % offsets[object_id]
    trailer = f"trailer\n<< /Size {size} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n"
    out += trailer.encode()
    return bytes(out)


def encrypt_pdf(data: bytes, *, user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(data))
    # RC4 needs no optional crypto library, so the test runs everywhere.
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NSDECLS = (
    f'xmlns:w="{W_NS}" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml"'
)

CONTENT_CONTROL = f"""
<w:sdt {NSDECLS}>
  <w:sdtPr><w:alias w:val="Phone"/></w:sdtPr>
  <w:sdtContent>
    <w:p><w:r><w:t>Call us on 555-0100.</w:t></w:r></w:p>
  </w:sdtContent>
</w:sdt>
"""

# A text box as Word writes it: the DrawingML shape and its VML fallback carry the same
# text; it must come out once.
TEXT_BOX = f"""
<w:p {NSDECLS}>
  <w:r><w:t>See the map.</w:t></w:r>
  <w:r>
    <mc:AlternateContent>
      <mc:Choice Requires="wps">
        <w:drawing><wps:wsp><wps:txbx><w:txbxContent>
          <w:p><w:r><w:t>Parking behind the building.</w:t></w:r></w:p>
        </w:txbxContent></wps:txbx></wps:wsp></w:drawing>
      </mc:Choice>
      <mc:Fallback>
        <w:pict><v:shape><v:textbox><w:txbxContent>
          <w:p><w:r><w:t>Parking behind the building.</w:t></w:r></w:p>
        </w:txbxContent></v:textbox></v:shape></w:pict>
      </mc:Fallback>
    </mc:AlternateContent>
  </w:r>
</w:p>
"""


def make_docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Practice guide"
    document.add_heading("Office hours", level=1)
    document.add_paragraph("We are open   on weekdays.\t")
    document.add_heading("Weekend", level=2)
    document.add_paragraph("Saturday 9 to 12.")
    document.add_paragraph("Bring your insurance card", style="List Bullet")
    document.add_paragraph("Arrive ten minutes early", style="List Bullet")
    document.add_heading("Prices", level=1)
    table = document.add_table(rows=3, cols=3)
    header = table.cell(0, 0).merge(table.cell(0, 1))  # horizontal merge (gridSpan)
    header.text = "Service"
    table.cell(0, 2).text = "Price"
    table.cell(1, 0).text = "Check-up"
    table.cell(1, 1).text = "adults"
    merged = table.cell(1, 2).merge(table.cell(2, 2))  # vertical merge (vMerge)
    merged.text = "50 EUR"
    table.cell(2, 0).text = "Cleaning"
    table.cell(2, 1).text = "all"
    document.add_paragraph("Prices include tax.")
    body = document.element.body
    body[-1].addprevious(parse_xml(CONTENT_CONTROL))
    body[-1].addprevious(parse_xml(TEXT_BOX))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def rewrite_zip(data: bytes, change: Any) -> bytes:
    """Copy a ZIP, passing each member through change(name, bytes) -> bytes | None."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = change(info.filename, src.read(info.filename))
            if content is not None:
                dst.writestr(info.filename, content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def to_strict(data: bytes) -> bytes:
    """The same document in Strict OOXML namespaces (as Word's "Strict Open XML" saves)."""
    replacements = [
        (W_NS, "http://purl.oclc.org/ooxml/wordprocessingml/main"),
        (
            "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
            "http://purl.oclc.org/ooxml/officeDocument/relationships",
        ),
    ]

    def change(name: str, content: bytes) -> bytes:
        if name.endswith((".xml", ".rels")):
            text = content.decode("utf-8")
            for old, new in replacements:
                text = text.replace(old, new)
            return text.encode("utf-8")
        return content

    return rewrite_zip(data, change)


# --- plain text -----------------------------------------------------------------------

TEXT = "Öffnungszeiten: Montag – Freitag, 8 bis 12 Uhr.\n\nCafé geöffnet. Preis: 5 €."


@pytest.mark.parametrize(
    "encoded",
    [
        TEXT.encode("utf-8"),
        b"\xef\xbb\xbf" + TEXT.encode("utf-8"),
        TEXT.encode("utf-16"),  # with BOM
        b"\xfe\xff" + TEXT.encode("utf-16-be"),
        TEXT.encode("utf-16-le"),  # no BOM
        TEXT.encode("cp1252"),
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "utf16be-bom", "utf16le-no-bom", "cp1252"],
)
def test_txt_is_decoded_whatever_the_encoding(encoded: bytes) -> None:
    result = extract(encoded, file_type="txt")
    assert result.text == TEXT
    assert [s.text for s in result.sections] == [TEXT]
    assert result.sections[0].heading == ""
    assert result.chars == len(TEXT)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Café crème, s'il vous plaît. Fermé le dimanche à partir de 12 h.", "latin-1"),
        ("Señor Muñoz atiende de lunes a viernes, “siempre” puntual.", "cp1252"),
        ("Привет! Часы работы: с 9 до 18, суббота и воскресенье выходные.", "cp1251"),
        ("営業時間は月曜日から金曜日の9時から18時までです。", "shift_jis"),
    ],
)
def test_txt_legacy_encodings_are_detected(text: str, encoding: str) -> None:
    assert extract(text.encode(encoding), file_type="txt").text == text


def test_txt_whitespace_and_control_characters_are_normalised() -> None:
    raw = "  Line\x00 one\t\twith   gaps \r\nline two\x07\u200b\r\n\r\n\r\n\r\n\xa0Second\u00a0para  \x0c"
    result = extract(raw.encode("utf-8"), file_type="txt")
    assert result.text == "Line one with gaps\nline two\n\nSecond para"


def test_lone_surrogates_are_dropped_so_the_text_can_be_stored() -> None:
    # pypdf can produce them from broken font maps; PostgreSQL cannot store them.
    assert textnorm.clean("ok \ud800 text\udfff") == "ok text"


@pytest.mark.parametrize("file_type", ["txt", "md", "html", "pdf", "docx"])
def test_empty_file_is_refused_with_a_reason(file_type: str) -> None:
    assert reason_of(b"", file_type=file_type) == "the file is empty"


def test_whitespace_only_text_has_no_readable_text() -> None:
    reason = reason_of(b" \n\t\x00\r\n ", file_type="txt")
    assert reason == "the file contains no readable text"


def test_unknown_file_type_is_refused() -> None:
    assert "not supported" in reason_of(b"hello", file_type="xlsx")


def test_too_much_text_is_refused() -> None:
    reason = reason_of(b"word " * 1000, file_type="txt", max_chars=100)
    assert "too much text" in reason


def test_unexpected_library_errors_become_a_readable_reason(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(data: bytes, **kwargs: Any) -> extraction.Extracted:
        raise ValueError("internal detail at offset 0x1234")

    reader = registry.lookup("html")
    assert reader is not None
    monkeypatch.setitem(registry.READERS, "html", dataclasses.replace(reader, read=broken))
    reason = reason_of(b"<p>x</p>", file_type="html")
    assert reason == extraction.REASON_HTML_DAMAGED
    assert "0x1234" not in reason
    assert "0x1234" in caplog.text  # the technical detail is logged


def test_recursion_and_memory_errors_are_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    for error in (RecursionError, MemoryError):

        def broken(data: bytes, error: type[BaseException] = error, **kwargs: Any) -> Any:
            raise error()

        reader = registry.lookup("txt")
        assert reader is not None
        monkeypatch.setitem(registry.READERS, "txt", dataclasses.replace(reader, read=broken))
        assert reason_of(b"x", file_type="txt")


# --- Markdown -------------------------------------------------------------------------

MARKDOWN = """\
---
layout: page
---
# Dental practice

Welcome to **our** _practice_. Call [reception](tel:+15550100) or see
[the map](https://example.com/map "Map").

## Office hours

Call before you come.

- Monday to *Friday*: 8–18
* Saturday: ~~9–14~~ 9–12
1. Bring your `card`

### Weekend

| Day | Hours |
|-----|:-----:|
| Sat | 9–12 |
| Sun | closed |

```
# not a heading
code  stays
```

Prices
------

Check-up costs 50\\*2 EUR, snake_case_name stays.
"""


def test_markdown_headings_become_heading_paths() -> None:
    result = extract(MARKDOWN.encode(), file_type="md")
    headings = [s.heading for s in result.sections]
    assert headings == [
        "Dental practice",
        "Dental practice > Office hours",
        "Dental practice > Office hours > Weekend",
        "Dental practice > Prices",
    ]
    assert result.title == "Dental practice"


def test_markdown_markup_is_stripped_but_lists_and_tables_stay_readable() -> None:
    sections = extract(MARKDOWN.encode(), file_type="md").sections
    intro, hours, weekend, prices = (s.text for s in sections)
    assert intro == (
        "Welcome to our practice. Call reception (+15550100) or see\n"
        "the map (https://example.com/map)."
    )
    assert "- Monday to Friday: 8–18\n- Saturday: 9–14 9–12\n1. Bring your card" in hours
    assert "Day | Hours\nSat | 9–12\nSun | closed" in weekend
    assert "# not a heading\ncode stays" in weekend
    assert prices == "Check-up costs 50*2 EUR, snake_case_name stays."
    assert "layout" not in extract(MARKDOWN.encode(), file_type="md").text


def test_markdown_title_comes_from_front_matter_when_present() -> None:
    data = b'---\ntitle: "Price list"\n---\n\n# Prices\n\nCheap.\n'
    assert extract(data, file_type="md").title == "Price list"


def test_markdown_heading_without_text_below_keeps_its_words() -> None:
    result = extract(
        b"# Guide\n\n## Phone 555-0100\n\n## Email\n\nhello@example.com\n", file_type="md"
    )
    assert [(s.heading, s.text) for s in result.sections] == [
        ("Guide", "Phone 555-0100"),
        ("Guide > Email", "hello@example.com"),
    ]


def test_markdown_drops_script_and_style_bodies() -> None:
    data = (
        b"# Booking\n\nCall us.\n\n<script>\nstealCookies();\n</script>\n\n"
        b'<style type="text/css">body { color: red }</style>\n\n'
        b"Open <script>alert(1)</script>daily.\n"
    )
    result = extract(data, file_type="md")
    assert result.text == "Call us.\n\nOpen daily."


def test_markdown_link_destinations_with_parentheses_leave_no_stray_text() -> None:
    data = (
        b"[book now](javascript:alert(1)) or see "
        b"[the map](https://example.com/wiki/Town_(centre)).\n"
    )
    assert extract(data, file_type="md").text == (
        "book now or see the map (https://example.com/wiki/Town_(centre))."
    )


# --- HTML -----------------------------------------------------------------------------

HTML = """\
<!DOCTYPE html>
<html><head><meta charset="windows-1252"><title>Dental practice – Home</title>
<style>.x { color: red }</style><script>var tracking = "do not index";</script></head>
<body>
<header><a href="/">Logo</a><nav><a href="/a">About us</a></nav></header>
<main>
<h1>Office hours</h1>
<p>We are    open
Monday&nbsp;– Friday.<br>Closed on holidays.</p>
<div hidden>secret draft</div><p style="display: none">also hidden</p>
<h2>Prices</h2>
<table>
  <tr><th>Service</th><th>Price</th></tr>
  <tr><td>Check-up</td><td>50 €</td></tr>
  <tr><td colspan="2">Cleaning on request</td></tr>
</table>
<ul><li>Bring your card</li><li>Arrive <b>early</b>
  <ul><li>ten minutes</li></ul></li></ul>
<noscript>enable js</noscript><template><p>tmpl</p></template>
<!-- a comment -->
</main>
<aside>Related links</aside>
<form><input value="search"><button>Go</button></form>
<footer>© 2024 Example</footer>
</body></html>
"""


def test_html_keeps_content_and_drops_boilerplate() -> None:
    result = extract(HTML.encode("cp1252"), file_type="html")
    assert result.title == "Dental practice – Home"
    assert [s.heading for s in result.sections] == ["Office hours", "Office hours > Prices"]
    hours, prices = (s.text for s in result.sections)
    assert hours == "We are open Monday – Friday.\nClosed on holidays."
    assert prices == (
        "Service | Price\nCheck-up | 50 €\nCleaning on request\n\n"
        "- Bring your card\n- Arrive early\n- ten minutes"
    )
    dropped = "tracking Logo About secret hidden enable tmpl comment Related search Go 2024 color"
    for word in dropped.split():
        assert word not in result.text


@pytest.mark.parametrize(
    "encoded",
    [
        "<html><body><p>Grüße – 5 €</p></body></html>".encode("utf-16"),
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "</head><body><p>Grüße – 5 €</p></body></html>".encode(),
        b"\xef\xbb\xbf<p>Gr\xc3\xbc\xc3\x9fe \xe2\x80\x93 5 \xe2\x82\xac</p>",
    ],
    ids=["utf16-bom", "meta-http-equiv", "utf8-bom"],
)
def test_html_charset_comes_from_the_document(encoded: bytes) -> None:
    assert extract(encoded, file_type="html").text == "Grüße – 5 €"


def test_html_article_header_is_content() -> None:
    page = b"<body><article><header><h1>News</h1><p>By Ann</p></header><p>Text</p></article></body>"
    result = extract(page, file_type="html")
    assert [(s.heading, s.text) for s in result.sections] == [("News", "By Ann\n\nText")]


def test_html_with_only_scripts_has_no_readable_text() -> None:
    page = b"<html><head><script>alert(1)</script></head><body><nav>Menu</nav></body></html>"
    assert reason_of(page, file_type="html") == "the file contains no readable text"


# --- PDF ------------------------------------------------------------------------------


def test_pdf_gives_one_section_per_page_with_its_number() -> None:
    data = make_pdf(["Office hours\nMonday to Friday", "", "Prices   apply"], title="Guide")
    result = extract(data, file_type="pdf")
    assert result.pages == 3
    assert result.title == "Guide"
    assert [(s.page, s.text) for s in result.sections] == [
        (1, "Office hours\nMonday to Friday"),
        (3, "Prices apply"),
    ]


def test_pdf_with_more_pages_than_allowed_is_refused() -> None:
    reason = reason_of(make_pdf(["a", "b", "c"]), file_type="pdf", max_pages=2)
    assert "3 pages" in reason and "limit of 2" in reason


def test_pdf_with_a_password_is_refused_as_encrypted() -> None:
    data = encrypt_pdf(make_pdf(["Secret plans"]), user_password="open-sesame")
    assert reason_of(data, file_type="pdf") == extraction.REASON_PDF_ENCRYPTED


def test_pdf_encrypted_with_an_empty_user_password_is_read() -> None:
    data = encrypt_pdf(make_pdf(["Copy protected but readable"]), user_password="")
    assert extract(data, file_type="pdf").text == "Copy protected but readable"


def test_pdf_without_text_has_no_text_layer() -> None:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    assert reason_of(out.getvalue(), file_type="pdf").startswith("no text layer")


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\n%garbage that is not a pdf at all", b"%PDF-", make_pdf(["ok"])[:60]],
    ids=["garbage", "header-only", "truncated"],
)
def test_damaged_pdf_gets_a_readable_reason(data: bytes) -> None:
    assert "damaged" in reason_of(data, file_type="pdf")


def test_pdf_page_that_fails_is_skipped_not_the_whole_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = pypdf.PageObject.extract_text

    def flaky(self: pypdf.PageObject, *args: Any, **kwargs: Any) -> str:
        if "Broken" in original(self):
            raise RecursionError("bad content stream")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pypdf.PageObject, "extract_text", flaky)
    result = extract(make_pdf(["First", "Broken", "Third"]), file_type="pdf")
    assert [(s.page, s.text) for s in result.sections] == [(1, "First"), (3, "Third")]


def test_pdf_too_much_text_stops_early() -> None:
    data = make_pdf(["x" * 80] * 5)
    assert "too much text" in reason_of(data, file_type="pdf", max_chars=100)


# --- DOCX -----------------------------------------------------------------------------


def test_docx_headings_lists_and_title() -> None:
    result = extract(make_docx(), file_type="docx")
    assert result.title == "Practice guide"
    assert [s.heading for s in result.sections] == [
        "Office hours",
        "Office hours > Weekend",
        "Prices",
    ]
    hours, weekend, _ = (s.text for s in result.sections)
    assert hours == "We are open on weekdays."
    assert weekend == "Saturday 9 to 12.\n\n- Bring your insurance card\n- Arrive ten minutes early"


def test_docx_table_comes_out_row_by_row_without_duplicated_merged_cells() -> None:
    prices = extract(make_docx(), file_type="docx").sections[2].text
    assert prices.split("\n\n")[0] == (
        "Service | Price\nCheck-up | adults | 50 EUR\nCleaning | all"
    )
    assert prices.count("Service") == 1 and prices.count("50 EUR") == 1


def test_docx_content_controls_and_text_boxes_are_read_once() -> None:
    text = extract(make_docx(), file_type="docx").sections[2].text
    assert text.split("\n\n")[1:] == [
        "Prices include tax.",
        "Call us on 555-0100.",
        "See the map.",
        "Parking behind the building.",
    ]


def test_docx_in_strict_ooxml_is_read_like_transitional() -> None:
    transitional = extract(make_docx(), file_type="docx")
    strict = extract(to_strict(make_docx()), file_type="docx")
    assert strict.sections == transitional.sections


def test_encrypted_docx_is_refused_as_password_protected() -> None:
    # An encrypted OOXML file is an OLE compound file holding an "EncryptedPackage" stream.
    ole = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100 + "EncryptedPackage".encode("utf-16-le")
    )
    assert reason_of(ole, file_type="docx") == extraction.REASON_DOCX_ENCRYPTED


def test_legacy_doc_is_refused_with_a_hint_to_save_as_docx() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100 + "WordDocument".encode("utf-16-le")
    assert ".doc" in reason_of(ole, file_type="docx")


def test_truncated_docx_is_refused_as_damaged() -> None:
    data = make_docx()
    assert "damaged or incomplete" in reason_of(data[: len(data) // 2], file_type="docx")


def test_docx_with_broken_xml_is_refused_as_damaged() -> None:
    def change(name: str, content: bytes) -> bytes:
        return content[:-200] if name == "word/document.xml" else content

    assert "damaged" in reason_of(rewrite_zip(make_docx(), change), file_type="docx")


def test_docx_zip_bomb_member_is_refused_before_inflating() -> None:
    out = io.BytesIO(make_docx())
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("word/media/bomb.bin", b"\x00" * (4 * 1024 * 1024), zipfile.ZIP_DEFLATED)
    assert "suspiciously large" in reason_of(out.getvalue(), file_type="docx")


def test_docx_over_the_total_uncompressed_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docx_reader, "DOCX_MAX_UNCOMPRESSED", 10_000)
    assert "suspiciously large" in reason_of(make_docx(), file_type="docx")


def test_a_zip_that_is_not_a_word_document_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
    assert "not a Word document" in reason_of(out.getvalue(), file_type="docx")


def test_docx_run_keeps_the_words_after_an_unresolved_entity_reference() -> None:
    # The hardened parser leaves a DTD's entities unresolved; the text after one is the
    # reference's tail and must not be lost with it.
    def change(name: str, content: bytes) -> bytes:
        if name != "word/document.xml":
            return content
        text = content.decode("utf-8")
        text = text.replace(
            "<w:document ", '<!DOCTYPE w:document [<!ENTITY co "Acme">]><w:document ', 1
        )
        return text.replace(
            "Saturday 9 to 12.", "Saturday &co; opens 9 to 12 &amp; closes."
        ).encode()

    weekend = extract(rewrite_zip(make_docx(), change), file_type="docx").sections[1].text
    assert weekend.startswith("Saturday opens 9 to 12 & closes.\n\n")


# --- the real-world corpus ------------------------------------------------------------

# From MANIFEST.tsv: what each special file must give.
ENCRYPTED = {
    "pdf/sf__libreoffice-writer-password.pdf",
    "pdf/pypdf__crazyones-encrypted-256.pdf",
    "pdf/docling__2206.01062_pg3.pdf",
    "pdf/unst__password.pdf",
}
NO_TEXT_LAYER = {
    "pdf/unst__loremipsum-flat.pdf",
    "pdf/docling__ocr_test.pdf",
    "pdf/docling__nemotron_multipage.pdf",
    "pdf/unst__table-multi-row-column-cells.pdf",
    "pdf/sf__imagemagick-images.pdf",  # six image pages labelled "Background"
}
DAMAGED = {
    "pdf/pdfminer__issue-1113-evil-xobjects.pdf": "damaged",
    "pdf/sf__unreadablemetadata.pdf": "damaged",
    "pdf/plumber__empty.pdf": "empty",
    "docx/poi__truncated62886.docx": "damaged",
    "docx/poi__bug53475-password-is-pass.docx": "password-protected",
}
# Either outcome is right: a date stamp over a page image.
EITHER = {"pdf/plumber__malformed-from-issue-932.pdf"}
# Text that must be found (tables row by row, text boxes, content controls, scripts).
MUST_CONTAIN = {
    "docx/unst__docx-tables.docx": ["Header Col 1 | Header Col 2\nLorem ipsum | A link example"],
    "docx/docling__word_sample.docx": [
        "Food | Calories per portion\nLeaves | Ash, Elm, Maple | 50"
    ],
    "docx/docling__docx_rich_tables_01.docx": ["Feature | Action Needed | Comment/Links"],
    "docx/unst__grid_offset_error.docx": ["A | Merged B1-B3\nC"],
    "docx/docling__textbox.docx": ["Health Bureau"],
    "docx/docling__Strict.docx": ["Some text"],
    "docx/poi__bib-chernigovka.netdo.ru_download_docs_17459.docx": [
        "Большечерниговская районная библиотека",
        "7 | Рождество Христово",
    ],
    "pdf/pypdf__multilang.pdf": ["สวัสดีชาวโลก", "مرحبا بالعالم", "你好世界"],
    "pdf/sf__GeoTopo-komprimiert.pdf": ["Topologie"],
}
MUST_MATCH = {
    "pdf/unst__korean-text-with-tables.pdf": "[\uac00-\ud7a3]{2}",  # Hangul syllables
    "pdf/plumber__issue-67-example.pdf": "[\u4e00-\u9fff]{4}",  # CJK ideographs
    "pdf/docling__right_to_left_01.pdf": "[\u0600-\u06ff]{3}",  # Arabic
}

CORPUS_DEADLINE_SECONDS = 600  # a hang guard, not a speed target (benchmarks have those)


def _extract_file(path: str) -> tuple[str, Any, float]:
    """Run in a worker process: ("ready", Extracted) or ("failed", reason) or ("crashed", repr)."""
    data = Path(path).read_bytes()
    file_type = path.rsplit(".", 1)[1]
    started = time.perf_counter()
    try:
        result: Any = extract(data, file_type=file_type, filename=Path(path).name)
        outcome = "ready"
    except ExtractionError as exc:
        result, outcome = exc.reason, "failed"
    except Exception as exc:  # reported by the test as a crash
        result, outcome = f"{type(exc).__name__}: {exc}", "crashed"
    return outcome, result, time.perf_counter() - started


def _corpus_files() -> list[str]:
    if not EVAL_DOCS.is_dir():
        return []
    files = [p for kind in ("pdf", "docx") for p in sorted((EVAL_DOCS / kind).glob(f"*.{kind}"))]
    return [f"{p.parent.name}/{p.name}" for p in files]


@pytest.fixture(scope="module")
def corpus() -> Any:
    """Extract every corpus file once, in worker processes (the 619-page PDF alone takes
    most of a minute), each bounded by a deadline so a hang fails instead of blocking."""
    names = _corpus_files()
    if not names:
        pytest.skip("../shared/eval/docs is not available")
    # Largest first so the long ones start at once.
    names.sort(key=lambda n: (EVAL_DOCS / n).stat().st_size, reverse=True)
    context = multiprocessing.get_context("fork")
    pool = context.Pool(processes=max(2, min(4, multiprocessing.cpu_count())))
    try:
        pending = {n: pool.apply_async(_extract_file, (str(EVAL_DOCS / n),)) for n in names}
        deadline = time.monotonic() + CORPUS_DEADLINE_SECONDS
        outcomes = {}
        for name, future in pending.items():
            try:
                outcomes[name] = future.get(timeout=max(1.0, deadline - time.monotonic()))
            except multiprocessing.TimeoutError:
                outcomes[name] = ("hung", "no answer before the deadline", 0.0)
    finally:
        pool.terminate()
        pool.join()
    return outcomes


@pytest.mark.parametrize("name", _corpus_files() or ["<corpus missing>"])
def test_corpus_file_ends_ready_with_text_or_failed_with_a_reason(name: str, corpus: Any) -> None:
    outcome, result, _seconds = corpus[name]
    assert outcome in ("ready", "failed"), f"{name}: {outcome}: {result}"
    if name in ENCRYPTED:
        assert outcome == "failed" and result == extraction.REASON_PDF_ENCRYPTED
    elif name in NO_TEXT_LAYER:
        assert outcome == "failed" and result.startswith("no text layer")
    elif name in DAMAGED:
        assert outcome == "failed" and DAMAGED[name] in result
    elif name == "pdf/unst__copy-protected.pdf":
        # Empty user password: readable when the AES provider (cryptography) is installed.
        if HAS_CRYPTOGRAPHY:
            assert outcome == "ready" and result.chars > 1000
        else:
            assert outcome == "failed" and result == extraction.REASON_PDF_ENCRYPTED
    elif name in EITHER:
        assert outcome == "ready" or result.startswith("no text layer")
    else:
        assert outcome == "ready", f"{name}: {result}"
    if outcome == "failed":
        assert isinstance(result, str) and len(result) > 10
        return
    assert result.chars >= 5 and any(ch.isalpha() for ch in result.text)
    assert all(s.text.strip() for s in result.sections)
    assert "\x00" not in result.text and "  " not in result.text and "\n\n\n" not in result.text
    if name.startswith("pdf/"):
        assert result.pages and all(1 <= (s.page or 0) <= result.pages for s in result.sections)
    for expected in MUST_CONTAIN.get(name, []):
        assert expected in result.text
    if name in MUST_MATCH:
        assert re.search(MUST_MATCH[name], result.text)


def test_corpus_docx_tables_come_out_row_by_row(corpus: Any) -> None:
    outcome, result, _ = corpus["docx/docling__word_tables.docx"]
    assert outcome == "ready"
    rows = [line for line in result.text.split("\n") if " | " in line]
    assert len(rows) >= 10
    # The fixture holds seven tables, each after a one-line caption "A ... table ...", whose
    # cells read "Header r.c", "Cell r.c" or "Merged Cell r.c r.c" (empty cells are skipped).
    lines = [line for line in result.text.split("\n") if line]
    captions = [line for line in lines if line.startswith("A ") and " table" in line]
    assert len(captions) == 7
    cell = re.compile(r"Header \d\.\d|Cell \d\.\d|Merged Cell \d\.\d \d\.\d")
    # A row is one line: no cell text is split over lines, so every line that is not a
    # caption is made of whole cells only, and a merged cell appears once in its row.
    table_lines = [line for line in lines if line not in captions]
    for line in table_lines:
        cells = line.split(" | ")
        assert all(cell.fullmatch(c) for c in cells), line
        assert len(set(cells)) == len(cells), line
    # Each table's header row keeps all its columns, in the fixture's order.
    headers = [line for line in table_lines if line.startswith("Header 0.0")]
    assert [h.count(" | ") + 1 for h in headers] == [3, 3, 4, 3, 3, 2, 3]
    # Rows of the uniform table have three columns each.
    assert table_lines[:3] == [
        "Header 0.0 | Header 0.1 | Header 0.2",
        "Cell 1.0 | Cell 1.1 | Cell 1.2",
        "Cell 2.0 | Cell 2.1 | Cell 2.2",
    ]


def test_corpus_large_documents_keep_every_page(corpus: Any) -> None:
    outcome, result, _ = corpus["pdf/unst__DA-619p.pdf"]
    assert outcome == "ready" and result.pages == 619
    assert result.chars > 1_500_000
    assert len(result.sections) >= 600
    outcome, result, _ = corpus["docx/unst__handbook-872p.docx"]
    assert outcome == "ready" and result.chars > 700_000
    assert len({s.heading for s in result.sections}) > 50


# --- the reader registry --------------------------------------------------------------


def test_each_format_has_its_reader_and_aliases_reach_it() -> None:
    assert registry.names() == ["docx", "html", "md", "pdf", "txt"]
    for alias, name in (("markdown", "md"), ("text", "txt"), (".HTM", "html"), ("PDF", "pdf")):
        reader = registry.lookup(alias)
        assert reader is not None and reader.name == name


def test_a_registered_reader_serves_its_type_through_extract(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def read_eml(data: bytes, *, max_pages: int, max_chars: int) -> extraction.Extracted:
        return extraction.Extracted(sections=[extraction.Section(text=data.decode().upper())])

    monkeypatch.setattr(registry, "READERS", dict(registry.READERS))
    monkeypatch.setattr(registry, "_ALIASES", dict(registry._ALIASES))
    registry.register(registry.Reader(name="eml", read=read_eml, damaged="bad mail"))
    assert extract(b"subject: hi", file_type="eml").text == "SUBJECT: HI"
