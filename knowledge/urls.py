"""The knowledge pages under /kb/ (namespace "kb"; kbsite/urls.py adds the other apps' pages to it)."""

from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from knowledge import views
from knowledge.erasure import urls as erasure_urls
from knowledge.snapshots import views as snapshot_views

app_name = "kb"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="kb:files", permanent=False), name="home"),
    path("tenant/", views.tenant_switch, name="tenant_switch"),
    path("files/", views.files, name="files"),
    path("files/upload/", views.upload, name="upload"),
    path("files/<int:pk>/", views.document_detail, name="document"),
    path("files/<int:pk>/ingest/", views.document_ingest, name="document_ingest"),
    path("files/<int:pk>/retry/", views.document_retry, name="document_retry"),
    path("files/<int:pk>/delete/", views.document_delete, name="document_delete"),
    path("files/<int:pk>/download/", views.document_download, name="document_download"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/<int:pk>/retry/", views.job_retry, name="job_retry"),
    path("retrieval-test/", views.retrieval_test, name="retrieval_test"),
    path("retrieval-test/switch/", views.retrieval_switch, name="retrieval_switch"),
    path("keys/", views.keys, name="keys"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="key_revoke"),
    path("profile/", snapshot_views.business_profile, name="profile"),
    path("me/", snapshot_views.my_profile, name="me"),
    *erasure_urls.urlpatterns,
]
