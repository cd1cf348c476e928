"""Forms of the recall audit pages. They validate shapes only; the pages are read-only."""

from __future__ import annotations

from django import forms


class AuditFilterForm(forms.Form):
    date_from = forms.DateField(required=False, label="From",
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(required=False, max_length=200, label="Query or caller",
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "text or caller"}))
    session = forms.CharField(required=False, max_length=200, label="Session id",
                              widget=forms.TextInput(attrs={"placeholder": "exact session id"}))
