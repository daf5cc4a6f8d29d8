"""Settings for benchmarks: the real settings plus a baseline route (bench/urls.py)."""

from coldsend.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
