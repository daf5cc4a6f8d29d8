"""Caught mail, read-only: a list, and each message with its headers, its text part and its HTML
part. The HTML is never put into the admin page itself: it is escaped into the `srcdoc` of a
sandboxed iframe (no scripts, no access to the admin's origin; links open in a new tab)."""

from email.message import EmailMessage, Message
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from mailcatcher.catcher import parse
from mailcatcher.models import CaughtMail

PRE = "white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; max-width: 60em;"


def _message(mail: CaughtMail) -> EmailMessage:
    if not hasattr(mail, "_parsed"):
        mail._parsed = parse(bytes(mail.raw))
    return mail._parsed


def _content(part: Message | None) -> str | None:
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown charset, odd encoding
        return (part.get_payload(decode=True) or b"").decode("utf-8", "replace")


@admin.register(CaughtMail)
class CaughtMailAdmin(admin.ModelAdmin):
    list_display = ["received_at", "mail_from", "recipients", "subject", "size"]
    list_display_links = ["received_at", "subject"]
    search_fields = ["subject", "mail_from", "message_id"]
    search_help_text = "A subject, an envelope sender or a Message-ID."
    fields = readonly_fields = [
        "received_at", "mail_from", "recipients", "subject", "message_id", "size",
        "headers", "text_part", "html_part", "attachments",
    ]  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[CaughtMail]:
        return super().get_queryset(request).defer("raw")  # up to 10 MB each: read on the page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # shown read-only; deleting (one, or the list's action) stays possible

    @admin.display(description="to")
    def recipients(self, mail: CaughtMail) -> str:
        return ", ".join(mail.rcpt_tos)

    @admin.display(description="headers")
    def headers(self, mail: CaughtMail) -> str:
        message, lines = _message(mail), []
        for name, raw in message.raw_items():
            try:
                value = str(message.policy.header_fetch_parse(name, raw))
            except Exception:  # a malformed header is shown as received
                value = raw
            lines.append(f"{name}: {' '.join(value.split())}")
        return format_html('<pre style="{}">{}</pre>', PRE, "\n".join(lines))

    @admin.display(description="text part")
    def text_part(self, mail: CaughtMail) -> str:
        text = _content(_message(mail).get_body(preferencelist=("plain",)))
        if text is None:
            return "(none)"
        return format_html('<pre style="{}">{}</pre>', PRE, text)

    @admin.display(description="HTML part")
    def html_part(self, mail: CaughtMail) -> str:
        html = _content(_message(mail).get_body(preferencelist=("html",)))
        if html is None:
            return "(none)"
        # format_html escapes the HTML into the attribute: the page holds it as text only.
        return format_html(
            '<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" srcdoc="{}" '
            'title="HTML part" referrerpolicy="no-referrer" style="width: 100%; '
            'max-width: 60em; height: 30em; border: 1px solid #ccc; background: #fff;">'
            "</iframe>",
            '<base target="_blank">' + html,
        )

    @admin.display(description="attachments")
    def attachments(self, mail: CaughtMail) -> str:
        found = [
            (part.get_filename() or "(no name)", part.get_content_type())
            for part in _message(mail).iter_attachments()
        ]
        if not found:
            return "(none)"
        return format_html_join(", ", "{} ({})", found)
