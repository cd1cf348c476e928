"""Entity type names and their placeholders (no heavy imports: safe to import anywhere)."""

from __future__ import annotations

EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
IBAN = "IBAN"
NATIONAL_ID = "NATIONAL_ID"
PERSON = "PERSON"

ALWAYS = (EMAIL, PHONE, CARD, IBAN, NATIONAL_ID)
PLACEHOLDERS = {entity: f"<{entity}>" for entity in (*ALWAYS, PERSON)}

# When spans of different types overlap, the higher score wins (then the longer span):
# a checksum-validated IBAN or card beats a phone number read out of its digits.
# A national id's check (NIR's mod 97, a DNI's letter) is stronger than Luhn's one in ten.
SCORES = {IBAN: 1.0, NATIONAL_ID: 0.995, CARD: 0.99, EMAIL: 0.96, PHONE: 0.9, PERSON: 0.6}
