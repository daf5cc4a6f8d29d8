"""Benchmark plumbing: a throwaway database, a real gunicorn serving the app, and timing helpers.

Benchmarks run by hand (`make bench` or `python -m bench.<name>`), never in the test suite."""

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY=env.get("SECRET_KEY", "bench-secret-key"),
        FIELD_ENCRYPTION_KEYS=env.get(
            "FIELD_ENCRYPTION_KEYS", "YyH4Jt54Baw_X_tVYsKtpHNVqt-SN286Nc-ZaBw6b0c="
        ),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def postgres_database(name: str) -> str:
    """Drop and create database `name` (prefixed by $BENCH_DB_PREFIX, so parallel runs on one
    server keep apart); return its URL."""
    import psycopg

    name = os.environ.get("BENCH_DB_PREFIX", "") + name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def sqlite_database(name: str) -> str:
    path = Path("/tmp") / f"{name}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int = 2, threads: int = 1, settings: str | None = None,
             timeout: int = 120) -> Iterator[tuple[str, subprocess.Popen]]:  # fmt: skip
    """Serve the app with gunicorn on a free port; yield (base URL, process)."""
    port = free_port()
    env = dict(env)
    if settings:
        env["DJANGO_SETTINGS_MODULE"] = settings
    cmd = [
        sys.executable, "-m", "gunicorn", "coldsend.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        "--timeout", str(timeout), "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/public/v1/schema", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield base, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(samples: list[float]) -> str:
    """Median and p95 of samples given in seconds, as milliseconds."""
    return (
        f"median {statistics.median(samples) * 1000:.1f} ms, "
        f"p95 {percentile(samples, 95) * 1000:.1f} ms (n={len(samples)})"
    )


def create_key(env: dict[str, str], scopes: str = "*", workspace: str = "default") -> str:
    """A new API key made by the real command; its raw value is the last line it prints."""
    out = manage(env, "create_api_key", "--name", "bench", "--scopes", scopes,
                 "--workspace", workspace)  # fmt: skip
    return out.strip().splitlines()[-1]


def setup_django(env: dict[str, str]) -> None:
    """Use the app's models from the benchmark process, against the benchmark's database."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coldsend.settings")
    import django

    django.setup()


def timed_get(url: str, key: str) -> float:
    """Seconds one authenticated GET takes, response read; it must answer 200."""
    request = urllib.request.Request(url, headers={"X-API-Key": key})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        assert response.status == 200
    return time.perf_counter() - started


def prepare_postgres(database: str) -> tuple[dict[str, str], str]:
    """A fresh, migrated database with a `*` key, no rate limit in the way, and Django set up
    in this process against it; return (env for servers and commands, raw key)."""
    env = base_env(postgres_database(database), RATE_LIMIT="100000000/minute")
    manage(env, "migrate", "--noinput")
    key = create_key(env)
    setup_django(env)
    return env, key


def load_campaign(key: str, body: dict, sql: list[str], params: dict, analyze: list[str]) -> str:
    """A ready campaign made through the API's own code (`body`, plus one NATIVE sender
    account), then rows inserted by the bulk `sql` (given `params` and workspace, campaign,
    sender), the tables in `analyze` vacuumed; return the campaign's id."""
    from django.db import connection
    from django.test import Client

    from sender_accounts.models import SenderAccount
    from workspaces.models import Workspace

    client = Client(HTTP_HOST="localhost", HTTP_X_API_KEY=key)
    response = client.get("/api/public/v1/me")
    assert response.status_code == 200, response.content
    ws = Workspace.objects.get(slug=response.json()["workspace"])
    sender = SenderAccount.objects.create(workspace=ws, type="NATIVE", email="bench@example.com")
    body = {**body, "sender_account_ids": [str(sender.pk)]}
    response = client.post("/api/public/v1/campaigns", body, content_type="application/json")
    assert response.status_code == 201, response.content
    campaign = response.json()["id"]
    params = {**params, "workspace": ws.pk, "campaign": campaign, "sender": sender.pk}
    with connection.cursor() as cursor:
        started = time.monotonic()
        for statement in sql:
            cursor.execute(statement, params)
        print(f"  loaded in {time.monotonic() - started:.1f} s")
        for table in analyze:
            cursor.execute(f"VACUUM ANALYZE {table}")
    return campaign
