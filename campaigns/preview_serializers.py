"""Bodies of `POST campaigns/{id}/preview` and `POST campaigns/{id}/test` (API.md §7). Shapes
only: whether the step and the lead are the campaign's is the view's to check (with
delivery/previews.py), as this module stands below the apps that know leads and sending."""

from rest_framework import serializers

from campaigns.serializers import MAX_STEPS
from coldsend.api.fields import conflict_body
from coldsend.api.strict import StrictFieldsMixin
from coldsend.core.errors import ErrorCode


class StepPreviewSerializer(StrictFieldsMixin, serializers.Serializer):
    """Which step to preview, for which lead. Unknown fields are refused (400)."""

    step = serializers.IntegerField(
        min_value=1,
        max_value=MAX_STEPS,
        help_text="The step to render, 1-based: one of the campaign's steps (400 otherwise: a "
        "rule on the stored campaign, which the schema cannot state).",
    )
    lead_id = serializers.UUIDField(
        required=False,
        help_text="A lead of this campaign (any other id is a 400 on `lead_id`) whose fields "
        "fill the placeholders; needs `leads:read` too. Omitted: the campaign's oldest lead "
        "(which needs `leads:read` as well), or a lead with empty fields when it has none.",
    )


class StepTestSendSerializer(StrictFieldsMixin, serializers.Serializer):
    """Which step to send as a test, to whom, rendered for which lead. Unknown fields are
    refused (400)."""

    step = serializers.IntegerField(
        min_value=1,
        max_value=MAX_STEPS,
        help_text="The step to send, 1-based: one of the campaign's steps (400 otherwise: a "
        "rule on the stored campaign, which the schema cannot state).",
    )
    to = serializers.EmailField(
        max_length=254,
        help_text="Where the test goes: any address SMTP can carry (at most 254 characters, 64 "
        "before the @, IDNA 2008 domains, no control or invisible characters), stored nowhere.",
    )
    lead_id = serializers.UUIDField(
        required=False,
        help_text="A lead of this campaign (any other id is a 400 on `lead_id`) whose fields "
        "fill the placeholders; needs `leads:read` too. Omitted: a lead with empty fields "
        "(fallbacks are used).",
    )


class CampaignPreviewHeadersSerializer(serializers.Serializer):
    """The headers a reader sees, as sent (the thread and list headers are left out)."""

    From = serializers.CharField(
        help_text="The sender as sent: the account the lead's thread is pinned to, else the "
        "first ACTIVE account of `sender_account_ids`, else its first; empty without any."
    )
    To = serializers.CharField(help_text="The lead's address as sent (empty for an empty lead).")
    Subject = serializers.CharField(help_text="The same as `subject`.")


class CampaignPreviewSerializer(serializers.Serializer):
    """A step rendered exactly as it would be sent to one lead, and the placeholder problems
    of all the campaign's steps."""

    subject = serializers.CharField(
        help_text="As sent: placeholders filled (or their fallbacks), control characters "
        "replaced by spaces; an empty follow-up subject is step 1's, prefixed `Re: `."
    )
    body = serializers.CharField(
        help_text="The text part as sent, line ends `\\n`: placeholders filled, links "
        "rewritten to `/c/` links when `tracking.clicks` is on, and the unsubscribe line at "
        "the end when `include_unsubscribe_link` is on. A preview's links record nothing."
    )
    headers = CampaignPreviewHeadersSerializer(help_text="From, To and Subject as sent.")
    unknown_placeholders = serializers.ListField(
        child=serializers.CharField(),
        help_text="Names, exact case, in the order they first appear, of the placeholders of "
        "all the campaign's steps that are neither a standard field (`first_name`, "
        "`last_name`, `company`, `email`) nor a custom-field key of any of its leads, with a "
        "fallback or not: `{{firstname}}` shows up here before anything is sent.",
    )
    invalid_placeholders = serializers.ListField(
        child=serializers.CharField(),
        help_text="The `{{…}}` texts (on one line) of all the campaign's steps that are not "
        "placeholders at all (`{{first name}}`, `{{}}`, `{{ a.b }}`): they are sent as "
        "written. Each once, in the order they first appear.",
    )


class CampaignTestSendSerializer(serializers.Serializer):
    """What a test send did, once its SMTP transaction is over."""

    sent = serializers.BooleanField(
        help_text="The server accepted the message (the SMTP transaction is over)."
    )
    error = serializers.CharField(
        allow_null=True,
        help_text="Null when sent; else why not: the server's refusal or the account's "
        "trouble (connection, login, timeout), the account at its daily limit, or an address "
        "suppressed in the workspace.",
    )


TestSendConflictSerializer = conflict_body(
    "CampaignTestConflict",
    [ErrorCode.NOT_READY],
    "A 409: the campaign has no ACTIVE sender account to send a test from.",
    problems=serializers.ListField(
        child=serializers.CharField(), help_text="What the campaign lacks."
    ),
)
