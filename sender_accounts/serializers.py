"""Sender accounts over the API (API.md §5): validate and shape, never return the SMTP password.
Created with SenderAccountSerializer, changed (PATCH) with SenderAccountUpdateSerializer."""

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import TextChoices
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from coldsend.api.fields import (
    CONTROL_CHARACTER_MESSAGE,
    CONTROL_CHARACTERS,
    SingleLineCharField,
    named_choice_field,
)
from coldsend.api.schema import WHITESPACE
from coldsend.api.strict import StrictFieldsMixin
from coldsend.core import netcheck
from coldsend.core.netcheck import HostRefused, check_host
from leads.emails import MAX_LENGTH as MAX_EMAIL_LENGTH
from leads.emails import SHAPE_DESCRIPTION as EMAIL_SHAPE
from leads.emails import normalize_email
from sender_accounts.models import (
    DAILY_LIMIT_MAX,
    INTERVAL_MAX,
    SMTP_REFUSED,
    SMTP_REQUIRED,
    SenderAccount,
)

Type = SenderAccount.Type

NO_AUTH = "leave both out for a server that takes no AUTH"
USERNAME_WITH_PASSWORD = f"Required with a password ({NO_AUTH})."
PASSWORD_WITH_USERNAME = f"Required with a username ({NO_AUTH})."
PASSWORD_AGAIN = (
    "Required: the host, port, security or username changed, and a new server never gets the "
    "stored password. Send the password again."
)
CANNOT_CHANGE = "Cannot be changed."
NO_INBOX = "Only SMTP sender accounts have an inbox to read."
# What a changed server must match for a left-out password to keep the stored one.
LOGIN_TARGET = ("host", "port", "security", "username")
# JSON Schema patterns (searched, unanchored): a value with something trimming keeps, or none.
NOT_BLANK = f"[^{WHITESPACE}]"
BLANK = f"^[{WHITESPACE}]*$"

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


class ServerSettings(StrictFieldsMixin, serializers.Serializer):
    """An `smtp` or `imap` block (built by `server_settings`). `request_schema_rule` is what
    its request schema adds to the fields' own, a rule between fields (ServerSettingsSchema)."""

    request_schema_rule: dict | None = None


class ServerSettingsSchema(OpenApiSerializerExtension):
    """States a block's `request_schema_rule` in the OpenAPI document, so that clients and the
    schema fuzzer know which combinations of fields are refused."""

    target_class = ServerSettings
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        rule = type(self.target).request_schema_rule
        if direction == "request" and rule:
            schema.update(rule)
        return schema


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
    optional_login: bool = False,
    optional_password: bool = False,
    username_help: str = "",
    password_help: str = "",
    validate: Callable[[serializers.Serializer, dict], dict] | None = None,
    schema_rule: dict | None = None,
) -> type[ServerSettings]:
    """The `smtp` or `imap` block of a sender account: the same five fields over the model's
    `<prefix>_*` columns (the password write-only), shown when `shown(account)`. With
    `optional_login` the username and password may be left out (the username then reads "");
    with `optional_password` the password alone may be; `validate` checks the block as a whole,
    which `schema_rule` states in the request schema."""
    login_optional = {"required": False, "allow_blank": True, "default": ""}
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
            help_text=f"{username_help} No line breaks or other control characters.".strip(),
            **(login_optional if optional_login else {}),
        ),
        "password": serializers.CharField(
            source=f"{prefix}_password",
            write_only=True,
            required=not (optional_login or optional_password),
            max_length=1024,
            trim_whitespace=False,
            style={"input_type": "password"},
            help_text="Write-only: encrypted at rest and never returned, in any response. "
            f"{password_help}".strip(),
        ),
        "security": SecurityField(
            source=f"{prefix}_security", default=security_default, help_text=security_help
        ),
    }

    def get_attribute(self: serializers.Serializer, instance: SenderAccount) -> object:
        return instance if shown(instance) else None

    body = {"__doc__": doc, "__module__": __name__, "get_attribute": get_attribute, **fields}
    if validate is not None:
        body["validate"] = validate
    return type(name, (ServerSettings,), {**body, "request_schema_rule": schema_rule})


