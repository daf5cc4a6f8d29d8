"""Step 1, the claim (a short transaction per campaign): due leads, follow-ups first, FOR UPDATE
SKIP LOCKED; their Message rows CLAIMED, an Attempt reserved against the rolling limits,
next_send_at cleared, the account's next free instant moved by a random gap. What cannot go now
is moved to when it can."""

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min, QuerySet

from campaigns.models import Campaign, CampaignStep
from coldsend.core.ids import uuid7
from delivery.claimed import Claim
from delivery.completion import complete_if_done
from delivery.models import Attempt, Message
from delivery.records import complete_leads
from delivery.schedule import Window
from delivery.store import reserve_attempts, store
from engagement.models import Suppression
from leads import transitions
from leads.models import Lead
from sender_accounts.models import SenderAccount

DAY = timedelta(hours=24)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PUSH_MAX = 1000  # leads moved per statement when a campaign or account is blocked
COLUMNS = ("pk", "email", "status", "current_step", "sender_account_id", "workspace_id")
Status = Message.Status


def _usage(attempts: QuerySet, now: datetime) -> tuple[int, datetime | None]:
    """Attempts in the rolling 24 hours before `now`, and the oldest of them."""
    row = attempts.filter(at__gt=now - DAY).aggregate(n=Count("pk"), oldest=Min("at"))
    return row["n"], row["oldest"]


def _push(leads: QuerySet, when: datetime | None) -> None:
    """Move due leads to `when` without waiting for rows another worker holds."""
    ids = list(leads.select_for_update(skip_locked=True).values_list("pk", flat=True)[:PUSH_MAX])
    if ids:
        Lead.objects.filter(pk__in=ids).update(next_send_at=when)


@dataclass
class _Account:
    account: SenderAccount
    free_at: datetime
    room: int  # messages it may take in this claim

    def gap(self) -> timedelta:
        a = self.account
        low, high = a.min_interval_seconds, max(a.min_interval_seconds, a.max_interval_seconds)
        return timedelta(seconds=random.uniform(low, high))  # noqa: S311 (pacing, not security)


def recheck_at(account: SenderAccount, now: datetime) -> datetime:
    return max(
        now, (account.checked_at or now) + timedelta(seconds=settings.ACCOUNT_RECHECK_SECONDS)
    )


def _accounts(
    campaign: Campaign, now: datetime, busy: frozenset[uuid.UUID]
) -> tuple[set, dict[uuid.UUID, _Account]]:
    """The campaign's account ids, and those this worker could lock with what they may send
    (not those its lanes are sending for: `busy`)."""
    ids = set(campaign.sender_accounts.values_list("pk", flat=True))
    lockable = SenderAccount.objects.select_for_update(skip_locked=True)
    locked = lockable.filter(pk__in=ids - busy)
    states = {}
    for account in locked.order_by("pk"):
        used, oldest = _usage(Attempt.objects.filter(sender_account=account), now)
        free_at = max(now, account.next_available_at or now)
        if used >= account.daily_limit:
            free_at = max(free_at, oldest + DAY)
        room = 0
        if account.status == SenderAccount.Status.ACTIVE and free_at <= now:
            room = 1 if account.max_interval_seconds > 0 else account.daily_limit - used
        states[account.pk] = _Account(account, free_at, room)
    return ids, states


def _pick(states: dict[uuid.UUID, _Account]) -> _Account | None:
    """The least recently used account that may send now."""
    ready = [s for s in states.values() if s.room > 0]
    if not ready:
        return None
    return min(
        ready,
        key=lambda s: (
            s.account.next_available_at or EPOCH,
            -s.room,
        ),
    )


def _next_free(states: dict[uuid.UUID, _Account], now: datetime) -> datetime | None:
    """When one of these accounts may send again, if later than now: the earliest end of a
    gap or a full rolling day, else the earliest re-check of an account in ERROR."""
    active = [s for s in states.values() if s.account.status == SenderAccount.Status.ACTIVE]
    when = min((s.free_at for s in active), default=None)
    if when is None:
        errored = [s for s in states.values() if s.account.status == SenderAccount.Status.ERROR]
        when = min((recheck_at(s.account, now) for s in errored), default=None)
    return when if when is not None and when > now else None


