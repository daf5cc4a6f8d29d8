"""Real processes: `manage.py run_worker` and `create_api_key`, and the environment of a
production-mode process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k3v!q9x#T2m@Lr8pZ0w$Yb6nC4dF1gH7jJ5sA-uE_oI&iU+eR=tW*yQ^pO%aS(dD)",
    "FIELD_ENCRYPTION_KEYS": "m2sR2cTgrqGJm4rK9Z7mBv3f0Ok3d6xq1Kz8vYy8aHc=",
    "ALLOWED_HOSTS": "api.coldsend.example",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "DATABASE_URL": "sqlite:////tmp/coldsend-deploy-check.sqlite3",
}


def create_api_key_process(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`manage.py create_api_key ARGS` in a real process, on a throwaway SQLite file (never the
    developer's database), with test secrets only."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SECRET_KEY": "subprocess-test-secret",
        "FIELD_ENCRYPTION_KEYS": settings.FIELD_ENCRYPTION_KEYS[0],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "create_api_key", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


def start_worker(tasks: bool = False, **env: str) -> subprocess.Popen:
    environment = {
        **os.environ,
        "ENV_FILE": "/dev/null",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": "test-only-secret-key",
        "SMTP_ALLOW_PRIVATE_HOSTS": "true",
        "WORKER_MAX_SLEEP_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "0",
        **env,
    }
    environment.setdefault("FIELD_ENCRYPTION_KEYS", "YyH4Jt54Baw_X_tVYsKtpHNVqt-SN286Nc-ZaBw6b0c=")
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", *([] if tasks else ["--no-tasks"])],
        cwd=ROOT,
        env=environment,
    )


def wait_for(condition, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def stop(workers: list[subprocess.Popen]) -> list[int]:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    return [worker.wait(timeout=60) for worker in workers]
