"""Renderers: allow-listed facts → short Markdown documents written for the assistant.

Pure (no ORM, no settings, no clock): each takes the canonical facts a service built from
the allowed fields (``fields.project``) and returns the text that is ingested. The same
facts always give the same text, and :func:`canonical_sha256` of the facts is the
snapshot's version.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")


def canonical_sha256(data: Any) -> str:
    """sha256 of canonical JSON: sorted keys, no insignificant whitespace, text as given."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _clock(hhmm: str) -> str:
    """'08:00' → '8:00' (as people say it)."""
    hours, minutes = hhmm.split(":")
    return f"{int(hours)}:{minutes}"


def _interval(value: str) -> str:
    start, end = value.split("-")
    return f"{_clock(start)}–{_clock(end)}"


def _intervals(values: list[str]) -> str:
    parts = [_interval(v) for v in values]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def long_date(iso: str) -> str:
    """'2026-12-24' → 'Thursday 24 December 2026'."""
    day = date.fromisoformat(iso)
    return f"{WEEKDAY_NAMES[day.weekday()]} {day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_profile(facts: dict[str, Any]) -> str:
    """The business profile: who it is, when it is open (every weekday named), exceptions,
    address and contact, service area."""
    name = _one_line(facts["name"])
    hours: dict[str, list[str]] = facts["opening_hours"]
    lines = [f"# {name}", ""]
    if facts.get("description"):
        lines += [facts["description"].strip(), ""]
    lines += ["## Opening hours", ""]
    open_days = [(day, hours.get(day.lower()) or []) for day in WEEKDAY_NAMES]
    if any(h for _, h in open_days):
        summary = "; ".join(f"{day} {_intervals(h)}" for day, h in open_days if h)
        closed = [day for day, h in open_days if not h]
        sentence = f"{name} is open {summary}"
        if closed:
            sentence += "; closed on " + (closed[0] if len(closed) == 1 else ", ".join(closed[:-1]) + " and " + closed[-1])
        lines += [sentence + ".", ""]
        for day, h in open_days:
            lines.append(f"- {day}: open {_intervals(h)}" if h else f"- {day}: closed, not open")
        tz = facts.get("timezone") or ""
        lines += ["", f"Times are local time ({tz})." if tz else "Times are local time."]
    else:
        lines.append(f"{name} has not published its opening hours.")
    exceptions = facts.get("exceptions") or []
    if exceptions:
        lines += ["", "## Exceptions to the opening hours", ""]
        for item in exceptions:
            note = _one_line(item.get("note") or "")
            when = long_date(item["date"])
            what = f"open only {_intervals(item['hours'])}" if item.get("hours") else "closed"
            lines.append(f"- {when}: {name} is {what}" + (f" ({note})" if note else "") + ".")
    contact = []
    if facts.get("address"):
        contact.append(f"The address of {name} is {_one_line(facts['address'])}.")
    if facts.get("phone"):
        contact.append(f"The phone number of {name} is {facts['phone']}.")
    if facts.get("email"):
        contact.append(f"The e-mail address of {name} is {facts['email']}.")
    if contact:
        lines += ["", "## Address and contact", "", *contact]
    if facts.get("service_area"):
        lines += ["", "## Service area", "", f"{name} serves {_one_line(facts['service_area'])}."]
    return "\n".join(lines).strip() + "\n"


def render_directory(facts: dict[str, Any]) -> str:
    """Members who opted in: display name and title, nothing else."""
    business = _one_line(facts["business"])
    lines = [f"# People at {business}", "", f"These people work at {business}:", ""]
    for person in facts["people"]:
        title = _one_line(person.get("title") or "")
        lines.append(f"- {_one_line(person['display_name'])}" + (f", {title}" if title else ""))
    return "\n".join(lines) + "\n"


def render_sources(facts: dict[str, Any]) -> str:
    """One line per connection source shared with the assistant: provider, account label, source."""
    business = _one_line(facts["business"])
    lines = [f"# Connected sources of {business}", "",
             f"The assistant knows content from these sources of {business}:", ""]
    for item in facts["sources"]:
        account = _one_line(item.get("account_label") or "")
        where = f"{item['provider']} account {account}" if account else f"a {item['provider']} account"
        kind = _one_line(item.get("surface") or "source")
        lines.append(f"- {kind} “{_one_line(item['source_label'])}” from {where}")
    return "\n".join(lines) + "\n"
