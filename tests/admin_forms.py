"""What the admin's forms post: a campaign's change form and the API key add form."""

import re

from django.test import Client

from campaigns.models import Campaign


def schedule_fields(schedule: dict) -> dict:
    """A schedule as the admin's schedule inputs post it."""
    return {f"schedule_{part}": value for part, value in schedule.items()}


def campaign_form(campaign: Campaign, **changes) -> dict:
    """The change form as the admin would post it back untouched, with `changes` applied
    (`delete_steps`: the positions whose DELETE box is ticked)."""
    steps = list(campaign.steps.order_by("position"))
    delete = set(changes.pop("delete_steps", ()))
    data = {
        "name": campaign.name,
        "workspace": str(campaign.workspace_id),
        "sender_accounts": [
            str(pk) for pk in campaign.sender_accounts.values_list("pk", flat=True)
        ],
        "daily_limit": str(campaign.daily_limit),
        **schedule_fields(campaign.schedule),
        "stop_on_reply": "on" if campaign.stop_on_reply else "",
        "tracking": [name for name, on in campaign.tracking.items() if on],
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": str(len(steps)),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, step in enumerate(steps):
        data.update(
            {
                f"steps-{i}-id": str(step.pk),
                f"steps-{i}-campaign": str(campaign.pk),
                f"steps-{i}-position": str(step.position),
                f"steps-{i}-subject": step.subject,
                f"steps-{i}-body": step.body,
                f"steps-{i}-delay_days": str(step.delay_days),
            }
        )
        if step.position in delete:
            data[f"steps-{i}-DELETE"] = "on"
    data.update(changes)
    return data


KEY_ADD_URL = "/admin/apikeys/apikey/add/"


def filled_add_form(client: Client, workspace, scopes: list[str], button: str = "_save") -> dict:
    """The add form as the admin renders it (its hidden one-time token included), filled in."""
    html = client.get(KEY_ADD_URL).content.decode()
    token = re.search(r'name="form_token" value="([^"]+)"', html)
    assert token, "the add form carries a one-time token"
    return {
        "name": "Admin key",
        "workspace": str(workspace.pk),
        "scopes": scopes,
        "expires_at_0": "",
        "expires_at_1": "",
        "form_token": token.group(1),
        button: "Save",
    }
