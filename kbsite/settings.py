"""Settings for kbsite. Every knob is an environment variable, read through kbsite.env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from kbsite.env import envbool, envchoice, envint, envstr

# Light at import (standard library and django.core.signals only; the providers' libraries
# load on first use), so its names and defaults are not repeated here.
from knowledge import embeddings as _embeddings

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
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

KB_RETRIEVAL_ENABLED = envbool("KB_RETRIEVAL_ENABLED", False)
KB_EMBEDDINGS_ENABLED = envbool("KB_EMBEDDINGS_ENABLED", True)
KB_EMBEDDING_PROVIDER = envchoice("KB_EMBEDDING_PROVIDER", "local", _embeddings.PROVIDERS)
KB_EMBEDDING_MODEL = envstr("KB_EMBEDDING_MODEL", "") or _embeddings.DEFAULT_MODELS[KB_EMBEDDING_PROVIDER]
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

KB_INGEST_MAX_ATTEMPTS = envint("KB_INGEST_MAX_ATTEMPTS", 3, minimum=1)
KB_INGEST_TIMEOUT = envint("KB_INGEST_TIMEOUT", 900, minimum=10)
KB_INGEST_HEARTBEAT_SECONDS = envint("KB_INGEST_HEARTBEAT_SECONDS", 10, minimum=1)
KB_INGEST_STALE_SECONDS = envint("KB_INGEST_STALE_SECONDS", 120, minimum=2)
KB_AUDIT_RETENTION_DAYS = envint("KB_AUDIT_RETENTION_DAYS", 90, minimum=1)
KB_QUERY_CACHE_SIZE = envint("KB_QUERY_CACHE_SIZE", 2048, minimum=0)
# Run the vector and lexical legs at once on two database connections (see knowledge/retrieval.py).
KB_SEARCH_PARALLEL = envbool("KB_SEARCH_PARALLEL", True)
KB_WORKERS = envint("KB_WORKERS", 2, minimum=1)
# gunicorn worker processes started by `manage.py kb_serve` (4 threads each).
KB_WEB_WORKERS = envint("KB_WEB_WORKERS", 2, minimum=1)

# The worker's cluster stats must be visible to the web process (health endpoint), so
# django-q2 keeps them in a database cache table rather than per-process memory.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "djangoq": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "kb_worker_cache"},
}

# django-q2: ORM broker on the same Postgres. `retry` must exceed `timeout` so a task that
# is still running is never handed to a second worker.
Q_CLUSTER: dict[str, Any] = {
    "name": "kb",
    "orm": "default",
    "workers": KB_WORKERS,
    "timeout": KB_INGEST_TIMEOUT,
    "retry": KB_INGEST_TIMEOUT + 60,
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
    },
}
