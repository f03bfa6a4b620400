"""Settings for voiceclone, read top to bottom.

Every value comes from the environment and has a default that works on a fresh laptop:
SQLite, filesystem media, django-q2's ORM broker and the local ElevenLabs emulator.
A profile (PostgreSQL, Redis broker, S3 storage) switches on when its variable is present.
Every variable is listed once, with its default, in README.md.
"""

import re
from pathlib import Path

import environ
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

from voiceclone.observability.logs import logging_config
from voiceclone.observability.sentry import init as sentry_init

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean strictly: django-environ reads any unknown string as False."""
    raw = env.str(name, default="").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = env.str(name, default="").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = env.str(name, default="").strip()
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


_RATE_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """A limit such as `10/15m` or `20/hour` as (count, period seconds); empty or `0` = no limit (None)."""
    raw = env.str(name, default=default).strip().lower()
    if raw in ("", "0", "off", "none"):
        return None
    match = re.fullmatch(r"(\d+)/(\d*)([a-z]+)", raw)
    if not match or int(match[1]) == 0 or int(match[2] or 1) == 0 or match[3] not in _RATE_PERIODS:
        raise ImproperlyConfigured(f"{name} must look like 10/15m or 20/hour (or be empty for no limit), got {raw!r}")
    return int(match[1]), int(match[2] or 1) * _RATE_PERIODS[match[3]]


def env_optional_int(name: str, default: int | None) -> int | None:
    """An integer where empty or 0 means "no limit" (None)."""
    raw = env.str(name, default="").strip()
    if raw == "":
        return default
    value = env_int(name, 0, minimum=0)
    return value or None


# --- Core -------------------------------------------------------------------------------------

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
if not SECRET_KEY.strip():
    raise ImproperlyConfigured("SECRET_KEY is set but empty: unset it (development) or give it a real key.")
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY: refusing to run with DEBUG off and the development key.")
# Django's own rule for a strong key (`check --deploy`, security.W009), enforced at start-up in production.
if not DEBUG and (len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
                  or SECRET_KEY.startswith(SECRET_KEY_INSECURE_PREFIX)):
    raise ImproperlyConfigured(
        f"SECRET_KEY is too weak for DEBUG off: use at least {SECRET_KEY_MIN_LENGTH} random characters, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Django's own widget templates, for FORM_RENDERER below.
    "django.forms",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # Swagger UI and Redoc assets served from the installation: the API docs work offline (no CDN).
    "drf_spectacular_sidecar",
    # Before django_q: voiceclone's `qcluster` command (a prompt-exit wrapper) takes precedence.
    "voiceclone",
    "django_q",
    "voiceclone.events",
    "clones",
    "fidelity",
    "conversations",
    "retraining",
    "auditlog",
    "audit",
    "personas",
    "kits",
    "usage",
    # /health/ checks and the `health_check` command (voiceclone.observability.health).
    "health_check",
]

MIDDLEWARE = [
    # Outermost: times every request as the client sees it and gives it its X-Request-ID (docs/operations.md).
    "voiceclone.observability.middleware.RequestMetricsMiddleware",
    # Then, so that it sees every answer: under /api/ errors are JSON, never Django's HTML pages.
    "voiceclone.api.ApiJsonErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "voiceclone.api.ApiCommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: audit entries written while a request is handled name its user.
    "audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# --- HTTPS and cookies: all on by default when DEBUG is off (docs/production.md) -------------------
# Behind a proxy that terminates TLS, set TRUST_X_FORWARDED_PROTO so Django knows the request was
# HTTPS (otherwise SECURE_SSL_REDIRECT redirects forever). HSTS is cached by browsers for
# SECURE_HSTS_SECONDS: lower it while trying a new domain out.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

ROOT_URLCONF = "voiceclone.urls"
WSGI_APPLICATION = "voiceclone.wsgi.application"
ASGI_APPLICATION = "voiceclone.asgi.application"

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
# Form widgets render through TEMPLATES, so templates/ can override a widget's template (the admin's split
# date-time widget gets labels: templates/admin/widgets/split_datetime.html).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# --- Database: SQLite unless DATABASE_URL is set ------------------------------------------------

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
# A blank DATABASE_URL (a cleared variable, an empty line in an env file) means the default, like unset.
DATABASES = {
    "default": env.db_url_config(env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
# SQLite (docs/reliability.md): the web server and the workers write at the same time. WAL lets readers
# go on while one connection writes; IMMEDIATE makes every transaction take the write lock when it
# begins, so a read-then-write block waits for the lock (up to the busy timeout) instead of failing
# with "database is locked" when it tries to upgrade; synchronous=NORMAL is the safe setting with WAL
# (a power cut may lose the last commits, never corrupt the file). init_command runs on every new
# connection (tests/reliability/test_sqlite_settings.py checks each pragma on fresh connections).
SQLITE_BUSY_TIMEOUT_S = env_float("SQLITE_BUSY_TIMEOUT_S", 30.0, minimum=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "transaction_mode": "IMMEDIATE",
        "timeout": SQLITE_BUSY_TIMEOUT_S,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)};"
        ),
    })
    # Tests run on a file too, never on Django's default in-memory database: that one is shared between
    # the live server's and the in-process cluster's threads through SQLite's shared cache, whose table
    # locks fail at once ("database table is locked") instead of waiting like WAL does. A file makes
    # the browser and cluster tests meet the same locking as `bin/run` (pytest-django adds the xdist
    # worker's suffix to the name).
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
# PostgreSQL connections of the web server (issue 13, docs/scale.md): a process-wide pool (psycopg_pool, Django's
# "pool" option). Under ASGI (uvicorn, bin/serve) each request's sync code runs in a thread of its own request
# context, so CONN_MAX_AGE's per-thread persistent connection is never reused (every request opened one, most
# of a short request's time); the pool hands the request a connection already open and checks it on the way
# out of the pool (a dropped connection is replaced, like CONN_HEALTH_CHECKS). bin/serve turns it on for the
# web processes only: django-q2 forks its workers, and a pool's connections and threads do not survive a fork.
DATABASE_POOL = env_bool("DATABASE_POOL", False)
if DATABASE_POOL and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1, minimum=0),
        # Connections a web process may hold at once (each concurrent request takes one).
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
        "timeout": env_float("DATABASE_POOL_TIMEOUT_S", 10.0, minimum=0.1),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
    # With a pool Django passes this on as the pool's check of a connection handed out.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "voice-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media storage: filesystem unless AWS_STORAGE_BUCKET_NAME is set ----------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "/media-not-served/"  # audio is served only through authorised views

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
USE_S3 = bool(AWS_STORAGE_BUCKET_NAME)
if USE_S3:
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="us-east-1")
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
    AWS_QUERYSTRING_EXPIRE = env_int("AWS_QUERYSTRING_EXPIRE", 300, minimum=1)
    AWS_DEFAULT_ACL = None
    AWS_S3_FILE_OVERWRITE = False
    media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": AWS_STORAGE_BUCKET_NAME, "querystring_auth": True},
    }
else:
    media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": media_storage,
    # Served by WhiteNoise (MIDDLEWARE) from STATIC_ROOT, which `collectstatic` fills (bin/run does);
    # compressed copies are made at collect time. No manifest: a page never fails on a missing entry.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Background work: django-q2, ORM broker unless REDIS_URL is set -----------------------------

REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    # The queue's name: every web and worker process of one installation must share it; a second
    # installation on the same Redis database needs its own.
    "name": env.str("Q_CLUSTER_NAME", default="voiceclone"),
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": env_int("Q_TIMEOUT_S", 300, minimum=10),
    # retry must exceed timeout, or a slow task is handed to a second worker while still running.
    "retry": env_int("Q_TIMEOUT_S", 300, minimum=10) + 60,
    "max_attempts": 3,
    "save_limit": 1000,
    "catch_up": False,
    "sync": env_bool("Q_SYNC", False),
    "label": "Background tasks",
}
# Leases on background work (voiceclone.leases, docs/reliability.md): a task refreshes its claim every
# WORK_HEARTBEAT_S while it runs; a claim older than WORK_LEASE_S belongs to a killed worker and the
# stuck-work sweep (every STUCK_WORK_SWEEP_S, run by the cluster itself) hands the row to a new attempt.
WORK_LEASE_S = env_int("WORK_LEASE_S", 30, minimum=3)
WORK_HEARTBEAT_S = env_float("WORK_HEARTBEAT_S", WORK_LEASE_S / 3, minimum=0.5)
if WORK_HEARTBEAT_S * 2 > WORK_LEASE_S:
    raise ImproperlyConfigured("WORK_HEARTBEAT_S must be at most half of WORK_LEASE_S, or live work looks dead.")
STUCK_WORK_SWEEP_S = env_float("STUCK_WORK_SWEEP_S", 10.0, minimum=0)
# Attempts a chat turn or a voice creation gets when the database itself fails (locked, connection
# lost); any other unexpected error ends the work `failed` with a reason at once.
WORK_MAX_ATTEMPTS = env_int("WORK_MAX_ATTEMPTS", 3, minimum=1)
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # The pusher's pause after an empty look at the queue table. A task no longer waits for it: whoever
    # enqueues wakes the pushers on this host (voiceclone/broker.py); the poll is the fallback.
    Q_CLUSTER["poll"] = env_float("Q_POLL_S", 0.5, minimum=0.05)
    Q_CLUSTER["broker_class"] = "voiceclone.broker.WakeableORM"

# --- Cache: shared by every process (throttles, attempt limits); Redis if REDIS_URL is set -------
# Never per process (local memory): limits would multiply with web workers (issue 13). The database
# cache table is created by a migration (voiceclone/migrations), so `migrate` is the only setup step.
# Never `cache.clear()`: on Redis it empties the database the django-q2 broker shares.

CACHE_TABLE = "voiceclone_cache"
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "voiceclone"}}
else:
    # Expired rows are deleted only once the table holds MAX_ENTRIES; live counters are culled only
    # beyond that, which this size keeps far away for the few keys per active user the limits use.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": CACHE_TABLE,
                          "OPTIONS": {"MAX_ENTRIES": 50_000}}}

# --- ElevenLabs: the local emulator unless ELEVENLABS_API_KEY is set ----------------------------

ELEVENLABS_API_KEY = env.str("ELEVENLABS_API_KEY", default="")
EMULATOR_URL = env.str("ELEVENLABS_EMULATOR_URL", default="http://127.0.0.1:8765")
USE_EMULATOR = not ELEVENLABS_API_KEY
if USE_EMULATOR:
    # The emulator accepts any non-empty key; the header is still required, as on the real API.
    ELEVENLABS_API_KEY = "emulator-key"
    ELEVENLABS_BASE_URL = env.str("ELEVENLABS_BASE_URL", default="") or EMULATOR_URL
else:
    ELEVENLABS_BASE_URL = env.str("ELEVENLABS_BASE_URL", default="") or None
ELEVENLABS_TIMEOUT_S = env_float("ELEVENLABS_TIMEOUT_S", 30.0, minimum=0.1)
ELEVENLABS_TTS_MODEL = env.str("ELEVENLABS_TTS_MODEL", default="eleven_multilingual_v2")
ELEVENLABS_TTS_OUTPUT_FORMAT = env.str("ELEVENLABS_TTS_OUTPUT_FORMAT", default="mp3_44100_128")
ELEVENLABS_STT_MODEL = env.str("ELEVENLABS_STT_MODEL", default="scribe_v1")
PROVIDER_MAX_ATTEMPTS = env_int("PROVIDER_MAX_ATTEMPTS", 4, minimum=1)
PROVIDER_BACKOFF_BASE_S = env_float("PROVIDER_BACKOFF_BASE_S", 0.5, minimum=0)
PROVIDER_BACKOFF_MAX_S = env_float("PROVIDER_BACKOFF_MAX_S", 20.0, minimum=0)

# --- Reply engine: any OpenAI-compatible endpoint, else the offline responder ------------------

LLM_BASE_URL = env.str("LLM_BASE_URL", default="")
LLM_API_KEY = env.str("LLM_API_KEY", default="")
LLM_MODEL = env.str("LLM_MODEL", default="gpt-4o-mini")
LLM_TIMEOUT_S = env_float("LLM_TIMEOUT_S", 30.0, minimum=0.1)
LLM_MAX_TOKENS = env_int("LLM_MAX_TOKENS", 300, minimum=1)
LLM_HISTORY_CHAR_BUDGET = env_int("LLM_HISTORY_CHAR_BUDGET", 6000, minimum=200)

# --- Uploads -------------------------------------------------------------------------------------

UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
UPLOAD_MIN_DURATION_S = env_float("UPLOAD_MIN_DURATION_S", 1.0, minimum=0)
UPLOAD_MAX_DURATION_S = env_float("UPLOAD_MAX_DURATION_S", 300.0, minimum=1)
VOICE_MAX_SAMPLES = env_int("VOICE_MAX_SAMPLES", 25, minimum=1)
# A voice sample needs this much detected speech (clones.analysis voice activity), and this share of
# it must be speech: 10 s of silence, hum or a blip in a long pause is refused, not cloned.
UPLOAD_MIN_SPEECH_S = env_float("UPLOAD_MIN_SPEECH_S", 0.5, minimum=0)
UPLOAD_MIN_SPEECH_RATIO = env_float("UPLOAD_MIN_SPEECH_RATIO", 0.1, minimum=0)
# A voice message in chat needs this much detected speech: a silent or near-silent recording is refused
# (400 `no_speech`) instead of being transcribed into nothing, or into words nobody said, and answered.
VOICE_MESSAGE_MIN_SPEECH_S = env_float("VOICE_MESSAGE_MIN_SPEECH_S", 0.2, minimum=0)
# Django keeps larger request bodies on disk; the per-file check above is what users see.
# A non-file body (JSON, form fields) larger than this is refused with 413 `request_too_large`.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Most ids one clip bulk review takes; the form-field cap leaves room for them plus a few fields,
# so the largest bulk review the schema allows also works as multipart (docs/api-errors.md).
CLIP_BULK_REVIEW_MAX_IDS = 1000
DATA_UPLOAD_MAX_NUMBER_FIELDS = CLIP_BULK_REVIEW_MAX_IDS + 100
DATA_UPLOAD_MAX_NUMBER_FILES = 100
CONSENT_STATEMENT_VERSION = "2026-11-v1"

# --- Consent lifecycle (issue 15 item 1; docs/consent.md) ---------------------------------------------

# The API's voice creation and originals upload need a recorded consent phrase too (pages always do).
CONSENT_RECORDING_REQUIRED = env_bool("CONSENT_RECORDING_REQUIRED", False)
# How long a generated consent phrase may be recorded and submitted, and how long a remote consent link works.
CONSENT_PHRASE_MAX_AGE_S = env_int("CONSENT_PHRASE_MAX_AGE_S", 24 * 3600, minimum=60)
CONSENT_LINK_MAX_AGE_S = env_int("CONSENT_LINK_MAX_AGE_S", 7 * 24 * 3600, minimum=60)
# The background check: the transcript must match the phrase within this word error rate, and the voice
# must sound like the samples' speaker (fidelity.similarity score, 0.5 = as likely the same as not).
CONSENT_WER_MAX = env_float("CONSENT_WER_MAX", 0.35, minimum=0)
CONSENT_SIMILARITY_MIN = env_float("CONSENT_SIMILARITY_MIN", 0.5, minimum=0)
# Revocation: true deletes the originals' and clips' audio files; false keeps them locked (never served).
CONSENT_REVOKE_PURGE = env_bool("CONSENT_REVOKE_PURGE", False)

# --- Retraining ----------------------------------------------------------------------------------

# Off: no scheduled scan proposes, proposals/approvals/retries answer 409 (issue 14; the old app's post-mortem).
RETRAIN_ENABLED = env_bool("RETRAIN_ENABLED", True)
RETRAIN_MIN_CONVERSATIONS = env_int("RETRAIN_MIN_CONVERSATIONS", 20, minimum=1)
RETRAIN_WINDOW_DAYS = env_optional_int("RETRAIN_WINDOW_DAYS", 30)
RETRAIN_MIN_APPROVED_CLIPS = env_int("RETRAIN_MIN_APPROVED_CLIPS", 20, minimum=1)
RETRAIN_AUTO_APPROVE = env_bool("RETRAIN_AUTO_APPROVE", False)
RETRAIN_ALLOW_EDIT_IN_PLACE = env_bool("RETRAIN_ALLOW_EDIT_IN_PLACE", False)
ARCHIVED_VOICES_KEEP = env_int("ARCHIVED_VOICES_KEEP", 1, minimum=0)

# --- API -----------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "voiceclone.openapi.ApiAutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "voiceclone.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "voiceclone.api.exception_handler",
    # Rates are read from API_THROTTLE_USER / API_THROTTLE_ANON below at each request.
    "DEFAULT_THROTTLE_CLASSES": [
        "voiceclone.throttling.UserRateThrottle",
        "voiceclone.throttling.AnonRateThrottle",
    ],
    # Trusted reverse proxies in front of the app: the client IP is then read from X-Forwarded-For.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0) or None,
}
# DRF's format (`2000/hour`); empty = no throttle.
API_THROTTLE_USER = env.str("API_THROTTLE_USER", default="2000/hour")
API_THROTTLE_ANON = env.str("API_THROTTLE_ANON", default="100/hour")

# --- Abuse limits (voiceclone.ratelimit; docs/api-errors.md) -------------------------------------
# Sign-in attempts (token API, /login/, admin), successful or not. Per username: a person who
# forgets a password tries a handful of times; 10 per 15 minutes caps a guesser at ~1,000 a day.
# Per client IP, higher: an office behind one NAT signs in together.
LOGIN_RATE_PER_USERNAME = env_rate("LOGIN_RATE_PER_USERNAME", "10/15m")
LOGIN_RATE_PER_IP = env_rate("LOGIN_RATE_PER_IP", "60/15m")
# Accounts made through /signup/ per client IP: a household or a class signs up a few; a script, hundreds.
SIGNUP_RATE_PER_IP = env_rate("SIGNUP_RATE_PER_IP", "20/hour")
# Voice creations (and retries) per user: each one takes a provider voice slot of 30 and uploads audio.
VOICE_CREATE_RATE = env_rate("VOICE_CREATE_RATE", "10/hour")
# Chat turns (and reply retries) per user: a person types or speaks far slower than one every 3 s.
CHAT_TURN_RATE = env_rate("CHAT_TURN_RATE", "20/min")
# Text-to-speech characters per user per UTC day, checked before each provider call (0 = no budget).
# 50,000 characters are about 50 minutes of speech.
TTS_DAILY_CHARS_PER_USER = env_int("TTS_DAILY_CHARS_PER_USER", 50_000, minimum=0)
SPECTACULAR_SETTINGS = {
    "TITLE": "voiceclone API",
    "DESCRIPTION": "Talk with AI voice clones. Replies are AI-generated speech in a cloned voice.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["voiceclone.openapi.drop_route_aliases"],
    # /api/docs/ and /api/redoc/ load their JavaScript and CSS from drf-spectacular-sidecar (pinned in
    # requirements.txt), never from a CDN; no request leaves the installation.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # validatorUrl None: Swagger UI would otherwise send the schema's URL to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": True, "displayOperationId": True,
                            "validatorUrl": None},
    # Several models have a `status`; give each choice set its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "VoiceStatusEnum": "clones.models.Voice.Status",
        "MessageStatusEnum": "conversations.models.Message.Status",
        "ClipReviewStatusEnum": "clones.models.ClipSample.ReviewStatus",
    },
}

# --- Operations: logs, metrics, error reporting (docs/operations.md) ----------------------------------

# `text`: the message alone; `json`: one JSON object a line with time, level, logger, message and the
# request_id or task_id (and task) it was written in.
LOG_FORMAT = env.str("LOG_FORMAT", default="text").strip().lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, got {LOG_FORMAT!r}")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
# /metrics asks for `Authorization: Bearer <METRICS_TOKEN>` when set (else restrict it at the proxy).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Sentry error reporting, on only with a DSN.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="")
SENTRY_TRACES_SAMPLE_RATE = env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0, minimum=0)
if SENTRY_DSN:
    sentry_init(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE)

# --- Clip curation -------------------------------------------------------------------------------

# Approve generated clips that pass every quality threshold (the rest stay pending for staff).
CLIP_AUTO_APPROVE = env_bool("CLIP_AUTO_APPROVE", False)
# Overrides of clones.analysis.QualityThresholds fields, e.g. {"min_lufs": -30}.
CLIP_QUALITY_THRESHOLDS = env.json("CLIP_QUALITY_THRESHOLDS", default={})

# --- Clip selection ---------------------------------------------------------------------------------
# What a retrain uploads (clones.services.selection). ElevenLabs' guidance for instant cloning is 1–2
# minutes of clean audio, with little benefit beyond 3; more is not better.

RETRAIN_SELECTION_BUDGET_S = env_float("RETRAIN_SELECTION_BUDGET_S", 150.0, minimum=1)
# Most of the selected duration that may be the clone's own synthetic speech (drift guard). 0.3: a retrain
# stays mostly human audio, the only setting under which bench/fidelity.py's retrains did not drift
# (docs/fidelity.md, "Does retraining help?").
RETRAIN_GENERATED_SHARE_MAX = env_float("RETRAIN_GENERATED_SHARE_MAX", 0.3, minimum=0)
# Deepest lineage a generated clip may have (1 = spoken by a version trained on originals only).
RETRAIN_MAX_LINEAGE_DEPTH = env_int("RETRAIN_MAX_LINEAGE_DEPTH", 2, minimum=0)
# Most of the selected duration any one conversation may supply.
RETRAIN_MAX_CLIPS_PER_CONVERSATION_SHARE = env_float("RETRAIN_MAX_CLIPS_PER_CONVERSATION_SHARE", 0.2, minimum=0)
RETRAIN_CLIP_MIN_S = env_float("RETRAIN_CLIP_MIN_S", 2.0, minimum=0)
# Long TTS replies degrade towards their end: only the first this-many seconds of a reply are used.
RETRAIN_CLIP_MAX_USE_S = env_float("RETRAIN_CLIP_MAX_USE_S", 25.0, minimum=1)
# The selection ranks a voice's candidates by merit in the database and reads the best 10 × the clips it can
# pick, at least 100 and at most this many (the rest count as over budget; clones.services.selection).
RETRAIN_SELECTION_MAX_CANDIDATES = env_int("RETRAIN_SELECTION_MAX_CANDIDATES", 3000, minimum=50)
# Texts at least this similar (word-shingle Jaccard, 0–1) to a better clip already selected are skipped.
RETRAIN_NEAR_DUPLICATE_SIMILARITY = env_float("RETRAIN_NEAR_DUPLICATE_SIMILARITY", 0.7, minimum=0)
# Quality flags that keep an approved clip out of a retrain (edge silence is trimmed in the training copy).
RETRAIN_EXCLUDED_QUALITY_FLAGS = env.list(
    "RETRAIN_EXCLUDED_QUALITY_FLAGS",
    default=["mostly_silence", "clipped", "too_quiet", "too_loud", "noisy", "too_short", "undecodable"],
)
for _name in ("RETRAIN_GENERATED_SHARE_MAX", "RETRAIN_MAX_CLIPS_PER_CONVERSATION_SHARE",
              "RETRAIN_NEAR_DUPLICATE_SIMILARITY"):
    if not 0 <= globals()[_name] <= 1:
        raise ImproperlyConfigured(f"{_name} must be between 0 and 1, got {globals()[_name]}")
# Instant-cloning upload limits: not documented by ElevenLabs (elevenlabs-api.md §3, UNSURE), so settings.
PROVIDER_IVC_MAX_FILES = env_int("PROVIDER_IVC_MAX_FILES", 25, minimum=1)
PROVIDER_IVC_MAX_FILE_BYTES = env_int("PROVIDER_IVC_MAX_FILE_BYTES", 10 * 1024 * 1024, minimum=1024)
PROVIDER_IVC_MAX_TOTAL_BYTES = env_int("PROVIDER_IVC_MAX_TOTAL_BYTES", 100 * 1024 * 1024, minimum=1024)
# Training copies (clones.services.training_copy): the stored clip is never modified.
TRAINING_COPY_TARGET_LUFS = env_float("TRAINING_COPY_TARGET_LUFS", -20.0)
TRAINING_COPY_PEAK_CAP_DBFS = env_float("TRAINING_COPY_PEAK_CAP_DBFS", -1.0)
TRAINING_COPY_PAD_S = env_float("TRAINING_COPY_PAD_S", 0.1, minimum=0)

# --- Clone fidelity ----------------------------------------------------------------------------------
# Speaker similarity and the lineage guard (fidelity/, docs/fidelity.md).

# An upload is our own generated audio when at least this many landmarks of one stored clip agree with it
# at one time offset ... (unrelated speech reached 10 in bench/fidelity_fingerprint.py; edited replies 60+).
FIDELITY_FINGERPRINT_MIN_ALIGNED = env_int("FIDELITY_FINGERPRINT_MIN_ALIGNED", 20, minimum=1)
# ... and they are at least this share of the stored clip's landmarks in the stretch the upload covers.
FIDELITY_FINGERPRINT_MIN_SHARE = env_float("FIDELITY_FINGERPRINT_MIN_SHARE", 0.03, minimum=0)
if not 0 <= FIDELITY_FINGERPRINT_MIN_SHARE <= 1:
    raise ImproperlyConfigured(
        f"FIDELITY_FINGERPRINT_MIN_SHARE must be between 0 and 1, got {FIDELITY_FINGERPRINT_MIN_SHARE}"
    )
# Optional speaker encoder behind fidelity.similarity (dotted path to a class); empty = Praat features only.
FIDELITY_SPEAKER_ENCODER = env.str("FIDELITY_SPEAKER_ENCODER", default="")

def _unit_interval(name: str, value: float) -> float:
    if not 0 <= value <= 1:
        raise ImproperlyConfigured(f"{name} must be between 0 and 1, got {value}")
    return value


# The promotion gate (fidelity.gate): a candidate fails when any rule below says so, compared with the active
# version on the same probe set (docs/fidelity.md, "Promotion gate", has the measurements behind each default).
# Candidate similarity to the originals below this (the equal-error point of the similarity score) fails,
# unless the active version scores no better.
FIDELITY_GATE_MIN_SIMILARITY = _unit_interval(
    "FIDELITY_GATE_MIN_SIMILARITY", env_float("FIDELITY_GATE_MIN_SIMILARITY", 0.5, minimum=0))
# The candidate may score at most this much below the active version (0–1 similarity points).
FIDELITY_GATE_MAX_SIMILARITY_DROP = _unit_interval(
    "FIDELITY_GATE_MAX_SIMILARITY_DROP", env_float("FIDELITY_GATE_MAX_SIMILARITY_DROP", 0.25, minimum=0))
# Speech-to-text round trip: a candidate WER above this fails when the active version does better.
FIDELITY_GATE_MAX_WER = env_float("FIDELITY_GATE_MAX_WER", 0.15, minimum=0)
# Prosody vs the active version: pitch range and energy range may shrink to this share at least ...
FIDELITY_GATE_MIN_PROSODY_RATIO = _unit_interval(
    "FIDELITY_GATE_MIN_PROSODY_RATIO", env_float("FIDELITY_GATE_MIN_PROSODY_RATIO", 0.75, minimum=0))
# ... and the speaking rate may change by at most this share either way.
FIDELITY_GATE_MAX_RATE_CHANGE = env_float("FIDELITY_GATE_MAX_RATE_CHANGE", 0.2, minimum=0)

# The drift monitor (fidelity.drift): minutes between runs (`manage.py schedules_sync`), how many of each live
# voice's recent stored replies it scores, from how far back, and the fewest worth scoring.
FIDELITY_DRIFT_INTERVAL_MIN = env_int("FIDELITY_DRIFT_INTERVAL_MIN", 24 * 60, minimum=1)
FIDELITY_DRIFT_SAMPLE_SIZE = env_int("FIDELITY_DRIFT_SAMPLE_SIZE", 8, minimum=1)
FIDELITY_DRIFT_WINDOW_DAYS = env_int("FIDELITY_DRIFT_WINDOW_DAYS", 7, minimum=1)
FIDELITY_DRIFT_MIN_REPLIES = env_int("FIDELITY_DRIFT_MIN_REPLIES", 3, minimum=1)
# A voice leaves its band when its replies score below this against its version's baseline ...
FIDELITY_DRIFT_MIN_BASELINE_SIMILARITY = _unit_interval(
    "FIDELITY_DRIFT_MIN_BASELINE_SIMILARITY", env_float("FIDELITY_DRIFT_MIN_BASELINE_SIMILARITY", 0.5, minimum=0))
# ... or their similarity to the originals falls more than this below the baseline's.
FIDELITY_DRIFT_MAX_DROP = _unit_interval(
    "FIDELITY_DRIFT_MAX_DROP", env_float("FIDELITY_DRIFT_MAX_DROP", 0.2, minimum=0))

# --- Retraining runs ---------------------------------------------------------------------------------
# The run state machine, slot planning, cleanup and reconciliation (retraining.services), and webhooks.

# A run whose claim is older than this (its worker was killed: the heartbeat refreshes the claim every
# WORK_HEARTBEAT_S while the worker lives) may be taken over by a retried task.
RETRAIN_RUN_LEASE_S = env_int("RETRAIN_RUN_LEASE_S", WORK_LEASE_S, minimum=1)
# The sentence the active and the candidate version both speak, for staff to compare (A/B).
RETRAIN_PREVIEW_TEXT = env.str(
    "RETRAIN_PREVIEW_TEXT",
    default="Hello! This is a short preview so you can hear how this version of my voice sounds.",
)
# Schedules (minutes between runs; `manage.py schedules_sync` writes them).
RETRAIN_SCAN_INTERVAL_MIN = env_int("RETRAIN_SCAN_INTERVAL_MIN", 24 * 60, minimum=1)
RETRAIN_SLOT_RECHECK_MIN = env_int("RETRAIN_SLOT_RECHECK_MIN", 1, minimum=1)
ARCHIVED_VOICES_CLEANUP_INTERVAL_MIN = env_int("ARCHIVED_VOICES_CLEANUP_INTERVAL_MIN", 60, minimum=1)
# A provider-voice deletion that failed is retried after this many seconds, doubling per attempt, at most the
# cleanup interval (retraining.services.cleanup.deletion_retry_delay_s; docs/consent.md).
PROVIDER_DELETE_RETRY_BASE_S = env_float("PROVIDER_DELETE_RETRY_BASE_S", 30.0, minimum=0)
PROVIDER_RECONCILE_INTERVAL_MIN = env_int("PROVIDER_RECONCILE_INTERVAL_MIN", 60, minimum=1)

# Webhooks: signed (HMAC-SHA256) deliveries of events, retried with exponential backoff.
WEBHOOK_TIMEOUT_S = env_float("WEBHOOK_TIMEOUT_S", 5.0, minimum=0.1)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
WEBHOOK_BACKOFF_BASE_S = env_float("WEBHOOK_BACKOFF_BASE_S", 30.0, minimum=0)
WEBHOOK_BACKOFF_MAX_S = env_float("WEBHOOK_BACKOFF_MAX_S", 6 * 3600.0, minimum=0)
WEBHOOK_REDELIVERY_INTERVAL_MIN = env_int("WEBHOOK_REDELIVERY_INTERVAL_MIN", 1, minimum=1)
# Deliver to loopback/private addresses (SSRF guard). On by default only in DEBUG (local development).
WEBHOOK_ALLOW_PRIVATE_HOSTS = env_bool("WEBHOOK_ALLOW_PRIVATE_HOSTS", DEBUG)
# OpenAPI: one name per choice set that appears under the same field name in several components.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update({
    "RetrainRunStateEnum": "retraining.models.RetrainRun.State",
    "VoiceVersionStateEnum": "clones.models.VoiceVersion.State",
    "RetrainRunClipRoleEnum": "retraining.models.RetrainRunClip.Role",
    "WebhookDeliveryStatusEnum": "voiceclone.events.models.WebhookDelivery.Status",
    "EventTypeEnum": "voiceclone.events.models.Event.Type",
})

# --- Audit log, voice kits, personas and conversation memory (issue 15; docs/audit.md, docs/voice-kits.md,
# docs/personas.md) -----------------------------------------------------------------------------------

# django-auditlog: changes stored as JSON; entries of one request or task share a correlation id.
AUDITLOG_STORE_JSON_CHANGES = True
AUDITLOG_CID_GETTER = "audit.context.correlation_id"
AUDITLOG_DISABLE_REMOTE_ADDR = False

# Voice kit import limits (kits.services.validation): the uploaded zip, the sum of its uncompressed
# files, any one file, the number of files, and the largest compression ratio a file may have.
KIT_IMPORT_MAX_BYTES = env_int("KIT_IMPORT_MAX_BYTES", 1024 * 1024 * 1024, minimum=1024)
KIT_IMPORT_MAX_UNCOMPRESSED_BYTES = env_int("KIT_IMPORT_MAX_UNCOMPRESSED_BYTES", 2 * 1024 * 1024 * 1024, minimum=1024)
KIT_IMPORT_MAX_FILES = env_int("KIT_IMPORT_MAX_FILES", 20_000, minimum=10)
KIT_IMPORT_MAX_RATIO = env_int("KIT_IMPORT_MAX_RATIO", 100, minimum=2)
# manifest.json: this much for the voice, its persona history and lineage, plus 32 KB per audio file.
KIT_IMPORT_MAX_MANIFEST_BYTES = env_int("KIT_IMPORT_MAX_MANIFEST_BYTES", 8 * 1024 * 1024, minimum=64 * 1024)

# Persona refinement: how many recent conversations (and messages of each) a draft reads.
PERSONA_DRAFT_CONVERSATIONS = env_int("PERSONA_DRAFT_CONVERSATIONS", 20, minimum=1)
PERSONA_DRAFT_MESSAGES_PER_CONVERSATION = env_int("PERSONA_DRAFT_MESSAGES_PER_CONVERSATION", 40, minimum=2)
PERSONA_MAX_CHARS = env_int("PERSONA_MAX_CHARS", 4000, minimum=200)

# Conversation memory: a conversation with at least this many messages gets a summary of everything
# older than the recent turns the reply engine already sees; it is refreshed after this many more.
CONVERSATION_MEMORY_THRESHOLD_MESSAGES = env_int("CONVERSATION_MEMORY_THRESHOLD_MESSAGES", 30, minimum=4)
CONVERSATION_MEMORY_REFRESH_MESSAGES = env_int("CONVERSATION_MEMORY_REFRESH_MESSAGES", 10, minimum=1)
# The longest memory kept; the reply engine gives it at most a third of LLM_HISTORY_CHAR_BUDGET.
CONVERSATION_MEMORY_MAX_CHARS = env_int("CONVERSATION_MEMORY_MAX_CHARS", 1500, minimum=100)

# --- Real-time replies (issue 11; docs/realtime.md) ------------------------------------------------------
# The worker spools each reply's audio while it is spoken; web processes stream it from there. With
# REDIS_URL the spool is a Redis stream, otherwise files in SPOOL_DIR (every web process and worker must
# see the same directory). A spool lives SPOOL_TTL_S after its last write; the stored clip is the record.
SPOOL_DIR = Path(env.str("SPOOL_DIR", default=str(VAR_DIR / "spool")))
SPOOL_TTL_S = env_int("SPOOL_TTL_S", 3600, minimum=60)
# How long the stream endpoint waits for a pending reply's first audio (and for more audio from a
# silent writer) before giving up; the conversation's event stream (SSE) sends a heartbeat this often.
REPLY_STREAM_WAIT_S = env_float("REPLY_STREAM_WAIT_S", 60.0, minimum=1.0)
SSE_HEARTBEAT_S = env_float("SSE_HEARTBEAT_S", 15.0, minimum=0.5)
# Under WSGI (no ASGI server) an event stream ends after this long and the client reconnects with
# Last-Event-ID, so a worker thread is never held for good. Under ASGI streams run until the client leaves.
SSE_WSGI_MAX_S = env_float("SSE_WSGI_MAX_S", 300.0, minimum=0.1)
