"""The admin in a real browser (API.md §9): Debian's Chromium, headless, driven by Selenium
through Debian's chromedriver against a live server. A person logs in through the login form,
reads a campaign's chart (SVG drawn by the server), activates and pauses it with the buttons,
and every page fits a 1280 x 900 window (nothing scrolls sideways).

Without Chromium, its driver or Selenium these tests skip, unless CI is "true": then they fail
(as the Dovecot tests do: tests/imap_support.py)."""

import datetime as dt
import os
import shutil
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from audit.services import Actor
from campaigns.models import Campaign
from coldsend.core import clock
from delivery.models import Answer, InboundMessage, Message
from engagement.models import EmailEvent
from tests.factories import make_campaign, make_lead, make_smtp_account
from webhooks.services import do_create_webhook

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
)
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None
)
WIDTH, HEIGHT = 1280, 900
USERNAME, PASSWORD = "root", "browser-Passw0rd"
WAIT_SECONDS = 10

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the missing piece is named below
    webdriver = None


def missing() -> str | None:
    if webdriver is None:
        return "Selenium is not installed (requirements-dev.txt)."
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "Chromium and its driver (Debian: chromium, chromium-driver) are not installed."
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator["webdriver.Chrome"]:
    reason = missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} They are required in CI.")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        f"--window-size={WIDTH},{HEIGHT}",
    ):
        options.add_argument(argument)
    # The driver is given: Selenium Manager never downloads one.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def wait_for(browser, condition, message: str):
    return WebDriverWait(
        browser,
        WAIT_SECONDS,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(condition, message)


def log_in(browser, live_server) -> None:
    """Through the admin's login form, as a person does."""
    get_user_model().objects.create_superuser(USERNAME, "root@example.com", PASSWORD)
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(USERNAME)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, '#login-form input[type="submit"]').click()
    wait_for(browser, lambda b: b.find_elements(By.ID, "user-tools"), "not logged in")


def fits(browser, live_server, path: str) -> int:
    """The page's width at a 1280 x 900 window (at most 1280: nothing scrolls sideways)."""
    browser.set_window_size(WIDTH, HEIGHT)
    browser.get(f"{live_server.url}{path}")
    return browser.execute_script("return document.documentElement.scrollWidth")


def status_shown(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, ".field-status .readonly").text


@pytest.fixture
def world(db, workspace) -> dict:
    """A campaign ready to send with a few days of events; a lead with a long Message-ID and a
    long error; a sender account with a long address."""
    account = make_smtp_account(
        workspace, email="outbound-" + "x" * 40 + "@a-rather-long-sending-domain.example.com"
    )
    campaign = make_campaign(workspace, name="Spring outreach", senders=0, steps=2)
    campaign.sender_accounts.add(account)
    now = clock.now()
    leads = [make_lead(campaign, email=f"lead{i}@example.com") for i in range(3)]
    for i, lead in enumerate(leads):
        EmailEvent.objects.create(campaign=campaign, lead=lead, type="SENT", occurred_at=now)
        EmailEvent.objects.create(
            campaign=campaign, lead=lead, type="SENT", occurred_at=now - dt.timedelta(days=i + 2)
        )
    EmailEvent.objects.create(campaign=campaign, lead=leads[0], type="OPENED", occurred_at=now)
    EmailEvent.objects.create(campaign=campaign, lead=leads[1], type="REPLIED", occurred_at=now)
    Message.objects.create(
        lead=leads[0], campaign=campaign, step=1, status="SENT", attempts=1,
        sender_account=account, subject="Hello " * 30, claimed_at=now, attempted_at=now,
        sent_at=now, message_id=f"<{'a1b2c3d4' * 20}@a-rather-long-sending-domain.example.com>",
    )  # fmt: skip
    Message.objects.create(
        lead=leads[0], campaign=campaign, step=2, status="BOUNCED", attempts=1,
        sender_account=account, claimed_at=now, attempted_at=now,
        error="550 5.1.1 " + "mailbox-unavailable-" * 14,
    )  # fmt: skip
    # What came back, and our answer (API.md §11), with long unbroken values.
    InboundMessage.objects.create(
        lead=leads[0], account=account, kind="REPLY", from_address=leads[0].email,
        subject="Re: " + "Hello " * 30, message_id="<reply-1@example.com>",
        text="Thanks, interested. " + "https://example.com/" + "very-long-path-" * 30,
        received_at=now + dt.timedelta(minutes=5),
    )  # fmt: skip
    Answer.objects.create(
        lead=leads[0], sender_account=account, status="SENT", subject="Re: Hello",
        body="Great, Tuesday works: " + "no-spaces-here-" * 30, message_id="<answer-1@example.com>",
        queued_at=now + dt.timedelta(minutes=6), sent_at=now + dt.timedelta(minutes=6),
    )  # fmt: skip
    endpoint, _ = do_create_webhook(
        workspace,
        {"url": "https://hooks.example.com/" + "coldsend-" * 20, "event_types": ["*"]},
        actor=Actor.command("test"),
    )
    return {"campaign": campaign, "lead": leads[0], "account": account, "webhook": endpoint}


