"""Person names, heuristically (off by default).

With the ``no_op`` NLP engine there is no named-entity model, so names are found only
where mail and task text announces them: after a salutation or title ("Dear Anna Weber",
"Mr. Smith", "Sehr geehrte Frau Müller", "Bonjour Mme Durand", "Hola Sr. García") and
as the line after a sign-off ("Kind regards,\\nAnna Weber"). Names anywhere else are
left alone — this is a helper for the obvious cases, not a name detector.
"""

from __future__ import annotations

import re

_WORD = r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’\-]+(?:-[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’]+)?"
_PARTICLE = r"(?:van der|van den|van de|van|von|de la|de|del|della|di|da|le|la|du|ten|ter)"
_NAME = rf"{_WORD}(?:[ ](?:{_PARTICLE}[ ])?{_WORD}){{0,2}}"

_TITLES = (
    r"Dear|Hi|Hello|Hey|Mr\.?|Mrs\.?|Ms\.?|Miss|Dr\.?|Prof\.?"
    r"|Herr|Frau|Liebe|Lieber|Hallo|Sehr geehrte|Sehr geehrter"
    r"|Monsieur|Madame|Mme\.?|Mlle\.?|M\.|Bonjour|Cher|Chère"
    r"|Señor|Señora|Sr\.|Sra\.|Estimado|Estimada|Hola"
    r"|Beste|Geachte|Dhr\.?|Mevr\.?|Mevrouw|Meneer"
    r"|Gentile|Caro|Cara|Sig\.|Sig\.ra|Signor|Signora|Dott\.?|Ciao"
)
_AFTER_TITLE = re.compile(rf"\b(?:{_TITLES})[ ]+(?:(?:Herr|Frau|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|Mme|Sr\.|Sra\.|Dhr\.|Mevr\.|Sig\.(?:ra)?)[ ]+)?(?P<name>{_NAME})")
_SIGN_OFFS = (
    r"Regards|Kind regards|Best regards|Best|Thanks|Thank you|Cheers|Sincerely|Yours"
    r"|Viele Grüße|Mit freundlichen Grüßen|Beste Grüße|Gruß|Grüße"
    r"|Cordialement|Bien à vous|Saludos|Un saludo|Atentamente"
    r"|Met vriendelijke groet|Groeten|Cordiali saluti|Saluti|Distinti saluti"
)
_AFTER_SIGN_OFF = re.compile(rf"(?:{_SIGN_OFFS}),?[ ]*\n[ ]*(?P<name>{_NAME})[ ]*(?:\n|$)")

# Words that follow a salutation but are not names.
_NOT_NAMES = frozenset({"Team", "All", "There", "Everyone", "Sir", "Madam", "Customer", "Support",
                        "Kunde", "Kundin", "Damen", "Tous", "Todos", "Allemaal", "Tutti"})


def find(text: str) -> list[tuple[int, int]]:
    """Spans of names announced by a salutation, title or sign-off."""
    spans: list[tuple[int, int]] = []
    for pattern in (_AFTER_TITLE, _AFTER_SIGN_OFF):
        for match in pattern.finditer(text):
            name = match.group("name")
            if name.split(" ")[0] in _NOT_NAMES:
                continue
            spans.append((match.start("name"), match.end("name")))
    return spans
