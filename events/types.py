"""The event types of API.md §10, as data: what each means and an example of its `data`. The
API's `?type=` check, the webhooks' `event_types`, the OpenAPI document and the guide all read
this one table."""

from typing import Any

_C = {
    "campaign_id": "0199a3c2-5d3e-7a10-8c1e-4f2b9d7e6a01",
    "campaign_name": "Spring outreach",
    "status": "ACTIVE",
}
_L = {**_C, "lead_id": "0199a3c2-6b11-7c42-9a55-2d8e1f0c3b77", "lead_email": "ada@example.com"}
_M = {
    **_L,
    "sender_account_id": "0199a3c1-f0aa-7d21-8b3c-5e6f7a8b9c0d",
    "step": 1,
    "message": "0199a3c4-0f1e-7b2a-9c3d-4e5f6a7b8c9d",
    "message_id": "<0199a3c4-0f1e-7b2a-9c3d-4e5f6a7b8c9d@mail.example.com>",
    "message_kind": "STEP",
}
_REPLY = {
    "from": "ada@example.com",
    "subject": "Re: Quick question",
    "text": "Sounds good, let's talk on Thursday.",
    "text_truncated": False,
    "received_at": "2026-12-07T10:15:00Z",
    "message": "0199a3c6-2b3c-7d4e-8f5a-6b7c8d9e0f1a",
}
_ACCOUNT = {
    "sender_account_id": "0199a3c1-f0aa-7d21-8b3c-5e6f7a8b9c0d",
    "email": "sales@example.com",
    "status": "ERROR",
    "last_error": "SMTP authentication refused: 535 5.7.8 Authentication credentials invalid",
}
_WEBHOOK = {"webhook_id": "0199a3c5-1a2b-7c3d-8e4f-5a6b7c8d9e0f"}

# type: (when it happens, an example of its data)
EVENT_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    "message.sent": ("A message went out.", _M),
    "message.failed": (
        "A message is finally FAILED (after its last try; not per retry).",
        {**_M, "error": "failed: 554 5.7.1 Message rejected as spam"},
    ),
    "message.bounced": (
        "A hard bounce, at SMTP time (`source` smtp) or from a bounce report (`source` report).",
        {**_M, "error": "550 5.1.1 The email account does not exist", "source": "smtp"},
    ),
    "message.opened": ("A tracked open (repeats within 10 seconds merged).", _M),
    "message.clicked": (
        "A tracked click (repeats of a link within 10 seconds merged).",
        {**_M, "url": "https://example.com/pricing"},
    ),
    "lead.replied": (
        "The lead replied (API.md §8).",
        {**_L, "message_id": _M["message_id"], "reply": _REPLY},
    ),
    "lead.auto_replied": (
        "An automatic answer arrived (out of office, autoresponder).",
        {
            **_L,
            "message_id": _M["message_id"],
            "reply": {**_REPLY, "subject": "Out of office", "text": "I am away until Monday."},
        },
    ),
    "lead.unsubscribed": ("The lead used the unsubscribe link.", _L),
    "lead.completed": (
        "The lead's last step went out without an answer.",
        {**_L, "status": "ACTIVE"},
    ),
    "campaign.activated": (
        "The campaign became ACTIVE (`reason` user, admin or leads_added).",
        {**_C, "reason": "user"},
    ),
    "campaign.paused": (
        "The campaign was paused (`reason` user, admin or bounce_rate).",
        {**_C, "status": "PAUSED", "reason": "bounce_rate"},
    ),
    "campaign.completed": (
        "Every lead of the campaign is finished (`reason` finished).",
        {**_C, "status": "COMPLETED", "reason": "finished"},
    ),
    "sender_account.error": ("A sender account went into ERROR.", _ACCOUNT),
    "sender_account.recovered": (
        "A sender account in ERROR is ACTIVE again.",
        {**_ACCOUNT, "status": "ACTIVE", "last_error": ""},
    ),
    "webhook.disabled": (
        "A webhook endpoint was disabled (`disabled_reason` gone, failing or campaign_deleted).",
        {**_WEBHOOK, "url": "https://hooks.example.com/coldsend", "disabled_reason": "gone"},
    ),
    "webhook.test": ("Only from `POST webhooks/{id}/test`, to that endpoint alone.", _WEBHOOK),
}
EVENT_TYPE_NAMES: tuple[str, ...] = tuple(EVENT_TYPES)
# What an endpoint may subscribe to: every type but the test, which goes to its endpoint alone.
SUBSCRIBABLE: tuple[str, ...] = tuple(t for t in EVENT_TYPES if t != "webhook.test")
# Types about a campaign (an endpoint with a campaign_id gets only these, of its campaign).
CAMPAIGN_TYPES = frozenset(
    t for t in SUBSCRIBABLE if t.split(".")[0] in {"message", "lead", "campaign"}
)
