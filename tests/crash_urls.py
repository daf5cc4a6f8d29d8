"""The real URLs plus two views that fail, to see what a server error looks like to a client."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from coldsend.urls import handler400, handler403, handler404, handler500
from coldsend.urls import urlpatterns as app_urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class CrashingAPIView(APIView):
    required_scopes = ()

    def get(self, request: Request) -> Response:
        return Response({"ratio": 1 / 0})


def crashing_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(1 / 0))


urlpatterns = [
    path("api/public/v1/crash", CrashingAPIView.as_view()),
    path("crash-outside-the-api", crashing_view),
    *app_urlpatterns,
]
