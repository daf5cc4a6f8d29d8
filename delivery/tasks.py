"""One-off background work for the Tasks API (django-tasks on Django 5.2, `django.tasks` on
6.x): work that may be lost and done again. Sending itself is never a task: each worker's own
loop claims due sends from the database (see engine.py)."""

import uuid

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task


@task()
def recheck_account_task(account_id: str) -> bool:
    from delivery.recovery import recheck_account

    return recheck_account(uuid.UUID(account_id))


def enqueue_recheck(account_id: uuid.UUID) -> None:
    recheck_account_task.enqueue(str(account_id))


@task()
def send_answer_task(answer_id: str) -> str:
    from delivery.answering import send_answer

    return send_answer(uuid.UUID(answer_id))


def enqueue_answer(answer_id: uuid.UUID) -> None:
    send_answer_task.enqueue(str(answer_id))
