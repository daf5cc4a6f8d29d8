"""Production entry point: `gunicorn -c gunicorn.conf.py` (see README, "Production")."""

import multiprocessing
import os

wsgi_app = "coldsend.wsgi:application"
# Loopback unless told otherwise: set GUNICORN_BIND=0.0.0.0:8000 to accept other machines
# (e.g. in a container behind a TLS proxy).
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))  # a 10 MB lead import takes seconds
graceful_timeout = 30
keepalive = 5
max_requests = 10_000  # recycle workers now and then
max_requests_jitter = 1_000
accesslog = None  # the app writes one structured line per API request; no duplicate access log
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_field_size = 8190
