"""Mail cleaning and rendering by tier (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from connections import mailclean
from connections.mailclean import MailText, ThreadPost

WHEN = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_gt_quoted_lines_are_dropped() -> None:
    text = "Yes, Saturday works.\n> Can we come on Saturday?\n>> earlier text\nThanks"
    assert mailclean.strip_quotes_and_signature(text) == "Yes, Saturday works.\nThanks"


def test_on_wrote_block_and_everything_under_it_is_cut() -> None:
    text = "See you then.\n\nOn Mon, 2 Nov 2026 at 09:00, Pat Patient <pat@example.org>\nwrote:\nold message"
    assert mailclean.strip_quotes_and_signature(text) == "See you then."


def test_on_wrote_on_one_line_is_cut() -> None:
    text = "Fine.\nOn 2 Nov 2026, Pat wrote:\nold"
    assert mailclean.strip_quotes_and_signature(text) == "Fine."


def test_a_line_starting_with_on_that_is_not_a_quote_header_is_kept() -> None:
    text = "On Saturdays we open at 9.\nParking is free."
    assert mailclean.strip_quotes_and_signature(text) == text


def test_outlook_header_block_is_cut() -> None:
    text = (
        "Price confirmed: 80 EUR.\n________________________________\n"
        "From: Pat Patient <pat@example.org>\nSent: Monday, 2 November 2026 09:00\n"
        "To: Reception\nSubject: Price\n\nHow much is a cleaning?"
    )
    assert mailclean.strip_quotes_and_signature(text) == "Price confirmed: 80 EUR."


def test_original_message_separator_is_cut() -> None:
    text = "Forwarding this.\n-----Original Message-----\nFrom: x\nsecret old text"
    assert mailclean.strip_quotes_and_signature(text) == "Forwarding this."


def test_signature_after_dash_dash_space_is_cut() -> None:
    text = "We open at 8.\n-- \nDana Reception\nBright Smile Dental\n+1 555 0100"
    assert mailclean.strip_quotes_and_signature(text) == "We open at 8."


def test_html_body_becomes_text_without_quoted_containers_or_styles() -> None:
    html = (
        "<html><head><style>p{color:red}</style></head><body><p>Hello&nbsp;team,</p>"
        "<div>Parking is <b>free</b> on site.<br>Bring your card.</div>"
        "<div id='divRplyFwdMsg'><b>From:</b> Pat<br><b>Sent:</b> Monday</div>"
        "<blockquote>old quoted text</blockquote><script>alert(1)</script></body></html>"
    )
    text = mailclean.clean_body(html, content_type="html")
    assert text == "Hello team,\n\nParking is free on site.\nBring your card."


def _mail(body: str, content_type: str = "text") -> MailText:
    return MailText(
        subject="Opening hours",
        sender=mailclean.format_address("Pat Patient", "pat@example.org"),
        to=[mailclean.format_address(None, "reception@brightsmile.example")],
        sent_at=WHEN,
        body=body,
        content_type=content_type,
    )


def test_metadata_tier_renders_headers_only() -> None:
    text = mailclean.render_message(_mail("The body must not appear."), tier="metadata", max_chars=10_000)
    assert text == (
        "Subject: Opening hours\nFrom: Pat Patient <pat@example.org>\n"
        "To: reception@brightsmile.example\nDate: 2026-11-02 09:30 UTC"
    )


def test_snippet_tier_keeps_the_first_500_characters_of_the_cleaned_body() -> None:
    body = ("word " * 300) + "\n> quoted"
    text = mailclean.render_message(_mail(body), tier="snippet", max_chars=10_000)
    head, _, rendered_body = text.partition("\n\n")
    assert head.startswith("Subject: Opening hours")
    assert len(rendered_body) <= 500
    assert rendered_body.startswith("word word")
    assert "quoted" not in rendered_body


def test_body_tier_keeps_the_cleaned_body_up_to_the_maximum() -> None:
    body = "A" * 50 + " " + "B" * 3000 + "\n-- \nsignature"
    text = mailclean.render_message(_mail(body), tier="body", max_chars=1000)
    rendered_body = text.partition("\n\n")[2]
    assert len(rendered_body) <= 1000
    assert "signature" not in text
    full = mailclean.render_message(_mail("short body\n-- \nsig"), tier="body", max_chars=1000)
    assert full.endswith("\n\nshort body")


def test_missing_display_name_renders_the_address_only() -> None:
    assert mailclean.format_address(None, "pat@example.org") == "pat@example.org"
    assert mailclean.format_address("pat@example.org", "pat@example.org") == "pat@example.org"
    assert mailclean.format_address("Pat", None) == "Pat"


def test_thread_renders_root_and_replies_without_deleted_posts_and_with_unknown_authors() -> None:
    posts = [
        ThreadPost(author="Sam Staff", sent_at=WHEN, body="<p>Whitening is 199 EUR now.</p>"),
        ThreadPost(author=None, sent_at=WHEN, body="<p>Noted.</p>"),
        ThreadPost(author="Lee", sent_at=WHEN, body="", deleted=True),
    ]
    text = mailclean.render_thread(title="Prices", posts=posts, tier="body", max_chars=5000)
    assert "Sam Staff (2026-11-02 09:30 UTC): Whitening is 199 EUR now." in text
    assert "Unknown (2026-11-02 09:30 UTC): Noted." in text
    assert "Lee" not in text


def test_thread_whose_root_is_deleted_renders_nothing() -> None:
    posts = [ThreadPost(author="Sam", sent_at=WHEN, body="", deleted=True), ThreadPost(author="Lee", sent_at=WHEN, body="reply")]
    assert mailclean.render_thread(title="x", posts=posts, tier="body", max_chars=5000) == ""
