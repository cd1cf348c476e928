from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import example, given, settings
from hypothesis import strategies as st

from knowledge import chunking


@dataclass
class Section:
    text: str
    heading: str = ""
    page: int | None = None


SENTENCES = [
    "Our office is open Monday to Friday from 8 am to 6 pm.",
    "On Saturdays we open from 9 to 12 for urgent appointments only.",
    "Please bring your insurance card and a photo ID to every visit.",
    "Prescriptions can be renewed by phone without an appointment.",
    "Parking is available behind the building, entrance from Elm Street.",
    "We are closed on public holidays and between Christmas and New Year.",
    "For emergencies outside office hours call the on-call service.",
]


def prose(sentences: int, *, start: int = 0) -> str:
    return " ".join(SENTENCES[(start + i) % len(SENTENCES)] for i in range(sentences))


def words_of(text: str) -> list[str]:
    return text.split()


def is_contiguous_sublist(needle: list[str], haystack: list[str]) -> bool:
    if not needle:
        return True
    first = needle[0]
    for i, word in enumerate(haystack):
        if word == first and haystack[i : i + len(needle)] == needle:
            return True
    return False


def test_it_returns_nothing_for_no_sections() -> None:
    assert chunking.chunk_sections([]) == []


def test_it_returns_nothing_for_blank_sections() -> None:
    sections = [Section("   \n\n\t "), Section("", heading="Empty")]
    assert chunking.chunk_sections(sections) == []


def test_it_keeps_a_short_section_as_one_chunk_with_its_heading_inline() -> None:
    drafts = chunking.chunk_sections([Section("Hello world.", heading="Greeting", page=3)])
    assert drafts == [chunking.ChunkDraft(index=0, text="Greeting: Hello world.", heading="Greeting", page=3)]


def test_it_never_exceeds_the_size() -> None:
    text = "\n\n".join(prose(9, start=i) for i in range(30))
    drafts = chunking.chunk_sections([Section(text)], size=1000, overlap=150)
    assert len(drafts) > 5
    assert all(len(d.text) <= 1000 for d in drafts)
    # Not degenerate: chunks are reasonably full.
    assert sum(len(d.text) for d in drafts) / len(drafts) > 600


def test_it_cuts_at_sentence_ends_when_a_paragraph_is_too_long() -> None:
    text = prose(40)
    drafts = chunking.chunk_sections([Section(text)], size=500, overlap=100)
    assert len(drafts) > 3
    for draft in drafts[:-1]:
        assert draft.text.endswith("."), draft.text[-40:]
    for draft in drafts[1:]:
        assert draft.text[0].isupper(), draft.text[:40]


def test_it_prefers_a_paragraph_break_once_the_chunk_is_full_enough() -> None:
    first = prose(8)  # ~520 chars
    second = prose(8, start=3)
    drafts = chunking.chunk_sections([Section(f"{first}\n\n{second}")], size=600, overlap=0, min_size=400)
    assert [d.text for d in drafts] == [first, second]


def test_it_fills_a_chunk_to_the_minimum_before_cutting_at_a_paragraph_break() -> None:
    first = prose(3)  # ~190 chars: too little for a chunk of its own
    second = prose(12, start=3)
    drafts = chunking.chunk_sections([Section(f"{first}\n\n{second}")], size=600, overlap=0, min_size=480)
    assert drafts[0].text.startswith(first + "\n\n")
    assert 480 <= len(drafts[0].text) <= 600
    assert drafts[0].text.endswith(".")


def test_it_overlaps_consecutive_chunks_with_whole_sentences() -> None:
    sentences = [
        f"Note {i} is that {SENTENCES[i % 7][0].lower()}{SENTENCES[i % 7][1:]}" for i in range(60)
    ]
    text = " ".join(sentences)
    drafts = chunking.chunk_sections([Section(text)], size=800, overlap=150)
    assert len(drafts) > 3
    for previous, current in zip(drafts, drafts[1:], strict=False):
        # The chunk starts with whole sentences that ended the previous one…
        assert current.text.startswith("Note ")
        shared = previous.text[previous.text.index(current.text[:20]) :]
        assert current.text.startswith(shared)
        assert shared.startswith("Note ") and shared.endswith(".")
        # …within the overlap budget.
        assert 0 < len(shared) <= 150


def test_it_does_not_overlap_when_overlap_is_zero() -> None:
    text = prose(60)
    drafts = chunking.chunk_sections([Section(text)], size=800, overlap=0)
    assert " ".join(d.text for d in drafts) == text


