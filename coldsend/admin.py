"""What the admins of several apps share."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse

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
