"""Sender accounts over the API (API.md §5): validate and shape, never return the SMTP password."""

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from coldsend.api.fields import (
    CONTROL_CHARACTER_MESSAGE,
    CONTROL_CHARACTERS,
    SingleLineCharField,
    named_choice_field,
)
from coldsend.api.strict import StrictFieldsMixin
from coldsend.core import netcheck
from coldsend.core.netcheck import HostRefused, check_host
from leads.emails import MAX_LENGTH as MAX_EMAIL_LENGTH
from leads.emails import SHAPE_DESCRIPTION as EMAIL_SHAPE
from leads.emails import normalize_email
from sender_accounts.models import DAILY_LIMIT_MAX, INTERVAL_MAX, SenderAccount

Type = SenderAccount.Type

# Labels of 1-63 letters, digits, hyphens or underscores (no hyphen at either end), dot-separated;
# the length is the field's max_length. Written without lookaheads so the schema can state it.
HOSTNAME_PATTERN = (
    r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$"
)
HOSTNAME_RE = re.compile(HOSTNAME_PATTERN)
MAX_HOST_LENGTH = 253


def validate_host(value: str) -> str:
    try:
        ipaddress.ip_address(value.removeprefix("[").removesuffix("]"))
    except ValueError:
        if not HOSTNAME_RE.match(value):
            raise serializers.ValidationError(
                "Enter a host name or IP address, without scheme or port."
            ) from None
    return value


@extend_schema_field(
    {
        "anyOf": [
            {"type": "string", "pattern": HOSTNAME_PATTERN, "maxLength": MAX_HOST_LENGTH},
            {"type": "string", "format": "ipv6"},
        ]
    }
)
class HostField(serializers.CharField):
    """A host name (or IPv4 address) or an IPv6 address, without scheme or port."""


@extend_schema_field({"type": "object", "nullable": True, "not": {"type": "object"}})
class NoSettingsField(serializers.Field):
    """Schema only: a NATIVE account's `smtp` and `imap` may only be absent or null."""


TypeField = named_choice_field(SenderAccount.Type, "SenderAccountType")
StatusField = named_choice_field(SenderAccount.Status, "SenderAccountStatus")
SecurityField = named_choice_field(SenderAccount.Security, "SMTPSecurity")


def server_settings(
    name: str,
    prefix: str,
    doc: str,
    *,
    host_help: str,
    host_validators: list,
    security_default: str,
    security_help: str,
    shown: Callable[[SenderAccount], bool],
) -> type[serializers.Serializer]:
    """The `smtp` or `imap` block of a sender account: the same five fields over the model's
    `<prefix>_*` columns (the password write-only), shown when `shown(account)`."""
    fields = {
        "host": HostField(
            source=f"{prefix}_host",
            max_length=MAX_HOST_LENGTH,
            validators=[validate_host, *host_validators],
            help_text=host_help,
        ),
        "port": serializers.IntegerField(source=f"{prefix}_port", min_value=1, max_value=65535),
        "username": SingleLineCharField(
            source=f"{prefix}_username",
            max_length=255,
            forbidden=CONTROL_CHARACTERS,
            message=CONTROL_CHARACTER_MESSAGE,
            help_text="No line breaks or other control characters.",
        ),
        "password": serializers.CharField(
            source=f"{prefix}_password",
            write_only=True,
            max_length=1024,
            trim_whitespace=False,
            style={"input_type": "password"},
            help_text="Write-only: encrypted at rest and never returned, in any response.",
        ),
        "security": SecurityField(
            source=f"{prefix}_security", default=security_default, help_text=security_help
        ),
    }

    def get_attribute(self: serializers.Serializer, instance: SenderAccount) -> object:
        return instance if shown(instance) else None

    return type(
        name,
        (StrictFieldsMixin, serializers.Serializer),
        {"__doc__": doc, "__module__": __name__, "get_attribute": get_attribute, **fields},
    )


