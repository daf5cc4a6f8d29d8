"""Key changes made by someone (an admin user, a command): each writes an audit row, which
names the key by its prefix and never holds the secret."""

from datetime import datetime

from django.db import transaction

from apikeys.models import APIKey
from apikeys.scopes import parse_scopes
from audit.services import Action, Actor, record
from workspaces.models import Workspace


def issue_api_key(key: APIKey, *, actor: Actor) -> str:
    """Save a new, unsaved key with a fresh secret; return the raw key (shown once)."""
    with transaction.atomic():
        raw = key.save_with_new_secret()
        extra = {
            "name": key.name,
            "prefix": key.prefix,
            "scopes": key.scopes,
            "expires_at": key.expires_at,
        }
        record(actor, Action.API_KEY_CREATED, key, extra=extra)
    return raw


def create_api_key(
    *,
    workspace: Workspace,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    actor: Actor,
) -> tuple[APIKey, str]:
    key = APIKey(workspace=workspace, name=name, scopes=parse_scopes(scopes), expires_at=expires_at)
    return key, issue_api_key(key, actor=actor)


def revoke_api_key(key: APIKey, *, actor: Actor) -> bool:
    """Revoke the key (audited); False when it was already revoked."""
    with transaction.atomic():
        revoked = key.revoke()
        if revoked:
            extra = {"name": key.name, "prefix": key.prefix}
            record(actor, Action.API_KEY_REVOKED, key, extra=extra)
    return revoked
