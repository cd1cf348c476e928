"""The erasure receipts page, in the site's "kb" page namespace (``kb:erasures``)."""

from __future__ import annotations

from django.urls import path

from knowledge.erasure import views

urlpatterns = [
    path("erasure/", views.receipts, name="erasures"),
]
