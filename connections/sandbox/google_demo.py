"""The demo business of the Google sandbox account: Bright Smile Dental's Drive with a
"Reception" folder (the opening hours as a Google Doc, the prices as a Google Sheet, the
parking note as a plain file, a "Staff rota" Slides deck), a "Private" folder, a shared
drive "Clinic handbook", and Gmail with a "Front desk" label holding a few mails.

The same texts as the Microsoft sandbox (demo.py), so a newcomer can ask the retrieval test
page the same questions whichever account they connect.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connections.sandbox import demo
from connections.sandbox.google_store import GoogleStore

PRICES_CSV = """Treatment,Price
Check-up and cleaning,85 EUR
Filling (composite),120 EUR
Teeth whitening (in clinic),350 EUR
Emergency appointment,60 EUR
Children under 12: check-up,free of charge
"""


def seed(store: GoogleStore) -> None:
    """Fill an empty store with the demo business."""
    store.clock = max(store.clock, datetime.now(UTC) - timedelta(days=2))
    reception = store.folder_add(name="Reception")
    store.doc_add(name="Opening hours", text=demo.HOURS, parent_id=reception)
    store.doc_add(name="Prices 2026", text=PRICES_CSV, parent_id=reception, kind="spreadsheet")
    store.file_add(name="parking.txt", content=demo.PARKING.encode(), parent_id=reception)
    store.doc_add(name="Cancellation policy", text="\n\n".join(demo.CANCELLATION), parent_id=reception)
    private = store.folder_add(name="Private")
    store.file_add(name="notes.txt", content=b"Buy a birthday present for Sam.", parent_id=private)
    handbook = store.shared_drive_add(name="Clinic handbook")
    store.doc_add(name="Hygiene rules", text="Instruments are sterilised after every patient.", parent_id=handbook)

    front = store.label_add(name="Front desk")
    store.mail_add(
        labels=["INBOX", front], subject="New hygienist from December", sender=("Maria Owner", "maria@brightsmile.example"),
        body="Hi all,\n\nFrom 1 December our new hygienist Jonas works Tuesdays and Thursdays. "
             "Patients can book him for cleanings from now on.\n\nMaria\n-- \nMaria Owner, Bright Smile Dental",
    )
    store.mail_add(
        labels=["INBOX", front], subject="Re: Do you take the Kinder card?",
        sender=("Dana Reception", "dana@brightsmile.example"),
        body="Yes, we accept the Kinder health card for children's check-ups.\n\n"
             "On Mon, 3 Nov 2026, Pat Patient wrote:\n> Do you take the Kinder card?",
    )
    store.mail_add(
        labels=["INBOX", front], subject="Christmas closing", html=True,
        sender=("Maria Owner", "maria@brightsmile.example"),
        body="<p>The clinic is closed from 24 December to 1 January. Emergencies: 0800 555 0199.</p>",
    )
    store.mail_add(labels=["INBOX"], subject="Your invoice", body="Invoice 2026-11 for dental supplies: 412 EUR.",
                   sender=("Supplies Ltd", "billing@supplies.example"))