def login_pair(*, password_kept: bool) -> Callable[[serializers.Serializer, dict], dict]:
    """An SMTP block's `validate`: username and password both or neither (neither: no AUTH is
    attempted, for a relay that takes none). With `password_kept` (PATCH) a username may come
    without its password, which the parent then keeps or asks for (SenderAccountUpdateSerializer).
    Without a username the password is "" (none stored)."""

    def validate(self: serializers.Serializer, attrs: dict) -> dict:
        username, password = attrs.get("smtp_username", ""), attrs.get("smtp_password")
        if password is not None and not username:
            raise serializers.ValidationError({"username": [USERNAME_WITH_PASSWORD]})
        if username and password is None and not password_kept:
            raise serializers.ValidationError({"password": [PASSWORD_WITH_USERNAME]})
        if not username:
            attrs["smtp_password"] = ""
        return attrs

    return validate


def login_pair_schema(*, password_kept: bool) -> dict:
    """`login_pair` as a request schema: a username with something trimming keeps, with its
    password (or, with `password_kept`, maybe without); or no password and no username (left
    out, or only blanks, which trimming makes "")."""
    with_login = {
        "required": ["username"] if password_kept else ["username", "password"],
        "properties": {"username": {"pattern": NOT_BLANK}},
    }
    without_login = {
        "not": {"required": ["password"]},
        "properties": {"username": {"pattern": BLANK}},
    }
    return {"anyOf": [with_login, without_login]}


def public_imap_host(value: str) -> str:
    """The SSRF rule of API.md §7 for inbox hosts (checked again at connect time)."""
    try:
        check_host(value, 993)
    except HostRefused as exc:
        raise serializers.ValidationError(str(exc)) from None
    return value


