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
