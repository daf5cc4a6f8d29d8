from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from coldsend.urls import urlpatterns as app_urlpatterns
from inbound.views import pixel_response
from workspaces.models import Workspace


class BaselineView(APIView):
    """No authentication, one indexed query: the floor the authenticated `me` is compared to."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request: Request) -> Response:
        workspace = Workspace.objects.filter(slug="bench").values("slug", "name").first()
        return Response(workspace)


def plain_pixel(request: HttpRequest) -> HttpResponse:
    """The open pixel's answer with no work at all: the floor GET /o/TOKEN.gif is compared to."""
    return pixel_response()


urlpatterns = [
    path("bench/baseline", BaselineView.as_view()),
    path("bench/pixel.gif", plain_pixel),
    *app_urlpatterns,
]
