"""Set-based (re)computing of `next_send_at` when a campaign is activated, paused, edited or
gets leads: the rule of schedule.py applied as a handful of UPDATEs, cheap for 100,000 leads.
Called by the actions (delivery/actions.py), never by a view."""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    When,
)
from django.db.models.functions import Coalesce, Greatest

from audit.services import Actor
from campaigns import transitions as campaign_transitions
from campaigns.models import Campaign, CampaignStep
from coldsend.core import clock
from delivery.completion import IN_FLIGHT, complete_if_done
from delivery.models import Message
from delivery.records import complete_leads, message_events
from delivery.schedule import Window, first_send_at, retry_delay
from engagement.models import Suppression
from events.services import record_events
from leads import transitions
from leads.models import Lead


def locked(campaign: Campaign | uuid.UUID) -> Campaign | None:
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    return Campaign.objects.select_for_update().filter(pk=pk).first()


def _keep_retry_backoff(campaign: Campaign, first: datetime) -> None:
    """A lead waiting to try a step again is not due before its backoff ends, whatever
    rescheduled it (activation, a new schedule); a later time (a longer step delay) stands.
    One UPDATE, then the window."""
    retry = Message.objects.filter(lead=OuterRef("pk"), status=Message.Status.RETRY)
    last = settings.SEND_MAX_ATTEMPTS
    backoff_end = Case(
        *(When(attempts=n, then=F("attempted_at") + retry_delay(n)) for n in range(1, last)),
        default=F("attempted_at") + retry_delay(last),
        output_field=DateTimeField(),
    )
    end = Subquery(retry.annotate(end=backoff_end).values("end")[:1])
    # Found from the campaign's RETRY messages (index message_campaign_status), not by testing
    # each of its leads: this also runs when a single lead is added.
    waiting = Message.objects.filter(campaign_id=campaign.pk, status=Message.Status.RETRY)
    leads = Lead.objects.filter(pk__in=waiting.values("lead_id"), next_send_at__isnull=False)
    leads.filter(next_send_at__lt=end).update(next_send_at=end)
    align_to_window(campaign, leads, first)


def _not_in_flight(leads: QuerySet) -> QuerySet:
    return leads.exclude(Exists(Message.objects.filter(lead=OuterRef("pk"), status__in=IN_FLIGHT)))


def align_to_window(campaign: Campaign, leads: QuerySet, since: datetime) -> None:
    """Move every `next_send_at` of `leads` that falls while the window is closed to the next
    opening: one UPDATE per closed span up to the latest of them."""
    latest = leads.filter(next_send_at__isnull=False).order_by("-next_send_at").first()
    if latest is None:
        return
    window = Window.of(campaign.schedule)
    for start, opening in window.closed_spans(since, latest.next_send_at + timedelta(seconds=1)):
        leads.filter(next_send_at__gte=start, next_send_at__lt=opening).update(next_send_at=opening)


def apply_suppressions(campaign: Campaign, lead_ids: Iterable[uuid.UUID] | None = None) -> int:
    """Leads of the campaign never contacted whose address is suppressed in the workspace take
    the suppression's status (UNSUBSCRIBED or BOUNCED) and are never contacted."""
    leads = Lead.objects.filter(campaign_id=campaign.pk, status=transitions.PENDING, current_step=0)
    if lead_ids is not None:
        leads = leads.filter(pk__in=list(lead_ids))
    changed = 0
    for reason in Suppression.Reason.values:
        suppressed = Suppression.objects.filter(
            workspace_id=campaign.workspace_id, reason=reason
        ).values("email")
        changed += transitions.move(
            _not_in_flight(leads.filter(email__in=Subquery(suppressed))),
            reason,
            next_send_at=None,
        )
    return changed


def schedule_campaign(campaign: Campaign) -> bool:
    """Compute `next_send_at` of every lead with something left to send, after activation (or
    any change of steps or schedule). Leads past the last step are COMPLETED. Does nothing
    unless the campaign is ACTIVE. True when that made the campaign COMPLETED."""
    with transaction.atomic():
        current = locked(campaign)
        if current is None or current.status != Campaign.Status.ACTIVE:
            return False
        now = clock.now()
        first = first_send_at(Window.of(current.schedule), now)
        delays = list(
            CampaignStep.objects.filter(campaign=current)
            .order_by("position")
            .values_list("delay_days", flat=True)
        )
        leads = Lead.objects.filter(campaign_id=current.pk)
        going_on = transitions.continuing(stop_on_reply=current.stop_on_reply)
        complete_leads(
            current,
            leads.filter(status=transitions.CONTACTED, current_step__gte=len(delays)),
            next_send_at=None,
        )
        # A step removed while waiting to be retried is not tried again: it stays not delivered.
        dropped = Message.objects.filter(
            campaign_id=current.pk, status=Message.Status.RETRY, step__gt=len(delays)
        )
        failed = list(dropped.values_list("pk", flat=True))
        dropped.filter(pk__in=failed).update(status=Message.Status.FAILED)
        error = {"error": "its step was removed before it could be tried again"}
        record_events(message_events("message.failed", failed, {pk: dict(error) for pk in failed}))
        apply_suppressions(current)
        waiting = _not_in_flight(leads.filter(status__in=going_on))
        waiting.filter(current_step=0).update(next_send_at=first)
        for sent, delay in enumerate(delays[1:], start=1):
            waiting.filter(current_step=sent).update(
                next_send_at=Greatest(
                    Coalesce(F("last_sent_at"), now) + timedelta(days=delay), first
                )
            )
        align_to_window(current, leads.filter(current_step__gt=0), first)
        _keep_retry_backoff(current, first)
    return complete_if_done(current.pk)


def schedule_leads(
    campaign: Campaign, lead_ids: Iterable[uuid.UUID] | None = None, *, actor: Actor
) -> int:
    """After leads were added (`lead_ids`, or every unscheduled PENDING lead): suppressed ones
    take their status; the others are scheduled when the campaign is ACTIVE. A COMPLETED
    campaign that gets leads to send to becomes ACTIVE again. Returns how many took a
    suppression's status."""
    with transaction.atomic():
        current = locked(campaign)
        if current is None:
            return 0
        suppressed = apply_suppressions(current, lead_ids)
        new = Lead.objects.filter(
            campaign_id=current.pk,
            status=transitions.PENDING,
            current_step=0,
            next_send_at__isnull=True,
        )
        if lead_ids is not None:
            new = new.filter(pk__in=list(lead_ids))
        new = _not_in_flight(new)
        if current.status == Campaign.Status.COMPLETED and new.exists():
            campaign_transitions.reopen(
                current, actor=actor, detail="leads were added to a completed campaign"
            )
        if current.status == Campaign.Status.ACTIVE:
            first = first_send_at(Window.of(current.schedule), clock.now())
            new.update(next_send_at=first)
            _keep_retry_backoff(current, first)  # one waiting to retry step 1 is not new
    return suppressed


def unschedule_campaign(campaign: Campaign) -> None:
    """Nothing is due for a campaign that is not ACTIVE (one UPDATE). Under the campaign's row
    lock, and only while it is still not ACTIVE: an activation that won the race after a pause
    keeps the schedule it has just made."""
    with transaction.atomic():
        current = locked(campaign)
        if current is None or current.status == Campaign.Status.ACTIVE:
            return
        Lead.objects.filter(campaign_id=current.pk, next_send_at__isnull=False).update(
            next_send_at=None
        )
