"""Settings for kbsite. Every knob is an environment variable, read through kbsite.env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from kbsite.env import envbool, envint, envstr

BASE_DIR = Path(__file__).resolve().parent.parent

KB_DATA_DIR = Path(envstr("KB_DATA_DIR", str(BASE_DIR / ".kbdata"))).resolve()
KB_DB_NAME = envstr("KB_DB_NAME", "")  # overrides the database name (tests point workers at theirs)

DEBUG = envbool("DEBUG", False)
SECRET_KEY = envstr("SECRET_KEY", "")
if not SECRET_KEY:
    # Development default: a per-checkout key kept under KB_DATA_DIR, never committed.
    KB_DATA_DIR.mkdir(parents=True, exist_ok=True)
    _key_file = KB_DATA_DIR / "secret_key"
    if not _key_file.exists():
        import secrets

        _key_file.write_text(secrets.token_urlsafe(50))
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = [h.strip() for h in envstr("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in envstr("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
# Served over HTTPS (KB_HTTPS=1): session and CSRF cookies are sent only over HTTPS
# (Secure), and the TLS-terminating proxy's X-Forwarded-Proto is trusted — the proxy must
# set that header itself, overwriting any value a client sent.
KB_HTTPS = envbool("KB_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = KB_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if KB_HTTPS else None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "ninja",  # its API docs page from our static files (the CDN page needs inline script: CSP)
    "django_q",
    "knowledge",
    "connections",
    "audit",
]

MIDDLEWARE = [
    # First: refuses oversized API bodies on Content-Length and NUL characters before anything
    # reads the request, and answers every API error as JSON (kbsite/middleware.py).
    "kbsite.middleware.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "kbsite.csp.ContentSecurityPolicyMiddleware",
    # Static files from STATIC_ROOT (collectstatic) under gunicorn; runserver in DEBUG finds them itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "kbsite.urls"
WSGI_APPLICATION = "kbsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Database -------------------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL", "")
KB_EMBEDDED_DB = not DATABASE_URL
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    from kbsite import embedded_pg

    DATABASES = {
        "default": {
            # Same as Django's postgresql backend, but starts the embedded server on demand.
            "ENGINE": "kbsite.db",
            "NAME": embedded_pg.DATABASE_NAME,
            "USER": "postgres",
            "HOST": "",
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "TEST": {"NAME": "test_kb"},
        }
    }

if KB_DB_NAME:
    DATABASES["default"]["NAME"] = KB_DB_NAME

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = KB_DATA_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG
# htmx is installed by npm at install time (package.json); never committed.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist")]
MEDIA_ROOT = KB_DATA_DIR / "media"
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "kb:files"
LOGOUT_REDIRECT_URL = "login"

# --- Knowledge base -------------------------------------------------------------------
KB_MAX_UPLOAD_MB = envint("KB_MAX_UPLOAD_MB", 25, minimum=1, maximum=1024)
# Any other API body (JSON): refused on Content-Length above this (kbsite.middleware).
KB_API_MAX_BODY_KB = envint("KB_API_MAX_BODY_KB", 1024, minimum=16, maximum=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

KB_RETRIEVAL_ENABLED = envbool("KB_RETRIEVAL_ENABLED", False)
KB_EMBEDDINGS_ENABLED = envbool("KB_EMBEDDINGS_ENABLED", True)
# Checked against knowledge.embeddings.PROVIDERS by the knowledge.E003 system check (settings
# import no app code); an empty model means the provider's default (knowledge.embeddings).
KB_EMBEDDING_PROVIDER = envstr("KB_EMBEDDING_PROVIDER", "local").strip().lower() or "local"
KB_EMBEDDING_MODEL = envstr("KB_EMBEDDING_MODEL", "").strip()
# Texts per local-model run. On the CPU a batch buys nothing for chunk-sized texts (padding and
# attention grow faster than the per-call saving) and activation memory grows with it: 400
# chunks took 17.9 s / 238 MB peak one at a time, 20.2 s / 270 MB by 4, 27.1 s / 440 MB by 16.
KB_EMBEDDING_BATCH_SIZE = envint("KB_EMBEDDING_BATCH_SIZE", 1, minimum=1, maximum=2048)
# Threads per process for the local model (0 = the cores shared out between the processes
# that load it: max(KB_WORKERS, KB_WEB_WORKERS), see knowledge.embeddings._intra_op_threads).
KB_EMBEDDING_THREADS = envint("KB_EMBEDDING_THREADS", 0, minimum=0, maximum=256)
# Where local models' ONNX graphs are kept (exported once per model; see knowledge/onnx_export.py).
KB_MODEL_CACHE_DIR = Path(envstr("KB_MODEL_CACHE_DIR", str(KB_DATA_DIR / "models"))).resolve()
OPENAI_API_KEY = envstr("OPENAI_API_KEY", "")
OPENAI_BASE_URL = envstr("OPENAI_BASE_URL", "") or None
KB_OPENAI_TIMEOUT = envint("KB_OPENAI_TIMEOUT", 30, minimum=1)
KB_OPENAI_MAX_RETRIES = envint("KB_OPENAI_MAX_RETRIES", 5, minimum=0)

KB_CHUNK_SIZE = envint("KB_CHUNK_SIZE", 1000, minimum=800, maximum=1200)
KB_CHUNK_OVERLAP = envint("KB_CHUNK_OVERLAP", 150, minimum=100, maximum=200)
KB_POLICY_MAX_CHARS = envint("KB_POLICY_MAX_CHARS", 3000, minimum=100)
KB_MAX_PDF_PAGES = envint("KB_MAX_PDF_PAGES", 2000, minimum=1)
KB_MAX_EXTRACTED_CHARS = envint("KB_MAX_EXTRACTED_CHARS", 20_000_000, minimum=1000)
# PII neutralisation: the locale whose national phone numbers count, for tenants that set none
# (checked by the knowledge.E004 system check: settings import no app code).
KB_DEFAULT_LOCALE = envstr("KB_DEFAULT_LOCALE", "en-US").strip() or "en-US"

KB_INGEST_MAX_ATTEMPTS = envint("KB_INGEST_MAX_ATTEMPTS", 3, minimum=1)
KB_INGEST_TIMEOUT = envint("KB_INGEST_TIMEOUT", 900, minimum=10)
KB_INGEST_HEARTBEAT_SECONDS = envint("KB_INGEST_HEARTBEAT_SECONDS", 10, minimum=1)
KB_INGEST_STALE_SECONDS = envint("KB_INGEST_STALE_SECONDS", 120, minimum=2)
# Worker liveness (knowledge/ingestion/liveness.py, README "Keeping the worker alive").
KB_INGEST_LOST_SECONDS = envint("KB_INGEST_LOST_SECONDS", 60, minimum=1)
KB_WORKER_DEGRADED_SECONDS = envint("KB_WORKER_DEGRADED_SECONDS", 120, minimum=1)
KB_WORKER_STALLED_SECONDS = envint("KB_WORKER_STALLED_SECONDS", 300, minimum=1)
KB_WORKER_STOP_SECONDS = envint("KB_WORKER_STOP_SECONDS", 15, minimum=1)
KB_REAPER_INTERVAL_SECONDS = envint("KB_REAPER_INTERVAL_SECONDS", 30, minimum=1)
KB_TASK_RETRY_SECONDS = envint("KB_TASK_RETRY_SECONDS", 90, minimum=5)
KB_TASK_RUN_RETENTION_DAYS = envint("KB_TASK_RUN_RETENTION_DAYS", 7, minimum=1)
KB_AUDIT_RETENTION_DAYS = envint("KB_AUDIT_RETENTION_DAYS", 90, minimum=1)

# Embedding budgets (knowledge/budgets.py). Prices in US dollars per 1M tokens, per model
# ("model=usd,…"); a model not listed (local and hash models) is free.
def _parse_prices(raw: str) -> dict[str, float]:
    prices: dict[str, float] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        model, sep, price = item.partition("=")
        try:
            value = float(price)
        except ValueError:
            value = -1.0
        if not sep or not model.strip() or value < 0:
            raise ImproperlyConfigured(f"KB_EMBEDDING_PRICES must look like 'model=0.02,…', got {item!r}")
        prices[model.strip()] = value
    return prices


KB_EMBEDDING_PRICES = _parse_prices(
    envstr("KB_EMBEDDING_PRICES", "text-embedding-3-small=0.02,text-embedding-3-large=0.13,text-embedding-ada-002=0.10")
)
# A reservation not settled within this long belongs to a dead worker: the sweeper releases it.
KB_BUDGET_RESERVATION_SECONDS = envint("KB_BUDGET_RESERVATION_SECONDS", 1200, minimum=30)
# Query-embedding tokens are counted in memory and written at most this often per process.
KB_BUDGET_QUERY_FLUSH_SECONDS = envint("KB_BUDGET_QUERY_FLUSH_SECONDS", 10, minimum=0)
# The file sweep deletes stored files no document refers to, once they are older than this
# (a file is written before its row commits).
KB_FILE_SWEEP_GRACE_MINUTES = envint("KB_FILE_SWEEP_GRACE_MINUTES", 60, minimum=1)
# A change to what a snapshot is made of regenerates the tenant's snapshots this long after it
# (one run per tenant for a burst of changes; knowledge/snapshots/triggers.py).
KB_SNAPSHOT_DEBOUNCE_SECONDS = envint("KB_SNAPSHOT_DEBOUNCE_SECONDS", 30, minimum=0)
# Key of the HMAC that names an erased subject on its receipt (knowledge.erasure.subjects);
# unset: derived from SECRET_KEY. Keep it when rotating SECRET_KEY, or old receipts stop matching.
KB_ERASURE_KEY = envstr("KB_ERASURE_KEY", "")
KB_QUERY_CACHE_SIZE = envint("KB_QUERY_CACHE_SIZE", 2048, minimum=0)
# Run the vector and lexical legs at once on two database connections (see knowledge/retrieval.py).
KB_SEARCH_PARALLEL = envbool("KB_SEARCH_PARALLEL", True)
KB_WORKERS = envint("KB_WORKERS", 2, minimum=1)
# gunicorn worker processes started by `manage.py kb_serve` (4 threads each).
KB_WEB_WORKERS = envint("KB_WEB_WORKERS", 2, minimum=1)

# --- Connected accounts (DESIGN §9) ------------------------------------------------------
# Every provider URL is a setting, so the real clients run unchanged against local servers
# speaking the providers' wire formats (tests, sandbox). A provider is offered only when its
# client id is set (or KB_SANDBOX_PROVIDERS is on).
KB_PUBLIC_URL = envstr("KB_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
KB_MS_CLIENT_ID = envstr("KB_MS_CLIENT_ID", "")
KB_MS_CLIENT_SECRET = envstr("KB_MS_CLIENT_SECRET", "")
KB_MS_AUTHORITY = envstr("KB_MS_AUTHORITY", "https://login.microsoftonline.com/common").rstrip("/")
KB_MS_GRAPH_URL = envstr("KB_MS_GRAPH_URL", "https://graph.microsoft.com/v1.0").rstrip("/")
KB_GOOGLE_CLIENT_ID = envstr("KB_GOOGLE_CLIENT_ID", "")
KB_GOOGLE_CLIENT_SECRET = envstr("KB_GOOGLE_CLIENT_SECRET", "")
KB_GOOGLE_AUTH_URL = envstr("KB_GOOGLE_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth")
KB_GOOGLE_TOKEN_URL = envstr("KB_GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token")
KB_GOOGLE_REVOKE_URL = envstr("KB_GOOGLE_REVOKE_URL", "https://oauth2.googleapis.com/revoke")
KB_GOOGLE_DRIVE_URL = envstr("KB_GOOGLE_DRIVE_URL", "https://www.googleapis.com/drive/v3").rstrip("/")
KB_GOOGLE_GMAIL_URL = envstr("KB_GOOGLE_GMAIL_URL", "https://gmail.googleapis.com/gmail/v1").rstrip("/")
KB_CLICKUP_CLIENT_ID = envstr("KB_CLICKUP_CLIENT_ID", "")
KB_CLICKUP_CLIENT_SECRET = envstr("KB_CLICKUP_CLIENT_SECRET", "")
KB_CLICKUP_AUTH_URL = envstr("KB_CLICKUP_AUTH_URL", "https://app.clickup.com/api")
KB_CLICKUP_API_URL = envstr("KB_CLICKUP_API_URL", "https://api.clickup.com/api/v2").rstrip("/")
# Fernet keys (url-safe base64 of 32 bytes), comma-separated, newest first. Development
# default: one generated and kept under KB_DATA_DIR, like the secret key.
KB_TOKEN_KEYS = [k.strip() for k in envstr("KB_TOKEN_KEYS", "").split(",") if k.strip()]
if not KB_TOKEN_KEYS:
    KB_DATA_DIR.mkdir(parents=True, exist_ok=True)
    _token_key_file = KB_DATA_DIR / "token_key"
    if not _token_key_file.exists():
        import base64 as _base64
        import secrets as _secrets

        _token_key_file.write_text(_base64.urlsafe_b64encode(_secrets.token_bytes(32)).decode())
        _token_key_file.chmod(0o600)
    KB_TOKEN_KEYS = [_token_key_file.read_text().strip()]
KB_SYNC_INTERVAL_MINUTES = envint("KB_SYNC_INTERVAL_MINUTES", 15, minimum=1)
KB_MAIL_WINDOW_DAYS = envint("KB_MAIL_WINDOW_DAYS", 90, minimum=1)
KB_CONNECTION_MAX_ITEMS = envint("KB_CONNECTION_MAX_ITEMS", 20_000, minimum=1)
KB_SANDBOX_PROVIDERS = envbool("KB_SANDBOX_PROVIDERS", False)
# The sandbox server of `kb_serve` (connections/sandbox/serve.py): 0 = the port it had last time, else a free one.
KB_SANDBOX_PORT = envint("KB_SANDBOX_PORT", 0, minimum=0)
# Cleaned mail/message bodies are cut at this length for the `body` tier.
KB_MAIL_BODY_MAX_CHARS = envint("KB_MAIL_BODY_MAX_CHARS", 20_000, minimum=500)
KB_PROVIDER_TIMEOUT = envint("KB_PROVIDER_TIMEOUT", 30, minimum=1)

# The worker's cluster stats must be visible to the web process (health endpoint), so
# django-q2 keeps them in a database cache table rather than per-process memory.
# Failed-login counts (kbsite/login.py) share that table, under their own key prefix. The
# database cache culls by counting the whole table, so both aliases allow many entries: a
# flood of counters must not evict the worker's stats, nor the worker's culls the counters.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "djangoq": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "kb_worker_cache",
        "OPTIONS": {"MAX_ENTRIES": 200_000},
    },
    "throttle": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "kb_worker_cache",
        "KEY_PREFIX": "kb-throttle", "OPTIONS": {"MAX_ENTRIES": 200_000},
    },
}

# Login throttling (kbsite/login.py): failures per account and per client address in a window.
KB_LOGIN_MAX_FAILURES = envint("KB_LOGIN_MAX_FAILURES", 5, minimum=1)
KB_LOGIN_MAX_FAILURES_PER_ADDRESS = envint("KB_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, minimum=1)
KB_LOGIN_WINDOW_MINUTES = envint("KB_LOGIN_WINDOW_MINUTES", 15, minimum=1)
# Trusted reverse proxies in front of the app: the client address is then taken from
# X-Forwarded-For (that many hops from the right). 0: REMOTE_ADDR.
KB_PROXY_COUNT = envint("KB_PROXY_COUNT", 0, minimum=0, maximum=10)

# django-q2: ORM broker on the same Postgres. `retry` is how soon a task taken by a pusher
# or cluster that died is delivered again, so it is short; a task still running then is
# delivered twice, and the second delivery finds its job claimed and returns at once.
# Ingest tasks carry their own time limit (KB_INGEST_TIMEOUT); `timeout` is the
# housekeeping tasks' (and is not above `retry`, as django-q2 wants).
Q_CLUSTER: dict[str, Any] = {
    "name": "kb",
    "orm": "default",
    "workers": KB_WORKERS,
    "timeout": KB_TASK_RETRY_SECONDS,
    "retry": KB_TASK_RETRY_SECONDS,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": 0.2,
    "label": "Task queue",
    "cache": "djangoq",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "pgserver": {"level": "WARNING"},
        # pypdf warns per page about fonts and malformed objects; the job records real failures.
        "pypdf": {"level": "ERROR"},
        # httpx logs every request URL at INFO: pre-authenticated download URLs and ClickUp's
        # token call carry credentials in theirs.
        "httpx": {"level": "WARNING"},
    },
}
