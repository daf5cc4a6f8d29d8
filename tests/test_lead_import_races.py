"""Imports racing each other and racing other writers, with real threads and transactions: the
unique constraint decides, every email is stored once, and every report still adds up."""

import random
import threading
import time
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from rest_framework.test import APIClient

from campaigns.models import Campaign
from leads.models import Lead
from tests.urls import api_url

IMPORT = api_url("leads/import")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def raw_key(make_key) -> str:
    return make_key(["leads:create"])[1]


def import_file(raw_key: str, campaign: Campaign, emails: list[str]) -> tuple[int, dict]:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw_key)
    data = ("email\n" + "\n".join(emails) + "\n").encode()
    response = client.post(
        IMPORT,
        {"campaign_id": str(campaign.pk), "file": SimpleUploadedFile("leads.csv", data)},
        format="multipart",
    )
    return response.status_code, response.json()


def in_thread(work: Callable[[], object], results: list, start: threading.Barrier | None = None):
    def run() -> None:
        try:
            if start is not None:
                start.wait()
            results.append(work())
        except Exception as exc:  # reported by the assertions, not lost in the thread
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_racing_imports_of_overlapping_files_store_each_email_once(raw_key, campaign):
    # Four files over 6,000 addresses, each overlapping the others, in different orders:
    # inserting in file order would let two imports wait for each other (a deadlock).
    everyone = [f"lead{i:05}@example.com" for i in range(6000)]
    files = []
    for seed in range(4):
        emails = random.Random(seed).sample(everyone, 3000)
        files.append(emails)
    start = threading.Barrier(len(files))
    results: list = []

    threads = [
        in_thread(lambda f=f: import_file(raw_key, campaign, f), results, start) for f in files
    ]
    for thread in threads:
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in threads)
    assert all(status == 201 for status, _ in results), results
    reports = [body for _, body in results]
    for body in reports:
        assert body["created"] + body["duplicates"] == 3000
        assert (body["invalid"], body["errors"]) == (0, [])
    distinct = set().union(*files)
    assert sum(body["created"] for body in reports) == len(distinct)
    stored = list(Lead.objects.filter(campaign=campaign).values_list("email", flat=True))
    assert sorted(stored) == sorted(distinct)


@pytest.mark.parametrize("other_commits", [True, False], ids=["commits", "rolls-back"])
def test_a_lead_written_meanwhile_by_another_transaction(raw_key, campaign, other_commits):
    """Another transaction holds an uncommitted lead for an email of the file: the import
    waits for it, then counts the email a duplicate if it committed, or creates it if not."""
    held, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with transaction.atomic():
            Lead.objects.create(
                workspace=campaign.workspace, campaign=campaign, email="held@example.com",
                first_name="Other writer",
            )  # fmt: skip
            held.set()
            release.wait(timeout=60)
            if not other_commits:
                transaction.set_rollback(True)

    writer_results: list = []
    writer = in_thread(other_writer, writer_results)
    assert held.wait(timeout=30)
    emails = [f"lead{i}@example.com" for i in range(500)] + ["held@example.com"]
    import_results: list = []
    importer = in_thread(lambda: import_file(raw_key, campaign, emails), import_results)
    if connection.vendor == "postgresql":
        wait_for_lock_waiter()
    else:
        time.sleep(1)  # SQLite: the import waits for the write lock at BEGIN IMMEDIATE
    release.set()
    writer.join(timeout=60)
    importer.join(timeout=60)

    assert writer_results == [None]
    [(status, body)] = import_results
    assert status == 201, body
    if other_commits:
        assert body == {
            "created": 500,
            "suppressed": 0,
            "duplicates": 1,
            "invalid": 0,
            "errors": [],
        }
        assert Lead.objects.get(email="held@example.com").first_name == "Other writer"
    else:
        assert body == {
            "created": 501,
            "suppressed": 0,
            "duplicates": 0,
            "invalid": 0,
            "errors": [],
        }
        assert Lead.objects.get(email="held@example.com").first_name == ""
    assert Lead.objects.filter(campaign=campaign).count() == 501


def wait_for_lock_waiter() -> None:
    """Until another session of this database waits for a lock (the import, on our lead)."""
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    pytest.fail("the import never waited for the other transaction's lead")
