from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from coldsend.core.ids import uuid7
from sender_accounts.fields import EncryptedTextField
from workspaces.models import Workspace, WorkspaceQuerySet

DAILY_LIMIT_MAX = 10_000
INTERVAL_MAX = 86_400
SMTP_REQUIRED = "Required for SMTP sender accounts."
SMTP_REFUSED = "Not allowed for NATIVE sender accounts."


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
        ERROR = "ERROR"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=10, choices=Type.choices)
    email = models.EmailField(max_length=254)
    display_name = models.CharField(max_length=200, blank=True, default="")
    daily_limit = models.PositiveIntegerField(
        default=50, validators=[MinValueValidator(1), MaxValueValidator(DAILY_LIMIT_MAX)]
    )
    smtp_host = models.CharField(max_length=255, blank=True, default="")
    smtp_port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    smtp_username = models.CharField(max_length=255, blank=True, default="")
    smtp_password = EncryptedTextField(blank=True, default="")
    smtp_security = models.CharField(
        max_length=10, choices=Security.choices, blank=True, default=""
    )
    # The inbox the engine reads for replies and bounces (API.md §8); optional, SMTP only.
    imap_host = models.CharField(max_length=255, blank=True, default="")
    imap_port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    imap_username = models.CharField(max_length=255, blank=True, default="")
    imap_password = EncryptedTextField(blank=True, default="")
    imap_security = models.CharField(
        max_length=10, choices=Security.choices, blank=True, default=""
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # Pacing (API.md §7): two sends are spaced by a random gap between these.
    min_interval_seconds = models.PositiveIntegerField(
        default=180, validators=[MaxValueValidator(INTERVAL_MAX)]
    )
    max_interval_seconds = models.PositiveIntegerField(
        default=300, validators=[MaxValueValidator(INTERVAL_MAX)]
    )
    # Engine state: short and secret-free; set with status ERROR.
    last_error = models.CharField(max_length=300, blank=True, default="")
    next_available_at = models.DateTimeField(null=True, blank=True)
    failures_in_row = models.PositiveSmallIntegerField(
        default=0, help_text="Failures of the account phase since its last sent message."
    )
    checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When the engine last tried the account (ERROR re-check)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["workspace", "-id"], name="sender_ws_newest")]

    def __str__(self) -> str:
        return f"{self.email} ({self.type})"

    @classmethod
    def smtp_settings_error(cls, account_type: object, given: bool) -> str | None:
        """The SMTP settings rule, for the admin and the API: required for SMTP accounts, refused
        for NATIVE ones (an unknown type is the type's own error)."""
        if account_type == cls.Type.SMTP and not given:
            return SMTP_REQUIRED
        if account_type == cls.Type.NATIVE and given:
            return SMTP_REFUSED
        return None

    def clean(self) -> None:
        """Model-form validation (the admin): each SMTP setting by `smtp_settings_error`, but
        for the login (username and password), which may be left out together."""
        self.email = (self.email or "").strip().lower()
        if self.type != self.Type.SMTP:
            # A NATIVE account keeps no secret, and reads no inbox.
            self.smtp_password = ""
            self.imap_host, self.imap_port, self.imap_username = "", None, ""
            self.imap_password, self.imap_security = "", ""
        settings = {
            "smtp_host": self.smtp_host,
            "smtp_port": self.smtp_port,
            "smtp_username": self.smtp_username,
            "smtp_security": self.smtp_security,
            "smtp_password": self.smtp_password,
        }
        # Username and password both or neither: without them no AUTH is attempted (a relay).
        login = ("smtp_username", "smtp_password")
        no_login = self.type == self.Type.SMTP and not any(settings[name] for name in login)
        errors = {
            name: error
            for name, value in settings.items()
            if not (no_login and name in login)
            and (error := self.smtp_settings_error(self.type, bool(value)))
        }
        if errors:
            raise ValidationError(errors)
