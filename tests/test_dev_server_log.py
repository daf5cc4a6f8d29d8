"""Development server output: each log line once. runserver's autoreloader logs "Watching for
file changes" on `django.utils.autoreload`; with DEBUG on, Django's own console handler and the
project's root handler both printed it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EMIT = (
    "import django, logging; django.setup(); "
    "logging.getLogger('django.utils.autoreload').info('Watching for file changes with X'); "
    "logging.getLogger('django.request').error('Internal Server Error: /x'); "
    "logging.getLogger('coldsend.requests').info('one request')"
)


@pytest.mark.parametrize("debug", ["true", "false"])
def test_each_django_log_line_is_printed_once(tmp_path, debug):
    result = subprocess.run(
        [sys.executable, "-c", EMIT],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "ENV_FILE": "/dev/null",
            "DJANGO_SETTINGS_MODULE": "coldsend.settings",
            "DEBUG": debug,
            "SECRET_KEY": "a-secret-for-this-test-only",
            "FIELD_ENCRYPTION_KEYS": "YyH4Jt54Baw_X_tVYsKtpHNVqt-SN286Nc-ZaBw6b0c=",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    output = result.stdout + result.stderr
    assert output.count("Watching for file changes") == 1, output
    assert output.count("Internal Server Error: /x") == 1, output
    assert output.count("one request") == 1, output
