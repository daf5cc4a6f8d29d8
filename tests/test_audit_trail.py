"""The audit trail: every state change and key change made through the API, the admin or a
command writes one row naming who (a key's prefix, a username, a command), what and which
object; refusals and no-ops write nothing; no row ever holds a secret; the admin shows the
trail read-only."""

import io
import json
import re

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from apikeys.models import APIKey
from audit.models import AuditEvent
from audit.services import ENGINE, record
from campaigns.models import Campaign, CampaignStep
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.admin_forms import KEY_ADD_URL, filled_add_form
from tests.urls import api_url

Action = AuditEvent.Action
ActorType = AuditEvent.ActorType
SMTP_PASSWORD = "s3cret-smtp-pa55word"
AUDIT = "/admin/audit/auditevent/"


def rows() -> list[tuple]:
    return list(
        AuditEvent.objects.order_by("id").values_list(
            "actor_type", "actor", "action", "object_type", "object_id"
        )
    )


@pytest.fixture
def key_client(make_key):
    key, raw = make_key(["*"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return key, client


def ready_campaign(workspace, status=Campaign.Status.DRAFT) -> Campaign:
    campaign = Campaign.objects.create(workspace=workspace, name="Ready", status=status)
    account = SenderAccount.objects.create(
        workspace=workspace, type=SenderAccount.Type.NATIVE, email="out@acme.test"
    )
    campaign.sender_accounts.add(account)
    CampaignStep.objects.create(campaign=campaign, position=1, subject="Hi", body="Hello")
    return campaign


def test_campaign_transitions_through_the_api_are_audited(key_client, workspace):
    key, client = key_client
    campaign = ready_campaign(workspace)
    url = api_url(f"campaigns/{campaign.pk}")

    assert client.post(f"{url}/activate").status_code == 200
    assert client.post(f"{url}/activate").status_code == 200  # no change: no row
    assert client.post(f"{url}/pause").status_code == 200
    assert client.delete(url).status_code == 204

    expected = [
        ("api_key", key.prefix, action, "campaign", str(campaign.pk))
        for action in (Action.CAMPAIGN_ACTIVATED, Action.CAMPAIGN_PAUSED, Action.CAMPAIGN_DELETED)
    ]
    assert rows() == expected
    activated = AuditEvent.objects.get(action=Action.CAMPAIGN_ACTIVATED)
    assert activated.workspace == workspace
    assert activated.extra == {"from": "DRAFT", "to": "ACTIVE"}


def test_refused_changes_write_nothing(key_client, workspace, campaign):
    _, client = key_client
    assert client.post(api_url(f"campaigns/{campaign.pk}/activate")).status_code == 409
    assert client.post(api_url(f"campaigns/{campaign.pk}/pause")).status_code == 409
    active = ready_campaign(workspace, status=Campaign.Status.ACTIVE)
    assert client.delete(api_url(f"campaigns/{active.pk}")).status_code == 409
    account = active.sender_accounts.get()
    assert client.delete(api_url(f"sender_accounts/{account.pk}")).status_code == 409
    lead = Lead.objects.create(
        workspace=workspace, campaign=campaign, email="a@b.test", status=Lead.Status.CONTACTED
    )
    assert client.delete(api_url(f"leads/{lead.pk}")).status_code == 409
    assert rows() == []


def test_deletes_and_imports_through_the_api_are_audited(key_client, workspace, campaign):
    key, client = key_client
    account = SenderAccount.objects.create(
        workspace=workspace, type=SenderAccount.Type.NATIVE, email="out@acme.test"
    )
    lead = Lead.objects.create(workspace=workspace, campaign=campaign, email="a@b.test")

    assert client.delete(api_url(f"sender_accounts/{account.pk}")).status_code == 204
    assert client.delete(api_url(f"leads/{lead.pk}")).status_code == 204
    imported = client.post(
        api_url("leads/import"),
        {"campaign_id": str(campaign.pk), "leads": [{"email": "x@y.test"}, {"email": "bad"}]},
        format="json",
    )
    assert imported.status_code == 201
    upload = io.BytesIO(b"email\nz@y.test\nx@y.test\n")
    upload.name = "leads.csv"
    form = {"campaign_id": str(campaign.pk), "file": upload}
    csv = client.post(api_url("leads/import"), form, format="multipart")
    assert csv.status_code == 201

    assert rows() == [
        ("api_key", key.prefix, Action.SENDER_ACCOUNT_DELETED, "senderaccount", str(account.pk)),
        ("api_key", key.prefix, Action.LEAD_DELETED, "lead", str(lead.pk)),
        ("api_key", key.prefix, Action.LEADS_IMPORTED, "campaign", str(campaign.pk)),
        ("api_key", key.prefix, Action.LEADS_IMPORTED, "campaign", str(campaign.pk)),
    ]
    imports = AuditEvent.objects.filter(action=Action.LEADS_IMPORTED).order_by("id")
    assert [event.extra for event in imports] == [
        {"source": "json", "created": 1, "duplicates": 0, "invalid": 1},
        {"source": "csv", "created": 1, "duplicates": 1, "invalid": 0},
    ]
    assert {event.workspace_id for event in AuditEvent.objects.all()} == {workspace.pk}


def test_admin_changes_name_the_admin_user(admin_client, admin_user, workspace):
    draft = Campaign.objects.create(workspace=workspace, name="Old")
    lead = Lead.objects.create(workspace=workspace, campaign=draft, email="a@b.test")
    account = SenderAccount.objects.create(
        workspace=workspace, type=SenderAccount.Type.NATIVE, email="out@acme.test"
    )

    for url in (
        f"/admin/leads/lead/{lead.pk}/delete/",
        f"/admin/sender_accounts/senderaccount/{account.pk}/delete/",
        f"/admin/campaigns/campaign/{draft.pk}/delete/",
    ):
        assert admin_client.post(url, {"post": "yes"}).status_code == 302, url

    name = admin_user.get_username()
    assert rows() == [
        ("admin_user", name, Action.LEAD_DELETED, "lead", str(lead.pk)),
        ("admin_user", name, Action.SENDER_ACCOUNT_DELETED, "senderaccount", str(account.pk)),
        ("admin_user", name, Action.CAMPAIGN_DELETED, "campaign", str(draft.pk)),
    ]


def test_key_create_and_revoke_in_the_admin_and_by_command(admin_client, admin_user, workspace):
    form = {**filled_add_form(admin_client, workspace, ["campaigns:read"]), "name": "CRM"}
    page = admin_client.post(KEY_ADD_URL, form, follow=True)
    assert page.status_code == 200
    raw_admin = re.search(r'value="(cs_live_[^"]+)"', page.content.decode()).group(1)
    admin_key = APIKey.objects.get(name="CRM")
    revoked = admin_client.post(
        "/admin/apikeys/apikey/",
        {"action": "revoke_keys", "_selected_action": [str(admin_key.pk)]},
    )
    assert revoked.status_code == 302

    out = io.StringIO()
    call_command("create_api_key", name="Sync", scopes="leads:all", workspace="acme", stdout=out)
    raw_command = out.getvalue().strip().splitlines()[-1]
    command_key = APIKey.objects.get(name="Sync")
    call_command("revoke_api_key", command_key.prefix, stdout=io.StringIO())
    call_command("revoke_api_key", command_key.prefix, stdout=io.StringIO())  # already: no row

    name = admin_user.get_username()
    assert rows() == [
        ("admin_user", name, Action.API_KEY_CREATED, "apikey", str(admin_key.pk)),
        ("admin_user", name, Action.API_KEY_REVOKED, "apikey", str(admin_key.pk)),
        ("command", "create_api_key", Action.API_KEY_CREATED, "apikey", str(command_key.pk)),
        ("command", "revoke_api_key", Action.API_KEY_REVOKED, "apikey", str(command_key.pk)),
    ]
    created = AuditEvent.objects.filter(action=Action.API_KEY_CREATED).order_by("id").first()
    assert created.extra["prefix"] == admin_key.prefix
    assert created.extra["scopes"] == ["campaigns:read"]
    assert_no_secret(raw_admin, raw_command, APIKey.objects.get(name="CRM").key_hash)


def test_no_row_holds_a_secret(key_client, workspace):
    key, client = key_client
    created = client.post(
        api_url("sender_accounts"),
        {"type": "SMTP", "email": "out@acme.test",
         "smtp": {"host": "smtp.acme.test", "port": 587, "username": "out",
                  "password": SMTP_PASSWORD}},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201
    assert client.delete(api_url(f"sender_accounts/{created.json()['id']}")).status_code == 204
    assert AuditEvent.objects.count() == 2  # created, deleted
    assert_no_secret(SMTP_PASSWORD, key.key_hash)


def assert_no_secret(*secrets: str) -> None:
    events = list(AuditEvent.objects.values())
    assert events
    dumped = json.dumps(events, default=str)
    for secret in secrets:
        assert secret not in dumped


def test_the_engine_can_record_with_one_call(campaign):
    record(ENGINE, Action.CAMPAIGN_COMPLETED, campaign)
    assert rows() == [("engine", "engine", Action.CAMPAIGN_COMPLETED, "campaign", str(campaign.pk))]
    assert AuditEvent.objects.get().workspace_id == campaign.workspace_id


def test_the_admin_shows_the_trail_read_only(admin_client, key_client, workspace, other_workspace):
    key, client = key_client
    campaign = ready_campaign(workspace)
    assert client.post(api_url(f"campaigns/{campaign.pk}/activate")).status_code == 200
    out = io.StringIO()
    call_command("create_api_key", name="Other", scopes="*", workspace="globex", stdout=out)
    event = AuditEvent.objects.get(action=Action.CAMPAIGN_ACTIVATED)

    def listed(query: dict) -> list[str]:
        response = admin_client.get(AUDIT, query)
        assert response.status_code == 200
        return sorted(e.action for e in response.context["cl"].result_list)

    assert listed({}) == [Action.API_KEY_CREATED, Action.CAMPAIGN_ACTIVATED]
    assert listed({"action__exact": Action.CAMPAIGN_ACTIVATED}) == [Action.CAMPAIGN_ACTIVATED]
    assert listed({"actor_type__exact": ActorType.COMMAND}) == [Action.API_KEY_CREATED]
    assert listed({"workspace__id__exact": str(other_workspace.pk)}) == [Action.API_KEY_CREATED]
    assert listed({"q": key.prefix}) == [Action.CAMPAIGN_ACTIVATED]
    assert listed({"q": str(campaign.pk)}) == [Action.CAMPAIGN_ACTIVATED]

    change = f"{AUDIT}{event.pk}/change/"
    page = admin_client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.post(change, {"action": "lead.deleted"}).status_code == 403
    assert admin_client.get(f"{AUDIT}add/").status_code == 403
    assert admin_client.post(f"{AUDIT}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.action == Action.CAMPAIGN_ACTIVATED
