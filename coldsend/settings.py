"""ColdSend settings. Every environment variable is read here, once, via django-environ.

Defaults make `runserver` work on a fresh clone with DEBUG on; with DEBUG off the
secrets must come from the environment (or a `.env` file beside manage.py).
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# ENV_FILE names another file (or /dev/null for none); real environment variables win.
environ.Env.read_env(os.environ.get("ENV_FILE", str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Development-only fallbacks: refused when DEBUG is off.
_DEV_SECRET_KEY = "django-insecure-dev-only-coldsend-secret-key-do-not-use-in-production"
_DEV_FIELD_ENCRYPTION_KEY = "YyH4Jt54Baw_X_tVYsKtpHNVqt-SN286Nc-ZaBw6b0c="

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (or .env), "
            "or set DEBUG=true for local development."
        )
    SECRET_KEY = _DEV_SECRET_KEY
# Earlier keys, still accepted when verifying signatures (e.g. the tracking links of mail
# already sent) after a rotation.
SECRET_KEY_FALLBACKS = [key for key in env.list("SECRET_KEY_FALLBACKS", default=[]) if key.strip()]

# Comma-separated Fernet keys: the first encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is not set. Generate a key with: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    FIELD_ENCRYPTION_KEYS = [_DEV_FIELD_ENCRYPTION_KEY]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from our static files, no CDN
    # Before axes: its `axes_reset` command takes the place of axes' own.
    "coldsend",
    "axes",
    "workspaces",
    "apikeys",
    "campaigns",
    "sender_accounts",
    "leads",
    "engagement",
    "audit",
    "events",
    "delivery",
    "inbound",
    "webhooks",
    # Development tooling, standing alone: the local mail catcher that `make run` starts.
    "mailcatcher",
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    # First: with DEBUG on, an API path's HTML debug page becomes its JSON error (API.md §3).
    "coldsend.api.errors.APIErrorPagesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "coldsend.api.request_log.RequestLogMiddleware",
    "coldsend.api.throttling.RateLimitHeadersMiddleware",
    "coldsend.api.body_size.BodySizeLimitMiddleware",
    "coldsend.api.cache_outage.CacheOutageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "coldsend.api.idempotency.IdempotencyMiddleware",
    # Last, as django-axes asks: turns a refused admin login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

# Admin logins (API.md §9): django-axes refuses logins, the right password included, for
# ADMIN_LOGIN_LOCKOUT_MINUTES after ADMIN_LOGIN_FAILURE_LIMIT failures for one username or from
# one address (each counted on its own), in the cache (shared across processes with Redis).
# API keys never go through these backends. Lift a lockout with `manage.py axes_reset_username
# NAME` or `manage.py axes_reset_ip ADDRESS`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A lockout lasts its 15 minutes from the last counted failure; tries while locked do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ADMIN = False  # its pages list database records; the cache handler keeps none
AXES_CLIENT_IP_CALLABLE = "coldsend.client_ip.client_ip"
# No "AXES: BEGIN version …" banner on stderr at every start (manage.py, `make key`); lockouts
# are still logged, as warnings.
AXES_VERBOSE = False
# axes warns about a per-process cache: without CACHE_URL, lockouts (like rate limits) count per
# process; production sets CACHE_URL=redis://… (README).
SILENCED_SYSTEM_CHECKS = ["axes.W001"]
# Behind N reverse proxies that each append to X-Forwarded-For, the client's address is the
# N-th entry from the right; 0 (default): REMOTE_ADDR, the connecting peer.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

ROOT_URLCONF = "coldsend.urls"
WSGI_APPLICATION = "coldsend.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "coldsend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let concurrent requests wait for the write lock instead of failing;
    # IMMEDIATE transactions take it up front so a read-then-write never deadlocks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not the in-memory default, so tests with threads see real locking (and wait).
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"coldsend-test-{os.getpid()}.sqlite3")
    }

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://coldsend")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` writes here; WhiteNoise serves it when DEBUG is off.
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies and content-hashed names (cached forever by browsers).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apikeys.authentication.APIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [
        "apikeys.permissions.HasScope",
        "coldsend.api.idempotency.IdempotencyKeyFormat",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "coldsend.api.parsers.StrictJSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # IdempotentReplay last: a retry is answered only once the key passed every check and limit.
    "DEFAULT_THROTTLE_CLASSES": [
        "coldsend.api.throttling.APIKeyRateThrottle",
        "coldsend.api.idempotency.IdempotentReplay",
    ],
    "DEFAULT_PAGINATION_CLASS": "coldsend.api.pagination.NewestFirstCursorPagination",
    "DEFAULT_SCHEMA_CLASS": "coldsend.api.schema.ScopedAutoSchema",
    "EXCEPTION_HANDLER": "coldsend.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ColdSend public API",
    "DESCRIPTION": (
        "Campaigns, sender accounts and leads for cold-email outreach, driven by scoped API keys. "
        "Send the key in `X-API-Key` (or `Authorization: Bearer`). Every operation names the "
        "scope it requires; `RESOURCE:all` grants every action of a resource and `*` grants "
        "everything.\n\n"
        "Rate limits are per key, over a sliding window: the current fixed window's count plus "
        "the previous window's, weighted by how much of it lies within the last period, so no "
        "burst of twice the limit passes across a window boundary. Every authenticated answer "
        "carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` (requests that would pass right "
        "now) and `X-RateLimit-Reset` (epoch seconds when the full allowance is back: up to two "
        "periods after the last counted request); a 429 carries `Retry-After`, the seconds "
        "until one more request fits. Refused requests are not counted. A 503 with "
        "`Retry-After` means the rate-limit and idempotency store is unreachable: nothing ran."
        "\n\n"
        "**[The API guide](/api/public/v1/guide)** explains keys and scopes, errors, every "
        "resource, the campaign states, lead import, pagination, idempotency and rate limits "
        "(it is `docs/api.md` in the ColdSend repository)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],  # the schema and docs are public: a bad key does not matter
    "SCHEMA_PATH_PREFIX": r"/api/public/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two 409 bodies (a campaign's and a lead's) can only be `invalid_state`: one enum for both.
    "ENUM_NAME_OVERRIDES": {"InvalidStateCodeEnum": ["invalid_state"]},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No call to swagger.io's online validator: the docs work offline.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Tags of their own only where a resource needs more words than its operations carry.
    "TAGS": [
        {
            "name": "events",
            "description": (
                "The workspace's event log: every change (messages, leads, campaigns, sender "
                "accounts, webhooks) is recorded in the transaction of the change itself, so an "
                "event is never lost and never reports a change that was rolled back. Each "
                "event is one of the `Event_<type>` schemas (`Event`, told apart by `type`); "
                "payloads only ever gain fields. Kept `EVENTS_RETENTION_DAYS` (default 30). "
                "To poll, ask `?created_after=` your last seen `created_at` minus 60 seconds "
                "and drop the ids you have seen."
            ),
        },
        {
            "name": "webhooks",
            "description": (
                "Endpoints that receive the events as they happen, per Standard Webhooks 1.0: "
                "a `POST` whose body is the event JSON exactly as signed (the same object "
                "`GET events` shows), with the headers\n\n"
                "- `Content-Type: application/json`\n"
                "- `webhook-id`: the event's id, the same on every retry (dedupe on it)\n"
                "- `webhook-timestamp`: Unix seconds of this attempt\n"
                "- `webhook-signature`: `v1,<base64 HMAC-SHA256>` of "
                "`{webhook-id}.{webhook-timestamp}.{body}`, keyed with the bytes of the "
                "secret's base64 part (after `whsec_`); after a `rotate_secret`, until the "
                "previous secret expires, two signatures separated by a space, the new one "
                "first\n\n"
                "The Standard Webhooks or Svix libraries verify them unchanged; reject an old "
                "`webhook-timestamp` to stop replays. Any 2xx within `WEBHOOK_TIMEOUT_SECONDS` "
                "(default 15) is a success; redirects are not followed. Anything else is "
                "retried, re-signed with a new timestamp, after about 5 s, 5 min, 30 min, 2 h, "
                "5 h, 10 h and 10 h (a 429 or 503 with `Retry-After` waits at least that "
                "long). A 410 disables the endpoint at once (`disabled_reason` `gone`); no "
                "success for 5 days while attempts failed disables it (`failing`); either way "
                "a `webhook.disabled` event is recorded. Delivery is at least once and "
                "unordered (order by `created_at`). **[The webhooks guide]"
                "(/api/public/v1/guide/webhooks)** has a receiver in Python and every event "
                "type with an example."
            ),
        },
    ],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "coldsend.api.schema.add_links",
        "campaigns.schema.steps_max_items",
    ],
}

# Lead import limits (API.md §6): over either, 413 and nothing imported.
LEADS_IMPORT_MAX_BYTES = env.int("LEADS_IMPORT_MAX_BYTES", default=10 * 1024 * 1024)
LEADS_IMPORT_MAX_ROWS = env.int("LEADS_IMPORT_MAX_ROWS", default=100_000)
# Lines of a CSV file, counting those inside quoted cells: reading costs time per line, and a
# file of a few rows can hold millions of line breaks. Over it, 413 and nothing imported.
LEADS_IMPORT_MAX_LINES = env.int("LEADS_IMPORT_MAX_LINES", default=5 * LEADS_IMPORT_MAX_ROWS)
# A CSV header with more columns is a 400, refused before the header is split.
LEADS_IMPORT_MAX_COLUMNS = env.int("LEADS_IMPORT_MAX_COLUMNS", default=1000)

# Request bodies: every API endpoint but the import is bounded by API_MAX_BODY_BYTES (413 over
# it); Django reads at most the import's size into memory.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = LEADS_IMPORT_MAX_BYTES + 64 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # larger uploads spool to a temporary file

# Per-key rate limits, "N/second|minute|hour|day"; lead imports count in a bucket of their own.
RATE_LIMITS = {
    "default": env.str("RATE_LIMIT", default="600/minute"),
    "import": env.str("RATE_LIMIT_IMPORT", default="30/minute"),
}

# Idempotency-Key: answers are replayed for 24 hours; a request still running holds its key
# for at most IDEMPOTENCY_LOCK_SECONDS (after a crash the key frees itself).
IDEMPOTENCY_TTL_SECONDS = env.int("IDEMPOTENCY_TTL_SECONDS", default=24 * 3600)
IDEMPOTENCY_LOCK_SECONDS = env.int("IDEMPOTENCY_LOCK_SECONDS", default=300)
# What the replay store may hold: an answer over IDEMPOTENCY_MAX_STORED_BYTES, or past an API
# key's budget of IDEMPOTENCY_MAX_STORED_BYTES_PER_KEY per IDEMPOTENCY_TTL_SECONDS, is kept as
# its fingerprint and status only (a retry is then a 409 idempotency_response_not_stored).
IDEMPOTENCY_MAX_STORED_BYTES = env.int("IDEMPOTENCY_MAX_STORED_BYTES", default=64 * 1024)
IDEMPOTENCY_MAX_STORED_BYTES_PER_KEY = env.int(
    "IDEMPOTENCY_MAX_STORED_BYTES_PER_KEY", default=10 * 1024 * 1024
)

# With the cache (rate limits, idempotency) unreachable, authenticated API requests answer 503
# with this Retry-After.
CACHE_UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("CACHE_UNAVAILABLE_RETRY_AFTER_SECONDS", default=5)

# Usage (last_used_at, used scopes) is written at most once per this many seconds per key.
API_KEY_USAGE_WRITE_INTERVAL = env.int("API_KEY_USAGE_WRITE_INTERVAL", default=60)

# The local mail catcher (API.md §9; `manage.py run_mail_catcher`, started by `make run`): SMTP
# on loopback, any login or none, every message kept for the admin, nothing delivered onward.
MAIL_CATCHER_HOST = env.str("MAIL_CATCHER_HOST", default="127.0.0.1")
MAIL_CATCHER_PORT = env.int("MAIL_CATCHER_PORT", default=1025)
MAIL_CATCHER_MAX_BYTES = env.int("MAIL_CATCHER_MAX_BYTES", default=10 * 1024 * 1024)
_catcher_host = f"[{MAIL_CATCHER_HOST}]" if ":" in MAIL_CATCHER_HOST else MAIL_CATCHER_HOST

# Sending (API.md §7). EMAIL_URL: the outgoing relay of NATIVE sender accounts (django-environ's
# email URL, e.g. smtp+tls://user:pass@relay:587; smtp://host:port is no TLS and no AUTH). The
# default: the mail catcher with DEBUG, else messages printed to the console.
vars().update(
    env.email_url(
        "EMAIL_URL",
        default=f"smtp://{_catcher_host}:{MAIL_CATCHER_PORT}" if DEBUG else "consolemail://",
    )
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
# Links in messages (unsubscribe, tracking) point here.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Loopback/private/link-local/reserved SMTP, IMAP and webhook hosts are refused unless this is
# true (webhook URLs may then be plain http too: development).
SMTP_ALLOW_PRIVATE_HOSTS = env.bool("SMTP_ALLOW_PRIVATE_HOSTS", default=DEBUG)
# Per SMTP command; keep it well under the SQLite lock timeout (20 s).
SMTP_TIMEOUT_SECONDS = env.float("SMTP_TIMEOUT_SECONDS", default=10.0)
# The most a session's opening (connect to AUTH), or one message (MAIL FROM to the end of DATA),
# may take, however slowly the server drips its answers (API.md §7).
SMTP_SESSION_DEADLINE_SECONDS = env.float("SMTP_SESSION_DEADLINE_SECONDS", default=120.0)
# Inbox reading (API.md §8): how often each sender account's inbox is read, the IMAP timeout,
# and an extra CA file to trust for IMAP TLS (a private server's own certificate).
INBOX_POLL_SECONDS = env.int("INBOX_POLL_SECONDS", default=60)
IMAP_TIMEOUT_SECONDS = env.float("IMAP_TIMEOUT_SECONDS", default=10.0)
# Every poll of one inbox ends within this, however slowly its server answers (API.md §8).
INBOX_POLL_DEADLINE_SECONDS = env.float("INBOX_POLL_DEADLINE_SECONDS", default=60.0)
# A message over this is classified from its headers alone; no literal over it is ever read.
INBOX_MAX_MESSAGE_BYTES = env.int("INBOX_MAX_MESSAGE_BYTES", default=10 * 1024 * 1024)
IMAP_TLS_CA_FILE = env.str("IMAP_TLS_CA_FILE", default="")
# Opens are written in batches, this often, by each web process (0: at once, in the request).
TRACKING_FLUSH_SECONDS = env.float("TRACKING_FLUSH_SECONDS", default=1.0)
# Messages one worker claims per round.
SEND_BATCH_SIZE = env.int("SEND_BATCH_SIZE", default=50)
# Sender accounts one worker sends for at once, each over its own SMTP and database connection
# (PostgreSQL; on SQLite a worker sends for one account at a time).
SEND_CONNECTIONS = env.int("SEND_CONNECTIONS", default=20)
# A claimed message not started within this is handed back; one started (SENDING) and not
# finished within it is FAILED "interrupted", never sent again.
SEND_CLAIM_LEASE_SECONDS = env.float("SEND_CLAIM_LEASE_SECONDS", default=300.0)
# The gate's commit (message SENDING, before DATA) waits for the disk, so that even a database
# crash cannot cause a second send. False trades that for speed on PostgreSQL: a killed worker
# still never causes a second send, a database crash in the following ~0.6 s could.
SEND_GATE_DURABLE = env.bool("SEND_GATE_DURABLE", default=True)
# 4xx or a dropped connection: tried again after base, 2x base, 4x base … up to
# SEND_MAX_ATTEMPTS tries in all (defaults: 4 tries over 70 minutes), then the lead is FAILED.
SEND_RETRY_BACKOFF_SECONDS = env.float("SEND_RETRY_BACKOFF_SECONDS", default=600.0)
SEND_MAX_ATTEMPTS = env.int("SEND_MAX_ATTEMPTS", default=4)
# A failure of the account phase (connect, EHLO, STARTTLS, AUTH, MAIL FROM) is not one of the
# lead's tries: its message waits this long; three in a row put the account in ERROR.
ACCOUNT_RETRY_SECONDS = env.float("ACCOUNT_RETRY_SECONDS", default=10.0)
# A sender account in ERROR is tried again this often (ACTIVE again when it connects).
ACCOUNT_RECHECK_SECONDS = env.float("ACCOUNT_RECHECK_SECONDS", default=300.0)
# POST sender_accounts/{id}/check and campaigns' test sends: each gives up after this long, and
# at most this many run at once per workspace (429 beyond).
CONNECTION_CHECK_SECONDS = env.float("CONNECTION_CHECK_SECONDS", default=15.0)
CONNECTION_CHECKS_PER_WORKSPACE = env.int("CONNECTION_CHECKS_PER_WORKSPACE", default=2)
# An idle worker looks for due sends at least this often (a due send starts within 10 s).
WORKER_MAX_SLEEP_SECONDS = env.float("WORKER_MAX_SLEEP_SECONDS", default=5.0)

# Background tasks (Django Tasks API): the database by default, nothing else to run;
# TASKS_BACKEND=rq runs them on RQ over Redis (TASKS_REDIS_URL, default REDIS_URL).
TASKS_BACKEND = env.str("TASKS_BACKEND", default="db")
_TASK_BACKENDS = {
    "db": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
if TASKS_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"TASKS_BACKEND must be one of {', '.join(_TASK_BACKENDS)}.")
# Two queues: "default" (inbox reads, account re-checks) and "webhooks" (deliveries), each with
# workers of its own, so a slow endpoint never holds an inbox read and the other way round.
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[TASKS_BACKEND], "QUEUES": ["default", "webhooks"]}}
if TASKS_BACKEND == "rq":
    INSTALLED_APPS.append("django_rq")  # its `rqworker` command
# Task workers per run_worker (threads for the database queue, processes for RQ): inbox polls
# and account re-checks talk to other people's servers, so one slow server holds one of them.
TASK_WORKERS = env.int("TASK_WORKERS", default=4)
TASKS_REDIS_URL = env.str(
    "TASKS_REDIS_URL", default=env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
)
RQ_QUEUES = {
    "default": {"URL": TASKS_REDIS_URL, "DEFAULT_TIMEOUT": 300},
    "webhooks": {"URL": TASKS_REDIS_URL, "DEFAULT_TIMEOUT": 300},
}

# Events and webhooks (API.md §10).
EVENTS_RETENTION_DAYS = env.int("EVENTS_RETENTION_DAYS", default=30)
WEBHOOKS_PER_WORKSPACE = env.int("WEBHOOKS_PER_WORKSPACE", default=20)
# A delivery attempt's total deadline (connect, TLS, request, response).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=15.0)
# Seconds before each retry after a failed attempt (jitter ±10%): about 5 s, 5 min, 30 min,
# 2 h, 5 h, 10 h and 10 h, so retries span more than a day; then the delivery is FAILED.
_RETRIES = [5, 300, 1800, 7200, 18000, 36000, 36000]
WEBHOOK_RETRY_SCHEDULE = [float(s) for s in env.list("WEBHOOK_RETRY_SCHEDULE", default=_RETRIES)]
# An endpoint with no success for this long while attempts failed is disabled ("failing").
WEBHOOK_FAILING_DAYS = env.float("WEBHOOK_FAILING_DAYS", default=5.0)
# Delivery task workers per run_worker (threads, or RQ processes), on the "webhooks" queue.
WEBHOOK_WORKERS = env.int("WEBHOOK_WORKERS", default=4)
# A workspace's endpoints are delivered by at most this many workers at once (across worker
# processes): one workspace's slow endpoints never hold every worker.
WEBHOOK_TASKS_PER_WORKSPACE = env.int("WEBHOOK_TASKS_PER_WORKSPACE", default=2)
# A delivery task works for one endpoint for at most this long, then lets others have a turn.
WEBHOOK_TASK_SECONDS = env.float("WEBHOOK_TASK_SECONDS", default=30.0)
# A claimed delivery is held this long (at least a task's budget plus one attempt's timeout);
# a worker killed meanwhile leaves it to the next sweep.
WEBHOOK_LEASE_SECONDS = env.float("WEBHOOK_LEASE_SECONDS", default=60.0)
# How often each worker's dispatcher looks for new events and due deliveries (it is also woken
# at once by events recorded in its own process).
WEBHOOK_SWEEP_SECONDS = env.float("WEBHOOK_SWEEP_SECONDS", default=1.0)

# Production hardening: on unless DEBUG. Behind a TLS-terminating proxy, set
# SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https so Django knows the request was HTTPS.
_proxy_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_header) if len(_proxy_header) == 2 else None
# Off by default: the TLS-terminating proxy redirects; API clients never get redirects.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^api/public/v1/"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Records reach the root handler only: Django's own console handler (DEBUG) would print
        # each line twice, e.g. runserver's "Watching for file changes".
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # Django's request logger repeats the path of every 4xx; our request log covers it.
        "django.request": {"level": "ERROR"},
        # One line per detector per inbox message at INFO.
        "flufl.bounce": {"level": "WARNING"},
    },
}