def test_it_never_cuts_a_word_even_without_sentence_punctuation() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    drafts = chunking.chunk_sections([Section(text)], size=300, overlap=50)
    source = words_of(text)
    for draft in drafts:
        assert len(draft.text) <= 300
        assert is_contiguous_sublist(words_of(draft.text), source)
    assert drafts[-1].text.endswith("word1999")


def test_it_hard_splits_only_a_word_longer_than_the_size() -> None:
    token = "x" * 2500
    drafts = chunking.chunk_sections([Section(f"Start here. {token} end.")], size=1000)
    assert all(len(d.text) <= 1000 for d in drafts)
    assert drafts[0].text == "Start here."
    assert "".join(d.text for d in drafts[1:-1]) + drafts[-1].text.removesuffix(" end.") == token
    assert drafts[-1].text.endswith("end.")


def test_it_splits_cjk_text_without_spaces() -> None:
    sentence = "今天天气很好我们一起去公园散步吧"  # 16 characters, no punctuation
    text = sentence * 200
    drafts = chunking.chunk_sections([Section(text, heading="散步")], size=1000, overlap=150)
    assert len(drafts) >= 4
    assert all(len(d.text) <= 1000 for d in drafts)
    assert all(d.heading == "散步" for d in drafts)
    stream = "散步: " + text
    assert drafts[0].text == stream[:1000]
    assert drafts[1].text.startswith(stream[850:1000])


def test_it_splits_cjk_text_at_sentence_punctuation() -> None:
    text = "今天天气很好。我们去公园散步吧！明天会下雨吗？" * 100
    drafts = chunking.chunk_sections([Section(text)], size=500, overlap=60)
    assert len(drafts) > 4
    for draft in drafts[:-1]:
        assert draft.text[-1] in "。！？"
    for draft in drafts[1:]:
        assert draft.text[0] in "今我明"


def test_it_packs_consecutive_sections_with_their_headings_inline() -> None:
    sections = [
        Section("Monday to Friday 8–18.", heading="Office hours"),
        Section("Saturday 9–12.", heading="Office hours > Weekend"),
        Section("Elm Street 4, Springfield.", heading="Address"),
    ]
    drafts = chunking.chunk_sections(sections)
    assert drafts == [
        chunking.ChunkDraft(
            index=0,
            text="Office hours: Monday to Friday 8–18.\n\nOffice hours > Weekend: Saturday 9–12."
            "\n\nAddress: Elm Street 4, Springfield.",
            heading="Office hours; Office hours > Weekend; Address",
        )
    ]


def test_it_merges_consecutive_sections_under_the_same_heading_into_one_unit() -> None:
    sections = [
        Section("First page text.", heading="Prices", page=1),
        Section("Second page text.", heading="Prices", page=2),
        Section("Something else.", heading="Other", page=2),
    ]
    drafts = chunking.chunk_sections(sections)
    assert [(d.text, d.heading, d.page) for d in drafts] == [
        ("Prices: First page text.\n\nSecond page text.\n\nOther: Something else.", "Prices; Other", 1),
    ]


def test_chunks_are_full_except_a_documents_last() -> None:
    # A handbook of many short sections, like the caller documents: ~150–500 characters each.
    sections = [Section(prose(2 + i % 6, start=i), heading=f"Topic {i}") for i in range(40)]
    drafts = chunking.chunk_sections(sections, title="Handbook", size=1000, overlap=150)
    assert len(drafts) > 5
    assert all(800 <= len(d.text) <= 1000 for d in drafts[:-1]), [len(d.text) for d in drafts]
    # Every section's heading is findable in the chunk that holds its start.
    for i in range(40):
        assert any(f"Topic {i}: " in d.text and f"Topic {i}" in d.heading.split("; ") for d in drafts)


def test_a_chunk_cut_at_a_section_start_does_not_repeat_the_previous_section() -> None:
    sections = [Section(prose(9, start=i), heading=f"Topic {i}") for i in range(6)]  # ~600 chars each
    drafts = chunking.chunk_sections(sections, size=1000, overlap=150, min_size=500)
    starts = [d for d in drafts[1:] if d.text.startswith("Topic ")]
    assert starts
    for draft in starts:
        previous = drafts[draft.index - 1]
        assert not previous.text.endswith(draft.text[:40])


