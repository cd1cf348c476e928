"""The recall audit pages, under /kb/audit/ in the site's "kb" page namespace (kbsite/urls.py
puts every app's pages there, so the names stay ``kb:audit_list`` and ``kb:audit_detail``)."""

from __future__ import annotations

from django.urls import path

from audit import views

urlpatterns = [
    path("audit/", views.recall_list, name="audit_list"),
    path("audit/<int:pk>/", views.recall_detail, name="audit_detail"),
]
