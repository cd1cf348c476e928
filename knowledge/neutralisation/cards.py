"""Payment card numbers: 12–19 digits, a card network's prefix, Luhn-valid.

Presidio's own card pattern misses Mastercard's 2-series (2221–2720) and 18–19 digit
numbers (Visa, Maestro, UnionPay), so this one replaces it. A number is a card when it
is written as one run of digits or in the usual groups (4-4-4-4[-3], Amex 4-6-5,
Diners 4-6-4), starts with a network prefix (2221–2720, 3, 4, 5, 6) and passes Luhn.
"""

from __future__ import annotations

import re

_CANDIDATE = re.compile(
    r"(?<![\w\-./])"
    r"(?:\d{12,19}"
    r"|\d{4}(?:[ \-]\d{4}){2}(?:[ \-]\d{1,4}(?:[ \-]\d{1,3})?)?"
    r"|\d{4}[ \-]\d{6}[ \-]\d{4,5})"
    r"(?![\w]|[\-./]\d)"
)
_SEPARATORS = re.compile(r"[ \-]")


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def network_prefix_ok(digits: str) -> bool:
    first = digits[0]
    if first in "3456":
        return True
    if digits[:4] in ("1800", "2131"):  # JCB's old 15-digit ranges
        return True
    return first == "2" and 2221 <= int(digits[:4]) <= 2720


def is_card(value: str) -> bool:
    digits = _SEPARATORS.sub("", value)
    return 12 <= len(digits) <= 19 and network_prefix_ok(digits) and luhn_ok(digits)


def find(text: str) -> list[tuple[int, int]]:
    """All card numbers in ``text`` as (start, end)."""
    return [(m.start(), m.end()) for m in _CANDIDATE.finditer(text) if is_card(m.group(0))]
