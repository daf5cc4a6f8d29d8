from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.models import Workspace
from coldsend.urls import urlpatterns as app_urlpatterns


class BaselineView(APIView):
    """No authentication, one indexed query: the floor the authenticated `me` is compared to."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request: Request) -> Response:
        workspace = Workspace.objects.filter(slug="bench").values("slug", "name").first()
        return Response(workspace)


urlpatterns = [path("bench/baseline", BaselineView.as_view()), *app_urlpatterns]
