"""The audit trail in the admin names its objects and actors ("Campaign “Outreach”", "Lead
ann@example.com", the key's name), linked while they exist and remembered once deleted, with one
query per kind of object for the whole page, not per row; the table fits its box."""

import io
import re
from html import unescape

from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys.models import APIKey
from audit.models import AuditEvent
from tests.delivery_support import add_lead, create_account, create_campaign
from tests.urls import api_url

AUDIT = "/admin/audit/auditevent/"


def table_rows(html: str) -> list[dict[str, str]]:
    """Each row of the list: column → (text, href of its link or "")."""
    body = html.split('<table id="result_list"')[1].split("<tbody>")[1].split("</tbody>")[0]
    found = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = re.findall(r'class="field-(\w+)[^"]*">(.*?)</t[dh]>', row, re.S)
        found.append(
            {
                name: (
                    " ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split()),
                    (re.findall(r'href="([^"]+)"', cell) or [""])[0],
                )
                for name, cell in cells
            }
        )
    return found


def test_rows_name_their_objects_and_actors(superuser_client, client_all, workspace):
    account_id = create_account(client_all, None)
    campaign_id = create_campaign(client_all, [account_id], name="Outreach")
    lead_id = add_lead(client_all, campaign_id, "ann@example.com")
    gone_id = create_campaign(client_all, [account_id], name="Gone")
    assert client_all.delete(api_url(f"campaigns/{gone_id}")).status_code == 204
    removed = add_lead(client_all, campaign_id, "bob@example.com")
    assert client_all.delete(api_url(f"leads/{removed}")).status_code == 204
    call_command(
        "create_api_key", name="Nightly import", scopes="*", workspace="acme", stdout=io.StringIO()
    )
    key = APIKey.objects.get(name="Nightly import")
    activated = superuser_client.post(f"/admin/campaigns/campaign/{campaign_id}/activate/")
    assert activated.status_code == 302
    used_key = APIKey.objects.get(name="test key")

    html = superuser_client.get(AUDIT).content.decode()
    rows = {row["action"][0]: row for row in table_rows(html)}

    assert rows["Campaign Activated"]["object"] == (
        "Campaign “Outreach”",
        f"/admin/campaigns/campaign/{campaign_id}/change/",
    )
    assert rows["Campaign Activated"]["by"][0] == "admin root"
    assert rows["Sender Account Created"]["object"] == (
        "Sender account alice@sender.example",
        f"/admin/sender_accounts/senderaccount/{account_id}/change/",
    )
    assert rows["Sender Account Created"]["by"][0] == (f"API key “test key” ({used_key.prefix}…)")
    assert rows["Campaign Deleted"]["object"] == ("Campaign “Gone” (deleted)", "")
    assert rows["Lead Deleted"]["object"] == (f"Lead {removed} (deleted)", "")
    assert rows["Api Key Created"]["object"] == (
        "API key “Nightly import”",
        f"/admin/apikeys/apikey/{key.pk}/change/",
    )
    assert rows["Api Key Created"]["by"][0] == "command create_api_key"
    leads = [row for row in table_rows(html) if row["action"][0] == "Lead Created"]
    assert [row["object"][0] for row in leads] == [
        f"Lead {removed} (deleted)",  # deleted leads are named by id: their row kept no email
        "Lead ann@example.com",
    ]
    assert leads[1]["object"][1] == f"/admin/leads/lead/{lead_id}/change/"
    # No bare id of an object that exists is shown as text.
    text = " ".join(row["object"][0] for row in table_rows(html))
    for pk in (campaign_id, lead_id, account_id, str(key.pk)):
        assert pk not in text


def test_one_query_per_kind_of_object_whatever_the_rows(superuser_client, client_all, workspace):
    account_id = create_account(client_all, None)
    campaign_id = create_campaign(client_all, [account_id], name="Outreach")
    add_lead(client_all, campaign_id, "lead0@example.com")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert superuser_client.get(AUDIT).status_code == 200
        return len(captured)

    few = queries()
    for i in range(1, 30):
        add_lead(client_all, campaign_id, f"lead{i}@example.com")
    assert AuditEvent.objects.count() > 30
    assert queries() == few


def test_the_detail_page_names_the_object(superuser_client, client_all, workspace):
    account_id = create_account(client_all, None)
    create_campaign(client_all, [account_id], name="Outreach")
    event = AuditEvent.objects.get(action="campaign.created")

    html = unescape(superuser_client.get(f"{AUDIT}{event.pk}/change/").content.decode())

    assert "Campaign “Outreach”" in html
    assert "API key “test key”" in html


def test_the_list_keeps_fixed_columns_that_wrap(superuser_client, client_all, workspace):
    create_account(client_all, None, email="sales@" + "long-subdomain." * 12 + "example.com")
    html = superuser_client.get(AUDIT).content.decode()
    columns = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', html)
    assert columns == ["occurred_at", "action", "object", "by", "workspace"]
    assert re.search(r'<body class="[^"]*model-auditevent', html)  # the stylesheet's hook
    css = b"".join(superuser_client.get("/static/coldsend/admin.css").streaming_content).decode()
    assert ".model-auditevent #changelist #result_list {\n    table-layout: fixed;" in css
