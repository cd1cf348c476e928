"""The connections pages, under /kb/connections/ in the site's "kb" page namespace, and the
providers' callback (``{KB_PUBLIC_URL}/connections/callback/{provider}``, no trailing slash:
it is the redirect URI registered with each provider)."""

from __future__ import annotations

from django.urls import path

from connections import views

urlpatterns = [
    path("connections/", views.connection_list, name="connections"),
    path("connections/connect/<str:provider>", views.connect, name="connection_connect"),
    path("connections/<int:pk>/", views.connection_detail, name="connection"),
    path("connections/<int:pk>/roots/", views.connection_roots, name="connection_roots"),
    path("connections/<int:pk>/runs/", views.connection_runs, name="connection_runs"),
    path("connections/<int:pk>/sources/", views.connection_sources, name="connection_sources"),
    path("connections/<int:pk>/sync/", views.connection_sync, name="connection_sync"),
    path("connections/<int:pk>/disconnect/", views.connection_disconnect, name="connection_disconnect"),
]

callback_urlpatterns = [
    path("connections/callback/<str:provider>", views.callback, name="connections_callback"),
]
