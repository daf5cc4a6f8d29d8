from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from audit.services import Actor
from campaigns.services import active_campaign_ids, delete_sender_account
from coldsend.admin import ButtonViewMixin, DeleteThroughServiceMixin, RefusalAnswerMixin
from coldsend.core.errors import Conflict, Invalid, NotFound
from delivery.actions import (
    LOGIN_TARGET,
    SENDER_ACCOUNT_FIELDS,
    SENDER_ACCOUNT_SECRETS,
    do_update_sender_account,
)
from delivery.api_selectors import sender_account_stats
from inbound.checks import do_check_sender_account
from inbound.selectors import inbox_status
from leads.emails import normalize_email
from sender_accounts.models import SenderAccount
from workspaces.slots import NoSlot

Status = SenderAccount.Status
SMTP_LOGIN = [f"smtp_{part}" for part in LOGIN_TARGET]  # where the stored password may go
PASSWORD_AGAIN = "Enter the password again: a new server never gets the stored one."
USE_CHECK = (
    "An account in ERROR becomes ACTIVE once its server accepts it: use “Check connection” "
    "(top right) instead, or choose DISABLED."
)


class SenderAccountAdminForm(forms.ModelForm):
    """The SMTP password is write-only: the stored value is never rendered, a blank field keeps
    it for the same server and username only (the API's PATCH rule), and a new value replaces
    it (encrypted on save by the model field). Without a username no password is kept: no AUTH
    is attempted (a relay). ERROR is never chosen here: a check ends it."""

    smtp_password = forms.CharField(
        label="SMTP password",
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text="Write-only. Leave blank to keep the current password (only while the host, "
        "port, security and username stay the same: a new server never gets the stored one). "
        "Leave the username and the password blank for a server that takes no AUTH (a relay): "
        "a blank username removes the stored password.",
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
        # The API's PATCH rules (do_update_sender_account checks them again under the lock).
        if self.stored_status == Status.ERROR and cleaned.get("status") == Status.ACTIVE:
            self.add_error("status", USE_CHECK)
        # Popped so the model form never copies it onto the instance (a blank would erase it).
        new_password = cleaned.pop("smtp_password", "")
        if (
            not new_password
            and self.stored_username  # so a stored password exists
            and cleaned.get("type") == SenderAccount.Type.SMTP
            and cleaned.get("smtp_username")
            and set(SMTP_LOGIN) & set(self.changed_data)
        ):
            self.add_error("smtp_password", PASSWORD_AGAIN)
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
        adding = self.instance._state.adding
        self.stored_status = None if adding else self.instance.status
        self.stored_username = "" if adding else self.instance.smtp_username
        status = self.fields.get("status")
        if status is not None:
            # ERROR is the engine's: never a target; an account in it may stay there.
            status.choices = [
                (value, label)
                if value != Status.ERROR
                else (value, "Error (the engine's; “Check connection” ends it)")
                for value, label in Status.choices
                if value != Status.ERROR or self.stored_status == Status.ERROR
            ]

    def account_changes(self) -> dict[str, Any]:
        """What a valid change form changes, for do_update_sender_account: the fields edited,
        what model validation cleared (a NATIVE account keeps no secret and reads no inbox) and
        the secrets set; the action records those that differ from the stored ones."""
        account = self.instance
        names = {name for name in self.changed_data if name in SENDER_ACCOUNT_FIELDS}
        names |= self.secrets_set
        if names & set(SMTP_LOGIN) and "smtp_password" not in names:
            # The whole login, as the API's PATCH sends it: the action refuses to keep the
            # stored password for a server or username changed meanwhile.
            names |= set(SMTP_LOGIN)
        if account.type == SenderAccount.Type.NATIVE:
            names |= {f.name for f in account._meta.concrete_fields if f.name.startswith("imap_")}
            names |= set(SENDER_ACCOUNT_SECRETS)
        return {name: getattr(account, name) for name in names}


@admin.register(SenderAccount)
# The SMTP password is kept out of Django's error reports, should an add or change ever fail.
@method_decorator(sensitive_post_parameters("smtp_password"), name="changeform_view")
class SenderAccountAdmin(
    ButtonViewMixin, RefusalAnswerMixin, DeleteThroughServiceMixin, admin.ModelAdmin
):
    form = SenderAccountAdminForm
    delete_service = delete_sender_account
    list_display = ["email", "type", "workspace", "status", "last_error", "created_at"]
    list_filter = ["type", "status", "workspace"]
    search_fields = ["email", "display_name", "smtp_host"]
    # The engine's state: ERROR comes with last_error, and a check (the periodic one, or the
    # "Check connection" button) clears both once the server accepts the account again.
    readonly_fields = [
        "last_error", "checked_at", "next_available_at", "created_at", "stats", "inbox",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["workspace", "type", "email", "display_name", "daily_limit", "status"]}),
        (
            "Sending",
            {
                "fields": [
                    "last_error",
                    "checked_at",
                    "stats",
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
        ("Inbox (IMAP, set through the API)", {"fields": ["inbox"]}),
        (None, {"fields": ["created_at"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: SenderAccount | None = None) -> list:
        if obj is None:  # nothing sent or read yet
            return [
                (name, {"fields": [f for f in options["fields"] if f not in ("stats", "inbox")]})
                for name, options in self.fieldsets
                if name is None or not name.startswith("Inbox")
            ]
        return self.fieldsets

    @admin.display(description="Sent")
    def stats(self, account: SenderAccount) -> str:
        """The API's `stats`: attempts in the rolling 24 hours (what `daily_limit` caps), sent
        and bounced in all."""
        stats = sender_account_stats(account)
        return render_to_string(
            "admin/sender_accounts/senderaccount/stats.html",
            {"stats": stats, "daily_limit": account.daily_limit},
        )

    @admin.display(description="Inbox")
    def inbox(self, account: SenderAccount) -> str:
        return render_to_string(
            "admin/sender_accounts/senderaccount/inbox.html", {"inbox": inbox_status(account)}
        )

    refusals = (Conflict, Invalid)  # a rule broken meanwhile, seen under the row lock

    def answer_refusal(self, request: HttpRequest, refusal: Exception) -> HttpResponse:
        messages.error(request, f"Nothing was saved: {getattr(refusal, 'detail', refusal)}")
        return HttpResponseRedirect(request.get_full_path())

    def save_model(
        self, request: HttpRequest, obj: SenderAccount, form: SenderAccountAdminForm, change: bool
    ) -> None:
        """A change goes through the API's action (its lock, its rules, its audit row, next
        sends moved at once); the form has applied the same rules first, as form errors."""
        if not change:
            super().save_model(request, obj, form, change)
            return
        try:
            do_update_sender_account(
                obj, form.account_changes(), actor=Actor.for_user(request.user)
            )
        except NotFound:
            messages.error(request, f"{obj}: deleted meanwhile, nothing was saved.")

    def get_urls(self) -> list:
        opts = self.opts
        check = path(
            "<path:object_id>/check/",
            self.admin_site.admin_view(self.check_view),
            name=f"{opts.app_label}_{opts.model_name}_check",
        )
        return [check, *super().get_urls()]

    def check_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: the API's `sender_accounts/{id}/check` (connect now, send nothing); the
        outcome shows as a message on the change page."""
        account = self.posted_object(request, object_id)
        if isinstance(account, HttpResponse):
            return account
        try:
            result = do_check_sender_account(account)
        except NoSlot:
            messages.warning(
                request,
                "Two checks or test sends are already running in this workspace: try again in "
                "a few seconds.",
            )
        except SenderAccount.DoesNotExist:
            messages.error(request, f"{account}: deleted meanwhile.")
            return HttpResponseRedirect(reverse("admin:sender_accounts_senderaccount_changelist"))
        else:
            checked = [("SMTP", result.smtp), ("IMAP", result.imap)]
            parts = [
                f"{name} {'passed' if outcome.ok else 'failed'}: {outcome.detail}"
                for name, outcome in checked
                if outcome is not None
            ]
            passed = all(outcome.ok for _, outcome in checked if outcome is not None)
            report = messages.success if passed else messages.error
            report(request, f"{' '.join(parts)} Status: {result.status}.")
        return HttpResponseRedirect(
            reverse("admin:sender_accounts_senderaccount_change", args=[quote(account.pk)])
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        check_url = reverse("admin:sender_accounts_senderaccount_check", args=[object_id])
        context = {**(extra_context or {}), "check_url": check_url}
        return super().change_view(request, object_id, form_url, context)

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