@dataclass
class _Claiming:
    """One campaign's claim under way, inside its transaction."""

    campaign: Campaign
    now: datetime
    window: Window
    room: int
    account_ids: set
    states: dict[uuid.UUID, _Account]
    taken: list[tuple[Lead, _Account]] = field(default_factory=list)
    pushes: dict[datetime, list] = field(default_factory=lambda: defaultdict(list))
    # lead status -> lead ids leaving the sequence
    finished: dict[str, list] = field(default_factory=lambda: defaultdict(list))

    def take(self, lead: Lead, state: _Account) -> None:
        self.taken.append((lead, state))
        state.room -= 1
        gap = state.gap()
        now = self.now
        if gap:
            state.account.next_available_at = now + gap
            state.free_at = now + gap
            state.room = 0
        elif state.account.next_available_at is None or state.account.next_available_at < now:
            state.account.next_available_at = now


def claim_campaign(
    campaign_id: uuid.UUID, now: datetime, room: int, busy: frozenset[uuid.UUID] = frozenset()
) -> list[Claim]:
    """Claim up to `room` due sends of one campaign (follow-ups first), within its window and
    both rolling limits; move what cannot go now to when it can (next_send_at). Accounts in
    `busy` (this worker's lanes hold them) are left alone, and their leads stay due."""
    claims: list[Claim] = []
    with transaction.atomic():
        store().relaxed_commit()
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None:
            return []
        due = Lead.objects.filter(campaign_id=campaign_id, next_send_at__lte=now)
        opened = _open_room(campaign, due, now, room)
        if opened is None:
            return []
        window, room = opened
        steps = CampaignStep.objects.filter(campaign=campaign).count()
        going_on = set(transitions.continuing(stop_on_reply=campaign.stop_on_reply))
        batch = _Claiming(campaign, now, window, room, *_accounts(campaign, now, busy))
        if busy:
            due = due.exclude(sender_account_id__in=busy)
        _take_followups(batch, due, steps, going_on)
        _take_new(batch, due)
        _drop_suppressed(batch, campaign.workspace_id)
        _move_the_rest(batch)
        if batch.taken:
            claims = _write_claims(campaign, batch.taken, now)
    if batch.finished:
        complete_if_done(campaign_id)
    return claims


def _open_room(
    campaign: Campaign, due: QuerySet, now: datetime, room: int
) -> tuple[Window, int] | None:
    """The campaign's window and how many it may send now; None, its due leads moved to when
    it may send, when it is not ACTIVE, its window is closed or its daily limit reached."""
    if campaign.status != Campaign.Status.ACTIVE:
        _push(due, None)
        return None
    window = Window.of(campaign.schedule)
    opening = window.next_open(now)
    if opening > now:
        _push(due, opening)
        return None
    used, oldest = _usage(Attempt.objects.filter(campaign_id=campaign.pk), now)
    if used >= campaign.daily_limit:
        _push(due, window.next_open(oldest + DAY))
        return None
    return window, min(room, campaign.daily_limit - used)


def _take_followups(batch: _Claiming, due: QuerySet, steps: int, going_on: set[str]) -> None:
    """Due follow-ups, oldest first, each on the account pinned to its thread: taken when it
    may send now, else moved to when it may; a follow-up whose sequence is over finishes."""
    followups = list(
        due.filter(current_step__gt=0)
        .select_for_update(skip_locked=True)
        .order_by("next_send_at")
        .only(*COLUMNS)[: batch.room]
    )
    states, now = batch.states, batch.now
    for lead in followups:
        if len(batch.taken) >= batch.room:
            break
        if lead.current_step >= steps or lead.status not in going_on:
            batch.finished[transitions.COMPLETED].append(lead.pk)  # when it may become it
            continue
        pinned = lead.sender_account_id
        if pinned in batch.account_ids:
            state = states.get(pinned)
            if state is None:
                continue  # another worker holds the account: it stays due
            if state.account.status == SenderAccount.Status.ERROR:
                batch.pushes[recheck_at(state.account, now)].append(lead.pk)
                continue
            if state.account.status == SenderAccount.Status.ACTIVE:
                if state.room > 0:
                    batch.take(lead, state)
                else:
                    batch.pushes[state.free_at].append(lead.pk)
                continue
        state = _pick(states)  # the account left the campaign, was deleted or disabled
        if state is not None:
            batch.take(lead, state)
        elif (when := _next_free(states, now)) is not None:
            batch.pushes[when].append(lead.pk)


def _take_new(batch: _Claiming, due: QuerySet) -> None:
    """New leads in the room left, each on the least recently used account; when no account
    may send, they are moved to when one may."""
    free = sum(s.room for s in batch.states.values())
    if len(batch.taken) < batch.room and free > 0:
        new = list(
            due.filter(current_step=0)
            .select_for_update(skip_locked=True)
            .order_by("next_send_at")
            .only(*COLUMNS)[: min(batch.room - len(batch.taken), free)]
        )
        for lead in new:
            state = _pick(batch.states)
            if state is None:
                break
            batch.take(lead, state)
    elif free == 0 and (when := _next_free(batch.states, batch.now)) is not None:
        _push(due.filter(current_step=0), batch.window.next_open(when))


