"""What the admins of several apps share."""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from cryptography.fernet import Fernet, InvalidToken
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect

from audit.services import Actor
from coldsend.core.errors import Conflict, NotFound


class DeleteThroughServiceMixin:
    """For a ModelAdmin: deletes go through `delete_service(obj, actor=…)`, the same function the
    API calls (its rules, its lock, its audit row), one object at a time for bulk deletes too."""

    delete_service: Callable[..., None]

    def delete_refusals(self, obj: Any) -> list[str]:
        """Why the service would refuse to delete `obj` (nothing: it may be deleted)."""
        return []

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """Refusals show as protected objects, so the admin refuses up front."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        for obj in objs:
            protected.extend(self.delete_refusals(obj))
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        try:
            type(self).delete_service(obj, actor=Actor.for_user(request.user))
        except Conflict as conflict:  # lost a race after the confirmation page
            messages.error(request, f"{obj}: {conflict.detail}")
        except NotFound:
            pass  # already deleted by someone else

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class RefusalAnswerMixin:
    """For a ModelAdmin whose add/change form can be refused from inside its transaction (the
    edit is then rolled back): `refusals` are the exceptions, `answer_refusal` what the user
    gets instead of a server error."""

    refusals: tuple[type[Exception], ...] = ()

    def answer_refusal(self, request: HttpRequest, refusal: Exception) -> HttpResponse:
        raise NotImplementedError

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except self.refusals as refusal:
            return self.answer_refusal(request, refusal)


class ButtonViewMixin:
    """For a ModelAdmin with buttons that POST to a view of their own (activate, check, send a
    test): the checks every such view makes first."""

    def posted_object(self, request: HttpRequest, object_id: str) -> Model | HttpResponse:
        """POST only, an object that exists, the user's change permission: the object, or the
        answer to give instead (405, or the admin's "does not exist" redirect); PermissionDenied
        without the permission."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj


# A secret shown once after its creation (an API key, a webhook's signing secret): post/redirect/
# get, the session keeping it only encrypted under a one-time Fernet key that travels in the
# redirect's URL alone, so neither the session table nor the URL holds it, and the first GET of
# the page that shows it removes the ciphertext.
SHOW_ONCE_SECONDS = 600


def redirect_to_show_once(
    request: HttpRequest, session_key: str, secret: str, url: str
) -> HttpResponseRedirect:
    one_time_key = Fernet.generate_key()
    request.session[session_key] = Fernet(one_time_key).encrypt(secret.encode()).decode()
    return HttpResponseRedirect(f"{url}?{urlencode({'k': one_time_key.decode()})}")


def take_shown_once(request: HttpRequest, session_key: str) -> str | None:
    """The secret on the first GET within SHOW_ONCE_SECONDS; None afterwards (a reload), or
    with a wrong one-time key."""
    encrypted = request.session.pop(session_key, None)
    if encrypted is None:
        return None
    try:
        one_time = Fernet(request.GET.get("k", "").encode())
        return one_time.decrypt(encrypted, ttl=SHOW_ONCE_SECONDS).decode()
    except (InvalidToken, ValueError):
        return None
