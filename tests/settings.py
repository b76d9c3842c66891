"""Test settings: the project's settings with a test-only secret and fast password hashing.

The database, cache and broker still come from the environment, so the same suite runs on
SQLite (the default) and on PostgreSQL and Redis (CI).
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")

from scrm.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LANGUAGE_CODE = "en"

# Static files come from the app folders; no collectstatic before a test run.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
