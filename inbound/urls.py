"""Public tracking and unsubscribe links, outside the API base path (API.md §8)."""

from django.urls import path, re_path

from inbound import views

urlpatterns = [
    re_path(r"^o/(?P<token>[^/]+)\.gif$", views.open_pixel, name="tracking-open"),
    path("c/<str:token>", views.click, name="tracking-click"),
    path("u/<str:token>", views.unsubscribe, name="tracking-unsubscribe"),
]