@pytest.mark.django_db(transaction=True)
def test_a_person_reads_the_chart_and_activates_then_pauses(browser, live_server, world):
    campaign = world["campaign"]
    log_in(browser, live_server)
    browser.get(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")

    chart = browser.find_element(By.CSS_SELECTOR, 'svg[data-chart="daily"]')
    days = chart.find_elements(By.CSS_SELECTOR, "g.cs-day[data-date]")
    assert len(days) == 30
    assert days[-1].get_attribute("data-date") == f"{clock.now():%Y-%m-%d}"
    today = {
        bar.get_attribute("data-series"): bar
        for bar in days[-1].find_elements(By.CSS_SELECTOR, "rect[data-series]")
    }
    assert [today[name].get_attribute("data-value") for name in ("sent", "opened", "replied")] == [
        "3",
        "1",
        "1",
    ]
    assert today["sent"].size["height"] > today["opened"].size["height"] > 0  # drawn to scale
    assert today["clicked"].size["height"] == 0
    assert chart.size["width"] > 600  # drawn, not collapsed
    legend = [
        g.get_attribute("data-legend")
        for g in chart.find_elements(By.CSS_SELECTOR, "[data-legend]")
    ]
    assert legend == ["sent", "opened", "clicked", "replied", "bounced", "unsubscribed"]
    assert browser.find_element(By.CSS_SELECTOR, 'dd[data-stat="sent"]').text == "6"
    assert status_shown(browser) == "Draft"

    browser.find_element(By.CSS_SELECTOR, 'button[data-move="activate"]').click()
    wait_for(browser, lambda b: status_shown(b) == "Active", "the page never showed Active")
    assert "is ACTIVE." in browser.find_element(By.CSS_SELECTOR, ".messagelist").text

    browser.find_element(By.CSS_SELECTOR, 'button[data-move="pause"]').click()
    wait_for(browser, lambda b: status_shown(b) == "Paused", "the page never showed Paused")
    assert "is PAUSED." in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert browser.find_elements(By.CSS_SELECTOR, 'button[data-move="activate"]')
    assert not browser.find_elements(By.CSS_SELECTOR, 'button[data-move="pause"]')

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    moves = AuditEvent.objects.filter(object_id=str(campaign.pk)).order_by("id")
    assert [(e.action, e.actor) for e in moves] == [
        ("campaign.activated", USERNAME),
        ("campaign.paused", USERNAME),
    ]


@pytest.mark.django_db(transaction=True)
def test_pages_fit_a_1280_pixel_window(browser, live_server, world):
    log_in(browser, live_server)
    pages = {
        "campaign": f"/admin/campaigns/campaign/{world['campaign'].pk}/change/",
        "lead": f"/admin/leads/lead/{world['lead'].pk}/change/",
        "sender account": f"/admin/sender_accounts/senderaccount/{world['account'].pk}/change/",
        "audit trail": "/admin/audit/auditevent/",
        "webhook endpoint": f"/admin/webhooks/webhookendpoint/{world['webhook'].pk}/change/",
        "webhook endpoints": "/admin/webhooks/webhookendpoint/",
        "events": "/admin/events/event/",
    }
    widths = {name: fits(browser, live_server, path) for name, path in pages.items()}
    assert all(width <= WIDTH for width in widths.values()), widths
    # The lead page shows the long values, wrapped.
    browser.get(f"{live_server.url}{pages['lead']}")
    conversation = browser.find_element(By.CSS_SELECTOR, "table.cs-conversation")
    assert "mailbox-unavailable-" in conversation.text
    assert conversation.size["width"] <= WIDTH
    # In order: our steps, then the reply, then our answer.
    text = conversation.text
    assert text.index("mailbox-unavailable-") < text.index("Thanks, interested.")
    assert text.index("Thanks, interested.") < text.index("Great, Tuesday works")