SMTP_SETTINGS = {
    "host_help": "A host name or IP address, e.g. smtp.example.com. It must be a public "
    "address: a loopback, private, link-local or otherwise non-public address (given "
    "literally or as a name resolving to one), or a name that does not resolve, is a 400 "
    "unless the server's SMTP_ALLOW_PRIVATE_HOSTS setting is on. Checked again, after DNS "
    "resolution, each time the service connects.",
    "host_validators": [],
    "security_default": SenderAccount.Security.STARTTLS,
    "security_help": "STARTTLS (default; usually port 587), SSL (implicit TLS, usually 465) or "
    "NONE.",
    "shown": lambda account: account.type == Type.SMTP,
    "optional_login": True,
    "username_help": "The login, with `password`. Leave both out (or send the username as an "
    'empty string, as an account without them reads "") for a server that takes no AUTH, such '
    "as a relay: no login is then attempted.",
}
SMTPSettingsSerializer = server_settings(
    "SMTPSettingsSerializer",
    "smtp",
    "How ColdSend reaches the account's SMTP server. The password is write-only. Username and "
    "password both or neither: without them no AUTH is attempted.",
    **SMTP_SETTINGS,
    password_help="Required with `username`; refused without it.",
    validate=login_pair(password_kept=False),
    schema_rule=login_pair_schema(password_kept=False),
)
SMTPSettingsUpdateSerializer = server_settings(
    "SMTPSettingsUpdateSerializer",
    "smtp",
    "The account's SMTP server, replaced as a whole (a field left out takes its default). The "
    "password is write-only. Username and password both or neither: without them no AUTH is "
    "attempted.",
    **SMTP_SETTINGS,
    password_help="Refused without `username`. May be left out with a username only when host, "
    "port, security and username stay the same (the stored password is kept); otherwise it "
    "is required again (400): a new server never gets the stored one.",
    validate=login_pair(password_kept=True),
    schema_rule=login_pair_schema(password_kept=True),
)
IMAP_SETTINGS = {
    "host_help": "A host name or IP address, e.g. imap.example.com.",
    "host_validators": [public_imap_host],
    "security_default": SenderAccount.Security.SSL,
    "security_help": "SSL (default; implicit TLS, usually 993), STARTTLS (usually 143) or NONE.",
    "shown": lambda account: bool(account.imap_host),
}
IMAPSettingsSerializer = server_settings(
    "IMAPSettingsSerializer",
    "imap",
    "The inbox ColdSend reads for replies and bounces (optional). It is never changed: no "
    "flag set, nothing moved or deleted. The password is write-only.",
    **IMAP_SETTINGS,
)
IMAPSettingsUpdateSerializer = server_settings(
    "IMAPSettingsUpdateSerializer",
    "imap",
    "The inbox ColdSend reads for replies and bounces, replaced as a whole (a field left out "
    "takes its default). It is never changed: no flag set, nothing moved or deleted. The "
    "password is write-only.",
    **IMAP_SETTINGS,
    optional_password=True,
    password_help="May be left out only when host, port, security and username stay the same "
    "(the stored password is kept); otherwise it is required again (400): a new server never "
    "gets the stored one.",
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
    """A mailbox campaigns send from. Changed with `PATCH` (SenderAccountUpdateSerializer):
    its `type` and `email` are fixed."""

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
        "ACTIVE again once it connects. DISABLED: turned off (by PATCH or in the admin); it "
        "sends nothing.",
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
            errors["imap"] = [NO_INBOX]
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
        if smtp and (refused := smtp_host_errors(smtp)):
            raise serializers.ValidationError(refused)
        attrs.update(smtp)
        attrs.update(attrs.pop("imap", None) or {})
        return attrs


def smtp_host_errors(smtp: Mapping[str, Any]) -> dict | None:
    """The SSRF rule of API.md §7 for a validated `smtp` block's host, as of now (checked again
    at connect time): its errors, or None when it may be used."""
    if netcheck.allow_private_hosts():
        return None
    try:
        netcheck.check_host(smtp["smtp_host"], smtp["smtp_port"])
    except netcheck.HostRefused as refused:
        return {"smtp": {"host": [str(refused)]}}
    return None


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


class SettableStatus(TextChoices):
    """The statuses a client may set: ERROR is the engine's (a check ends it)."""

    ACTIVE = SenderAccount.Status.ACTIVE.value
    DISABLED = SenderAccount.Status.DISABLED.value


SettableStatusField = named_choice_field(SettableStatus, "SenderAccountSettableStatus")
NO_INBOX_SETTINGS = {
    "imap_host": "",
    "imap_port": None,
    "imap_username": "",
    "imap_password": "",
    "imap_security": "",
}


class SenderAccountUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    """What `PATCH sender_accounts/{id}` changes: only the fields sent; `smtp` and `imap` are
    replaced as a whole. `type` and `email` are fixed (400)."""

    # Validated against the stored account (`instance`); `validated_data` holds the model fields
    # to change, for delivery.actions.do_update_sender_account.

    read_only_messages = {"type": CANNOT_CHANGE, "email": CANNOT_CHANGE}

    id = serializers.UUIDField(read_only=True)
    type = TypeField(read_only=True, help_text="Fixed: cannot be changed (400).")
    email = serializers.EmailField(read_only=True, help_text="Fixed: cannot be changed (400).")
    display_name = SingleLineCharField(
        max_length=200,
        allow_blank=True,
        required=False,
        forbidden=CONTROL_CHARACTERS,
        message=CONTROL_CHARACTER_MESSAGE,
        help_text="The name in the From header: no line breaks or other control characters.",
    )
    daily_limit = serializers.IntegerField(
        min_value=1,
        max_value=DAILY_LIMIT_MAX,
        required=False,
        help_text="Applies to the next sends at once.",
    )
    min_interval_seconds = serializers.IntegerField(
        min_value=0,
        max_value=INTERVAL_MAX,
        required=False,
        help_text="At most `max_interval_seconds` (the stored one when only this is sent). A "
        "new gap applies to the next sends at once.",
    )
    max_interval_seconds = serializers.IntegerField(
        min_value=0,
        max_value=INTERVAL_MAX,
        required=False,
        help_text="At least `min_interval_seconds` (the stored one when only this is sent).",
    )
    smtp = SMTPSettingsUpdateSerializer(
        required=False,
        allow_null=True,
        help_text="SMTP accounts only (refused for NATIVE accounts, which may send only null): "
        "the whole block, replaced. Null is refused for an SMTP account.",
    )
    imap = IMAPSettingsUpdateSerializer(
        required=False,
        allow_null=True,
        help_text="SMTP accounts only (refused for NATIVE accounts, which may send only null): "
        "the whole block, replaced; null removes inbox reading.",
    )
    status = SettableStatusField(
        required=False,
        help_text="ACTIVE or DISABLED (DISABLED sends nothing). ACTIVE on an account in ERROR "
        "is a 409 `invalid_state`: the periodic check makes it ACTIVE again once its server "
        "answers. A new status applies to the next sends at once.",
    )
    last_error = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)

    def input_errors(self, data: Mapping) -> dict[str, Any]:
        # The account's type decides which blocks it takes, before the blocks are validated.
        errors = super().input_errors(data)
        if self.instance.type == Type.NATIVE:
            for name, message in (("smtp", SMTP_REFUSED), ("imap", NO_INBOX)):
                if data.get(name) is not None:
                    errors[name] = [message]
        elif "smtp" in data and data["smtp"] is None:
            errors["smtp"] = [SMTP_REQUIRED]
        return errors

    def validate(self, attrs: dict) -> dict:
        account: SenderAccount = self.instance
        errors: dict[str, Any] = {}
        low = attrs.get("min_interval_seconds", account.min_interval_seconds)
        high = attrs.get("max_interval_seconds", account.max_interval_seconds)
        if low > high and "max_interval_seconds" in attrs:
            errors["max_interval_seconds"] = ["Must be at least min_interval_seconds."]
        elif low > high:
            errors["min_interval_seconds"] = [f"Must be at most max_interval_seconds ({high})."]
        changes = {name: value for name, value in attrs.items() if name not in ("smtp", "imap")}
        smtp = attrs.get("smtp")  # None: left out, or null for a NATIVE account (no change)
        if smtp is not None:
            if not self.login_kept(smtp, "smtp"):
                errors["smtp"] = {"password": [PASSWORD_AGAIN]}
            elif refused := smtp_host_errors(smtp):
                errors.update(refused)
            changes.update(smtp)
        if "imap" in attrs:
            imap = attrs["imap"]
            if imap is not None and not self.login_kept(imap, "imap"):
                errors["imap"] = {"password": [PASSWORD_AGAIN]}
            changes.update(NO_INBOX_SETTINGS if imap is None else imap)
        if errors:
            raise serializers.ValidationError(errors)
        return changes

    def login_kept(self, block: Mapping[str, Any], prefix: str) -> bool:
        """True when a block may keep the stored password: it sends one, has no login (SMTP
        without AUTH), or names the same server and username as the stored ones."""
        if f"{prefix}_password" in block or not block.get(f"{prefix}_username"):
            return True
        return all(
            block.get(f"{prefix}_{part}") == getattr(self.instance, f"{prefix}_{part}")
            for part in LOGIN_TARGET
        )


class ConnectionCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    detail = serializers.CharField(
        help_text="What happened, short and secret-free (the error when `ok` is false)."
    )


class SenderAccountCheckSerializer(serializers.Serializer):
    """The answer of `POST sender_accounts/{id}/check`."""

    status = StatusField(help_text="The account's status after the check.")
    last_error = serializers.CharField(help_text="The account's last error ('' when none).")
    smtp = ConnectionCheckSerializer()
    imap = ConnectionCheckSerializer(
        allow_null=True, help_text="null when the account reads no inbox."
    )
