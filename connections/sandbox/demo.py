"""The demo business of the sandbox account: Bright Smile Dental's OneDrive with a
"Reception" folder (hours, prices, parking, a cancellation policy as .docx), a "Shared inbox"
mail folder with a few mails, and a Teams channel where staff agree on things.

The texts answer the questions a caller asks a receptionist, so a newcomer can ask the
retrieval test page ("When are you open on Saturday?") and see the answer come from here.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from connections.sandbox.store import GraphStore

HOURS = """Opening hours — Bright Smile Dental

Monday to Friday: 8:00 to 18:00.
Saturday: 9:00 to 12:00 (emergencies only after 11:00).
Sunday and public holidays: closed. For a dental emergency call the out-of-hours line 0800 555 0199.
"""

PRICES = """# Prices 2026

| Treatment | Price |
|---|---|
| Check-up and cleaning | 85 EUR |
| Filling (composite) | 120 EUR |
| Teeth whitening (in clinic) | 350 EUR |
| Emergency appointment | 60 EUR |

Children under 12 have their check-up free of charge.
"""

PARKING = """Parking and access

Free parking for patients in the courtyard behind the clinic: enter through the gate on Mill Lane.
The clinic is on the ground floor with step-free access. Bus 14 stops at Mill Lane, two minutes away.
"""

CANCELLATION = [
    "Cancellation policy",
    "Appointments can be cancelled or moved free of charge up to 24 hours before.",
    "Later cancellations or missed appointments are charged 30 EUR.",
]


def _docx(paragraphs: list[str]) -> bytes:
    import docx  # python-docx: already a dependency of the file pipeline

    document = docx.Document()
    document.add_heading(paragraphs[0], level=1)
    for text in paragraphs[1:]:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def seed(store: GraphStore) -> None:
    """Fill an empty store with the demo business."""
    # Recent, so the mail window (KB_MAIL_WINDOW_DAYS) keeps the mails and threads in.
    store.clock = max(store.clock, datetime.now(UTC) - timedelta(days=2))
    store.user.update({
        "displayName": "Dana Reception",
        "mail": "dana@brightsmile.example",
        "userPrincipalName": "dana@brightsmile.onmicrosoft.example",
    })
    drive = store.personal_drive_id
    reception = store.folder_add(drive_id=drive, name="Reception")
    store.file_add(drive_id=drive, parent_id=reception, name="opening-hours.txt", content=HOURS.encode())
    store.file_add(drive_id=drive, parent_id=reception, name="prices.md", content=PRICES.encode())
    store.file_add(drive_id=drive, parent_id=reception, name="parking.txt", content=PARKING.encode())
    store.file_add(drive_id=drive, parent_id=reception, name="cancellation-policy.docx", content=_docx(CANCELLATION))
    private = store.folder_add(drive_id=drive, name="Private")
    store.file_add(drive_id=drive, parent_id=private, name="notes.txt", content=b"Buy a birthday present for Sam.")

    inbox = store.mail_folder_add(name="Shared inbox")
    hygienist = store.mail_add(
        folder_id=inbox, subject="New hygienist from December", content_type="text",
        sender=("Maria Owner", "maria@brightsmile.example"),
        body="Hi all,\n\nFrom 1 December our new hygienist Jonas works Tuesdays and Thursdays. "
             "Patients can book him for cleanings from now on.\n\nMaria\n-- \nMaria Owner, Bright Smile Dental",
    )
    # A file attachment (a child document of the mail) and an inline logo (skipped).
    store.attachment_add(hygienist, name="hygienist-schedule.txt", content=(
        b"Hygienist schedule from December: Jonas works Tuesdays 8 to 4 and Thursdays 10 to 6. "
        b"A cleaning with Jonas takes 45 minutes."))
    store.attachment_add(hygienist, name="logo.png", content=b"\x89PNG\r\n\x1a\n" + bytes(32), is_inline=True)
    store.mail_add(
        folder_id=inbox, subject="Re: Do you take the Kinder card?", content_type="text",
        sender=("Dana Reception", "dana@brightsmile.example"),
        body="Yes, we accept the Kinder health card for children's check-ups.\n\n"
             "On Mon, 3 Nov 2026, Pat Patient wrote:\n> Do you take the Kinder card?",
    )
    store.mail_add(
        folder_id=inbox, subject="Christmas closing", content_type="html",
        sender=("Maria Owner", "maria@brightsmile.example"),
        body="<p>The clinic is closed from 24 December to 1 January. Emergencies: 0800 555 0199.</p>",
    )

    team = store.team_add(name="Bright Smile")
    channel = store.channel_add(team_id=team, name="Front desk")
    root = store.thread_add(
        team_id=team, channel_id=channel, author_name="Maria Owner", subject="Whitening offer",
        body="<p>Whitening is 299 EUR instead of 350 EUR until the end of January.</p>",
    )
    store.reply_add(root_id=root, author_name="Sam Staff", body="<p>Noted, I'll tell callers who ask.</p>")
