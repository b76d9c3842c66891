"""Settings, read from the environment (docs/configuration.md lists every variable).

With no variables at all the project runs on its embedded default: SQLite, a filesystem Celery
broker and a file cache under ``var/``, so ``make run`` needs nothing installed by hand.
``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``CACHE_URL`` switch to PostgreSQL, Redis or RabbitMQ.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # runtime state of the embedded default; never committed

env = environ.Env()
# A local .env file (never committed) may hold the variables; the real environment wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -----------------------------------------------------------------------------------------

# Marked so that a server started with debug off on this key refuses to start (below).
INSECURE_DEFAULT_SECRET_KEY = "django-insecure-scrm-default-key-change-me"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

if not DEBUG and SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. With DJANGO_DEBUG off the server refuses to start on the "
        "default secret key: set DJANGO_SECRET_KEY to a long random value "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )

INSTALLED_APPS = [
    # The admin theme must come before django.contrib.admin so that its templates win.
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, not a CDN
    "django_celery_beat",
    "axes",  # login lockout after repeated failures
    # Ours, bottom of the stack first (docs/ARCHITECTURE.md: imports point down only).
    "scrm.apps.ScrmConfig",
    "scrm.wecom",
    "scrm.org",
    "customers",
    "groups",
    "campaigns",
    "scrm.demo",
    "scrm.sandbox",  # the WeCom emulator: beside the stack, reached only over HTTP
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as its docs require
]

ROOT_URLCONF = "scrm.urls"
WSGI_APPLICATION = "scrm.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'scrm.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and beat share the file without "database is locked";
    # IMMEDIATE transactions take the write lock when they begin, so that a transaction waits for
    # another writer (up to `timeout` seconds) instead of failing when it first read, then writes.
    # No code holds a transaction across a WeCom call (scrm/wecom/services.py _process_one_writer).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))

# --- Cache ----------------------------------------------------------------------------------------

# A file cache is shared by every process of the embedded default; production uses Redis.
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}

# --- Celery ---------------------------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    # The embedded broker: messages are files under var/broker, shared by web, worker and beat.
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("out", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = "default"
# Welcome messages must never wait behind bulk work (QUALITY.md trap 3): tasks are routed to the
# queues realtime, default and bulk; every worker command names the queues it serves.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = env.str("TIME_ZONE", default="Asia/Shanghai")

# --- Auth and security ----------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out logins before checking passwords
    "django.contrib.auth.backends.ModelBackend",
]
# Brute-force lockout: a username from one address is locked for an hour after 5 failures.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_LOCKOUT_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool(
    "DJANGO_SECURE_COOKIES", default=not DEBUG and "127.0.0.1" not in ALLOWED_HOSTS
)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Internationalisation -------------------------------------------------------------------------

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# --- REST API -------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "scrm.org.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "scrm.api.pagination.CursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "scrm.api.exceptions.exception_handler",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SCRM API",
    "DESCRIPTION": "Customers, follows, tags, staff, departments and groups of the SCRM.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Distinct names for choice sets that share a field name ("kind") across components.
    "ENUM_NAME_OVERRIDES": {
        "AttachmentKindEnum": "campaigns.models.welcome.AttachmentKind",
        # Live codes and group codes share their active / paused status.
        "CodeStatusEnum": "campaigns.models.livecodes.LiveCode.Status",
        "MaterialKindEnum": "campaigns.models.content.MaterialKind",
        "SensitiveWordActionEnum": "campaigns.models.content.SensitiveWord.Action",
        "TransferJobKindEnum": "customers.models.transfers.TransferJob.Kind",
        "TransferJobStatusEnum": "customers.models.transfers.TransferJob.Status",
        "TransferJobTriggerEnum": "customers.models.transfers.TransferJob.Trigger",
        "TransferStrategyEnum": "customers.models.transfers.TransferPolicy.Strategy",
        "TransferItemStatusEnum": "customers.models.transfers.TransferItem.Status",
        "TransferItemReasonEnum": "customers.models.transfers.TransferItem.Reason",
        "PoolEntryReasonEnum": "customers.models.transfers.PoolEntry.Reason",
        "PoolClaimRefusalEnum": "customers.transfers.pool.CLAIM_REFUSALS",
    },
}

# --- Admin theme ----------------------------------------------------------------------------------

UNFOLD = {
    "SITE_TITLE": _("SCRM"),
    "SITE_HEADER": _("SCRM"),
    "SITE_SYMBOL": "hub",
    "SHOW_LANGUAGES": True,
    "SHOW_HISTORY": True,
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        # Grouped by what people do; each person sees only what they may open (scrm/admin.py).
        "navigation": "scrm.admin.sidebar_navigation",
    },
}

# --- Product settings -----------------------------------------------------------------------------

# The admin shows "N+" past this many rows instead of counting a million-row table (trap 8).
SCRM_ADMIN_COUNT_LIMIT = env.int("SCRM_ADMIN_COUNT_LIMIT", default=10_000)
# Admin bulk actions (tagging) run in the request up to the first number of customers, in
# background batches up to the second, and are refused beyond it.
SCRM_ADMIN_INLINE_BULK_LIMIT = env.int("SCRM_ADMIN_INLINE_BULK_LIMIT", default=2_000)
SCRM_ADMIN_BULK_ACTION_LIMIT = env.int("SCRM_ADMIN_BULK_ACTION_LIMIT", default=200_000)
# API keys live this many days unless created with another expiry.
SCRM_API_KEY_DEFAULT_DAYS = env.int("SCRM_API_KEY_DEFAULT_DAYS", default=365)
# Keys of the secrets stored encrypted in the database (scrm/fields.py): the first encrypts, all
# decrypt. Empty: a key derived from SECRET_KEY (and SECRET_KEY_FALLBACKS).
SCRM_ENCRYPTION_KEYS = env.list("SCRM_ENCRYPTION_KEYS", default=[])
# Welcome attachments: a WeCom media_id older than this many seconds is uploaded again before use
# (WeCom keeps temporary media 3 days); the hourly refresh re-uploads those within a day of it.
WELCOME_MEDIA_MAX_AGE = env.int("WELCOME_MEDIA_MAX_AGE", default=int(2.5 * 86400))
# Members a group of a group live code takes before the next group replaces it in the QR (the
# default for new codes; each code may set its own). WeChat users join by QR only below 200.
GROUP_CODE_MEMBER_CAP = env.int("GROUP_CODE_MEMBER_CAP", default=200)

# --- WeCom --------------------------------------------------------------------------------------

# "sandbox" (default) talks to the emulator under /sandbox/ on this server; "live" to real WeCom.
WECOM_MODE = env.str("WECOM_MODE", default="sandbox")
if WECOM_MODE not in ("sandbox", "live"):
    raise ImproperlyConfigured(f"WECOM_MODE must be 'sandbox' or 'live', not {WECOM_MODE!r}.")
# The web server's port, for every process: honcho gives each process of `make run` its own PORT
# (web 8000, worker 8100…), so `make run` passes the web port to all of them as SCRM_WEB_PORT.
_WEB_PORT = env.int("SCRM_WEB_PORT", default=env.int("PORT", default=8000))
_SANDBOX_ORIGIN = f"http://127.0.0.1:{_WEB_PORT}"
WECOM_CORP_ID = env.str("WECOM_CORP_ID", default="wwsandbox0000000001" if WECOM_MODE == "sandbox" else "")
WECOM_SECRET = env.str("WECOM_SECRET", default="sandbox-contact-secret" if WECOM_MODE == "sandbox" else "")
WECOM_AGENT_ID = env.int("WECOM_AGENT_ID", default=1000002)
_SANDBOX = WECOM_MODE == "sandbox"
WECOM_AGENT_SECRET = env.str("WECOM_AGENT_SECRET", default="sandbox-agent-secret" if _SANDBOX else "")
WECOM_TOKEN = env.str("WECOM_TOKEN", default="SandboxCallbackToken" if WECOM_MODE == "sandbox" else "")
# 43 characters, as WeCom's EncodingAESKey; the sandbox default is public and only for the sandbox.
WECOM_AES_KEY = env.str(
    "WECOM_AES_KEY",
    default="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C" if WECOM_MODE == "sandbox" else "",
)
WECOM_API_BASE = env.str(
    "WECOM_API_BASE",
    default=f"{_SANDBOX_ORIGIN}/sandbox/cgi-bin" if _SANDBOX else "https://qyapi.weixin.qq.com/cgi-bin",
)
# Where the sandbox POSTs its callbacks (our own /wecom/callback/ in the embedded default).
WECOM_SANDBOX_CALLBACK_URL = env.str(
    "WECOM_SANDBOX_CALLBACK_URL", default=f"{_SANDBOX_ORIGIN}/wecom/callback/"
)
# How the sandbox delivers its callbacks: "async" (a background thread of the process that emitted
# them, after commit), "sync" (in the emitting thread, after commit: scripts and tests) or "off"
# (kept in the outbox until `manage.py sandbox_deliver`).
WECOM_SANDBOX_CALLBACKS = env.str("WECOM_SANDBOX_CALLBACKS", default="async")
if WECOM_SANDBOX_CALLBACKS not in ("async", "sync", "off"):
    raise ImproperlyConfigured(
        f"WECOM_SANDBOX_CALLBACKS must be 'async', 'sync' or 'off', not {WECOM_SANDBOX_CALLBACKS!r}."
    )
WECOM_HTTP_TIMEOUT = env.float("WECOM_HTTP_TIMEOUT", default=10.0)
# Secret of the contact-sync app (通讯录同步), optional: with it the org sync lists every member
# (user/list_id); without it, the members with customer contact (docs/decisions.md).
WECOM_CONTACT_SYNC_SECRET = env.str("WECOM_CONTACT_SYNC_SECRET", default="")
# First wait before a sync retries a busy / rate-limited / timed-out WeCom call (doubled each time).
WECOM_SYNC_RETRY_DELAY = env.float("WECOM_SYNC_RETRY_DELAY", default=1.0)
# Calls per API path per minute our client allows itself (WeCom's limit is 10,000 per corp).
WECOM_RATE_LIMIT_PER_MINUTE = env.int("WECOM_RATE_LIMIT_PER_MINUTE", default=9_000)
# Callbacks: refuse bodies larger than this, and timestamps further than this from our clock.
WECOM_CALLBACK_MAX_BODY = env.int("WECOM_CALLBACK_MAX_BODY", default=64 * 1024)
WECOM_CALLBACK_MAX_SKEW = env.int("WECOM_CALLBACK_MAX_SKEW", default=300)
# Callbacks are processed by one drain task per slot on the realtime queue (a row goes to slot
# id % slots): as many slots as the realtime worker has processes.
WECOM_INBOX_DRAIN_SLOTS = env.int("WECOM_INBOX_DRAIN_SLOTS", default=2)

# --- Staff live codes -----------------------------------------------------------------------------

# Daily add cap per staff member when neither the member nor the code sets one: WeCom accounts
# younger than LIVECODE_NEW_ACCOUNT_DAYS (or of unknown age) get the lower cap.
LIVECODE_NEW_ACCOUNT_DAYS = env.int("LIVECODE_NEW_ACCOUNT_DAYS", default=30)
LIVECODE_NEW_ACCOUNT_CAP = env.int("LIVECODE_NEW_ACCOUNT_CAP", default=60)
LIVECODE_ESTABLISHED_CAP = env.int("LIVECODE_ESTABLISHED_CAP", default=200)

# --- Outreach: broadcasts, moments, SOP ---------------------------------------------------------------

# WeCom's receive cap on corp mass messages per customer and per group (WECOM.md §8.3), as set in
# 群发助手 → 设置群发规则: "month_days" (as many as the month has days), "week_7", "day_1" or the
# legacy "month_4". Counted across every broadcast and SOP send before anything is sent.
OUTREACH_RECEIVE_CAP = env.str("OUTREACH_RECEIVE_CAP", default="month_days")
if OUTREACH_RECEIVE_CAP not in ("month_days", "week_7", "day_1", "month_4"):
    raise ImproperlyConfigured(
        "OUTREACH_RECEIVE_CAP must be 'month_days', 'week_7', 'day_1' or 'month_4', "
        f"not {OUTREACH_RECEIVE_CAP!r}."
    )
# Quiet hours (local time, HH:MM-HH:MM, may wrap midnight): nothing is handed to WeCom and no SOP
# step falls due inside them; work due then waits for their end.
OUTREACH_QUIET_HOURS = env.str("OUTREACH_QUIET_HOURS", default="21:30-08:00")
# A broadcast batch claimed this many seconds ago and still not handed (its worker died mid-call)
# is reconciled against WeCom's message list before any retry. Kept above WECOM_HTTP_TIMEOUT, so
# that a call still in flight has ended, one way or the other, before its outcome is looked up.
BROADCAST_CLAIM_LEASE = env.int("BROADCAST_CLAIM_LEASE", default=120)
# Broadcasts handed over within this many days have their results synced every few minutes.
BROADCAST_RESULTS_DAYS = env.int("BROADCAST_RESULTS_DAYS", default=7)
# A scheduled occurrence (SOP step, group post, scheduled broadcast) found this many hours late
# (the scheduler or the workers were down) is skipped with its reason instead of run.
SOP_MISSED_GRACE_HOURS = env.int("SOP_MISSED_GRACE_HOURS", default=6)
# Customer SOPs triggered by a segment re-evaluate its rules this often (minutes) to enrol new
# matches; each evaluation is one INSERT … SELECT over the segment.
SOP_SEGMENT_EVERY_MINUTES = env.int("SOP_SEGMENT_EVERY_MINUTES", default=15)
# Moments (campaigns.services.moments): seconds between reads of a creation job; the periodic
# results sync of campaigns launched within MOMENTS_SYNC_DAYS, every MOMENTS_SYNC_MINUTES; and how
# long after a launch with an unknown outcome the moment is created again if WeCom lists none.
MOMENTS_POLL_SECONDS = env.int("MOMENTS_POLL_SECONDS", default=5)
MOMENTS_SYNC_MINUTES = env.int("MOMENTS_SYNC_MINUTES", default=15)
MOMENTS_SYNC_DAYS = env.int("MOMENTS_SYNC_DAYS", default=7)
MOMENTS_LAUNCH_RECONCILE_AFTER = env.int("MOMENTS_LAUNCH_RECONCILE_AFTER", default=300)
# Staff hear about their open tasks due within this many minutes: one WeCom app message per person
# per round (every two minutes), listing what is new since their last notice.
STAFF_TASK_NOTICE_AHEAD_MINUTES = env.int("STAFF_TASK_NOTICE_AHEAD_MINUTES", default=60)
# The address staff open this server on from WeCom, for the links in their app messages (/m/…).
SCRM_PUBLIC_URL = env.str("SCRM_PUBLIC_URL", default=_SANDBOX_ORIGIN)

# --- Staff lifecycle: transfers of customers and groups, the customer pool --------------------------
# A departure found by callback, sync or WeCom's unassigned list starts the reassignment at once;
# false: the admin reviews the preview and starts it (the nightly run still plans leftovers).
TRANSFER_AUTO_START = env.bool("TRANSFER_AUTO_START", default=True)
# The most customers a colleague may hold after taking over, unless a policy says otherwise
# (WeCom's own per-member limit is 20,000 by default).
TRANSFER_TAKEOVER_CAPACITY = env.int("TRANSFER_TAKEOVER_CAPACITY", default=20_000)
# A transfer batch claimed this many seconds ago whose outcome was never recorded (a worker died
# mid-call) is looked up in WeCom's transfer results before it is sent again.
TRANSFER_CLAIM_LEASE = env.int("TRANSFER_CLAIM_LEASE", default=120)
# Waiting transfers (WeCom's 24-hour acceptance) are polled for results this often (minutes).
TRANSFER_RESULTS_EVERY_MINUTES = env.int("TRANSFER_RESULTS_EVERY_MINUTES", default=30)
# How many customers one staff member may claim from the pool per day (Asia/Shanghai days).
POOL_DAILY_CLAIM_LIMIT = env.int("POOL_DAILY_CLAIM_LIMIT", default=20)

# --- Logging --------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # No access token or corp secret in any log line (they travel in WeCom's query strings).
    "filters": {"redact_secrets": {"()": "scrm.log_filters.RedactSecrets"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The development server's request log prints the sandbox's URLs, tokens included.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