def test_a_long_section_is_split_and_every_piece_keeps_its_heading_path() -> None:
    sections = [Section(prose(60), heading="Policies > Cancellations"), Section("Short.", heading="Parking")]
    drafts = chunking.chunk_sections(sections, size=1000, overlap=150)
    assert len(drafts) >= 4
    assert drafts[0].text.startswith("Policies > Cancellations: ")
    assert all(d.heading.split("; ")[0] == "Policies > Cancellations" for d in drafts)
    assert drafts[-1].heading.endswith("Parking")
    for draft in drafts[:-1]:
        assert 800 <= len(draft.text) <= 1000 and draft.text.endswith(".")


def test_it_drops_a_heading_that_repeats_the_document_title() -> None:
    sections = [
        Section("Intro.", heading="Clinic Handbook"),
        Section("Mon–Fri.", heading="Clinic Handbook > Office hours"),
    ]
    drafts = chunking.chunk_sections(sections, title="Clinic Handbook")
    assert [(d.text, d.heading) for d in drafts] == [("Intro.\n\nOffice hours: Mon–Fri.", "Office hours")]


def test_running_headers_and_footers_of_pages_are_kept_once() -> None:
    pages = [
        Section(f"Northside Auto · 12 Mill Road · (555) 010-0199\n{prose(3, start=p)}\nPage {p} of 4", page=p)
        for p in range(1, 5)
    ]
    drafts = chunking.chunk_sections(pages, size=1000, overlap=0)
    text = "\n".join(d.text for d in drafts)
    assert text.count("(555) 010-0199") == 1
    assert text.count("Page ") == 1
    for p in range(1, 5):
        assert prose(3, start=p) in text


def test_table_cells_at_the_edges_of_pages_are_content_not_furniture() -> None:
    pages = [
        Section("Header of the fee schedule\nService\nFee\nMicrochip\n$55\nSpay\n$310", page=1),
        Section("Header of the fee schedule\nDental cleaning\n$450\nCheckup\n$84", page=2),
        Section("Header of the fee schedule\nCremation\n$210", page=3),
    ]
    text = "\n".join(d.text for d in chunking.chunk_sections(pages))
    for price in ("$55", "$310", "$450", "$84", "$210"):
        assert price in text
    assert text.count("Header of the fee schedule") == 1


def test_a_banner_line_repeated_through_a_text_is_kept_once() -> None:
    banner = "Pawsitive Vet Clinic | 24/7 line 555-0142"
    sections = [Section(f"{banner}\n\n{prose(2, start=i)}", heading=f"Part {i}") for i in range(4)]
    text = "\n".join(d.text for d in chunking.chunk_sections(sections))
    assert text.count(banner) == 1


def test_lines_that_differ_only_in_their_numbers_are_content() -> None:
    rules = "\n".join(f"Rule {i}: never promise anything about case number {i} on the phone." for i in range(30))
    text = "\n".join(d.text for d in chunking.chunk_sections([Section(rules)], overlap=0))
    for i in range(30):
        assert f"case number {i} on" in text


def test_short_lines_that_recur_in_content_are_not_furniture() -> None:
    sections = [
        Section("Sunday: Closed\nMonday: 8–18", heading="Shop hours"),
        Section("Sunday: Closed\nMonday: 9–17", heading="Workshop hours"),
        Section("Sunday: Closed\nMonday: 7–12", heading="Café hours"),
    ]
    text = chunking.chunk_sections(sections)[0].text
    assert text.count("Sunday: Closed") == 3


def test_contextualize_adds_the_heading_when_the_chunk_starts_inside_its_section() -> None:
    inside = chunking.ChunkDraft(index=1, text="Saturday 9–12.", heading="Office hours > Weekend; Address")
    assert chunking.contextualize(inside) == "Office hours > Weekend: Saturday 9–12."
    inline = chunking.ChunkDraft(index=0, text="Office hours: Mon–Fri.", heading="Office hours")
    assert chunking.contextualize(inline) == "Office hours: Mon–Fri."
    bare = chunking.ChunkDraft(index=0, text="Just text.")
    assert chunking.contextualize(bare, "") == "Just text."


def test_contextualize_puts_the_title_on_its_own_line_first() -> None:
    draft = chunking.ChunkDraft(index=0, text="Saturday 9–12.", heading="Office\nhours")
    assert chunking.contextualize(draft, " Clinic\n\n Handbook\t") == "Clinic Handbook\nOffice hours: Saturday 9–12."
    assert chunking.contextualize(draft, "Clinic Handbook", with_title=False) == "Office hours: Saturday 9–12."
    bare = chunking.ChunkDraft(index=0, text="Just text.")
    assert chunking.contextualize(bare, "Title") == "Title\nJust text."


