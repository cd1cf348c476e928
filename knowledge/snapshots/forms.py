"""Forms of the two profile pages. Shapes only: the services validate and save."""

from __future__ import annotations

from typing import Any

from django import forms

from knowledge.snapshots import profile

DAY_LABELS = {day: day.capitalize() for day in profile.WEEKDAYS}


class ProfileForm(forms.Form):
    name = forms.CharField(max_length=200, label="Business name")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="What the business is and does. No one's personal contact details.")
    address = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    phone = forms.CharField(required=False, max_length=64, help_text="The business's own public number")
    email = forms.CharField(required=False, max_length=254, label="E-mail",
                            help_text="The business's own public address")
    timezone = forms.CharField(max_length=64, initial="UTC", help_text="IANA name, e.g. Europe/Berlin")
    locale = forms.CharField(required=False, max_length=35, help_text="e.g. en-US, de-DE")
    service_area = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    exceptions = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "placeholder": "2026-12-24 | closed | Christmas Eve"}),
        help_text="One per line: date | hours (e.g. 09:00-12:00, or closed) | note",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for day in profile.WEEKDAYS:
            self.fields[f"hours_{day}"] = forms.CharField(
                required=False, label=DAY_LABELS[day], max_length=200,
                widget=forms.TextInput(attrs={"placeholder": "08:00-12:00, 13:00-17:00 (empty: closed)"}),
            )

    def day_fields(self) -> list[Any]:
        return [self[f"hours_{day}"] for day in profile.WEEKDAYS]

    @staticmethod
    def initial_from(data: dict[str, Any]) -> dict[str, Any]:
        initial = {k: v for k, v in data.items() if k not in ("opening_hours", "exceptions")}
        for day in profile.WEEKDAYS:
            initial[f"hours_{day}"] = ", ".join(data["opening_hours"].get(day) or [])
        initial["exceptions"] = "\n".join(
            f"{e['date']} | {', '.join(e['hours']) or 'closed'} | {e.get('note', '')}".rstrip(" |")
            for e in data["exceptions"]
        )
        return initial

    def as_profile(self) -> dict[str, Any]:
        """The cleaned form in the API's shape (DESIGN §10), for ``services.profile_put``."""
        c = self.cleaned_data
        data = {name: c.get(name) or "" for name in ("name", "description", "address", "phone", "email",
                                                       "timezone", "locale", "service_area")}
        data["opening_hours"] = {day: _intervals(c.get(f"hours_{day}") or "") for day in profile.WEEKDAYS}
        data["exceptions"] = [_exception(line) for line in (c.get("exceptions") or "").splitlines() if line.strip()]
        return data


def _intervals(text: str) -> list[str]:
    text = text.strip()
    if text.lower() in ("", "closed", "-"):
        return []
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def _exception(line: str) -> dict[str, Any]:
    parts = [p.strip() for p in line.split("|")]
    parts += [""] * (3 - len(parts))
    return {"date": parts[0], "hours": _intervals(parts[1]), "note": "|".join(parts[2:]).strip()}


class DirectoryEntryForm(forms.Form):
    listed = forms.BooleanField(required=False, label="Show me in the directory the assistant knows")
    display_name = forms.CharField(required=False, max_length=120, help_text="e.g. Dr. Anna Berg")
    title = forms.CharField(required=False, max_length=120, help_text="e.g. Dentist")
