"""The business profile's shape and validation (DESIGN §10). Pure: no ORM, no settings.

:func:`clean` takes the JSON a client sent (``{"name", "description", "address", "phone",
"email", "timezone", "locale", "opening_hours", "exceptions", "service_area"}``) and
returns it normalised — every weekday present, intervals as ``"HH:MM-HH:MM"`` sorted, dates
ISO — or raises :class:`ProfileError` with a message a person can act on.
:func:`personal_contacts` finds a person's contact details smuggled into the free-text
fields (the business's own phone and e-mail are allowed).
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date
from functools import lru_cache
from typing import Any

from knowledge import neutralisation

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FIELDS = ("name", "description", "address", "phone", "email", "timezone", "locale", "opening_hours",
          "exceptions", "service_area")
TEXT_LIMITS = {"name": 200, "description": 4000, "address": 500, "service_area": 1000}
FREE_TEXT = ("name", "description", "address", "service_area")
MAX_EXCEPTIONS = 100
_INTERVAL = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{5,30}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
ENTITY_WORDS = {"EMAIL": "an e-mail address", "PHONE": "a phone number", "CARD": "a payment card number",
                "IBAN": "an IBAN", "NATIONAL_ID": "a national id number", "PERSON": "a person's name"}


class ProfileError(ValueError):
    """The profile cannot be saved; the message says why."""


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _minutes(hh: str, mm: str) -> int:
    return int(hh) * 60 + int(mm)


def clean_intervals(value: Any, where: str) -> list[str]:
    """``["08:00-12:00", "13:00-17:00"]``: each "HH:MM-HH:MM" (24:00 may end a day), start
    before end, none overlapping; returned sorted."""
    if not isinstance(value, list):
        raise ProfileError(f"{where} must be a list of \"HH:MM-HH:MM\" intervals")
    spans: list[tuple[int, int, str]] = []
    for item in value:
        text = item.strip().replace("–", "-").replace(" ", "") if isinstance(item, str) else ""
        match = _INTERVAL.match(text)
        if not match:
            raise ProfileError(f"{where}: {item!r} is not a time interval \"HH:MM-HH:MM\" (e.g. \"08:00-12:00\")")
        start, end = _minutes(*match.group(1, 2)), _minutes(*match.group(3, 4))
        if end > 24 * 60 or start >= end:
            raise ProfileError(f"{where}: {item!r} must start before it ends, within one day")
        spans.append((start, end, text))
    spans.sort()
    for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise ProfileError(f"{where}: {first!r} and {second!r} overlap")
    return [text for _, _, text in spans]


def _text(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProfileError(f"{name} must be text")
    value = value.strip()
    if len(value) > limit:
        raise ProfileError(f"{name} is longer than {limit} characters")
    return value


def clean(data: dict[str, Any], *, default_name: str = "", default_timezone: str = "UTC") -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProfileError("the profile must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ProfileError(f"unknown profile field(s): {', '.join(unknown)} (allowed: {', '.join(FIELDS)})")
    out: dict[str, Any] = {name: _text(data, name, limit) for name, limit in TEXT_LIMITS.items()}
    out["name"] = out["name"] or default_name.strip()
    if not out["name"]:
        raise ProfileError("name is required")
    if "\n" in out["name"]:
        raise ProfileError("name must be one line")

    email = _text(data, "email", 254)
    if email and not _EMAIL.match(email):
        raise ProfileError(f"email {email!r} is not an e-mail address")
    out["email"] = email
    phone = _text(data, "phone", 64)
    if phone and (not _PHONE.match(phone) or sum(c.isdigit() for c in phone) < 5):
        raise ProfileError(f"phone {phone!r} is not a phone number (digits, spaces, + ( ) . / - only)")
    out["phone"] = phone

    tz = _text(data, "timezone", 64) or default_timezone
    if tz not in _timezones():
        raise ProfileError(f"timezone {tz!r} is not a known IANA time zone (e.g. Europe/Berlin, America/New_York)")
    out["timezone"] = tz
    locale = _text(data, "locale", 35)
    if locale and (not _LOCALE.match(locale) or not neutralisation.regions_for_locale(locale)):
        raise ProfileError(f"locale {locale!r} is not a language-COUNTRY locale (e.g. en-US, de-DE)")
    out["locale"] = locale

    hours = data.get("opening_hours") or {}
    if not isinstance(hours, dict):
        raise ProfileError("opening_hours must be an object with weekday keys (monday … sunday)")
    bad_days = sorted(k for k in hours if not isinstance(k, str) or k.lower() not in WEEKDAYS)
    if bad_days:
        raise ProfileError(f"opening_hours: {', '.join(map(str, bad_days))} is not a weekday (monday … sunday)")
    lowered = {k.lower(): v for k, v in hours.items()}
    if len(lowered) != len(hours):
        raise ProfileError("opening_hours names a weekday twice")
    out["opening_hours"] = {
        day: clean_intervals(lowered.get(day) or [], f"opening_hours.{day}") for day in WEEKDAYS
    }
    out["exceptions"] = clean_exceptions(data.get("exceptions") or [])
    return {name: out[name] for name in FIELDS}


def clean_exceptions(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ProfileError("exceptions must be a list of {\"date\", \"hours\", \"note\"}")
    if len(value) > MAX_EXCEPTIONS:
        raise ProfileError(f"at most {MAX_EXCEPTIONS} exceptions")
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"exceptions[{i}]"
        if not isinstance(item, dict) or set(item) - {"date", "hours", "note"}:
            raise ProfileError(f"{where} must be {{\"date\": \"YYYY-MM-DD\", \"hours\": [...], \"note\": \"...\"}}")
        raw_date = item.get("date")
        try:
            day = date.fromisoformat(raw_date) if isinstance(raw_date, str) and len(raw_date) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise ProfileError(f"{where}.date {raw_date!r} is not a date YYYY-MM-DD")
        if day.isoformat() in seen:
            raise ProfileError(f"{where}: {day.isoformat()} is listed twice")
        seen.add(day.isoformat())
        note = item.get("note") or ""
        if not isinstance(note, str) or len(note) > 200:
            raise ProfileError(f"{where}.note must be text of at most 200 characters")
        out.append({"date": day.isoformat(), "hours": clean_intervals(item.get("hours") or [], f"{where}.hours"),
                    "note": " ".join(note.split())})
    out.sort(key=lambda e: str(e["date"]))
    return out


def published_contacts(profile: dict[str, Any]) -> list[str]:
    """The business's own contact details, never neutralised: phone, e-mail, address."""
    return [profile[name] for name in ("phone", "email", "address") if profile.get(name)]


def describe(found: list[neutralisation.Found]) -> str:
    kinds = sorted({f.entity for f in found})
    return " and ".join(ENTITY_WORDS.get(k, k.lower()) for k in kinds)


def personal_contacts(profile: dict[str, Any], *, regions: tuple[str, ...]) -> str:
    """Why the free-text fields cannot be published ("" when they can): a person's e-mail,
    phone, card, IBAN or national id in them. The profile's own phone and e-mail are allowed."""
    allow = published_contacts(profile)
    texts = [(name, profile.get(name) or "") for name in FREE_TEXT]
    texts += [(f"exceptions[{i}].note", e.get("note") or "") for i, e in enumerate(profile.get("exceptions") or [])]
    for name, text in texts:
        found = neutralisation.detect(text, regions=regions, allow=allow) if text else []
        if found:
            return (f"{name} contains {describe(found)} that is not the business's own published contact: "
                    "a person's contact details cannot go into the business profile (put the business's own "
                    "phone and e-mail in the phone and email fields)")
    return ""