def test_it_normalises_whitespace_without_touching_words() -> None:
    text = "  Line one\twith   tabs.\r\nLine\u00a0two. \n\n\n\n  Next   paragraph.  "
    drafts = chunking.chunk_sections([Section(text)])
    assert drafts[0].text == "Line one with tabs.\nLine two.\n\nNext paragraph."


def test_it_keeps_the_zero_width_joiners_persian_and_indic_words_need() -> None:
    text = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u0915\u094d\u200d\u0937 \u200bword\ufeff"
    drafts = chunking.chunk_sections([Section(text)])
    assert drafts[0].text == "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u0915\u094d\u200d\u0937 word"


def test_it_leaves_text_that_extraction_normalised_as_it_is() -> None:
    from knowledge import extraction

    raw = "  Line\x00 one\t\twith   gaps \r\nline two\u200b\u200c\r\n\r\n\r\n\xa0Second\u00a0para  \x0c"
    extracted = extraction.extract(raw.encode("utf-8"), file_type="txt")
    drafts = chunking.chunk_sections(extracted.sections)
    assert [d.text for d in drafts] == [s.text for s in extracted.sections]
    assert extraction.normalise(extracted.text) == extracted.text


def test_it_is_deterministic() -> None:
    sections = [Section(prose(50, start=i), heading=f"H{i % 3}", page=i) for i in range(12)]
    first = chunking.chunk_sections(sections, title="T")
    second = chunking.chunk_sections(list(sections), title="T")
    assert first == second


def test_it_accepts_any_object_with_text_heading_and_page() -> None:
    class Other:
        def __init__(self) -> None:
            self.text, self.heading, self.page = "Some text.", "H", None

    assert chunking.chunk_sections([Other()])[0].heading == "H"


# --- properties -----------------------------------------------------------------------

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüéß0123456789", min_size=1, max_size=18)
PUNCT = st.sampled_from(["", "", "", ".", ",", "!", "?", ";", ":"])
SEP = st.sampled_from([" ", " ", " ", " ", "  ", "\n", "\n\n", "\t"])


@st.composite
def texts(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.tuples(WORD, PUNCT, SEP), min_size=0, max_size=400))
    return "".join(w + p + s for w, p, s in pieces)


@settings(max_examples=150, deadline=None)
@given(
    text=texts(),
    size=st.integers(min_value=60, max_value=400),
    overlap=st.integers(min_value=0, max_value=80),
)
@example(text="000000000000000000 " + "000000000000000000. " * 3, size=60, overlap=0)  # repeated words
def test_property_chunks_are_bounded_whole_words_in_order(
    text: str, size: int, overlap: int
) -> None:
    drafts = chunking.chunk_sections([Section(text, heading="H")], size=size, overlap=overlap)
    if not words_of(text):
        assert drafts == []
        return
    source = ["H:", *words_of(text)]  # the heading is inline in front of the section
    assert [d.index for d in drafts] == list(range(len(drafts)))
    covered = 0  # source words covered by the chunks so far
    for draft in drafts:
        assert 0 < len(draft.text) <= size
        assert draft.text == draft.text.strip()
        assert draft.heading == "H"
        chunk_words = words_of(draft.text)
        # Each chunk is a run of whole source words (words here are far below size) that
        # starts within or right after what is covered and adds at least one new word.
        starts = [
            i
            for i in range(covered + 1)
            if i + len(chunk_words) > covered and source[i : i + len(chunk_words)] == chunk_words
        ]
        assert starts, (draft.text, text)
        # Repeated words can align at several places: the furthest is the reading that
        # covers the most (a skipped word still leaves no alignment at all).
        covered = starts[-1] + len(chunk_words)
    assert covered == len(source)


@settings(max_examples=60, deadline=None)
@given(text=st.text(min_size=0, max_size=3000), size=st.integers(min_value=20, max_value=300))
def test_property_arbitrary_unicode_never_exceeds_size_and_loses_no_characters(
    text: str, size: int
) -> None:
    drafts = chunking.chunk_sections([Section(text)], size=size, overlap=0)
    assert all(0 < len(d.text) <= size for d in drafts)
    squeeze = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")
    assert squeeze.sub("", "".join(d.text for d in drafts)) == squeeze.sub("", text)
