import logging
import secrets
import uuid
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, models, transaction
from django.utils import timezone

from apikeys import keys
from apikeys.scopes import KNOWN_SCOPES, parse_scopes
from workspaces.models import Workspace, WorkspaceQuerySet

logger = logging.getLogger("apikeys")


class KeyRejected(Exception):
    """The presented key is unknown, revoked or expired; `reason` is the client-facing text."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


INVALID_KEY = "Invalid or revoked API key"
EXPIRED_KEY = "API key expired"


class APIKeyManager(models.Manager.from_queryset(WorkspaceQuerySet)):
    def create_key(
        self,
        *,
        workspace: Workspace,
        name: str,
        scopes: list[str],
        expires_at: datetime | None = None,
    ) -> tuple["APIKey", str]:
        """Create a key; return it with the raw secret, which is not stored nor shown again."""
        key = self.model(
            workspace=workspace, name=name, scopes=parse_scopes(scopes), expires_at=expires_at
        )
        return key, key.save_with_new_secret()

    def authenticate(self, raw: str) -> "APIKey":
        """The active key for a well-formed raw key, in one indexed query, or KeyRejected."""
        key = self._by_prefix(keys.lookup_prefix(raw))
        if key is None or not secrets.compare_digest(key.key_hash, keys.hash_key(raw)):
            raise KeyRejected(INVALID_KEY)
        if key.revoked_at is not None:
            raise KeyRejected(INVALID_KEY)
        if scopes_problem(key.scopes) is not None:
            # A row written around the model (raw SQL, a bad migration): grant nothing.
            logger.error("API key %s refused: malformed stored scopes", key.prefix)
            raise KeyRejected(INVALID_KEY)
        if key.expires_at is not None and key.expires_at <= timezone.now():
            raise KeyRejected(EXPIRED_KEY)
        return key

    def _by_prefix(self, prefix: str) -> "APIKey | None":
        """The key with its workspace, by one hand-written indexed query.

        This runs on every request: the ORM spent more building the query than the database
        spent answering it, so the SQL is built once per connection and rows are converted with
        Django's own converters, giving the same objects `select_related("workspace")` would."""
        sql, key_fields, workspace_fields, converters = _lookup_plan(self.db)
        connection = connections[self.db]
        with connection.cursor() as cursor:
            cursor.execute(sql, [prefix])
            row = cursor.fetchone()
        if row is None:
            return None
        values = []
        for value, (expression, functions) in zip(row, converters, strict=True):
            for convert in functions:
                value = convert(value, expression, connection)
            values.append(value)
        split = len(key_fields)
        key = self.model.from_db(self.db, [f.attname for f in key_fields], values[:split])
        key.workspace = Workspace.from_db(
            self.db, [f.attname for f in workspace_fields], values[split:]
        )
        return key


_KNOWN = frozenset(KNOWN_SCOPES)


def scopes_problem(value: object) -> str | None:
    """Why a stored `scopes` value is not a list of known scope strings, or None when it is."""
    if not isinstance(value, list):
        return "Scopes must be a list of scope names."
    unknown = [s for s in value if not isinstance(s, str) or s not in _KNOWN]
    if unknown:
        return f"Unknown scope(s): {', '.join(map(repr, unknown))}."
    return None


def _scope_names(value: object) -> list[str]:
    """The strings of a stored scope list; nothing from a malformed value."""
    return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []


@cache
def _lookup_plan(alias: str) -> tuple[str, list, list, list[tuple[Any, list]]]:
    connection = connections[alias]
    qn = connection.ops.quote_name
    key_fields = list(APIKey._meta.concrete_fields)
    # Every concrete field, so the workspace loaded here is the ORM's, field for field.
    workspace_fields = list(Workspace._meta.concrete_fields)
    columns = [f"k.{qn(f.column)}" for f in key_fields]
    columns += [f"w.{qn(f.column)}" for f in workspace_fields]
    key_table, workspace_table = qn(APIKey._meta.db_table), qn(Workspace._meta.db_table)
    workspace_fk = qn(APIKey._meta.get_field("workspace").column)
    workspace_pk = qn(Workspace._meta.pk.column)
    prefix = qn(APIKey._meta.get_field("prefix").column)
    # Only quoted identifiers from model metadata are interpolated; the prefix is a parameter.
    sql = (
        f"SELECT {', '.join(columns)} FROM {key_table} k "  # noqa: S608
        f"JOIN {workspace_table} w ON w.{workspace_pk} = k.{workspace_fk} WHERE k.{prefix} = %s"
    )
    converters = []
    for field in (*key_fields, *workspace_fields):
        column = field.get_col(field.model._meta.db_table)
        functions = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        converters.append((column, functions))
    return sql, key_fields, workspace_fields, converters


class APIKey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=32, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    used_scopes = models.JSONField(default=list, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = APIKeyManager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.clean()  # a malformed `scopes` never reaches the table through the model
        super().save(*args, **kwargs)

    def clean(self) -> None:
        problem = scopes_problem(self.scopes)
        if problem:
            raise ValidationError({"scopes": [problem]})

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def save_with_new_secret(self) -> str:
        """Give a new key its secret and save it; return the raw key, which is not stored."""
        for _ in range(5):
            raw = keys.generate_key()
            self.prefix, self.key_hash = keys.lookup_prefix(raw), keys.hash_key(raw)
            try:
                with transaction.atomic():
                    self.save(force_insert=True)
                return raw
            except IntegrityError:  # lookup-prefix collision: draw again
                continue
        raise RuntimeError("could not generate a unique API key prefix")

    def revoke(self) -> bool:
        """Revoke the key; False when it already was (by this or a concurrent request)."""
        if self.revoked_at is not None:
            return False
        now = timezone.now()
        unrevoked = type(self).objects.filter(pk=self.pk, revoked_at__isnull=True)
        if not unrevoked.update(revoked_at=now):
            return False
        self.revoked_at = now
        return True

    def record_usage(self, scopes_used: list[str], interval: timedelta) -> None:
        """Note that the key was used (with these scopes), writing only when something is new:
        a scope never used before, or last_used_at older than `interval`."""
        now = timezone.now()
        recorded = _scope_names(self.used_scopes)
        new_scopes = set(scopes_used) - set(recorded)
        stale = self.last_used_at is None or now - self.last_used_at >= interval
        if not new_scopes and not stale:
            return
        self.last_used_at = now
        rows = type(self).objects.filter(pk=self.pk)
        if not new_scopes:
            rows.update(last_used_at=now)
            return
        # A scope seen for the first time (rare): merge under a row lock so two requests
        # recording different scopes at once cannot overwrite each other.
        with transaction.atomic():
            stored = rows.select_for_update().values_list("used_scopes", flat=True).first()
            self.used_scopes = sorted({*_scope_names(stored), *new_scopes})
            rows.update(last_used_at=now, used_scopes=self.used_scopes)
