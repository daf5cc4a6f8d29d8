"""Writes to the workspace's suppression list: addresses no campaign of the workspace sends to
again. Who lifts one is audited by the action that calls `lift` (delivery/actions.py)."""

import uuid

from coldsend.core import clock
from engagement.models import Suppression
from workspaces.models import Workspace


def suppress(
    workspace: Workspace | uuid.UUID,
    email: str,
    reason: str,
    source: str = Suppression.Source.UNKNOWN,
) -> None:
    """No campaign of the workspace sends to `email` again (idempotent; the first reason and
    source stay). `source` says how we learnt it (Suppression.Source)."""
    workspace_id = workspace.pk if isinstance(workspace, Workspace) else workspace
    Suppression.objects.get_or_create(
        workspace_id=workspace_id,
        email=email.strip().lower(),
        defaults={"reason": reason, "source": source, "created_at": clock.now()},
    )


def lift(suppression: Suppression) -> bool:
    """Delete the suppression; False when it was already gone."""
    deleted, _ = Suppression.objects.filter(pk=suppression.pk).delete()
    return bool(deleted)
