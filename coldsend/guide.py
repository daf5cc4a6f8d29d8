"""The API guide (docs/api.md), served as plain text so the OpenAPI description can link it."""

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

GUIDE = "docs/api.md"


class APIGuideView(APIView):
    """Public like the schema and the docs: no key, no scope, no rate limit."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        text = (settings.BASE_DIR / GUIDE).read_text(encoding="utf-8")
        return HttpResponse(text, content_type="text/plain; charset=utf-8")
