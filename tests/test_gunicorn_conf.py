"""gunicorn.conf.py listens on loopback unless GUNICORN_BIND says otherwise (README, Production)."""

import runpy
from pathlib import Path

CONF = str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py")


def test_the_default_bind_is_loopback(monkeypatch):
    monkeypatch.delenv("GUNICORN_BIND", raising=False)
    assert runpy.run_path(CONF)["bind"] == "127.0.0.1:8000"


def test_gunicorn_bind_overrides_it(monkeypatch):
    monkeypatch.setenv("GUNICORN_BIND", "0.0.0.0:9000")
    assert runpy.run_path(CONF)["bind"] == "0.0.0.0:9000"
