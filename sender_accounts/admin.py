from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from audit.services import Actor
from campaigns.services import active_campaign_ids, delete_sender_account
from coldsend.admin import DeleteThroughServiceMixin
from coldsend.core.errors import NotFound
from delivery.actions import SENDER_ACCOUNT_FIELDS, SENDER_ACCOUNT_SECRETS, do_update_sender_account
from leads.emails import normalize_email
from sender_accounts.models import SenderAccount


class SenderAccountAdminForm(forms.ModelForm):
    """The SMTP password is write-only: the stored value is never rendered, a blank field keeps
    it, and a new value replaces it (encrypted on save by the model field). Without a username
    no password is kept: no AUTH is attempted (a relay)."""

    smtp_password = forms.CharField(
        label="SMTP password",
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text="Write-only. Leave blank to keep the current password. Leave the username and "
        "the password blank for a server that takes no AUTH (a relay): a blank username "
        "removes the stored password.",
    )

    class Meta:
        model = SenderAccount
        # The stored secret is not a form field; `smtp_password` above is the write-only input.
        fields = [
            "workspace", "type", "email", "display_name", "daily_limit", "min_interval_seconds",
            "max_interval_seconds", "status", "smtp_host", "smtp_port", "smtp_username",
            "smtp_security",
        ]  # fmt: skip

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        low, high = cleaned.get("min_interval_seconds"), cleaned.get("max_interval_seconds")
        if low is not None and high is not None and low > high:
            self.add_error("max_interval_seconds", "Must be at least the minimum interval.")
        # Popped so the model form never copies it onto the instance (a blank would erase it).
        new_password = cleaned.pop("smtp_password", "")
        if new_password and cleaned.get("type") == SenderAccount.Type.NATIVE:
            self.add_error("smtp_password", "Only for SMTP sender accounts.")
        elif new_password:
            # Set before model validation, which checks that an SMTP account has a password.
            self.instance.smtp_password = new_password
            self.secrets_set.add("smtp_password")
        elif not cleaned.get("smtp_username"):
            self.instance.smtp_password = ""  # no login: no AUTH, so no password either
            self.secrets_set.add("smtp_password")
        return cleaned

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.secrets_set: set[str] = set()  # the secrets this form writes

    def account_changes(self) -> dict[str, Any]:
        """What a valid change form changes, for do_update_sender_account: the fields edited,
        what model validation cleared (a NATIVE account keeps no secret and reads no inbox) and
        the secrets set; the action records those that differ from the stored ones."""
        account = self.instance
        names = {name for name in self.changed_data if name in SENDER_ACCOUNT_FIELDS}
        names |= self.secrets_set
        if account.type == SenderAccount.Type.NATIVE:
            names |= {f.name for f in account._meta.concrete_fields if f.name.startswith("imap_")}
            names |= set(SENDER_ACCOUNT_SECRETS)
        return {name: getattr(account, name) for name in names}


@admin.register(SenderAccount)
# The SMTP password is kept out of Django's error reports, should an add or change ever fail.
@method_decorator(sensitive_post_parameters("smtp_password"), name="changeform_view")
class SenderAccountAdmin(DeleteThroughServiceMixin, admin.ModelAdmin):
    form = SenderAccountAdminForm
    delete_service = delete_sender_account
    list_display = ["email", "type", "workspace", "status", "last_error", "created_at"]
    list_filter = ["type", "status", "workspace"]
    search_fields = ["email", "display_name", "smtp_host"]
    # The engine's state: ERROR comes with last_error, and a periodic check clears both (setting
    # the status back to ACTIVE here makes the engine try the account again at once).
    readonly_fields = ["last_error", "checked_at", "next_available_at", "created_at"]
    fieldsets = [
        (None, {"fields": ["workspace", "type", "email", "display_name", "daily_limit", "status"]}),
        (
            "Sending",
            {
                "fields": [
                    "last_error",
                    "checked_at",
                    "min_interval_seconds",
                    "max_interval_seconds",
                    "next_available_at",
                ]
            },
        ),
        (
            "SMTP (SMTP accounts only)",
            {
                "fields": [
                    "smtp_host",
                    "smtp_port",
                    "smtp_username",
                    "smtp_password",
                    "smtp_security",
                ]
            },
        ),
        (None, {"fields": ["created_at"]}),
    ]

    def save_model(
        self, request: HttpRequest, obj: SenderAccount, form: SenderAccountAdminForm, change: bool
    ) -> None:
        """A change goes through the API's action (its lock, its audit row, next sends moved at
        once), as the admin: it may set an account in ERROR ACTIVE (the engine tries it again at
        once), and a blank password field keeps the stored password whatever the server."""
        if not change:
            super().save_model(request, obj, form, change)
            return
        try:
            do_update_sender_account(
                obj, form.account_changes(), actor=Actor.for_user(request.user), by_admin=True
            )
        except NotFound:
            messages.error(request, f"{obj}: deleted meanwhile, nothing was saved.")

    def get_readonly_fields(
        self, request: HttpRequest, obj: SenderAccount | None = None
    ) -> list[str]:
        if obj is None:
            return list(self.readonly_fields)
        # Campaigns use only their own workspace's accounts; moving one would break that.
        return [*self.readonly_fields, "workspace"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SenderAccount]:
        # Lists never need the secret; model validation loads it when a form is saved.
        return (
            super()
            .get_queryset(request)
            .select_related("workspace")
            .defer("smtp_password", "imap_password")
        )

    def delete_refusals(self, account: SenderAccount) -> list[str]:
        return [
            f"{account}: used by ACTIVE campaign {campaign_id}"
            for campaign_id in active_campaign_ids(account)
        ]
