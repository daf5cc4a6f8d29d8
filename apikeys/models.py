import secrets
import uuid
from datetime import datetime, timedelta

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from apikeys import keys
from apikeys.scopes import parse_scopes


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class KeyRejected(Exception):
    """The presented key is unknown, revoked or expired; `reason` is the client-facing text."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


INVALID_KEY = "Invalid or revoked API key"
EXPIRED_KEY = "API key expired"


class APIKeyManager(models.Manager["APIKey"]):
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
        key = self.select_related("workspace").filter(prefix=keys.lookup_prefix(raw)).first()
        if key is None or not secrets.compare_digest(key.key_hash, keys.hash_key(raw)):
            raise KeyRejected(INVALID_KEY)
        if key.revoked_at is not None:
            raise KeyRejected(INVALID_KEY)
        if key.expires_at is not None and key.expires_at <= timezone.now():
            raise KeyRejected(EXPIRED_KEY)
        return key


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

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            type(self).objects.filter(pk=self.pk, revoked_at__isnull=True).update(
                revoked_at=self.revoked_at
            )

    def record_usage(self, scopes_used: list[str], interval: timedelta) -> None:
        """Note that the key was used (with these scopes), writing only when something is new:
        a scope never used before, or last_used_at older than `interval`."""
        now = timezone.now()
        new_scopes = [s for s in scopes_used if s not in self.used_scopes]
        stale = self.last_used_at is None or now - self.last_used_at >= interval
        if not new_scopes and not stale:
            return
        self.last_used_at = now
        self.used_scopes = sorted({*self.used_scopes, *new_scopes})
        type(self).objects.filter(pk=self.pk).update(last_used_at=now, used_scopes=self.used_scopes)
