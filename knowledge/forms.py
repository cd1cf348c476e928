"""Forms for the browser pages. They validate shapes only; every write goes through a service."""

from __future__ import annotations

from typing import Any

from django import forms

from knowledge import models


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that accepts several files (Django's documented pattern)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True, "id": "kb-file-input"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple) and data:
            return [single(item, initial) for item in data]
        return [single(data or None, initial)]


class UploadForm(forms.Form):
    uploads = MultipleFileField(label="Files")
    kind = forms.ChoiceField(
        choices=models.Kind.choices,
        initial=models.Kind.KNOWLEDGE,
        help_text="Policy: rules the assistant always follows. Knowledge: facts it looks up.",
    )
    auto_ingest = forms.BooleanField(required=False, initial=True, label="Ingest right away")
    scope = forms.ChoiceField(
        choices=[(models.DocScope.TENANT, "Shared with the tenant"), (models.DocScope.PERSONAL, "Personal (only me)")],
        initial=models.DocScope.TENANT,
        required=False,
        label="Who sees it",
        help_text="A personal document is found only for your own questions (DESIGN §5).",
    )


STATUS_CHOICES = [("", "All statuses"), *models.DocStatus.choices]
KIND_CHOICES = [("", "All kinds"), *models.Kind.choices]


class FileFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search",
                        widget=forms.TextInput(attrs={"placeholder": "Name or error…", "type": "search"}))
    kind = forms.ChoiceField(required=False, choices=KIND_CHOICES)
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES)


JOB_STATUS_CHOICES = [("", "All statuses"), *models.JobStatus.choices]


class JobFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=JOB_STATUS_CHOICES)


class RetrievalTestForm(forms.Form):
    query = forms.CharField(
        max_length=2000,
        label="Caller says",
        widget=forms.TextInput(attrs={"placeholder": "e.g. are you open on saturdays?", "autofocus": True,
                                      "size": 60}),
    )
    top_k = forms.IntegerField(min_value=1, max_value=50, initial=5, label="Top k")
    session_id = forms.CharField(max_length=200, required=False, label="Session id")


class RetrievalSwitchForm(forms.Form):
    """The tenant's retrieval override, as a tenant admin sets it on the retrieval test page."""

    CHOICES = {"on": True, "off": False, "default": None}

    retrieval = forms.ChoiceField(
        choices=[("on", "On"), ("off", "Off"), ("default", "Follow the global default")],
        widget=forms.RadioSelect,
        label="Retrieval for this tenant",
    )

    @classmethod
    def value_of(cls, enabled: bool | None) -> str:
        return next(key for key, value in cls.CHOICES.items() if value is enabled)

    def enabled(self) -> bool | None:
        return self.CHOICES[self.cleaned_data["retrieval"]]


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, required=False,
                           widget=forms.TextInput(attrs={"placeholder": "e.g. voice router"}))
    scopes = forms.MultipleChoiceField(
        choices=models.Scope.choices,
        initial=[models.Scope.RETRIEVE],
        widget=forms.CheckboxSelectMultiple,
    )


class TenantSwitchForm(forms.Form):
    tenant = forms.IntegerField()


# --- Admin: PII neutralisation settings ---------------------------------------------------------

KIND_FIELD_PREFIX = "neutralise_"


class NeutralisationSettingsForm(forms.ModelForm):
    """The tenant's PII neutralisation settings: one default/on/off choice per source kind
    (packed into ``source_kinds``), published contacts one per line. The admin saves it
    through ``services.neutralisation_settings_update``."""

    published_contacts_text = forms.CharField(
        label="Published contacts", required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The business's own phone numbers, e-mail addresses and address, one per line: never neutralised.",
    )

    class Meta:
        model = models.NeutralisationSettings
        fields = ("tenant", "locale", "person_names")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        overrides = self.instance.source_kinds if isinstance(self.instance.source_kinds, dict) else {}
        for kind in models.SourceKind.values:
            value = overrides.get(kind)
            self.fields[KIND_FIELD_PREFIX + kind].initial = "" if value is None else ("on" if value else "off")
        contacts = self.instance.published_contacts if isinstance(self.instance.published_contacts, list) else []
        self.fields["published_contacts_text"].initial = "\n".join(str(c) for c in contacts)

    def clean_locale(self) -> str:
        from knowledge.ingestion import neutralise

        locale = str(self.cleaned_data.get("locale") or "").strip()
        error = neutralise.locale_error(locale)
        if error:
            raise forms.ValidationError(error)
        return locale

    def source_kinds(self) -> dict[str, bool]:
        chosen = {kind: self.cleaned_data.get(KIND_FIELD_PREFIX + kind, "") for kind in models.SourceKind.values}
        return {kind: value == "on" for kind, value in chosen.items() if value in ("on", "off")}

    def published_contacts(self) -> list[str]:
        text = self.cleaned_data.get("published_contacts_text") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


def _add_source_kind_fields() -> None:
    # Declared on the class (not in __init__) so the admin's fieldsets know them.
    from knowledge.ingestion import neutralise

    for kind, label in models.SourceKind.choices:
        default = "on" if neutralise.default_enabled(kind) else "off"
        field = forms.ChoiceField(
            label=f"{label} sources", required=False,
            choices=[("", f"default ({default})"), ("on", "on"), ("off", "off")],
        )
        NeutralisationSettingsForm.base_fields[KIND_FIELD_PREFIX + kind] = field
        NeutralisationSettingsForm.declared_fields[KIND_FIELD_PREFIX + kind] = field


_add_source_kind_fields()
