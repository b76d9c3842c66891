"""Test settings: the project's settings with a test-only secret and fast password hashing.

The database, cache and broker still come from the environment, so the same suite runs on
SQLite (the default) and on PostgreSQL and Redis (CI).
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
# The sandbox keeps its callbacks in the outbox unless a test asks for delivery (tests/sandbox).
os.environ.setdefault("WECOM_SANDBOX_CALLBACKS", "off")

from scrm.settings import *  # noqa: E402,F403

# Without CACHE_URL the tests get a private in-memory cache, not the file cache a running
# `make run` shares under var/ (CI sets CACHE_URL to test against Redis for real).
if not os.environ.get("CACHE_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# A sync retries WeCom's transient errors at once in tests (the waits are WeCom's, not ours).
WECOM_SYNC_RETRY_DELAY = 0

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LANGUAGE_CODE = "en"

# Static files come from the app folders; no collectstatic before a test run.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
