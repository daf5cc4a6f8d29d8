from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.serializers import MeSerializer


class MeView(APIView):
    """The key making the request: its name, prefix, workspace, scopes and expiry."""

    required_scopes = ()
    http_method_names = ["get", "head"]  # OPTIONS too answers 405, as on every other API path

    @extend_schema(responses=MeSerializer, operation_id="me_retrieve")
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.auth).data)
