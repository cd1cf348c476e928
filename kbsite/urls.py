from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from audit import urls as audit_urls
from connections import urls as connections_urls
from kbsite.api import api
from kbsite.login import ThrottledAdminAuthenticationForm, ThrottledAuthenticationForm
from knowledge import urls as knowledge_urls

# Every browser page lives under /kb/ in one namespace, "kb": each app brings its own patterns.
kb_pages = [*knowledge_urls.urlpatterns, *audit_urls.urlpatterns, *connections_urls.urlpatterns]

# Both login pages count failures and refuse while throttled (kbsite/login.py).
admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="kb:files", permanent=False)),
    # Tenant members need not be Django staff: a plain login page in the admin's look.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="admin/login.html",
            authentication_form=ThrottledAuthenticationForm,
            extra_context={"site_header": admin.site.site_header, "site_title": admin.site.site_title},
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("kb/", include((kb_pages, "kb"))),
    *connections_urls.callback_urlpatterns,
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