def _drop_suppressed(batch: _Claiming, workspace_id: uuid.UUID) -> None:
    """Suppressed addresses are never contacted (again): their leads finish instead."""
    if not batch.taken:
        return
    emails = {lead.email for lead, _ in batch.taken}
    suppressed = dict(
        Suppression.objects.filter(workspace_id=workspace_id, email__in=emails).values_list(
            "email", "reason"
        )
    )
    kept = []
    for lead, state in batch.taken:
        if lead.email in suppressed:
            batch.finished[suppressed[lead.email]].append(lead.pk)
        else:
            kept.append((lead, state))
    batch.taken = kept


def _move_the_rest(batch: _Claiming) -> None:
    """Leads that wait move to when they may go (within the window); finished leads leave
    the sequence."""
    for when, ids in batch.pushes.items():
        Lead.objects.filter(pk__in=ids).update(next_send_at=batch.window.next_open(when))
    for status, ids in batch.finished.items():
        leads = Lead.objects.filter(pk__in=ids)
        leads.update(next_send_at=None)
        if status == transitions.COMPLETED:
            complete_leads(batch.campaign, leads)
        else:
            transitions.move(leads, status)


def _write_claims(campaign: Campaign, taken: list, now: datetime) -> list[Claim]:
    retrying = {
        m.lead_id: m
        for m in Message.objects.filter(
            lead_id__in=[lead.pk for lead, _ in taken], status=Status.RETRY
        )
    }
    claims, retried, new, again = [], [], [], []  # claims in the order taken (follow-ups first)
    for lead, state in taken:
        message = retrying.get(lead.pk)
        step, account_id = lead.current_step + 1, state.account.pk
        if message is not None and message.step == step:  # a retry: the same row again
            message.status, message.claimed_at = Status.CLAIMED, now
            message.sender_account_id = account_id
            again.append(message)
            item = Claim(message.pk, lead.pk, campaign.pk, account_id, step, now, message.attempts)
            retried.append(item)
        else:
            item = Claim(uuid7(), lead.pk, campaign.pk, account_id, step, now)
            new.append(item)
        claims.append(item)
    db = store()
    db.insert_claimed(new)
    Message.objects.bulk_update(again, ["status", "claimed_at", "sender_account_id"])
    reserve_attempts(retried)
    db.pin_leads([(lead.pk, state.account.pk) for lead, state in taken])
    for state in {s.account.pk: s for _, s in taken}.values():
        SenderAccount.objects.filter(pk=state.account.pk).update(
            next_available_at=state.account.next_available_at
        )
    return claims


def due_campaigns(
    now: datetime, limit: int = 50, busy: frozenset[uuid.UUID] = frozenset()
) -> list[uuid.UUID]:
    """Campaigns with due leads, oldest due first. Leads pinned to a `busy` account, and the
    campaigns whose every account is busy, are passed over: however many of them are due,
    they never hide another campaign's work (one slow server costs its own account alone)."""
    due = scheduled(busy).filter(next_send_at__lte=now)
    ids = due.order_by("next_send_at").values_list("campaign_id", flat=True)[:limit]
    return list(dict.fromkeys(ids))


def scheduled(busy: frozenset[uuid.UUID] = frozenset()) -> QuerySet[Lead]:
    """Leads with a next send, but for those a `busy` account holds: pinned to one, or of a
    campaign whose every account is busy."""
    leads = Lead.objects.filter(next_send_at__isnull=False)
    if not busy:
        return leads
    links = Campaign.sender_accounts.through.objects
    free = links.exclude(senderaccount_id__in=busy).values("campaign_id")
    return leads.exclude(sender_account_id__in=busy).filter(campaign_id__in=free)


def claim(now: datetime, batch: int, busy: frozenset[uuid.UUID] = frozenset()) -> list[Claim]:
    """Up to `batch` due sends over the due campaigns; none for the accounts in `busy`."""
    claims: list[Claim] = []
    campaigns = due_campaigns(now, busy=busy)
    # Workers start on different campaigns so they do not queue on one campaign row.
    if len(campaigns) > 1:
        shift = random.randrange(len(campaigns))  # noqa: S311
        campaigns = campaigns[shift:] + campaigns[:shift]
    for campaign_id in campaigns:
        claims += claim_campaign(campaign_id, now, batch - len(claims), busy)
        if len(claims) >= batch:
            break
    return claims
