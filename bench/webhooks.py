"""Webhooks (API.md §10), on PostgreSQL:

1. Fan-out: 10,000 events to one local endpoint (a receiver in its own process that verifies
   every delivery with `standardwebhooks`), dispatched and delivered by one delivery worker
   (the dispatcher's fan-out, then one delivery task's loop), against a bare loop that POSTs
   the same signed bodies over one keep-alive http.client connection, in the same run.
   Target: >= 0.5x the loop.
2. The cost on sending: bench.send_throughput's campaign sent by one `run_worker` (with its
   task workers and dispatcher), with one endpoint subscribed to every event vs none, 5
   interleaved rounds each, medians. Target: >= 0.9x.

    python -m bench.webhooks          # DATABASE_URL, else a fresh cs_webhooks_bench
"""

import http.client
import os
import statistics
import subprocess
import sys
import time
import urllib.request

from aiosmtpd.controller import Controller

from bench.send_throughput import CountingHandler, prepare_campaign
from bench.server import ROOT, base_env, free_port, manage, postgres_database, setup_django

EVENTS = int(os.environ.get("BENCH_EVENTS", "10000"))
SEND_LEADS = int(os.environ.get("BENCH_SEND_LEADS", "3000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def start_receiver(secret: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_receiver", str(port), secret], cwd=ROOT
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=1).read()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the receiver did not start")


def received(port: int) -> tuple[int, int, int]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5).read().decode()
    verified, distinct, bad = (int(n) for n in text.split())
    return verified, distinct, bad


def record(workspace_id: object, n: int) -> None:
    """n events through record_events (our own write path), 1,000 per transaction."""
    from django.db import transaction

    from events.services import NewEvent, record_events

    data = {"campaign_id": "0199a3c2-5d3e-7a10-8c1e-4f2b9d7e6a01", "campaign_name": "Bench",
            "status": "ACTIVE", "reason": "user"}  # fmt: skip
    for start in range(0, n, 1000):
        with transaction.atomic():
            record_events(
                NewEvent(workspace_id, "campaign.activated", data)
                for _ in range(min(1000, n - start))
            )


def bare_loop(port: int, secret: str, workspace_slug: str) -> float:
    """Events per second: the stored events' bodies, signed, POSTed over one connection."""
    from events.models import Event
    from events.services import dumps, envelope
    from webhooks.signing import Signer

    events = list(Event.objects.order_by("id")[:EVENTS])
    signer = Signer(secret)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    started = time.perf_counter()
    for event in events:
        body = dumps(envelope(event, workspace_slug))
        headers = signer.headers(str(event.pk), int(time.time()), body)
        headers["Content-Type"] = "application/json"
        conn.request("POST", "/hook", body=body.encode(), headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status >= 300:
            raise RuntimeError(f"the receiver answered {response.status}")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(events) / elapsed


def fan_out_bench() -> None:
    from audit.services import Actor
    from events.models import Event
    from webhooks.delivering import deliver_endpoint
    from webhooks.dispatch import fan_out
    from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
    from webhooks.services import do_create_webhook
    from workspaces.models import Workspace

    WebhookAttempt.objects.all().delete()
    WebhookDelivery.objects.all().delete()
    WebhookEndpoint.objects.all().delete()
    Event.objects.all().delete()
    workspace, _ = Workspace.objects.get_or_create(slug="hooks", defaults={"name": "Hooks"})
    # The secret is only known once the endpoint exists: make it, then start the receiver.
    endpoint, secret = do_create_webhook(
        workspace, {"url": "http://127.0.0.1:1/hook", "event_types": ["*"]},
        actor=Actor.command("bench"),
    )  # fmt: skip
    receiver, port = start_receiver(secret)
    try:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=f"http://127.0.0.1:{port}/hook")
        started = time.perf_counter()
        record(workspace.pk, EVENTS)
        print(f"recorded {EVENTS} events in {time.perf_counter() - started:.2f} s")
        floor = bare_loop(port, secret, workspace.slug)
        before = received(port)[0]
        started = time.perf_counter()
        while fan_out():
            pass
        fanned = time.perf_counter() - started
        delivered = deliver_endpoint(endpoint.pk, budget=3600)
        elapsed = time.perf_counter() - started
        verified, distinct, bad = received(port)
        if delivered != EVENTS or verified - before != EVENTS or bad:
            raise RuntimeError(f"delivered {delivered}, verified {verified - before}, bad {bad}")
        ours = EVENTS / elapsed
        print(f"bare loop (signed bodies, one keep-alive connection): {floor:.0f} events/s")
        print(
            f"one delivery worker (fan-out {fanned:.2f} s + deliveries): {ours:.0f} events/s "
            f"({ours / floor:.2f}x the bare loop; target >= 0.5x); {distinct} distinct ids "
            "verified by the receiver"
        )
    finally:
        receiver.kill()


def send_rounds(env: dict[str, str], smtp_port: int, handler: CountingHandler) -> None:
    from audit.services import Actor
    from webhooks.models import WebhookEndpoint
    from webhooks.services import do_create_webhook
    from workspaces.models import Workspace

    workspace, _ = Workspace.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    WebhookEndpoint.objects.all().delete()
    endpoint, secret = do_create_webhook(
        workspace, {"url": "http://127.0.0.1:1/hook", "event_types": ["*"]},
        actor=Actor.command("bench"),
    )  # fmt: skip
    receiver, port = start_receiver(secret)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=f"http://127.0.0.1:{port}/hook")
    rates: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _ in range(ROUNDS):
            for subscribed in (False, True):
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=subscribed)
                prepare_campaign(smtp_port)
                rates[subscribed].append(one_worker(env, handler))
        print(f"{SEND_LEADS} leads per round, {ROUNDS} interleaved rounds, one run_worker")
        none, one = statistics.median(rates[False]), statistics.median(rates[True])
        print(f"no endpoint: median {none:.0f} messages/s {[round(r) for r in rates[False]]}")
        print(f"one endpoint (*): median {one:.0f} messages/s {[round(r) for r in rates[True]]}")
        print(f"ratio {one / none:.2f}x (target >= 0.9x); the receiver verified "
              f"{received(port)[0]} deliveries")  # fmt: skip
    finally:
        receiver.kill()


def one_worker(env: dict[str, str], handler: CountingHandler) -> float:
    handler.reset()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--exit-when-idle"], cwd=ROOT, env=env
    )
    deadline = time.monotonic() + 600
    while handler.count < SEND_LEADS and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.terminate()
    proc.wait(timeout=60)
    if handler.count != SEND_LEADS:
        raise RuntimeError(f"sent {handler.count} of {SEND_LEADS}")
    return (handler.count - 1) / (handler.last - handler.first)


def main() -> None:
    url = os.environ.get("DATABASE_URL") or postgres_database("cs_webhooks_bench")
    if not url.startswith("postgres"):
        sys.exit("DATABASE_URL must be a PostgreSQL database")
    os.environ["BENCH_LEADS"] = str(SEND_LEADS)
    import bench.send_throughput as sending

    sending.LEADS = SEND_LEADS
    handler = CountingHandler()
    smtp_port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = base_env(
        url, SMTP_ALLOW_PRIVATE_HOSTS="true", SEND_BATCH_SIZE="200",
        WORKER_MAX_SLEEP_SECONDS="0.2", ENV_FILE="/dev/null", WEBHOOK_SWEEP_SECONDS="0.2",
    )  # fmt: skip
    try:
        manage(env, "migrate", "--noinput")
        setup_django(env)
        fan_out_bench()
        send_rounds(env, smtp_port, handler)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
