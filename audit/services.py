"""Writing the audit trail: who (an Actor) did what (an action) to which object.

Callers say who acts: the API passes the request's key (`Actor.for_key`), the admin its user
(`Actor.for_user`), commands `Actor.command(name)`, the sending engine `ENGINE`."""

from dataclasses import dataclass
from typing import Any

from django.db import models

from audit.models import AuditEvent

Action = AuditEvent.Action
ActorType = AuditEvent.ActorType


@dataclass(frozen=True)
class Actor:
    type: ActorType
    name: str

    @classmethod
    def for_key(cls, key: Any) -> "Actor":
        """An API key, by its public prefix (never the secret)."""
        return cls(ActorType.API_KEY, key.prefix)

    @classmethod
    def for_user(cls, user: Any) -> "Actor":
        return cls(ActorType.ADMIN_USER, user.get_username())

    @classmethod
    def command(cls, name: str) -> "Actor":
        return cls(ActorType.COMMAND, name)


ENGINE = Actor(ActorType.ENGINE, "engine")


def record(
    actor: Actor,
    action: Action,
    obj: models.Model,
    *,
    extra: dict[str, Any] | None = None,
    object_id: Any = None,
) -> AuditEvent:
    """Write one audit row about `obj` (its workspace is the row's). Call it inside the change's
    transaction, so the row exists exactly when the change does. `object_id` names an object
    already deleted (whose pk Django has cleared). `extra` must never hold a secret."""
    workspace_id = getattr(obj, "workspace_id", None)
    if workspace_id is None and obj._meta.model_name == "workspace":
        workspace_id = obj.pk
    return AuditEvent.objects.create(
        workspace_id=workspace_id,
        actor_type=actor.type,
        actor=actor.name[:150],
        action=action,
        object_type=obj._meta.model_name,
        object_id=str(object_id if object_id is not None else obj.pk),
        extra=extra or {},
    )
