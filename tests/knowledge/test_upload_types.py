"""What an upload is, decided from its bytes (knowledge.filetypes), and the limits an upload
is held to before anything is stored: the pure rules, then the API answers."""

from __future__ import annotations

from typing import Any

import pytest

from knowledge import filetypes, models

HOURS = "Opening hours: Monday to Friday 9 to 5, Saturday 9 to 12. Café closed on Sunday."

SVG = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<!-- drawn by hand -->\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
    '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    "<text x='0' y='5'>Book now</text><script>alert(1)</script></svg>\n"
)


# --- the pure rules -------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_it_detects_utf16_text_without_a_bom_as_text(encoding: str) -> None:
    assert filetypes.detect(HOURS.encode(encoding), "hours.txt").file_type == "txt"
    assert filetypes.detect(HOURS.encode(encoding), "hours.md").file_type == "md"


@pytest.mark.parametrize(
    "data",
    [
        SVG.encode(),
        b'<svg xmlns="http://www.w3.org/2000/svg"><text>Hi</text></svg>',
        b"\xef\xbb\xbf  <svg>\n<text>Hi</text></svg>",
        SVG.encode("utf-16"),
    ],
)
@pytest.mark.parametrize("name", ["logo.svg", "logo.txt", "logo.html", ""])
def test_it_refuses_svg_whatever_the_name(data: bytes, name: str) -> None:
    with pytest.raises(filetypes.UnsupportedFile) as info:
        filetypes.detect(data, name)
    assert "SVG" in info.value.reason


def test_html_with_an_inline_svg_is_still_html() -> None:
    page = b"<!doctype html><html><body><svg><text>logo</text></svg><p>Hi</p></body></html>"
    assert filetypes.detect(page, "page.html").file_type == "html"


def test_it_counts_the_characters_of_text_not_its_bytes() -> None:
    accented = "é" * 900  # 1,800 bytes of UTF-8, 900 characters
    assert filetypes.detect(accented.encode(), "a.txt", max_text_chars=1000).file_type == "txt"
    with pytest.raises(filetypes.TooMuchText) as info:
        filetypes.detect(("é" * 1001).encode(), "a.md", max_text_chars=1000)
    assert "1,000 characters" in info.value.reason
    with pytest.raises(filetypes.TooMuchText):
        filetypes.detect(("x" * 1001).encode("utf-16-le"), "a.txt", max_text_chars=1000)


# --- the API --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_it_accepts_utf16_text_without_a_bom_and_extracts_it(
    api: Any, encoding: str, run_jobs: Any
) -> None:
    response = api.upload(HOURS.encode(encoding), name="hours.txt")
    assert response.status_code == 201, response.content
    assert response.json()["file_type"] == "txt"
    run_jobs()
    document = models.Document.objects.get(pk=response.json()["id"])
    assert document.status == models.DocStatus.READY, document.ingest_error
    assert "Café closed on Sunday" in document.chunks.get().text


@pytest.mark.django_db
def test_it_refuses_an_svg_upload_with_415_and_stores_nothing(api: Any) -> None:
    response = api.upload(SVG.encode(), name="offer.svg")
    assert response.status_code == 415
    assert "SVG" in response.json()["detail"]
    assert models.Document.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_at_upload_a_text_file_with_more_characters_than_extraction_takes(
    api: Any, settings: Any
) -> None:
    settings.KB_MAX_EXTRACTED_CHARS = 1000
    response = api.upload(b"word " * 201, name="big.txt")  # 1,005 characters, far under 25 MB
    assert response.status_code == 413
    assert "1,000 characters" in response.json()["detail"]
    assert models.Document.objects.count() == 0
    assert api.upload(b"word " * 199, name="fits.txt").status_code == 201