def public_imap_host(value: str) -> str:
    """The SSRF rule of API.md §7 for inbox hosts (checked again at connect time)."""
    try:
        check_host(value, 993)
    except HostRefused as exc:
        raise serializers.ValidationError(str(exc)) from None
    return value


SMTPSettingsSerializer = server_settings(
    "SMTPSettingsSerializer",
    "smtp",
    "How ColdSend reaches the account's SMTP server. The password is write-only.",
    host_help="A host name or IP address, e.g. smtp.example.com. It must be a public "
    "address: a loopback, private, link-local or otherwise non-public address (given "
    "literally or as a name resolving to one), or a name that does not resolve, is a 400 "
    "unless the server's SMTP_ALLOW_PRIVATE_HOSTS setting is on. Checked again, after DNS "
    "resolution, each time the service connects.",
    host_validators=[],
    security_default=SenderAccount.Security.STARTTLS,
    security_help="STARTTLS (default; usually port 587), SSL (implicit TLS, usually 465) or NONE.",
    shown=lambda account: account.type == Type.SMTP,
)
IMAPSettingsSerializer = server_settings(
    "IMAPSettingsSerializer",
    "imap",
    "The inbox ColdSend reads for replies and bounces (optional). It is never changed: no "
    "flag set, nothing moved or deleted. The password is write-only.",
    host_help="A host name or IP address, e.g. imap.example.com.",
    host_validators=[public_imap_host],
    security_default=SenderAccount.Security.SSL,
    security_help="SSL (default; implicit TLS, usually 993), STARTTLS (usually 143) or NONE.",
    shown=lambda account: bool(account.imap_host),
)


class SenderAccountStatsSerializer(serializers.Serializer):
    """Counted from what the account actually sent when the account is fetched."""

    sent_today = serializers.IntegerField(
        help_text="SMTP attempts through this account in the last 24 hours (rolling, not since "
        "midnight): exactly what its `daily_limit` caps, bounced and retried attempts included."
    )
    sent_total = serializers.IntegerField(
        help_text="Emails accepted by the server for this account, ever."
    )
    bounced = serializers.IntegerField(
        help_text="Hard bounces of emails sent through this account (refused at send time or "
        "reported later)."
    )


class InboxStatusSerializer(serializers.Serializer):
    """How reading the account's inbox goes (API.md §8)."""

    last_polled_at = serializers.DateTimeField(
        allow_null=True, help_text="When the last read of the inbox started; null before the first."
    )
    skipped = serializers.IntegerField(
        help_text="Messages that could not be read (MIME nested too deep, undecodable headers, "
        "any other error in one message) and were passed over, ever. The ones after them are "
        "read all the same."
    )
    last_error = serializers.CharField(
        help_text="Why the last read failed (short, never a secret); empty when it worked."
    )


class SenderAccountSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A mailbox campaigns send from. No update: delete it and create it again."""

    type = TypeField(
        help_text="SMTP: your own mail server; NATIVE: the service's own outgoing mail settings."
    )
    email = serializers.EmailField(
        max_length=MAX_EMAIL_LENGTH, help_text=f"Stored lower-cased. {EMAIL_SHAPE}"
    )
    display_name = SingleLineCharField(
        max_length=200,
        allow_blank=True,
        default="",
        forbidden=CONTROL_CHARACTERS,
        message=CONTROL_CHARACTER_MESSAGE,
        help_text="The name in the From header: no line breaks or other control characters.",
    )
    daily_limit = serializers.IntegerField(min_value=1, max_value=DAILY_LIMIT_MAX, default=50)
    smtp = SMTPSettingsSerializer(
        required=False,
        allow_null=True,
        help_text=(
            "Required for SMTP accounts; refused for NATIVE accounts (they send through the "
            "service's own mail settings), which answer null."
        ),
    )
    min_interval_seconds = serializers.IntegerField(
        min_value=0,
        max_value=INTERVAL_MAX,
        default=180,
        help_text="Two sends from this account are spaced by a random gap between "
        "`min_interval_seconds` and `max_interval_seconds` (0 and 0: no gap).",
    )
    max_interval_seconds = serializers.IntegerField(
        min_value=0,
        max_value=INTERVAL_MAX,
        default=300,
        help_text="At least `min_interval_seconds`.",
    )
    imap = IMAPSettingsSerializer(
        required=False,
        allow_null=True,
        help_text=(
            "Optional, SMTP accounts only: the inbox read every INBOX_POLL_SECONDS for replies, "
            "automatic answers and bounces. Null when not set."
        ),
    )
    status = StatusField(
        read_only=True,
        help_text="ACTIVE: sends. ERROR: the server refused the login (535) or could not be "
        "reached; it sends nothing, `last_error` says why, and a periodic check makes it "
        "ACTIVE again once it connects. DISABLED: turned off in the admin.",
    )
    last_error = serializers.CharField(
        read_only=True,
        help_text="Why the account is in ERROR (short, never a secret); empty otherwise.",
    )

    class Meta:
        model = SenderAccount
        fields = [
            "id", "type", "email", "display_name", "daily_limit", "min_interval_seconds",
            "max_interval_seconds", "smtp", "imap", "status", "last_error", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "status", "last_error", "created_at"]

    def input_errors(self, data: Mapping) -> dict[str, Any]:
        # Decided before the nested fields are validated, so NATIVE + `smtp` gets one clear error.
        errors = super().input_errors(data)
        error = SenderAccount.smtp_settings_error(data.get("type"), data.get("smtp") is not None)
        if error:
            errors["smtp"] = [error]
        if data.get("imap") is not None and data.get("type") != Type.SMTP:
            errors["imap"] = ["Only SMTP sender accounts have an inbox to read."]
        return errors

    def validate_email(self, value: str) -> str:
        try:
            return normalize_email(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate(self, attrs: dict) -> dict:
        if attrs["min_interval_seconds"] > attrs["max_interval_seconds"]:
            raise serializers.ValidationError(
                {"max_interval_seconds": ["Must be at least min_interval_seconds."]}
            )
        smtp = attrs.pop("smtp", None) or {}
        if smtp and not netcheck.allow_private_hosts():
            try:
                netcheck.check_host(smtp["smtp_host"], smtp["smtp_port"])
            except netcheck.HostRefused as refused:
                raise serializers.ValidationError({"smtp": {"host": [str(refused)]}}) from None
        attrs.update(smtp)
        attrs.update(attrs.pop("imap", None) or {})
        return attrs


class SenderAccountDetailSerializer(SenderAccountSerializer):
    """A sender account with its sending `stats` and how its inbox reading goes."""

    stats = SenderAccountStatsSerializer(read_only=True)
    inbox = InboxStatusSerializer(
        read_only=True,
        allow_null=True,
        help_text="Null for an account without `imap`.",
    )

    class Meta(SenderAccountSerializer.Meta):
        fields = [*SenderAccountSerializer.Meta.fields, "stats", "inbox"]


class NativeSenderAccountSerializer(SenderAccountSerializer):
    """Schema only: a NATIVE account sends through the service's own mail settings."""

    type = serializers.ChoiceField(choices=[Type.NATIVE])
    smtp = NoSettingsField(required=False, help_text="Absent or null: refused otherwise.")
    imap = NoSettingsField(required=False, help_text="Absent or null: refused otherwise.")


class SMTPSenderAccountSerializer(SenderAccountSerializer):
    """Schema only: an SMTP account sends through its own server, named in `smtp`."""

    type = serializers.ChoiceField(choices=[Type.SMTP])
    smtp = SMTPSettingsSerializer(help_text="Required for an SMTP account.")


# What `POST sender_accounts` takes, one shape per `type`: the schema states which fields each
# type requires (SenderAccountSerializer validates the same).
SENDER_ACCOUNT_REQUEST = PolymorphicProxySerializer(
    component_name="SenderAccountCreate",
    serializers={
        Type.NATIVE.value: NativeSenderAccountSerializer,
        Type.SMTP.value: SMTPSenderAccountSerializer,
    },
    resource_type_field_name="type",
)
