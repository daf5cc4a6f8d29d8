"""Webhook deliveries as Tasks API tasks on their own queue (`webhooks`), so they never share a
worker with sending, the API or inbox reads: one task per endpoint at a time."""

import uuid

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task

QUEUE = "webhooks"


@task(queue_name=QUEUE)
def deliver_endpoint_task(endpoint_id: str) -> int:
    from webhooks.delivering import deliver_endpoint

    return deliver_endpoint(uuid.UUID(endpoint_id))


def enqueue_delivery(endpoint_id: uuid.UUID) -> None:
    deliver_endpoint_task.enqueue(str(endpoint_id))
