"""`manage.py` commands (and so `make key`, whose stdout is the raw key alone) print nothing on
stderr when all is well: no "AXES: BEGIN version …" banner from django-axes at every start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("debug", ["true", "false"])
def test_manage_py_prints_no_axes_banner(tmp_path, debug):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
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
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    assert "AXES" not in result.stderr
    assert not [line for line in result.stderr.splitlines() if " INFO " in line], result.stderr
