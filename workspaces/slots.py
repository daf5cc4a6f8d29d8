"""A workspace's places for slow outside calls made on a request's behalf (API.md §7: at most 2
connection checks or test sends at once per workspace). Rows in the database, so the limit holds
across web processes and machines; a holder that dies frees its place when `held_until`
passes."""

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db.models import Q

from coldsend.core import clock
from workspaces.models import Slot, Workspace


class NoSlot(Exception):
    """Every place is taken: the caller answers 429."""


@contextmanager
def hold(
    workspace: Workspace | uuid.UUID, kind: str, *, limit: int, seconds: float
) -> Iterator[None]:
    """Hold one of the workspace's `limit` places of `kind` for at most `seconds` (NoSlot when
    all are taken), freed on exit."""
    workspace_id = getattr(workspace, "pk", workspace)
    Slot.objects.bulk_create(
        [Slot(workspace_id=workspace_id, kind=kind, number=n) for n in range(limit)],
        ignore_conflicts=True,
    )
    now, holder = clock.now(), secrets.token_hex(16)
    free = Q(held_until__isnull=True) | Q(held_until__lt=now)
    places = Slot.objects.filter(workspace_id=workspace_id, kind=kind, number__lt=limit)
    for number in range(limit):
        taken = places.filter(free, number=number).update(
            held_until=now + timedelta(seconds=seconds), holder=holder
        )
        if taken:
            break
    else:
        raise NoSlot
    try:
        yield
    finally:
        Slot.objects.filter(holder=holder).update(held_until=None, holder="")
