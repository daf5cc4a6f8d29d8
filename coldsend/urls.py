from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from apikeys.views import MeView
from coldsend.api import errors
from coldsend.guide import APIGuideView

public_v1 = [
    re_path(r"^me/?$", MeView.as_view(), name="me"),
    re_path(r"^schema/?$", SpectacularJSONAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(
        r"^redoc/?$",
        SpectacularRedocView.as_view(url_name="schema", template_name="coldsend/redoc.html"),
        name="redoc",
    ),
    re_path(r"^guide/?$", APIGuideView.as_view(), name="guide"),
    re_path(r"^guide/sending/?$", APIGuideView.as_view(guide="sending"), name="guide-sending"),
    re_path(r"^guide/webhooks/?$", APIGuideView.as_view(guide="webhooks"), name="guide-webhooks"),
    path("", include("campaigns.urls")),
    path("", include("sender_accounts.urls")),
    path("", include("leads.urls")),
    path("", include("events.urls")),
    path("", include("webhooks.urls")),
]

# The admin's "View site" link leads to the API docs (the service has no other web pages).
admin.site.site_url = "/api/public/v1/docs"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/public/v1/", include(public_v1)),
    # Any other API path: the JSON 404 from a view, so DEBUG's HTML page never answers it.
    re_path(r"^api/public/v1(?:/|$)", errors.api_not_found),
    path("", include("inbound.urls")),
]

handler400 = errors.bad_request
handler403 = errors.forbidden
handler404 = errors.not_found
handler500 = errors.server_error
