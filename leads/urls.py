from django.urls import re_path

from coldsend.api.routers import api_router
from leads import import_views, views

router = api_router()
router.register("leads", views.LeadViewSet, basename="lead")

urlpatterns = [
    re_path(r"^leads/import/?$", import_views.LeadImportView.as_view(), name="lead-import"),
    *router.urls,
]
