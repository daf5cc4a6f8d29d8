"""Settings: with DEBUG off the secrets must come from the environment; with DEBUG on
a fresh clone starts without any."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
FERNET_KEY = "YyH4Jt54Baw_X_tVYsKtpHNVqt-SN286Nc-ZaBw6b0c="


def run_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """`manage.py check` in a clean environment: only PATH, a throwaway database and `env`."""
    clean = {
        "PATH": os.environ.get("PATH", ""),
        "ENV_FILE": "/dev/null",  # a developer's .env must not hide a missing SECRET_KEY
        "DATABASE_URL": f"sqlite:///{tmp_path / 'check.sqlite3'}",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("debug", [None, "false", "0"])
def test_without_secret_key_and_debug_off_startup_fails_clearly(tmp_path, debug):
    env = {"FIELD_ENCRYPTION_KEYS": FERNET_KEY}
    if debug is not None:
        env["DEBUG"] = debug
    result = run_check(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


def test_without_field_encryption_keys_and_debug_off_startup_fails_clearly(tmp_path):
    result = run_check(tmp_path, SECRET_KEY="a-real-secret-from-the-environment")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS is not set" in result.stderr


def test_with_secrets_and_debug_off_starts(tmp_path):
    result = run_check(
        tmp_path, SECRET_KEY="a-real-secret-from-the-environment", FIELD_ENCRYPTION_KEYS=FERNET_KEY
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("debug", ["true", "1", "True"])
def test_debug_on_starts_without_any_secret(tmp_path, debug):
    result = run_check(tmp_path, DEBUG=debug)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_settings_import_fails_without_secret_key(tmp_path):
    code = "import django; django.setup()"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={
            "PATH": os.environ.get("PATH", ""),
            "ENV_FILE": "/dev/null",
            "DJANGO_SETTINGS_MODULE": "coldsend.settings",
            "FIELD_ENCRYPTION_KEYS": FERNET_KEY,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "DEBUG=true" in result.stderr  # says how to get going locally
