"""Deleting a campaign disables the endpoints that listened to it alone (API.md §10)."""

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from campaigns.models import Campaign
from webhooks.delivering import disable
from webhooks.models import WebhookEndpoint


@receiver(post_delete, sender=Campaign, dispatch_uid="webhooks.campaign_deleted")
def campaign_deleted(sender: type[Campaign], instance: Campaign, **kwargs: Any) -> None:
    for endpoint in WebhookEndpoint.objects.filter(campaign_id=instance.pk, enabled=True):
        disable(endpoint, WebhookEndpoint.DisabledReason.CAMPAIGN_DELETED)
