from django.db import models

from apikeys.models import Workspace
from coldsend.ids import uuid7
from sender_accounts.fields import EncryptedTextField


class SenderAccount(models.Model):
    class Type(models.TextChoices):
        NATIVE = "NATIVE"
        SMTP = "SMTP"

    class Security(models.TextChoices):
        STARTTLS = "STARTTLS"
        SSL = "SSL"
        NONE = "NONE"

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        DISABLED = "DISABLED"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=10, choices=Type.choices)
    email = models.EmailField(max_length=254)
    display_name = models.CharField(max_length=200, blank=True, default="")
    daily_limit = models.PositiveIntegerField(default=50)
    smtp_host = models.CharField(max_length=255, blank=True, default="")
    smtp_port = models.PositiveIntegerField(null=True, blank=True)
    smtp_username = models.CharField(max_length=255, blank=True, default="")
    smtp_password = EncryptedTextField(blank=True, default="")
    smtp_security = models.CharField(
        max_length=10, choices=Security.choices, blank=True, default=""
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["workspace", "-id"], name="sender_ws_newest")]

    def __str__(self) -> str:
        return f"{self.email} ({self.type})"
