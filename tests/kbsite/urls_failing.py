"""The site's URLs plus one API path whose view fails, to see what a server error looks like."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from kbsite.urls import urlpatterns as site_urlpatterns


def failing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("this view always fails")


urlpatterns = [path("api/v1/test-failing", failing_view), *site_urlpatterns]
