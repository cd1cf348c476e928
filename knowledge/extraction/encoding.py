"""Decode the bytes of a text file: a BOM, UTF-16 without a BOM, strict UTF-8, else the
most likely legacy codepage (charset-normalizer, leaning to cp1252)."""

from __future__ import annotations

from knowledge.extraction import base

_BOMS = [
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
]


def decode_text(data: bytes, max_chars: int) -> str:
    """Decode text bytes: BOM, BOM-less UTF-16, strict UTF-8, then a legacy codepage."""
    # Even UTF-32 needs at most four bytes per character: refuse without decoding.
    if len(data) > 4 * max_chars + 4:
        base.check_chars(len(data) // 4, max_chars)
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    utf16 = bomless_utf16(data[:65536])
    if utf16:
        return data.decode(utf16, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return data.decode(_guess_legacy_encoding(data), errors="replace")


# How much of a legacy-codepage file count_characters reads to guess its codepage.
_GUESS_SAMPLE = 1024 * 1024


def count_characters(data: bytes) -> int:
    """The characters ``decode_text`` gives for ``data``, cheaply: a legacy codepage is
    guessed from the first megabyte instead of the whole file (an upload check, not the
    extraction itself)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return len(data[len(bom) :].decode(encoding, errors="replace"))
    utf16 = bomless_utf16(data[:65536])
    if utf16:
        return len(data.decode(utf16, errors="replace"))
    try:
        return len(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    return len(data.decode(_guess_legacy_encoding(data[:_GUESS_SAMPLE]), errors="replace"))


def bomless_utf16(sample: bytes) -> str | None:
    """UTF-16 without a BOM: NUL bytes (the high byte of Latin letters) on one side only."""
    if len(sample) < 4 or sample.count(0) * 3 < len(sample):
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > 4 * even:
        return "utf-16-le"
    if even > 4 * odd:
        return "utf-16-be"
    return None


_WESTERN = {"cp1252", "latin_1", "iso8859_15"}
# Mainframe codepages "decode" any bytes; nobody uploads EBCDIC text.
_EBCDIC = {"cp037", "cp273", "cp424", "cp500", "cp875", "cp1026", "cp1140"}
_CENTRAL_EUROPEAN = {"Czech", "Polish", "Slovak", "Hungarian", "Croatian", "Slovene", "Romanian"}
# Below this coherence charset-normalizer recognised no language (short or odd samples).
_MIN_COHERENCE = 0.1
_HIGH_BYTES = bytes(range(128, 256))


def _guess_legacy_encoding(data: bytes) -> str:
    """charset-normalizer's guess, leaning to cp1252 (the most common legacy codepage)
    when the sample is ambiguous."""
    from charset_normalizer import from_bytes

    candidates = [
        m
        for m in from_bytes(data)
        if m.encoding
        and not m.encoding.startswith(("utf_16", "utf_32"))  # handled above
        and m.encoding not in _EBCDIC
    ]
    if not candidates:
        return "cp1252"
    top = candidates[0]
    if top.encoding in _WESTERN or top.language in _CENTRAL_EUROPEAN:
        return top.encoding
    if top.coherence < _MIN_COHERENCE:
        # No language recognised (short sample): Latin text with a few accented letters
        # is far more likely cp1252 than Cyrillic, Greek or CJK, which are mostly high bytes.
        sample = data[:65536]
        high = len(sample) - len(sample.translate(None, _HIGH_BYTES))
        if high < len(sample) * 0.5 and _decodes(data, "cp1252"):
            return "cp1252"
        return top.encoding
    # Western codepages tie on short samples (é, ñ, €): then cp1252 wins.
    for match in candidates[1:]:
        if (
            match.encoding in _WESTERN
            and match.chaos <= top.chaos + 0.01
            and match.coherence >= top.coherence - 0.05
        ):
            return "cp1252"
    try:
        "".encode(top.encoding)
    except LookupError:
        return "cp1252"
    return top.encoding


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True
